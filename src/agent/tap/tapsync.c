// SPDX-License-Identifier: GPL-2.0
/* The post's tap rules; see tap.h. A round: GET the rules, hand them to the main loop
 * through an eventfd, wait (bounded) for it to apply them and fill in the reports, POST the
 * reports. An unreachable post costs the thread its timeouts, never the main loop.
 *
 * With several posts, each request goes to the post that last answered and, when that one
 * gives no answer or a 5xx, to the others in turn, as batches do (deliver.c): the posts of a
 * site share their store, so any of them serves the box's rules and keeps its reports, and
 * a rule set through any post reaches the box while one of them lives. */
#include "tap_int.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <curl/curl.h>
#include "deliver.h"
#include "jsonr.h"
#include "log.h"
#include "sb.h"
#include "sender.h"
#include "thread.h"

#define MAX_WANT SV_TAP_MAX_RULES
#define BODY_MAX (1 << 20)

struct post {
	struct sv_post_endpoint ep;
	char *taps_url, *status_url;
};

struct sv_tapsync {
	struct post posts[SV_DELIVER_MAX_POSTS];
	int n_posts, cur; /* cur: the post that last answered (the thread's own) */
	unsigned int interval;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int efd, stop, started;
	/* Under lock: the rules fetched, and the reports the main loop made of them. */
	struct sv_tap_want want[MAX_WANT];
	struct sv_tap_report rep[MAX_WANT];
	int n_want, pending, applied;
	unsigned long long logged_ns, moved_ns;
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	struct sb *b = ctx;

	if (b->len + size * n > BODY_MAX)
		return 0;
	sb_put(b, p, size * n);
	return size * n;
}

/* A stopping agent need not wait out the timeouts of posts that do not answer. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct sv_tapsync *s = ctx;

	return __atomic_load_n(&s->stop, __ATOMIC_RELAXED);
}

/* GET (body NULL) or POST JSON to post p; the answer into resp. 0 on a 2xx; -ENOTCONN if the
 * post was not reached, -EAGAIN for a 5xx, -EIO for another answer; why says more. */
static int request(struct sv_tapsync *s, const struct post *p, const char *url, const char *body,
		   struct sb *resp, char *why, size_t len)
{
	struct curl_slist *h = NULL;
	long status = 0;
	CURLcode rc;
	CURL *c = curl_easy_init();

