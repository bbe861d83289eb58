#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make deb as an operator meets it: the packages build, lintian finds no error, dpkg -i gives
# checked units, man pages and working programs on PATH, and a purge leaves nothing behind.
. "$(dirname "$0")/lib.sh"
need_root deb

PKGS=(sitevisor-agent sitevisor-post sitevisor-agent-dbgsym sitevisor-post-dbgsym)
DEBS=$SV_ROOT/build/deb
PORT=$((22000 + $$ % 10000))
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

for t in dh lintian man systemd-analyze dpkg-checkbuilddeps adduser; do
	if ! command -v "$t" >/dev/null; then
		skip "deb (no $t: make deps)"
		exit 0
	fi
done
# Whatever is there now would be replaced and then purged by this test.
if dpkg-query -W -f='${Status}\n' "${PKGS[@]}" 2>/dev/null | grep -q ' installed$'; then
	skip "deb (sitevisor packages are installed on this machine)"
	exit 0
fi
if [ -e /var/lib/sitevisor ] || [ -e /etc/sitevisor ]; then
	skip "deb (/var/lib/sitevisor or /etc/sitevisor exists: the purge would remove it)"
	exit 0
fi

# Paths under /etc, /usr and /var/lib; dpkg's and apt's own databases are checked apart, and
# Python's byte-code caches come and go with whoever runs Python meanwhile.
snapshot() {
	find /etc /usr /var/lib -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt \
		-o -name __pycache__ \) -prune -o -print | sort
}

had_user=$(getent passwd sitevisor >/dev/null && echo yes)
remove_user() {
	! getent passwd sitevisor >/dev/null || deluser --quiet --system sitevisor >/dev/null 2>&1
	! getent group sitevisor >/dev/null || delgroup --quiet --system sitevisor >/dev/null 2>&1
}
# Leaves the machine as it was, whatever failed: our processes ended first (userdel refuses a
# user with processes), then the packages purged in one call (a -dbgsym package depends on
# its program's: purged alone, the program's would be refused), the user gone if it is new.
deb_cleanup() {
	local left
	sv_cleanup
	left=$(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null |
		awk '$NF != "not-installed" { print $1 }')
	[ -z "$left" ] || dpkg --purge $left >/dev/null 2>&1
	[ -n "$had_user" ] || remove_user
}
trap deb_cleanup EXIT

# --- build ---
t0=$(date +%s)
if ! nice make -C "$SV_ROOT" deb >"$SV_TMP/build.log" 2>&1; then
	fail "make deb"
	tail -20 "$SV_TMP/build.log"
	finish
fi
pass "make deb builds the packages ($(($(date +%s) - t0)) s)"
for p in sitevisor-agent sitevisor-post; do
	check "build/deb holds $p" test -f "$(echo "$DEBS/${p}_"*.deb)"
