// SPDX-License-Identifier: GPL-2.0
/* Reading the store: boxes, flow records, series and top talkers. Filters become a WHERE
 * clause with bound parameters only; column names come from fixed tables, never from the
 * request. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "sb.h"
#include "store_int.h"

#define NS_PER_MIN 60000000000LL
#define NS_PER_HOUR 3600000000000LL
#define MAX_BINDS 24

/* Which records count in each dimension of top talkers. */
static const char *const only[] = {
	[SV_TOP_SRC] = "src_addr IS NOT NULL",
	[SV_TOP_DST] = "dst_addr IS NOT NULL",
	[SV_TOP_PAIR] = "src_addr IS NOT NULL",
	[SV_TOP_PORT] = "protocol IN (6, 17, 132)",
	[SV_TOP_PROTOCOL] = "ip_version > 0",
};

struct where {
	struct sb sql;
	int n;
	struct {
		const char *text;
		int64_t num;
	} v[MAX_BINDS];
};

void sv_filter_init(struct sv_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->direction = f->protocol = f->ip_version = -1;
	f->src_port = f->dst_port = f->port = -1;
	f->vni = -1;
	f->since_ns = 0;
	f->until_ns = INT64_MAX;
}

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

static void where_flows(struct where *w, const struct sv_filter *f)
{
	sb_init(&w->sql);
	w->n = 0;
	where_common(w, f);
	w_num(w, "last_ns >= ?", f->since_ns);
	if (f->until_ns != INT64_MAX)
		w_num(w, "last_ns < ?", f->until_ns);
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

static int64_t col_opt(sqlite3_stmt *s, int i, int64_t absent)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? absent : sqlite3_column_int64(s, i);
}

/* Steps through s calling row(ctx) until done; finalizes s. */
static int each_row(sqlite3_stmt *s, int (*row)(sqlite3_stmt *s, void *ctx), void *ctx)
{
	int rc, err = 0;

	if (!s)
		return -EIO;
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW)
		err = row(s, ctx);
	if (!err && rc != SQLITE_DONE)
		err = -EIO;
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

int sv_store_boxes(struct sv_store *st, sv_box_cb cb, void *ctx)
{
	struct sv_conn *c = sv_store_conn(st);
	struct box_ctx b = { cb, ctx };
	sqlite3_stmt *s = NULL;

	if (!c)
		return -EIO;
	sqlite3_prepare_v2(c->db,
			   "SELECT name, first_seen_ns, last_seen_ns, agent_version, interfaces,"
			   " flows FROM boxes ORDER BY name",
			   -1, &s, NULL);
	return each_row(s, box_row, &b);
}

struct flow_ctx {
	sv_flow_row_cb cb;
	void *ctx;
};

static void copy_text(char *dst, size_t len, sqlite3_stmt *s, int i)
{
	snprintf(dst, len, "%s", col_text(s, i));
}

static int flow_row(sqlite3_stmt *s, void *p)
{
	struct flow_ctx *fc = p;
	struct sv_flow_row row = { .id = sqlite3_column_int64(s, 0), .box = col_text(s, 1) };
	struct sv_rec *r = &row.rec;

	copy_text(r->iface, sizeof(r->iface), s, 2);
	r->direction = sqlite3_column_int(s, 3);
	r->eth_type = sqlite3_column_int(s, 4);
	r->ip_version = sqlite3_column_int(s, 5);
	r->protocol = sqlite3_column_int(s, 6);
	copy_text(r->src_addr, sizeof(r->src_addr), s, 7);
	copy_text(r->dst_addr, sizeof(r->dst_addr), s, 8);
	r->src_port = sqlite3_column_int(s, 9);
	r->dst_port = sqlite3_column_int(s, 10);
	r->icmp_type = col_opt(s, 11, -1);
	r->icmp_code = col_opt(s, 12, -1);
	r->vlan = col_opt(s, 13, 0);
	r->inner_vlan = col_opt(s, 14, 0);
	r->vni = col_opt(s, 15, -1);
	copy_text(r->outer_src_addr, sizeof(r->outer_src_addr), s, 16);
	copy_text(r->outer_dst_addr, sizeof(r->outer_dst_addr), s, 17);
	copy_text(r->src_mac, sizeof(r->src_mac), s, 18);
	copy_text(r->dst_mac, sizeof(r->dst_mac), s, 19);
	r->packets = sqlite3_column_int64(s, 20);
	r->bytes = sqlite3_column_int64(s, 21);
	r->tcp_flags = sqlite3_column_int(s, 22);
	r->first_ns = sqlite3_column_int64(s, 23);
	r->last_ns = sqlite3_column_int64(s, 24);
	copy_text(r->end_reason, sizeof(r->end_reason), s, 25);
	return fc->cb(fc->ctx, &row);
}

