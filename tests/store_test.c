// SPDX-License-Identifier: GPL-2.0
/* The top-talker rollups against the raw records they sum. A simulated clock runs six hours
 * over a fresh store: batches arrive on time and late (up to hours), sv_store_rollup fills
 * the closed buckets (and back over the records older than the store), pruning drops the
 * finest level, and after each step random ranges, filters and dimensions of sv_store_top
 * must equal a GROUP BY over the raw records exactly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "store_int.h"

#define S 1000000000LL

static int passed, failed;
static unsigned int seed = 12345;

static unsigned int rnd(unsigned int n)
{
	seed = seed * 1103515245 + 12345;
	return (seed >> 8) % n;
}

struct rows {
	char **v;
	int n;
};

static void rows_add(struct rows *r, const char *a, const char *b, int p, int q, long long by,
		     long long pk, long long fl)
{
	char buf[160];

	snprintf(buf, sizeof(buf), "%s|%s|%d|%d|%lld|%lld|%lld", a, b, p, q, by, pk, fl);
	r->v = realloc(r->v, (r->n + 1) * sizeof(*r->v));
	r->v[r->n++] = strdup(buf);
}

static int cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void rows_free(struct rows *r)
{
	while (r->n)
		free(r->v[--r->n]);
	free(r->v);
	r->v = NULL;
}

struct got {
	struct rows r;
	enum sv_top_by by;
};

static int got_row(void *ctx, const struct sv_top_row *t)
{
	struct got *g = ctx;
	const char *a = "", *b = "";
	int p = 0, q = 0;

	switch (g->by) {
	case SV_TOP_SRC: a = t->src_addr; break;
	case SV_TOP_DST: a = t->dst_addr; break;
	case SV_TOP_PAIR: a = t->src_addr; b = t->dst_addr; break;
	case SV_TOP_PORT: p = t->protocol; q = t->dst_port; break;
	case SV_TOP_PROTOCOL: p = t->protocol; break;
	}
	rows_add(&g->r, a, b, p, q, t->bytes, t->packets, t->flows);
	return 0;
}

/* The answer straight from the raw records. */
static void reference(sqlite3 *db, const struct sv_filter *f, enum sv_top_by by,
		      struct rows *out)
{
	char sql[512];
	sqlite3_stmt *s;

	snprintf(sql, sizeof(sql),
		 "SELECT %s, SUM(bytes), SUM(packets), COUNT(*) FROM flows WHERE %s AND"
		 " last_ns >= ?1 AND last_ns < ?2 AND (?3 IS NULL OR box = ?3) AND"
		 " (?4 IS NULL OR iface = ?4) AND (?5 < 0 OR direction = ?5) GROUP BY 1, 2, 3, 4",
		 sv_top_cols[by], sv_top_only[by]);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "reference: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	sqlite3_bind_int64(s, 1, f->since_ns);
	sqlite3_bind_int64(s, 2, f->until_ns);
	if (f->box)
		sqlite3_bind_text(s, 3, f->box, -1, SQLITE_STATIC);
	if (f->iface)
		sqlite3_bind_text(s, 4, f->iface, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 5, f->direction);
	while (sqlite3_step(s) == SQLITE_ROW)
		rows_add(out, (const char *)sqlite3_column_text(s, 0),
			 (const char *)sqlite3_column_text(s, 1), sqlite3_column_int(s, 2),
			 sqlite3_column_int(s, 3), sqlite3_column_int64(s, 4),
			 sqlite3_column_int64(s, 5), sqlite3_column_int64(s, 6));
	sqlite3_finalize(s);
}

static const char *const boxes[] = { "b1", "b2", "b3" };
static const char *const ifaces[] = { "eth0", "eth1" };

/* Random ranges, filters and dimensions: the store's answer equals the raw records'. */
/* A random range from lo to now, or (window) the last 6 or 24 hours give or take two. */
static void pick_range(struct sv_filter *f, int64_t lo, int64_t now, int window)
{
	if (window) {
		f->since_ns = now - (rnd(2) ? 6 : 24) * 3600 * S + rnd(7200) * S + rnd(1000) * 1000000LL;
		f->until_ns = now - rnd(600) * S + rnd(1200) * S;
		return;
	}
	f->since_ns = lo + (int64_t)rnd((now - lo) / S) * S + rnd(1000) * 1000000LL;
	f->until_ns = f->since_ns + (rnd(3) ? rnd(5 * 3600) : rnd(600)) * S + 1;
}

