// SPDX-License-Identifier: GPL-2.0
/* sitevisor-agent: traces every packet on a box's interfaces with eBPF and reports exact
 * per-flow counts (and, on request, per-packet records). This file holds the command line,
 * the start-up checks and the event loop; the work lives in iface.c, flowtab.c, output.c,
 * deliver.c and the exporters in src/export/. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "capture.h"
#include "deliver.h"
#include "drops.h"
#include "flow.skel.h"
#include "flowtab.h"
#include "iface.h"
#include "influx.h"
#include "ipfix.h"
#include "log.h"
#include "metrics.h"
#include "output.h"
#include "params.h"
#include "sdnotify.h"
#include "tap/tap.h"

#define NS_PER_SEC 1000000000ull

struct sv_opts {
	char **ifnames;
	int n_ifnames;
	char box[256];
	unsigned int interval;
	unsigned int active_timeout; /* 0: the interval */
	unsigned int idle_timeout;
	unsigned int max_flows;
	unsigned int cache_slots; /* per CPU, a power of two; 0: no flow cache */
	int packets; /* --packets: packet events, 1 in sample_rate */
	unsigned int sample_rate;
	unsigned int sample; /* 0: no packet events */
	unsigned int traj; /* 0: no trajectory fingerprints; N: 1 packet in N */
	unsigned int vxlan_port;
	int json;
	int attach; /* enum sv_attach_mode */
	struct sv_strv post; /* none: no delivery; several: one site's posts (issue 14) */
	const char *token, *token_file, *post_ca, *spool;
	unsigned int spool_max; /* MiB */
	unsigned int drain_timeout;
	const char *metrics; /* --metrics ADDR:PORT, or NULL */
	const char *influx, *influx_token; /* NULL: no InfluxDB exit */
	const char *ipfix; /* NULL: no IPFIX export */
	struct sv_ipfix_target ipfix_target;
	unsigned int ipfix_domain, ipfix_mtu, ipfix_tmpl_interval;
	struct sv_strv taps; /* --tap rules */
	int allow_remote_tap; /* the post's tap rules are applied (issue 15) */
	struct sv_strv tap_allow_to; /* where they may send copies */
	const char *control; /* NULL: the default path, and only if it is free */
	int no_latency; /* --no-latency: no round trips, retransmissions, DNS (issue 17) */
	unsigned int dns_timeout;
	unsigned int rtt_gap_ms;
	int drops; /* --drops: 1 on (the default), 0 off */
	unsigned int ipfix_pen; /* enterprise of the enterprise-specific IPFIX elements */
};

struct sv_agent {
	struct sv_opts o;
	struct flow_bpf *skel;
	struct ring_buffer *rb;
	struct sv_ifaces ifaces;
	struct sv_flowtab flows;
	struct sv_output out;
	int print_flows; /* flow records on stdout too */
	struct sv_deliver *dl;
	struct sv_metrics *metrics;
	struct sv_iface_total *totals; /* per interface and direction, for the metrics */
	size_t n_totals, cap_totals;
	struct sv_influx *ix;
	struct sv_influx_batch ixb; /* this scan's points */
	struct sv_ipfix *ipfix;
	__u64 wall_off;
	__u64 reported[SV_CNT_MAX];
	struct sv_tap *tap;
	struct sv_tapsync *tapsync; /* the post's rules for this box, with --post */
	struct sv_drops *drops; /* NULL: --drops off, or the kernel cannot */
	__u64 drops_lost; /* the drop map's losses already reported */
	int ctl_fd;
	int stop;
	int sock_tp; /* the retransmission tracepoints are loaded (latency.bpf.h) */
};

/* The flow agent's options: the table is the command line, --help and the man page. */
static int set_interface(void *cfg, const char *arg)
{
	struct sv_opts *o = cfg;

	return sv_ifnames_add(&o->ifnames, &o->n_ifnames, (char *)arg);
}

static int set_box(void *cfg, const char *arg)
{
	struct sv_opts *o = cfg;

	if (!*arg || strlen(arg) >= sizeof(o->box)) {
		pr_warn("invalid --box: 1 to %zu characters\n", sizeof(o->box) - 1);
		return -EINVAL;
	}
	snprintf(o->box, sizeof(o->box), "%s", arg);
	return 0;
}

static int check_flow_cache(void *cfg, const char *arg)
{
	const struct sv_opts *o = cfg;

	if (o->cache_slots & (o->cache_slots - 1)) {
		pr_warn("invalid --flow-cache '%s': a power of two, or 0\n", arg);
		return -EINVAL;
	}
	return 0;
}

/* The target is resolved here, so a bad one is a usage error. */
static int set_ipfix(void *cfg, const char *arg)
{
	struct sv_opts *o = cfg;

	o->ipfix = arg;
	return sv_ipfix_parse_target("--ipfix", arg, &o->ipfix_target);
}

#define NUM(f, lo, hi) .type = SV_OPT_NUM, SV_FIELD(struct sv_opts, f), .min = lo, .max = hi
#define TEXT(f) .type = SV_OPT_STR, SV_FIELD(struct sv_opts, f)

static const char *const attach_modes[] = { [SV_ATTACH_AUTO] = "auto", [SV_ATTACH_TCX] = "tcx",
					    [SV_ATTACH_TC] = "tc", NULL };

static const char *const on_off[] = { "off", "on", NULL };

