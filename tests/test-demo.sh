#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make demo as the README promises: three boxes reach the post with traffic on the underlay
# and the overlay, paths, a scan's alert and the TAP rule show up, the dashboard is served,
# SIGTERM ends it promptly, and nothing is left behind.
. "$(dirname "$0")/lib.sh"
need_root demo

out=$SV_TMP/demo.out
DEMO_SECONDS=20 DEMO_PORT=$((21000 + $$ % 10000)) timeout 90 bash "$SV_ROOT/scripts/demo.sh" >"$out" 2>&1
check_eq "demo exits 0" 0 $?
url=$(sed -n 's/^demo: dashboard: \(.*\)$/\1/p' "$out")
id=$(grep -o 'sv[0-9a-f]*-box1' "$out" | head -1)
check "demo prints the dashboard URL" test -n "$url"
check_eq "all three boxes delivered" "box1 box2 box3" "$(grep '^{"name"' "$out" | jq -rs 'map(select(.flows > 0) | .name) | join(" ")')"
check_eq "boxes report their interfaces" '["eth0","vxlan100"]' \
	"$(grep '^{"name":"box1"' "$out" | jq -c '.interfaces | sort')"
check "overlay flows carry the VNI and the tunnel ends" \
	grep -q '"vni":100,"src_addr":"198.19.100.[0-9]","dst_addr":"198.19.100.[0-9]","outer_src_addr":"198.18.0.[0-9]"' "$out"
check "demo names its boxes" test -n "$id"
check_eq "demo removes its namespaces" 0 "$(ip netns list | grep -c "^${id%-box1}-")"
check "the post is gone" sh -c "! curl -s -m 2 -o /dev/null $url"

# What the other views show: every box on the Paths view, links between boxes and hops
# inside them with latencies, the scan's alert, the TAP rule active with copies made.
topo=$(grep '^{"topology"' "$out")
check_eq "paths: every box" '["box1","box2","box3"]' "$(jq -c '.topology.boxes' <<<"$topo")"
check "paths: links and hops, with latencies" \
	jq -e '.topology | .links >= 3 and .hops >= 3 and .with_latency >= 6' <<<"$topo"
check_eq "alerts: box1's scan of box3" "port_scan 198.18.0.1 198.18.0.3" \
	"$(grep '^{"alert"' "$out" | head -1 | jq -r '"\(.alert) \(.src) \(.target)"')"
check_eq "taps: the rule on box2 is active" "box2 active --from vxlan100 --to mon0" \
	"$(grep '^{"tap"' "$out" | jq -r '"\(.box) \(.state) \(.tap)"')"
check "taps: copies reached the monitor port" \
	jq -e '.mirrored > 0' <<<"$(grep '^{"tap"' "$out")"
check "drops: the kernel's reasons, NO_SOCKET among them" \
	jq -e '[.drops[] | select(.reason == "NO_SOCKET" and .total > 0)] | length > 0' \
	<<<"$(grep '^{"drops"' "$out")"
check "latency: a TCP flow with round trips" \
	jq -e '.rtt.rtt_samples > 0 and .rtt.rtt_min_ns > 0' <<<"$(grep '^{"rtt"' "$out")"
check "demo says which view shows what" \
	sh -c "grep -q '^demo:   Paths ' $out && grep -q '^demo:   Alerts ' $out &&
	       grep -q '^demo:   Drops ' $out && grep -q '^demo:   Latency ' $out"

# Until stopped: it starts within a minute and a SIGTERM ends it within a few seconds.
out2=$SV_TMP/demo2.out
t0=$(date +%s%N)
DEMO_PORT=$((21000 + ($$ + 1) % 10000)) bash "$SV_ROOT/scripts/demo.sh" >"$out2" 2>&1 &
demo=$!
SV_PIDS+=("$demo")
check "demo starts within a minute" wait_for 60 grep -q '^demo: Ctrl-C' "$out2"
echo "demo: started in $((($(date +%s%N) - t0) / 1000000)) ms"
id2=$(grep -o 'sv[0-9a-f]*-box1' "$out2" | head -1)
check "the second demo runs its boxes" ip netns exec "$id2" true
t0=$(date +%s%N)
kill -TERM "$demo"
for _ in $(seq 1 100); do
	kill -0 "$demo" 2>/dev/null || break
	sleep 0.1
done
ms=$((($(date +%s%N) - t0) / 1000000))
echo "demo: SIGTERM to exit: $ms ms"
check "SIGTERM ends the demo within 5 s ($ms ms)" sh -c "! kill -0 $demo 2>/dev/null"
wait "$demo" 2>/dev/null
forget_pid "$demo"
check_eq "SIGTERM leaves no namespace" 0 "$(ip netns list | grep -c "^${id2%-box1}-")"
finish
