#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Packet trajectories end to end: three boxes A - B - C as namespaces, B routing between A
# and a VXLAN overlay it shares with C. An agent in each box fingerprints packets
# (--trajectory) and delivers to one post, which joins the sightings into paths. Checked:
# sampling at 1 in 64 picks the same packets in every box; at 1 in 1 each packet's path lists
# the six places in order with plausible one-way latencies; 10% dropped by nftables in B's
# forward chain is lost inside B at 10% +- 2 points, exactly the packets nft dropped; and
# drops on B's underlay egress after the agent's hook are lost on the link B -> C.
. "$(dirname "$0")/lib.sh"
need_root paths
POST=$SV_ROOT/build/sitevisor-post
SINK=$SV_ROOT/build/bench/udpsink
TOKEN=paths-token-$RUN_ID
sock=$SV_TMP/post.sock
N=3000 # packets per run: the 10% loss then has a standard deviation of 0.55 points

[ -x "$SINK" ] || { fail "build/bench/udpsink missing (make check builds it)"; finish; }
command -v nft >/dev/null || { skip "paths (needs nft)"; exit 0; }

A=$(ns_add a) && B=$(ns_add b) && C=$(ns_add c) || exit 1
veth "$A" a0 "$B" b0 || exit 1
veth "$B" b1 "$C" c0 || exit 1
for x in "$A a0" "$B b0" "$B b1" "$C c0"; do no_ipv6 $x; done
ip -n "$A" addr add 198.18.1.1/24 dev a0
ip -n "$B" addr add 198.18.1.2/24 dev b0
ip -n "$B" addr add 198.18.2.1/24 dev b1
ip -n "$C" addr add 198.18.2.2/24 dev c0
ip netns exec "$B" sysctl -qw net.ipv4.ip_forward=1
for x in "$B 198.18.2.1 198.18.2.2 b1 198.19.9.1" "$C 198.18.2.2 198.18.2.1 c0 198.19.9.2"; do
	set -- $x
	ip -n "$1" link add vx0 type vxlan id 42 local "$2" remote "$3" dstport 4789 dev "$4"
	no_ipv6 "$1" vx0
	ip -n "$1" addr add "$5"/24 dev vx0
	ip -n "$1" link set vx0 up
done
ip -n "$A" route add 198.19.9.0/24 via 198.18.1.2
ip -n "$C" route add 198.18.1.0/24 via 198.19.9.1
# Neighbours resolved before tracing: no datagram waits in a queue.
wait_for 5 ip netns exec "$A" ping -c 1 -W 1 198.19.9.2 || fail "ping A -> C before tracing"
for port in 9301 9302 9303 9304; do
	bg ip netns exec "$C" "$SINK" 198.19.9.2 $port
done

bg "$POST" --listen "unix:$sock" --db "$SV_TMP/post.db" --token "$TOKEN" --path-hold 3 \
	2>"$SV_TMP/post.err"
wait_for 10 test -S "$sock" || { fail "post did not start"; cat "$SV_TMP/post.err"; finish; }
api() { curl -sf --max-time 10 --unix-socket "$sock" "http://post/api/v1/$1"; }
apicode() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 --unix-socket "$sock" "http://post/api/v1/$1"; }

AGENTS=()
# agents_start RATE [ARGS for C's agent]
agents_start() {
	local n rate=$1 extra
	shift
	AGENTS=()
	for n in A B C; do
		eval "ns=\$$n"
		extra=()
		[ $n = C ] && extra=("$@")
		agent_start "$ns" "$n-$rate" --post "unix:$sock" --token "$TOKEN" --box "$n" \
			--spool "$SV_TMP/spool$n" --trajectory "$rate" "${extra[@]}" || return 1
		AGENTS+=("$AGENT_PID")
	done
}
agents_stop() {
	local pid
	for pid in "${AGENTS[@]}"; do stop_pid "$pid"; done
}
# paths PORT: every path of the UDP flow A -> C:PORT.
paths() {
	api "paths?src_addr=198.18.1.1&dst_addr=198.19.9.2&protocol=udp&dst_port=$1&since=$t0&limit=10000"
}
npaths() { paths "$1" | jq '.paths | length'; }
# settle PORT COUNT: waits (bounded) until the post has finalized COUNT paths of the flow and
# the count stays put.
settle() {
	local i last=-1 n
	for i in $(seq 1 40); do
		n=$(npaths "$1")
		[ "$n" = "$last" ] && [ "$n" -ge "$2" ] && return 0
		last=$n
		sleep 1
	done
	return 1
}
t0=$(($(date +%s) - 60))
# The way every packet of A -> C takes: routed by B, then over the VXLAN hop B -> C.
WAY='A/a0/egress B/b0/ingress B/vx0/egress B/b1/egress C/c0/ingress C/vx0/ingress'
hopstr='[.hops[] | "\(.box)/\(.iface)/\(.direction)"] | join(" ")'

