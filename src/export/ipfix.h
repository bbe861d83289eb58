/* SPDX-License-Identifier: GPL-2.0 */
/* IPFIX export (RFC 7011) of flow records to a collector over UDP or TCP. Each scan's
 * records go out in that scan; nothing is queued across scans. What cannot be sent (no
 * collector, a full socket, an error) is dropped and counted, never waited for long: the
 * event loop must keep emptying the kernel's maps. */
#ifndef SV_IPFIX_H
#define SV_IPFIX_H

#include <sys/socket.h>
#include <linux/types.h>
#include "flowrec.h"
#include "sitevisor.h"

#define SV_IPFIX_MTU_DEFAULT 1400
#define SV_IPFIX_MTU_MIN 512
#define SV_IPFIX_MTU_MAX 65507 /* the largest UDP payload over IPv4 */
#define SV_IPFIX_TMPL_INTERVAL_DEFAULT 60

/* Where the collector is: HOST:PORT or udp://HOST:PORT (UDP), tcp://HOST:PORT (TCP);
 * an IPv6 HOST in brackets. */
struct sv_ipfix_target {
	int tcp;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char shown[128]; /* as given, for messages */
};

struct sv_ipfix_cfg {
	const struct sv_ipfix_target *target;
	__u32 domain; /* observation domain id */
	unsigned int mtu; /* largest message in bytes */
	unsigned int template_interval; /* seconds between template refreshes over UDP */
	__u32 pen; /* enterprise number of the enterprise-specific elements; 0: SV_IPFIX_PEN */
};

struct sv_ipfix_stats {
	unsigned long long records; /* data records in messages that went out */
	unsigned long long messages;
	unsigned long long dropped; /* records not sent: no collector, send errors */
	unsigned long long send_errors; /* messages a send failed for */
	unsigned long long connects; /* TCP connections made */
};

struct sv_ipfix;

/* Parses and resolves a target; a bad one gets one line naming opt and -EINVAL. */
int sv_ipfix_parse_target(const char *opt, const char *s, struct sv_ipfix_target *t);
int sv_ipfix_open(const struct sv_ipfix_cfg *cfg, struct sv_ipfix **out);
/* Sends the templates (UDP), or makes the first connection (TCP; a collector that is not
 * there yet is retried later, it does not stop the start). */
void sv_ipfix_start(struct sv_ipfix *x);
/* A scan's records: sv_ipfix_flow() for each (an sv_flow_cb), then sv_ipfix_end() sends
 * the last message. Never fail: what cannot be sent is counted. */
int sv_ipfix_flow(void *ctx, const struct sv_flow_key *k, const struct sv_rec *r);
void sv_ipfix_end(struct sv_ipfix *x);
void sv_ipfix_get_stats(const struct sv_ipfix *x, struct sv_ipfix_stats *st);
void sv_ipfix_close(struct sv_ipfix *x);

#endif /* SV_IPFIX_H */
