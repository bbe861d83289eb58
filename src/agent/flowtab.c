// SPDX-License-Identifier: GPL-2.0
/* The flow table; see flowtab.h.
 *
 * Counts are exact because the kernel never writes a map the agent reads: the programs write
 * through slot 0 of an array-of-maps, and replacing that slot returns only after every
 * program that could have seen the old map has finished (the kernel's synchronize_rcu() on
 * map-in-map updates). The old map is then read and emptied in batches, alone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "addr.h"
#include "flowtab.h"
#include "log.h"

#define BATCH 4096
#define TCP_FIN 0x01
#define TCP_RST 0x04

struct sv_flow {
	struct sv_flow_key key;
	/* Pending: what the kernel counted since the previous record (timestamps monotonic,
	 * last_ns kept across records for the idle timeout). */
	struct sv_flow_val val;
	struct sv_lat_val lat; /* pending round trips, retransmissions, DNS (issue 17) */
	__u64 record_start_ns; /* when the pending record's window began */
	struct sv_flow_drops *drops; /* the kernel's drops pending (--drops); NULL: none yet */
	struct sv_flow *next;
};

/* What the kernel dropped of a flow since its previous record. */
struct sv_flow_drops {
	__u64 packets;
	__u64 bytes;
	struct sv_drop_reasons reasons;
};

/* Whether the flow has counts for a record: packets the tc programs saw, or drops. */
static int pending(const struct sv_flow *f)
{
	return f->val.packets || (f->drops && f->drops->packets);
}

static void flow_free(struct sv_flow *f)
{
	free(f->drops);
	free(f);
}

/* How the kernel's counts fold into a flow's pending ones (the agg column of flowrec.h);
 * fresh: nothing is pending, so the first timestamp is the new one. */
#define AGG_SUM(f, v, fresh) f += v
#define AGG_OR(f, v, fresh) f |= v
#define AGG_FIRST(f, v, fresh) f = (fresh) || (v) < (f) ? (v) : (f)
#define AGG_LAST(f, v, fresh) f = (v) > (f) ? (v) : (f)
#define AGG_NOAGG(f, v, fresh)
/* ... into a record (timestamps to wall clock), and what is reset once emitted. */
#define OUT_SUM(r, f, off) r = f
#define OUT_OR(r, f, off) r = f
#define OUT_FIRST(r, f, off) r = (f) + (off)
#define OUT_LAST(r, f, off) r = (f) + (off)
#define OUT_NOAGG(r, f, off)
#define RESET_SUM(f) f = 0
#define RESET_OR(f) f = 0
#define RESET_FIRST(f)
#define RESET_LAST(f)
#define RESET_NOAGG(f)
/* The LAT_* fields come from struct sv_lat_val instead (fold_lat, emit_lat): nothing here. */
#define AGG_LAT_SUM(f, v, fresh)
#define AGG_LAT_MIN(f, v, fresh)
#define AGG_LAT_MAX(f, v, fresh)
#define AGG_LAT_RCODE(f, v, fresh)
#define OUT_LAT_SUM(r, f, off)
#define OUT_LAT_MIN(r, f, off)
#define OUT_LAT_MAX(r, f, off)
#define OUT_LAT_RCODE(r, f, off)
#define RESET_LAT_SUM(f)
#define RESET_LAT_MIN(f)
#define RESET_LAT_MAX(f)
#define RESET_LAT_RCODE(f)
/* How struct sv_lat_val folds into a flow's pending one (0: no sample), and into a record. */
#define LAT_FOLD_LAT_SUM(f, v) f += v
#define LAT_FOLD_LAT_MIN(f, v) f = (v) && (!(f) || (v) < (f)) ? (v) : (f)
#define LAT_FOLD_LAT_MAX(f, v) f = (v) > (f) ? (v) : (f)
#define LAT_FOLD_LAT_RCODE LAT_FOLD_LAT_MAX
#define LAT_FOLD_SUM(f, v)
#define LAT_FOLD_OR(f, v)
#define LAT_FOLD_FIRST(f, v)
#define LAT_FOLD_LAST(f, v)
#define LAT_FOLD_NOAGG(f, v)
#define LAT_OUT_LAT_SUM(r, f, l) r = f
#define LAT_OUT_LAT_MIN(r, f, l) r = f
#define LAT_OUT_LAT_MAX(r, f, l) r = f
#define LAT_OUT_LAT_RCODE(r, f, l) r = (l)->dns_answers ? (int)(f) : -1
#define LAT_OUT_SUM(r, f, l)
#define LAT_OUT_OR(r, f, l)
#define LAT_OUT_FIRST(r, f, l)
#define LAT_OUT_LAST(r, f, l)
#define LAT_OUT_NOAGG(r, f, l)

