#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Agents to the post, end to end: three boxes on a bridged underlay (two of them also on a
# VXLAN overlay) deliver to a post listening on a unix socket; known UDP traffic must come out
# of the post's API exact per box, interface and direction, and every packet an agent saw must
# be stored once. One box reaches the post through a proxy that loses the post's first
# answers, so its agent retries batches the post already stored.
. "$(dirname "$0")/lib.sh"
need_root post-e2e
POST=$SV_ROOT/build/sitevisor-post
TOKEN=e2e-token-$RUN_ID
sock=$SV_TMP/post.sock

B1=$(ns_add b1) && B2=$(ns_add b2) && B3=$(ns_add b3) && SW=$(ns_add sw) || exit 1
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 up
i=1
for ns in "$B1" "$B2" "$B3"; do
	veth "$ns" eth0 "$SW" p$i || exit 1
	ip -n "$SW" link set p$i master br0
	no_ipv6 "$ns" eth0
	ip -n "$ns" addr add 198.18.7.$i/24 dev eth0
	i=$((i + 1))
done
for i in 1 2; do
	ns=$([ $i = 1 ] && echo "$B1" || echo "$B2")
	ip -n "$ns" link add vx77 type vxlan id 77 local 198.18.7.$i remote 198.18.7.$((3 - i)) \
		dstport 4789 dev eth0
	no_ipv6 "$ns" vx77
	ip -n "$ns" addr add 198.19.7.$i/24 dev vx77
	ip -n "$ns" link set vx77 up
done
# Neighbours and the bridge's forwarding table first: no datagram waits in a queue.
for a in 198.18.7.2 198.18.7.3 198.19.7.2; do
	wait_for 5 ip netns exec "$B1" ping -c 1 -W 1 "$a" || fail "ping $a before tracing"
done
wait_for 5 ip netns exec "$B2" ping -c 1 -W 1 198.18.7.3 || fail "ping b2 -> b3 before tracing"

printf '# ingest token\n%s\n' "$TOKEN" >"$SV_TMP/token"
bg "$POST" --listen "unix:$sock" --db "$SV_TMP/post.db" --token "$TOKEN" 2>"$SV_TMP/post.err"
wait_for 10 test -S "$sock" || { fail "post did not start"; cat "$SV_TMP/post.err"; finish; }

# box3 reaches the post through a proxy that forwards every request but drops the post's
# first two answers: the agent must retry, the post must answer "duplicate".
b3_url=unix:$sock
if command -v python3 >/dev/null; then
	cat >"$SV_TMP/proxy.py" <<'EOF'
import socket, sys, threading
lpath, tpath, drops, logf = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
seen, lock = [0], threading.Lock()

def read_http(f):
    head, n = [], 0
    while True:
        line = f.readline()
        if not line:
            return None
        head.append(line)
        if line in (b"\r\n", b"\n"):
            break
        k, _, v = line.decode("latin1").partition(":")
        if k.strip().lower() == "content-length":
            n = int(v)
    return b"".join(head) + f.read(n)

def serve(c):
    try:
        f = c.makefile("rb")
        while True:
            req = read_http(f)
            if req is None:
                return
            t = socket.socket(socket.AF_UNIX)
            t.settimeout(30)
            t.connect(tpath)
            t.sendall(req)
            resp = read_http(t.makefile("rb"))
            t.close()
            # Only ingest answers: the agent also asks for its tap rules on this path.
            n = drops + 1
            if req.startswith(b"POST /api/v1/ingest"):
                with lock:
                    seen[0] += 1
                    n = seen[0]
            if n <= drops:
                with open(logf, "a") as log:
                    log.write("dropped answer %d: %s\n" % (n, resp.split(b"\r\n")[0].decode()))
                return
            c.sendall(resp)
    except Exception as e:
        with open(logf, "a") as log:
            log.write("proxy: %r\n" % e)
    finally:
        c.close()

s = socket.socket(socket.AF_UNIX)
s.bind(lpath)
s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
	bg python3 "$SV_TMP/proxy.py" "$SV_TMP/proxy.sock" "$sock" 2 "$SV_TMP/proxy.log"
	wait_for 10 test -S "$SV_TMP/proxy.sock" && b3_url=unix:$SV_TMP/proxy.sock
fi

