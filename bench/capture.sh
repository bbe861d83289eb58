#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Benchmark (a report, never a test): sitevisor-agent capture against tcpdump at increasing
# offered rates of 60-byte UDP frames, with a selective filter (1% of the packets match) and
# with none; CPU per million offered packets and packets lost.
#
# What is measured, and how:
# - The flood (build/bench/udprate) goes from namespace C to S over a veth pair (vc -> vs):
#   100 flows of 64-packet batches, 99 to UDP port 9000 and 1 to port 9001, so the filter
#   "udp dst port 9001" selects exactly 1% of the packets; the sender counts what it sent to
#   each. Both tracers capture on vc, the sender's side: tc egress and the packet taps see
#   every datagram the sender's send calls took, before the veth's backlog could drop any,
#   so loss = what the sender sent (to 9001, or all) - what the tracer wrote.
# - Rates are paced (clock_nanosleep per batch) plus one unpaced run ("max"): what this
#   machine can send with the tracer on.
# - CPU, per million offered packets (= ns per packet / 1000):
#   tracer:  the capturing process (sitevisor-agent capture or tcpdump), run time from
#            /proc/PID/schedstat (user + sys) from the flood's start to 1.5 s after its
#            end (tcpdump hands over a ring block when it is full or after 1 s).
#   bpf:     for capture, the two tc programs' run_time_ns -- the filter and the copy
#            into the perf buffer, which run in the sender's context. BPF statistics are
#            on for every run, all configurations alike (their clock reads cost a little).
#            tcpdump's in-kernel part (its socket filter and the copy into its ring) has
#            no such counter.
#   sender:  the sending core's time: the sender process's CPU time (this kernel has no IRQ
#            time accounting, so the softirq work done in its context -- veth, tc programs,
#            packet taps, the receiver's UDP -- is in it) plus ksoftirqd on that core.
#   added:   tracer + sender - sender of the untraced run at the same rate: the whole cost
#            of the tracer, kernel side included, for both tools alike. Noisy on a shared
#            machine (other helpers' processes share both cores); bpf is the steady part.
# - Same snap length for both (-s 128); both write to /dev/null.
# - Pinning (2+ CPUs): sender on CPU 1, tracers and this script on CPU 0.
#
# - Each rate and configuration runs ROUNDS times, the configurations' order rotating; the
#   table gives medians (loss: the sum over the rounds).
#
# Environment: CAPBENCH_WINDOW seconds per run (default 3), CAPBENCH_ROUNDS (default 3),
# CAPBENCH_RATES (default "50000 200000 500000 0", 0 = as fast as possible).

. "$(dirname "$0")/../tests/lib.sh"

WINDOW=${CAPBENCH_WINDOW:-3}
ROUNDS=${CAPBENCH_ROUNDS:-3}
RATES=(${CAPBENCH_RATES:-50000 200000 500000 0})
PAYLOAD=18 # 14 + 20 + 8 + 18 = 60-byte frames
SNAP=128
FILTER="udp dst port 9001"
SINK=$SV_ROOT/build/bench/udpsink
RATE_TOOL=$SV_ROOT/build/bench/udprate
ADDR_C=198.18.11.1 ADDR_S=198.18.11.2
CONFIGS=(none cap-1% tcpdump-1% cap-all tcpdump-all)