static const struct sv_opt agent_opts[] = {
	{ "interface", 'i', SV_OPT_FUNC, .set = set_interface, .metavar = "IFACE",
	  .help = "trace IFACE (repeatable); default: every interface that is up except "
		  "loopback, following new ones" },
	{ "box", 0, SV_OPT_FUNC, .set = set_box, .metavar = "NAME",
	  .help = "name of this box in records (default: the host name)" },
	{ "interval", 0, NUM(interval, 1, 86400), .def = "10", .metavar = "SECONDS",
	  .help = "export interval: the kernel's counts are collected and records written this "
		  "often" },
	{ "active-timeout", 0, NUM(active_timeout, 1, 86400), .metavar = "S",
	  .help = "a long flow gets a record every S seconds (default: the interval)" },
	{ "idle-timeout", 0, NUM(idle_timeout, 1, 86400), .def = "15", .metavar = "S",
	  .help = "a flow with no packet for S seconds ends" },
	{ "json", 0, SV_OPT_FLAG, SV_FIELD(struct sv_opts, json),
	  .help = "flow records as JSON lines (default: one text line each)" },
	{ "packets", 0, SV_OPT_FLAG, SV_FIELD(struct sv_opts, packets),
	  .help = "also one JSON line per packet, through a BPF ring buffer" },
	{ "sample", 0, NUM(sample_rate, 1, 1u << 30), .def = "1", .metavar = "N",
	  .help = "with --packets: one packet in N on average" },
	{ "trajectory", 0, NUM(traj, 1, 1u << 30), .metavar = "N",
	  .help = "trajectory sampling: fingerprint the same 1 packet in N as every other agent "
		  "(1: every packet; a power of two is cheapest; see docs/paths.md)" },
	{ "max-flows", 0, NUM(max_flows, 16, 1u << 24), .def = "65536", .metavar = "N",
	  .help = "flows the kernel holds per interval" },
	{ "flow-cache", 0, NUM(cache_slots, 0, SV_CACHE_SLOTS), .def = SV_STR(SV_CACHE_SLOTS),
	  .set = check_flow_cache, .metavar = "N",
	  .help = "per-CPU flow cache slots in front of the flow map, a power of two up to "
		  SV_STR(SV_CACHE_SLOTS) ", or 0 for none" },
	{ "vxlan-port", 0, NUM(vxlan_port, 1, 65535), .def = "4789", .metavar = "PORT",
	  .help = "UDP port parsed as VXLAN" },
	{ "attach", 0, SV_OPT_ENUM, SV_FIELD(struct sv_opts, attach), .words = attach_modes,
	  .def = "auto",
	  .help = "tcx links where the kernel has them (auto), only tcx, or clsact filters (tc)" },
	{ "post", 0, SV_OPT_STRS, SV_FIELD(struct sv_opts, post), .max = SV_DELIVER_MAX_POSTS,
	  .metavar = "URL",
	  .help = "deliver records to the post: http://HOST:PORT, https://HOST:PORT or "
		  "unix:/PATH (then flow records reach stdout only with --json); repeatable: "
		  "the posts of one site, which batches and tap rules fail over between" },
	{ "token", 0, TEXT(token), .flags = SV_OPT_NONEMPTY, .needs = "post", .metavar = "TOKEN",
	  .help = "the post's ingest token" },
	{ "token-file", 0, TEXT(token_file), .flags = SV_OPT_NONEMPTY, .needs = "post",
	  .metavar = "FILE",
	  .help = "read the token from FILE, its first line that is neither blank nor a # "
		  "comment (keeps it out of ps)" },
	{ "post-ca", 0, TEXT(post_ca), .flags = SV_OPT_NONEMPTY, .needs = "post",
	  .metavar = "FILE",
	  .help = "CA certificate(s) for an https post with a private CA (default: the "
		  "system's CAs)" },
	{ "spool", 0, TEXT(spool), .flags = SV_OPT_NONEMPTY, .needs = "post", .metavar = "DIR",
	  .help = "where batches wait until the post has them (default "
		  "/var/lib/sitevisor/spool/BOX); one agent per spool" },
	{ "spool-max", 0, NUM(spool_max, 1, 1u << 20), .def = "64", .needs = "post",
	  .metavar = "MIB", .help = "spool bound; when full, the oldest batches go first" },
	{ "drain-timeout", 0, NUM(drain_timeout, 0, 3600), .def = "5", .needs = "post|influx",
	  .metavar = "S",
	  .help = "at exit, time to deliver what is spooled or queued for InfluxDB" },
	{ "influx", 0, TEXT(influx), .metavar = "URL",
	  .help = "write points to InfluxDB: 1.x http://HOST:8086/write?db=DB, 2.x "
		  "http://HOST:8086/api/v2/write?org=ORG&bucket=B (then flow records reach "
		  "stdout only with --json)" },
	{ "influx-token", 0, TEXT(influx_token), .needs = "influx", .metavar = "T",
	  .help = "sent as 'Authorization: Token T' (2.x; 1.8+ takes USER:PASSWORD)" },
	{ "metrics", 0, TEXT(metrics), .metavar = "ADDR:PORT",
	  .help = "serve Prometheus metrics at /metrics there" },
	{ "ipfix", 0, SV_OPT_FUNC, .set = set_ipfix, .metavar = "TARGET",
	  .help = "export records over IPFIX to a collector: HOST:PORT (UDP) or tcp://HOST:PORT "
		  "(then flow records reach stdout only with --json)" },
	{ "ipfix-domain", 0, NUM(ipfix_domain, 0, UINT_MAX), .def = "0", .needs = "ipfix",
	  .metavar = "N", .help = "IPFIX observation domain id" },
	{ "ipfix-mtu", 0, NUM(ipfix_mtu, SV_IPFIX_MTU_MIN, SV_IPFIX_MTU_MAX),
	  .def = SV_STR(SV_IPFIX_MTU_DEFAULT), .needs = "ipfix", .metavar = "BYTES",
	  .help = "largest IPFIX message" },
	{ "ipfix-template-interval", 0, NUM(ipfix_tmpl_interval, 1, 86400),
	  .def = SV_STR(SV_IPFIX_TMPL_INTERVAL_DEFAULT), .needs = "ipfix", .metavar = "S",
	  .help = "UDP: templates again every S seconds" },
	{ "tap", 0, SV_OPT_STRS, SV_FIELD(struct sv_opts, taps), .metavar = "RULE",
	  .help = "mirror traffic by RULE (repeatable), the words of 'sitevisor-agent tap add' "
		  "in one argument" },
	{ "allow-remote-tap", 0, SV_OPT_FLAG, SV_FIELD(struct sv_opts, allow_remote_tap),
	  .needs = "post",
	  .help = "apply the tap rules the post holds for this box (to a --tap-allow-to "
		  "destination only; without it they are refused, and the post shows why)" },
	{ "tap-allow-to", 0, SV_OPT_STRS, SV_FIELD(struct sv_opts, tap_allow_to),
	  .needs = "allow-remote-tap", .metavar = "CIDR[:PORT]|iface:NAME",
	  .help = "where the post's tap rules may send copies: remote monitors in CIDR (on "
		  "PORT), or the local interface NAME (repeatable)" },
	{ "control", 0, TEXT(control), .flags = SV_OPT_NONEMPTY, .metavar = "PATH",
	  .help = "control socket for 'sitevisor-agent tap' (default " SV_CONTROL_DEFAULT
		  ", taken only if no other agent serves it)" },
	/* Issue 17: how long it took. */
	{ "no-latency", 0, SV_OPT_FLAG, SV_FIELD(struct sv_opts, no_latency),
	  .help = "no TCP round trips, retransmissions or DNS answer times (they cost an array "
		  "lookup per TCP segment with data) and no retransmission tracepoints" },
	{ "dns-timeout", 0, NUM(dns_timeout, 1, 3600), .def = "5", .metavar = "S",
	  .help = "a DNS query without an answer for S seconds counts as unanswered" },
	{ "rtt-gap", 0, NUM(rtt_gap_ms, 0, 60000), .def = "10", .metavar = "MS",
	  .help = "at most one TCP timestamp RTT sample per direction of a connection in MS "
		  "milliseconds" },
	/* issue 16 */
	{ "drops", 0, SV_OPT_ENUM, SV_FIELD(struct sv_opts, drops), .words = on_off,
	  .def = "on",
	  .help = "count the kernel's drops (skb:kfree_skb) by flow and reason in the records" },
	{ "ipfix-pen", 0, NUM(ipfix_pen, 1, UINT_MAX), .def = SV_STR(SV_IPFIX_PEN),
	  .needs = "ipfix", .metavar = "N",
	  .help = "private enterprise number of the round-trip, retransmission and DNS "
		  "elements (default: RFC 5612's number for documentation; docs/exits/ipfix.md)" },
	SV_OPTS_LOG("more messages (twice: libbpf's too)"),
	SV_OPTS_STANDARD('h'),
	SV_OPT_END,
};

