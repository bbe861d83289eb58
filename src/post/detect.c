// SPDX-License-Identifier: GPL-2.0
/* Attack detection over every stored flow record; see detect.h and docs/detection.md.
 *
 * A tracker follows one suspect: a source and a host (port scan), a source (host sweep) or a
 * host and port (SYN flood). It remembers the distinct ports, hosts or sources it saw as
 * hashes in a set, so a conversation seen by three boxes counts once; flows and packets are
 * counted per observer (box, interface, direction) and the busiest observer's count is the
 * attack's, for the same reason. Trackers live in a hash table with an LRU list: at the cap
 * the least recently active one without an open alert makes room. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"
#include "detect.h"
#include "log.h"
#include "timeparse.h"

#define NS 1000000000LL
#define N_BUCKETS 65536
#define SET_MAX 4096 /* ports, hosts or sources one tracker remembers */
#define SET_BUDGET (1u << 20) /* set slots of all trackers together: 8 MiB */
#define OBS_MAX 16 /* observers one tracker remembers */
#define LIST_MAX 32 /* items an alert lists as evidence */

#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

enum kind { K_SCAN, K_SWEEP, K_FLOOD, N_KINDS };
static const char *const kind_name[N_KINDS] = { "port_scan", "host_sweep", "syn_flood" };

enum drop { D_EVICTED, D_TRACKERS, D_SET, D_OBSERVERS, D_STORE, N_DROPS };
static const char *const drop_name[N_DROPS] = { "evicted", "trackers_full", "set_full",
						"observers_full", "store_failed" };

struct obs {
	char box[SV_BOX_MAX];
	char iface[SV_IFNAME_MAX];
	int direction;
	uint64_t flows, packets;
};

/* Open addressing over non-zero 64-bit keys. */
struct set {
	uint64_t *k;
	uint32_t n, cap;
};

/* What a stored alert said when a tracker took it over (sv_detect_share): the alert keeps
 * its earliest start and its largest counts. */
struct adopted {
	int64_t first_ns;
	uint64_t flows, packets, n_hosts, n_ports, n_sources;
};

struct tracker {
	struct tracker *next; /* hash chain */
	struct tracker *newer, *older; /* LRU list */
	enum kind kind;
	char a[SV_ADDR_MAX], b[SV_ADDR_MAX]; /* scan: src, dst; sweep: src; flood: dst */
	unsigned int port; /* flood: the port flooded */
	int64_t first_ns, last_ns; /* record times of what counts now */
	int64_t touched_ns; /* wall clock of the last record, for forgetting */
	struct set set;
	struct sb list; /* the first LIST_MAX items of the set, '\n'-separated */
	unsigned int n_list;
	struct obs *obs;
	unsigned int n_obs, cap_obs;
	int64_t alert_id; /* 0: no open alert */
	int64_t logged_ns; /* when the alerts log last heard of this alert */
	int dirty; /* changed since the alert was last stored */
	struct tracker *next_dirty;
	struct adopted base; /* a stored alert this one extends (shared mode) */
};

struct sv_detect {
	struct sv_detect_cfg cfg;
	struct sv_store *st;
	FILE *log;
	pthread_mutex_t lock;
	struct tracker *bucket[N_BUCKETS];
	struct tracker *newest, *oldest;
	struct tracker *dirty;
	unsigned int n_trackers;
	uint64_t set_slots;
	int shared; /* several posts: an alert may already be in the store (sv_detect_share) */
	unsigned long long raised[N_KINDS], drops[N_DROPS];
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ull;
	return h;
}

static uint64_t str_key(const char *s)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, s, strlen(s));

	return h ? h : 1;
}

