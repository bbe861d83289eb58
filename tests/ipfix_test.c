// SPDX-License-Identifier: GPL-2.0
/* IPFIX exporter tests that need no agent: the message framing at several MTUs, read back
 * from a UDP socket and walked set by set, and a TCP collector that stops reading, which
 * must cost a scan a bounded time and be counted, never stall the agent's event loop.
 * Runs on loopback (tests/test-ipfix-export.sh runs it inside a test namespace). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "check.h"
#include "ipfix.h"
#include "ipfix_msg.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Record i: IPv4, IPv6 or non-IP, every fourth one tunnelled. */
static void make_rec(unsigned int i, struct sv_flow_key *k, struct sv_rec *r)
{
	memset(k, 0, sizeof(*k));
	k->ifindex = 2;
	k->ip_version = (unsigned int[]){ 4, 6, 0 }[i % 3];
	k->protocol = k->ip_version ? 17 : 0;
	k->src_port = 10000 + i % 50000;
	k->dst_port = 9000;
	k->flags = i % 4 == 0 ? SV_KEY_TUNNEL : 0;
	k->vni = 42;
	sv_rec_init(r);
	r->packets = 1;
	r->bytes = 100;
	strcpy(r->end_reason, sv_end_reason_str(SV_END_ACTIVE));
}

static int listener(int type, struct sockaddr_in *sa, int rcvbuf)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, type, 0);

	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (fd < 0 || bind(fd, (void *)sa, sizeof(*sa)) || getsockname(fd, (void *)sa, &len) ||
	    (type == SOCK_STREAM && listen(fd, 1))) {
		perror("ipfix_test: listener");
		exit(1);
	}
	return fd;
}

static struct sv_ipfix *exporter(const char *target, unsigned int mtu)
{
	struct sv_ipfix_target t;
	struct sv_ipfix_cfg cfg = { .target = &t, .domain = 9, .mtu = mtu, .template_interval = 60 };
	struct sv_ipfix *x;

	if (sv_ipfix_parse_target("--ipfix", target, &t) || sv_ipfix_open(&cfg, &x)) {
		printf("FAIL: ipfix_test: cannot open an exporter to %s\n", target);
		exit(1);
	}
	sv_ipfix_start(x);
	return x;
}

static unsigned int be16(const __u8 *p)
{
	return p[0] << 8 | p[1];
}

static unsigned int be32(const __u8 *p)
{
	return be16(p) << 16 | be16(p + 2);
}

/* Walks one message; returns its data records, or -1 if its framing is wrong. */
static int walk(const __u8 *m, size_t n, unsigned int mtu, __u32 *seq)
{
	size_t off = SV_IPFIX_HDR_LEN, set_len;
	unsigned int id, recs = 0, rl;

	if (n > mtu || n < SV_IPFIX_HDR_LEN || be16(m) != 10 || be16(m + 2) != n ||
	    be32(m + 12) != 9 || be32(m + 8) != *seq)
		return -1;
	while (off < n) {
		id = be16(m + off);
		set_len = be16(m + off + 2);
		if (set_len < SV_IPFIX_SET_HDR_LEN || off + set_len > n)
			return -1;
		if (id == SV_IPFIX_TEMPLATE_SET) {
			/* All templates in one set, or (a small mtu) one template a set. */
			rl = be16(m + off + 4) - SV_IPFIX_TMPL_BASE;
			if (set_len != sv_ipfix_templates_len() &&
			    (rl >= SV_TMPL_MAX ||
			     set_len != SV_IPFIX_SET_HDR_LEN + sv_ipfix_template_len(rl)))
				return -1;
		} else {
			if (id < SV_IPFIX_TMPL_BASE || id >= SV_IPFIX_TMPL_BASE + SV_TMPL_MAX)
				return -1;
			rl = sv_ipfix_record_len(id - SV_IPFIX_TMPL_BASE);
			if ((set_len - SV_IPFIX_SET_HDR_LEN) % rl) /* we never pad */
				return -1;
			recs += (set_len - SV_IPFIX_SET_HDR_LEN) / rl;
		}
		off += set_len;
	}
	*seq += recs;
	return recs;
}

/* Records of every kind at one MTU: each datagram one whole message within the MTU. */
static void framing(unsigned int mtu)
{
	static __u8 buf[65536];
	unsigned int i, total = 0, msgs = 0, bad = 0, full = 0;
	char target[64];
	struct sockaddr_in sa;
	struct sv_flow_key k;
	struct sv_rec r;
	struct sv_ipfix *x;
	__u32 seq = 0;
	ssize_t n;
	int fd, got;

	fd = listener(SOCK_DGRAM, &sa, 8 << 20);
	snprintf(target, sizeof(target), "127.0.0.1:%u", ntohs(sa.sin_port));
	x = exporter(target, mtu);
	for (i = 0; i < 3000; i++) {
		make_rec(i, &k, &r);
		sv_ipfix_flow(x, &k, &r);
	}
	sv_ipfix_end(x);
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		got = walk(buf, n, mtu, &seq);
		bad += got < 0;
		total += got > 0 ? got : 0;
		/* Templates alone (one a message at a small mtu) fill nothing. */
		full += (size_t)n + sv_ipfix_record_max() + SV_IPFIX_SET_HDR_LEN > mtu || !got;
		msgs++;
	}
	check(!bad && msgs > 1, "framing, mtu %u: %u messages, each whole, within the mtu, with the "
	      "right sequence number", mtu, msgs);
	check(total == 3000, "framing, mtu %u: every record once (%u of 3000)", mtu, total);
	check(full + 2 >= msgs, "framing, mtu %u: messages filled (%u of %u)", mtu, full, msgs);
	sv_ipfix_close(x);
	close(fd);
}

/* A TCP collector that takes the connection and never reads: a scan may wait for it a
 * bounded time, then its records are dropped and counted. */
static void stalled_collector(void)
{
	unsigned int scan, i, n = 100000;
	struct sv_ipfix_stats st;
	double t, worst = 0;
	char target[64];
	struct sockaddr_in sa;
	struct sv_flow_key k;
	struct sv_rec r;
	struct sv_ipfix *x;
	int fd;

	fd = listener(SOCK_STREAM, &sa, 4096); /* never accepted, never read */
	snprintf(target, sizeof(target), "tcp://127.0.0.1:%u", ntohs(sa.sin_port));
	x = exporter(target, 1400);
	for (scan = 0; scan < 3; scan++) {
		t = now_s();
		for (i = 0; i < n; i++) {
			make_rec(i, &k, &r);
			sv_ipfix_flow(x, &k, &r);
		}
		sv_ipfix_end(x);
		t = now_s() - t;
		worst = t > worst ? t : worst;
	}
	sv_ipfix_get_stats(x, &st);
	check(worst < 2.5, "stalled tcp collector: the slowest scan took %.2f s (bound 2.5)", worst);
	check(st.dropped > 0 && st.send_errors > 0,
	      "stalled tcp collector: %llu records dropped, %llu send errors", st.dropped,
	      st.send_errors);
	check(st.records + st.dropped == 3ull * n,
	      "stalled tcp collector: sent + dropped = built (%llu + %llu = %u)", st.records,
	      st.dropped, 3 * n);
	sv_ipfix_close(x);
	close(fd);
}

int main(void)
{
	framing(512);
	framing(1400);
	framing(9000);
	stalled_collector();
	return failed ? 1 : 0;
}