int sv_percpu_sum(int fd, __u64 *sum, int n)
{
	int ncpu = libbpf_num_possible_cpus(), i, j;
	__u64 *vals;
	__u32 zero = 0;

	memset(sum, 0, sizeof(__u64) * n);
	if (ncpu <= 0)
		return -EINVAL;
	vals = calloc(ncpu, sizeof(__u64) * n);
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, vals)) {
		free(vals);
		return -errno;
	}
	for (i = 0; i < ncpu; i++)
		for (j = 0; j < n; j++)
			sum[j] += vals[i * n + j];
	free(vals);
	return 0;
}

__u64 sv_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

__u64 sv_wall_offset_ns(void)
{
	struct timespec ts;
	__u64 mono = sv_mono_ns();

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec - mono;
}

/* FNV-1a over the key: the key is small and fixed, and this runs once per flow a collect. */
static size_t key_hash(const struct sv_flow_key *k)
{
	const unsigned char *p = (const void *)k;
	__u64 h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

int sv_flowtab_init(struct sv_flowtab *t, int outer_fd, int fd_a, int fd_b, __u64 active_ns,
		    __u64 idle_ns, const struct sv_ifaces *ifaces)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->outer_fd = outer_fd;
	t->map_fd[0] = fd_a;
	t->map_fd[1] = fd_b;
	t->active_ns = active_ns;
	t->idle_ns = idle_ns;
	t->window_start_ns = sv_mono_ns();
	t->cache_outer_fd = -1;
	t->lat_outer_fd = -1;
	t->dns_fd = -1;
	t->ifaces = ifaces;
	return 0;
}

int sv_flowtab_set_cache(struct sv_flowtab *t, int outer_fd, int fd_a, int fd_b,
			 unsigned int slots)
{
	t->ncpus = libbpf_num_possible_cpus();
	if (t->ncpus <= 0)
		return -EINVAL;
	t->cache_buf = calloc((size_t)slots * t->ncpus, sizeof(*t->cache_buf));
	if (!t->cache_buf)
		return -ENOMEM;
	t->cache_outer_fd = outer_fd;
	t->cache_fd[0] = fd_a;
	t->cache_fd[1] = fd_b;
	t->cache_slots = slots;
	return 0;
}

void sv_flowtab_set_lat(struct sv_flowtab *t, int outer_fd, int fd_a, int fd_b, int dns_fd,
		       __u64 dns_timeout_ns)
{
	t->lat_outer_fd = outer_fd;
	t->lat_fd[0] = fd_a;
	t->lat_fd[1] = fd_b;
	t->dns_fd = dns_fd;
	t->dns_timeout_ns = dns_timeout_ns;
}