static const struct sv_cmd agent_cmd = {
	.name = "sitevisor-agent",
	.synopsis = "sitevisor-agent [OPTIONS]\n"
		    "       sitevisor-agent capture -i IFACE... [-w FILE|-] [EXPRESSION] (--help)\n"
		    "       sitevisor-agent tap add|list|del ... (--help)",
	.about = "Traces every packet on this box's interfaces with eBPF and prints exact "
		 "per-flow counts every interval.",
	.opts = agent_opts,
};

/* Delivery options that contradict each other, or a box name the post would refuse. */
static int check_post_opts(const struct sv_opts *o)
{
	const char *p;

	if (!o->post.n)
		return 0;
	if (!o->token && !o->token_file) {
		pr_warn("--post needs --token or --token-file\n");
		return -EINVAL;
	}
	if (o->token && o->token_file) {
		pr_warn("--token and --token-file exclude each other\n");
		return -EINVAL;
	}
	for (p = o->box; *p && (unsigned char)*p >= 0x20 && *p != 0x7f; p++)
		;
	if (*p || strlen(o->box) > 127) {
		pr_warn("invalid --box for --post: 1 to 127 printable characters\n");
		return -EINVAL;
	}
	return 0;
}

/* Returns 0 to run, 1 to exit successfully (help, version), negative on a usage error. */
static int parse_args(int argc, char **argv, struct sv_opts *o)
{
	struct sv_opt_state p;
	int err;

	if (gethostname(o->box, sizeof(o->box) - 1))
		snprintf(o->box, sizeof(o->box), "localhost");
	err = sv_params_parse(&p, &agent_cmd, o, argc, argv);
	if (err)
		return err;
	err = check_post_opts(o);
	if (!o->active_timeout)
		o->active_timeout = o->interval;
	o->sample = o->packets ? o->sample_rate : 0;
	return err;
}
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's messages one level below ours: its warnings are noise next to ours. */
	if (sv_log_level < SV_LOG_DEBUG + (level == LIBBPF_DEBUG))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* One clear line for what most often stops a start: privileges or an old kernel. */
static int check_kernel(void)
{
	static const struct {
		enum bpf_map_type type;
		const char *what;
	} maps[] = {
		{ BPF_MAP_TYPE_RINGBUF, "BPF ring buffers (Linux 5.8)" },
		{ BPF_MAP_TYPE_ARRAY_OF_MAPS, "BPF map-in-map" },
	};
	unsigned int i;
	int ret;

	/* The probes below say "unsupported" for any failure, EPERM included: ask first. */
	ret = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (ret < 0 && (errno == EPERM || errno == EACCES)) {
		pr_warn("not permitted to load BPF programs: run as root (needs CAP_BPF, "
			"CAP_NET_ADMIN and CAP_PERFMON)\n");
		return -errno;
	}
	if (ret >= 0)
		close(ret);
	ret = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL);
	if (ret <= 0) {
		pr_warn("this kernel cannot run tc BPF programs (%s)\n",
			ret ? strerror(-ret) : "unsupported");
		return ret ? ret : -EOPNOTSUPP;
	}
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		ret = libbpf_probe_bpf_map_type(maps[i].type, NULL);
		if (ret <= 0) {
			pr_warn("this kernel lacks %s\n", maps[i].what);
			return ret ? ret : -EOPNOTSUPP;
		}
	}
	return 0;
}

