#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make demo as the README promises: three boxes reach the post with traffic on the underlay
# and the overlay, the dashboard is served, and nothing is left behind.
. "$(dirname "$0")/lib.sh"
need_root demo

out=$SV_TMP/demo.out
DEMO_SECONDS=12 DEMO_PORT=$((21000 + $$ % 10000)) timeout 90 bash "$SV_ROOT/scripts/demo.sh" >"$out" 2>&1
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
finish
