#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (a report, never a test) of --drops (issue 16): a drop storm -- an unpaced flood
# of 60-byte UDP datagrams to a closed port, each one dropped by the receiving kernel
# (NO_SOCKET) -- through a veth pair, the agent on the receiving side with --drops off and on.
#
# Per round and mode: the tc program's cost (bpf_stats run_time_ns / run_cnt of sv_ingress,
# to show it is unchanged by --drops), the drop program's (sv_kfree_skb, per drop), the
# sender core's time per packet (the whole path runs on the sender's CPU, see run.sh: send,
# veth, tc, IP, UDP, the drop and its tracepoint), the agent's CPU per million drops, and the
# drops the agent recorded against the kernel's own count (Udp NoPorts), with any it could not
# record. The table takes the best round of each mode (noise only ever adds time).
#
# Environment: BENCH_ROUNDS (default 5), BENCH_WINDOW seconds (default 2).

. "$(dirname "$0")/../tests/lib.sh"
need_root "drops benchmark"

ROUNDS=${BENCH_ROUNDS:-5}
WINDOW=${BENCH_WINDOW:-2}
BPFSTATS=$SV_ROOT/build/bench/bpfstats
ADDR_C=198.18.9.1 ADDR_S=198.18.9.2 PORT=9999

C=$(ns_add c) && S=$(ns_add s) || exit 1
static_pair "$C" vc "$ADDR_C" "$S" vs "$ADDR_S" || exit 1
# The drops here are the flood's: no ICMP errors back to take time on the path.
ip netns exec "$S" sysctl -qw net.ipv4.icmp_ratelimit=1000000 net.ipv4.icmp_msgs_per_sec=1
bg "$BPFSTATS" >"$SV_TMP/stats.out"
wait_for 5 grep -q on "$SV_TMP/stats.out" || { echo "bpf_stats cannot be enabled" >&2; exit 1; }

# prog_ns PID NAME: "run_time_ns run_cnt" of the program NAME the process holds (its fds).
prog_ns() {
	local f id
	for f in /proc/"$1"/fdinfo/*; do
		awk '$1 == "prog_id:" { print $2 }' "$f" 2>/dev/null
	done | sort -u | while read -r id; do
		bpftool prog show id "$id" -j |
			jq -r --arg n "$2" 'select(.name == $n) | "\(.run_time_ns // 0) \(.run_cnt // 0)"'
	done | awk '{ ns += $1; cnt += $2 } END { print ns + 0, cnt + 0 }'
}
noports() { ip netns exec "$S" awk '/^Udp: [0-9]/ { print $3; exit }' /proc/net/snmp; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# round MODE: one window of the storm with --drops MODE; prints
# "tc_ns drop_ns sender_ns_per_pkt pkts agent_cpu_s_per_M recorded kernel lost"
round() {
	local mode=$1 name=agent-$1-$2 pid t0 t1 i0 i1 d0 d1 n0 n1 c0 c1 k0 k1 sent cpu rec lost hz
	agent_start "$S" "$name" -i vs --drops "$mode" --interval 1 >/dev/null || return 1
	pid=$AGENT_PID
	taskset -p -c 0 "$pid" >/dev/null
	read -r i0 t0 <<<"$(prog_ns "$pid" sv_ingress)"
	read -r d0 n0 <<<"$(prog_ns "$pid" sv_kfree_skb)"
	c0=$(cpu_ticks "$pid")
	k0=$(noports)
	TIMEFORMAT='%U %S'
	read -r sent cpu < <({ time ip netns exec "$C" taskset -c 1 "$TOOLS/udpsend" -t "$WINDOW" \
		-s 18 "$ADDR_S" "$PORT"; } 2>&1 | tr '\n' ' ' |
		awk '{ print $1, $2 + $3 }')
	k1=$(noports)
	read -r i1 t1 <<<"$(prog_ns "$pid" sv_ingress)"
	read -r d1 n1 <<<"$(prog_ns "$pid" sv_kfree_skb)"
	sleep 1.5 # the last interval's records
	c1=$(cpu_ticks "$pid")
	stop_pid "$pid"
	hz=$(getconf CLK_TCK)
	rec=$(flow_sum "$SV_TMP/$name.json" 'drop_reasons.NO_SOCKET // 0' ".dst_port == $PORT")
	lost=$(sed -n 's/.*drop map full: \([0-9]*\).*/\1/p' "$SV_TMP/$name.err" | paste -sd+ | bc)
	awk -v i=$((i1 - i0)) -v t=$((t1 - t0)) -v d=$((d1 - d0)) -v n=$((n1 - n0)) \
		-v cpu="$cpu" -v sent="$sent" -v c=$((c1 - c0)) -v hz="$hz" -v k=$((k1 - k0)) \
		-v rec="$rec" -v lost="${lost:-0}" 'BEGIN {
		printf "%.1f %.1f %.0f %d %.3f %d %d %d\n", t ? i / t : 0, n ? d / n : 0,
			sent ? cpu * 1e9 / sent : 0, sent, k ? c / hz / (k / 1e6) : 0, rec, k, lost }'
}

for r in $(seq 1 "$ROUNDS"); do
	for mode in off on; do
		line=$(round "$mode" "$r") || { echo "round $r $mode failed" >&2; continue; }
		echo "$mode $line" | tee -a "$SV_TMP/rounds"
	done
done

echo
echo "drop storm: 60-byte UDP to a closed port over a veth pair, $ROUNDS rounds of $WINDOW s," \
	"best round per mode"
echo "| --drops | sv_ingress ns/run | sv_kfree_skb ns/drop | sender core ns/packet |" \
	"packets/s | agent CPU s per M drops | drops recorded / kernel's (Udp NoPorts) | not recorded |"
echo "|---|---|---|---|---|---|---|---|"
for mode in off on; do
	# Best round: the lowest sender core ns per packet.
	awk -v m="$mode" -v w="$WINDOW" '$1 == m' "$SV_TMP/rounds" | sort -k4,4n | head -1 |
		awk -v w="$WINDOW" '{ printf "| %s | %s | %s | %s | %.0f | %s | %s / %s | %s |\n",
			$1, $2, $1 == "on" ? $3 : "-", $4, $5 / w, $1 == "on" ? $6 : "-",
			$1 == "on" ? $7 : "-", $8, $9 }'
done
echo
echo "medians over the rounds (sv_ingress ns/run, sender core ns/packet):"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for mode in off on; do
	echo "  $mode: $(awk -v m="$mode" '$1 == m { print $2 }' "$SV_TMP/rounds" | median) ns," \
		"$(awk -v m="$mode" '$1 == m { print $4 }' "$SV_TMP/rounds" | median) ns/packet"
done
