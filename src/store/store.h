/* SPDX-License-Identifier: GPL-2.0 */
/* The store, as everything above it (src/api, src/post) sees it: raw flow records with
 * time-range queries, per-minute rollups per box, interface and direction, top talkers,
 * boxes, the batch ids that make ingest exactly-once, alerts, packet paths and TAP rules.
 * Each schema is versioned and upgraded in place on open. Every function may be called from
 * any thread.
 *
 * The store is an interface with backends behind it. Its files:
 *   store.h     this interface, the only store header the layers above include
 *   store.c     sv_store_open chooses a backend; the rest forwards to its operations
 *   backend.h   the table of operations a backend implements, and the handle
 *   sqlite/     the SQLite backend (WAL mode, a connection per thread), the default:
 *               one folder per backend, its private header (sqlite/store_int.h) and its
 *               engine's types seen by its own files only
 * A new backend is a folder beside sqlite/ with its own operations table, listed in
 * store.c's backends[] and chosen by the scheme its places start with. */
#ifndef SV_STORE_H
#define SV_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "ingest.h"

/* The SQLite backend's schema version (sqlite/schema.c; tests/test-api.sh reads it here). */
#define SV_SCHEMA_VERSION 9

struct sv_store;

/* Opens (creating or upgrading the schema) the store at where: a file path opens the SQLite
 * database there; a place starting with another backend's scheme opens that backend. err
 * gets one line on failure. */
int sv_store_open(const char *where, struct sv_store **out, char *err, size_t errlen);
/* Where a store is, as the post's options give it: --db or each --store place (one per
 * shard of a ClickHouse cluster), the cluster's name from its servers' remote_servers
 * (--store-cluster, NULL: one server) and a password (--store-password-file; NULL: the
 * place's own, if any). */
struct sv_store_cfg {
	const char *const *places;
	int n_places;
	const char *cluster, *password;
	/* This writer among the store's others, the same after a restart (the post: its host
	 * and first --listen); NULL: a new one each time. */
	const char *writer;
};

/* sv_store_open for a whole configuration: the first place chooses the backend. */
int sv_store_open_cfg(const struct sv_store_cfg *cfg, struct sv_store **out, char *err,
		      size_t errlen);
/* NULL is fine. */
void sv_store_close(struct sv_store *st);

/* Stores a batch in one transaction, unless its id was stored before (*duplicate = 1). */
int sv_store_ingest(struct sv_store *st, const struct sv_batch *b, int64_t now_ns,
		    int *duplicate);
/* Deletes flow records, alerts and boxes silent for longer than keep_ns, and rollups older
 * than rollup_keep_ns (the finer top-talker levels sooner: see sqlite/talk.c). */
int sv_store_prune(struct sv_store *st, int64_t now_ns, int64_t keep_ns, int64_t rollup_keep_ns);
/* Fills the top-talker buckets that have closed, for up to budget_ns of work. Returns how
 * many buckets were still to fill (0: up to date), or -EIO. */
int sv_store_rollup(struct sv_store *st, int64_t now_ns, int64_t rollup_keep_ns,
		    int64_t budget_ns);
/* Bytes the store uses on disk (SQLite: the pages in use); -1 on error. */
int64_t sv_store_size(struct sv_store *st);
/* How many boxes have delivered; -1 on error. */
int64_t sv_store_box_count(struct sv_store *st);

/* Filters shared by the queries; NULL strings and negative numbers mean "any". */
struct sv_filter {
	const char *box, *iface, *src_addr, *dst_addr, *addr;
	int direction, protocol, ip_version, src_port, dst_port, port;
	int64_t vni;
	int64_t since_ns, until_ns;
	/* Issue 17, /api/v1/flows only; -1: no filter. A round trip of at least this (the
	 * record's largest), at least this many retransmissions, DNS answers that took this
	 * long on average, this DNS response code. */
	int64_t min_rtt_ns, min_retransmits, min_dns_latency_ns, dns_rcode;
	/* issue 16: 1 records with drops, 0 without; reason: with drops of that reason */
	int drops;
	const char *reason;
};

