# SPDX-License-Identifier: GPL-2.0
# Shared by every shell test and benchmark: unique names per run, cleanup on any exit,
# bounded waits, and PASS/FAIL/SKIP lines that tests/run.sh counts.
#
# Namespaces are named sv<run-id>-<name> and interfaces are created directly inside them, so
# parallel runs never collide; everything is removed on exit, also on failure. Processes are
# ended only by the PIDs this file recorded when it started them.

SV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AGENT=$SV_ROOT/build/sitevisor-agent
TOOLS=$SV_ROOT/build/tests
TRACES=${SV_TRACES:-$SV_ROOT/../shared/traces}
RUN_ID=$(printf '%x%04x' $$ $((RANDOM)))
SV_TMP=$(mktemp -d "/tmp/sitevisor-test.$RUN_ID.XXXX")
SV_PIDS=()
SV_FAILED=0

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	SV_FAILED=1
}
skip() { echo "SKIP: $*"; }

# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

# check NAME COMMAND...: passes if the command succeeds.
check() {
	local name=$1
	shift
	if "$@" >>"$SV_TMP/check.log" 2>&1; then pass "$name"; else fail "$name"; fi
}

sv_cleanup() {
	local pid ns i
	for pid in "${SV_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${SV_PIDS[@]}"; do
		for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	# By prefix, not by a list: ns_add mostly runs in $(...), a subshell whose variables
	# never reach this shell.
	for ns in $(ip netns list | awk -v p="sv$RUN_ID-" 'index($1, p) == 1 { print $1 }'); do
		ip netns del "$ns" 2>/dev/null
	done
	# SV_KEEP=1 keeps the files of a run, to read after a failure.
	[ -n "${SV_KEEP:-}" ] || rm -rf "$SV_TMP"
}
trap sv_cleanup EXIT
trap 'exit 130' INT TERM

# ns_add NAME: creates namespace sv<run-id>-NAME with lo up; prints its full name.
ns_add() {
	local ns="sv${RUN_ID}-$1"
	ip netns add "$ns" || return 1
	ip -n "$ns" link set lo up
	echo "$ns"
}

# veth NS1 IF1 NS2 IF2 [MTU]: a veth pair created directly in the two namespaces, up.
veth() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || return 1
	if [ -n "${5:-}" ]; then
		ip -n "$1" link set "$2" mtu "$5"
		ip -n "$3" link set "$4" mtu "$5"
	fi
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# no_ipv6 NS IFACE: keeps the kernel's own IPv6 chatter (ND, MLD) off an interface.
no_ipv6() {
	ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
}

# static_pair NS1 IF1 ADDR1 NS2 IF2 ADDR2: a veth pair with IPv4 /24 addresses, no IPv6 and
# permanent neighbours: no ARP, ND or MLD, so the only frames on it are the ones sent.
static_pair() {
	local mac1 mac2
	veth "$1" "$2" "$4" "$5" || return 1
	no_ipv6 "$1" "$2"
	no_ipv6 "$4" "$5"
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$4" addr add "$6/24" dev "$5"
	mac1=$(ip -n "$1" -j link show "$2" | jq -r '.[0].address')
	mac2=$(ip -n "$4" -j link show "$5" | jq -r '.[0].address')
	ip -n "$1" neigh replace "$6" lladdr "$mac2" dev "$2" nud permanent
	ip -n "$4" neigh replace "$3" lladdr "$mac1" dev "$5" nud permanent
}

# forget_pid PID: drops an ended process from the cleanup list, so cleanup never signals a
# PID the system may since have given to someone else.
forget_pid() {
	local keep=() p
	for p in "${SV_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	SV_PIDS=("${keep[@]}")
}

# bg CMD...: starts CMD in the background and records its PID for cleanup; sets BG_PID.
bg() {
	"$@" &
	BG_PID=$!
	SV_PIDS+=("$BG_PID")
}

# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds or time is up.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# wait_eq SECONDS EXPECTED COMMAND...: polls until the command prints EXPECTED or time is up
# (the caller then checks what it prints).
wait_eq() {
	local n=$(($1 * 10)) want=$2
	shift 2
	while [ "$n" -gt 0 ] && [ "$("$@")" != "$want" ]; do
		sleep 0.1
		n=$((n - 1))
	done
}

