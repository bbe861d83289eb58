/* SPDX-License-Identifier: GPL-2.0 */
/* What store.c and query.c share and nobody else needs. */
#ifndef SV_STORE_INT_H
#define SV_STORE_INT_H

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include "store.h"

#define MAX_CONNS 256

struct sv_store {
	char path[PATH_MAX];
	pthread_mutex_t lock;
	struct sv_conn *conns[MAX_CONNS];
	int nconns;
	sv_stored_fn stored;
	void *stored_ctx;
	/* When (ingest's now) a batch last brought records older than a level holds: history
	 * being imported, which the levels fill back over only once it has stopped. */
	int64_t history_ns;
};

#define NS_PER_MIN 60000000000LL
#define NS_PER_HOUR 3600000000000LL

/* Top talkers are kept at three levels of time buckets, finest first. */
#define SV_LEVELS 3

struct sv_level {
	const char *table, *col; /* the table and its bucket column (bucket = ns / span) */
	int64_t span_ns;
	int pairs; /* whether it keeps SV_TOP_PAIR: pairs cost nearly a row per record */
	int64_t keep_ns; /* how long its rows are kept; 0: the post's --rollup-retention */
};

extern const struct sv_level sv_levels[SV_LEVELS];

/* Sliding windows of the site's top-talker sums (talk_win), of these widths; in talk_state
 * as levels SV_WIN_STATE + i. */
#define SV_WINDOWS 2
#define SV_WIN_STATE 100
extern const int64_t sv_windows[SV_WINDOWS];

/* Per level, the time range [lo, done) whose records it holds, all of them; the same per
 * window (done 0: not built yet). */
struct sv_talk_state {
	int64_t lo[SV_LEVELS], done[SV_LEVELS];
	int64_t win_lo[SV_WINDOWS], win_done[SV_WINDOWS];
};

/* What each top-talker dimension groups by, as (a, b, p, q), and which records count. */
extern const char *const sv_top_cols[];
extern const char *const sv_top_only[];

struct sv_conn {
	struct sv_store *st;
	sqlite3 *db;
	sqlite3_stmt *ins_batch, *ins_flow, *up_rollup, *up_box, *sel_state;
	sqlite3_stmt *up_talk[SV_LEVELS + SV_WINDOWS];
};

/* This thread's connection, opened on first use; NULL if it cannot be opened. */
struct sv_conn *sv_store_conn(struct sv_store *st);
/* Prepares sql into *s once per connection (persistent), or resets it; 0 or -EIO. */
int sv_prepare(struct sv_conn *c, sqlite3_stmt **s, const char *sql);
/* Runs sql; on failure, err (if not NULL) gets SQLite's message. 0 or -EIO. */
int sv_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

int sv_talk_state(struct sv_conn *c, struct sv_talk_state *ts);
/* In the ingest transaction: the batch's records that fall in a range a level already holds
 * (late records) are added to that level. */
int sv_talk_ingest(struct sv_conn *c, const struct sv_batch *b, int64_t now);
/* Deletes each level's rows past its keep and moves its state on. */
int sv_talk_prune(struct sv_conn *c, int64_t now_ns, int64_t rollup_keep_ns);

/* Deletes alerts whose last activity is older than before_ns (alerts.c). */
int sv_alerts_prune(struct sv_conn *c, int64_t before_ns);

/* The flows table's record columns (flowcols.c, from flowrec.h's field list): the insert of
 * a record with its box, and the select of id, box and the record's fields. */
extern const char sv_flow_insert[];
extern const char sv_flow_select[];
/* Binds box and a record's fields to an insert's parameters 1, 2, ... */
void sv_flow_bind(sqlite3_stmt *s, const char *box, const struct sv_rec *r);
/* Reads a record's fields from a row's columns col, col + 1, ... */
void sv_flow_read(sqlite3_stmt *s, int col, struct sv_rec *r);
/* Adds the columns of fields the table lacks; a column of another type is an error (in
 * err). 0, -EINVAL or -EIO. */
int sv_flow_cols_sync(sqlite3 *db, char *err, size_t errlen);

/* A text column, "" for NULL. */
static inline const char *col_text(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	return t ? t : "";
}

#endif /* SV_STORE_INT_H */
