#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The InfluxDB exit against a real influxd (1.x) started here, with its own configuration and
# directories, on the loopback of a namespace made for this run: an agent's points add up to
# the traffic sent and to its own JSON, also across an InfluxDB outage; the post forwards what
# it stores, once; addresses and ports are fields, not tags; names from users are escaped; a
# refusing InfluxDB is counted. The 2.x write (URL, token) is checked against a listener that
# records the request: there is no 2.x server here. Last, the Grafana provisioning in
# deploy/grafana: valid files, one data source uid, and every dashboard query runs.
. "$(dirname "$0")/lib.sh"
need_root influx
for t in influxd jq curl python3; do
	command -v "$t" >/dev/null || { skip "influx (needs $t)"; exit 0; }
done
POST=$SV_ROOT/build/sitevisor-post
TOKEN=influx-test-token-$RUN_ID
DB=sv
# Ports on the loopback of C, a namespace made for this run: nothing else can hold them.
IPORT=8086 RPORT=8088 PPORT=8080 RPORT2=8081 LPORT=8087
IURL=http://127.0.0.1:$IPORT
IDIR=$SV_TMP/influxdb

C=$(ns_add c) && S=$(ns_add s) || exit 1
in_c() { ip netns exec "$C" "$@"; }
veth "$C" vc "$S" vs
no_ipv6 "$C" vc
no_ipv6 "$S" vs
ip -n "$C" addr add 198.18.9.1/24 dev vc
ip -n "$S" addr add 198.18.9.2/24 dev vs
wait_for 5 in_c ping -c 1 -W 1 198.18.9.2 || fail "ping before tracing"
for p in $IPORT $RPORT $PPORT $RPORT2 $LPORT; do
	[ -z "$(in_c ss -Htln "sport = :$p")" ] || { fail "port $p already in use in $C"; finish; }
done

# influxd on C's loopback only: HTTP and the RPC/backup service, no reporting (the upstream
# key and Debian's renamed one), no _internal monitor database, no query or HTTP logs.
mkdir -p "$IDIR"
cat >"$IDIR/influxdb.conf" <<EOF
reporting-disabled = true
reporting-enabled = false
bind-address = "127.0.0.1:$RPORT"
[meta]
  dir = "$IDIR/meta"
[data]
  dir = "$IDIR/data"
  wal-dir = "$IDIR/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$IPORT"
  log-enabled = false
[continuous_queries]
  enabled = false
EOF
# influx_start: (re)starts influxd on the same directories; sets INFLUX_PID.
influx_start() {
	bg ip netns exec "$C" influxd -config "$IDIR/influxdb.conf" >>"$SV_TMP/influxd.log" 2>&1
	INFLUX_PID=$BG_PID
	wait_for 30 in_c curl -sf --max-time 2 "$IURL/ping"
}
# q QUERY: InfluxDB's JSON answer on database $DB.
q() { in_c curl -s --max-time 10 -G "$IURL/query" --data-urlencode "db=$DB" --data-urlencode "q=$1"; }
# row QUERY: the first row's values after the time column, space-separated ("0" if none).
row() { q "$1" | jq -r '(.results[0].series[0].values[0] // [0, 0]) | .[1:] | map(tostring) | join(" ")'; }
# by_tags QUERY: "tag1 tag2 value..." per series, sorted (GROUP BY queries).
by_tags() {
	q "$1" | jq -r '.results[0].series // [] | .[] |
		([.tags[]] + (.values[0][1:] | map(tostring))) | join(" ")' | sort
}
# tag_list QUERY: SHOW TAG KEYS / TAG VALUES answers as one sorted line.
tag_list() { q "$1" | jq -r '[.results[0].series[]?.values[] | .[-1]] | sort | join(" ")'; }
# row_is QUERY EXPECTED: for wait_for.
row_is() { [ "$(row "$1")" = "$2" ]; }

influx_start || { fail "influxd answers /ping"; cat "$SV_TMP/influxd.log"; finish; }
pass "influxd answers /ping"
check_eq "create database" '{"results":[{"statement_id":0}]}' \
	"$(in_c curl -s --max-time 10 -XPOST "$IURL/query" --data-urlencode "q=CREATE DATABASE $DB")"

