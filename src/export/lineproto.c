// SPDX-License-Identifier: GPL-2.0
/* Line protocol writing; see lineproto.h. Tags come in key order, as InfluxDB sorts them
 * anyway. Box and interface names come from users: whatever they hold, a point must parse,
 * or InfluxDB refuses the whole request and the interval is lost. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include "lineproto.h"

static int is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Control characters have no escape in line protocol (a newline ends the point): '_'. A
 * trailing backslash, however escaped, makes InfluxDB 1.x refuse the point: '_' too. An
 * empty value cannot be written at all. */
void sv_lp_tag(struct sb *s, const char *v)
{
	const char *p;

	if (!*v) {
		sb_putc(s, '_');
		return;
	}
	for (p = v; *p; p++) {
		if (is_ctl(*p) || (*p == '\\' && !p[1])) {
			sb_putc(s, '_');
			continue;
		}
		if (strchr(",= \\", *p))
			sb_putc(s, '\\');
		sb_putc(s, *p);
	}
}

void sv_lp_str(struct sb *s, const char *v)
{
	sb_putc(s, '"');
	for (; *v; v++) {
		if (is_ctl(*v)) {
			sb_putc(s, '_');
			continue;
		}
		if (*v == '"' || *v == '\\')
			sb_putc(s, '\\');
		sb_putc(s, *v);
	}
	sb_putc(s, '"');
}

const char *sv_lp_proto_name(unsigned int protocol, char buf[12])
{
	switch (protocol) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	}
	snprintf(buf, 12, "%u", protocol);
	return buf;
}

static void where(struct sb *s, const char *measurement, const char *box, const char *iface,
		  int egress)
{
	sb_puts(s, measurement);
	sb_puts(s, ",box=");
	sv_lp_tag(s, box);
	sb_puts(s, egress ? ",direction=egress,iface=" : ",direction=ingress,iface=");
	sv_lp_tag(s, iface);
}

/* Each kind as a line protocol field value: integers, or strings. */
#define LPV_IFACE(s, v) sv_lp_str(s, v)
#define LPV_DIR(s, v) sb_printf(s, "%di", v)
#define LPV_ADDR(s, v) sv_lp_str(s, v)
#define LPV_MAC(s, v) sv_lp_str(s, v)
#define LPV_REASON(s, v) sv_lp_str(s, v)
#define LPV_DROPS(s, v) sv_drop_reasons_json(s, &(v)) /* LP_NONE: never written as a field */
#define LPV_U8(s, v) sb_printf(s, "%ui", v)
#define LPV_U16(s, v) sb_printf(s, "%ui", v)
#define LPV_IPVER(s, v) sb_printf(s, "%ui", v)
#define LPV_OPT8(s, v) sb_printf(s, "%di", v)
#define LPV_VLAN(s, v) sb_printf(s, "%di", v)
#define LPV_VNI(s, v) sb_printf(s, "%" PRId64 "i", v)
#define LPV_COUNT(s, v) sb_printf(s, "%" PRIu64 "i", v)
#define LPV_NS(s, v) sb_printf(s, "%" PRIu64 "i", v)

/* The fields at positions 1, 2, ... (LP_FIELD(n)) that the record has, comma-separated. */
static void lp_fields(struct sb *s, const struct sv_rec *r, int sep)
{
	int pos;

	for (pos = 1; pos <= SV_REC_NLP; pos++) {
#define X(name, kind, part, when, ipfix, lp, agg)                                                \
		if ((lp) == pos && (when)) {                                                     \
			if (sep)                                                                 \
				sb_putc(s, ',');                                                 \
			sb_puts(s, #name "=");                                                   \
			LPV_##kind(s, r->name);                                                  \
			sep = 1;                                                                 \
		}
		SV_FLOW_FIELDS(X)
#undef X
	}
}

void sv_lp_flow(struct sb *s, const char *box, const struct sv_rec *r, uint64_t ts)
{
	int pair = r->src_addr[0] && r->dst_addr[0];
	char pb[12];

	where(s, "sitevisor_flow", box, r->iface, r->direction);
	sb_printf(s, ",ip_version=%u,protocol=%s ", r->ip_version,
		  sv_lp_proto_name(r->protocol, pb));
	if (pair) {
		sb_puts(s, "src_addr=");
		sv_lp_str(s, r->src_addr);
		sb_puts(s, ",dst_addr=");
		sv_lp_str(s, r->dst_addr);
	}
	lp_fields(s, r, pair);
	sb_printf(s, " %" PRIu64 "\n", ts);
}

void sv_lp_iface(struct sb *s, const char *box, const char *iface, int egress,
		 uint64_t packets, uint64_t bytes, uint64_t flows, uint64_t ts)
{
	where(s, "sitevisor_iface", box, iface, egress);
	sb_printf(s, " packets=%" PRIu64 "i,bytes=%" PRIu64 "i,flows=%" PRIu64 "i %" PRIu64 "\n",
		  packets, bytes, flows, ts);
}

void sv_lp_drop(struct sb *s, const char *box, const char *iface, int egress,
		const char *reason, uint64_t packets, uint64_t ts)
{
	where(s, "sitevisor_drop", box, iface, egress);
	sb_puts(s, ",reason=");
	sv_lp_tag(s, reason);
	sb_printf(s, " packets=%" PRIu64 "i %" PRIu64 "\n", packets, ts);
}
