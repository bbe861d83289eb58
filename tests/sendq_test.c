// SPDX-License-Identifier: GPL-2.0
/* The queue-and-sender state machine (src/lib/sendq.c) with an ops table of its own: no
 * network, no root. Settling each outcome at chosen times, making room, the rate limits of
 * the messages, the backoff's bounds, and the drain deadline with a sender that hangs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sendq.h"

#define S 1000000000ull
#define MS 1000000ull

static int passed, failed;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
	if (ok)
		passed++;
	else
		failed++;
}

struct item {
	struct sv_sendq_item it;
	int id;
};

/* What the ops saw. */
struct log {
	int said[SV_SENDQ_FULL + 1];
	unsigned long long said_records; /* the sum the last GONE or FULL carried */
	int forgotten[64], n_forgotten, freed, sent[64], n_sent;
	enum sv_sendq_outcome answer; /* what send returns */
	int hang; /* send waits for the abort */
};

static struct log lg;

static int setup(struct sv_sendq *q, struct sv_curl *h)
{
	memset(h, 0, sizeof(*h));
	return 0;
}

static enum sv_sendq_outcome send_it(struct sv_sendq *q, struct sv_curl *h,
				     struct sv_sendq_item *it)
{
	struct timespec ms = { 0, MS };
	int i;

	lg.sent[lg.n_sent++ % 64] = sv_sendq_entry(it, struct item, it)->id;
	for (i = 0; lg.hang && i < 10000; i++) {
		if (__atomic_load_n(&q->abort, __ATOMIC_RELAXED))
			return SV_SENDQ_ABORTED;
		nanosleep(&ms, NULL);
	}
	return lg.answer;
}

static void forget(struct sv_sendq *q, struct sv_sendq_item *it)
{
	lg.forgotten[lg.n_forgotten++ % 64] = sv_sendq_entry(it, struct item, it)->id;
}

static void free_it(struct sv_sendq_item *it)
{
	lg.freed++;
	free(sv_sendq_entry(it, struct item, it));
}

static void say(struct sv_sendq *q, enum sv_sendq_news what, const struct sv_sendq_item *it,
		unsigned long long now)
{
	lg.said[what]++;
	if (what == SV_SENDQ_GONE)
		lg.said_records = q->ops->sum_refusals ? q->refused_unsaid.records : it->records;
	if (what == SV_SENDQ_FULL)
		lg.said_records = q->dropped_unsaid.records;
}

static struct sv_sendq_ops ops = {
	.curl_setup = setup,
	.send = send_it,
	.forget = forget,
	.free = free_it,
	.say = say,
	.thread_name = "test sender",
};

static struct item *item(int id, size_t size, unsigned long long records)
{
	struct item *i = calloc(1, sizeof(*i));

	if (!i) {
		perror("calloc");
		exit(1);
	}
	i->id = id;
	i->it.size = size;
	i->it.records = records;
	i->it.packets = 2 * records;
	return i;
}

static void fresh(struct sv_sendq *q, size_t max, int sum_refusals)
{
	memset(&lg, 0, sizeof(lg));
	ops.sum_refusals = sum_refusals;
	if (sv_sendq_init(q, &ops, NULL, max, 1, 42))
		exit(1);
}

static struct sv_sendq_item *first(struct sv_sendq *q)
{
	return TAILQ_FIRST(&q->items);
}

static void test_make_room(void)
{
	struct sv_sendq q;
	int i;

	fresh(&q, 100, 0);
	for (i = 1; i <= 3; i++)
		sv_sendq_push(&q, &item(i, 40, 10 * i)->it);
	check(q.n == 2 && q.bytes == 80, "full: the newest fits, the queue stays in its bound");
	check(lg.n_forgotten == 1 && lg.forgotten[0] == 1 && q.dropped.items == 1 &&
		      q.dropped.records == 10 && q.dropped.packets == 20,
	      "full: the oldest is dropped, forgotten and counted");
	check(lg.said[SV_SENDQ_FULL] == 1 && lg.said_records == 10, "full: said with its sum");
	sv_sendq_push(&q, &item(4, 40, 1)->it);
	check(q.dropped.items == 2 && lg.said[SV_SENDQ_FULL] == 1 &&
		      q.dropped_unsaid.records == 20,
	      "full again within a minute: counted, not said");
	sv_sendq_say_dropped(&q);
	check(lg.said[SV_SENDQ_FULL] == 2 && lg.said_records == 20 && !q.dropped_unsaid.items,
	      "at the end the unsaid drops are said");

	q.inflight = 1; /* item 3 is being sent */
	sv_sendq_push(&q, &item(5, 60, 1)->it);
	check(sv_sendq_entry(first(&q), struct item, it)->id == 3 && q.n == 2 &&
		      lg.forgotten[2] == 4,
	      "full while sending: the item in flight stays, the next oldest goes");
	sv_sendq_push(&q, &item(6, 70, 1)->it);
	check(q.n == 2 && q.bytes == 110 && sv_sendq_entry(first(&q), struct item, it)->id == 3,
	      "full with only the item in flight left: it is still not dropped");
	check(sv_sendq_left(&q) == 31, "left: the records still queued");
	sv_sendq_destroy(&q);
	check(lg.n_forgotten == 4 && lg.freed == 6, "destroy frees what is left, forgets nothing");
}

