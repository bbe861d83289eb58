#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# How long it took (issue 17), against the kernel's own figures: TCP round trips beside ss -ti
# on a plain and a paced path, retransmissions against TcpRetransSegs, DNS answers from dnsmasq.
. "$(dirname "$0")/lib.sh"
need_root latency
for t in iperf3 nft dig dnsmasq ss; do
	command -v "$t" >/dev/null || { skip "latency ($t missing: make deps)"; exit 0; }
done

C=$(ns_add c) && S=$(ns_add s) || exit 1
static_pair "$C" vc 198.18.17.1 "$S" vs 198.18.17.2
ip -n "$S" addr add 198.18.17.3/24 dev vs
mac=$(ip -n "$S" -j link show vs | jq -r '.[0].address')
ip -n "$C" neigh replace 198.18.17.3 lladdr "$mac" dev vc nud permanent
agent_start "$C" c -i vc --dns-timeout 2 || exit 1

# The data connection of an iperf3 run to PORT in the client's namespace, as ss -ti sees it
# near its end: "minrtt_us srtt_us local_port".
iperf_ss() {
	local port=$1 out=$SV_TMP/ss.$1
	bg ip netns exec "$S" iperf3 -s -1 -p "$port" >/dev/null 2>&1
	wait_for 5 ip netns exec "$S" ss -Htln "sport = :$port" | grep -q . || true
	sleep 0.3
	bg ip netns exec "$C" iperf3 -c 198.18.17.2 -p "$port" -t 3 >/dev/null 2>&1
	local cpid=$BG_PID
	sleep 2.5
	ip netns exec "$C" ss -Htin "dport = :$port" >"$out"
	wait "$cpid"
	# The line with the most bytes acked is the data connection, not the control one.
	tr '\n' ' ' <"$out" | sed 's/ESTAB/\nESTAB/g' | awk '
		/bytes_acked/ {
			match($0, /bytes_acked:[0-9]+/); b = substr($0, RSTART + 12, RLENGTH - 12)
			match($0, /minrtt:[0-9.]+/); m = substr($0, RSTART + 7, RLENGTH - 7)
			match($0, / rtt:[0-9.]+/); r = substr($0, RSTART + 5, RLENGTH - 5)
			split($4, a, ":"); if (b + 0 > best) { best = b + 0; line = sprintf("%d %d %s",
				m * 1000, r * 1000, a[length(a)]) }
		}
		END { print line }'
}

