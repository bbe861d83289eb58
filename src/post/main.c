// SPDX-License-Identifier: GPL-2.0
/* sitevisor-post: the site server. Gathers every box's flow records over HTTP, stores them
 * (SQLite by default), serves the REST API and the dashboard. This file holds the command
 * line and configuration, the listen sockets and the housekeeping loop. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <poll.h>
#include "collect.h"
#include "detect.h"
#include "http.h"
#include "influx.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "sdnotify.h"
#include "store.h"
#include "timeparse.h"

#define SV_VERSION "0.1.0"
#define NS 1000000000LL
#define DAY_NS (86400 * NS)
#define MAX_LISTEN 8
#define INFLUX_DRAIN_S 5 /* at exit, time to write what is queued for InfluxDB */

struct post_opts {
	const char *listen[MAX_LISTEN];
	int n_listen;
	const char *db;
	const char *ipfix_listen;
	char **tokens;
	int n_tokens;
	const char *read_token;
	const char *tls_cert, *tls_key;
	unsigned long max_body;
	unsigned int retention_days, rollup_days, threads;
	unsigned long path_hold; /* seconds */
	const char *influx, *influx_token; /* NULL: no InfluxDB exit */
	struct sv_detect_cfg detect;
	int no_detect;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sitevisor-post [OPTIONS]\n"
		"Gathers flow records from every box's agent, stores them and serves the API\n"
		"and dashboard.\n\n"
		"  --listen ADDR:PORT|unix:PATH  where to listen (repeatable; default 127.0.0.1:8080)\n"
		"  --ipfix-listen ADDR:PORT  collect IPFIX and NetFlow v9 over UDP there\n"
		"  --db PATH              SQLite database (default sitevisor.db)\n"
		"  --token TOKEN          an ingest token agents may use (repeatable)\n"
		"  --tokens FILE          ingest tokens, one a line (# comments)\n"
		"  --read-token TOKEN     require this token (or an ingest token) to read\n"
		"  --tls-cert FILE, --tls-key FILE  serve HTTPS\n"
		"  --max-body BYTES       largest ingest body (default 16777216)\n"
		"  --retention DAYS       keep raw flow records this long (default 7)\n"
		"  --rollup-retention DAYS  keep per-minute rollups this long (default 90)\n"
		"  --threads N            HTTP worker threads (default 4)\n"
		"  --path-hold SECONDS    how long a sampled packet waits for the agents' other\n"
		"                         sightings before its path is final (default 30; more\n"
		"                         than the agents' --interval, see docs/paths.md)\n"
		"  --influx URL           also write what is stored to InfluxDB: 1.x\n"
		"                         http://HOST:8086/write?db=DB, 2.x\n"
		"                         http://HOST:8086/api/v2/write?org=ORG&bucket=B\n"
		"  --influx-token TOKEN   sent as 'Authorization: Token TOKEN' (2.x, 1.8+)\n"
		"  --scan-ports N         alert when one source probes N ports of one host\n"
		"                         within a window (default 20)\n"
		"  --sweep-hosts N        alert when one source probes N hosts (default 20)\n"
		"  --syn-flood N          alert at N SYN-only packets to one host and port\n"
		"                         within a window (default 1000)\n"
		"  --detect-window SECONDS  the detection window (default 60)\n"
		"  --detect-max-tracked N  suspects followed at once (default 20000)\n"
		"  --alerts-log FILE      also append each alert to FILE as a JSON line\n"
		"  --no-detect            no attack detection\n"
		"  --config FILE          options from FILE: 'name value' lines, # comments;\n"
		"                         the command line wins\n"
		"  -v, --verbose / -q, --quiet / -h, --help / --version\n");
}

