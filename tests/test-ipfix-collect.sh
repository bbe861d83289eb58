#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The post as an IPFIX / NetFlow v9 collector (--ipfix-listen), over loopback:
# 1. softflowd reads reference traces and exports them (IPFIX, then NetFlow v9) to a post;
#    the API shows every flow of the traces with the packets and bytes tshark counts.
# 2. Crafted hostile messages: the post stays up, answers, and counts each by its reason.
#    Crafted valid ones check the IE mapping (MACs, VLAN, VNI, interfaces, times, ICMP).
# 3. The same datagram sent twice is stored once.
. "$(dirname "$0")/lib.sh"
POST=$SV_ROOT/build/sitevisor-post
UDPMSG=$TOOLS/udpmsg
PORT=$((61000 + $$ % 4000)) # above the ephemeral ports (32768-60999)
UPORT=$((PORT + 1))
URL=http://127.0.0.1:$PORT
BOX=ipfix:127.0.0.1

for t in softflowd tshark jq curl; do
	command -v "$t" >/dev/null || { skip "ipfix-collect: $t is not installed"; exit 0; }
done
[ -x "$UDPMSG" ] || { fail "build/tests/udpmsg missing (make check builds it)"; finish; }

# post_start NAME: a post on a temporary database collecting on UDPPORT; sets POST_PID.
# Retention of 100 years: the traces' flows are from 1999 to 2016 and must not be pruned.
post_start() {
	"$POST" --db "$SV_TMP/$1.db" --listen "127.0.0.1:$PORT" --ipfix-listen "127.0.0.1:$UPORT" \
		--retention 36500 --rollup-retention 36500 2>"$SV_TMP/$1.err" &
	POST_PID=$!
	SV_PIDS+=("$POST_PID")
	wait_for 10 grep -q 'listening on' "$SV_TMP/$1.err"
}
# The collector's summary line, written when the post stops.
summary() { sed -n 's/^sitevisor-post: ipfix: //p' "$SV_TMP/$1.err" | tail -1; }
flows() { curl -s "$URL/api/v1/flows?since=0&limit=10000&box=$BOX${1:+&$1}"; }
nflows() { flows "$@" | jq '.flows | length'; }

# --- 1. softflowd -> post, both versions ---

TRACE_LIST="http_get smtp communityid_ipv6 dns53"

# Per directional 5-tuple, "proto src sport dst dport packets bytes", from the traces with
# tshark. Bytes as softflowd meters them: the frame's length on the wire less its 14-byte
# Ethernet header (these traces have no VLAN tags). That is the IP packet plus any Ethernet
# padding: smtp.pcap has 14 pure ACKs of 40 IP bytes padded to 60-byte frames, which
# softflowd counts as 46 each, 84 bytes more than tshark's ip.len sum for that flow. ICMP has
# ports 0 (type and code travel in their own field); tshark would show the ports of the
# packet an ICMP error quotes.
expected() {
	local t
	for t in $TRACE_LIST; do
		tshark -r "$TRACES/$t.pcap" -T fields -E occurrence=f -e ip.proto -e ipv6.nxt \
			-e ip.src -e ipv6.src -e ip.dst -e ipv6.dst -e tcp.srcport -e udp.srcport \
			-e tcp.dstport -e udp.dstport -e frame.len 2>/dev/null
	done | awk -F'\t' '
		$1 == "" && $2 == "" { next }
		{
			v6 = $1 == ""; proto = v6 ? $2 : $1
			src = v6 ? $4 : $3; dst = v6 ? $6 : $5
			sport = $7 $8; dport = $9 $10
			if (proto == 1 || proto == 58 || sport == "") sport = 0
			if (proto == 1 || proto == 58 || dport == "") dport = 0
			k = proto " " src " " sport " " dst " " dport
			p[k]++; b[k] += $11 - 14
		}
		END { for (k in p) print k, p[k], b[k] }' | sort
}

# The same from the post's API, summed per 5-tuple.
posted() {
	flows | jq -r '.flows[] | "\(.protocol) \(.src_addr) \(.src_port) \(.dst_addr) \(.dst_port) \(.packets) \(.bytes)"' |
		awk '{ k = $1 " " $2 " " $3 " " $4 " " $5; p[k] += $6; b[k] += $7 }
		     END { for (k in p) print k, p[k], b[k] }' | sort
}