# Round trips to the server: on the records of what the server sent (ingress, src = server).
# "min_ns mean_ns samples" over the client port's records.
agent_rtt() {
	jq -s --argjson p "$1" '[.[] | select(.type == "flow" and .direction == "ingress" and
		.dst_port == $p and .rtt_samples != null)] |
		"\(map(.rtt_min_ns) | min // 0) \((map(.rtt_sum_ns) | add // 0) /
		  ((map(.rtt_samples) | add // 0) + 0.000001) | floor) \(map(.rtt_samples) | add // 0)"' \
		-r "$SV_TMP/c.json"
}

read -r k_min1 k_srtt1 port1 < <(iperf_ss 5201)
ip -n "$C" link set vc txqueuelen 1000
tc -n "$C" qdisc add dev vc root tbf rate 40mbit burst 16kb latency 60ms
read -r k_min2 k_srtt2 port2 < <(iperf_ss 5203)
tc -n "$C" qdisc del dev vc root

# Retransmissions: the server's namespace drops a few data segments after the client's
# interface saw them, so every retransmission crosses the traced interface twice.
retrans() {
	ip netns exec "${1:-$C}" awk '/^Tcp:/ {
		if (!h) { for (i = 1; i <= NF; i++) if ($i == "RetransSegs") c = i; h = 1 }
		else print $c }' /proc/net/snmp
}
ip netns exec "$S" nft -f - <<'EOF'
table inet svlat {
	chain pre {
		type filter hook prerouting priority -300;
		tcp dport { 5202, 5204 } meta length > 1000 numgen inc mod 25 == 3 counter drop
		ip daddr 198.18.17.3 udp dport 53 drop
	}
}
EOF
bg ip netns exec "$S" "$TOOLS/tcpxfer" -l 5202 >"$SV_TMP/xfer.out"
wait_for 5 ip netns exec "$S" ss -Htln "sport = :5202" | grep -q . || true
r0=$(retrans)
ip netns exec "$C" "$TOOLS/tcpxfer" 198.18.17.2 5202 8000000 >/dev/null
r1=$(retrans)
# Again, and the client's own output drops a few segments too, before its interface. An
# original dropped there is sent again as new data (the send failed), but a retransmission
# dropped there is one the kernel counts and tc never sees: the tracepoint counts it.
ip netns exec "$C" nft -f - <<'EOF2'
table inet svlatout {
	chain out {
		type filter hook output priority 0;
		tcp dport 5204 meta length > 1000 numgen inc mod 6 == 1 counter drop
	}
}
EOF2
bg ip netns exec "$S" "$TOOLS/tcpxfer" -l 5204 >"$SV_TMP/xfer2.out"
wait_for 5 ip netns exec "$S" ss -Htln "sport = :5204" | grep -q . || true
r2=$(retrans)
ip netns exec "$C" "$TOOLS/tcpxfer" 198.18.17.2 5204 4000000 >/dev/null
r3=$(retrans)
out_drops=$(ip netns exec "$C" nft list table inet svlatout | sed -n 's/.*packets \([0-9]*\).*/\1/p')
# A server's SYN-ACK sent again (tcp:tcp_retransmit_synack): an agent on the server's side
# while the client drops the first SYN-ACK; its SYN again brings the second.
CPID=$AGENT_PID
agent_start "$S" s -i vs || exit 1
SPID=$AGENT_PID AGENT_PID=$CPID
ip netns exec "$C" nft -f - <<'EOF2'
table inet svlatsyn {
	chain pre {
		type filter hook prerouting priority -300;
		tcp sport 5205 tcp flags & (syn | ack) == syn | ack numgen inc mod 2 == 0 counter drop
	}
}
EOF2
bg ip netns exec "$S" "$TOOLS/tcpxfer" -l 5205 >"$SV_TMP/xfer3.out"
wait_for 5 ip netns exec "$S" ss -Htln "sport = :5205" | grep -q . || true
r4=$(retrans "$S")
ip netns exec "$C" "$TOOLS/tcpxfer" 198.18.17.2 5205 1000 >/dev/null
r5=$(retrans "$S")
sleep 1.2 # an interval: the record goes out
stop_pid "$SPID" || fail "server agent exit status"
forget_pid "$SPID"

# DNS: three names dnsmasq knows (one over TCP), one it answers NXDOMAIN for, two queries
# nobody answers.
bg ip netns exec "$S" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
	--bind-interfaces --listen-address=198.18.17.2 --port=53 --local=/test/ \
	--address=/a.test/192.0.2.7 --pid-file="$SV_TMP/dnsmasq.pid" --user=root 2>"$SV_TMP/dns.err"
wait_for 5 ip netns exec "$C" dig +short +tries=1 +time=1 @198.18.17.2 a.test | grep -q 192.0.2.7
sleep 1.2 # the probe's record goes out before the counted queries start
first_q=$(date +%s%N)
for n in a.test a.test a.test nx.test; do
	ip netns exec "$C" dig +tries=1 +time=2 @198.18.17.2 "$n" >>"$SV_TMP/dig.out"
done
ip netns exec "$C" dig +tcp +tries=1 +time=2 @198.18.17.2 a.test >>"$SV_TMP/dig.out"
for i in 1 2; do
	ip netns exec "$C" dig +tries=1 +time=1 @198.18.17.3 "q$i.test" >>"$SV_TMP/dig.out"
done
sleep 4 # --dns-timeout 2 and an interval: the silent server's queries are aged out
stop_pid "$AGENT_PID" || fail "agent exit status"
forget_pid "$AGENT_PID"

# --- RTT: beside the kernel's figures for the same socket --------------------------------
read -r a_min1 a_mean1 a_n1 < <(agent_rtt "$port1")
read -r a_min2 a_mean2 a_n2 < <(agent_rtt "$port2")
echo "plain: kernel minrtt ${k_min1} us srtt ${k_srtt1} us; agent min $((a_min1 / 1000)) us" \
	"mean $((a_mean1 / 1000)) us over $a_n1 samples"
