#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Packet mode: one JSON line per packet through the ring buffer, with the flow's fields, and
# sampling whose selections are all delivered or counted as lost.
. "$(dirname "$0")/lib.sh"
need_root packets

C=$(ns_add c) && S=$(ns_add s) || exit 1
veth "$C" pc "$S" ps
no_ipv6 "$C" pc
no_ipv6 "$S" ps
ip -n "$C" addr add 198.18.4.1/24 dev pc
ip -n "$S" addr add 198.18.4.2/24 dev ps
wait_for 5 ip netns exec "$C" ping -c 1 -W 1 198.18.4.2 || fail "ping before tracing"

agent_start "$C" all -i pc --packets || exit 1
t0=$(date +%s%N)
ip netns exec "$C" "$TOOLS/udpsend" -n 10 -s 200 -p 40010 198.18.4.2 9010 >/dev/null
t1=$(date +%s%N)
stop_pid "$AGENT_PID"
pk='select(.type == "packet" and .protocol == 17 and .dst_port == 9010)'
j=$SV_TMP/all.json
check_eq "one line per packet" 10 "$(jq -c "$pk" "$j" | wc -l)"
check_eq "fields of every packet line" 10 "$(jq -c "$pk | select(.box != null and .iface == \"pc\"
	and .direction == \"egress\" and .ip_version == 4 and .src_addr == \"198.18.4.1\"
	and .dst_addr == \"198.18.4.2\" and .src_port == 40010 and .len == 242 and .segs == 1
	and .src_mac != null and .tcp_seq == 0)" "$j" | wc -l)"
check_eq "wall-clock timestamps within the send" 10 \
	"$(jq -c "$pk | select(.ts_ns >= $t0 and .ts_ns <= $t1)" "$j" | wc -l)"
check_eq "timestamps in order" "$(jq "$pk | .ts_ns" "$j")" "$(jq "$pk | .ts_ns" "$j" | sort -n)"
check_eq "flow records still exact in packet mode" 10 \
	"$(flow_sum "$j" packets '.protocol == 17 and .dst_port == 9010')"

# TCP packets carry their flags and sequence numbers.
agent_start "$C" tcp -i pc --packets || exit 1
bg ip netns exec "$S" "$TOOLS/tcpxfer" -l 9011
srv=$BG_PID
wait_for 5 sh -c "ip netns exec $S ss -Htln 'sport = :9011' | grep -q LISTEN"
ip netns exec "$C" "$TOOLS/tcpxfer" 198.18.4.2 9011 10000
wait "$srv"
stop_pid "$AGENT_PID"
syn='select(.type == "packet" and .dst_port == 9011 and .direction == "egress" and .tcp_flags == 2)'
check_eq "SYN seen once with flags 2" 1 "$(jq -c "$syn" "$SV_TMP/tcp.json" | wc -l)"
isn=$(jq "$syn | .tcp_seq" "$SV_TMP/tcp.json")
check_eq "first data segment follows the SYN's sequence number" $(((isn + 1) % 4294967296)) \
	"$(jq -s "[.[] | select(.type == \"packet\" and .dst_port == 9011 and .direction == \"egress\" and .tcp_flags != 2 and .len > 66)][0].tcp_seq" "$SV_TMP/tcp.json")"

# Sampling 1 in 10 of 2000 packets: each selection is either a line or counted as lost, and
# the selection rate is plausible (binomial: mean 200, far beyond 6 sigma at the bounds).
agent_start "$C" sampled -i pc --packets --sample 10 || exit 1
ip netns exec "$C" "$TOOLS/udpsend" -n 2000 -s 64 -p 40012 198.18.4.2 9012 >/dev/null
stop_pid "$AGENT_PID"
sampled=$(sed -n 's/.* \([0-9]*\) packet events sampled.*/\1/p' "$SV_TMP/sampled.err")
lost=$(sed -n 's/.*, \([0-9]*\) packet events (ring buffer full).*/\1/p' "$SV_TMP/sampled.err")
lines=$(jq -c 'select(.type == "packet")' "$SV_TMP/sampled.json" | wc -l)
check_eq "sampled events = lines + lost" "$sampled" $((lines + lost))
if [ "$lines" -ge 110 ] && [ "$lines" -le 300 ]; then
	pass "sampling 1 in 10 selects about 200 of 2000 ($lines)"
else
	fail "sampling 1 in 10 selected $lines of 2000"
fi
check_eq "flows exact while sampling" 2000 \
	"$(flow_sum "$SV_TMP/sampled.json" packets '.protocol == 17 and .dst_port == 9012')"
finish
