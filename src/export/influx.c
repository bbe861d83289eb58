// SPDX-License-Identifier: GPL-2.0
/* The InfluxDB exit; see influx.h.
 *
 * Why a queue in memory and not a spool like the delivery to the post: what InfluxDB gets
 * is a second copy for charts, the post keeps the record. 64 MiB hold about 250,000 points,
 * an outage of hours for a box, and nothing on disk needs managing. Why a thread: a write
 * can take seconds, and the agent's event loop (or the post's ingest) must not wait.
 *
 * InfluxDB keeps one point per series and timestamp: a second point with the same tags and
 * time replaces the first. Addresses and ports are fields, not tags, so two flows on one
 * interface, direction and protocol whose last packets came in the same nanosecond (two
 * CPUs at a high rate) would become one point. The batch builder moves such a point a
 * nanosecond later. The same rule makes a retried request harmless: its points replace
 * themselves, so a write whose answer got lost is never counted twice. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/queue.h>
#include "thread.h"
#include "influx.h"
#include "log.h"
#include "sender.h"

#define QUEUE_MAX (64u << 20)
#define TOKEN_MAX 4096
#define DRAIN_RETRY_MS 1000 /* while draining, try often: InfluxDB may be back any moment */
#define IFNAME_LEN 32 /* Linux names have at most 15 characters, the post takes 15 */
#define NUDGE_MAX 1000 /* ns a flow point may move to find a free timestamp */

struct sv_influx_sum {
	char iface[IFNAME_LEN];
	int egress;
	uint64_t packets, bytes, flows;
};

struct chunk {
	TAILQ_ENTRY(chunk) link;
	char *body;
	size_t len;
	unsigned long long points;
};
TAILQ_HEAD(chunk_q, chunk);

enum outcome { WRITTEN, REFUSED, FAILED, ABORTED };

struct sv_influx {
	/* Set by open, read-only afterwards. */
	char *url; /* with precision=ns */
	char *shown; /* without user, password or query: for messages */
	char *auth; /* the Authorization header, or NULL */
	char *user_agent;
	unsigned int drain_timeout;
	int curl_ready;

	/* Shared between the builders and the sender, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the queue or the schedule changed */
	struct chunk_q q;
	size_t q_bytes;
	unsigned int n_chunks;
	int inflight; /* the sender is writing the queue's first chunk */
	int draining, stop;
	unsigned long long next_try_ns;
	unsigned long long written, requests, dropped, refused, lost; /* points */
	unsigned long long drop_unreported, drop_logged_ns;

	int abort; /* atomic: cut the write in progress short */
	pthread_t thread;
	int started;

	/* The sender's own. */
	int down;
	unsigned long long down_since_ns, refuse_logged_ns, refuse_unreported;
	struct sv_backoff backoff;
	char why[320];
};

/* --- start-up checks -------------------------------------------------------------- */

/* 1 if the (undecoded) query has key=VALUE with a value; VALUE in *val, *vlen. */
static int query_has(const char *q, const char *key, const char **val, size_t *vlen)
{
	size_t kl = strlen(key), n;

	for (; *q; q += n + !!q[n]) {
		n = strcspn(q, "&");
		if (n > kl + 1 && !strncmp(q, key, kl) && q[kl] == '=') {
			if (val) {
				*val = q + kl + 1;
				*vlen = n - kl - 1;
			}
			return 1;
		}
	}
	return 0;
}

/* What the path and query must hold for the two versions' write endpoints. */
static const char *check_endpoint(const char *path, const char *q, int has_token)
{
	size_t n = strlen(path), vlen = 0;
	int v2 = n >= 13 && !strcmp(path + n - 13, "/api/v2/write");
	const char *v = NULL;

	if (!v2 && (n < 6 || strcmp(path + n - 6, "/write")))
		return "the path must end in /write (1.x) or /api/v2/write (2.x)";
	if (!v2 && !query_has(q, "db", NULL, NULL))
		return "InfluxDB 1.x needs ?db=DATABASE";
	if (v2 && (!query_has(q, "bucket", NULL, NULL) ||
		   (!query_has(q, "org", NULL, NULL) && !query_has(q, "orgID", NULL, NULL))))
		return "InfluxDB 2.x needs ?org=ORG&bucket=BUCKET";
	if (v2 && !has_token)
		return "InfluxDB 2.x needs --influx-token";
	if (query_has(q, "precision", &v, &vlen) && (vlen != 2 || strncmp(v, "ns", 2)))
		return "points have nanosecond timestamps: leave precision out, or say ns";
	return NULL;
}

