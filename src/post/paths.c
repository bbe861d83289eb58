// SPDX-License-Identifier: GPL-2.0
/* The trajectory join; see paths.h and docs/paths.md.
 *
 * Sightings wait in a table keyed by hash until hold_ns after the first of them arrived (the
 * other agents deliver up to an interval later). Then the packet is finalized: its sightings
 * sorted by time make its path, each consecutive pair a segment with a latency. Loss needs
 * to know where a packet should have gone next: the join learns, per place and destination
 * address, where packets went next and how many ended there, and a path that ends at a place
 * that at least one in NEXT_SHARE packets leave from counts as lost on the segment it should
 * have crossed next (in a box: seen arriving, never
 * leaving; between boxes: seen leaving, never arriving). A sweep learns from all the packets
 * it finalizes before it judges any of them, so the first sweep already knows the way. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "paths.h"
#include "sb.h"

#define NS_PER_MIN 60000000000LL
#define MAX_POINTS 4096
#define POINT_SLOTS 8192 /* the places' index: twice MAX_POINTS, a power of two */
#define FIRST_SIGHTINGS 8 /* room a packet starts with; doubled as needed */
#define MAX_SIGHTINGS 64 /* per packet: a longer path is a loop, cut there */
#define PENDING_BUCKETS 65536
/* Packets waiting in one bucket at most. Sightings bring their own hash, so a sender could
 * chain thousands into one bucket (one hash, times apart) and make every lookup walk them all:
 * quadratic work under the join's lock (issue 15). With MAX_PENDING spread over the buckets a
 * chain averages 8; 64 is never reached by chance. */
#define MAX_CHAIN 64
/* Packets waiting (about 300 bytes each with 8 sightings): beyond this, fingerprints are
 * dropped and counted. */
#define MAX_PENDING 500000
#define NEXT_SLOTS 65536 /* learned (place, destination) -> next place */
#define NEXT_WAYS 4
/* A place counts as a way through (so a path ending there is a loss) when at least one in
 * NEXT_SHARE of the packets there went on; a receiver that forwards the odd packet is not. */
#define NEXT_SHARE 20
#define NEXT_DECAY (1u << 20)

struct point {
	char box[SV_BOX_MAX];
	char iface[SV_IFNAME_MAX];
	int direction;
};

struct sighting {
	int64_t ts_ns;
	int point;
};

struct pkt {
	struct pkt *next; /* hash chain */
	struct pkt *older, *newer; /* arrival order */
	uint64_t hash;
	int64_t first_ts, arrived_ns;
	unsigned int ip_version, protocol, src_port, dst_port;
	char src_addr[SV_ADDR_MAX], dst_addr[SV_ADDR_MAX];
	int n, cap;
	struct sighting *s;
};

struct next_slot {
	int from; /* -1: empty */
	uint64_t dst;
	int to[NEXT_WAYS];
	uint64_t count[NEXT_WAYS];
	uint64_t ends; /* packets whose path ended here, lost or arrived */
};

