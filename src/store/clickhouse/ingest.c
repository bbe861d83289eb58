// SPDX-License-Identifier: GPL-2.0
/* The ClickHouse backend's ingest and retention.
 *
 * A batch is stored once, whichever post it reaches and however often: its id is claimed in
 * `batches` before its records go in and marked done after ClickHouse acknowledged them
 * (each insert into one shard's local table, whole: conn.c's ch_insert). A done mark makes a retry a duplicate; another
 * post's fresh claim makes it wait (the agent retries later); docs/scale-out.md says why this
 * and not ClickHouse's block deduplication. Records of batches that arrive together are
 * inserted together: ClickHouse wants few big inserts, not one per agent batch.
 * Retention drops whole day partitions. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "ch_int.h"
#include "log.h"

/* A claim younger than this is a post still storing the batch; an older one without a done
 * mark is a post that died, whose batch may be stored again. More than an insert's timeout. */
#define CLAIM_FRESH_NS (150 * 1000000000LL)

static void day_of(char *buf, size_t len, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d", &tm);
}

/* The batch id's rows: claims (0), done marks (1) and releases (2), by post. */
enum { CLAIM, DONE, RELEASE };

/* 1: stored before; 0: ours to store (*unfinished: a claim of ours or a stale one without
 * its done mark: the records may be in already); -EAGAIN: another post is storing it now
 * (a fresh claim it has not released); -EIO. */
static int claims(struct sv_ch *ch, const struct sv_batch *b, int64_t now, int *unfinished)
{
	struct { char post[40]; int64_t claimed, released; } seen[16];
	int ret, n = 0, i, other = 0;
	struct ch_rows r;
	struct sb out, sql;
	char err[256];

	sb_init(&out);
	sb_init(&sql);
	sb_printf(&sql, "SELECT post, state, received_ns FROM %s WHERE box = ",
		  CH_T(ch, "batches"));
	ch_quote(&sql, b->box);
	sb_puts(&sql, " AND batch_id = ");
	ch_quote(&sql, b->batch_id);
	sb_puts(&sql, " FORMAT TabSeparated");
	ret = sb_failed(&sql) ? -ENOMEM : ch_run(ch, -1, sql.buf, &out, err, sizeof(err));
	if (ret)
		pr_warn("clickhouse: %s\n", err);
	ch_rows_init(&r, &out);
	while (!ret && ch_next(&r)) {
		if (ch_i64(&r, 1) == DONE)
			ret = 1;
		for (i = 0; i < n && strcmp(seen[i].post, ch_str(&r, 0)); i++)
			;
		if (i == n && n < 16) {
			snprintf(seen[n].post, sizeof(seen[n].post), "%s", ch_str(&r, 0));
			seen[n].claimed = seen[n].released = 0;
			n++;
		}
		if (i == n)
			continue;
		if (ch_i64(&r, 1) == CLAIM && ch_i64(&r, 2) > seen[i].claimed)
			seen[i].claimed = ch_i64(&r, 2);
		if (ch_i64(&r, 1) == RELEASE && ch_i64(&r, 2) > seen[i].released)
			seen[i].released = ch_i64(&r, 2);
	}
	/* A claim given up may still have stored the records (an insert ClickHouse finished
	 * after the post stopped waiting): unfinished, but no reason to wait. */
	*unfinished = 0;
	for (i = 0; i < n; i++) {
		if (!seen[i].claimed)
			continue;
		if (strcmp(seen[i].post, ch->post_id) && now - seen[i].claimed < CLAIM_FRESH_NS &&
		    seen[i].claimed > seen[i].released)
			other = 1;
		else
			*unfinished = 1;
	}
	sb_free(&out);
	sb_free(&sql);
	return ret ? ret : other ? -EAGAIN : 0;
}

/* A row's start: the day of ns and the box. */
static void row_start(struct sb *rows, int64_t ns, const char *box)
{
	char day[16];

	day_of(day, sizeof(day), ns);
	sb_printf(rows, "%s\t", day);
	ch_tsv(rows, box);
}

/* A claim (state 0) or the done mark (1) of the batch. */
static int mark(struct sv_ch *ch, const struct sv_batch *b, int64_t now, int state)
{
	struct sb rows;
	int ret;

	sb_init(&rows);
	row_start(&rows, now, b->box);
	sb_putc(&rows, '\t');
	ch_tsv(&rows, b->batch_id);
	sb_printf(&rows, "\t%s\t%d\t%lld\n", ch->post_id, state, (long long)now);
	ret = ch_insert(ch, "batches", NULL, -1, &rows);
	sb_free(&rows);
	return ret;
}

/* The batch's records as rows: day, box, id, the record's fields. An id is the batch's
 * hash (33 bits) and the record's place in it (20 bits): unique, and exact in JSON. */
