#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The virtual TAP: two VMs (namespaces) on a bridge in a host namespace, a monitor namespace
# on a veth to the host (and, for VXLAN, a routed underlay veth). The monitor must receive
# exactly the matched frames, byte for byte (or cut to the snaplen), and nothing else; rules
# come and go while traffic flows without losing any of it; bad rules are refused.
. "$(dirname "$0")/lib.sh"
need_root tap

. "$SV_ROOT/tests/tap_topo.sh"
tap_topology || { fail "topology"; finish; }
veth "$M" mu "$H" hu # the routed underlay towards the remote monitor
ip -n "$H" addr add 198.19.0.1/30 dev hu
ip -n "$M" addr add 198.19.0.2/30 dev mu

PCAP="python3 $SV_ROOT/tests/tap_pcap.py"
CTL=$SV_TMP/ctl.sock
tap() { ip netns exec "$H" "$AGENT" tap --control "$CTL" "$@"; }
# counter ID NAME: a counter of a rule from "tap list".
counter() { tap list | awk -v id="$1" -v k="$2=" '$1 == id {
	for (i = 2; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1) }'; }

# cap NS IFACE FILE [FILTER...]: tcpdump into FILE until cap_stop; sets CAP_PID.
cap() {
	local ns=$1 dev=$2 file=$3
	shift 3
	bg ip netns exec "$ns" tcpdump -i "$dev" --immediate-mode -U -n -s 2048 -B 8192 -w "$file" "$@" 2>"$file.err"
	CAP_PID=$BG_PID
	wait_for 5 grep -q listening "$file.err" || fail "tcpdump on $dev did not start"
}
cap_stop() {
	sleep 0.3 # copies still in a backlog reach the capture first
	stop_pid "$1" >/dev/null 2>&1
}
frames() { $PCAP frames "$@" 2>/dev/null; }

# Rule 1 comes at start, the others over the control socket.
agent_start "$H" ag -i br0 --control "$CTL" \
	--tap "--from h1 --direction in --to hm udp and dst port 9001" || exit 1
check_eq "--tap rule listed" 1 "$(tap list | grep -c '^1 from=h1 direction=in to=hm ')"

# --- 1: only the matched frames, byte for byte ----------------------------------------------
cap "$M" m0 "$SV_TMP/m1.pcap"
mon=$CAP_PID
cap "$A" v1 "$SV_TMP/s1.pcap" udp and dst port 9001 and src host 198.18.0.1
src=$CAP_PID
ip netns exec "$A" ping -c 3 -i 0.2 198.18.0.2 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 100 -s 200 -p 40001 198.18.0.2 9001 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 50 -s 200 -p 40001 198.18.0.2 9002 >/dev/null
ip netns exec "$B" "$TOOLS/udpsend" -n 20 -s 200 -p 40001 198.18.0.1 9001 >/dev/null
cap_stop "$mon"
cap_stop "$src"
check_eq "match: monitor frames" 100 "$(frames "$SV_TMP/m1.pcap" | wc -l)"
check "match: monitor frames equal the originals byte for byte" \
	cmp <(frames "$SV_TMP/m1.pcap") <(frames "$SV_TMP/s1.pcap")
check_eq "match: matched" 100 "$(counter 1 matched)"
check_eq "match: mirrored" 100 "$(counter 1 mirrored)"
check_eq "match: failed" 0 "$(counter 1 failed)"
check "del rule 1" tap del 1
check_eq "rule 1 gone" "" "$(tap list)"

# --- 1b: any libpcap expression, run by the rule's own translated filter ---------------------
ea=$(tap add --from h1 --direction in --to hm "udp and (dst port 9012 or dst port 9013)")
eb=$(tap add --from h1 --direction in --to hm not udp and not arp)
check "expressions with or and not: rules added" test -n "$ea" -a -n "$eb"
cap "$M" m0 "$SV_TMP/m1b.pcap"
mon=$CAP_PID
cap "$A" v1 "$SV_TMP/s1b.pcap" "(udp and (dst port 9012 or dst port 9013) or icmp) and src host 198.18.0.1"
src=$CAP_PID
ip netns exec "$A" ping -c 5 -i 0.2 198.18.0.2 >/dev/null
for p in 9012 9013 9014; do
	ip netns exec "$A" "$TOOLS/udpsend" -n 10 -s 200 -p 40001 198.18.0.2 $p >/dev/null
done
cap_stop "$mon"
cap_stop "$src"
check_eq "expressions: monitor frames" 25 "$(frames "$SV_TMP/m1b.pcap" | wc -l)"
check "expressions: the matching frames byte for byte" \
	cmp <(frames "$SV_TMP/m1b.pcap") <(frames "$SV_TMP/s1b.pcap")
