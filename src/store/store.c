// SPDX-License-Identifier: GPL-2.0
/* The store's front: sv_store_open chooses the backend from the place it is given, every
 * other sv_store_ function forwards to the handle's operations (backend.h). What holds for
 * every backend lives here: the stored-batch hook, filter defaults, latency buckets. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "backend.h"
#include "store.h"

static const struct sv_store_ops *const backends[] = { &sv_sqlite_ops, &sv_clickhouse_ops };

/* The backend whose scheme prefixes where, else the default one. */
static const struct sv_store_ops *choose(const char *where)
{
	const struct sv_store_ops *dflt = NULL;
	size_t i;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (!backends[i]->scheme)
			dflt = backends[i];
		else if (!strncmp(where, backends[i]->scheme, strlen(backends[i]->scheme)))
			return backends[i];
	}
	return dflt;
}

int sv_store_open_cfg(const struct sv_store_cfg *cfg, struct sv_store **out, char *err,
		      size_t errlen)
{
	const struct sv_store_ops *ops = choose(cfg->places[0]);
	int i, ret;

	for (i = 1; i < cfg->n_places; i++) {
		if (choose(cfg->places[i]) != ops) {
			snprintf(err, errlen, "%s and %s are different kinds of store",
				 cfg->places[0], cfg->places[i]);
			return -EINVAL;
		}
	}
	ret = ops->open(cfg, out, err, errlen);
	if (!ret)
		(*out)->ops = ops;
	return ret;
}

int sv_store_open(const char *where, struct sv_store **out, char *err, size_t errlen)
{
	struct sv_store_cfg cfg = { .places = &where, .n_places = 1 };

	return sv_store_open_cfg(&cfg, out, err, errlen);
}

void sv_store_close(struct sv_store *st)
{
	if (st)
		st->ops->close(st);
}

void sv_store_on_stored(struct sv_store *st, sv_stored_fn fn, void *ctx)
{
	st->stored = fn;
	st->stored_ctx = ctx;
}

void sv_store_set_query_budget(struct sv_store *st, int64_t ns)
{
	st->query_budget_ns = ns;
}

void sv_store_set_retention(struct sv_store *st, int64_t keep_ns)
{
	st->retention_ns = keep_ns;
}

size_t sv_store_date_check(const struct sv_store *st, struct sv_batch *b, int64_t now_ns)
{
	size_t i, n = 0, out;

	for (i = 0; i < b->n; i++)
		if ((int64_t)b->recs[i].last_ns <= now_ns + SV_STORE_SKEW_NS &&
		    (!st->retention_ns || (int64_t)b->recs[i].last_ns >= now_ns - st->retention_ns))
			b->recs[n++] = b->recs[i];
	out = b->n - n;
	b->n = n;
	return out;
}

void sv_store_work(struct sv_store *st, struct sv_store_work *out)
{
	const struct sv_store_work *w = &st->work;

	out->late_queued = __atomic_load_n(&w->late_queued, __ATOMIC_RELAXED);
	out->late_folded = __atomic_load_n(&w->late_folded, __ATOMIC_RELAXED);
	out->late_sums = __atomic_load_n(&w->late_sums, __ATOMIC_RELAXED);
	out->late_slices = __atomic_load_n(&w->late_slices, __ATOMIC_RELAXED);
	out->late_waiting = __atomic_load_n(&w->late_waiting, __ATOMIC_RELAXED);
}

int sv_store_ingest(struct sv_store *st, const struct sv_batch *b, int64_t now_ns,
		    int *duplicate)
{
	int ret = st->ops->ingest(st, b, now_ns, duplicate);

	if (!ret && !*duplicate && st->stored)
		st->stored(st->stored_ctx, b);
	return ret;
}

int sv_store_prune(struct sv_store *st, int64_t now_ns, int64_t keep_ns, int64_t rollup_keep_ns)
{
	return st->ops->prune(st, now_ns, keep_ns, rollup_keep_ns);
}

int sv_store_rollup(struct sv_store *st, int64_t now_ns, int64_t rollup_keep_ns,
		    int64_t budget_ns)
{
	return st->ops->rollup(st, now_ns, rollup_keep_ns, budget_ns);
}

int64_t sv_store_size(struct sv_store *st)
{
	return st->ops->size(st);
}

int64_t sv_store_box_count(struct sv_store *st)
{
	return st->ops->box_count(st);
}