/* The URL for messages: no password, no token, no query. */
static int shown_url(struct sv_influx *x, CURLU *u)
{
	CURLU *s = curl_url_dup(u);
	char *url = NULL;
	int err = -ENOMEM;

	if (s && curl_url_set(s, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(s, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_set(s, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
	    curl_url_get(s, CURLUPART_URL, &url, 0) == CURLUE_OK) {
		x->shown = strdup(url);
		err = x->shown ? 0 : -ENOMEM;
	}
	curl_free(url);
	curl_url_cleanup(s);
	return err;
}

static int parse_url(struct sv_influx *x, const char *url, int has_token)
{
	char *scheme = NULL, *path = NULL, *query = NULL, *full = NULL;
	const char *why = NULL;
	CURLU *u = curl_url();
	CURLUcode rc;
	int err = -EINVAL;

	if (!u)
		return -ENOMEM;
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK)
		why = curl_url_strerror(rc);
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") && strcmp(scheme, "https")))
		why = "the scheme must be http or https";
	else if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		why = "no path";
	else {
		if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
			query = NULL;
		why = check_endpoint(path, query ? query : "", has_token);
	}
	if (why) {
		pr_warn("invalid --influx '%s': %s (expected http://HOST:8086/write?db=DB or "
			"http://HOST:8086/api/v2/write?org=ORG&bucket=BUCKET)\n",
			url, why);
		goto out;
	}
	err = -ENOMEM;
	if (!query_has(query ? query : "", "precision", NULL, NULL) &&
	    curl_url_set(u, CURLUPART_QUERY, "precision=ns", CURLU_APPENDQUERY) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK || !(x->url = strdup(full)))
		goto out;
	err = shown_url(x, u);
out:
	curl_free(scheme);
	curl_free(path);
	curl_free(query);
	curl_free(full);
	curl_url_cleanup(u);
	return err;
}

/* Anything but control characters: it ends up in an HTTP header. */
static int set_token(struct sv_influx *x, const char *t)
{
	static const char hdr[] = "Authorization: Token ";
	const char *p;

	for (p = t; *p && (unsigned char)*p >= 0x20 && *p != 0x7f; p++)
		;
	if (!*t || *p || p - t > TOKEN_MAX) {
		pr_warn("invalid --influx-token: 1 to %d characters, no control characters\n",
			TOKEN_MAX);
		return -EINVAL;
	}
	x->auth = malloc(sizeof(hdr) + strlen(t));
	if (!x->auth)
		return -ENOMEM;
	sprintf(x->auth, "%s%s", hdr, t);
	return 0;
}

int sv_influx_open(const struct sv_influx_cfg *cfg, struct sv_influx **out)
{
	struct sv_influx *x = calloc(1, sizeof(*x));
	pthread_condattr_t ca;
	int err;

	*out = x;
	if (!x)
		return -ENOMEM;
	TAILQ_INIT(&x->q);
	pthread_mutex_init(&x->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->cond, &ca);
	pthread_condattr_destroy(&ca);
	x->drain_timeout = cfg->drain_timeout;
	sv_backoff_seed(&x->backoff, sv_mono_now_ns() ^ ((unsigned long long)getpid() << 32));
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		pr_warn("cannot initialise libcurl\n");
		return -EIO;
	}
	x->curl_ready = 1;
	x->user_agent = strdup(cfg->user_agent);
	if (!x->user_agent)
		return -ENOMEM;
	err = parse_url(x, cfg->url, cfg->token != NULL);
	if (!err && cfg->token)
		err = set_token(x, cfg->token);
	return err;
}

/* --- the queue ------------------------------------------------------------------------ */

/* Under the lock: drops the oldest chunks until need more bytes fit; never the one being
 * written. */
static void make_room(struct sv_influx *x, size_t need)
{
	struct chunk *c, *next;

	for (c = TAILQ_FIRST(&x->q); c && x->q_bytes + need > QUEUE_MAX; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c == TAILQ_FIRST(&x->q) && x->inflight)
			continue;
		TAILQ_REMOVE(&x->q, c, link);
		x->q_bytes -= c->len;
		x->n_chunks--;
		x->dropped += c->points;
		x->drop_unreported += c->points;
		free(c->body);
		free(c);
	}
	if (x->drop_unreported && sv_ratelimit(&x->drop_logged_ns, sv_mono_now_ns())) {
		sv_locked_log(pr_warn,
			      "InfluxDB %s: queue full (%u MiB): dropped the %llu oldest points\n",
			      x->shown, QUEUE_MAX >> 20, x->drop_unreported);
		x->drop_unreported = 0;
	}
}

