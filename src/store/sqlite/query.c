// SPDX-License-Identifier: GPL-2.0
/* Reading the SQLite store: boxes, flow records, series, top talkers, alerts and sizes.
 * Filters become a WHERE clause with bound parameters only; column names come from fixed
 * tables, never from the request. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "jsonr.h"
#include "sb.h"
#include "store_int.h"

/* Enough for top's pieces: 31 at most, 5 values each (a raw one alone: up to 15), and the
 * late records of the levels' and windows' pieces, 3 each. */
#define MAX_BINDS 256
#define MAX_PIECES 31

struct where {
	struct sb sql;
	int n;
	struct {
		const char *text;
		int64_t num;
	} v[MAX_BINDS];
};

static void w_cond(struct where *w, const char *cond, const char *text, int64_t num)
{
	if (w->n == MAX_BINDS)
		return;
	sb_puts(&w->sql, w->sql.len ? " AND " : " WHERE ");
	sb_puts(&w->sql, cond);
	w->v[w->n].text = text;
	w->v[w->n].num = num;
	w->n++;
}

/* A condition without a value. */
static void w_plain(struct where *w, const char *cond)
{
	sb_puts(&w->sql, w->sql.len ? " AND " : " WHERE ");
	sb_puts(&w->sql, cond);
}

static void w_text(struct where *w, const char *cond, const char *v)
{
	if (v)
		w_cond(w, cond, v, 0);
}

static void w_num(struct where *w, const char *cond, int64_t v)
{
	if (v >= 0)
		w_cond(w, cond, NULL, v);
}

/* The filters that rollups can answer too: box, interface, direction. */
static void where_common(struct where *w, const struct sv_filter *f)
{
	w_text(w, "box = ?", f->box);
	w_text(w, "iface = ?", f->iface);
	w_num(w, "direction = ?", f->direction);
}

/* The filters only the raw records can answer. */
static void where_fields(struct where *w, const struct sv_filter *f)
{
	w_text(w, "src_addr = ?", f->src_addr);
	w_text(w, "dst_addr = ?", f->dst_addr);
	w_num(w, "protocol = ?", f->protocol);
	w_num(w, "ip_version = ?", f->ip_version);
	w_num(w, "src_port = ?", f->src_port);
	w_num(w, "dst_port = ?", f->dst_port);
	w_num(w, "vni = ?", f->vni);
	if (f->addr) {
		w_cond(w, "(src_addr = ?", f->addr, 0);
		w_cond(w, "0 = 0 OR dst_addr = ?)", f->addr, 0);
	}
	if (f->port >= 0) {
		w_cond(w, "(src_port = ?", NULL, f->port);
		w_cond(w, "0 = 0 OR dst_port = ?)", NULL, f->port);
	}
	/* drops is NULL in records stored before the column came */
	if (f->drops >= 0)
		w_cond(w, "(COALESCE(drops, 0) > 0) = ?", NULL, f->drops);
	w_text(w, "EXISTS (SELECT 1 FROM json_each(flows.drop_reasons) WHERE key = ?)", f->reason);
}

/* How long it took (issue 17): a record without a result has 0 there (dns_rcode NULL). */
static void where_latency(struct where *w, const struct sv_filter *f)
{
	w_num(w, "rtt_max_ns >= ?", f->min_rtt_ns);
	w_num(w, "retransmits >= ?", f->min_retransmits);
	w_num(w, "dns_answers > 0 AND dns_latency_sum_ns >= dns_answers * ?", f->min_dns_latency_ns);
	w_num(w, "dns_rcode = ?", f->dns_rcode);
}

static void where_flows(struct where *w, const struct sv_filter *f)
{
	sb_init(&w->sql);
	w->n = 0;
	where_common(w, f);
	w_num(w, "last_ns >= ?", f->since_ns);
	if (f->until_ns != INT64_MAX)
		w_num(w, "last_ns < ?", f->until_ns);
	where_fields(w, f);
	where_latency(w, f);
}

