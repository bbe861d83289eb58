#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Issue 15's attacks replayed against a real post on loopback and real agents in namespaces,
# each asserting the new outcome as a status or a count of work: who may change tap rules,
# tokens bound to boxes, authentication before any body, connection limits and deadlines,
# TLS versions and key exchanges, what an agent takes from the post, its spool and control
# socket, and the build's hardening (docs/security.md).
. "$(dirname "$0")/lib.sh"
POST=$SV_ROOT/build/sitevisor-post
PORT=$((20000 + ($$ + 7) % 20000))
URL=http://127.0.0.1:$PORT
ING1=box1-token-0123456789 # bound to box1
OPEN=open-token-0123456789 # bound to no box
ADMIN=admin-token-0123456789
READ=read-token-0123456789

# start NAME ARGS...: a post on $PORT, stderr in $SV_TMP/NAME.err; sets POST_PID.
start() {
	local name=$1
	shift
	bg "$POST" --listen "127.0.0.1:$PORT" --db "$SV_TMP/$name.db" "$@" 2>"$SV_TMP/$name.err"
	POST_PID=$BG_PID
	wait_for 10 grep -q 'listening on' "$SV_TMP/$name.err"
}
# req METHOD PATH TOKEN [CURL ARGS...]: prints the body, then the status on its own line.
req() {
	local m=$1 p=$2 t=$3
	shift 3
	curl -s -m 10 -X "$m" -H "Authorization: Bearer $t" -w '\n%{http_code}\n' "$@" "$URL$p"
}
code() { req "$@" | tail -1; }
rule() { code POST "/api/v1/taps?box=$1" "$2" -d "{\"rule\":\"$3\"}"; }
batch() { # batch ID BOX: a batch of one flow record of box BOX
	local now=$(($(date +%s) - 60))
	printf '{"type":"batch","batch_id":"%s","box":"%s","agent_version":"0.1.0","interfaces":["eth0"]}\n' "$1" "$2"
	printf '{"type":"flow","box":"%s","iface":"eth0","direction":"egress","eth_type":2048,"ip_version":4,"protocol":17,"src_addr":"198.18.0.1","dst_addr":"198.18.0.2","src_port":5000,"dst_port":53,"src_mac":"02:00:00:00:00:01","dst_mac":"02:00:00:00:00:02","packets":1,"bytes":100,"tcp_flags":0,"first_ns":%s000000000,"last_ns":%s000000000,"end_reason":"active"}\n' "$2" "$now" "$now"
}
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

printf '# bound and unbound ingest tokens\n%s box1\n%s\n' "$ING1" "$OPEN" >"$SV_TMP/tokens"
start main --tokens "$SV_TMP/tokens" --admin-token "$ADMIN" --read-token "$READ" \
	--max-connections-per-ip 4 --idle-timeout 2 --request-timeout 4 --threads 2 ||
	{ fail "post starts"; finish; }
check "an unbound token line is warned about at start" \
	grep -q "1 token(s) bound to no box" "$SV_TMP/main.err"

# --- 1: tap rules are an admin's -----------------------------------------------------------
r="--from eth0 --to vxlan://192.0.2.9"
check_eq "taps: an ingest token may not add a rule: 403" 403 "$(rule box1 "$ING1" "$r")"
check_eq "taps: nor an unbound one: 403" 403 "$(rule box2 "$OPEN" "$r")"
check_eq "taps: nor the read token: 403" 403 "$(rule box1 "$READ" "$r")"
check_eq "taps: a wrong token: 401" 401 "$(rule box1 wrong-token-000 "$r")"
check_eq "taps: the admin token adds: 201" 201 "$(rule box1 "$ADMIN" "$r")"
id=$(req GET "/api/v1/taps?box=box1" "$READ" | head -1 | jq '.taps[0].id')
check_eq "taps: an ingest token may not delete: 403" 403 "$(code DELETE "/api/v1/taps/$id" "$ING1")"
check_eq "taps: the 403 says what is needed" "tap rules need an admin token (--admin-token)" \
	"$(req DELETE "/api/v1/taps/$id" "$OPEN" | head -1 | jq -r .error)"
report='{"taps":[{"id":'$id',"agent_id":1,"error":"refused","matched":0,"mirrored":0,"truncated":0,"rate_limited":0,"failed":0}]}'
check_eq "taps: box1's token may not report for box2: 403" 403 \
	"$(code POST "/api/v1/taps/status?box=box2" "$ING1" -d "$report")"
check_eq "taps: the 403 names the box" "this token may not report for box 'box2'" \
	"$(req POST "/api/v1/taps/status?box=box2" "$ING1" -d "$report" | head -1 | jq -r .error)"
check_eq "taps: an admin token does not report: 403" 403 \
	"$(code POST "/api/v1/taps/status?box=box1" "$ADMIN" -d "$report")"
check_eq "taps: box1's token reports for box1: 200" 200 \
	"$(code POST "/api/v1/taps/status?box=box1" "$ING1" -d "$report")"
# The post holds as many rules per box as an agent takes (63), not one more.
n=1
for i in $(seq 2 63); do
	[ "$(rule box1 "$ADMIN" "--from eth$i --to mon0")" = 201 ] && n=$((n + 1))
