#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The post goes away: with steady UDP traffic between two boxes, the post is stopped for 30 s
# and started again on the same database. Every packet must still be stored exactly once, and
# each agent must say once that the post became unreachable and once that it is back. Then a
# spool too small for an outage: the oldest batches are dropped, and what they held is
# counted, so that delivered + dropped = everything the agent saw.
. "$(dirname "$0")/lib.sh"
need_root outage
POST=$SV_ROOT/build/sitevisor-post
TOKEN=outage-token-$RUN_ID
sock=$SV_TMP/post.sock

A=$(ns_add a) && B=$(ns_add b) || exit 1
veth "$A" ea "$B" eb
no_ipv6 "$A" ea
no_ipv6 "$B" eb
ip -n "$A" addr add 198.18.8.1/24 dev ea
ip -n "$B" addr add 198.18.8.2/24 dev eb
wait_for 5 ip netns exec "$A" ping -c 1 -W 1 198.18.8.2 || fail "ping before tracing"

post_start() {
	bg "$POST" --listen "unix:$sock" --db "$SV_TMP/post.db" --token "$TOKEN" 2>>"$SV_TMP/post.err"
	POST_PID=$BG_PID
	wait_for 10 test -S "$sock"
}
api() { curl -sf --max-time 10 --unix-socket "$sock" "http://post/api/v1/$1"; }
# post_sum FIELD QUERY: FIELD summed over every stored record that matches (one page).
post_sum() {
	local page
	page=$(api "flows?$2&since=$t0&limit=10000") || { echo "api error"; return; }
	[ "$(jq .more <<<"$page")" = false ] || { echo "more than one page"; return; }
	jq "[.flows[].$1] | add // 0" <<<"$page"
}
spooled() { find "$1" -name 'b-*' | wc -l; }

post_start || { fail "post did not start"; finish; }
t0=$(($(date +%s) - 60))
agent_start "$A" a --post "unix:$sock" --token "$TOKEN" --box boxa --spool "$SV_TMP/spool-a" || exit 1
agent_a=$AGENT_PID
agent_start "$B" b --post "unix:$sock" --token "$TOKEN" --box boxb --spool "$SV_TMP/spool-b" || exit 1
agent_b=$AGENT_PID

# ~45 s of traffic: 10 datagrams a second one way, 5 the other.
bg ip netns exec "$A" "$TOOLS/udpsend" -n 450 -s 100 -p 43001 -g 100000 198.18.8.2 9301
send_ab=$BG_PID
bg ip netns exec "$B" "$TOOLS/udpsend" -n 225 -s 300 -p 43002 -g 200000 198.18.8.1 9302
send_ba=$BG_PID
sleep 8
stop_pid "$POST_PID"
check_eq "post stops on SIGTERM" 0 $?
down_at=$(date +%s)
check "agent a notices the post is gone" wait_for 10 grep -q 'unreachable' "$SV_TMP/a.err"
check "agent b notices the post is gone" wait_for 10 grep -q 'unreachable' "$SV_TMP/b.err"
sleep 20
check "batches wait in a's spool during the outage" test "$(spooled "$SV_TMP/spool-a")" -ge 10
sleep $((down_at + 30 - $(date +%s)))
post_start || fail "post restarts on the same database"
check "traffic a -> b ends" wait_for 30 sh -c "! kill -0 $send_ab"
check "traffic b -> a ends" wait_for 10 sh -c "! kill -0 $send_ba"
# The backoff is at most 30 s (jittered), so each agent finds the post again by itself.
check "agent a finds the post again" wait_for 35 grep -q 'accepts batches again' "$SV_TMP/a.err"
check "agent b finds the post again" wait_for 35 grep -q 'accepts batches again' "$SV_TMP/b.err"
sleep 0.5
for n in a b; do
	eval "pid=\$agent_$n"
	stop_pid "$pid"
	check_eq "agent $n exits 0" 0 $?
	sed -n 's/^/'$n': /; /packets, \|post: \|unreachable\|again\|dropped/p' "$SV_TMP/$n.err"
	check_eq "agent $n: one line for the outage" 1 "$(grep -c 'unreachable: ' "$SV_TMP/$n.err")"
	check_eq "agent $n: one line for the recovery" 1 "$(grep -c 'accepts batches again' "$SV_TMP/$n.err")"
	check_eq "agent $n: spool emptied" 0 "$(spooled "$SV_TMP/spool-$n")"
	read -r tp tb <<<"$(agent_totals "$SV_TMP/$n.err")"
	check_eq "box$n: post stored every packet the agent saw, once" "$tp" "$(post_sum packets "box=box$n")"
	check_eq "box$n: post stored every byte the agent saw, once" "$tb" "$(post_sum bytes "box=box$n")"
