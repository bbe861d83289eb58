/* SPDX-License-Identifier: GPL-2.0 */
/* Packet trajectories (docs/paths.md): the fingerprints agents send are joined by hash into
 * each sampled packet's path across the site; consecutive sightings make links (between
 * boxes) and hops (inside a box) with one-way latencies, and a path that stops where others
 * go on counts as lost on the segment it did not cross. One join per post (a handle the
 * post's main makes), shared by the HTTP workers under its lock. */
#ifndef SV_PATHS_H
#define SV_PATHS_H

#include <stdint.h>
#include "ingest.h"
#include "store.h"

#define SV_PATHS_WINDOW_NS (2 * 1000000000LL) /* sightings of one packet: within 2 s */
#define SV_PATHS_HOLD_DEFAULT 30 /* seconds a packet waits for its other sightings */
#define SV_PATHS_KEEP 100000 /* recent sampled paths kept in the store */

struct sv_paths;

/* A join whose finalized packets go into st. hold_ns: how long after its first sighting
 * arrives a packet waits for the others (the agents' interval plus delivery time). 0 or
 * -ENOMEM. */
int sv_paths_open(struct sv_store *st, int64_t hold_ns, struct sv_paths **out);
/* Drops what still waits, unfinalized; NULL is fine. Call once no batch is stored any more. */
void sv_paths_close(struct sv_paths *j);
/* Adds a newly stored batch's fingerprints, then finalizes what has waited long enough. */
void sv_paths_add(struct sv_paths *j, const struct sv_batch *b, int64_t now_ns);
/* Finalizes every packet that has waited hold_ns (all of them if force) into the store. */
int sv_paths_sweep(struct sv_paths *j, int64_t now_ns, int force);

/* Several posts (post/analyse.c), where the clock is the feed's (the batches' done times):
 * taking over from another post whose feed reached watermark_ns, the packets that arrived
 * a hold before it were final there; replayed, they teach the join where packets go, and
 * are not stored again. */
void sv_paths_resume(struct sv_paths *j, int64_t watermark_ns);
/* Drops every waiting packet, unfinalized (this post stopped analysing). */
void sv_paths_reset(struct sv_paths *j);

struct sv_paths_stats {
	/* dropped: the join was full, or the sighting's bucket (a flood of one hash) */
	unsigned long long fingerprints, packets, dropped;
};
void sv_paths_stats(struct sv_paths *j, struct sv_paths_stats *s);

#endif /* SV_PATHS_H */