static uint64_t batch_hash(const struct sv_batch *b)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	const char *p;

	for (p = b->box; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	for (p = b->batch_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (h >> 31) & ((1ULL << 33) - 1);
}

static void flow_rows(struct sb *s, const struct sv_batch *b)
{
	uint64_t h = batch_hash(b);
	size_t i;

	for (i = 0; i < b->n; i++) {
		row_start(s, (int64_t)b->recs[i].last_ns, b->box);
		sb_printf(s, "\t%llu", (unsigned long long)((h << 20) | (i & 0xfffff)));
		ch_flow_tsv(s, &b->recs[i]);
		sb_putc(s, '\n');
	}
}

static int box_row(struct sv_ch *ch, const struct sv_batch *b, int64_t now)
{
	struct sb rows;
	int ret;

	sb_init(&rows);
	row_start(&rows, now, b->box);
	sb_printf(&rows, "\t%lld\t", (long long)now);
	ch_tsv(&rows, b->agent_version);
	sb_putc(&rows, '\t');
	ch_tsv(&rows, b->interfaces);
	sb_printf(&rows, "\t%zu\n", b->n);
	ret = ch_insert(ch, "box_seen", NULL, -1, &rows);
	sb_free(&rows);
	return ret;
}

/* --- Group insert: batches that arrive while an insert is under way go in the next one. */

struct pending {
	struct sb rows;
	int ret, done;
	struct pending *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static struct pending *g_queue; /* waiting for the next insert */
static int g_busy; /* an insert is under way */

/* Inserts the rows of every queued batch in one request; each waiter gets the result. */
static int insert_grouped(struct sv_ch *ch, struct pending *me)
{
	struct pending *batch, *p;
	struct sb all, cols;
	int ret;

	pthread_mutex_lock(&g_lock);
	me->next = g_queue;
	g_queue = me;
	while (!me->done && g_busy)
		pthread_cond_wait(&g_cond, &g_lock);
	if (me->done) {
		pthread_mutex_unlock(&g_lock);
		return me->ret;
	}
	/* Our turn to lead: take everything queued. */
	g_busy = 1;
	batch = g_queue;
	g_queue = NULL;
	pthread_mutex_unlock(&g_lock);

	sb_init(&all);
	for (p = batch; p; p = p->next)
		sb_put(&all, p->rows.buf ? p->rows.buf : "", p->rows.len);
	sb_init(&cols);
	sb_printf(&cols, "day, box, id%s", ch_flow_cols);
	ret = sb_failed(&cols) ? -ENOMEM : ch_insert(ch, "flows", cols.buf, -1, &all);
	sb_free(&cols);
	sb_free(&all);

	pthread_mutex_lock(&g_lock);
	for (p = batch; p; p = p->next) {
		p->ret = ret;
		p->done = 1;
	}
	g_busy = 0;
	pthread_cond_broadcast(&g_cond);
	pthread_mutex_unlock(&g_lock);
	return ret;
}

/* Whether the batch's records are in already (an earlier try inserted them, then failed to
 * mark the batch done): records of its hash, on the days its records have. */
static int stored_already(struct sv_ch *ch, const struct sv_batch *b)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	struct sb sql, out;
	char err[256];
	size_t i;
	int ret;

	for (i = 0; i < b->n; i++) {
		lo = b->recs[i].last_ns < lo ? b->recs[i].last_ns : lo;
		hi = b->recs[i].last_ns > hi ? b->recs[i].last_ns : hi;
	}
	sb_init(&sql);
	sb_init(&out);
	sb_printf(&sql, "SELECT count() FROM %s WHERE box = ", CH_T(ch, "flows"));
	ch_quote(&sql, b->box);
	sb_printf(&sql, " AND bitShiftRight(id, 20) = %llu AND last_ns >= %llu AND last_ns <= %llu"
		  " AND day >= toDate(toDateTime(intDiv(%llu, 1000000000))) AND day <="
		  " toDate(toDateTime(intDiv(%llu, 1000000000))) FORMAT TabSeparated",
		  (unsigned long long)batch_hash(b), (unsigned long long)lo,
		  (unsigned long long)hi, (unsigned long long)lo, (unsigned long long)hi);
	ret = sb_failed(&sql) ? -ENOMEM : ch_run(ch, -1, sql.buf, &out, err, sizeof(err));
	if (ret)
		pr_warn("clickhouse: %s\n", err);
	else
		ret = out.buf && strtoull(out.buf, NULL, 10) == b->n;
	sb_free(&sql);
	sb_free(&out);
	return ret;
}

int ch_ingest(struct sv_store *st, const struct sv_batch *b, int64_t now, int *duplicate)
{
	struct sv_ch *ch = sv_ch(st);
	struct pending me = { 0 };
	int ret, unfinished = 0, claimed = 0;

	*duplicate = 0;
	ret = claims(ch, b, now, &unfinished);
	if (ret == 0) {
		ret = mark(ch, b, now, CLAIM);
		claimed = !ret;
	}
	if (ret == 0)
		ret = claims(ch, b, now, &unfinished);
	if (ret == 1) {
		*duplicate = 1;
		return 0;
	}
	if (ret == -EAGAIN)
		pr_warn("batch %s of %s: another post is storing it\n", b->batch_id, b->box);
	if (!ret && unfinished && b->n)
		ret = stored_already(ch, b);
	if (ret == 0 && b->n) {
		sb_init(&me.rows);
		flow_rows(&me.rows, b);
		ret = sb_failed(&me.rows) ? -ENOMEM : insert_grouped(ch, &me);
		sb_free(&me.rows);
	}
	if (ret >= 0)
		ret = mark(ch, b, now, DONE);
	if (!ret)
		ret = box_row(ch, b, now);
	/* Given up: another post need not wait for our claim to go stale. */
	if (ret && claimed)
		mark(ch, b, now, RELEASE);
	return ret;
}

/* How long each table keeps its rows: the raw records' retention, or the sums'. */
static const struct {
	const char *table;
	int rollup;
} kept[] = {
	{ "flows_local", 0 },	      { "batches_local", 0 },	 { "paths_local", 0 },
	{ "rollup_minute_local", 1 }, { "rollup_hour_local", 1 }, { "talk_minute_local", 1 },
	{ "path_seg_local", 1 },      { "box_seen_local", 1 },
	{ "talk_hour_local", 1 },     { "addr_minute_local", 0 },
	{ "rollup_10s_local", 0 },
};

/* A partition's value as digits: 20261203 for a day ('2026-12-03'), 202612 for a month. */
static void digits(char *out, size_t len, const char *in)
{
	size_t n = 0;

	for (; *in && n + 1 < len; in++)
		if (*in >= '0' && *in <= '9')
			out[n++] = *in;
	out[n] = 0;
}

/* Whether partition part of table is wholly before its table's limit. */
static int expired(const char *table, const char *part, int64_t before, int64_t rollup_before)
{
	char day[16], want[16], got[16];
	size_t i;

	for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		if (strcmp(kept[i].table, table))
			continue;
		day_of(day, sizeof(day), kept[i].rollup ? rollup_before : before);
		digits(want, sizeof(want), day);
		digits(got, sizeof(got), part);
		want[strlen(got) == 6 ? 6 : 8] = 0; /* a month: the limit's month */
		return strlen(got) == strlen(want) && strcmp(got, want) < 0;
	}
	return 0;
}