struct sv_paths {
	struct sv_store *st; /* where finalized packets go */
	pthread_mutex_t lock;
	int64_t hold_ns;
	struct point points[MAX_POINTS];
	int n_points;
	int point_index[POINT_SLOTS]; /* 1 + the place's index; 0: empty */
	struct pkt *buckets[PENDING_BUCKETS];
	struct pkt *oldest, *newest;
	size_t n_pending;
	struct next_slot *next;
	struct sv_paths_stats stats;
	unsigned long long dropped_logged;
	int64_t skip_ns; /* packets that arrived before: another post stored them (resume) */
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The place's index, added on first sight; -1 when the table is full. */
static int point_id(struct sv_paths *j, const char *box, const char *iface, int direction)
{
	uint64_t h = str_hash(box) * 31 + str_hash(iface) * 7 + direction;
	size_t k = h % POINT_SLOTS;
	struct point *p;
	int i;

	for (;; k = (k + 1) % POINT_SLOTS) {
		i = j->point_index[k] - 1;
		if (i < 0)
			break;
		p = &j->points[i];
		if (p->direction == direction && !strcmp(p->iface, iface) && !strcmp(p->box, box))
			return i;
	}
	if (j->n_points == MAX_POINTS)
		return -1; /* the index, twice as large, always has an empty slot */
	i = j->n_points++;
	snprintf(j->points[i].box, sizeof(j->points[i].box), "%s", box);
	snprintf(j->points[i].iface, sizeof(j->points[i].iface), "%s", iface);
	j->points[i].direction = direction;
	j->point_index[k] = i + 1;
	return i;
}

/* A hash's bucket, by its high bits: the agents select the packets whose hash is 0 modulo
 * their N (up to 2^30), so the low bits are all zero, and with them as the index 1 in 64 used
 * 1/64 of the buckets, a 64th of the room (MAX_CHAIN each) and chains 64 times as long. */
static struct pkt **bucket(struct sv_paths *j, uint64_t hash)
{
	return &j->buckets[(hash >> 32) % PENDING_BUCKETS];
}

static void unlink_pkt(struct sv_paths *j, struct pkt *p)
{
	struct pkt **pp = bucket(j, p->hash);

	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	if (p->older)
		p->older->newer = p->newer;
	else
		j->oldest = p->newer;
	if (p->newer)
		p->newer->older = p->older;
	else
		j->newest = p->older;
	j->n_pending--;
}

/* The pending packet this sighting belongs to: same hash, first seen within the window. */
static struct pkt *find_or_add(struct sv_paths *j, const struct sv_fp_rec *f, int64_t now)
{
	struct pkt *p;
	int64_t d;
	int chain = 0;

	for (p = *bucket(j, f->hash); p; p = p->next, chain++) {
		d = f->ts_ns - p->first_ts;
		if (p->hash == f->hash && d < SV_PATHS_WINDOW_NS && d > -SV_PATHS_WINDOW_NS)
			return p;
	}
	if (chain >= MAX_CHAIN || j->n_pending >= MAX_PENDING || !(p = calloc(1, sizeof(*p))))
		return NULL;
	p->s = malloc(FIRST_SIGHTINGS * sizeof(*p->s));
	if (!p->s) {
		free(p);
		return NULL;
	}
	p->cap = FIRST_SIGHTINGS;
	p->hash = f->hash;
	p->first_ts = f->ts_ns;
	p->arrived_ns = now;
	p->ip_version = f->ip_version;
	p->protocol = f->protocol;
	p->src_port = f->src_port;
	p->dst_port = f->dst_port;
	memcpy(p->src_addr, f->src_addr, sizeof(p->src_addr));
	memcpy(p->dst_addr, f->dst_addr, sizeof(p->dst_addr));
	p->next = *bucket(j, f->hash);
	*bucket(j, f->hash) = p;
	p->older = j->newest;
	if (j->newest)
		j->newest->newer = p;
	else
		j->oldest = p;
	j->newest = p;
	j->n_pending++;
	return p;
}

/* Room for one more sighting; 0, or -1 at the bound or out of memory. */
static int room(struct pkt *p)
{
	struct sighting *s;

	if (p->n < p->cap)
		return 0;
	if (p->cap >= MAX_SIGHTINGS || !(s = realloc(p->s, 2 * p->cap * sizeof(*s))))
		return -1;
	p->s = s;
	p->cap *= 2;
	return 0;
}

static void add_sighting(struct sv_paths *j, const char *box, const struct sv_fp_rec *f,
			 int64_t now)
{
	struct pkt *p = find_or_add(j, f, now);
	int pt = point_id(j, box, f->iface, f->direction);

	if (!p || pt < 0 || room(p)) {
		j->stats.dropped++;
		return;
	}
	if (f->ts_ns < p->first_ts)
		p->first_ts = f->ts_ns;
	p->s[p->n++] = (struct sighting){ f->ts_ns, pt };
	j->stats.fingerprints++;
}

/* --- finalizing --------------------------------------------------------------------- */

/* Stable: sightings with equal times keep the order they arrived in. */
static void sort_sightings(struct pkt *p)
{
	struct sighting t;
	int i, j;

	for (i = 1; i < p->n; i++) {
		t = p->s[i];
		for (j = i; j > 0 && p->s[j - 1].ts_ns > t.ts_ns; j--)
			p->s[j] = p->s[j - 1];
		p->s[j] = t;
	}
}

static struct next_slot *next_slot(struct sv_paths *j, int from, uint64_t dst, int create)
{
	size_t i = (dst ^ ((uint64_t)from * 0x9E3779B97F4A7C15ull)) % NEXT_SLOTS, k;
	struct next_slot *s;

