// SPDX-License-Identifier: GPL-2.0
/* cbpf_test: the classic-to-eBPF translator against libpcap's own interpreter. Every
 * expression is compiled with pcap_compile, translated, loaded into the kernel and run with
 * BPF_PROG_TEST_RUN on crafted frames and on random mutations of them; the program's
 * counters (sent/lost vs filtered) must agree with pcap's bpf_filter on every frame.
 *
 *   cbpf_test [MUTATIONS_PER_FRAME]
 * Prints PASS/FAIL lines; exits non-zero on a failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cbpf.h"
#include "pcapfilt.h"
#include "sitevisor.h"

#define SNAP 262144

static const char *exprs[] = {
	"",
	"ip",
	"ip6",
	"arp",
	"tcp",
	"udp",
	"icmp",
	"host 198.18.0.1",
	"src host 198.18.0.1 and dst host 198.18.0.2",
	"net 198.18.0.0/16",
	"not net 198.18.0.0/24",
	"port 80",
	"udp port 53",
	"tcp dst port 443",
	"portrange 1000-2000",
	"src portrange 1-1023",
	"proto 17",
	"ip proto 6",
	"tcp[tcpflags] & tcp-syn != 0",
	"tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and not src net 198.18.0.0/24",
	"tcp[13] == 0x12",
	"vlan",
	"vlan 100",
	"vlan and ip",
	"vlan 10 and vlan 20 and udp",
	"vlan and host 198.18.0.1",
	"ip6 and tcp",
	"ip6 host 2001:db8::1",
	"ip6 net 2001:db8::/64 and udp port 53",
	"icmp6",
	"ip[2:2] > 100",
	"ip[8] < 64",
	"udp[8:4] = 0x01020304",
	"len > 100",
	"len <= 60",
	"ether host 02:00:00:00:00:01",
	"ether broadcast",
	"ip and (udp or tcp) and not port 22",
	"ip[6:2] & 0x1fff != 0",
	"tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420",
	"ip[0] & 0xf > 5",
	"udp[0:2] / 100 = 3",
	"udp[0:2] % 7 = 6",
	"ip[8] * 3 - 2 = 190",
	"(udp[2:2] << 3) >> 2 = 106",
	"udp[2:2] ^ 0xff = 0xca",
	"udp[2:2] & 0 = 0 and udp[3] | 1 = 0x35",
	"udp[4:2] / (udp[3] - 53) = 0",
	"udp[0:2] << (udp[9] & 63) = 1200",
	"udp[2:2] << (udp[8] + 40) = 0",
	"udp[0:2] >> (udp[8] + 31) = 0",
	"udp[4:2] / (udp[3] - 0x50) > 0",
	"greater 200",
	"less 80",
	"ip multicast",
	"ip6 multicast",
	"udp and ip[20+8:2] = 0x0102",
	"mpls",
	"pppoes",
};

static const unsigned char eth_ip[] = { 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00 };

struct frame {
	unsigned char b[256];
	unsigned int len;
};

static unsigned int put(unsigned char *p, const void *src, unsigned int n)
{
	memcpy(p, src, n);
	return n;
}

/* IPv4 header + L4 at p; returns bytes written. */
static unsigned int ip4(unsigned char *p, int proto, const char *src, const char *dst,
			unsigned int sport, unsigned int dport, int flags, unsigned int l4len)
{
	unsigned char h[20] = { 0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, (unsigned char)proto };
	unsigned int n = 0, tot = 20 + l4len;
	unsigned int a[4];

	h[2] = tot >> 8;
	h[3] = tot;
	sscanf(src, "%u.%u.%u.%u", &a[0], &a[1], &a[2], &a[3]);
	h[12] = a[0], h[13] = a[1], h[14] = a[2], h[15] = a[3];
	sscanf(dst, "%u.%u.%u.%u", &a[0], &a[1], &a[2], &a[3]);
	h[16] = a[0], h[17] = a[1], h[18] = a[2], h[19] = a[3];
	n += put(p, h, 20);
	memset(p + n, 0, l4len);
	p[n] = sport >> 8, p[n + 1] = sport, p[n + 2] = dport >> 8, p[n + 3] = dport;
	if (proto == 6) {
		p[n + 12] = 0x50;
		p[n + 13] = flags;
	}
	if (proto == 17) {
		p[n + 4] = l4len >> 8, p[n + 5] = l4len;
		p[n + 8] = 1, p[n + 9] = 2, p[n + 10] = 3, p[n + 11] = 4;
	}
	if (proto == 6 && l4len >= 24)
		memcpy(p + n + 20, "GET ", 4);
	return n + l4len;
}

