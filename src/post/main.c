// SPDX-License-Identifier: GPL-2.0
/* sitevisor-post: the site server. Gathers every box's flow records over HTTP, stores them
 * (SQLite by default), serves the REST API and the dashboard. This file holds the command
 * line and configuration, the listen sockets and the housekeeping loop. */
#include <errno.h>
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
#include "analyse.h"
#include "auth.h"
#include "collect.h"
#include "detect.h"
#include "http.h"
#include "influx.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "params.h"
#include "paths.h"
#include "sdnotify.h"
#include "store.h"
#include "timeparse.h"

#define NS 1000000000LL
#define DAY_NS (86400 * NS)
#define MAX_LISTEN 8
#define INFLUX_DRAIN_S 5 /* at exit, time to write what is queued for InfluxDB */

struct post_opts {
	struct sv_strv listen;
	const char *db;
	struct sv_strv store; /* ClickHouse: one place per shard (issue 14) */
	const char *store_cluster, *store_password_file;
	const char *ipfix_listen;
	struct sv_strv ipfix_allow; /* exporters' addresses; none: any */
	struct sv_auth auth; /* ingest and admin tokens */
	const char *read_token;
	const char *tls_cert, *tls_key;
	unsigned int max_body;
	unsigned int retention_days, rollup_days, threads;
	unsigned int path_hold; /* seconds */
	unsigned int max_conns, max_conns_per_ip, idle_timeout, request_timeout;
	unsigned int query_budget; /* ms */
	const char *influx, *influx_token; /* NULL: no InfluxDB exit */
	struct sv_detect_cfg detect;
	int no_detect;
};