	for (k = 0; k < 64; k++) {
		s = &j->next[(i + k) % NEXT_SLOTS];
		if (s->from == from && s->dst == dst)
			return s;
		if (s->from < 0) {
			if (!create)
				return NULL;
			s->from = from;
			s->dst = dst;
			return s;
		}
	}
	return NULL;
}

/* Halves the counts once one is large: old ways fade, so a changed route takes over. */
static void decay(struct next_slot *s)
{
	uint64_t most = s->ends;
	int w;

	for (w = 0; w < NEXT_WAYS; w++)
		most = s->count[w] > most ? s->count[w] : most;
	if (most < NEXT_DECAY)
		return;
	for (w = 0; w < NEXT_WAYS; w++)
		s->count[w] /= 2;
	s->ends /= 2;
}

/* Where a packet to dst went after from; to < 0: its path ended at from. */
static void learn(struct sv_paths *j, int from, uint64_t dst, int to)
{
	struct next_slot *s = next_slot(j, from, dst, 1);
	int w, least = 0;

	if (!s)
		return;
	decay(s);
	if (to < 0) {
		s->ends++;
		return;
	}
	for (w = 0; w < NEXT_WAYS; w++) {
		if (s->count[w] && s->to[w] == to) {
			s->count[w]++;
			return;
		}
		if (s->count[w] < s->count[least])
			least = w;
	}
	s->to[least] = to; /* a new way replaces the rarest */
	s->count[least] = 1;
}

/* Where packets to dst usually went next from this place; -1 if nowhere (it ends there). */
static int expected_next(struct sv_paths *j, int from, uint64_t dst)
{
	struct next_slot *s = next_slot(j, from, dst, 0);
	int w, best = -1;

	if (!s)
		return -1;
	for (w = 0; w < NEXT_WAYS; w++)
		if (s->count[w] && (best < 0 || s->count[w] > s->count[best]))
			best = w;
	if (best < 0 || s->count[best] * NEXT_SHARE < s->ends)
		return -1;
	return s->to[best];
}

struct sweep {
	struct sv_paths *j;
	struct sv_seg_minute *segs;
	size_t n_segs, cap_segs;
	struct sv_path_row *paths;
	char **texts; /* the paths' hops, lost and hash strings, freed after the write */
	size_t n_paths, n_texts;
	int failed;
};

static struct sv_point pub_point(const struct sv_paths *j, int i)
{
	return (struct sv_point){ j->points[i].box, j->points[i].iface, j->points[i].direction };
}

static struct sv_seg_minute *seg(struct sweep *w, int64_t minute, int from, int to)
{
	const struct sv_paths *j = w->j;
	struct sv_seg_minute *g;
	size_t i;