# --- 1 in 64: every agent selects the same packets -------------------------------------
# C also writes packet events: both ring buffers are read side by side.
agents_start 64 --packets --sample 10 || { fail "agents did not start"; finish; }
sent=$(ip netns exec "$A" "$TOOLS/udpsend" -c -g 100 -n $N -s 64 -p 41001 198.19.9.2 9301)
check_eq "1/64: sent $N" "$N" "$sent"
sleep 2
agents_stop
settle 9301 1
p=$(paths 9301)
n=$(jq '.paths | length' <<<"$p")
# Binomial(3000, 1/64): mean 46.9, sd 6.7; 20..75 is four sd either side.
check "1/64: about one packet in 64 sampled ($n of $N)" test "$n" -ge 20 -a "$n" -le 75
check_eq "1/64: every sampled packet seen at all six places" "$n" \
	"$(jq --arg w "$WAY" "[.paths[] | select(($hopstr) == \$w)] | length" <<<"$p")"
check_eq "1/64: A printed (--json) one fingerprint per sampled packet" "$n" \
	"$(jq -s '[.[] | select(.type == "fp" and .dst_port == 9301)] | length' "$SV_TMP/A-64.json")"
for n in A B C; do
	check "1/64: agent $n counted fingerprints" grep -q "[1-9][0-9]* trajectory fingerprints, 0 lost" "$SV_TMP/$n-64.err"
done
check "1/64: C printed packet events next to fingerprints" \
	jq -se '([.[] | select(.type == "packet")] | length) > 100 and ([.[] | select(.type == "fp")] | length) > 0' "$SV_TMP/C-64.json"

# --- 1 in 1: paths and hop latencies -----------------------------------------------------
agents_start 1 || { fail "agents did not start"; finish; }
sent=$(ip netns exec "$A" "$TOOLS/udpsend" -c -g 100 -n $N -s 64 -p 41002 198.19.9.2 9302)
check_eq "1/1: sent $N" "$N" "$sent"
settle 9302 $N || fail "1/1: paths did not settle"
p=$(paths 9302)
check_eq "1/1: one path per packet" "$N" "$(jq '.paths | length' <<<"$p")"
check_eq "1/1: every path is A a0 > B b0 > B vx0 > B b1 > C c0 > C vx0" "$N" \
	"$(jq --arg w "$WAY" "[.paths[] | select(($hopstr) == \$w)] | length" <<<"$p")"
check_eq "1/1: no packet lost" 0 "$(jq '[.paths[] | select(.lost != null)] | length' <<<"$p")"
# jq computes in doubles: nanosecond times since 1970 are exact to 256 ns there.
check_eq "1/1: hop times increase, deltas match the timestamps" "$N" "$(jq '[.paths[] |
	select([range(1; .hops | length) as $i | .hops[$i].delta_ns >= 0 and
	(.hops[$i].delta_ns - (.hops[$i].ts_ns - .hops[$i - 1].ts_ns) | fabs) <= 512] | all)] |
	length' <<<"$p")"
check_eq "1/1: every hop under 50 ms" "$N" \
	"$(jq '[.paths[] | select([.hops[].delta_ns < 50000000] | all)] | length' <<<"$p")"
now=$(date +%s)
check_eq "1/1: first sightings are now (within a minute)" "$N" \
	"$(jq --argjson now "$now" '[.paths[] | select((.first_ns / 1e9 - $now) | fabs < 60)] | length' <<<"$p")"

# --- 10% dropped in B's forward chain: lost inside B -------------------------------------
ip netns exec "$B" nft -f - <<EOF
table inet svpaths {
	chain forward_drop {
		type filter hook forward priority 0;
		udp dport 9303 numgen random mod 10 == 0 counter drop
	}
}
EOF
sent=$(ip netns exec "$A" "$TOOLS/udpsend" -c -g 100 -n $N -s 64 -p 41003 198.19.9.2 9303)
check_eq "B drop: sent $N" "$N" "$sent"
settle 9303 $N || fail "B drop: paths did not settle"
dropped=$(ip netns exec "$B" nft list chain inet svpaths forward_drop | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
p=$(paths 9303)
lost_b=$(jq '[.paths[] | select(.lost.after == {"box":"B","iface":"b0","direction":"ingress"}
	and .lost.expected == {"box":"B","iface":"vx0","direction":"egress"})] | length' <<<"$p")