static int check_ifnames(const struct sv_opts *o)
{
	int i;

	for (i = 0; i < o->n_ifnames; i++) {
		if (!if_nametoindex(o->ifnames[i])) {
			pr_warn("unknown interface '%s'\n", o->ifnames[i]);
			return -ENODEV;
		}
	}
	return 0;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct sv_agent *a = ctx;
	const struct sv_pkt_event *e = data;

	if (len < sizeof(*e))
		return 0;
	return sv_output_packet(&a->out, e, e->ts_ns + a->wall_off);
}

static int on_fp(void *ctx, void *data, size_t len)
{
	struct sv_agent *a = ctx;
	const struct sv_fp_event *e = data;

	if (len < sizeof(*e))
		return 0;
	if (a->dl)
		sv_deliver_fp(a->dl, e, e->ts_ns + a->wall_off);
	return a->print_flows ? sv_output_fp(&a->out, e, e->ts_ns + a->wall_off) : 0;
}

/* One ring buffer manager for packet events and fingerprints, whichever are on. */
static int open_rings(struct sv_agent *a)
{
	struct flow_bpf *s = a->skel;

	if (a->o.sample)
		a->rb = ring_buffer__new(bpf_map__fd(s->maps.sv_events), on_event, a, NULL);
	if (a->o.traj && a->rb) {
		if (ring_buffer__add(a->rb, bpf_map__fd(s->maps.sv_fps), on_fp, a))
			return -errno;
	} else if (a->o.traj) {
		a->rb = ring_buffer__new(bpf_map__fd(s->maps.sv_fps), on_fp, a, NULL);
	}
	return (a->o.sample || a->o.traj) && !a->rb ? -errno : 0;
}

/* Round trips, retransmissions and DNS (issue 17): the switch, and maps sized for it. */
static void set_latency(struct sv_agent *a)
{
	struct flow_bpf *s = a->skel;
	struct stat st;
	/* Flows with a result in an interval are a fraction of all flows. */
	__u32 lat = a->o.max_flows / 4 > 1024 ? a->o.max_flows / 4 : 1024, sets = 1;

	s->rodata->sv_latency = !a->o.no_latency;
	s->rodata->sv_rtt_gap_ns = (__u64)a->o.rtt_gap_ms * 1000000;
	if (a->o.no_latency)
		lat = 1; /* unused: keep them small */
	bpf_map__set_max_entries(s->maps.sv_lat_a, lat);
	bpf_map__set_max_entries(s->maps.sv_lat_b, lat);
	/* Sets of SV_CONV_WAYS conversations, a power of two of them: --max-flows in all. */
	while (sets < a->o.max_flows / SV_CONV_WAYS)
		sets *= 2;
	s->rodata->sv_conv_mask = a->o.no_latency ? 0 : sets - 1;
	bpf_map__set_max_entries(s->maps.sv_convs, a->o.no_latency ? 1 : sets);
	bpf_map__set_max_entries(s->maps.sv_dns_pending, a->o.no_latency ? 1 : 16384);
	bpf_map__set_max_entries(s->maps.sv_sock_flows, a->o.no_latency ? 1 : lat);
	if (!stat("/proc/self/ns/net", &st))
		s->rodata->sv_netns_ino = st.st_ino;
	/* They read the kernel's structures through its BTF (CO-RE): without it they would
	 * fail the whole object's load, so they are left out and tc counts instead. */
	a->sock_tp = !a->o.no_latency && !access("/sys/kernel/btf/vmlinux", R_OK);
	bpf_program__set_autoload(s->progs.sv_tcp_retransmit, a->sock_tp);
	bpf_program__set_autoload(s->progs.sv_tcp_retransmit_synack, a->sock_tp);
}

/* The box's own sockets' retransmissions from the kernel's tracepoints (raw tracepoints:
 * no tracefs needed). Without them, tc counts those too, from sequence numbers. */
static void attach_retransmit(struct sv_agent *a)
{
	struct flow_bpf *s = a->skel;
	int err;

	if (a->o.no_latency)
		return;
	if (!a->sock_tp) {
		pr_info("retransmissions of this box's sockets counted at tc only: the kernel "
			"has no BTF (/sys/kernel/btf/vmlinux)\n");
		return;
	}
	s->links.sv_tcp_retransmit = bpf_program__attach(s->progs.sv_tcp_retransmit);
	err = libbpf_get_error(s->links.sv_tcp_retransmit);
	if (!err) {
		s->links.sv_tcp_retransmit_synack =
			bpf_program__attach(s->progs.sv_tcp_retransmit_synack);
		err = libbpf_get_error(s->links.sv_tcp_retransmit_synack);
	}
	if (err) {
		pr_info("retransmissions of this box's sockets counted at tc only: cannot attach "
			"tcp:tcp_retransmit_skb and tcp:tcp_retransmit_synack (%s)\n",
			strerror(-err));
		return;
	}
	s->bss->sv_sock_tp = 1;
}