void sv_filter_init(struct sv_filter *f);

struct sv_box_row {
	const char *name, *agent_version, *interfaces;
	int64_t first_seen_ns, last_seen_ns, flows;
};

typedef int (*sv_box_cb)(void *ctx, const struct sv_box_row *row);
int sv_store_boxes(struct sv_store *st, sv_box_cb cb, void *ctx);

struct sv_flow_row {
	int64_t id;
	const char *box;
	struct sv_rec rec;
};

typedef int (*sv_flow_row_cb)(void *ctx, const struct sv_flow_row *row);
/* sort: a column name (or rtt_mean_ns, dns_latency_ns: the means of the record's round
 * trips and DNS answers), '-' in front for descending; the caller has checked it. */
int sv_store_flows(struct sv_store *st, const struct sv_filter *f, const char *sort, int limit,
		   int offset, sv_flow_row_cb cb, void *ctx);

/* Sums per step into bytes[] and packets[] (n points from since_ns, zeroed by the caller). */
int sv_store_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns, size_t n,
		    uint64_t *bytes, uint64_t *packets);

enum sv_top_by {
	SV_TOP_SRC,
	SV_TOP_DST,
	SV_TOP_PAIR,
	SV_TOP_PORT,
	SV_TOP_PROTOCOL,
};

struct sv_top_row {
	const char *src_addr, *dst_addr;
	int protocol, dst_port;
	uint64_t bytes, packets, flows;
};

typedef int (*sv_top_cb)(void *ctx, const struct sv_top_row *row);
/* Filtered at most by box, interface and direction, the whole buckets of the range come from
 * the top-talker rollups and only its edges from the raw records; the answer is exact. */
int sv_store_top(struct sv_store *st, const struct sv_filter *f, enum sv_top_by by,
		 int by_packets, int limit, sv_top_cb cb, void *ctx);

/* Called after each batch stored for the first time (not for duplicates), from the thread
 * that stored it, whichever way the batch came (agent ingest, IPFIX collector): the one
 * place every stored record passes. Set before any batch is stored. */
typedef void (*sv_stored_fn)(void *ctx, const struct sv_batch *b);
void sv_store_on_stored(struct sv_store *st, sv_stored_fn fn, void *ctx);
/* How long one read (flows, series, top, alerts, boxes) may take before it is cut off with
 * -ETIMEDOUT, so no query holds a worker for long (issue 15); 0: no bound. Set at start. */
void sv_store_set_query_budget(struct sv_store *st, int64_t ns);

/* How far ahead of the post's clock a record may be dated: a box's or an exporter's clock may
 * run a little fast, but a record dated further ahead would outlive the retention. */
#define SV_STORE_SKEW_NS (3600 * 1000000000LL)
/* Records older than keep_ns are refused too (they would go at the next pruning); 0: no
 * bound. Set at start. */
void sv_store_set_retention(struct sv_store *st, int64_t keep_ns);
/* The one rule for the dates of records from agents and exporters alike (issue 15): takes
 * out of b the records dated more than SV_STORE_SKEW_NS ahead of now, or older than the
 * retention, keeping the others in order; returns how many it took out. */
size_t sv_store_date_check(const struct sv_store *st, struct sv_batch *b, int64_t now_ns);

/* Work the store did after a request was answered, as counts (issue 15: counts of work, not
 * times): records older than a top-talker level's end, queued at ingest and folded into the
 * levels later in slices of bounded size (sqlite/talk.c), the level sums those folds added
 * to, the slices (transactions) they took, and the records still waiting. Zero for a
 * backend whose engine sums the top talkers by itself. */
struct sv_store_work {
	unsigned long long late_queued, late_folded, late_sums, late_slices;
	long long late_waiting;
};
void sv_store_work(struct sv_store *st, struct sv_store_work *out);