check_eq "expressions: matched per rule" "20 5" "$(counter "$ea" matched) $(counter "$eb" matched)"
tap del "$ea" >/dev/null
tap del "$eb" >/dev/null
check_eq "expressions: their programs go with the rules" 0 \
	"$(bpftool prog show 2>/dev/null | grep -c svtap_expr)"

# --- 2: direction out, match by options --------------------------------------------------------
id=$(tap add --from h1 --direction out --to hm --src 198.18.0.2/32 --proto icmp)
check_eq "out rule added (ids go on)" 4 "$id"
cap "$M" m0 "$SV_TMP/m2.pcap"
mon=$CAP_PID
cap "$A" v1 "$SV_TMP/s2.pcap" icmp
src=$CAP_PID
ip netns exec "$A" ping -c 5 -i 0.2 198.18.0.2 >/dev/null
cap_stop "$mon"
cap_stop "$src"
check_eq "out: monitor frames (replies only)" 5 "$(frames "$SV_TMP/m2.pcap" | wc -l)"
check "out: the replies byte for byte" cmp <(frames "$SV_TMP/m2.pcap") \
	<(frames "$SV_TMP/s2.pcap" | awk 'NR % 2 == 0')
tap del "$id" >/dev/null

# --- 2b: IPv6, matched by prefix ------------------------------------------------------------------
for x in "$A v1 1" "$B v2 2"; do
	set -- $x
	ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=0"
	ip -n "$1" addr add "2001:db8:1::$3/64" dev "$2" nodad
done
wait_for 5 ip netns exec "$A" ping -6 -c 1 -W 1 2001:db8:1::2 || fail "ping6 before the tap"
id=$(tap add --from h1 --direction in --to hm --src 2001:db8:1::/64 udp dst port 9030)
cap "$M" m0 "$SV_TMP/m2b.pcap"
mon=$CAP_PID
cap "$A" v1 "$SV_TMP/s2b.pcap" ip6 and udp dst port 9030 and src host 2001:db8:1::1
src=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 15 -s 100 2001:db8:1::2 9030 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 5 -s 100 198.18.0.2 9030 >/dev/null
cap_stop "$mon"
cap_stop "$src"
check_eq "ipv6: monitor frames" 15 "$(frames "$SV_TMP/m2b.pcap" | wc -l)"
check "ipv6: byte for byte" cmp <(frames "$SV_TMP/m2b.pcap") <(frames "$SV_TMP/s2b.pcap")
tap del "$id" >/dev/null

# --- 3: snaplen -------------------------------------------------------------------------------
id=$(tap add --from h1 --direction in --to hm --snaplen 100 --dport 9003)
cap "$M" m0 "$SV_TMP/m3.pcap"
mon=$CAP_PID
cap "$A" v1 "$SV_TMP/s3.pcap" udp and dst port 9003
src=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 30 -s 500 198.18.0.2 9003 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 10 -s 20 198.18.0.2 9003 >/dev/null
cap_stop "$mon"
cap_stop "$src"
check_eq "snaplen: monitor frames" 40 "$(frames "$SV_TMP/m3.pcap" | wc -l)"
check "snaplen: copies are the originals' first 100 bytes" cmp <(frames "$SV_TMP/m3.pcap") \
	<(frames "$SV_TMP/s3.pcap" | cut -c1-200)
check_eq "snaplen: frame lengths" "30 100 10 62" \
	"$($PCAP len "$SV_TMP/m3.pcap" | awk '{ print $1 }' | uniq -c | xargs)"
check_eq "snaplen: truncated" 30 "$(counter "$id" truncated)"
check_eq "snaplen: mirrored" 40 "$(counter "$id" mirrored)"
tap del "$id" >/dev/null
check_eq "snaplen: its veth pair is gone" "" "$(ip -n "$H" -br link | grep sv-tap)"

