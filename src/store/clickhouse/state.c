// SPDX-License-Identifier: GPL-2.0
/* Alerts, packet trajectories and TAP rules in ClickHouse. What changes (an alert that goes
 * on, a rule deleted or reported) is a new row with a higher version in a ReplacingMergeTree,
 * sharded by its id so all of one's versions share a shard; reads take each id's newest row
 * on its shard. Segment minutes are rows summed on read, histograms with sumMap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ch_int.h"
#include "log.h"

/* Rows of table on their shard (key: the id their versions share; -1: any). */
static int insert(struct sv_ch *ch, const char *table, const char *cols, int64_t key,
		  struct sb *rows)
{
	int ret = ch_insert(ch, table, cols, key, rows);

	sb_free(rows);
	return ret;
}

static int query(struct sv_ch *ch, struct sb *sql, struct sb *out)
{
	char err[256];
	int ret;

	sb_init(out);
	sb_puts(sql, " FORMAT TabSeparated");
	ret = sb_failed(sql) ? -ENOMEM : ch_run(ch, -1, sql->buf, out, err, sizeof(err));
	if (ret)
		pr_warn("clickhouse: %s\n", err);
	sb_free(sql);
	return ret;
}

/* The newest version of each id of table, as a condition on the Distributed (or local)
 * table: the inner query runs on each shard, over that shard's rows. */
static void newest(struct sv_ch *ch, struct sb *s, const char *table)
{
	/* Named with its database: a shard runs it in its default one. */
	sb_printf(s, " (id, version) IN (SELECT id, max(version) FROM %s.%s_local GROUP BY id)",
		  ch->db, table);
}

/* --- alerts --- */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t g_version; /* a version that only grows within this post */

static int64_t next_version(int64_t now)
{
	int64_t v = __atomic_load_n(&g_version, __ATOMIC_RELAXED), want;

	do
		want = now > v ? now : v + 1;
	while (!__atomic_compare_exchange_n(&g_version, &v, want, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED));
	return want;
}

int ch_alert_put(struct sv_store *st, struct sv_alert *a)
{
	struct sv_ch *ch = sv_ch(st);
	int64_t now = a->last_ns, id = a->id ? a->id : ch_new_id(a->first_ns);
	struct sb rows;
	int ret;

	sb_init(&rows);
	sb_printf(&rows, "%lld\t%lld\t", (long long)id, (long long)next_version(now));
	ch_tsv(&rows, a->type);
	sb_putc(&rows, '\t');
	ch_tsv(&rows, a->severity);
	sb_putc(&rows, '\t');
	ch_tsv(&rows, a->src);
	sb_putc(&rows, '\t');
	ch_tsv(&rows, a->target);
	sb_printf(&rows, "\t%lld\t%lld\t%llu\t%llu\t%llu\t%llu\t%llu\t", (long long)a->first_ns,
		  (long long)a->last_ns, (unsigned long long)a->flows,
		  (unsigned long long)a->packets, (unsigned long long)a->n_hosts,
		  (unsigned long long)a->n_ports, (unsigned long long)a->n_sources);
	ch_tsv(&rows, a->hosts);
	sb_putc(&rows, '\t');
	ch_tsv(&rows, a->ports);
	sb_putc(&rows, '\t');
	ch_tsv(&rows, a->sources);
	sb_putc(&rows, '\t');
	ch_tsv(&rows, a->seen_by);
	sb_putc(&rows, '\n');
	ret = insert(ch, "alerts", NULL, id, &rows);
	if (!ret)
		a->id = id;
	return ret;
}

