// SPDX-License-Identifier: GPL-2.0
/* The HTTP front; see http.h. libmicrohttpd calls handle() several times per request: once
 * with the headers (where we refuse early what we can: wrong method, missing token, a
 * Content-Length beyond the bound), then once per piece of body, then once more with none
 * left, when we answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "api.h"
#include "http.h"
#include "log.h"
#include "sb.h"

#define API_PREFIX "/api/v1/"
#define MAX_DAEMONS 8

struct sv_http {
	struct MHD_Daemon *d[MAX_DAEMONS];
	int n;
};

struct req {
	struct sb body;
	int too_big;
	int answered;
};

static void count_status(const struct sv_http_cfg *cfg, int status)
{
	static const int codes[SV_HTTP_CODES] = { 200, 400, 401, 404, 405, 413, 500 };
	int i;

	for (i = 0; i < SV_HTTP_CODES - 1 && codes[i] != status; i++)
		;
	__atomic_fetch_add(&cfg->stats->requests[i], 1, __ATOMIC_RELAXED);
}

static enum MHD_Result reply(const struct sv_http_cfg *cfg, struct MHD_Connection *c,
			     int status, struct sb *body, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (sb_failed(body))
		return MHD_NO;
	r = MHD_create_response_from_buffer(body->len, body->buf, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (status == 401)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	count_status(cfg, status);
	return ret;
}

static enum MHD_Result send_error(const struct sv_http_cfg *cfg, struct MHD_Connection *c,
				  int status, const char *msg)
{
	struct sb out;
	enum MHD_Result ret;

	sb_init(&out);
	sv_api_error(&out, status, "%s", msg);
	ret = reply(cfg, c, status, &out, "application/json");
	sb_free(&out);
	return ret;
}

/* Compares in time independent of where the strings differ. */
static int token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = la != lb;

	for (i = 0; i < la; i++)
		d |= a[i] ^ b[i % (lb ? lb : 1)];
	return !d;
}

static const char *bearer(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	return h + 7;
}

static int is_ingest_token(const struct sv_http_cfg *cfg, const char *t)
{
	int i, ok = 0;

	for (i = 0; t && i < cfg->n_tokens; i++)
		ok |= token_eq(t, cfg->tokens[i]);
	return ok;
}

static int may_read(const struct sv_http_cfg *cfg, struct MHD_Connection *c)
{
	const char *t = bearer(c);

	if (!cfg->read_token)
		return 1;
	return (t && token_eq(t, cfg->read_token)) || is_ingest_token(cfg, t);
}

static enum MHD_Result collect_param(void *ctx, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct sv_params *p = ctx;

	if (p->n == SV_API_MAX_PARAMS) {
		p->overflow = 1;
		return MHD_NO;
	}
	p->key[p->n] = key;
	p->val[p->n] = value ? value : "";
	p->n++;
	return MHD_YES;
}

static enum MHD_Result serve_asset(const struct sv_http_cfg *cfg, struct MHD_Connection *c,
				   const char *url)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t i;

	if (!strcmp(url, "/"))
		url = "/index.html";
	for (i = 0; i < sv_web_assets_n; i++)
		if (!strcmp(url, sv_web_assets[i].path))
			break;
	if (i == sv_web_assets_n)
		return send_error(cfg, c, 404, "not found");
	r = MHD_create_response_from_buffer(sv_web_assets[i].len,
					    (void *)sv_web_assets[i].data, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", sv_web_assets[i].type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; style-src 'self' 'unsafe-inline'");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	count_status(cfg, 200);
	return ret;
}

static enum MHD_Result serve_metrics(struct sv_http_cfg *cfg, struct MHD_Connection *c)
{
	struct sb out;
	enum MHD_Result ret;
	char *body;
	size_t len;

	if (!cfg->metrics || cfg->metrics(cfg->metrics_ctx, &body, &len))
		return send_error(cfg, c, 500, "metrics unavailable");
	sb_init(&out);
	sb_put(&out, body, len);
	free(body);
	ret = reply(cfg, c, 200, &out, "text/plain; version=0.0.4; charset=utf-8");
	sb_free(&out);
	return ret;
}

static enum MHD_Result serve_get(struct sv_http_cfg *cfg, struct MHD_Connection *c,
				 const char *url)
{
	struct sv_params p = { 0 };
	struct sb out;
	enum MHD_Result ret;
	int status;

	if (!strcmp(url, "/metrics"))
		return may_read(cfg, c) ? serve_metrics(cfg, c) :
					  send_error(cfg, c, 401, "missing or wrong token");
	if (strncmp(url, API_PREFIX, strlen(API_PREFIX)))
		return serve_asset(cfg, c, url);
	if (!may_read(cfg, c))
		return send_error(cfg, c, 401, "missing or wrong token");
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_param, &p);
	sb_init(&out);
	status = sv_api_get(cfg->store, url + strlen(API_PREFIX), &p, &out);
	ret = reply(cfg, c, status, &out, "application/json");
	sb_free(&out);
	return ret;
}

static enum MHD_Result serve_ingest(struct sv_http_cfg *cfg, struct MHD_Connection *c,
				    struct req *rq)
{
	struct sb out;
	enum MHD_Result ret;
	int status;

