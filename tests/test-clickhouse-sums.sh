#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The ClickHouse store's shortcuts answer exactly what its raw records do (issue 14): records
# over 3 days and the last 3 hours; top talkers of ranges with odd edges, read from the hour
# and minute sums, equal the same asked with ip_version=4 (every record has it, and any field
# filter makes the post read the raw records); series in 10 s steps (the 10-s sums) equal those
# in 5 s steps (the raw records) summed two by two; pages of the newest flows, with and
# without an address or box filter, equal slices of one page of them all. A dense stretch
# (records of the last 12 s, one address at both ends of some) then fills the per-second
# address sums, and an address's pages (newest, across the stretch's start, one after
# another, with a box, since/until) equal its raw records, also with a sum counted twice
# that points at too short a window. Then the store is taken back to schema v1 (its later
# views, tables and pair sums dropped, the records' times in ns as v1-v5 kept them, and a
# rebuild that died half-way) and a post upgrades it in place: the same questions get the
# same answers, from sums filled back from the records.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/clickhouse.sh"
POST=$SV_ROOT/build/sitevisor-post
LOAD=$SV_ROOT/build/bench/ingest_load
TOKEN=sums-token-$RUN_ID
PORT=$((20000 + $$ % 12000)) # below the ephemeral ports (32768-60999)
URL=http://127.0.0.1:$PORT

[ -x "$LOAD" ] || { fail "build/bench/ingest_load is built (make $LOAD)"; finish; }
ch_start 1 || { fail "ClickHouse server starts"; finish; }
STARTS=0
start() {
	STARTS=$((STARTS + 1))
	"$POST" "${CH_STORE[@]}" --listen "127.0.0.1:$PORT" --token "$TOKEN" --no-detect \
		2>"$SV_TMP/post$STARTS.err" &
	POST_PID=$!
	SV_PIDS+=("$POST_PID")
	wait_for 60 grep -q 'listening on' "$SV_TMP/post$STARTS.err"
}
api() { curl -sf --max-time 30 "$URL/api/v1/$1"; }

start || { fail "post starts"; finish; }
check "3 days of records load" "$LOAD" -u "$URL" -t "$TOKEN" -n 20000 -b 5000 -r 259200 -s 7
check "3 hours of records load" "$LOAD" -u "$URL" -t "$TOKEN" -n 30000 -b 5000 -r 10800 -s 8
check_eq "every record stored" 50000 "$(ch_query 0 'SELECT count() FROM sv.flows_local')"

now=$(date +%s)
RANGES=("since=$((now - 3600))" "since=$((now - 3 * 3600 + 17))&until=$((now - 7))"
	"since=$((now - 2 * 86400 + 123))" "since=$((now - 7200))&until=$((now - 3600 + 59))")
now10=$((now / 10 * 10))
SERIES=("since=$((now10 - 900))&until=$((now - 3))"
	"since=$((now10 - 3600))&until=$((now - 1))&box=box1&direction=egress"
	"since=$((now10 - 2 * 86400))&until=$((now10 - 2 * 86400 + 3607))")
# series R STEP: the points' (bytes, packets) of R in steps of STEP seconds, those of 5 s
# summed two by two (steps of 10 s read the 10-s sums; of 5 s the raw records).
series() {
	api "series?$1&step=$2" | jq -c --argjson pair "$(test "$2" = 5 && echo 2 || echo 1)" \
		'.points | [range(0; length; $pair) as $i | .[$i:$i + $pair] |
		 {bytes: (map(.bytes) | add), packets: (map(.packets) | add)}]'
}
# answers: every question this test asks, one line each, for the upgrade to repeat.
answers() {
	local r by
	for r in "${RANGES[@]}"; do
		for by in src dst pair port protocol; do
			api "top?by=$by&limit=40&$r" | jq -c .items
		done
		api "top?by=src&box=box1&direction=egress&$r" | jq -c .items
	done
	for r in "${SERIES[@]}"; do
		series "$r" 10
	done
	api "flows?limit=100" | jq -c '[.flows[].id]'
	api "flows?limit=40&box=box2&direction=ingress" | jq -c '[.flows[].id]'
	api "flows?limit=50&offset=3000" | jq -c '[.flows[].id]'
	api "flows?limit=30&offset=20&addr=198.19.0.1" | jq -c '[.flows[].id]'
	api "flows?limit=100&addr=198.18.0.1" | jq -c '[.flows[].id]'
	api "flows?limit=100&addr=192.0.2.7" | jq -c '[.flows[].id]'
}

