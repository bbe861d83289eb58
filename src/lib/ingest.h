/* SPDX-License-Identifier: GPL-2.0 */
/* Parsing an ingest batch (NDJSON: a batch header, then flow records as the agent writes
 * them) into validated records. Everything here comes over the network: every field is
 * checked, and a bad line rejects the batch with a one-line reason. */
#ifndef SV_INGEST_H
#define SV_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include "flowrec.h"

#define SV_BATCH_ID_MAX 129

/* A trajectory fingerprint ("type":"fp", docs/paths.md): one sighting of a sampled packet. */
struct sv_fp_rec {
	uint64_t hash;
	int64_t ts_ns; /* wall clock of the box that saw it */
	char iface[SV_IFNAME_MAX];
	int direction; /* 0 ingress, 1 egress */
	unsigned int ip_version, protocol, src_port, dst_port, len;
	int tunnel; /* seen inside VXLAN */
	char src_addr[SV_ADDR_MAX], dst_addr[SV_ADDR_MAX];
};

struct sv_batch {
	char batch_id[SV_BATCH_ID_MAX];
	char box[SV_BOX_MAX];
	char agent_version[32];
	char interfaces[16384]; /* a JSON array of strings, re-encoded: ~1000 names */
	struct sv_rec *recs;
	size_t n, cap;
	size_t skipped; /* lines of another type */
	struct sv_fp_rec *fps; /* trajectory fingerprints, in the order sent */
	size_t n_fps, cap_fps;
};

/* 0, or -EINVAL with a reason ("line 3: ...") in err; -ENOMEM. */
int sv_ingest_parse(const char *body, size_t len, struct sv_batch *b, char *err, size_t errlen);
/* Appends a record, growing the array; 0 or -ENOMEM. */
int sv_batch_push(struct sv_batch *b, const struct sv_rec *r);
void sv_batch_free(struct sv_batch *b);

#endif /* SV_INGEST_H */
