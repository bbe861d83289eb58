// SPDX-License-Identifier: GPL-2.0
/* The ClickHouse backend's side of the analyser (post/analyse.c, docs/scale-out.md): the
 * posts of one store elect one of them to run the detector and the trajectory join over
 * the whole site, and that one reads what every post stored back from the store.
 *
 * fps     the batches' trajectory fingerprints, inserted in the same group insert as their
 *         records (ingest.c), before them: records stored means fingerprints stored
 * feed    one row per stored batch, written after its records and before its done mark:
 *         when (the writer's clock), the batch's hash (the records' ids' high bits) and the
 *         range of its records' times, so a reader finds them by the sort key's box
 * posts   heartbeats: each post's newest row says when it beat, whether it analyses and the
 *         feed's watermark, so a post taking over knows where to start */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "ch_int.h"
#include "log.h"

#define FEED_CHUNK 256 /* batches whose records one read fetches */

static const struct {
	const char *name, *cols, *engine;
} tables[] = {
	{ "fps", "day Date, box String, bid UInt64, hash UInt64, ts_ns Int64, iface String,"
	  " direction UInt8, ip_version UInt8, protocol UInt8, src_port UInt16,"
	  " dst_port UInt16, len UInt32, tunnel UInt8, src_addr String, dst_addr String",
	  "MergeTree PARTITION BY day ORDER BY (box, bid)" },
	{ "feed", "day Date, box String, batch_id String, bid UInt64, done_ns Int64,"
	  " lo_ns UInt64, hi_ns UInt64, n UInt64, n_fps UInt64",
	  "MergeTree PARTITION BY day ORDER BY done_ns" },
	{ "posts", "post String, beat_ns Int64, analyser UInt8, watermark_ns Int64",
	  "ReplacingMergeTree(beat_ns) ORDER BY post" },
};

int ch_feed_schema(struct sv_ch *ch, int k, char *err, size_t errlen)
{
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < sizeof(tables) / sizeof(tables[0]); i++)
		ret = ch_create_table(ch, k, tables[i].name, tables[i].cols, tables[i].engine,
				      err, errlen);
	return ret;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void day_of(struct sb *s, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;
	char day[16];

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	sb_puts(s, day);
}

/* --- writing: the feed row (ingest.c; the fingerprints' rows are rows.c's) ------------ */

/* Written once the records and fingerprints are in, stamped now: a reader looking a few
 * seconds back from its watermark sees every batch (post/analyse.c). */
void ch_feed_row(struct sb *row, const struct sv_batch *b, uint64_t bid)
{
	uint64_t lo = 0, hi = 0;
	int64_t now = wall_ns();
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (!i || b->recs[i].last_ns < lo)
			lo = b->recs[i].last_ns;
		if (b->recs[i].last_ns > hi)
			hi = b->recs[i].last_ns;
	}
	day_of(row, now);
	sb_putc(row, '\t');
	ch_tsv(row, b->box);
	sb_putc(row, '\t');
	ch_tsv(row, b->batch_id);
	sb_printf(row, "\t%llu\t%lld\t%llu\t%llu\t%zu\t%zu\n", (unsigned long long)bid,
		  (long long)now, (unsigned long long)lo, (unsigned long long)hi, b->n,
		  b->n_fps);
}

/* --- heartbeats ---------------------------------------------------------------------- */

int ch_beat(struct sv_store *st, int64_t now_ns, struct sv_beat_row *mine, sv_beat_cb cb,
	    void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	struct sb row, sql, out;
	struct sv_beat_row b;
	struct ch_rows r;
	char err[256];
	int ret;

	sb_init(&row);
	sb_init(&sql);
	sb_init(&out);
	mine->post = ch->post_id;
	sb_printf(&sql, "SELECT post, max(beat_ns), argMax(analyser, beat_ns),"
		  " argMax(watermark_ns, beat_ns) FROM %s GROUP BY post ORDER BY post"
		  " FORMAT TabSeparated", CH_T(ch, "posts"));
	ret = sb_failed(&sql) ? -ENOMEM : ch_run(ch, -1, sql.buf, &out, err, sizeof(err));
	if (ret == -EIO || ret == -ETIMEDOUT)
		pr_debug("clickhouse: heartbeats: %s\n", err);
	ch_rows_init(&r, &out);
	while (!ret && ch_next(&r)) {
		b = (struct sv_beat_row){ .post = ch_str(&r, 0), .beat_ns = ch_i64(&r, 1),
					  .analyser = (int)ch_i64(&r, 2),
					  .watermark_ns = ch_i64(&r, 3),
					  .self = !strcmp(ch_str(&r, 0), ch->post_id) };
		ret = cb(ctx, &b);
	}
	/* Written after the read: a restarted post passes on the watermark it wrote before. */
	sb_printf(&row, "%s\t%lld\t%d\t%lld\n", ch->post_id, (long long)now_ns,
		  !!mine->analyser, (long long)mine->watermark_ns);
	if (!ret)
		ret = ch_insert(ch, "posts", NULL, -1, &row);
	sb_free(&row);
	sb_free(&sql);
	sb_free(&out);
	return ret;
}