static void check_ranges(struct sv_store *st, sqlite3 *db, int64_t lo, int64_t now,
			 const char *when, int n, int window)
{
	int i, j, bad = 0;

	for (i = 0; i < n; i++) {
		struct got g = { .by = rnd(5) };
		struct rows want = { 0 };
		struct sv_filter f;
		int k = window ? 0 : rnd(4);

		sv_filter_init(&f);
		pick_range(&f, lo, now, window);
		if (k >= 1)
			f.box = boxes[rnd(3)];
		if (k >= 2)
			f.direction = rnd(2);
		if (k == 3)
			f.iface = ifaces[rnd(2)];
		if (sv_store_top(st, &f, g.by, 0, 1000, got_row, &g)) {
			bad++;
			continue;
		}
		reference(db, &f, g.by, &want);
		qsort(g.r.v, g.r.n, sizeof(char *), cmp);
		qsort(want.v, want.n, sizeof(char *), cmp);
		for (j = 0; j < want.n && j < g.r.n && !strcmp(want.v[j], g.r.v[j]); j++)
			;
		if (want.n != g.r.n || j < want.n) {
			if (!bad)
				fprintf(stderr, "  by %d [%lld, %lld) box %s: %d rows, want %d; %s vs %s\n",
					g.by, (long long)f.since_ns, (long long)f.until_ns,
					f.box ? f.box : "*", g.r.n, want.n, j < g.r.n ? g.r.v[j] : "-",
					j < want.n ? want.v[j] : "-");
			bad++;
		}
		rows_free(&g.r);
		rows_free(&want);
	}
	if (bad) {
		printf("FAIL: top equals the raw records %s (%d of %d ranges differ)\n", when, bad, n);
		failed++;
	} else {
		printf("PASS: top equals the raw records %s (%d ranges)\n", when, n);
		passed++;
	}
}

static void record(struct sv_rec *r, int64_t t)
{
	static const int protos[] = { 6, 17, 1, 6, 0 };
	static const int ports[] = { 53, 80, 443, 8080 };
	int proto = protos[rnd(5)];

	memset(r, 0, sizeof(*r));
	snprintf(r->iface, sizeof(r->iface), "%s", ifaces[rnd(2)]);
	r->direction = rnd(2);
	r->icmp_type = r->icmp_code = -1;
	r->vni = -1;
	if (proto || rnd(2)) {
		r->eth_type = 0x0800;
		r->ip_version = 4;
		r->protocol = proto;
		/* Mostly a few busy sources, sometimes a rare one: a key that may lie wholly in a
		 * piece of the range taken away from a window. */
		if (rnd(50))
			snprintf(r->src_addr, sizeof(r->src_addr), "198.18.0.%u", rnd(8) + 1);
		else
			snprintf(r->src_addr, sizeof(r->src_addr), "198.18.2.%u", rnd(250) + 1);
		snprintf(r->dst_addr, sizeof(r->dst_addr), "198.18.1.%u", rnd(6) + 1);
		if (proto == 6 || proto == 17) {
			r->src_port = 30000 + rnd(100);
			r->dst_port = ports[rnd(4)];
		}
	} else {
		r->eth_type = 0x0806;
	}
	r->packets = 1 + rnd(100);
	r->bytes = r->packets * (60 + rnd(1400));
	r->first_ns = r->last_ns = t;
}

/* A batch at now: mostly records of the last 90 s, some late by up to four hours; or (span
 * not 0) n records of the last span seconds. */
static int deliver_n(struct sv_store *st, int64_t now, int id, int n, unsigned int span)
{
	struct sv_batch b = { 0 };
	struct sv_rec r;
	int i, dup, err;

	snprintf(b.batch_id, sizeof(b.batch_id), "batch-%d", id);
	snprintf(b.box, sizeof(b.box), "%s", boxes[rnd(3)]);
	snprintf(b.interfaces, sizeof(b.interfaces), "[\"eth0\",\"eth1\"]");
	for (i = 0; i < n; i++) {
		if (span)
			record(&r, now - rnd(span) * S);
		else
			record(&r, rnd(10) ? now - rnd(90) * S : now - rnd(4 * 3600) * S);
		r.last_ns -= rnd(1000000000);
		if (rnd(8) == 0) /* on a bucket's edge: which bucket is it in? */
			r.last_ns -= r.last_ns % (60 * S);
		if (sv_batch_push(&b, &r))
			return -ENOMEM;
	}
	err = sv_store_ingest(st, &b, now, &dup);
	sv_batch_free(&b);
	return err;
}

static int deliver(struct sv_store *st, int64_t now, int id)
{
	return deliver_n(st, now, id, 20 + rnd(80), 0);
}

