/* SPDX-License-Identifier: GPL-2.0 */
/* The embedded store: SQLite in WAL mode. Raw flow records with time-range queries,
 * per-minute rollups per box, interface and direction, boxes, and the batch ids that make
 * ingest exactly-once. The schema is versioned and upgraded in place on open. Every thread
 * gets its own connection; SQLite serializes the writers. */
#ifndef SV_STORE_H
#define SV_STORE_H

#include <stdint.h>
#include "ingest.h"

#define SV_SCHEMA_VERSION 4

struct sv_store;

/* Opens (creating or upgrading) the database at path. err gets one line on failure. */
int sv_store_open(const char *path, struct sv_store **out, char *err, size_t errlen);
void sv_store_close(struct sv_store *st);

/* Stores a batch in one transaction, unless its id was stored before (*duplicate = 1). */
int sv_store_ingest(struct sv_store *st, const struct sv_batch *b, int64_t now_ns,
		    int *duplicate);
/* Deletes flow records older than before_ns and rollups older than rollup_before_ns. */
int sv_store_prune(struct sv_store *st, int64_t before_ns, int64_t rollup_before_ns);
/* Size of the database in bytes (pages in use). */
int64_t sv_store_size(struct sv_store *st);
/* How many boxes have delivered; -1 on error. */
int64_t sv_store_box_count(struct sv_store *st);

/* Filters shared by the queries; NULL strings and negative numbers mean "any". */
struct sv_filter {
	const char *box, *iface, *src_addr, *dst_addr, *addr;
	int direction, protocol, ip_version, src_port, dst_port, port;
	int64_t vni;
	int64_t since_ns, until_ns;
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
/* sort: a column name, '-' in front for descending; the caller has checked it. */
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
/* Ranges of SV_TOP_ROLLUP_NS or more without address, port or protocol filters are answered
 * from hourly rollups: their start is widened to the hour, *since_ns tells the start used. */
#define SV_TOP_ROLLUP_NS (3 * 3600 * 1000000000LL)
int sv_store_top(struct sv_store *st, const struct sv_filter *f, enum sv_top_by by,
		 int by_packets, int limit, int64_t *since_ns, sv_top_cb cb, void *ctx);

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

#endif /* SV_STORE_H */
