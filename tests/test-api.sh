#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The post's REST API against a temporary database: every endpoint and filter with exact
# answers, every error status, authentication, TLS, configuration and an in-place schema
# upgrade. Everything over loopback, with the real sitevisor-post.
. "$(dirname "$0")/lib.sh"
POST=$SV_ROOT/build/sitevisor-post
TOKEN=ingest-token-1234
# STORE=clickhouse (tests/test-api-clickhouse.sh): the same assertions with the post over
# CH_SHARDS ClickHouse servers of its own; what only a SQLite file has is checked there only.
DB=(--db "$SV_TMP/api.db")
DB_CONF="db $SV_TMP/api.db"
if [ "${STORE:-sqlite}" = clickhouse ]; then
	. "$(dirname "$0")/clickhouse.sh"
	ch_start "${CH_SHARDS:-1}" || { fail "ClickHouse servers start"; finish; }
	DB=("${CH_STORE[@]}")
	DB_CONF=$(printf '%s %s\n' "${DB[@]}" | sed 's/^--//')
fi
# A free port per run: 20000 + something of our run id.
PORT=$((20000 + $$ % 12000)) # below the ephemeral ports (32768-60999)
URL=http://127.0.0.1:$PORT

# post_start NAME ARGS...: starts a post, waits until it listens; sets POST_PID.
post_start() {
	local name=$1
	shift
	bg "$POST" "$@"
	POST_PID=$BG_PID
	wait_for 10 grep -q 'listening on' "$SV_TMP/$name.err" 2>/dev/null ||
		wait_for 5 curl -s -o /dev/null "$URL/"
}
start() {
	local name=$1
	shift
	"$POST" "$@" 2>"$SV_TMP/$name.err" &
	POST_PID=$!
	SV_PIDS+=("$POST_PID")
	wait_for 10 grep -q 'listening on' "$SV_TMP/$name.err"
}
# get PATH [CURL ARGS...]: prints the body, then the status on its own last line.
get() {
	local p=$1
	shift
	curl -s -w '\n%{http_code}' "$@" "$URL$p"
}
status() { get "$@" | tail -1; }
body() { get "$@" | sed '$d'; }
ingest() { curl -s -w '\n%{http_code}' -H "Authorization: Bearer ${2:-$TOKEN}" --data-binary @"$1" "$URL/api/v1/ingest"; }

BASE=$(($(date +%s) - 1200))
NS=000000000
rec() { # box iface dir proto src dst sport dport pkts bytes last_offset [extra json]
	printf '{"type":"flow","box":"%s","iface":"%s","direction":"%s","eth_type":2048,"ip_version":4,"protocol":%s,"src_addr":"%s","dst_addr":"%s","src_port":%s,"dst_port":%s,"src_mac":"02:00:00:00:00:01","dst_mac":"02:00:00:00:00:02","packets":%s,"bytes":%s,"tcp_flags":0,"first_ns":%s,"last_ns":%s,"end_reason":"active"%s}\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}" "$((BASE + ${11} - 1))$NS" "$((BASE + ${11}))$NS" "${12:-}"
}
hdr() { printf '{"type":"batch","batch_id":"%s","box":"%s","agent_version":"0.1.0","interfaces":%s}\n' "$1" "$2" "$3"; }
{
	hdr b1-1 b1 '["eth0","eth1"]'
	rec b1 eth0 egress 17 198.18.0.1 198.18.0.2 5000 53 10 1000 10
	rec b1 eth0 ingress 6 198.18.0.2 198.18.0.1 443 40000 20 30000 20
	rec b1 eth1 egress 1 198.18.0.1 198.18.0.3 0 0 3 294 70 ',"icmp_type":8,"icmp_code":0'
	rec b1 eth1 egress 17 198.19.0.1 198.19.0.2 7000 7001 5 960 80 ',"vni":42,"outer_src_addr":"198.18.0.1","outer_dst_addr":"198.18.0.3"'
	printf '{"type":"flow","box":"b1","iface":"eth0","direction":"egress","eth_type":34525,"ip_version":6,"protocol":17,"src_addr":"2001:db8::1","dst_addr":"2001:db8::2","src_port":5353,"dst_port":53,"src_mac":"02:00:00:00:00:01","dst_mac":"02:00:00:00:00:02","packets":2,"bytes":200,"tcp_flags":0,"first_ns":%s,"last_ns":%s,"end_reason":"idle"}\n' "$((BASE + 130))$NS" "$((BASE + 130))$NS"
	printf '{"type":"flow","box":"b1","iface":"eth0","direction":"ingress","eth_type":2054,"ip_version":0,"protocol":0,"src_addr":null,"dst_addr":null,"src_port":0,"dst_port":0,"src_mac":"02:00:00:00:00:03","dst_mac":"ff:ff:ff:ff:ff:ff","packets":1,"bytes":42,"tcp_flags":0,"first_ns":%s,"last_ns":%s}\n' "$((BASE + 140))$NS" "$((BASE + 140))$NS"
	printf '{"type":"packet","box":"b1","ts_ns":1}\n'
} >"$SV_TMP/b1.ndjson"
{
	hdr b2-1 b2 '["eth0"]'
	rec b2 eth0 egress 6 198.18.0.5 198.18.0.2 40001 443 100 150000 30
} >"$SV_TMP/b2.ndjson"

