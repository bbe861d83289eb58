#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The post's benchmark (a report, not a test): ingest records per second into the embedded
# store, then p50/p99 latency of the dashboard's queries over 10 million stored flows.
# POST_BENCH_FLOWS changes the 10 million.
. "$(dirname "$0")/../tests/lib.sh"
POST=$SV_ROOT/build/sitevisor-post
LOAD=$SV_ROOT/build/bench/ingest_load
TOKEN=bench-token-123
PORT=$((20000 + $$ % 12000)) # below the ephemeral ports (32768-60999)
URL=http://127.0.0.1:$PORT
TOTAL=${POST_BENCH_FLOWS:-10000000}
TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

start_post() { # THREADS [DB]
	"$POST" --db "$SV_TMP/${2:-bench.db}" --listen "127.0.0.1:$PORT" --token "$TOKEN" \
		--threads "$1" --retention 30 2>"$SV_TMP/post.err" &
	POST_PID=$!
	SV_PIDS+=("$POST_PID")
	wait_for 10 grep -q 'listening on' "$SV_TMP/post.err"
}

# load N SECONDS: two senders of N/2 records each, their times spread over the last SECONDS,
# started together once both have built their bodies; prints the records per second of wall
# time and per post CPU-second.
load() {
	local n=$1 secs=$2 go=$SV_TMP/go.$RANDOM c0 c1 t0 t1 l1 l2
	"$LOAD" -u "$URL" -t "$TOKEN" -n $((n / 2)) -b 5000 -r "$secs" -s $RANDOM -w "$go" >"$SV_TMP/l1" &
	l1=$!
	"$LOAD" -u "$URL" -t "$TOKEN" -n $((n - n / 2)) -b 5000 -r "$secs" -s $RANDOM -w "$go" >"$SV_TMP/l2" &
	l2=$!
	wait_for 600 sh -c "grep -q ready $SV_TMP/l1 && grep -q ready $SV_TMP/l2"
	c0=$(cpu_ticks "$POST_PID")
	t0=$(date +%s%N)
	touch "$go"
	wait $l1 $l2
	t1=$(date +%s%N)
	c1=$(cpu_ticks "$POST_PID")
	echo "$n records: $((n * 1000000000 / (t1 - t0))) records/s wall, $((n * TCK / (c1 - c0 + 1))) records per post CPU-second"
}

echo "== data: 3 boxes, 3000 conversations each (500 clients, 200 servers, 10 services),"
echo "   picked with a strong skew, a few source ports each (bench/tools/ingest_load.c)"
echo "== post ingest (one HTTP worker thread, so one core; two senders keep it busy)"
echo "   records of the last 30 s, as agents send them (each its last interval's flows)"
echo "   into a new store:"
start_post 1 fresh.db
load 1000000 30
stop_pid "$POST_PID" >/dev/null
rm -f "$SV_TMP"/fresh.db*

echo "== importing history: a store filled to $TOTAL flows over the last 7 days (steps of 2"
echo "   million; older records than a new store holds, so not the ingest rate)"
start_post 1
left=$TOTAL
while [ "$left" -gt 0 ]; do
	n=$((left > 2000000 ? 2000000 : left))
	load "$n" $((7 * 86400))
	left=$((left - n))
done
# The store was created now, so its top-talker levels fill back over the week of records
# that arrived "late" (an upgrade does the same), once no more arrive: wait, say the cost.
pending() { curl -s "$URL/metrics" | awk '/^sitevisor_post_rollup_pending_buckets/ { print $2 }'; }
c0=$(cpu_ticks "$POST_PID")
t0=$(date +%s)
wait_for 1800 sh -c "[ \"\$(curl -s $URL/metrics | awk '/^sitevisor_post_rollup_pending_buckets/ { print \$2 }')\" = 0 ]" ||
	echo "rollups still behind: $(pending) buckets"
c1=$(cpu_ticks "$POST_PID")
echo "rollups filled back over the imported week in $(($(date +%s) - t0)) s (120 s of it waiting" \
	"for the import to end), $(((c1 - c0) / TCK)) post CPU-s"
stop_pid "$POST_PID" >/dev/null

# Into a copy, so the queries below see the week's density, not a million records a minute.
echo "== ingest into the full store (a copy), records of the last 30 s:"
cp "$SV_TMP/bench.db" "$SV_TMP/full.db"
start_post 1 full.db
load 1000000 30
stop_pid "$POST_PID" >/dev/null
rm -f "$SV_TMP"/full.db*

start_post 4
stored=$(curl -s "$URL/api/v1/boxes" | jq '[.boxes[].flows] | add')
size=$(du -m "$SV_TMP/bench.db" | cut -f1)
echo "stored flows: $stored; database: $size MiB"

. "$(dirname "$0")/lat.sh"
printf '\n%-42s %8s %8s %8s\n' query p50_ms p99_ms items
now=$(date +%s)
lat "top by src, last hour" "/api/v1/top?by=src"
lat "top by pair, last hour" "/api/v1/top?by=pair"
lat "top by port, last hour" "/api/v1/top?by=port"
lat "top by src, last 24 h" "/api/v1/top?by=src&since=$((now - 86400))"
lat "top by pair, last 24 h" "/api/v1/top?by=pair&since=$((now - 86400))"
lat "top by src, box0 egress, last hour" "/api/v1/top?by=src&box=box0&direction=egress"
lat "top by src, last 7 days" "/api/v1/top?by=src&since=$((now - 7 * 86400))"
lat "series, last 15 min, 10 s steps (raw)" "/api/v1/series?since=$((now - 900))&step=10"
lat "series box0, last hour, 60 s (rollups)" "/api/v1/series?box=box0&step=60"
lat "series, last 24 h, 60 s (rollups)" "/api/v1/series?since=$((now - 86400))&step=60"
lat "series, last 7 days, 1 h (rollups)" "/api/v1/series?since=$((now - 7 * 86400))&step=3600"
lat "flows, newest 100" "/api/v1/flows?limit=100"
lat "flows, addr filter, last hour" "/api/v1/flows?addr=198.18.0.5&limit=100"
echo
echo "Targets: ingest >= 200000 records/s on one core; dashboard queries p99 < 100 ms."