/* One token on the command line: no spaces, so no boxes. */
static int one_token(struct post_opts *o, enum sv_role role, const char *t)
{
	char buf[512];

	if (strchr(t, ' ') || strchr(t, '\t') || strlen(t) >= sizeof(buf)) {
		pr_warn("tokens need at least 8 characters and no spaces\n");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", t);
	return sv_auth_add(&o->auth, role, buf);
}

static int add_token(void *cfg, const char *t)
{
	return one_token(cfg, SV_ROLE_INGEST, t);
}

static int add_admin_token(void *cfg, const char *t)
{
	return one_token(cfg, SV_ROLE_ADMIN, t);
}

static int token_line(void *ctx, char *line)
{
	return sv_auth_add(&((struct post_opts *)ctx)->auth, SV_ROLE_INGEST, line);
}

static int admin_line(void *ctx, char *line)
{
	return sv_auth_add(&((struct post_opts *)ctx)->auth, SV_ROLE_ADMIN, line);
}

/* A line without boxes keeps working as before bound tokens existed, said once per file. */
static int read_tokens(void *cfg, const char *path)
{
	struct post_opts *o = cfg;
	int before = o->auth.n_unbound, err = sv_each_line(path, "token file", token_line, cfg);

	if (!err && o->auth.n_unbound > before)
		pr_warn("%s: %d token(s) bound to no box may deliver and report for any box "
			"(bind them: TOKEN BOX...)\n", path, o->auth.n_unbound - before);
	return err;
}

static int read_admin_tokens(void *cfg, const char *path)
{
	return sv_each_line(path, "admin token file", admin_line, cfg);
}

/* The post's options: the table is the command line, the --config file, --help and the man
 * page. */
#define NUM(f, lo, hi) .type = SV_OPT_NUM, SV_FIELD(struct post_opts, f), .min = lo, .max = hi
#define TEXT(f) .type = SV_OPT_STR, SV_FIELD(struct post_opts, f)

static const struct sv_opt post_opts[] = {
	{ "listen", 0, SV_OPT_STRS, SV_FIELD(struct post_opts, listen), .max = MAX_LISTEN,
	  .def = "127.0.0.1:8080", .metavar = "ADDR:PORT|unix:PATH",
	  .help = "where to listen (repeatable, up to " SV_STR(MAX_LISTEN) ")" },
	{ "ipfix-listen", 0, TEXT(ipfix_listen), .metavar = "ADDR:PORT",
	  .help = "collect IPFIX and NetFlow v9 over UDP there; each exporter becomes a box "
		  "ipfix:ADDR" },
	{ "ipfix-allow", 0, SV_OPT_STRS, SV_FIELD(struct post_opts, ipfix_allow),
	  .needs = "ipfix-listen", .metavar = "CIDR",
	  .help = "take IPFIX and NetFlow only from exporters in CIDR (repeatable; default any)" },
	{ "db", 0, TEXT(db), .def = "sitevisor.db", .metavar = "PATH",
	  .help = "the SQLite database, created or upgraded in place" },
	{ "store", 0, SV_OPT_STRS, SV_FIELD(struct post_opts, store), .max = 16,
	  .metavar = "clickhouse://[USER[:PASSWORD]@]HOST:PORT/DB",
	  .help = "keep every record in ClickHouse (its HTTP port; clickhouses:// for HTTPS) "
		  "instead of --db; once per shard of a cluster (see docs/scale-out.md)" },
	{ "store-cluster", 0, TEXT(store_cluster), .needs = "store", .metavar = "NAME",
	  .help = "the cluster of the --store shards, as their remote_servers name it" },
	{ "store-password-file", 0, TEXT(store_password_file), .needs = "store",
	  .metavar = "FILE", .help = "the ClickHouse password, the file's first line" },
	{ "token", 0, SV_OPT_FUNC, .set = add_token, .metavar = "TOKEN",
	  .help = "an ingest token agents may deliver with (repeatable; at least 8 characters, "
		  "no spaces)" },
	{ "tokens", 0, SV_OPT_FUNC, .set = read_tokens, .metavar = "FILE",
	  .help = "ingest tokens, one a line (# comments): 'TOKEN BOX...' binds the token to "
		  "those boxes (it may deliver and report for them only); a TOKEN alone may "
		  "speak for any box" },
	{ "admin-token", 0, SV_OPT_FUNC, .set = add_admin_token, .metavar = "TOKEN",
	  .help = "a token that may add and delete tap rules (repeatable; ingest and read "
		  "tokens may not)" },
	{ "admin-tokens", 0, SV_OPT_FUNC, .set = read_admin_tokens, .metavar = "FILE",
	  .help = "admin tokens, one a line (# comments)" },
	{ "read-token", 0, TEXT(read_token), .metavar = "TOKEN",
	  .help = "require this token (or an ingest or admin token) to read the API and the "
		  "dashboard's data" },
	{ "tls-cert", 0, TEXT(tls_cert), .metavar = "FILE",
	  .help = "serve HTTPS with this certificate (PEM; with --tls-key)" },
	{ "tls-key", 0, TEXT(tls_key), .metavar = "FILE",
	  .help = "the certificate's private key (PEM; with --tls-cert)" },
	{ "max-body", 0, NUM(max_body, 1024, 1u << 30), .def = "16777216", .metavar = "BYTES",
	  .help = "largest ingest body; a larger one gets 413" },
	{ "retention", 0, NUM(retention_days, 1, 36500), .def = "7", .metavar = "DAYS",
	  .help = "keep raw flow records this long" },
	{ "rollup-retention", 0, NUM(rollup_days, 1, 36500), .def = "90", .metavar = "DAYS",
	  .help = "keep per-minute rollups this long" },
	{ "threads", 0, NUM(threads, 1, 64), .def = "4", .metavar = "N",
	  .help = "HTTP worker threads" },
	{ "max-connections", 0, NUM(max_conns, 4, 100000), .def = "512", .metavar = "N",
	  .help = "HTTP connections at once; more wait in the listen queue" },
	{ "max-connections-per-ip", 0, NUM(max_conns_per_ip, 0, 100000), .def = "64",
	  .metavar = "N", .help = "HTTP connections at once from one address (0: no limit)" },
	{ "idle-timeout", 0, NUM(idle_timeout, 1, 3600), .def = "15", .metavar = "SECONDS",
	  .help = "close a connection silent this long" },
	{ "request-timeout", 0, NUM(request_timeout, 1, 3600), .def = "120",
	  .metavar = "SECONDS",
	  .help = "close a connection whose request (headers and body) takes longer" },
	{ "query-budget", 0, NUM(query_budget, 10, 3600000), .def = "10000", .metavar = "MS",
	  .help = "cut off a read of the API that takes longer (503: narrow it)" },
	{ "path-hold", 0, NUM(path_hold, 1, 3600), .def = SV_STR(SV_PATHS_HOLD_DEFAULT),
	  .metavar = "SECONDS",
	  .help = "how long a sampled packet waits for the agents' other sightings before its "
		  "path is final (more than the agents' --interval, see docs/paths.md)" },
	{ "influx", 0, TEXT(influx), .metavar = "URL",
	  .help = "also write what is stored to InfluxDB: 1.x http://HOST:8086/write?db=DB, 2.x "
		  "http://HOST:8086/api/v2/write?org=ORG&bucket=B" },
	{ "influx-token", 0, TEXT(influx_token), .needs = "influx", .metavar = "TOKEN",
	  .help = "sent as 'Authorization: Token TOKEN' (2.x; 1.8+ takes USER:PASSWORD)" },
	{ "scan-ports", 0, NUM(detect.scan_ports, 2, 65536), .def = "20", .metavar = "N",
	  .help = "alert when one source probes N ports of one host within a window" },
	{ "sweep-hosts", 0, NUM(detect.sweep_hosts, 2, 1000000), .def = "20", .metavar = "N",
	  .help = "alert when one source probes N hosts within a window" },
	{ "syn-flood", 0, NUM(detect.syn_flood, 2, 1000000000), .def = "1000", .metavar = "N",
	  .help = "alert at N SYN-only packets to one host and port within a window" },
	{ "detect-window", 0, NUM(detect.window_s, 1, 86400), .def = "60", .metavar = "SECONDS",
	  .help = "the detection window" },
	{ "detect-max-tracked", 0, NUM(detect.max_tracked, 16, 10000000), .def = "20000",
	  .metavar = "N", .help = "suspects followed at once" },
	{ "alerts-log", 0, TEXT(detect.alerts_log), .metavar = "FILE",
	  .help = "also append each alert to FILE as a JSON line" },
	{ "no-detect", 0, SV_OPT_FLAG, SV_FIELD(struct post_opts, no_detect),
	  .help = "no attack detection" },
	{ "config", 0, SV_OPT_CONFIG, .metavar = "FILE",
	  .help = "options from FILE: 'name value' (or 'name = value') lines with the long "
		  "options' names, # comments; an option on the command line replaces the "
		  "file's" },
	{ "print-config", 0, SV_OPT_DUMP,
	  .help = "print the options in effect (from the defaults, the --config files and the "
		  "command line) as a --config file and exit; tokens are left out" },
	SV_OPTS_LOG("more messages"),
	SV_OPTS_STANDARD('h'),
	SV_OPT_END,
};

static const struct sv_cmd post_cmd = {
	.name = "sitevisor-post",
	.synopsis = "sitevisor-post [OPTIONS]",
	.about = "Gathers flow records from every box's agent, stores them and serves the API "
		 "and dashboard.",
	.opts = post_opts,
};

/* Returns 0 to run, 1 to exit 0 (help, version), negative on a usage error. */
static int parse_args(int argc, char **argv, struct post_opts *o)
{
	struct sv_opt_state p;
	int err = sv_params_parse(&p, &post_cmd, o, argc, argv);

	if (err)
		return err;
	if (!!o->tls_cert != !!o->tls_key) {
		pr_warn("--tls-cert and --tls-key go together\n");
		return -EINVAL;
	}
	if (o->read_token && one_token(o, SV_ROLE_READ, o->read_token))
		return -EINVAL;
	if (sv_collect_check(&(struct sv_collect_cfg){ .allow = o->ipfix_allow.v,
						       .n_allow = o->ipfix_allow.n }))
		return -EINVAL;
	if (o->no_detect && o->detect.alerts_log) {
		pr_warn("--alerts-log needs detection: drop --no-detect\n");
		return -EINVAL;
	}
	return 0;
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
/* Whether a batch brought records older than the top-talker levels' end since the rollup
 * last ran: the rollup folds them in (store/sqlite/talk.c). */
static int late_waiting(struct sv_store *st)
{
	struct sv_store_work w;

	sv_store_work(st, &w);
	return w.late_waiting > 0;
}

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
 * records). Over a store several posts write, detection and trajectories are the analyser's,
 * fed from the store (analyse.c): paths and detect are NULL here. */
struct exits {
	struct sv_paths *paths;
	struct sv_influx *influx;
	struct sv_detect *detect;
};

static void to_exits(void *ctx, const struct sv_batch *b)
{
	struct exits *e = ctx;

	if (e->paths)
		sv_paths_add(e->paths, b, sv_now_ns());
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
		 struct sv_influx *ix, int ipfix_fd, struct sv_detect *d, struct sv_paths *paths,
		 struct sv_analyse *an)
{
	struct sv_http_stats stats = { 0 };
	struct sv_post_metrics metrics = { .store = st, .http = &stats, .paths = paths,
					   .version = SV_VERSION, .detect = d, .analyse = an };
	struct sv_http_cfg cfg = {
		.store = st, .stats = &stats, .auth = &o->auth,
		.read_token = o->read_token, .max_body = o->max_body,
		.max_conns = o->max_conns, .max_conns_per_ip = o->max_conns_per_ip,
		.idle_timeout = o->idle_timeout, .request_timeout = o->request_timeout,
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
	err = sv_http_start(&cfg, fds, o->listen.n, o->threads, cert, key, &http);
	if (err) {
		pr_warn("cannot start the HTTP server%s\n", cert ? " (check the TLS files)" : "");
		goto out;
	}
	if (ipfix_fd >= 0) {
		struct sv_collect_cfg ccfg = { .allow = o->ipfix_allow.v,
					       .n_allow = o->ipfix_allow.n };

		err = sv_collect_start(ipfix_fd, st, &ccfg, &collect);
		if (err) {
			pr_warn("cannot start the IPFIX collector: %s\n", strerror(-err));
			goto out;
		}
		__atomic_store_n(&metrics.collect, collect, __ATOMIC_RELEASE);
		pr_info("collecting IPFIX and NetFlow v9 on %s (UDP)\n", o->ipfix_listen);
	}
	for (i = 0; i < o->listen.n; i++)
		pr_info("listening on %s%s\n", o->listen.v[i], cert ? " (TLS)" : "");
	if (!o->auth.n_ingest)
		pr_warn("no --token given: no agent can deliver records\n");
	pfd.fd = signalfd(-1, &mask, SFD_CLOEXEC);
	pfd.events = POLLIN;
	housekeeping(o, st, d);
	sv_post_metrics_tick(&metrics);
	sv_notify("READY=1");
	/* Every second: finalize waiting packet paths (a quiet site sends no batch that would).
	 * Every ten (at once while behind, or when late records wait to be folded in):
	 * top-talker rollups. Every minute: pruning. Until told to stop. */
	for (tick = 1;; tick++) {
		if (left > 0 || tick % 10 == 1 || late_waiting(st))
			left = rollup(o, st, &metrics);
		if (poll(&pfd, 1, left > 0 ? 0 : 1000) != 0)
			break;
		if (!an) /* the analyser sweeps by the feed's clock */
			sv_paths_sweep(paths, sv_now_ns(), 0);
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

/* --store's first line of --store-password-file into buf. */
static int read_password(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(buf, len, f)) {
		pr_warn("cannot read %s: %s\n", path, f ? "empty" : strerror(errno));
		if (f)
			fclose(f);
		return -EINVAL;
	}
	fclose(f);
	buf[strcspn(buf, "\r\n")] = 0;
	return 0;
}

/* The store: --store's ClickHouse places if given, else the --db file. */
static int open_store(struct post_opts *o, struct sv_store **st)
{
	char msg[256], password[256], writer[320];
	struct sv_store_cfg cfg = { .places = &o->db, .n_places = 1, .cluster = o->store_cluster,
				    .writer = writer };
	int err;

	gethostname(msg, sizeof(msg));
	msg[sizeof(msg) - 1] = 0;
	snprintf(writer, sizeof(writer), "%s %s", msg, o->listen.v[0]);

	if (o->store.n) {
		cfg.places = o->store.v;
		cfg.n_places = o->store.n;
	}
	if (o->store_password_file) {
		err = read_password(o->store_password_file, password, sizeof(password));
		if (err)
			return err;
		cfg.password = password;
	}
	err = sv_store_open_cfg(&cfg, st, msg, sizeof(msg));
	if (err)
		pr_warn("cannot open %s %s: %s\n", o->store.n ? "store" : "database",
			cfg.places[0], msg);
	return err;
}

/* Over a store several posts write: the analyser's election and feed (analyse.c); *an stays
 * NULL on a store one post writes, whose batches feed detection and trajectories here. */
static int start_analyse(const struct post_opts *o, struct sv_store *st, struct sv_detect *d,
			 struct sv_paths *paths, struct sv_analyse **an)
{
	int64_t window = (int64_t)o->detect.window_s * NS, hold = (int64_t)o->path_hold * NS;
	int err = sv_analyse_start(st, o->no_detect ? NULL : d, paths,
				   window > hold ? window : hold, an);

	if (err == -EOPNOTSUPP)
		return 0;
	if (err)
		pr_warn("cannot start the analyser's election: %s\n", strerror(-err));
	return err;
}

int main(int argc, char **argv)
{
	struct post_opts o = { 0 };
	struct sv_store *st = NULL;
	struct sv_influx *ix = NULL;
	struct sv_detect *det = NULL;
	struct sv_paths *paths = NULL;
	struct sv_analyse *an = NULL;
	struct exits exits;
	int fds[MAX_LISTEN], i, n = 0, ipfix_fd = -1, err;

	sv_prog_name = "sitevisor-post";
	err = parse_args(argc, argv, &o);
	if (err)
		return err > 0 ? 0 : 2;
	for (n = 0; n < o.listen.n; n++) {
		fds[n] = sv_listen(o.listen.v[n]);
		if (fds[n] < 0) {
			pr_warn("cannot listen on %s: %s\n", o.listen.v[n],
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
	err = open_store(&o, &st);
	if (err)
		goto out;
	sv_store_set_query_budget(st, (int64_t)o.query_budget * 1000000LL);
	sv_store_set_retention(st, (int64_t)o.retention_days * DAY_NS);
	err = sv_paths_open(st, (int64_t)o.path_hold * 1000000000LL, &paths);
	if (err) {
		pr_warn("cannot start the trajectory join: %s\n", strerror(-err));
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
	err = start_analyse(&o, st, det, paths, &an);
	if (err)
		goto out;
	exits = an ? (struct exits){ NULL, ix, NULL } : (struct exits){ paths, ix, det };
	sv_store_on_stored(st, to_exits, &exits);
	err = serve(&o, st, fds, ix, ipfix_fd, det, paths, an);
out:
	sv_analyse_stop(an); /* before the detector and the join it feeds */
	sv_influx_close(ix); /* after serve: no worker stores any more */
	sv_detect_close(det);
	sv_paths_close(paths);
	for (i = 0; i < n; i++)
		close(fds[i]);
	if (ipfix_fd >= 0)
		close(ipfix_fd);
	for (i = 0; i < o.listen.n; i++)
		if (!strncmp(o.listen.v[i], "unix:", 5) && i < n)
			unlink(o.listen.v[i] + 5);
	sv_store_close(st);
	sv_auth_free(&o.auth);
	free(o.listen.v);
	free(o.ipfix_allow.v);
	return err ? 1 : 0;
}