# --- 4: rate cap ------------------------------------------------------------------------------
# rate_check LABEL ID PORT: rule ID (--rate 100, udp dst port PORT) over 3000 quick datagrams.
rate_check() {
	local l=$1 id=$2 port=$3 mon t0 t1 m c r max
	cap "$M" m0 "$SV_TMP/m4.pcap"
	mon=$CAP_PID
	t0=$(date +%s%N)
	ip netns exec "$A" "$TOOLS/udpsend" -n 3000 -s 20 198.18.0.2 "$port" >/dev/null
	t1=$(date +%s%N)
	cap_stop "$mon"
	m=$(counter "$id" matched) c=$(counter "$id" mirrored) r=$(counter "$id" rate_limited)
	check_eq "$l: matched" 3000 "$m"
	check_eq "$l: mirrored + rate_limited = matched" 3000 "$((c + r))"
	check_eq "$l: the monitor got the mirrored" "$c" "$(frames "$SV_TMP/m4.pcap" | wc -l)"
	# One second of burst, then 100/s: at most 100 + 100 per second of sending (+1 rounding).
	max=$((100 + (t1 - t0) / 10000000 + 1))
	check "$l: mirrored $c <= $max, some limited ($r)" test "$c" -le "$max" -a "$r" -gt 0
}
id=$(tap add --from h1 --direction in --to hm --rate 100 udp dst port 9004)
rate_check rate "$id" 9004
tap del "$id" >/dev/null

