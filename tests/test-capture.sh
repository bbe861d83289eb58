#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# sitevisor-agent capture: the translator against libpcap (cbpf_test), then real traffic and
# replayed VLAN traces over a veth pair. An unfiltered capture must hold the same frames as
# tcpdump capturing live beside it; each filtered capture must hold exactly the frames that
# `tcpdump -r <unfiltered> EXPR` selects, byte for byte. Then interface names, directions,
# snap length, -c, a live pipe into tshark, the flow agent beside a capture, and the errors.
. "$(dirname "$0")/lib.sh"
set -u
need_root capture

for tool in tcpdump tshark tcpreplay; do
	if ! command -v "$tool" >/dev/null; then
		skip "capture (no $tool)"
		finish
	fi
done

# --- the translator, in the kernel, against libpcap's interpreter ------------------------
if [ -x "$TOOLS/cbpf_test" ]; then
	"$TOOLS/cbpf_test" 40 >"$SV_TMP/cbpf.out" 2>&1
	check_eq "translator agrees with libpcap on crafted and mutated frames" 0 $?
	tail -1 "$SV_TMP/cbpf.out"
	grep FAIL "$SV_TMP/cbpf.out" | head -5
else
	fail "build/tests/cbpf_test missing"
fi

A=$(ns_add a) && B=$(ns_add b) || exit 1
# No router solicitations and no DAD on the interfaces to come: the only frames are the
# test's own (and the MLD reports of new addresses, which the sleep below waits out), so
# captures that start and stop a moment apart still see the same set.
for ns in "$A" "$B"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.router_solicitations=0
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.dad_transmits=0
done
veth "$A" va "$B" vb 9500 || exit 1
ip -n "$A" addr add 198.18.7.1/24 dev va
ip -n "$B" addr add 198.18.7.2/24 dev vb
ip -n "$A" addr add 2001:db8:7::1/64 dev va nodad
ip -n "$B" addr add 2001:db8:7::2/64 dev vb nodad
# Static neighbours: no ARP or neighbour discovery either.
mac_a=$(ip -n "$A" -j link show va | jq -r '.[0].address')
mac_b=$(ip -n "$B" -j link show vb | jq -r '.[0].address')
ip -n "$A" neigh replace 198.18.7.2 lladdr "$mac_b" dev va nud permanent
ip -n "$B" neigh replace 198.18.7.1 lladdr "$mac_a" dev vb nud permanent
ip -n "$A" neigh replace 2001:db8:7::2 lladdr "$mac_b" dev va nud permanent
ip -n "$B" neigh replace 2001:db8:7::1 lladdr "$mac_a" dev vb nud permanent
sleep 3 # MLD reports of the new addresses go out now (twice, a second apart), before captures

# cap_start NAME ARGS...: a capture in B writing $SV_TMP/NAME.pcapng; waits until attached.
cap_start() {
	local name=$1
	shift
	bg ip netns exec "$B" "$AGENT" capture -w "$SV_TMP/$name.pcapng" "$@" \
		2>"$SV_TMP/$name.err"
	CAP_PID=$BG_PID
	if ! wait_for 10 grep -q 'tracing' "$SV_TMP/$name.err"; then
		echo "capture $name did not start:" >&2
		cat "$SV_TMP/$name.err" >&2
		return 1
	fi
}

# frames FILE [EXPR]: one line of hex per frame (link layer on), sorted.
frames() {
	local f=$1
	shift
	tcpdump -r "$f" -n -xx "$@" 2>/dev/null |
		awk '/^[0-9]/ { if (h != "") print h; h = ""; next }
		     { for (i = 2; i <= NF; i++) h = h $i }
		     END { if (h != "") print h }' | sort
}

# The expressions, checked against tcpdump -r on the unfiltered capture.
EXPRS=(
	"host 198.18.7.1"
	"net 198.18.7.0/24"
	"not net 198.18.7.0/24"
	"port 53"
	"udp port 53 or tcp port 8080"
	"portrange 5000-5010"
	"proto 17"
	"icmp"
	"tcp[tcpflags] & tcp-syn != 0"
	"tcp[tcpflags] & (tcp-fin|tcp-rst) != 0"
	"vlan"
	"vlan and tcp port 80"
	"vlan 13 and vlan 10 and udp"
	"ip6"
	"ip6 and udp port 53"
	"icmp6"
	"not ip and not ip6"
	"ip and not icmp and (udp or tcp)"
	"greater 1000"
)