static void test_settle_answers(void)
{
	struct sv_sendq q;
	int i;

	fresh(&q, 1000, 0);
	for (i = 1; i <= 5; i++)
		sv_sendq_append(&q, &item(i, 10, i)->it);
	sv_sendq_settle(&q, first(&q), SV_SENDQ_SENT, 1 * S);
	check(q.n == 4 && q.sent.items == 1 && q.sent.records == 1 && q.sent.packets == 2 &&
		      lg.forgotten[0] == 1 && !lg.said[SV_SENDQ_BACK],
	      "sent: gone, counted, forgotten; nothing to say when all was well");
	sv_sendq_settle(&q, first(&q), SV_SENDQ_DUPLICATE, 2 * S);
	check(q.sent.items == 2 && q.duplicates == 1, "duplicate: sent, and counted as one");
	sv_sendq_settle(&q, first(&q), SV_SENDQ_ABORTED, 3 * S);
	check(q.n == 3 && q.next_try_ns == 0 && !q.failures, "aborted: kept, nothing else");
	sv_sendq_settle(&q, first(&q), SV_SENDQ_REFUSED, 4 * S);
	check(q.n == 2 && q.refused.items == 1 && q.refused.records == 3 &&
		      lg.said[SV_SENDQ_GONE] == 1 && lg.said_records == 3,
	      "refused: dropped, counted, each said");
	sv_sendq_settle(&q, first(&q), SV_SENDQ_REFUSED, 5 * S);
	check(lg.said[SV_SENDQ_GONE] == 2 && lg.said_records == 4,
	      "refused again: said again (no sum)");
	sv_sendq_settle(&q, first(&q), SV_SENDQ_FAILED, 6 * S);
	sv_sendq_settle(&q, first(&q), SV_SENDQ_UNREADABLE, 7 * S);
	check(q.n == 0 && q.refused.records == 12 && lg.said[SV_SENDQ_GONE] == 3 &&
		      !lg.said[SV_SENDQ_BACK] && q.state == SV_SENDQ_IS_DOWN,
	      "unreadable: dropped and counted as refused, but no answer: still down");
	sv_sendq_destroy(&q);
}

static void test_refusals_summed(void)
{
	struct sv_sendq q;
	int i;

	fresh(&q, 1000, 1);
	for (i = 1; i <= 3; i++)
		sv_sendq_append(&q, &item(i, 10, 5)->it);
	sv_sendq_settle(&q, first(&q), SV_SENDQ_REFUSED, 100 * S);
	sv_sendq_settle(&q, first(&q), SV_SENDQ_REFUSED, 110 * S);
	check(lg.said[SV_SENDQ_GONE] == 1 && lg.said_records == 5 && q.refused.records == 10,
	      "summed refusals: said once within a minute, all counted");
	sv_sendq_settle(&q, first(&q), SV_SENDQ_REFUSED, 161 * S);
	check(lg.said[SV_SENDQ_GONE] == 2 && lg.said_records == 10,
	      "summed refusals: a minute later, said with the sum since");
	sv_sendq_destroy(&q);
}

