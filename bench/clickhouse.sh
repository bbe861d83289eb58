#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The ClickHouse store's benchmark (a report, not a test; docs/scale-out.md): ingest records
# per post CPU-second and per ClickHouse CPU-second with one post and with two, then p50/p99
# of the dashboard's queries and disk bytes per record over CH_BENCH_FLOWS stored flows
# (default 100 million, spread over the last 7 days), on a ClickHouse server this script
# starts (tests/clickhouse.sh). CH_BENCH_INGEST_ONLY=1 stops after the ingest rows;
# CH_BENCH_POST names another sitevisor-post to measure (a build from before a change).
. "$(dirname "$0")/../tests/lib.sh"
. "$(dirname "$0")/../tests/clickhouse.sh"
POST=${CH_BENCH_POST:-$SV_ROOT/build/sitevisor-post}
LOAD=$SV_ROOT/build/bench/ingest_load
TOKEN=bench-token-123
PORT=$((20000 + $$ % 10000)) # below the ClickHouse servers' (tests/clickhouse.sh)
TOTAL=${CH_BENCH_FLOWS:-100000000}
TCK=$(getconf CLK_TCK)
SEED=$$
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

ch_start 1 || { echo "ClickHouse does not start (make deps installs it)"; exit 1; }
POSTS=()
start_post() { # N: post N on PORT + N
	"$POST" "${CH_STORE[@]}" --listen "127.0.0.1:$((PORT + $1))" --token "$TOKEN" \
		--threads 4 --retention 30 --no-detect 2>"$SV_TMP/post$1.err" &
	POSTS[$1]=$!
	SV_PIDS+=("${POSTS[$1]}")
	wait_for 20 grep -q 'listening on' "$SV_TMP/post$1.err"
}

# load N SECONDS POSTS...: two senders per post of N/(2 * posts) records each over the last
# SECONDS; prints records per second of wall time, per post CPU-second (all posts) and per
# ClickHouse CPU-second.
load() {
	local n=$1 secs=$2 go=$SV_TMP/go.$RANDOM p i pids=() per c0=0 c1=0 h0 h1 t0 t1
	shift 2
	per=$((n / (2 * $#)))
	for p in "$@"; do
		for i in 1 2; do
			# Distinct seeds: two senders of one seed would send the same batch ids,
			# which the store keeps once.
			SEED=$((SEED + 1))
			"$LOAD" -u "http://127.0.0.1:$((PORT + p))" -t "$TOKEN" -n "$per" -b 20000 \
				-r "$secs" -s "$SEED" -w "$go" >"$SV_TMP/l$p$i" &
			pids+=($!)
		done
	done
	wait_for 600 sh -c "[ \$(cat $SV_TMP/l[0-9]* | grep -c ready) -eq ${#pids[@]} ]"
	for p in "$@"; do c0=$((c0 + $(cpu_ticks "${POSTS[$p]}"))); done
	h0=$(cpu_ticks "${CH_PID[0]}")
	t0=$(date +%s%N)
	touch "$go"
	wait "${pids[@]}"
	t1=$(date +%s%N)
	for p in "$@"; do c1=$((c1 + $(cpu_ticks "${POSTS[$p]}"))); done
	h1=$(cpu_ticks "${CH_PID[0]}")
	n=$((per * 2 * $#))
	echo "$n records, $# post(s): $((n * 1000000000 / (t1 - t0))) records/s wall," \
		"$((n * TCK / (c1 - c0 + 1))) per post CPU-second," \
		"$((n * TCK / (h1 - h0 + 1))) per ClickHouse CPU-second"
	rm -f "$SV_TMP"/l[0-9]*
}

echo "== ClickHouse $(ch_query 0 'SELECT version()'), one server, records of the last 30 s"
start_post 0
start_post 1
load 1000000 30 0
load 1000000 30 0 1
stop_pid "${POSTS[1]}" >/dev/null
[ -n "$CH_BENCH_INGEST_ONLY" ] && exit 0

echo "== filling to $TOTAL flows over the last 7 days (steps of 4 million)"
left=$((TOTAL - 2000000))
while [ "$left" -gt 0 ]; do
	n=$((left > 4000000 ? 4000000 : left))
	load "$n" $((7 * 86400)) 0 >/dev/null
	left=$((left - n))
done
ch_query 0 "OPTIMIZE TABLE sv.rollup_minute_local FINAL" >/dev/null
stored=$(ch_query 0 "SELECT count() FROM sv.flows_local")
bytes=$(ch_query 0 "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'sv' AND active")
flow_bytes=$(ch_query 0 "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'sv' AND table = 'flows_local' AND active")
echo "stored flows: $stored; on disk: $bytes bytes, $((bytes / stored)) per record" \
	"($((flow_bytes / stored)) the records alone, the rest sums and batch ids)"

URL=http://127.0.0.1:$PORT
. "$(dirname "$0")/lat.sh"
printf '\n%-42s %8s %8s %8s\n' query p50_ms p99_ms items
now=$(date +%s)
lat "top by src, last hour" "/api/v1/top?by=src"
lat "top by pair, last hour" "/api/v1/top?by=pair"
lat "top by port, last hour" "/api/v1/top?by=port"
lat "top by src, last 24 h" "/api/v1/top?by=src&since=$((now - 86400))"
lat "top by src, box0 egress, last hour" "/api/v1/top?by=src&box=box0&direction=egress"
lat "series, last 15 min, 10 s steps (raw)" "/api/v1/series?since=$((now - 900))&step=10"
lat "series box0, last hour, 60 s (sums)" "/api/v1/series?box=box0&step=60"
lat "series, last 24 h, 60 s (sums)" "/api/v1/series?since=$((now - 86400))&step=60"
lat "series, last 7 days, 1 h (sums)" "/api/v1/series?since=$((now - 7 * 86400))&step=3600"
lat "flows, newest 100" "/api/v1/flows?limit=100"
lat "flows, addr filter, last hour" "/api/v1/flows?addr=198.18.0.5&limit=100"
echo
echo "Targets: 500000 records per post CPU-second; dashboard queries p99 < 100 ms at 100 M;"
echo "at most 20 bytes of disk per record."