done
check_eq "taps: 63 rules for one box" 63 "$n"
check_eq "taps: the 64th gets 409" 409 "$(rule box1 "$ADMIN" "--from eth64 --to mon0")"
check_eq "taps: another box has room" 201 "$(rule box2 "$ADMIN" "--from eth0 --to mon0")"
check_eq "taps: a deletion makes room" "200 201" \
	"$(code DELETE "/api/v1/taps/$id" "$ADMIN") $(rule box1 "$ADMIN" "--from eth64 --to mon0")"

# --- 2: a box's token speaks for its boxes only --------------------------------------------
batch b1-1 box2 >"$SV_TMP/box2.ndjson"
batch b1-2 box1 >"$SV_TMP/box1.ndjson"
check_eq "ingest: box1's token for box2: 403" 403 \
	"$(code POST /api/v1/ingest "$ING1" --data-binary @"$SV_TMP/box2.ndjson")"
check_eq "ingest: the 403 names the box" "this token may not deliver for box 'box2'" \
	"$(req POST /api/v1/ingest "$ING1" --data-binary @"$SV_TMP/box2.ndjson" | head -1 | jq -r .error)"
check_eq "ingest: box1's token for box1: 200" 200 \
	"$(code POST /api/v1/ingest "$ING1" --data-binary @"$SV_TMP/box1.ndjson")"
check_eq "ingest: an unbound token for box2: 200" 200 \
	"$(code POST /api/v1/ingest "$OPEN" --data-binary @"$SV_TMP/box2.ndjson")"
check_eq "ingest: the admin token delivers nothing: 403" 403 \
	"$(code POST /api/v1/ingest "$ADMIN" --data-binary @"$SV_TMP/box1.ndjson")"
check_eq "ingest: box2 was stored once, from the unbound token" 1 \
	"$(req GET "/api/v1/flows?box=box2" "$READ" | head -1 | jq '.flows | length')"

# --- 7: an agent's records are held to the collector's rule for dates (one check for both):
# two hours ahead and a month old are refused and counted, the rest of the batch is stored.
skewed() { # skewed ID: records of two hours ahead, a month ago and a minute ago
	local t=$(date +%s) d
	printf '{"type":"batch","batch_id":"%s","box":"skew","agent_version":"0.1.0","interfaces":["eth0"]}\n' "$1"
	for d in 7200 -2592000 -60; do
		printf '{"type":"flow","box":"skew","iface":"eth0","direction":"egress","eth_type":2048,"ip_version":4,"protocol":17,"src_addr":"198.18.0.1","dst_addr":"198.18.0.2","src_port":5000,"dst_port":53,"src_mac":"02:00:00:00:00:01","dst_mac":"02:00:00:00:00:02","packets":1,"bytes":100,"tcp_flags":0,"first_ns":%s000000000,"last_ns":%s000000000,"end_reason":"active"}\n' $((t + d)) $((t + d))
	done
}
skew_count() { curl -s -H "Authorization: Bearer $READ" "$URL/metrics" |
	awk '$1 == "sitevisor_post_ingest_records_out_of_range_total" { print $2 }'; }
skewed skew-1 >"$SV_TMP/skew.ndjson"
r=$(req POST /api/v1/ingest "$OPEN" --data-binary @"$SV_TMP/skew.ndjson")
check_eq "dates: an agent's batch is stored, its records out of range refused with a count" \
	'{"accepted":1,"skipped":0,"duplicate":false,"out_of_range":2} 200' \
	"$(head -1 <<<"$r") $(tail -1 <<<"$r")"
check_eq "dates: the refused records counted in /metrics" 2 "$(skew_count)"
check_eq "dates: the batch again is a duplicate, counted once" "true 2" \
	"$(req POST /api/v1/ingest "$OPEN" --data-binary @"$SV_TMP/skew.ndjson" | head -1 | jq .duplicate) $(skew_count)"
check_eq "dates: only the record of now is stored" 1 \
	"$(req GET "/api/v1/flows?box=skew&since=0&until=$(($(date +%s) + 86400))" "$READ" | head -1 | jq '.flows | length')"

# --- 8: 40000 fingerprints sharing one hash, each 3 s from the last: bounded work ---------
{
	printf '{"type":"batch","batch_id":"fp-1","box":"box1","agent_version":"0.1.0","interfaces":["eth0"]}\n'
	awk -v t="$(date +%s)" 'BEGIN { for (i = 0; i < 40000; i++)
		printf "{\"type\":\"fp\",\"hash\":\"00000000000000aa\",\"ts_ns\":%d000000000,\"box\":\"box1\",\"iface\":\"eth0\",\"direction\":\"egress\",\"ip_version\":4,\"protocol\":17,\"src_addr\":\"198.18.0.1\",\"dst_addr\":\"198.18.0.2\",\"src_port\":1,\"dst_port\":2,\"len\":100}\n",
			t - 200000 + 3 * i }'
} >"$SV_TMP/fp.ndjson"
check_eq "one hash: the batch is taken" 200 \
	"$(code POST /api/v1/ingest "$ING1" --data-binary @"$SV_TMP/fp.ndjson")"