/* Prepares head + where + tail and binds the where's values, then extra ints. */
static sqlite3_stmt *prepare_where(struct sv_conn *c, const char *head, struct where *w,
				   const char *tail, int nextra, const int64_t *extra)
{
	sqlite3_stmt *s = NULL;
	struct sb q;
	int i;

	sb_init(&q);
	sb_puts(&q, head);
	if (w->sql.len)
		sb_puts(&q, w->sql.buf);
	sb_puts(&q, tail);
	if (!sb_failed(&q) && !sb_failed(&w->sql) &&
	    sqlite3_prepare_v2(c->db, q.buf, -1, &s, NULL) == SQLITE_OK) {
		for (i = 0; i < w->n; i++) {
			if (w->v[i].text)
				sqlite3_bind_text(s, i + 1, w->v[i].text, -1, SQLITE_STATIC);
			else
				sqlite3_bind_int64(s, i + 1, w->v[i].num);
		}
		for (i = 0; i < nextra; i++)
			sqlite3_bind_int64(s, w->n + i + 1, extra[i]);
	}
	sb_free(&q);
	sb_free(&w->sql);
	return s;
}

/* Steps through s calling row(ctx) until done, within the store's query budget (then
 * -ETIMEDOUT); finalizes s. */
static int each_row(struct sv_conn *c, sqlite3_stmt *s, int (*row)(sqlite3_stmt *s, void *ctx),
		    void *ctx)
{
	int64_t budget = c->st->base.query_budget_ns;
	int rc, err = 0;

	if (!s)
		return -EIO;
	c->due_ns = budget ? sv_sqlite_mono_ns() + budget : 0;
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW)
		err = row(s, ctx);
	c->due_ns = 0;
	if (!err && rc != SQLITE_DONE)
		err = rc == SQLITE_INTERRUPT ? -ETIMEDOUT : -EIO;
	sqlite3_finalize(s);
	return err;
}

struct box_ctx {
	sv_box_cb cb;
	void *ctx;
};

static int box_row(sqlite3_stmt *s, void *p)
{
	struct box_ctx *b = p;
	struct sv_box_row r = {
		.name = col_text(s, 0),
		.first_seen_ns = sqlite3_column_int64(s, 1),
		.last_seen_ns = sqlite3_column_int64(s, 2),
		.agent_version = col_text(s, 3),
		.interfaces = col_text(s, 4),
		.flows = sqlite3_column_int64(s, 5),
	};

	return b->cb(b->ctx, &r);
}

int sv_sqlite_boxes(struct sv_store *st, sv_box_cb cb, void *ctx)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	struct box_ctx b = { cb, ctx };
	sqlite3_stmt *s = NULL;

	if (!c)
		return -EIO;
	sqlite3_prepare_v2(c->db,
			   "SELECT name, first_seen_ns, last_seen_ns, agent_version, interfaces,"
			   " flows FROM boxes ORDER BY name",
			   -1, &s, NULL);
	return each_row(c, s, box_row, &b);
}

struct flow_ctx {
	sv_flow_row_cb cb;
	void *ctx;
};

static int flow_row(sqlite3_stmt *s, void *p)
{
	struct flow_ctx *fc = p;
	struct sv_flow_row row = { .id = sqlite3_column_int64(s, 0), .box = col_text(s, 1) };

	sv_flow_read(s, 2, &row.rec);
	return fc->cb(fc->ctx, &row);
}

/* A sort column, or the expression of a mean the records keep as sum and count. */
static const char *sort_expr(const char *col)
{
	if (!strcmp(col, "rtt_mean_ns"))
		return "rtt_sum_ns / rtt_samples";
	if (!strcmp(col, "dns_latency_ns"))
		return "dns_latency_sum_ns / dns_answers";
	return col;
}

int sv_sqlite_flows(struct sv_store *st, const struct sv_filter *f, const char *sort, int limit,
		    int offset, sv_flow_row_cb cb, void *ctx)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	struct flow_ctx fc = { cb, ctx };
	int64_t extra[2] = { limit, offset };
	struct where w;
	char tail[160];
	int desc = sort[0] == '-';

	if (!c)
		return -EIO;
	where_flows(&w, f);
	/* id breaks ties so pages never repeat or skip a record. */
	snprintf(tail, sizeof(tail), " ORDER BY %s %s, id %s LIMIT ? OFFSET ?",
		 sort_expr(sort + desc), desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
	return each_row(c, prepare_where(c, sv_flow_select, &w, tail, 2, extra), flow_row, &fc);
}

struct series_ctx {
	size_t n;
	uint64_t *bytes, *packets;
};

static int series_row(sqlite3_stmt *s, void *p)
{
	struct series_ctx *sc = p;
	int64_t b = sqlite3_column_int64(s, 0);

	if (b >= 0 && (size_t)b < sc->n) {
		sc->bytes[b] += sqlite3_column_int64(s, 1);
		sc->packets[b] += sqlite3_column_int64(s, 2);
	}
	return 0;
}

