#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The agent's life around the traffic: interfaces that come and go, exits that leave every
# interface as it was (also after SIGKILL), and one clear line for each mistake a user makes.
. "$(dirname "$0")/lib.sh"
need_root lifecycle
FIXTURE=$SV_ROOT/build/tests/fixture.bpf.o

A=$(ns_add a) && B=$(ns_add b) || exit 1
veth "$A" va "$B" vb
ip -n "$A" addr add 198.18.2.1/24 dev va
ip -n "$B" addr add 198.18.2.2/24 dev vb

# --- hotplug: a veth created after start is traced; one that vanishes is let go ---
agent_start "$A" hot || exit 1
hot=$AGENT_PID
ip link add hx netns "$A" type veth peer name hy netns "$B"
ip -n "$A" addr add 198.18.3.1/24 dev hx
ip -n "$B" addr add 198.18.3.2/24 dev hy
ip -n "$A" link set hx up
ip -n "$B" link set hy up
check "hotplug: new interface traced" wait_for 5 grep -q 'tracing hx' "$SV_TMP/hot.err"
ip netns exec "$A" ping -c 3 -i 0.2 -W 1 198.18.3.2 >/dev/null
ip -n "$A" link del hx
check "hotplug: vanished interface let go" wait_for 5 grep -q 'hx vanished' "$SV_TMP/hot.err"
check "hotplug: agent keeps running" kill -0 "$hot"
stop_pid "$hot"
check_eq "hotplug: clean exit" 0 $?
check_eq "hotplug: pings on the new interface counted" 3 \
	"$(flow_sum "$SV_TMP/hot.json" packets '.iface == "hx" and .icmp_type == 8 and .direction == "egress"')"

# --- clean exit: someone else's XDP program, qdiscs and filters stay exactly as they were ---
tc_state() {
	{
		ip -n "$A" -d link show va | grep -o 'prog/xdp id [0-9]*'
		tc -n "$A" qdisc show dev va | sed 's/direct_packets_stat [0-9]*//'
		tc -n "$A" filter show dev va ingress
		tc -n "$A" filter show dev va egress
	} 2>&1
}
ours() {
	{
		ip netns exec "$A" "$TOOLS/tcxquery" va
		ip netns exec "$A" bpftool net show dev va
	} | grep -c ' sv_'
}
ip -n "$A" link set dev va xdpgeneric obj "$FIXTURE" sec xdp
tc -n "$A" qdisc add dev va root handle 1: htb default 1
tc -n "$A" qdisc add dev va clsact
tc -n "$A" filter add dev va ingress prio 20 bpf da obj "$FIXTURE" sec tc
tc -n "$A" filter add dev va egress prio 30 protocol ip u32 match ip dst 198.18.2.2/32 flowid 1:1
before=$(tc_state)
for mode in tcx tc; do
	agent_start "$A" exit-$mode -i va --attach $mode || exit 1
	check_eq "$mode: agent's programs attached" 2 "$(ours)"
	ip netns exec "$A" ping -c 2 -i 0.2 -W 1 198.18.2.2 >/dev/null
	stop_pid "$AGENT_PID"
	check_eq "$mode: clean exit status" 0 $?
	check_eq "$mode: nothing of ours left attached" 0 "$(ours)"
	check_eq "$mode: existing XDP, qdiscs and filters intact" "$before" "$(tc_state)"
	check_eq "$mode: pings counted" 2 "$(flow_sum "$SV_TMP/exit-$mode.json" packets '.icmp_type == 8')"
done
ip -n "$A" link set dev va xdpgeneric off
tc -n "$A" qdisc del dev va clsact
tc -n "$A" qdisc del dev va root

# A clsact qdisc the agent had to create is removed again.
agent_start "$A" own -i va --attach tc || exit 1
check "tc: agent created clsact" sh -c "tc -n $A qdisc show dev va | grep -q clsact"
stop_pid "$AGENT_PID"
check_eq "tc: agent removed the clsact it created" 0 "$(tc -n "$A" qdisc show dev va | grep -c clsact)"

# --- SIGKILL: tcx links die with the agent; clsact filters are removed by the next start ---
agent_start "$A" kill-tcx -i va --attach tcx || exit 1
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
check "tcx: nothing left after SIGKILL" wait_for 5 test "$(ours)" -eq 0
agent_start "$A" kill-tc -i va --attach tc || exit 1
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
check_eq "tc: a killed agent leaves its filters" 2 "$(ours)"
agent_start "$A" restart -i va || exit 1
check "next start removes a killed agent's filters" \
	grep -q 'removed a filter a previous agent left' "$SV_TMP/restart.err"
stop_pid "$AGENT_PID"
check_eq "after restart and exit nothing of ours is left" 0 "$(ours)"

# --- a device without an Ethernet header (tun, WireGuard): the L3 programs ---
if ip -n "$A" tuntap add mode tun name tn0 2>/dev/null; then
	ip -n "$A" addr add 198.18.6.1/24 dev tn0
	ip -n "$A" link set tn0 up
	agent_start "$A" l3 -i tn0 || exit 1
	# Nobody reads the tun device, so no reply comes; the requests still leave through it.
	ip netns exec "$A" ping -c 3 -i 0.2 -W 1 198.18.6.2 >/dev/null
	stop_pid "$AGENT_PID"
	l3='.iface == "tn0" and .direction == "egress" and .icmp_type == 8'
	check_eq "tun: pings counted" 3 "$(flow_sum "$SV_TMP/l3.json" packets "$l3")"
	check_eq "tun: bytes from the IP header (20 + 8 + 56)" 252 "$(flow_sum "$SV_TMP/l3.json" bytes "$l3")"
	check_eq "tun: keyed as IPv4 with addresses" '[2048,4,"198.18.6.1","198.18.6.2"]' \
		"$(jq -sc "[.[] | select($l3)][0] | [.eth_type, .ip_version, .src_addr, .dst_addr]" "$SV_TMP/l3.json")"
else
	skip "tun: no tun devices here"
fi

# --- user errors: one line, non-zero status, never a hang ---
# usage_err NAME STATUS PATTERN ARGS...
usage_err() {
	local name=$1 want=$2 pat=$3 out rc
	shift 3
	out=$(timeout 10 ip netns exec "$A" "$@" 2>&1 >/dev/null)
	rc=$?
	check_eq "$name: exit status" "$want" "$rc"
	check_eq "$name: one line" 1 "$(printf '%s\n' "$out" | grep -c .)"
	if printf '%s' "$out" | grep -q "$pat"; then pass "$name: says why"; else fail "$name: said '$out'"; fi
}
usage_err "unknown interface" 1 "unknown interface 'nope0'" "$AGENT" -i nope0
usage_err "bad number" 2 "invalid --interval 'abc'" "$AGENT" --interval abc
usage_err "zero interval" 2 "invalid --interval '0'" "$AGENT" --interval 0
usage_err "negative sample" 2 "invalid --sample" "$AGENT" --packets --sample -5
usage_err "bad attach mode" 2 "invalid --attach 'xdp'" "$AGENT" --attach xdp
usage_err "stray argument" 2 "unexpected argument 'eth0'" "$AGENT" eth0
usage_err "unknown option" 2 "unknown option '--bogus'" "$AGENT" --bogus
usage_err "missing value" 2 "option '--box' needs a value" "$AGENT" --box
usage_err "no privileges" 1 "not permitted to load BPF programs" \
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
	"$AGENT" -i va
finish
