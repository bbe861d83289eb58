/* SPDX-License-Identifier: GPL-2.0 */
/* What a store backend implements: the table of operations behind store.h's functions and
 * the handle every backend's own state begins with. Only store.c and the backends include it. */
#ifndef SV_STORE_BACKEND_H
#define SV_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "store.h"

/* Each operation does what store.h says of the sv_store_ function of the same name, for
 * the handle its backend's open made; all are required. The ones a backend's engine makes
 * needless still answer as store.h says: an engine that sums the top talkers by itself has
 * no bucket left to fill, so its rollup returns 0. Called from many threads at once. */
struct sv_store_ops {
	/* The prefix of the place that chooses this backend ("clickhouse://"); NULL: the
	 * default, chosen by a place that no backend's prefix matches (a file path). */
	const char *scheme;
	/* Opens (creating or upgrading the schema) the store cfg says, its places as the user
	 * gave them; err gets one line on failure. store.c sets the handle's ops. */
	int (*open)(const struct sv_store_cfg *cfg, struct sv_store **out, char *err,
		    size_t errlen);
	void (*close)(struct sv_store *st);

	/* A new batch stores all its records, a batch whose id was stored before (by this or
	 * any other writer of the store) none, with *duplicate = 1. store.c then calls the
	 * handle's stored function for a new one. */
	int (*ingest)(struct sv_store *st, const struct sv_batch *b, int64_t now_ns,
		      int *duplicate);
	int (*prune)(struct sv_store *st, int64_t now_ns, int64_t keep_ns,
		     int64_t rollup_keep_ns);
	int (*rollup)(struct sv_store *st, int64_t now_ns, int64_t rollup_keep_ns,
		      int64_t budget_ns);
	int64_t (*size)(struct sv_store *st);
	int64_t (*box_count)(struct sv_store *st);

	int (*boxes)(struct sv_store *st, sv_box_cb cb, void *ctx);
	int (*flows)(struct sv_store *st, const struct sv_filter *f, const char *sort, int limit,
		     int offset, sv_flow_row_cb cb, void *ctx);
	int (*series)(struct sv_store *st, const struct sv_filter *f, int64_t step_ns, size_t n,
		      uint64_t *bytes, uint64_t *packets);
	int (*top)(struct sv_store *st, const struct sv_filter *f, enum sv_top_by by,
		   int by_packets, int limit, sv_top_cb cb, void *ctx);

	int (*alert_put)(struct sv_store *st, struct sv_alert *a);
	int (*alerts)(struct sv_store *st, const struct sv_alert_filter *f, int limit,
		      int offset, sv_alert_cb cb, void *ctx);

	int (*paths_write)(struct sv_store *st, const struct sv_path_row *paths, size_t n_paths,
			   const struct sv_seg_minute *segs, size_t n_segs, size_t keep);
	int (*paths)(struct sv_store *st, const struct sv_filter *f, int limit,
		     sv_path_row_cb cb, void *ctx);
	int (*path_links)(struct sv_store *st, int64_t since_ns, int64_t until_ns,
			  sv_link_row_cb cb, void *ctx);

	/* issue 16 */
	int (*drop_series)(struct sv_store *st, const struct sv_filter *f, int64_t step_ns,
			   sv_drop_cb cb, void *ctx);
	int (*drop_flows)(struct sv_store *st, const struct sv_filter *f, int limit,
			  sv_drop_cb cb, void *ctx);

	int (*tap_add)(struct sv_store *st, const char *box, const char *rule, int64_t now_ns,
		       int64_t *id);
	int (*tap_del)(struct sv_store *st, int64_t id);
	int (*taps)(struct sv_store *st, const char *box, sv_tap_cb cb, void *ctx);
	int (*tap_report)(struct sv_store *st, const char *box, const struct sv_tap_row *r,
			  int64_t now_ns);

	/* issue 14: the posts of one store elect an analyser that reads the store's feed */
	int (*beat)(struct sv_store *st, int64_t now_ns, struct sv_beat_row *mine,
		    sv_beat_cb cb, void *ctx);
	int (*feed)(struct sv_store *st, int64_t since_ns, int max, sv_feed_want want,
		    sv_feed_cb cb, void *ctx);
};

/* The handle store.h's functions take: a backend's own state embeds it and finds itself from
 * it (as sqlite/store_int.h's sv_sqlite() does). */
struct sv_store {
	const struct sv_store_ops *ops;
	sv_stored_fn stored; /* sv_store_on_stored */
	void *stored_ctx;
	int64_t query_budget_ns; /* sv_store_set_query_budget; 0: none */
	struct sv_store_work work; /* the backend's counts, read with atomics */
	int64_t retention_ns; /* sv_store_set_retention; 0: none */
};

/* The backends store.c chooses from. */
extern const struct sv_store_ops sv_sqlite_ops;
extern const struct sv_store_ops sv_clickhouse_ops;

#endif /* SV_STORE_BACKEND_H */
