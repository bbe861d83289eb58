#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# IPFIX export: known traffic between two namespaces, exported to nfcapd over UDP and to a
# TCP listener, read back with nfdump and tshark. Per flow, the collector must hold exactly
# what was sent and exactly what the agent's own --json says; every message must decode
# cleanly, fit the MTU, and carry the designed templates, sequence numbers and VNI.
. "$(dirname "$0")/lib.sh"
need_root ipfix-export
for t in nfcapd nfdump tshark jq; do
	if ! command -v $t >/dev/null; then
		skip "ipfix export: $t is not installed (make deps)"
		exit 0
	fi
done
export TZ=UTC # nfdump prints local times

# --- user errors: one line, exit status 2 ---
usage_err() {
	local name=$1 pat=$2 out rc
	shift 2
	out=$(timeout 10 "$AGENT" "$@" 2>&1 >/dev/null)
	rc=$?
	check_eq "$name: exit status" 2 "$rc"
	check_eq "$name: one line" 1 "$(printf '%s\n' "$out" | grep -c .)"
	if printf '%s' "$out" | grep -q -- "$pat"; then pass "$name: says why"; else fail "$name: said '$out'"; fi
}
usage_err "no port" "invalid --ipfix 'nohost': expected HOST:PORT" --ipfix nohost
usage_err "bad port" "the port must be a number from 1 to 65535" --ipfix 127.0.0.1:70000
usage_err "bad tcp port" "the port must be a number from 1 to 65535" --ipfix tcp://127.0.0.1:x
usage_err "ipv6 without brackets" "expected HOST:PORT, \[IPv6\]:PORT" --ipfix 2001:db8::1:4739
usage_err "small mtu" "invalid --ipfix-mtu '100'" --ipfix 127.0.0.1:4739 --ipfix-mtu 100
usage_err "bad domain" "invalid --ipfix-domain 'x'" --ipfix 127.0.0.1:4739 --ipfix-domain x
usage_err "domain without --ipfix" "need --ipfix" --ipfix-domain 3

C=$(ns_add c) && S=$(ns_add s) || exit 1
veth "$C" vc "$S" vs
ip -n "$C" addr add 198.18.1.1/24 dev vc
ip -n "$S" addr add 198.18.1.2/24 dev vs
ip -n "$C" addr add 2001:db8:1::1/64 dev vc nodad
ip -n "$S" addr add 2001:db8:1::2/64 dev vs nodad
ip -n "$C" link add vx type vxlan id 42 local 198.18.1.1 remote 198.18.1.2 dstport 4789 dev vc
ip -n "$S" link add vx type vxlan id 42 local 198.18.1.2 remote 198.18.1.1 dstport 4789 dev vs
ip -n "$C" addr add 198.19.1.1/24 dev vx
ip -n "$S" addr add 198.19.1.2/24 dev vx
ip -n "$C" link set vx up
ip -n "$S" link set vx up
for a in 198.18.1.2 198.19.1.2 2001:db8:1::2; do
	wait_for 5 ip netns exec "$C" ping -c 1 -W 1 "$a" || fail "ping $a before tracing"
done
# The exporter alone: framing at several MTUs, and a TCP collector that stops reading.
if [ -x "$TOOLS/ipfix_test" ]; then
	ip netns exec "$C" "$TOOLS/ipfix_test" 2>"$SV_TMP/ipfix_test.err" || fail "ipfix_test exit status"
else
	skip "ipfix_test: not built (make build/tests/ipfix_test, or make check)"
fi

ifindex() { ip -n "$C" -j link show "$1" | jq '.[0].ifindex'; }
VC=$(ifindex vc) VX=$(ifindex vx)
IDX="{\"vc\":$VC,\"vx\":$VX}"

# capture NAME FILTER: tshark on the agent namespace's loopback, where the collectors are;
# sets CAP_PID.
capture() {
	bg ip netns exec "$C" tshark -i lo -f "$2" -w "$SV_TMP/$1.pcap" 2>"$SV_TMP/$1.tshark"
	CAP_PID=$BG_PID
	wait_for 10 grep -q 'Capturing on' "$SV_TMP/$1.tshark" || fail "tshark $1 did not start"
}