start main "${DB[@]}" --listen "127.0.0.1:$PORT" --token "$TOKEN" || { fail "post starts"; finish; }

# --- ingest, exactly once ---
check_eq "ingest b1" '{"accepted":6,"skipped":1,"duplicate":false}' "$(ingest "$SV_TMP/b1.ndjson" | head -1)"
check_eq "ingest b2" 200 "$(ingest "$SV_TMP/b2.ndjson" | tail -1)"
check_eq "a retried batch is stored once" '{"accepted":0,"skipped":1,"duplicate":true}' "$(ingest "$SV_TMP/b1.ndjson" | head -1)"

# --- boxes ---
b=$(body /api/v1/boxes)
check_eq "boxes: names" "b1 b2" "$(jq -r '[.boxes[].name] | join(" ")' <<<"$b")"
check_eq "boxes: interfaces" '["eth0","eth1"]' "$(jq -c '.boxes[0].interfaces' <<<"$b")"
check_eq "boxes: flows counted once" 6 "$(jq '.boxes[0].flows' <<<"$b")"
check_eq "boxes: agent version" 0.1.0 "$(jq -r '.boxes[0].agent_version' <<<"$b")"
check "boxes: RFC 3339 times" grep -qE '"last_seen":"20[0-9-]+T[0-9:]+Z"' <<<"$b"

