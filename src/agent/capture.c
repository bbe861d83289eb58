// SPDX-License-Identifier: GPL-2.0
/* sitevisor-agent capture: tcpdump's job for an IDS, with the filter inside the kernel.
 *
 * The expression is compiled by libpcap (pcapfilt.c) and translated into a tc program per
 * direction (cbpf.c); the programs hang on the chosen interfaces (tcx, or clsact filters of
 * our own handle, via iface.c) and always let the frame go on. Accepted frames reach us
 * through a perf buffer and go out as pcapng (src/export/pcapng.c), flushed after every
 * batch so a reader on a pipe sees them at once. */
#include "capture.h"
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cbpf.h"
#include "iface.h"
#include "log.h"
#include "params.h"
#include "pcapfilt.h"
#include "pcapng.h"
#include "sitevisor.h"

#define CAP_SNAPLEN_MAX 262144 /* tcpdump's default and maximum */
#define CAP_TC_HANDLE 0x5343 /* "SC": not the flow agent's, so neither removes the other */
#define CAP_TC_PRIO 2
#define CAP_PERF_PAGES 512 /* per CPU: 2 MiB, some 20000 small frames */
#define CAP_POLL_MS 50 /* a frame waits at most this long below the wakeup mark */
#define CAP_NL_EVERY_NS 500000000ull /* interface events: looked at twice a second */

struct cap_opts {
	char **ifnames;
	int n_ifnames;
	const char *out; /* NULL: stdout if it is not a terminal */
	unsigned int snaplen;
	unsigned long long count; /* 0: no limit */
	char *expr;
};

