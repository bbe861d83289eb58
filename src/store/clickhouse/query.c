// SPDX-License-Identifier: GPL-2.0
/* Reading the ClickHouse store: boxes, flow records, series, top talkers and sizes. Filters
 * become a WHERE clause of quoted literals and numbers (18.16's HTTP interface has no query
 * parameters); column names come from fixed tables or the caller's checked sort, never from
 * the request. Sums of the SummingMergeTree tables are summed again: merges finish late. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "ch_int.h"
#include "log.h"

static void w_and(struct sb *w)
{
	sb_puts(w, w->len ? " AND " : " WHERE ");
}

static void w_text(struct sb *w, const char *col, const char *v)
{
	if (!v)
		return;
	w_and(w);
	sb_printf(w, "%s = ", col);
	ch_quote(w, v);
}

static void w_num(struct sb *w, const char *cond, int64_t v)
{
	if (v < 0)
		return;
	w_and(w);
	sb_printf(w, cond, (long long)v);
}

/* The filters the per-minute sums can answer too: box, interface, direction. */
static void where_common(struct sb *w, const struct sv_filter *f)
{
	w_text(w, "box", f->box);
	w_text(w, "iface", f->iface);
	w_num(w, "direction = %lld", f->direction);
}

/* Whether f filters at most by box, interface and direction: what the sums can answer. */
static int only_common(const struct sv_filter *f)
{
	return !f->src_addr && !f->dst_addr && !f->addr && f->protocol < 0 && f->ip_version < 0 &&
	       f->src_port < 0 && f->dst_port < 0 && f->port < 0 && f->vni < 0 && f->drops < 0 &&
	       !f->reason && f->min_rtt_ns < 0 && f->min_retransmits < 0 &&
	       f->min_dns_latency_ns < 0 && f->dns_rcode < 0;
}

/* Kernel drops (issue 16): drop_reasons holds the JSON object {"REASON":packets,...}. */
static void where_drops(struct sb *w, const struct sv_filter *f)
{
	w_num(w, "(drops > 0) = %lld", f->drops);
	if (f->reason) {
		w_and(w);
		sb_puts(w, "position(drop_reasons, concat('\"', ");
		ch_quote(w, f->reason);
		sb_puts(w, ", '\":')) > 0");
	}
}

static void where_fields(struct sb *w, const struct sv_filter *f)
{
	w_text(w, "src_addr", f->src_addr);
	w_text(w, "dst_addr", f->dst_addr);
	w_num(w, "protocol = %lld", f->protocol);
	w_num(w, "ip_version = %lld", f->ip_version);
	w_num(w, "src_port = %lld", f->src_port);
	w_num(w, "dst_port = %lld", f->dst_port);
	w_num(w, "vni = %lld", f->vni);
	if (f->addr) {
		w_and(w);
		sb_puts(w, "(src_addr = ");
		ch_quote(w, f->addr);
		sb_puts(w, " OR dst_addr = ");
		ch_quote(w, f->addr);
		sb_putc(w, ')');
	}
	if (f->port >= 0)
		sb_printf(w, "%s(src_port = %d OR dst_port = %d)", w->len ? " AND " : " WHERE ",
			  f->port, f->port);
	where_drops(w, f);
	/* How long it took (issue 17), as the SQLite store asks it. */
	w_num(w, "rtt_max_ns >= %lld", f->min_rtt_ns);
	w_num(w, "retransmits >= %lld", f->min_retransmits);
	w_num(w, "dns_answers > 0 AND dns_latency_sum_ns >= dns_answers * %lld",
	      f->min_dns_latency_ns);
	w_num(w, "dns_rcode = %lld", f->dns_rcode);
}

/* The raw records' time range [since, until) in ns, of their times in ms (ch_ms_ceil); the
 * day column lets ClickHouse skip whole partitions. */
static void where_time(struct sb *w, int64_t since, int64_t until)
{
	w_num(w, "last_ms >= %lld", ch_ms_ceil(since));
	w_num(w, "day >= toDate(toDateTime(intDiv(%lld, 1000000000)))", since);
	if (until != INT64_MAX) {
		w_num(w, "last_ms < %lld", ch_ms_ceil(until));
		w_num(w, "day <= toDate(toDateTime(intDiv(%lld, 1000000000)))", until);
	}
}

