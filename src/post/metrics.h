/* SPDX-License-Identifier: GPL-2.0 */
/* The post's Prometheus metrics, served at /metrics. */
#ifndef SV_POST_METRICS_H
#define SV_POST_METRICS_H

#include <stddef.h>
#include "http.h"
#include "store.h"

struct sv_analyse;
struct sv_collect;
struct sv_detect;
struct sv_paths;

/* What /metrics reads: everything is handed in, nothing is read from another file's globals. */
struct sv_post_metrics {
	struct sv_store *store;
	const struct sv_http_stats *http; /* answers and ingest results the HTTP front counts */
	struct sv_paths *paths; /* the trajectory join */
	struct sv_collect *collect; /* the IPFIX collector, once started; NULL without */
	struct sv_detect *detect; /* NULL: detection off */
	const char *version;
	/* The ingest rate over the last housekeeping minute; written by the main thread. */
	unsigned long long rate_records, last_records;
	long long last_ns;
	int rollup_pending; /* top-talker buckets still to fill; written by the main thread */
	struct sv_analyse *analyse; /* several posts over one store; NULL: one post */
};

/* Called once a minute: updates the ingest rate. */
void sv_post_metrics_tick(struct sv_post_metrics *m);
/* The http.h metrics hook: renders the text exposition format into *body (malloc'd). */
int sv_post_metrics_render(void *ctx, char **body, size_t *len);

#endif /* SV_POST_METRICS_H */