/* --- reading the feed ---------------------------------------------------------------- */

struct fed {
	struct sv_batch *b;
	uint64_t bid;
	int64_t done_ns;
	uint64_t lo, hi;
};

/* The batch of the chunk a row (bid, box) belongs to; NULL if none. */
static struct sv_batch *owner(struct fed *c, int n, const struct ch_rows *r)
{
	uint64_t bid = strtoull(ch_str(r, 0), NULL, 10);
	int i;

	for (i = 0; i < n; i++)
		if (c[i].bid == bid && !strcmp(c[i].b->box, ch_str(r, 1)))
			return c[i].b;
	return NULL;
}

/* The chunk's boxes, bids and time range as a WHERE clause's conditions. */
static void chunk_where(struct sb *s, const struct fed *c, int n, int fps)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	int64_t first = c[0].done_ns;
	int i;

	sb_puts(s, " WHERE box IN (");
	for (i = 0; i < n; i++) {
		if (i)
			sb_putc(s, ',');
		ch_quote(s, c[i].b->box);
		if (!c[i].hi)
			continue; /* no records */
		lo = c[i].lo < lo ? c[i].lo : lo;
		hi = c[i].hi > hi ? c[i].hi : hi;
	}
	if (lo > hi)
		lo = hi = 0;
	sb_printf(s, ") AND %s IN (", fps ? "bid" : "bitShiftRight(id, 20)");
	for (i = 0; i < n; i++)
		sb_printf(s, "%s%llu", i ? "," : "", (unsigned long long)c[i].bid);
	sb_putc(s, ')');
	/* Fingerprints are filed by the day they were stored, records by their own time. */
	if (fps)
		sb_printf(s, " AND day >= toDate(toDateTime(intDiv(%lld, 1000000000))) - 1",
			  (long long)first);
	else
		sb_printf(s, " AND last_ms >= %llu AND last_ms <= %llu AND day >="
			  " toDate(toDateTime(intDiv(%llu, 1000000000))) AND day <="
			  " toDate(toDateTime(intDiv(%llu, 1000000000)))",
			  (unsigned long long)(lo / CH_NS_PER_MS),
			  (unsigned long long)(hi / CH_NS_PER_MS), (unsigned long long)lo,
			  (unsigned long long)hi);
}

