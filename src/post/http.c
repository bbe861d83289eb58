// SPDX-License-Identifier: GPL-2.0
/* The HTTP front; see http.h. libmicrohttpd calls handle() several times per request: once
 * with the headers (where we refuse early what we can: wrong method, missing or wrong token,
 * a Content-Length beyond the bound, all before any body is read), then once per piece of
 * body, then once more with none left, when we answer. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>
#include "api.h"
#include "http.h"
#include "log.h"
#include "sb.h"

#define API_PREFIX "/api/v1/"
#define MAX_DAEMONS 8
#define TAPS_BODY_MAX (1u << 20) /* a report of 256 rules is ~60 KiB */
/* TLS 1.2 and 1.3 only; no key exchange without forward secrecy (plain RSA, PSK). */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-PSK:-DHE-PSK:-ECDHE-PSK"

/* Reads of the API run on their own threads, not the HTTP workers': a worker suspends the
 * connection, queues it here and goes back to serving agents; a reader answers it and resumes
 * it. At most READS_QUEUED per reader wait; past that a read is answered 503 at once. A read
 * still unanswered at its request's deadline (--request-timeout from its first line), waiting
 * or running, is answered 503 by the watchdog, within a second, and its connection resumed:
 * a suspended connection has no idle timeout, so nothing else would ever free it. */
#define READS_QUEUED 16

struct readers {
	pthread_mutex_t mu;
	pthread_cond_t cv, wd_cv;
	struct read_job *head, *tail; /* waiting, oldest first */
	struct read_job *running; /* being run by a reader */
	int queued, max_queued, n, stop, wd;
	pthread_t th[64], wd_th;
};

struct sv_http {
	struct sv_http_cfg *cfg;
	struct readers rd;
	struct MHD_Daemon *d[MAX_DAEMONS];
	int n;
};

/* A read handed to the readers. Its path and parameters are copies, and a reader answers
 * into out: the watchdog may give the connection back to MHD (rq NULL) while a reader still
 * runs the read, which is then dropped. */
struct read_job {
	struct read_job *next;
	struct MHD_Connection *c;
	struct req *rq; /* NULL once the connection is resumed */
	unsigned long long due_ns; /* monotonic */
	const char *path; /* below API_PREFIX */
	struct sv_params params;
	struct sb out;
	int status;
};

struct req {
	struct sb body;
	unsigned long long start_ns; /* the request line's arrival */
	size_t max; /* body this request may bring; 0: what comes is dropped */
	const struct sv_token *who;
	struct sv_params params; /* a queued read's parameters */
	struct sb out; /* a queued read's answer, status in out_status once done */
	int out_status, queued;
	int seen; /* the headers' call was made */
	int too_big;
	int answered;
};

static void count_status(const struct sv_http_cfg *cfg, int status)
{
	static const int codes[SV_HTTP_CODES] = { 200, 400, 401, 403, 404, 405, 409, 413, 500,
						    503 };
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

static const char *bearer(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7))
		return NULL;
	return h + 7;
}

