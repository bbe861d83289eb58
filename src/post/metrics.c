// SPDX-License-Identifier: GPL-2.0
/* The post's Prometheus metrics; see metrics.h. Counters come from the API and HTTP layers
 * (atomics, in the struct the post hands both), gauges from the store at scrape time. */
#include <errno.h>
#include "analyse.h"
#include "api.h"
#include "collect.h"
#include "detect.h"
#include "http.h"
#include "metrics.h"
#include "paths.h"
#include "sb.h"
#include "timeparse.h"

static unsigned long long get(const unsigned long long *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void sv_post_metrics_tick(struct sv_post_metrics *m)
{
	unsigned long long rec = get(&m->http->ingest.records_stored);
	long long now = sv_now_ns();

	if (m->last_ns && now > m->last_ns)
		__atomic_store_n(&m->rate_records,
				 (rec - m->last_records) * 1000000000ull / (now - m->last_ns),
				 __ATOMIC_RELAXED);
	m->last_records = rec;
	m->last_ns = now;
}

static void metric(struct sb *s, const char *name, const char *type, const char *help)
{
	sb_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void requests(struct sb *s, const struct sv_http_stats *h)
{
	static const char *const codes[SV_HTTP_CODES] = { "200", "400", "401", "403", "404",
							  "405", "409", "413", "500", "503",
							  "other" };
	int i;

	metric(s, "sitevisor_post_http_requests_total", "counter", "HTTP answers by status.");
	for (i = 0; i < SV_HTTP_CODES; i++)
		sb_printf(s, "sitevisor_post_http_requests_total{code=\"%s\"} %llu\n", codes[i],
			  get(&h->requests[i]));
}

static void ingest(struct sb *s, struct sv_post_metrics *m)
{
	const struct sv_api_stats *a = &m->http->ingest;

	metric(s, "sitevisor_post_ingest_batches_total", "counter",
	       "Ingest batches by result: stored, duplicate (a retry, stored before), rejected "
	       "(malformed).");
	sb_printf(s, "sitevisor_post_ingest_batches_total{result=\"stored\"} %llu\n",
		  get(&a->batches_stored));
	sb_printf(s, "sitevisor_post_ingest_batches_total{result=\"duplicate\"} %llu\n",
		  get(&a->batches_duplicate));
	sb_printf(s, "sitevisor_post_ingest_batches_total{result=\"rejected\"} %llu\n",
		  get(&a->batches_rejected));
	metric(s, "sitevisor_post_ingest_records_total", "counter", "Flow records stored.");
	sb_printf(s, "sitevisor_post_ingest_records_total %llu\n", get(&a->records_stored));
	metric(s, "sitevisor_post_ingest_records_out_of_range_total", "counter",
	       "Records of agents' batches dated more than an hour ahead of the post's clock or "
	       "older than the retention: refused, the rest of their batch stored.");
	sb_printf(s, "sitevisor_post_ingest_records_out_of_range_total %llu\n",
		  get(&a->records_out_of_range));
	metric(s, "sitevisor_post_ingest_records_per_second", "gauge",
	       "Records stored per second over the last minute.");
	sb_printf(s, "sitevisor_post_ingest_records_per_second %llu\n", get(&m->rate_records));
}

/* The trajectory join (src/post/paths.c). */
static void paths(struct sb *s, struct sv_paths *j)
{
	struct sv_paths_stats p;

	sv_paths_stats(j, &p);
	metric(s, "sitevisor_post_path_fingerprints_total", "counter",
	       "Trajectory fingerprints joined, and dropped because the join was full.");
	sb_printf(s, "sitevisor_post_path_fingerprints_total{result=\"joined\"} %llu\n",
		  p.fingerprints);
	sb_printf(s, "sitevisor_post_path_fingerprints_total{result=\"dropped\"} %llu\n",
		  p.dropped);
	metric(s, "sitevisor_post_paths_total", "counter", "Sampled packets whose path is final.");
	sb_printf(s, "sitevisor_post_paths_total %llu\n", p.packets);
}

/* The late records' folds into the top-talker levels (store/sqlite/talk.c): work as counts. */
static void late(struct sb *s, struct sv_store *st)
{
	struct sv_store_work w;

	sv_store_work(st, &w);
	metric(s, "sitevisor_post_talk_late_records_total", "counter",
	       "Records older than a top-talker level's end: queued by ingest, folded into the "
	       "levels by the rollup.");
	sb_printf(s, "sitevisor_post_talk_late_records_total{result=\"queued\"} %llu\n",
		  w.late_queued);
	sb_printf(s, "sitevisor_post_talk_late_records_total{result=\"folded\"} %llu\n",
		  w.late_folded);
	metric(s, "sitevisor_post_talk_late_sums_total", "counter",
	       "Top-talker sums the folds added to (rows written).");
	sb_printf(s, "sitevisor_post_talk_late_sums_total %llu\n", w.late_sums);
	metric(s, "sitevisor_post_talk_late_slices_total", "counter",
	       "Transactions the folds took, of at most 512 records each.");
	sb_printf(s, "sitevisor_post_talk_late_slices_total %llu\n", w.late_slices);
	metric(s, "sitevisor_post_talk_late_records_waiting", "gauge",
	       "Late records queued, not folded in yet (reads add them from the raw records).");
	sb_printf(s, "sitevisor_post_talk_late_records_waiting %lld\n", w.late_waiting);
}

int sv_post_metrics_render(void *ctx, char **body, size_t *len)
{
	struct sv_post_metrics *m = ctx;
	struct sb s;

	sb_init(&s);
	metric(&s, "sitevisor_post_build_info", "gauge", "The post's version.");
	sb_printf(&s, "sitevisor_post_build_info{version=\"%s\"} 1\n", m->version);
	requests(&s, m->http);
	ingest(&s, m);
	paths(&s, m->paths);
	metric(&s, "sitevisor_post_store_bytes", "gauge", "Bytes the database uses.");
	sb_printf(&s, "sitevisor_post_store_bytes %lld\n", (long long)sv_store_size(m->store));
	metric(&s, "sitevisor_post_rollup_pending_buckets", "gauge",
	       "Top-talker buckets still to fill (a backlog after a restart or an upgrade).");
	sb_printf(&s, "sitevisor_post_rollup_pending_buckets %d\n",
		  __atomic_load_n(&m->rollup_pending, __ATOMIC_RELAXED));
	late(&s, m->store);
	metric(&s, "sitevisor_post_boxes", "gauge", "Boxes that have delivered records.");
	sb_printf(&s, "sitevisor_post_boxes %lld\n", (long long)sv_store_box_count(m->store));
	if (m->detect)
		sv_detect_metrics(m->detect, &s);
	if (m->analyse)
		sv_analyse_metrics(m->analyse, &s);
	if (__atomic_load_n(&m->collect, __ATOMIC_ACQUIRE)) {
		struct sv_ipfix_stats st;

		sv_collect_stats(m->collect, &st);
		sv_collect_metrics(&st, &s);
	}
	if (sb_failed(&s)) {
		sb_free(&s);
		return -ENOMEM;
	}
	*body = s.buf;
	*len = s.len;
	return 0;
}