struct cap {
	struct cap_opts o;
	struct sv_ifaces ifaces;
	int ifindex[64]; /* of the pcapng interface with the same index */
	int cnt_fd, perf_fd, prog_fd[2];
	struct perf_buffer *pb;
	FILE *out;
	struct sv_pcapng w;
	__u64 wall_off; /* CLOCK_REALTIME - CLOCK_MONOTONIC at start */
	unsigned long long written, perf_lost, malformed;
	int err; /* a write error ends the capture */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int set_interface(void *cfg, const char *arg)
{
	struct cap_opts *o = cfg;

	return sv_ifnames_add(&o->ifnames, &o->n_ifnames, (char *)arg);
}

/* -s 0 is tcpdump's "the whole frame". */
static int check_snaplen(void *cfg, const char *arg)
{
	struct cap_opts *o = cfg;

	if (!o->snaplen)
		o->snaplen = CAP_SNAPLEN_MAX;
	return 0;
}


/* tcpdump's letters; the expression follows the options, so parsing stops at it. */
static const struct sv_opt cap_opts[] = {
	{ NULL, 'i', SV_OPT_FUNC, .set = set_interface, .metavar = "IFACE",
	  .help = "capture on IFACE, both directions (repeatable)" },
	{ NULL, 'w', SV_OPT_STR, SV_FIELD(struct cap_opts, out), .metavar = "FILE",
	  .help = "write pcapng to FILE; '-': standard output (the default when that is not a "
		  "terminal)" },
	{ NULL, 's', SV_OPT_NUM, SV_FIELD(struct cap_opts, snaplen), .min = 0,
	  .max = CAP_SNAPLEN_MAX, .def = SV_STR(CAP_SNAPLEN_MAX), .set = check_snaplen,
	  .metavar = "SNAPLEN", .help = "keep at most SNAPLEN bytes of each frame (0: all)" },
	{ NULL, 'c', SV_OPT_NUM, SV_FIELD(struct cap_opts, count), .min = 1, .max = ULLONG_MAX,
	  .metavar = "COUNT", .help = "stop after COUNT frames" },
	SV_OPTS_STANDARD('h'),
	SV_OPT_END,
};

static const struct sv_cmd cap_cmd = {
	.name = "sitevisor-agent capture",
	.synopsis = "sitevisor-agent capture -i IFACE [-i IFACE...] [-w FILE|-] [-s SNAPLEN]\n"
		    "                               [-c COUNT] [EXPRESSION]",
	.about = "Writes the frames that match EXPRESSION (libpcap filter syntax, as tcpdump) "
		 "as pcapng; the filter runs inside the kernel.",
	.opts = cap_opts,
	.flags = SV_CMD_ARGS | SV_CMD_SHORT,
};

/* The expression: the remaining arguments joined by spaces, as tcpdump does. */
static char *join_args(int argc, char **argv)
{
	size_t len = 1;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	if (!s)
		return NULL;
	for (i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* Returns 0 to capture, 1 to exit 0 (help, version), negative on a usage error. */
static int parse_args(int argc, char **argv, struct cap_opts *o)
{
	struct sv_opt_state p;
	int err = sv_params_parse(&p, &cap_cmd, o, argc, argv);

	if (err)
		return err;
	if (!o->n_ifnames) {
		pr_warn("name the interfaces with -i (see -h)\n");
		return -EINVAL;
	}
	o->expr = join_args(argc - p.argi, argv + p.argi);
	return o->expr ? 0 : -ENOMEM;
}

/* Every -i must exist, once, and carry Ethernet frames (the filter is compiled for them). */
static int check_ifaces(struct cap *c)
{
	int fd, i, j, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (i = 0; i < c->o.n_ifnames && !err; i++) {
		const char *name = c->o.ifnames[i];
		struct ifreq ifr = {};

		for (j = 0; j < i; j++)
			if (!strcmp(c->o.ifnames[j], name)) {
				pr_warn("interface '%s' given twice\n", name);
				err = -EINVAL;
			}
		c->ifindex[i] = if_nametoindex(name);
		if (!err && (strlen(name) >= IF_NAMESIZE || !c->ifindex[i])) {
			pr_warn("no interface '%s'\n", name);
			err = -ENODEV;
			break;
		}
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		if (!err && ioctl(fd, SIOCGIFHWADDR, &ifr) == 0 &&
		    ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER &&
		    ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK) {
			pr_warn("'%s' is not an Ethernet interface (link type %u)\n", name,
				ifr.ifr_hwaddr.sa_family);
			err = -EINVAL;
		}
	}
	close(fd);
	return err;
}

static int load_programs(struct cap *c)
{
	struct sv_cinsn *cprog = NULL;
	struct bpf_insn *insns = NULL;
	size_t n, ni;
	char err[512];
	int dir, ret;

	ret = sv_pcapfilt_compile(c->o.expr, c->o.snaplen, &cprog, &n, err, sizeof(err));
	if (ret) {
		pr_warn("%s\n", err);
		return ret;
	}
	c->cnt_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "svcap_cnt", 4, 8, SV_CAP_MAX,
				   NULL);
	c->perf_fd = bpf_map_create(BPF_MAP_TYPE_PERF_EVENT_ARRAY, "svcap_events", 4, 4,
				    libbpf_num_possible_cpus(), NULL);
	if (c->cnt_fd < 0 || c->perf_fd < 0) {
		ret = -errno;
		pr_warn("cannot create BPF maps: %s\n", strerror(errno));
		goto out;
	}
	for (dir = 0; dir < 2; dir++) {
		struct sv_cbpf_opts o = { .perf_map_fd = c->perf_fd, .cnt_map_fd = c->cnt_fd,
					  .snaplen = c->o.snaplen, .dir = dir };

		free(insns);
		insns = NULL;
		ret = sv_cbpf_translate(cprog, n, &o, &insns, &ni, err, sizeof(err));
		if (ret) {
			pr_warn("%s\n", err);
			goto out;
		}
		ret = sv_cbpf_load(insns, ni, dir ? "svcap_out" : "svcap_in", err, sizeof(err));
		if (ret < 0) {
			pr_warn("cannot load the filter program: %s (%s)\n",
				strerror(-ret), err);
			goto out;
		}
		c->prog_fd[dir] = ret;
		ret = 0;
	}
out:
	free(insns);
	free(cprog);
	return ret;
}

static int iface_id(const struct cap *c, int ifindex)
{
	int i;

	for (i = 0; i < c->o.n_ifnames; i++)
		if (c->ifindex[i] == ifindex)
			return i;
	return -1;
}

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	struct cap *c = ctx;
	struct sv_cap_meta m;
	const unsigned char *p = (const unsigned char *)data + sizeof(m);
	__u32 tag, caplen, origlen;
	struct iovec iov[3];
	int id, n = 0;

	if (c->err || (c->o.count && c->written >= c->o.count))
		return;
	if (size < sizeof(m)) {
		c->malformed++;
		return;
	}
	memcpy(&m, data, sizeof(m));
	id = iface_id(c, m.ifindex);
	if (m.caplen > size - sizeof(m) || id < 0) {
		c->malformed++;
		return;
	}
	caplen = m.caplen;
	origlen = m.len;
	if (m.vlan_present && caplen >= 12) {
		/* The kernel took the outer tag out of the frame; put it back where it was on
		 * the wire, after the MAC addresses, and keep within the snap length (which
		 * may end inside the MACs or the tag). */
		__u32 keep = caplen + 4 < c->o.snaplen ? caplen + 4 : c->o.snaplen;

		tag = htonl((__u32)ntohs(m.vlan_proto) << 16 | m.vlan_tci);
		iov[n++] = (struct iovec){ (void *)p, keep < 12 ? keep : 12 };
		if (keep > 12)
			iov[n++] = (struct iovec){ &tag, keep < 16 ? keep - 12 : 4 };
		if (keep > 16)
			iov[n++] = (struct iovec){ (void *)(p + 12), keep - 16 };
		origlen += 4;
	} else {
		iov[n++] = (struct iovec){ (void *)p, caplen };
	}
	if (sv_pcapng_packet(&c->w, id, m.ts_ns + c->wall_off, iov, n, origlen,
			     m.dir ? SV_PCAPNG_DIR_OUT : SV_PCAPNG_DIR_IN)) {
		c->err = c->w.err;
		return;
	}
	c->written++;
}

static void on_lost(void *ctx, int cpu, __u64 cnt)
{
	((struct cap *)ctx)->perf_lost += cnt;
}

/* perf_buffer__new_raw hands over raw records: samples and lost-sample notes. */
static enum bpf_perf_event_ret on_event(void *ctx, int cpu, struct perf_event_header *ev)
{
	struct {
		struct perf_event_header h;
		__u32 size;
		char data[];
	} *s = (void *)ev;
	struct {
		struct perf_event_header h;
		__u64 id, lost;
	} *l = (void *)ev;