	if (!c)
		return -ENOMEM;
	resp->len = 0;
	h = curl_slist_append(h, p->ep.auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sitevisor-agent");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	if (p->ep.unix_path)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, p->ep.unix_path);
	if (p->ep.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, p->ep.ca_file);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		snprintf(why, len, "%s", curl_easy_strerror(rc));
	else if (status / 100 != 2)
		snprintf(why, len, "HTTP %ld", status);
	return rc != CURLE_OK ? -ENOTCONN : status >= 500 ? -EAGAIN : status / 100 != 2 ? -EIO : 0;
}

/* Worth asking the next post: this one gave no answer, or a 5xx (its store down: no better
 * than none). */
static int passed_over(int err)
{
	return err == -ENOTCONN || err == -EAGAIN;
}

/* The rules (report 0) or the reports (report 1, body) to the post that last answered, else
 * to each of the others in turn; the first that answers is the one the next requests go to,
 * said at most once a minute. Returns as request() does, for the last post tried. */
static int request_any(struct sv_tapsync *s, int report, const char *body, struct sb *resp,
		       char *why, size_t len)
{
	const struct post *p = s->posts;
	char first_why[256] = "";
	int i, err = -ENOTCONN;

	for (i = 0; i < s->n_posts && !__atomic_load_n(&s->stop, __ATOMIC_RELAXED); i++) {
		p = &s->posts[(s->cur + i) % s->n_posts];
		err = request(s, p, report ? p->status_url : p->taps_url, body, resp, why, len);
		if (!passed_over(err))
			break;
		if (!i)
			snprintf(first_why, sizeof(first_why), "%s", why);
	}
	if (passed_over(err) || !i)
		return err;
	if (sv_ratelimit(&s->moved_ns, sv_mono_now_ns()))
		sv_locked_log(pr_info, "tap rules: post %s: %s; now from post %s\n",
			      s->posts[s->cur].ep.shown, first_why, p->ep.shown);
	s->cur = (s->cur + i) % s->n_posts;
	return err;
}

/* {"taps":[{"id":N,"rule":"...",...},...]}: the ids and rules, other keys skipped. */
static int parse_rules(const char *p, size_t len, struct sv_tap_want *want, int *n)
{
	char key[32];
	struct jr j;
	uint64_t id;
	int first = 1, more, k;

	*n = 0;
	jr_init(&j, p, len);
	if (jr_object(&j) || jr_key(&j, key, sizeof(key)) != 1 || strcmp(key, "taps") ||
	    jr_array(&j))
		return -EINVAL;
	while ((more = jr_more(&j, first)) == 1) {
		first = 0;
		if (*n == MAX_WANT || jr_object(&j))
			return -EINVAL;
		id = 0;
		want[*n].rule[0] = 0;
		while ((k = jr_key(&j, key, sizeof(key))) == 1) {
			if (!strcmp(key, "id") ? jr_u64(&j, &id) :
			    !strcmp(key, "rule") ? jr_string(&j, want[*n].rule, sizeof(want[0].rule)) :
						   jr_skip(&j))
				return -EINVAL;
		}
		if (k < 0 || !id || !want[*n].rule[0])
			return -EINVAL;
		want[*n].post_id = id;
		(*n)++;
	}
	return more < 0 ? -EINVAL : 0;
}

static void report_json(struct sb *b, const struct sv_tap_report *r, int n)
{
	int i;

	sb_puts(b, "{\"taps\":[");
	for (i = 0; i < n; i++) {
		sb_printf(b, "%s{\"id\":%lld,\"agent_id\":%d,\"error\":", i ? "," : "", r[i].post_id,
			  r[i].agent_id);
		if (r[i].error[0])
			sb_json_str(b, r[i].error);
		else
			sb_puts(b, "null");
		sb_printf(b,
			  ",\"matched\":%llu,\"mirrored\":%llu,\"truncated\":%llu,"
			  "\"rate_limited\":%llu,\"failed\":%llu}",
			  r[i].matched, r[i].mirrored, r[i].truncated, r[i].rate_limited, r[i].failed);
	}
	sb_puts(b, "]}");
}

/* Once a minute at most. An unreachable post only at debug level: the delivery of flow
 * records already says so, once. */
static void trouble(struct sv_tapsync *s, int err, const char *what, const char *why)
{
	if (err == -ENOTCONN)
		sv_locked_log(pr_debug, "tap rules: %s: %s\n", what, why);
	else if (sv_ratelimit(&s->logged_ns, sv_mono_now_ns()))
		sv_locked_log(pr_warn, "tap rules: %s: %s\n", what, why);
}

/* One round; returns with the lock not held. */
static void round_trip(struct sv_tapsync *s)
{
	struct sv_tap_want *want = calloc(MAX_WANT, sizeof(*want));
	unsigned long long due;
	struct sb resp, body;
	char why[256];
	int n = 0, err;

	sb_init(&resp);
	sb_init(&body);
	if (!want)
		goto out;
	err = request_any(s, 0, NULL, &resp, why, sizeof(why));
	if (err) {
		trouble(s, err, "cannot fetch them from the post", why);
		goto out;
	}
	if (sb_failed(&resp) || parse_rules(resp.buf ? resp.buf : "", resp.len, want, &n)) {
		trouble(s, -EINVAL, "the post's answer", "not the expected JSON");
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	memcpy(s->want, want, n * sizeof(*want));
	s->n_want = n;
	s->pending = 1;
	s->applied = 0;
	if (write(s->efd, &(uint64_t){ 1 }, 8) != 8)
		s->pending = 0;
	/* The main loop answers within its next turn; a few seconds bound a stuck one. */
	due = sv_mono_now_ns() + 5 * SV_NS_PER_SEC;
	while (!s->applied && !s->stop && sv_mono_now_ns() < due)
		sv_sender_wait(&s->cond, &s->lock, due);
	if (s->applied)
		report_json(&body, s->rep, s->n_want);
	pthread_mutex_unlock(&s->lock);
	if (body.len && !sb_failed(&body)) {
		err = request_any(s, 1, body.buf, &resp, why, sizeof(why));
		if (err)
			trouble(s, err, "cannot report them to the post", why);
	}
out:
	free(want);
	sb_free(&resp);
	sb_free(&body);
}

static void *run(void *arg)
{
	struct sv_tapsync *s = arg;
	unsigned long long due;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		pthread_mutex_unlock(&s->lock);
		round_trip(s);
		pthread_mutex_lock(&s->lock);
		due = sv_mono_now_ns() + s->interval * SV_NS_PER_SEC;
		while (!s->stop && sv_mono_now_ns() < due)
			sv_sender_wait(&s->cond, &s->lock, due);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* The ingest URL's "ingest" becomes "taps..." with the box escaped. */
static char *url_for(const char *ingest, const char *tail, const char *box)
{
	char *esc = curl_easy_escape(NULL, box, 0), *u;
	size_t n = strlen(ingest) - strlen("ingest");

	if (!esc)
		return NULL;
	u = malloc(n + strlen(tail) + strlen(esc) + 1);
	if (u)
		sprintf(u, "%.*s%s%s", (int)n, ingest, tail, esc);
	curl_free(esc);
	return u;
}

/* Each post's URLs for this box; 0 or -ENOMEM. */
static int set_posts(struct sv_tapsync *s, const struct sv_post_endpoint *ep, int n,
		     const char *box)
{
	struct post *p;

	for (s->n_posts = 0; s->n_posts < n && s->n_posts < SV_DELIVER_MAX_POSTS; s->n_posts++) {
		p = &s->posts[s->n_posts];
		p->ep = ep[s->n_posts];
		p->taps_url = url_for(p->ep.url, "taps?box=", box);
		p->status_url = url_for(p->ep.url, "taps/status?box=", box);
		if (!p->taps_url || !p->status_url) {
			s->n_posts++; /* freed with the others */
			return -ENOMEM;
		}
	}
	return 0;
}

int sv_tapsync_start(const struct sv_post_endpoint *ep, int n_posts, const char *box,
		     unsigned int interval, struct sv_tapsync **out)
{
	struct sv_tapsync *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	int err;

	if (!s)
		return -ENOMEM;
	s->interval = interval;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* sv_sender_wait's deadlines */
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	err = s->efd < 0 ? -errno : n_posts < 1 ? -EINVAL : set_posts(s, ep, n_posts, box);
	if (!err)
		err = sv_thread_start(&s->thread, run, s);
	if (err) {
		sv_tapsync_stop(s);
		return err;
	}
	s->started = 1;
	*out = s;
	return 0;
}

int sv_tapsync_fd(const struct sv_tapsync *s)
{
	return s->efd;
}

void sv_tapsync_apply(struct sv_tapsync *s, struct sv_tap *tap)
{
	uint64_t v;

	if (read(s->efd, &v, sizeof(v)) != sizeof(v))
		return;
	pthread_mutex_lock(&s->lock);
	if (s->pending) {
		sv_tap_sync(tap, s->want, s->n_want, s->rep);
		s->pending = 0;
		s->applied = 1;
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

void sv_tapsync_stop(struct sv_tapsync *s)
{
	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->lock);
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED); /* read unlocked by requests */
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	for (int i = 0; i < s->n_posts; i++) {
		free(s->posts[i].taps_url);
		free(s->posts[i].status_url);
	}
	free(s);
}