/* Drops on shard k every partition wholly older than its table keeps. */
static int drop_partitions(struct sv_ch *ch, int k, int64_t before, int64_t rollup_before)
{
	struct ch_rows r;
	char err[256], sql[256];
	struct sb out;
	int ret;

	sb_init(&out);
	snprintf(sql, sizeof(sql), "SELECT DISTINCT table, partition FROM system.parts WHERE"
		 " database = '%s' AND active FORMAT TabSeparated", ch->db);
	ret = ch_run(ch, k, sql, &out, err, sizeof(err));
	ch_rows_init(&r, &out);
	while (!ret && ch_next(&r)) {
		if (!expired(ch_str(&r, 0), ch_str(&r, 1), before, rollup_before))
			continue;
		/* A day is a quoted date, a month a number. */
		snprintf(sql, sizeof(sql), "ALTER TABLE %s DROP PARTITION %s", ch_str(&r, 0),
			 ch_str(&r, 1));
		if (strchr(r.f[1], '-'))
			snprintf(sql, sizeof(sql), "ALTER TABLE %s DROP PARTITION '%s'",
				 ch_str(&r, 0), ch_str(&r, 1));
		ret = ch_run(ch, k, sql, NULL, err, sizeof(err));
	}
	if (!ret) {
		snprintf(sql, sizeof(sql), "ALTER TABLE alerts_local DELETE WHERE last_ns < %lld",
			 (long long)before);
		ret = ch_run(ch, k, sql, NULL, err, sizeof(err));
	}
	if (ret)
		pr_warn("clickhouse: retention on %s: %s\n", ch->shard[k].url, err);
	sb_free(&out);
	return ret;
}

/* Each shard on its own: one that is down keeps its partitions until the next pass. */
int ch_prune(struct sv_store *st, int64_t now_ns, int64_t keep_ns, int64_t rollup_keep_ns)
{
	struct sv_ch *ch = sv_ch(st);
	int k, ret = 0;

	for (k = 0; k < ch->n_shards; k++)
		ret |= drop_partitions(ch, k, now_ns - keep_ns, now_ns - rollup_keep_ns);
	return ret ? -EIO : 0;
}

/* The engine sums by itself (materialized views): no bucket is ever left to fill. */
int ch_rollup(struct sv_store *st, int64_t now_ns, int64_t rollup_keep_ns, int64_t budget_ns)
{
	(void)st;
	(void)now_ns;
	(void)rollup_keep_ns;
	(void)budget_ns;
	return 0;
}