# What softflowd itself says it exported: its per-protocol octets and packets, summed.
softflowd_totals() {
	cat "$@" | awk '/^ +[a-z0-9-]+ \([0-9]+\): +[0-9]+ +[0-9]+/ { o += $(NF-3); p += $(NF-2) }
		END { print p + 0, o + 0 }'
}

# "1362692526.869344000" -> ns, truncated to the millisecond as the exporters send it.
epoch_ms_ns() { echo "${1%.*}${1#*.}" | cut -c1-13 | sed 's/$/000000/'; }

EXPECTED=$(expected)
NEXP=$(wc -l <<<"$EXPECTED")
HTTP_FIRST=$(epoch_ms_ns "$(tshark -r "$TRACES/http_get.pcap" -T fields -e frame.time_epoch 2>/dev/null | head -1)")
HTTP_LAST=$(epoch_ms_ns "$(tshark -r "$TRACES/http_get.pcap" -T fields -e frame.time_epoch 2>/dev/null | tail -1)")

for v in 10 9; do
	name=v$v
	post_start "$name" || { fail "$name: post starts"; cat "$SV_TMP/$name.err"; continue; }
	for t in $TRACE_LIST; do
		# -c none: with a control socket, softflowd 1.1.0 reading a file blocks in accept().
		# -a: times from the trace, not from now. It exports every flow at the end of the file.
		timeout 30 softflowd -d -a -r "$TRACES/$t.pcap" -n "127.0.0.1:$UPORT" -v "$v" -c none \
			-p "$SV_TMP/softflowd.pid" >"$SV_TMP/sf-$name-$t.txt" 2>&1 ||
			fail "$name: softflowd exports $t"
	done
	wait_for 10 test "$(posted | wc -l)" -ge "$NEXP"
	check_eq "$name: every flow of the traces, with the packets and bytes tshark counts" "$EXPECTED" "$(posted)"
	tot=$(flows | jq -r '[([.flows[].packets] | add), ([.flows[].bytes] | add)] | join(" ")')
	check_eq "$name: totals equal softflowd's own (packets bytes)" \
		"$(softflowd_totals "$SV_TMP"/sf-"$name"-*.txt)" "$tot"
	check_eq "$name: IPv6 flows (communityid_ipv6)" 2 "$(nflows ip_version=6)"
	times=$(flows addr=192.150.187.43 | jq -r '[([.flows[].first_ns] | min), ([.flows[].last_ns] | max)] | join(" ")')
	if [ "$v" = 10 ]; then
		# systemInitTimeMilliseconds (an options record) + flowStart/EndSysUpTime.
		check_eq "$name: flow times to the millisecond (http_get)" "$HTTP_FIRST $HTTP_LAST" "$times"
	else
		# sysUptime-relative, and the v9 header's export time has whole seconds.
		read -r f l <<<"$times"
		check "$name: flow times within the v9 header's second (http_get)" \
			test $(((f - HTTP_FIRST) / 1000000000)) -eq 0 -a $(((l - HTTP_LAST) / 1000000000)) -eq 0
	fi
	b=$(curl -s "$URL/api/v1/boxes" | jq -r '.boxes[] | "\(.name) \(.agent_version) \(.interfaces | join(","))"')
	check_eq "$name: the exporter is a box" "$BOX $([ "$v" = 10 ] && echo ipfix || echo netflow-v9) if0" "$b"
	stop_pid "$POST_PID"
	check_eq "$name: nothing dropped or malformed" "" \
		"$(summary "$name" | grep -oE '(truncated|bad_[a-z]+|no_template|dropped|nomem|store_error)=[0-9]+')"
done

# --- 2. and 3. crafted messages ---

u8() { printf '%02x' "$1"; }
# v9 UPTIME_MS UNIX_SECS SEQ SOURCE_ID SET...
v9() {
	local up=$1 t=$2 seq=$3 src=$4 body
	shift 4
	body=$(printf '%s' "$@")
	echo "0009$(u16 1)$(u32 "$up")$(u32 "$t")$(u32 "$seq")$(u32 "$src")$body"
}