static int push_fp(struct sv_batch *b, const struct ch_rows *r)
{
	struct sv_fp_rec *f;

	if (b->n_fps == b->cap_fps) {
		size_t cap = b->cap_fps ? 2 * b->cap_fps : 64;

		f = realloc(b->fps, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		b->fps = f;
		b->cap_fps = cap;
	}
	f = &b->fps[b->n_fps++];
	memset(f, 0, sizeof(*f));
	f->hash = strtoull(ch_str(r, 2), NULL, 10);
	f->ts_ns = ch_i64(r, 3);
	snprintf(f->iface, sizeof(f->iface), "%s", ch_str(r, 4));
	f->direction = (int)ch_i64(r, 5);
	f->ip_version = (unsigned int)ch_i64(r, 6);
	f->protocol = (unsigned int)ch_i64(r, 7);
	f->src_port = (unsigned int)ch_i64(r, 8);
	f->dst_port = (unsigned int)ch_i64(r, 9);
	f->len = (unsigned int)ch_i64(r, 10);
	f->tunnel = (int)ch_i64(r, 11);
	snprintf(f->src_addr, sizeof(f->src_addr), "%s", ch_str(r, 12));
	snprintf(f->dst_addr, sizeof(f->dst_addr), "%s", ch_str(r, 13));
	return 0;
}

/* Reads the records (fps 0) or fingerprints (1) of a chunk of batches into them. */
static int chunk_read(struct sv_ch *ch, struct fed *c, int n, int fps)
{
	struct sb sql, out;
	struct sv_batch *b;
	struct sv_rec rec;
	struct ch_rows r;
	char err[256];
	int ret;

	sb_init(&sql);
	sb_init(&out);
	if (fps)
		sb_printf(&sql, "SELECT DISTINCT bid, box, hash, ts_ns, iface, direction,"
			  " ip_version, protocol, src_port, dst_port, len, tunnel, src_addr,"
			  " dst_addr FROM %s", CH_T(ch, "fps"));
	else
		sb_printf(&sql, "SELECT bitShiftRight(id, 20), box%s FROM %s", ch_flow_cols,
			  CH_T(ch, "flows"));
	chunk_where(&sql, c, n, fps);
	sb_puts(&sql, fps ? " ORDER BY ts_ns FORMAT TabSeparated" :
			    " ORDER BY id FORMAT TabSeparated");
	ret = sb_failed(&sql) ? -ENOMEM : ch_run(ch, -1, sql.buf, &out, err, sizeof(err));
	if (ret)
		pr_warn("clickhouse: reading the feed: %s\n", err);
	ch_rows_init(&r, &out);
	while (!ret && ch_next(&r)) {
		b = owner(c, n, &r);
		if (!b)
			continue;
		if (fps) {
			ret = push_fp(b, &r);
			continue;
		}
		memset(&rec, 0, sizeof(rec));
		ch_flow_read(&r, 2, &rec);
		ret = sv_batch_push(b, &rec);
	}
	sb_free(&sql);
	sb_free(&out);
	return ret;
}

/* Reads a chunk's records and fingerprints, hands each batch to cb, frees them. */
static int chunk_give(struct sv_ch *ch, struct fed *c, int n, int want_fps, sv_feed_cb cb,
		      void *ctx)
{
	int i, ret = chunk_read(ch, c, n, 0);

	if (!ret && want_fps)
		ret = chunk_read(ch, c, n, 1);
	for (i = 0; i < n; i++) {
		if (!ret)
			ret = cb(ctx, c[i].b, c[i].done_ns);
		sv_batch_free(c[i].b);
		free(c[i].b);
	}
	return ret;
}

int ch_feed(struct sv_store *st, int64_t since_ns, int max, sv_feed_want want, sv_feed_cb cb,
	    void *ctx)
{
	struct sv_ch *ch = sv_ch(st);
	struct fed chunk[FEED_CHUNK];
	int n = 0, given = 0, fps = 0, ret;
	struct sb sql, out;
	struct ch_rows r;
	char err[256];

	sb_init(&sql);
	sb_init(&out);
	sb_printf(&sql, "SELECT box, batch_id, bid, done_ns, lo_ns, hi_ns, n_fps FROM %s WHERE"
		  " day >= toDate(toDateTime(intDiv(%lld, 1000000000))) AND done_ns >= %lld"
		  " ORDER BY done_ns, box, batch_id FORMAT TabSeparated", CH_T(ch, "feed"),
		  (long long)since_ns, (long long)since_ns);
	ret = sb_failed(&sql) ? -ENOMEM : ch_run(ch, -1, sql.buf, &out, err, sizeof(err));
	if (ret)
		pr_warn("clickhouse: reading the feed: %s\n", err);
	ch_rows_init(&r, &out);
	while (!ret && given + n < max && ch_next(&r)) {
		struct sv_batch *b;

		if (!want(ctx, ch_str(&r, 0), ch_str(&r, 1), ch_i64(&r, 3)))
			continue;
		b = calloc(1, sizeof(*b));
		if (!b) {
			ret = -ENOMEM;
			break;
		}
		snprintf(b->box, sizeof(b->box), "%s", ch_str(&r, 0));
		snprintf(b->batch_id, sizeof(b->batch_id), "%s", ch_str(&r, 1));
		chunk[n] = (struct fed){ .b = b, .bid = strtoull(ch_str(&r, 2), NULL, 10),
					 .done_ns = ch_i64(&r, 3),
					 .lo = strtoull(ch_str(&r, 4), NULL, 10),
					 .hi = strtoull(ch_str(&r, 5), NULL, 10) };
		fps |= ch_i64(&r, 6) > 0;
		if (++n < FEED_CHUNK)
			continue;
		ret = chunk_give(ch, chunk, n, fps, cb, ctx);
		given += n;
		n = fps = 0;
	}
	if (n && !ret)
		ret = chunk_give(ch, chunk, n, fps, cb, ctx);
	else
		while (n--) {
			sv_batch_free(chunk[n].b);
			free(chunk[n].b);
		}
	given += n > 0 ? n : 0;
	sb_free(&sql);
	sb_free(&out);
	return ret ? (ret == -ETIMEDOUT ? -EIO : ret) : given;
}
