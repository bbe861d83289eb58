/* SPDX-License-Identifier: GPL-2.0 */
/* The InfluxDB exit (docs/exits/influxdb.md): flow records become line protocol points,
 * written to InfluxDB 1.x (/write) or 2.x (/api/v2/write) by a sender thread. Callers only
 * build and queue: a slow or absent InfluxDB never blocks them. The queue is in memory and
 * bounded; what it has to drop, and what InfluxDB refuses, is counted and reported. */
#ifndef SV_INFLUX_H
#define SV_INFLUX_H

#include <stddef.h>
#include <stdint.h>
#include "lineproto.h"
#include "sb.h"

struct sv_influx_cfg {
	const char *url; /* the write endpoint with its query */
	const char *token; /* NULL: no Authorization header */
	const char *user_agent; /* "sitevisor-agent/0.1.0" */
	unsigned int drain_timeout; /* seconds the sender gets at close */
};

struct sv_influx;

/* Checks the URL and the token; one line and a negative errno on a mistake. */
int sv_influx_open(const struct sv_influx_cfg *cfg, struct sv_influx **out);
int sv_influx_start(struct sv_influx *x);
/* Gives the sender up to the drain timeout, stops it, reports what was written, dropped,
 * refused and left, and frees x. NULL is fine. */
void sv_influx_close(struct sv_influx *x);

/* One interval's (agent) or one ingested batch's (post) points. Each thread builds its own;
 * requests go out of at most SV_INFLUX_CHUNK_LINES points or about SV_INFLUX_CHUNK_BYTES. */
#define SV_INFLUX_CHUNK_LINES 5000
#define SV_INFLUX_CHUNK_BYTES (1u << 20)

struct sv_influx_sum;

struct sv_influx_batch {
	struct sv_influx *x;
	const char *box;
	struct sb sb; /* the request being built */
	unsigned int lines;
	uint64_t newest_ns; /* the newest last_ns so far */
	struct sv_influx_sum *sums; /* per interface and direction */
	size_t n_sums, cap_sums;
	uint64_t *seen; /* (series, timestamp) of the flow points so far: an open hash set */
	size_t n_seen, cap_seen;
};

void sv_influx_batch_init(struct sv_influx_batch *b, struct sv_influx *x, const char *box);
/* A sitevisor_flow point, and the record counted in its interface's sums. */
void sv_influx_batch_flow(struct sv_influx_batch *b, const struct sv_rec *f);
/* The sitevisor_iface points at end_ns (0: the newest last_ns of the flows), then queues
 * what is left. b is ready for the next batch. */
void sv_influx_batch_end(struct sv_influx_batch *b, uint64_t end_ns);
void sv_influx_batch_free(struct sv_influx_batch *b);

#endif /* SV_INFLUX_H */