T=$(($(date +%s) - 120))
START_MS=$(((T - 10) * 1000 + 123))
END_MS=$((T * 1000 + 456))
# IPv4 TCP with everything we map, an enterprise field and a variable-length one (skipped).
TMPL_V4=$(tmpl 256 8:4 12:4 7:2 11:2 4:1 6:2 1:8 2:8 152:8 153:8 10:4 14:4 61:1 56:6 80:6 58:2 \
	351:8 136:1 1:4:4660 82:65535)
REC_V4=c6120001c61200029c4001bb06001b$(u64 15000)$(u64 10)$(u64 $START_MS)$(u64 $END_MS)$(u32 3)$(u32 7)0102000000000a02000000000b006401000000000003e902deadbeef0465746833
# IPv6 ICMPv6 echo with total counts (no deltas), times in seconds, no direction nor interface.
TMPL_V6=$(tmpl 257 27:16 28:16 4:1 139:2 85:4 86:4 150:4 151:4)
REC_V6=20010db800000000000000000000000120010db80000000000000000000000023a8000$(u32 1040)$(u32 10)$(u32 $((T - 5)))$(u32 $T)
RICH=$(ipfix 7 100 "$T" "$(set_ 2 "$TMPL_V4$TMPL_V6")" "$(set_ 256 "$REC_V4")" "$(set_ 257 "$REC_V6")")

# NetFlow v9: times relative to sysUptime (an hour), ICMP type and code in the destination
# port, an options template and record (skipped), padding.
UP=3600000
TMPL_9=$(tmpl 260 8:4 12:4 4:1 7:2 11:2 1:4 2:4 22:4 21:4 10:2 61:1 58:2)
REC_9A=c6120003c6120004010000$(u16 2048)$(u32 840)$(u32 10)$(u32 $((UP - 60000)))$(u32 $((UP - 1000)))$(u16 2)000000
REC_9B=c6120004c612000311$(u16 5353)$(u16 53)$(u32 300)$(u32 3)$(u32 $((UP - 30000)))$(u32 $((UP - 29000)))$(u16 2)01$(u16 200)
OPT_9=$(u16 261)$(u16 4)$(u16 8)$(u16 1)$(u16 4)$(u16 34)$(u16 4)$(u16 36)$(u16 2)0000
V9=$(v9 $UP "$T" 1 9 "$(set_ 0 "$TMPL_9")" "$(set_ 1 "$OPT_9")" \
	"$(set_ 261 "$(u32 0)$(u32 1)$(u16 60)0000")" "$(set_ 260 "$REC_9A$REC_9B")")

HOSTILE=(
	""                                                  # zero-length datagram: truncated
	000a0010                                            # a header cut short: truncated
	000a00c8$(u32 "$T")$(u32 0)$(u32 0)                 # says 200 bytes, has 16: truncated
	0005001000000000000000000000000000000000           # version 5: bad_version
	000a0008$(u32 "$T")$(u32 0)$(u32 0)                 # length below its header: bad_length
	# a template, then a set whose length runs past the message: bad_set, nothing learnt
	"$(ipfix 1 0 "$T" "$(set_ 2 "$(tmpl 300 8:4 12:4)")" 00020100deadbeef)"
	"$(ipfix 1 0 "$T" "$(set_ 300 c6120001c6120002)")"   # data before its template
	"$(ipfix 1 0 "$T" "$(set_ 2 "$(u16 301)$(u16 65535)000800040012000400040001")")" # 65535 fields
	"$(ipfix 1 0 "$T" "$(set_ 2 "$(tmpl 302 8:4 12:0)")")"  # a zero-length field
	# a variable-length field that says 65535 bytes: the template is fine, its data is not
	"$(ipfix 1 0 "$T" "$(set_ 2 "$(tmpl 303 8:4 82:65535)")" "$(set_ 303 c6120001ffffff0000)")"
	"$(v9 1000 "$T" 1 1 "$(set_ 0 "$(u16 256)$(u16 1000)0008000400040001")")" # v9 fields past the set
)