done
# 14 + 20 + 8 + payload bytes a frame.
check_eq "a -> b egress packets" 450 "$(post_sum packets "box=boxa&direction=egress&dst_port=9301")"
check_eq "a -> b egress bytes" $((450 * 142)) "$(post_sum bytes "box=boxa&direction=egress&dst_port=9301")"
check_eq "a -> b ingress packets" 450 "$(post_sum packets "box=boxb&direction=ingress&dst_port=9301")"
check_eq "a -> b ingress bytes" $((450 * 142)) "$(post_sum bytes "box=boxb&direction=ingress&dst_port=9301")"
check_eq "b -> a egress packets" 225 "$(post_sum packets "box=boxb&direction=egress&dst_port=9302")"
check_eq "b -> a egress bytes" $((225 * 342)) "$(post_sum bytes "box=boxb&direction=egress&dst_port=9302")"
check_eq "b -> a ingress packets" 225 "$(post_sum packets "box=boxa&direction=ingress&dst_port=9302")"
check_eq "b -> a ingress bytes" $((225 * 342)) "$(post_sum bytes "box=boxa&direction=ingress&dst_port=9302")"

# --- a spool of 1 MiB with the post down: the oldest batches go, and are counted ---
stop_pid "$POST_PID"
agent_start "$A" s --post "unix:$sock" --token "$TOKEN" --box boxs --spool "$SV_TMP/spool-s" \
	--spool-max 1 --drain-timeout 10 || exit 1
agent_s=$AGENT_PID
# 400 flows for 10 s, each a record (~370 bytes) a second: about 1.5 MiB of batches.
flows() {
	local p
	for p in $(seq 44000 44399); do
		"$TOOLS/udpsend" -n 20 -s 10 -p "$p" -g 500000 198.18.8.2 9400 >/dev/null &
	done
	wait
}
bg ip netns exec "$A" bash -c "TOOLS=$TOOLS; $(declare -f flows); flows"
senders=$BG_PID
check "spool full: the agent says it dropped batches" \
	wait_for 30 grep -q 'full (1 MiB): dropped the' "$SV_TMP/s.err"
bytes=$(find "$SV_TMP/spool-s" -name 'b-*' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
check "spool stays within 1 MiB ($bytes bytes)" test "$bytes" -le 1048576
check "the 400 flows end" wait_for 20 sh -c "! kill -0 $senders"
post_start || fail "post starts again"
stop_pid "$agent_s"
check_eq "agent s exits 0" 0 $?
sed -n 's/^/s: /; /packets, \|post: \|dropped/p' "$SV_TMP/s.err"
summ=$(grep 'post: ' "$SV_TMP/s.err")
dropped=$(sed -n 's/.*; \([0-9]*\) records dropped (spool full), \([0-9]*\) packets in them;.*/\1 \2/p' <<<"$summ")
read -r drec dpk <<<"$dropped"
check "spool full: exit summary counts dropped records ($drec)" test "${drec:-0}" -gt 0
check_eq "spool full: nothing else lost or left" 1 \
	"$(grep -c ' 0 records refused by the post; 0 records not spooled; 0 batches (0 records) remain' <<<"$summ")"
recs=$(sed -n 's/.* bytes, \([0-9]*\) flow records;.*/\1/p' "$SV_TMP/s.err")
read -r tp tb <<<"$(agent_totals "$SV_TMP/s.err")"
stored_recs=$(api boxes | jq '.boxes[] | select(.name == "boxs") | .flows')
check_eq "spool full: records delivered + dropped = all the agent wrote" "$recs" $((stored_recs + drec))
check_eq "spool full: packets delivered + dropped = all the agent saw" "$tp" \
	$(($(post_sum packets "box=boxs") + dpk))
finish
