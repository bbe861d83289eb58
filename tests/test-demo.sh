#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make demo as the README promises: it shows flows of its simulated site, loses nothing, and
# leaves no namespace behind.
. "$(dirname "$0")/lib.sh"
need_root demo

out=$SV_TMP/demo.out
DEMO_SECONDS=7 timeout 60 bash "$SV_ROOT/scripts/demo.sh" >"$out" 2>&1
check_eq "demo exits 0" 0 $?
box=$(sed -n "s/^demo: box '\([^']*\)'.*/\1/p" "$out")
check "demo names its box namespace" test -n "$box"
check "demo shows routed pings" grep -q 'eth1 .* in  ICMP *198.18.10.2 > 198.18.20.2 type 8' "$out"
check "demo shows the overlay" grep -q 'vni 100' "$out"
check "demo shows TCP" grep -q 'TCP *198.18.10.2:[0-9]* > 198.18.20.2:8080' "$out"
check "demo loses nothing" grep -q 'lost: 0 packets (flow table full)' "$out"
check_eq "demo removes its namespaces" 0 "$(ip netns list | grep -c "^${box%-box}-")"
finish