post_start crafted || { fail "crafted: post starts"; finish; }
check_eq "hostile messages sent" "${#HOSTILE[@]}" "$("$UDPMSG" -g 20 127.0.0.1 "$UPORT" "${HOSTILE[@]}")"
sleep 0.5
check "the post is still up" kill -0 "$POST_PID"
check_eq "and answers the API" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/boxes")"
check_eq "no record came of them" 0 "$(nflows)"

# Valid messages, the rich one twice from the same port: a duplicated datagram.
check_eq "valid messages sent" 3 "$("$UDPMSG" -p $((UPORT + 1)) -g 20 127.0.0.1 "$UPORT" "$RICH" "$RICH" "$V9")"
wait_for 5 test "$(nflows)" -ge 4
check_eq "the same message twice is stored once" 1 "$(nflows src_addr=198.18.0.1)"
check_eq "IPFIX: every mapped IE" \
	"{\"iface\":\"if7\",\"direction\":\"egress\",\"eth_type\":2048,\"ip_version\":4,\"protocol\":6,\"src_addr\":\"198.18.0.1\",\"dst_addr\":\"198.18.0.2\",\"src_port\":40000,\"dst_port\":443,\"vlan\":100,\"vni\":1001,\"src_mac\":\"02:00:00:00:00:0a\",\"dst_mac\":\"02:00:00:00:00:0b\",\"packets\":10,\"bytes\":15000,\"tcp_flags\":27,\"first_ns\":${START_MS}000000,\"last_ns\":${END_MS}000000,\"end_reason\":\"active\"}" \
	"$(flows src_addr=198.18.0.1 | jq -c '.flows[0] | {iface, direction, eth_type, ip_version, protocol, src_addr, dst_addr, src_port, dst_port, vlan, vni, src_mac, dst_mac, packets, bytes, tcp_flags, first_ns, last_ns, end_reason}')"
check_eq "IPFIX: IPv6 ICMP, total counts, seconds, defaults (if0, ingress)" \
	"[\"if0\",\"ingress\",34525,58,\"2001:db8::1\",128,0,0,0,10,1040,${T}000000000,$((T - 5))000000000]" \
	"$(flows ip_version=6 | jq -c '.flows[0] | [.iface, .direction, .eth_type, .protocol, .src_addr, .icmp_type, .icmp_code, .src_port, .dst_port, .packets, .bytes, .last_ns, .first_ns]')"
check_eq "v9: sysUptime-relative times, ICMP from the port, interface" \
	"[\"if2\",\"ingress\",1,8,0,0,0,10,840,$((T - 60))000000000,$((T - 1))000000000]" \
	"$(flows src_addr=198.18.0.3 | jq -c '.flows[0] | [.iface, .direction, .protocol, .icmp_type, .icmp_code, .src_port, .dst_port, .packets, .bytes, .first_ns, .last_ns]')"
check_eq "v9: egress without an egress interface, VLAN" \
	"[\"if2\",\"egress\",17,5353,53,200,3,300]" \
	"$(flows src_addr=198.18.0.4 | jq -c '.flows[0] | [.iface, .direction, .protocol, .src_port, .dst_port, .vlan, .packets, .bytes]')"
check_eq "the box lists every interface seen" '["if0","if2","if7"]' \
	"$(curl -s "$URL/api/v1/boxes" | jq -c '.boxes[0].interfaces')"

# Withdrawing template 256 makes its next data set unreadable.
WITHDRAW=$(ipfix 7 102 "$T" "$(set_ 2 "$(u16 256)$(u16 0)")")
AFTER=$(ipfix 7 102 "$((T + 1))" "$(set_ 256 "$REC_V4")")
"$UDPMSG" -p $((UPORT + 1)) -g 20 127.0.0.1 "$UPORT" "$WITHDRAW" "$AFTER" >/dev/null
sleep 0.5
check_eq "a withdrawn template reads no more data" 1 "$(nflows src_addr=198.18.0.1)"

stop_pid "$POST_PID"
check_eq "counters say what was dropped, and why" \
	"messages ok=9 duplicate=1 truncated=3 bad_version=1 bad_length=1 bad_set=1; templates learnt=6 options=1 withdrawn=1 bad=3; data sets data=5 options=1 no_template=2 bad_data=1; records stored=4 duplicate=2 options=1; socket drops 0" \
	"$(summary crafted)"
finish
