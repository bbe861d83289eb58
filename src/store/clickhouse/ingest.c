// SPDX-License-Identifier: GPL-2.0
/* The ClickHouse backend's ingest and retention.
 *
 * A batch is stored once, whichever post it reaches and however often: its id is claimed in
 * `batches` before its records go in and marked done after ClickHouse acknowledged them
 * (each insert into one shard's local table, whole: conn.c's ch_insert). A done mark makes a
 * retry a duplicate; another post's fresh claim makes it wait (the agent retries later);
 * docs/scale-out.md says why this and not ClickHouse's block deduplication.
 *
 * Batches that arrive while a group is under way wait and go together in the next group: one
 * thread leads it through the steps below, each one request for the whole group (claims,
 * their reading, the records, done marks, boxes, releases), so a group costs the same few
 * round trips as one batch, and ClickHouse gets few big inserts, not one per agent batch.
 * Each batch's own steps keep their order; the waiters get their batch's answer.
 * Retention drops whole day partitions. */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "ch_int.h"
#include "log.h"

/* A claim younger than this is a post still storing the batch; an older one without a done
 * mark is a post that died, whose batch may be stored again. More than an insert's timeout. */
#define CLAIM_FRESH_NS (150 * 1000000000LL)
#define CLAIMERS_MAX 16

static void day_of(char *buf, size_t len, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d", &tm);
}

/* The batch id's rows: claims (0), done marks (1) and releases (2), by post. */
enum { CLAIM, DONE, RELEASE };

/* What the claims say of a batch: ours to store (GO), ours but a claim without its done mark
 * was there, so its records may be in already (CHECK), stored before (DUP), another post
 * storing it now (BUSY). */
enum { GO, CHECK, DUP, BUSY };

/* One batch in a group. */
struct pending {
	const struct sv_batch *b;
	int64_t now;
	struct sb rows; /* its flows rows, written by its own thread */
	struct sb fps; /* its fingerprints' rows (feed.c), likewise */
	struct pending *twin; /* the same batch earlier in the group: its answer is this one's */
	struct {
		char post[40];
		int64_t claimed, released;
	} seen[CLAIMERS_MAX]; /* the claims read, by post */
	int n_seen, done_seen;
	int state, claimed, ret, dup, done;
	struct pending *next;
};

/* A claim row read back, into p's view of its batch. This try's own claim is no other
 * writer's: only our older claims (a try that failed, a restart) mean unfinished. */
static void saw(struct sv_ch *ch, struct pending *p, const struct ch_rows *r)
{
	int64_t state = ch_i64(r, 3), ts = ch_i64(r, 4);
	int i;

	if (state == DONE)
		p->done_seen = 1;
	if (state == CLAIM && ts == p->now && !strcmp(ch_str(r, 2), ch->post_id))
		return;
	for (i = 0; i < p->n_seen && strcmp(p->seen[i].post, ch_str(r, 2)); i++)
		;
	if (i == p->n_seen && p->n_seen < CLAIMERS_MAX) {
		snprintf(p->seen[i].post, sizeof(p->seen[i].post), "%s", ch_str(r, 2));
		p->seen[i].claimed = p->seen[i].released = 0;
		p->n_seen++;
	}
	if (i == p->n_seen)
		return;
	if (state == CLAIM && ts > p->seen[i].claimed)
		p->seen[i].claimed = ts;
	if (state == RELEASE && ts > p->seen[i].released)
		p->seen[i].released = ts;
}

/* GO, CHECK, DUP or BUSY from the claims p saw. */
static int decide(const struct sv_ch *ch, const struct pending *p)
{
	int i, other = 0, unfinished = 0;

	if (p->done_seen)
		return DUP;
	/* A claim given up may still have stored the records (an insert ClickHouse finished
	 * after the post stopped waiting): unfinished, but no reason to wait. */
	for (i = 0; i < p->n_seen; i++) {
		if (!p->seen[i].claimed)
			continue;
		if (strcmp(p->seen[i].post, ch->post_id) &&
		    p->now - p->seen[i].claimed < CLAIM_FRESH_NS &&
		    p->seen[i].claimed > p->seen[i].released)
			other = 1;
		else
			unfinished = 1;
	}
	return other ? BUSY : unfinished ? CHECK : GO;
}

/* Whether a step is p's: every batch claims (its twin aside); the done mark and the box's row
 * are for a batch still fine and not a duplicate; a release for a claim given up. */
static int wants(const struct pending *p, int step)
{
	if (p->twin)
		return 0;
	if (step == CLAIM)
		return 1;
	if (step == RELEASE)
		return p->claimed && p->ret;
	return !p->ret && !p->dup;
}

