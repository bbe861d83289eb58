#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Known traffic between two namespaces, traced at both ends: exact packets and bytes per flow
# and direction for UDP over IPv4 and IPv6, ping, a TCP transfer, a VLAN and a VXLAN overlay.
. "$(dirname "$0")/lib.sh"
need_root traffic

C=$(ns_add c) && S=$(ns_add s) || exit 1
veth "$C" vc "$S" vs
ip -n "$C" addr add 198.18.1.1/24 dev vc
ip -n "$S" addr add 198.18.1.2/24 dev vs
ip -n "$C" addr add 2001:db8:1::1/64 dev vc nodad
ip -n "$S" addr add 2001:db8:1::2/64 dev vs nodad
# A VLAN on the same wire: the tag rides in skb metadata on both sides (VLAN offload).
# Kernels built without 802.1Q cannot have VLAN devices; the replay test still covers tags.
vlan=0
if ip -n "$C" link add link vc name vc.100 type vlan id 100 2>/dev/null &&
	ip -n "$S" link add link vs name vs.100 type vlan id 100; then
	vlan=1
	ip -n "$C" addr add 198.18.100.1/24 dev vc.100
	ip -n "$S" addr add 198.18.100.2/24 dev vs.100
fi
# A VXLAN overlay over the veth underlay.
ip -n "$C" link add vx type vxlan id 42 local 198.18.1.1 remote 198.18.1.2 dstport 4789 dev vc
ip -n "$S" link add vx type vxlan id 42 local 198.18.1.2 remote 198.18.1.1 dstport 4789 dev vs
ip -n "$C" addr add 198.19.1.1/24 dev vx
ip -n "$S" addr add 198.19.1.2/24 dev vx
for ns in "$C" "$S"; do
	for l in vc.100 vs.100 vx; do ip -n "$ns" link set "$l" up 2>/dev/null; done
done
# Resolve neighbours first, so no datagram waits in a neighbour queue while the agents run.
for a in 198.18.1.2 198.19.1.2 2001:db8:1::2 $([ $vlan = 1 ] && echo 198.18.100.2); do
	wait_for 5 ip netns exec "$C" ping -c 1 -W 1 "$a" || fail "ping $a before tracing"
done

# No -i: the agents must find every interface that is up (vc, vc.100, vx).
# The client side with a two-slot flow cache: slots change hands all the time.
agent_start "$C" c --flow-cache 2 || exit 1
agent_start "$S" s || exit 1
snmp() { ip netns exec "$1" awk '/^Tcp: [0-9]/ { print $11, $12, $13 }' /proc/net/snmp; }
read -r c_in0 c_out0 c_re0 <<<"$(snmp "$C")"

ip netns exec "$C" "$TOOLS/udpsend" -n 100 -s 200 -p 40001 198.18.1.2 9001 >/dev/null
ip netns exec "$C" "$TOOLS/udpsend" -n 100 -s 200 -p 40002 2001:db8:1::2 9001 >/dev/null
ip netns exec "$C" ping -c 5 -i 0.2 -s 56 198.18.1.2 >/dev/null
[ $vlan = 1 ] && ip netns exec "$C" "$TOOLS/udpsend" -n 20 -s 100 -p 40003 198.18.100.2 9002 >/dev/null
ip netns exec "$C" "$TOOLS/udpsend" -n 50 -s 100 -p 40004 198.19.1.2 9003 >/dev/null
bg ip netns exec "$S" "$TOOLS/tcpxfer" -l 9004
srv=$BG_PID
wait_for 5 sh -c "ip netns exec $S ss -Htln 'sport = :9004' | grep -q LISTEN"
ip netns exec "$C" "$TOOLS/tcpxfer" 198.18.1.2 9004 1048576 || fail "tcp transfer"
wait "$srv"
# The last ACKs may wait for the delayed-ACK timer (up to 200 ms): let them leave before
# the kernel's counters are read, as the agent, still running, will count them.
sleep 0.5
read -r c_in1 c_out1 c_re1 <<<"$(snmp "$C")"

stop_pid "$AGENT_PID"
check_eq "server agent exits 0" 0 $?
stop_pid "${SV_PIDS[0]}"
check_eq "client agent exits 0" 0 $?
cj=$SV_TMP/c.json sj=$SV_TMP/s.json

# expect NAME FILE FILTER PACKETS BYTES
expect() {
	check_eq "$1 packets" "$4" "$(flow_sum "$2" packets "$3")"
	check_eq "$1 bytes" "$5" "$(flow_sum "$2" bytes "$3")"
}