static unsigned int ip6(unsigned char *p, int nxt, int last, unsigned int sport,
			unsigned int dport, unsigned int l4len)
{
	unsigned char h[40] = { 0x60, 0, 0, 0, 0, 0, (unsigned char)nxt, 64,
				0x20, 0x01, 0x0d, 0xb8 };

	h[4] = l4len >> 8;
	h[5] = l4len;
	h[23] = 1;
	h[24] = 0x20, h[25] = 0x01, h[26] = 0x0d, h[27] = 0xb8, h[39] = last;
	memcpy(p, h, 40);
	memset(p + 40, 0, l4len);
	p[40] = sport >> 8, p[41] = sport, p[42] = dport >> 8, p[43] = dport;
	return 40 + l4len;
}

static int build_frames(struct frame *f)
{
	unsigned char vlan100[] = { 0x81, 0x00, 0x00, 100, 0x08, 0x00 };
	unsigned char qinq[] = { 0x88, 0xa8, 0x00, 10, 0x81, 0x00, 0x00, 20, 0x08, 0x00 };
	unsigned char v6[] = { 0x86, 0xdd };
	int n = 0;

#define ETH(fr) ((fr)->len = put((fr)->b, eth_ip, 14))
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 17, "198.18.0.1", "198.18.0.2", 300, 53, 0, 26), n++;
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 6, "198.18.0.1", "198.18.1.2", 1500, 80, 0x02, 24), n++;
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 6, "198.18.1.7", "198.18.0.1", 443, 40000, 0x12, 20), n++;
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 6, "198.19.0.7", "198.18.0.2", 22, 9, 0x11, 40), n++;
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 1, "198.18.0.2", "198.18.0.1", 0x0800, 0, 0, 8), n++;
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 17, "198.18.0.9", "255.255.255.255", 68, 67, 0, 180), n++;
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 17, "198.18.0.9", "224.0.0.251", 5353, 5353, 0, 12), n++;
	/* a non-first fragment, and IPv4 with options (IHL 6) */
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 17, "198.18.0.1", "198.18.0.2", 300, 53, 0, 26);
	f[n].b[20] = 0x00, f[n].b[21] = 0x10, n++;
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 6, "198.18.0.1", "198.18.0.2", 0, 0, 0, 28);
	f[n].b[14] = 0x46, f[n].b[34 + 2] = 0x01, f[n].b[34 + 3] = 0xbb, f[n].b[34 + 13] = 0x02, n++;
	/* 802.1Q 100, IPv4 UDP; Q-in-Q 10/20 */
	f[n].len = put(f[n].b, eth_ip, 12) + put(f[n].b + 12, vlan100, 6);
	f[n].len += ip4(f[n].b + 18, 17, "198.18.0.1", "198.18.0.2", 1234, 53, 0, 20), n++;
	f[n].len = put(f[n].b, eth_ip, 12) + put(f[n].b + 12, qinq, 10);
	f[n].len += ip4(f[n].b + 22, 17, "198.18.0.1", "198.18.0.2", 1234, 2000, 0, 20), n++;
	f[n].len = put(f[n].b, eth_ip, 12) + put(f[n].b + 12, vlan100, 6);
	f[n].len += ip4(f[n].b + 18, 6, "198.18.0.1", "198.18.0.2", 1234, 80, 0x02, 20), n++;
	/* IPv6 UDP 53 and TCP, ICMPv6 */
	f[n].len = put(f[n].b, eth_ip, 12) + put(f[n].b + 12, v6, 2);
	f[n].len += ip6(f[n].b + 14, 17, 1, 3000, 53, 16), n++;
	f[n].len = put(f[n].b, eth_ip, 12) + put(f[n].b + 12, v6, 2);
	f[n].len += ip6(f[n].b + 14, 6, 2, 443, 3000, 20), n++;
	f[n].len = put(f[n].b, eth_ip, 12) + put(f[n].b + 12, v6, 2);
	f[n].len += ip6(f[n].b + 14, 58, 1, 0x8000, 0, 8), n++;
	/* ARP, broadcast */
	memset(f[n].b, 0xff, 6), memcpy(f[n].b + 6, eth_ip + 6, 6);
	f[n].b[12] = 0x08, f[n].b[13] = 0x06, memset(f[n].b + 14, 0, 28), f[n].len = 42, n++;
	/* cut short: the TCP header cut at 4 and at 10 bytes (test_run itself refuses an IPv4
	 * frame shorter than its IP header) */
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 6, "198.18.0.1", "198.18.0.2", 1, 80, 2, 20);
	f[n].len = 38, n++;
	ETH(&f[n]), f[n].len += ip4(f[n].b + 14, 6, "198.18.0.1", "198.18.0.2", 1, 80, 2, 20);
	f[n].len = 44, n++;
	return n;
}

static int read_counts(int fd, __u64 *c)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 v[1024];
	__u32 k;
	int i;

	if (ncpu <= 0 || ncpu > 1024)
		return -EINVAL;
	for (k = 0; k < SV_CAP_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, v))
			return -errno;
		c[k] = 0;
		for (i = 0; i < ncpu; i++)
			c[k] += v[i];
	}
	return 0;
}

