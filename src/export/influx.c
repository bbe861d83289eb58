// SPDX-License-Identifier: GPL-2.0
/* The InfluxDB exit; see influx.h.
 *
 * Why a queue in memory and not a spool like the delivery to the post: what InfluxDB gets
 * is a second copy for charts, the post keeps the record. 64 MiB hold about 250,000 points,
 * an outage of hours for a box, and nothing on disk needs managing. Why a thread: a write
 * can take seconds, and the agent's event loop (or the post's ingest) must not wait. The
 * queue and its thread are lib/sendq.c's, as the delivery's are; this file says what a
 * chunk is and what InfluxDB's answers mean.
 *
 * InfluxDB keeps one point per series and timestamp: a second point with the same tags and
 * time replaces the first. Addresses and ports are fields, not tags, so two flows on one
 * interface, direction and protocol whose last packets came in the same nanosecond (two
 * CPUs at a high rate) would become one point. The batch builder moves such a point a
 * nanosecond later. The same rule makes a retried request harmless: its points replace
 * themselves, so a write whose answer got lost is never counted twice. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "influx.h"
#include "log.h"
#include "sendq.h"

#define QUEUE_MAX (64u << 20)
#define IFNAME_LEN 32 /* Linux names have at most 15 characters, the post takes 15 */
#define NUDGE_MAX 1000 /* ns a flow point may move to find a free timestamp */

struct sv_influx_sum {
	char iface[IFNAME_LEN];
	int egress;
	uint64_t packets, bytes, flows;
	struct sv_drop_reasons drops; /* the kernel's drops by reason (issue 16) */
};

/* A request's body; it.records counts its points. */
struct chunk {
	struct sv_sendq_item it;
	char *body;
};

struct sv_influx {
	struct sv_sendq q; /* of chunks */
	char *url; /* with precision=ns */
	char *shown; /* without user, password or query: for messages */
	char *auth; /* the Authorization header, or NULL */
	char *user_agent;
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
	char *path = NULL, *query = NULL, *full = NULL;
	const char *why = NULL;
	CURLU *u;
	int err = sv_url_http(url, &u, &why);

	if (!err && curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		why = "no path";
	} else if (!err) {
		if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
			query = NULL;
		why = check_endpoint(path, query ? query : "", has_token);
	}
	if (why) {
		pr_warn("invalid --influx '%s': %s (expected http://HOST:8086/write?db=DB or "
			"http://HOST:8086/api/v2/write?org=ORG&bucket=BUCKET)\n",
			url, why);
		err = -EINVAL;
	}
	if (err)
		goto out;
	err = -ENOMEM;
	if (!query_has(query ? query : "", "precision", NULL, NULL) &&
	    curl_url_set(u, CURLUPART_QUERY, "precision=ns", CURLU_APPENDQUERY) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK || !(x->url = strdup(full)))
		goto out;
	err = shown_url(x, u);
out:
	curl_free(path);
	curl_free(query);
	curl_free(full);
	curl_url_cleanup(u);
	return err;
}

static const struct sv_sendq_ops influx_ops;

int sv_influx_open(const struct sv_influx_cfg *cfg, struct sv_influx **out)
{
	struct sv_influx *x = calloc(1, sizeof(*x));
	int err;

	*out = x;
	if (!x)
		return -ENOMEM;
	err = sv_sendq_init(&x->q, &influx_ops, x, QUEUE_MAX, cfg->drain_timeout,
			    sv_mono_now_ns() ^ ((unsigned long long)getpid() << 32));
	if (err)
		return err;
	x->user_agent = strdup(cfg->user_agent);
	if (!x->user_agent)
		return -ENOMEM;
	err = parse_url(x, cfg->url, cfg->token != NULL);
	if (err || !cfg->token)
		return err;
	/* Anything but control characters: 1.8+ takes USER:PASSWORD. */
	err = sv_auth_header("Token", cfg->token, 1, &x->auth);
	if (err == -EINVAL)
		pr_warn("invalid --influx-token: 1 to %d characters, no control characters\n",
			SV_TOKEN_MAX);
	return err;
}

/* --- the queue ------------------------------------------------------------------------ */

/* Hands the request built in sb to the sender; sb starts empty again. */
static void queue_chunk(struct sv_influx *x, struct sb *sb, unsigned long long points)
{
	struct chunk *c = sb_failed(sb) ? NULL : calloc(1, sizeof(*c));

	if (!c) {
		sv_sendq_lost(&x->q, 0, points, 0);
		sb_free(sb);
		return;
	}
	c->body = sb->buf;
	c->it.size = sb->len;
	c->it.records = points;
	sb_init(sb);
	sv_sendq_push(&x->q, &c->it);
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

static void add_drops(struct sv_influx_sum *s, const struct sv_rec *f)
{
	unsigned int i;

	/* Past SV_DROP_REASONS_MAX reasons an interface's rest are in the flows' drops only. */
	for (i = 0; i < f->drop_reasons.n; i++)
		sv_drop_reasons_add(&s->drops, f->drop_reasons.r[i].name,
				    f->drop_reasons.r[i].packets);
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
		add_drops(s, f);
	} else {
		b->sb.failed = 1; /* the sums would be short: lose the request, counted */
	}
	line_done(b);
}