/* Any known token (read, ingest or admin) when reading needs one. */
static int may_read(const struct sv_http_cfg *cfg, const struct sv_token *who)
{
	return !cfg->read_token || who;
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

static unsigned long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* A job for path and p, the strings copied after it in one allocation; NULL if out of memory. */
static struct read_job *job_new(const char *path, const struct sv_params *p)
{
	size_t len = strlen(path) + 1, k;
	struct read_job *j;
	char *at;
	int i;

	for (i = 0; i < p->n; i++)
		len += strlen(p->key[i]) + strlen(p->val[i]) + 2;
	j = calloc(1, sizeof(*j) + len);
	if (!j)
		return NULL;
	at = (char *)(j + 1);
	j->path = memcpy(at, path, (k = strlen(path) + 1));
	at += k;
	for (i = 0; i < p->n; i++) {
		j->params.key[i] = memcpy(at, p->key[i], (k = strlen(p->key[i]) + 1));
		at += k;
		j->params.val[i] = memcpy(at, p->val[i], (k = strlen(p->val[i]) + 1));
		at += k;
	}
	j->params.n = p->n;
	j->params.overflow = p->overflow;
	sb_init(&j->out);
	return j;
}

static void job_free(struct read_job *j)
{
	sb_free(&j->out);
	free(j);
}

/* Under rd->mu: gives the connection its answer (status, and out's text) and back to MHD. */
static void job_answer(struct read_job *j, int status, struct sb *out)
{
	struct sb tmp = j->rq->out;

	j->rq->out = *out;
	*out = tmp;
	j->rq->out_status = status;
	MHD_resume_connection(j->c);
	j->rq = NULL;
}

static void *reader(void *arg)
{
	struct sv_http *h = arg;
	struct readers *rd = &h->rd;
	struct read_job *j, **pp;
	int stop;

	pthread_mutex_lock(&rd->mu);
	for (;;) {
		while (!rd->head && !rd->stop)
			pthread_cond_wait(&rd->cv, &rd->mu);
		j = rd->head;
		if (!j)
			break;
		rd->head = j->next;
		if (!rd->head)
			rd->tail = NULL;
		rd->queued--;
		j->next = rd->running;
		rd->running = j;
		stop = rd->stop;
		pthread_mutex_unlock(&rd->mu);
		/* At the stop, what still waits is answered without being run. */
		if (stop)
			j->status = sv_api_error(&j->out, 503, "the post is stopping");
		else
			j->status = sv_api_get(h->cfg->store, j->path, &j->params, &j->out);
		pthread_mutex_lock(&rd->mu);
		for (pp = &rd->running; *pp != j; pp = &(*pp)->next)
			;
		*pp = j->next;
		if (j->rq)
			job_answer(j, j->status, &j->out);
		job_free(j);
	}
	pthread_mutex_unlock(&rd->mu);
	return NULL;
}

/* Under rd->mu: a read past its deadline gets a 503 now. */
static void expire(struct read_job *j)
{
	struct sb out;
	int status;

	sb_init(&out);
	status = sv_api_error(&out, 503, "the read was not answered within the request timeout"
			      " (--request-timeout): try again shortly, or narrow it");
	job_answer(j, status, &out);
	sb_free(&out);
}

/* Answers the reads past their deadline, waiting or running, and sleeps until the next
 * deadline, a second at most. */
static void *watchdog(void *arg)
{
	struct readers *rd = arg;
	unsigned long long now, next;
	struct read_job *j, **pp;
	struct timespec ts;

	pthread_mutex_lock(&rd->mu);
	while (!rd->stop) {
		now = mono_ns();
		next = now + 1000000000ULL;
		for (pp = &rd->head, rd->tail = NULL; (j = *pp);) {
			if (j->due_ns <= now) {
				*pp = j->next;
				rd->queued--;
				expire(j);
				job_free(j);
				continue;
			}
			next = j->due_ns < next ? j->due_ns : next;
			rd->tail = j;
			pp = &j->next;
		}
		for (j = rd->running; j; j = j->next) {
			if (j->rq && j->due_ns <= now)
				expire(j);
			else if (j->rq && j->due_ns < next)
				next = j->due_ns;
		}
		ts.tv_sec = next / 1000000000ULL;
		ts.tv_nsec = next % 1000000000ULL;
		pthread_cond_timedwait(&rd->wd_cv, &rd->mu, &ts);
	}
	pthread_mutex_unlock(&rd->mu);
	return NULL;
}

/* Hands a read of the API to the readers and suspends its connection: 0, or -EBUSY when
 * as many reads as the queue holds already wait. */
static int queue_read(struct sv_http *h, struct MHD_Connection *c, struct req *rq,
		      const char *path)
{
	struct readers *rd = &h->rd;
	struct read_job *j = job_new(path, &rq->params);

	if (!j)
		return -ENOMEM;
	j->c = c;
	j->rq = rq;
	j->due_ns = rq->start_ns + h->cfg->request_timeout * 1000000000ULL;
	pthread_mutex_lock(&rd->mu);
	if (rd->queued >= rd->max_queued || rd->stop) {
		pthread_mutex_unlock(&rd->mu);
		job_free(j);
		return -EBUSY;
	}
	/* Suspended before a reader can see it, so its resume never comes first. */
	MHD_suspend_connection(c);
	rq->queued = 1;
	if (rd->tail)
		rd->tail->next = j;
	else
		rd->head = j;
	rd->tail = j;
	rd->queued++;
	pthread_cond_signal(&rd->cv);
	pthread_mutex_unlock(&rd->mu);
	return 0;
}

static enum MHD_Result serve_get(struct sv_http *h, struct MHD_Connection *c,
				 const char *url, struct req *rq)
{
	struct sv_http_cfg *cfg = h->cfg;
	int err;

	if (!strcmp(url, "/metrics"))
		return serve_metrics(cfg, c);
	if (strncmp(url, API_PREFIX, strlen(API_PREFIX)))
		return serve_asset(cfg, c, url);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_param, &rq->params);
	err = queue_read(h, c, rq, url + strlen(API_PREFIX));
	if (err == -EBUSY)
		return send_error(cfg, c, 503, "too many reads at once: try again shortly");
	if (err)
		return send_error(cfg, c, 500, "out of memory");
	return MHD_YES;
}