static int load(struct sv_agent *a)
{
	struct flow_bpf *s;
	int err;

	s = flow_bpf__open();
	if (!s)
		return -errno;
	a->skel = s;
	s->rodata->sv_vxlan_port = a->o.vxlan_port;
	s->rodata->sv_sample_rate = a->o.sample;
	bpf_map__set_max_entries(s->maps.sv_flows_a, a->o.max_flows);
	bpf_map__set_max_entries(s->maps.sv_flows_b, a->o.max_flows);
	s->rodata->sv_cache_mask = a->o.cache_slots ? a->o.cache_slots - 1 : 0;
	if (!a->o.sample)
		bpf_map__set_max_entries(s->maps.sv_events, 4096); /* unused: keep it small */
	s->rodata->sv_traj_rate = a->o.traj;
	if (a->o.traj > 1 && !(a->o.traj & (a->o.traj - 1)))
		s->rodata->sv_traj_mask = a->o.traj - 1;
	if (!a->o.traj)
		bpf_map__set_max_entries(s->maps.sv_fps, 4096);
	set_latency(a);
	err = flow_bpf__load(s);
	if (err) {
		pr_warn("cannot load the BPF programs: %s%s\n", strerror(-err),
			err == -EPERM ? " (run as root)" : "");
		return err;
	}
	err = sv_flowtab_init(&a->flows, bpf_map__fd(s->maps.sv_flow_maps),
			      bpf_map__fd(s->maps.sv_flows_a), bpf_map__fd(s->maps.sv_flows_b),
			      (__u64)a->o.active_timeout * NS_PER_SEC,
			      (__u64)a->o.idle_timeout * NS_PER_SEC, &a->ifaces);
	if (err)
		return err;
	a->flows.slack_ns = (__u64)a->o.interval * NS_PER_SEC / 2;
	if (a->o.cache_slots) {
		err = sv_flowtab_set_cache(&a->flows, bpf_map__fd(s->maps.sv_cache_maps),
					   bpf_map__fd(s->maps.sv_cache_a),
					   bpf_map__fd(s->maps.sv_cache_b), SV_CACHE_SLOTS);
		if (err)
			return err;
	}
	attach_retransmit(a);
	if (!a->o.no_latency)
		sv_flowtab_set_lat(&a->flows, bpf_map__fd(s->maps.sv_lat_maps),
				   bpf_map__fd(s->maps.sv_lat_a), bpf_map__fd(s->maps.sv_lat_b),
				   bpf_map__fd(s->maps.sv_dns_pending),
				   (__u64)a->o.dns_timeout * NS_PER_SEC);
	a->wall_off = sv_wall_offset_ns();
	return open_rings(a);
}

static int read_counters(struct sv_agent *a, __u64 sum[SV_CNT_MAX])
{
	return sv_percpu_sum(bpf_map__fd(a->skel->maps.sv_counters), sum, SV_CNT_MAX);
}

/* The observer's own losses, apart from the site's drops it counts. */
static void report_drop_losses(struct sv_agent *a)
{
	__u64 c[SV_DROP_CNT_MAX];

	if (!a->drops || sv_drops_counters(a->drops, c))
		return;
	if (c[SV_DROP_LOST_PACKETS] > a->drops_lost)
		pr_warn("drop map full: %llu kernel drops not counted in flows (lower "
			"--interval)\n",
			(unsigned long long)(c[SV_DROP_LOST_PACKETS] - a->drops_lost));
	a->drops_lost = c[SV_DROP_LOST_PACKETS];
}

/* Losses are said as they happen, not only at exit. */
static void report_losses(struct sv_agent *a)
{
	__u64 c[SV_CNT_MAX];

	if (read_counters(a, c))
		return;
	if (c[SV_LOST_FLOW_PACKETS] > a->reported[SV_LOST_FLOW_PACKETS])
		pr_warn("flow table full: %llu packets not counted in flows (raise --max-flows "
			"or lower --interval)\n",
			(unsigned long long)(c[SV_LOST_FLOW_PACKETS] -
					     a->reported[SV_LOST_FLOW_PACKETS]));
	if (c[SV_LOST_RINGBUF] > a->reported[SV_LOST_RINGBUF])
		pr_warn("ring buffer full: %llu packet events lost\n",
			(unsigned long long)(c[SV_LOST_RINGBUF] - a->reported[SV_LOST_RINGBUF]));
	if (c[SV_LOST_FP_RINGBUF] > a->reported[SV_LOST_FP_RINGBUF])
		pr_warn("fingerprint ring buffer full: %llu trajectory fingerprints lost (raise "
			"--trajectory)\n",
			(unsigned long long)(c[SV_LOST_FP_RINGBUF] -
					     a->reported[SV_LOST_FP_RINGBUF]));
	if (c[SV_LOST_LAT] > a->reported[SV_LOST_LAT])
		pr_warn("latency map full: %llu RTT samples, retransmissions or DNS answers not "
			"counted (lower --interval)\n",
			(unsigned long long)(c[SV_LOST_LAT] - a->reported[SV_LOST_LAT]));
	if (c[SV_LOST_DNS] > a->reported[SV_LOST_DNS])
		pr_warn("DNS query map full: %llu DNS queries not timed\n",
			(unsigned long long)(c[SV_LOST_DNS] - a->reported[SV_LOST_DNS]));
	memcpy(a->reported, c, sizeof(c));
	report_drop_losses(a);
}

/* Adds a record to its interface's totals (a short list: one entry per interface and
 * direction ever seen). */
static void count_iface(struct sv_agent *a, const struct sv_flow_key *k, const struct sv_rec *r)
{
	struct sv_iface_total *t;
	size_t i;

	for (i = 0; i < a->n_totals; i++)
		if (a->totals[i].ifindex == (int)k->ifindex &&
		    a->totals[i].direction == k->direction)
			break;
	if (i == a->n_totals) {
		if (i == a->cap_totals) {
			size_t cap = a->cap_totals ? a->cap_totals * 2 : 16;

			t = realloc(a->totals, cap * sizeof(*t));
			if (!t)
				return; /* the metric lags; the records are unaffected */
			a->totals = t;
			a->cap_totals = cap;
		}
		a->totals[i] = (struct sv_iface_total){ k->ifindex, k->direction, 0, 0 };
		a->n_totals++;
	}
	a->totals[i].packets += r->packets;
	a->totals[i].bytes += r->bytes;
}

