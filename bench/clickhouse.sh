#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The ClickHouse store's benchmark (a report, not a test; docs/scale-out.md): ingest records
# per post CPU-second and per ClickHouse CPU-second with one post and with two, each without
# and with trajectory fingerprints (1 packet in CH_BENCH_TRAJ, default 64, as the agent's
# --trajectory 64 that docs/paths.md advises), then p50/p99
# of the dashboard's queries and disk bytes per record over CH_BENCH_FLOWS stored flows
# (default 100 million, spread over the last 7 days; all but the ingest's 4 million made by
# ClickHouse itself unless CH_BENCH_FILL=post), on a ClickHouse server this script starts
# (tests/clickhouse.sh); disk per record after merging, with LZ4 and then with zstd.
# CH_BENCH_INGEST_ONLY=1 stops after the ingest rows (CH_BENCH_ROUNDS=N repeats them, for a
# spread on a noisy machine); CH_BENCH_POST names another sitevisor-post to measure (a build
# from before a change).
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
# ingest_ticks PID: CPU ticks of the post's HTTP workers, where a batch is parsed, turned into
# rows and inserted (the group's leader inserts for all). The post's other threads (the
# analyser's feed and join, heartbeats) are not ingest: whichever post the election makes the
# analyser, its reading the batches back stays out of the ingest's figures.
ingest_ticks() {
	local t s=0
	for t in /proc/"$1"/task/*; do
		[ "$(cat "$t/comm" 2>/dev/null)" = MHD-worker ] &&
			s=$((s + $(awk '{ print $14 + $15 }' "$t/stat")))
	done
	echo "$s"
}

ch_start 1 || { echo "ClickHouse does not start (make deps installs it)"; exit 1; }
POSTS=()
start_post() { # N: post N on PORT + N
	"$POST" "${CH_STORE[@]}" --listen "127.0.0.1:$((PORT + $1))" --token "$TOKEN" \
		--threads 4 --retention 30 --no-detect 2>"$SV_TMP/post$1.err" &
	POSTS[$1]=$!
	SV_PIDS+=("${POSTS[$1]}")
	wait_for 20 grep -q 'listening on' "$SV_TMP/post$1.err"
}
# metric NAME: the sum over the posts of their metric NAME (its first sample each).
metric() {
	local p s=0 v
	for p in "${!POSTS[@]}"; do
		v=$(curl -sf --max-time 10 -H "Authorization: Bearer $TOKEN" \
			"http://127.0.0.1:$((PORT + p))/metrics" |
			awk -v m="$1" '$1 == m || index($1, m "{") == 1 { print $2; exit }')
		s=$((s + ${v:-0}))
	done
	echo "$s"
}
analysed() { [ "$(metric sitevisor_post_analyser_batches_total)" -ge "$1" ]; } # N batches
joined() { metric 'sitevisor_post_path_fingerprints_total{result="joined"}'; }
dropped() { metric 'sitevisor_post_path_fingerprints_total{result="dropped"}'; }
# paths_final N: the analyser has finalized N packets' paths (ingest_load's fingerprints have
# hashes of their own: one packet each).
paths_final() { [ "$(metric sitevisor_post_paths_total)" -ge "$1" ]; }
# other_ticks: CPU ticks of every post's threads but the HTTP workers: the analysis.
other_ticks() {
	local p s=0
	for p in "${POSTS[@]}"; do s=$((s + $(cpu_ticks "$p") - $(ingest_ticks "$p"))); done
	echo "$s"
}
rows() { ch_query 0 "SELECT count() FROM sv.$1_local"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }

# load N SECONDS TRAJ POSTS...: two senders per post of N/(2 * posts) records each over the last
# SECONDS, with fingerprints of 1 packet in TRAJ (0: none); prints records per second of wall
# time, per post CPU-second (the ingest's threads of all posts) and per ClickHouse CPU-second,
# and checks that every fingerprint and a feed row per batch are stored. Then waits until the
# analyser has read every batch back and finalized its fingerprints' paths, and prints the
# records per CPU-second of the analysis (every post's other threads) and ClickHouse's for
# ingest and analysis together. Sets L_POST, L_CH, L_AN.
load() {
	local n=$1 secs=$2 traj=$3 go=$SV_TMP/go.$RANDOM p i pids=() per c0=0 c1=0 h0 h1 h2 t0 t1
	local a0 a1 b0 j0 d0 f0 nb fp0 fd0 fps=0 fpline=""
	shift 3
	per=$((n / (2 * $#)))
	for p in "$@"; do
		for i in 1 2; do
			# Distinct seeds: two senders of one seed would send the same batch ids,
			# which the store keeps once.
			SEED=$((SEED + 1))
			"$LOAD" -u "http://127.0.0.1:$((PORT + p))" -t "$TOKEN" -n "$per" -b 20000 \
				-r "$secs" -s "$SEED" -T "$traj" -w "$go" >"$SV_TMP/l$p$i" &
			pids+=($!)
		done
	done
	nb=$(((per + 19999) / 20000 * 2 * $#))
	wait_for 600 sh -c "[ \$(cat $SV_TMP/l[0-9]* | grep -c ready) -eq ${#pids[@]} ]"
	fp0=$(rows fps)
	fd0=$(rows feed)
	b0=$(metric sitevisor_post_analyser_batches_total)
	j0=$(joined)
	d0=$(dropped)
	f0=$(metric sitevisor_post_paths_total)
	for p in "$@"; do c0=$((c0 + $(ingest_ticks "${POSTS[$p]}"))); done
	h0=$(cpu_ticks "${CH_PID[0]}")
	a0=$(other_ticks)
	t0=$(date +%s%N)
	touch "$go"
	wait "${pids[@]}"
	t1=$(date +%s%N)
	for p in "$@"; do c1=$((c1 + $(ingest_ticks "${POSTS[$p]}"))); done
	h1=$(cpu_ticks "${CH_PID[0]}")
	n=$((per * 2 * $#))
	INGESTED=$((INGESTED + n))
	L_POST=$((n * TCK / (c1 - c0 + 1)))
	L_CH=$((n * TCK / (h1 - h0 + 1)))
	if [ "$traj" -gt 0 ]; then
		fps=$(sed -n 's/.*; \([0-9]*\) fingerprints.*/\1/p' "$SV_TMP"/l[0-9]* |
			awk '{ s += $1 } END { print s + 0 }')
		fpline=", $fps fps ($((fps * 1000000000 / (t1 - t0))) rows/s wall,"
		fpline+=" $((fps * TCK / (c1 - c0 + 1))) per post CPU-second)"
	fi
	echo "$n records, $# post(s)$([ "$traj" -gt 0 ] && echo ", fps 1 in $traj"):" \
		"$((n * 1000000000 / (t1 - t0))) records/s wall, $L_POST per post CPU-second," \
		"$L_CH per ClickHouse CPU-second$fpline"
	echo "   stored: fps $(($(rows fps) - fp0)) of $fps sent;" \
		"feed rows $(($(rows feed) - fd0)) of $nb batches"
	wait_for 180 analysed $((b0 + nb)) ||
		echo "   the analyser did not read every batch in 180 s"
	# Then the join's hold (30 s): its paths are stored as they become final.
	wait_for 120 paths_final $((f0 + $(joined) - j0)) ||
		echo "   the analyser did not finalize every path in 120 s"
	h2=$(cpu_ticks "${CH_PID[0]}")
	a1=$(other_ticks)
	L_AN=$((n * TCK / (a1 - a0 + 1)))
	echo "   analysis (reading every batch back, the join: $(($(joined) - j0)) fps joined," \
		"$(($(dropped) - d0)) dropped, the join full;" \
		"$(($(metric sitevisor_post_paths_total) - f0)) paths) done" \
		"$((($(date +%s%N) - t1) / 1000000000)) s after:" \
		"$L_AN records per its CPU-second;" \
		"ingest and analysis $((n * TCK / (h2 - h0 + 1))) per ClickHouse CPU-second"
	rm -f "$SV_TMP"/l[0-9]*
}