fps() { curl -s -H "Authorization: Bearer $READ" "$URL/metrics" |
	awk -v k="sitevisor_post_path_fingerprints_total{result=\"$1\"}" '$1 == k { print $2 }'; }
check_eq "one hash: 64 packets wait in its bucket, no more (work per sighting bounded)" \
	"64 39936" "$(fps joined) $(fps dropped)"

# --- 4: authentication before any body -----------------------------------------------------
head -c $((16 << 20)) /dev/zero >"$SV_TMP/16m"
sent=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{size_upload}' -X GET -H "Authorization: Bearer nope-nope-nope" \
	--data-binary @"$SV_TMP/16m" "$URL/api/v1/boxes")
check_eq "a GET with a 16 MiB body and a wrong token: 401" 401 "${sent% *}"
check "the 401 came before the body was read (under 4 MiB of 16 sent)" \
	test "${sent#* }" -lt $((4 << 20))
for m in POST PUT DELETE PATCH; do
	sent=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{size_upload}' -X $m \
		--data-binary @"$SV_TMP/16m" "$URL/api/v1/taps/1")
	check "$m with a 16 MiB body and no token: ${sent% *} before 4 MiB were read" \
		test "${sent% *}" -ge 400 -a "${sent#* }" -lt $((4 << 20))
done
before=$(rss_kib "$POST_PID")
for i in $(seq 1 4); do
	pids=()
	for j in 1 2 3 4; do
		curl -s -m 10 -o /dev/null -X GET -H "Authorization: Bearer $READ" \
			--data-binary @"$SV_TMP/16m" "$URL/api/v1/boxes" &
		pids+=($!)
	done
	wait "${pids[@]}"
done
after=$(rss_kib "$POST_PID")
check "16 authorized GETs with 16 MiB bodies: memory flat (+$((after - before)) KiB, under 16 MiB)" \
	test $((after - before)) -lt 16384

# --- 5: connections: a limit per address, deadlines --------------------------------------
# A slow client on 127.0.0.1 opens 8 connections and sends nothing; the post keeps 4.
for i in 1 2 3 4 5 6 7 8; do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	held+=("$fd")
done
sleep 0.5
check_eq "slow client: a 5th connection from its address is refused" 000 \
	"$(curl -s -m 3 -o /dev/null -w '%{http_code}' "$URL/api/v1/boxes" -H "Authorization: Bearer $READ")"
check_eq "slow client: another address is answered meanwhile" 200 \
	"$(curl -s -m 3 -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "$URL/api/v1/boxes" -H "Authorization: Bearer $READ")"
# Idle past --idle-timeout (2 s): the post has closed the held connections.
sleep 3
closed=0
for fd in "${held[@]}"; do
	read -r -t 1 -u "$fd" _
	[ $? -le 128 ] && closed=$((closed + 1)) # EOF, not a timeout
	exec {fd}>&-
done
check_eq "slow client: its 8 silent connections are closed after the idle timeout" 8 "$closed"
check_eq "slow client: its address is answered again" 200 \
	"$(curl -s -m 3 -o /dev/null -w '%{http_code}' "$URL/api/v1/boxes" -H "Authorization: Bearer $READ")"
# Headers trickled a line a second, never idle: cut off at --request-timeout (4 s), unanswered.
trickle() {
	local i
	exec {t}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'GET /api/v1/boxes HTTP/1.1\r\nHost: x\r\n' >&"$t"
	for i in $(seq 1 8); do
		printf 'X-Slow-%d: 1\r\n' "$i" >&"$t" 2>/dev/null || break
		sleep 1
	done
	printf 'Authorization: Bearer %s\r\n\r\n' "$READ" >&"$t" 2>/dev/null
	timeout 3 cat <&"$t" | head -c 12
	exec {t}>&-
}
check_eq "trickled headers: no answer past the request deadline" "" "$(trickle)"
body_trickle() {
	local i
	exec {t}<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n' "$OPEN" >&"$t"
	for i in $(seq 1 8); do
		printf 'x' >&"$t" 2>/dev/null || break
		sleep 1
	done
	timeout 3 cat <&"$t" | head -c 12
	exec {t}>&-
}
check_eq "trickled body: cut off at the request deadline" "" "$(body_trickle)"
check_eq "a prompt request right after is answered" 200 \
	"$(curl -s -m 3 -o /dev/null -w '%{http_code}' "$URL/api/v1/boxes" -H "Authorization: Bearer $READ")"
check_eq "offset beyond 100000: 400" 400 "$(code GET "/api/v1/flows?offset=100001" "$READ")"
stop_pid "$POST_PID"

# The total limit: 4 silent connections fill a post of --max-connections 4; a fifth, from
# another address, is refused until they go.
start conns --token "$OPEN" --max-connections 4 || fail "post with 4 connections starts"
held=()
for i in 1 2 3 4; do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	held+=("$fd")
done
sleep 0.5
check_eq "connections: past --max-connections, another address is refused too" 000 \
	"$(curl -s -m 3 -o /dev/null -w '%{http_code}' --interface 127.0.0.4 "$URL/api/v1/boxes")"