echo "paced: kernel minrtt ${k_min2} us srtt ${k_srtt2} us; agent min $((a_min2 / 1000)) us" \
	"mean $((a_mean2 / 1000)) us over $a_n2 samples"
# The TCP timestamp clock ticks in milliseconds: a sample can be early by up to one tick.
res=1000000
for i in 1 2; do
	eval "amin=\$a_min$i amean=\$a_mean$i an=\$a_n$i kmin=\$k_min$i ksrtt=\$k_srtt$i"
	if [ "$an" -ge 2 ] && [ "$amin" -gt 0 ]; then pass "path $i: RTT samples"; else
		fail "path $i: RTT samples ($an)"; fi
	if [ "$amin" -ge $((kmin * 1000 - res)) ]; then pass "path $i: min RTT not below ss"; else
		fail "path $i: agent min RTT $amin ns below ss minrtt ${kmin} us"; fi
	if [ "$amean" -le $((ksrtt * 1000 * 10 + res)) ] && [ $((amean * 10 + res)) -ge \
		$((ksrtt * 1000)) ]; then pass "path $i: mean RTT the order of ss's srtt"; else
		fail "path $i: agent mean RTT $amean ns, ss srtt ${ksrtt} us"; fi
done
if [ "$a_mean2" -gt $((a_mean1 * 5)) ]; then pass "the paced path shows a longer RTT"; else
	fail "paced RTT $a_mean2 ns not above 5 x plain $a_mean1 ns"; fi

# --- Retransmissions: exactly the kernel's count ------------------------------------------
kd=$((r1 - r0))
ad=$(flow_sum "$SV_TMP/c.json" retransmits '.direction == "egress" and .dst_port == 5202')
echo "retransmissions: TcpRetransSegs +$kd, agent $ad"
if [ "$kd" -gt 0 ]; then pass "nftables made retransmissions"; else
	fail "no retransmission happened"; fi
check_eq "retransmits equal TcpRetransSegs" "$kd" "$ad"
kd2=$((r3 - r2))
ad2=$(flow_sum "$SV_TMP/c.json" retransmits '.direction == "egress" and .dst_port == 5204')
echo "dropped on the way out: $out_drops segments; TcpRetransSegs +$kd2, agent $ad2"
if [ "${out_drops:-0}" -gt 0 ] && [ "$kd2" -gt 0 ]; then
	pass "the client's output dropped segments it sent again"; else
	fail "no output drop or no retransmission ($out_drops, $kd2)"; fi
check_eq "segments dropped before the interface: retransmits equal TcpRetransSegs" "$kd2" "$ad2"
ad3=$(flow_sum "$SV_TMP/s.json" retransmits '.direction == "egress" and .src_port == 5205')
echo "server: TcpRetransSegs +$((r5 - r4)), agent $ad3"
if [ $((r5 - r4)) -ge 1 ]; then pass "the server sent its SYN-ACK again"; else
	fail "the server sent no SYN-ACK again"; fi
check_eq "the server's SYN-ACKs sent again: retransmits equal TcpRetransSegs" $((r5 - r4)) "$ad3"
if grep -q 'counted at tc only' "$SV_TMP/c.err"; then
	fail "the agent could not attach the retransmission tracepoints"; else
	pass "the agent counted its own sockets' retransmissions at the tracepoints"; fi

# --- DNS ----------------------------------------------------------------------------------
dns=$(jq -s -c --argjson t "$first_q" '[.[] | select(.type == "flow" and .src_port == 53 and
	.src_addr == "198.18.17.2" and .last_ns >= $t and .dns_answers != null)]' "$SV_TMP/c.json")
check_eq "DNS answers" 5 "$(jq '[.[].dns_answers] | add' <<<"$dns")"
check_eq "the answer over TCP" 1 "$(jq '[.[] | select(.protocol == 6) | .dns_answers] | add' <<<"$dns")"
check_eq "each answer timed" 5 \
	"$(jq '[.[] | select(.dns_latency_sum_ns > 0 and .dns_rcode != null) | .dns_answers] | add' \
		<<<"$dns")"
