#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make demo: a simulated site of three boxes (network namespaces on an underlay bridge, with
# a VXLAN overlay between them), an agent in each box, steady mixed traffic, and a post on
# the embedded store serving the dashboard. Ctrl-C (or DEMO_SECONDS=N) removes it all.
# Only test addresses, only inside the namespaces; the post listens on loopback.
set -u
. "$(dirname "$0")/../tests/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (namespaces and BPF)" >&2
	exit 1
fi
POST=$SV_ROOT/build/sitevisor-post
TOKEN=demo-token-$RUN_ID
SOCK=$SV_TMP/post.sock

# The dashboard on the first free port from DEMO_PORT (default 8080).
port=${DEMO_PORT:-8080}
for _ in $(seq 1 50); do
	ss -Htln "sport = :$port" | grep -q . || break
	port=$((port + 1))
done
"$POST" --db "$SV_TMP/demo.db" --listen "127.0.0.1:$port" --listen "unix:$SOCK" \
	--token "$TOKEN" 2>"$SV_TMP/post.err" &
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
	ip netns exec "$B" "$AGENT" --box box$i --interval 2 --post "unix:$SOCK" --token "$TOKEN" \
		--spool "$SV_TMP/spool$i" 2>"$SV_TMP/agent$i.err" &
	SV_PIDS+=($!)
done
ns() { echo "sv${RUN_ID}-box$1"; }

# Steady mixed traffic: pings on both networks, TCP transfers (a "web" and a "database"),
# DNS-like and bulk UDP on the overlay.
traffic() {
	local i
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
wait_for 10 sh -c "grep -q 'records every' $SV_TMP/agent1.err && grep -q 'records every' $SV_TMP/agent3.err"

echo "demo: a site of three boxes (box1..box3) on an underlay (198.18.0.0/24) with a VXLAN"
echo "demo: overlay (VNI 100, 198.19.100.0/24); an agent in each box delivers to the post."
echo "demo: dashboard: http://127.0.0.1:$port/"
echo "demo: API:       http://127.0.0.1:$port/api/v1/boxes"
echo "demo: boxes:     ip netns exec $(ns 1) ... (also $(ns 2), $(ns 3))"
echo "demo: Ctrl-C stops the site and removes everything it created."
if [ -n "${DEMO_SECONDS:-}" ]; then
	sleep "$DEMO_SECONDS"
	# What the post has seen, for whoever runs this unattended.
	curl -s "http://127.0.0.1:$port/api/v1/boxes" | jq -c '.boxes[] | {name, flows, interfaces}'
	curl -s "http://127.0.0.1:$port/api/v1/flows?vni=100&ip_version=4&limit=1" | jq -c '.flows[0] | {box, iface, vni, src_addr, dst_addr, outer_src_addr, outer_dst_addr}'
else
	while sleep 3600; do :; done
fi