static int grow(struct sv_flowtab *t)
{
	size_t n = t->nbuckets * 2, i;
	struct sv_flow **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (i = 0; i < t->nbuckets; i++) {
		struct sv_flow *f = t->buckets[i], *next;

		for (; f; f = next) {
			next = f->next;
			f->next = b[key_hash(&f->key) & (n - 1)];
			b[key_hash(&f->key) & (n - 1)] = f;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
	return 0;
}

/* The flow of key k, added (with nothing pending) if the table has none. */
static struct sv_flow *find_or_add(struct sv_flowtab *t, const struct sv_flow_key *k)
{
	size_t h = key_hash(k) & (t->nbuckets - 1);
	struct sv_flow *f;

	for (f = t->buckets[h]; f; f = f->next)
		if (!memcmp(&f->key, k, sizeof(*k)))
			return f;
	if (t->count >= t->nbuckets && !grow(t))
		h = key_hash(k) & (t->nbuckets - 1);
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->key = *k;
	f->record_start_ns = t->window_start_ns;
	f->next = t->buckets[h];
	t->buckets[h] = f;
	t->count++;
	return f;
}

static int merge(struct sv_flowtab *t, const struct sv_flow_key *k, const struct sv_flow_val *v)
{
	struct sv_flow *f = find_or_add(t, k);
	int fresh;

	if (!f)
		return -ENOMEM;
	fresh = !pending(f);
#define X(name, kind, part, when, ipfix, lp, agg) AGG_##agg(f->val.name, v->name, fresh);
	SV_FLOW_FIELDS(X)
#undef X
	return 0;
}

int sv_flowtab_add_drops(struct sv_flowtab *t, const struct sv_flow_key *k, const char *reason,
			 const struct sv_drop_val *v)
{
	struct sv_flow *f = find_or_add(t, k);
	int fresh;

	if (!f)
		return -ENOMEM;
	if (!f->drops) {
		f->drops = calloc(1, sizeof(*f->drops));
		if (!f->drops)
			return -ENOMEM;
	}
	/* A flow only dropped has its times from the drops; the idle timeout follows them. */
	fresh = !pending(f);
	AGG_FIRST(f->val.first_ns, v->first_ns, fresh);
	AGG_LAST(f->val.last_ns, v->last_ns, fresh);
	f->drops->packets += v->packets;
	f->drops->bytes += v->bytes;
	/* Past SV_DROP_REASONS_MAX reasons in one record, the rest are in drops only. */
	sv_drop_reasons_add(&f->drops->reasons, reason, v->packets);
	return 0;
}

static void fold_lat(struct sv_lat_val *l, const struct sv_lat_val *v)
{
#define X(name, kind, part, when, ipfix, lp, agg) LAT_FOLD_##agg(l->name, v->name);
	SV_FLOW_FIELDS(X)
#undef X
}

/* Results for a flow that may have no packets pending (its record went out already): it
 * then takes the time at (monotonic ns) for its record's times. */
static int merge_lat(struct sv_flowtab *t, const struct sv_flow_key *k,
		     const struct sv_lat_val *v, __u64 at)
{
	struct sv_flow *f = find_or_add(t, k);

	if (!f)
		return -ENOMEM;
	if (!f->val.packets && !f->val.last_ns)
		f->val.first_ns = f->val.last_ns = at;
	fold_lat(&f->lat, v);
	return 0;
}

static int has_lat(const struct sv_flow *f)
{
	return f->lat.rtt_samples || f->lat.retransmits || f->lat.dns_answers ||
	       f->lat.dns_unanswered;
}

int sv_map_drain(int fd, void *keys, size_t ksize, void *vals, size_t vsize, __u32 room,
		 sv_drain_fn fn, void *ctx)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 batch = 0;
	int first = 1, err = 0;

	while (!err) {
		__u32 i, n = room;

		/* Entries come with the call that fails with ENOENT too: it ends the map. */
		err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &batch, &batch, keys, vals,
						      &n, &opts);
		if (err)
			err = -errno;
		first = 0;
		for (i = 0; i < n; i++) {
			int e = fn(ctx, (const __u8 *)keys + i * ksize, (const __u8 *)vals + i * vsize);

			if (e)
				return e;
		}
	}
	return err == -ENOENT ? 0 : err;
}

/* How a drained map's entry folds into the table (ctx). */
static int merge_val(void *ctx, const void *k, const void *v)
{
	return merge(ctx, k, v);
}