/* Runs sql (built in s, freed here); the answer into out. */
static int fetch(struct sv_ch *ch, struct sb *s, struct sb *out)
{
	char err[256];
	int ret;

	sb_init(out);
	sb_puts(s, " FORMAT TabSeparated");
	ret = sb_failed(s) ? -ENOMEM : ch_run(ch, -1, s->buf, out, err, sizeof(err));
	if (ret)
		pr_warn("clickhouse: %s\n", err);
	sb_free(s);
	return ret;
}

/* Calls row for each row of an answer, and frees it. */
static int walk(struct sb *out, int (*row)(struct ch_rows *r, void *ctx), void *ctx)
{
	struct ch_rows r;
	int ret = 0;

	ch_rows_init(&r, out);
	while (!ret && ch_next(&r))
		ret = row(&r, ctx);
	sb_free(out);
	return ret;
}

/* Runs sql (built in s, freed here) and calls row for each answer row. */
static int each_row(struct sv_ch *ch, struct sb *s, int (*row)(struct ch_rows *r, void *ctx),
		    void *ctx)
{
	struct sb out;
	int ret = fetch(ch, s, &out);

	if (ret) {
		sb_free(&out);
		return ret;
	}
	return walk(&out, row, ctx);
}

struct cb_ctx {
	void *cb, *ctx;
	enum sv_top_by by;
	size_t n;
	uint64_t *bytes, *packets;
};

static int box_row(struct ch_rows *r, void *p)
{
	struct cb_ctx *c = p;
	struct sv_box_row b = {
		.name = ch_str(r, 0),
		.first_seen_ns = ch_i64(r, 1),
		.last_seen_ns = ch_i64(r, 2),
		.agent_version = ch_str(r, 3),
		.interfaces = ch_str(r, 4),
		.flows = ch_i64(r, 5),
	};

	return ((sv_box_cb)c->cb)(c->ctx, &b);
}

int ch_boxes(struct sv_store *st, sv_box_cb cb, void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	struct cb_ctx c = { .cb = (void *)cb, .ctx = ctx };
	struct sb s;

	sb_init(&s);
	sb_printf(&s, "SELECT name, min(seen_ns), max(seen_ns), argMax(agent_version, seen_ns),"
		  " argMax(interfaces, seen_ns), sum(flows) FROM %s GROUP BY name ORDER BY name",
		  CH_T(ch, "box_seen"));
	return each_row(ch, &s, box_row, &c);
}

static int flow_row(struct ch_rows *r, void *p)
{
	struct cb_ctx *c = p;
	struct sv_flow_row row = { .id = ch_i64(r, 0), .box = ch_str(r, 1) };

	ch_flow_read(r, 2, &row.rec);
	return ((sv_flow_row_cb)c->cb)(c->ctx, &row);
}

/* A sort column, or the expression of a mean the records keep as sum and count. */
static const char *sort_expr(const char *col)
{
	if (!strcmp(col, "last_ns"))
		return "last_ms";
	if (!strcmp(col, "first_ns"))
		return "first_ms";
	if (!strcmp(col, "rtt_mean_ns"))
		return "if(rtt_samples = 0, 0, intDiv(rtt_sum_ns, rtt_samples))";
	if (!strcmp(col, "dns_latency_ns"))
		return "if(dns_answers = 0, 0, intDiv(dns_latency_sum_ns, dns_answers))";
	return col;
}

/* Fetches a page of flows at least as new as since (ns) into out. */
static int flows_page(struct sv_ch *ch, const struct sv_filter *f, int64_t since,
		      const char *sort, int limit, int offset, struct sb *out)
{
	int desc = sort[0] == '-';
	struct sb pre, w, s;

	sb_init(&pre);
	sb_init(&w);
	sb_init(&s);
	where_common(&w, f);
	where_time(&w, since, f->until_ns);
	/* id breaks ties so pages never repeat or skip a record. ClickHouse moves no condition
	 * on a sort key column to PREWHERE by itself: without it, every column of each granule
	 * of the range's days is read, not only of those holding records at least since. The
	 * fields' conditions go there too (an explicit PREWHERE keeps ClickHouse from moving
	 * any): the other columns are then read only for the records they take (an address's
	 * newest page in bench/clickhouse.sh's dense stretch: 8.8 MB read, not 23.5). */
	sb_printf(&pre, " PREWHERE last_ms >= %lld", (long long)ch_ms_ceil(since));
	where_fields(&pre, f);
	sb_printf(&s, "SELECT id, box%s FROM %s%s%s ORDER BY %s %s, id %s LIMIT %d, %d",
		  ch_flow_cols, CH_T(ch, "flows"), pre.buf ? pre.buf : "", w.buf ? w.buf : "",
		  sort_expr(sort + desc), desc ? "DESC" : "ASC", desc ? "DESC" : "ASC", offset,
		  limit);
	sb_free(&pre);
	sb_free(&w);
	return fetch(ch, &s, out);
}