/* 1 if added, 0 if there, -1 if it cannot grow. */
static int set_add(struct sv_detect *d, struct set *s, uint64_t key)
{
	uint32_t i;

	if (s->n * 2 >= s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16, j;
		uint64_t *k;

		if (s->n >= SET_MAX || d->set_slots + cap - s->cap > SET_BUDGET)
			goto full;
		k = calloc(cap, sizeof(*k));
		if (!k)
			goto full;
		for (j = 0; j < s->cap; j++) {
			if (!s->k[j])
				continue;
			for (i = s->k[j] & (cap - 1); k[i]; i = (i + 1) & (cap - 1))
				;
			k[i] = s->k[j];
		}
		d->set_slots += cap - s->cap;
		free(s->k);
		s->k = k;
		s->cap = cap;
	}
	for (i = key & (s->cap - 1); s->k[i]; i = (i + 1) & (s->cap - 1))
		if (s->k[i] == key)
			return 0;
	s->k[i] = key;
	s->n++;
	return 1;
full:
	/* Full: only what is known still counts; the count is then a lower bound. */
	for (i = s->cap ? key & (s->cap - 1) : 0; s->cap && s->k[i]; i = (i + 1) & (s->cap - 1))
		if (s->k[i] == key)
			return 0;
	return -1;
}

static void set_clear(struct sv_detect *d, struct set *s)
{
	d->set_slots -= s->cap;
	free(s->k);
	memset(s, 0, sizeof(*s));
}

static size_t tracker_hash(enum kind k, const char *a, const char *b, unsigned int port)
{
	uint64_t h = fnv(0xcbf29ce484222325ull, &k, sizeof(k));

	h = fnv(h, a, strlen(a) + 1);
	h = fnv(h, b, strlen(b) + 1);
	return fnv(h, &port, sizeof(port)) & (N_BUCKETS - 1);
}

static void lru_unlink(struct sv_detect *d, struct tracker *t)
{
	if (t->newer)
		t->newer->older = t->older;
	else
		d->newest = t->older;
	if (t->older)
		t->older->newer = t->newer;
	else
		d->oldest = t->newer;
	t->newer = t->older = NULL;
}

static void lru_front(struct sv_detect *d, struct tracker *t)
{
	if (d->newest == t)
		return;
	if (t->newer || t->older || d->oldest == t)
		lru_unlink(d, t);
	t->older = d->newest;
	if (d->newest)
		d->newest->newer = t;
	d->newest = t;
	if (!d->oldest)
		d->oldest = t;
}

/* Clears what counts in the current window (not the tracker's identity). */
static void tracker_reset(struct sv_detect *d, struct tracker *t)
{
	set_clear(d, &t->set);
	t->list.len = 0;
	if (t->list.buf)
		t->list.buf[0] = 0;
	t->n_list = 0;
	t->n_obs = 0;
	t->alert_id = 0;
	t->logged_ns = 0;
	memset(&t->base, 0, sizeof(t->base));
}

static void tracker_free(struct sv_detect *d, struct tracker *t)
{
	struct tracker **p = &d->bucket[tracker_hash(t->kind, t->a, t->b, t->port)];

	while (*p != t)
		p = &(*p)->next;
	*p = t->next;
	lru_unlink(d, t);
	set_clear(d, &t->set);
	sb_free(&t->list);
	free(t->obs);
	free(t);
	d->n_trackers--;
}

/* Makes room for one tracker; 0 or -ENOSPC when every tracker has an open alert. */
static int make_room(struct sv_detect *d)
{
	struct tracker *t;

	if (d->n_trackers < d->cfg.max_tracked)
		return 0;
	for (t = d->oldest; t && (t->alert_id || t->dirty); t = t->newer)
		;
	if (!t)
		return -ENOSPC;
	tracker_free(d, t);
	d->drops[D_EVICTED]++;
	return 0;
}

static struct tracker *tracker_get(struct sv_detect *d, enum kind k, const char *a,
				   const char *b, unsigned int port)
{
	size_t h = tracker_hash(k, a, b, port);
	struct tracker *t;

	for (t = d->bucket[h]; t; t = t->next)
		if (t->kind == k && t->port == port && !strcmp(t->a, a) && !strcmp(t->b, b))
			return t;
	if (make_room(d) || !(t = calloc(1, sizeof(*t)))) {
		d->drops[D_TRACKERS]++;
		return NULL;
	}
	t->kind = k;
	snprintf(t->a, sizeof(t->a), "%s", a);
	snprintf(t->b, sizeof(t->b), "%s", b);
	t->port = port;
	sb_init(&t->list);
	t->next = d->bucket[h];
	d->bucket[h] = t;
	d->n_trackers++;
	return t;
}

