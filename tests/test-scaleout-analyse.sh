#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Detection and trajectories for a site of two posts over a two-shard ClickHouse cluster
# (docs/scale-out.md, "One analyser"): the boxes deliver to different posts (their first
# --post differs), yet
#  1. an nmap ping sweep whose probes two routers see half each (12 hosts behind each, each
#     router's agent delivering to another post, the threshold 20 hosts) raises one alert,
#     read through either post;
#  2. packets routed A -> B -> C, A and C delivering to post 1 and B to post 2, join into
#     whole paths A > B > B > C, none lost;
#  3. the analyser killed (SIGKILL), the other post takes the role over; the sweep going on
#     extends the alert instead of raising a second, and no path is stored twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/clickhouse.sh"
need_root scaleout-analyse
for t in nmap jq curl; do
	command -v $t >/dev/null || { skip "scaleout-analyse: $t is not installed"; finish; }
done
POST=$SV_ROOT/build/sitevisor-post
TOKEN=analyse-token-$RUN_ID

ch_start 2 || { fail "two ClickHouse shards start"; finish; }

# post_start N: post N on unix socket $SV_TMP/pN.sock over the cluster; sets POST_PID[N].
POST_PID=()
post_start() {
	rm -f "$SV_TMP/p$1.sock"
	bg "$POST" --listen "unix:$SV_TMP/p$1.sock" --token "$TOKEN" --path-hold 3 \
		"${CH_STORE[@]}" 2>>"$SV_TMP/p$1.err"
	POST_PID[$1]=$BG_PID
	wait_for 20 test -S "$SV_TMP/p$1.sock"
}
api() { curl -sf --max-time 20 --unix-socket "$SV_TMP/p$1.sock" "http://post/api/v1/$2"; }
# analyser N: "1" if post N says it is the analyser, "0" if not.
analyser() {
	curl -sf --max-time 10 --unix-socket "$SV_TMP/p$1.sock" http://post/metrics |
		awk '/^sitevisor_post_analyser\{/ { print $2 }'
}
sweeps() { api "$1" "alerts?type=host_sweep&src=198.18.22.2&since=$t0" | jq -c '[.alerts[] | .id]'; }

post_start 1 || { fail "post 1 starts"; finish; }
post_start 2 || { fail "post 2 starts"; finish; }
P1=unix:$SV_TMP/p1.sock
P2=unix:$SV_TMP/p2.sock
both() { echo "$(analyser 1)$(analyser 2)"; }
# Settled: the same answer three seconds in a row (at the start both may be candidates).
same=0 state=""
for i in $(seq 1 30); do
	now=$(both)
	case "$now" in 10 | 01) [ "$now" = "$state" ] && same=$((same + 1)) || same=0 ;; *) same=0 ;; esac
	state=$now
	[ $same -ge 3 ] && break
	sleep 1
done
check "one post, and only one, is the analyser (post 1 and 2 say: '$state')" \
	test "$state" = 10 -o "$state" = 01
if [ "$state" != 10 ] && [ "$state" != 01 ]; then
	for n in 1 2; do
		curl -s --unix-socket "$SV_TMP/p$n.sock" http://post/metrics | grep analyser
	done
	ch_query 0 "SELECT post, max(beat_ns), argMax(analyser, beat_ns) FROM sv.posts GROUP BY post"
	date +%s%N
fi
t0=$(($(date +%s) - 60))