/* The time (ns) of the n-th newest record of [since, until) that f takes, reading only the
 * columns the filters name: into *bound, or -1 if the range has fewer than n. */
static int nth_newest(struct sv_ch *ch, const struct sv_filter *f, int64_t since, int64_t n,
		      int64_t *bound)
{
	struct sb w, s, out;
	int ret;

	sb_init(&w);
	sb_init(&s);
	where_common(&w, f);
	where_time(&w, since, f->until_ns);
	where_fields(&w, f);
	sb_printf(&s, "SELECT last_ms FROM %s%s ORDER BY last_ms DESC LIMIT %lld, 1",
		  CH_T(ch, "flows"), w.buf ? w.buf : "", (long long)n - 1);
	sb_free(&w);
	ret = fetch(ch, &s, &out);
	*bound = !ret && out.buf && out.len ? strtoll(out.buf, NULL, 10) * CH_NS_PER_MS : -1;
	sb_free(&out);
	return ret;
}

/* Runs sql (built in s, freed here) that answers (unit, records) rows, the newest unit
 * first: the start of the unit by which they add up to n records, or -1. */
static int64_t count_back(struct sv_ch *ch, struct sb *s, int64_t n, int64_t unit)
{
	int64_t from = -1, seen = 0;
	struct ch_rows r;
	struct sb out;

	if (fetch(ch, s, &out)) {
		sb_free(&out);
		return -1;
	}
	ch_rows_init(&r, &out);
	while (from < 0 && ch_next(&r)) {
		seen += ch_i64(&r, 1);
		if (seen >= n)
			from = ch_i64(&r, 0) * unit;
	}
	sb_free(&out);
	return from;
}

/* The start of the newest unit (col of table, unit ns long) by which the units the address
 * was seen in from since to end hold n records, or -1. Each unit holds a record at least,
 * so the newest n units are all it takes. */
static int64_t addr_units(struct sv_ch *ch, const char *addr, int64_t since, int64_t end,
			  int64_t n, const char *table, const char *col, int64_t unit)
{
	struct sb s;

	sb_init(&s);
	sb_printf(&s, "SELECT %s, sum(flows) FROM %s WHERE addr = ", col, table);
	ch_quote(&s, addr);
	sb_printf(&s, " AND %s >= %lld AND %s <= %lld AND day >= toDate(toDateTime("
		  "intDiv(%lld, 1000000000))) GROUP BY %s ORDER BY %s DESC LIMIT %lld", col,
		  (long long)(since / unit), col, (long long)(end / unit), (long long)since, col,
		  col, (long long)n);
	return count_back(ch, &s, n, unit);
}

/* With an address filter: the start of the newest minute by which the minutes the address
 * was seen in (addr_minute) hold n records, into *minute; the start of the newest second by
 * which the seconds it was dense in (addr_sec, a lower bound: schema.c's addr_sec_mv) hold them, if
 * later, as the shorter read; -1 if the range holds fewer. More filters, the range's end or a
 * sum counted twice can make either too late: nth_newest checks them. Two plain queries, not
 * one UNION ALL: on a busy 18.16 that took 5 ms, each of them 1. */
static int64_t addr_since(struct sv_ch *ch, const struct sv_filter *f, int64_t end, int64_t n,
			  int64_t *minute)
{
	int64_t sec;

	*minute = addr_units(ch, f->addr, f->since_ns, end, n, CH_T(ch, "addr_minute"), "minute",
			     CH_NS_PER_MIN);
	if (*minute < 0)
		return -1;
	sec = addr_units(ch, f->addr, *minute, end, n, CH_T(ch, "addr_sec"), "sec", 1000000000LL);
	return sec > *minute ? sec : *minute;
}