check_eq "B drop: one path per packet" "$N" "$(jq '.paths | length' <<<"$p")"
check_eq "B drop: every packet nft dropped is lost in B, seen arriving, never leaving" \
	"$dropped" "$lost_b"
check_eq "B drop: no loss anywhere else" "$lost_b" "$(jq '[.paths[] | select(.lost != null)] | length' <<<"$p")"
check_eq "B drop: the lost end at B b0 ingress" "$lost_b" \
	"$(jq '[.paths[] | select(.lost != null and ([.hops[] | "\(.box)/\(.iface)/\(.direction)"] | join(" ")) == "A/a0/egress B/b0/ingress")] | length' <<<"$p")"
rate=$(jq -n "$lost_b / $N")
check "B drop: loss rate $rate is 10% +- 2 points" jq -en "$rate >= 0.08 and $rate <= 0.12"
# The kernel's reason where they were lost (--drops, issue 16): B's records of the flow.
why() {
	api "drops?box=B&src_addr=198.18.1.1&dst_addr=198.19.9.2&protocol=udp&dst_port=9303&since=$t0" |
		jq -c '[.flows[] | {iface, direction, drop_reasons}]'
}
for i in $(seq 1 20); do
	[ "$(why)" = "[{\"iface\":\"b0\",\"direction\":\"ingress\",\"drop_reasons\":{\"NETFILTER_DROP\":$dropped}}]" ] && break
	sleep 0.5
done
check_eq "B drop: B's drops of the flow are NETFILTER_DROP, exactly nft's, on b0 ingress" \
	"[{\"iface\":\"b0\",\"direction\":\"ingress\",\"drop_reasons\":{\"NETFILTER_DROP\":$dropped}}]" "$(why)"
ip netns exec "$B" nft delete table inet svpaths

# --- drops on B's underlay after the agent's hook: lost on the link B -> C ---------------
# A classic tc filter runs after the agent's tcx program on the same hook (the kernel runs
# tcx first, then the clsact filters): the agent sees the packet leave, C never sees it
# arrive. An nft netdev egress hook would run before both, a drop in B's own sight.
ip netns exec "$B" tc qdisc add dev b1 clsact
ip netns exec "$B" tc filter add dev b1 egress bpf direct-action \
	obj "$TOOLS/dropper.bpf.o" sec tc || fail "link drop: cannot attach the dropper"
sent=$(ip netns exec "$A" "$TOOLS/udpsend" -c -g 100 -n $N -s 64 -p 41004 198.19.9.2 9304)
check_eq "link drop: sent $N" "$N" "$sent"
settle 9304 $N || fail "link drop: paths did not settle"
p=$(paths 9304)
reached=$(jq '[.paths[] | select(.hops[-1].box == "C")] | length' <<<"$p")
lost_l=$(jq '[.paths[] | select(.lost.after == {"box":"B","iface":"b1","direction":"egress"}
	and .lost.expected == {"box":"C","iface":"c0","direction":"ingress"})] | length' <<<"$p")
check_eq "link drop: a tenth dropped (numbers 0, 10, 20, ...)" $((N / 10)) "$lost_l"
check_eq "link drop: every packet that never reached C is lost on the link B b1 > C c0" \
	"$((N - reached))" "$lost_l"
check_eq "link drop: no loss anywhere else" "$lost_l" "$(jq '[.paths[] | select(.lost != null)] | length' <<<"$p")"
ip netns exec "$B" tc qdisc del dev b1 clsact

# --- the way back: links seen both ways give a clock skew estimate ----------------------
bg ip netns exec "$A" "$SINK" 198.18.1.1 9305
sent=$(ip netns exec "$C" "$TOOLS/udpsend" -c -g 100 -n 500 -s 64 -p 41005 198.18.1.1 9305)
check_eq "way back: sent 500" 500 "$sent"
back() { api "paths?src_addr=198.19.9.2&dst_addr=198.18.1.1&protocol=udp&dst_port=9305&since=$t0"; }
for i in $(seq 1 30); do [ "$(back | jq '.paths | length')" = 500 ] && break; sleep 1; done
check_eq "way back: C vx0 > C c0 > B b1 > B vx0 > B b0 > A a0 for every packet" 500 \
	"$(back | jq --arg w 'C/vx0/egress C/c0/egress B/b1/ingress B/vx0/ingress B/b0/egress A/a0/ingress' \
		"[.paths[] | select(($hopstr) == \$w and .lost == null)] | length")"
agents_stop

