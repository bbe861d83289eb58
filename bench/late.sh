#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A report, not a test (issue 15, finding 8): one 16 MB batch of records an hour old into a
# post whose top-talker levels hold the last 30 hours (so every record is late for all of
# them), with another agent's one-record batches sent meanwhile. Prints the big batch's
# answer time, the post's peak memory, the slowest small batch and how many of them failed,
# and the post's fold counters. LATE_POST=path runs another build of the post; LATE_ALONE=1
# sends no other batches (the post's CPU time is then the big batch's alone).
. "$(dirname "$0")/../tests/lib.sh"
POST=${LATE_POST:-$SV_ROOT/build/sitevisor-post}
TOKEN=late-token-0123456789
PORT=$((30000 + ($$ + 11) % 20000))
URL=http://127.0.0.1:$PORT
NOW=$(date +%s)
H30=$(((NOW / 3600 - 30) * 3600))

start() {
	"$POST" --db "$SV_TMP/late.db" --listen "127.0.0.1:$PORT" --token "$TOKEN" --threads 2 \
		2>>"$SV_TMP/post.err" &
	POST_PID=$!
	SV_PIDS+=("$POST_PID")
	wait_for 10 grep -q 'listening on' "$SV_TMP/post.err"
}
metric() { curl -s "$URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
idle() { test "$(metric sitevisor_post_rollup_pending_buckets)" = 0; }

# The levels claim the last 30 hours (an empty store holds them all) and fill up to now.
start || exit 1
stop_pid "$POST_PID" >/dev/null
sqlite3 "$SV_TMP/late.db" "UPDATE talk_state SET lo = ${H30}000000000, done = ${H30}000000000 WHERE level < 3"
start || exit 1
wait_for 120 idle || echo "warning: the levels did not catch up"

# Records of one to two hours ago, every address and port different: the worst case for the
# sums (each record is a key of its own in every dimension but the protocol).
history_batch $((NOW - 7200)) "$SV_TMP/late.sums" >"$SV_TMP/late.ndjson"
n=$(($(wc -l <"$SV_TMP/late.ndjson") - 1))
echo "== one batch of $n records ($(stat -c %s "$SV_TMP/late.ndjson") bytes), an hour or two old"

rss0=$(awk '/^VmRSS/ { print $2 }' "/proc/$POST_PID/status")
t0=$(date +%s%N)
c0=$(awk '{ print $14 + $15 }' "/proc/$POST_PID/stat")
curl -s -o "$SV_TMP/late.out" -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $TOKEN" \
	--data-binary @"$SV_TMP/late.ndjson" "$URL/api/v1/ingest" >"$SV_TMP/late.code" &
big=$!
# Another agent, a one-record batch after another, until the big one is answered and folded.
i=0 slow=0 bad=0
while [ $i -lt 2000 ]; do
	i=$((i + 1))
	t=$(date +%s)
	printf '{"type":"batch","batch_id":"small-%d","box":"other","agent_version":"0.1.0","interfaces":["eth0"]}\n{"type":"flow","box":"other","iface":"eth0","direction":"egress","eth_type":2048,"ip_version":4,"protocol":6,"src_addr":"198.18.255.1","dst_addr":"198.18.255.2","src_port":1,"dst_port":2,"src_mac":"02:00:00:00:00:01","dst_mac":"02:00:00:00:00:02","packets":1,"bytes":60,"tcp_flags":0,"first_ns":%d000000000,"last_ns":%d000000000,"end_reason":"active"}\n' \
		$i "$t" "$t" >"$SV_TMP/small.ndjson"
	if [ -n "${LATE_ALONE:-}" ]; then
		sleep 0.1
	else
		r=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer $TOKEN" \
			--data-binary @"$SV_TMP/small.ndjson" "$URL/api/v1/ingest")
		[ "${r% *}" = 200 ] || bad=$((bad + 1))
		slow=$(echo "$slow ${r#* }" | awk '{ print ($2 > $1) ? $2 : $1 }')
	fi
	kill -0 $big 2>/dev/null && continue
	q=$(metric sitevisor_post_talk_late_records_waiting)
	[ "${q:-0}" = 0 ] && break
	sleep 0.2
done
t1=$(date +%s%N)
wait $big
c1=$(awk '{ print $14 + $15 }' "/proc/$POST_PID/stat")
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$POST_PID/status")
echo "big batch: answer $(cat "$SV_TMP/late.code") s"
echo "post memory: $((rss0 / 1024)) MiB before, peak $((hwm / 1024)) MiB"
echo "answered and folded into the top-talker levels after $(((t1 - t0) / 1000000)) ms, $(((c1 - c0) * 1000 / $(getconf CLK_TCK))) ms of the post's CPU"
echo "other agent: $i batches while it ran, $bad not 200, slowest answer $slow s"
curl -s "$URL/metrics" | grep '^sitevisor_post_talk' || true
stop_pid "$POST_PID" >/dev/null
