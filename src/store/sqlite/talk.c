// SPDX-License-Identifier: GPL-2.0
/* Top-talker rollups: sums per (bucket, dimension, box, interface, direction, key) at three
 * bucket sizes, so top over any range reads a few thousand sums and only the ragged edges
 * of the range from the raw records.
 *
 * A level holds every record of its range [lo, done) (talk_state). Buckets are filled once
 * they have closed, by sv_store_rollup, in one statement per dimension over the records (or
 * over a finer level that holds the range), with the state moved in the same transaction.
 * Ingest therefore writes no talker rows for records that arrive on time. A record older
 * than a level's `done` (a spool drained after an outage, history imported) is queued
 * (talk_late) with the levels and windows that lack it, and folded into them later by the
 * rollup, a slice at a time (fold). SQLite serializes the writers, so a record is counted
 * either by a fill or by a fold, never by both and never by neither; until its fold, reads
 * add it from the raw records (query.c). A level or window filled from another's sums lacks
 * what its source lacks: the fill copies the source's bit over its range (copy_bit). Sums
 * with box '', iface '' and direction -1 are the whole site's, for queries that do not
 * filter by those. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store_int.h"

/* A bucket closes this long after its end: records usually arrive within an agent's
 * interval, and waiting spares them the slower late path. */
#define GRACE_NS (60 * 1000000000LL)
/* Records older than a level's start arriving (history imported): fill back only once none
 * has come for this long. */
#define HISTORY_QUIET_NS (120 * 1000000000LL)

const struct sv_level sv_levels[SV_LEVELS] = {
	{ "talk_min", "minute", NS_PER_MIN, 1, 6 * NS_PER_HOUR },
	{ "talk_10m", "tenmin", 10 * NS_PER_MIN, 1, 2 * 24 * NS_PER_HOUR },
	{ "talk_hour", "hour", NS_PER_HOUR, 0, 0 },
};

const int64_t sv_windows[SV_WINDOWS] = { 6 * NS_PER_HOUR, 24 * NS_PER_HOUR };

/* Named, so the first SELECT of a UNION gives the columns their names. */
const char *const sv_top_cols[] = {
	[SV_TOP_SRC] = "src_addr AS a, '' AS b, 0 AS p, 0 AS q",
	[SV_TOP_DST] = "dst_addr AS a, '' AS b, 0 AS p, 0 AS q",
	[SV_TOP_PAIR] = "src_addr AS a, IFNULL(dst_addr, '') AS b, 0 AS p, 0 AS q",
	[SV_TOP_PORT] = "'' AS a, '' AS b, protocol AS p, dst_port AS q",
	[SV_TOP_PROTOCOL] = "'' AS a, '' AS b, protocol AS p, 0 AS q",
};