# --- mistakes stop a start ---------------------------------------------------------------
in_c "$AGENT" --influx "$IURL/" 2>"$SV_TMP/bad1.err"
check_eq "agent: --influx without /write exits 1" 1 $?
check "agent: ... with one line saying why" grep -q "invalid --influx.*/write" "$SV_TMP/bad1.err"
in_c "$AGENT" --influx "$IURL/api/v2/write?org=o&bucket=b" 2>"$SV_TMP/bad2.err"
check "agent: 2.x without a token is refused" grep -q "2.x needs --influx-token" "$SV_TMP/bad2.err"
in_c "$AGENT" --influx "$IURL/write?db=x&precision=s" 2>"$SV_TMP/bad3.err"
check "agent: another precision is refused" grep -q "nanosecond" "$SV_TMP/bad3.err"
in_c "$AGENT" --influx-token t 2>/dev/null
check_eq "agent: --influx-token without --influx is a usage error" 2 $?

# --- (1) an agent's points, (5) across an outage, (4) a box name to escape ---------------
BOX='edge 1,rack=a'
agent_start "$C" c --box "$BOX" --influx "$IURL/write?db=$DB" || exit 1
agent=$AGENT_PID
in_c "$TOOLS/udpsend" -n 100 -s 200 -p 44001 198.18.9.2 9401 >/dev/null
in_c "$TOOLS/udpsend" -n 30 -s 500 -p 44002 198.18.9.2 9402 >/dev/null
F="FROM sitevisor_flow WHERE box = '$BOX'"
udp="iface = 'vc' AND direction = 'egress' AND protocol = 'udp' AND ip_version = '4'"
arrived() { row_is "SELECT sum(packets) $F AND dst_port = $1" "$2"; }
check "agent: points arrive while it runs" wait_for 10 arrived 9401 100

# InfluxDB goes away while traffic goes on; the agent keeps the points and retries.
stop_pid "$INFLUX_PID"
in_c "$TOOLS/udpsend" -n 50 -s 300 -p 44003 198.18.9.2 9403 >/dev/null
check "outage: the agent says InfluxDB is away" wait_for 10 grep -q 'cannot write to InfluxDB' "$SV_TMP/c.err"
sleep 2 # a few more intervals: more requests wait
in_c "$TOOLS/udpsend" -n 20 -s 100 -p 44004 198.18.9.2 9404 >/dev/null
sleep 1.5
influx_start || fail "influxd starts again"
check "outage: the agent says InfluxDB is back" wait_for 40 grep -q 'answers again' "$SV_TMP/c.err"
check "outage: the outage's points arrive" wait_for 10 arrived 9404 20
stop_pid "$agent"
check_eq "agent exits 0" 0 $?
sed -n 's/^/agent: /; /influx\|InfluxDB\|packets, /p' "$SV_TMP/c.err"
check_eq "outage: said once that it failed" 1 "$(grep -c 'cannot write to InfluxDB' "$SV_TMP/c.err")"
check_eq "outage: said once that it is back" 1 "$(grep -c 'answers again' "$SV_TMP/c.err")"
check "agent: nothing dropped, refused or left" grep -q \
	' 0 points dropped (queue full), 0 refused by InfluxDB, 0 not queued (out of memory), 0 not written by the end' \
	"$SV_TMP/c.err"

# UDP frames are 14 + 20 + 8 + payload bytes.
check_eq "flow: udp 9401 packets bytes" "100 24200" "$(row "SELECT sum(packets), sum(bytes) $F AND $udp AND dst_port = 9401")"
check_eq "flow: udp 9402 packets bytes" "30 16260" "$(row "SELECT sum(packets), sum(bytes) $F AND $udp AND dst_port = 9402")"
check_eq "flow: udp 9403 (sent during the outage)" "50 17100" "$(row "SELECT sum(packets), sum(bytes) $F AND $udp AND dst_port = 9403")"
check_eq "flow: udp 9404 (sent during the outage)" "20 2840" "$(row "SELECT sum(packets), sum(bytes) $F AND $udp AND dst_port = 9404")"
check_eq "flow: addresses and ports as fields" 100 \
	"$(row "SELECT sum(packets) $F AND src_addr = '198.18.9.1' AND dst_addr = '198.18.9.2' AND src_port = 44001 AND dst_port = 9401")"
js=$SV_TMP/c.json
read -r tp tb <<<"$(agent_totals "$SV_TMP/c.err")"
check_eq "flow: every packet and byte the agent saw, once" "$tp $tb" "$(row "SELECT sum(packets), sum(bytes) $F")"
check_eq "flow: one point per record of the agent's JSON" \
	"$(jq -s '[.[] | select(.type == "flow")] | length' "$js")" "$(row "SELECT count(packets) $F")"