/* Filtered at most by box, interface and direction: the start of the newest 10 seconds by
 * which the 10-s sums (rollup_10s) hold n records, looking back a day at most; or -1. The
 * range's end can make that too late: nth_newest checks it. */
static int64_t ten_since(struct sv_ch *ch, const struct sv_filter *f, int64_t end, int64_t n)
{
	int64_t since = f->since_ns;
	struct sb w, s;

	if (since < end - 1440 * CH_NS_PER_MIN)
		since = end - 1440 * CH_NS_PER_MIN;
	sb_init(&w);
	sb_init(&s);
	where_common(&w, f);
	w_num(&w, "ten >= %lld", since / CH_NS_PER_TEN);
	w_num(&w, "ten <= %lld", end / CH_NS_PER_TEN);
	w_num(&w, "day >= toDate(toDateTime(intDiv(%lld, 1000000000)))", since);
	sb_printf(&s, "SELECT ten, sum(flows) FROM %s%s GROUP BY ten ORDER BY ten DESC",
		  CH_T(ch, "rollup_10s"), w.buf);
	sb_free(&w);
	return count_back(ch, &s, n, CH_NS_PER_TEN);
}

/* The start of the i-th window to look for the newest need records of in, each wider than
 * the one before: from the sums first where they can say, then the last minute, hour, day,
 * then the whole range. With an address filter: the later of addr_since's two, the earlier
 * (kept in *addr_w meanwhile), then the whole range. */
static int64_t newest_window(struct sv_ch *ch, const struct sv_filter *f, int64_t end,
			     int64_t need, int64_t *addr_w, size_t i)
{
	static const int64_t windows[] = { CH_NS_PER_MIN, 60 * CH_NS_PER_MIN,
					   1440 * CH_NS_PER_MIN };
	int64_t w;

	if (f->addr && !i) {
		w = addr_since(ch, f, end, need, addr_w);
		if (*addr_w == w) /* one window: the whole range after it */
			*addr_w = -1;
		return w;
	}
	if (f->addr)
		return i == 1 ? *addr_w : f->since_ns;
	if (only_common(f)) {
		if (!i)
			return ten_since(ch, f, end, need);
		i--;
	}
	return i < sizeof(windows) / sizeof(windows[0]) ? end - windows[i] : f->since_ns;
}

/* The newest records first (the dashboard's default) would read every column of the whole
 * range to sort it: ClickHouse 18.16 does not read a table in its sort order. So the
 * time of the page's last record is found first on the narrow columns of a short window
 * (the 10 seconds the sums say hold the page; with an address filter the seconds or minutes
 * it was seen in; with other filters the last minute, hour, day), and only records at least
 * that new are read whole. */
int ch_flows(struct sv_store *st, const struct sv_filter *f, const char *sort, int limit,
	     int offset, sv_flow_row_cb cb, void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	struct cb_ctx c = { .cb = (void *)cb, .ctx = ctx };
	int64_t end = f->until_ns, bound = -1, need = (int64_t)offset + limit, w, addr_w = -1;
	struct timespec now;
	struct sb out;
	size_t i;
	int ret = 0;

	sb_init(&out);
	if (end == INT64_MAX) {
		clock_gettime(CLOCK_REALTIME, &now);
		end = now.tv_sec * 1000000000LL;
	}
	for (i = 0; !strcmp(sort, "-last_ns") && limit > 0 && !ret && bound < 0; i++) {
		w = newest_window(ch, f, end, need, &addr_w, i);
		if (w < f->since_ns)
			w = f->since_ns;
		ret = nth_newest(ch, f, w, need, &bound);
		if (w == f->since_ns)
			break;
	}
	if (!ret)
		ret = flows_page(ch, f, bound >= 0 ? bound : f->since_ns, sort, limit, offset, &out);
	if (ret) {
		sb_free(&out);
		return ret;
	}
	return walk(&out, flow_row, &c);
}