/*
 * A flow with results and no packets pending takes the time they were read as its time, the
 * latest their packets can have been, not the window's start: a program that ran between the
 * swap of the cache and that of the results counted its packet in the new cache (the next
 * record) and its result in the old map (this one), so the result's packet came after the
 * window began, and a record stamped with that start would date an answer before its query.
 */
static int merge_lat_now(void *ctx, const void *k, const void *v)
{
	return merge_lat(ctx, k, v, sv_mono_ns());
}

/* Reads and empties a map no program writes any more: the flow map (values of struct
 * sv_flow_val) or the latency results (struct sv_lat_val), vsize bytes each. */
static int drain(struct sv_flowtab *t, int fd, size_t vsize, sv_drain_fn fn)
{
	static struct sv_flow_key keys[BATCH];
	static __u64 vals[BATCH * sizeof(struct sv_lat_val) / 8]; /* 8-byte aligned values */

	_Static_assert(sizeof(struct sv_flow_val) <= sizeof(struct sv_lat_val), "vals too small");
	return sv_map_drain(fd, keys, sizeof(keys[0]), vals, vsize, BATCH, fn, t);
}

/* Reads every CPU's slots of a cache no program writes any more, then empties it. A slot
 * moves its counts to the flow map only when another flow takes it, so what a slot holds
 * here is counted nowhere else. */
static int drain_cache(struct sv_flowtab *t, int fd)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 n = t->cache_slots, *keys, i;
	size_t k, all = (size_t)t->cache_slots * t->ncpus;
	__u64 batch = 0;
	int err = 0;

	keys = calloc(n, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	if (bpf_map_lookup_batch(fd, NULL, &batch, keys, t->cache_buf, &n, &opts) &&
	    errno != ENOENT)
		err = -errno;
	/* One call reads the whole array (n == slots); the values come per key, per CPU. */
	for (k = 0; !err && k < (size_t)n * t->ncpus; k++)
		if (t->cache_buf[k].val.packets)
			err = merge(t, &t->cache_buf[k].key, &t->cache_buf[k].val);
	if (!err) {
		memset(t->cache_buf, 0, all * sizeof(*t->cache_buf));
		for (i = 0; i < t->cache_slots; i++)
			keys[i] = i;
		n = t->cache_slots;
		if (bpf_map_update_batch(fd, keys, t->cache_buf, &n, &opts))
			err = -errno;
	}
	free(keys);
	return err;
}

/* DNS queries waiting longer than the timeout: deleted and counted as unanswered on the
 * query's flow. The kernel deletes a query it matches an answer to; whoever deletes it
 * first counts it, so none counts twice. */
