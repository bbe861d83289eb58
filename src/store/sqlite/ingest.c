// SPDX-License-Identifier: GPL-2.0
/* The SQLite backend's ingest and pruning.
 *
 * Ingest is exactly-once because the batch id goes into `batches` in the same transaction
 * as the batch's records: a retried batch conflicts there and the transaction stores
 * nothing. Rollups are summed per batch in memory and upserted once per (iface, direction,
 * minute), so a batch costs one statement per record plus a handful. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "log.h"
#include "store_int.h"

static int insert_flow(struct sv_conn *c, const char *box, const struct sv_rec *r)
{
	if (sv_prepare(c, &c->ins_flow, sv_flow_insert))
		return -EIO;
	sv_flow_bind(c->ins_flow, box, r);
	return sqlite3_step(c->ins_flow) == SQLITE_DONE ? 0 : -EIO;
}

struct rollup {
	const char *iface;
	int direction;
	int64_t minute;
	uint64_t packets, bytes;
};

static size_t rollup_hash(const char *iface, int direction, int64_t minute)
{
	size_t h = minute * 31 + direction;

	for (; *iface; iface++)
		h = h * 131 + (unsigned char)*iface;
	return h;
}

/* Sums the batch per (iface, direction, minute) in an open-addressing table: a batch usually
 * spans one interval, but one that spans hours must not cost a search per record. */
static int sum_rollups(const struct sv_batch *b, struct rollup **out, size_t *n)
{
	size_t cap = 16, i, cnt = 0;
	struct rollup *r;

	while (cap < b->n * 2)
		cap *= 2;
	r = calloc(cap, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < b->n; i++) {
		const struct sv_rec *x = &b->recs[i];
		int64_t m = x->last_ns / NS_PER_MIN;
		size_t k = rollup_hash(x->iface, x->direction, m) & (cap - 1);

		while (r[k].iface && (r[k].minute != m || r[k].direction != x->direction ||
				      strcmp(r[k].iface, x->iface)))
			k = (k + 1) & (cap - 1);
		if (!r[k].iface) {
			r[k] = (struct rollup){ x->iface, x->direction, m, 0, 0 };
			cnt++;
		}
		r[k].packets += x->packets;
		r[k].bytes += x->bytes;
	}
	*out = r;
	*n = cap;
	return 0;
}

static int upsert_rollups(struct sv_conn *c, const struct sv_batch *b)
{
	struct rollup *r;
	size_t i, n;
	int err = 0;

	if (sum_rollups(b, &r, &n))
		return -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		if (!r[i].iface)
			continue;
		if (sv_prepare(c, &c->up_rollup,
			    "INSERT INTO rollup_minute VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO"
			    " UPDATE SET packets = packets + excluded.packets,"
			    " bytes = bytes + excluded.bytes")) {
			err = -EIO;
			break;
		}
		sqlite3_bind_text(c->up_rollup, 1, b->box, -1, SQLITE_STATIC);
		sqlite3_bind_text(c->up_rollup, 2, r[i].iface, -1, SQLITE_STATIC);
		sqlite3_bind_int(c->up_rollup, 3, r[i].direction);
		sqlite3_bind_int64(c->up_rollup, 4, r[i].minute);
		sqlite3_bind_int64(c->up_rollup, 5, r[i].packets);
		sqlite3_bind_int64(c->up_rollup, 6, r[i].bytes);
		if (sqlite3_step(c->up_rollup) != SQLITE_DONE)
			err = -EIO;
	}
	free(r);
	return err;
}