echo "== ClickHouse $(ch_query 0 'SELECT version()'), one server, records of the last 30 s"
# A third post, started first, usually takes the analyser's role (detection off here, the
# trajectory join on); the figures hold wherever the role goes (ingest_ticks).
A=2
start_post $A
sleep 3
start_post 0
start_post 1
TRAJ=${CH_BENCH_TRAJ:-64}
INGESTED=0
for round in $(seq 1 "${CH_BENCH_ROUNDS:-1}"); do
	# Without and with fingerprints in turn: the ratio is of the same minutes' load.
	load 1000000 30 0 0
	p0=$L_POST c0=$L_CH a0=$L_AN
	load 1000000 30 "$TRAJ" 0
	echo "   with / without fingerprints, one post: post $(ratio "$L_POST" "$p0")," \
		"ClickHouse $(ratio "$L_CH" "$c0"), analysis $(ratio "$L_AN" "$a0")"
	load 1000000 30 0 0 1
	p0=$L_POST c0=$L_CH a0=$L_AN
	load 1000000 30 "$TRAJ" 0 1
	echo "   with / without fingerprints, two posts: post $(ratio "$L_POST" "$p0")," \
		"ClickHouse $(ratio "$L_CH" "$c0"), analysis $(ratio "$L_AN" "$a0")"