done
lintian "$DEBS"/*.deb >"$SV_TMP/lintian.out" 2>&1
sed 's/^/lintian: /' "$SV_TMP/lintian.out"
check_eq "lintian: no errors" "" "$(grep '^E: ' "$SV_TMP/lintian.out")"
check_eq "Depends from the shared libraries" "libbpf1 libpcap0.8" \
	"$(dpkg-deb -f "$DEBS"/sitevisor-agent_*.deb Depends | grep -o 'libbpf1\|libpcap0.8' | xargs)"

# --- install ---
snapshot >"$SV_TMP/before"
if grep -qx '/var/lib/sitevisor\|/etc/sitevisor' "$SV_TMP/before"; then
	skip "deb (/var/lib/sitevisor or /etc/sitevisor appeared meanwhile)"
	exit 0
fi
if ! dpkg -i "$DEBS"/*.deb >"$SV_TMP/dpkg.log" 2>&1; then
	apt-get install -f -y -qq >>"$SV_TMP/dpkg.log" 2>&1
fi
for p in sitevisor-agent sitevisor-post; do
	check_eq "$p is installed" "install ok installed" "$(dpkg-query -W -f='${Status}' "$p")"
done
check_eq "conffiles" "/etc/sitevisor/agent.env /etc/sitevisor/post.conf" \
	"$(dpkg-query -W -f='${Conffiles}\n' sitevisor-agent sitevisor-post | awk 'NF { print $1 }' |
		xargs)"
check_eq "the agent is on PATH" /usr/sbin/sitevisor-agent "$(command -v sitevisor-agent)"
check_eq "the post is on PATH" /usr/bin/sitevisor-post "$(command -v sitevisor-post)"
check_eq "the ClickHouse servers' zstd setting ships as an example" \
	/usr/share/doc/sitevisor-post/examples/sitevisor-zstd.xml \
	"$(dpkg -L sitevisor-post | grep '/examples/sitevisor-zstd.xml$')"
for p in sitevisor-agent sitevisor-post; do
	ver=$(dpkg-query -W -f='${Version}' "$p")
	check_eq "$p --version is the package's" "$p $ver" "$("$p" --version 2>&1 | head -1)"
done

# The units: systemd finds nothing to say (it also opens the man pages they name), and dh
# enabled them.
for u in sitevisor-agent sitevisor-post; do
	check_eq "$u.service installed" /lib/systemd/system/$u.service \
		"$(dpkg -L "$u" | grep "/$u.service$")"
	check_eq "systemd-analyze verify $u.service is silent" "" \
		"$(systemd-analyze verify /lib/systemd/system/$u.service 2>&1)"
	check_eq "$u.service is enabled" /lib/systemd/system/$u.service \
		"$(readlink /etc/systemd/system/multi-user.target.wants/$u.service)"
done
if [ -d /run/systemd/system ]; then
	for u in sitevisor-agent sitevisor-post; do
		check "$u.service is running" systemctl is-active --quiet $u.service
	done
else
	skip "services running under systemd (systemd is not PID 1 here)"
fi

# The man pages: by name and by file, without groff warnings.
for p in sitevisor-agent sitevisor-post; do
	page=$(dpkg -L "$p" | grep "/man8/$p.8.gz$")
	check_eq "$p(8) installed" "/usr/share/man/man8/$p.8.gz" "$page"
	MANWIDTH=80 man -l "$page" >"$SV_TMP/$p.man" 2>"$SV_TMP/$p.man.err"
	check "man -l renders $p(8)" grep -q "^NAME" "$SV_TMP/$p.man"
	check_eq "man -l $p(8): no warnings" "" "$(cat "$SV_TMP/$p.man.err")"
	check "man $p finds it by name" sh -c "MANWIDTH=80 man 8 $p | grep -q -- --help"
done

# The post as the unit runs it: the sitevisor user, the installed configuration, its state
# directory.
check "the sitevisor user is a system user" \
	sh -c '[ "$(id -u sitevisor)" -lt 1000 ] && [ "$(id -gn sitevisor)" = sitevisor ]'
check_eq "the post's state directory belongs to it" "sitevisor sitevisor 750" \
	"$(stat -c '%U %G %a' /var/lib/sitevisor/post)"
check_eq "the agent's spool directory is root's alone" "root 700" \
	"$(stat -c '%U %a' /var/lib/sitevisor/spool)"
bg setpriv --reuid=sitevisor --regid=sitevisor --init-groups sitevisor-post \
	--config /etc/sitevisor/post.conf --db /var/lib/sitevisor/post/site.db \
	--listen "127.0.0.1:$PORT" 2>"$SV_TMP/post.err"
post=$BG_PID
check "the installed post serves the API as sitevisor" \
	wait_for 10 curl -sf "http://127.0.0.1:$PORT/api/v1/boxes"
stop_pid "$post"
check_eq "the installed post stops cleanly" 0 $?
forget_pid "$post"
check_eq "its database is in its state directory" sitevisor \
	"$(stat -c %U /var/lib/sitevisor/post/site.db 2>&1)"

# The agent from PATH, in a namespace of its own.
N=$(ns_add box) || finish
ip -n "$N" addr add 198.18.0.1/24 dev lo
bg ip netns exec "$N" sitevisor-agent -i lo --json --interval 1 >"$SV_TMP/agent.json" \
	2>"$SV_TMP/agent.err"
agent=$BG_PID
check "the installed agent traces" wait_for 10 grep -q 'records every' "$SV_TMP/agent.err"
ip netns exec "$N" ping -c 3 -i 0.2 -q 198.18.0.1 >/dev/null
sleep 1.5
stop_pid "$agent"
check_eq "the installed agent stops cleanly" 0 $?
forget_pid "$agent"
check "the installed agent counted the pings" \
	test "$(flow_sum "$SV_TMP/agent.json" packets '.protocol == 1')" -ge 6

# Installing again (as an upgrade does) finds the user and the directories there already.
check "dpkg -i again: the maintainer scripts run twice" dpkg -i "$DEBS"/*.deb
check_eq "dpkg -i again: one sitevisor user" 1 "$(grep -c '^sitevisor:' /etc/passwd)"

# --- purge ---
# The spool is the agent's default: an agent run by hand with --post but no --spool (or a test
# that forgot it) would have its batches purged too.
check_eq "nothing but the package's agent used the spool" "" "$(ls -A /var/lib/sitevisor/spool)"
dpkg --purge "${PKGS[@]}" >>"$SV_TMP/dpkg.log" 2>&1
check_eq "dpkg --purge" 0 $?
check_eq "dpkg forgot the packages" "" \
	"$(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null | grep -v not-installed)"
check_eq "no dpkg database files left" "" "$(ls /var/lib/dpkg/info | grep '^sitevisor-')"
snapshot >"$SV_TMP/after"
diff "$SV_TMP/before" "$SV_TMP/after" >"$SV_TMP/left"
sed 's/^/left: /' "$SV_TMP/left"
check_eq "purge leaves /etc, /usr and /var/lib as they were" 0 "$(grep -c '^[<>]' "$SV_TMP/left")"
# Debian keeps system users on purge (their uid may still own files somewhere).
if [ -z "$had_user" ]; then
	check "the sitevisor user stays after purge" getent passwd sitevisor
	remove_user
	check "the test removed the user it made" \
		sh -c '! getent passwd sitevisor && ! getent group sitevisor'
fi
finish