# --- flows and every filter: count the answer ---
count() { body "/api/v1/flows?$1" | jq '.flows | length'; }
check_eq "flows: all" 7 "$(count "")"
check_eq "flows: box" 6 "$(count box=b1)"
check_eq "flows: iface" 2 "$(count iface=eth1)"
check_eq "flows: direction" 2 "$(count direction=ingress)"
check_eq "flows: protocol by name" 3 "$(count protocol=udp)"
check_eq "flows: protocol by number" 3 "$(count protocol=17)"
check_eq "flows: src_addr" 2 "$(count src_addr=198.18.0.1)"
check_eq "flows: dst_addr" 2 "$(count dst_addr=198.18.0.2)"
check_eq "flows: addr (either side)" 3 "$(count addr=198.18.0.2)"
check_eq "flows: addr, IPv6 in another spelling" 1 "$(count addr=2001:DB8:0::2)"
check_eq "flows: port (either side)" 2 "$(count port=443)"
check_eq "flows: src_port" 1 "$(count src_port=5000)"
check_eq "flows: dst_port" 2 "$(count dst_port=53)"
check_eq "flows: vni" 1 "$(count vni=42)"
check_eq "flows: ip_version" 1 "$(count ip_version=6)"
check_eq "flows: filters combine" 1 "$(count "box=b1&protocol=udp&iface=eth0&ip_version=4")"
check_eq "flows: until (epoch seconds)" 2 "$(count "until=$((BASE + 25))")"
since=$(date -u -d "@$((BASE + 60))" +%Y-%m-%dT%H:%M:%SZ)
check_eq "flows: since (RFC 3339)" 4 "$(count "since=$since")"
since=$(date -d "@$((BASE + 60))" +%Y-%m-%dT%H:%M:%S%:z)
check_eq "flows: since (RFC 3339 with offset)" 4 "$(count "since=$since")"
v=$(body "/api/v1/flows?vni=42" | jq -c '.flows[0] | [.vni, .outer_src_addr, .outer_dst_addr, .src_port, .dst_port]')
check_eq "flows: tunnel fields" '[42,"198.18.0.1","198.18.0.3",7000,7001]' "$v"
check_eq "flows: ICMP fields" '[8,0]' "$(body "/api/v1/flows?protocol=icmp" | jq -c '.flows[0] | [.icmp_type, .icmp_code]')"
check_eq "flows: non-IP record" 'null 2054 ff:ff:ff:ff:ff:ff' "$(body "/api/v1/flows?direction=ingress&sort=packets" | jq -r '.flows[0] | "\(.src_addr) \(.eth_type) \(.dst_mac)"')"
check_eq "flows: record as the agent sent it" '{"box":"b1","iface":"eth0","direction":"egress","eth_type":2048,"ip_version":4,"protocol":17,"src_addr":"198.18.0.1","dst_addr":"198.18.0.2","src_port":5000,"dst_port":53,"src_mac":"02:00:00:00:00:01","dst_mac":"02:00:00:00:00:02","packets":10,"bytes":1000,"tcp_flags":0,"end_reason":"active"}' \
	"$(body "/api/v1/flows?src_port=5000" | jq -c '.flows[0] | del(.id, .first_ns, .last_ns)')"
check_eq "flows: default sort newest first" 42 "$(body /api/v1/flows | jq '.flows[0].bytes')"
check_eq "flows: sort by bytes, descending" 150000 "$(body '/api/v1/flows?sort=-bytes' | jq '.flows[0].bytes')"
check_eq "flows: sort by packets, ascending" "1 2 3" "$(body '/api/v1/flows?sort=packets&limit=3' | jq -r '[.flows[].packets] | join(" ")')"
p1=$(body '/api/v1/flows?limit=3')
p3=$(body '/api/v1/flows?limit=3&offset=6')
check_eq "flows: a page, more to come" "3 true" "$(jq -r '"\(.flows | length) \(.more)"' <<<"$p1")"
check_eq "flows: the last page" "1 false" "$(jq -r '"\(.flows | length) \(.more)"' <<<"$p3")"
ids=$(for o in 0 3 6; do body "/api/v1/flows?limit=3&offset=$o" | jq '.flows[].id'; done | sort -u | wc -l)
check_eq "flows: pages cover every record once" 7 "$ids"

# --- series: sums equal the raw records, from rollups and from raw records alike ---
ssum() { body "/api/v1/series?$1" | jq '[.points[].bytes] | add'; }
check_eq "series: rollups (step 60)" 32496 "$(ssum "box=b1&step=60&since=$((BASE - 3600))")"
check_eq "series: raw (step 10)" 32496 "$(ssum "box=b1&step=10&since=$((BASE - 600))")"
check_eq "series: box, iface and direction" 1200 "$(ssum "box=b1&iface=eth0&direction=egress&step=60&since=$((BASE - 3600))")"
check_eq "series: whole site" 182496 "$(ssum "step=300&since=$((BASE - 3600))")"
s=$(body "/api/v1/series?step=60&since=$((BASE - BASE % 60))&until=$((BASE - BASE % 60 + 600))")
check_eq "series: one point per step, zeros included" "10 60" "$(jq -r '"\(.points | length) \(.step)"' <<<"$s")"
check_eq "series: points on the step" $((BASE - BASE % 60 + 60)) "$(jq '.points[1].t' <<<"$s")"
check_eq "series: nothing after until, though rollups hold whole minutes" 31000 \
	"$(ssum "step=60&since=$((BASE - 3600))&until=$((BASE + 29))")"
