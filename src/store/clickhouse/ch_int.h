/* SPDX-License-Identifier: GPL-2.0 */
/* The ClickHouse backend's private header (docs/scale-out.md): what its files share.
 *
 * conn.c    the handle: the places parsed, HTTP requests with libcurl, the operations table
 * schema.c  the schema, created and upgraded on open on every shard, with its version table
 * ingest.c  a batch once (the batch-id claims), big inserts, retention by partitions
 * rows.c    a batch's records as the insert's TabSeparated rows, written by hand
 * query.c   reading: boxes, flow records, series, top talkers, sizes
 * state.c   alerts, packet trajectories and TAP rules: versioned rows, the newest wins
 * feed.c    the analyser's side (issue 14): fingerprints, the feed of stored batches, heartbeats
 *
 * Every table is a local one (NAME_local) on each shard; with a cluster, the post reads and
 * writes through a Distributed table NAME over them, else through the local one. */
#ifndef SV_CH_INT_H
#define SV_CH_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "backend.h"
#include "sb.h"
#include "store.h"

#define CH_MAX_SHARDS 16
#define CH_NS_PER_MIN 60000000000LL
#define CH_NS_PER_TEN 10000000000LL /* rollup_10s's unit */

/* A record's times are kept to the millisecond, in columns first_ms and last_ms (schema v6):
 * nanoseconds below that are the clock's noise, not information, and took 6 of a record's
 * bytes on disk. A record read back is at t ms = t * 10^6 ns (as IPFIX's flowEndMilliseconds
 * has it), so the range [since, until) in ns is [ch_ms_ceil(since), ch_ms_ceil(until)) in ms,
 * and every boundary of whole seconds counts each record where the ns did. */
#define CH_NS_PER_MS 1000000LL

static inline int64_t ch_ms_ceil(int64_t ns)
{
	return ns / CH_NS_PER_MS + (ns % CH_NS_PER_MS > 0);
}

/* The column of a field (SV_FLOW_FIELDS): its name, but the times' in ms. */
#define CH_COL(name, kind) CH_COL_##kind(name)
#define CH_COL_NS(name) CH_MS_##name
#define CH_MS_first_ns "first_ms"
#define CH_MS_last_ns "last_ms"
#define CH_COL_IFACE(name) #name
#define CH_COL_DIR(name) #name
#define CH_COL_U8(name) #name
#define CH_COL_U16(name) #name
#define CH_COL_IPVER(name) #name
#define CH_COL_OPT8(name) #name
#define CH_COL_VLAN(name) #name
#define CH_COL_VNI(name) #name
#define CH_COL_ADDR(name) #name
#define CH_COL_MAC(name) #name
#define CH_COL_COUNT(name) #name
#define CH_COL_REASON(name) #name
#define CH_COL_DROPS(name) #name

struct ch_shard {
	char *url; /* http(s)://HOST:PORT/ */
	char *user, *password; /* NULL: ClickHouse's default user */
	int has_db; /* the database exists: requests name it */
};

struct sv_ch {
	struct sv_store base;
	struct ch_shard shard[CH_MAX_SHARDS];
	int n_shards, next; /* next: the shard the next request starts at */
	char db[64];
	char cluster[64]; /* "": one server */
	char post_id[40]; /* this post's name in the batch claims */
};

static inline struct sv_ch *sv_ch(struct sv_store *st)
{
	return (struct sv_ch *)((char *)st - offsetof(struct sv_ch, base));
}

/* The table a query names: the Distributed one over a cluster, else the local one. */
#define CH_T(ch, name) ((ch)->cluster[0] ? name : name "_local")

/* --- conn.c --- */

/* Runs sql (not an insert: ch_insert) on shard k (-1: the first that answers, from a
 * rotating start); the answer into out (may be NULL). err gets ClickHouse's first line.
 * 0, -ETIMEDOUT (a read over the store's query budget), or -EIO. */
int ch_run(struct sv_ch *ch, int k, const char *sql, struct sb *out, char *err, size_t errlen);
/* Inserts rows (TabSeparated) into table's local table (cols: the columns given, NULL: all)
 * on one shard: key % shards for rows whose versions must share a shard, else (key -1) any
 * shard that takes them whole. 0, -ENOMEM or -EIO (said). */
int ch_insert(struct sv_ch *ch, const char *table, const char *cols, int64_t key,
	      const struct sb *rows);
/* A string literal: 'text' with quotes and backslashes escaped. */
void ch_quote(struct sb *s, const char *text);
/* A field of a TabSeparated row: tabs, newlines and backslashes escaped. */
void ch_tsv(struct sb *s, const char *text);

