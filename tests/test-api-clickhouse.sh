#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The API suite (tests/test-api.sh) with the same assertions over ClickHouse: once on one
# server, once on a cluster of two shards (servers this test starts, tests/clickhouse.sh).
dir=$(dirname "$0")
rc=0
for shards in 1 2; do
	echo "== ClickHouse, $shards shard(s)"
	STORE=clickhouse CH_SHARDS=$shards bash "$dir/test-api.sh" |
		sed "s/^\(PASS\|FAIL\|SKIP\): /\1: [clickhouse x$shards] /"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
done
exit $rc
