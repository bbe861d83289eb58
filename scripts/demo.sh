#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make demo: a simulated site of three boxes (network namespaces on an underlay bridge, with
# a VXLAN overlay between them), an agent in each box sampling trajectories, steady mixed
# traffic, a TAP rule mirroring box2's overlay to a monitor port, a port scan every few
# minutes, and a post on the embedded store serving the dashboard. Ctrl-C, SIGTERM (or
# DEMO_SECONDS=N) removes it all. Only test addresses, only inside the namespaces; the post
# listens on loopback.
set -u
. "$(dirname "$0")/../tests/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (namespaces and BPF)" >&2
	exit 1
fi
POST=$SV_ROOT/build/sitevisor-post
TOKEN=demo-token-$RUN_ID ADMIN=demo-admin-$RUN_ID
SOCK=$SV_TMP/post.sock

# The dashboard on the first free port from DEMO_PORT (default 8080).
port=${DEMO_PORT:-8080}
for _ in $(seq 1 50); do
	ss -Htln "sport = :$port" | grep -q . || break
	port=$((port + 1))
done
# Paths are final 5 s after a packet's first sighting: the agents deliver every 2 s.
"$POST" --db "$SV_TMP/demo.db" --listen "127.0.0.1:$port" --listen "unix:$SOCK" \
	--token "$TOKEN" --admin-token "$ADMIN" --path-hold 5 2>"$SV_TMP/post.err" &
SV_PIDS+=($!)
if ! wait_for 10 test -S "$SOCK"; then
	cat "$SV_TMP/post.err" >&2
	exit 1
fi

# The underlay: a bridge in its own namespace, each box's eth0 on it.
U=$(ns_add underlay) || exit 1
ip -n "$U" link add br0 type bridge
ip -n "$U" link set br0 up
for i in 1 2 3; do
	B=$(ns_add box$i) || exit 1
	veth "$B" eth0 "$U" p$i
	ip -n "$U" link set p$i master br0
	ip -n "$B" addr add 198.18.0.$i/24 dev eth0
	# The overlay: VNI 100, head-end replication to the two other boxes.
	ip -n "$B" link add vxlan100 type vxlan id 100 local 198.18.0.$i dstport 4789 dev eth0 nolearning
	for j in 1 2 3; do
		[ "$j" = "$i" ] || bridge -n "$B" fdb append 00:00:00:00:00:00 dev vxlan100 dst 198.18.0.$j
	done
	ip -n "$B" addr add 198.19.100.$i/24 dev vxlan100
	ip -n "$B" link set vxlan100 up
	# The same 1 in 16 packets sampled on every box: the Paths view joins their sightings.
	# Box2 takes the post's tap rules towards its monitor port.
	tap=()
	[ "$i" = 2 ] && tap=(--allow-remote-tap --tap-allow-to iface:mon0)
	ip netns exec "$B" "$AGENT" --box box$i --interval 2 --post "unix:$SOCK" --token "$TOKEN" \
		--spool "$SV_TMP/spool$i" --control "$SV_TMP/control$i" --trajectory 16 \
		--drain-timeout 1 "${tap[@]}" 2>"$SV_TMP/agent$i.err" &
	SV_PIDS+=($!)
done
ns() { echo "sv${RUN_ID}-box$1"; }

# A monitor port on box2 (mon0, its other end in the monitor's namespace) and a TAP rule,
# given to the post, that mirrors box2's overlay traffic to it.
M=$(ns_add monitor) || exit 1
veth "$(ns 2)" mon0 "$M" mon || exit 1
no_ipv6 "$(ns 2)" mon0
no_ipv6 "$M" mon
curl -s -o /dev/null --unix-socket "$SOCK" -H "Authorization: Bearer $ADMIN" \
	-d '{"rule":"--from vxlan100 --to mon0"}' "http://post/api/v1/taps?box=box2"

# Steady mixed traffic: pings on both networks, TCP transfers (a "web" and a "database"),
# DNS-like and bulk UDP on the overlay.
traffic() {
	local i
	trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM
	for i in $(seq 1 100000); do
		ip netns exec "$(ns 1)" ping -c 3 -i 0.2 -W 1 198.18.0.2 >/dev/null 2>&1 &
		ip netns exec "$(ns 3)" ping -c 2 -i 0.3 -W 1 198.19.100.1 >/dev/null 2>&1 &
		ip netns exec "$(ns 2)" timeout 3 "$TOOLS/tcpxfer" -l 443 >/dev/null 2>&1 &
		ip netns exec "$(ns 3)" timeout 3 "$TOOLS/tcpxfer" -l 5432 >/dev/null 2>&1 &
		sleep 0.3
		ip netns exec "$(ns 1)" timeout 3 "$TOOLS/tcpxfer" 198.18.0.2 443 $((200000 + RANDOM * 10)) >/dev/null 2>&1 &
		ip netns exec "$(ns 2)" timeout 3 "$TOOLS/tcpxfer" 198.19.100.3 5432 $((50000 + RANDOM)) >/dev/null 2>&1 &
		ip netns exec "$(ns 1)" "$TOOLS/udpsend" -n $((10 + RANDOM % 40)) -s 120 198.19.100.3 53 >/dev/null 2>&1
		ip netns exec "$(ns 3)" "$TOOLS/udpsend" -n 200 -s 1200 -g 2000 198.19.100.2 9000 >/dev/null 2>&1
		wait
		sleep 0.5
	done
}
bg traffic