# UDP: 14 + 20 + 8 + 200 = 242 bytes a frame over IPv4, 262 over IPv6.
udp4='.protocol == 17 and .dst_port == 9001 and .ip_version == 4'
expect "udp4 client egress" "$cj" "$udp4 and .direction == \"egress\"" 100 24200
expect "udp4 server ingress" "$sj" "$udp4 and .direction == \"ingress\"" 100 24200
check_eq "udp4 one flow record per interval at most" 0 \
	"$(jq -s "[.[] | select(.type == \"flow\" and $udp4 and .src_addr != \"198.18.1.1\")] | length" "$cj")"
udp6='.protocol == 17 and .dst_port == 9001 and .ip_version == 6'
expect "udp6 client egress" "$cj" "$udp6 and .direction == \"egress\" and .src_addr == \"2001:db8:1::1\"" 100 26200
expect "udp6 server ingress" "$sj" "$udp6 and .direction == \"ingress\"" 100 26200

# ping -s 56: 98-byte frames; requests out, replies back, at both ends.
icmp='.protocol == 1 and .iface != "vx" and .vlan == null'
expect "ping requests client egress" "$cj" "$icmp and .icmp_type == 8 and .direction == \"egress\"" 5 490
expect "ping replies client ingress" "$cj" "$icmp and .icmp_type == 0 and .direction == \"ingress\"" 5 490
expect "ping requests server ingress" "$sj" "$icmp and .icmp_type == 8 and .direction == \"ingress\"" 5 490
expect "ping replies server egress" "$sj" "$icmp and .icmp_type == 0 and .direction == \"egress\"" 5 490

# VLAN 100: 14 + 4 + 20 + 8 + 100 = 146 bytes on the veth (tag in metadata, still on the
# wire), 142 on the VLAN device itself.
vl='.protocol == 17 and .dst_port == 9002'
if [ $vlan = 1 ]; then
	expect "vlan client egress on veth" "$cj" "$vl and .iface == \"vc\" and .vlan == 100 and .direction == \"egress\"" 20 2920
	expect "vlan server ingress on veth" "$sj" "$vl and .iface == \"vs\" and .vlan == 100 and .direction == \"ingress\"" 20 2920
	expect "vlan client egress on vlan device" "$cj" "$vl and .iface == \"vc.100\" and .direction == \"egress\"" 20 2840
else
	skip "vlan devices: this kernel has no 802.1Q support (CONFIG_VLAN_8021Q)"
fi

# VXLAN: the inner frame is 14 + 20 + 8 + 100 = 142 bytes; on the underlay it gains
# 20 + 8 + 8 + 14 = 50 of outer headers and is keyed by the inner flow plus VNI and outer ends.
vx='.protocol == 17 and .dst_port == 9003'
under="$vx and .vni == 42 and .outer_src_addr == \"198.18.1.1\" and .outer_dst_addr == \"198.18.1.2\" and .src_addr == \"198.19.1.1\""
expect "vxlan client egress on overlay" "$cj" "$vx and .iface == \"vx\" and .direction == \"egress\"" 50 7100
expect "vxlan client egress on underlay" "$cj" "$under and .iface == \"vc\" and .direction == \"egress\"" 50 9600
expect "vxlan server ingress on underlay" "$sj" "$under and .iface == \"vs\" and .direction == \"ingress\"" 50 9600
expect "vxlan server ingress on overlay" "$sj" "$vx and .iface == \"vx\" and .direction == \"ingress\"" 50 7100

# TCP with TSO/GSO on: the agent counts the segments that leave, which the kernel's own
# counters also count (OutSegs/InSegs add gso_segs), though each skb holds many.
tcp='.protocol == 6 and (.dst_port == 9004 or .src_port == 9004)'
check_eq "tcp client egress segments = TcpOutSegs" $((c_out1 - c_out0)) \
	"$(flow_sum "$cj" packets "$tcp and .iface == \"vc\" and .direction == \"egress\"")"
check_eq "tcp client ingress segments = TcpInSegs" $((c_in1 - c_in0)) \
	"$(flow_sum "$cj" packets "$tcp and .iface == \"vc\" and .direction == \"ingress\"")"
for f in packets bytes; do
	check_eq "tcp data $f client egress = server ingress" \
		"$(flow_sum "$cj" $f "$tcp and .dst_port == 9004 and .direction == \"egress\"")" \
		"$(flow_sum "$sj" $f "$tcp and .dst_port == 9004 and .direction == \"ingress\"")"
	check_eq "tcp acks $f server egress = client ingress" \
		"$(flow_sum "$sj" $f "$tcp and .src_port == 9004 and .direction == \"egress\"")" \
		"$(flow_sum "$cj" $f "$tcp and .src_port == 9004 and .direction == \"ingress\"")"
done
# Every data-direction segment is 14 + 20 + 32 (TCP with timestamps) bytes of headers plus
# payload, the SYN 8 bytes more: the payload must come out at exactly 1 MiB.
pk=$(flow_sum "$cj" packets "$tcp and .dst_port == 9004 and .direction == \"egress\"")
by=$(flow_sum "$cj" bytes "$tcp and .dst_port == 9004 and .direction == \"egress\"")
if [ $((c_re1 - c_re0)) -eq 0 ]; then
	check_eq "tcp payload bytes from wire bytes" 1048576 $((by - 66 * pk - 8))
else
	skip "tcp payload bytes: $((c_re1 - c_re0)) retransmissions"
fi
flags=0
for f in $(jq -s ".[] | select(.type == \"flow\" and $tcp and .dst_port == 9004 and .direction == \"egress\") | .tcp_flags" "$cj"); do
	flags=$((flags | f))
done
# FIN 0x01, SYN 0x02, PSH 0x08, ACK 0x10
check_eq "tcp flags seen on the data direction" 27 "$flags"

# Nothing lost, nothing invented: every packet the programs saw is in exactly one record.
for side in c s; do
	read -r tp tb <<<"$(agent_totals "$SV_TMP/$side.err")"
	check_eq "$side: records add up to every packet seen" "$tp" "$(flow_sum "$SV_TMP/$side.json" packets true)"
	check_eq "$side: records add up to every byte seen" "$tb" "$(flow_sum "$SV_TMP/$side.json" bytes true)"
	check_eq "$side: nothing lost" 1 "$(grep -c 'lost: 0 packets (flow table full), 0 packet events' "$SV_TMP/$side.err")"
done
finish