for r in "${RANGES[@]}"; do
	for by in src dst pair port protocol; do
		sums=$(api "top?by=$by&limit=40&$r" | jq -c .items)
		raw=$(api "top?by=$by&limit=40&ip_version=4&$r" | jq -c .items)
		[ "$(jq length <<<"$sums")" -gt 0 ] && [ "$sums" = "$raw" ] &&
			pass "top by $by ${r:-(last hour)}: sums = raw records" ||
			fail "top by $by ${r:-(last hour)}: sums $sums, raw $raw"
	done
done

for r in "${SERIES[@]}"; do
	tens=$(series "$r" 10)
	fives=$(series "$r" 5)
	[ "$(jq '[.[].packets] | add' <<<"$tens")" -gt 0 ] && [ "$tens" = "$fives" ] &&
		pass "series in 10 s steps ($r): sums = raw records" ||
		fail "series in 10 s steps ($r): sums $tens, raw $fives"
done

# Pages of the newest records against one page of all of the last 40 minutes'.
all=$(api "flows?limit=10000&since=$((now - 2400))&sort=-last_ns")
n=$(jq '.flows | length' <<<"$all")
check "the last 40 minutes hold more than 3050 records ($n)" test "$n" -gt 3050 -a "$n" -lt 10000
page() { api "flows?$1" | jq -c '[.flows[].id]'; }
check_eq "newest 100 (the last minute's)" "$(jq -c '[.flows[:100][].id]' <<<"$all")" \
	"$(page limit=100)"
check_eq "newest page at offset 3000 (the last hour's)" \
	"$(jq -c '[.flows[3000:3050][].id]' <<<"$all")" "$(page 'limit=50&offset=3000')"
check_eq "newest 40 of a box's ingress" \
	"$(jq -c '[.flows[] | select(.box == "box2" and .direction == "ingress") | .id][:40]' \
		<<<"$all")" "$(page 'limit=40&box=box2&direction=ingress')"
# until inside a 10-s unit: the sums count records after it, the page must not.
u=$((now - 605))
check_eq "newest 50 before an until" \
	"$(jq -c --argjson u "${u}000000000" '[.flows[] | select(.last_ns < $u) | .id][:50]' \
		<<<"$all")" "$(page "limit=50&until=$u")"
A=198.19.0.1
alla=$(api "flows?limit=10000&addr=$A")
n=$(jq '.flows | length' <<<"$alla")
check "the address is in more than 600 records ($n), all in one page" test "$n" -gt 600 -a "$n" -lt 10000
check_eq "newest 30 of an address" "$(jq -c '[.flows[:30][].id]' <<<"$alla")" \
	"$(page "limit=30&addr=$A")"
check_eq "newest of an address at offset 500" "$(jq -c '[.flows[500:530][].id]' <<<"$alla")" \
	"$(page "limit=30&offset=500&addr=$A")"
check_eq "newest of an address and a box" \
	"$(jq -c '[.flows[] | select(.box == "box2") | .id][:5]' <<<"$alla")" \
	"$(page "limit=5&addr=$A&box=box2")"
check_eq "an address seen nowhere" '[]' "$(page 'limit=5&addr=192.0.2.99')"

# --- an address's pages over a dense stretch: from the per-second sums (schema v5) ---
# 24000 records over the last 12 s, in batches of 6000: inserts that hold a busy address
# densely, as a large site's do (the sums keep only those), ahead of the sparse hours above.
DENSE_T1=$(date +%s)
check "a dense stretch loads" "$LOAD" -u "$URL" -t "$TOKEN" -n 24000 -b 6000 -r 12 -s 9
# both ADDR N T0: a batch of N records of ADDR, every other one with ADDR at both ends,
# last_ns from T0 (ns) one ms apart.
both() {
	local i dst
	echo "{\"type\":\"batch\",\"batch_id\":\"both-$RUN_ID-$1\",\"box\":\"box1\"}"
	for ((i = 0; i < $2; i++)); do
		dst=$([ $((i % 2)) = 0 ] && echo "$1" || echo 198.19.0.9)
		echo "{\"type\":\"flow\",\"box\":\"box1\",\"iface\":\"eth0\",\"direction\":\"egress\",\"eth_type\":2048,\"ip_version\":4,\"protocol\":17,\"src_addr\":\"$1\",\"dst_addr\":\"$dst\",\"src_port\":5353,\"dst_port\":5353,\"packets\":1,\"bytes\":100,\"first_ns\":$(($3 + i * 1000000)),\"last_ns\":$(($3 + i * 1000000))}"
	done
}
t0=$(($(date +%s) - 5))000000000
check "records of an address at both ends load" curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: application/x-ndjson' --data-binary @<(both 192.0.2.7 300 "$t0") "$URL/api/v1/ingest"
STORED=$(ch_query 0 'SELECT count() FROM sv.flows_local')
check_eq "every record stored" 74300 "$STORED"
ADDRS=(198.19.0.1 198.18.0.1 192.0.2.7)
# raw ADDR OFFSET N [CONDITION]: ids of the address's records, newest first, from the raw
# records themselves (times in ms), as the API's default range (the last hour) has them.
raw() {
	ch_query 0 "SELECT id FROM sv.flows_local WHERE (src_addr = '$1' OR dst_addr = '$1') AND
		last_ms >= $(($(date +%s) - 3600))000 ${4:-} ORDER BY last_ms DESC, id DESC
		LIMIT $2, $3 FORMAT TabSeparated" | paste -sd, | sed 's/^/[/; s/$/]/' | jq -c .
}
raw_n() { # ADDR [CONDITION]: how many records raw ADDR has
	ch_query 0 "SELECT count() FROM sv.flows_local WHERE (src_addr = '$1' OR dst_addr = '$1')
		AND last_ms >= $(($(date +%s) - 3600))000 ${2:-}"
}
check "the per-second sums hold the dense addresses" test "$(ch_query 0 "SELECT count()
	FROM sv.addr_sec_local WHERE addr IN ('198.19.0.1', '192.0.2.7')")" -gt 0
