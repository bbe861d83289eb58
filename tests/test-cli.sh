#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The command lines, from their option tables: --version, --help against the man pages (each
# option in both), one line and status 2 for a bad value, and the post's --config file read
# as the command line would be. Needs neither root nor network.
. "$(dirname "$0")/lib.sh"
POST=$SV_ROOT/build/sitevisor-post
MAN=$SV_ROOT/build/man
VERSION=$(cat "$SV_ROOT/build/version")

# --- --version: the Makefile's VERSION, status 0 ---
version_is() { # NAME WANT COMMAND...
	local name=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	check_eq "$name --version: status" 0 "$rc"
	check_eq "$name --version: prints it" "$want" "$out"
}
version_is agent "sitevisor-agent $VERSION" "$AGENT" --version
version_is post "sitevisor-post $VERSION" "$POST" --version
version_is capture "sitevisor-agent capture $VERSION" "$AGENT" capture --version
version_is tap "sitevisor-agent tap $VERSION" "$AGENT" tap --version
check_eq "the man pages carry the version" 2 \
	"$(grep -l "^\.TH .*\"sitevisor $VERSION\"" "$MAN"/sitevisor-{agent,post}.8 | wc -l)"

# --- every option of --help in the man page, and no other ---
# help_opts COMMAND...: the options --help lists, one a line ("-i", "--interface").
help_opts() {
	"$@" --help | sed -nE 's/^  (-[A-Za-z])?(, |    )?(--[a-z0-9-]+)?( .*)?$/\1 \3/p' |
		tr ' ' '\n' | grep . | sort -u
}
# man_opts PAGE: the options the page's option lists hold, one a line.
man_opts() {
	awk 'prev == ".TP" { print } { prev = $0 }' "$1" | grep '^\\fB\\-' |
		grep -oE '\\fB(\\-)+[A-Za-z0-9-]+\\fR' | sed 's/\\fB//; s/\\fR//; s/\\-/-/g' |
		sort -u
}
for cmd in "" capture tap; do
	check "agent ${cmd:-main} --help: status 0" "$AGENT" $cmd --help
done
help_opts "$AGENT" >"$SV_TMP/agent.help"
help_opts "$AGENT" capture >>"$SV_TMP/agent.help"
help_opts "$AGENT" tap >>"$SV_TMP/agent.help"
sort -u -o "$SV_TMP/agent.help" "$SV_TMP/agent.help"
man_opts "$MAN/sitevisor-agent.8" >"$SV_TMP/agent.man"
help_opts "$POST" >"$SV_TMP/post.help"
man_opts "$MAN/sitevisor-post.8" >"$SV_TMP/post.man"
for p in agent post; do
	n=$(wc -l <"$SV_TMP/$p.help")
	check "$p: --help lists options ($n)" test "$n" -gt 10
	check_eq "$p: the man page has every option of --help, and no other" "" \
		"$(diff "$SV_TMP/$p.help" "$SV_TMP/$p.man" | grep '^[<>]' | tr '\n' ' ')"
done
check_eq "agent: a hidden option is in neither" 0 \
	"$(cat "$SV_TMP/agent.help" "$SV_TMP/agent.man" | grep -c -- --help-roff)"

# --- the pages render without a warning, and are those of these binaries ---
for p in agent post; do
	bash "$SV_ROOT/scripts/man.sh" "$SV_ROOT/docs/man/sitevisor-$p.8.in" \
		"$SV_ROOT/build/sitevisor-$p" "$VERSION" >"$SV_TMP/$p.8"
	check "sitevisor-$p.8: made from this binary's tables" \
		cmp "$MAN/sitevisor-$p.8" "$SV_TMP/$p.8"
	out=$(groff -man -Tutf8 -ww -z "$MAN/sitevisor-$p.8" 2>&1)
	check_eq "sitevisor-$p.8: groff -ww says nothing" "" "$out"
	if command -v man >/dev/null; then
		page=$MAN/sitevisor-$p.8
		check "sitevisor-$p.8: man -l renders it" \
			sh -c "MANWIDTH=80 man -l '$page' 2>/dev/null | grep -q 'EXIT STATUS'"
	fi
done

# --- a bad value: one line on stderr, nothing on stdout, status 2 ---
bad() { # NAME PATTERN COMMAND...
	local name=$1 pat=$2 rc
	shift 2
	"$@" >"$SV_TMP/bad.out" 2>"$SV_TMP/bad.err"
	rc=$?
	check_eq "$name: status 2" 2 "$rc"
	check_eq "$name: one line" "1 0" "$(wc -l <"$SV_TMP/bad.err") $(wc -c <"$SV_TMP/bad.out")"
	check "$name: says why" grep -q -- "$pat" "$SV_TMP/bad.err"
}
bad "agent: out of range" "invalid --max-flows '8': expected a whole number from 16 to" \
	"$AGENT" --max-flows 8
