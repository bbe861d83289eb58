#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# One site on two posts over a ClickHouse cluster of two shards (docs/scale-out.md): three
# agents in namespaces deliver to both posts (--post twice, in different orders); one post is
# killed mid-run and started again, then one shard is stopped for 20 s and started again.
# Afterwards every box's per-interface, per-direction totals equal the traffic sent, to the
# packet, with no duplicate. A batch that reaches both posts is stored once, and a TAP rule
# set through one post is served by the other.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/clickhouse.sh"
need_root scaleout
POST=$SV_ROOT/build/sitevisor-post
TOKEN=scaleout-token-$RUN_ID
ADMIN=scaleout-admin-$RUN_ID

ch_start 2 || { fail "two ClickHouse shards start"; finish; }

# post_start N: post N on unix socket $SV_TMP/pN.sock over the cluster; sets POST_PID[N].
POST_PID=()
post_start() {
	rm -f "$SV_TMP/p$1.sock"
	bg "$POST" --listen "unix:$SV_TMP/p$1.sock" --token "$TOKEN" --admin-token "$ADMIN" \
		"${CH_STORE[@]}" \
		2>>"$SV_TMP/p$1.err"
	POST_PID[$1]=$BG_PID
	wait_for 20 test -S "$SV_TMP/p$1.sock"
}
api() { curl -sf --max-time 20 --unix-socket "$SV_TMP/p$1.sock" "http://post/api/v1/$2"; }
# post_sum N FIELD QUERY: FIELD summed over the stored records that match, read through post N.
post_sum() {
	local page
	page=$(api "$1" "flows?$3&since=$t0&limit=10000") || { echo "api error"; return; }
	[ "$(jq .more <<<"$page")" = false ] || { echo "more than one page"; return; }
	jq "[.flows[].$2] | add // 0" <<<"$page"
}

post_start 1 || { fail "post 1 starts"; finish; }
post_start 2 || { fail "post 2 starts"; finish; }

# --- the same batch through both posts: stored once ---
{
	printf '{"type":"batch","batch_id":"twice-1","box":"twice","agent_version":"t","interfaces":["e0"]}\n'
	printf '{"type":"flow","box":"twice","iface":"e0","direction":"egress","eth_type":2048,"ip_version":4,"protocol":17,"src_addr":"198.18.9.1","dst_addr":"198.18.9.2","src_port":1,"dst_port":2,"packets":7,"bytes":700,"tcp_flags":0,"first_ns":%s,"last_ns":%s}\n' \
		"$(date +%s)000000000" "$(date +%s)000000000"
} >"$SV_TMP/twice.ndjson"
ingest() {
	curl -s --unix-socket "$SV_TMP/p$1.sock" -H "Authorization: Bearer $TOKEN" \
		--data-binary @"$SV_TMP/twice.ndjson" http://post/api/v1/ingest | jq -c .duplicate
}
check_eq "a batch through post 1, then post 2: stored, then a duplicate" "false true" \
	"$(ingest 1) $(ingest 2)"
t0=$(($(date +%s) - 60))
check_eq "...counted once, read through either post" "7 7" \
	"$(post_sum 1 packets box=twice) $(post_sum 2 packets box=twice)"

# --- a TAP rule set through post 2 is served by post 1 ---
id=$(curl -s --unix-socket "$SV_TMP/p2.sock" -H "Authorization: Bearer $ADMIN" -X POST \
	--data '{"rule":"--from ea --to eb udp"}' "http://post/api/v1/taps?box=boxq" | jq .id)
check_eq "a TAP rule set through post 2 is served by post 1" '"--from ea --to eb udp"' \
	"$(api 1 "taps?box=boxq" | jq -c ".taps[] | select(.id == $id) | .rule")"

