#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Kernel drop reasons (--drops, issue 16): real drops in a router namespace, counted by flow
# and reason exactly as the kernel's own counters say (nft's counter, /proc/net/udp).
. "$(dirname "$0")/lib.sh"
need_root drops

A=$(ns_add a) && R=$(ns_add r) && B=$(ns_add b) || exit 1
static_pair "$A" va 198.18.1.1 "$R" ra 198.18.1.2 || exit 1
static_pair "$R" rb 198.18.2.1 "$B" vb 198.18.2.2 || exit 1
ip -n "$A" route add default via 198.18.1.2
ip -n "$B" route add default via 198.18.2.1
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
# 1 in 10 of the forwarded UDP flow to port 5000, in the order they come.
ip netns exec "$R" nft -f - <<'EOF' || exit 1
table inet svdrops {
	counter lost { }
	counter lost_out { }
	chain forward_udp {
		type filter hook forward priority 0;
		udp dport 5000 numgen inc mod 10 == 0 counter name lost drop
	}
	chain output_icmp {
		type filter hook output priority 0;
		icmp type echo-request counter name lost_out drop
	}
}
EOF
# A VXLAN endpoint for VNI 100 in the router; the client sends VNI 200, which it does not know.
ip -n "$R" link add vx100 type vxlan id 100 local 198.18.1.2 dstport 4789 dev ra
ip -n "$R" link set vx100 up
ip -n "$A" link add vx200 type vxlan id 200 local 198.18.1.1 remote 198.18.1.2 dstport 4789 \
	dev va
ip -n "$A" addr add 198.19.9.1/24 dev vx200
ip -n "$A" link set vx200 up
no_ipv6 "$A" vx200
no_ipv6 "$R" vx100
ip -n "$A" neigh replace 198.19.9.2 lladdr 02:00:00:00:09:02 dev vx200 nud permanent

bg ip netns exec "$R" "$SV_ROOT/build/bench/udpsink" 198.18.1.2 5001
wait_for 5 sh -c "ip netns exec $R ss -Huln 'sport = :5001' | grep -q 5001" ||
	fail "the sink listens"
POST=$SV_ROOT/build/sitevisor-post
TOKEN=drops-token-$RUN_ID
sock=$SV_TMP/post.sock
bg "$POST" --listen "unix:$sock" --db "$SV_TMP/post.db" --token "$TOKEN" 2>"$SV_TMP/post.err"
wait_for 10 test -S "$sock" || { fail "post did not start"; cat "$SV_TMP/post.err"; finish; }
api() { curl -sf --max-time 10 --unix-socket "$sock" "http://post/api/v1/$1"; }
apicode() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 --unix-socket "$sock" "http://post/api/v1/$1"; }
# InfluxDB's write endpoint, as far as the agent can tell: every body kept in a file.
cat >"$SV_TMP/influx.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        with open(sys.argv[2], 'ab') as f:
            f.write(body)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
EOF
IPORT=18086
bg ip netns exec "$R" python3 "$SV_TMP/influx.py" $IPORT "$SV_TMP/influx.lp"
wait_for 5 sh -c "ip netns exec $R ss -Htln 'sport = :$IPORT' | grep -q LISTEN" ||
	fail "the InfluxDB stand-in listens"
t0=$(($(date +%s) - 60))
agent_start "$R" r -i ra -i rb --post "unix:$sock" --token "$TOKEN" --box r \
	--spool "$SV_TMP/spool" --metrics "unix:$SV_TMP/metrics.sock" \
	--influx "http://127.0.0.1:$IPORT/write?db=sv" || exit 1

ip netns exec "$A" "$TOOLS/udpsend" -n 1000 -s 100 -p 41000 198.18.2.2 5000 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 200 -s 100 -p 41002 198.18.2.2 5002 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 2000 -s 1000 -p 41001 198.18.1.2 5001 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 7 -s 100 -p 41003 203.0.113.9 5003 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 5 -s 100 -p 41004 198.19.9.2 5004 >/dev/null
ip netns exec "$A" ping -c 20 -i 0.01 -q 198.18.1.2 >/dev/null || fail "ping the router"
# The router's own echo requests, dropped by its output hook before any tc hook sees them.
ip netns exec "$R" ping -c 6 -i 0.01 -W 0.1 -q 198.18.1.1 >/dev/null 2>&1
sleep 1.5
nft_lost=$(ip netns exec "$R" nft -j list counter inet svdrops lost |
	jq '.nftables[] | select(.counter) | .counter.packets')