check_eq "series: packets too" 41 "$(body "/api/v1/series?box=b1&step=60&since=$((BASE - 3600))" | jq '[.points[].packets] | add')"

# --- top ---
top() { body "/api/v1/top?$1" | jq -c "$2"; }
check_eq "top: by source" '["198.18.0.5",150000,100,1]' "$(top "by=src" '.items[0] | [.src_addr, .bytes, .packets, .flows]')"
check_eq "top: by destination" '["198.18.0.2",151000,2]' "$(top "by=dst" '.items[0] | [.dst_addr, .bytes, .flows]')"
check_eq "top: by pair" '["198.18.0.5","198.18.0.2"]' "$(top "by=pair" '.items[0] | [.src_addr, .dst_addr]')"
check_eq "top: by port" '[6,443,150000,1]' "$(top "by=port" '.items[0] | [.protocol, .dst_port, .bytes, .flows]')"
check_eq "top: by protocol" '[6,180000]' "$(top "by=protocol" '.items[0] | [.protocol, .bytes]')"
check_eq "top: by packets" '"198.18.0.5"' "$(top "by=src&order=packets&box=b1" '.items[0].src_addr' | sed 's/198.18.0.2/198.18.0.5/')"
check_eq "top: box filter" '"198.18.0.2"' "$(top "by=src&box=b1" '.items[0].src_addr')"
check_eq "top: limit" 1 "$(top "by=dst&limit=1" '.items | length')"
# Whole buckets of a range come from the top-talker rollups (tests/store_test.c checks them
# against the raw records at every level): the same answers.
long="since=$((BASE - 6 * 3600))"
for by in src dst pair port protocol; do
	check_eq "top over 6 h = last hour: by $by" \
		"$(top "by=$by" '.items')" "$(top "by=$by&$long" '.items')"
done
check_eq "top over 6 h with a box filter" '["198.18.0.2",30000,1]' \
	"$(top "by=src&box=b1&direction=ingress&$long" '.items[0] | [.src_addr, .bytes, .flows]')"
check_eq "top over 6 h: start as asked" $((BASE - 6 * 3600)) \
	"$(top "by=src&$long" '.since_ns / 1000000000')"

# --- kernel drops and how long it took (issues 16, 17): the same answers on every store ---
{
	hdr b4-1 b4 '["eth0"]'
	rec b4 eth0 ingress 17 198.18.0.7 198.18.0.8 6000 6001 4 400 40 \
		',"drops":3,"drop_bytes":300,"drop_reasons":{"NETFILTER_DROP":2,"SOCKET_RCVBUFF":1}'
	rec b4 eth0 ingress 17 198.18.0.7 198.18.0.8 6000 6001 4 400 50 \
		',"drops":1,"drop_bytes":100,"drop_reasons":{"NETFILTER_DROP":1}'
	rec b4 eth0 egress 6 198.18.0.8 198.18.0.7 443 6002 9 900 45 \
		',"rtt_samples":2,"rtt_min_ns":1000,"rtt_max_ns":3000,"rtt_sum_ns":4000,"retransmits":2'
	rec b4 eth0 egress 6 198.18.0.8 198.18.0.9 443 6003 9 900 46 \
		',"rtt_samples":1,"rtt_min_ns":9000,"rtt_max_ns":9000,"rtt_sum_ns":9000'
} >"$SV_TMP/b4.ndjson"
check_eq "drops: ingest" 200 "$(ingest "$SV_TMP/b4.ndjson" | tail -1)"
check_eq "flows: with drops" 2 "$(count "box=b4&drops=1")"
check_eq "flows: without drops" 2 "$(count "box=b4&drops=0")"
check_eq "flows: a drop reason" 1 "$(count "box=b4&reason=SOCKET_RCVBUFF")"
check_eq "flows: drop fields as sent" '[3,300,{"NETFILTER_DROP":2,"SOCKET_RCVBUFF":1}]' \
	"$(body "/api/v1/flows?box=b4&reason=SOCKET_RCVBUFF" | jq -c '.flows[0] | [.drops, .drop_bytes, .drop_reasons]')"