# --- topology --------------------------------------------------------------------------
sleep 4 # the last paths (ICMP, ARP-free) are final after --path-hold
topo=$(api "paths/topology?since=$t0")
seg() { jq -c ".links[] | select(.from.box == \"$1\" and .from.iface == \"$2\" and .to.box == \"$3\" and .to.iface == \"$4\")" <<<"$topo"; }
check_eq "topology: boxes" '["A","B","C"]' "$(jq -c '.boxes | sort' <<<"$topo")"
l=$(seg A a0 B b0)
check_eq "topology: A a0 > B b0 is a link" '"link"' "$(jq .kind <<<"$l")"
check_eq "topology: A a0 > B b0 lost nothing" 0 "$(jq .lost <<<"$l")"
check "topology: A a0 > B b0 latency p50 <= p90 <= p99 < 50 ms" \
	jq -e '.latency_ns | .p50 >= 0 and .p50 <= .p90 and .p90 <= .p99 and .p99 < 50000000' <<<"$l"
h=$(seg B b0 B vx0)
check_eq "topology: B b0 > B vx0 is a hop inside B" '"hop"' "$(jq .kind <<<"$h")"
check_eq "topology: B's in-box loss is nft's drops" "$lost_b" "$(jq .lost <<<"$h")"
l=$(seg B b1 C c0)
check_eq "topology: B b1 > C c0 loss is the link drops" "$lost_l" "$(jq .lost <<<"$l")"
check "topology: B b1 > C c0 loss rate = lost / packets" \
	jq -e '(.loss_rate - .lost / .packets) | fabs < 1e-6' <<<"$l"
# The boxes share one clock: the estimate is only the difference between the two ways' mean
# latencies (tens of microseconds here), never a millisecond.
for pair in A/B B/C; do
	check "topology: clock skew of ${pair%/*} and ${pair#*/} estimated near 0" jq -e --arg a "${pair%/*}" --arg b "${pair#*/}" \
		'[.clock_skew[] | select((.a == $a and .b == $b) or (.a == $b and .b == $a)) |
		.b_minus_a_ns | fabs < 1000000] == [true]' <<<"$topo"
done
check "topology: mean latency within min and max" \
	jq -e '[.links[] | select(.latency_ns.n > 0) | .latency_ns | .mean >= .min and .mean <= .max] | all' <<<"$topo"

m=$(curl -sf --max-time 10 --unix-socket "$sock" http://post/metrics)
check_eq "metrics: no fingerprint dropped by the join" 0 \
	"$(sed -n 's/^sitevisor_post_path_fingerprints_total{result="dropped"} //p' <<<"$m")"
check "metrics: paths counted (at least the $((3 * N)) sent at 1 in 1)" \
	test "$(sed -n 's/^sitevisor_post_paths_total //p' <<<"$m")" -ge $((3 * N))

# --- strict parameters ---------------------------------------------------------------------
check_eq "paths: unknown parameter is a 400" 400 "$(apicode 'paths?box=A')"
check_eq "paths: bad address is a 400" 400 "$(apicode 'paths?src_addr=nope')"
check_eq "paths: bad port is a 400" 400 "$(apicode 'paths?dst_port=70000')"
check_eq "topology: unknown parameter is a 400" 400 "$(apicode 'paths/topology?src_addr=198.18.1.1')"
check_eq "topology: until before since is a 400" 400 "$(apicode 'paths/topology?since=100&until=50')"
check_eq "agent: bad --trajectory is a usage error" 2 \
	"$("$AGENT" --trajectory 0 >/dev/null 2>&1; echo $?)"
check_eq "post: bad --path-hold is a usage error" 2 \
	"$("$POST" --path-hold 0 >/dev/null 2>&1; echo $?)"
check "post: bad --path-hold says why in one line" \
	test "$("$POST" --path-hold 0 2>&1 | grep -c "invalid --path-hold '0'")" = 1
fp='{"type":"fp","hash":"xyz","ts_ns":1,"box":"H","iface":"h0","direction":"egress","ip_version":4,"protocol":17,"src_addr":"198.18.1.1","dst_addr":"198.18.1.2","src_port":1,"dst_port":2}'
r=$(printf '{"type":"batch","batch_id":"bad-fp","box":"H","interfaces":[]}\n%s\n' "$fp" |
	curl -s --max-time 10 --unix-socket "$sock" -H "Authorization: Bearer $TOKEN" \
		--data-binary @- http://post/api/v1/ingest)
check_eq "ingest: a malformed fingerprint rejects the batch with its line" \
	'"line 2: hash is not 16 hex digits"' "$(jq .error <<<"$r")"
finish