# --- three boxes, A and C each wired to B ---
A=$(ns_add a) && B=$(ns_add b) && C=$(ns_add c) || exit 1
static_pair "$A" ea 198.18.10.1 "$B" eb 198.18.10.2
static_pair "$C" ec 198.18.11.1 "$B" ed 198.18.11.2
P1=unix:$SV_TMP/p1.sock
P2=unix:$SV_TMP/p2.sock
agent_start "$A" a --post "$P1" --post "$P2" --token "$TOKEN" --box boxa \
	--spool "$SV_TMP/spool-a" || exit 1
agent_a=$AGENT_PID
agent_start "$B" b --post "$P2" --post "$P1" --token "$TOKEN" --box boxb \
	--spool "$SV_TMP/spool-b" || exit 1
agent_b=$AGENT_PID
agent_start "$C" c --post "$P1" --post "$P2" --token "$TOKEN" --box boxc \
	--spool "$SV_TMP/spool-c" || exit 1
agent_c=$AGENT_PID

# ~45 s of traffic: A -> B, C -> B, B -> A.
bg ip netns exec "$A" "$TOOLS/udpsend" -n 450 -s 100 -p 45001 -g 100000 198.18.10.2 9501
s1=$BG_PID
bg ip netns exec "$C" "$TOOLS/udpsend" -n 300 -s 200 -p 45002 -g 150000 198.18.11.2 9502
s2=$BG_PID
bg ip netns exec "$B" "$TOOLS/udpsend" -n 225 -s 300 -p 45003 -g 200000 198.18.10.1 9503
s3=$BG_PID

sleep 6
kill -KILL "${POST_PID[1]}"
wait "${POST_PID[1]}" 2>/dev/null
forget_pid "${POST_PID[1]}"
sleep 5
post_start 1 || fail "post 1 starts again"
sleep 4
kill -KILL "${CH_PID[1]}"
wait "${CH_PID[1]}" 2>/dev/null
forget_pid "${CH_PID[1]}"
sleep 20
ch_up 1 || fail "shard 2 starts again"
for p in $s1 $s2 $s3; do
	check "traffic $p ends" wait_for 40 sh -c "! kill -0 $p"
done
# The agents' backoff is at most 30 s: each finds a post again by itself.
for n in a b c; do
	check "agent $n: spool emptied" wait_for 45 sh -c \
		"[ \$(find '$SV_TMP/spool-$n' -name 'b-*' | wc -l) -eq 0 ]"
done
sleep 1.5
for n in a b c; do
	eval "pid=\$agent_$n"
	stop_pid "$pid"
	check_eq "agent $n exits 0" 0 $?
	read -r tp tb <<<"$(agent_totals "$SV_TMP/$n.err")"
	check_eq "box$n: every packet the agent saw stored once" "$tp" "$(post_sum 1 packets "box=box$n")"
	check_eq "box$n: every byte the agent saw stored once" "$tb" "$(post_sum 2 bytes "box=box$n")"
done
# 14 + 20 + 8 + payload bytes a frame.
flow() { # NAME BOX IFACE DIRECTION PORT PACKETS SIZE
	check_eq "$1: packets" "$6" "$(post_sum 1 packets "box=$2&iface=$3&direction=$4&dst_port=$5")"
	check_eq "$1: bytes" $(($6 * ($7 + 42))) \
		"$(post_sum 2 bytes "box=$2&iface=$3&direction=$4&dst_port=$5")"
}
flow "A -> B, egress at A" boxa ea egress 9501 450 100
flow "A -> B, ingress at B" boxb eb ingress 9501 450 100
flow "C -> B, egress at C" boxc ec egress 9502 300 200
flow "C -> B, ingress at B" boxb ed ingress 9502 300 200
flow "B -> A, egress at B" boxb eb egress 9503 225 300
flow "B -> A, ingress at A" boxa ea ingress 9503 225 300
check "post 1 was killed: agents failed over to post 2" grep -q . "$SV_TMP/p2.err"
sed -n 's/^/post1: /p' "$SV_TMP/p1.err" | grep -v "Couldn't connect\|Code: 279" | tail -20
sed -n 's/^/post2: /p' "$SV_TMP/p2.err" | grep -v "Couldn't connect\|Code: 279" | tail -20
finish