const char *const sv_top_only[] = {
	[SV_TOP_SRC] = "src_addr IS NOT NULL",
	[SV_TOP_DST] = "dst_addr IS NOT NULL",
	[SV_TOP_PAIR] = "src_addr IS NOT NULL",
	[SV_TOP_PORT] = "protocol IN (6, 17, 132)",
	[SV_TOP_PROTOCOL] = "ip_version > 0",
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int sv_talk_state(struct sv_conn *c, struct sv_talk_state *ts)
{
	sqlite3_stmt *s;
	int l, rc;

	memset(ts, 0, sizeof(*ts));
	if (sv_prepare(c, &c->sel_state, "SELECT level, lo, done FROM talk_state"))
		return -EIO;
	s = c->sel_state;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		l = sqlite3_column_int(s, 0);
		if (l >= SV_WIN_STATE && l < SV_WIN_STATE + SV_WINDOWS) {
			ts->win_lo[l - SV_WIN_STATE] = sqlite3_column_int64(s, 1);
			ts->win_done[l - SV_WIN_STATE] = sqlite3_column_int64(s, 2);
		}
		if (l < 0 || l >= SV_LEVELS)
			continue;
		ts->lo[l] = sqlite3_column_int64(s, 1);
		ts->done[l] = sqlite3_column_int64(s, 2);
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Runs sql with ?1 = a and ?2 = b (a statement may leave ?2 out). */
static int run(struct sv_conn *c, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* --- late records: queued by ingest, summed per slice in memory, upserted once per sum --- */

struct talk {
	int level, dim, direction, p, q;
	int64_t bucket;
	const char *box, *iface, *a, *b;
	uint64_t bytes, packets, flows;
};

static size_t talk_hash(const struct talk *t)
{
	size_t h = t->bucket * 131 + t->level * 257 + t->dim * 31 + t->direction * 7 +
		   t->p * 65537 + t->q;
	const char *s;

	for (s = t->iface; *s; s++)
		h = h * 131 + (unsigned char)*s;
	for (s = t->a; *s; s++)
		h = h * 131 + (unsigned char)*s;
	for (s = t->b; *s; s++)
		h = h * 131 + (unsigned char)*s;
	return h;
}

static int talk_eq(const struct talk *x, const struct talk *y)
{
	return x->bucket == y->bucket && x->level == y->level && x->dim == y->dim &&
	       x->direction == y->direction && x->p == y->p && x->q == y->q &&
	       !strcmp(x->box, y->box) && !strcmp(x->iface, y->iface) && !strcmp(x->a, y->a) &&
	       !strcmp(x->b, y->b);
}

static void talk_add1(struct talk *tab, size_t cap, const struct talk *t,
		      const struct sv_rec *r)
{
	size_t k = talk_hash(t) & (cap - 1);

	while (tab[k].iface && !talk_eq(&tab[k], t))
		k = (k + 1) & (cap - 1);
	if (!tab[k].iface)
		tab[k] = *t;
	tab[k].bytes += r->bytes;
	tab[k].packets += r->packets;
	tab[k].flows++;
}

/* Into the box's sum and into the site's; a window keeps only the site's. */
static void talk_add(struct talk *tab, size_t cap, struct talk t, const struct sv_rec *r)
{
	if (t.level < SV_LEVELS)
		talk_add1(tab, cap, &t, r);
	t.box = "";
	t.iface = "";
	t.direction = -1;
	talk_add1(tab, cap, &t, r);
}

/* The dimensions a record counts in, as sv_top_only says, at a level or (level SV_LEVELS + i)
 * in window i. At most 10 sums. */
static void talk_record(struct talk *tab, size_t cap, int level, const char *box,
			const struct sv_rec *r)
{
	int win = level >= SV_LEVELS;
	struct talk t = { .level = level,
			  .bucket = win ? 0 : r->last_ns / sv_levels[level].span_ns,
			  .box = box, .iface = r->iface, .direction = r->direction,
			  .a = "", .b = "" };

	if (r->src_addr[0]) {
		t.dim = SV_TOP_SRC;
		t.a = r->src_addr;
		talk_add(tab, cap, t, r);
		if (win || sv_levels[level].pairs) {
			t.dim = SV_TOP_PAIR;
			t.b = r->dst_addr;
			talk_add(tab, cap, t, r);
			t.b = "";
		}
	}
	if (r->dst_addr[0]) {
		t.dim = SV_TOP_DST;
		t.a = r->dst_addr;
		talk_add(tab, cap, t, r);
	}
	t.a = "";
	if (r->protocol == 6 || r->protocol == 17 || r->protocol == 132) {
		t.dim = SV_TOP_PORT;
		t.p = r->protocol;
		t.q = r->dst_port;
		talk_add(tab, cap, t, r);
	}
	if (r->ip_version) {
		t.dim = SV_TOP_PROTOCOL;
		t.p = r->protocol;
		t.q = 0;
		talk_add(tab, cap, t, r);
	}
}

#define ADD_SUMS " ON CONFLICT DO UPDATE SET bytes = bytes + excluded.bytes, packets = packets +" \
	" excluded.packets, flows = flows + excluded.flows"

/* Adds a sum into its level's (or window's) row; the statements differ in their leading
 * columns only: bucket, dim, box, iface, direction for a level; win, dim for a window. */
static int upsert_talk(struct sv_conn *c, const struct talk *t)
{
	int win = t->level >= SV_LEVELS, i = 1;
	sqlite3_stmt *s;
	char sql[256];

	if (win)
		snprintf(sql, sizeof(sql), "INSERT INTO talk_win VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
			 ADD_SUMS);
	else
		snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			 " ?)" ADD_SUMS, sv_levels[t->level].table);
	if (sv_prepare(c, &c->up_talk[t->level], sql))
		return -EIO;
	s = c->up_talk[t->level];
	sqlite3_bind_int64(s, i++, win ? t->level - SV_LEVELS : t->bucket);
	sqlite3_bind_int(s, i++, t->dim);
	if (!win) {
		sqlite3_bind_text(s, i++, t->box, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, i++, t->iface, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, i++, t->direction);
	}
	sqlite3_bind_text(s, i++, t->a, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, i++, t->b, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, i++, t->p);
	sqlite3_bind_int(s, i++, t->q);
	sqlite3_bind_int64(s, i++, t->bytes);
	sqlite3_bind_int64(s, i++, t->packets);
	sqlite3_bind_int64(s, i, t->flows);
	return sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
}

/* Whether level l (or window l - SV_LEVELS) holds the records of time t already. */
static int held(const struct sv_talk_state *ts, int l, uint64_t t)
{
	if (l >= SV_LEVELS)
		return ts->win_done[l - SV_LEVELS] && (int64_t)t >= ts->win_lo[l - SV_LEVELS] &&
		       (int64_t)t < ts->win_done[l - SV_LEVELS];
	return (int64_t)t >= ts->lo[l] && (int64_t)t < ts->done[l];
}

/* The levels (bit l) and windows (bit SV_LEVELS + i) that hold time t already. */
static unsigned int held_mask(const struct sv_talk_state *ts, uint64_t t)
{
	unsigned int m = 0;
	int l;

	for (l = 0; l < SV_LEVELS + SV_WINDOWS; l++)
		if (held(ts, l, t))
			m |= 1u << l;
	return m;
}

int sv_talk_ingest(struct sv_conn *c, const struct sv_batch *b, int64_t now,
		   struct sv_talk_state *ts)
{
	size_t i;
	int l;

	if (sv_talk_state(c, ts))
		return -EIO;
	for (i = 0; i < b->n; i++)
		for (l = 0; l < SV_LEVELS; l++)
			if ((int64_t)b->recs[i].last_ns < ts->lo[l]) {
				__atomic_store_n(&c->st->history_ns, now, __ATOMIC_RELAXED);
				return 0;
			}
	return 0;
}

int sv_talk_queue(struct sv_conn *c, const struct sv_talk_state *ts, const struct sv_rec *r,
		  int64_t id)
{
	unsigned int m = held_mask(ts, r->last_ns);
	sqlite3_stmt *s;

	if (!m)
		return 0;
	if (sv_prepare(c, &c->ins_late, "INSERT INTO talk_late VALUES (?, ?, ?)"))
		return -EIO;
	s = c->ins_late;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, r->last_ns);
	sqlite3_bind_int(s, 3, m);
	return sqlite3_step(s) == SQLITE_DONE ? 1 : -EIO;
}

int64_t sv_talk_waiting(struct sv_conn *c)
{
	sqlite3_stmt *s;
	int64_t n = -EIO;

	if (sqlite3_prepare_v2(c->db, "SELECT COUNT(*) FROM talk_late", -1, &s, NULL) !=
	    SQLITE_OK)
		return -EIO;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* Records per fold: each costs up to 40 sums (10 per level, 5 per window), so a slice holds
 * the write lock for a fraction of a second and its sums take a few MB. */
#define FOLD_SLICE 512

struct late {
	struct sv_rec r; /* only what talk_record reads, and last_ns */
	char box[SV_BOX_MAX];
	unsigned int mask;
};

static void col_copy(char *dst, size_t n, sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* The oldest slice of the queue into v (records pruned since are left out); *last: the
 * highest id read, -1 if the queue is empty. */
static int fold_read(struct sv_conn *c, struct late *v, size_t *n, int64_t *last)
{
	sqlite3_stmt *s;
	struct late *x;
	int rc;

	*n = 0;
	*last = -1;
	if (sqlite3_prepare_v2(c->db,
			       "SELECT q.id, q.mask, f.box, f.iface, f.direction, f.ip_version,"
			       " f.protocol, f.src_addr, f.dst_addr, f.dst_port, f.bytes, f.packets,"
			       " q.last_ns FROM talk_late q LEFT JOIN flows f ON f.id = q.id AND"
			       " f.last_ns = q.last_ns ORDER BY q.id LIMIT ?",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int(s, 1, FOLD_SLICE);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*last = sqlite3_column_int64(s, 0);
		if (sqlite3_column_type(s, 2) == SQLITE_NULL)
			continue;
		x = &v[(*n)++];
		sv_rec_init(&x->r);
		x->mask = sqlite3_column_int(s, 1);
		col_copy(x->box, sizeof(x->box), s, 2);
		col_copy(x->r.iface, sizeof(x->r.iface), s, 3);
		x->r.direction = sqlite3_column_int(s, 4);
		x->r.ip_version = sqlite3_column_int(s, 5);
		x->r.protocol = sqlite3_column_int(s, 6);
		col_copy(x->r.src_addr, sizeof(x->r.src_addr), s, 7);
		col_copy(x->r.dst_addr, sizeof(x->r.dst_addr), s, 8);
		x->r.dst_port = sqlite3_column_int(s, 9);
		x->r.bytes = sqlite3_column_int64(s, 10);
		x->r.packets = sqlite3_column_int64(s, 11);
		x->r.last_ns = sqlite3_column_int64(s, 12);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Whether v's record goes into level (or window) l: it lacks it, and still holds its time
 * (pruning may have moved the level past it). */
static int fold_into(const struct sv_talk_state *ts, const struct late *v, int l)
{
	return (v->mask >> l & 1) && held(ts, l, v->r.last_ns);
}

/* Sums v's records into the levels and windows that lack them; the number of sums upserted,
 * or a negative errno. */
static int64_t fold_sums(struct sv_conn *c, const struct late *v, size_t n,
			 const struct sv_talk_state *ts)
{
	size_t i, k, cap = 16, into = 0;
	int64_t sums = 0;
	struct talk *tab;
	int l, err = 0;

	for (i = 0; i < n; i++)
		for (l = 0; l < SV_LEVELS + SV_WINDOWS; l++)
			into += fold_into(ts, &v[i], l);
	while (cap < into * 20)
		cap *= 2;
	tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		for (l = 0; l < SV_LEVELS + SV_WINDOWS; l++)
			if (fold_into(ts, &v[i], l))
				talk_record(tab, cap, l, v[i].box, &v[i].r);
	for (k = 0; k < cap && !err; k++)
		if (tab[k].iface) {
			err = upsert_talk(c, &tab[k]);
			sums++;
		}
	free(tab);
	return err ? err : sums;
}

/* Folds the oldest slice of the queue into the levels, in one transaction. 1 if it folded
 * one, 0 if the queue is empty, or a negative errno. */
static int fold(struct sv_conn *c, struct late *v)
{
	struct sv_store_work *w = &c->st->base.work;
	struct sv_talk_state ts;
	int64_t last, sums = 0;
	size_t n;
	int gone;

	if (sv_exec(c->db, "BEGIN IMMEDIATE", NULL, 0))
		return -EIO;
	if (sv_talk_state(c, &ts) || fold_read(c, v, &n, &last))
		goto fail;
	if (last < 0) {
		sv_exec(c->db, "COMMIT", NULL, 0);
		return 0;
	}
	sums = fold_sums(c, v, n, &ts);
	if (sums < 0 || run(c, "DELETE FROM talk_late WHERE id <= ?1", last, 0))
		goto fail;
	gone = sqlite3_changes(c->db);
	if (sv_exec(c->db, "COMMIT", NULL, 0))
		goto fail;
	__atomic_add_fetch(&w->late_folded, n, __ATOMIC_RELAXED);
	__atomic_add_fetch(&w->late_sums, sums, __ATOMIC_RELAXED);
	__atomic_add_fetch(&w->late_slices, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&w->late_waiting, gone, __ATOMIC_RELAXED);
	return 1;
fail:
	sv_exec(c->db, "ROLLBACK", NULL, 0);
	return sums < 0 ? (int)sums : -EIO;
}


/* --- filling closed buckets --- */

/* Level l's buckets in [a, b) from the raw records: the boxes' sums, then the site's. */
static int fill_raw(struct sv_conn *c, int l, int64_t a, int64_t b)
{
	const struct sv_level *lv = &sv_levels[l];
	char sql[512];
	int d;

	for (d = SV_TOP_SRC; d <= SV_TOP_PROTOCOL; d++) {
		if (d == SV_TOP_PAIR && !lv->pairs)
			continue;
		snprintf(sql, sizeof(sql),
			 "INSERT INTO %s SELECT last_ns / %lld, %d, box, iface, direction, %s,"
			 " SUM(bytes), SUM(packets), COUNT(*) FROM flows WHERE last_ns >= ?1 AND"
			 " last_ns < ?2 AND %s GROUP BY 1, 3, 4, 5, 6, 7, 8, 9",
			 lv->table, (long long)lv->span_ns, d, sv_top_cols[d], sv_top_only[d]);
		if (run(c, sql, a, b))
			return -EIO;
	}
	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s SELECT %s, dim, '', '', -1, a, b, p, q, SUM(bytes), SUM(packets),"
		 " SUM(flows) FROM %s WHERE %s >= ?1 AND %s < ?2 AND box != ''"
		 " GROUP BY 1, 2, 6, 7, 8, 9",
		 lv->table, lv->col, lv->table, lv->col, lv->col);
	return run(c, sql, a / lv->span_ns, b / lv->span_ns);
}

/* Level l's buckets in [a, b) from finer level f's sums (site sums included). */
static int fill_from(struct sv_conn *c, int l, int f, int64_t a, int64_t b)
{
	const struct sv_level *lv = &sv_levels[l], *fv = &sv_levels[f];
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s SELECT %s / %lld, dim, box, iface, direction, a, b, p, q,"
		 " SUM(bytes), SUM(packets), SUM(flows) FROM %s WHERE %s >= ?1 AND %s < ?2%s"
		 " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
		 lv->table, fv->col, (long long)(lv->span_ns / fv->span_ns), fv->table, fv->col,
		 fv->col, lv->pairs ? "" : " AND dim != 2");
	return run(c, sql, a / fv->span_ns, b / fv->span_ns);
}

/* After level or window `to` took [a, b) from `from`'s sums (-1: from the raw records, which
 * lack nothing): the queued records there go into it when they go into its source. */
static int copy_bit(struct sv_conn *c, int to, int from, int64_t a, int64_t b)
{
	char sql[192];

	/* SQLite's bit operators share one precedence, left to right: all in parentheses. */
	snprintf(sql, sizeof(sql),
		 "UPDATE talk_late SET mask = (mask & ~%d) | (((mask >> %d) & %d) << %d) WHERE"
		 " last_ns >= ?1 AND last_ns < ?2",
		 1 << to, from < 0 ? 0 : from, from >= 0, to);
	return run(c, sql, a, b);
}

/* Fills [a, b) of level l and moves its state to [lo, done), in one transaction. */
static int fill(struct sv_conn *c, const struct sv_talk_state *ts, int l, int64_t a, int64_t b,
		int64_t lo, int64_t done)
{
	char sql[128];
	int f, err;

	if (sv_exec(c->db, "BEGIN IMMEDIATE", NULL, 0))
		return -EIO;
	/* The coarsest finer level that holds the range has the fewest rows to read. */
	for (f = l - 1; f >= 0; f--)
		if (ts->lo[f] <= a && b <= ts->done[f])
			break;
	err = f >= 0 ? fill_from(c, l, f, a, b) : fill_raw(c, l, a, b);
	if (!err)
		err = copy_bit(c, l, f, a, b);
	snprintf(sql, sizeof(sql), "UPDATE talk_state SET lo = %lld, done = %lld WHERE level = %d",
		 (long long)lo, (long long)done, l);
	if (!err)
		err = sv_exec(c->db, sql, NULL, 0);
	if (!err && !sv_exec(c->db, "COMMIT", NULL, 0))
		return 0;
	sv_exec(c->db, "ROLLBACK", NULL, 0);
	return -EIO;
}

static int64_t floor_to(int64_t t, int64_t span)
{
	return t / span * span;
}

static int64_t oldest_record(struct sv_conn *c)
{
	sqlite3_stmt *s;
	int64_t v = INT64_MAX;

	if (sqlite3_prepare_v2(c->db, "SELECT MIN(last_ns) FROM flows", -1, &s, NULL) !=
	    SQLITE_OK)
		return INT64_MAX;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* One step of level l: forward over closed buckets, else back over stored records the level
 * does not hold yet (a new level, or records sent late into an empty store). 1 if it
 * did one, 0 if the level is complete, -EIO. */
static int step(struct sv_conn *c, int l, int64_t now, int64_t rollup_keep, int64_t oldest,
		int history, int64_t *pending)
{
	const struct sv_level *lv = &sv_levels[l];
	int64_t span = lv->span_ns, n = span < 10 * NS_PER_MIN ? 10 * NS_PER_MIN / span : 1;
	int64_t keep = lv->keep_ns ? lv->keep_ns : rollup_keep;
	int64_t target = floor_to(now - GRACE_NS, span), bottom, a;
	struct sv_talk_state ts;

	if (sv_talk_state(c, &ts))
		return -EIO;
	bottom = floor_to(now - keep, span) + span;
	if (floor_to(oldest, span) > bottom)
		bottom = oldest == INT64_MAX ? ts.lo[l] : floor_to(oldest, span);
	if (ts.done[l] < target) {
		a = ts.done[l];
		*pending += (target - a) / span;
		return fill(c, &ts, l, a, a + n * span < target ? a + n * span : target,
			    ts.lo[l], a + n * span < target ? a + n * span : target) ?: 1;
	}
	if (ts.lo[l] > bottom) {
		*pending += (ts.lo[l] - bottom) / span;
		/* Filling back while older records still arrive would only make them late. */
		if (history)
			return 0;
		a = ts.lo[l] - n * span > bottom ? ts.lo[l] - n * span : bottom;
		return fill(c, &ts, l, a, ts.lo[l], a, ts.done[l]) ?: 1;
	}
	return 0;
}

/* --- sliding windows: the site's sums of the last 6 and 24 hours up to the ten-minute
 * level's done, for "top over the last day" to read one window and two short edges --- */

/* Adds (sign 1) or takes away (-1) the ten-minute level's site sums of [a, b) to window i. */
static int win_add(struct sv_conn *c, int i, int64_t a, int64_t b, int sign)
{
	const struct sv_level *tm = &sv_levels[1];
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO talk_win SELECT %d, dim, a, b, p, q, %d * SUM(bytes), %d * SUM(packets),"
		 " %d * SUM(flows) FROM %s WHERE %s >= ?1 AND %s < ?2 AND box = '' GROUP BY dim,"
		 " a, b, p, q" ADD_SUMS,
		 i, sign, sign, sign, tm->table, tm->col, tm->col);
	return run(c, sql, a / tm->span_ns, b / tm->span_ns);
}

/* One step of window i, in one transaction: built whole once the ten-minute level holds its
 * width, then moved on as that level's done moves, a bucket in and a bucket out. 1 if it
 * did one, 0 if up to date, -EIO. */
static int win_step(struct sv_conn *c, int i, int64_t *pending)
{
	int64_t w = sv_windows[i], span = sv_levels[1].span_ns, lo, done, to;
	struct sv_talk_state ts;
	char sql[160];
	int err;

	if (sv_talk_state(c, &ts))
		return -EIO;
	lo = ts.win_lo[i];
	done = ts.win_done[i];
	if (done == ts.done[1] || ts.done[1] - w < ts.lo[1])
		return 0; /* up to date, or not enough history for it yet */
	*pending += 1;
	if (sv_exec(c->db, "BEGIN IMMEDIATE", NULL, 0))
		return -EIO;
	if (!done || lo < ts.lo[1] || done > ts.done[1]) {
		to = ts.done[1];
		snprintf(sql, sizeof(sql), "DELETE FROM talk_win WHERE win = %d", i);
		err = sv_exec(c->db, sql, NULL, 0) || win_add(c, i, to - w, to, 1) ||
		      copy_bit(c, SV_LEVELS + i, 1, to - w, to);
	} else {
		to = done + 6 * span < ts.done[1] ? done + 6 * span : ts.done[1];
		err = win_add(c, i, done, to, 1) || win_add(c, i, done - w, to - w, -1) ||
		      copy_bit(c, SV_LEVELS + i, 1, done, to);
		snprintf(sql, sizeof(sql), "DELETE FROM talk_win WHERE win = %d AND flows = 0", i);
		err = err || sv_exec(c->db, sql, NULL, 0);
	}
	snprintf(sql, sizeof(sql), "UPDATE talk_state SET lo = %lld, done = %lld WHERE level = %d",
		 (long long)(to - w), (long long)to, SV_WIN_STATE + i);
	if (!err && !sv_exec(c->db, sql, NULL, 0) && !sv_exec(c->db, "COMMIT", NULL, 0))
		return 1;
	sv_exec(c->db, "ROLLBACK", NULL, 0);
	return -EIO;
}

static void pause_ns(int64_t ns)
{
	struct timespec ts;

	ns = ns < 250000000 ? ns : 250000000;
	ts.tv_sec = 0;
	ts.tv_nsec = ns;
	nanosleep(&ts, NULL);
}

int sv_sqlite_rollup(struct sv_store *st, int64_t now_ns, int64_t rollup_keep_ns,
		     int64_t budget_ns)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	int64_t end = mono_ns() + budget_ns, pending, oldest, t, waiting;
	struct late *v = malloc(FOLD_SLICE * sizeof(*v));
	int l, r = -ENOMEM, busy, history;

	if (!c || !v)
		goto out;
	oldest = oldest_record(c);
	history = now_ns - __atomic_load_n(&sv_sqlite(st)->history_ns, __ATOMIC_RELAXED) <
		  HISTORY_QUIET_NS;
	do {
		busy = 0;
		pending = 0;
		/* A slice of the late records, then the levels finest first: a coarser level
		 * then fills from the finer one's sums. */
		for (l = -1; l < SV_LEVELS + SV_WINDOWS; l++) {
			t = mono_ns();
			r = l < 0 ? fold(c, v) :
			    l < SV_LEVELS ?
				    step(c, l, now_ns, rollup_keep_ns, oldest, history, &pending) :
				    win_step(c, l - SV_LEVELS, &pending);
			if (r < 0)
				goto out;
			busy |= r;
			/* A backlog must not starve ingest of the write lock: SQLite's busy
			 * handler polls, so leave the lock free as long as we held it. */
			if (r)
				pause_ns(mono_ns() - t);
		}
	} while (busy && mono_ns() < end);
	waiting = __atomic_load_n(&st->work.late_waiting, __ATOMIC_RELAXED);
	pending += (waiting + FOLD_SLICE - 1) / FOLD_SLICE;
	r = pending > INT32_MAX ? INT32_MAX : (int)pending;
out:
	free(v);
	return c ? r : -EIO;
}

int sv_talk_prune(struct sv_conn *c, int64_t now_ns, int64_t rollup_keep_ns)
{
	const struct sv_level *lv;
	int64_t cut;
	char sql[256];
	int l;

	for (l = 0; l < SV_LEVELS; l++) {
		lv = &sv_levels[l];
		cut = floor_to(now_ns - (lv->keep_ns ? lv->keep_ns : rollup_keep_ns), lv->span_ns) +
		      lv->span_ns;
		snprintf(sql, sizeof(sql),
			 "DELETE FROM %s WHERE %s < %lld; UPDATE talk_state SET lo = MAX(lo, %lld),"
			 " done = MAX(done, %lld) WHERE level = %d",
			 lv->table, lv->col, (long long)(cut / lv->span_ns), (long long)cut,
			 (long long)cut, l);
		if (sv_exec(c->db, "BEGIN IMMEDIATE", NULL, 0))
			return -EIO;
		if (sv_exec(c->db, sql, NULL, 0) || sv_exec(c->db, "COMMIT", NULL, 0)) {
			sv_exec(c->db, "ROLLBACK", NULL, 0);
			return -EIO;
		}
	}
	return 0;
}