static int series_row(struct ch_rows *r, void *p)
{
	struct cb_ctx *c = p;
	int64_t b = ch_i64(r, 0);

	if (b >= 0 && (size_t)b < c->n) {
		c->bytes[b] += strtoull(ch_str(r, 1), NULL, 10);
		c->packets[b] += strtoull(ch_str(r, 2), NULL, 10);
	}
	return 0;
}

/* The series' sums, coarsest first: a step and start both in whole units of one read it. */
static const struct {
	const char *table, *local, *col;
	int64_t ns;
} series_sums[] = {
	{ "rollup_minute", "rollup_minute_local", "minute", CH_NS_PER_MIN },
	{ "rollup_10s", "rollup_10s_local", "ten", CH_NS_PER_TEN },
};

int ch_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns, size_t n,
	      uint64_t *bytes, uint64_t *packets)
{
	struct sv_ch *ch = sv_ch(st);
	struct cb_ctx c = { .n = n, .bytes = bytes, .packets = packets };
	int64_t since = f->since_ns, unit, until_u;
	struct sb w, s;
	size_t i;
	int err;

	if (step_ns <= 0)
		return -EIO;
	for (i = 0; i < sizeof(series_sums) / sizeof(series_sums[0]); i++)
		if (step_ns % series_sums[i].ns == 0 && since % series_sums[i].ns == 0)
			break;
	sb_init(&w);
	sb_init(&s);
	where_common(&w, f);
	if (i < sizeof(series_sums) / sizeof(series_sums[0])) {
		/* Whole units from the sums; the unit until cuts from the raw records below,
		 * so nothing after until is counted. */
		unit = series_sums[i].ns;
		until_u = f->until_ns / unit;
		w_and(&w);
		sb_printf(&w, "%s >= %lld AND %s < %lld", series_sums[i].col,
			  (long long)(since / unit), series_sums[i].col, (long long)until_u);
		sb_printf(&s, "SELECT intDiv(%s - %lld, %lld) AS b, sum(bytes), sum(packets)"
			  " FROM %s%s GROUP BY b", series_sums[i].col, (long long)(since / unit),
			  (long long)(step_ns / unit),
			  ch->cluster[0] ? series_sums[i].table : series_sums[i].local, w.buf);
		sb_free(&w);
		err = each_row(ch, &s, series_row, &c);
		if (err || until_u * unit == f->until_ns)
			return err;
		sb_init(&w);
		sb_init(&s);
		where_common(&w, f);
		where_time(&w, until_u * unit, f->until_ns);
	} else {
		where_time(&w, since, f->until_ns);
	}
	sb_printf(&s, "SELECT intDiv(last_ms * 1000000 - %lld, %lld) AS b, sum(bytes), sum(packets)"
		  " FROM %s%s GROUP BY b", (long long)since, (long long)step_ns,
		  CH_T(ch, "flows"), w.buf ? w.buf : "");
	sb_free(&w);
	return each_row(ch, &s, series_row, &c);
}

/* What each dimension groups by, as (a, b, p, q), and which records count: as the
 * per-minute sums (schema.c's talk views) have them. */
static const char *const top_cols[] = {
	[SV_TOP_SRC] = "src_addr AS a, '' AS b, toUInt16(0) AS p, toUInt16(0) AS q",
	[SV_TOP_DST] = "dst_addr AS a, '' AS b, toUInt16(0) AS p, toUInt16(0) AS q",
	[SV_TOP_PAIR] = "src_addr AS a, dst_addr AS b, toUInt16(0) AS p, toUInt16(0) AS q",
	[SV_TOP_PORT] = "'' AS a, '' AS b, toUInt16(protocol) AS p, dst_port AS q",
	[SV_TOP_PROTOCOL] = "'' AS a, '' AS b, toUInt16(protocol) AS p, toUInt16(0) AS q",
};

static const char *const top_only[] = {
	[SV_TOP_SRC] = "src_addr != ''",
	[SV_TOP_DST] = "dst_addr != ''",
	[SV_TOP_PAIR] = "src_addr != ''",
	[SV_TOP_PORT] = "protocol IN (6, 17, 132)",
	[SV_TOP_PROTOCOL] = "ip_version > 0",
};