static struct obs *observer(struct sv_detect *d, struct tracker *t, const char *box,
			    const struct sv_rec *r)
{
	struct obs *o;
	unsigned int i;

	for (i = 0; i < t->n_obs; i++) {
		o = &t->obs[i];
		if (o->direction == r->direction && !strcmp(o->iface, r->iface) &&
		    !strcmp(o->box, box))
			return o;
	}
	if (t->n_obs == OBS_MAX) {
		d->drops[D_OBSERVERS]++;
		return NULL;
	}
	if (t->n_obs == t->cap_obs) {
		unsigned int cap = t->cap_obs ? t->cap_obs * 2 : 2;

		o = realloc(t->obs, cap * sizeof(*o));
		if (!o)
			return NULL;
		t->obs = o;
		t->cap_obs = cap;
	}
	o = &t->obs[t->n_obs++];
	memset(o, 0, sizeof(*o));
	snprintf(o->box, sizeof(o->box), "%s", box);
	snprintf(o->iface, sizeof(o->iface), "%s", r->iface);
	o->direction = r->direction;
	return o;
}

/* The busiest observer's flows and packets. */
static void obs_max(const struct tracker *t, uint64_t *flows, uint64_t *packets)
{
	unsigned int i;

	*flows = *packets = 0;
	for (i = 0; i < t->n_obs; i++) {
		if (t->obs[i].flows > *flows)
			*flows = t->obs[i].flows;
		if (t->obs[i].packets > *packets)
			*packets = t->obs[i].packets;
	}
}

static unsigned int threshold(const struct sv_detect *d, enum kind k)
{
	return k == K_SCAN ? d->cfg.scan_ports : k == K_SWEEP ? d->cfg.sweep_hosts :
								d->cfg.syn_flood;
}

/* What the threshold is compared with: distinct ports or hosts, or SYN packets. */
static uint64_t measure(const struct tracker *t)
{
	uint64_t flows, packets;

	if (t->kind != K_FLOOD)
		return t->set.n;
	obs_max(t, &flows, &packets);
	return packets;
}

/* Counts one record in a tracker: key is the port, host or source it adds. */
static void count(struct sv_detect *d, struct tracker *t, const char *box,
		  const struct sv_rec *r, uint64_t key, const char *item)
{
	int64_t w = (int64_t)d->cfg.window_s * NS, now = sv_now_ns();
	int64_t ts = (int64_t)r->last_ns > now ? now : (int64_t)r->last_ns;
	struct obs *o;
	int added;

	/* A window of silence ends what counted: the open alert closes, counting restarts. */
	if (t->first_ns && ((!t->alert_id && !t->dirty && ts >= t->first_ns + w) ||
			    (t->alert_id && ts >= t->last_ns + w)))
		tracker_reset(d, t);
	if (!t->n_obs && !t->set.n)
		t->first_ns = t->last_ns = ts;
	if (ts < t->first_ns)
		t->first_ns = ts;
	if (ts > t->last_ns)
		t->last_ns = ts;
	t->touched_ns = now;
	lru_front(d, t);
	added = set_add(d, &t->set, key);
	if (added < 0)
		d->drops[D_SET]++;
	if (added > 0 && item && t->n_list < LIST_MAX) {
		sb_printf(&t->list, "%s%s", t->n_list ? "\n" : "", item);
		t->n_list++;
	}
	o = observer(d, t, box, r);
	if (o) {
		o->flows++;
		o->packets += r->packets;
	}
	if ((t->alert_id || measure(t) >= threshold(d, t->kind)) && !t->dirty) {
		t->dirty = 1;
		t->next_dirty = d->dirty;
		d->dirty = t;
	}
}

/* A probe: a TCP flow that never carried ACK (SYN, or FIN/NULL/Xmas without a RST alone:
 * a lone RST is an answer), a UDP datagram flow that is not a service answering a client
 * (low source port to a high one), an ICMP echo or timestamp request. */
static int tcp_probe(unsigned int f)
{
	return !(f & TH_ACK) && ((f & TH_SYN) || !(f & TH_RST));
}

static int echo_request(const struct sv_rec *r)
{
	if (r->protocol == 1)
		return r->icmp_type == 8 || r->icmp_type == 13;
	return r->protocol == 58 && r->icmp_type == 128;
}

