/* SPDX-License-Identifier: GPL-2.0 */
/* The SQLite backend's private header: what its files share and nobody else needs (nothing
 * above the store includes it; tests/store_test.c checks the backend from inside).
 *
 * conn.c      the backend's handle, one connection per thread, sv_prepare and sv_exec;
 *             the operations table (backend.h) that store.c calls through
 * schema.c    the schema's migrations, run on open
 * ingest.c    a batch in one transaction (exactly-once by its id); pruning
 * talk.c      the top-talker levels and windows
 * query.c     reading: boxes, flow records, series, top talkers, alerts, sizes
 * alerts.c    writing alerts
 * pathstore.c packet trajectories: segment minutes and sampled paths
 * taps.c      virtual TAP rules */
#ifndef SV_STORE_INT_H
#define SV_STORE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <sqlite3.h>
#include "backend.h"
#include "store.h"

#define MAX_CONNS 256

/* The backend's state; base is the handle the layers above hold (backend.h). */
struct sv_sqlite {
	struct sv_store base;
	char path[PATH_MAX];
	pthread_mutex_t lock;
	struct sv_conn *conns[MAX_CONNS];
	int nconns;
	/* When (ingest's now) a batch last brought records older than a level holds: history
	 * being imported, which the levels fill back over only once it has stopped. */
	int64_t history_ns;
};

static inline struct sv_sqlite *sv_sqlite(struct sv_store *st)
{
	return (struct sv_sqlite *)((char *)st - offsetof(struct sv_sqlite, base));
}

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

/* conn.c: CLOCK_MONOTONIC in nanoseconds, for the reads' deadlines. */
int64_t sv_sqlite_mono_ns(void);

struct sv_conn {
	struct sv_sqlite *st;
	sqlite3 *db;
	sqlite3_stmt *ins_batch, *ins_flow, *up_rollup, *up_box, *sel_state;
	sqlite3_stmt *up_talk[SV_LEVELS + SV_WINDOWS];
	int64_t due_ns; /* a read's deadline (monotonic), 0: none; see conn.c's over_budget */
	sqlite3_stmt *ins_late;
};

/* --- conn.c --- */

/* This thread's connection, opened on first use; NULL if it cannot be opened. */
struct sv_conn *sv_sqlite_conn(struct sv_store *st);
/* Prepares sql into *s once per connection (persistent), or resets it; 0 or -EIO. */
int sv_prepare(struct sv_conn *c, sqlite3_stmt **s, const char *sql);
/* Runs sql; on failure, err (if not NULL) gets SQLite's message. 0 or -EIO. */
int sv_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* --- schema.c: brings the database to SV_SCHEMA_VERSION; err gets one line. --- */
int sv_sqlite_migrate(sqlite3 *db, char *err, size_t errlen);

/* --- flowcols.c: the flows table's record columns, from flowrec.h's field list --- */

/* The insert of a record with its box, and the select of id, box and the record's fields. */
extern const char sv_flow_insert[];
extern const char sv_flow_select[];
/* Binds box and a record's fields to an insert's parameters 1, 2, ... */
void sv_flow_bind(sqlite3_stmt *s, const char *box, const struct sv_rec *r);
/* Reads a record's fields from a row's columns col, col + 1, ... */
void sv_flow_read(sqlite3_stmt *s, int col, struct sv_rec *r);
/* Adds the columns of fields the table lacks; a column of another type is an error (in
 * err). 0, -EINVAL or -EIO. */
int sv_flow_cols_sync(sqlite3 *db, char *err, size_t errlen);

/* --- the operations conn.c lists (backend.h says what each does) --- */

int sv_sqlite_ingest(struct sv_store *st, const struct sv_batch *b, int64_t now_ns,
		     int *duplicate);
int sv_sqlite_prune(struct sv_store *st, int64_t now_ns, int64_t keep_ns,
		    int64_t rollup_keep_ns);
int sv_sqlite_rollup(struct sv_store *st, int64_t now_ns, int64_t rollup_keep_ns,
		     int64_t budget_ns);
int64_t sv_sqlite_size(struct sv_store *st);
int64_t sv_sqlite_box_count(struct sv_store *st);
int sv_sqlite_boxes(struct sv_store *st, sv_box_cb cb, void *ctx);
int sv_sqlite_flows(struct sv_store *st, const struct sv_filter *f, const char *sort, int limit,
		    int offset, sv_flow_row_cb cb, void *ctx);
int sv_sqlite_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns, size_t n,
		     uint64_t *bytes, uint64_t *packets);
int sv_sqlite_top(struct sv_store *st, const struct sv_filter *f, enum sv_top_by by,
		  int by_packets, int limit, sv_top_cb cb, void *ctx);
int sv_sqlite_alert_put(struct sv_store *st, struct sv_alert *a);
int sv_sqlite_alerts(struct sv_store *st, const struct sv_alert_filter *f, int limit,
		     int offset, sv_alert_cb cb, void *ctx);
int sv_sqlite_paths_write(struct sv_store *st, const struct sv_path_row *paths,
			  size_t n_paths, const struct sv_seg_minute *segs, size_t n_segs,
			  size_t keep);
int sv_sqlite_paths(struct sv_store *st, const struct sv_filter *f, int limit,
		    sv_path_row_cb cb, void *ctx);
int sv_sqlite_path_links(struct sv_store *st, int64_t since_ns, int64_t until_ns,
			 sv_link_row_cb cb, void *ctx);
int sv_sqlite_drop_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns,
			  sv_drop_cb cb, void *ctx);
int sv_sqlite_drop_flows(struct sv_store *st, const struct sv_filter *f, int limit,
			 sv_drop_cb cb, void *ctx);
int sv_sqlite_tap_add(struct sv_store *st, const char *box, const char *rule, int64_t now_ns,
		      int64_t *id);
int sv_sqlite_tap_del(struct sv_store *st, int64_t id);
int sv_sqlite_taps(struct sv_store *st, const char *box, sv_tap_cb cb, void *ctx);
int sv_sqlite_tap_report(struct sv_store *st, const char *box, const struct sv_tap_row *r,
			 int64_t now_ns);

/* --- talk.c, alerts.c: the parts of ingest and pruning they own --- */

int sv_talk_state(struct sv_conn *c, struct sv_talk_state *ts);
/* In the ingest transaction, before the records: the levels' state into ts, and whether the
 * batch brings history (records older than a level's start). */
int sv_talk_ingest(struct sv_conn *c, const struct sv_batch *b, int64_t now,
		   struct sv_talk_state *ts);
/* In the ingest transaction, for each record once stored with this id: queues it if a level
 * or window holds its time already (a late record), for the rollup to fold in. 1 if queued,
 * 0 if not, -EIO. */
int sv_talk_queue(struct sv_conn *c, const struct sv_talk_state *ts, const struct sv_rec *r,
		  int64_t id);
/* The number of records queued (at open). -EIO on failure. */
int64_t sv_talk_waiting(struct sv_conn *c);
/* Deletes each level's rows past its keep and moves its state on. */
int sv_talk_prune(struct sv_conn *c, int64_t now_ns, int64_t rollup_keep_ns);

/* Deletes alerts whose last activity is older than before_ns (alerts.c). */
int sv_alerts_prune(struct sv_conn *c, int64_t before_ns);

/* A text column, "" for NULL. */
static inline const char *col_text(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	return t ? t : "";
}

#endif /* SV_STORE_INT_H */
