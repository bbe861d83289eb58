/* SPDX-License-Identifier: GPL-2.0 */
/* Site-wide attack detection (docs/detection.md): every stored batch, from agents and from
 * the IPFIX collector alike, passes through here; port scans, host sweeps and SYN floods
 * become alerts in the store, optionally also JSON lines for a SIEM. State is bounded: a
 * fixed number of trackers, a fixed budget of remembered ports, hosts and sources. */
#ifndef SV_DETECT_H
#define SV_DETECT_H

#include "ingest.h"
#include "sb.h"
#include "store.h"

struct sv_detect_cfg {
	unsigned int scan_ports; /* distinct ports one source probes on one host */
	unsigned int sweep_hosts; /* distinct hosts one source probes */
	unsigned int syn_flood; /* SYN-only packets towards one host and port */
	unsigned int window_s; /* counts cover this long */
	unsigned int max_tracked; /* trackers held at once */
	const char *alerts_log; /* JSON lines appended here; NULL: none */
};

struct sv_detect;

/* 0, or a negative errno (the alerts log cannot be opened; out of memory). */
int sv_detect_open(const struct sv_detect_cfg *cfg, struct sv_store *st, struct sv_detect **out);
/* NULL is fine. Call once no batch is stored any more. */
void sv_detect_close(struct sv_detect *d);
/* An sv_stored_fn: looks at a batch just stored. Thread-safe. */
void sv_detect_batch(void *ctx, const struct sv_batch *b);
/* Several posts over one store (post/analyse.c): before raising an alert, look for one of
 * the same suspect another post raised (an analyser that took over extends it instead). */
void sv_detect_share(struct sv_detect *d);
/* Forgets every tracker (this post stopped analysing). */
void sv_detect_reset(struct sv_detect *d);
/* Forgets trackers idle for a window (the housekeeping loop calls it). */
void sv_detect_tick(struct sv_detect *d);
/* Prometheus text: alerts raised per type, trackers held, state dropped or evicted. */
void sv_detect_metrics(struct sv_detect *d, struct sb *out);

#endif /* SV_DETECT_H */