int ch_alerts(struct sv_store *st, const struct sv_alert_filter *f, int limit, int offset,
	      sv_alert_cb cb, void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	struct sb sql, out;
	struct ch_rows r;
	int ret;

	sb_init(&sql);
	sb_printf(&sql, "SELECT id, type, severity, src, target, first_ns, last_ns, flows,"
		  " packets, n_hosts, n_ports, n_sources, hosts, ports, sources, seen_by FROM %s"
		  " WHERE last_ns >= %lld AND first_ns < %lld AND", CH_T(ch, "alerts"),
		  (long long)f->since_ns, (long long)f->until_ns);
	newest(ch, &sql, "alerts");
	if (f->type) {
		sb_puts(&sql, " AND type = ");
		ch_quote(&sql, f->type);
	}
	if (f->severity) {
		sb_puts(&sql, " AND severity = ");
		ch_quote(&sql, f->severity);
	}
	if (f->src) {
		sb_puts(&sql, " AND src = ");
		ch_quote(&sql, f->src);
	}
	if (f->target) {
		sb_puts(&sql, " AND (target = ");
		ch_quote(&sql, f->target);
		sb_puts(&sql, " OR has(splitByChar('\\n', hosts), ");
		ch_quote(&sql, f->target);
		sb_puts(&sql, "))");
	}
	if (f->box) {
		/* seen_by is "box\tiface" lines. */
		sb_puts(&sql, " AND position(concat('\\n', seen_by), concat('\\n', ");
		ch_quote(&sql, f->box);
		sb_puts(&sql, ", '\\t')) > 0");
	}
	sb_printf(&sql, " ORDER BY last_ns DESC, id DESC LIMIT %d, %d", offset, limit);
	ret = query(ch, &sql, &out);
	ch_rows_init(&r, &out);
	while (!ret && ch_next(&r)) {
		struct sv_alert a = {
			.id = ch_i64(&r, 0),
			.first_ns = ch_i64(&r, 5),
			.last_ns = ch_i64(&r, 6),
			.flows = ch_i64(&r, 7),
			.packets = ch_i64(&r, 8),
			.n_hosts = ch_i64(&r, 9),
			.n_ports = ch_i64(&r, 10),
			.n_sources = ch_i64(&r, 11),
			.hosts = ch_str(&r, 12),
			.ports = ch_str(&r, 13),
			.sources = ch_str(&r, 14),
			.seen_by = ch_str(&r, 15),
		};

		snprintf(a.type, sizeof(a.type), "%s", ch_str(&r, 1));
		snprintf(a.severity, sizeof(a.severity), "%s", ch_str(&r, 2));
		snprintf(a.src, sizeof(a.src), "%s", ch_str(&r, 3));
		snprintf(a.target, sizeof(a.target), "%s", ch_str(&r, 4));
		ret = cb(ctx, &a);
	}
	sb_free(&out);
	return ret;
}

/* --- packet trajectories --- */

static void point_tsv(struct sb *s, const struct sv_point *p)
{
	sb_putc(s, '\t');
	ch_tsv(s, p->box);
	sb_putc(s, '\t');
	ch_tsv(s, p->iface);
	sb_printf(s, "\t%d", p->direction);
}

static void seg_tsv(struct sb *s, const struct sv_seg_minute *g)
{
	int b, first = 1;

	sb_printf(s, "%lld", (long long)g->minute);
	point_tsv(s, &g->from);
	point_tsv(s, &g->to);
	sb_printf(s, "\t%llu\t%llu\t%llu\t%lld\t%lld\t%lld\t[", (unsigned long long)g->seen,
		  (unsigned long long)g->lost, (unsigned long long)g->lat_n,
		  (long long)g->lat_sum, (long long)(g->lat_n ? g->lat_min : 0),
		  (long long)(g->lat_n ? g->lat_max : 0));
	for (b = 0; b < SV_LAT_BUCKETS; b++)
		if (g->hist[b]) {
			sb_printf(s, "%s%d", first ? "" : ",", b);
			first = 0;
		}
	sb_puts(s, "]\t[");
	for (b = 0, first = 1; b < SV_LAT_BUCKETS; b++)
		if (g->hist[b]) {
			sb_printf(s, "%s%u", first ? "" : ",", g->hist[b]);
			first = 0;
		}
	sb_puts(s, "]\n");
}

static void path_tsv(struct sb *s, const struct sv_path_row *p)
{
	sb_printf(s, "%lld\t", (long long)p->first_ns);
	ch_tsv(s, p->hash);
	sb_printf(s, "\t%d\t%d\t", p->ip_version, p->protocol);
	ch_tsv(s, p->src_addr);
	sb_putc(s, '\t');
	ch_tsv(s, p->dst_addr);
	sb_printf(s, "\t%d\t%d\t", p->src_port, p->dst_port);
	ch_tsv(s, p->hops);
	sb_putc(s, '\t');
	ch_tsv(s, p->lost);
	sb_printf(s, "\t%d\n", p->lost != NULL);
}