	for (i = 0; i < w->n_segs; i++) {
		g = &w->segs[i];
		if (g->minute == minute && g->from.box == j->points[from].box &&
		    g->to.box == j->points[to].box && g->from.iface == j->points[from].iface &&
		    g->to.iface == j->points[to].iface)
			return g;
	}
	if (w->n_segs == w->cap_segs) {
		size_t cap = w->cap_segs ? w->cap_segs * 2 : 16;

		g = realloc(w->segs, cap * sizeof(*g));
		if (!g) {
			w->failed = 1;
			return NULL;
		}
		w->segs = g;
		w->cap_segs = cap;
	}
	g = &w->segs[w->n_segs++];
	memset(g, 0, sizeof(*g));
	g->minute = minute;
	g->from = pub_point(j, from);
	g->to = pub_point(j, to);
	return g;
}

static void seg_crossed(struct sweep *w, int64_t minute, int from, int to, int64_t lat)
{
	struct sv_seg_minute *g = seg(w, minute, from, to);

	if (!g)
		return;
	g->seen++;
	if (!g->lat_n || lat < g->lat_min)
		g->lat_min = lat;
	if (!g->lat_n || lat > g->lat_max)
		g->lat_max = lat;
	g->lat_n++;
	g->lat_sum += lat;
	g->hist[sv_lat_bucket(lat)]++;
}

static void point_json(struct sb *b, const struct sv_paths *j, int i)
{
	sb_puts(b, "{\"box\":");
	sb_json_str(b, j->points[i].box);
	sb_puts(b, ",\"iface\":");
	sb_json_str(b, j->points[i].iface);
	sb_printf(b, ",\"direction\":\"%s\"", j->points[i].direction ? "egress" : "ingress");
}

static char *keep_text(struct sweep *w, struct sb *b)
{
	if (sb_failed(b)) {
		sb_free(b);
		w->failed = 1;
		return NULL;
	}
	w->texts[w->n_texts++] = b->buf;
	return b->buf;
}

/* The packet's path as a row; lost_at/expect >= 0 when it was lost after lost_at. */
static void add_path(struct sweep *w, const struct pkt *p, int lost_at, int expect)
{
	struct sv_path_row *r = &w->paths[w->n_paths];
	struct sb hops, lost, hash;
	int i;

	sb_init(&hops);
	sb_putc(&hops, '[');
	for (i = 0; i < p->n; i++) {
		sb_puts(&hops, i ? "," : "");
		point_json(&hops, w->j, p->s[i].point);
		sb_printf(&hops, ",\"ts_ns\":%lld,\"delta_ns\":%lld}", (long long)p->s[i].ts_ns,
			  (long long)(i ? p->s[i].ts_ns - p->s[i - 1].ts_ns : 0));
	}
	sb_putc(&hops, ']');
	sb_init(&hash);
	sb_printf(&hash, "%016llx", (unsigned long long)p->hash);
	*r = (struct sv_path_row){
		.first_ns = p->s[0].ts_ns, .ip_version = p->ip_version, .protocol = p->protocol,
		.src_port = p->src_port, .dst_port = p->dst_port,
		.src_addr = p->src_addr, .dst_addr = p->dst_addr,
		.hops = keep_text(w, &hops), .hash = keep_text(w, &hash),
	};
	if (lost_at >= 0) {
		sb_init(&lost);
		sb_puts(&lost, "{\"after\":");
		point_json(&lost, w->j, lost_at);
		sb_puts(&lost, "},\"expected\":");
		point_json(&lost, w->j, expect);
		sb_puts(&lost, "}}");
		r->lost = keep_text(w, &lost);
	}
	if (r->hops && r->hash)
		w->n_paths++;
}

/* A finalized packet's segments, its loss if any, and its path. */
static void judge(struct sweep *w, const struct pkt *p)
{
	int64_t minute = p->s[0].ts_ns / NS_PER_MIN;
	int i, last = p->s[p->n - 1].point, expect;

	for (i = 1; i < p->n; i++)
		seg_crossed(w, minute, p->s[i - 1].point, p->s[i].point,
			    p->s[i].ts_ns - p->s[i - 1].ts_ns);
	expect = expected_next(w->j, last, str_hash(p->dst_addr));
	if (expect >= 0) {
		struct sv_seg_minute *g = seg(w, minute, last, expect);

		if (g) {
			g->seen++;
			g->lost++;
		}
	}
	add_path(w, p, expect >= 0 ? last : -1, expect);
}

static void sweep_free(struct sweep *w)
{
	size_t i;

	for (i = 0; i < w->n_texts; i++)
		free(w->texts[i]);
	free(w->texts);
	free(w->paths);
	free(w->segs);
}

/* Takes the packets due out of the table, oldest first, into a list. */
static struct pkt *take_due(struct sv_paths *j, int64_t now, int force, size_t *n)
{
	struct pkt *head = NULL, **tail = &head, *p;

