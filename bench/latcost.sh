#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# What round trips, retransmissions and DNS (issue 17) cost per packet (a report, never a
# test): sv_ingress of an agent with them on (the default) and of one with --no-latency,
# both started once on veths of throwaway namespaces and held open, run through
# BPF_PROG_TEST_RUN by build/bench/bpfcost -P PID -Q PID2, pinned to one CPU. bpfcost
# interleaves the two try by try, and the rounds alternate which goes first, so both see
# the same moments of a shared machine. Each round also times an empty program: the floor
# any program at the hook costs.
# Frames: a 60-byte UDP frame and a 66-byte TCP ACK with timestamps (the common segment of
# a connection), each the best of 10 tries of 200,000 runs; and a stream of TCP segments
# with 200 bytes of data, each following on from the last, as the median of 20,000 single
# runs above the empty program's (bpfcost's comment says why), and the mean of their middle
# half above the empty program's (finer than the clock's steps). Prints every round, then
# min / median / max per configuration and the ratios.
#
# Environment: LATCOST_ROUNDS (default 9), LATCOST_CPU (default: the last CPU),
# LATCOST_AGENT_ON (another agent binary for the "on" column), LATCOST_AGENT_OFF (another
# agent binary for the "off" column, still with --no-latency
# unless LATCOST_OFF_LATENCY=1: then it compares two builds with latency on),
# LATCOST_ON_ARGS (more options for the "on" agent: "--rtt-gap 0" keeps every conversation
# armed, so every data segment takes the whole path, timestamps and all).
. "$(dirname "$0")/../tests/lib.sh"

ROUNDS=${LATCOST_ROUNDS:-9}
CPU=${LATCOST_CPU:-$(($(nproc) - 1))}
BPFCOST=$SV_ROOT/build/bench/bpfcost
OFF_AGENT=${LATCOST_AGENT_OFF:-}
die() {
	echo "latcost: $*" >&2
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (namespaces, BPF)"
for f in "$AGENT" "$BPFCOST"; do
	[ -x "$f" ] || die "$f missing: run 'make bench'"
done
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "LATCOST_ROUNDS: 1..99"

# start TAG NS AGENT ARGS...: an agent on NS's veth; sets PID_<TAG>.
start() {
	local tag=$1 ns=$2 bin=$3
	shift 3
	bg ip netns exec "$ns" "$bin" --json --interval 1 --drops off "$@" -i lca \
		>/dev/null 2>"$SV_TMP/$tag.err"
	eval "PID_$tag=$BG_PID"
	wait_for 10 grep -q 'records every' "$SV_TMP/$tag.err" ||
		die "agent $tag did not start: $(head -3 "$SV_TMP/$tag.err")"
}
ON=$(ns_add on) && OFF=$(ns_add off) || die "namespaces"
veth "$ON" lca "$ON" lcb && veth "$OFF" lca "$OFF" lcb || die "veths"
# shellcheck disable=SC2086 # options, split on purpose
start on "$ON" "${LATCOST_AGENT_ON:-$AGENT}" ${LATCOST_ON_ARGS:-}
off_args=(--no-latency)
[ "${LATCOST_OFF_LATENCY:-0}" = 1 ] && off_args=()
start off "$OFF" "${OFF_AGENT:-$AGENT}" "${off_args[@]}"

echo "latcost: $ROUNDS rounds on CPU $CPU, kernel $(uname -r), $(nproc) CPUs; on =" \
	"${LATCOST_AGENT_ON:-this agent} ${LATCOST_ON_ARGS:-}; off = ${OFF_AGENT:-this agent}" \
	"${off_args[*]}"
echo "round config empty udp tcp_ack tcp_data_above_empty tcp_data_mid_above_empty"
for r in $(seq 1 "$ROUNDS"); do
	a=on b=off
	[ $((r % 2)) -eq 0 ] && a=off b=on
	eval "pa=\$PID_$a pb=\$PID_$b"
	out=$(ip netns exec "$ON" taskset -c "$CPU" "$BPFCOST" -P "$pa" -Q "$pb") ||
		die "bpfcost failed"
	v() { sed -n "s/.*\<$1=\([0-9.]*\).*/\1/p" <<<"$out"; }
	echo "$r $a $(v empty) $(v prog) $(v prog_tcp) $(v data_above_empty)" \
		"$(v data_mid_above_empty)" | tee -a "$SV_TMP/res"
	echo "$r $b $(v empty) $(v prog_b) $(v prog_tcp_b) $(v data_above_empty_b)" \
		"$(v data_mid_above_empty_b)" | tee -a "$SV_TMP/res"
done

# stats CONFIG COLUMN: "min median max" of a column over the rounds.
stats() {
	awk -v c="$1" -v k="$2" '$2 == c { print $k }' "$SV_TMP/res" | sort -g |
		awk '{ a[NR] = $1 } END { printf "%.1f %.1f %.1f\n", a[1],
			(NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[NR] }'
}
echo
printf "%-28s %-20s %-20s\n" "ns per run (min med max)" on off
for col in 3:empty 4:udp 5:tcp_ack 6:tcp_data_above_empty 7:tcp_data_mid_above_empty; do
	k=${col%%:*} name=${col#*:}
	printf "%-28s %-20s %-20s\n" "$name" "$(stats on "$k")" "$(stats off "$k")"
done
read -r e1 e2 _ <<<"$(stats on 3)"
for col in 4:udp 5:tcp_ack 6:tcp_data_above_empty 7:tcp_data_mid_above_empty; do
	k=${col%%:*} name=${col#*:}
	read -r a1 a2 _ <<<"$(stats on "$k")"
	read -r b1 b2 _ <<<"$(stats off "$k")"
	awk -v n="$name" -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" 'BEGIN {
		printf "%s: on/off %.2fx (medians), %.2fx (bests), on - off %+.1f ns (medians)\n",
			n, a2 / b2, a1 / b1, a2 - b2 }'
done