static int64_t state(sqlite3 *db, const char *col, int level)
{
	char sql[96];
	sqlite3_stmt *s;
	int64_t v = -1;

	snprintf(sql, sizeof(sql), "SELECT %s FROM talk_state WHERE level = %d", col, level);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void check(int ok, const char *what)
{
	printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
	ok ? passed++ : failed++;
}

int main(void)
{
	char dir[] = "/tmp/sv-store-test.XXXXXX", path[64], err[256];
	int64_t h, now, last = 0, start, rollup_keep = 90 * 24 * 3600 * S;
	struct sv_store_work w0, w1;
	struct sv_store *st;
	int id = 0, i, left = 0;
	sqlite3 *db;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/store.db", dir);
	if (sv_store_open(path, &st, err, sizeof(err))) {
		printf("FAIL: open: %s\n", err);
		return 1;
	}
	sqlite3_open(path, &db);
	h = state(db, "done", 0);
	check(h > 0 && h % (3600 * S) == 0 && state(db, "lo", 2) == h,
	      "a new store's levels start empty at the hour");

	/* Before the store existed: records only a backfill can roll up. */
	for (now = h - 20 * 3600 * S; now < h; now += (60 + rnd(240)) * S) {
		if (deliver(st, now, id++))
			check(0, "ingest before the store");
		last = now;
	}
	/* While older records arrive, levels do not fill back over them (they would only come
	 * late); once none has come for two minutes, they do. */
	left = sv_store_rollup(st, last + 10 * S, rollup_keep, 10 * S);
	check(left > 0 && state(db, "lo", 2) == h, "no filling back while history arrives");
	for (i = 0; i < 100 && (left = sv_store_rollup(st, last + 150 * S, rollup_keep, 10 * S)) > 0;
	     i++)
		;
	check(left == 0, "rollups catch up");
	check(state(db, "lo", 0) < h && state(db, "lo", 2) <= h - 20 * 3600 * S,
	      "levels filled back over the older records");
	check_ranges(st, db, h - 4 * 3600 * S, h, "after the backfill", 300, 0);

	/* Six hours of the clock: on-time and late batches, buckets filled as they close. */
	start = h;
	for (now = h; now < h + 6 * 3600 * S; now += (30 + rnd(300)) * S) {
		if (deliver(st, now, id++))
			check(0, "ingest");
		if (rnd(3) == 0 && sv_store_rollup(st, now, rollup_keep, 10 * S) < 0)
			check(0, "rollup");
		if (rnd(25) == 0)
			check_ranges(st, db, start - 4 * 3600 * S, now, "as the clock runs", 40, rnd(2));
	}
	check(state(db, "done", 0) > h + 5 * 3600 * S && state(db, "done", 2) > h + 4 * 3600 * S,
	      "levels follow the clock");
	check_ranges(st, db, start - 4 * 3600 * S, now, "after six hours", 300, 0);

	/* The site's last 6 and 24 hours come from the sliding windows and two short edges. */
	for (i = 0; i < 100 && sv_store_rollup(st, now, rollup_keep, 10 * S) > 0; i++)
		;
	check(state(db, "done", SV_WIN_STATE) == state(db, "done", 1) &&
	      state(db, "done", SV_WIN_STATE + 1) == state(db, "done", 1) &&
	      state(db, "lo", SV_WIN_STATE + 1) == state(db, "done", 1) - 24 * 3600 * S,
	      "the windows follow the ten-minute level");
	check_ranges(st, db, 0, now, "over the last 6 and 24 hours (windows)", 300, 1);

	/* History in bulk (issue 15): 6000 records of the last twenty minutes, late for each
	 * level and window that holds their time. Ingest only queues them; each rollup round
	 * (no budget: one) folds one slice while the clock runs and the levels fill from each
	 * other over records not folded yet; answers are exact at every round. */
	now += 7 * 60 * S; /* the finest level then holds minutes the coarser ones do not */
	for (i = 0; i < 100 && sv_store_rollup(st, now, rollup_keep, 10 * S) > 0; i++)
		;
	sv_store_work(st, &w0);
	if (deliver_n(st, now, id++, 6000, 20 * 60))
		check(0, "ingest of history");
	sv_store_work(st, &w1);
	check(w1.late_queued - w0.late_queued > 5000 && w1.late_waiting > 10 * 512 &&
		      w1.late_sums == w0.late_sums,
	      "a batch of history is queued by ingest, no sum written");
	for (i = 0; i < 30 && w1.late_waiting > 0; i++) {
		now += 60 * S;
		if (deliver(st, now, id++) || sv_store_rollup(st, now, rollup_keep, 0) < 0)
			check(0, "ingest and rollup while history is folded");
		check_ranges(st, db, start, now, "while history is folded in slices", 20, i % 2);
		sv_store_work(st, &w1);
	}
	check(w1.late_waiting == 0 && w1.late_folded - w0.late_folded == w1.late_queued -
	      w0.late_queued && w1.late_slices - w0.late_slices == (unsigned long long)i &&
	      w1.late_sums - w0.late_sums <= 40 * (w1.late_folded - w0.late_folded),
	      "a slice of at most 512 records per round, at most 40 sums per record");
	check_ranges(st, db, start - 4 * 3600 * S, now, "after the history is folded in", 300, 0);

	/* The finest level keeps six hours: pruning moves its start on, answers stay exact. */
	check(sv_store_prune(st, now, 3650 * 24 * 3600 * S, rollup_keep) == 0, "prune");
	check(state(db, "lo", 0) > now - 6 * 3600 * S - 120 * S && state(db, "lo", 0) > h,
	      "pruning moves the finest level's start");
	check_ranges(st, db, start - 4 * 3600 * S, now, "after pruning", 300, 0);

	sqlite3_close(db);
	sv_store_close(st);
	unlink(path);
	snprintf(path, sizeof(path), "%s/store.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/store.db-shm", dir);
	unlink(path);
	rmdir(dir);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