/* An attack the detector found (post/detect.c). Lists are '\n'-separated items, capped by
 * the detector; the n_ counts say how many there were in all. seen_by items are
 * "box\tiface" (neither may hold a control character). */
struct sv_alert {
	int64_t id; /* 0 until stored */
	char type[16]; /* port_scan, host_sweep, syn_flood */
	char severity[8]; /* low, medium, high */
	char src[SV_ADDR_MAX]; /* the source, or "many" */
	char target[SV_ADDR_MAX]; /* the host attacked; "" for a sweep */
	int64_t first_ns, last_ns;
	uint64_t flows, packets;
	uint64_t n_hosts, n_ports, n_sources;
	const char *hosts, *ports, *sources, *seen_by;
};

/* Inserts a new alert (a->id == 0; sets a->id) or rewrites the stored one with a->id. */
int sv_store_alert_put(struct sv_store *st, struct sv_alert *a);

/* NULL strings mean "any"; target matches the target or any host of the list. */
struct sv_alert_filter {
	const char *type, *severity, *src, *target, *box;
	int64_t since_ns, until_ns; /* alerts active at some time in [since, until) */
};

typedef int (*sv_alert_cb)(void *ctx, const struct sv_alert *a);
/* Newest activity first. */
int sv_store_alerts(struct sv_store *st, const struct sv_alert_filter *f, int limit, int offset,
		    sv_alert_cb cb, void *ctx);

/* --- Packet trajectories (src/post/paths.c, docs/paths.md) ---------------------------- */

/* Latency histograms: 8 buckets per power of two of nanoseconds (at most 6% off). */
#define SV_LAT_BUCKETS 488
int sv_lat_bucket(int64_t ns);
/* The middle of a bucket, in ns. */
int64_t sv_lat_bucket_mid(int b);

/* A place where a packet is seen: a box's interface in one direction. */
struct sv_point {
	const char *box, *iface;
	int direction;
};

/* One minute of one segment (from -> to): packets that reached its start and either crossed
 * it (with their latency) or were lost on it. */
struct sv_seg_minute {
	int64_t minute;
	struct sv_point from, to;
	uint64_t seen, lost, lat_n;
	int64_t lat_sum, lat_min, lat_max;
	uint32_t hist[SV_LAT_BUCKETS];
};

/* One finalized sampled packet; hops and lost are JSON text paths.c wrote. */
struct sv_path_row {
	int64_t first_ns;
	const char *hash;
	int ip_version, protocol, src_port, dst_port;
	const char *src_addr, *dst_addr;
	const char *hops; /* [{"box","iface","direction","ts_ns","delta_ns"}, ...] */
	const char *lost; /* {"after":point,"expected":point} or NULL */
};

/* Stores a sweep's paths and segment minutes in one transaction, keeping only the newest
 * keep paths. */
int sv_store_paths_write(struct sv_store *st, const struct sv_path_row *paths, size_t n_paths,
			 const struct sv_seg_minute *segs, size_t n_segs, size_t keep);

typedef int (*sv_path_row_cb)(void *ctx, const struct sv_path_row *row);
/* Paths whose first sighting is in [since, until), oldest first, matching the filter's
 * src_addr, dst_addr, protocol, src_port and dst_port. */
int sv_store_paths(struct sv_store *st, const struct sv_filter *f, int limit,
		   sv_path_row_cb cb, void *ctx);

struct sv_link_row {
	struct sv_point from, to;
	uint64_t seen, lost, lat_n;
	int64_t lat_mean, lat_min, lat_max, p50, p90, p99;
};

typedef int (*sv_link_row_cb)(void *ctx, const struct sv_link_row *row);
/* Every segment with minutes in [since, until), summed, with latency percentiles. */
int sv_store_path_links(struct sv_store *st, int64_t since_ns, int64_t until_ns,
			sv_link_row_cb cb, void *ctx);