/* keep: the SQLite store's bound on sampled paths; here retention bounds them (by day). */
int ch_paths_write(struct sv_store *st, const struct sv_path_row *paths, size_t n_paths,
		   const struct sv_seg_minute *segs, size_t n_segs, size_t keep)
{
	struct sv_ch *ch = sv_ch(st);
	struct sb rows;
	size_t i;
	int ret = 0;

	(void)keep;
	if (n_segs) {
		sb_init(&rows);
		for (i = 0; i < n_segs; i++)
			seg_tsv(&rows, &segs[i]);
		ret = insert(ch, "path_seg",
			     "minute, from_box, from_iface, from_dir, to_box, to_iface, to_dir, seen,"
			     " lost, lat_n, lat_sum, lat_min, lat_max, hist_b, hist_n", -1, &rows);
	}
	if (!ret && n_paths) {
		sb_init(&rows);
		for (i = 0; i < n_paths; i++)
			path_tsv(&rows, &paths[i]);
		ret = insert(ch, "paths",
			     "first_ns, hash, ip_version, protocol, src_addr, dst_addr, src_port,"
			     " dst_port, hops, lost, has_lost", -1, &rows);
	}
	return ret;
}

int ch_paths(struct sv_store *st, const struct sv_filter *f, int limit, sv_path_row_cb cb,
	     void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	struct sb sql, out;
	struct ch_rows r;
	int ret;

	sb_init(&sql);
	sb_printf(&sql, "SELECT first_ns, hash, ip_version, protocol, src_addr, dst_addr,"
		  " src_port, dst_port, hops, lost, has_lost FROM %s WHERE first_ns >= %lld AND"
		  " first_ns < %lld", CH_T(ch, "paths"), (long long)f->since_ns,
		  (long long)f->until_ns);
	if (f->src_addr) {
		sb_puts(&sql, " AND src_addr = ");
		ch_quote(&sql, f->src_addr);
	}
	if (f->dst_addr) {
		sb_puts(&sql, " AND dst_addr = ");
		ch_quote(&sql, f->dst_addr);
	}
	if (f->protocol >= 0)
		sb_printf(&sql, " AND protocol = %d", f->protocol);
	if (f->src_port >= 0)
		sb_printf(&sql, " AND src_port = %d", f->src_port);
	if (f->dst_port >= 0)
		sb_printf(&sql, " AND dst_port = %d", f->dst_port);
	sb_printf(&sql, " ORDER BY first_ns, hash LIMIT %d", limit);
	ret = query(ch, &sql, &out);
	ch_rows_init(&r, &out);
	while (!ret && ch_next(&r)) {
		struct sv_path_row p = {
			.first_ns = ch_i64(&r, 0),
			.hash = ch_str(&r, 1),
			.ip_version = (int)ch_i64(&r, 2),
			.protocol = (int)ch_i64(&r, 3),
			.src_addr = ch_str(&r, 4),
			.dst_addr = ch_str(&r, 5),
			.src_port = (int)ch_i64(&r, 6),
			.dst_port = (int)ch_i64(&r, 7),
			.hops = ch_str(&r, 8),
			.lost = ch_i64(&r, 10) ? ch_str(&r, 9) : NULL,
		};

		ret = cb(ctx, &p);
	}
	sb_free(&out);
	return ret;
}

/* The bucket-th entry of a ClickHouse array text "[1,2,3]", walked with *p. */
static int next_num(const char **p, int64_t *v)
{
	char *end;

	while (**p == '[' || **p == ',' || **p == ' ')
		(*p)++;
	if (**p < '0' || **p > '9')
		return 0;
	*v = strtoll(*p, &end, 10);
	*p = end;
	return 1;
}

static int64_t percentile(const uint64_t *hist, uint64_t n, int64_t lat_max, double q)
{
	uint64_t need, sum = 0;
	int b;

	if (!n)
		return -1;
	need = (uint64_t)(q * n + 0.999999);
	need = need ? need : 1;
	for (b = 0; b < SV_LAT_BUCKETS; b++) {
		sum += hist[b];
		if (sum >= need)
			return sv_lat_bucket_mid(b);
	}
	return lat_max;
}

