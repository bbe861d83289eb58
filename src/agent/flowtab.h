/* SPDX-License-Identifier: GPL-2.0 */
/* The agent's view of every flow: collected from the kernel's flow maps each interval, and
 * turned into records with NetFlow/IPFIX active and idle timeouts. */
#ifndef SV_FLOWTAB_H
#define SV_FLOWTAB_H

#include <stddef.h>
#include "flowrec.h"
#include "iface.h"
#include "sitevisor.h"

/* Returns 0, or a negative errno to stop the export (the output is gone). The record comes
 * with the kernel's key it was made from, for the exits that send binary fields (IPFIX). */
typedef int (*sv_flow_cb)(void *ctx, const struct sv_flow_key *k, const struct sv_rec *r);

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
	int lat_outer_fd; /* the same for the round trip and DNS results; -1: none */
	int lat_fd[2];
	int dns_fd; /* DNS queries waiting for an answer; -1: none */
	__u64 dns_timeout_ns; /* a query not answered in this time counts as unanswered */
	struct sv_cache_slot *cache_buf; /* cache_slots * ncpus slots, for draining */
	__u64 window_start_ns; /* monotonic time of the previous collect */
	__u64 active_ns;
	__u64 idle_ns;
	__u64 slack_ns; /* collects come at timer ticks: a record due within this is due */
	__u64 records; /* records emitted */
	const struct sv_ifaces *ifaces; /* names the records' interfaces */
};

int sv_flowtab_init(struct sv_flowtab *t, int outer_fd, int fd_a, int fd_b, __u64 active_ns,
		    __u64 idle_ns, const struct sv_ifaces *ifaces);
/* The per-CPU flow caches in front of the maps, swapped and drained with them. */
int sv_flowtab_set_cache(struct sv_flowtab *t, int outer_fd, int fd_a, int fd_b,
			 unsigned int slots);
/* The per-flow round trip, retransmission and DNS results (issue 17), swapped and drained
 * with the flow maps, and the DNS queries waiting, aged out at each collect. */
void sv_flowtab_set_lat(struct sv_flowtab *t, int outer_fd, int fd_a, int fd_b, int dns_fd,
		       __u64 dns_timeout_ns);
/* Points the programs at the other map, waits until none writes the old one, and moves the
 * old one's contents into the table. */
int sv_flowtab_collect(struct sv_flowtab *t);
/* Adds the kernel's drops of flow k for reason (its name) to the flow's pending record. */
int sv_flowtab_add_drops(struct sv_flowtab *t, const struct sv_flow_key *k, const char *reason,
			 const struct sv_drop_val *v);
/* Emits records due at monotonic time now (all pending ones with force) and forgets flows
 * that ended or went idle. */
int sv_flowtab_export(struct sv_flowtab *t, __u64 now, int force, sv_flow_cb cb, void *ctx);
void sv_flowtab_free(struct sv_flowtab *t);

/* Sums a one-entry per-CPU array of n counters into sum; 0 or a negative errno. */
int sv_percpu_sum(int fd, __u64 *sum, int n);

/* Reads and empties a hash map no program writes any more, room entries at a time into keys
 * and vals (ksize and vsize bytes each, as the map has them), and hands each entry to fn.
 * 0 once the map is empty; fn's error, or the kernel's, stops it. */
typedef int (*sv_drain_fn)(void *ctx, const void *key, const void *val);
int sv_map_drain(int fd, void *keys, size_t ksize, void *vals, size_t vsize, __u32 room,
		 sv_drain_fn fn, void *ctx);

__u64 sv_mono_ns(void);
/* Wall-clock ns since the epoch minus monotonic ns: add to a bpf_ktime_get_ns() value. */
__u64 sv_wall_offset_ns(void);

#endif /* SV_FLOWTAB_H */