# agent_start NS NAME ARGS...: runs the agent in NS, JSON to $SV_TMP/NAME.json, stderr to
# $SV_TMP/NAME.err; waits until it traces. Sets AGENT_PID.
agent_start() {
	local ns=$1 name=$2
	shift 2
	bg ip netns exec "$ns" "$AGENT" --json --interval 1 "$@" \
		>"$SV_TMP/$name.json" 2>"$SV_TMP/$name.err"
	AGENT_PID=$BG_PID
	if ! wait_for 10 grep -q 'records every' "$SV_TMP/$name.err"; then
		echo "agent $name did not start:" >&2
		cat "$SV_TMP/$name.err" >&2
		return 1
	fi
}

# stop_pid PID: SIGTERM, then waits up to 10 s; returns the process's exit status.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		echo "process $pid ignored SIGTERM for 10 s" >&2
		# Gone before we return: a server started next on its files finds no lock held.
		wait "$pid" 2>/dev/null
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		return 124
	fi
	wait "$pid"
}

# flow_sum FILE FIELD JQ-FILTER: the sum of FIELD over the flow records that match.
flow_sum() {
	jq -s "[.[] | select(.type == \"flow\") | select($3) | .$2] | add // 0" "$1"
}

# The last summary line an agent wrote to stderr, as "packets bytes".
agent_totals() {
	sed -n 's/.*: \([0-9]*\) packets, \([0-9]*\) bytes,.*/\1 \2/p' "$1" | tail -1
}

# finish: ends a test script with the right status.
finish() {
	exit "$SV_FAILED"
}

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		skip "$1 (needs root)"
		exit 0
	fi
}

# --- IPFIX messages as hex, for build/tests/udpmsg ---
u16() { printf '%04x' "$1"; }
u32() { printf '%08x' "$1"; }
u64() { printf '%016x' "$1"; }
# set ID BODY: a set (FlowSet) with its length.
set_() { echo "$(u16 "$1")$(u16 $((4 + ${#2} / 2)))$2"; }
# ipfix DOMAIN SEQ EXPORT_SECS SET...: a message with its length.
ipfix() {
	local dom=$1 seq=$2 t=$3 body
	shift 3
	body=$(printf '%s' "$@")
	echo "000a$(u16 $((16 + ${#body} / 2)))$(u32 "$t")$(u32 "$seq")$(u32 "$dom")$body"
}
# tmpl ID IE:LEN[:PEN]...: a template record.
tmpl() {
	local id=$1 f out="" n=0 ie len pen
	shift
	for f in "$@"; do
		IFS=: read -r ie len pen <<<"$f"
		if [ -n "$pen" ]; then out+=$(u16 $((ie | 0x8000)))$(u16 "$len")$(u32 "$pen"); else out+=$(u16 "$ie")$(u16 "$len"); fi
		n=$((n + 1))
	done
	echo "$(u16 "$id")$(u16 "$n")$out"
}

# history_batch START SUMS: a batch of 16.7 MB of records (box "importer", UDP) dated START to
# START + 1 h, every address and port different (the worst case for top-talker sums); writes
# "17 RECORDS BYTES" to the file SUMS. For the cost of records older than the levels' end.
history_batch() {
	awk -v t="$1" -v sums="$2" 'BEGIN {
		printf "{\"type\":\"batch\",\"batch_id\":\"late-1\",\"box\":\"importer\",\"agent_version\":\"0.1.0\",\"interfaces\":[\"eth0\"]}\n"
		for (i = 0; size < 16700000; i++) {
			s = sprintf("{\"type\":\"flow\",\"box\":\"importer\",\"iface\":\"eth0\",\"direction\":\"egress\",\"eth_type\":2048,\"ip_version\":4,\"protocol\":17,\"src_addr\":\"198.18.%d.%d\",\"dst_addr\":\"198.19.%d.%d\",\"src_port\":%d,\"dst_port\":%d,\"src_mac\":\"02:00:00:00:00:01\",\"dst_mac\":\"02:00:00:00:00:02\",\"packets\":1,\"bytes\":%d,\"tcp_flags\":0,\"first_ns\":%d000000000,\"last_ns\":%d000000000,\"end_reason\":\"active\"}\n",
				int(i / 250) % 256, i % 250, int(i / 200) % 256, i % 200, 1024 + i % 60000, i % 5000,
				64 + i % 1400, t + i % 3600, t + i % 3600)
			size += length(s)
			bytes += 64 + i % 1400
			printf "%s", s
		}
		printf "17 %d %d\n", i, bytes >sums
	}'
}