int ch_path_links(struct sv_store *st, int64_t since_ns, int64_t until_ns, sv_link_row_cb cb,
		  void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	uint64_t *hist;
	struct sb sql, out;
	struct ch_rows r;
	int ret;

	hist = malloc(SV_LAT_BUCKETS * sizeof(*hist));
	if (!hist)
		return -ENOMEM;
	sb_init(&sql);
	sb_printf(&sql, "SELECT from_box, from_iface, from_dir, to_box, to_iface, to_dir,"
		  " sum(seen), sum(lost), sum(lat_n), sum(lat_sum), minIf(lat_min, lat_n > 0),"
		  " maxIf(lat_max, lat_n > 0), sumMap(hist_b, hist_n) FROM %s WHERE"
		  " minute >= %lld AND minute <= %lld GROUP BY from_box, from_iface, from_dir,"
		  " to_box, to_iface, to_dir ORDER BY from_box, from_iface, from_dir, to_box,"
		  " to_iface, to_dir", CH_T(ch, "path_seg"), (long long)(since_ns / CH_NS_PER_MIN),
		  (long long)(until_ns / CH_NS_PER_MIN));
	ret = query(ch, &sql, &out);
	ch_rows_init(&r, &out);
	while (!ret && ch_next(&r)) {
		/* sumMap's answer: ([buckets],[counts]) */
		const char *keys = ch_str(&r, 12), *vals = strstr(keys, "],[");
		struct sv_link_row l = {
			.from = { ch_str(&r, 0), ch_str(&r, 1), (int)ch_i64(&r, 2) },
			.to = { ch_str(&r, 3), ch_str(&r, 4), (int)ch_i64(&r, 5) },
			.seen = ch_i64(&r, 6),
			.lost = ch_i64(&r, 7),
			.lat_n = ch_i64(&r, 8),
			.lat_min = ch_i64(&r, 10),
			.lat_max = ch_i64(&r, 11),
		};
		int64_t b, n;

		l.lat_mean = l.lat_n ? ch_i64(&r, 9) / (int64_t)l.lat_n : -1;
		memset(hist, 0, SV_LAT_BUCKETS * sizeof(*hist));
		keys += *keys == '(';
		vals = vals ? vals + 2 : "";
		while (next_num(&keys, &b) && next_num(&vals, &n))
			if (b >= 0 && b < SV_LAT_BUCKETS)
				hist[b] += n;
		l.p50 = percentile(hist, l.lat_n, l.lat_max, 0.50);
		l.p90 = percentile(hist, l.lat_n, l.lat_max, 0.90);
		l.p99 = percentile(hist, l.lat_n, l.lat_max, 0.99);
		ret = cb(ctx, &l);
	}
	sb_free(&out);
	free(hist);
	return ret;
}

/* --- TAP rules --- */

static void tap_tsv(struct sb *s, const struct sv_tap_row *t, int64_t version, int deleted)
{
	sb_printf(s, "%lld\t%lld\t%d\t", (long long)t->id, (long long)version, deleted);
	ch_tsv(s, t->box);
	sb_putc(s, '\t');
	ch_tsv(s, t->rule);
	sb_printf(s, "\t%lld\t%lld\t", (long long)t->created_ns, (long long)t->agent_id);
	ch_tsv(s, t->error);
	sb_printf(s, "\t%d\t%lld\t%llu\t%llu\t%llu\t%llu\t%llu\n", t->error != NULL,
		  (long long)t->reported_ns, (unsigned long long)t->matched,
		  (unsigned long long)t->mirrored, (unsigned long long)t->truncated,
		  (unsigned long long)t->rate_limited, (unsigned long long)t->failed);
}

int ch_tap_add(struct sv_store *st, const char *box, const char *rule, int64_t now_ns,
	       int64_t *id)
{
	struct sv_ch *ch = sv_ch(st);
	struct sv_tap_row t = { .id = ch_new_id(now_ns), .box = box, .rule = rule,
				.created_ns = now_ns };
	struct sb rows;
	int ret;

	sb_init(&rows);
	tap_tsv(&rows, &t, next_version(now_ns), 0);
	ret = insert(ch, "taps", NULL, t.id, &rows);
	if (!ret)
		*id = t.id;
	return ret;
}

struct tap_one {
	struct sv_tap_row row;
	char *box, *rule, *error;
	int found;
};