static int age_dns(struct sv_flowtab *t)
{
	struct sv_lat_val one = { .dns_unanswered = 1 };
	struct sv_dns_key k, next, *old = NULL;
	__u64 now = sv_mono_ns(), sent;
	size_t n = 0, i, cap = 0;
	int err = 0, first = 1;

	while (!bpf_map_get_next_key(t->dns_fd, first ? NULL : &k, &next)) {
		k = next;
		first = 0;
		/* A query sent after now was read is young, not 2^64 ns old. */
		if (bpf_map_lookup_elem(t->dns_fd, &k, &sent) || sent > now ||
		    now - sent < t->dns_timeout_ns)
			continue;
		if (n == cap) {
			struct sv_dns_key *p = realloc(old, (cap = cap ? 2 * cap : 64) * sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			old = p;
		}
		old[n++] = k;
	}
	for (i = 0; !err && i < n; i++)
		if (!bpf_map_delete_elem(t->dns_fd, &old[i]))
			err = merge_lat(t, &old[i].flow, &one, now);
	free(old);
	return err;
}

static int swap(int outer_fd, int new_fd)
{
	__u32 zero = 0;

	return bpf_map_update_elem(outer_fd, &zero, &new_fd, BPF_ANY) ? -errno : 0;
}

int sv_flowtab_collect(struct sv_flowtab *t)
{
	int old = t->active, err;

	/* Each swap returns once no program can still see the old map or cache. A program
	 * between the two swaps may move a slot of the old cache into the new flow map: then
	 * it is counted next time, still once. */
	err = swap(t->outer_fd, t->map_fd[!old]);
	if (!err && t->cache_outer_fd >= 0)
		err = swap(t->cache_outer_fd, t->cache_fd[!old]);
	if (!err && t->lat_outer_fd >= 0)
		err = swap(t->lat_outer_fd, t->lat_fd[!old]);
	if (err)
		return err;
	t->active = !old;
	err = drain(t, t->map_fd[old], sizeof(struct sv_flow_val), merge_val);
	if (!err && t->cache_outer_fd >= 0)
		err = drain_cache(t, t->cache_fd[old]);
	if (!err && t->lat_outer_fd >= 0)
		err = drain(t, t->lat_fd[old], sizeof(struct sv_lat_val), merge_lat_now);
	if (!err && t->dns_fd >= 0)
		err = age_dns(t);
	t->window_start_ns = sv_mono_ns();
	return err;
}

static int emit(struct sv_flowtab *t, struct sv_flow *f, __u64 wall_off, enum sv_end_reason r,
		sv_flow_cb cb, void *ctx)
{
	char ifb[IF_NAMESIZE];
	struct sv_rec rec;

	sv_rec_set_key(&rec, &f->key, sv_ifaces_label(t->ifaces, f->key.ifindex, ifb));
#define X(name, kind, part, when, ipfix, lp, agg) OUT_##agg(rec.name, f->val.name, wall_off);
	SV_FLOW_FIELDS(X)
#undef X
	snprintf(rec.end_reason, sizeof(rec.end_reason), "%s", sv_end_reason_str(r));
#define X(name, kind, part, when, ipfix, lp, agg) LAT_OUT_##agg(rec.name, f->lat.name, &f->lat);
	SV_FLOW_FIELDS(X)
#undef X
#define X(name, kind, part, when, ipfix, lp, agg) RESET_##agg(f->val.name);
	SV_FLOW_FIELDS(X)
#undef X
	if (f->drops) {
		rec.drops = f->drops->packets;
		rec.drop_bytes = f->drops->bytes;
		rec.drop_reasons = f->drops->reasons;
		memset(f->drops, 0, sizeof(*f->drops));
	}
	memset(&f->lat, 0, sizeof(f->lat));
	t->records++;
	return cb(ctx, &f->key, &rec);
}

int sv_flowtab_export(struct sv_flowtab *t, __u64 now, int force, sv_flow_cb cb, void *ctx)
{
	__u64 wall_off = sv_wall_offset_ns();
	size_t i;
	int err = 0;

	for (i = 0; i < t->nbuckets; i++) {
		struct sv_flow **pp = &t->buckets[i], *f;

		while ((f = *pp)) {
			int idle = now - f->val.last_ns >= t->idle_ns;
			int ended = f->val.packets && (f->val.tcp_flags & (TCP_FIN | TCP_RST));

			if ((pending(f) || has_lat(f)) && !err) {
				if (force)
					err = emit(t, f, wall_off, SV_END_FORCED, cb, ctx);
				else if (ended)
					err = emit(t, f, wall_off, SV_END_FLOW, cb, ctx);
				else if (idle)
					err = emit(t, f, wall_off, SV_END_IDLE, cb, ctx);
				else if (now - f->record_start_ns + t->slack_ns >= t->active_ns) {
					err = emit(t, f, wall_off, SV_END_ACTIVE, cb, ctx);
					f->record_start_ns = t->window_start_ns;
				}
			}
			if (force || ended || idle) {
				*pp = f->next;
				flow_free(f);
				t->count--;
			} else {
				pp = &f->next;
			}
		}
	}
	return err;
}

void sv_flowtab_free(struct sv_flowtab *t)
{
	size_t i;

	for (i = 0; i < t->nbuckets; i++) {
		struct sv_flow *f = t->buckets[i], *next;

		for (; f; f = next) {
			next = f->next;
			flow_free(f);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	free(t->cache_buf);
	t->cache_buf = NULL;
}