/* Fails every batch of the group a step was for. */
static void fail_step(struct pending *g, int step, int ret)
{
	struct pending *p;

	for (p = g; p && ret; p = p->next)
		if (wants(p, step))
			p->ret = ret;
}

/* A row's start: the day of ns and the box. */
static void row_start(struct sb *rows, int64_t ns, const char *box)
{
	char day[16];

	day_of(day, sizeof(day), ns);
	sb_printf(rows, "%s\t", day);
	ch_tsv(rows, box);
}

/* The claims, done marks or releases (state) of the group's batches that want them. */
static int marks(struct sv_ch *ch, struct pending *g, int state)
{
	struct pending *p;
	struct sb rows;
	int ret = 0;

	sb_init(&rows);
	for (p = g; p; p = p->next) {
		if (!wants(p, state))
			continue;
		row_start(&rows, p->now, p->b->box);
		sb_putc(&rows, '\t');
		ch_tsv(&rows, p->b->batch_id);
		sb_printf(&rows, "\t%s\t%d\t%lld\n", ch->post_id, state, (long long)p->now);
	}
	if (rows.len || sb_failed(&rows))
		ret = ch_insert(ch, "batches", NULL, -1, &rows);
	sb_free(&rows);
	return ret;
}

/* Reads the claims of every claimed batch of the group back, in one query. The rows of other
 * pairs of the boxes and ids named are not any batch's and are passed over. */
static int read_claims(struct sv_ch *ch, struct pending *g)
{
	struct sb sql, out, ids;
	struct pending *p;
	struct ch_rows r;
	char err[256];
	int ret;

	sb_init(&sql);
	sb_init(&out);
	sb_init(&ids);
	sb_printf(&sql, "SELECT box, batch_id, post, state, received_ns FROM %s WHERE box IN (",
		  CH_T(ch, "batches"));
	for (p = g; p; p = p->next) {
		if (!wants(p, CLAIM))
			continue;
		sb_puts(&sql, ids.len ? ", " : "");
		ch_quote(&sql, p->b->box);
		sb_puts(&ids, ids.len ? ", " : "");
		ch_quote(&ids, p->b->batch_id);
	}
	sb_printf(&sql, ") AND batch_id IN (%s) FORMAT TabSeparated", ids.buf ? ids.buf : "");
	ret = sb_failed(&sql) || sb_failed(&ids) ? -ENOMEM :
						   ch_run(ch, -1, sql.buf, &out, err, sizeof(err));
	if (ret == -EIO || ret == -ETIMEDOUT)
		pr_warn("clickhouse: %s\n", err);
	ch_rows_init(&r, &out);
	while (!ret && ch_next(&r))
		for (p = g; p; p = p->next)
			if (wants(p, CLAIM) && !strcmp(p->b->box, ch_str(&r, 0)) &&
			    !strcmp(p->b->batch_id, ch_str(&r, 1)))
				saw(ch, p, &r);
	sb_free(&ids);
	sb_free(&out);
	sb_free(&sql);
	return ret;
}

/* The batch's records' ids: its hash (33 bits) and the record's place in it (20 bits),
 * unique, and exact in JSON. */
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

/* Marks in in[] the batch's records found in flows: of its hash and box, on the days and
 * times its records have, matched by place (id modulo 2^20) and time (last_ms). */
static int stored(struct sv_ch *ch, const struct sv_batch *b, unsigned char *in)
{
	uint64_t lo = UINT64_MAX, hi = 0, id, last;
	struct sb sql, out;
	struct ch_rows r;
	char err[256];
	size_t i;
	int ret;

	for (i = 0; i < b->n; i++) {
		lo = b->recs[i].last_ns < lo ? b->recs[i].last_ns : lo;
		hi = b->recs[i].last_ns > hi ? b->recs[i].last_ns : hi;
	}
	sb_init(&sql);
	sb_init(&out);
	sb_printf(&sql, "SELECT id, last_ms FROM %s WHERE box = ", CH_T(ch, "flows"));
	ch_quote(&sql, b->box);
	sb_printf(&sql, " AND bitShiftRight(id, 20) = %llu AND last_ms >= %llu AND last_ms <= %llu"
		  " AND day >= toDate(toDateTime(intDiv(%llu, 1000000000))) AND day <="
		  " toDate(toDateTime(intDiv(%llu, 1000000000))) FORMAT TabSeparated",
		  (unsigned long long)batch_hash(b), (unsigned long long)(lo / CH_NS_PER_MS),
		  (unsigned long long)(hi / CH_NS_PER_MS), (unsigned long long)lo,
		  (unsigned long long)hi);
	ret = sb_failed(&sql) ? -ENOMEM : ch_run(ch, -1, sql.buf, &out, err, sizeof(err));
	if (ret == -EIO || ret == -ETIMEDOUT)
		pr_warn("clickhouse: %s\n", err);
	ch_rows_init(&r, &out);
	while (!ret && ch_next(&r)) {
		id = strtoull(ch_str(&r, 0), NULL, 10) & 0xfffff;
		last = strtoull(ch_str(&r, 1), NULL, 10);
		for (i = id; i < b->n; i += 1 << 20)
			if (!in[i] && b->recs[i].last_ns / CH_NS_PER_MS == last) {
				in[i] = 1;
				break;
			}
	}
	sb_free(&sql);
	sb_free(&out);
	return ret;
}

