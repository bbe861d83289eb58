/* SPDX-License-Identifier: GPL-2.0 */
/* The post's HTTP front: libmicrohttpd daemons on the listen sockets, authentication,
 * request bodies with a size bound, and routing to the API and the dashboard's files. */
#ifndef SV_HTTP_H
#define SV_HTTP_H

#include <stddef.h>
#include "api.h"
#include "auth.h"
#include "store.h"

struct sv_web_asset {
	const char *path; /* "/index.html" */
	const char *type;
	const unsigned char *data;
	size_t len;
};

/* Generated at build time from the dashboard's files (tools/embed.c). */
extern const struct sv_web_asset sv_web_assets[];
extern const size_t sv_web_assets_n;

/* Answers sent, by status: 200, 400, 401, 403, 404, 405, 409, 413, 500, 503, and any other
 * last. */
#define SV_HTTP_CODES 11

/* What the HTTP front counts, since the start, into its caller's struct (read by /metrics).
 * Atomic: the workers update them concurrently. */
struct sv_http_stats {
	unsigned long long requests[SV_HTTP_CODES];
	struct sv_api_stats ingest;
};

struct sv_http_cfg {
	struct sv_store *store;
	struct sv_http_stats *stats;
	const struct sv_auth *auth; /* ingest and admin tokens */
	const char *read_token; /* NULL: reading is open */
	size_t max_body;
	/* Limits (docs/security.md): connections at once, in all and per client address; the
	 * seconds a connection may stay idle, and a request take from its first line to its
	 * last byte of body. */
	unsigned int max_conns, max_conns_per_ip, idle_timeout, request_timeout;
	/* Extra GET handlers (e.g. /metrics) may hook in here; NULL if none. */
	int (*metrics)(void *ctx, char **body, size_t *len);
	void *metrics_ctx;
};

struct sv_http;


/* Starts one daemon per listen socket (already bound and listening). TLS when cert and key
 * (PEM text) are given: TLS 1.2 and 1.3 only, with forward-secret key exchanges only. */
int sv_http_start(struct sv_http_cfg *cfg, const int *fds, int n_fds, int threads,
		  const char *tls_cert, const char *tls_key, struct sv_http **out);
void sv_http_stop(struct sv_http *h);

#endif /* SV_HTTP_H */