bg ip netns exec "$B" tcpdump -i vb -n -s 262144 -w "$SV_TMP/live.pcap" 2>"$SV_TMP/live.err"
LIVE_PID=$BG_PID
wait_for 10 grep -q 'listening on' "$SV_TMP/live.err" || fail "tcpdump did not start"
cap_start all -i vb || exit 1
ALL_PID=$CAP_PID
CAP_PIDS=()
for i in "${!EXPRS[@]}"; do
	cap_start "f$i" -i vb "${EXPRS[$i]}" || exit 1
	CAP_PIDS+=("$CAP_PID")
done

# --- traffic: UDP and TCP both ways, ICMP, IPv6, VLAN traces ---------------------------
bg ip netns exec "$B" "$TOOLS/tcpxfer" -l 8080 >"$SV_TMP/xfer.out"
sleep 0.3
ip netns exec "$A" "$TOOLS/udpsend" -n 20 -s 30 -p 4000 198.18.7.2 53 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 7 -s 1200 -p 4001 198.18.7.2 5005 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 5 -s 10 -p 4002 198.18.7.2 5011 >/dev/null
ip netns exec "$B" "$TOOLS/udpsend" -n 4 -s 40 -p 5001 198.18.7.1 9000 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 6 -s 30 -p 4003 2001:db8:7::2 53 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 3 -s 1500 -p 4004 2001:db8:7::2 7000 >/dev/null
ip netns exec "$A" ping -c 3 -i 0.05 -q 198.18.7.2 >/dev/null
ip netns exec "$A" ping -6 -c 2 -i 0.05 -q 2001:db8:7::2 >/dev/null
ip netns exec "$A" "$TOOLS/tcpxfer" 198.18.7.2 8080 20000 >/dev/null
for t in http-vlan-0 q-in-q http_get; do
	[ -f "$TRACES/$t.pcap" ] || continue
	ip netns exec "$A" tcpreplay -q -i va "$TRACES/$t.pcap" >/dev/null 2>&1
done
sleep 1

stop_pid "$ALL_PID"
check_eq "unfiltered capture exits 0" 0 $?
for p in "${CAP_PIDS[@]}"; do stop_pid "$p" >/dev/null; done
stop_pid "$LIVE_PID" >/dev/null

frames "$SV_TMP/all.pcapng" >"$SV_TMP/all.hex"
frames "$SV_TMP/live.pcap" >"$SV_TMP/live.hex"
n_all=$(wc -l <"$SV_TMP/all.hex")
echo "unfiltered: $n_all frames, tcpdump live: $(wc -l <"$SV_TMP/live.hex")"
check "tshark reads the capture" tshark -r "$SV_TMP/all.pcapng" -c 1
check "the unfiltered capture holds more than 100 frames" test "$n_all" -gt 100
check "unfiltered capture == tcpdump live capture, frame by frame" \
	cmp "$SV_TMP/all.hex" "$SV_TMP/live.hex"
diff "$SV_TMP/all.hex" "$SV_TMP/live.hex" | cut -c1-140 | head -6
for t in http-vlan-0 q-in-q; do
	[ -f "$TRACES/$t.pcap" ] || continue
	# Every replayed tagged frame, with its tag back in place, exactly as in the file.
	frames "$TRACES/$t.pcap" >"$SV_TMP/$t.hex"
	check_eq "$t: every frame captured with its tag as on the wire" \
		"$(wc -l <"$SV_TMP/$t.hex")" \
		"$(comm -12 "$SV_TMP/$t.hex" "$SV_TMP/all.hex" | wc -l)"
done
grep -q 'filtered out' "$SV_TMP/all.err" || fail "no counts on stderr at exit"
check_eq "unfiltered: nothing filtered out, nothing lost" \
	"$n_all packets captured, 0 filtered out, 0 lost" \
	"$(sed -n 's/.*capture: \(.*\)/\1/p' "$SV_TMP/all.err" | grep captured)"