/*
 * A claim without its done mark was there: some of p's records may be in already. Only the
 * others stay in p's rows (row i is record i).
 *
 * What can be found: all of the batch or none of it, nearly always, as its records go in one
 * insert into one shard's local table. But ClickHouse writes an insert block by block (a
 * million rows each, max_insert_block_size) and a block as one part per day it spans, each
 * committed on its own, so an insert that failed midway (a shard killed, a disk full) may
 * have stored part of a batch: a group insert of several batches, or a batch across
 * midnight. Counting would then either store the stored part again (count < n taken as
 * none) or lose the rest (taken as all); so the records found are matched one by one and
 * only the missing go in. More than the batch's records cannot match: a record matches at
 * most once, and one of another batch only with the same box, 33-bit hash, place and last_ns.
 */
static int keep_missing(struct sv_ch *ch, struct pending *p)
{
	unsigned char *in = calloc(p->b->n, 1);
	char *w, *line, *nl, *end;
	size_t i;
	int ret;

	if (!in)
		return -ENOMEM;
	ret = stored(ch, p->b, in);
	w = p->rows.buf;
	end = p->rows.buf ? p->rows.buf + p->rows.len : NULL;
	for (i = 0, line = p->rows.buf; !ret && line && line < end; i++, line = nl + 1) {
		nl = memchr(line, '\n', end - line);
		if (!nl || i >= p->b->n)
			break;
		if (!in[i]) {
			memmove(w, line, nl + 1 - line);
			w += nl + 1 - line;
		}
	}
	if (!ret && p->rows.buf) {
		p->rows.len = w - p->rows.buf;
		p->rows.buf[p->rows.len] = 0;
	}
	free(in);
	return ret;
}

/* One insert of the group's rows of one kind (the sb at off in each batch still to store);
 * a failure fails the batches that had rows in it. */
static void insert_group(struct sv_ch *ch, struct pending *g, const char *table,
			 const char *cols, size_t off)
{
	const struct sb *rows;
	struct pending *p;
	struct sb all;
	int ret = 0;

	sb_init(&all);
	for (p = g; p; p = p->next) {
		rows = (const struct sb *)((const char *)p + off);
		if (wants(p, DONE))
			sb_put(&all, rows->buf ? rows->buf : "", rows->len);
	}
	if (all.len || sb_failed(&all))
		ret = sb_failed(&all) ? -ENOMEM : ch_insert(ch, table, cols, -1, &all);
	for (p = g; p && ret; p = p->next) {
		rows = (const struct sb *)((const char *)p + off);
		if (wants(p, DONE) && rows->len)
			p->ret = ret;
	}
	sb_free(&all);
}

/* The group's fingerprints, then its records: the analyser reads a batch (post/analyse.c)
 * once its feed row says both are in. A retry stores fingerprints again, which is harmless:
 * they are read back DISTINCT (feed.c). */
static void insert_records(struct sv_ch *ch, struct pending *g)
{
	struct sb cols;

	insert_group(ch, g, "fps", NULL, offsetof(struct pending, fps));
	sb_init(&cols);
	sb_printf(&cols, "day, box, id%s", ch_flow_cols);
	if (sb_failed(&cols))
		fail_step(g, DONE, -ENOMEM);
	else
		insert_group(ch, g, "flows", cols.buf, offsetof(struct pending, rows));
	sb_free(&cols);
}

/* The feed rows of the batches whose records and fingerprints are in, before their done
 * marks: a batch done is one the analyser can read. */
static int feed_rows(struct sv_ch *ch, struct pending *g)
{
	struct pending *p;
	struct sb rows;
	int ret = 0;

	sb_init(&rows);
	for (p = g; p; p = p->next)
		if (wants(p, DONE) && (p->b->n || p->b->n_fps))
			ch_feed_row(&rows, p->b, batch_hash(p->b));
	if (rows.len || sb_failed(&rows))
		ret = ch_insert(ch, "feed", NULL, -1, &rows);
	sb_free(&rows);
	return ret;
}