int sv_sqlite_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns, size_t n,
		     uint64_t *bytes, uint64_t *packets)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	struct series_ctx sc = { n, bytes, packets };
	int64_t until_min = f->until_ns / NS_PER_MIN;
	struct where w;
	char head[192];
	int err;

	if (!c || step_ns <= 0)
		return -EIO;
	sb_init(&w.sql);
	w.n = 0;
	where_common(&w, f);
	/* The bucket arithmetic uses numbers computed here, not request text: literals. */
	if (step_ns % NS_PER_MIN == 0 && f->since_ns % NS_PER_MIN == 0) {
		/* Whole minutes come from the rollups; the minute `until` cuts is read raw below,
		 * so nothing after `until` is counted. */
		w_num(&w, "minute >= ?", f->since_ns / NS_PER_MIN);
		w_num(&w, "minute < ?", until_min);
		snprintf(head, sizeof(head),
			 "SELECT (minute - %lld) / %lld AS b, SUM(bytes), SUM(packets)"
			 " FROM rollup_minute",
			 (long long)(f->since_ns / NS_PER_MIN), (long long)(step_ns / NS_PER_MIN));
		err = each_row(c, prepare_where(c, head, &w, " GROUP BY b", 0, NULL), series_row,
			       &sc);
		if (err || until_min * NS_PER_MIN == f->until_ns)
			return err;
		sb_init(&w.sql);
		w.n = 0;
		where_common(&w, f);
		w_num(&w, "last_ns >= ?", until_min * NS_PER_MIN);
	} else {
		w_num(&w, "last_ns >= ?", f->since_ns);
	}
	w_num(&w, "last_ns < ?", f->until_ns);
	snprintf(head, sizeof(head),
		 "SELECT (last_ns - %lld) / %lld AS b, SUM(bytes), SUM(packets) FROM flows",
		 (long long)f->since_ns, (long long)step_ns);
	return each_row(c, prepare_where(c, head, &w, " GROUP BY b", 0, NULL), series_row, &sc);
}

struct top_ctx {
	enum sv_top_by by;
	sv_top_cb cb;
	void *ctx;
};

/* Whether the rollups can answer: narrowed only by box, interface and direction. */
static int rollup_answers(const struct sv_filter *f)
{
	return !f->src_addr && !f->dst_addr && !f->addr && f->protocol < 0 &&
	       f->ip_version < 0 && f->src_port < 0 && f->dst_port < 0 && f->port < 0 &&
	       f->vni < 0 && f->drops < 0 && !f->reason;
}

/* A piece of the range: level's buckets, raw records if level is -1, or window -2 - level;
 * sign -1 for a piece taken away from a window. */
struct piece {
	int level, sign;
	int64_t a, b;
};

/* Covers [s, u) with the coarsest whole buckets the levels hold, recursing into what is left
 * at either side; the rest comes from the raw records. At most 1 + 2 + 4 + 8 pieces. */
static int cover(const struct sv_talk_state *ts, enum sv_top_by by, int64_t s, int64_t u,
		 int sign, struct piece *pc, int n)
{
	int64_t span, a, b;
	int l;

	if (s >= u)
		return n;
	for (l = SV_LEVELS - 1; l >= 0; l--) {
		span = sv_levels[l].span_ns;
		if ((by == SV_TOP_PAIR && !sv_levels[l].pairs) || s > INT64_MAX - span)
			continue;
		a = (s + span - 1) / span * span;
		b = u / span * span;
		a = a > ts->lo[l] ? a : ts->lo[l];
		b = b < ts->done[l] ? b : ts->done[l];
		if (a >= b)
			continue;
		pc[n++] = (struct piece){ l, sign, a, b };
		n = cover(ts, by, s, a, sign, pc, n);
		return cover(ts, by, b, u, sign, pc, n);
	}
	pc[n++] = (struct piece){ -1, sign, s, u };
	return n;
}

/* The whole site's top over [s, u) from a sliding window W ending at T with width w:
 * W - [T - w, s) + [T, u), when s lies in W's first two hours and u at or after T. 0 pieces
 * if no window fits. */
static int cover_window(const struct sv_talk_state *ts, enum sv_top_by by, int64_t s,
			int64_t u, struct piece *pc)
{
	int64_t w, t;
	int i, n;

	for (i = 0; i < SV_WINDOWS; i++) {
		w = sv_windows[i];
		t = ts->win_done[i];
		if (!t || s < t - w || s > t - w + 2 * NS_PER_HOUR || u < t)
			continue;
		pc[0] = (struct piece){ -2 - i, 1, t - w, t };
		n = cover(ts, by, t - w, s, -1, pc, 1);
		return cover(ts, by, t, u, 1, pc, n);
	}
	return 0;
}

