// SPDX-License-Identifier: GPL-2.0
/* The queue-and-sender state machine; see sendq.h. Producers (the agent's event loop, the
 * post's ingest workers) only append and make room; the sender thread takes the oldest item,
 * sends it outside the lock and settles the answer under it. */
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include "log.h"
#include "sendq.h"
#include "thread.h"

#define DRAIN_RETRY_MS 1000 /* while draining, try often: the receiver may be back any moment */

static void add(struct sv_sendq_counts *c, const struct sv_sendq_item *it)
{
	c->items++;
	c->records += it->records;
	c->packets += it->packets;
}

static void say(struct sv_sendq *q, enum sv_sendq_news what, const struct sv_sendq_item *it,
		unsigned long long now)
{
	flockfile(stderr); /* a sender's line must not be cut by another thread's */
	q->ops->say(q, what, it, now);
	funlockfile(stderr);
}

int sv_sendq_init(struct sv_sendq *q, const struct sv_sendq_ops *ops, void *ctx, size_t max,
		  unsigned int drain_timeout, unsigned long long seed)
{
	pthread_condattr_t ca;

	*q = (struct sv_sendq){ .ops = ops, .ctx = ctx, .max = max,
				.drain_timeout = drain_timeout };
	TAILQ_INIT(&q->items);
	pthread_mutex_init(&q->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cond, &ca);
	pthread_condattr_destroy(&ca);
	sv_backoff_seed(&q->backoff, seed);
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		pr_warn("cannot initialise libcurl\n");
		return -EIO;
	}
	q->curl_ready = 1;
	return 0;
}

/* Under the lock: it leaves the queue for good. */
static void remove_item(struct sv_sendq *q, struct sv_sendq_item *it)
{
	TAILQ_REMOVE(&q->items, it, link);
	q->bytes -= it->size;
	q->n--;
	if (q->ops->forget)
		q->ops->forget(q, it);
	q->ops->free(it);
	pthread_cond_broadcast(&q->cond);
}

static void say_dropped(struct sv_sendq *q, int force)
{
	unsigned long long now = sv_mono_now_ns();

	if (!q->dropped_unsaid.items || (!force && !sv_ratelimit(&q->dropped_said_ns, now)))
		return;
	say(q, SV_SENDQ_FULL, NULL, now);
	q->dropped_unsaid = (struct sv_sendq_counts){ 0 };
}

static void make_room(struct sv_sendq *q, size_t need)
{
	struct sv_sendq_item *it, *next;

	for (it = TAILQ_FIRST(&q->items); it && q->bytes + need > q->max; it = next) {
		next = TAILQ_NEXT(it, link);
		if (it == TAILQ_FIRST(&q->items) && q->inflight)
			continue;
		add(&q->dropped, it);
		add(&q->dropped_unsaid, it);
		remove_item(q, it);
	}
	say_dropped(q, 0);
}

static void append(struct sv_sendq *q, struct sv_sendq_item *it)
{
	TAILQ_INSERT_TAIL(&q->items, it, link);
	q->bytes += it->size;
	q->n++;
	pthread_cond_broadcast(&q->cond);
}

void sv_sendq_make_room(struct sv_sendq *q, size_t need)
{
	pthread_mutex_lock(&q->lock);
	make_room(q, need);
	pthread_mutex_unlock(&q->lock);
}

void sv_sendq_append(struct sv_sendq *q, struct sv_sendq_item *it)
{
	pthread_mutex_lock(&q->lock);
	append(q, it);
	pthread_mutex_unlock(&q->lock);
}

void sv_sendq_push(struct sv_sendq *q, struct sv_sendq_item *it)
{
	pthread_mutex_lock(&q->lock);
	make_room(q, it->size);
	append(q, it);
	pthread_mutex_unlock(&q->lock);
}

void sv_sendq_lost(struct sv_sendq *q, unsigned long long items, unsigned long long records,
		   unsigned long long packets)
{
	pthread_mutex_lock(&q->lock);
	q->lost.items += items;
	q->lost.records += records;
	q->lost.packets += packets;
	pthread_mutex_unlock(&q->lock);
}

/* --- settling an answer (under the lock) ------------------------------------------------ */

/* It answered: say so once if it had been failing. */
static void is_back(struct sv_sendq *q, unsigned long long now)
{
	if (q->state == SV_SENDQ_IS_DOWN || q->state == SV_SENDQ_NO_TOKEN)
		say(q, SV_SENDQ_BACK, NULL, now);
	q->state = SV_SENDQ_OK;
	sv_backoff_reset(&q->backoff);
	q->next_try_ns = 0;
}

/* One line when trouble starts, not one per retry (the token: one a minute). The next try
 * after a backoff; while draining, soon. */
static void fails(struct sv_sendq *q, enum sv_sendq_outcome o, unsigned long long now)
{
	unsigned int ms;

	q->failures++;
	if (q->state != SV_SENDQ_IS_DOWN && q->state != SV_SENDQ_NO_TOKEN)
		q->down_since_ns = now;
	if (o == SV_SENDQ_BAD_TOKEN &&
	    (q->state != SV_SENDQ_NO_TOKEN || sv_ratelimit(&q->token_said_ns, now))) {
		q->token_said_ns = now;
		say(q, SV_SENDQ_TOKEN, NULL, now);
	} else if (o == SV_SENDQ_FAILED && q->state != SV_SENDQ_IS_DOWN) {
		say(q, SV_SENDQ_DOWN, NULL, now);
	}
	q->state = o == SV_SENDQ_BAD_TOKEN ? SV_SENDQ_NO_TOKEN : SV_SENDQ_IS_DOWN;
	ms = sv_backoff_next(&q->backoff, q->draining ? DRAIN_RETRY_MS : 0);
	q->next_try_ns = now + ms * SV_NS_PER_MS;
}