	if (ev->type == PERF_RECORD_SAMPLE)
		on_sample(ctx, cpu, s->data, s->size);
	else if (ev->type == PERF_RECORD_LOST)
		on_lost(ctx, cpu, l->lost);
	return LIBBPF_PERF_EVENT_CONT;
}

static int open_output(struct cap *c)
{
	int i, err;

	if (!c->o.out && isatty(STDOUT_FILENO)) {
		pr_warn("not writing pcapng to a terminal; use -w FILE, or -w - and a "
			"pipe\n");
		return -EINVAL;
	}
	if (!c->o.out || !strcmp(c->o.out, "-")) {
		c->out = stdout;
	} else {
		c->out = fopen(c->o.out, "w");
		if (!c->out) {
			pr_warn("%s: %s\n", c->o.out, strerror(errno));
			return -errno;
		}
	}
	setvbuf(c->out, NULL, _IOFBF, 1 << 20);
	sv_pcapng_start(&c->w, c->out, "sitevisor-agent capture");
	for (i = 0; i < c->o.n_ifnames; i++)
		sv_pcapng_iface(&c->w, c->o.ifnames[i], c->o.snaplen);
	err = sv_pcapng_flush(&c->w);
	if (err)
		pr_warn("writing: %s\n", strerror(-err));
	return err;
}

static int open_perf(struct cap *c)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_BPF_OUTPUT,
		.sample_type = PERF_SAMPLE_RAW,
		.sample_period = 1,
		/* Not a wakeup per frame: on a VM a wakeup (a context switch, an interrupt
		 * window) costs more than copying and writing many frames. A wakeup when a
		 * quarter of a CPU's ring is full, and every CAP_POLL_MS the rest is drained
		 * anyway, so a reader on a pipe still sees frames promptly. The other three
		 * quarters are the margin for the time the wakeup takes. */
		.watermark = 1,
		.wakeup_watermark = CAP_PERF_PAGES * 4096 / 4,
	};
	LIBBPF_OPTS(perf_buffer_raw_opts, opts);
	int err;

	c->pb = perf_buffer__new_raw(c->perf_fd, CAP_PERF_PAGES, &attr, on_event, c, &opts);
	if (c->pb)
		return 0;
	err = -errno;
	pr_warn("cannot open the perf buffer: %s\n", strerror(-err));
	return err;
}

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void print_stats(struct cap *c)
{
	__u64 v[1024], sum[SV_CAP_MAX] = { 0 };
	int ncpu = libbpf_num_possible_cpus(), i;
	unsigned long long lost;
	__u32 k;

	for (k = 0; k < SV_CAP_MAX; k++) {
		if (ncpu <= 0 || ncpu > 1024 || bpf_map_lookup_elem(c->cnt_fd, &k, v))
			break;
		for (i = 0; i < ncpu; i++)
			sum[k] += v[i];
	}
	/* Lost: frames the program could not hand over. The kernel notes the same frames
	 * again in PERF_RECORD_LOST records, so the two are not added; the larger stands in
	 * case either misses some. */
	lost = sum[SV_CAP_LOST] > c->perf_lost ? sum[SV_CAP_LOST] : c->perf_lost;
	fprintf(stderr, "%s: %llu packets captured, %llu filtered out, %llu lost\n", sv_prog_name,
		c->written, (unsigned long long)sum[SV_CAP_FILTERED], lost);
	if (c->malformed)
		pr_warn("%llu malformed events ignored\n", c->malformed);
}