/* A queued read, resumed by its reader: its answer is ready. */
static enum MHD_Result answer_read(struct sv_http_cfg *cfg, struct MHD_Connection *c,
				   struct req *rq)
{
	rq->queued = 0;
	return reply(cfg, c, rq->out_status, &rq->out, "application/json");
}

static int may_box(const void *who, const char *box)
{
	return sv_auth_box(who, box);
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
	status = sv_api_ingest_as(cfg->store, &cfg->stats->ingest, may_box, rq->who,
				  rq->body.buf ? rq->body.buf : "", rq->body.len, &out);
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

/* Called with the request line, before its headers: the request's clock starts here. */
static void *request_start(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req *rq = calloc(1, sizeof(*rq));

	if (rq) {
		sb_init(&rq->body);
		sb_init(&rq->out);
		rq->start_ns = mono_ns();
	}
	return rq;
}

static int late(const struct sv_http_cfg *cfg, const struct req *rq)
{
	return mono_ns() - rq->start_ns > cfg->request_timeout * 1000000000ULL;
}

/* Who may do what (docs/security.md): 0 if this token may make this request, else the
 * status (401 no known token, 403 a token without the right) with msg set. */
static int check_access(struct sv_http_cfg *cfg, struct MHD_Connection *c, const char *url,
			const char *method, const struct sv_token *who, char *msg, size_t len)
{
	const char *box;

	snprintf(msg, len, "missing or wrong token");
	if (!strcmp(url, API_PREFIX "ingest") ||
	    (!strcmp(url, API_PREFIX "taps/status") && !strcmp(method, "POST"))) {
		if (!who)
			return 401;
		snprintf(msg, len, "only an ingest token delivers for boxes");
		if (who->role != SV_ROLE_INGEST)
			return 403;
		box = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "box");
		if (!box || sv_auth_box(who, box))
			return 0;
		snprintf(msg, len, "this token may not report for box '%.127s'", box);
		return 403;
	}
	if (is_taps(url) && sv_api_taps_writes(method)) {
		if (!who)
			return 401;
		snprintf(msg, len, "tap rules need an admin token (--admin-token)");
		return who->role == SV_ROLE_ADMIN ? 0 : 403;
	}
	if (!strncmp(url, API_PREFIX, strlen(API_PREFIX)) || !strcmp(url, "/metrics"))
		return may_read(cfg, who) ? 0 : 401;
	return 0;
}

/* First call of a request: headers only. Refuse here whatever can be refused, before any of
 * the body is read. */