	if (rq->too_big)
		return send_error(cfg, c, 413, "body too large");
	sb_init(&out);
	status = sv_api_ingest(cfg->store, &cfg->stats->ingest, rq->body.buf ? rq->body.buf : "",
			       rq->body.len, &out);
	if (status >= 500)
		pr_warn("ingest failed: %s", out.buf ? out.buf : "\n");
	ret = reply(cfg, c, status, &out, "application/json");
	sb_free(&out);
	return ret;
}

/* /api/v1/taps and below: the virtual TAP's rules (api/taps.c); the tokens were checked. */
static int is_taps(const char *url)
{
	const char *p = API_PREFIX "taps";

	return !strncmp(url, p, strlen(p)) && (!url[strlen(p)] || url[strlen(p)] == '/');
}

static enum MHD_Result serve_taps(struct sv_http_cfg *cfg, struct MHD_Connection *c,
				  const char *url, const char *method, struct req *rq)
{
	struct sv_params p = { 0 };
	struct sb out;
	enum MHD_Result ret;
	int status;

	if (rq->too_big)
		return send_error(cfg, c, 413, "body too large");
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_param, &p);
	if (p.overflow)
		return send_error(cfg, c, 400, "too many parameters");
	sb_init(&out);
	status = sv_api_taps(cfg->store, method, url + strlen(API_PREFIX "taps"), &p,
			     rq->body.buf ? rq->body.buf : "", rq->body.len, &out);
	ret = reply(cfg, c, status, &out, "application/json");
	sb_free(&out);
	return ret;
}

/* First call of a request: headers only. Refuse here whatever can be refused. */
static enum MHD_Result first_call(struct sv_http_cfg *cfg, struct MHD_Connection *c,
				  const char *url, const char *method, void **con_cls)
{
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	int ingest = !strcmp(url, API_PREFIX "ingest");
	const char *cl;
	struct req *rq;

	if (ingest && strcmp(method, "POST"))
		return send_error(cfg, c, 405, "use POST for ingest");
	if (is_taps(url)) {
		if (sv_api_taps_writes(method) ? !is_ingest_token(cfg, bearer(c)) : !may_read(cfg, c))
			return send_error(cfg, c, 401, "missing or wrong token");
	} else if (!ingest && !get)
		return send_error(cfg, c, 405, "method not allowed");
	if (ingest && !is_ingest_token(cfg, bearer(c)))
		return send_error(cfg, c, 401, "missing or wrong token");
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (ingest && cl && strtoull(cl, NULL, 10) > cfg->max_body)
		return send_error(cfg, c, 413, "body too large");
	rq = calloc(1, sizeof(*rq));
	if (!rq)
		return MHD_NO;
	sb_init(&rq->body);
	/* One allocation for a body of known size, not a doubling per piece. */
	if (ingest && cl)
		sb_reserve(&rq->body, strtoull(cl, NULL, 10));
	*con_cls = rq;
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_size, void **con_cls)
{
	struct sv_http_cfg *cfg = cls;
	struct req *rq = *con_cls;

	if (!rq)
		return first_call(cfg, c, url, method, con_cls);
	if (*data_size) {
		/* Past the bound the rest is read and dropped, so the 413 can be sent. */
		if (rq->body.len + *data_size > cfg->max_body)
			rq->too_big = 1;
		else
			sb_put(&rq->body, data, *data_size);
		*data_size = 0;
		return MHD_YES;
	}
	if (rq->answered)
		return MHD_YES;
	rq->answered = 1;
	if (sb_failed(&rq->body))
		return send_error(cfg, c, 500, "out of memory");
	if (is_taps(url))
		return serve_taps(cfg, c, url, method, rq);
	if (!strcmp(method, "POST"))
		return serve_ingest(cfg, c, rq);
	return serve_get(cfg, c, url);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	if (rq) {
		sb_free(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

int sv_http_start(struct sv_http_cfg *cfg, const int *fds, int n_fds, int threads,
		  const char *tls_cert, const char *tls_key, struct sv_http **out)
{
	struct sv_http *h = calloc(1, sizeof(*h));
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	int i;

	if (!h)
		return -ENOMEM;
	if (tls_cert)
		flags |= MHD_USE_TLS;
	for (i = 0; i < n_fds && i < MAX_DAEMONS; i++) {
		if (tls_cert)
			h->d[i] = MHD_start_daemon(
				flags, 0, NULL, NULL, handle, cfg, MHD_OPTION_LISTEN_SOCKET, fds[i],
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
				MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_HTTPS_MEM_CERT,
				tls_cert, MHD_OPTION_HTTPS_MEM_KEY, tls_key, MHD_OPTION_END);
		else
			h->d[i] = MHD_start_daemon(flags, 0, NULL, NULL, handle, cfg,
						   MHD_OPTION_LISTEN_SOCKET, fds[i],
						   MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
						   MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
						   MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
		if (!h->d[i]) {
			sv_http_stop(h);
			return -EINVAL;
		}
		h->n++;
	}
	*out = h;
	return 0;
}

void sv_http_stop(struct sv_http *h)
{
	int i;

	if (!h)
		return;
	for (i = 0; i < h->n; i++)
		MHD_stop_daemon(h->d[i]);
	free(h);
}