# A sum over an address's records counted twice (as an insert retried after its views got it
# may do) points at too short a window: the page must come from a longer one all the same.
ch_query 0 "INSERT INTO sv.addr_sec_local VALUES (today(), '198.18.0.1', $(date +%s), 100000)"
dense_checks() {
	local a n u=$((DENSE_T1 - 4))
	for a in "${ADDRS[@]}"; do
		n=$(raw_n "$a" "AND last_ms >= $((DENSE_T1 - 12))000")
		check_eq "newest 100 of $a ($n in the stretch)" "$(raw "$a" 0 100)" \
			"$(page "limit=100&addr=$a")"
		# A page from the dense stretch into the sparse hours before it.
		check_eq "a page of $a across the dense stretch's start" "$(raw "$a" $((n - 20)) 60)" \
			"$(page "limit=60&offset=$((n - 20))&addr=$a")"
		check_eq "pages of $a one after another = one long page" "$(raw "$a" 0 250)" \
			"$(for o in 0 50 100 150 200; do page "limit=50&offset=$o&addr=$a"; done |
				jq -sc add)"
		check_eq "newest 30 of $a and a box" "$(raw "$a" 0 30 "AND box = 'box1'")" \
			"$(page "limit=30&addr=$a&box=box1")"
		check_eq "newest 40 of $a since/until inside the stretch" \
			"$(raw "$a" 0 40 "AND last_ms >= $((u - 3))000 AND last_ms < ${u}500")" \
			"$(page "limit=40&addr=$a&since=$((u - 3))&until=$u.5")"
	done
	check_eq "a record with the address at both ends counts once" "300 300 300" \
		"$(ch_query 0 "SELECT count() FROM sv.flows_local WHERE src_addr = '192.0.2.7' OR
			dst_addr = '192.0.2.7'") $(ch_query 0 "SELECT sum(flows) FROM
			sv.addr_minute_local WHERE addr = '192.0.2.7'") $(ch_query 0 "SELECT sum(flows)
			FROM sv.addr_sec_local WHERE addr = '192.0.2.7'")"
}
dense_checks

# --- back to schema v1, then upgraded in place by the post ---
answers >"$SV_TMP/before"
stop_pid "$POST_PID"
for v in talk_pair_mv talk_hour_src_mv talk_hour_dst_mv talk_hour_pair_mv talk_hour_port_mv \
	talk_hour_proto_mv addr_minute_mv talk_hour_local addr_minute_local fps_local feed_local \
	posts_local rollup_10s_mv rollup_10s_local addr_sec_mv addr_sec_local; do
	ch_query 0 "DROP TABLE sv.$v"
done
ch_query 0 "ALTER TABLE sv.talk_minute_local DELETE WHERE dim = 2"
# The records as v1-v5 kept them: times in ns, here with digits below the ms (v6 drops them).
cols=$(ch_query 0 "SELECT name FROM system.columns WHERE database = 'sv' AND
	table = 'flows_local' FORMAT TabSeparated" |
	sed 's/^\(first\|last\)_ms$/\1_ms * 1000000 + 999999 AS \1_ns/' | paste -sd,)
ch_query 0 "CREATE TABLE sv.flows_ns ENGINE = MergeTree PARTITION BY day
	ORDER BY (box, iface, direction, last_ns) AS SELECT $cols FROM sv.flows_local"