int sv_store_boxes(struct sv_store *st, sv_box_cb cb, void *ctx)
{
	return st->ops->boxes(st, cb, ctx);
}

int sv_store_flows(struct sv_store *st, const struct sv_filter *f, const char *sort, int limit,
		   int offset, sv_flow_row_cb cb, void *ctx)
{
	return st->ops->flows(st, f, sort, limit, offset, cb, ctx);
}

int sv_store_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns, size_t n,
		    uint64_t *bytes, uint64_t *packets)
{
	return st->ops->series(st, f, step_ns, n, bytes, packets);
}

int sv_store_drop_series(struct sv_store *st, const struct sv_filter *f, int64_t step_ns,
			 sv_drop_cb cb, void *ctx)
{
	return st->ops->drop_series(st, f, step_ns, cb, ctx);
}

int sv_store_drop_flows(struct sv_store *st, const struct sv_filter *f, int limit,
			sv_drop_cb cb, void *ctx)
{
	return st->ops->drop_flows(st, f, limit, cb, ctx);
}

int sv_store_top(struct sv_store *st, const struct sv_filter *f, enum sv_top_by by,
		 int by_packets, int limit, sv_top_cb cb, void *ctx)
{
	return st->ops->top(st, f, by, by_packets, limit, cb, ctx);
}

int sv_store_alert_put(struct sv_store *st, struct sv_alert *a)
{
	return st->ops->alert_put(st, a);
}

int sv_store_alerts(struct sv_store *st, const struct sv_alert_filter *f, int limit, int offset,
		    sv_alert_cb cb, void *ctx)
{
	return st->ops->alerts(st, f, limit, offset, cb, ctx);
}

int sv_store_paths_write(struct sv_store *st, const struct sv_path_row *paths, size_t n_paths,
			 const struct sv_seg_minute *segs, size_t n_segs, size_t keep)
{
	return st->ops->paths_write(st, paths, n_paths, segs, n_segs, keep);
}

int sv_store_paths(struct sv_store *st, const struct sv_filter *f, int limit,
		   sv_path_row_cb cb, void *ctx)
{
	return st->ops->paths(st, f, limit, cb, ctx);
}

int sv_store_path_links(struct sv_store *st, int64_t since_ns, int64_t until_ns,
			sv_link_row_cb cb, void *ctx)
{
	return st->ops->path_links(st, since_ns, until_ns, cb, ctx);
}

int sv_store_tap_add(struct sv_store *st, const char *box, const char *rule, int64_t now_ns,
		     int64_t *id)
{
	return st->ops->tap_add(st, box, rule, now_ns, id);
}

int sv_store_tap_del(struct sv_store *st, int64_t id)
{
	return st->ops->tap_del(st, id);
}

int sv_store_taps(struct sv_store *st, const char *box, sv_tap_cb cb, void *ctx)
{
	return st->ops->taps(st, box, cb, ctx);
}

int sv_store_tap_report(struct sv_store *st, const char *box, const struct sv_tap_row *r,
			int64_t now_ns)
{
	return st->ops->tap_report(st, box, r, now_ns);
}

void sv_filter_init(struct sv_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->direction = f->protocol = f->ip_version = -1;
	f->src_port = f->dst_port = f->port = -1;
	f->vni = -1;
	f->min_rtt_ns = f->min_retransmits = f->min_dns_latency_ns = f->dns_rcode = -1;
	f->drops = -1;
	f->since_ns = 0;
	f->until_ns = INT64_MAX;
}

int sv_store_beat(struct sv_store *st, int64_t now_ns, struct sv_beat_row *mine, sv_beat_cb cb,
		  void *ctx)
{
	return st->ops->beat(st, now_ns, mine, cb, ctx);
}

int sv_store_feed(struct sv_store *st, int64_t since_ns, int max, sv_feed_want want,
		  sv_feed_cb cb, void *ctx)
{
	return st->ops->feed(st, since_ns, max, want, cb, ctx);
}

int sv_lat_bucket(int64_t ns)
{
	int e;

	if (ns < 8)
		return ns < 0 ? 0 : (int)ns;
	e = 63 - __builtin_clzll((uint64_t)ns);
	return (e - 2) * 8 + (int)((ns >> (e - 3)) & 7);
}

int64_t sv_lat_bucket_mid(int b)
{
	int e = b / 8 + 2, sub = b % 8;

	if (b < 8)
		return b;
	return ((int64_t)(16 + 2 * sub + 1) << (e - 3)) / 2;
}
