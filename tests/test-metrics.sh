#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Prometheus metrics of the agent and the post (exact values, checked by promtool), readiness
# for systemd (sd_notify), and the systemd units: valid, and their capability set enough.
. "$(dirname "$0")/lib.sh"
need_root metrics
POST=$SV_ROOT/build/sitevisor-post
PORT=$((24000 + $$ % 8000)) # below the ephemeral ports (32768-60999)
TOKEN=metrics-token-1

promcheck() { # NAME FILE
	if command -v promtool >/dev/null; then
		check "$1: promtool check metrics" sh -c "promtool check metrics < '$2'"
	else
		skip "$1: promtool not installed"
	fi
}
metric() { # FILE NAME-WITH-LABELS: its value
	awk -v m="$2" '$1 == m { print $2 }' "$1"
}

# --- the agent: a quiet link (no IPv6, static neighbours), 50 datagrams, one collect ---
C=$(ns_add c) && S=$(ns_add s) || exit 1
veth "$C" mc "$S" ms
no_ipv6 "$C" mc
no_ipv6 "$S" ms
ip -n "$C" addr add 198.18.7.1/24 dev mc
ip -n "$S" addr add 198.18.7.2/24 dev ms
ip -n "$C" neigh add 198.18.7.2 lladdr "$(ip -n "$S" -j link show ms | jq -r '.[0].address')" dev mc nud permanent
# The receiver drops the datagrams silently: no port-unreachable (and no ARP for it) back.
ip netns exec "$S" nft add table inet quiet
ip netns exec "$S" nft add chain inet quiet input '{ type filter hook input priority 0; }'
ip netns exec "$S" nft add rule inet quiet input udp dport 9999 drop
agent_start "$C" agent -i mc --metrics 127.0.0.1:9465 || exit 1
ip netns exec "$C" "$TOOLS/udpsend" -n 50 -s 100 198.18.7.2 9999 >/dev/null
sleep 2.5 # a collect (interval 1) has run since
ip netns exec "$C" curl -s -o "$SV_TMP/agent.prom" -w '%{http_code}' http://127.0.0.1:9465/metrics >"$SV_TMP/code"
check_eq "agent: /metrics answers" 200 "$(cat "$SV_TMP/code")"
promcheck agent "$SV_TMP/agent.prom"
box=$(hostname)
check_eq "agent: packets by interface and direction" 50 \
	"$(metric "$SV_TMP/agent.prom" "sitevisor_agent_packets_total{box=\"$box\",iface=\"mc\",direction=\"egress\"}")"
check_eq "agent: bytes by interface and direction" 7100 \
	"$(metric "$SV_TMP/agent.prom" "sitevisor_agent_bytes_total{box=\"$box\",iface=\"mc\",direction=\"egress\"}")"
check_eq "agent: kernel packet counter" 50 "$(metric "$SV_TMP/agent.prom" "sitevisor_agent_kernel_packets_total{box=\"$box\"}")"
check_eq "agent: nothing lost" 0 "$(metric "$SV_TMP/agent.prom" "sitevisor_agent_events_lost_total{box=\"$box\",reason=\"flow_table_full\"}")"
check_eq "agent: interfaces traced" 1 "$(metric "$SV_TMP/agent.prom" "sitevisor_agent_interfaces_traced{box=\"$box\"}")"
check_eq "agent: other paths 404" 404 "$(ip netns exec "$C" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9465/)"
stop_pid "$AGENT_PID"

# --- the post: counters after a stored, a duplicate and a rejected batch ---
now=$(date +%s)000000000
{
	printf '{"type":"batch","batch_id":"m-1","box":"mbox","agent_version":"0.1.0","interfaces":["eth0"]}\n'
	for i in 1 2 3; do
		printf '{"type":"flow","box":"mbox","iface":"eth0","direction":"egress","eth_type":2048,"ip_version":4,"protocol":17,"src_addr":"198.18.0.1","dst_addr":"198.18.0.2","src_port":%d,"dst_port":53,"src_mac":"02:00:00:00:00:01","dst_mac":"02:00:00:00:00:02","packets":1,"bytes":100,"tcp_flags":0,"first_ns":%s,"last_ns":%s}\n' "$i" "$now" "$now"
	done
} >"$SV_TMP/batch"
NOTIFY_SOCKET=$SV_TMP/notify.sock
bg "$TOOLS/notifywait" "$NOTIFY_SOCKET" 30 >"$SV_TMP/notify.out"
nw=$BG_PID
wait_for 5 test -S "$NOTIFY_SOCKET"
NOTIFY_SOCKET=$NOTIFY_SOCKET "$POST" --db "$SV_TMP/m.db" --listen "127.0.0.1:$PORT" --token "$TOKEN" \
	--read-token read-token-1 2>"$SV_TMP/post.err" >/dev/null &