int sv_store_flows(struct sv_store *st, const struct sv_filter *f, const char *sort, int limit,
		   int offset, sv_flow_row_cb cb, void *ctx)
{
	struct sv_conn *c = sv_store_conn(st);
	struct flow_ctx fc = { cb, ctx };
	int64_t extra[2] = { limit, offset };
	struct where w;
	char tail[96];
	int desc = sort[0] == '-';

	if (!c)
		return -EIO;
	where_flows(&w, f);
	/* id breaks ties so pages never repeat or skip a record. */
	snprintf(tail, sizeof(tail), " ORDER BY %s %s, id %s LIMIT ? OFFSET ?", sort + desc,
		 desc ? "DESC" : "ASC", desc ? "DESC" : "ASC");
	return each_row(prepare_where(c,
				      "SELECT id, box, iface, direction, eth_type, ip_version,"
				      " protocol, src_addr, dst_addr, src_port, dst_port, icmp_type,"
				      " icmp_code, vlan, inner_vlan, vni, outer_src_addr,"
				      " outer_dst_addr, src_mac, dst_mac, packets, bytes, tcp_flags,"
				      " first_ns, last_ns, end_reason FROM flows",
				      &w, tail, 2, extra),
			flow_row, &fc);
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

int sv_store_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns, size_t n,
		    uint64_t *bytes, uint64_t *packets)
{
	struct sv_conn *c = sv_store_conn(st);
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
		err = each_row(prepare_where(c, head, &w, " GROUP BY b", 0, NULL), series_row, &sc);
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
	return each_row(prepare_where(c, head, &w, " GROUP BY b", 0, NULL), series_row, &sc);
}

struct top_ctx {
	enum sv_top_by by;
	sv_top_cb cb;
	void *ctx;
};

static int top_row(sqlite3_stmt *s, void *p)
{
	struct top_ctx *tc = p;
	struct sv_top_row r = { 0 };
	int i = 0;

	if (tc->by == SV_TOP_SRC || tc->by == SV_TOP_PAIR)
		r.src_addr = col_text(s, i++);
	if (tc->by == SV_TOP_DST || tc->by == SV_TOP_PAIR)
		r.dst_addr = col_text(s, i++);
	if (tc->by == SV_TOP_PORT || tc->by == SV_TOP_PROTOCOL)
		r.protocol = sqlite3_column_int(s, i++);
	if (tc->by == SV_TOP_PORT)
		r.dst_port = sqlite3_column_int(s, i++);
	r.bytes = sqlite3_column_int64(s, i++);
	r.packets = sqlite3_column_int64(s, i++);
	r.flows = sqlite3_column_int64(s, i);
	return tc->cb(tc->ctx, &r);
}

/* Whether talk_hour can answer: a dimension it keeps, narrowed only by box, interface and
 * direction. */
static int rollup_answers(const struct sv_filter *f, enum sv_top_by by)
{
	return by != SV_TOP_PAIR && !f->src_addr && !f->dst_addr && !f->addr && f->protocol < 0 && f->ip_version < 0 &&
	       f->src_port < 0 && f->dst_port < 0 && f->port < 0 && f->vni < 0;
}

/* The rollup's a, b, p, q columns as the dimension's fields. */
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

