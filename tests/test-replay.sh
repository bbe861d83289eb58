#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Replays every reference pcap over a veth traced at both ends and checks the agent's totals
# and its per-flow packets and bytes against what tshark finds in the file, frame by frame.
. "$(dirname "$0")/lib.sh"
set -u
need_root replay

for tool in tcpreplay tshark capinfos jq; do
	if ! command -v "$tool" >/dev/null; then
		skip "replay (no $tool)"
		finish
	fi
done
if ! compgen -G "$TRACES/*.pcap" >/dev/null; then
	skip "replay (no pcaps in $TRACES)"
	finish
fi

# tshark must see every frame on its own, as the agent does: no IP or TCP reassembly (a
# reassembled datagram would move its L4 header to the last fragment), and UDP 4789 decoded
# as VXLAN so the inner frame's fields exist.
TSHARK_OPTS=(-n -o ip.defragment:FALSE -o ipv6.defragment:FALSE
	-o tcp.desegment_tcp_streams:FALSE -o tcp.reassemble_out_of_order:FALSE
	-d udp.port==4789,vxlan)
TSHARK_FIELDS=(frame.number frame.len frame.protocols eth.src eth.dst eth.type
	vlan.id vlan.etype ip.proto ip.src ip.dst ip.frag_offset
	ipv6.src ipv6.dst ipv6.nxt ipv6.hopopts.nxt ipv6.routing.nxt ipv6.dstopts.nxt
	ipv6.fraghdr.nxt ipv6.fraghdr.offset ah.next_header
	tcp.srcport tcp.dstport udp.srcport udp.dstport icmp.type icmp.code
	icmpv6.type icmpv6.code vxlan.flags vxlan.vni)

# One printable flow key, the same for an agent record and for a frame keyed from tshark's
# fields, so that a mismatch names the flow. sp/dp are the port slots (ICMP type and code).
JQ_KEY='
def hex4: . as $v | "0x" + ([4096, 256, 16, 1] | map(($v / . | floor) % 16)
	| map("0123456789abcdef"[.:. + 1]) | join(""));
def key: "v\(.ip_version) proto \(.protocol) eth \(.eth_type | hex4) "
	+ "[\(.src_addr // "-")]:\(.sp) > [\(.dst_addr // "-")]:\(.dp) "
	+ "vlan \(.vlan // 0)/\(.inner_vlan // 0) "
	+ (if .vni == null then "" else "vni \(.vni) outer \(.outer_src_addr) > \(.outer_dst_addr) " end)
	+ "mac \(.src_mac) > \(.dst_mac)";
'

# tshark's JSON (-T json -e ...: every field an array of its occurrences in the frame) to one
# {key, len, frame} per frame, following the rules of src/bpf/parse.bpf.h: up to two outer
# VLAN tags keyed, the ethertype after them (0 below 0x0600), IPv6 extension headers followed
# to the last next header, no ports for non-first fragments, ICMP type/code as ports, and
# UDP to port 4789 with the I flag set keyed by the inner frame plus VNI and outer addresses
# (inner tags not keyed, MACs the inner ones).
# frame.protocols lists the layers in order ("eth:ethertype:vlan:ethertype:ip:udp:vxlan:eth:
# ..."); the n-th "ip" layer owns the n-th occurrence of every ip.* field, which is how a
# field is taken from the right layer (outer or inner IP, ICMP error payloads).
JQ_FRAMES=$JQ_KEY'
def num: if type != "string" then .
	elif startswith("0x") then ltrimstr("0x") | ascii_downcase | explode
		| reduce .[] as $c (0; . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end))
	else tonumber end;
