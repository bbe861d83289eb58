#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The ClickHouse store's ingest, exactly once where the API suite does not reach
# (docs/scale-out.md, "Ingest"): a batch whose try stored only part of its records before
# failing gets only the rest on its retry; a batch sent twice to one post at the same time is
# stored once, one answer a duplicate; records come back byte for byte as sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/clickhouse.sh"
POST=$SV_ROOT/build/sitevisor-post
TOKEN=ingest-ch-token-$RUN_ID
PORT=$((20000 + $$ % 12000)) # below the ephemeral ports (32768-60999)
URL=http://127.0.0.1:$PORT

ch_start 1 || { fail "ClickHouse server starts"; finish; }
bg "$POST" "${CH_STORE[@]}" --listen "127.0.0.1:$PORT" --token "$TOKEN" --threads 4 \
	--no-detect 2>"$SV_TMP/post.err"
wait_for 20 grep -q 'listening on' "$SV_TMP/post.err" || { fail "post starts"; finish; }

T=$(($(date +%s) - 600))
# batch ID BOX N: a batch of N records, record i with i + 1 packets and its own last_ns.
batch() {
	local i
	printf '{"type":"batch","batch_id":"%s","box":"%s","agent_version":"t","interfaces":["e0"]}\n' "$1" "$2"
	for ((i = 0; i < $3; i++)); do
		printf '{"type":"flow","box":"%s","iface":"e0","direction":"egress","eth_type":2048,"ip_version":4,"protocol":6,"src_addr":"198.18.1.%d","dst_addr":"2001:db8::%x","src_port":%d,"dst_port":443,"src_mac":"02:00:00:00:00:0A","dst_mac":"02:00:00:00:00:02","packets":%d,"bytes":%d,"tcp_flags":24,"first_ns":%d000000000,"last_ns":%d000000000,"end_reason":"active"}\n' \
			"$2" $((i % 250 + 1)) $((i + 1)) $((1024 + i)) $((i + 1)) $((100 * (i + 1))) $((T + i)) $((T + i))
	done
}
ingest() { curl -s -H "Authorization: Bearer $TOKEN" --data-binary @"$1" "$URL/api/v1/ingest"; }
# stored BOX: count, distinct ids and packets of BOX's records in ClickHouse.
stored() {
	ch_query 0 "SELECT count(), uniqExact(id), sum(packets) FROM sv.flows_local WHERE box = '$1' FORMAT TSV" | tr '\t' ' '
}
# mutate SQL: an ALTER ... DELETE, waited for (mutations run in the background).
mutate() {
	ch_query 0 "$1" >/dev/null
	wait_for 30 sh -c "[ \"\$(curl -s --data-binary 'SELECT count() FROM system.mutations WHERE NOT is_done' http://127.0.0.1:${CH_HTTP[0]}/)\" = 0 ]"
}

# --- a try that stored part of its batch: the retry stores only the rest ---
batch part-1 part 10 >"$SV_TMP/part.ndjson"
check_eq "a batch of 10 records" '{"accepted":10,"skipped":0,"duplicate":false}' \
	"$(ingest "$SV_TMP/part.ndjson")"
check_eq "...stored once" "10 10 55" "$(stored part)"
# As if the insert had stored records 0-4 only and the post died before its done mark.
mutate "ALTER TABLE sv.flows_local DELETE WHERE box = 'part' AND bitAnd(id, 1048575) >= 5"
mutate "ALTER TABLE sv.batches_local DELETE WHERE box = 'part' AND state = 1"
check_eq "...of which 5 are left, no done mark" "5 5 15 0" "$(stored part) $(ch_query 0 \
	"SELECT count() FROM sv.batches_local WHERE box = 'part' AND state = 1")"
check_eq "its retry is answered as stored" '{"accepted":10,"skipped":0,"duplicate":false}' \
	"$(ingest "$SV_TMP/part.ndjson")"
check_eq "...and adds only the 5 missing records: each record once" "10 10 55" "$(stored part)"
check_eq "a third try is a duplicate" '{"accepted":0,"skipped":0,"duplicate":true}' \
	"$(ingest "$SV_TMP/part.ndjson")"
# All of it in, the done mark lost: the retry stores nothing again.
mutate "ALTER TABLE sv.batches_local DELETE WHERE box = 'part' AND state = 1"
ingest "$SV_TMP/part.ndjson" >/dev/null
check_eq "a retry of a batch stored whole without its done mark adds nothing" "10 10 55" \
	"$(stored part)"

# --- the same batch twice at once to one post: stored once, one answer a duplicate ---
answers=""
for r in 1 2 3 4 5; do
	batch "twin-$r" twin 20 >"$SV_TMP/twin$r.ndjson"
	ingest "$SV_TMP/twin$r.ndjson" >"$SV_TMP/a$r" &
	p1=$!
	ingest "$SV_TMP/twin$r.ndjson" >"$SV_TMP/b$r" &
	p2=$!
	wait $p1 $p2
	answers+="$(cat "$SV_TMP/a$r" "$SV_TMP/b$r" | jq -r .duplicate | sort | tr '\n' ' ')"
done
check_eq "5 batches sent twice at once: one answer stored, one a duplicate, each time" \
	"$(printf 'false true %.0s' 1 2 3 4 5)" "$answers"
check_eq "...each record stored once" "100 100 1050" "$(stored twin)"

# --- the rows as sent: every field back through the API ---
check_eq "records read back as sent (addresses, MACs lower case, times)" \
	'["198.18.1.3","2001:db8::3","02:00:00:00:00:0a",3,300,1026,"active"]' \
	"$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/v1/flows?box=part&since=$((T - 60))&src_port=1026&limit=10" |
		jq -c '.flows[] | [.src_addr, .dst_addr, .src_mac, .packets, .bytes, .src_port, .end_reason]')"
finish