/* A piece's (a, b, p, q) as the dimension's fields. */
static int talk_row(sqlite3_stmt *s, void *p)
{
	struct top_ctx *tc = p;
	struct sv_top_row r = {
		.protocol = sqlite3_column_int(s, 2),
		.dst_port = sqlite3_column_int(s, 3),
		.bytes = sqlite3_column_int64(s, 4),
		.packets = sqlite3_column_int64(s, 5),
		.flows = sqlite3_column_int64(s, 6),
	};

	if (tc->by == SV_TOP_SRC || tc->by == SV_TOP_PAIR)
		r.src_addr = col_text(s, 0);
	if (tc->by == SV_TOP_DST)
		r.dst_addr = col_text(s, 0);
	if (tc->by == SV_TOP_PAIR)
		r.dst_addr = col_text(s, 1);
	return tc->cb(tc->ctx, &r);
}

/* What a level's (or window's) piece lacks: its late records not folded in yet (talk.c's
 * talk_late, bit level), from the raw records, with the piece's sign. */
static void late_piece(struct where *w, const struct sv_filter *f, enum sv_top_by by, int bit,
		       const struct piece *pc, const char *neg)
{
	sb_printf(&w->sql, " UNION ALL SELECT %s, %sbytes AS bytes, %spackets AS packets, %s1 AS"
		  " flows FROM flows WHERE id IN (SELECT id FROM talk_late WHERE mask & %d AND"
		  " last_ns >= %lld AND last_ns < %lld) AND %s",
		  sv_top_cols[by], neg, neg, neg, 1 << bit, (long long)pc->a, (long long)pc->b,
		  sv_top_only[by]);
	where_common(w, f);
}

/* One SELECT per piece, summed per key. */
static int top_pieces(struct sv_conn *c, const struct sv_filter *f, enum sv_top_by by,
		      int by_packets, int limit, const struct piece *pc, int n,
		      struct top_ctx *tc)
{
	int site = !f->box && !f->iface && f->direction < 0;
	const struct sv_level *lv;
	int64_t extra[1] = { limit };
	struct where w;
	char end[96];
	int i;

	sb_init(&w.sql);
	w.n = 0;
	for (i = 0; i < n; i++) {
		const char *neg = pc[i].sign < 0 ? "-" : "";

		if (i)
			sb_puts(&w.sql, " UNION ALL ");
		if (pc[i].level <= -2) {
			sb_printf(&w.sql, "SELECT a, b, p, q, bytes, packets, flows FROM talk_win"
				  " WHERE win = %d AND dim = %d", -2 - pc[i].level, by);
			late_piece(&w, f, by, SV_LEVELS - 2 - pc[i].level, &pc[i], neg);
			continue;
		}
		if (pc[i].level < 0) {
			sb_printf(&w.sql, "SELECT %s, %sbytes AS bytes, %spackets AS packets, %s1 AS flows"
				  " FROM flows WHERE %s",
				  sv_top_cols[by], neg, neg, neg, sv_top_only[by]);
			w_num(&w, "last_ns >= ?", pc[i].a);
			w_num(&w, "last_ns < ?", pc[i].b);
			where_common(&w, f);
			where_fields(&w, f);
			continue;
		}
		lv = &sv_levels[pc[i].level];
		/* Bucket by bucket (the primary key leads with it), so each seeks straight to
		 * the dimension's and the box's sums instead of reading every dimension's. */
		sb_printf(&w.sql, "SELECT a, b, p, q, %sbytes, %spackets, %sflows FROM %s WHERE %s IN"
			  " (WITH RECURSIVE k(x) AS (SELECT %lld UNION ALL SELECT x + 1 FROM k"
			  " WHERE x + 1 < %lld) SELECT x FROM k) AND dim = %d%s",
			  neg, neg, neg, lv->table, lv->col, (long long)(pc[i].a / lv->span_ns),
			  (long long)(pc[i].b / lv->span_ns), by,
			  site ? " AND box = '' AND iface = '' AND direction = -1" : "");
		if (!site && !f->box)
			sb_puts(&w.sql, " AND box != ''");
		where_common(&w, f);
		late_piece(&w, f, by, pc[i].level, &pc[i], neg);
	}
	/* A key whose records all lie in a piece taken away sums to no flows: not in range. */
	snprintf(end, sizeof(end), ") GROUP BY a, b, p, q HAVING SUM(flows) > 0 ORDER BY %s DESC"
		 " LIMIT ?", by_packets ? "tp" : "tb");
	return each_row(c,
			prepare_where(c, "SELECT a, b, p, q, SUM(bytes) AS tb, SUM(packets) AS tp,"
				      " SUM(flows) FROM (", &w, end, 1, extra),
			talk_row, tc);
}