static void gone(struct sv_sendq *q, struct sv_sendq_item *it, unsigned long long now)
{
	add(&q->refused, it);
	add(&q->refused_unsaid, it);
	if (!q->ops->sum_refusals || sv_ratelimit(&q->refused_said_ns, now)) {
		say(q, SV_SENDQ_GONE, it, now);
		q->refused_unsaid = (struct sv_sendq_counts){ 0 };
	}
	remove_item(q, it);
}

void sv_sendq_settle(struct sv_sendq *q, struct sv_sendq_item *it, enum sv_sendq_outcome o,
		     unsigned long long now)
{
	switch (o) {
	case SV_SENDQ_SENT:
	case SV_SENDQ_DUPLICATE:
		is_back(q, now);
		add(&q->sent, it);
		q->duplicates += o == SV_SENDQ_DUPLICATE;
		remove_item(q, it);
		break;
	case SV_SENDQ_REFUSED:
		is_back(q, now);
		/* fall through */
	case SV_SENDQ_UNREADABLE:
		gone(q, it, now);
		break;
	case SV_SENDQ_BAD_TOKEN:
	case SV_SENDQ_FAILED:
		fails(q, o, now);
		break;
	case SV_SENDQ_ABORTED:
		break;
	}
}

/* --- the sender thread ------------------------------------------------------------------- */

int sv_sendq_post(struct sv_sendq *q, struct sv_curl *h, const char *body, size_t len,
		  enum sv_sendq_outcome *o)
{
	CURLcode rc = sv_curl_post(h, body, len);

	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		*o = SV_SENDQ_ABORTED;
		return 0;
	}
	if (rc != CURLE_OK) {
		snprintf(q->why, sizeof(q->why), "%s", sv_curl_why(h, rc));
		*o = SV_SENDQ_FAILED;
		return 0;
	}
	/* The receiver's own words, one line: the post's and InfluxDB's errors are
	 * {"error":"..."}. */
	snprintf(q->why, sizeof(q->why), "HTTP %ld: %s", h->status, sv_curl_says(h));
	return 1;
}

/* Under the lock: the oldest item once its try is due, or NULL when told to stop. */
static struct sv_sendq_item *next_item(struct sv_sendq *q)
{
	struct sv_sendq_item *it;

	for (;;) {
		if (q->stop)
			return NULL;
		it = TAILQ_FIRST(&q->items);
		if (it && sv_mono_now_ns() >= q->next_try_ns)
			return it;
		sv_sender_wait(&q->cond, &q->lock, it ? q->next_try_ns : 0);
	}
}

static void *sender(void *arg)
{
	struct sv_sendq *q = arg;
	struct sv_sendq_item *it;
	enum sv_sendq_outcome o;
	struct sv_curl h;

	if (q->ops->curl_setup(q, &h))
		return NULL;
	pthread_mutex_lock(&q->lock);
	while ((it = next_item(q))) {
		q->inflight = 1;
		pthread_mutex_unlock(&q->lock);
		o = q->ops->send(q, &h, it); /* it stays: nobody drops the item in flight */
		pthread_mutex_lock(&q->lock);
		q->inflight = 0;
		sv_sendq_settle(q, it, o, sv_mono_now_ns());
	}
	pthread_mutex_unlock(&q->lock);
	sv_curl_free(&h);
	return NULL;
}

int sv_sendq_start(struct sv_sendq *q)
{
	int err = sv_thread_start(&q->thread, sender, q);

	if (err)
		pr_warn("cannot start the %s: %s\n", q->ops->thread_name, strerror(-err));
	q->started = !err;
	return err;
}

/* --- the end ----------------------------------------------------------------------------- */

void sv_sendq_drain(struct sv_sendq *q)
{
	unsigned long long deadline = sv_mono_now_ns() + q->drain_timeout * SV_NS_PER_SEC;
	struct timespec ts = { deadline / SV_NS_PER_SEC, deadline % SV_NS_PER_SEC };

	if (!q->started)
		return;
	pthread_mutex_lock(&q->lock);
	q->draining = 1;
	q->next_try_ns = 0; /* now, whatever the backoff said */
	pthread_cond_broadcast(&q->cond);
	while (q->n && sv_mono_now_ns() < deadline)
		pthread_cond_timedwait(&q->cond, &q->lock, &ts);
	q->stop = 1;
	__atomic_store_n(&q->abort, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
}

void sv_sendq_say_dropped(struct sv_sendq *q)
{
	pthread_mutex_lock(&q->lock);
	say_dropped(q, 1);
	pthread_mutex_unlock(&q->lock);
}

unsigned long long sv_sendq_left(struct sv_sendq *q)
{
	unsigned long long left = 0;
	struct sv_sendq_item *it;

	pthread_mutex_lock(&q->lock);
	TAILQ_FOREACH(it, &q->items, link)
		left += it->records;
	pthread_mutex_unlock(&q->lock);
	return left;
}

void sv_sendq_destroy(struct sv_sendq *q)
{
	struct sv_sendq_item *it;

	while ((it = TAILQ_FIRST(&q->items))) {
		TAILQ_REMOVE(&q->items, it, link);
		q->ops->free(it);
	}
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	if (q->curl_ready)
		curl_global_cleanup();
}