# messages PCAP DECODE: one JSON object per IPFIX message: length, sequence, domain, data
# records, templates (id and field count), the transport's length and stream.
messages() {
	tshark -r "$1" -d "$2,cflow" -T json --no-duplicate-keys 2>/dev/null | jq -c '
		.[] | ._source.layers as $l | select($l.cflow) |
		($l.cflow | if type == "array" then .[] else . end) |
		{ len: (."cflow.len" | tonumber), seq: (."cflow.sequence" | tonumber),
		  od: (."cflow.od_id" | tonumber), udp: ($l.udp."udp.length" // null),
		  stream: ($l.tcp."tcp.stream" // null),
		  recs: ([.. | objects | select(has("cflow.octets"))] | length),
		  tmpl: [.. | objects | select(has("cflow.template_id")) |
			 [(."cflow.template_id" | tonumber), (."cflow.template_field_count" | tonumber)]] }'
}

# records PCAP DECODE: one JSON object per data record, with its set (template) id.
records() {
	tshark -r "$1" -d "$2,cflow" -T json --no-duplicate-keys 2>/dev/null | jq -c '
		.[] | ._source.layers.cflow // empty | if type == "array" then .[] else . end |
		to_entries[] | select(.key | startswith("Set ")) | .value |
		select(has("cflow.flowset_id")) | (."cflow.flowset_id" | tonumber) as $set |
		to_entries[] | select(.key | startswith("Flow ")) | .value | .set = $set'
}

# pens PCAP DECODE: the enterprise numbers of the templates' fields, and how many fields
# carry one per template (of the templates on the wire).
pens() {
	tshark -r "$1" -d "$2,cflow" -T json 2>/dev/null | jq -c '[.. | objects |
		select(has("cflow.template_id"))] as $t | [$t[] | [.. | objects |
		select(has("cflow.template_ipfix_field_pen")) | ."cflow.template_ipfix_field_pen"] |
		flatten] | [(map(.[]) | unique), (map(length) | unique), ($t | length > 0)]'
}

# clean PCAP DECODE: frames tshark calls malformed, and IPFIX frames it has expert notes on
# (TCP's own notes on SYN, FIN and a refused connect are not the exporter's).
clean() {
	tshark -r "$1" -d "$2,cflow" -Y '_ws.malformed || (cflow && _ws.expert)' 2>/dev/null | wc -l
}

# ======================= UDP to nfcapd =======================
PORT=4739
mkdir -p "$SV_TMP/nf"
# nfcapd 1.7 names its directory with -w, 1.6 with -l.
dir_opt=-w
nfcapd -h 2>&1 | grep -q -- '^-w' || dir_opt=-l
bg ip netns exec "$C" nfcapd $dir_opt "$SV_TMP/nf" -p $PORT -b 127.0.0.1 >"$SV_TMP/nfcapd.log" 2>&1
nfcapd_pid=$BG_PID
wait_for 10 sh -c "ip netns exec $C ss -Huln 'sport = :$PORT' | grep -q ." || fail "nfcapd did not start"
capture udp "udp port $PORT"
udp_cap=$CAP_PID

agent_start "$C" u --ipfix 127.0.0.1:$PORT --ipfix-domain 7 --ipfix-template-interval 1 \
	--ipfix-pen 4242 || exit 1
ip netns exec "$C" "$TOOLS/udpsend" -n 100 -s 200 -p 20001 198.18.1.2 9001 >/dev/null
ip netns exec "$C" "$TOOLS/udpsend" -n 100 -s 200 -p 20002 2001:db8:1::2 9001 >/dev/null
ip netns exec "$C" ping -c 5 -i 0.2 -s 56 198.18.1.2 >/dev/null
ip netns exec "$C" "$TOOLS/udpsend" -n 50 -s 100 -p 20004 198.19.1.2 9003 >/dev/null
# 300 flows in a scan or two: they need several messages. (Source ports here stay below the
# ephemeral range, where the exporter's own socket is.)
ip netns exec "$C" bash -c "for p in \$(seq 21000 21299); do $TOOLS/udpsend -n 1 -s 50 -p \$p 198.18.1.2 9005; done" >/dev/null
# ARP, a non-IP frame: forget the neighbour, then one ping.
ip -n "$C" neigh flush dev vc
ip netns exec "$C" ping -c 1 -W 1 198.18.1.2 >/dev/null
sleep 1.2
stop_pid "$AGENT_PID"
check_eq "udp: agent exits 0" 0 $?
sleep 0.5
stop_pid $udp_cap
stop_pid $nfcapd_pid # writes its file
uj=$SV_TMP/u.json

nfdump -R "$SV_TMP/nf" -o json >"$SV_TMP/nf.json" 2>"$SV_TMP/nfdump.err" || fail "nfdump cannot read the files"
nf=$SV_TMP/nf.json
nfsum() { jq "[.[] | select($2) | .$1] | add // 0" "$nf"; }
nexpect() {
	check_eq "nfcapd: $1 packets" "$3" "$(nfsum in_packets "$2")"
	check_eq "nfcapd: $1 bytes" "$4" "$(nfsum in_bytes "$2")"
}
out_vc=".input_snmp == 0 and .output_snmp == $VC and .direction == 1"
in_vc=".input_snmp == $VC and .output_snmp == 0 and .direction == 0"
nexpect "udp4 egress" ".src4_addr == \"198.18.1.1\" and .dst4_addr == \"198.18.1.2\" and .src_port == 20001 and .dst_port == 9001 and .proto == 17 and $out_vc" 100 24200
nexpect "udp6 egress" ".src6_addr == \"2001:db8:1::1\" and .dst6_addr == \"2001:db8:1::2\" and .src_port == 20002 and .dst_port == 9001 and .proto == 17 and $out_vc" 100 26200
nexpect "ping requests egress" ".src4_addr == \"198.18.1.1\" and .proto == 1 and .icmp_type == 8 and $out_vc" 6 588
nexpect "ping replies ingress" ".src4_addr == \"198.18.1.2\" and .proto == 1 and .icmp_type == 0 and $in_vc" 6 588
vx='.src4_addr == "198.19.1.1" and .dst4_addr == "198.19.1.2" and .src_port == 20004 and .dst_port == 9003'
nexpect "vxlan on the overlay" "$vx and .output_snmp == $VX" 50 7100
nexpect "vxlan on the underlay" "$vx and $out_vc" 50 9600
check_eq "nfcapd: 300 flows of one datagram" 300 \
	"$(jq '[.[] | select(.dst_port == 9005 and .src_port >= 21000 and .src_port < 21300 and .in_packets == 1 and '"$out_vc"') | .src_port] | unique | length' "$nf")"
check "nfcapd: no sequence errors or bad packets" grep -q 'Sequence Errors: 0, Bad Packets: 0' "$SV_TMP/nfcapd.log"

# The collector holds exactly the agent's records, field by field (non-IP ones too).
agent_recs=$(sed -E 's/"(first_ns|last_ns)":([0-9]+)/"\1":"\2"/g' "$uj" | jq -c --argjson idx "$IDX" '
	select(.type == "flow") |
	[.src_addr, .dst_addr, .src_port,
	 (if .icmp_type != null then .icmp_type * 256 + .icmp_code else .dst_port end),
	 .protocol, (if .direction == "ingress" then $idx[.iface] else 0 end),
	 (if .direction == "egress" then $idx[.iface] else 0 end),
	 (if .direction == "egress" then 1 else 0 end), .packets, .bytes, .src_mac, .dst_mac,
	 .first_ns[:-6], .last_ns[:-6]]' | sort)
nf_recs=$(jq -c '
	def ms: capture("^(?<s>[^.]+)\\.(?<ms>[0-9]+)$") | (.s + "Z" | fromdateiso8601) * 1000 + (.ms | tonumber) | tostring;
	.[] | [(.src4_addr // .src6_addr), (.dst4_addr // .dst6_addr), (.src_port // 0),
	       (if .icmp_type != null then .icmp_type * 256 + .icmp_code else .dst_port end), .proto,
	       .input_snmp, .output_snmp, .direction, .in_packets, .in_bytes, .in_src_mac,
	       .in_dst_mac, (.first | ms), (.last | ms)]' "$nf" | sort)
if [ "$agent_recs" == "$nf_recs" ]; then
	pass "nfcapd holds every record of the agent's --json, field by field ($(grep -c . <<<"$nf_recs"))"
else
	fail "nfcapd and the agent's --json differ:"
	diff <(printf '%s\n' "$agent_recs") <(printf '%s\n' "$nf_recs") | head -10
fi
n_json=$(grep -c '"type":"flow"' "$uj")

# The wire, as tshark decodes it.
um=$SV_TMP/udp.msgs ur=$SV_TMP/udp.recs
messages "$SV_TMP/udp.pcap" udp.port==$PORT >"$um"
records "$SV_TMP/udp.pcap" udp.port==$PORT >"$ur"
check_eq "summary: every record exported, in the messages on the wire" \
	"ipfix: $n_json records exported in $(grep -c . "$um") messages, 0 records dropped, 0 send errors" \
	"$(grep -o 'ipfix: [0-9]* records exported.*' "$SV_TMP/u.err")"
TMPLS='[[256,32],[257,32],[258,25],[259,33],[260,33],[261,26]]' # with drops, drop_bytes (issue 16)
check_eq "tshark: no malformed message, no expert note" 0 "$(clean "$SV_TMP/udp.pcap" udp.port==$PORT)"
check_eq "tshark: the first message is the templates alone" "{\"seq\":0,\"recs\":0,\"tmpl\":$TMPLS}" \
	"$(head -1 "$um" | jq -c '{seq, recs, tmpl}')"
check_eq "tshark: every template set has the designed ids and field counts" '[]' \
	"$(jq -sc "[.[] | select(.tmpl != [] and .tmpl != $TMPLS)]" "$um")"
check "tshark: templates refreshed (--ipfix-template-interval 1)" \
	test "$(jq -s '[.[] | select(.tmpl != [])] | length' "$um")" -ge 3
check_eq "tshark: every record exported is on the wire" "$n_json" "$(grep -c . "$ur")"
check_eq "tshark: observation domain 7 in every message" '[7]' "$(jq -sc 'map(.od) | unique' "$um")"
check_eq "tshark: the enterprise elements under --ipfix-pen 4242, 10 in every template" \
	'[["4242"],[10],true]' "$(pens "$SV_TMP/udp.pcap" udp.port==$PORT)"
check_eq "tshark: one message per datagram" 0 "$(jq -s '[.[] | select((.udp | tonumber) != .len + 8)] | length' "$um")"
check_eq "tshark: sequence numbers count the data records" 0 "$(jq -s '
	[range(1; length) as $i | select(.[$i].seq != (.[$i - 1].seq + .[$i - 1].recs) % 4294967296)] | length' "$um")"
max=$(jq -s 'map(.len) | max' "$um")
check "tshark: no message passes --ipfix-mtu 1400 (largest $max)" test "$max" -le 1400
check "tshark: messages are filled (largest $max > 1400 - a record)" test "$max" -gt $((1400 - 182))
check "tshark: 300 flows needed several messages" \
	test "$(jq -s '[.[] | select(.recs > 0)] | length' "$um")" -ge 18
# The VXLAN flow on the underlay: inner addresses, the VNI as RFC 7133 layer2SegmentId.
check_eq "tshark: VNI 42 as layer2SegmentId (segment type 1, VXLAN)" \
	'[[259,"198.19.1.1","198.19.1.2","20004","9003","50","9600","72057594037927978"]]' \
	"$(jq -sc '[.[] | select(."cflow.srcport" == "20004" and ."cflow.layer2_segment_id" != null) |
		[.set, ."cflow.srcaddr", ."cflow.dstaddr", ."cflow.srcport", ."cflow.dstport",
		 ."cflow.packets", ."cflow.octets", ."cflow.layer2_segment_id"]]' "$ur")"
check_eq "tshark: tunnelled records use the VXLAN templates" \
	"$(jq -s '[.[] | select(.type == "flow" and .vni != null)] | length' "$uj")" \
	"$(jq -s '[.[] | select(.set >= 259)] | length' "$ur")"
check_eq "tshark: ARP in the non-IP template, by MAC and ethertype" \
	"$(jq -sc '[.[] | select(.type == "flow" and .ip_version == 0 and .vni == null) | [.src_mac, .dst_mac]] | sort' "$uj")" \
	"$(jq -sc '[.[] | select(.set == 258 and ."cflow.ethernet_type" == "2054") | [."cflow.srcmac", ."cflow.dstmac"]] | sort' "$ur")"
check_eq "tshark: echo requests by icmpTypeCodeIPv4 (type 8 code 0), ports 0" '[6,["0"]]' \
	"$(jq -sc '[.[] | select(.set == 256 and ."cflow.icmp_type_code_ipv4" == "0x0800" and ."cflow.dstaddr" == "198.18.1.2")] |
		[(map(."cflow.packets" | tonumber) | add), (map(."cflow.srcport", ."cflow.dstport") | unique)]' "$ur")"

# ======================= TCP =======================
# nfcapd (1.7) takes UDP only; a plain TCP listener (tests/tools/tcpxfer) takes the stream
# and tshark decodes it. The collector is not there at start, goes away and comes back.
TPORT=4740
T="tcp://[::1]:$TPORT"
capture tcp "tcp port $TPORT"
tcp_cap=$CAP_PID
agent_start "$C" t -i vc --ipfix "$T" --ipfix-mtu 600 || exit 1
tj=$SV_TMP/t.json te=$SV_TMP/t.err
check "tcp: says the collector is not there (and goes on)" \
	grep -qF "ipfix: cannot connect to $T: Connection refused; retrying" "$te"
bg ip netns exec "$C" "$TOOLS/tcpxfer" -l $TPORT >"$SV_TMP/l1.out"
l1=$BG_PID
check "tcp: connects once the collector listens" wait_for 10 grep -qF "ipfix: connected to $T" "$te"
# sent DATAGRAMS SRC_PORT: a UDP flow, and waits until its record was written (and exported).
sent() {
	ip netns exec "$C" "$TOOLS/udpsend" -n "$1" -s 100 -p "$2" 198.18.1.2 9006 >/dev/null
	wait_for 5 grep -q "\"src_port\":$2," "$tj" || fail "no record for port $2"
}
sent 50 22001
stop_pid $l1
check "tcp: says the collector went away" \
	wait_for 5 grep -qF "ipfix: lost $T: the collector closed the connection" "$te"
sent 30 22002 # no collector: dropped and counted
bg ip netns exec "$C" "$TOOLS/tcpxfer" -l $TPORT >"$SV_TMP/l2.out"
l2=$BG_PID
check "tcp: reconnects with backoff" wait_for 10 grep -qF "ipfix: connected to $T again" "$te"
# 40 more flows: with --ipfix-mtu 600 they need several messages.
ip netns exec "$C" bash -c "for p in \$(seq 22100 22139); do $TOOLS/udpsend -n 1 -s 50 -p \$p 198.18.1.2 9006; done" >/dev/null
sent 20 22003
stop_pid "$AGENT_PID"
check_eq "tcp: agent exits 0" 0 $?
wait_for 5 test -s "$SV_TMP/l2.out"
stop_pid $l2
sleep 0.5
stop_pid $tcp_cap

tm=$SV_TMP/tcp.msgs tr=$SV_TMP/tcp.recs
messages "$SV_TMP/tcp.pcap" tcp.port==$TPORT >"$tm"
records "$SV_TMP/tcp.pcap" tcp.port==$TPORT >"$tr"
check_eq "tcp: no malformed message, no expert note" 0 "$(clean "$SV_TMP/tcp.pcap" tcp.port==$TPORT)"
# At --ipfix-mtu 600 the templates do not fit one message together: one message each.
check_eq "tcp: two connections, each starting with the templates, once" '[[true,6],[true,6]]' \
	"$(jq -sc "group_by(.stream) | map([([.[0:6][].tmpl[]] == $TMPLS),
		(map(select(.tmpl != [])) | length)])" "$tm")"
tsum() { jq -s "[.[] | select(.\"cflow.srcport\" == \"$1\") | .\"cflow.packets\" | tonumber] | add // 0" "$tr"; }
check_eq "tcp: the enterprise elements under RFC 5612's 32473 by default" '[["32473"],[10],true]' \
	"$(pens "$SV_TMP/tcp.pcap" tcp.port==$TPORT)"
check_eq "tcp: packets of the flow before the collector went away" 50 "$(tsum 22001)"
check_eq "tcp: nothing of the flow while it was away" 0 "$(tsum 22002)"
check_eq "tcp: packets of the flow after it came back" 20 "$(tsum 22003)"
n_json=$(grep -c '"type":"flow"' "$tj")
n_wire=$(grep -c . "$tr")
check_eq "tcp: summary counts what went out and what was dropped" \
	"ipfix: $n_wire records exported in $(grep -c . "$tm") messages, $((n_json - n_wire)) records dropped" \
	"$(grep -o 'ipfix: [0-9]* records exported in [0-9]* messages, [0-9]* records dropped' "$te")"
# Records dropped before the first connection show in its first sequence number.
check_eq "tcp: the sequence gaps are the records dropped" $((n_json - n_wire)) "$(jq -s '
	.[0].seq + ([range(1; length) as $i | .[$i].seq - .[$i - 1].seq - .[$i - 1].recs] | add)' "$tm")"
max=$(jq -s 'map(.len) | max' "$tm")
check "tcp: no message passes --ipfix-mtu 600 (largest $max)" test "$max" -le 600
check "tcp: messages are filled (largest $max > 600 - a record)" test "$max" -gt $((600 - 182))
check_eq "tcp: 40 flows after the comeback on the wire" 40 \
	"$(jq -s '[.[] | select(."cflow.dstport" == "9006" and (."cflow.srcport" | tonumber) >= 22100)] | length' "$tr")"
check_eq "tcp: the collector read whole messages up to the agent's exit" \
	"$(jq -s 'group_by(.stream) | last | map(.len) | add' "$tm")" "$(cat "$SV_TMP/l2.out")"
finish