for i in "${!EXPRS[@]}"; do
	e=${EXPRS[$i]}
	frames "$SV_TMP/all.pcapng" "$e" >"$SV_TMP/ref$i.hex"
	frames "$SV_TMP/f$i.pcapng" >"$SV_TMP/got$i.hex"
	n_ref=$(wc -l <"$SV_TMP/ref$i.hex")
	if [ "$n_ref" -eq 0 ] || [ "$n_ref" -eq "$n_all" ]; then
		fail "'$e': the traffic does not exercise it ($n_ref of $n_all frames match)"
		continue
	fi
	check "'$e': the $n_ref frames tcpdump selects, no more, no fewer" \
		cmp "$SV_TMP/ref$i.hex" "$SV_TMP/got$i.hex"
	diff "$SV_TMP/ref$i.hex" "$SV_TMP/got$i.hex" | cut -c1-140 | head -4
	# captured + filtered out = every frame the unfiltered capture saw
	read -r cap filt < <(sed -n 's/.*: \([0-9]*\) packets captured, \([0-9]*\) filtered.*/\1 \2/p' \
		"$SV_TMP/f$i.err")
	check_eq "'$e': captured + filtered out = all frames" "$n_all" "$((cap + filt))"
done

# --- directions, interface names, snap length --------------------------------------------
cap_start dirs -i vb -i lo -s 64 "icmp or udp" || exit 1
DIRS_PID=$CAP_PID
# libpcap's Linux keywords about the skb: inbound/outbound (pkt_type), ifindex.
cap_start inb -i vb -i lo "inbound and icmp" || exit 1
INB_PID=$CAP_PID
cap_start outb -i vb -i lo "outbound and icmp" || exit 1
OUTB_PID=$CAP_PID
VB_IDX=$(ip netns exec "$B" cat /sys/class/net/vb/ifindex)
cap_start idx -i vb -i lo "ifindex $VB_IDX and icmp" || exit 1
IDX_PID=$CAP_PID
ip netns exec "$A" ping -c 2 -i 0.05 -q 198.18.7.2 >/dev/null
ip netns exec "$B" ping -c 1 -q 198.18.7.1 >/dev/null
ip netns exec "$B" ping -c 1 -q 127.0.0.1 >/dev/null
ip netns exec "$A" "$TOOLS/udpsend" -n 2 -s 500 -p 4005 198.18.7.2 6000 >/dev/null
sleep 0.5
stop_pid "$DIRS_PID" >/dev/null
for p in $INB_PID $OUTB_PID $IDX_PID; do stop_pid "$p" >/dev/null; done
tshark -r "$SV_TMP/dirs.pcapng" -T fields -e frame.interface_name \
	-e frame.packet_flags_direction -e icmp.type -e ip.src -e frame.len -e frame.cap_len \
	-e udp.dstport 2>/dev/null >"$SV_TMP/dirs.txt"
cat "$SV_TMP/dirs.txt"
IN=0x00000001 OUT=0x00000002 # epb_flags direction bits, as tshark prints them
dir_of() { # IFACE ICMP-TYPE SRC: the direction flags of those frames, sorted
	awk -F'\t' -v i="$1" -v t="$2" -v s="$3" '$1 == i && $3 == t && $4 == s { print $2 }' \
		"$SV_TMP/dirs.txt" | sort | tr '\n' ' '
}
check_eq "vb: echo requests from A inbound" "$IN $IN " "$(dir_of vb 8 198.18.7.1)"
check_eq "vb: replies to A outbound" "$OUT $OUT " "$(dir_of vb 0 198.18.7.2)"
check_eq "vb: echo request of B outbound, its reply inbound" "$OUT $IN " \
	"$(dir_of vb 8 198.18.7.2)$(dir_of vb 0 198.18.7.1)"
check_eq "lo: request and reply, each out and in" "$IN $OUT $IN $OUT " \
	"$(dir_of lo 8 127.0.0.1)$(dir_of lo 0 127.0.0.1)"
flags_of() { # FILE: interface and direction of each frame, sorted
	tshark -r "$1" -T fields -e frame.interface_name -e frame.packet_flags_direction \
		2>/dev/null | sort | tr '\t\n' ' ,'
}
icmp_dirs() { # DIRECTION: the ICMP frames of the dirs capture with that direction
	awk -F'\t' -v d="$1" '$2 == d && $3 != "" { print $1 " " $2 }' "$SV_TMP/dirs.txt" | sort |
		tr '\n' ','
}
check_eq "'inbound and icmp': the inbound ICMP frames" "$(icmp_dirs $IN)" \
	"$(flags_of "$SV_TMP/inb.pcapng")"
check_eq "'outbound and icmp': the outbound ICMP frames" "$(icmp_dirs $OUT)" \
	"$(flags_of "$SV_TMP/outb.pcapng")"