t0=$(date +%s)
agent_start "$B1" box1 --post "unix:$sock" --token-file "$SV_TMP/token" --box box1 \
	--spool "$SV_TMP/spool1" || exit 1
a1=$AGENT_PID
agent_start "$B2" box2 --post "unix:$sock" --token "$TOKEN" --box box2 \
	--spool "$SV_TMP/spool2" || exit 1
a2=$AGENT_PID
agent_start "$B3" box3 --post "$b3_url" --token-file "$SV_TMP/token" --box box3 \
	--spool "$SV_TMP/spool3" || exit 1
a3=$AGENT_PID

ip netns exec "$B1" "$TOOLS/udpsend" -n 100 -s 200 -p 42001 198.18.7.2 9201 >/dev/null
ip netns exec "$B2" "$TOOLS/udpsend" -n 70 -s 300 -p 42002 198.18.7.3 9202 >/dev/null
ip netns exec "$B3" "$TOOLS/udpsend" -n 50 -s 100 -p 42003 198.18.7.1 9203 >/dev/null
ip netns exec "$B1" "$TOOLS/udpsend" -n 40 -s 150 -p 42004 198.19.7.2 9204 >/dev/null
sleep 1.5 # a few batches go out while the agents run, the rest at SIGTERM

for n in 1 2 3; do
	eval "pid=\$a$n"
	stop_pid "$pid"
	check_eq "box$n: agent exits 0 after SIGTERM" 0 $?
	check_eq "box$n: nothing left in the spool" 1 \
		"$(grep -c '; 0 batches (0 records) remain in the spool' "$SV_TMP/box$n.err")"
	sed -n 's/^/box'$n': /; /packets, \|post: \|unreachable\|again/p' "$SV_TMP/box$n.err"
	check_eq "box$n: spool directory empty" 0 "$(find "$SV_TMP/spool$n" -name 'b-*' | wc -l)"
done

api() { curl -sf --max-time 10 --unix-socket "$sock" "http://post/api/v1/$1"; }
since=$(((t0 / 60 - 1) * 60))
until=$((($(date +%s) / 60 + 2) * 60))
range="since=$since&until=$until"
# post_sum FIELD QUERY: FIELD summed over every stored record that matches.
post_sum() {
	local page
	page=$(api "flows?$2&$range&limit=10000") || { echo "api error"; return; }
	[ "$(jq .more <<<"$page")" = false ] || { echo "more than one page"; return; }
	jq "[.flows[].$1] | add // 0" <<<"$page"
}
# expect NAME QUERY PACKETS BYTES
expect() {
	check_eq "$1 packets" "$3" "$(post_sum packets "$2")"
	check_eq "$1 bytes" "$4" "$(post_sum bytes "$2")"
}

# UDP frames: 14 + 20 + 8 + payload. VXLAN adds 50 bytes of outer headers on the underlay,
# where the record carries the inner flow plus the VNI.
expect "box1 eth0 egress udp to box2" "box=box1&iface=eth0&direction=egress&dst_port=9201" 100 24200
expect "box2 eth0 ingress udp from box1" "box=box2&iface=eth0&direction=ingress&dst_port=9201" 100 24200
expect "box2 eth0 egress udp to box3" "box=box2&iface=eth0&direction=egress&dst_port=9202" 70 23940
expect "box3 eth0 ingress udp from box2" "box=box3&iface=eth0&direction=ingress&dst_port=9202" 70 23940
expect "box3 eth0 egress udp to box1" "box=box3&iface=eth0&direction=egress&dst_port=9203" 50 7100
expect "box1 eth0 ingress udp from box3" "box=box1&iface=eth0&direction=ingress&dst_port=9203" 50 7100
expect "box1 vx77 egress overlay" "box=box1&iface=vx77&direction=egress&dst_port=9204" 40 7680
expect "box1 eth0 egress underlay vni 77" "box=box1&iface=eth0&direction=egress&dst_port=9204&vni=77" 40 9680
expect "box2 eth0 ingress underlay vni 77" "box=box2&iface=eth0&direction=ingress&dst_port=9204&vni=77" 40 9680
expect "box2 vx77 ingress overlay" "box=box2&iface=vx77&direction=ingress&dst_port=9204" 40 7680