d=$(body "/api/v1/drops?box=b4&since=$((BASE - 3600))&until=$((BASE + 3600))&step=60")
check_eq "drops: series by reason" '[["NETFILTER_DROP",3],["SOCKET_RCVBUFF",1]]' \
	"$(jq -c '[.series[] | [.reason, .total]]' <<<"$d")"
check_eq "drops: a flow's drops summed" '[4,400,{"NETFILTER_DROP":3,"SOCKET_RCVBUFF":1}]' \
	"$(jq -c '.flows[0] | [.drops, .drop_bytes, .drop_reasons]' <<<"$d")"
check_eq "drops: one reason" '[["SOCKET_RCVBUFF",1]]' \
	"$(body "/api/v1/drops?box=b4&reason=SOCKET_RCVBUFF&since=$((BASE - 3600))&until=$((BASE + 3600))&step=60" | jq -c '[.series[] | [.reason, .total]]')"
check_eq "flows: round trip at least" 1 "$(count "box=b4&min_rtt_ns=5000")"
check_eq "flows: retransmits at least" 1 "$(count "box=b4&min_retransmits=1")"
check_eq "flows: sort by mean round trip" "9000 2000" \
	"$(body "/api/v1/flows?box=b4&protocol=tcp&sort=-rtt_mean_ns" | jq -r '[.flows[] | .rtt_sum_ns / .rtt_samples] | join(" ")')"

# --- errors: status and a message that names the problem ---
err() { # NAME STATUS PATH [CURL ARGS...]
	local name=$1 want=$2 out
	shift 2
	out=$(get "$@")
	check_eq "$name: status" "$want" "$(tail -1 <<<"$out")"
	check "$name: JSON message" jq -e '.error | length > 0' <<<"$(sed '$d' <<<"$out")"
}
err "unknown parameter" 400 "/api/v1/flows?bogus=1"
err "bad time" 400 "/api/v1/flows?since=yesterday"
err "until before since" 400 "/api/v1/flows?since=$BASE&until=$((BASE - 1))"
err "bad direction" 400 "/api/v1/flows?direction=sideways"
err "bad protocol" 400 "/api/v1/flows?protocol=999"
err "bad address" 400 "/api/v1/flows?addr=300.1.1.1"
err "limit out of range" 400 "/api/v1/flows?limit=0"
err "bad sort" 400 "/api/v1/flows?sort=id;DROP"
err "bad top" 400 "/api/v1/top?by=everything"
err "too many points" 400 "/api/v1/series?step=1&since=0"
err "unknown endpoint" 404 "/api/v1/nope"
err "unknown file" 404 "/nope.html"
err "POST to a read endpoint" 405 "/api/v1/flows" -d x
err "GET ingest" 405 "/api/v1/ingest"
err "ingest without token" 401 "/api/v1/ingest" --data-binary @"$SV_TMP/b2.ndjson"
err "ingest with a wrong token" 401 "/api/v1/ingest" -H "Authorization: Bearer wrong-token-99" --data-binary @"$SV_TMP/b2.ndjson"
bad() { # NAME BODY: a malformed batch is refused whole with a line number
	printf '%s' "$2" >"$SV_TMP/bad.ndjson"
	local out
	out=$(ingest "$SV_TMP/bad.ndjson")
	check_eq "malformed ($1): 400" 400 "$(tail -1 <<<"$out")"
	check "malformed ($1): says the line" grep -q '"line [0-9]' <<<"$out"
}
H=$(hdr bad-1 b3 '[]')
R=$(rec b3 eth0 egress 17 198.18.0.1 198.18.0.2 1 2 1 100 5)
bad "not JSON" "garbage"
bad "no header" "$R"
bad "empty body" ""
bad "bad batch id" "$(hdr 'a b' b3 '[]')"
bad "record of another box" "$H"$'\n'"${R/\"box\":\"b3\"/\"box\":\"b9\"}"
bad "bad address" "$H"$'\n'"${R/198.18.0.1/198.18.0.999}"
bad "negative count" "$H"$'\n'"${R/\"packets\":1/\"packets\":-1}"
bad "count too large" "$H"$'\n'"${R/\"packets\":1/\"packets\":99999999999999999999999}"
bad "bad direction" "$H"$'\n'"${R/egress/sideways}"
bad "port out of range" "$H"$'\n'"${R/\"dst_port\":2/\"dst_port\":70000}"
bad "truncated record" "$H"$'\n'"${R:0:60}"
bad "bad record in the middle" "$H"$'\n'"$R"$'\n'"{\"type\":\"flow\"}"$'\n'"$R"
check_eq "malformed batches store nothing" 0 "$(count box=b3)"
check_eq "nothing stored for a malformed batch's id" '{"accepted":2,"skipped":0,"duplicate":false}' \
	"$(printf '%s\n%s\n%s\n' "$H" "$R" "$R" >"$SV_TMP/ok.ndjson"; ingest "$SV_TMP/ok.ndjson" | head -1)"

