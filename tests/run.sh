#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Runs every test: the BPF parser tests (BPF_PROG_TEST_RUN), the store and sender tests, the
# include layers check (scripts/check-layers.sh) and each tests/test-*.sh.
# Each prints PASS:/FAIL:/SKIP: lines; a test file that exits non-zero without a FAIL line
# counts as one failure. The last line is "N passed, N failed, N skipped"; the exit status is
# non-zero on any failure. TESTS="name ..." runs a subset. UNIT=1 (make unit) runs instead the
# tests that need neither root nor network nor packages: the store, the sender, the IPFIX
# exporter, the classic-BPF translator (as root only: it loads programs), the fuzz corpora
# and the layers.
set -u
cd "$(dirname "$0")/.."
log_dir=build/test-logs
mkdir -p "$log_dir"
passed=0 failed=0 skipped=0

run_one() {
	local name=$1 log="$log_dir/$1.log" rc p f s
	shift
	echo "== $name"
	"$@" >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP): ' "$log" | sed 's/^/   /'
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	s=$(grep -c '^SKIP: ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "   FAIL: $name exited with status $rc (log: $log)"
		tail -5 "$log" | sed 's/^/      /'
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

wanted() { [ -z "${TESTS:-}" ] || [[ " $TESTS " == *" $1 "* ]]; }

unit() {
	wanted ipfix && run_one ipfix build/tests/ipfix_test
	if [ "$(id -u)" -eq 0 ]; then
		wanted cbpf && run_one cbpf build/tests/cbpf_test 40
	elif wanted cbpf; then
		echo "== cbpf"
		echo "   SKIP: cbpf: loads tc programs, which needs root (tests/test-capture.sh runs it)"
		skipped=$((skipped + 1))
	fi
	for c in ingest ipfix; do
		wanted "replay-$c" && run_one "replay-$c" "build/fuzz/replay_$c" "tests/fuzz/corpus/$c"
	done
}

[ -z "${UNIT:-}" ] && wanted parser && run_one parser build/tests/parser_test
wanted store && run_one store build/tests/store_test
wanted sendq && run_one sendq build/tests/sendq_test
wanted record && run_one record build/tests/record_test
wanted join && run_one join build/tests/join_test
wanted layers && run_one layers bash scripts/check-layers.sh
if [ -n "${UNIT:-}" ]; then
	unit
else
	for t in tests/test-*.sh; do
		name=$(basename "$t" .sh)
		name=${name#test-}
		wanted "$name" && run_one "$name" timeout 600 bash "$t"
	done
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
