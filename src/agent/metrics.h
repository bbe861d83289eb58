/* SPDX-License-Identifier: GPL-2.0 */
/* The agent's Prometheus endpoint (--metrics ADDR:PORT): the main loop renders a snapshot
 * after every collect, and the HTTP thread serves the latest one, so scrapes never touch the
 * flow table or the maps. */
#ifndef SV_METRICS_H
#define SV_METRICS_H

#include <stddef.h>
#include "deliver.h"
#include "drops.h"
#include "sitevisor.h"

/* Packets and bytes per interface and direction, from the records collected so far. */
struct sv_iface_total {
	int ifindex;
	int direction;
	unsigned long long packets, bytes;
};

struct sv_metrics_input {
	const char *box, *version;
	const unsigned long long *kernel; /* the programs' counters, SV_CNT_MAX of them */
	const struct sv_iface_total *ifs;
	size_t n_ifs;
	const struct sv_ifaces *ifaces; /* names of the interfaces */
	size_t flows_active;
	unsigned long long records;
	int traced;
	const struct sv_deliver_stats *dl; /* NULL without --post */
	/* --drops: the drop program's counters (SV_DROP_CNT_MAX), drops by reason; NULL: off */
	const unsigned long long *drop_kernel;
	const struct sv_drop_total *drops;
	size_t n_drops;
};

struct sv_metrics;

/* Listens on spec ("ADDR:PORT", "unix:PATH") and serves GET /metrics. */
int sv_metrics_start(const char *spec, struct sv_metrics **out);
/* Renders in the Prometheus text exposition format and makes it the one served. */
int sv_metrics_publish(struct sv_metrics *m, const struct sv_metrics_input *in);
void sv_metrics_stop(struct sv_metrics *m);

#endif /* SV_METRICS_H */