static void test_down_and_back(void)
{
	unsigned long long now = 1000 * S, wait, min = ~0ull, max = 0;
	struct sv_sendq q;
	int i, ok = 1;

	fresh(&q, 1000, 0);
	sv_sendq_append(&q, &item(1, 10, 1)->it);
	sv_sendq_append(&q, &item(2, 10, 1)->it);
	sv_sendq_settle(&q, first(&q), SV_SENDQ_FAILED, now);
	wait = q.next_try_ns - now;
	check(q.n == 2 && q.failures == 1 && lg.said[SV_SENDQ_DOWN] == 1 &&
		      q.down_since_ns == now,
	      "failed: kept, counted, said");
	check(wait >= 500 * MS && wait <= 1000 * MS, "failed: the first retry in 0.5 to 1 s");
	for (i = 0; i < 20; i++) {
		now = q.next_try_ns;
		sv_sendq_settle(&q, first(&q), SV_SENDQ_FAILED, now);
		wait = q.next_try_ns - now;
		if (i > 6 && (wait < 15 * S || wait > 30 * S))
			ok = 0;
		min = wait < min ? wait : min;
		max = wait > max ? wait : max;
	}
	check(ok && max <= 30 * S, "failing on: waits grow to 15-30 s, never more");
	check(min < max, "the waits are jittered");
	check(lg.said[SV_SENDQ_DOWN] == 1 && q.failures == 21, "failing on: said once, all counted");
	q.draining = 1;
	sv_sendq_settle(&q, first(&q), SV_SENDQ_FAILED, now);
	check(q.next_try_ns - now <= 1000 * MS, "draining: retried within a second");
	q.draining = 0;
	sv_sendq_settle(&q, first(&q), SV_SENDQ_SENT, now + S);
	check(lg.said[SV_SENDQ_BACK] == 1 && q.state == SV_SENDQ_OK && q.next_try_ns == 0 &&
		      q.backoff.ms == 0,
	      "an answer after trouble: said once, the backoff starts over");
	sv_sendq_settle(&q, first(&q), SV_SENDQ_FAILED, now + 2 * S);
	check(lg.said[SV_SENDQ_DOWN] == 2, "trouble again: said again");
	sv_sendq_destroy(&q);
}

static void test_token(void)
{
	unsigned long long now = 5000 * S;
	struct sv_sendq q;

	fresh(&q, 1000, 0);
	sv_sendq_append(&q, &item(1, 10, 1)->it);
	sv_sendq_settle(&q, first(&q), SV_SENDQ_BAD_TOKEN, now);
	sv_sendq_settle(&q, first(&q), SV_SENDQ_BAD_TOKEN, now + 30 * S);
	check(q.n == 1 && lg.said[SV_SENDQ_TOKEN] == 1 && q.failures == 2 &&
		      !lg.said[SV_SENDQ_DOWN],
	      "bad token: kept, said once within a minute");
	sv_sendq_settle(&q, first(&q), SV_SENDQ_BAD_TOKEN, now + 61 * S);
	check(lg.said[SV_SENDQ_TOKEN] == 2, "bad token: said again a minute later");
	sv_sendq_settle(&q, first(&q), SV_SENDQ_FAILED, now + 62 * S);
	check(lg.said[SV_SENDQ_DOWN] == 1 && q.down_since_ns == now,
	      "unreachable after a bad token: said, trouble still dated from its start");
	sv_sendq_settle(&q, first(&q), SV_SENDQ_SENT, now + 70 * S);
	check(lg.said[SV_SENDQ_BACK] == 1 && q.n == 0, "token accepted: back, said once");
	sv_sendq_destroy(&q);
}

static unsigned long long drain_ns(struct sv_sendq *q)
{
	unsigned long long t0 = sv_mono_now_ns();

	sv_sendq_drain(q);
	return sv_mono_now_ns() - t0;
}

static void test_sender_thread(void)
{
	unsigned long long took;
	struct sv_sendq q;
	int i;

	fresh(&q, 1000, 0);
	lg.answer = SV_SENDQ_SENT;
	for (i = 1; i <= 3; i++)
		sv_sendq_append(&q, &item(i, 10, 1)->it);
	check(!sv_sendq_start(&q), "the sender starts");
	took = drain_ns(&q);
	check(q.n == 0 && lg.n_sent == 3 && lg.sent[0] == 1 && lg.sent[1] == 2 && lg.sent[2] == 3,
	      "the sender sends oldest first, and the drain waits for the queue to empty");
	check(took < S, "a drain that empties the queue returns at once");
	sv_sendq_destroy(&q);

	fresh(&q, 1000, 0);
	lg.hang = 1;
	sv_sendq_append(&q, &item(1, 10, 7)->it);
	sv_sendq_start(&q);
	took = drain_ns(&q);
	check(took >= 900 * MS && took < 3 * S, "a hanging send is cut short at the drain timeout");
	check(q.n == 1 && sv_sendq_left(&q) == 7 && !q.failures && !lg.n_forgotten,
	      "the item cut short stays, counted as left");
	sv_sendq_destroy(&q);
}

int main(void)
{
	test_make_room();
	test_settle_answers();
	test_refusals_summed();
	test_down_and_back();
	test_token();
	test_sender_thread();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
