// SPDX-License-Identifier: GPL-2.0
/* One analyser for a site of several posts; see analyse.h and docs/scale-out.md.
 *
 * Every second each post writes its heartbeat into the store and reads everyone's. The
 * analyser is the live post (a heartbeat within LIVE_NS) that says it analyses, the lowest
 * id if several do; when none does, the live post with the lowest id takes the role (when
 * it finds so at two heartbeats in a row, so that two posts starting together agree). It
 * then reads the feed of stored batches (every post's) from MARGIN_NS before its clock,
 * skips the batches it has seen, and gives the others to its detector and trajectory join,
 * whose clock is the batches' done times. The clock (the feed's watermark) goes into its
 * heartbeat, so a post taking over starts a detection window or a path hold before it:
 * the detector rebuilds its windows and extends the alerts the previous analyser raised
 * (sv_detect_share), the join stores only the packets the previous one had not. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "analyse.h"
#include "log.h"
#include "timeparse.h"

#define NS 1000000000LL
#define BEAT_NS (1 * NS)
/* A post whose heartbeat is older is dead (or cut off from the store). */
#define LIVE_NS (8 * NS)
/* How late a batch may show in the feed after its done time: the feed row's insert, and
 * the posts' clocks' difference. The analysis runs this far behind. */
#define MARGIN_NS (5 * NS)
/* How long a batch's id is remembered: a batch stored again (a retry after the done mark
 * failed) within it is not analysed twice. */
#define SEEN_KEEP_NS (600 * NS)
#define FEED_MAX 4096 /* batches one read gives */
#define FEED_ROUNDS 16 /* reads a second at most, while behind */
#define ID_MAX 40

struct seen {
	uint64_t key; /* 0: empty */
	int64_t done_ns;
};

struct sv_analyse {
	struct sv_store *st;
	struct sv_detect *detect;
	struct sv_paths *paths;
	int64_t replay_ns;
	pthread_t thread;
	pthread_mutex_t lock; /* stop and the metrics below */
	pthread_cond_t cond;
	int stop;

	/* The thread's own. */
	int analyser;
	int chosen; /* beats in a row this post was the one to take the role */
	int64_t clock_ns; /* the feed's watermark: every batch done before it is analysed */
	int64_t newest_ns; /* the newest done time of this read */
	int64_t known_wm; /* the largest watermark any heartbeat said */
	struct seen *seen;
	size_t n_seen, cap_seen;

	/* For /metrics, under lock. */
	char self[ID_MAX], leader[ID_MAX];
	int64_t lag_ns;
	unsigned long long batches, takeovers, failed;
};

/* --- batches seen ------------------------------------------------------------------ */

static uint64_t batch_key(const char *box, const char *batch_id)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a; the box, a newline, the id */
	const char *p;

	for (p = box; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ '\n') * 1099511628211ULL;
	for (p = batch_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h ? h : 1;
}

static struct seen *seen_slot(struct seen *t, size_t cap, uint64_t key)
{
	size_t i;

	for (i = key & (cap - 1); t[i].key && t[i].key != key; i = (i + 1) & (cap - 1))
		;
	return &t[i];
}

/* Rebuilds the set without the ids older than SEEN_KEEP_NS, twice as large if still half
 * full. 0 or -ENOMEM (the set stays as it was). */
static int seen_rebuild(struct sv_analyse *a)
{
	size_t cap = a->cap_seen ? a->cap_seen : 1024, i, n = 0;
	int64_t old = a->clock_ns - SEEN_KEEP_NS;
	struct seen *t;

	for (i = 0; i < a->cap_seen; i++)
		n += a->seen[i].key && a->seen[i].done_ns >= old;
	while (n * 4 >= cap)
		cap *= 2;
	t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (i = 0; i < a->cap_seen; i++)
		if (a->seen[i].key && a->seen[i].done_ns >= old)
			*seen_slot(t, cap, a->seen[i].key) = a->seen[i];
	free(a->seen);
	a->seen = t;
	a->cap_seen = cap;
	a->n_seen = n;
	return 0;
}

static int seen_add(struct sv_analyse *a, uint64_t key, int64_t done_ns)
{
	struct seen *s;

	if ((a->n_seen + 1) * 2 > a->cap_seen && seen_rebuild(a))
		return -ENOMEM;
	s = seen_slot(a->seen, a->cap_seen, key);
	if (!s->key)
		a->n_seen++;
	*s = (struct seen){ key, done_ns };
	return 0;
}