# --- the topology: an attacker reaching 198.18.30.0/24 through R1, 198.18.31.0/24 through
# R2 (from one address); A - B - C routed, B forwarding. ---
ATK=$(ns_add atk) && R1=$(ns_add r1) && R2=$(ns_add r2) || finish
A=$(ns_add a) && B=$(ns_add b) && C=$(ns_add c) || finish
for ns in "$ATK" "$R1" "$R2" "$A" "$B" "$C"; do no_ipv6 "$ns" all; no_ipv6 "$ns" default; done
static_pair "$ATK" e1 198.18.20.2 "$R1" ra 198.18.20.1 || finish
static_pair "$ATK" e2 198.18.21.2 "$R2" ra 198.18.21.1 || finish
# One source address whichever way a probe goes.
ip -n "$ATK" addr add 198.18.22.2/32 dev lo
ip -n "$ATK" route add 198.18.30.0/24 via 198.18.20.1 src 198.18.22.2
ip -n "$ATK" route add 198.18.31.0/24 via 198.18.21.1 src 198.18.22.2
static_pair "$A" ab 198.18.40.2 "$B" ba 198.18.40.1 || finish
static_pair "$C" cb 198.18.41.2 "$B" bc 198.18.41.1 || finish
ip -n "$A" route add 198.18.41.0/24 via 198.18.40.1
ip -n "$C" route add 198.18.40.0/24 via 198.18.41.1
ip netns exec "$B" sysctl -qw net.ipv4.ip_forward=1
check "A reaches C through B" wait_for 5 ip netns exec "$A" ping -c 1 -W 1 198.18.41.2

# R1 and A, C deliver to post 1 first, R2 and B to post 2 first.
agent_start "$R1" r1 --post "$P1" --post "$P2" --token "$TOKEN" --box r1 \
	--spool "$SV_TMP/spool-r1" || finish
agent_start "$R2" r2 --post "$P2" --post "$P1" --token "$TOKEN" --box r2 \
	--spool "$SV_TMP/spool-r2" || finish
for n in A B C; do
	eval "ns=\$$n"
	first=$P1 second=$P2
	[ $n = B ] && first=$P2 second=$P1
	agent_start "$ns" "$n" --post "$first" --post "$second" --token "$TOKEN" --box "$n" \
		--spool "$SV_TMP/spool-$n" --trajectory 1 || finish
done

# --- 1. a sweep split over two posts ---
ip netns exec "$ATK" nmap -n -sn -T5 198.18.30.1-12 198.18.31.1-12 >"$SV_TMP/nmap1.out" 2>&1
for i in $(seq 1 30); do [ "$(sweeps 1)" != "[]" ] && break; sleep 1; done
sleep 3 # the routers' last records: an alert extended, never a second one
check_eq "sweep over two posts: one alert, read through post 1" 1 "$(sweeps 1 | jq length)"
check_eq "...the same one through post 2" "$(sweeps 1)" "$(sweeps 2)"
raised() { # N: host sweeps post N raised
	curl -sf --max-time 10 --unix-socket "$SV_TMP/p$1.sock" http://post/metrics |
		awk '/^sitevisor_post_alerts_raised_total\{type="host_sweep"\}/ { print $2 }'
}
check_eq "...raised once, by one post (raised by post 1 + post 2)" 1 $(($(raised 1) + $(raised 2)))
hosts() { # BOX: the distinct hosts the attacker probed that BOX's records show
	api 1 "flows?box=$1&src_addr=198.18.22.2&since=$t0&limit=10000" |
		jq '[.flows[].dst_addr] | unique | length'
}
check_eq "r1 (delivering to post 1) saw 12 hosts, below the threshold of 20" 12 "$(hosts r1)"
check_eq "r2 (delivering to post 2) saw 12 hosts, below the threshold of 20" 12 "$(hosts r2)"
alert=$(api 2 "alerts?type=host_sweep&src=198.18.22.2&since=$t0" | jq -c '.alerts[0]')
check_eq "the alert counts the 24 hosts of both halves" 24 "$(jq .host_count <<<"$alert")"
check_eq "...seen by both routers" '["r1","r2"]' "$(jq -c '.boxes | sort' <<<"$alert")"
# stored_by BOX...: the posts (their ids) that stored each box's batches, one line a box.
stored_by() {
	local q="SELECT box, arrayStringConcat(arraySort(groupUniqArray(post)), ',') FROM sv.batches"
	q+=" WHERE state = 1 AND box IN ('$(sed "s/ /','/g" <<<"$*")') GROUP BY box ORDER BY box"
	ch_query 0 "$q FORMAT TabSeparated"
}
by=$(stored_by r1 r2)
check_eq "each router's batches were stored by one post" 2 "$(awk '$2 !~ /,/' <<<"$by" | wc -l)"
check "...r1's and r2's by different posts" test "$(awk '{ print $2 }' <<<"$by" | sort -u | wc -l)" = 2