static int top_row(struct ch_rows *r, void *p)
{
	struct cb_ctx *c = p;
	struct sv_top_row t = {
		.protocol = (int)ch_i64(r, 2),
		.dst_port = (int)ch_i64(r, 3),
		.bytes = strtoull(ch_str(r, 4), NULL, 10),
		.packets = strtoull(ch_str(r, 5), NULL, 10),
		.flows = strtoull(ch_str(r, 6), NULL, 10),
	};

	if (c->by == SV_TOP_SRC || c->by == SV_TOP_PAIR)
		t.src_addr = ch_str(r, 0);
	if (c->by == SV_TOP_DST)
		t.dst_addr = ch_str(r, 0);
	if (c->by == SV_TOP_PAIR)
		t.dst_addr = ch_str(r, 1);
	return ((sv_top_cb)c->cb)(c->ctx, &t);
}

/* The raw records of [since, until) as (a, b, p, q, bytes, packets, flows) rows. */
static void top_raw(struct sv_ch *ch, struct sb *s, const struct sv_filter *f,
		    enum sv_top_by by, int64_t since, int64_t until)
{
	struct sb w;

	sb_init(&w);
	sb_printf(&w, " WHERE %s", top_only[by]);
	where_common(&w, f);
	where_time(&w, since, until);
	where_fields(&w, f);
	sb_printf(s, "SELECT %s, bytes, packets, toUInt64(1) AS flows FROM %s%s", top_cols[by],
		  CH_T(ch, "flows"), w.buf);
	sb_free(&w);
}

/* The sums' levels: the per-minute and per-hour tables, each with its unit. */
static const struct {
	const char *table, *local, *col;
	int64_t ns;
} levels[] = {
	{ "talk_minute", "talk_minute_local", "minute", CH_NS_PER_MIN },
	{ "talk_hour", "talk_hour_local", "hour", 60 * CH_NS_PER_MIN },
};

/* The dim of level lv's rows that hold dimension by, and the condition on them (*cond). Per
 * minute, sources and destinations are those of the pairs (schema v6): rows of their own
 * took 2 of a record's bytes on disk, and pair rows per minute are few. */
static int sums_dim(enum sv_top_by by, int lv, const char **cond)
{
	int pairs = !lv && (by == SV_TOP_SRC || by == SV_TOP_DST);

	if (pairs && by == SV_TOP_DST)
		*cond = " AND b != ''";
	else
		*cond = by == SV_TOP_SRC || by == SV_TOP_PAIR ? " AND a != ''" : "";
	return pairs ? SV_TOP_PAIR : by;
}

/* The rows of table t that where takes (of dim, sums_dim's) as dimension by's (a, b, p, q,
 * bytes, packets, flows). */
static void top_sums(struct sb *s, enum sv_top_by by, int dim, const char *t, const char *where)
{
/* A Distributed table's answer refuses a constant where its shards' parts of a UNION ALL
 * have a column ("Cannot convert column b because it is non constant"). */
#define NO_B "materialize('') AS b"

	if (dim == (int)by)
		sb_printf(s, "SELECT a, b, p, q, bytes, packets, flows FROM %s%s", t, where);
	else if (by == SV_TOP_SRC)
		sb_printf(s, "SELECT a, " NO_B ", p, q, bytes, packets, flows FROM %s%s", t, where);
	else /* b is a name and an alias here: the pairs' b goes through d */
		sb_printf(s, "SELECT d AS a, " NO_B ", p, q, bytes, packets, flows FROM (SELECT b AS"
			  " d, p, q, bytes, packets, flows FROM %s%s)", t, where);
}

/* [since, until) as rows of (a, b, p, q, bytes, packets, flows), each part after the first
 * UNION ALL'd: the whole units of level lv (and the ones below it) from its sums, the edges
 * from the level below, the last edges from the raw records. */
static void top_span(struct sv_ch *ch, struct sb *s, const struct sv_filter *f,
		     enum sv_top_by by, int64_t since, int64_t until, int lv, int *parts)
{
	int64_t unit = lv >= 0 ? levels[lv].ns : 1, a, b;
	const char *cond;
	struct sb w;
	int dim;