static void seen_clear(struct sv_analyse *a)
{
	free(a->seen);
	a->seen = NULL;
	a->n_seen = a->cap_seen = 0;
}

/* --- feeding ------------------------------------------------------------------------ */

static int want(void *ctx, const char *box, const char *batch_id, int64_t done_ns)
{
	struct sv_analyse *a = ctx;

	(void)done_ns;
	return !a->cap_seen || !seen_slot(a->seen, a->cap_seen, batch_key(box, batch_id))->key;
}

static int got(void *ctx, const struct sv_batch *b, int64_t done_ns)
{
	struct sv_analyse *a = ctx;

	if (seen_add(a, batch_key(b->box, b->batch_id), done_ns))
		return -ENOMEM;
	if (a->detect)
		sv_detect_batch(a->detect, b);
	sv_paths_add(a->paths, b, done_ns);
	if (done_ns > a->newest_ns)
		a->newest_ns = done_ns;
	pthread_mutex_lock(&a->lock);
	a->batches++;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int64_t max64(int64_t x, int64_t y)
{
	return x > y ? x : y;
}

/* Reads what was stored since the watermark, a few reads while behind; moves the
 * watermark and finalizes the paths due by it. */
static void feed(struct sv_analyse *a, int64_t now)
{
	int round, n = 0;

	for (round = 0; round < FEED_ROUNDS; round++) {
		a->newest_ns = a->clock_ns;
		n = sv_store_feed(a->st, a->clock_ns - MARGIN_NS, FEED_MAX, want, got, a);
		if (n < 0)
			break;
		/* All read: every batch done before now - MARGIN_NS is in. */
		a->clock_ns = max64(a->newest_ns, n < FEED_MAX ? now - MARGIN_NS : a->clock_ns);
		sv_paths_sweep(a->paths, a->clock_ns, 0);
		if (n < FEED_MAX)
			break;
	}
	pthread_mutex_lock(&a->lock);
	a->lag_ns = now - a->clock_ns;
	a->failed += n < 0;
	pthread_mutex_unlock(&a->lock);
}

/* --- the election -------------------------------------------------------------------- */

struct elect {
	int64_t now;
	struct sv_beat_row *mine;
	char flagged[ID_MAX], live[ID_MAX]; /* the lowest ids; "": none */
};

static void lowest(char *have, const char *id)
{
	if (!have[0] || strcmp(id, have) < 0)
		snprintf(have, ID_MAX, "%s", id);
}

/* Every heartbeat but this post's own (it is alive, and knows whether it analyses). */
static int beat_row(void *ctx, const struct sv_beat_row *r)
{
	struct elect *e = ctx;

	/* Not analysing, a post passes on the newest watermark, for whoever takes over. */
	if (!e->mine->analyser && r->watermark_ns > e->mine->watermark_ns)
		e->mine->watermark_ns = r->watermark_ns;
	if (r->self || e->now - r->beat_ns >= LIVE_NS)
		return 0;
	lowest(e->live, r->post);
	if (r->analyser)
		lowest(e->flagged, r->post);
	return 0;
}

/* This post analyses from now on, from the previous analyser's watermark (a replay of a
 * window before it), or from a window before now on a store never analysed. */
static void take_over(struct sv_analyse *a, int64_t wm, int64_t now)
{
	a->analyser = 1;
	a->clock_ns = (wm > 0 ? wm : now) - a->replay_ns;
	seen_clear(a);
	if (wm > 0)
		sv_paths_resume(a->paths, wm);
	pthread_mutex_lock(&a->lock);
	a->takeovers++;
	pthread_mutex_unlock(&a->lock);
	pr_info("analysing the site (detection, trajectories) from the store, %llds back\n",
		(long long)((now - a->clock_ns) / NS));
}

static void give_up(struct sv_analyse *a)
{
	a->analyser = 0;
	seen_clear(a);
	if (a->detect)
		sv_detect_reset(a->detect);
	sv_paths_reset(a->paths);
	pr_info("another post analyses the site now\n");
}

static void tick(struct sv_analyse *a)
{
	int64_t now = sv_now_ns();
	struct sv_beat_row mine = { .analyser = a->analyser,
				    .watermark_ns = a->analyser ? a->clock_ns : a->known_wm };
	struct elect e = { .now = now, .mine = &mine };
	const char *leader;

	if (sv_store_beat(a->st, now, &mine, beat_row, &e))
		return; /* no store: nobody analyses anything now; the role stays */
	if (!a->analyser)
		a->known_wm = mine.watermark_ns;
	lowest(e.live, mine.post);
	if (a->analyser)
		lowest(e.flagged, mine.post);
	leader = e.flagged[0] ? e.flagged : e.live;
	/* Twice in a row: a post starting beside an analyser sees its flag only a beat later. */
	a->chosen = !strcmp(leader, mine.post) && !a->analyser ? a->chosen + 1 : 0;
	if (a->chosen >= 2)
		take_over(a, a->known_wm, now);
	else if (strcmp(leader, mine.post) && a->analyser)
		give_up(a);
	pthread_mutex_lock(&a->lock);
	snprintf(a->self, ID_MAX, "%s", mine.post);
	snprintf(a->leader, ID_MAX, "%s", leader);
	if (!a->analyser)
		a->lag_ns = 0;
	pthread_mutex_unlock(&a->lock);
	if (a->analyser)
		feed(a, now);
}

static void *run(void *arg)
{
	struct sv_analyse *a = arg;
	struct timespec until;

	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		pthread_mutex_unlock(&a->lock);
		tick(a);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += BEAT_NS / NS;
		pthread_mutex_lock(&a->lock);
		while (!a->stop && pthread_cond_timedwait(&a->cond, &a->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int sv_analyse_start(struct sv_store *st, struct sv_detect *detect, struct sv_paths *paths,
		     int64_t replay_ns, struct sv_analyse **out)
{
	struct sv_analyse *a;
	pthread_condattr_t ca;
	sigset_t all, old;
	int err;

	/* An empty read says whether the store has several writers. */
	err = sv_store_feed(st, sv_now_ns(), 0, NULL, NULL, NULL);
	if (err == -EOPNOTSUPP)
		return err;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	*a = (struct sv_analyse){ .st = st, .detect = detect, .paths = paths,
				  .replay_ns = replay_ns + MARGIN_NS };
	if (detect)
		sv_detect_share(detect);
	pthread_mutex_init(&a->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals are the main thread's (its signalfd): the feeding thread takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = -pthread_create(&a->thread, NULL, run, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_cond_destroy(&a->cond);
		pthread_mutex_destroy(&a->lock);
		free(a);
		return err;
	}
	*out = a;
	return 0;
}

void sv_analyse_stop(struct sv_analyse *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	seen_clear(a);
	free(a);
}

void sv_analyse_metrics(struct sv_analyse *a, struct sb *out)
{
	pthread_mutex_lock(&a->lock);
	sb_puts(out, "# HELP sitevisor_post_analyser Whether this post (post) runs the site's "
		     "detection and trajectory join, and which post does (analyser), by their "
		     "ids in the store.\n# TYPE sitevisor_post_analyser gauge\n");
	sb_printf(out, "sitevisor_post_analyser{post=\"%s\",analyser=\"%s\"} %d\n", a->self,
		  a->leader, a->self[0] && !strcmp(a->self, a->leader));
	sb_puts(out, "# HELP sitevisor_post_analyser_lag_seconds How far behind the store's "
		     "newest batches this post's analysis reads (0: not the analyser).\n"
		     "# TYPE sitevisor_post_analyser_lag_seconds gauge\n");
	sb_printf(out, "sitevisor_post_analyser_lag_seconds %.3f\n", (double)a->lag_ns / NS);
	sb_puts(out, "# HELP sitevisor_post_analyser_batches_total Stored batches (any post's) "
		     "this post analysed.\n# TYPE sitevisor_post_analyser_batches_total counter\n");
	sb_printf(out, "sitevisor_post_analyser_batches_total %llu\n", a->batches);
	sb_puts(out, "# HELP sitevisor_post_analyser_takeovers_total Times this post took the "
		     "analyser's role.\n# TYPE sitevisor_post_analyser_takeovers_total counter\n");
	sb_printf(out, "sitevisor_post_analyser_takeovers_total %llu\n", a->takeovers);
	sb_puts(out, "# HELP sitevisor_post_analyser_feed_failures_total Reads of the store's "
		     "feed that failed (retried the next second).\n"
		     "# TYPE sitevisor_post_analyser_feed_failures_total counter\n");
	sb_printf(out, "sitevisor_post_analyser_feed_failures_total %llu\n", a->failed);
	pthread_mutex_unlock(&a->lock);
}