# Per interface and direction: the sums of the agent's own JSON, records counted as flows.
check_eq "iface: sums per interface and direction = the agent's JSON" \
	"$(jq -rs '[.[] | select(.type == "flow")] | group_by([.direction, .iface])[] |
		"\(.[0].direction) \(.[0].iface) \(map(.packets) | add) \(map(.bytes) | add) \(length)"' "$js" | sort)" \
	"$(by_tags "SELECT sum(packets), sum(bytes), sum(flows) FROM sitevisor_iface WHERE box = '$BOX' GROUP BY direction, iface")"
check_eq "escaping: a box name with a space, a comma and = round-trips" "$BOX" \
	"$(tag_list "SHOW TAG VALUES FROM sitevisor_iface WITH KEY = box WHERE box = '$BOX'")"

# --- (2) the post forwards what it stores ------------------------------------------------
bg ip netns exec "$C" "$POST" --listen "127.0.0.1:$PPORT" --db "$SV_TMP/post.db" --token "$TOKEN" \
	--ipfix-listen "127.0.0.1:$((PPORT + 1))" --influx "$IURL/write?db=$DB" 2>"$SV_TMP/post.err"
post=$BG_PID
wait_for 10 grep -q 'listening on' "$SV_TMP/post.err" || { fail "post starts"; cat "$SV_TMP/post.err"; finish; }
T=$(($(date +%s) - 120))
rec() { # box iface direction protocol dport packets bytes offset [extra json]
	printf '{"type":"flow","box":%s,"iface":"%s","direction":"%s","eth_type":2048,"ip_version":4,"protocol":%s,"src_addr":"198.18.9.7","dst_addr":"198.18.9.8","src_port":5000,"dst_port":%s,"src_mac":"02:00:00:00:00:01","dst_mac":"02:00:00:00:00:02","packets":%s,"bytes":%s,"tcp_flags":0,"first_ns":%s000000000,"last_ns":%s000000000,"end_reason":"active"%s}\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$7" "$((T + $8 - 1))" "$((T + $8))" "${9:-}"
}
hdr() { printf '{"type":"batch","batch_id":"%s","box":%s,"agent_version":"t","interfaces":["eth0","eth1"]}\n' "$1" "$2"; }
PBOX='post "q",2'
pj='"post \"q\",2"'
{
	hdr p-1 "$pj"
	rec "$pj" eth0 egress 17 53 7 700 1
	rec "$pj" eth0 egress 6 443 3 300 2
	rec "$pj" eth0 ingress 1 0 2 196 3 ',"icmp_type":0,"icmp_code":0'
	rec "$pj" eth1 egress 17 7001 5 960 4 ',"vni":42,"outer_src_addr":"198.18.9.1","outer_dst_addr":"198.18.9.3"'
} >"$SV_TMP/p1.ndjson"
ingest() {
	in_c curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" --data-binary @"$1" \
		"http://127.0.0.1:${2:-$PPORT}/api/v1/ingest"
}
check_eq "post: ingest" '{"accepted":4,"skipped":0,"duplicate":false}' "$(ingest "$SV_TMP/p1.ndjson")"
check_eq "post: the same batch again is a duplicate" '{"accepted":0,"skipped":0,"duplicate":true}' \
	"$(ingest "$SV_TMP/p1.ndjson")"
PF="FROM sitevisor_flow WHERE box = '$PBOX'"
check "post: points arrive" wait_for 10 row_is "SELECT count(packets) $PF" 4
check_eq "post: flow totals" "17 2156" "$(row "SELECT sum(packets), sum(bytes) $PF")"
check_eq "post: iface sums per interface and direction" \
	"$(printf '%s\n' 'egress eth0 10 1000 2' 'egress eth1 5 960 1' 'ingress eth0 2 196 1')" \
	"$(by_tags "SELECT sum(packets), sum(bytes), sum(flows) FROM sitevisor_iface WHERE box = '$PBOX' GROUP BY direction, iface")"
check_eq "post: protocol names" "icmp tcp udp" "$(tag_list "SHOW TAG VALUES FROM sitevisor_flow WITH KEY = protocol WHERE box = '$PBOX'")"
check_eq "post: vni only on the tunnelled record" "1 42" "$(row "SELECT count(vni), sum(vni) $PF")"
check_eq "escaping: a box name with quotes and a comma round-trips" "$PBOX" \
	"$(tag_list "SHOW TAG VALUES FROM sitevisor_iface WITH KEY = box WHERE box = '$PBOX'")"
