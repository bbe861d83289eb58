#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# TAP rules through any post of a site (docs/scale-out.md, issue 14): two posts over one
# ClickHouse server, and an agent given both (--post twice) that takes the post's rules
# (--allow-remote-tap, --tap-allow-to iface:mon). A rule set through post 1 is applied and its
# report is read through post 2. Post 1 is killed; a rule set through post 2 then reaches the
# agent all the same: it is applied, mirrors what it matches, its counters are reported to
# post 2, and deleted through post 2 it is removed. Then post 1 is back and post 2 killed: a rule
# set through post 1 reaches the agent again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/clickhouse.sh"
need_root scaleout-tap
command -v clickhouse-server >/dev/null || { skip "scaleout-tap (needs clickhouse-server)"; exit 0; }
POST=$SV_ROOT/build/sitevisor-post
TOKEN=stap-token-$RUN_ID
ADMIN=stap-admin-$RUN_ID
CTL=$SV_TMP/ctl

ch_start 1 || { fail "ClickHouse starts"; finish; }

# post_start N: post N on unix socket $SV_TMP/pN.sock over the server; sets POST_PID[N].
POST_PID=()
post_start() {
	rm -f "$SV_TMP/p$1.sock"
	bg "$POST" --listen "unix:$SV_TMP/p$1.sock" --token "$TOKEN" --admin-token "$ADMIN" \
		"${CH_STORE[@]}" 2>>"$SV_TMP/p$1.err"
	POST_PID[$1]=$BG_PID
	wait_for 20 test -S "$SV_TMP/p$1.sock"
}
# api N METHOD PATH [BODY]: through post N with the admin token; the body.
api() {
	curl -s --max-time 20 --unix-socket "$SV_TMP/p$1.sock" -X "$2" \
		-H "Authorization: Bearer $ADMIN" ${4:+-d "$4"} "http://post/api/v1/$3"
}
# rule N PORT: a rule for box tapbox set through post N; prints its id.
rule() {
	api "$1" POST "taps?box=tapbox" "{\"rule\":\"--from h1 --direction in --to mon udp dst port $2\"}" |
		jq -r .id
}
# report N ID: "state matched mirrored" of rule ID, read through post N.
report() {
	api "$1" GET "taps?box=tapbox" |
		jq -r ".taps[] | select(.id == $2) | \"\(.state) \(.counters.matched) \(.counters.mirrored)\""
}
taps() { ip netns exec "$H" "$AGENT" tap --control "$CTL" list; }

post_start 1 || { fail "post 1 starts"; finish; }
post_start 2 || { fail "post 2 starts"; finish; }

# A sends to H's h1; H mirrors to mon, whose peer mon2 takes the copies.
A=$(ns_add a) && H=$(ns_add h) || exit 1
static_pair "$A" ea 198.18.20.1 "$H" h1 198.18.20.2
ip -n "$H" link add mon type veth peer name mon2
ip -n "$H" link set mon up
ip -n "$H" link set mon2 up

id1=$(rule 1 9021)
check "a rule set through post 1 is stored" test "$id1" -ge 1
agent_start "$H" ag -i h1 --post "unix:$SV_TMP/p1.sock" --post "unix:$SV_TMP/p2.sock" \
	--token "$TOKEN" --box tapbox --spool "$SV_TMP/spool" --control "$CTL" \
	--allow-remote-tap --tap-allow-to iface:mon || exit 1
check "the agent applies the rule set through post 1" wait_for 20 sh -c \
	"ip netns exec $H $AGENT tap --control $CTL list | grep -q 'origin=post.*dst port 9021'"
wait_eq 20 "active 0 0" report 2 "$id1"
check_eq "its report, read through post 2" "active 0 0" "$(report 2 "$id1")"

kill -KILL "${POST_PID[1]}"
wait "${POST_PID[1]}" 2>/dev/null
forget_pid "${POST_PID[1]}"
id2=$(rule 2 9022)
check "post 1 killed: a rule set through post 2 is stored" test "$id2" -gt "$id1"
check "post 1 killed: the agent applies the rule set through post 2" wait_for 20 sh -c \
	"ip netns exec $H $AGENT tap --control $CTL list | grep -q 'origin=post.*dst port 9022'"
check_eq "post 1 killed: both of the post's rules in the agent" 2 "$(taps | grep -c origin=post)"
ip netns exec "$A" "$TOOLS/udpsend" -n 25 -s 100 198.18.20.2 9022 >/dev/null
wait_eq 20 "active 25 25" report 2 "$id2"
check_eq "post 1 killed: the rule's counters reach post 2" "active 25 25" "$(report 2 "$id2")"
check_eq "the agent says once that the tap rules moved to post 2" 1 \
	"$(grep -c "tap rules: post unix:$SV_TMP/p1.sock: .*; now from post unix:$SV_TMP/p2.sock" \
		"$SV_TMP/ag.err")"

api 2 DELETE "taps/$id2" >/dev/null
check "deleted through post 2: the agent removes the rule" wait_for 20 sh -c \
	"! ip netns exec $H $AGENT tap --control $CTL list | grep -q 'dst port 9022'"
check_eq "deleted through post 2: the other rule stays" 1 "$(taps | grep -c 'origin=post.*9021')"

# Back the other way: post 1 started again, post 2 killed; the agent moves on from post 2.
post_start 1 || fail "post 1 starts again"
kill -KILL "${POST_PID[2]}"
wait "${POST_PID[2]}" 2>/dev/null
forget_pid "${POST_PID[2]}"
id3=$(rule 1 9023)
check "post 2 killed, post 1 back: the agent applies the rule set through post 1" wait_for 20 sh -c \
	"ip netns exec $H $AGENT tap --control $CTL list | grep -q 'origin=post.*dst port 9023'"
wait_eq 20 "active 0 0" report 1 "$id3"
check_eq "post 2 killed, post 1 back: its report reaches post 1" "active 0 0" "$(report 1 "$id3")"
stop_pid "$AGENT_PID"
check_eq "agent exits 0" 0 $?
grep 'tap rules' "$SV_TMP/ag.err"
finish
