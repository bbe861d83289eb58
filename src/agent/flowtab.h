/* SPDX-License-Identifier: GPL-2.0 */
/* The agent's view of every flow: collected from the kernel's flow maps each interval, and
 * turned into records with NetFlow/IPFIX active and idle timeouts. */
#ifndef SV_FLOWTAB_H
#define SV_FLOWTAB_H

#include <stddef.h>
#include "sitevisor.h"

/* Why a record was emitted; the values are IPFIX flowEndReason (RFC 7011 IE 136). */
enum sv_end_reason {
	SV_END_IDLE = 1,
	SV_END_ACTIVE = 2,
	SV_END_FLOW = 3, /* TCP FIN or RST seen */
	SV_END_FORCED = 4, /* the agent is stopping */
};

struct sv_flow_rec {
	const struct sv_flow_key *key;
	__u64 packets; /* since this flow's previous record */
	__u64 bytes;
	__u64 first_ns; /* wall clock, ns since the epoch */
	__u64 last_ns;
	__u32 tcp_flags;
	enum sv_end_reason reason;
};

/* Returns 0, or a negative errno to stop the export (the output is gone). */
typedef int (*sv_flow_cb)(void *ctx, const struct sv_flow_rec *rec);

struct sv_flow;

struct sv_flowtab {
	struct sv_flow **buckets;
	size_t nbuckets;
	size_t count;
	int outer_fd; /* array-of-maps whose slot 0 the programs write through */
	int map_fd[2];
	int active; /* index into map_fd (and cache_fd) of the map the programs write now */
	int cache_outer_fd; /* the same for the per-CPU flow caches; -1: no cache */
	int cache_fd[2];
	unsigned int cache_slots;
	int ncpus;
	struct sv_cache_slot *cache_buf; /* cache_slots * ncpus slots, for draining */
	__u64 window_start_ns; /* monotonic time of the previous collect */
	__u64 active_ns;
	__u64 idle_ns;
	__u64 slack_ns; /* collects come at timer ticks: a record due within this is due */
	__u64 records; /* records emitted */
};

int sv_flowtab_init(struct sv_flowtab *t, int outer_fd, int fd_a, int fd_b, __u64 active_ns,
		    __u64 idle_ns);
/* The per-CPU flow caches in front of the maps, swapped and drained with them. */
int sv_flowtab_set_cache(struct sv_flowtab *t, int outer_fd, int fd_a, int fd_b,
			 unsigned int slots);
/* Points the programs at the other map, waits until none writes the old one, and moves the
 * old one's contents into the table. */
int sv_flowtab_collect(struct sv_flowtab *t);
/* Emits records due at monotonic time now (all pending ones with force) and forgets flows
 * that ended or went idle. */
int sv_flowtab_export(struct sv_flowtab *t, __u64 now, int force, sv_flow_cb cb, void *ctx);
void sv_flowtab_free(struct sv_flowtab *t);

__u64 sv_mono_ns(void);
/* Wall-clock ns since the epoch minus monotonic ns: add to a bpf_ktime_get_ns() value. */
__u64 sv_wall_offset_ns(void);

#endif /* SV_FLOWTAB_H */