for fd in "${held[@]}"; do exec {fd}>&-; done
wait_for 5 test "$(curl -s -m 3 -o /dev/null -w '%{http_code}' --interface 127.0.0.4 "$URL/api/v1/boxes")" = 200
check_eq "connections: once they close, it is answered" 200 \
	"$(curl -s -m 3 -o /dev/null -w '%{http_code}' --interface 127.0.0.4 "$URL/api/v1/boxes")"
stop_pid "$POST_PID"

# --- 6: a query's time budget: a wide sort over 50000 records cut off with a clear 503 -------
start budget --token "$OPEN" --query-budget 10 --max-body 67108864 || fail "post with a query budget starts"
now=$(date +%s)
{
	printf '{"type":"batch","batch_id":"wide-1","box":"wide","agent_version":"0.1.0","interfaces":["eth0"]}\n'
	awk -v now="$now" 'BEGIN { for (i = 0; i < 50000; i++)
		printf "{\"type\":\"flow\",\"box\":\"wide\",\"iface\":\"eth0\",\"direction\":\"egress\",\"eth_type\":2048,\"ip_version\":4,\"protocol\":17,\"src_addr\":\"198.18.%d.%d\",\"dst_addr\":\"198.19.0.2\",\"src_port\":%d,\"dst_port\":53,\"src_mac\":\"02:00:00:00:00:01\",\"dst_mac\":\"02:00:00:00:00:02\",\"packets\":1,\"bytes\":%d,\"tcp_flags\":0,\"first_ns\":%d000000000,\"last_ns\":%d000000000,\"end_reason\":\"active\"}\n",
			int(i / 250) % 256, i % 250, 1024 + i, (i * 7919) % 100000 + 64, now - 600 + i % 500, now - 600 + i % 500 }'
} >"$SV_TMP/wide.ndjson"
check_eq "budget: 50000 records stored" 200 \
	"$(code POST /api/v1/ingest "$OPEN" --data-binary @"$SV_TMP/wide.ndjson")"
check_eq "budget: a sort by bytes over all of them: 503" 503 \
	"$(code GET "/api/v1/flows?since=0&sort=-bytes" "$OPEN")"
check_eq "budget: the 503 says how to narrow it" \
	"the query took too long: narrow since/until, or filter by box, address or port" \
	"$(req GET "/api/v1/flows?since=0&sort=-bytes" "$OPEN" | head -1 | jq -r .error)"
check_eq "budget: a query the time index answers is answered" 200 \
	"$(code GET "/api/v1/flows?since=0&limit=10" "$OPEN")"
stop_pid "$POST_PID"

# --- 6: reads run on their own threads: with one HTTP worker and one reader, 8 heavy reads in
# flight (each ~0.3 s of sorting and writing 1000 rows), an agent's batch is answered first;
# past the readers' queue a read is answered 503 at once.
start budget --token "$OPEN" --threads 1 || fail "post with one worker starts"
heavy="/api/v1/flows?since=0&sort=-bytes&offset=49000&limit=1000"
reads() { # reads N TAG: N heavy reads in the background, each status in $SV_TMP/TAG-I
	local i
	for ((i = 1; i <= $1; i++)); do
		(code GET "$heavy" "$OPEN" >"$SV_TMP/$2-$i.tmp" && mv "$SV_TMP/$2-$i.tmp" "$SV_TMP/$2-$i") &
	done
}
conns_ge() { test "$(ss -Htn state established "( sport = :$PORT )" | wc -l)" -ge "$1"; }
ended() { find "$SV_TMP" -maxdepth 1 -name "$1-*" ! -name '*.tmp' | wc -l; }
ended_all() { test "$(ended "$1")" -eq "$2"; }
reads 8 heavy
wait_for 10 conns_ge 8 || fail "8 reads connect"
ingest=$(batch readers-1 wide | code POST /api/v1/ingest "$OPEN" --data-binary @-)
done_then=$(ended heavy)
check_eq "readers: a batch during 8 heavy reads: 200" 200 "$ingest"
check "readers: the batch answered while reads still ran ($done_then of 8 done)" \
	test "$done_then" -lt 8
wait_for 30 ended_all heavy 8 || fail "the 8 reads end"
check_eq "readers: the 8 reads answered 200" "200 200 200 200 200 200 200 200" \
	"$(cat "$SV_TMP"/heavy-? | xargs)"
reads 24 flood
wait_for 30 ended_all flood 24 || fail "the 24 reads end"
busy=$(cat "$SV_TMP"/flood-* | grep -c 503)
check "readers: past 1 running and 16 queued, reads answered 503 ($busy of 24)" \
	test "$busy" -ge 1
check_eq "readers: the 503 counted in /metrics" 1 \
	"$(curl -s "$URL/metrics" | grep -c 'requests_total{code="503"} [1-9]')"
stop_pid "$POST_PID"

# --- 5: a read suspended on a reader is bounded by --request-timeout too: with the database's
# read locks held by another process (a reader stuck in SQLite's busy wait, 10 s), the running
# read and the one waiting behind it are answered 503 at the 2 s deadline, and the post has
# their connections back (its per-address limit is 2) while the locks are still held.
start stuck --token "$OPEN" --threads 1 --request-timeout 2 --max-connections-per-ip 2 ||
	fail "post for stuck reads starts"