static int tap_keep(void *ctx, const struct sv_tap_row *r)
{
	struct tap_one *o = ctx;

	o->row = *r;
	o->box = strdup(r->box);
	o->rule = strdup(r->rule);
	o->error = r->error ? strdup(r->error) : NULL;
	o->row.box = o->box;
	o->row.rule = o->rule;
	o->row.error = o->error;
	o->found = 1;
	return 0;
}

/* The newest version of rule id, if it is not deleted; -ENOENT otherwise. */
static int tap_get(struct sv_ch *ch, int64_t id, struct tap_one *o);

int ch_tap_del(struct sv_store *st, int64_t id)
{
	struct sv_ch *ch = sv_ch(st);
	struct tap_one o = { 0 };
	struct sb rows;
	int ret;

	ret = tap_get(ch, id, &o);
	if (!ret) {
		sb_init(&rows);
		tap_tsv(&rows, &o.row, next_version(now_ns()), 1);
		ret = insert(ch, "taps", NULL, o.row.id, &rows);
	}
	free(o.box);
	free(o.rule);
	free(o.error);
	return ret;
}

static int taps_where(struct sv_ch *ch, const char *cond, sv_tap_cb cb, void *ctx)
{
	struct sb sql, out;
	struct ch_rows r;
	int ret;

	sb_init(&sql);
	sb_printf(&sql, "SELECT id, box, rule, error, has_error, created_ns, reported_ns,"
		  " agent_id, matched, mirrored, truncated, rate_limited, failed FROM %s WHERE",
		  CH_T(ch, "taps"));
	newest(ch, &sql, "taps");
	sb_printf(&sql, " AND deleted = 0%s ORDER BY id", cond);
	ret = query(ch, &sql, &out);
	ch_rows_init(&r, &out);
	while (!ret && ch_next(&r)) {
		struct sv_tap_row t = {
			.id = ch_i64(&r, 0),
			.box = ch_str(&r, 1),
			.rule = ch_str(&r, 2),
			.error = ch_i64(&r, 4) ? ch_str(&r, 3) : NULL,
			.created_ns = ch_i64(&r, 5),
			.reported_ns = ch_i64(&r, 6),
			.agent_id = ch_i64(&r, 7),
			.matched = strtoull(ch_str(&r, 8), NULL, 10),
			.mirrored = strtoull(ch_str(&r, 9), NULL, 10),
			.truncated = strtoull(ch_str(&r, 10), NULL, 10),
			.rate_limited = strtoull(ch_str(&r, 11), NULL, 10),
			.failed = strtoull(ch_str(&r, 12), NULL, 10),
		};

		ret = cb(ctx, &t);
	}
	sb_free(&out);
	return ret;
}

static int tap_get(struct sv_ch *ch, int64_t id, struct tap_one *o)
{
	char cond[64];
	int ret;

	snprintf(cond, sizeof(cond), " AND id = %lld", (long long)id);
	ret = taps_where(ch, cond, tap_keep, o);
	return ret ? ret : o->found ? 0 : -ENOENT;
}

int ch_taps(struct sv_store *st, const char *box, sv_tap_cb cb, void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	struct sb cond;
	int ret;

	sb_init(&cond);
	sb_puts(&cond, "");
	if (box) {
		sb_puts(&cond, " AND box = ");
		ch_quote(&cond, box);
	}
	ret = sb_failed(&cond) ? -ENOMEM : taps_where(ch, cond.buf ? cond.buf : "", cb, ctx);
	sb_free(&cond);
	return ret;
}

int ch_tap_report(struct sv_store *st, const char *box, const struct sv_tap_row *r,
		  int64_t now_ns)
{
	struct sv_ch *ch = sv_ch(st);
	struct tap_one o = { 0 };
	struct sv_tap_row t;
	struct sb rows;
	int ret;

	ret = tap_get(ch, r->id, &o);
	if (ret == -ENOENT || (!ret && strcmp(o.box, box))) {
		ret = 0; /* another box's rule, or gone: ignored */
		goto out;
	}
	if (ret)
		goto out;
	t = *r;
	t.box = o.box;
	t.rule = o.rule;
	t.created_ns = o.row.created_ns;
	t.reported_ns = now_ns;
	sb_init(&rows);
	tap_tsv(&rows, &t, next_version(now_ns), 0);
	ret = insert(ch, "taps", NULL, t.id, &rows);
out:
	free(o.box);
	free(o.rule);
	free(o.error);
	return ret;
}