/* Whole hours from talk_hour, the hour still under way from the raw records. */
static int top_from_rollups(struct sv_conn *c, const struct sv_filter *f, enum sv_top_by by,
			    int by_packets, int limit, int64_t *since_ns, struct top_ctx *tc)
{
	static const char *const raw_cols[] = {
		[SV_TOP_SRC] = "src_addr, '', 0, 0",
		[SV_TOP_DST] = "dst_addr, '', 0, 0",
		[SV_TOP_PAIR] = "src_addr, dst_addr, 0, 0",
		[SV_TOP_PORT] = "'', '', protocol, dst_port",
		[SV_TOP_PROTOCOL] = "'', '', protocol, 0",
	};
	int64_t hour_lo = f->since_ns / NS_PER_HOUR, hour_hi = f->until_ns / NS_PER_HOUR;
	struct sv_filter tail = *f;
	int64_t extra[1] = { limit };
	struct where w;
	char head[256], mid[320], end[96];

	*since_ns = hour_lo * NS_PER_HOUR;
	tail.since_ns = hour_hi * NS_PER_HOUR;
	/* Bind order follows the text: the rollup's conditions, then the raw tail's. */
	sb_init(&w.sql);
	w.n = 0;
	sb_printf(&w.sql, " WHERE dim = %d", by);
	w_num(&w, "hour >= ?", hour_lo);
	w_num(&w, "hour < ?", hour_hi);
	if (!f->box && !f->iface && f->direction < 0)
		sb_puts(&w.sql, " AND box = '' AND iface = '' AND direction = -1");
	else
		sb_puts(&w.sql, " AND box != ''");
	where_common(&w, f);
	snprintf(head, sizeof(head),
		 "SELECT a, b, p, q, SUM(bytes) AS tb, SUM(packets) AS tp, SUM(flows) FROM ("
		 "SELECT a, b, p, q, bytes, packets, flows FROM talk_hour");
	snprintf(mid, sizeof(mid), " UNION ALL SELECT %s, bytes, packets, 1 FROM flows WHERE %s",
		 raw_cols[by], only[by]);
	sb_puts(&w.sql, mid);
	w_num(&w, "last_ns >= ?", tail.since_ns);
	w_num(&w, "last_ns < ?", tail.until_ns);
	where_common(&w, &tail);
	snprintf(end, sizeof(end), ") GROUP BY a, b, p, q ORDER BY %s DESC LIMIT ?",
		 by_packets ? "tp" : "tb");
	return each_row(prepare_where(c, head, &w, end, 1, extra), talk_row, tc);
}

int sv_store_top(struct sv_store *st, const struct sv_filter *f, enum sv_top_by by,
		 int by_packets, int limit, int64_t *since_ns, sv_top_cb cb, void *ctx)
{
	static const char *const cols[] = {
		[SV_TOP_SRC] = "src_addr",
		[SV_TOP_DST] = "dst_addr",
		[SV_TOP_PAIR] = "src_addr, dst_addr",
		[SV_TOP_PORT] = "protocol, dst_port",
		[SV_TOP_PROTOCOL] = "protocol",
	};
	struct sv_conn *c = sv_store_conn(st);
	struct top_ctx tc = { by, cb, ctx };
	int64_t extra[1] = { limit };
	char head[128], tail[160];
	struct where w;

	if (!c)
		return -EIO;
	*since_ns = f->since_ns;
	if (f->until_ns - f->since_ns >= SV_TOP_ROLLUP_NS && rollup_answers(f, by))
		return top_from_rollups(c, f, by, by_packets, limit, since_ns, &tc);
	where_flows(&w, f);
	sb_puts(&w.sql, w.sql.len ? " AND " : " WHERE ");
	sb_puts(&w.sql, only[by]);
	snprintf(head, sizeof(head), "SELECT %s, SUM(bytes) AS b, SUM(packets) AS p, COUNT(*)"
		 " FROM flows", cols[by]);
	snprintf(tail, sizeof(tail), " GROUP BY %s ORDER BY %s DESC LIMIT ?", cols[by],
		 by_packets ? "p" : "b");
	return each_row(prepare_where(c, head, &w, tail, 1, extra), top_row, &tc);
}