	if (lv < 0 || since > INT64_MAX - unit) {
		sb_puts(s, (*parts)++ ? " UNION ALL " : "");
		top_raw(ch, s, f, by, since, until);
		return;
	}
	a = (since + unit - 1) / unit * unit;
	b = until / unit * unit;
	if (a >= b) {
		top_span(ch, s, f, by, since, until, lv - 1, parts);
		return;
	}
	sb_init(&w);
	dim = sums_dim(by, lv, &cond);
	sb_printf(&w, " WHERE dim = %d%s", dim, cond);
	where_common(&w, f);
	sb_printf(&w, " AND %s >= %lld AND %s < %lld", levels[lv].col, (long long)(a / unit),
		  levels[lv].col, (long long)(b / unit));
	w_num(&w, "day >= toDate(toDateTime(intDiv(%lld, 1000000000)))", a);
	w_num(&w, "day <= toDate(toDateTime(intDiv(%lld, 1000000000)))", b);
	sb_puts(s, (*parts)++ ? " UNION ALL " : "");
	top_sums(s, by, dim, ch->cluster[0] ? levels[lv].table : levels[lv].local, w.buf);
	sb_free(&w);
	if (since < a)
		top_span(ch, s, f, by, since, a, lv - 1, parts);
	if (b < until)
		top_span(ch, s, f, by, b, until, lv - 1, parts);
}

/* Filtered at most by box, interface and direction, the whole hours and minutes of the
 * range come from the sums and its edges from the raw records; other filters read the raw
 * records. The answer is exact either way. */
int ch_top(struct sv_store *st, const struct sv_filter *f, enum sv_top_by by, int by_packets,
	   int limit, sv_top_cb cb, void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	struct cb_ctx c = { .cb = (void *)cb, .ctx = ctx, .by = by };
	int sums = only_common(f);
	int parts = 0;
	struct sb s;

	sb_init(&s);
	sb_puts(&s, "SELECT a, b, p, q, sum(bytes) AS tb, sum(packets) AS tp, sum(flows) FROM (");
	top_span(ch, &s, f, by, f->since_ns, f->until_ns, sums ? 1 : -1, &parts);
	sb_printf(&s, ") GROUP BY a, b, p, q ORDER BY %s DESC, a, b, p, q LIMIT %d",
		  by_packets ? "tp" : "tb", limit);
	return each_row(ch, &s, top_row, &c);
}

static int64_t scalar(struct sv_ch *ch, struct sb *s)
{
	struct sb out;
	char err[256];
	int64_t v = -1;

	sb_init(&out);
	sb_puts(s, " FORMAT TabSeparated");
	if (!sb_failed(s) && !ch_run(ch, -1, s->buf, &out, err, sizeof(err)) && out.buf)
		v = strtoll(out.buf, NULL, 10);
	sb_free(&out);
	sb_free(s);
	return v;
}

/* Every shard's parts: asked of each shard, as system tables are per server. */
int64_t ch_size(struct sv_store *st)
{
	struct sv_ch *ch = sv_ch(st);
	char sql[256], err[256];
	int64_t total = 0;
	struct sb out;
	int k;

	snprintf(sql, sizeof(sql), "SELECT sum(bytes_on_disk) FROM system.parts WHERE"
		 " database = '%s' AND active FORMAT TabSeparated", ch->db);
	for (k = 0; k < ch->n_shards; k++) {
		sb_init(&out);
		if (ch_run(ch, k, sql, &out, err, sizeof(err)) || !out.buf) {
			sb_free(&out);
			return -1;
		}
		total += strtoll(out.buf, NULL, 10);
		sb_free(&out);
	}
	return total;
}

int64_t ch_box_count(struct sv_store *st)
{
	struct sv_ch *ch = sv_ch(st);
	struct sb s;

	sb_init(&s);
	sb_printf(&s, "SELECT uniqExact(name) FROM %s", CH_T(ch, "box_seen"));
	return scalar(ch, &s);
}

/* --- Kernel drops (issue 16) ---------------------------------------------------------- */

/* Each record's drop_reasons object as (reason, packets) rows: ClickHouse 18.16 has no JSON
 * object functions, but ARRAY JOIN of two arrays of one length pairs them up. */
#define DROP_PAIRS " ARRAY JOIN extractAll(drop_reasons, '\"([^\"]+)\":') AS reason," \
		   " extractAll(drop_reasons, ':([0-9]+)') AS n"

