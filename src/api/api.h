/* SPDX-License-Identifier: GPL-2.0 */
/* The REST API under /api/v1 (docs/api.md): request parameters in, JSON and an HTTP status
 * out. Knows nothing of HTTP connections; post/http.c calls it. */
#ifndef SV_API_H
#define SV_API_H

#include <stddef.h>
#include <string.h>
#include "sb.h"
#include "store.h"

#define SV_API_MAX_PARAMS 32

struct sv_params {
	const char *key[SV_API_MAX_PARAMS];
	const char *val[SV_API_MAX_PARAMS];
	int n;
	int overflow;
};

/* GET /api/v1/<name>: fills out with JSON, returns the HTTP status. */
int sv_api_get(struct sv_store *st, const char *name, const struct sv_params *p,
	       struct sb *out);

/* What ingest did: counted into the caller's struct, read by the post's /metrics. Atomic:
 * the HTTP workers update them concurrently. */
struct sv_api_stats {
	unsigned long long batches_stored, batches_duplicate, batches_rejected;
	unsigned long long records_stored, records_skipped;
	unsigned long long records_out_of_range; /* sv_store_date_check's */
};

/* POST /api/v1/ingest with the whole body; what it did is added to *stats. */
int sv_api_ingest(struct sv_store *st, struct sv_api_stats *stats, const char *body, size_t len,
		  struct sb *out);
/* The same for a caller who speaks for some boxes only: may_box(who, box) says whether the
 * batch's box is one of them; if not, 403 naming the box, and nothing is stored. */
int sv_api_ingest_as(struct sv_store *st, struct sv_api_stats *stats,
		     int (*may_box)(const void *who, const char *box), const void *who,
		     const char *body, size_t len, struct sb *out);

/* One alert as JSON (the /api/v1/alerts item, also the alerts log's): lists become arrays,
 * seen_by's "box\tiface" lines objects. */
void sv_api_alert_json(struct sb *out, const struct sv_alert *a);
/* The value of parameter k, or NULL. */
const char *sv_api_param(const struct sv_params *p, const char *k);
/* /api/v1/taps and below (sub: what follows "taps", e.g. "" or "/7"): the virtual TAP's
 * desired rules per box and the agents' reports (taps.c). Returns the HTTP status. */
int sv_api_taps(struct sv_store *st, const char *method, const char *sub,
		const struct sv_params *p, const char *body, size_t len, struct sb *out);
/* Whether a taps request changes something (so needs an admin token, or for a report the
 * box's ingest token). */
static inline int sv_api_taps_writes(const char *method)
{
	return strcmp(method, "GET") && strcmp(method, "HEAD");
}

/* {"error": msg} */
int sv_api_error(struct sb *out, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* SV_API_H */