/* The boxes' rows (last seen, version, interfaces) of the batches stored. */
static int box_rows(struct sv_ch *ch, struct pending *g)
{
	struct pending *p;
	struct sb rows;
	int ret = 0;

	sb_init(&rows);
	for (p = g; p; p = p->next) {
		if (!wants(p, DONE))
			continue;
		row_start(&rows, p->now, p->b->box);
		sb_printf(&rows, "\t%lld\t", (long long)p->now);
		ch_tsv(&rows, p->b->agent_version);
		sb_putc(&rows, '\t');
		ch_tsv(&rows, p->b->interfaces);
		sb_printf(&rows, "\t%zu\n", p->b->n);
	}
	if (rows.len || sb_failed(&rows))
		ret = ch_insert(ch, "box_seen", NULL, -1, &rows);
	sb_free(&rows);
	return ret;
}

/* Each batch's state from its claims; the records of unfinished ones checked. */
static void sort_out(struct sv_ch *ch, struct pending *g)
{
	struct pending *p;

	for (p = g; p; p = p->next) {
		if (!wants(p, CLAIM))
			continue;
		p->state = decide(ch, p);
		if (p->state == DUP)
			p->dup = 1;
		if (p->state == BUSY) {
			pr_warn("batch %s of %s: another post is storing it\n", p->b->batch_id,
				p->b->box);
			p->ret = -EAGAIN;
		}
		if (p->state == CHECK && p->b->n)
			p->ret = keep_missing(ch, p);
	}
}

/* The same batch twice in a group (sent again while its first try waited) is stored once. */
static void find_twins(struct pending *g)
{
	struct pending *p, *q;

	for (p = g; p; p = p->next)
		for (q = g; q != p && !p->twin; q = q->next)
			if (!q->twin && !strcmp(q->b->box, p->b->box) &&
			    !strcmp(q->b->batch_id, p->b->batch_id))
				p->twin = q;
}

/* The group's steps, in each batch's order: claim, read the claims, insert the records, mark
 * them done, the boxes' rows; a release for each claim given up. */
static void run_group(struct sv_ch *ch, struct pending *g)
{
	struct pending *p;
	int ret;

	find_twins(g);
	ret = marks(ch, g, CLAIM);
	fail_step(g, CLAIM, ret);
	for (p = g; p && !ret; p = p->next)
		p->claimed = wants(p, CLAIM);
	if (!ret)
		ret = read_claims(ch, g);
	fail_step(g, CLAIM, ret);
	if (!ret)
		sort_out(ch, g);
	insert_records(ch, g);
	fail_step(g, DONE, feed_rows(ch, g));
	fail_step(g, DONE, marks(ch, g, DONE));
	/* A box row that failed fails the batch, though done: the retry is a duplicate. */
	fail_step(g, DONE, box_rows(ch, g));
	marks(ch, g, RELEASE);
	for (p = g; p; p = p->next) {
		if (!p->twin)
			continue;
		p->ret = p->twin->ret;
		p->dup = 1;
	}
}

/* --- The group: batches that arrive while a group is under way go in the next one. */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static struct pending *g_queue; /* waiting for the next group */
static int g_busy; /* a group is under way */

/* Queues me; the first to find no group under way leads the next with every batch queued. */
static int grouped(struct sv_ch *ch, struct pending *me)
{
	struct pending *g, *p;

	pthread_mutex_lock(&g_lock);
	me->next = g_queue;
	g_queue = me;
	while (!me->done && g_busy)
		pthread_cond_wait(&g_cond, &g_lock);
	if (me->done) {
		pthread_mutex_unlock(&g_lock);
		return me->ret;
	}
	g_busy = 1;
	g = g_queue;
	g_queue = NULL;
	pthread_mutex_unlock(&g_lock);

	run_group(ch, g);

	pthread_mutex_lock(&g_lock);
	for (p = g; p; p = p->next)
		p->done = 1;
	g_busy = 0;
	pthread_cond_broadcast(&g_cond);
	pthread_mutex_unlock(&g_lock);
	return me->ret;
}

int ch_ingest(struct sv_store *st, const struct sv_batch *b, int64_t now, int *duplicate)
{
	struct sv_ch *ch = sv_ch(st);
	struct pending me = { .b = b, .now = now };
	int ret;

	/* The rows on this thread, in parallel with the other batches' threads. */
	sb_init(&me.rows);
	sb_init(&me.fps);
	if (b->n)
		ch_flow_rows(&me.rows, b, batch_hash(b));
	ch_fps_rows(&me.fps, b, batch_hash(b), now);
	ret = sb_failed(&me.rows) || sb_failed(&me.fps) ? -ENOMEM : grouped(ch, &me);
	*duplicate = !ret && me.dup;
	sb_free(&me.rows);
	sb_free(&me.fps);
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
	{ "fps_local", 0 },	      { "feed_local", 0 },
	{ "rollup_10s_local", 0 },    { "addr_sec_local", 0 },
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
