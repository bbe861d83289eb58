#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs each fuzz target for SECONDS (default 60) on a copy of its seed corpus; a crash leaves
# its input in build/fuzz/ and fails. Prints PASS:/FAIL: lines like the tests.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-60}
failed=0
for t in build/fuzz/fuzz_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	name=$(basename "$t")
	corpus=build/fuzz/corpus-${name#fuzz_}
	mkdir -p "$corpus"
	cp -n tests/fuzz/corpus/"${name#fuzz_}"/* "$corpus"/ 2>/dev/null
	if "$t" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=build/fuzz/ "$corpus" >"build/fuzz/log-$name.txt" 2>&1; then
		echo "PASS: $name: $(grep -o 'Done [0-9]* runs in [0-9]* second' "build/fuzz/log-$name.txt"), no crash"
	else
		echo "FAIL: $name: $(grep -m1 -E 'ERROR|SUMMARY' "build/fuzz/log-$name.txt") (log: build/fuzz/log-$name.txt)"
		failed=1
	fi
done
exit $failed