def skipet($P): until($P[.] != "ethertype"; . + 1);
.[] | ._source.layers as $L
| ($L["frame.protocols"][0] | split(":")) as $P
# F(k; name): field name of the layer at position k of $P; N(k; name): the same as a number.
| def F($k; $name): ($L[$name] // [])[[$P[:$k][] | select(. == $P[$k])] | length];
  def N($k; $name): F($k; $name) | if . == null then . else num end;
  # Ethernet at position k: MACs, up to two tags, ethertype, position of the next layer.
  def eth($k): { src_mac: F($k; "eth.src"), dst_mac: F($k; "eth.dst"), vlans: [],
		et: (N($k; "eth.type") // 0), j: ($k + 1 | skipet($P)) }
	| until(($P[.j] != "vlan") or (.vlans | length) == 2;
		.vlans += [N(.j; "vlan.id")] | .et = (N(.j; "vlan.etype") // 0)
		| .j = (.j + 1 | skipet($P)))
	| if .et < 1536 then .et = 0 else . end;
  # IPv4 or IPv6 at position j (if the ethertype says so): version, protocol after any
  # extension headers, addresses, whether an L4 header follows, its position.
  def ip($j; $et):
	if $et == 2048 and $P[$j] == "ip" then
		{ v: 4, proto: N($j; "ip.proto"), src: F($j; "ip.src"), dst: F($j; "ip.dst"),
		  l4: (N($j; "ip.frag_offset") == 0), j: ($j + 1) }
	elif $et == 34525 and $P[$j] == "ipv6" then
		{ "ipv6.hopopts": "ipv6.hopopts.nxt", "ipv6.routing": "ipv6.routing.nxt",
		  "ipv6.dstopts": "ipv6.dstopts.nxt", "ipv6.fraghdr": "ipv6.fraghdr.nxt",
		  "ah": "ah.next_header" } as $ext
		| { v: 6, proto: N($j; "ipv6.nxt"), src: F($j; "ipv6.src"), dst: F($j; "ipv6.dst"),
		    l4: true, j: ($j + 1), n: 0 }
		| until($ext[$P[.j] // ""] == null or .n == 6;
			.proto = N(.j; $ext[$P[.j]])
			| if $P[.j] == "ipv6.fraghdr" and N(.j; "ipv6.fraghdr.offset") != 0
			  then .l4 = false else . end
			| .j += 1 | .n += 1)
		| .proto as $p | if [0, 43, 44, 51, 60] | any(. == $p) then .l4 = false else . end
	else { v: 0, proto: 0, src: null, dst: null, l4: false, j: $j } end;
  # Port slots at position j for protocol p; "?" if tshark did not decode that header.
  def l4($j; $p):
	({ "6": ["tcp", "tcp.srcport", "tcp.dstport"], "17": ["udp", "udp.srcport", "udp.dstport"],
	   "1": ["icmp", "icmp.type", "icmp.code"], "58": ["icmpv6", "icmpv6.type", "icmpv6.code"]
	 }[$p | tostring]) as $h
	| if $h == null then { sp: 0, dp: 0 }
	  elif $P[$j] != $h[0] then { sp: "?", dp: "?" }
	  else { sp: N($j; $h[1]), dp: N($j; $h[2]) } end;
  def layer($k):
	eth($k) as $e | ip($e.j; $e.et) as $i
	| (if $i.l4 then l4($i.j; $i.proto) else { sp: 0, dp: 0 } end) as $l
	| { e: $e, i: $i, l: $l, next: ($i.j + 1),
	    rec: { eth_type: $e.et, ip_version: $i.v, protocol: $i.proto, src_addr: $i.src,
		   dst_addr: $i.dst, sp: $l.sp, dp: $l.dp, src_mac: $e.src_mac,
		   dst_mac: $e.dst_mac } };
  layer(0) as $o
  | ($o.next) as $x
  | (if $o.i.proto == 17 and $o.i.l4 and $o.l.dp == 4789 and $P[$x] == "vxlan"
	and ((N($x; "vxlan.flags") / 2048 | floor) % 2) == 1 and $P[$x + 1] == "eth"
     then layer($x + 1).rec + { vni: N($x; "vxlan.vni"), outer_src_addr: $o.i.src,
				outer_dst_addr: $o.i.dst }
     else $o.rec end)
  | . + { vlan: $o.e.vlans[0], inner_vlan: $o.e.vlans[1] }
  | { key: key, len: N(0; "frame.len"), frame: N(0; "frame.number") }
'

# The agent's flow records of one direction to the same keys.
JQ_AGENT=$JQ_KEY'
.[] | select(.type == "flow" and .direction == $dir)
| . + { sp: (.icmp_type // .src_port), dp: (.icmp_code // .dst_port) }
| { key: key, packets: .packets, bytes: .bytes }
'

# Expected (per-frame) against got (per-record), summed per key: one line per key that
# differs, with the frames that make up the expected side.
JQ_COMPARE='
($exp | group_by(.key) | map({ key: .[0].key, packets: length, bytes: (map(.len) | add),
	frames: map(.frame) }) | INDEX(.key)) as $e
| (group_by(.key) | map({ key: .[0].key, packets: (map(.packets) | add),
	bytes: (map(.bytes) | add) }) | INDEX(.key)) as $g
| ([$e, $g] | map(keys) | add | unique)[] as $k
| ($e[$k] // { packets: 0, bytes: 0, frames: [] }) as $x | ($g[$k] // { packets: 0, bytes: 0 }) as $y
| select($x.packets != $y.packets or $x.bytes != $y.bytes)
| "  [\($k)] expected \($x.packets) pkts \($x.bytes) bytes (frames \($x.frames
	| if length > 12 then .[:12] + ["..."] elif length == 0 then ["none"] else . end
	| map(tostring) | join(","))),"
	+ " got \($y.packets) pkts \($y.bytes) bytes"
'

# link_stat NS IFACE rx|tx FIELD: a counter from ip -s link (FIELD: packets, bytes, dropped).
link_stat() {
	ip -n "$1" -j -s link show dev "$2" | jq ".[0].stats64.$3.$4"
}

# totals NAME DIR JSON ERR FRAMES BYTES [NOTE]: the records of one direction add up to the
# file, and the agent saw nothing else (its summary counts every frame on the interface, both
# ways). NOTE goes into the failure message.
totals() {
	local name=$1 dir=$2 p b sum
	p=$(flow_sum "$3" packets ".direction == \"$dir\"")
	b=$(flow_sum "$3" bytes ".direction == \"$dir\"")
	sum=$(agent_totals "$4")
	if [ "$p $b" == "$5 $6" ] && [ "$sum" == "$5 $6" ]; then
		pass "$name"
	else
		fail "$name: file has $5 frames $6 bytes; $dir records $p packets $b bytes;" \
			"agent summary (both directions) '${sum:-none}' ${7:-}"
	fi
}

# rx_done: the receiving veth has taken in every frame of the trace (uses rcv, rx0, frames).
rx_done() {
	[ $(($(link_stat "$rcv" rr rx packets) - rx0)) -eq "$frames" ]
}

# flows NAME DIR JSON EXPECTED: per-key packets and bytes equal tshark's grouping.
flows() {
	local diff
	diff=$(jq -rs --arg dir "$2" --slurpfile exp "$4" "[$JQ_AGENT] | $JQ_COMPARE" "$3" 2>&1)
	if [ -z "$diff" ]; then
		pass "$1"
	else
		fail "$1: per-flow counts differ"
		echo "$diff"
	fi
}

n=0
for pcap in "$TRACES"/*.pcap; do
	# Bounded: the directory holds 14 traces; a runaway glob must not run for ever.
	n=$((n + 1))
	[ "$n" -le 50 ] || break
	t=$(basename "$pcap")
	id=$n

	# What the file holds: frames and bytes as capinfos counts them, and each frame's key.
	read -r frames bytes <<<"$(capinfos -c -d -M -T -r "$pcap" 2>/dev/null | awk -F'\t' '{ print $2, $3 }')"
	if ! tshark -r "$pcap" "${TSHARK_OPTS[@]}" -T json "${TSHARK_FIELDS[@]/#/-e}" \
		>"$SV_TMP/$id.tshark.json" 2>"$SV_TMP/$id.tshark.err" ||
		! jq -c "$JQ_FRAMES" "$SV_TMP/$id.tshark.json" >"$SV_TMP/$id.exp" 2>>"$SV_TMP/$id.tshark.err"; then
		fail "replay $t: tshark keys: $(tail -3 "$SV_TMP/$id.tshark.err")"
		continue
	fi
	# tshark must have keyed every frame capinfos counts, or the per-flow check proves little.
	keyed=$(jq -rs 'length as $n | "\($n) \(map(.len) | add)"' "$SV_TMP/$id.exp")
	[ "$keyed" == "$frames $bytes" ] || fail "replay $t: tshark keyed $keyed, capinfos says $frames $bytes"

	# A fresh pair per trace: nothing carried over. MTU 9500 on both ends: tagged frames
	# exceed 1514 bytes. No IPv6 (no DAD, ND, MLD) and no addresses: the kernel sends
	# nothing of its own, and the receiver drops what it gets after tc (other hosts' MACs
	# and addresses, unknown VLANs, forwarding off) without answering. IPv6 is off in the
	# namespaces' defaults before the veth exists: no_ipv6 alone comes after the link is
	# up, and an MLD report can leave in between.
	snd=$(ns_add "s$id") && rcv=$(ns_add "r$id") || exit 1
	for ns in "$snd" "$rcv"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	done
	veth "$snd" rs "$rcv" rr 9500 || exit 1
	no_ipv6 "$snd" rs
	no_ipv6 "$rcv" rr
	agent_start "$snd" "$id.snd" -i rs || exit 1
	snd_pid=$AGENT_PID
	agent_start "$rcv" "$id.rcv" -i rr || exit 1
	rcv_pid=$AGENT_PID

	rx0=$(link_stat "$rcv" rr rx packets)
	drop0=$(link_stat "$rcv" rr rx dropped)
	# Top speed is fine: the largest trace is 136 frames, far below the receive backlog.
	out=$(ip netns exec "$snd" timeout 10 tcpreplay -t -i rs "$pcap" 2>&1)
	rc=$?
	sent=$(sed -n 's/.*Successful packets: *\([0-9]*\).*/\1/p' <<<"$out")
	if [ "$rc" -ne 0 ] || [ "${sent:-0}" != "$frames" ]; then
		skip "replay $t: tcpreplay sent ${sent:-0} of $frames frames (exit $rc): $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
		stop_pid "$snd_pid" 2>/dev/null
		stop_pid "$rcv_pid" 2>/dev/null
		ip netns del "$snd"
		ip netns del "$rcv"
		continue
	fi
	# The receiver counts a frame when the veth hands it to the backlog; tc ingress runs
	# right after, in softirq. Wait (bounded) until all arrived, then a little longer.
	wait_for 3 rx_done
	sleep 0.2
	stop_pid "$snd_pid" || fail "replay $t: sender agent exited $?: $(tail -2 "$SV_TMP/$id.snd.err")"
	stop_pid "$rcv_pid" || fail "replay $t: receiver agent exited $?: $(tail -2 "$SV_TMP/$id.rcv.err")"

	# What the receiving veth itself counted, to tell a kernel drop before tc from a miss
	# of the agent. Its rx_dropped also counts frames the stack discards after tc (tagged
	# frames for VLANs without a device: q-in-q.pcap), which the agent has seen.
	rx=$(($(link_stat "$rcv" rr rx packets) - rx0))
	note="(receiving veth took in $rx frames, rx_dropped +$(($(link_stat "$rcv" rr rx dropped) - drop0));"
	note+=" sending veth tx_dropped $(link_stat "$snd" rs tx dropped))"
	totals "replay $t egress totals" egress "$SV_TMP/$id.snd.json" "$SV_TMP/$id.snd.err" "$frames" "$bytes"
	totals "replay $t ingress totals" ingress "$SV_TMP/$id.rcv.json" "$SV_TMP/$id.rcv.err" \
		"$frames" "$bytes" "$note"
	flows "replay $t egress flows" egress "$SV_TMP/$id.snd.json" "$SV_TMP/$id.exp"
	flows "replay $t ingress flows" ingress "$SV_TMP/$id.rcv.json" "$SV_TMP/$id.exp"

	# Done with this pair: free the namespaces now rather than at exit.
	ip netns del "$snd"
	ip netns del "$rcv"
done
finish