ch_query 0 "DROP TABLE sv.flows_local"
# A post that died in the rebuild: the old table renamed, the new one half filled.
ch_query 0 "RENAME TABLE sv.flows_ns TO sv.flows_old_local"
# ...written by an older post, before the fields of kernel drops were in the list.
ch_query 0 "ALTER TABLE sv.flows_old_local DROP COLUMN drop_reasons"
ch_query 0 "CREATE TABLE sv.flows_local (day Date, box String, id Int64, last_ms UInt64)
	ENGINE = MergeTree PARTITION BY day ORDER BY last_ms"
ch_query 0 "INSERT INTO sv.flows_local VALUES ('2026-01-01', 'half', 1, 1)"
check_eq "old records: times in ns, below the ms too" "$STORED $STORED" \
	"$(ch_query 0 "SELECT count(), countIf(last_ns % 1000000 = 999999) FROM sv.flows_old_local" |
		tr '\t' ' ')"
ch_query 0 "ALTER TABLE sv.sv_schema_local DELETE WHERE version >= 2"
ch_query 0 "INSERT INTO sv.sv_schema_local VALUES (1)"
check "v1 store: no pair sums, version 1" wait_for 30 sh -c \
	"[ \"\$(curl -s --data-binary 'SELECT countIf(dim = 2), (SELECT max(version) FROM sv.sv_schema_local) FROM sv.talk_minute_local' http://127.0.0.1:${CH_HTTP[0]}/)\" = \"$(printf '0\t1')\" ]"
start || fail "post starts on a v1 store"
check_eq "upgraded to the current version" 6 "$(ch_query 0 'SELECT max(version) FROM sv.sv_schema_local')"
check_eq "the records rebuilt once, times in ms, the old table gone" "$STORED 0 1 0 0" \
	"$(ch_query 0 "SELECT (SELECT count() FROM sv.flows_local), (SELECT count() FROM
		sv.flows_local WHERE box = 'half'), (SELECT count() FROM system.columns WHERE
		database = 'sv' AND table = 'flows_local' AND name = 'last_ms'), (SELECT count()
		FROM system.columns WHERE database = 'sv' AND table = 'flows_local' AND
		name = 'last_ns'), (SELECT count() FROM system.tables WHERE database = 'sv' AND
		name = 'flows_old_local')" | tr '\t' ' ')"
check_eq "the per-minute sums not filled twice" "$STORED $STORED" \
	"$(ch_query 0 'SELECT sum(flows) FROM sv.talk_minute_local WHERE dim = 2') $(ch_query 0 \
		'SELECT sum(flows) FROM sv.rollup_10s_local')"
# Sources and destinations per minute are the pairs' now: their own rows are deleted.
minute_rows() { ch_query 0 'SELECT count() FROM sv.talk_minute_local WHERE dim IN (0, 1)'; }
wait_eq 30 0 minute_rows
check_eq "the retired per-minute rows of sources and destinations deleted" 0 "$(minute_rows)"
answers >"$SV_TMP/after"
check "answers after the upgrade are those before" cmp "$SV_TMP/before" "$SV_TMP/after"
check_eq "the upgrade filled back the hour sums of every record" $STORED \
	"$(ch_query 0 'SELECT sum(flows) FROM sv.talk_hour_local WHERE dim = 0')"
check_eq "the upgrade filled back the 10-s sums of every record" $STORED \
	"$(ch_query 0 'SELECT sum(flows) FROM sv.rollup_10s_local')"
# Filled back a day at a time: each address's seconds that day holds 8 records of at least.
check_eq "the upgrade filled back the per-second sums of the dense addresses" \
	"$(ch_query 0 "SELECT count(), sum(c) FROM (SELECT day, addr, intDiv(last_ms, 1000) AS
		s, count() AS c FROM sv.flows_local ARRAY JOIN if(src_addr = dst_addr, [src_addr],
		[src_addr, dst_addr]) AS addr WHERE addr != '' GROUP BY day, addr, s HAVING c >= 8)")" \
	"$(ch_query 0 'SELECT count(), sum(flows) FROM sv.addr_sec_local')"
ch_query 0 "INSERT INTO sv.addr_sec_local VALUES (today(), '198.18.0.1', $(date +%s), 100000)"
dense_checks
secs=$(ch_query 0 'SELECT sum(flows) FROM sv.addr_sec_local')
stop_pid "$POST_PID"
start || fail "post starts again"
check_eq "a second start fills nothing twice" "$STORED $STORED $secs" \
	"$(ch_query 0 'SELECT sum(flows) FROM sv.talk_hour_local WHERE dim = 0') $(ch_query 0 \
		'SELECT sum(flows) FROM sv.rollup_10s_local') $(ch_query 0 \
		'SELECT sum(flows) FROM sv.addr_sec_local')"
finish