check_eq "stuck reads: a read before: 200" 200 "$(code GET /api/v1/boxes "$OPEN")"
bg python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 8, 120, 0)  # the WAL index locks
open(sys.argv[2], "w").close()
time.sleep(30)
' "$SV_TMP/stuck.db-shm" "$SV_TMP/stuck.locked"
LOCKER=$BG_PID
wait_for 10 test -e "$SV_TMP/stuck.locked" || fail "the read locks are taken"
for i in 1 2; do
	req GET /api/v1/boxes "$OPEN" >"$SV_TMP/stuck-$i" &
	pids[$i]=$!
	sleep 0.2 # the first runs, the second waits behind it
done
wait "${pids[1]}" "${pids[2]}"
why="the read was not answered within the request timeout (--request-timeout): try again shortly, or narrow it"
check_eq "stuck reads: the running one: 503, with why" "503 $why" \
	"$(tail -1 "$SV_TMP/stuck-1") $(head -1 "$SV_TMP/stuck-1" | jq -r .error)"
check_eq "stuck reads: the one waiting behind it: 503, with why" "503 $why" \
	"$(tail -1 "$SV_TMP/stuck-2") $(head -1 "$SV_TMP/stuck-2" | jq -r .error)"
check "stuck reads: answered while the locks were still held" kill -0 "$LOCKER"
check_eq "stuck reads: their connections are free again (a 3rd and 4th from the address answered)" \
	"503 503" "$(code GET /api/v1/boxes "$OPEN") $(code GET /api/v1/flows "$OPEN")"
stop_pid "$LOCKER" >/dev/null
check_eq "stuck reads: once the locks go, reads are answered" 200 "$(code GET /api/v1/boxes "$OPEN")"
stop_pid "$POST_PID"

# --- 8: a 16 MB batch of records an hour old, late for every top-talker level and window, while
# another agent delivers: the batch is queued, not summed under the write lock, and folded in by
# the rollup in slices of 512 records (counts of work in /metrics); answers exact throughout.
start late --token "$OPEN" --threads 2 || fail "post for history starts"
stop_pid "$POST_PID"
NOW=$(date +%s)
H30=$(((NOW / 3600 - 30) * 3600))
sqlite3 "$SV_TMP/late.db" "UPDATE talk_state SET lo = ${H30}000000000, done = ${H30}000000000 WHERE level < 3"
start late --token "$OPEN" --threads 2 || fail "post for history restarts"
metric() { curl -s "$URL/metrics" | awk -v k="sitevisor_post_$1" '$1 == k { print $2 }'; }
wait_for 120 test "$(metric rollup_pending_buckets)" = 0 || fail "the levels hold the last 30 hours"
history_batch $((NOW - 7200)) "$SV_TMP/late.sums" >"$SV_TMP/late.ndjson"
read -r _ N BYTES <"$SV_TMP/late.sums"
small() { # small ID: another agent's batch of one record of now
	local t=$(date +%s)
	printf '{"type":"batch","batch_id":"small-%d","box":"other","agent_version":"0.1.0","interfaces":["eth0"]}\n{"type":"flow","box":"other","iface":"eth0","direction":"egress","eth_type":2048,"ip_version":4,"protocol":6,"src_addr":"198.18.255.1","dst_addr":"198.18.255.2","src_port":1,"dst_port":2,"src_mac":"02:00:00:00:00:01","dst_mac":"02:00:00:00:00:02","packets":1,"bytes":60,"tcp_flags":0,"first_ns":%d000000000,"last_ns":%d000000000,"end_reason":"active"}\n' \
		"$1" "$t" "$t" | code POST /api/v1/ingest "$OPEN" --data-binary @-
}
# top17 QUERY: protocol 17's "flows bytes" in /api/v1/top?by=protocol&QUERY
top17() { req GET "/api/v1/top?by=protocol&$1" "$OPEN" | head -1 |
	jq -r '[.items[] | select(.protocol == 17)][0] | "\(.flows) \(.bytes)"'; }
rss0=$(rss_kib "$POST_PID")
(code POST /api/v1/ingest "$OPEN" --data-binary @"$SV_TMP/late.ndjson" >"$SV_TMP/late.code") &
big=$!
i=0 during=0 folding=0 bad=0 h1=
while [ $i -lt 1000 ]; do
	i=$((i + 1))
	running=0
	kill -0 $big 2>/dev/null && running=1
	waiting=$(metric talk_late_records_waiting)
	[ "$running" = 0 ] && [ "$waiting" = 0 ] && [ -n "$h1" ] && break
	# Right after the answer, before most of the fold: queued records come from the raw ones.
	[ "$running" = 0 ] && [ -z "$h1" ] &&
		h1=$(top17 "box=importer&since=$(((NOW / 3600 - 3) * 3600))&until=$((NOW - 1800))")
	[ "$(small $i)" = 200 ] || bad=$((bad + 1))
	[ "$running" = 1 ] && during=$((during + 1))
	[ "$running" = 0 ] && folding=$((folding + 1))