done
stop_pid "${POSTS[1]}" >/dev/null
unset 'POSTS[1]'
# What a fingerprint takes on disk, merged; then the fingerprints and the paths made of them
# go, so the disk rows below are the records' and their sums', as without fingerprints.
ch_query 0 "OPTIMIZE TABLE sv.fps_local FINAL" &&
	ch_query 0 "SELECT 'fps: ' || toString(count()) || ' rows stored, ' ||
		toString(round((SELECT sum(data_compressed_bytes) FROM system.parts WHERE
		database = 'sv' AND table = 'fps_local' AND active) / count(), 1)) ||
		' bytes each (LZ4)' FROM sv.fps_local"
for t in fps paths path_seg; do ch_query 0 "TRUNCATE TABLE sv.${t}_local" || exit 1; done
[ -n "$CH_BENCH_INGEST_ONLY" ] && exit 0

# fill N FIRST TOTAL T0 SPAN: records FIRST..FIRST + N - 1 of TOTAL made by ClickHouse itself,
# shaped as ingest_load's (3 boxes, 3000 skewed conversations, batches of 20000 of one box,
# times even over [T0, T0 + SPAN) ns, each jittered within its share, durations of up to 10 s
# in ns but for records of one packet), into flows_local: the views sum them as the post's.
fill() {
	local n=$1 first=$2 total=$3 t0=$4 span=$5
	ch_query 0 "INSERT INTO sv.flows_local (day, box, id, iface, direction, eth_type,
		ip_version, protocol, src_addr, dst_addr, src_port, dst_port, icmp_type, icmp_code,
		vlan, inner_vlan, vni, outer_src_addr, outer_dst_addr, src_mac, dst_mac, packets,
		bytes, tcp_flags, first_ms, last_ms, end_reason, rtt_samples, rtt_min_ns,
		rtt_max_ns, rtt_sum_ns, retransmits, dns_answers, dns_latency_sum_ns, dns_rcode,
		dns_failures, dns_unanswered, drops, drop_bytes, drop_reasons) SELECT
		toDate(toDateTime(intDiv(last_ns, 1000000000))) AS day, concat('box',
		toString(intDiv(i, 20000) % 3)) AS box, bitOr(bitShiftLeft(cityHash64(box,
		intDiv(i, 20000), $SEED) % 8589934592, 20), i % 20000) AS id,
		concat('eth', toString(bitAnd(bitShiftRight(h, 5), 1))),
		toUInt8(bitAnd(bitShiftRight(h, 6), 1)), 2048, 4, if(svc IN (2, 7), 17, 6),
		concat('198.18.', toString(intDiv(h % 500, 250)), '.', toString(h % 500 % 250 + 1)),
		concat('198.19.0.', toString(bitShiftRight(h, 9) % 200 + 1)),
		32768 + (h + bitShiftRight(r, 16) % 4) % 28000,
		[443, 80, 53, 22, 8080, 5432, 6379, 123, 3306, 9100][svc + 1], -1, -1, 0, 0, -1,
		'', '', '02:00:00:00:00:01', '02:00:00:00:00:02', pk,
		64 + bitShiftRight(r, 14) % 100000, 24, intDiv(last_ns - dur, 1000000),
		intDiv(last_ns, 1000000), 'active',
		0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, ''
		FROM (SELECT number + $first AS i, intHash32(i + $SEED) AS r,
			toUInt32(3000 * pow(bitAnd(r, 65535) / 65536, 3)) AS c,
			toUInt32((c * 2654435761) % 4294967296) AS h,
			bitShiftRight(h, 17) % 10 AS svc,
			1 + bitShiftRight(r, 20) % 100 AS pk,
			if(pk = 1, 0, cityHash64(i, $SEED) % 10000000000) AS dur,
			toUInt64($t0 + i * ($span / $total) + cityHash64(i, 1) % toUInt64($span / $total))
				AS last_ns
			FROM numbers($n))"
}
left=$((TOTAL - INGESTED))
if [ "${CH_BENCH_FILL:-server}" = post ]; then
	echo "== filling to $TOTAL flows over the last 7 days through the post (steps of 4 million)"
	while [ "$left" -gt 0 ]; do
		n=$((left > 4000000 ? 4000000 : left))
		load "$n" $((7 * 86400)) 0 0 >/dev/null
		left=$((left - n))
	done