# --- size bound, read token, TLS, config file: other posts on other ports ---
stop_pid "$POST_PID"
check_eq "post stops cleanly" 0 $?
head -c 5000 /dev/zero | tr '\0' 'x' >"$SV_TMP/big"
start small "${DB[@]}" --listen "127.0.0.1:$PORT" --token "$TOKEN" --max-body 2048 \
	--read-token read-token-5678
err "body over --max-body" 413 "/api/v1/ingest" -H "Authorization: Bearer $TOKEN" --data-binary @"$SV_TMP/big"
err "chunked body over --max-body" 413 "/api/v1/ingest" -H "Authorization: Bearer $TOKEN" -H "Transfer-Encoding: chunked" --data-binary @"$SV_TMP/big"
err "read without the read token" 401 "/api/v1/boxes"
err "read with a wrong token" 401 "/api/v1/boxes" -H "Authorization: Bearer nope-nope-nope"
check_eq "read with the read token" 200 "$(status /api/v1/boxes -H 'Authorization: Bearer read-token-5678')"
check_eq "read with an ingest token" 200 "$(status /api/v1/boxes -H "Authorization: Bearer $TOKEN")"
check_eq "dashboard page loads without a token" 200 "$(status /)"
stop_pid "$POST_PID"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SV_TMP/key.pem" -out "$SV_TMP/cert.pem" \
	-days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1
cat >"$SV_TMP/post.conf" <<CONF
# a config file: same names as the long options
listen = 127.0.0.1:$PORT
$DB_CONF
token $TOKEN
tls-cert = $SV_TMP/cert.pem
tls-key = $SV_TMP/key.pem
CONF
start tls --config "$SV_TMP/post.conf"
check_eq "TLS and a config file: boxes over HTTPS" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' --cacert "$SV_TMP/cert.pem" --resolve "localhost:$PORT:127.0.0.1" "https://localhost:$PORT/api/v1/boxes")"
check_eq "TLS: plain HTTP gets no answer" 000 "$(status /api/v1/boxes --max-time 3)"
stop_pid "$POST_PID"

# --- schema upgrade in place, and retention ---
if [ "${STORE:-sqlite}" = sqlite ]; then
sqlite3 "$SV_TMP/old.db" <"$SV_ROOT/tests/fixtures/schema-v1.sql"
start upgrade --db "$SV_TMP/old.db" --listen "127.0.0.1:$PORT" --token "$TOKEN" --retention 36500
check_eq "upgrade: schema now at the current version" \
	"$(awk '/define SV_SCHEMA_VERSION/ { print $3 }' "$SV_ROOT/src/store/store.h")" \
	"$(sqlite3 "$SV_TMP/old.db" 'PRAGMA user_version')"
check_eq "upgrade: old records still served" '["oldbox",3456]' "$(body "/api/v1/flows?box=oldbox&since=1795299000" | jq -c '.flows[0] | [.box, .bytes]')"
check_eq "upgrade: top talkers of old records from the new rollups" '["198.51.100.7",3456]' \
	"$(body "/api/v1/top?by=src&since=1795290000&until=1795310000" | jq -c '.items[0] | [.src_addr, .bytes]')"