done
wait $big
wait_for 120 test "$(metric talk_late_records_waiting)" = 0
check_eq "history: a 16 MB batch of $N records an hour old: 200" 200 "$(cat "$SV_TMP/late.code")"
check_eq "history: exact as soon as answered (queued records read from the raw ones)" "$N $BYTES" "$h1"
check "history: another agent's $((i - 1)) batches all 200 ($during started while the batch was sent, $folding while it was folded in)" \
	test "$bad" = 0 -a "$during" -ge 1 -a "$folding" -ge 1
check_eq "history: every record queued by ingest, folded in by the rollup, none waiting" \
	"$N $N 0" "$(metric 'talk_late_records_total{result="queued"}') $(metric 'talk_late_records_total{result="folded"}') $(metric talk_late_records_waiting)"
check_eq "history: in slices of 512 records (bounded write-lock time and memory each)" \
	$(((N + 511) / 512)) "$(metric talk_late_slices_total)"
sums=$(metric talk_late_sums_total)
check "history: $sums sums written, at most 40 per record (linear)" test "$sums" -le $((40 * N))
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$POST_PID/status")
check "history: the post's peak memory $((hwm / 1024)) MiB (from $((rss0 / 1024))), under 256 MiB" \
	test "$hwm" -lt $((256 << 10))
check_eq "history: a box's top over the hours after the fold: exact" "$N $BYTES" \
	"$(top17 "box=importer&since=$(((NOW / 3600 - 3) * 3600))&until=$((NOW - 1800))")"
check_eq "history: the site's top over them (minute, ten-minute, hour levels): exact" "$N $BYTES" \
	"$(top17 "since=$(((NOW / 3600 - 3) * 3600 + 60))&until=$((NOW - 1800))")"
check_eq "history: the site's last 6 hours (a sliding window): exact" "$N $BYTES" \
	"$(top17 "since=$((NOW - 6 * 3600))&until=$(($(date +%s) + 60))")"
stop_pid "$POST_PID"

# A box silent for longer than the retention leaves /boxes at the next pruning (at start).
sqlite3 "$SV_TMP/main.db" "UPDATE boxes SET last_seen_ns = 1000 WHERE name = 'box2'"
start main --tokens "$SV_TMP/tokens" --read-token "$READ" --retention 7 ||
	fail "post restarts"
check_eq "a box silent past the retention leaves /boxes" "box1 skew" \
	"$(req GET /api/v1/boxes "$READ" | head -1 | jq -r '[.boxes[].name] | join(" ")')"
stop_pid "$POST_PID"

# --- 7: the IPFIX collector: who may export, a template quota, record dates --------------
UPORT=$((PORT + 1))
start ipfix --ipfix-listen "127.0.0.1:$UPORT" --ipfix-allow 127.0.0.0/30 --retention 7 ||
	fail "IPFIX post starts"
ipfix_flows() { curl -s "$URL/api/v1/flows?since=0&box=ipfix:$1" | jq '.flows | length'; }
ipfix_metric() { # ipfix_metric FAMILY RESULT
	curl -s "$URL/metrics" | awk -v k="sitevisor_post_ipfix_$1_total{result=\"$2\"}" '$1 == k { print $2 }'
}
T=$(date +%s)
# One flow: addresses, protocol, packets, bytes, start and end in milliseconds.
FLOW_T=$(tmpl 256 8:4 12:4 4:1 2:8 1:8 152:8 153:8)
flow() { echo "c6120001c612000211$(u64 1)$(u64 100)$(u64 $((($1 - 1) * 1000)))$(u64 $(($1 * 1000)))"; }
export_from() { # export_from ADDR FLOW...: the template and the flows from exporter ADDR
	local f
	f=$(printf '%s' "${@:2}")
	"$TOOLS/udpmsg" -s "$1" 127.0.0.1 "$UPORT" \
		"$(ipfix 1 0 "$T" "$(set_ 2 "$FLOW_T")" "$(set_ 256 "$f")")" >/dev/null
}
# A flood: 5000 one-field templates in one datagram, more than the site's table of 4096.
FLOOD=$(ipfix 1 0 "$T" "$(set_ 2 "$(printf '%04x000100080004' $(seq 256 5255))")")
"$TOOLS/udpmsg" -s 127.0.0.1 127.0.0.1 "$UPORT" "$FLOOD" >/dev/null
export_from 127.0.0.2 "$(flow $((T - 5)))"
wait_for 5 test "$(ipfix_flows 127.0.0.2)" = 1
check_eq "template flood: the flooder holds its quota of 512, the rest refused" 4488 \
	"$(ipfix_metric templates table_full)"
check_eq "template flood: another exporter's record is stored meanwhile" 1 "$(ipfix_flows 127.0.0.2)"
export_from 127.0.0.5 "$(flow $((T - 5)))"
wait_for 5 test "$(ipfix_metric messages not_allowed)" = 1
check_eq "--ipfix-allow: a message from elsewhere is counted, not read" 1 \
	"$(ipfix_metric messages not_allowed)"