die() {
	echo "bench: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (namespaces, BPF)"
for f in "$AGENT" "$SINK" "$RATE_TOOL" "$SV_ROOT/build/bench/bpfstats"; do
	[ -x "$f" ] || die "$f missing: run 'make bench'"
done
command -v tcpdump >/dev/null || die "tcpdump missing"
[[ $WINDOW =~ ^[1-9][0-9]?$ && $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "CAPBENCH_WINDOW/ROUNDS: 1..99"

NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then
	SEND_CPU=1 PIN_SEND=(taskset -c 1) PIN_TRACER=(taskset -c 0)
	taskset -pc 0 $$ >/dev/null
else
	SEND_CPU=0 PIN_SEND=() PIN_TRACER=()
fi
KSOFTIRQD=
for d in /proc/[0-9]*; do
	[ "$(cat "$d/comm" 2>/dev/null)" = "ksoftirqd/$SEND_CPU" ] && KSOFTIRQD=${d#/proc/} && break
done

# BPF run-time statistics on for the whole benchmark, through a BPF_ENABLE_STATS fd held by
# build/bench/bpfstats: unlike the sysctl, another benchmark cannot switch that off midway.
bg "$SV_ROOT/build/bench/bpfstats" >"$SV_TMP/bpfstats.out"
wait_for 5 grep -q on "$SV_TMP/bpfstats.out" || echo "bench: BPF statistics unavailable: bpf n/a"
C=$(ns_add cc) && S=$(ns_add cs) || die "cannot create namespaces"
static_pair "$C" vc $ADDR_C "$S" vs $ADDR_S || die "cannot create the veth pair"
for port in 9000 9001; do # bound and never read: no ICMP errors come back
	bg ip netns exec "$S" "$SINK" $ADDR_S $port >"$SV_TMP/sink$port.out"
	wait_for 5 grep -q bound "$SV_TMP/sink$port.out" || die "udp sink did not start"
done

run_ns() { # schedstat run time of the PIDs given
	local p ns rest sum=0
	for p in "$@"; do
		read -r ns rest 2>/dev/null <"/proc/$p/schedstat" && sum=$((sum + ns))
	done
	echo $sum
}
bpf_ns() { # run_time_ns of every BPF program the PIDs hold
	local p f k v sum=0
	for p in "$@"; do
		for f in /proc/"$p"/fdinfo/*; do
			while read -r k v; do
				[ "$k" = run_time_ns: ] && sum=$((sum + v))
			done 2>/dev/null <"$f"
		done
	done
	echo $sum
}

TR_PID=
tracer_start() { # CFG
	local err=$SV_TMP/tracer.err
	TR_PID=
	case $1 in
	none) return 0 ;;
	cap-*)
		local f=()
		[ "$1" = cap-1% ] && f=("$FILTER")
		bg ip netns exec "$C" "${PIN_TRACER[@]}" "$AGENT" capture -i vc -s $SNAP -w /dev/null \
			"${f[@]}" 2>"$err"
		TR_PID=$BG_PID
		wait_for 10 grep -q tracing "$err"
		;;
	tcpdump-*)
		local f=()
		[ "$1" = tcpdump-1% ] && f=("$FILTER")
		bg ip netns exec "$C" "${PIN_TRACER[@]}" tcpdump -i vc -n -s $SNAP -w /dev/null \
			"${f[@]}" 2>"$err"
		TR_PID=$BG_PID
		wait_for 10 grep -q 'listening on' "$err"
		;;
	esac
}

# "captured own-lost" from the tracer's exit lines.
tracer_counts() { # CFG
	local err=$SV_TMP/tracer.err
	case $1 in
	cap-*)
		sed -n 's/.*: \([0-9]*\) packets captured, [0-9]* filtered out, \([0-9]*\) lost/\1 \2/p' \
			"$err"
		;;
	tcpdump-*)
		echo "$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured.*/\1/p' "$err")" \
			"$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' "$err")"
		;;
	esac
}

# ns/pkt with three decimals as s per million packets
spm() {
	awk -v a="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.3f", a / n / 1000; else print "-" }'
}

echo "capture benchmark: $ROUNDS rounds of ${WINDOW} s per rate and configuration, 60-byte UDP" \
	"frames, 100 flows (1% to port 9001), snaplen $SNAP, kernel $(uname -r), $NCPU CPUs;" \
	"sender on CPU $SEND_CPU"
# One untimed second first: caches, socket queues and CPU clocks settle.
ip netns exec "$C" "${PIN_SEND[@]}" "$RATE_TOOL" -t 1 -s $PAYLOAD $ADDR_S 9000 9001 >/dev/null
RES=$SV_TMP/results # rate cfg pps sent tracer bpf sender want captured own-lost, a run a line
: >"$RES"
# run_one RATE CFG: one tracer lifetime around one flood.
run_one() {
	local rate=$1 cfg=$2 t0 k0 b0 t1 k1 b1 sent matched sender_ns captured=- ownlost=- want
	local tr=- bpf=-
	if ! tracer_start "$cfg"; then
		echo "$cfg did not start:" >&2
		cat "$SV_TMP/tracer.err" >&2
		return
	fi
	t0=$(run_ns $TR_PID) k0=$(run_ns $KSOFTIRQD) b0=$(bpf_ns $TR_PID)
	read -r _ sent _ matched _ sender_ns < <(ip netns exec "$C" "${PIN_SEND[@]}" \
		"$RATE_TOOL" -t "$WINDOW" -r "$rate" -s $PAYLOAD $ADDR_S 9000 9001)
	sleep 1.5 # the tracers drain what is buffered (tcpdump: a 1 s block timeout)
	t1=$(run_ns $TR_PID) k1=$(run_ns $KSOFTIRQD) b1=$(bpf_ns $TR_PID)
	want=$sent
	[[ $cfg == *-1% ]] && want=$matched
	if [ -n "$TR_PID" ]; then
		stop_pid "$TR_PID" >/dev/null 2>&1
		forget_pid "$TR_PID"
		read -r captured ownlost <<<"$(tracer_counts "$cfg")"
		tr=$(spm $((t1 - t0)) "$sent")
		[[ $cfg == cap-* ]] && bpf=$(spm $((b1 - b0)) "$sent")
	fi
	echo "$rate $cfg $((sent / WINDOW)) $sent $tr $bpf $(spm $((sender_ns + k1 - k0)) "$sent")" \
		"$want ${captured:--} ${ownlost:--}" | tee -a "$RES"
}
for round in $(seq 1 "$ROUNDS"); do
	for rate in "${RATES[@]}"; do
		# The configurations' order rotates from round to round, so drift in the
		# machine's load spreads over all of them.
		n=${#CONFIGS[@]}
		for i in $(seq 0 $((n - 1))); do
			run_one "$rate" "${CONFIGS[$(((i + round - 1) % n))]}"
		done
	done
done

cat <<EOF

Medians over $ROUNDS rounds; CPU in seconds per million offered packets (= ns per packet / 1000):
  pps     packets per second the sender achieved
  tracer  the capturing process, user + sys (/proc/PID/schedstat)
  bpf     capture's tc programs in the kernel (bpf_stats run_time_ns); part of "sender"
  sender  the sending core: sender process (its softirq work included) + ksoftirqd/$SEND_CPU
  added   tracer + sender - sender untraced at the same rate (medians): all the tracer costs
lost: over all rounds, packets the sender sent (to 9001 for the -1% rows, all otherwise) that
the tool did not write / those it should have written; own lost: what the tool itself reported
lost (capture: perf buffer full or a failed send; tcpdump: dropped by kernel)

rate     config          pps   tracer      bpf   sender    added              lost  own lost
EOF
# med RATE CFG COL: the median of column COL over the runs of RATE and CFG ("-": none)
med() {
	awk -v r="$1" -v c="$2" -v k="$3" '$1 == r && $2 == c && $k != "-" { print $k }' "$RES" |
		sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "-"
			else print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
for rate in "${RATES[@]}"; do
	base=$(med "$rate" none 7)
	for cfg in "${CONFIGS[@]}"; do
		tr=$(med "$rate" "$cfg" 5) snd=$(med "$rate" "$cfg" 7)
		added=$(awk -v t="$tr" -v s="$snd" -v b="$base" \
			'BEGIN { if (t == "-" || b == "-") print "-"; else printf "%.3f", t + s - b }')
		lost=$(awk -v r="$rate" -v c="$cfg" '$1 == r && $2 == c && $9 != "-" {
			w += $8; l += $8 - $9 } END { if (w) printf "%d/%d", l, w; else print "-" }' "$RES")
		own=$(awk -v r="$rate" -v c="$cfg" '$1 == r && $2 == c && $10 != "-" { l += $10; n++ }
			END { if (n) print l; else print "-" }' "$RES")
		printf '%-8s %-12s %8.0f %8s %8s %8s %8s %17s %9s\n' "${rate/#0/max}" "$cfg" \
			"$(med "$rate" "$cfg" 3)" "$tr" "$(med "$rate" "$cfg" 6)" "$snd" "$added" \
			"$lost" "$own"
	done
done