static int drop_series_row(struct ch_rows *r, void *p)
{
	struct cb_ctx *c = p;
	struct sv_drop_row row = {
		.box = ch_str(r, 0),
		.reason = ch_str(r, 1),
		.b = ch_i64(r, 2),
		.packets = strtoull(ch_str(r, 3), NULL, 10),
	};

	return ((sv_drop_cb)c->cb)(c->ctx, &row);
}

int ch_drop_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns,
		   sv_drop_cb cb, void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	struct cb_ctx c = { .cb = (void *)cb, .ctx = ctx };
	struct sv_filter any = *f;
	struct sb w, s;

	if (step_ns <= 0)
		return -EIO;
	/* The reason picks the reasons summed, not only the records. */
	any.reason = NULL;
	sb_init(&w);
	sb_init(&s);
	where_common(&w, &any);
	where_time(&w, any.since_ns, any.until_ns);
	where_fields(&w, &any);
	w_and(&w);
	sb_puts(&w, "drops > 0");
	w_text(&w, "reason", f->reason);
	sb_printf(&s, "SELECT box, reason, intDiv(last_ms * 1000000 - %lld, %lld) AS b,"
		  " sum(toUInt64(n))"
		  " FROM %s" DROP_PAIRS "%s GROUP BY box, reason, b ORDER BY box, reason, b",
		  (long long)f->since_ns, (long long)step_ns, CH_T(ch, "flows"),
		  w.buf ? w.buf : "");
	sb_free(&w);
	return each_row(ch, &s, drop_series_row, &c);
}

#define DROP_FLOW_KEY "box, iface, direction, eth_type, ip_version, protocol, src_addr," \
		      " dst_addr, src_port, dst_port, icmp_type, icmp_code, vni"

static int drop_flow_row(struct ch_rows *r, void *p)
{
	struct cb_ctx *c = p;
	struct sv_drop_row row = { .box = ch_str(r, 0), .b = -1 };
	struct sv_rec rec;

	sv_rec_init(&rec);
	snprintf(rec.iface, sizeof(rec.iface), "%s", ch_str(r, 1));
	rec.direction = ch_i64(r, 2);
	rec.eth_type = ch_i64(r, 3);
	rec.ip_version = ch_i64(r, 4);
	rec.protocol = ch_i64(r, 5);
	snprintf(rec.src_addr, sizeof(rec.src_addr), "%s", ch_str(r, 6));
	snprintf(rec.dst_addr, sizeof(rec.dst_addr), "%s", ch_str(r, 7));
	rec.src_port = ch_i64(r, 8);
	rec.dst_port = ch_i64(r, 9);
	rec.icmp_type = ch_i64(r, 10);
	rec.icmp_code = ch_i64(r, 11);
	rec.vni = ch_i64(r, 12);
	rec.first_ns = strtoull(ch_str(r, 13), NULL, 10);
	rec.last_ns = strtoull(ch_str(r, 14), NULL, 10);
	rec.drops = strtoull(ch_str(r, 15), NULL, 10);
	rec.drop_bytes = strtoull(ch_str(r, 16), NULL, 10);
	sv_drop_reasons_sum(ch_str(r, 17), &rec.drop_reasons);
	row.packets = rec.drops;
	row.rec = &rec;
	return ((sv_drop_cb)c->cb)(c->ctx, &row);
}

int ch_drop_flows(struct sv_store *st, const struct sv_filter *f, int limit, sv_drop_cb cb,
		  void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	struct cb_ctx c = { .cb = (void *)cb, .ctx = ctx };
	struct sb w, s;

	sb_init(&w);
	sb_init(&s);
	where_common(&w, f);
	where_time(&w, f->since_ns, f->until_ns);
	where_fields(&w, f);
	w_and(&w);
	sb_puts(&w, "drops > 0");
	sb_printf(&s, "SELECT " DROP_FLOW_KEY ", min(first_ms) * 1000000, max(last_ms) * 1000000,"
		  " sum(drops) AS d,"
		  " sum(drop_bytes), concat('[', arrayStringConcat(groupArray(drop_reasons), ','), ']') FROM %s%s"
		  " GROUP BY " DROP_FLOW_KEY " ORDER BY d DESC LIMIT %d",
		  CH_T(ch, "flows"), w.buf ? w.buf : "", limit);
	sb_free(&w);
	return each_row(ch, &s, drop_flow_row, &c);
}