bad "agent: not a number" "invalid --vxlan-port '47x9'" "$AGENT" --vxlan-port 47x9
bad "agent: not a word of the list" "invalid --attach 'xdp': auto, tcx or tc" "$AGENT" --attach xdp
bad "agent: without what it needs" \
	"--ipfix-domain, --ipfix-mtu, --ipfix-template-interval and --ipfix-pen need --ipfix" \
	"$AGENT" --ipfix-mtu 1500
bad "post: out of range" "invalid --threads '65'" "$POST" --threads 65
bad "post: negative" "invalid --max-body '-1'" "$POST" --max-body -1
# shellcheck disable=SC2046 # nine options, split on purpose
bad "post: too many" "at most 8 --listen" "$POST" $(printf -- '--listen 127.0.0.1:%d ' $(seq 1 9))
bad "capture: a zero count" "invalid -c '0'" "$AGENT" capture -i lo -c 0
bad "tap: an empty path" "invalid --control: empty" "$AGENT" tap --control "" list

# --- the post's --config: the same names, the same checks; the command line wins ---
ARGS=(--listen 127.0.0.1:1 --listen "unix:$SV_TMP/p.sock" --db "$SV_TMP/x.db" --retention 3
	--threads 2 --no-detect --path-hold 9 --read-token read-token-1 --max-body 4096
	--influx 'http://127.0.0.1:8086/write?db=x' --influx-token u:p)
cat >"$SV_TMP/all.conf" <<CONF
# the same as ARGS
listen 127.0.0.1:1
listen = unix:$SV_TMP/p.sock
db $SV_TMP/x.db
retention 3
threads = 2
no-detect
path-hold 9   # a comment
read-token read-token-1
max-body 4096

influx http://127.0.0.1:8086/write?db=x
influx-token u:p
CONF
"$POST" "${ARGS[@]}" --print-config >"$SV_TMP/argv.out"
check_eq "--print-config: status 0" 0 $?
"$POST" --config "$SV_TMP/all.conf" --print-config >"$SV_TMP/file.out"
check_eq "config file and command line: the same options in effect" "" \
	"$(diff "$SV_TMP/argv.out" "$SV_TMP/file.out")"
check "the options given are in effect" grep -qx "retention 3" "$SV_TMP/file.out"
check "defaults fill the rest" grep -qx "rollup-retention 90" "$SV_TMP/file.out"
"$POST" --config "$SV_TMP/argv.out" --print-config >"$SV_TMP/again.out"
check_eq "--print-config reads back as a config file" "" \
	"$(diff "$SV_TMP/argv.out" "$SV_TMP/again.out")"
# in effect: NAME VALUE... of the options named, from --print-config's output on stdin
in_effect() { grep -E "^($(tr ' ' '|' <<<"$*")) " | sort | paste -sd '|'; }
want="listen 127.0.0.1:7|retention 5|threads 2"
out=$("$POST" --config "$SV_TMP/all.conf" --retention 5 --listen 127.0.0.1:7 --print-config)
check_eq "--config, then the command line: the command line wins" "$want" \
	"$(in_effect listen retention threads <<<"$out")"
out=$("$POST" --retention 5 --listen 127.0.0.1:7 --config "$SV_TMP/all.conf" --print-config)
check_eq "the command line, then --config: the command line wins" "$want" \
	"$(in_effect listen retention threads <<<"$out")"
printf 'retention 0\n' >"$SV_TMP/bad.conf"
bad "config: a bad value, as on the command line" "invalid --retention '0'" \
	"$POST" --config "$SV_TMP/bad.conf"
printf 'retention\n' >"$SV_TMP/bad.conf"
bad "config: a missing value" "config: unknown option or missing value: 'retention'" \
	"$POST" --config "$SV_TMP/bad.conf"
printf 'config %s\n' "$SV_TMP/all.conf" >"$SV_TMP/bad.conf"
bad "config: no config in a config" "config: unknown option" "$POST" --config "$SV_TMP/bad.conf"
printf 'influx-token u:p\n' >"$SV_TMP/bad.conf"
bad "config: an option without what it needs" "--influx-token needs --influx" \
	"$POST" --config "$SV_TMP/bad.conf"
finish