/* 1: the program sent (or tried to send) the frame, 0: filtered, <0: error. */
static int run(int prog, int cnt_fd, const struct frame *f)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->b, .data_size_in = f->len);
	__u64 a[SV_CAP_MAX], b[SV_CAP_MAX];
	int err;

	if (read_counts(cnt_fd, a))
		return -EIO;
	err = bpf_prog_test_run_opts(prog, &opts);
	if (err)
		return err;
	if ((int)opts.retval != -1)
		return -EPROTO; /* must always be TC_ACT_UNSPEC */
	if (read_counts(cnt_fd, b))
		return -EIO;
	if (b[SV_CAP_FILTERED] - a[SV_CAP_FILTERED] == 1)
		return 0;
	if (b[SV_CAP_SENT] + b[SV_CAP_LOST] - a[SV_CAP_SENT] - a[SV_CAP_LOST] == 1)
		return 1;
	return -EPROTO;
}

static unsigned int rnd_state = 12345;

static unsigned int rnd(void)
{
	rnd_state = rnd_state * 1103515245 + 12345;
	return rnd_state >> 8;
}

static int test_expr(const char *expr, struct frame *frames, int nf, int mutations,
		     const struct sv_cbpf_opts *o)
{
	struct sv_cinsn *cprog = NULL;
	struct bpf_insn *insns = NULL;
	size_t n, ni;
	char err[512];
	int fd = -1, i, m, bad = 0, runs = 0, matched = 0, refused = 0, ret;

	if (sv_pcapfilt_compile(expr, SNAP, &cprog, &n, err, sizeof(err))) {
		printf("FAIL: '%s': pcap_compile: %s\n", expr, err);
		return 1;
	}
	if (sv_cbpf_translate(cprog, n, o, &insns, &ni, err, sizeof(err))) {
		printf("FAIL: '%s': translate: %s\n", expr, err);
		bad = 1;
		goto out;
	}
	fd = sv_cbpf_load(insns, ni, "svcap_test", err, sizeof(err));
	if (fd < 0) {
		printf("FAIL: '%s': load: %s\n", expr, err);
		bad = 1;
		goto out;
	}
	for (i = 0; i < nf && bad < 5; i++) {
		for (m = 0; m <= mutations && bad < 5; m++) {
			struct frame f = frames[i];
			unsigned int want;
			int k;

			/* mutation 0 is the frame itself; others change 1-3 bytes, maybe cut it */
			for (k = 0; m && k < 1 + (int)(rnd() % 3); k++)
				f.b[rnd() % f.len] = rnd();
			if (m && rnd() % 4 == 0)
				f.len = 14 + rnd() % (f.len - 13);
			want = sv_pcapfilt_run(cprog, n, f.b, f.len, f.len) != 0;
			ret = run(fd, o->cnt_map_fd, &f);
			if (ret == -EINVAL && m) { /* test_run refuses e.g. a cut IP header */
				refused++;
				continue;
			}
			runs++;
			matched += want;
			if (ret < 0) {
				printf("FAIL: '%s' frame %d/%d: test_run: %s\n", expr, i, m,
				       strerror(-ret));
				bad++;
			} else if ((unsigned int)ret != want) {
				printf("FAIL: '%s' frame %d/%d (len %u): eBPF %s, libpcap %s\n", expr,
				       i, m, f.len, ret ? "match" : "no match",
				       want ? "match" : "no match");
				bad++;
			}
		}
	}
	if (!bad)
		printf("PASS: '%s' agrees with libpcap on %d frames (%d match, %d refused by "
		       "test_run)\n", expr, runs, matched, refused);
out:
	if (fd >= 0)
		close(fd);
	free(insns);
	free(cprog);
	return bad != 0;
}

int main(int argc, char **argv)
{
	struct sv_cbpf_opts o = { .snaplen = SNAP };
	struct frame frames[32];
	int mutations = argc > 1 ? atoi(argv[1]) : 40;
	int nf, failed = 0;
	size_t i;

	o.perf_map_fd = bpf_map_create(BPF_MAP_TYPE_PERF_EVENT_ARRAY, "svcap_t_ev", 4, 4,
				       libbpf_num_possible_cpus(), NULL);
	o.cnt_map_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "svcap_t_cnt", 4, 8, SV_CAP_MAX,
				      NULL);
	if (o.perf_map_fd < 0 || o.cnt_map_fd < 0) {
		printf("FAIL: cannot create maps: %s\n", strerror(errno));
		return 1;
	}
	nf = build_frames(frames);
	for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++)
		failed += test_expr(exprs[i], frames, nf, mutations, &o);
	printf("%s: %d of %zu expressions disagree\n", failed ? "FAIL" : "PASS", failed,
	       sizeof(exprs) / sizeof(exprs[0]));
	return failed != 0;
}