/* Hands the request built in sb to the sender; sb starts empty again. */
static void queue_chunk(struct sv_influx *x, struct sb *sb, unsigned long long points)
{
	struct chunk *c = sb_failed(sb) ? NULL : calloc(1, sizeof(*c));

	pthread_mutex_lock(&x->lock);
	if (!c) {
		x->lost += points;
		pthread_mutex_unlock(&x->lock);
		sb_free(sb);
		return;
	}
	c->body = sb->buf;
	c->len = sb->len;
	c->points = points;
	sb_init(sb);
	make_room(x, c->len);
	TAILQ_INSERT_TAIL(&x->q, c, link);
	x->q_bytes += c->len;
	x->n_chunks++;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

/* --- building points ------------------------------------------------------------------ */

void sv_influx_batch_init(struct sv_influx_batch *b, struct sv_influx *x, const char *box)
{
	memset(b, 0, sizeof(*b));
	b->x = x;
	b->box = box;
	sb_init(&b->sb);
}

static void line_done(struct sv_influx_batch *b)
{
	if (++b->lines < SV_INFLUX_CHUNK_LINES && b->sb.len < SV_INFLUX_CHUNK_BYTES)
		return;
	queue_chunk(b->x, &b->sb, b->lines);
	b->lines = 0;
}

static struct sv_influx_sum *sum_of(struct sv_influx_batch *b, const char *iface, int egress)
{
	struct sv_influx_sum *s;
	size_t i;

	for (i = 0; i < b->n_sums; i++)
		if (b->sums[i].egress == egress && !strcmp(b->sums[i].iface, iface))
			return &b->sums[i];
	if (b->n_sums == b->cap_sums) {
		s = realloc(b->sums, (b->cap_sums ? b->cap_sums * 2 : 16) * sizeof(*s));
		if (!s)
			return NULL;
		b->sums = s;
		b->cap_sums = b->cap_sums ? b->cap_sums * 2 : 16;
	}
	s = &b->sums[b->n_sums++];
	memset(s, 0, sizeof(*s));
	snprintf(s->iface, sizeof(s->iface), "%s", iface);
	s->egress = egress;
	return s;
}

/* splitmix64's finaliser: spreads series and timestamps over the hash set. */
static uint64_t mix(uint64_t v)
{
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
	return v ^ (v >> 31);
}

/* The series of a flow point within a batch (the box is the batch's): FNV-1a. */
static uint64_t series_of(const struct sv_rec *f)
{
	uint64_t h = 0xcbf29ce484222325ull;
	const char *p;

	for (p = f->iface; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	h = (h ^ (f->direction | f->ip_version << 1 | (uint64_t)f->protocol << 8)) *
	    0x100000001b3ull;
	return h;
}

static int grow_seen(struct sv_influx_batch *b)
{
	size_t cap = b->cap_seen ? b->cap_seen * 2 : 1024, i, j;
	uint64_t *n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (i = 0; i < b->cap_seen; i++) {
		if (!b->seen[i])
			continue;
		for (j = b->seen[i] & (cap - 1); n[j]; j = (j + 1) & (cap - 1))
			;
		n[j] = b->seen[i];
	}
	free(b->seen);
	b->seen = n;
	b->cap_seen = cap;
	return 0;
}

/* 1 if this batch wrote a point of the series at ts already; remembers it otherwise. A
 * false 1 (two 64-bit hashes alike) costs a nanosecond, never a point. */
static int taken(struct sv_influx_batch *b, uint64_t series, uint64_t ts)
{
	uint64_t k = mix(series ^ mix(ts)) | 1; /* 0 marks a free slot */
	size_t i;

	if ((b->n_seen + 1) * 2 > b->cap_seen && grow_seen(b))
		return 0; /* out of memory: the point keeps its time */
	for (i = k & (b->cap_seen - 1); b->seen[i]; i = (i + 1) & (b->cap_seen - 1))
		if (b->seen[i] == k)
			return 1;
	b->seen[i] = k;
	b->n_seen++;
	return 0;
}

void sv_influx_batch_flow(struct sv_influx_batch *b, const struct sv_rec *f)
{
	uint64_t series = series_of(f), ts = f->last_ns;
	struct sv_influx_sum *s = sum_of(b, f->iface, f->direction);
	int n;

	for (n = 0; n < NUDGE_MAX && taken(b, series, ts); n++)
		ts++;
	sv_lp_flow(&b->sb, b->box, f, ts);
	if (f->last_ns > b->newest_ns)
		b->newest_ns = f->last_ns;
	if (s) {
		s->packets += f->packets;
		s->bytes += f->bytes;
		s->flows++;
	} else {
		b->sb.failed = 1; /* the sums would be short: lose the request, counted */
	}
	line_done(b);
}

void sv_influx_batch_end(struct sv_influx_batch *b, uint64_t end_ns)
{
	uint64_t ts = end_ns ? end_ns : b->newest_ns;
	size_t i;

	for (i = 0; i < b->n_sums; i++) {
		sv_lp_iface(&b->sb, b->box, b->sums[i].iface, b->sums[i].egress,
			    b->sums[i].packets, b->sums[i].bytes, b->sums[i].flows, ts);
		line_done(b);
	}
	if (b->lines)
		queue_chunk(b->x, &b->sb, b->lines);
	sb_free(&b->sb);
	b->lines = 0;
	b->n_sums = 0;
	b->newest_ns = 0;
	if (b->seen)
		memset(b->seen, 0, b->cap_seen * sizeof(*b->seen));
	b->n_seen = 0;
}

void sv_influx_batch_free(struct sv_influx_batch *b)
{
	sb_free(&b->sb);
	free(b->sums);
	free(b->seen);
	memset(b, 0, sizeof(*b));
}

/* --- writing (the sender thread) ----------------------------------------------------- */

static enum outcome send_chunk(struct sv_influx *x, struct sv_curl *h, const struct chunk *c)
{
	CURLcode rc = sv_curl_post(h, c->body, c->len);

	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return ABORTED;
	if (rc != CURLE_OK) {
		snprintf(x->why, sizeof(x->why), "%s", sv_curl_why(h, rc));
		return FAILED;
	}
	/* InfluxDB's own words, one line: its errors are {"error":"..."}. */
	snprintf(x->why, sizeof(x->why), "HTTP %ld: %s", h->status, sv_curl_says(h));
	pr_debug("InfluxDB: %llu points: %s\n", c->points, x->why);
	if (h->status >= 200 && h->status < 300)
		return WRITTEN;
	/* 408 and 429 ask to come back later. Any other 4xx (a bad point, a wrong database,
	 * token or password) would be answered the same forever: retrying blocks the rest. */
	if (h->status >= 400 && h->status < 500 && h->status != 408 && h->status != 429)
		return REFUSED;
	return FAILED;
}

static void remove_first(struct sv_influx *x, struct chunk *c)
{
	TAILQ_REMOVE(&x->q, c, link);
	x->q_bytes -= c->len;
	x->n_chunks--;
	free(c->body);
	free(c);
	pthread_cond_broadcast(&x->cond);
}

/* InfluxDB answered: say so once if it had been failing. */
static void is_back(struct sv_influx *x, unsigned long long now)
{
	if (x->down)
		sv_locked_log(pr_info, "InfluxDB %s answers again after %llu s; %u waiting\n",
			      x->shown, (now - x->down_since_ns) / SV_NS_PER_SEC,
			      x->n_chunks - 1);
	x->down = 0;
	sv_backoff_reset(&x->backoff);
	x->next_try_ns = 0;
}

/* One line when trouble starts, not one per retry. */
static void fails(struct sv_influx *x, unsigned long long now)
{
	unsigned int ms = sv_backoff_next(&x->backoff, x->draining ? DRAIN_RETRY_MS : 0);

	if (!x->down) {
		sv_locked_log(pr_warn,
			      "cannot write to InfluxDB %s: %s; retrying, points kept in memory "
			      "(at most %u MiB)\n",
			      x->shown, x->why, QUEUE_MAX >> 20);
		x->down_since_ns = now;
		x->down = 1;
	}
	x->next_try_ns = now + ms * SV_NS_PER_MS;
}

/* Refusals: once a minute, with how many points since the last message. */
static void refused(struct sv_influx *x, struct chunk *c, unsigned long long now)
{
	x->refused += c->points;
	x->refuse_unreported += c->points;
	if (!sv_ratelimit(&x->refuse_logged_ns, now))
		return;
	sv_locked_log(pr_warn, "InfluxDB %s refused %llu points (%s); dropped, not retried\n",
		      x->shown, x->refuse_unreported, x->why);
	x->refuse_unreported = 0;
}

/* Under the lock: what the answer means for the chunk and for the next try. */
static void settle(struct sv_influx *x, struct chunk *c, enum outcome o)
{
	unsigned long long now = sv_mono_now_ns();

	switch (o) {
	case WRITTEN:
		is_back(x, now);
		x->written += c->points;
		x->requests++;
		remove_first(x, c);
		break;
	case REFUSED:
		is_back(x, now);
		refused(x, c, now);
		remove_first(x, c);
		break;
	case FAILED:
		fails(x, now);
		break;
	case ABORTED:
		break;
	}
}

/* Under the lock: the oldest chunk once its try is due, or NULL when told to stop. */
static struct chunk *next_chunk(struct sv_influx *x)
{
	struct chunk *c;

	for (;;) {
		if (x->stop)
			return NULL;
		c = TAILQ_FIRST(&x->q);
		if (c && sv_mono_now_ns() >= x->next_try_ns)
			return c;
		sv_sender_wait(&x->cond, &x->lock, c ? x->next_try_ns : 0);
	}
}

static void *sender(void *arg)
{
	const char *hdrs[] = { "Content-Type: text/plain; charset=utf-8", "Expect:", NULL, NULL };
	struct sv_influx *x = arg;
	struct sv_curl h;
	struct chunk *c;
	enum outcome o;

	hdrs[2] = x->auth;
	if (sv_curl_init(&h, x->url, hdrs, x->user_agent, &x->abort)) {
		sv_locked_log(pr_warn, "cannot set up libcurl: nothing goes to InfluxDB\n");
		return NULL;
	}
	pthread_mutex_lock(&x->lock);
	while ((c = next_chunk(x))) {
		x->inflight = 1;
		pthread_mutex_unlock(&x->lock);
		o = send_chunk(x, &h, c); /* c stays: nobody frees the chunk in flight */
		pthread_mutex_lock(&x->lock);
		x->inflight = 0;
		settle(x, c, o);
	}
	pthread_mutex_unlock(&x->lock);
	sv_curl_free(&h);
	return NULL;
}

int sv_influx_start(struct sv_influx *x)
{
	int err = sv_thread_start(&x->thread, sender, x);

	if (err) {
		pr_warn("cannot start the InfluxDB sender thread: %s\n", strerror(-err));
		return err;
	}
	x->started = 1;
	pr_info("writing points to InfluxDB %s\n", x->shown);
	return 0;
}

/* --- the end ------------------------------------------------------------------------ */

static void drain(struct sv_influx *x)
{
	unsigned long long deadline = sv_mono_now_ns() + x->drain_timeout * SV_NS_PER_SEC;
	struct timespec ts = { deadline / SV_NS_PER_SEC, deadline % SV_NS_PER_SEC };

	pthread_mutex_lock(&x->lock);
	x->draining = 1;
	x->next_try_ns = 0; /* now, whatever the backoff said */
	pthread_cond_broadcast(&x->cond);
	while (x->n_chunks && sv_mono_now_ns() < deadline)
		pthread_cond_timedwait(&x->cond, &x->lock, &ts);
	x->stop = 1;
	__atomic_store_n(&x->abort, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	pthread_join(x->thread, NULL);
}

static void summary(struct sv_influx *x)
{
	unsigned long long left = 0;
	struct chunk *c;

	TAILQ_FOREACH(c, &x->q, link)
		left += c->points;
	sv_log(x->dropped || x->refused || x->lost || left ? SV_LOG_WARN : SV_LOG_INFO,
	       "influxdb: %llu points written in %llu requests; %llu points dropped (queue "
	       "full), %llu refused by InfluxDB, %llu not queued (out of memory), %llu not "
	       "written by the end\n",
	       x->written, x->requests, x->dropped, x->refused, x->lost, left);
}

void sv_influx_close(struct sv_influx *x)
{
	struct chunk *c;

	if (!x)
		return;
	if (x->started) {
		drain(x);
		summary(x);
	}
	while ((c = TAILQ_FIRST(&x->q))) {
		TAILQ_REMOVE(&x->q, c, link);
		free(c->body);
		free(c);
	}
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	if (x->curl_ready)
		curl_global_cleanup();
	free(x->url);
	free(x->shown);
	free(x->auth);
	free(x->user_agent);
	free(x);
}