post=$!
SV_PIDS+=("$post")
wait_for 10 grep -q 'listening on' "$SV_TMP/post.err"
ing() { curl -s -o /dev/null -H "Authorization: Bearer $1" --data-binary @"$2" "http://127.0.0.1:$PORT/api/v1/ingest"; }
ing "$TOKEN" "$SV_TMP/batch"
ing "$TOKEN" "$SV_TMP/batch"
echo garbage >"$SV_TMP/bad"
ing "$TOKEN" "$SV_TMP/bad"
ing wrong-token-9 "$SV_TMP/batch"
check_eq "post: /metrics needs the read token" 401 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")"
curl -s -H 'Authorization: Bearer read-token-1' -o "$SV_TMP/post.prom" "http://127.0.0.1:$PORT/metrics"
promcheck post "$SV_TMP/post.prom"
check_eq "post: stored batches" 1 "$(metric "$SV_TMP/post.prom" 'sitevisor_post_ingest_batches_total{result="stored"}')"
check_eq "post: duplicate batches" 1 "$(metric "$SV_TMP/post.prom" 'sitevisor_post_ingest_batches_total{result="duplicate"}')"
check_eq "post: rejected batches" 1 "$(metric "$SV_TMP/post.prom" 'sitevisor_post_ingest_batches_total{result="rejected"}')"
check_eq "post: records stored once" 3 "$(metric "$SV_TMP/post.prom" 'sitevisor_post_ingest_records_total')"
check_eq "post: 401 answers" 2 "$(metric "$SV_TMP/post.prom" 'sitevisor_post_http_requests_total{code="401"}')"
check_eq "post: boxes" 1 "$(metric "$SV_TMP/post.prom" 'sitevisor_post_boxes')"
check "post: store size" test "$(metric "$SV_TMP/post.prom" 'sitevisor_post_store_bytes')" -gt 0
stop_pid "$post"
wait "$nw"
check_eq "post: tells systemd it is ready, then stopping" "READY=1 STOPPING=1" "$(tr '\n' ' ' <"$SV_TMP/notify.out" | sed 's/ $//')"

# --- the agent tells systemd too, and the unit's three capabilities are all it needs ---
bg "$TOOLS/notifywait" "$NOTIFY_SOCKET" 30 >"$SV_TMP/notify2.out"
nw=$BG_PID
wait_for 5 test -S "$NOTIFY_SOCKET"
# systemd's notify socket is reachable by the service's user; ours must be too.
chmod 0711 "$SV_TMP"
chmod 0777 "$NOTIFY_SOCKET"
caps=$(sed -n 's/^AmbientCapabilities=//p' "$SV_ROOT/deploy/systemd/sitevisor-agent.service" |
	tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
check_eq "agent unit: capabilities" "+bpf,+net_admin,+perfmon" "$caps"
# As nobody with exactly those capabilities, like the unit runs it.
bg ip netns exec "$C" env NOTIFY_SOCKET="$NOTIFY_SOCKET" setpriv --reuid=65534 --regid=65534 \
	--clear-groups --inh-caps="-all,$caps" --ambient-caps="-all,$caps" --bounding-set="-all,$caps" \
	"$AGENT" -i mc --json --interval 1 >"$SV_TMP/caps.json" 2>"$SV_TMP/caps.err"
capagent=$BG_PID
wait_for 10 grep -q 'records every' "$SV_TMP/caps.err"
ip netns exec "$C" "$TOOLS/udpsend" -n 20 -s 100 198.18.7.2 9999 >/dev/null
sleep 1.5
stop_pid "$capagent"
check_eq "agent with only the unit's capabilities: exit status" 0 $?
check_eq "agent with only the unit's capabilities: counts" 20 \
	"$(flow_sum "$SV_TMP/caps.json" packets '.dst_port == 9999')"
wait "$nw"
check_eq "agent: tells systemd it is ready, then stopping" "READY=1 STOPPING=1" "$(tr '\n' ' ' <"$SV_TMP/notify2.out" | sed 's/ $//')"

# --- the units themselves: systemd-analyze finds nothing to say ---
# The man pages the units name are installed by the packages only: test-deb.sh verifies the
# installed units with them.
for u in agent post; do
	sed -E "s|/usr/s?bin/sitevisor-$u|$SV_ROOT/build/sitevisor-$u|; /^Documentation=man:/d" \
		"$SV_ROOT/deploy/systemd/sitevisor-$u.service" >"$SV_TMP/sitevisor-$u.service"
	out=$(systemd-analyze verify "$SV_TMP/sitevisor-$u.service" 2>&1)
	check_eq "unit sitevisor-$u: systemd-analyze verify is silent" "" "$out"
	check "unit sitevisor-$u: Type=notify, restarts on failure" grep -q '^Type=notify' "$SV_TMP/sitevisor-$u.service"
done
check "post unit: no capabilities at all" grep -q '^CapabilityBoundingSet=$' "$SV_ROOT/deploy/systemd/sitevisor-post.service"
finish