enum {
	OPT_LISTEN = 256, OPT_DB, OPT_TOKEN, OPT_TOKENS, OPT_READ_TOKEN, OPT_TLS_CERT,
	OPT_TLS_KEY, OPT_MAX_BODY, OPT_RETENTION, OPT_ROLLUP, OPT_THREADS, OPT_CONFIG,
	OPT_VERSION, OPT_INFLUX, OPT_INFLUX_TOKEN, OPT_IPFIX_LISTEN, OPT_SCAN_PORTS,
	OPT_SWEEP_HOSTS, OPT_SYN_FLOOD, OPT_DETECT_WINDOW, OPT_DETECT_MAX, OPT_ALERTS_LOG,
	OPT_NO_DETECT, OPT_PATH_HOLD,
};

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "ipfix-listen", required_argument, NULL, OPT_IPFIX_LISTEN },
	{ "db", required_argument, NULL, OPT_DB },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "tokens", required_argument, NULL, OPT_TOKENS },
	{ "read-token", required_argument, NULL, OPT_READ_TOKEN },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "max-body", required_argument, NULL, OPT_MAX_BODY },
	{ "retention", required_argument, NULL, OPT_RETENTION },
	{ "rollup-retention", required_argument, NULL, OPT_ROLLUP },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "path-hold", required_argument, NULL, OPT_PATH_HOLD },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "influx", required_argument, NULL, OPT_INFLUX },
	{ "influx-token", required_argument, NULL, OPT_INFLUX_TOKEN },
	{ "scan-ports", required_argument, NULL, OPT_SCAN_PORTS },
	{ "sweep-hosts", required_argument, NULL, OPT_SWEEP_HOSTS },
	{ "syn-flood", required_argument, NULL, OPT_SYN_FLOOD },
	{ "detect-window", required_argument, NULL, OPT_DETECT_WINDOW },
	{ "detect-max-tracked", required_argument, NULL, OPT_DETECT_MAX },
	{ "alerts-log", required_argument, NULL, OPT_ALERTS_LOG },
	{ "no-detect", no_argument, NULL, OPT_NO_DETECT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{},
};

static int parse_ulong(const char *opt, const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || *out < min || *out > max) {
		pr_warn("invalid --%s '%s': expected a whole number from %lu to %lu\n", opt, s,
			min, max);
		return -EINVAL;
	}
	return 0;
}

