/* SPDX-License-Identifier: GPL-2.0 */
/* InfluxDB line protocol: escaping, and sitevisor's two measurements (sitevisor_flow,
 * sitevisor_iface; docs/exits/influxdb.md). Knows nothing of HTTP; writes into an sb. */
#ifndef SV_LINEPROTO_H
#define SV_LINEPROTO_H

#include <stdint.h>
#include "flowrec.h"
#include "sb.h"

/* A tag value (or key): commas, spaces, equals signs and backslashes escaped. */
void sv_lp_tag(struct sb *s, const char *v);
/* A string field value, quotes included: quotes and backslashes escaped. */
void sv_lp_str(struct sb *s, const char *v);
/* tcp, udp, icmp, icmpv6 or the protocol number. */
const char *sv_lp_proto_name(unsigned int protocol, char buf[12]);

/* One sitevisor_flow point of a record with timestamp ts (last_ns, or a nanosecond later:
 * see the batch builder in influx.c). Its tags and fields follow the lp column of the
 * record's field list (flowrec.h). */
void sv_lp_flow(struct sb *s, const char *box, const struct sv_rec *r, uint64_t ts);
/* One sitevisor_drop point (issue 16): an interface's drops of one kernel reason. */
void sv_lp_drop(struct sb *s, const char *box, const char *iface, int egress,
		const char *reason, uint64_t packets, uint64_t ts);
/* One sitevisor_iface point. */
void sv_lp_iface(struct sb *s, const char *box, const char *iface, int egress,
		 uint64_t packets, uint64_t bytes, uint64_t flows, uint64_t ts);

#endif /* SV_LINEPROTO_H */