check_eq "'ifindex N and icmp': vb's ICMP frames only" \
	"$(awk -F'\t' '$1 == "vb" && $3 != "" { print $1 }' "$SV_TMP/dirs.txt" | tr '\n' ',')" \
	"$(tshark -r "$SV_TMP/idx.pcapng" -T fields -e frame.interface_name 2>/dev/null | tr '\n' ',')"
check_eq "-s 64: 542-byte UDP frames cut to 64" "542 64 542 64 " \
	"$(awk -F'\t' '$7 == 6000 { printf "%s %s ", $5, $6 }' "$SV_TMP/dirs.txt")"

# VLAN frames cut at the snap length keep their tag (the reinserted bytes count).
cap_start vsnap -i vb -s 40 vlan || exit 1
VS_PID=$CAP_PID
cap_start vsnap14 -i vb -s 14 vlan || exit 1 # the cut falls inside the reinserted tag
VS14_PID=$CAP_PID
ip netns exec "$A" tcpreplay -q -i va "$TRACES/q-in-q.pcap" >/dev/null 2>&1
sleep 0.5
stop_pid "$VS_PID" >/dev/null
stop_pid "$VS14_PID" >/dev/null
check_eq "-s 40 on q-in-q: 5 frames of 40 bytes, both tags" \
	"40 13,10 40 13,10 40 13,10 40 13,10 40 13,10 " \
	"$(tshark -r "$SV_TMP/vsnap.pcapng" -T fields -e frame.cap_len -e vlan.id 2>/dev/null |
		tr '\t\n' '  ')"
check_eq "-s 14 on q-in-q: the MACs and half the tag, as in the file" \
	"$(frames "$TRACES/q-in-q.pcap" | cut -c1-28 | sort | tr '\n' ' ')" \
	"$(frames "$SV_TMP/vsnap14.pcapng" | tr '\n' ' ')"

# Tags in the frame (tc egress of the replaying side, vlan_present off): the same filter.
bg ip netns exec "$A" "$AGENT" capture -i va -w "$SV_TMP/inline.pcapng" \
	"vlan 13 and vlan 10 and udp" \
	2>"$SV_TMP/inline.err"
IL_PID=$BG_PID
wait_for 10 grep -q tracing "$SV_TMP/inline.err"
ip netns exec "$A" tcpreplay -q -i va "$TRACES/q-in-q.pcap" >/dev/null 2>&1
sleep 0.5
stop_pid "$IL_PID" >/dev/null
frames "$TRACES/q-in-q.pcap" "vlan 13 and vlan 10 and udp" >"$SV_TMP/inline.ref"
frames "$SV_TMP/inline.pcapng" >"$SV_TMP/inline.got"
check "q-in-q on egress (tags in the frame): the frames tcpdump -r selects" \
	cmp "$SV_TMP/inline.ref" "$SV_TMP/inline.got"
check_eq "q-in-q on egress: outbound" "$OUT $OUT $OUT $OUT " \
	"$(tshark -r "$SV_TMP/inline.pcapng" -T fields -e frame.packet_flags_direction 2>/dev/null |
		tr '\n' ' ')"

# --- -c: stops by itself after COUNT frames ----------------------------------------------
bg ip netns exec "$B" "$AGENT" capture -i vb -c 3 -w "$SV_TMP/c3.pcapng" udp 2>"$SV_TMP/c3.err"
C3_PID=$BG_PID
wait_for 10 grep -q tracing "$SV_TMP/c3.err"
ip netns exec "$A" "$TOOLS/udpsend" -n 10 -s 20 198.18.7.2 6001 >/dev/null
for _ in $(seq 1 50); do kill -0 "$C3_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$C3_PID" 2>/dev/null; then
	fail "-c 3: still running after 3 frames"
	stop_pid "$C3_PID" >/dev/null
else
	wait "$C3_PID"
	check_eq "-c 3: exits 0 by itself" 0 $?
fi
check_eq "-c 3: exactly 3 frames" 3 "$(tcpdump -r "$SV_TMP/c3.pcapng" 2>/dev/null | wc -l)"
check "-c 3: detached at exit" \
	wait_for 5 sh -c "! ip netns exec '$B' '$TOOLS/tcxquery' vb | grep -q svcap"

# --- -w - into tshark, live ---------------------------------------------------------------
mkfifo "$SV_TMP/pipe"
bg tshark -l -n -r "$SV_TMP/pipe" -c 5 -T fields -e udp.dstport >"$SV_TMP/pipe.out" 2>/dev/null
TS_PID=$BG_PID
bg sh -c "exec ip netns exec '$B' '$AGENT' capture -i vb 'udp port 6002' \
	>'$SV_TMP/pipe' 2>'$SV_TMP/pipe.err'"