	*n = 0;
	while ((p = j->oldest) && (force || now - p->arrived_ns >= j->hold_ns)) {
		unlink_pkt(j, p);
		p->next = NULL;
		*tail = p;
		tail = &p->next;
		(*n)++;
	}
	return head;
}

static int finalize(struct sv_paths *j, struct pkt *due, size_t n)
{
	struct sweep w = { .j = j };
	struct pkt *p;
	int i, err;

	w.paths = calloc(n, sizeof(*w.paths));
	w.texts = calloc(3 * n, sizeof(*w.texts));
	if (!w.paths || !w.texts) {
		sweep_free(&w);
		return -ENOMEM;
	}
	for (p = due; p; p = p->next) {
		sort_sightings(p);
		for (i = 1; i < p->n; i++)
			learn(j, p->s[i - 1].point, str_hash(p->dst_addr), p->s[i].point);
		if (p->n)
			learn(j, p->s[p->n - 1].point, str_hash(p->dst_addr), -1);
	}
	for (p = due; p; p = p->next)
		if (p->n && p->arrived_ns >= j->skip_ns) /* none: every sighting found it full */
			judge(&w, p);
	err = w.failed ? -ENOMEM :
			 sv_store_paths_write(j->st, w.paths, w.n_paths, w.segs, w.n_segs,
					      SV_PATHS_KEEP);
	j->stats.packets += w.n_paths;
	sweep_free(&w);
	return err;
}

static void free_pkts(struct pkt *p)
{
	struct pkt *next;

	for (; p; p = next) {
		next = p->next;
		free(p->s);
		free(p);
	}
}

static int sweep_locked(struct sv_paths *j, int64_t now, int force)
{
	struct pkt *due;
	size_t n;
	int err = 0;

	due = take_due(j, now, force, &n);
	if (n)
		err = finalize(j, due, n);
	free_pkts(due);
	if (j->stats.dropped > j->dropped_logged) {
		pr_warn("trajectory join full: %llu fingerprints dropped (lower the agents' "
			"--trajectory rate or --path-hold)\n",
			j->stats.dropped - j->dropped_logged);
		j->dropped_logged = j->stats.dropped;
	}
	return err;
}

int sv_paths_sweep(struct sv_paths *j, int64_t now_ns, int force)
{
	int err;

	pthread_mutex_lock(&j->lock);
	err = sweep_locked(j, now_ns, force);
	pthread_mutex_unlock(&j->lock);
	if (err)
		pr_warn("cannot store packet paths: %s\n", strerror(-err));
	return err;
}

void sv_paths_add(struct sv_paths *j, const struct sv_batch *b, int64_t now_ns)
{
	size_t i;

	if (!b->n_fps)
		return;
	pthread_mutex_lock(&j->lock);
	for (i = 0; i < b->n_fps; i++)
		add_sighting(j, b->box, &b->fps[i], now_ns);
	pthread_mutex_unlock(&j->lock);
	sv_paths_sweep(j, now_ns, 0);
}

void sv_paths_resume(struct sv_paths *j, int64_t watermark_ns)
{
	pthread_mutex_lock(&j->lock);
	j->skip_ns = watermark_ns - j->hold_ns;
	pthread_mutex_unlock(&j->lock);
}

void sv_paths_reset(struct sv_paths *j)
{
	size_t n;

	pthread_mutex_lock(&j->lock);
	free_pkts(take_due(j, 0, 1, &n));
	pthread_mutex_unlock(&j->lock);
}

void sv_paths_stats(struct sv_paths *j, struct sv_paths_stats *s)
{
	pthread_mutex_lock(&j->lock);
	*s = j->stats;
	pthread_mutex_unlock(&j->lock);
}

int sv_paths_open(struct sv_store *st, int64_t hold_ns, struct sv_paths **out)
{
	struct sv_paths *j = calloc(1, sizeof(*j));
	int i;

	if (!j)
		return -ENOMEM;
	j->next = malloc(NEXT_SLOTS * sizeof(*j->next));
	if (!j->next) {
		free(j);
		return -ENOMEM;
	}
	for (i = 0; i < NEXT_SLOTS; i++)
		j->next[i] = (struct next_slot){ .from = -1 };
	j->st = st;
	j->hold_ns = hold_ns;
	j->skip_ns = INT64_MIN;
	pthread_mutex_init(&j->lock, NULL);
	*out = j;
	return 0;
}

void sv_paths_close(struct sv_paths *j)
{
	size_t n;

	if (!j)
		return;
	free_pkts(take_due(j, 0, 1, &n));
	pthread_mutex_destroy(&j->lock);
	free(j->next);
	free(j);
}