# A SYN scan of 200 ports of box3 from box1 now and every DEMO_SCAN_EVERY seconds (default
# 180): the post raises a port scan alert within two intervals.
scan() {
	local i
	trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM
	for i in $(seq 1 1000); do
		if command -v nmap >/dev/null; then
			ip netns exec "$(ns 1)" nmap -n -Pn -sS -p 1-200 --max-retries 0 -T4 \
				198.18.0.3 >/dev/null 2>&1 &
		else
			ip netns exec "$(ns 1)" hping3 -q -S -p ++1 -c 200 -i u2000 \
				198.18.0.3 >/dev/null 2>&1 &
		fi
		wait $!
		sleep "${DEMO_SCAN_EVERY:-180}" &
		wait $!
	done
}
wait_for 10 sh -c "grep -q 'records every' $SV_TMP/agent1.err && grep -q 'records every' $SV_TMP/agent3.err"
if command -v nmap >/dev/null || command -v hping3 >/dev/null; then
	bg scan
else
	echo "demo: neither nmap nor hping3 here (make deps): no scans, no alerts" >&2
fi

echo "demo: a site of three boxes (box1..box3) on an underlay (198.18.0.0/24) with a VXLAN"
echo "demo: overlay (VNI 100, 198.19.100.0/24); an agent in each box delivers to the post."
echo "demo: dashboard: http://127.0.0.1:$port/"
echo "demo: API:       http://127.0.0.1:$port/api/v1/boxes"
echo "demo: what each view of the dashboard shows:"
echo "demo:   Overview     the three boxes, live bits and packets per second per interface;"
echo "demo:                a box's name opens its drill-down"
echo "demo:   Top talkers  the web (443) and database (5432) transfers, bulk UDP, DNS-like"
echo "demo:   Flows        every flow record, filterable; box1..box3, eth0, vxlan100, mon0"
echo "demo:   Overlays     VNI 100 with its tunnel ends on the underlay"
echo "demo:   Alerts       a port scan of 198.18.0.3 by 198.18.0.1, within seconds, then every"
echo "demo:                ${DEMO_SCAN_EVERY:-180} s"
echo "demo:   Paths        sampled packets (1 in 16) joined across the boxes: links and hops"
echo "demo:                with their latency, after about 10 s"
echo "demo:   Latency      TCP round trips of the transfers per box and interface, the slowest"
echo "demo:                flows; the DNS-like datagrams, which no server answers, as unanswered"
echo "demo:   Drops        the kernel's drops by box and reason: the bulk UDP and the DNS-like"
echo "demo:                datagrams reach no socket (NO_SOCKET)"
echo "demo: TAP:       box2's overlay is mirrored to its port mon0 (rule: /api/v1/taps);"
echo "demo:            watch the copies: ip netns exec $M tcpdump -ni mon"
echo "demo: boxes:     ip netns exec $(ns 1) ... (also $(ns 2), $(ns 3))"
echo "demo: Ctrl-C (or SIGTERM) stops the site and removes everything it created."
# Sleeps in the background (and in the scan and the traffic): bash runs a trap only once the
# foreground command has ended, while 'wait' returns at once.
if [ -n "${DEMO_SECONDS:-}" ]; then
	bg sleep "$DEMO_SECONDS"
	wait "$BG_PID"
	forget_pid "$BG_PID"
	# What the post has seen, for whoever runs this unattended.
	api() { curl -s "http://127.0.0.1:$port/api/v1/$1"; }
	api boxes | jq -c '.boxes[] | {name, flows, interfaces}'
	api "flows?vni=100&ip_version=4&limit=1" |
		jq -c '.flows[0] | {box, iface, vni, src_addr, dst_addr, outer_src_addr, outer_dst_addr}'
	api paths/topology | jq -c '{topology: {boxes,
		links: [.links[] | select(.kind == "link")] | length,
		hops: [.links[] | select(.kind == "hop")] | length,
		with_latency: [.links[] | select(.latency_ns.p50 > 0)] | length}}'
	api alerts | jq -c '.alerts[] | {alert: .type, src, target, boxes}'
	api "drops?since=$(($(date +%s) - 3600))" | jq -c '{drops: [.series[] | {box, reason, total}]}'
	api "flows?protocol=tcp&min_rtt_ns=1&limit=1" | jq -c '{rtt: .flows[0] | {box, iface, rtt_samples, rtt_min_ns}}'
	api taps | jq -c '.taps[] | {tap: .rule, box, state, mirrored: .counters.mirrored}'
else
	for _ in $(seq 1 8760); do # a year
		bg sleep 3600
		wait "$BG_PID"
		forget_pid "$BG_PID"
	done
fi
