/* SPDX-License-Identifier: GPL-2.0 */
/* The IPFIX / NetFlow v9 collector: a thread that reads UDP messages from third-party
 * exporters (routers, switches, softflowd) and stores their flow records like an agent's
 * batches, one batch per message, so every exporter becomes a box of the site. */
#ifndef SV_COLLECT_H
#define SV_COLLECT_H

#include "ipfix_parse.h"
#include "sb.h"
#include "store.h"

struct sv_collect;

/* Who may export (docs/security.md); which records are taken is the store's rule for all
 * (sv_store_date_check). */
struct sv_collect_cfg {
	const char *const *allow; /* CIDRs; none: any exporter */
	int n_allow;
};

/* Checks the CIDRs: 0, or -EINVAL having said which is malformed. */
int sv_collect_check(const struct sv_collect_cfg *cfg);
/* Starts the collector thread on fd (which stays the caller's to close). */
int sv_collect_start(int fd, struct sv_store *st, const struct sv_collect_cfg *cfg,
		     struct sv_collect **out);
/* Stops the thread, logs the counters and frees everything; NULL is fine. */
void sv_collect_stop(struct sv_collect *c);

/* The counters so far (a consistent copy). */
void sv_collect_stats(struct sv_collect *c, struct sv_ipfix_stats *out);
/* The counters as Prometheus text: sitevisor_post_ipfix_messages_total{result="..."} and
 * the templates, data sets, records and socket drops alike. */
void sv_collect_metrics(const struct sv_ipfix_stats *st, struct sb *out);

#endif /* SV_COLLECT_H */