static int upsert_box(struct sv_conn *c, const struct sv_batch *b, int64_t now)
{
	sqlite3_stmt *s;

	if (sv_prepare(c, &c->up_box,
		    "INSERT INTO boxes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
		    " last_seen_ns = excluded.last_seen_ns, agent_version ="
		    " excluded.agent_version, interfaces = excluded.interfaces,"
		    " flows = flows + excluded.flows"))
		return -EIO;
	s = c->up_box;
	sqlite3_bind_text(s, 1, b->box, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_text(s, 4, b->agent_version, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, b->interfaces, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, b->n);
	return sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
}

/* Claims the batch id: 1 if new, 0 if stored before. */
static int claim_batch(struct sv_conn *c, const struct sv_batch *b, int64_t now)
{
	if (sv_prepare(c, &c->ins_batch,
		    "INSERT INTO batches VALUES (?, ?, ?) ON CONFLICT DO NOTHING"))
		return -EIO;
	sqlite3_bind_text(c->ins_batch, 1, b->box, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->ins_batch, 2, b->batch_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->ins_batch, 3, now);
	if (sqlite3_step(c->ins_batch) != SQLITE_DONE)
		return -EIO;
	return sqlite3_changes(c->db) == 1;
}

int sv_sqlite_ingest(struct sv_store *st, const struct sv_batch *b, int64_t now,
		     int *duplicate)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	struct sv_talk_state ts;
	size_t i, late = 0;
	int ret;

	*duplicate = 0;
	if (!c)
		return -EIO;
	if (sv_exec(c->db, "BEGIN IMMEDIATE", NULL, 0))
		goto fail;
	ret = claim_batch(c, b, now);
	if (ret == 0)
		*duplicate = 1;
	if (ret <= 0)
		goto rollback;
	ret = sv_talk_ingest(c, b, now, &ts);
	for (i = 0; i < b->n && !ret; i++) {
		ret = insert_flow(c, b->box, &b->recs[i]);
		/* A late record is queued for the rollup to fold in: a row, not dozens of sums. */
		if (!ret)
			ret = sv_talk_queue(c, &ts, &b->recs[i], sqlite3_last_insert_rowid(c->db));
		if (ret > 0) {
			late++;
			ret = 0;
		}
	}
	if (!ret)
		ret = upsert_rollups(c, b);
	if (!ret)
		ret = upsert_box(c, b, now);
	if (!ret && !sv_exec(c->db, "COMMIT", NULL, 0)) {
		__atomic_add_fetch(&st->work.late_queued, late, __ATOMIC_RELAXED);
		__atomic_add_fetch(&st->work.late_waiting, late, __ATOMIC_RELAXED);
		return 0;
	}
	ret = -EIO;
rollback:
	if (ret < 0)
		pr_warn("storing a batch of %s failed: %s\n", b->box, sqlite3_errmsg(c->db));
	sv_exec(c->db, "ROLLBACK", NULL, 0);
	return ret < 0 ? ret : 0;
fail:
	pr_warn("storing a batch of %s failed: %s\n", b->box, sqlite3_errmsg(c->db));
	return -EIO;
}

/* Deletes in chunks so a large prune never holds the write lock for long. */
static int delete_chunked(struct sv_conn *c, const char *sql, int64_t before)
{
	sqlite3_stmt *s;
	int n;

	if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	do {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, before);
		if (sqlite3_step(s) != SQLITE_DONE) {
			sqlite3_finalize(s);
			return -EIO;
		}
		n = sqlite3_changes(c->db);
	} while (n > 0);
	sqlite3_finalize(s);
	return 0;
}

int sv_sqlite_prune(struct sv_store *st, int64_t now_ns, int64_t keep_ns,
		    int64_t rollup_keep_ns)
{
	int64_t before_ns = now_ns - keep_ns, rollup_before_ns = now_ns - rollup_keep_ns;

	struct sv_conn *c = sv_sqlite_conn(st);

	if (!c)
		return -EIO;
	if (delete_chunked(c, "DELETE FROM flows WHERE id IN (SELECT id FROM flows WHERE"
			      " last_ns < ? LIMIT 20000)", before_ns) ||
	    delete_chunked(c, "DELETE FROM batches WHERE received_ns < ?", before_ns) ||
	    /* A box silent for the retention has nothing left to show (issue 15). */
	    delete_chunked(c, "DELETE FROM boxes WHERE last_seen_ns < ?", before_ns))
		return -EIO;
	if (sv_alerts_prune(c, before_ns))
		return -EIO;
	if (sv_talk_prune(c, now_ns, rollup_keep_ns))
		return -EIO;
	if (delete_chunked(c, "DELETE FROM path_seg_minute WHERE minute < ?",
			   rollup_before_ns / NS_PER_MIN) ||
	    delete_chunked(c, "DELETE FROM path_seg_hist WHERE minute < ?",
			   rollup_before_ns / NS_PER_MIN))
		return -EIO;
	return delete_chunked(c, "DELETE FROM rollup_minute WHERE minute < ?",
			      rollup_before_ns / NS_PER_MIN);
}
