#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The dashboard in a real browser: two posts on 127.0.0.1 (one open, one with --read-token)
# filled with generated records, live batches every second into the open one, and Debian's
# chromium driven by playwright-core (tests/dashboard/check.mjs) through every view.
# Screenshots stay in build/test-logs/dashboard-*.png.
. "$(dirname "$0")/lib.sh"

POST=$SV_ROOT/build/sitevisor-post
DASH=$SV_ROOT/tests/dashboard
OUT=$SV_ROOT/build/test-logs
TOKEN=ingest-$RUN_ID
READ_TOKEN=read-$RUN_ID

if [ ! -x /usr/bin/chromium ]; then
	skip "dashboard (no /usr/bin/chromium; apt-get install chromium)"
	exit 0
fi
if ! command -v node >/dev/null; then
	skip "dashboard (no node)"
	exit 0
fi
if [ ! -d "$SV_ROOT/web/node_modules/playwright-core" ] &&
	! (cd "$SV_ROOT/web" && npm ci --no-audit --no-fund --loglevel=error) >&2; then
	skip "dashboard (playwright-core missing and npm ci failed)"
	exit 0
fi
if [ ! -x "$POST" ]; then
	fail "dashboard: $POST missing (make all)"
	finish
fi
mkdir -p "$OUT"

# Two free ports at once (both held until printed, so they differ).
read -r PORT1 PORT2 < <(node -e '
const net = require("net");
const a = net.createServer().listen(0, "127.0.0.1", () => {
	const b = net.createServer().listen(0, "127.0.0.1", () => {
		console.log(a.address().port, b.address().port);
		a.close(); b.close();
	});
});')
URL1=http://127.0.0.1:$PORT1
URL2=http://127.0.0.1:$PORT2

bg "$POST" --db "$SV_TMP/open.db" --listen "127.0.0.1:$PORT1" --token "$TOKEN" --path-hold 2 \
	2>"$SV_TMP/post1.err"
bg "$POST" --db "$SV_TMP/locked.db" --listen "127.0.0.1:$PORT2" --token "$TOKEN" \
	--read-token "$READ_TOKEN" 2>"$SV_TMP/post2.err"
if ! wait_for 10 curl -sf "$URL1/api/v1/boxes" ||
	! wait_for 10 curl -sf -H "Authorization: Bearer $READ_TOKEN" "$URL2/api/v1/boxes"; then
	fail "dashboard: the posts did not start"
	cat "$SV_TMP"/post*.err
	finish
fi
check_eq "dashboard page is served without a token" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$URL2/")"
check_eq "dashboard API wants the read token" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$URL2/api/v1/boxes")"

check "dashboard history loads into the open post" \
	timeout 30 node "$DASH/gen.mjs" --url "$URL1" --token "$TOKEN" --history
check "dashboard history loads into the read-token post" \
	timeout 30 node "$DASH/gen.mjs" --url "$URL2" --token "$TOKEN" --history
# Live batches for as long as the browser looks (ended by cleanup, bounded anyway).
bg node "$DASH/gen.mjs" --url "$URL1" --token "$TOKEN" --live 150 2>"$SV_TMP/live.err"

timeout 130 node "$DASH/check.mjs" --url "$URL1" --url2 "$URL2" --read-token "$READ_TOKEN" --token "$TOKEN" \
	--out "$OUT" --profile "$SV_TMP/chromium"
rc=$?
case $rc in
0) ;;
124) fail "dashboard browser check timed out" ;;
*) SV_FAILED=1 ;; # check.mjs printed its FAIL lines
esac
if [ -s "$SV_TMP/live.err" ]; then
	echo "live generator said:" >&2
	head -5 "$SV_TMP/live.err" >&2
fi
finish