/* An sv_flow_cb: a record goes into the scan's batch for the post, its points for InfluxDB,
 * to the IPFIX collector and/or to stdout. */
static int on_flow(void *ctx, const struct sv_flow_key *k, const struct sv_rec *r)
{
	struct sv_agent *a = ctx;

	if (a->metrics)
		count_iface(a, k, r);
	if (a->dl)
		sv_deliver_flow(a->dl, k, r); /* never fails: what it cannot keep, it counts */
	if (a->ix)
		sv_influx_batch_flow(&a->ixb, r); /* the same: counted, never failing */
	if (a->ipfix)
		sv_ipfix_flow(a->ipfix, k, r); /* the same */
	return a->print_flows ? sv_output_flow(&a->out, k, r) : 0;
}

/* A fresh snapshot for /metrics: after every collect, on this thread. */
static void publish_metrics(struct sv_agent *a)
{
	struct sv_metrics_input in = {
		.box = a->o.box,
		.version = SV_VERSION,
		.ifs = a->totals,
		.n_ifs = a->n_totals,
		.ifaces = &a->ifaces,
		.flows_active = a->flows.count,
		.records = a->flows.records,
		.traced = sv_ifaces_count(&a->ifaces),
	};
	struct sv_deliver_stats dl;
	__u64 c[SV_CNT_MAX], dc[SV_DROP_CNT_MAX];
	unsigned long long k[SV_CNT_MAX], dk[SV_DROP_CNT_MAX];
	int i;

	if (!a->metrics || read_counters(a, c))
		return;
	for (i = 0; i < SV_CNT_MAX; i++)
		k[i] = c[i];
	in.kernel = k;
	if (a->drops && !sv_drops_counters(a->drops, dc)) {
		for (i = 0; i < SV_DROP_CNT_MAX; i++)
			dk[i] = dc[i];
		in.drop_kernel = dk;
		in.drops = sv_drops_totals(a->drops, &in.n_drops);
	}
	if (a->dl) {
		sv_deliver_stats(a->dl, &dl);
		in.dl = &dl;
	}
	sv_metrics_publish(a->metrics, &in);
}

static int scan(struct sv_agent *a, int force)
{
	int err;

	err = sv_flowtab_collect(&a->flows);
	if (err) {
		pr_warn("cannot read the flow map: %s\n", strerror(-err));
		return err;
	}
	err = a->drops ? sv_drops_collect(a->drops, &a->flows) : 0;
	if (err) {
		pr_warn("cannot read the drop map: %s\n", strerror(-err));
		return err;
	}
	err = sv_flowtab_export(&a->flows, sv_mono_ns(), force, on_flow, a);
	if (a->dl)
		sv_deliver_end(a->dl); /* this scan's records become one batch (or a few) */
	if (a->ix) /* the interface sums are stamped with the interval's end */
		sv_influx_batch_end(&a->ixb, sv_mono_ns() + a->wall_off);
	if (a->ipfix)
		sv_ipfix_end(a->ipfix); /* this scan's last IPFIX message goes out */
	fflush(a->out.f);
	report_losses(a);
	publish_metrics(a);
	return err;
}