# A backslash: InfluxDB 1.x cannot parse one at the end of a tag value however escaped; the
# point must still be written, with '_' there.
{
	hdr p-2 '"win\\dom\\"'
	rec '"win\\dom\\"' eth0 egress 17 53 1 100 5
} >"$SV_TMP/p2.ndjson"
check_eq "post: ingest a box name with backslashes" 1 "$(ingest "$SV_TMP/p2.ndjson" | jq .accepted)"
check "escaping: a trailing backslash becomes _, the point is written" wait_for 10 row_is \
	"SELECT sum(packets) FROM sitevisor_flow WHERE box =~ /^win.*dom_\$/" 1
# Records an IPFIX exporter sends the post go to InfluxDB too: 1 flow and 1 iface point.
TMPL=$(tmpl 256 8:4 12:4 4:1 7:2 11:2 2:8 1:8 151:4)
REC=c6120907c612090811$(u16 5000)$(u16 53)$(u64 6)$(u64 600)$(u32 $((T + 7)))
check_eq "post: an IPFIX message sent" 1 "$(in_c "$TOOLS/udpmsg" 127.0.0.1 $((PPORT + 1)) \
	"$(ipfix 9 1 $((T + 8)) "$(set_ 2 "$TMPL")" "$(set_ 256 "$REC")")")"
check "post: records collected over IPFIX reach InfluxDB" wait_for 10 row_is \
	"SELECT sum(packets) FROM sitevisor_flow WHERE box = 'ipfix:127.0.0.1'" 6
stop_pid "$post"
check_eq "post exits 0" 0 $?
# 4 + 1 + 1 flow points and 3 + 1 + 1 iface points: the duplicate was not forwarded.
check "post: each stored batch forwarded once (11 points)" grep -q 'influxdb: 11 points written in [0-9]* requests; 0 points dropped' "$SV_TMP/post.err"

# --- (3) tags and fields -----------------------------------------------------------------
check_eq "tags: sitevisor_flow" "box direction iface ip_version protocol" "$(tag_list "SHOW TAG KEYS FROM sitevisor_flow")"
check_eq "tags: sitevisor_iface" "box direction iface" "$(tag_list "SHOW TAG KEYS FROM sitevisor_iface")"
check_eq "fields: sitevisor_flow" \
	"bytes:integer dst_addr:string dst_port:integer first_ns:integer packets:integer retransmits:integer src_addr:string src_port:integer tcp_flags:integer vni:integer" \
	"$(q "SHOW FIELD KEYS FROM sitevisor_flow" | jq -r '[.results[0].series[0].values[] | join(":")] | sort | join(" ")')"

# --- a refusing InfluxDB (4xx): dropped, counted, said ----------------------------------
bg ip netns exec "$C" "$POST" --listen "127.0.0.1:$RPORT2" --db "$SV_TMP/post2.db" --token "$TOKEN" \
	--influx "$IURL/write?db=nosuchdb" 2>"$SV_TMP/post2.err"
post2=$BG_PID
wait_for 10 grep -q 'listening on' "$SV_TMP/post2.err" || fail "second post starts"
sed 's/p-1/p-3/' "$SV_TMP/p1.ndjson" >"$SV_TMP/p3.ndjson"
check_eq "refused: the post stores the batch" 4 "$(ingest "$SV_TMP/p3.ndjson" "$RPORT2" | jq .accepted)"
check "refused: said with InfluxDB's reason" wait_for 10 grep -q 'refused 7 points (HTTP 404: .*database not found' "$SV_TMP/post2.err"
stop_pid "$post2"
check "refused: counted in the summary" grep -q '0 points written in 0 requests; 0 points dropped (queue full), 7 refused by InfluxDB' "$SV_TMP/post2.err"

