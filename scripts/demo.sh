#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make demo: a small simulated site in network namespaces — a box with two neighbours, one
# over a VXLAN overlay — with steady mixed traffic, and the agent on the box printing flows.
# Ctrl-C (or DEMO_SECONDS=N) tears everything down. Only test addresses, only namespaces.
set -u
. "$(dirname "$0")/../tests/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (namespaces and BPF)" >&2
	exit 1
fi

BOX=$(ns_add box) && H1=$(ns_add web) && H2=$(ns_add db) || exit 1
veth "$BOX" eth1 "$H1" eth0
veth "$BOX" eth2 "$H2" eth0
ip -n "$BOX" addr add 198.18.10.1/24 dev eth1
ip -n "$H1" addr add 198.18.10.2/24 dev eth0
ip -n "$BOX" addr add 198.18.20.1/24 dev eth2
ip -n "$H2" addr add 198.18.20.2/24 dev eth0
ip -n "$H1" route add default via 198.18.10.1
ip -n "$H2" route add default via 198.18.20.1
ip netns exec "$BOX" sysctl -qw net.ipv4.ip_forward=1
# The overlay: box and db share VNI 100 over the underlay on eth2.
ip -n "$BOX" link add vxlan100 type vxlan id 100 local 198.18.20.1 remote 198.18.20.2 dstport 4789 dev eth2
ip -n "$H2" link add vxlan100 type vxlan id 100 local 198.18.20.2 remote 198.18.20.1 dstport 4789 dev eth0
ip -n "$BOX" addr add 198.19.100.1/24 dev vxlan100
ip -n "$H2" addr add 198.19.100.2/24 dev vxlan100
ip -n "$BOX" link set vxlan100 up
ip -n "$H2" link set vxlan100 up

# Steady traffic: web pings db through the box, a TCP transfer now and then, UDP on the overlay.
traffic() {
	local i
	for i in $(seq 1 100000); do
		ip netns exec "$H1" ping -c 2 -i 0.3 -W 1 198.18.20.2 >/dev/null 2>&1
		ip netns exec "$BOX" "$TOOLS/udpsend" -n 20 -s 300 198.19.100.2 5353 >/dev/null 2>&1
		ip netns exec "$H2" timeout 3 "$TOOLS/tcpxfer" -l 8080 >/dev/null 2>&1 &
		sleep 0.2
		ip netns exec "$H1" timeout 3 "$TOOLS/tcpxfer" 198.18.20.2 8080 200000 >/dev/null 2>&1
		wait
		sleep 1
	done
}
bg traffic

echo "demo: box '$BOX' routes between web (198.18.10.2) and db (198.18.20.2), with a VXLAN"
echo "demo: overlay (VNI 100) to db. The agent traces every interface of the box; flows every"
echo "demo: 2 s. Ctrl-C stops and removes it all."
bg ip netns exec "$BOX" "$AGENT" --box demo-box --interval 2 ${DEMO_ARGS:-}
agent=$BG_PID
if [ -n "${DEMO_SECONDS:-}" ]; then
	sleep "$DEMO_SECONDS"
	stop_pid "$agent"
else
	wait "$agent"
fi