/* --- Kernel drops (issue 16): the records' drops, drop_bytes and drop_reasons ---------- */

/* Series rows: a box's drops of one reason in step b (from since_ns); flow rows: one flow's
 * drops summed over the range, in rec (key fields, first_ns, last_ns, drops, drop_bytes and
 * drop_reasons; reason NULL, b -1). */
struct sv_drop_row {
	const char *box, *reason;
	int64_t b;
	uint64_t packets;
	const struct sv_rec *rec;
};

typedef int (*sv_drop_cb)(void *ctx, const struct sv_drop_row *row);
/* Drops by box and reason per step (records by last_ns in [since, until)); with f->reason,
 * only that reason's. */
int sv_store_drop_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns,
			 sv_drop_cb cb, void *ctx);
/* The limit flows with the most drops in the range, most first. */
int sv_store_drop_flows(struct sv_store *st, const struct sv_filter *f, int limit,
			sv_drop_cb cb, void *ctx);

/* ---- Virtual TAP rules (taps.c) ---- */
struct sv_tap_row {
	int64_t id;
	const char *box, *rule, *error; /* error NULL: none reported */
	int64_t created_ns, reported_ns; /* reported_ns 0: the agent has not reported it */
	int64_t agent_id; /* the rule's id in the agent, 0 if not applied */
	uint64_t matched, mirrored, truncated, rate_limited, failed;
};
typedef int (*sv_tap_cb)(void *ctx, const struct sv_tap_row *r);

/* A desired rule for box; its id into *id. */
int sv_store_tap_add(struct sv_store *st, const char *box, const char *rule, int64_t now_ns,
		     int64_t *id);
/* 0, -ENOENT if there is no such rule, -EIO. */
int sv_store_tap_del(struct sv_store *st, int64_t id);
/* The rules of box (NULL: every box), by id. */
int sv_store_taps(struct sv_store *st, const char *box, sv_tap_cb cb, void *ctx);
/* What box's agent reports of one of its rules; a rule of another box, or gone, is ignored. */
int sv_store_tap_report(struct sv_store *st, const char *box, const struct sv_tap_row *r,
			int64_t now_ns);

/* ---- Several posts, one analyser (issue 14, post/analyse.c, docs/scale-out.md) ---- */

/* One writer's newest heartbeat: its id, when it beat (its clock), whether it analyses and
 * its feed's watermark; self: this handle's writer. */
struct sv_beat_row {
	const char *post;
	int64_t beat_ns, watermark_ns;
	int analyser, self;
};
typedef int (*sv_beat_cb)(void *ctx, const struct sv_beat_row *r);
/* Calls cb with every writer's newest heartbeat (this one's too, if it beat before), then
 * writes this writer's, stamped now_ns, with mine's analyser and watermark_ns as they are
 * after the calls (cb may change them: a watermark read is passed on). mine->post gets this
 * writer's id before the first call. -EOPNOTSUPP for a store only one post writes (SQLite):
 * that post feeds its detector and trajectory join from its own batches. */
int sv_store_beat(struct sv_store *st, int64_t now_ns, struct sv_beat_row *mine, sv_beat_cb cb,
		  void *ctx);

/* A stored batch as the feed gives it back: the batch (box, batch_id, recs, fps) and when
 * its writer marked it stored (that writer's clock). */
typedef int (*sv_feed_want)(void *ctx, const char *box, const char *batch_id, int64_t done_ns);
typedef int (*sv_feed_cb)(void *ctx, const struct sv_batch *b, int64_t done_ns);
/* The batches any writer stored since since_ns (their done times), oldest first, at most max:
 * want says which to read (0: skip it, already seen), cb gets each one read. How many were
 * given to cb, or -EOPNOTSUPP (as sv_store_beat), -EIO. */
int sv_store_feed(struct sv_store *st, int64_t since_ns, int max, sv_feed_want want,
		  sv_feed_cb cb, void *ctx);

#endif /* SV_STORE_H */