# --- 2. a routed path over two posts ---
ip netns exec "$A" "$TOOLS/udpsend" -n 50 -s 64 -p 47001 -g 20000 198.18.41.2 9701 >/dev/null
paths() {
	api "$1" "paths?src_addr=198.18.40.2&dst_addr=198.18.41.2&protocol=udp&dst_port=9701&since=$t0&limit=10000"
}
for i in $(seq 1 30); do [ "$(paths 1 | jq '.paths | length')" -ge 50 ] && break; sleep 1; done
sleep 2
p=$(paths 2)
WAY="A/ab/egress B/ba/ingress B/bc/egress C/cb/ingress"
hopstr='[.hops[] | "\(.box)/\(.iface)/\(.direction)"] | join(" ")'
check_eq "A -> B -> C over two posts: one path per packet" 50 "$(jq '.paths | length' <<<"$p")"
check_eq "...each whole: $WAY" 50 \
	"$(jq --arg w "$WAY" "[.paths[] | select(($hopstr) == \$w)] | length" <<<"$p")"
check_eq "...none lost" 0 "$(jq '[.paths[] | select(.lost != null)] | length' <<<"$p")"
by=$(stored_by A B C)
check "A's and C's batches stored by one post, B's by the other" test \
	"$(awk '$1 == "A" || $1 == "C" { print $2 }' <<<"$by" | sort -u | wc -l)" = 1 -a \
	"$(awk '$1 == "B" { print $2 }' <<<"$by")" != "$(awk '$1 == "A" { print $2 }' <<<"$by")"

# --- 3. the analyser dies: the other post takes over ---
if [ "$(analyser 1)" = 1 ]; then dead=1 live=2; else dead=2 live=1; fi
check_eq "post $live is not the analyser yet" 0 "$(analyser $live)"
before=$(sweeps $live)
kill -KILL "${POST_PID[$dead]}"
wait "${POST_PID[$dead]}" 2>/dev/null
forget_pid "${POST_PID[$dead]}"
check "post $live takes the analyser's role over" wait_for 20 sh -c \
	"curl -sf --unix-socket '$SV_TMP/p$live.sock' http://post/metrics | grep -q '^sitevisor_post_analyser{.*} 1'"
ip netns exec "$ATK" nmap -n -sn -T5 198.18.30.13-16 >"$SV_TMP/nmap2.out" 2>&1
grow() { [ "$(api $live "alerts?type=host_sweep&src=198.18.22.2&since=$t0" | jq '[.alerts[].host_count] | max')" = 28 ]; }
for i in $(seq 1 30); do grow && break; sleep 1; done
sleep 3
check_eq "after the takeover: still one alert, the same" "$before" "$(sweeps $live)"
check_eq "...extended by the sweep going on: 28 hosts" 28 \
	"$(api $live "alerts?type=host_sweep&src=198.18.22.2&since=$t0" | jq '.alerts[0].host_count')"
check_eq "...no path stored twice by the replay" 50 "$(paths $live | jq '.paths | length')"
check "post $live's metrics show its lag behind the store" sh -c \
	"curl -sf --unix-socket '$SV_TMP/p$live.sock' http://post/metrics | grep -q '^sitevisor_post_analyser_lag_seconds [0-9]'"
sed -n 's/^/post1: /p' "$SV_TMP/p1.err" | grep -v "Couldn't connect" | tail -10
sed -n 's/^/post2: /p' "$SV_TMP/p2.err" | grep -v "Couldn't connect" | tail -10
finish