PIPE_PID=$BG_PID
wait_for 10 grep -q tracing "$SV_TMP/pipe.err"
ip netns exec "$A" "$TOOLS/udpsend" -n 5 -s 20 198.18.7.2 6002 >/dev/null
# tshark ends after 5 frames while the capture still runs: they came through the pipe live.
for _ in $(seq 1 100); do kill -0 "$TS_PID" 2>/dev/null || break; sleep 0.1; done
check_eq "stdout (no -w, a pipe) | tshark -r -: 5 frames while the capture runs" \
	"6002 6002 6002 6002 6002 " "$(tr '\n' ' ' <"$SV_TMP/pipe.out")"
stop_pid "$PIPE_PID" >/dev/null
stop_pid "$TS_PID" >/dev/null

# --- the flow agent and a capture on the same interface -----------------------------------
agent_start "$B" flows -i vb || exit 1
cap_start beside -i vb "udp port 6003" || exit 1
BESIDE_PID=$CAP_PID
ip netns exec "$A" "$TOOLS/udpsend" -n 12 -s 20 198.18.7.2 6003 >/dev/null
sleep 2.5
stop_pid "$BESIDE_PID" >/dev/null
sleep 1.2
stop_pid "$AGENT_PID" >/dev/null
check_eq "flow agent beside a capture counts its 12 packets" 12 \
	"$(flow_sum "$SV_TMP/flows.json" packets '.dst_port == 6003')"
check_eq "the capture beside the flow agent has them too" 12 \
	"$(tcpdump -r "$SV_TMP/beside.pcapng" 2>/dev/null | wc -l)"

# --- SIGKILL: the tcx links go with the process ------------------------------------------
cap_start killed -i vb || exit 1
check "attached while running" sh -c "ip netns exec '$B' '$TOOLS/tcxquery' vb | grep -q svcap"
kill -KILL "$CAP_PID"
wait "$CAP_PID" 2>/dev/null
# (the kernel frees a link from a work queue, a moment after the last fd closes)
check "nothing left attached after SIGKILL" \
	wait_for 5 sh -c "! ip netns exec '$B' '$TOOLS/tcxquery' vb | grep -q svcap"

# --- errors a user can make: one line, exit 2 ---------------------------------------------
err_case() { # NAME EXPECTED-TEXT ARGS...
	local name=$1 want=$2 out rc
	shift 2
	out=$(ip netns exec "$B" "$AGENT" capture "$@" 2>&1 >/dev/null)
	rc=$?
	check_eq "$name: exit 2" 2 "$rc"
	check_eq "$name: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
	case $out in
	*"$want"*) pass "$name: says '$want'" ;;
	*) fail "$name: '$out' does not say '$want'" ;;
	esac
}
W=(-w "$SV_TMP/err.pcapng")
err_case "bad expression" "sitevisor-agent capture: can't parse filter expression: syntax error" \
	-i vb "${W[@]}" "tcp and"
err_case "bad port" "illegal port number" -i vb "${W[@]}" "port 99999"
err_case "unknown keyword" "sitevisor-agent capture:" -i vb "${W[@]}" "frobnicate 3"
err_case "unknown interface" "no interface 'nosuch0'" -i nosuch0 "${W[@]}"
err_case "no interface" "-i" "${W[@]}"
err_case "interface twice" "given twice" -i vb -i vb "${W[@]}"
err_case "bad snaplen" "-s" -i vb -s abc "${W[@]}"
err_case "snaplen too big" "-s" -i vb -s 300000 "${W[@]}"
err_case "zero count" "-c" -i vb -c 0 "${W[@]}"
err_case "unknown flag" "unknown option" -i vb -Z "${W[@]}"
err_case "missing value" "-w needs a value" -i vb -w
# No -w and a terminal on stdout: refuses rather than print binary.
out=$(ip netns exec "$B" script -qec "$AGENT capture -i vb" /dev/null </dev/null 2>&1)
rc=$?
check_eq "stdout a terminal, no -w: exit 2" 2 "$rc"
case $out in
*"not writing pcapng to a terminal"*) pass "stdout a terminal, no -w: says so" ;;
*) fail "stdout a terminal, no -w: '$out'" ;;
esac
check "nothing left attached after the errors" \
	sh -c "! ip netns exec '$B' '$TOOLS/tcxquery' vb | grep -q svcap"

finish