void sv_influx_batch_end(struct sv_influx_batch *b, uint64_t end_ns)
{
	uint64_t ts = end_ns ? end_ns : b->newest_ns;
	unsigned int j;
	size_t i;

	for (i = 0; i < b->n_sums; i++) {
		sv_lp_iface(&b->sb, b->box, b->sums[i].iface, b->sums[i].egress,
			    b->sums[i].packets, b->sums[i].bytes, b->sums[i].flows, ts);
		line_done(b);
		for (j = 0; j < b->sums[i].drops.n; j++) {
			sv_lp_drop(&b->sb, b->box, b->sums[i].iface, b->sums[i].egress,
				   b->sums[i].drops.r[j].name, b->sums[i].drops.r[j].packets, ts);
			line_done(b);
		}
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

static int curl_setup(struct sv_sendq *q, struct sv_curl *h)
{
	const char *hdrs[] = { "Content-Type: text/plain; charset=utf-8", "Expect:", NULL, NULL };
	struct sv_influx *x = q->ctx;

	hdrs[2] = x->auth;
	if (!sv_curl_init(h, x->url, hdrs, x->user_agent, &q->abort))
		return 0;
	sv_locked_log(pr_warn, "cannot set up libcurl: nothing goes to InfluxDB\n");
	return -ENOMEM;
}

static enum sv_sendq_outcome send_chunk(struct sv_sendq *q, struct sv_curl *h,
					struct sv_sendq_item *it)
{
	struct chunk *c = sv_sendq_entry(it, struct chunk, it);
	enum sv_sendq_outcome o;

	if (!sv_sendq_post(q, h, c->body, it->size, &o))
		return o;
	pr_debug("InfluxDB: %llu points: %s\n", it->records, q->why);
	if (h->status >= 200 && h->status < 300)
		return SV_SENDQ_SENT;
	/* 408 and 429 ask to come back later. Any other 4xx (a bad point, a wrong database,
	 * token or password) would be answered the same forever: retrying blocks the rest. */
	if (h->status >= 400 && h->status < 500 && h->status != 408 && h->status != 429)
		return SV_SENDQ_REFUSED;
	return SV_SENDQ_FAILED;
}

static void chunk_free(struct sv_sendq_item *it)
{
	struct chunk *c = sv_sendq_entry(it, struct chunk, it);

	free(c->body);
	free(c);
}

/* One line when trouble starts and one when it ends, not one per retry; refusals (never
 * a bad token: that is a 401, refused) once a minute, with how many points since the last. */
static void say(struct sv_sendq *q, enum sv_sendq_news what, const struct sv_sendq_item *it,
		unsigned long long now)
{
	struct sv_influx *x = q->ctx;

	switch (what) {
	case SV_SENDQ_BACK:
		pr_info("InfluxDB %s answers again after %llu s; %u waiting\n", x->shown,
			(now - q->down_since_ns) / SV_NS_PER_SEC, q->n - 1);
		break;
	case SV_SENDQ_DOWN:
	case SV_SENDQ_TOKEN:
		pr_warn("cannot write to InfluxDB %s: %s; retrying, points kept in memory (at most "
			"%u MiB)\n",
			x->shown, q->why, QUEUE_MAX >> 20);
		break;
	case SV_SENDQ_GONE:
		pr_warn("InfluxDB %s refused %llu points (%s); dropped, not retried\n", x->shown,
			q->refused_unsaid.records, q->why);
		break;
	case SV_SENDQ_FULL:
		pr_warn("InfluxDB %s: queue full (%u MiB): dropped the %llu oldest points\n",
			x->shown, QUEUE_MAX >> 20, q->dropped_unsaid.records);
		break;
	}
}

static const struct sv_sendq_ops influx_ops = {
	.curl_setup = curl_setup,
	.send = send_chunk,
	.free = chunk_free,
	.say = say,
	.sum_refusals = 1,
	.thread_name = "InfluxDB sender thread",
};

int sv_influx_start(struct sv_influx *x)
{
	int err = sv_sendq_start(&x->q);

	if (!err)
		pr_info("writing points to InfluxDB %s\n", x->shown);
	return err;
}

/* --- the end ------------------------------------------------------------------------ */

static void summary(struct sv_influx *x)
{
	struct sv_sendq *q = &x->q;
	unsigned long long left = sv_sendq_left(q);

	sv_log(q->dropped.records || q->refused.records || q->lost.records || left ?
		       SV_LOG_WARN :
		       SV_LOG_INFO,
	       "influxdb: %llu points written in %llu requests; %llu points dropped (queue "
	       "full), %llu refused by InfluxDB, %llu not queued (out of memory), %llu not "
	       "written by the end\n",
	       q->sent.records, q->sent.items, q->dropped.records, q->refused.records,
	       q->lost.records, left);
}

void sv_influx_close(struct sv_influx *x)
{
	if (!x)
		return;
	if (x->q.started) {
		sv_sendq_drain(&x->q);
		summary(x);
	}
	sv_sendq_destroy(&x->q);
	free(x->url);
	free(x->shown);
	free(x->auth);
	free(x->user_agent);
	free(x);
}