# --- 2.x: URL, token and body as a listener sees them -------------------------------------
cat >"$SV_TMP/listener.py" <<'EOF'
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(sys.argv[2], "a") as f:
            f.write(json.dumps({"path": self.path, "headers": dict(self.headers.items()),
                                "body": body}) + "\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
bg ip netns exec "$C" python3 "$SV_TMP/listener.py" "$LPORT" "$SV_TMP/v2.json"
wait_for 10 sh -c "ip netns exec $C ss -Htln 'sport = :$LPORT' | grep -q LISTEN" || fail "2.x listener starts"
bg ip netns exec "$C" "$POST" --listen "127.0.0.1:$PPORT" --db "$SV_TMP/post3.db" --token "$TOKEN" \
	--influx "http://127.0.0.1:$LPORT/api/v2/write?org=my%20org&bucket=sv-bucket" \
	--influx-token 'sv-2x-token==' 2>"$SV_TMP/post3.err"
post3=$BG_PID
wait_for 10 grep -q 'listening on' "$SV_TMP/post3.err" || fail "post for 2.x starts"
sed 's/p-1/p-4/' "$SV_TMP/p1.ndjson" >"$SV_TMP/p4.ndjson"
ingest "$SV_TMP/p4.ndjson" >/dev/null
check "2.x: the listener got a write" wait_for 10 test -s "$SV_TMP/v2.json"
stop_pid "$post3"
v2=$(head -1 "$SV_TMP/v2.json")
check_eq "2.x: path and query" "/api/v2/write?org=my%20org&bucket=sv-bucket&precision=ns" "$(jq -r .path <<<"$v2")"
check_eq "2.x: token header" "Token sv-2x-token==" "$(jq -r '.headers.Authorization' <<<"$v2")"
check_eq "2.x: content type" "text/plain; charset=utf-8" "$(jq -r '.headers["Content-Type"]' <<<"$v2")"
line="sitevisor_flow,box=post\\ \"q\"\\,2,direction=egress,iface=eth1,ip_version=4,protocol=udp src_addr=\"198.18.9.7\",dst_addr=\"198.18.9.8\",src_port=5000i,dst_port=7001i,packets=5i,bytes=960i,tcp_flags=0i,vni=42i,first_ns=$((T + 3))000000000i $((T + 4))000000000"
check_eq "2.x: a flow line as written" 1 "$(jq -r .body <<<"$v2" | grep -cxF "$line")"
check_eq "2.x: 7 lines" 7 "$(jq -r .body <<<"$v2" | grep -c .)"

# --- Grafana provisioning -----------------------------------------------------------------
G=$SV_ROOT/deploy/grafana
dash=$G/dashboards/sitevisor.json
ds_yaml=$G/datasources/sitevisor-influxdb.yaml
prov_yaml=$G/dashboards/sitevisor.yaml
# yaml FILE JQ: a value from a YAML file (yq, else Python's yaml module).
yaml() {
	if command -v yq >/dev/null; then
		yq -r "$2" "$1"
	else
		python3 -c 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$1" | jq -r "$2"
	fi
}
check "grafana: the dashboard is valid JSON" jq -e .panels "$dash"
if command -v yq >/dev/null || python3 -c 'import yaml' 2>/dev/null; then
	uid=$(yaml "$ds_yaml" '.datasources[0].uid')
	check_eq "grafana: data source type" influxdb "$(yaml "$ds_yaml" '.datasources[0].type')"
	check_eq "grafana: dashboard provider" "file /etc/grafana/provisioning/dashboards" \
		"$(yaml "$prov_yaml" '.providers[0] | "\(.type) \(.options.path)"')"
else
	uid=$(sed -n 's/^ *uid: *//p' "$ds_yaml")
	check "grafana: data source type" grep -q '^ *type: influxdb$' "$ds_yaml"
	check "grafana: dashboard provider" grep -q '^ *path: /etc/grafana/provisioning/dashboards$' "$prov_yaml"
fi
check_eq "grafana: data source uid" sitevisor-influxdb "$uid"
check_eq "grafana: every panel, target and variable uses that uid" \
	"$(jq '[.panels[], .panels[].targets[], .templating.list[]] | length' "$dash")" \
	"$(jq --arg u "$uid" '[.panels[], .panels[].targets[], .templating.list[] | select(.datasource.uid == $u and .datasource.type == "influxdb")] | length' "$dash")"
check_eq "grafana: every panel query has \$timeFilter" 0 \
	"$(jq '[.panels[].targets[].query | select(contains("$timeFilter") | not)] | length' "$dash")"
# Every query, Grafana's macros and variables made concrete, against the data above.
n=0
while IFS= read -r qry; do
	n=$((n + 1))
	qry=${qry//\$timeFilter/time > now() - 1h}
	qry=${qry//\$__interval_ms/10000}
	qry=${qry//\$__interval/10s}
	qry=${qry//\$box/.*}
	qry=${qry//\$iface/.*}
	ans=$(q "$qry")
	if [[ "$qry" =~ \$[A-Za-z_] ]]; then
		fail "grafana query $n: a macro left: $qry"
	elif jq -e '.error // .results[0].error' <<<"$ans" >/dev/null; then
		fail "grafana query $n: $(jq -c '.error // .results[0].error' <<<"$ans"): $qry"
	elif ! jq -e '.results[0].series | length > 0' <<<"$ans" >/dev/null; then
		fail "grafana query $n: no data: $qry"
	else
		pass "grafana query $n runs and has data"
	fi
done < <(jq -r '.panels[].targets[].query, .templating.list[].query' "$dash")
check "grafana: eight queries checked ($n)" test "$n" -eq 8
finish