static void port_item(char *buf, size_t len, unsigned int proto, unsigned int port)
{
	snprintf(buf, len, "%s/%u", proto == 6 ? "tcp" : "udp", port);
}

static void detect_rec(struct sv_detect *d, const char *box, const struct sv_rec *r)
{
	int tcp = r->protocol == 6 && tcp_probe(r->tcp_flags);
	int udp = r->protocol == 17 && !(r->src_port < 1024 && r->dst_port >= 1024);
	struct tracker *t;
	char item[16];

	/* A record of only the kernel's drops (issue 16; packets never on the wire, e.g. no
	 * neighbour) is no traffic seen: it arrives late and would move an alert's times. */
	if (!r->src_addr[0] || !r->dst_addr[0] || (!r->packets && r->drops))
		return;
	if (tcp || udp) {
		t = tracker_get(d, K_SCAN, r->src_addr, r->dst_addr, 0);
		port_item(item, sizeof(item), r->protocol, r->dst_port);
		if (t)
			count(d, t, box, r, (uint64_t)r->protocol << 16 | r->dst_port | 1ull << 32,
			      item);
	}
	if (tcp || echo_request(r)) {
		t = tracker_get(d, K_SWEEP, r->src_addr, "", 0);
		if (t)
			count(d, t, box, r, str_key(r->dst_addr), r->dst_addr);
	}
	if (r->protocol == 6 && (r->tcp_flags & TH_SYN) && !(r->tcp_flags & TH_ACK)) {
		t = tracker_get(d, K_FLOOD, r->dst_addr, "", r->dst_port);
		if (t)
			count(d, t, box, r, str_key(r->src_addr), r->src_addr);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A port scan lists its lowest ports, from the set (the list holds the first ones seen). */
static void scan_ports(const struct tracker *t, struct sb *out)
{
	uint64_t *k = malloc(t->set.n * sizeof(*k) + 1);
	uint32_t i, n = 0;
	char item[16];

	if (!k)
		return;
	for (i = 0; i < t->set.cap; i++)
		if (t->set.k[i])
			k[n++] = t->set.k[i];
	qsort(k, n, sizeof(*k), cmp_u64);
	/* Keys sort by protocol, then port: TCP before UDP. */
	for (i = 0; i < n && i < LIST_MAX; i++) {
		port_item(item, sizeof(item), k[i] >> 16 & 0xff, k[i] & 0xffff);
		sb_printf(out, "%s%s", i ? "\n" : "", item);
	}
	free(k);
}

/* "box\tiface" lines, one per box and interface whatever the direction. */
static void seen_by(const struct tracker *t, struct sb *out)
{
	unsigned int i, j;

	for (i = 0; i < t->n_obs; i++) {
		for (j = 0; j < i; j++)
			if (!strcmp(t->obs[i].box, t->obs[j].box) &&
			    !strcmp(t->obs[i].iface, t->obs[j].iface))
				break;
		if (j == i)
			sb_printf(out, "%s%s\t%s", out->len ? "\n" : "", t->obs[i].box,
				  t->obs[i].iface);
	}
}

static const char *severity(uint64_t v, unsigned int thr)
{
	return v >= 10ull * thr ? "high" : v >= 3ull * thr ? "medium" : "low";
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* An adopted alert keeps what it said before this post's tracker took it over. */
static void merge_base(const struct tracker *t, struct sv_alert *a)
{
	const struct adopted *b = &t->base;

	if (!b->first_ns)
		return;
	if (b->first_ns < a->first_ns)
		a->first_ns = b->first_ns;
	a->flows = max_u64(a->flows, b->flows);
	a->packets = max_u64(a->packets, b->packets);
	a->n_hosts = max_u64(a->n_hosts, b->n_hosts);
	a->n_ports = max_u64(a->n_ports, b->n_ports);
	a->n_sources = max_u64(a->n_sources, b->n_sources);
}

static void build_alert(const struct sv_detect *d, const struct tracker *t, struct sv_alert *a,
			struct sb *ports, struct sb *obs)
{
	const char *list = t->list.buf ? t->list.buf : "";

	memset(a, 0, sizeof(*a));
	a->id = t->alert_id;
	snprintf(a->type, sizeof(a->type), "%s", kind_name[t->kind]);
	a->first_ns = t->first_ns;
	a->last_ns = t->last_ns;
	obs_max(t, &a->flows, &a->packets);
	seen_by(t, obs);
	a->seen_by = obs->buf ? obs->buf : "";
	a->hosts = a->ports = a->sources = "";
	if (t->kind == K_SCAN) {
		snprintf(a->src, sizeof(a->src), "%s", t->a);
		snprintf(a->target, sizeof(a->target), "%s", t->b);
		a->hosts = t->b;
		a->n_hosts = 1;
		scan_ports(t, ports);
		a->ports = ports->buf ? ports->buf : "";
		a->n_ports = t->set.n;
		a->sources = t->a;
		a->n_sources = 1;
	} else if (t->kind == K_SWEEP) {
		snprintf(a->src, sizeof(a->src), "%s", t->a);
		a->hosts = list;
		a->n_hosts = t->set.n;
		a->sources = t->a;
		a->n_sources = 1;
	} else {
		snprintf(a->src, sizeof(a->src), "%s", t->set.n == 1 ? list : "many");
		snprintf(a->target, sizeof(a->target), "%s", t->a);
		a->hosts = t->a;
		a->n_hosts = 1;
		sb_printf(ports, "tcp/%u", t->port);
		a->ports = ports->buf;
		a->n_ports = 1;
		a->sources = list;
		a->n_sources = t->set.n;
	}
	merge_base(t, a);
	snprintf(a->severity, sizeof(a->severity), "%s",
		 severity(t->kind == K_SCAN ? a->n_ports : t->kind == K_SWEEP ? a->n_hosts :
									 a->packets,
			  threshold(d, t->kind)));
}

/* One JSON line per alert raised, then at most one a window per alert while it goes on. */
static void log_alert(struct sv_detect *d, struct tracker *t, const struct sv_alert *a,
		      int raised)
{
	int64_t now = sv_now_ns();
	struct sb s;

	if (!d->log || (!raised && now < t->logged_ns + (int64_t)d->cfg.window_s * NS))
		return;
	t->logged_ns = now;
	sb_init(&s);
	sb_printf(&s, "{\"event\":\"%s\",\"alert\":", raised ? "raised" : "updated");
	sv_api_alert_json(&s, a);
	sb_puts(&s, "}\n");
	if (!sb_failed(&s) && (fwrite(s.buf, 1, s.len, d->log) != s.len || fflush(d->log)))
		pr_warn("alerts log: write failed\n");
	sb_free(&s);
}

/* The stored alert of this suspect still open (active within a window of the tracker's
 * start): another post raised it before this one took over the analysis. */
struct find {
	const struct tracker *t;
	int64_t id;
	struct adopted base;
};

static int found(void *ctx, const struct sv_alert *a)
{
	struct find *f = ctx;
	char port[16];

	if (f->id)
		return 0;
	snprintf(port, sizeof(port), "tcp/%u", f->t->port);
	if (strcmp(a->type, kind_name[f->t->kind]) ||
	    (f->t->kind != K_FLOOD && strcmp(a->src, f->t->a)) ||
	    (f->t->kind == K_SCAN && strcmp(a->target, f->t->b)) ||
	    (f->t->kind == K_FLOOD && (strcmp(a->target, f->t->a) || strcmp(a->ports, port))))
		return 0;
	f->id = a->id;
	f->base = (struct adopted){ a->first_ns, a->flows, a->packets, a->n_hosts, a->n_ports,
				    a->n_sources };
	return 0;
}

static void adopt(struct sv_detect *d, struct tracker *t)
{
	struct sv_alert_filter f = { .type = kind_name[t->kind] };
	struct find fd = { .t = t };

	f.src = t->kind == K_FLOOD ? NULL : t->a;
	f.target = t->kind == K_SCAN ? t->b : t->kind == K_FLOOD ? t->a : NULL;
	f.since_ns = t->first_ns - (int64_t)d->cfg.window_s * NS;
	f.until_ns = INT64_MAX;
	if (sv_store_alerts(d->st, &f, 100, 0, found, &fd) || !fd.id)
		return;
	t->alert_id = fd.id;
	t->base = fd.base;
}

/* Stores each alert the batch opened or extended. */
static void flush_dirty(struct sv_detect *d)
{
	struct tracker *t;
	struct sv_alert a;

	while ((t = d->dirty)) {
		struct sb ports, obs;
		int raised = !t->alert_id;

		d->dirty = t->next_dirty;
		t->dirty = 0;
		if (!t->alert_id && measure(t) < threshold(d, t->kind))
			continue; /* its alert closed in this batch, no new one reached the bar */
		if (raised && d->shared) {
			adopt(d, t);
			raised = !t->alert_id;
		}
		sb_init(&ports);
		sb_init(&obs);
		build_alert(d, t, &a, &ports, &obs);
		if (sv_store_alert_put(d->st, &a)) {
			d->drops[D_STORE]++;
		} else {
			t->alert_id = a.id;
			if (raised) {
				d->raised[t->kind]++;
				pr_info("alert %lld: %s from %s\n", (long long)a.id, a.type, a.src);
			}
			log_alert(d, t, &a, raised);
		}
		sb_free(&ports);
		sb_free(&obs);
	}
}

void sv_detect_batch(void *ctx, const struct sv_batch *b)
{
	struct sv_detect *d = ctx;
	size_t i;

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < b->n; i++)
		detect_rec(d, b->box, &b->recs[i]);
	flush_dirty(d);
	pthread_mutex_unlock(&d->lock);
}

void sv_detect_share(struct sv_detect *d)
{
	pthread_mutex_lock(&d->lock);
	d->shared = 1;
	pthread_mutex_unlock(&d->lock);
}

void sv_detect_reset(struct sv_detect *d)
{
	pthread_mutex_lock(&d->lock);
	while (d->oldest)
		tracker_free(d, d->oldest);
	pthread_mutex_unlock(&d->lock);
}

void sv_detect_tick(struct sv_detect *d)
{
	int64_t idle;

	if (!d)
		return;
	idle = sv_now_ns() - (int64_t)d->cfg.window_s * NS;
	pthread_mutex_lock(&d->lock);
	/* Oldest first: stop at the first tracker touched within the window. */
	while (d->oldest && d->oldest->touched_ns < idle)
		tracker_free(d, d->oldest);
	pthread_mutex_unlock(&d->lock);
}

int sv_detect_open(const struct sv_detect_cfg *cfg, struct sv_store *st, struct sv_detect **out)
{
	struct sv_detect *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->st = st;
	if (cfg->alerts_log && !(d->log = fopen(cfg->alerts_log, "a"))) {
		int err = -errno;

		pr_warn("cannot open the alerts log %s: %s\n", cfg->alerts_log, strerror(-err));
		free(d);
		return err;
	}
	pthread_mutex_init(&d->lock, NULL);
	*out = d;
	return 0;
}

void sv_detect_close(struct sv_detect *d)
{
	if (!d)
		return;
	while (d->oldest)
		tracker_free(d, d->oldest);
	if (d->log)
		fclose(d->log);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void sv_detect_metrics(struct sv_detect *d, struct sb *out)
{
	int i;

	pthread_mutex_lock(&d->lock);
	sb_puts(out, "# HELP sitevisor_post_alerts_raised_total Alerts raised, by type.\n"
		     "# TYPE sitevisor_post_alerts_raised_total counter\n");
	for (i = 0; i < N_KINDS; i++)
		sb_printf(out, "sitevisor_post_alerts_raised_total{type=\"%s\"} %llu\n",
			  kind_name[i], d->raised[i]);
	sb_puts(out, "# HELP sitevisor_post_detect_trackers Suspects the detector follows now.\n"
		     "# TYPE sitevisor_post_detect_trackers gauge\n");
	sb_printf(out, "sitevisor_post_detect_trackers %u\n", d->n_trackers);
	sb_puts(out, "# HELP sitevisor_post_detect_drops_total Detector state given up at its "
		     "caps: evicted (idle tracker made room), trackers_full (a new suspect not "
		     "followed), set_full (a port, host or source not remembered), "
		     "observers_full, store_failed (an alert not written).\n"
		     "# TYPE sitevisor_post_detect_drops_total counter\n");
	for (i = 0; i < N_DROPS; i++)
		sb_printf(out, "sitevisor_post_detect_drops_total{reason=\"%s\"} %llu\n",
			  drop_name[i], d->drops[i]);
	pthread_mutex_unlock(&d->lock);
}
