/* SPDX-License-Identifier: GPL-2.0 */
/* Flow records and packet events on a stream: JSON lines for programs, one text line each
 * for people. */
#ifndef SV_OUTPUT_H
#define SV_OUTPUT_H

#include <stdio.h>
#include "flowtab.h"
#include "addr.h"
#include "iface.h"

struct sv_output {
	FILE *f;
	int json;
	const char *box;
	const struct sv_ifaces *ifaces;
};

/* An sv_flow_cb: writes one record. */
int sv_output_flow(void *ctx, const struct sv_flow_key *k, const struct sv_rec *r);
int sv_output_packet(struct sv_output *o, const struct sv_pkt_event *e, __u64 wall_ns);
/* A trajectory fingerprint as a JSON line ("type":"fp", docs/paths.md). */
int sv_output_fp(struct sv_output *o, const struct sv_fp_event *e, __u64 wall_ns);
/* s as a JSON string literal, quotes included. */
void sv_json_fstr(FILE *f, const char *s);

#endif /* SV_OUTPUT_H */
