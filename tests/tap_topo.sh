# SPDX-License-Identifier: GPL-2.0
# Sourced by tests/test-tap.sh and bench/tap.sh (after lib.sh): two VMs on a bridge and a
# monitor. tap_topology sets H (the host: bridge br0 with ports h1, h2; monitor port hm),
# A (VM 198.18.0.1 on v1), B (VM 198.18.0.2 on v2) and M (the monitor, m0 facing hm), with
# IPv6 off everywhere: no router solicitations or MLD, so every frame is the test's own.
tap_topology() {
	H=$(ns_add h) && A=$(ns_add a) && B=$(ns_add b) && M=$(ns_add m) || return 1
	for ns in "$H" "$A" "$B" "$M"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
	done
	ip -n "$H" link add br0 type bridge &&
		ip -n "$H" link set br0 up &&
		veth "$A" v1 "$H" h1 &&
		veth "$B" v2 "$H" h2 &&
		veth "$M" m0 "$H" hm &&
		ip -n "$H" link set h1 master br0 &&
		ip -n "$H" link set h2 master br0 &&
		ip -n "$A" addr add 198.18.0.1/24 dev v1 &&
		ip -n "$B" addr add 198.18.0.2/24 dev v2 &&
		wait_for 5 ip netns exec "$A" ping -c 1 -W 1 198.18.0.2
}