int sv_sqlite_top(struct sv_store *st, const struct sv_filter *f, enum sv_top_by by,
		  int by_packets, int limit, sv_top_cb cb, void *ctx)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	struct top_ctx tc = { by, cb, ctx };
	struct sv_talk_state ts;
	struct piece pc[MAX_PIECES];
	int n = 0;

	if (!c)
		return -EIO;
	if (rollup_answers(f)) {
		if (sv_talk_state(c, &ts))
			return -EIO;
		if (!f->box && !f->iface && f->direction < 0)
			n = cover_window(&ts, by, f->since_ns, f->until_ns, pc);
		if (!n)
			n = cover(&ts, by, f->since_ns, f->until_ns, 1, pc, 0);
	}
	/* Other filters: only the raw records answer (an empty range too). */
	if (!n)
		pc[n++] = (struct piece){ -1, 1, f->since_ns, f->until_ns };
	return top_pieces(c, f, by, by_packets, limit, pc, n, &tc);
}

struct alert_ctx {
	sv_alert_cb cb;
	void *ctx;
};

static int alert_row(sqlite3_stmt *s, void *p)
{
	struct alert_ctx *ac = p;
	struct sv_alert a = {
		.id = sqlite3_column_int64(s, 0),
		.first_ns = sqlite3_column_int64(s, 5),
		.last_ns = sqlite3_column_int64(s, 6),
		.flows = sqlite3_column_int64(s, 7),
		.packets = sqlite3_column_int64(s, 8),
		.n_hosts = sqlite3_column_int64(s, 9),
		.n_ports = sqlite3_column_int64(s, 10),
		.n_sources = sqlite3_column_int64(s, 11),
		.hosts = col_text(s, 12),
		.ports = col_text(s, 13),
		.sources = col_text(s, 14),
		.seen_by = col_text(s, 15),
	};

	snprintf(a.type, sizeof(a.type), "%s", col_text(s, 1));
	snprintf(a.severity, sizeof(a.severity), "%s", col_text(s, 2));
	snprintf(a.src, sizeof(a.src), "%s", col_text(s, 3));
	snprintf(a.target, sizeof(a.target), "%s", col_text(s, 4));
	return ac->cb(ac->ctx, &a);
}

int sv_sqlite_alerts(struct sv_store *st, const struct sv_alert_filter *f, int limit, int offset,
		     sv_alert_cb cb, void *ctx)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	struct alert_ctx ac = { cb, ctx };
	sqlite3_stmt *s;

	if (!c)
		return -EIO;
	/* Every filter is bound; a NULL one matches everything. */
	if (sqlite3_prepare_v2(c->db,
			       "SELECT id, type, severity, src, target, first_ns, last_ns, flows,"
			       " packets, n_hosts, n_ports, n_sources, hosts, ports, sources,"
			       " seen_by FROM alerts WHERE last_ns >= ?1 AND first_ns < ?2"
			       " AND (?3 IS NULL OR type = ?3) AND (?4 IS NULL OR severity = ?4)"
			       " AND (?5 IS NULL OR src = ?5)"
			       " AND (?6 IS NULL OR target = ?6 OR instr(char(10) || hosts ||"
			       " char(10), char(10) || ?6 || char(10)) > 0)"
			       " AND (?7 IS NULL OR id IN (SELECT alert FROM alert_boxes"
			       " WHERE box = ?7))"
			       " ORDER BY last_ns DESC, id DESC LIMIT ?8 OFFSET ?9",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, f->since_ns);
	sqlite3_bind_int64(s, 2, f->until_ns);
	sqlite3_bind_text(s, 3, f->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, f->severity, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, f->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, f->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, f->box, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 8, limit);
	sqlite3_bind_int(s, 9, offset);
	return each_row(c, s, alert_row, &ac);
}