answers_with() { jq "[.[] | select(.dns_rcode == $1) | .dns_answers] | add" <<<"$dns"; }
check_eq "NOERROR answers" 4 "$(answers_with 0)"
check_eq "NXDOMAIN answers" 1 "$(answers_with 3)"
check_eq "DNS failures" 1 "$(jq '[.[].dns_failures] | add' <<<"$dns")"
check_eq "unanswered queries" 2 \
	"$(flow_sum "$SV_TMP/c.json" dns_unanswered '.dst_addr == "198.18.17.3"')"
check_eq "no unanswered query to the server that answers" 0 \
	"$(flow_sum "$SV_TMP/c.json" dns_unanswered '.dst_addr == "198.18.17.2"')"

# --- The post: the records stored, filtered and sorted by how long they took --------------
TOKEN=latency-token-1234
for try in 1 2 3; do # a port another test holds: the next one
	PORT=$((20000 + ($$ * 7 + try * 311) % 20000))
	URL=http://127.0.0.1:$PORT
	bg "$SV_ROOT/build/sitevisor-post" --db "$SV_TMP/post.db" --listen "127.0.0.1:$PORT" \
		--token "$TOKEN" 2>"$SV_TMP/post.err"
	wait_for 10 grep -q 'listening on' "$SV_TMP/post.err" && break
	forget_pid "$BG_PID"
done
grep -q 'listening on' "$SV_TMP/post.err" || { fail "post did not start"; cat "$SV_TMP/post.err"; }
box=$(jq -r 'select(.type == "flow") | .box' "$SV_TMP/c.json" | head -1)
{ echo "{\"type\":\"batch\",\"batch_id\":\"lat-1\",\"box\":\"$box\"}"; cat "$SV_TMP/c.json"; } \
	>"$SV_TMP/b.ndjson"
n=$(grep -c '"type":"flow"' "$SV_TMP/c.json")
check_eq "ingest" "{\"accepted\":$n,\"skipped\":0,\"duplicate\":false}" \
	"$(curl -s -H "Authorization: Bearer $TOKEN" --data-binary @"$SV_TMP/b.ndjson" \
		"$URL/api/v1/ingest")"
api() { curl -s "$URL/api/v1/flows?since=0&limit=10000&$1"; }
jqf() { jq -s "[.[] | select(.type == \"flow\")] | $1" "$SV_TMP/c.json"; }
check_eq "sort=-rtt_max_ns: the slowest first" "$(jqf 'map(.rtt_max_ns // 0) | max')" \
	"$(api 'sort=-rtt_max_ns&limit=1' | jq '.flows[0].rtt_max_ns')"
check_eq "sort=-rtt_mean_ns: means in order" true \
	"$(api 'sort=-rtt_mean_ns&min_rtt_ns=1' | jq '[.flows[] | .rtt_sum_ns / .rtt_samples] |
		. == (sort | reverse)')"
check_eq "min_rtt_ns: the records with a round trip that long" \
	"$(jqf "map(select(.rtt_max_ns >= $a_mean2)) | length")" \
	"$(api "min_rtt_ns=$a_mean2" | jq '.flows | length')"
check_eq "min_retransmits=1: every retransmission" "$(jqf 'map(.retransmits // 0) | add')" \
	"$(api 'min_retransmits=1&sort=-retransmits' | jq '[.flows[].retransmits] | add')"
check_eq "dns_rcode=3: the NXDOMAIN" 1 "$(api 'dns_rcode=3' | jq '[.flows[].dns_answers] | add')"
check_eq "sort=-dns_latency_ns with min_dns_latency_ns=1: the timed answers" \
	"$(jqf 'map(.dns_answers // 0) | add')" \
	"$(api 'sort=-dns_latency_ns&min_dns_latency_ns=1' | jq '[.flows[].dns_answers] | add')"
check_eq "sort=-dns_unanswered: the silent server first" '"198.18.17.3"' \
	"$(api 'sort=-dns_unanswered&limit=1' | jq '.flows[0].dst_addr')"
check_eq "a latency filter elsewhere is refused" 400 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/top?min_rtt_ns=1")"
finish