static enum MHD_Result first_call(struct sv_http_cfg *cfg, struct MHD_Connection *c,
				  const char *url, const char *method, struct req *rq)
{
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	int ingest = !strcmp(url, API_PREFIX "ingest");
	const char *cl;
	char msg[200];
	int status;

	rq->seen = 1;
	if (late(cfg, rq))
		return MHD_NO;
	if (ingest && strcmp(method, "POST"))
		return send_error(cfg, c, 405, "use POST for ingest");
	if (!ingest && !get && !is_taps(url))
		return send_error(cfg, c, 405, "method not allowed");
	rq->who = sv_auth_find(cfg->auth, bearer(c));
	status = check_access(cfg, c, url, method, rq->who, msg, sizeof(msg));
	if (status)
		return send_error(cfg, c, status, msg);
	rq->max = ingest ? cfg->max_body : get ? 0 : TAPS_BODY_MAX;
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (rq->max && cl && strtoull(cl, NULL, 10) > rq->max)
		return send_error(cfg, c, 413, "body too large");
	/* One allocation for a body of known size, not a doubling per piece. */
	if (ingest && cl)
		sb_reserve(&rq->body, strtoull(cl, NULL, 10));
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_size, void **con_cls)
{
	struct sv_http *h = cls;
	struct sv_http_cfg *cfg = h->cfg;
	struct req *rq = *con_cls;

	if (!rq)
		return MHD_NO;
	if (rq->queued)
		return answer_read(cfg, c, rq);
	if (!rq->seen)
		return first_call(cfg, c, url, method, rq);
	if (*data_size) {
		/* A client that trickles its body is cut off at the request's deadline. */
		if (late(cfg, rq))
			return MHD_NO;
		/* Past the bound the rest is read and dropped, so the 413 can be sent. */
		if (rq->body.len + *data_size > rq->max)
			rq->too_big = rq->max > 0;
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
	return serve_get(h, c, url, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	if (rq) {
		sb_free(&rq->body);
		sb_free(&rq->out);
		free(rq);
		*con_cls = NULL;
	}
}

static struct MHD_Daemon *start_one(struct sv_http *h, int fd, int threads,
				    const char *tls_cert, const char *tls_key)
{
	struct sv_http_cfg *cfg = h->cfg;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			     MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)tls_cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls_key },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0, TLS_PRIORITIES },
		{ MHD_OPTION_END, 0, NULL },
	};

	if (tls_cert)
		flags |= MHD_USE_TLS;
	else
		tls[0].option = MHD_OPTION_END;
	return MHD_start_daemon(flags, 0, NULL, NULL, handle, h, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
				MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				MHD_OPTION_URI_LOG_CALLBACK, request_start, NULL,
				MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout,
				MHD_OPTION_CONNECTION_LIMIT, cfg->max_conns,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_conns_per_ip,
				MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
}

/* As many readers as HTTP workers, each with its own SQLite connection (WAL: a reader never
 * holds a lock the writer waits for). */
static int readers_start(struct sv_http *h, int n)
{
	struct readers *rd = &h->rd;
	pthread_condattr_t mono;

	pthread_mutex_init(&rd->mu, NULL);
	pthread_cond_init(&rd->cv, NULL);
	pthread_condattr_init(&mono);
	pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
	pthread_cond_init(&rd->wd_cv, &mono);
	pthread_condattr_destroy(&mono);
	rd->max_queued = READS_QUEUED * n;
	if (pthread_create(&rd->wd_th, NULL, watchdog, rd))
		return -EAGAIN;
	rd->wd = 1;
	for (rd->n = 0; rd->n < n && rd->n < (int)(sizeof(rd->th) / sizeof(rd->th[0])); rd->n++)
		if (pthread_create(&rd->th[rd->n], NULL, reader, h))
			return -EAGAIN;
	return 0;
}

/* Answers what still waits (503) and joins the readers; before the daemons stop, so that no
 * connection stays suspended. */
static void readers_stop(struct readers *rd)
{
	int i;

	pthread_mutex_lock(&rd->mu);
	rd->stop = 1;
	pthread_cond_broadcast(&rd->cv);
	pthread_cond_broadcast(&rd->wd_cv);
	pthread_mutex_unlock(&rd->mu);
	for (i = 0; i < rd->n; i++)
		pthread_join(rd->th[i], NULL);
	if (rd->wd)
		pthread_join(rd->wd_th, NULL);
}

int sv_http_start(struct sv_http_cfg *cfg, const int *fds, int n_fds, int threads,
		  const char *tls_cert, const char *tls_key, struct sv_http **out)
{
	struct sv_http *h = calloc(1, sizeof(*h));
	int i;

	if (!h)
		return -ENOMEM;
	h->cfg = cfg;
	if (readers_start(h, threads)) {
		sv_http_stop(h);
		return -EAGAIN;
	}
	for (i = 0; i < n_fds && i < MAX_DAEMONS; i++) {
		h->d[i] = start_one(h, fds[i], threads, tls_cert, tls_key);
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
	readers_stop(&h->rd);
	for (i = 0; i < h->n; i++)
		MHD_stop_daemon(h->d[i]);
	free(h);
}