check_eq "--ipfix-allow: nothing of it stored" 0 "$(ipfix_flows 127.0.0.5)"
export_from 127.0.0.3 "$(flow $((T + 7200)))" "$(flow $((T - 30 * 86400)))" "$(flow $((T - 5)))"
wait_for 5 test "$(ipfix_flows 127.0.0.3)" = 1
check_eq "record dates: two hours ahead and a month old are counted, not stored" 2 \
	"$(ipfix_metric records out_of_range)"
check_eq "record dates: the one of now is stored" 1 "$(ipfix_flows 127.0.0.3)"
stop_pid "$POST_PID"

# --- 3: TLS 1.2+ with forward secrecy only --------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SV_TMP/key.pem" -out "$SV_TMP/cert.pem" \
	-days 1 -subj /CN=localhost >/dev/null 2>&1
start tls --token "$OPEN" --tls-cert "$SV_TMP/cert.pem" --tls-key "$SV_TMP/key.pem" ||
	fail "TLS post starts"
hello() { # hello OPENSSL-ARGS...: 1 if the handshake completes
	echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" "$@" 2>/dev/null |
		grep -c 'Cipher is [A-Z]'
}
check_eq "TLS 1.3 handshake" 1 "$(hello -tls1_3)"
check_eq "TLS 1.2 with ECDHE handshake" 1 "$(hello -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)"
check_eq "TLS 1.1 refused" 0 "$(hello -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')"
check_eq "TLS 1.0 refused" 0 "$(hello -tls1 -cipher 'DEFAULT:@SECLEVEL=0')"
check_eq "TLS 1.2 with RSA key exchange (no forward secrecy) refused" 0 \
	"$(hello -tls1_2 -cipher 'AES128-GCM-SHA256:AES128-SHA:@SECLEVEL=0')"
stop_pid "$POST_PID"

# --- 10: the build's hardening ---------------------------------------------------------------
for p in sitevisor-agent sitevisor-post; do
	f=$SV_ROOT/build/$p
	check_eq "$p: PIE, full RELRO (BIND_NOW), stack protector, fortified calls" "1 1 1 1" \
		"$(readelf -h "$f" | grep -c 'DYN (Position-Independent') $(readelf -d "$f" | grep -c 'BIND_NOW') $(nm -D "$f" | grep -c ' __stack_chk_fail') $(nm -D "$f" | grep -q '_chk@' && echo 1)"
done

# --- 1, 3, 9: what an agent takes from the post, its spool, its control socket --------------
if [ "$(id -u)" -ne 0 ]; then
	skip "agents (need root)"
	finish
fi
SOCK=$SV_TMP/post.sock
start agents --listen "unix:$SOCK" --token "$OPEN" --admin-token "$ADMIN" ||
	{ fail "post for the agents starts"; finish; }
H=$(ns_add h) || exit 1
ip -n "$H" link add h1 type veth peer name h2
ip -n "$H" link add mon type veth peer name mon2
for i in h1 h2 mon mon2; do ip -n "$H" link set "$i" up; done
# state BOX N: "state: error" of the box's rule number N (0-based) as GET shows it.
state() {
	req GET "/api/v1/taps?box=$1" "$ADMIN" | head -1 |
		jq -r ".taps[$2] | \"\(.state)\(if .error then \": \" + .error else \"\" end)\""
}
# wait_state SECONDS BOX N: until the rule has a report.
wait_state() {
	local n=$(($1 * 10))
	while [ "$n" -gt 0 ] && [ "$(state "$2" "$3")" = pending ]; do
		sleep 0.1
		n=$((n - 1))
	done
}
rule boxa "$ADMIN" "--from h1 --to mon" >/dev/null
agent_start "$H" a1 -i h1 --post "unix:$SOCK" --token "$OPEN" --box boxa \
	--spool "$SV_TMP/spool-a" --control "$SV_TMP/ctl-a" || exit 1
wait_state 10 boxa 0
check_eq "agent without --allow-remote-tap: the post's rule refused, with the reason" \
	"error: this box takes no tap rules from the post (its agent runs without --allow-remote-tap)" \
	"$(state boxa 0)"
check_eq "agent without --allow-remote-tap: nothing mirrors" "" \
	"$(ip netns exec "$H" "$AGENT" tap --control "$SV_TMP/ctl-a" list | grep origin=post)"
check "agent to a unix socket: no plain-HTTP warning" sh -c "! grep -q 'plain HTTP' $SV_TMP/a1.err"
stop_pid "$AGENT_PID" >/dev/null

rule boxb "$ADMIN" "--from h1 --to mon" >/dev/null
rule boxb "$ADMIN" "--from h1 --to vxlan://198.51.100.7" >/dev/null
rule boxb "$ADMIN" "--from h1 --to mon host sitevisor.example and udp" >/dev/null
rule boxb "$ADMIN" "--from h1 --to mon2" >/dev/null
rule boxb "$ADMIN" "--from h1 --to vxlan://192.0.2.7" >/dev/null
ip -n "$H" addr add 192.0.2.1/24 dev mon2 # a route to the admitted monitor
agent_start "$H" a2 -i h1 --post "unix:$SOCK" --token "$OPEN" --box boxb \
	--spool "$SV_TMP/spool-b" --control "$SV_TMP/ctl-b" --allow-remote-tap \
	--tap-allow-to iface:mon --tap-allow-to 192.0.2.0/24:4789 || exit 1