static int setup_fds(struct sv_agent *a, int *ep, int *sfd, int *tfd)
{
	struct itimerspec its = {
		.it_interval.tv_sec = a->o.interval,
		.it_value.tv_sec = a->o.interval,
	};
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	*sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	*ep = epoll_create1(EPOLL_CLOEXEC);
	if (*sfd < 0 || *tfd < 0 || *ep < 0 || timerfd_settime(*tfd, 0, &its, NULL))
		return -errno;
	ev.data.fd = *sfd;
	epoll_ctl(*ep, EPOLL_CTL_ADD, *sfd, &ev);
	ev.data.fd = *tfd;
	epoll_ctl(*ep, EPOLL_CTL_ADD, *tfd, &ev);
	ev.data.fd = a->ifaces.nl_fd;
	epoll_ctl(*ep, EPOLL_CTL_ADD, a->ifaces.nl_fd, &ev);
	if (a->ctl_fd >= 0) {
		ev.data.fd = a->ctl_fd;
		epoll_ctl(*ep, EPOLL_CTL_ADD, a->ctl_fd, &ev);
	}
	if (a->tapsync) {
		ev.data.fd = sv_tapsync_fd(a->tapsync);
		epoll_ctl(*ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	}
	if (a->rb) {
		ev.data.fd = ring_buffer__epoll_fd(a->rb);
		epoll_ctl(*ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
	}
	return 0;
}

static int run(struct sv_agent *a)
{
	struct epoll_event evs[8];
	int ep = -1, sfd = -1, tfd = -1, err, i, n;
	__u64 ticks;

	err = setup_fds(a, &ep, &sfd, &tfd);
	while (!err && !a->stop) {
		/* Packet events wake us only in bulk; a short timeout delivers the rest. */
		n = epoll_wait(ep, evs, 8, a->rb ? 100 : -1);
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		for (i = 0; i < n && !err; i++) {
			if (evs[i].data.fd == sfd)
				a->stop = 1;
			else if (evs[i].data.fd == tfd && read(tfd, &ticks, sizeof(ticks)) > 0) {
				err = scan(a, 0);
				sv_tap_refresh(a->tap);
			} else if (evs[i].data.fd == a->ifaces.nl_fd) {
				err = sv_ifaces_poll(&a->ifaces);
				sv_tap_refresh(a->tap);
			}
			else if (evs[i].data.fd == a->ctl_fd)
				sv_control_serve(a->ctl_fd, a->tap);
			else if (a->tapsync && evs[i].data.fd == sv_tapsync_fd(a->tapsync))
				sv_tapsync_apply(a->tapsync, a->tap);
		}
		if (a->rb && !err) {
			err = ring_buffer__consume(a->rb);
			err = err < 0 ? err : 0;
			fflush(a->out.f);
		}
	}
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	return err == -EPIPE ? 0 : err;
}

/* The exporters' part of the summary line, empty without them. */
static void export_summary(struct sv_agent *a, char *buf, size_t size)
{
	struct sv_ipfix_stats st;

	buf[0] = 0;
	if (!a->ipfix)
		return;
	sv_ipfix_get_stats(a->ipfix, &st);
	snprintf(buf, size,
		 "; ipfix: %llu records exported in %llu messages, %llu records dropped, %llu "
		 "send errors",
		 st.records, st.messages, st.dropped, st.send_errors);
}

static void summary(struct sv_agent *a)
{
	__u64 c[SV_CNT_MAX];
	char ex[256];

	if (read_counters(a, c))
		return;
	export_summary(a, ex, sizeof(ex));
	pr_info("%llu packets, %llu bytes, %llu flow records; %llu malformed frames; %llu packet "
		"events sampled; lost: %llu packets (flow table full), %llu packet events (ring "
		"buffer full); %llu trajectory fingerprints, %llu lost (ring buffer full)%s\n",
		(unsigned long long)c[SV_CNT_PACKETS], (unsigned long long)c[SV_CNT_BYTES],
		(unsigned long long)a->flows.records, (unsigned long long)c[SV_CNT_MALFORMED],
		(unsigned long long)c[SV_CNT_SAMPLED], (unsigned long long)c[SV_LOST_FLOW_PACKETS],
		(unsigned long long)c[SV_LOST_RINGBUF], (unsigned long long)c[SV_CNT_FP],
		(unsigned long long)c[SV_LOST_FP_RINGBUF], ex);
}

static int open_delivery(struct sv_agent *a)
{
	struct sv_deliver_cfg cfg = {
		.urls = a->o.post.v,
		.n_urls = a->o.post.n,
		.token = a->o.token,
		.token_file = a->o.token_file,
		.ca_file = a->o.post_ca,
		.spool_dir = a->o.spool,
		.spool_max_mb = a->o.spool_max,
		.drain_timeout = a->o.drain_timeout,
		.box = a->o.box,
		.version = SV_VERSION,
		.ifaces = &a->ifaces,
	};

	return sv_deliver_open(&cfg, &a->dl);
}

static int open_influx(struct sv_agent *a)
{
	struct sv_influx_cfg cfg = {
		.url = a->o.influx,
		.token = a->o.influx_token,
		.user_agent = "sitevisor-agent/" SV_VERSION,
		.drain_timeout = a->o.drain_timeout,
	};
	int err = sv_influx_open(&cfg, &a->ix);

	sv_influx_batch_init(&a->ixb, a->ix, a->o.box);
	return err;
}

static int open_ipfix(struct sv_agent *a)
{
	struct sv_ipfix_cfg cfg = {
		.target = &a->o.ipfix_target,
		.domain = a->o.ipfix_domain,
		.pen = a->o.ipfix_pen,
		.mtu = a->o.ipfix_mtu,
		.template_interval = a->o.ipfix_tmpl_interval,
	};

	return sv_ipfix_open(&cfg, &a->ipfix);
}

/* Subcommands: "sitevisor-agent NAME ..." runs NAME's main with NAME as argv[0]. Without one,
 * the agent traces flows. */
static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
} subcommands[] = {
	{ "capture", sv_capture_main },
	{ "tap", sv_tap_main },
	{ NULL, NULL },
};

static int run_subcommand(int argc, char **argv, int *ret)
{
	size_t i;

	if (argc < 2)
		return 0;
	for (i = 0; subcommands[i].name; i++) {
		if (strcmp(argv[1], subcommands[i].name))
			continue;
		*ret = subcommands[i].main(argc - 1, argv + 1);
		return 1;
	}
	return 0;
}

/* The --tap rules, each split into words as the tap subcommand would send them. */
static int start_taps(struct sv_agent *a)
{
	char *words[SV_TAP_ARGS], err[256], line[SV_TAP_TEXT];
	int i, n, ret;

	for (i = 0; i < a->o.taps.n; i++) {
		snprintf(line, sizeof(line), "%s", a->o.taps.v[i]);
		n = sv_tap_split(line, words, SV_TAP_ARGS);
		if (n < 0) {
			pr_warn("invalid --tap '%s': too many words\n", a->o.taps.v[i]);
			return -EINVAL;
		}
		ret = sv_tap_add(a->tap, n, words, SV_TAP_LOCAL, err, sizeof(err));
		if (ret < 0) {
			pr_warn("invalid --tap '%s': %s\n", a->o.taps.v[i], err);
			return ret;
		}
		pr_info("tap rule %d: %s\n", ret, a->o.taps.v[i]);
	}
	return 0;
}

/* The control socket. The default path is taken only if free: several agents (one per
 * namespace) may run on one box, and only one can own it; the others say so and go on. */
static int open_control(struct sv_agent *a)
{
	const char *path = a->o.control ? a->o.control : SV_CONTROL_DEFAULT;
	int fd = sv_control_open(path);

	if (fd >= 0) {
		a->ctl_fd = fd;
		return 0;
	}
	if (a->o.control) {
		pr_warn("cannot serve the control socket %s: %s\n", path,
			fd == -EADDRINUSE ? "another agent serves it" : strerror(-fd));
		return fd;
	}
	pr_info("no control socket (%s: %s); tap rules only by --tap\n", path,
		fd == -EADDRINUSE ? "another agent serves it" : strerror(-fd));
	return 0;
}

/* Everything the tracing needs before an interface is attached: the exits, the BPF objects
 * and the metrics endpoint. */
static int open_all(struct sv_agent *a)
{
	int err;

	libbpf_set_print(libbpf_print);
	err = check_ifnames(&a->o);
	if (!err)
		err = check_kernel();
	if (!err && a->o.post.n)
		err = open_delivery(a);
	if (!err && a->o.influx)
		err = open_influx(a);
	if (!err && a->o.ipfix)
		err = open_ipfix(a);
	if (!err)
		err = load(a);
	if (!err && a->o.drops)
		err = sv_drops_open(&a->drops, a->o.vxlan_port);
	if (!err && a->o.metrics) {
		err = sv_metrics_start(a->o.metrics, &a->metrics);
		if (err)
			pr_warn("cannot serve metrics on %s: %s\n", a->o.metrics,
				err == -EINVAL ? "expected ADDR:PORT" : strerror(-err));
	}
	return err;
}

/* The programs on the interfaces, and the exits' senders running. */
static int start_tracing(struct sv_agent *a)
{
	int err, dir;

	a->out = (struct sv_output){ .f = stdout, .json = a->o.json, .box = a->o.box,
				     .ifaces = &a->ifaces };
	a->print_flows = (!a->o.post.n && !a->o.influx && !a->o.ipfix) || a->o.json;
	a->ifaces.names = a->o.ifnames;
	a->ifaces.n_names = a->o.n_ifnames;
	a->ifaces.mode = a->o.attach;
	for (dir = 0; dir < 2; dir++) {
		struct bpf_program *l2 = dir ? a->skel->progs.sv_egress : a->skel->progs.sv_ingress;
		struct bpf_program *l3 = dir ? a->skel->progs.sv_egress_l3 :
					       a->skel->progs.sv_ingress_l3;

		a->ifaces.prog_fd[0][dir] = bpf_program__fd(l2);
		a->ifaces.prog_fd[1][dir] = bpf_program__fd(l3);
	}
	err = sv_ifaces_start(&a->ifaces);
	if (err) {
		if (err != -ENODEV)
			pr_warn("cannot list interfaces: %s\n", strerror(-err));
		return err;
	}
	if (a->dl) {
		err = sv_deliver_start(a->dl);
		if (err)
			return err;
	}
	if (a->ix) {
		err = sv_influx_start(a->ix);
		if (err)
			return err;
	}
	if (a->ipfix)
		sv_ipfix_start(a->ipfix);
	return 0;
}

/* The TAP: the --tap rules, the control socket and, with --post, the post's rules. */
static int start_tap(struct sv_agent *a)
{
	struct sv_post_endpoint ep[SV_DELIVER_MAX_POSTS];
	char why[200];
	int err;

	err = sv_tap_new(&a->tap);
	if (!err) {
		err = sv_tap_set_policy(a->tap, a->o.allow_remote_tap, a->o.tap_allow_to.v,
					a->o.tap_allow_to.n, why, sizeof(why));
		if (err)
			pr_warn("%s\n", why);
	}
	if (!err)
		err = start_taps(a);
	if (!err)
		err = open_control(a);
	if (!err && a->dl) {
		err = sv_tapsync_start(ep, sv_deliver_endpoints(a->dl, ep), a->o.box,
				       a->o.interval, &a->tapsync);
	}
	return err;
}

/* Detach first, then collect twice: the first swap waits out programs still running, the
 * second empties whatever they wrote into the other map meanwhile. */
static void stop_tracing(struct sv_agent *a)
{
	sv_deliver_freeze_ifaces(a->dl);
	sv_ifaces_stop(&a->ifaces);
	if (a->rb)
		ring_buffer__consume(a->rb);
	if (!scan(a, 0))
		scan(a, 1);
	summary(a);
}

static void close_all(struct sv_agent *a)
{
	sv_tapsync_stop(a->tapsync); /* before the tap: it may be applying rules */
	sv_control_close(a->ctl_fd, a->o.control ? a->o.control : SV_CONTROL_DEFAULT);
	sv_tap_free(a->tap);
	/* The final records are spooled; the sender gets the drain timeout to deliver them. */
	sv_deliver_close(a->dl);
	sv_metrics_stop(a->metrics);
	free(a->totals);
	sv_influx_close(a->ix);
	sv_influx_batch_free(&a->ixb);
	sv_ipfix_close(a->ipfix);
	sv_ifaces_free(&a->ifaces);
	ring_buffer__free(a->rb);
	if (a->flows.buckets)
		sv_flowtab_free(&a->flows);
	flow_bpf__destroy(a->skel);
	sv_drops_close(a->drops);
	free(a->o.ifnames);
	free(a->o.taps.v);
	free(a->o.tap_allow_to.v);
}

int main(int argc, char **argv)
{
	struct sv_agent a = { .ifaces.nl_fd = -1, .ctl_fd = -1 };
	int err;

	sv_prog_name = "sitevisor-agent";
	if (run_subcommand(argc, argv, &err))
		return err;
	err = parse_args(argc, argv, &a.o);
	if (err)
		return err > 0 ? 0 : 2;
	err = open_all(&a);
	if (!err)
		err = start_tracing(&a);
	if (!err)
		err = start_tap(&a);
	if (!err) {
		pr_info("tracing %d interfaces; records every %u s\n",
			sv_ifaces_count(&a.ifaces), a.o.interval);
		publish_metrics(&a);
		sv_notify("READY=1");
		err = run(&a);
		sv_notify("STOPPING=1");
		stop_tracing(&a);
	}
	close_all(&a);
	return err ? 1 : 0;
}