else
	# Through the post this machine takes hours for 100 M (the ingest above): ClickHouse
	# makes the rest itself (CH_BENCH_FILL=post for the post's path).
	echo "== filling to $TOTAL flows over the last 7 days: $left made by ClickHouse" \
		"(INSERT ... SELECT FROM numbers(), records shaped as ingest_load's; the post's" \
		"ingest is too slow for this on this machine), steps of 5 million"
	t0=$(($(date +%s) * 1000000000 - 7 * 86400 * 1000000000))
	done_n=0
	while [ "$done_n" -lt "$left" ]; do
		n=$((left - done_n > 5000000 ? 5000000 : left - done_n))
		ts=$(date +%s)
		fill "$n" "$done_n" "$left" "$t0" $((7 * 86400 * 1000000000)) || exit 1
		done_n=$((done_n + n))
		echo "   $done_n made, $(($(date +%s) - ts)) s for this step"
	done
fi
# optimize: every partition of every table merged to one part, as a store settles.
optimize() {
	local t p
	ch_query 0 "SELECT DISTINCT table, partition FROM system.parts WHERE database = 'sv'
		AND active FORMAT TabSeparated" | while IFS=$'\t' read -r t p; do
		case $p in
		tuple\(\)) p="" ;;
		*[!0-9]*) p="PARTITION '$p'" ;;
		*) p="PARTITION $p" ;;
		esac
		ch_query 0 "OPTIMIZE TABLE sv.$t $p FINAL"
	done
}
# disk WHAT: bytes per stored record, compressed data (and all files), per table.
disk() {
	ch_query 0 "SELECT '$1', table, round(sum(data_compressed_bytes) / $stored, 2),
		round(sum(bytes_on_disk) / $stored, 2) FROM system.parts WHERE database = 'sv'
		AND active GROUP BY table WITH TOTALS ORDER BY table FORMAT TabSeparated" |
		awk -F'\t' 'NF { printf "%-12s %-20s %8s %8s\n", $1, ($2 == "" ? "(all)" : $2), $3, $4 }'
}
# cols WHAT: the raw records' largest columns, compressed bytes per record.
cols() {
	ch_query 0 "SELECT '$1', name, round(data_compressed_bytes / $stored, 2) AS b
		FROM system.columns WHERE database = 'sv' AND table = 'flows_local'
		ORDER BY b DESC LIMIT 10 FORMAT TabSeparated" |
		awk -F'\t' 'NF { printf "%-12s flows_local.%-20s %6s\n", $1, $2, $3 }'
}
ts=$(date +%s)
optimize || exit 1
stored=$(ch_query 0 "SELECT count() FROM sv.flows_local")
echo "stored flows: $stored; every partition merged (OPTIMIZE FINAL) in $(($(date +%s) - ts)) s"
printf '\n%-12s %-20s %8s %8s\n' compression table "data B/rec" "disk B/rec"
disk lz4
cols lz4
URL=http://127.0.0.1:$PORT
. "$(dirname "$0")/lat.sh"
printf '\n%-42s %8s %8s %8s\n' query p50_ms p99_ms items
now=$(date +%s)
lat "top by src, last hour" "/api/v1/top?by=src"
lat "top by pair, last hour" "/api/v1/top?by=pair"
lat "top by port, last hour" "/api/v1/top?by=port"
lat "top by src, last 24 h" "/api/v1/top?by=src&since=$((now - 86400))"
lat "top by pair, last 24 h" "/api/v1/top?by=pair&since=$((now - 86400))"
lat "top by src, box0 egress, last hour" "/api/v1/top?by=src&box=box0&direction=egress"
lat "series, last 15 min, 10 s steps (10-s sums)" "/api/v1/series?since=$((now - 900))&step=10"
lat "series box0, last hour, 60 s (sums)" "/api/v1/series?box=box0&step=60"
lat "series, last 24 h, 60 s (sums)" "/api/v1/series?since=$((now - 86400))&step=60"
lat "series, last 7 days, 1 h (sums)" "/api/v1/series?since=$((now - 7 * 86400))&step=3600"
lat "flows, newest 100" "/api/v1/flows?limit=100"
lat "flows of an address, newest 100" "/api/v1/flows?addr=198.18.0.5&limit=100"

# The server's <compression> method zstd (a setting of the operator's, docs/scale-out.md), as
# the Debian package ships it: the same parts rewritten with it.
ch_down 0
mkdir -p "$SV_TMP/ch0/config.d"
cp "$SV_ROOT/deploy/clickhouse/sitevisor-zstd.xml" "$SV_TMP/ch0/config.d/"
ch_up 0 || exit 1
ts=$(date +%s)
optimize || exit 1
echo
echo "rewritten with zstd in $(($(date +%s) - ts)) s"
disk zstd
cols zstd
echo
echo "Targets: 500000 records per post CPU-second; dashboard queries p99 < 100 ms at 100 M;"
echo "at most 20 bytes of disk per record."