static int run(struct cap *c)
{
	__u64 nl_next = 0, now;
	int err = 0, n;

	while (!stop && !c->err && !(c->o.count && c->written >= c->o.count)) {
		n = perf_buffer__poll(c->pb, CAP_POLL_MS);
		if (n < 0 && n != -EINTR) {
			err = n;
			pr_warn("perf buffer: %s\n", strerror(-n));
			break;
		}
		if (!n)
			perf_buffer__consume(c->pb); /* below the wakeup mark */
		sv_pcapng_flush(&c->w);
		c->err = c->w.err;
		now = clock_ns(CLOCK_MONOTONIC_COARSE);
		if (now >= nl_next) {
			sv_ifaces_poll(&c->ifaces);
			nl_next = now + CAP_NL_EVERY_NS;
		}
	}
	return err;
}

int sv_capture_main(int argc, char **argv)
{
	struct cap c = { .cnt_fd = -1, .perf_fd = -1, .prog_fd = { -1, -1 },
			 .ifaces.nl_fd = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	int err, dir;

	sv_prog_name = "sitevisor-agent capture";
	err = parse_args(argc, argv, &c.o);
	if (err)
		goto out;
	err = check_ifaces(&c);
	if (err)
		goto out;
	libbpf_set_print(NULL);
	err = load_programs(&c);
	if (err)
		goto out;
	err = open_output(&c);
	if (err)
		goto out;
	err = open_perf(&c);
	if (err)
		goto out;
	/* No SA_RESTART: a signal interrupts the poll and ends the loop at once. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	c.wall_off = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	c.ifaces.names = c.o.ifnames;
	c.ifaces.n_names = c.o.n_ifnames;
	c.ifaces.tc_handle = CAP_TC_HANDLE;
	c.ifaces.tc_prio = CAP_TC_PRIO;
	c.ifaces.prog_prefix = "svcap_";
	for (dir = 0; dir < 2; dir++) {
		c.ifaces.prog_fd[0][dir] = c.prog_fd[dir];
		c.ifaces.prog_fd[1][dir] = -1;
	}
	err = sv_ifaces_start(&c.ifaces);
	if (err) {
		pr_warn("cannot attach: %s\n", strerror(-err));
		goto out;
	}
	err = run(&c);
	/* Detach first, then take what the programs sent before: nothing is left behind. */
	sv_ifaces_stop(&c.ifaces);
	if (!c.err)
		perf_buffer__consume(c.pb);
	sv_pcapng_flush(&c.w);
	c.err = c.err ? c.err : c.w.err;
	if (c.err && c.err != EPIPE) {
		pr_warn("writing: %s\n", strerror(c.err));
		err = -c.err;
	}
	print_stats(&c);
out:
	sv_ifaces_free(&c.ifaces);
	perf_buffer__free(c.pb);
	if (c.out && c.out != stdout)
		fclose(c.out);
	for (dir = 0; dir < 2; dir++)
		if (c.prog_fd[dir] >= 0)
			close(c.prog_fd[dir]);
	if (c.cnt_fd >= 0)
		close(c.cnt_fd);
	if (c.perf_fd >= 0)
		close(c.perf_fd);
	free(c.o.ifnames);
	free(c.o.expr);
	if (err >= 0) /* 1: --help or --version said */
		return 0;
	return err == -EINVAL || err == -ENODEV ? 2 : 1;
}