/* A TabSeparated answer's rows, unescaped in place. */
struct ch_rows {
	char *p, *end;
	char *f[2 + SV_REC_NFIELDS + 16]; /* id, box and a record, or fewer */
	int n;
};
void ch_rows_init(struct ch_rows *r, struct sb *answer);
/* The next row's fields into r->f (r->n of them); 0 at the end. */
int ch_next(struct ch_rows *r);
static inline int64_t ch_i64(const struct ch_rows *r, int i)
{
	return i < r->n ? strtoll(r->f[i], NULL, 10) : 0;
}
static inline const char *ch_str(const struct ch_rows *r, int i)
{
	return i < r->n ? r->f[i] : "";
}

/* --- schema.c --- */
int ch_schema(struct sv_ch *ch, char *err, size_t errlen);
/* Table NAME_local (cols, engine) on shard k, and with a cluster the Distributed NAME over
 * it; both IF NOT EXISTS. */
int ch_create_table(struct sv_ch *ch, int k, const char *name, const char *cols,
		    const char *engine, char *err, size_t errlen);
/* The record's columns in the field list's order: ", iface, direction, ..." (CH_COL) */
extern const char ch_flow_cols[];
/* A record from a row's fields col, col + 1, ... */
void ch_flow_read(const struct ch_rows *r, int col, struct sv_rec *rec);

/* --- rows.c --- */
struct sv_batch;
/* The batch's records as rows of flows: day, box, id (hash << 20 | the record's place), the
 * record's fields. */
void ch_flow_rows(struct sb *s, const struct sv_batch *b, uint64_t hash);
/* The batch's fingerprints as fps rows (bid: the batch's hash, as in its records' ids), filed
 * by the day of now, when they are stored. */
void ch_fps_rows(struct sb *s, const struct sv_batch *b, uint64_t bid, int64_t now);

/* --- the operations (backend.h) --- */
int ch_ingest(struct sv_store *st, const struct sv_batch *b, int64_t now_ns, int *duplicate);
int ch_prune(struct sv_store *st, int64_t now_ns, int64_t keep_ns, int64_t rollup_keep_ns);
int ch_rollup(struct sv_store *st, int64_t now_ns, int64_t rollup_keep_ns, int64_t budget_ns);
int64_t ch_size(struct sv_store *st);
int64_t ch_box_count(struct sv_store *st);
int ch_boxes(struct sv_store *st, sv_box_cb cb, void *ctx);
int ch_flows(struct sv_store *st, const struct sv_filter *f, const char *sort, int limit,
	     int offset, sv_flow_row_cb cb, void *ctx);
int ch_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns, size_t n,
	      uint64_t *bytes, uint64_t *packets);
int ch_drop_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns,
		   sv_drop_cb cb, void *ctx);
int ch_drop_flows(struct sv_store *st, const struct sv_filter *f, int limit, sv_drop_cb cb,
		  void *ctx);
int ch_top(struct sv_store *st, const struct sv_filter *f, enum sv_top_by by, int by_packets,
	   int limit, sv_top_cb cb, void *ctx);
int ch_alert_put(struct sv_store *st, struct sv_alert *a);
int ch_alerts(struct sv_store *st, const struct sv_alert_filter *f, int limit, int offset,
	      sv_alert_cb cb, void *ctx);
int ch_paths_write(struct sv_store *st, const struct sv_path_row *paths, size_t n_paths,
		   const struct sv_seg_minute *segs, size_t n_segs, size_t keep);
int ch_paths(struct sv_store *st, const struct sv_filter *f, int limit, sv_path_row_cb cb,
	     void *ctx);
int ch_path_links(struct sv_store *st, int64_t since_ns, int64_t until_ns, sv_link_row_cb cb,
		  void *ctx);
int ch_tap_add(struct sv_store *st, const char *box, const char *rule, int64_t now_ns,
	       int64_t *id);
int ch_tap_del(struct sv_store *st, int64_t id);
int ch_taps(struct sv_store *st, const char *box, sv_tap_cb cb, void *ctx);
int ch_tap_report(struct sv_store *st, const char *box, const struct sv_tap_row *r,
		  int64_t now_ns);

/* --- feed.c --- */
/* The tables fps, feed and posts on shard k (schema version 3). */
int ch_feed_schema(struct sv_ch *ch, int k, char *err, size_t errlen);
/* Appends the batch's feed row, stamped now; written once its records and fingerprints are
 * in, before its done mark (ingest.c inserts the group's rows at once). */
void ch_feed_row(struct sb *row, const struct sv_batch *b, uint64_t bid);
int ch_beat(struct sv_store *st, int64_t now_ns, struct sv_beat_row *mine, sv_beat_cb cb,
	    void *ctx);
int ch_feed(struct sv_store *st, int64_t since_ns, int max, sv_feed_want want, sv_feed_cb cb,
	    void *ctx);

/* A new id for a row several posts may write at once: the time in milliseconds and 10
 * random bits, ordered by time, exact in a JSON number (below 2^53). */
int64_t ch_new_id(int64_t now_ns);

#endif /* SV_CH_INT_H */