wait_state 10 boxb 4
check_eq "allowed: a rule to an admitted interface is applied" active "$(state boxb 0)"
check_eq "allowed: a rule to an admitted remote (VXLAN, port 4789) is applied" active \
	"$(state boxb 4)"
check_eq "allowed: a remote outside --tap-allow-to is refused" \
	"error: --to vxlan://198.51.100.7 is not in this box's --tap-allow-to" "$(state boxb 1)"
check_eq "allowed: a rule naming a host is refused before libpcap sees it" \
	"error: a rule from the post may not name hosts or services ('sitevisor.example'): use addresses and numbers" \
	"$(state boxb 2)"
check_eq "allowed: an interface outside --tap-allow-to is refused" \
	"error: --to mon2 is not in this box's --tap-allow-to" "$(state boxb 3)"
check_eq "allowed: exactly the two admitted rules from the post in the agent" 2 \
	"$(ip netns exec "$H" "$AGENT" tap --control "$SV_TMP/ctl-b" list | grep -c origin=post)"
# A control client that trickles a byte every 0.2 s is answered (cut off) within the 2 s
# deadline of its request: about 10 bytes, not one more every 0.2 s for ever.
sent=$(ip netns exec "$H" python3 - "$SV_TMP/ctl-b" <<'PY'
import select, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
n = 0
for n in range(1, 101):
    try:
        s.send(b"t")
    except OSError:
        break
    if select.select([s], [], [], 0.2)[0]:
        break
print(n, s.recv(200).decode().strip())
PY
)
check "control: a trickling client is cut off after about 2 s (${sent%% *} bytes)" \
	test "${sent%% *}" -le 15
check_eq "control: it is told why" "error: bad request: Connection timed out" "${sent#* }"
stop_pid "$AGENT_PID" >/dev/null

# The spool: another user's directory is refused; a link where the lock goes is not followed.
mkdir "$SV_TMP/spool-other"
chown 65534 "$SV_TMP/spool-other"
timeout 20 ip netns exec "$H" "$AGENT" -i h1 --post "unix:$SOCK" --token "$OPEN" --box boxc \
	--spool "$SV_TMP/spool-other" --control "$SV_TMP/ctl-c" >/dev/null 2>"$SV_TMP/c.err"
check_eq "spool owned by another user: the agent exits 1" 1 $?
check "spool owned by another user: says so" grep -q "belongs to uid 65534" "$SV_TMP/c.err"
mkdir "$SV_TMP/spool-link"
ln -s "$SV_TMP/victim" "$SV_TMP/spool-link/.lock"
timeout 20 ip netns exec "$H" "$AGENT" -i h1 --post "unix:$SOCK" --token "$OPEN" --box boxc \
	--spool "$SV_TMP/spool-link" --control "$SV_TMP/ctl-c" >/dev/null 2>"$SV_TMP/c2.err"
check_eq "spool with a planted link: the agent exits 1" 1 $?
check "spool with a planted link: its target is not created" test ! -e "$SV_TMP/victim"

# Plain HTTP to another host is said once at start.
agent_start "$H" a3 -i h1 --post http://192.0.2.1:9 --token "$OPEN" --box boxd \
	--spool "$SV_TMP/spool-d" --control "$SV_TMP/ctl-d" || exit 1
check_eq "plain HTTP to another host: one warning" 1 "$(grep -c 'plain HTTP' "$SV_TMP/a3.err")"
stop_pid "$AGENT_PID" >/dev/null

# A box whose clock is off: the agent delivers a spooled batch of records two hours ahead and a
# month old, and says that the post refused them (it would lose them without a word).
mkdir -m 0700 "$SV_TMP/spool-e"
skewed skew-agent >"$SV_TMP/spool-e/b-$(printf '%020d' "$(date +%s%N)")-0000000001-r3-p3.ndjson"
# A link planted among the batches, to a file of another user's choosing: not followed, not sent.
skewed secret-1 | sed 's/"skew"/"secret"/g' >"$SV_TMP/secret.ndjson"
ln -s "$SV_TMP/secret.ndjson" "$SV_TMP/spool-e/b-$(printf '%020d' "$(date +%s%N)")-0000000002-r3-p3.ndjson"
agent_start "$H" a4 -i h1 --post "unix:$SOCK" --token "$OPEN" --box skew \
	--spool "$SV_TMP/spool-e" --control "$SV_TMP/ctl-e" || exit 1
wait_for 10 grep -q 'refused 2 records' "$SV_TMP/a4.err"
check "dates: the agent says the post refused 2 records and to check the clock" \
	grep -q "refused 2 records of batch b-.*check this box's clock" "$SV_TMP/a4.err"
check_eq "spool: a link among the batches is not followed: its file is not sent" "true false" \
	"$(curl -s --unix-socket "$SOCK" http://post/api/v1/boxes |
		jq -r '[.boxes[].name] | "\(index("skew") != null) \(index("secret") != null)"')"
stop_pid "$AGENT_PID" >/dev/null
finish
