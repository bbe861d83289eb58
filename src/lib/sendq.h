/* SPDX-License-Identifier: GPL-2.0 */
/* A bounded queue and the sender thread that empties it, oldest first, over HTTP: the agent's
 * batches to the post (spooled on disk) and the InfluxDB exit's chunks (in memory).
 *
 * The state machine lives here once: the oldest item goes out when its try is due; an answer
 * settles it (gone and counted, or kept for a retry with backoff); a full queue drops its
 * oldest items, never the one in flight, so an item is either sent or counted as dropped,
 * never both; at the end the sender gets a deadline to empty the queue. What really differs
 * between users is a small table of operations: where an item lives (how it is sent and
 * forgotten), what an answer means (the outcome send returns) and how news is worded. */
#ifndef SV_SENDQ_H
#define SV_SENDQ_H

#include <pthread.h>
#include <stddef.h>
#include <sys/queue.h>
#include "sender.h"

/* The queue's part of an item; the user's item embeds it (container_of). */
struct sv_sendq_item {
	TAILQ_ENTRY(sv_sendq_item) link;
	size_t size; /* bytes counted against the queue's bound */
	unsigned long long records, packets; /* what it carries, counted as it leaves */
};

/* The user's item from the queue's part of it. */
#define sv_sendq_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct sv_sendq_counts {
	unsigned long long items, records, packets;
};

/* What an answer means for the item sent. */
enum sv_sendq_outcome {
	SV_SENDQ_SENT, /* accepted: gone, counted as sent */
	SV_SENDQ_DUPLICATE, /* accepted, the receiver had it already: sent, and a duplicate */
	SV_SENDQ_REFUSED, /* refused as it is, and would be forever: dropped, counted */
	SV_SENDQ_UNREADABLE, /* cannot even be read: dropped, counted as refused, no answer */
	SV_SENDQ_BAD_TOKEN, /* our token is refused: kept, retried, said once a minute */
	SV_SENDQ_FAILED, /* no answer, or "later": kept, retried with backoff */
	SV_SENDQ_ABORTED, /* cut short by the drain deadline: kept */
};

/* News worth a line; ops->say words it, reading the queue (q->why, q->n, the unsaid sums). */
enum sv_sendq_news {
	SV_SENDQ_BACK, /* an answer after trouble, q->down_since_ns on; the item is still queued */
	SV_SENDQ_DOWN, /* the first failure of a run of them: q->why */
	SV_SENDQ_TOKEN, /* the token is refused: q->why, q->n kept */
	SV_SENDQ_GONE, /* refused or unreadable: the item (ops->sum_refusals: q->refused_unsaid) */
	SV_SENDQ_FULL, /* the oldest items were dropped to make room: q->dropped_unsaid */
};

struct sv_sendq;
struct sv_curl;

struct sv_sendq_ops {
	/* Sender thread, at its start: the libcurl handle. On failure it says why, and nothing
	 * is sent. */
	int (*curl_setup)(struct sv_sendq *q, struct sv_curl *h);
	/* Sender thread, outside the lock: sends the item (which stays valid: nobody drops the
	 * item in flight), writes the answer or error into q->why and says what it means. */
	enum sv_sendq_outcome (*send)(struct sv_sendq *q, struct sv_curl *h,
				      struct sv_sendq_item *it);
	/* Under the lock: the item leaves for good (sent, refused or dropped); NULL: nothing
	 * outside memory to delete. */
	void (*forget)(struct sv_sendq *q, struct sv_sendq_item *it);
	/* The item's memory; also for what is left at the end. */
	void (*free)(struct sv_sendq_item *it);
	/* One line (stderr is locked around it); now is the monotonic time in ns. */
	void (*say)(struct sv_sendq *q, enum sv_sendq_news what, const struct sv_sendq_item *it,
		    unsigned long long now);
	/* 0: every refused item is said; 1: refusals are said once a minute, summed. */
	int sum_refusals;
	const char *thread_name; /* for "cannot start the sender thread" */
};

enum sv_sendq_state { SV_SENDQ_UNKNOWN, SV_SENDQ_OK, SV_SENDQ_IS_DOWN, SV_SENDQ_NO_TOKEN };

struct sv_sendq {
	/* Set by init, read-only afterwards. */
	const struct sv_sendq_ops *ops;
	void *ctx; /* the user's */
	size_t max; /* bytes the queued items may take */
	unsigned int drain_timeout; /* seconds the sender gets at the end */

	/* Shared by the producers and the sender, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the queue or the schedule changed */
	TAILQ_HEAD(sv_sendq_list, sv_sendq_item) items;
	size_t bytes;
	unsigned int n;
	int inflight; /* the sender is sending the first item */
	int draining, stop;
	unsigned long long next_try_ns;
	struct sv_sendq_counts sent, dropped, refused, lost;
	unsigned long long duplicates, failures;
	struct sv_sendq_counts dropped_unsaid, refused_unsaid;
	unsigned long long dropped_said_ns, refused_said_ns;

	int abort; /* atomic: cut the transfer in progress short */
	pthread_t thread;
	int started, curl_ready;

	/* The sender's own. */
	enum sv_sendq_state state;
	unsigned long long down_since_ns, token_said_ns;
	struct sv_backoff backoff;
	char why[320];
};

/* seed varies the backoff's jitter between processes. Initialises libcurl too: 0, or -EIO
 * and one line; sv_sendq_destroy in either case. */
int sv_sendq_init(struct sv_sendq *q, const struct sv_sendq_ops *ops, void *ctx, size_t max,
		   unsigned int drain_timeout, unsigned long long seed);
/* Drops the oldest items until need more bytes fit (never the one in flight), and says so
 * at most once a minute. */
void sv_sendq_make_room(struct sv_sendq *q, size_t need);
/* Queues it as the newest, for the sender. */
void sv_sendq_append(struct sv_sendq *q, struct sv_sendq_item *it);
/* make_room and append at once. */
void sv_sendq_push(struct sv_sendq *q, struct sv_sendq_item *it);
/* What could not even be queued. */
void sv_sendq_lost(struct sv_sendq *q, unsigned long long items, unsigned long long records,
		   unsigned long long packets);
/* For ops->send: POSTs body. 1 when an answer came (h->status; q->why "HTTP 503: its first
 * line"), for the caller to say what it means; 0 with *o SV_SENDQ_ABORTED or SV_SENDQ_FAILED
 * (q->why: the error) when none did. */
int sv_sendq_post(struct sv_sendq *q, struct sv_curl *h, const char *body, size_t len,
		  enum sv_sendq_outcome *o);
/* 0, or a negative errno and one line saying why. */
int sv_sendq_start(struct sv_sendq *q);
/* Under the lock: what an answer at now means for the item and the next try. The sender's
 * own step, public so that its edge cases can be tested without a network. */
void sv_sendq_settle(struct sv_sendq *q, struct sv_sendq_item *it, enum sv_sendq_outcome o,
		     unsigned long long now);
/* A started sender gets up to the drain timeout to empty the queue, then is stopped (a
 * transfer in progress cut short). */
void sv_sendq_drain(struct sv_sendq *q);
/* Says the drops not said yet, whatever the rate limit. */
void sv_sendq_say_dropped(struct sv_sendq *q);
/* The records of the items still queued. */
unsigned long long sv_sendq_left(struct sv_sendq *q);
/* Frees what is left (ops->free, not forget: it may go out at the next start). */
void sv_sendq_destroy(struct sv_sendq *q);

#endif /* SV_SENDQ_H */