/* The one number a one-row, one-column query answers; -1 on error. */
static int64_t scalar(struct sv_store *st, const char *sql)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	sqlite3_stmt *s;
	int64_t v = -1;

	if (!c || sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

int64_t sv_sqlite_size(struct sv_store *st)
{
	return scalar(st, "SELECT (page_count - freelist_count) * page_size FROM"
			  " pragma_page_count, pragma_freelist_count, pragma_page_size");
}

int64_t sv_sqlite_box_count(struct sv_store *st)
{
	return scalar(st, "SELECT COUNT(*) FROM boxes");
}

/* --- Kernel drops (issue 16) ---------------------------------------------------------- */

struct drop_ctx {
	sv_drop_cb cb;
	void *ctx;
};

static int drop_series_row(sqlite3_stmt *s, void *p)
{
	struct drop_ctx *dc = p;
	struct sv_drop_row r = {
		.box = col_text(s, 0),
		.reason = col_text(s, 1),
		.b = sqlite3_column_int64(s, 2),
		.packets = sqlite3_column_int64(s, 3),
	};

	return dc->cb(dc->ctx, &r);
}

int sv_sqlite_drop_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns,
			  sv_drop_cb cb, void *ctx)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	struct drop_ctx dc = { cb, ctx };
	struct sv_filter any = *f;
	struct where w;
	char head[256];

	if (!c || step_ns <= 0)
		return -EIO;
	/* The reason picks the reasons summed, not only the records. */
	any.reason = NULL;
	where_flows(&w, &any);
	w_plain(&w, "drops > 0");
	w_text(&w, "j.key = ?", f->reason);
	snprintf(head, sizeof(head),
		 "SELECT box, j.key, (last_ns - %lld) / %lld AS b, SUM(j.value)"
		 " FROM flows, json_each(flows.drop_reasons) AS j",
		 (long long)f->since_ns, (long long)step_ns);
	return each_row(c, prepare_where(c, head, &w, " GROUP BY box, j.key, b"
					 " ORDER BY box, j.key, b", 0, NULL),
			drop_series_row, &dc);
}

#define DROP_FLOW_KEY "box, iface, direction, eth_type, ip_version, protocol, src_addr," \
		      " dst_addr, src_port, dst_port, icmp_type, icmp_code, vni"

static int drop_flow_row(sqlite3_stmt *s, void *p)
{
	struct drop_ctx *dc = p;
	struct sv_drop_row row = { .box = col_text(s, 0), .b = -1 };
	struct sv_rec r;

	sv_rec_init(&r);
	snprintf(r.iface, sizeof(r.iface), "%s", col_text(s, 1));
	r.direction = sqlite3_column_int(s, 2);
	r.eth_type = sqlite3_column_int(s, 3);
	r.ip_version = sqlite3_column_int(s, 4);
	r.protocol = sqlite3_column_int(s, 5);
	snprintf(r.src_addr, sizeof(r.src_addr), "%s", col_text(s, 6));
	snprintf(r.dst_addr, sizeof(r.dst_addr), "%s", col_text(s, 7));
	r.src_port = sqlite3_column_int(s, 8);
	r.dst_port = sqlite3_column_int(s, 9);
	if (sqlite3_column_type(s, 10) != SQLITE_NULL) {
		r.icmp_type = sqlite3_column_int(s, 10);
		r.icmp_code = sqlite3_column_int(s, 11);
	}
	if (sqlite3_column_type(s, 12) != SQLITE_NULL)
		r.vni = sqlite3_column_int64(s, 12);
	r.first_ns = sqlite3_column_int64(s, 13);
	r.last_ns = sqlite3_column_int64(s, 14);
	r.drops = sqlite3_column_int64(s, 15);
	r.drop_bytes = sqlite3_column_int64(s, 16);
	sv_drop_reasons_sum(col_text(s, 17), &r.drop_reasons);
	row.packets = r.drops;
	row.rec = &r;
	return dc->cb(dc->ctx, &row);
}

int sv_sqlite_drop_flows(struct sv_store *st, const struct sv_filter *f, int limit,
			 sv_drop_cb cb, void *ctx)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	struct drop_ctx dc = { cb, ctx };
	int64_t extra[1] = { limit };
	struct where w;

	if (!c)
		return -EIO;
	where_flows(&w, f);
	w_plain(&w, "drops > 0");
	return each_row(c, prepare_where(c, "SELECT " DROP_FLOW_KEY ", MIN(first_ns),"
					 " MAX(last_ns), SUM(drops) AS d, SUM(drop_bytes),"
					 " json_group_array(json(drop_reasons)) FROM flows",
					 &w, " GROUP BY " DROP_FLOW_KEY " ORDER BY d DESC LIMIT ?",
					 1, extra),
			drop_flow_row, &dc);
}
