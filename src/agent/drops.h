/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel drop reasons (--drops): loads src/bpf/drops.bpf.c on skb:kfree_skb, names the
 * reasons from the running kernel's BTF, and folds each interval's drops into the flows. */
#ifndef SV_DROPS_H
#define SV_DROPS_H

#include "flowtab.h"
#include "sitevisor.h"

/* Drops since start by reason, for the metrics: every drop of the network namespace, where
 * records have only those on the traced interfaces. */
struct sv_drop_total {
	const char *reason;
	unsigned long long packets;
};

struct sv_drops;

/* Loads and attaches the program for this network namespace. *out is NULL (and the agent
 * runs without drops, told in one line) where the kernel has no drop reasons or cannot run
 * the program; negative only without memory. */
int sv_drops_open(struct sv_drops **out, unsigned int vxlan_port);
/* Swaps the drop maps and adds what the old one holds on the traced interfaces to the
 * flows' pending records. */
int sv_drops_collect(struct sv_drops *d, struct sv_flowtab *t);
/* The program's counters summed over the CPUs (SV_DROP_CNT_MAX of them). */
int sv_drops_counters(struct sv_drops *d, __u64 c[SV_DROP_CNT_MAX]);
/* The totals by reason so far; *n of them. */
const struct sv_drop_total *sv_drops_totals(const struct sv_drops *d, size_t *n);
void sv_drops_close(struct sv_drops *d);

#endif /* SV_DROPS_H */