static int add_token(struct post_opts *o, const char *t)
{
	char **n;

	if (strlen(t) < 8 || strchr(t, ' ')) {
		pr_warn("tokens need at least 8 characters and no spaces\n");
		return -EINVAL;
	}
	n = realloc(o->tokens, (o->n_tokens + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	o->tokens = n;
	o->tokens[o->n_tokens] = strdup(t);
	return o->tokens[o->n_tokens++] ? 0 : -ENOMEM;
}

/* Lines of a file with comments, blank lines and surrounding white space dropped. */
static int each_line(const char *path, const char *what, int (*fn)(void *ctx, char *line),
		     void *ctx)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	int err = 0;

	if (!f) {
		pr_warn("cannot read %s %s: %s\n", what, path, strerror(errno));
		return -errno;
	}
	while (!err && fgets(buf, sizeof(buf), f)) {
		char *p = buf, *e;

		if ((e = strchr(p, '#')))
			*e = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		for (e = p + strlen(p); e > p && strchr(" \t\r\n", e[-1]); e--)
			;
		*e = 0;
		if (*p)
			err = fn(ctx, p);
	}
	fclose(f);
	return err;
}

static int token_line(void *ctx, char *line)
{
	return add_token(ctx, line);
}

static int apply(struct post_opts *o, int c, const char *arg);

/* "name value" or "name = value": the long option --name with that value. */
static int config_line(void *ctx, char *line)
{
	const struct option *lo;
	char *v = line + strcspn(line, " \t=");

	if (*v)
		*v++ = 0;
	v += strspn(v, " \t=");
	for (lo = long_opts; lo->name; lo++)
		if (!strcmp(lo->name, line) && lo->val != OPT_CONFIG)
			break;
	if (!lo->name || (lo->has_arg == required_argument && !*v)) {
		pr_warn("config: unknown option or missing value: '%s'\n", line);
		return -EINVAL;
	}
	return apply(ctx, lo->val, strdup(v));
}

static int apply(struct post_opts *o, int c, const char *arg)
{
	unsigned long v;
	int err = 0;

	switch (c) {
	case OPT_LISTEN:
		if (o->n_listen == MAX_LISTEN)
			return pr_warn("at most %d --listen\n", MAX_LISTEN), -EINVAL;
		o->listen[o->n_listen++] = arg;
		break;
	case OPT_DB: o->db = arg; break;
	case OPT_IPFIX_LISTEN: o->ipfix_listen = arg; break;
	case OPT_TOKEN: return add_token(o, arg);
	case OPT_TOKENS: return each_line(arg, "token file", token_line, o);
	case OPT_READ_TOKEN: o->read_token = arg; break;
	case OPT_TLS_CERT: o->tls_cert = arg; break;
	case OPT_TLS_KEY: o->tls_key = arg; break;
	case OPT_MAX_BODY:
		err = parse_ulong("max-body", arg, 1024, 1ul << 30, &o->max_body);
		break;
	case OPT_RETENTION:
		err = parse_ulong("retention", arg, 1, 36500, &v);
		o->retention_days = v;
		break;
	case OPT_ROLLUP:
		err = parse_ulong("rollup-retention", arg, 1, 36500, &v);
		o->rollup_days = v;
		break;
	case OPT_THREADS:
		err = parse_ulong("threads", arg, 1, 64, &v);
		o->threads = v;
		break;
	case OPT_PATH_HOLD:
		err = parse_ulong("path-hold", arg, 1, 3600, &o->path_hold);
		break;
	case OPT_CONFIG: return each_line(arg, "config file", config_line, o);
	case OPT_SCAN_PORTS:
		err = parse_ulong("scan-ports", arg, 2, 65536, &v);
		o->detect.scan_ports = v;
		break;
	case OPT_SWEEP_HOSTS:
		err = parse_ulong("sweep-hosts", arg, 2, 1000000, &v);
		o->detect.sweep_hosts = v;
		break;
	case OPT_SYN_FLOOD:
		err = parse_ulong("syn-flood", arg, 2, 1000000000, &v);
		o->detect.syn_flood = v;
		break;
	case OPT_DETECT_WINDOW:
		err = parse_ulong("detect-window", arg, 1, 86400, &v);
		o->detect.window_s = v;
		break;
	case OPT_DETECT_MAX:
		err = parse_ulong("detect-max-tracked", arg, 16, 10000000, &v);
		o->detect.max_tracked = v;
		break;
	case OPT_ALERTS_LOG: o->detect.alerts_log = arg; break;
	case OPT_NO_DETECT: o->no_detect = 1; break;
	case OPT_INFLUX: o->influx = arg; break;
	case OPT_INFLUX_TOKEN: o->influx_token = arg; break;
	case 'v': sv_log_level++; break;
	case 'q': sv_log_level = SV_LOG_WARN; break;
	default: return -EINVAL;
	}
	return err;
}

/* Returns 0 to run, 1 to exit 0 (help, version), negative on a usage error. */
static int parse_args(int argc, char **argv, struct post_opts *o)
{
	int c, err = 0;

	o->db = "sitevisor.db";
	o->max_body = 16 << 20;
	o->retention_days = 7;
	o->rollup_days = 90;
	o->threads = 4;
	o->detect = (struct sv_detect_cfg)SV_DETECT_DEFAULTS;
	o->path_hold = SV_PATHS_HOLD_DEFAULT;
	opterr = 0;
	while (!err && (c = getopt_long(argc, argv, ":vqh", long_opts, NULL)) != -1) {
		if (c == 'h')
			return usage(stdout), 1;
		if (c == OPT_VERSION)
			return printf("sitevisor-post %s\n", SV_VERSION), 1;
		if (c == ':') {
			pr_warn("option '%s' needs a value (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		}
		if (c == '?') {
			pr_warn("unknown option '%s' (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		}
		err = apply(o, c, optarg);
	}
	if (!err && optind < argc) {
		pr_warn("unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!err && !!o->tls_cert != !!o->tls_key) {
		pr_warn("--tls-cert and --tls-key go together\n");
		return -EINVAL;
	}
	if (!err && o->influx_token && !o->influx) {
		pr_warn("--influx-token needs --influx\n");
		return -EINVAL;
	}
	if (!err && o->no_detect && o->detect.alerts_log) {
		pr_warn("--alerts-log needs detection: drop --no-detect\n");
		return -EINVAL;
	}
	if (!err && !o->n_listen)
		o->listen[o->n_listen++] = "127.0.0.1:8080";
	return err;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &len, 0, f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void housekeeping(struct post_opts *o, struct sv_store *st, struct sv_detect *d)
{
	sv_detect_tick(d);
	if (sv_store_prune(st, sv_now_ns(), (int64_t)o->retention_days * DAY_NS,
			   (int64_t)o->rollup_days * DAY_NS))
		pr_warn("pruning old records failed\n");
}

/* Fills the top-talker buckets that have closed, a second of work at most; how many are
 * left (a backlog after a restart or an upgrade), or 0. */
static int rollup(struct post_opts *o, struct sv_store *st, struct sv_post_metrics *m)
{
	int left = sv_store_rollup(st, sv_now_ns(), (int64_t)o->rollup_days * DAY_NS,
				   1000000000LL);

	if (left < 0)
		pr_warn("filling top-talker rollups failed\n");
	__atomic_store_n(&m->rollup_pending, left < 0 ? 0 : left, __ATOMIC_RELAXED);
	return left;
}

/* A stored batch's points for InfluxDB, from the thread that stored it;
 * the sums per interface and direction are stamped with the batch's newest record. */
static void to_influx(struct sv_influx *ix, const struct sv_batch *b)
{
	struct sv_influx_batch ib;
	size_t i;

	sv_influx_batch_init(&ib, ix, b->box);
	for (i = 0; i < b->n; i++)
		sv_influx_batch_flow(&ib, &b->recs[i]);
	sv_influx_batch_end(&ib, 0);
	sv_influx_batch_free(&ib);
}

/* What the post does with every batch once stored, from agents and IPFIX exporters alike:
 * detection and InfluxDB see its records, the trajectories its fingerprints (once, like its
 * records). */
struct exits {
	struct sv_store *st;
	struct sv_influx *influx;
	struct sv_detect *detect;
};

static void to_exits(void *ctx, const struct sv_batch *b)
{
	struct exits *e = ctx;

	sv_paths_add(e->st, b, sv_now_ns());
	if (e->detect)
		sv_detect_batch(e->detect, b);
	if (e->influx)
		to_influx(e->influx, b);
}

static int open_influx(const struct post_opts *o, struct sv_influx **ix)
{
	struct sv_influx_cfg cfg = {
		.url = o->influx,
		.token = o->influx_token,
		.user_agent = "sitevisor-post/" SV_VERSION,
		.drain_timeout = INFLUX_DRAIN_S,
	};
	int err = sv_influx_open(&cfg, ix);

	return err ? err : sv_influx_start(*ix);
}

static int serve(struct post_opts *o, struct sv_store *st, const int *fds,
		 struct sv_influx *ix, int ipfix_fd, struct sv_detect *d)
{
	struct sv_post_metrics metrics = { .store = st, .version = SV_VERSION, .detect = d };
	struct sv_http_cfg cfg = {
		.store = st, .tokens = o->tokens, .n_tokens = o->n_tokens,
		.read_token = o->read_token, .max_body = o->max_body,
		.metrics = sv_post_metrics_render, .metrics_ctx = &metrics,
	};
	char *cert = NULL, *key = NULL;
	struct sv_http *http = NULL;
	struct sv_collect *collect = NULL;
	struct pollfd pfd;
	sigset_t mask;
	int err, i, tick, left = 0;

	if (o->tls_cert && (!(cert = read_file(o->tls_cert)) || !(key = read_file(o->tls_key)))) {
		pr_warn("cannot read the TLS certificate or key\n");
		err = -EINVAL;
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	err = sv_http_start(&cfg, fds, o->n_listen, o->threads, cert, key, &http);
	if (err) {
		pr_warn("cannot start the HTTP server%s\n", cert ? " (check the TLS files)" : "");
		goto out;
	}
	if (ipfix_fd >= 0) {
		err = sv_collect_start(ipfix_fd, st, &collect);
		if (err) {
			pr_warn("cannot start the IPFIX collector: %s\n", strerror(-err));
			goto out;
		}
		__atomic_store_n(&metrics.collect, collect, __ATOMIC_RELEASE);
		pr_info("collecting IPFIX and NetFlow v9 on %s (UDP)\n", o->ipfix_listen);
	}
	for (i = 0; i < o->n_listen; i++)
		pr_info("listening on %s%s\n", o->listen[i], cert ? " (TLS)" : "");
	if (!o->n_tokens)
		pr_warn("no --token given: no agent can deliver records\n");
	pfd.fd = signalfd(-1, &mask, SFD_CLOEXEC);
	pfd.events = POLLIN;
	housekeeping(o, st, d);
	sv_post_metrics_tick(&metrics);
	sv_notify("READY=1");
	/* Every second: finalize waiting packet paths (a quiet site sends no batch that would).
	 * Every ten (at once while behind): top-talker rollups. Every minute: pruning. Until
	 * told to stop. */
	for (tick = 1;; tick++) {
		if (left > 0 || tick % 10 == 1)
			left = rollup(o, st, &metrics);
		if (poll(&pfd, 1, left > 0 ? 0 : 1000) != 0)
			break;
		sv_paths_sweep(st, sv_now_ns(), 0);
		if (tick % 60)
			continue;
		housekeeping(o, st, d);
		sv_post_metrics_tick(&metrics);
	}
	sv_notify("STOPPING=1");
	pr_info("stopping\n");
	close(pfd.fd);
out:
	sv_collect_stop(collect);
	sv_http_stop(http);
	free(cert);
	free(key);
	return err;
}

int main(int argc, char **argv)
{
	struct post_opts o = { 0 };
	struct sv_store *st = NULL;
	struct sv_influx *ix = NULL;
	struct sv_detect *det = NULL;
	struct exits exits;
	int fds[MAX_LISTEN], i, n = 0, ipfix_fd = -1, err;
	char msg[256];

	sv_prog_name = "sitevisor-post";
	err = parse_args(argc, argv, &o);
	if (err)
		return err > 0 ? 0 : 2;
	for (n = 0; n < o.n_listen; n++) {
		fds[n] = sv_listen(o.listen[n]);
		if (fds[n] < 0) {
			pr_warn("cannot listen on %s: %s\n", o.listen[n],
				fds[n] == -EINVAL ? "expected ADDR:PORT or unix:PATH" :
						    strerror(-fds[n]));
			err = fds[n];
			goto out;
		}
	}
	if (o.ipfix_listen) {
		ipfix_fd = sv_listen_dgram(o.ipfix_listen);
		if (ipfix_fd < 0) {
			pr_warn("cannot listen on %s (UDP): %s\n", o.ipfix_listen,
				ipfix_fd == -EINVAL ? "expected ADDR:PORT" : strerror(-ipfix_fd));
			err = ipfix_fd;
			goto out;
		}
	}
	sv_paths_configure((int64_t)o.path_hold * 1000000000LL);
	err = sv_store_open(o.db, &st, msg, sizeof(msg));
	if (err) {
		pr_warn("cannot open database %s: %s\n", o.db, msg);
		goto out;
	}
	if (o.influx) {
		err = open_influx(&o, &ix);
		if (err)
			goto out;
	}
	if (!o.no_detect) {
		err = sv_detect_open(&o.detect, st, &det);
		if (err)
			goto out;
	}
	exits = (struct exits){ st, ix, det };
	sv_store_on_stored(st, to_exits, &exits);
	err = serve(&o, st, fds, ix, ipfix_fd, det);
out:
	sv_influx_close(ix); /* after serve: no worker stores any more */
	sv_detect_close(det);
	for (i = 0; i < n; i++)
		close(fds[i]);
	if (ipfix_fd >= 0)
		close(ipfix_fd);
	for (i = 0; i < o.n_listen; i++)
		if (!strncmp(o.listen[i], "unix:", 5) && i < n)
			unlink(o.listen[i] + 5);
	sv_store_close(st);
	for (i = 0; i < o.n_tokens; i++)
		free(o.tokens[i]);
	free(o.tokens);
	return err ? 1 : 0;
}