# Per box: what the agent saw = what the post stored = what the agent printed, and the
# series (raw records at 1 s steps, per-minute rollups at 60 s) adds up to the same.
for n in 1 2 3; do
	read -r tp tb <<<"$(agent_totals "$SV_TMP/box$n.err")"
	check_eq "box$n: post stored every packet the agent saw" "$tp" "$(post_sum packets "box=box$n")"
	check_eq "box$n: post stored every byte the agent saw" "$tb" "$(post_sum bytes "box=box$n")"
	check_eq "box$n: post packets = agent's own JSON" "$(flow_sum "$SV_TMP/box$n.json" packets true)" \
		"$(post_sum packets "box=box$n")"
	recs=$(sed -n 's/.* bytes, \([0-9]*\) flow records;.*/\1/p' "$SV_TMP/box$n.err")
	check_eq "box$n: post stored every record once" "$recs" \
		"$(api boxes | jq ".boxes[] | select(.name == \"box$n\") | .flows")"
	for step in 1 60; do
		s=$(api "series?box=box$n&$range&step=$step")
		check_eq "box$n: series step $step packets = raw" "$tp" "$(jq '[.points[].packets] | add' <<<"$s")"
		check_eq "box$n: series step $step bytes = raw" "$tb" "$(jq '[.points[].bytes] | add' <<<"$s")"
	done
done
s=$(api "series?box=box1&iface=eth0&direction=egress&$range&step=60")
check_eq "box1 eth0 egress: rollup series = its records" "$(post_sum packets "box=box1&iface=eth0&direction=egress")" \
	"$(jq '[.points[].packets] | add' <<<"$s")"

boxes=$(api boxes)
check_eq "boxes: the three boxes" '["box1","box2","box3"]' "$(jq -c '[.boxes[].name]' <<<"$boxes")"
check_eq "boxes: box1 interfaces" '["eth0","vx77"]' "$(jq -c '.boxes[0].interfaces | sort' <<<"$boxes")"
check_eq "boxes: box2 interfaces" '["eth0","vx77"]' "$(jq -c '.boxes[1].interfaces | sort' <<<"$boxes")"
check_eq "boxes: box3 interfaces" '["eth0"]' "$(jq -c '.boxes[2].interfaces | sort' <<<"$boxes")"
check_eq "boxes: agent version" '"0.1.0"' "$(jq -c '.boxes[0].agent_version' <<<"$boxes")"

# The lost answers: box3's agent sent batches the post had stored, and nothing doubled
# (the per-box totals above hold for box3 too).
if [ "$b3_url" != "unix:$sock" ]; then
	check_eq "retry race: the proxy dropped two answers" 2 "$(grep -c '^dropped answer' "$SV_TMP/proxy.log")"
	dups=$(sed -n 's/.*, \([0-9]*\) of them duplicates;.*/\1/p' "$SV_TMP/box3.err")
	check "retry race: box3's agent got duplicate answers ($dups)" test "${dups:-0}" -ge 1
	check "retry race: box3's agent said the post failed, once" \
		test "$(grep -c 'unreachable: ' "$SV_TMP/box3.err")" -eq 1
else
	skip "retry race through a proxy (needs python3)"
fi

# The same batch posted twice by hand is stored once.
batch='{"type":"batch","batch_id":"hand-1","box":"hand","agent_version":"t","interfaces":["h0"]}
{"type":"flow","box":"hand","iface":"h0","direction":"egress","eth_type":2048,"ip_version":4,"protocol":17,"src_addr":"198.18.7.9","dst_addr":"198.18.7.8","src_port":1,"dst_port":2,"src_mac":"02:00:00:00:00:01","dst_mac":"02:00:00:00:00:02","packets":7,"bytes":700,"tcp_flags":0,"first_ns":'$((t0 * 1000000000))',"last_ns":'$((t0 * 1000000000 + 1))',"end_reason":"active"}'
ingest() {
	curl -s --max-time 10 --unix-socket "$sock" -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/x-ndjson' --data-binary "$batch" http://post/api/v1/ingest
}
check_eq "hand batch: first post stores it" false "$(ingest | jq .duplicate)"
check_eq "hand batch: second post is a duplicate" true "$(ingest | jq .duplicate)"
check_eq "hand batch: stored once" 7 "$(post_sum packets "box=hand")"
finish