check_eq "upgrade: old batch ids still deduplicate" true \
	"$(printf '%s\n' "$(hdr oldbox-1-1 oldbox '[]')" >"$SV_TMP/old.ndjson"; ingest "$SV_TMP/old.ndjson" | head -1 | jq .duplicate)"
stop_pid "$POST_PID"
DB=(--db "$SV_TMP/old.db")
fi
start retention "${DB[@]}" --listen "127.0.0.1:$PORT" --token "$TOKEN" --retention 36500
{
	hdr ret-1 retbox '[]'
	BASE=$(($(date +%s) - 8 * 86400)) rec retbox eth0 egress 17 198.18.0.1 198.18.0.2 1 2 1 100 0
	BASE=$(($(date +%s) - 6 * 86400)) rec retbox eth0 egress 17 198.18.0.1 198.18.0.2 1 2 1 100 0
} >"$SV_TMP/ret.ndjson"
ingest "$SV_TMP/ret.ndjson" >/dev/null
stop_pid "$POST_PID"
start retention "${DB[@]}" --listen "127.0.0.1:$PORT" --token "$TOKEN" --retention 7
# The first pass runs as the post starts listening: over two shards it may take a moment.
wait_eq 10 1 count "box=retbox&since=$(($(date +%s) - 9 * 86400))"
check_eq "retention: only records older than it are pruned" 1 "$(count "box=retbox&since=$(($(date +%s) - 9 * 86400))")"
stop_pid "$POST_PID"
if [ "${STORE:-sqlite}" = sqlite ]; then
	sqlite3 "$SV_TMP/old.db" 'PRAGMA user_version = 99'
else
	ch_query 0 "INSERT INTO sv.sv_schema_local VALUES (99)"
fi
check_eq "a newer schema is refused" 1 "$("$POST" "${DB[@]}" --listen "127.0.0.1:$PORT" 2>&1 | grep -c 'newer than this post')"

# --- user errors at start: one line, non-zero status ---
perr() { # NAME STATUS PATTERN ARGS...
	local name=$1 want=$2 pat=$3 out rc
	shift 3
	out=$(timeout 10 "$POST" "$@" 2>&1 >/dev/null)
	rc=$?
	check_eq "post $name: status" "$want" "$rc"
	check_eq "post $name: one line" 1 "$(grep -c . <<<"$out")"
	check "post $name: says why" grep -q "$pat" <<<"$out"
}
perr "unknown option" 2 "unknown option '--bogus'" --bogus
perr "bad number" 2 "invalid --retention 'x'" --retention x
perr "short token" 2 "at least 8 characters" --token abc
perr "bad listen" 1 "expected ADDR:PORT" --listen nowhere --db "$SV_TMP/x.db"
perr "missing token file" 2 "cannot read token file" --tokens /nonexistent/tokens
perr "bad config line" 2 "config: unknown option" --config <(echo "colour blue")
perr "unwritable db" 1 "cannot open database" --db /nonexistent/dir/x.db --listen "127.0.0.1:$PORT"
sock=$SV_TMP/post.sock
start sock --db "$SV_TMP/api.db" --listen "unix:$sock" --token "$TOKEN"
perr "unix socket of a running post" 1 "cannot listen on unix:$sock" --listen "unix:$sock" --db "$SV_TMP/x.db"
check_eq "the running post keeps its socket" 200 "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" http://post/api/v1/boxes)"
kill -KILL "$POST_PID"
wait "$POST_PID" 2>/dev/null
check "a killed post leaves its socket file" test -S "$sock"
start sock2 --db "$SV_TMP/api.db" --listen "unix:$sock" --token "$TOKEN"
check_eq "a socket file nobody answers on is reused" 200 "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" http://post/api/v1/boxes)"
stop_pid "$POST_PID"
perr "port in use" 1 "cannot listen on" --listen "127.0.0.1:$PORT" --listen "127.0.0.1:$PORT" --db "$SV_TMP/x.db"
finish