# /proc/net/udp's last column: the socket's drops (local port 5001 is 1389 in hex).
nft_lost_out=$(ip netns exec "$R" nft -j list counter inet svdrops lost_out |
	jq '.nftables[] | select(.counter) | .counter.packets')
sock_drops=$(ip netns exec "$R" awk '$2 ~ /:1389$/ { print $NF }' /proc/net/udp)
metrics=$(curl -sf --max-time 5 --unix-socket "$SV_TMP/metrics.sock" http://agent/metrics)
stop_pid "$AGENT_PID"
check_eq "agent exits 0" 0 $?
rj=$SV_TMP/r.json

# drops REASON FILTER: the packets of REASON over the records matching FILTER.
drops() {
	jq -s "[.[] | select(.type == \"flow\") | select($2) | .drop_reasons.$1 // 0] | add // 0" \
		"$rj"
}

check_eq "nft dropped 100" 100 "$nft_lost"
check_eq "NETFILTER_DROP of the flow = nft's counter" "$nft_lost" \
	"$(drops NETFILTER_DROP '.dst_port == 5000 and .iface == "ra" and .direction == "ingress"')"
check_eq "drops of the flow = nft's counter" "$nft_lost" \
	"$(flow_sum "$rj" drops '.dst_port == 5000')"
# 14 + 20 + 8 + 100 bytes a frame, from the Ethernet header as tc counts them.
check_eq "drop_bytes of the flow" $((nft_lost * 142)) \
	"$(flow_sum "$rj" drop_bytes '.dst_port == 5000')"
check_eq "the flow's packets still all seen at ingress" 1000 \
	"$(flow_sum "$rj" packets '.dst_port == 5000 and .iface == "ra"')"
check_eq "the rest leave the router" $((1000 - nft_lost)) \
	"$(flow_sum "$rj" packets '.dst_port == 5000 and .iface == "rb"')"

[ "${sock_drops:-0}" -gt 0 ] || fail "the socket dropped datagrams ($sock_drops)"
check_eq "SOCKET_RCVBUFF = the socket's drops in /proc/net/udp" "$sock_drops" \
	"$(drops SOCKET_RCVBUFF '.dst_port == 5001')"

check_eq "no route: IP_INNOROUTES for each of the 7" 7 \
	"$(drops IP_INNOROUTES '.dst_addr == "203.0.113.9" and .dst_port == 5003')"
check_eq "unknown VNI: VXLAN_VNI_NOT_FOUND for each of the 5, inner flow and VNI" 5 \
	"$(drops VXLAN_VNI_NOT_FOUND '.vni == 200 and .dst_addr == "198.19.9.2" and .dst_port == 5004')"

check_eq "output drop: nft counted 6" 6 "$nft_lost_out"
check_eq "output drop: a record of its own, on the route's device, no packets, 6 drops" \
	"ra egress 0 $nft_lost_out" \
	"$(jq -rs '[.[] | select(.type == "flow" and .icmp_type == 8 and .src_addr == "198.18.1.2")] |
		"\(.[0].iface) \(.[0].direction) \(map(.packets) | add) \(map(.drop_reasons.NETFILTER_DROP) | add)"' "$rj")"
check_eq "a flow without drops shows none" "200 0" \
	"$(flow_sum "$rj" packets '.dst_port == 5002 and .iface == "ra"') $(flow_sum "$rj" drops '.dst_port == 5002')"
check_eq "its records have no drop fields" 0 \
	"$(jq -s '[.[] | select(.type == "flow" and .dst_port == 5002) | select(has("drops") or has("drop_reasons"))] | length' "$rj")"
# Echo requests are consumed, not dropped (consume_skb, or kfree_skb with SKB_CONSUMED).
check_eq "ping: consumed, never counted" "20 0" \
	"$(flow_sum "$rj" packets '.protocol == 1 and .icmp_type == 8 and .direction == "ingress"') $(flow_sum "$rj" drops '.protocol == 1 and .direction == "ingress"')"
check_eq "no NOT_SPECIFIED, no CONSUMED" 0 \
	"$(jq -s '[.[] | select(.type == "flow") | .drop_reasons // {} | keys[] | select(. == "NOT_SPECIFIED" or . == "CONSUMED")] | length' "$rj")"
check_eq "metrics: the box's NETFILTER_DROP drops" $((nft_lost + nft_lost_out)) \
	"$(sed -n 's/^sitevisor_agent_kernel_drops_total{box="r",reason="NETFILTER_DROP"} //p' <<<"$metrics")"
check_eq "metrics: no drop the agent could not record" 0 \
	"$(sed -n 's/^sitevisor_agent_events_lost_total{box="r",reason="drop_map_full"} //p' <<<"$metrics")"
# lp_sum IFACE DIRECTION REASON: the sitevisor_drop points' packets.
lp_sum() {
	sed -n "s/^sitevisor_drop,box=r,direction=$2,iface=$1,reason=$3 packets=\([0-9]*\)i .*/\1/p" \
		"$SV_TMP/influx.lp" | paste -sd+ | bc
}
check_eq "influx: sitevisor_drop NETFILTER_DROP on ra ingress = nft's forward counter" \
	"$nft_lost" "$(lp_sum ra ingress NETFILTER_DROP)"
check_eq "influx: and on ra egress = nft's output counter" "$nft_lost_out" \
	"$(lp_sum ra egress NETFILTER_DROP)"
check_eq "influx: the flow's points carry its drops" "$nft_lost" \
	"$(sed -n 's/^sitevisor_flow,.*dst_port=5000i,.*drops=\([0-9]*\)i.*/\1/p' "$SV_TMP/influx.lp" | paste -sd+ | bc)"
check_eq "drops = the sum of its reasons in every record" 0 \
	"$(jq -s '[.[] | select(.type == "flow" and .drops) | select(.drops != ([.drop_reasons[]] | add))] | length' "$rj")"
grep -q "running without --drops" "$SV_TMP/r.err" && fail "the agent ran without --drops"

# --- the post: /api/v1/drops and the flows' drops filter ------------------------------------
for i in $(seq 1 20); do
	[ "$(api "flows?drops=1&since=$t0&limit=1000" | jq '[.flows[].drops] | add')" = \
		"$(flow_sum "$rj" drops 'true')" ] && break
	sleep 0.5
done
check_eq "post: flows?drops=1 holds every drop the agent printed" "$(flow_sum "$rj" drops 'true')" \
	"$(api "flows?drops=1&since=$t0&limit=1000" | jq '[.flows[].drops] | add')"
check_eq "post: flows?drops=0 holds none" 0 \
	"$(api "flows?drops=0&since=$t0&limit=1000" | jq '[.flows[] | .drops // 0] | add')"
d=$(api "drops?box=r&since=$t0&step=60")
check_eq "drops: the series' NETFILTER_DROP total is nft's counter and its points add up" \
	"$((nft_lost + nft_lost_out)) $((nft_lost + nft_lost_out))" \
	"$(jq -r '.series[] | select(.reason == "NETFILTER_DROP") | "\(.total) \(.points | add)"' <<<"$d")"
check_eq "drops: the series by reason" \
	"IP_INNOROUTES:7 NETFILTER_DROP:$((nft_lost + nft_lost_out)) SOCKET_RCVBUFF:$sock_drops VXLAN_VNI_NOT_FOUND:5" \
	"$(jq -r '[.series[] | "\(.reason):\(.total)"] | sort | join(" ")' <<<"$d")"
check_eq "drops: the top dropped flow is the one to the full socket" "5001 $sock_drops" \
	"$(jq -r '.flows[0] | "\(.dst_port) \(.drops)"' <<<"$d")"
check_eq "drops: by reason and flow" "$nft_lost" \
	"$(api "drops?reason=NETFILTER_DROP&dst_port=5000&since=$t0" | jq '[.flows[].drop_reasons.NETFILTER_DROP] | add')"
check_eq "drops: another box has none" '{"series":[],"flows":[]}' \
	"$(api "drops?box=nobox&since=$t0" | jq -c '{series, flows}')"
check_eq "drops: an unknown parameter is a 400" 400 "$(apicode "drops?nope=1")"
check_eq "flows: drops=2 is a 400" 400 "$(apicode "flows?drops=2")"

# --drops off: no drop program, no drop fields.
agent_start "$R" off -i ra --drops off || exit 1
ip netns exec "$A" "$TOOLS/udpsend" -n 100 -s 100 -p 41005 198.18.2.2 5000 >/dev/null
sleep 1.5
stop_pid "$AGENT_PID"
check_eq "--drops off: the flow, without drops" "100 0" \
	"$(flow_sum "$SV_TMP/off.json" packets '.dst_port == 5000') $(flow_sum "$SV_TMP/off.json" drops 'true')"
finish