# --- 5: VXLAN to a remote monitor -------------------------------------------------------------
id=$(tap add --from h1 --direction in --to vxlan://198.19.0.2 --vni 77 udp dst port 9005)
check_eq "vxlan: device made" "vxlan id 77 remote 198.19.0.2" \
	"$(ip -n "$H" -d link show "sv-tap-$id" | grep -o 'vxlan id 77 remote [0-9.]*')"
cap "$M" mu "$SV_TMP/m5.pcap" udp port 4789
mon=$CAP_PID
cap "$A" v1 "$SV_TMP/s5.pcap" udp and dst port 9005
src=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 50 -s 300 198.18.0.2 9005 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 10 -s 300 198.18.0.2 9006 >/dev/null
cap_stop "$mon"
cap_stop "$src"
check_eq "vxlan: tshark decodes 50 VXLAN frames with VNI 77" "50 77" \
	"$(tshark -r "$SV_TMP/m5.pcap" -Y vxlan -T fields -e vxlan.vni 2>/dev/null | uniq -c | xargs)"
check_eq "vxlan: inner frames carry udp 9005" 50 \
	"$(tshark -r "$SV_TMP/m5.pcap" -Y 'vxlan && udp.dstport == 9005' 2>/dev/null | wc -l)"
# Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 = 50 bytes before the original frame.
check "vxlan: inner frames equal the originals" cmp <(frames "$SV_TMP/m5.pcap" 50) \
	<(frames "$SV_TMP/s5.pcap")
tap del "$id" >/dev/null
check_eq "vxlan: device removed with the rule" "" "$(ip -n "$H" -br link | grep sv-tap)"

# --- 5b: VXLAN between the VMs, matched by VNI and inner port ------------------------------------
ip -n "$A" link add vx42 type vxlan id 42 local 198.18.0.1 remote 198.18.0.2 dstport 4789 dev v1
ip -n "$B" link add vx42 type vxlan id 42 local 198.18.0.2 remote 198.18.0.1 dstport 4789 dev v2
ip -n "$A" addr add 198.19.42.1/24 dev vx42
ip -n "$B" addr add 198.19.42.2/24 dev vx42
ip -n "$A" link set vx42 up
ip -n "$B" link set vx42 up
wait_for 5 ip netns exec "$A" ping -c 1 -W 1 198.19.42.2 || fail "ping over the overlay"
id=$(tap add --from h1 --direction in --to hm --match-vni 42 --dport 9020)
cap "$M" m0 "$SV_TMP/m5b.pcap"
mon=$CAP_PID
# The inner UDP destination port: 8 (UDP) + 8 (VXLAN) + 14 + 20 + 2 bytes into the outer UDP.
cap "$A" v1 "$SV_TMP/s5b.pcap" udp dst port 4789 and src host 198.18.0.1 and udp[52:2] = 9020
src=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 20 -s 100 198.19.42.2 9020 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 10 -s 100 198.19.42.2 9021 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 10 -s 100 198.18.0.2 9020 >/dev/null
cap_stop "$mon"
cap_stop "$src"
check_eq "vni: monitor frames (VNI 42, inner port 9020)" 20 "$(frames "$SV_TMP/m5b.pcap" | wc -l)"
check "vni: byte for byte" cmp <(frames "$SV_TMP/m5b.pcap") <(frames "$SV_TMP/s5b.pcap")
check_eq "vni: matched" 20 "$(counter "$id" matched)"
tap del "$id" >/dev/null

# --- 6: rules come and go while traffic flows: nothing of it is lost --------------------------
# The receiver's input hook counts the datagrams that arrive (a socket's counters count
# only what its reader took).
ip netns exec "$B" nft -f - <<'NFT'
table inet tapt {
	chain in { type filter hook input priority 0; udp dport 9007 counter; }
}
NFT
udp_in() { ip netns exec "$B" nft list chain inet tapt in | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
bg ip netns exec "$B" "$SV_ROOT/build/bench/udpsink" 198.18.0.2 9007
sink=$BG_PID
u0=$(udp_in)
bg ip netns exec "$A" ping -c 300 -i 0.01 198.18.0.2 >"$SV_TMP/ping6" 2>&1
ping_pid=$BG_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 4000 -s 100 -g 200 198.18.0.2 9007 >"$SV_TMP/sent6" &
send_pid=$!
churn_ok=1 took=0
for i in $(seq 1 10); do
	x=$(tap add --from h1 --to hm udp dst port 9007) || churn_ok=0
	y=$(tap add --from h2 --direction in --to hm --proto icmp) || churn_ok=0
	sleep 0.1
	took=$((took + $(counter "$x" mirrored)))
	tap del "$x" >/dev/null || churn_ok=0
	tap del "$y" >/dev/null || churn_ok=0
done
check_eq "churn: every add and del succeeded" 1 "$churn_ok"
check "churn: the rules took effect ($took copies)" test "$took" -gt 0
wait "$send_pid"
wait "$ping_pid"
check_eq "churn: no ping lost" "300 packets transmitted, 300 received" \
	"$(grep -o '300 packets transmitted, [0-9]* received' "$SV_TMP/ping6")"
sleep 0.3
check_eq "churn: every datagram arrived" "$(cat "$SV_TMP/sent6")" "$(($(udp_in) - u0))"
stop_pid "$sink" >/dev/null 2>&1

# --- 6b: where the watched interface has a clsact qdisc, tc's mirred makes the copies --------
# (cheaper for the watched traffic, see tapcopy.c); the agent never makes that qdisc itself.
# A rule from before the qdisc copies by bpf; once the qdisc is there, it moves to tc within
# an interval.
way() { tap list | awk -v id="$1" '$1 == id { for (i = 2; i <= NF; i++) if ($i ~ /^copy=/) print $i }'; }
way_is() { [ "$(way "$1")" = "$2" ]; }
t1=$(tap add --from h1 --direction both --to hm udp port 9031)
check_eq "tc: no qdisc yet: copies by bpf" "copy=bpf" "$(way "$t1")"
tc -n "$H" qdisc add dev h1 clsact
check "tc: the qdisc made: copies by tc" wait_for 5 way_is "$t1" copy=tc
tcf() { tc -n "$H" filter show dev h1 "$1" | grep -c "sv_tap_copy"; }
progs_at() { ip netns exec "$H" "$TOOLS/tcxquery" h1 | awk '$2 ~ /^sv/ { print $1 ":" $2 }' | xargs; }
# mon_send FILE PORT...: the monitor's frames into FILE while A sends 10 datagrams to each.
mon_send() {
	local file=$1 mon p
	shift
	cap "$M" m0 "$file"
	mon=$CAP_PID
	for p in "$@"; do
		ip netns exec "$A" "$TOOLS/udpsend" -n 10 -s 200 -p 40001 198.18.0.2 "$p" >/dev/null
	done
	cap_stop "$mon"
}
check_eq "tc: one filter per direction" "1 1" "$(tcf ingress) $(tcf egress)"
# Someone's own filter holds the handle the next rule takes: that rule gets no filter there
# (theirs is left alone) and copies by bpf. The hook then has the tap program, behind the
# rules' expression programs; it decides for both rules and leaves t1's copies to its filter.
next=$((t1 + 1))
tc -n "$H" filter add dev h1 ingress protocol all prio 1 handle "$next" bpf \
	obj "$TOOLS/fixture.bpf.o" sec tc
ta=$(tap add --from h1 --direction in --to hm udp dst port 9038)
check_eq "tc mixed: the new rule has the held handle's id" "$next" "$ta"
check_eq "tc mixed: ways" "tc bpf" "$(counter "$t1" copy) $(counter "$ta" copy)"
check_eq "tc mixed: h1's programs in order" \
	"ingress:svtap_expr_in ingress:svtap_expr_in ingress:sv_tap_ingress" "$(progs_at)"
mon_send "$SV_TMP/m6a.pcap" 9031 9038 9039
check_eq "tc mixed: monitor frames, matched per rule" "20 10 10" \
	"$(frames "$SV_TMP/m6a.pcap" | wc -l) $(counter "$t1" matched) $(counter "$ta" matched)"
check_eq "tc mixed: mirrored per rule" "10 10" "$(counter "$t1" mirrored) $(counter "$ta" mirrored)"
check_eq "tc mixed: their filter is left as it was" 1 \
	"$(tc -n "$H" filter show dev h1 ingress | grep -c 'handle 0x[0-9a-f]* fixture')"
# With their filter gone, the rule gets its own within an interval.
tc -n "$H" filter del dev h1 ingress protocol all prio 1 handle "$next" bpf
check "tc mixed: the handle freed: copies by tc" wait_for 5 way_is "$ta" copy=tc
tap del "$ta" >/dev/null
# Each filter decides for its rule alone: no program of the tap runs at h1.
check_eq "tc: no tap program at h1" "" "$(progs_at)"
cap "$M" m0 "$SV_TMP/m6b.pcap"
mon=$CAP_PID
cap "$A" v1 "$SV_TMP/s6b.pcap" udp port 9031
src=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 50 -s 300 -p 40001 198.18.0.2 9031 >/dev/null
ip netns exec "$B" "$TOOLS/udpsend" -n 30 -s 300 -p 40001 198.18.0.1 9031 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 20 -s 300 -p 40001 198.18.0.2 9032 >/dev/null
cap_stop "$mon"
cap_stop "$src"
check_eq "tc: monitor frames (both directions)" 80 "$(frames "$SV_TMP/m6b.pcap" | wc -l)"
check "tc: byte for byte" cmp <(frames "$SV_TMP/m6b.pcap" | sort) \
	<(frames "$SV_TMP/s6b.pcap" | sort)
check_eq "tc: matched mirrored failed" "90 90 0" \
	"$(counter "$t1" matched) $(counter "$t1" mirrored) $(counter "$t1" failed)"
# A copy tc cannot send (the monitor port down) is counted as failed, the original goes on.
ip -n "$H" link set hm down
ip netns exec "$A" "$TOOLS/udpsend" -n 10 -s 300 -p 40001 198.18.0.2 9031 >/dev/null
ip -n "$H" link set hm up
check_eq "tc: monitor down: matched mirrored failed" "100 90 10" \
	"$(counter "$t1" matched) $(counter "$t1" mirrored) $(counter "$t1" failed)"
# Snaplen through tc too: mirred to the truncating veth.
t2=$(tap add --from h1 --direction in --to hm --snaplen 64 udp dst port 9033)
check_eq "tc snaplen: copies made by tc" "tc" "$(counter "$t2" copy)"
cap "$M" m0 "$SV_TMP/m6c.pcap"
mon=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 20 -s 300 -p 40001 198.18.0.2 9033 >/dev/null
cap_stop "$mon"
check_eq "tc snaplen: 20 copies of 64 bytes" "20 64" \
	"$(frames "$SV_TMP/m6c.pcap" | wc -l) $(frames "$SV_TMP/m6c.pcap" | awk '{ print length($0) / 2 }' | sort -u)"
check_eq "tc snaplen: truncated" 20 "$(counter "$t2" truncated)"
tap del "$t2" >/dev/null
# The rate cap, kept by the filter's classifier.
t2=$(tap add --from h1 --direction in --to hm --rate 100 udp dst port 9034)
check_eq "tc rate: copies made by tc, no tap program" "tc " "$(counter "$t2" copy) $(progs_at)"
rate_check "tc rate" "$t2" 9034
tap del "$t2" >/dev/null
# Flags (no expression), each decided by its filter's classifier alone.
t2=$(tap add --from h1 --direction in --to hm --proto udp --dport 9035-9036)
mon_send "$SV_TMP/m6e.pcap" 9031 9035 9037
check_eq "tc flags: monitor frames, matched per rule, way, programs" "20 10 110 tc " \
	"$(frames "$SV_TMP/m6e.pcap" | wc -l) $(counter "$t2" matched) $(counter "$t1" matched) $(counter "$t2" copy) $(progs_at)"
tap del "$t2" >/dev/null
# Someone else's tcx program may end the hook's run before tc: the agent then attaches the
# tap program in front of it, which copies by bpf (within an interval), and goes back to
# tc when it leaves.
bg ip netns exec "$H" "$TOOLS/tcxattach" h1 in "$TOOLS/fixture.bpf.o" fixture_tc \
	>"$SV_TMP/tcxa" 2>&1
other=$BG_PID
wait_for 5 grep -q attached "$SV_TMP/tcxa"
check "tc: another's tcx program: copies by bpf" \
	wait_for 5 sh -c "ip netns exec $H $AGENT tap --control $CTL list | grep -q 'copy=in:bpf,out:tc'"
m0=$(counter "$t1" mirrored)
cap "$M" m0 "$SV_TMP/m6d.pcap"
mon=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 25 -s 300 -p 40001 198.18.0.2 9031 >/dev/null
cap_stop "$mon"
check_eq "tc: another's tcx program: every copy made" "25 $((m0 + 25))" \
	"$(frames "$SV_TMP/m6d.pcap" | wc -l) $(counter "$t1" mirrored)"
stop_pid "$other" >/dev/null 2>&1
check "tc: the other program gone: tc again" \
	wait_for 5 sh -c "ip netns exec $H $AGENT tap --control $CTL list | grep -q 'copy=tc '"
check_eq "tc: and the tap program gone" "" "$(progs_at)"
# Someone deletes a rule's filter: the agent notices and puts it back within an interval.
tc -n "$H" filter del dev h1 ingress protocol all prio 1 handle "$t1" bpf
check "tc: a deleted filter: noticed" wait_for 5 grep -q \
	"tap rule $t1: its tc filter on h1 ingress is gone" "$SV_TMP/ag.err"
check "tc: a deleted filter: put back" wait_for 5 grep -q \
	"tap rule $t1: its tc filter on h1 ingress is in place" "$SV_TMP/ag.err"
check_eq "tc: a deleted filter: copies by tc" "copy=tc 1" "$(way "$t1") $(tcf ingress)"
m0=$(counter "$t1" mirrored) c0=$(counter "$t1" matched)
cap "$M" m0 "$SV_TMP/m6f.pcap"
mon=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 15 -s 300 -p 40001 198.18.0.2 9031 >/dev/null
cap_stop "$mon"
check_eq "tc: a deleted filter: copies, mirrored, matched" "15 $((m0 + 15)) $((c0 + 15))" \
	"$(frames "$SV_TMP/m6f.pcap" | wc -l) $(counter "$t1" mirrored) $(counter "$t1" matched)"
# Filters come and go with rules while traffic flows, and with every other rule (an
# expression) the tap program comes and goes too: nothing of the traffic is lost.
bg ip netns exec "$B" "$SV_ROOT/build/bench/udpsink" 198.18.0.2 9007
sink=$BG_PID
u0=$(udp_in)
ip netns exec "$A" "$TOOLS/udpsend" -n 3000 -s 100 -g 200 198.18.0.2 9007 >"$SV_TMP/sent6b" &
send_pid=$!
churn_ok=1
for i in $(seq 1 10); do
	if [ $((i % 2)) = 0 ]; then
		x=$(tap add --from h1 --to hm "udp and dst port 9007") || churn_ok=0
	else
		x=$(tap add --from h1 --to hm udp dst port 9007) || churn_ok=0
	fi
	sleep 0.1
	tap del "$x" >/dev/null || churn_ok=0
done
wait "$send_pid"
sleep 0.3
stop_pid "$sink" >/dev/null 2>&1
check_eq "tc churn: every add and del succeeded" 1 "$churn_ok"
check_eq "tc churn: every datagram arrived" "$(cat "$SV_TMP/sent6b")" "$(($(udp_in) - u0))"
tap del "$t1" >/dev/null
check_eq "tc: our filters gone with the rules" "0 0" "$(tcf ingress) $(tcf egress)"
check "tc: the qdisc is left as it was" sh -c "tc -n $H qdisc show dev h1 | grep -q clsact"
tc -n "$H" qdisc del dev h1 clsact

# --- 7: bad rules: one clear line and a failure each ------------------------------------------
# refuse NAME EXPECTED-TEXT ARGS...
refuse() {
	local name=$1 want=$2
	shift 2
	tap add "$@" >"$SV_TMP/out" 2>"$SV_TMP/err"
	local rc=$?
	if [ $rc -ne 0 ] && [ "$(wc -l <"$SV_TMP/err")" = 1 ] && grep -q -- "$want" "$SV_TMP/err"; then
		pass "refused: $name"
	else
		fail "refused: $name (rc $rc: $(cat "$SV_TMP/err"))"
	fi
}
keep=$(tap add --from h1 --direction in --to hm --proto tcp)
refuse "unknown --from" "unknown interface 'nosuch0'" --from nosuch0 --to hm
refuse "unknown --to" "unknown interface 'nosuch0'" --from h1 --to nosuch0
refuse "mirror to itself" "to itself" --from h2 --to h2
refuse "target watched: a loop" "loop: h1 is watched" --from h2 --to h1
refuse "a bridge as the target" "br0 is a bridge" --from h2 --to br0
refuse "watching a target: a loop" "loop: hm receives" --from hm --to h2
refuse "vxlan underlay watched: a loop" "loop: copies to 198.19.0.2 leave by hu" \
	--from hu --to vxlan://198.19.0.2
refuse "bad CIDR" "invalid address or CIDR" --from h1 --to hm --src 198.18.0.1/33
refuse "host bits under a prefix" "invalid address or CIDR" --from h1 --to hm --dst 198.18.0.1/24
refuse "bad port" "invalid port" --from h1 --to hm --dport 70000
refuse "bad vni" "invalid --vni" --from h1 --to vxlan://198.19.0.2 --vni 16777216
refuse "--vni without vxlan" "--vni needs" --from h1 --to hm --vni 5
refuse "bad snaplen" "invalid --snaplen" --from h1 --to hm --snaplen 10
refuse "bad rate" "invalid --rate" --from h1 --to hm --rate 0
refuse "bad direction" "invalid --direction" --from h1 --to hm --direction sideways
refuse "bad remote" "invalid --to" --from h1 --to vxlan://monitor.example
refuse "bad expression" "bad expression 'udp prot 53'" --from h1 --to hm udp prot 53
refuse "expression of the inner frame" "with --match-vni, an expression may only" \
	--from h1 --to hm --match-vni 5 "udp or tcp"
refuse "no --to" "needs --to" --from h1
check_eq "refused rules left nothing behind" 1 "$(tap list | wc -l)"
check_eq "the kept rule is intact" "$keep" "$(tap list | awk '{ print $1 }')"
ip netns exec "$H" "$AGENT" tap --control "$SV_TMP/none.sock" list 2>"$SV_TMP/err"
check_eq "no agent: exit 1" 1 $?
check "no agent: one clear line" grep -q "no agent answers on $SV_TMP/none.sock" "$SV_TMP/err"
ip netns exec "$H" "$AGENT" tap --control "$CTL" frob 2>/dev/null
check_eq "unknown command: exit 2" 2 $?
ip netns exec "$H" "$AGENT" --control "$SV_TMP/x.sock" --tap "--from nosuch0 --to hm" \
	2>"$SV_TMP/err" >/dev/null
check_eq "bad --tap at start: exit 1" 1 $?
check "bad --tap at start: says why" grep -q "invalid --tap '--from nosuch0 --to hm': unknown interface" \
	"$SV_TMP/err"

# --- 7b: a watched interface that goes and comes back under its name -------------------------
back=$(tap add --from h2 --direction in --to hm udp dst port 9011)
ip -n "$H" link del h2
veth "$B" v2 "$H" h2 && ip -n "$H" link set h2 master br0 &&
	ip -n "$B" addr add 198.18.0.2/24 dev v2
check "back: the agent follows h2's new index" \
	wait_for 10 grep -q "tap rule $back: h2 is back" "$SV_TMP/ag.err"
wait_for 5 ip netns exec "$B" ping -c 1 -W 1 198.18.0.1 >/dev/null
cap "$M" m0 "$SV_TMP/m7.pcap" udp
mon=$CAP_PID
ip netns exec "$B" "$TOOLS/udpsend" -n 30 -s 200 -p 40011 198.18.0.1 9011 >/dev/null
cap_stop "$mon"
check_eq "back: mirrored from the new h2" 30 "$(frames "$SV_TMP/m7.pcap" | wc -l)"
check_eq "back: counted" 30 "$(counter "$back" mirrored)"
tap del "$back" >/dev/null

# --- 8: the agent leaves nothing behind -------------------------------------------------------
tap add --from h2 --to vxlan://198.19.0.2 --snaplen 64 >/dev/null
stop_pid "$AGENT_PID"
check_eq "agent exits 0" 0 $?
check_eq "no tap device left" "" "$(ip -n "$H" -br link | grep sv-tap)"
check "control socket removed" test ! -e "$CTL"
# --- 8b: a killed agent's tc filters copy nothing; the next agent removes them ----------------
tc -n "$H" qdisc add dev h1 clsact
CTL0=$CTL CTL=$SV_TMP/ctl8.sock
agent_start "$H" ag8 -i br0 --control "$CTL" || exit 1
t8=$(tap add --from h1 --direction in --to hm udp dst port 9040)
check_eq "killed: the rule copies by tc" tc "$(counter "$t8" copy)"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
rm -f "$CTL"
check_eq "killed: its filter stays" 1 "$(tcf ingress)"
cap "$M" m0 "$SV_TMP/m8.pcap"
mon=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 10 -s 200 -p 40001 198.18.0.2 9040 >/dev/null
cap_stop "$mon"
check_eq "killed: no copies from its filter" 0 "$(frames "$SV_TMP/m8.pcap" | wc -l)"
agent_start "$H" ag8b -i br0 --control "$CTL" || exit 1
tap add --from h2 --direction in --to hm udp dst port 9041 >/dev/null
check_eq "killed: the next agent's first rule removes its filter" 0 "$(tcf ingress)"
stop_pid "$AGENT_PID" >/dev/null
CTL=$CTL0
tc -n "$H" qdisc del dev h1 clsact

# --- 9: rules through the post's API for a box ------------------------------------------------
# Tap rules are written with an admin token; the agent delivers and reports with its own.
TOKEN=tap-test-token-0123456789 ADMIN=tap-test-admin-0123456789
sock=$SV_TMP/post.sock
bg "$SV_ROOT/build/sitevisor-post" --listen "unix:$sock" --db "$SV_TMP/post.db" --token "$TOKEN" \
	--admin-token "$ADMIN" 2>"$SV_TMP/post.err"
wait_for 10 test -S "$sock" || fail "post did not start"
api() { # api METHOD PATH [BODY] [TOKEN]: prints the body, then the status on a line of its own
	curl -s --unix-socket "$sock" -X "$1" -H "Authorization: Bearer ${4-$ADMIN}" \
		${3:+-d "$3"} -w '\n%{http_code}\n' "http://post/api/v1/$2"
}
status() { api "$@" | tail -1; }
tap_id=$(api POST "taps?box=hbox" '{"rule":"--from h1 --direction in --to hm udp dst port 9010"}' |
	head -1 | jq -r .id)
check "post: rule stored" test "$tap_id" -ge 1
bad_id=$(api POST "taps?box=hbox" '{"rule":"--from nosuch0 --to hm"}' | head -1 | jq -r .id)
check_eq "post: GET lists both, pending" "pending pending" \
	"$(api GET "taps?box=hbox" | head -1 | jq -r '[.taps[].state] | join(" ")')"
check_eq "post: no token: 401" 401 "$(status POST "taps?box=hbox" '{"rule":"x"}' wrong)"
check_eq "post: no box: 400" 400 "$(status POST taps '{"rule":"--from h1 --to hm"}')"
check_eq "post: bad body: 400" 400 "$(status POST "taps?box=hbox" '{"rules":1}')"
check_eq "post: control characters in a rule: 400" 400 \
	"$(status POST "taps?box=hbox" '{"rule":"--from h1\n--to hm"}')"
check_eq "post: delete unknown: 404" 404 "$(status DELETE taps/999)"
check_eq "post: delete without the token: 401" 401 "$(status DELETE "taps/$tap_id" "" wrong)"

agent_start "$H" ag2 -i br0 --control "$CTL" --post "unix:$sock" --token "$TOKEN" --box hbox \
	--spool "$SV_TMP/spool-hbox" --allow-remote-tap --tap-allow-to iface:hm || exit 1
check "post: the agent applies the box's rule" wait_for 10 sh -c \
	"ip netns exec $H $AGENT tap --control $CTL list | grep -q 'origin=post.*dst port 9010'"
cap "$M" m0 "$SV_TMP/m9.pcap"
mon=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 30 -s 100 198.18.0.2 9010 >/dev/null
cap_stop "$mon"
check_eq "post: the monitor got the 30 copies" 30 "$(frames "$SV_TMP/m9.pcap" | wc -l)"
post_counts() {
	api GET "taps?box=hbox" | head -1 |
		jq -r ".taps[] | select(.id == $tap_id) | \"\(.state) \(.counters.matched) \(.counters.mirrored)\""
}
wait_eq 10 "active 30 30" post_counts
check_eq "post: GET shows the rule active with its counters" "active 30 30" "$(post_counts)"
err=$(api GET "taps?box=hbox" | head -1 | jq -r ".taps[] | select(.id == $bad_id) | \"\(.state): \(.error)\"")
check_eq "post: the bad rule's error" "error: unknown interface 'nosuch0'" "$err"
check_eq "post: delete: 200" 200 "$(status DELETE "taps/$tap_id")"
check "post: the agent removes the rule" wait_for 10 sh -c \
	"! ip netns exec $H $AGENT tap --control $CTL list | grep -q 'origin=post'"
stop_pid "$AGENT_PID"
check_eq "post: agent exits 0" 0 $?

[ -n "${TAP_DEBUG:-}" ] && cp "$SV_TMP"/*.pcap* "$SV_TMP"/ag.err "$TAP_DEBUG"/
finish
