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

void sv_lp_flow(struct sb *s, const char *box, const struct sv_lp_flow *f, uint64_t ts)
{
	char pb[12];

	where(s, "sitevisor_flow", box, f->iface, f->egress);
	sb_printf(s, ",ip_version=%u,protocol=%s ", f->ip_version,
		  sv_lp_proto_name(f->protocol, pb));
	if (f->src_addr && *f->src_addr && f->dst_addr && *f->dst_addr) {
		sb_puts(s, "src_addr=");
		sv_lp_str(s, f->src_addr);
		sb_puts(s, ",dst_addr=");
		sv_lp_str(s, f->dst_addr);
		sb_putc(s, ',');
	}
	sb_printf(s, "src_port=%ui,dst_port=%ui,packets=%" PRIu64 "i,bytes=%" PRIu64 "i,"
		  "tcp_flags=%ui,",
		  f->src_port, f->dst_port, f->packets, f->bytes, f->tcp_flags);
	if (f->vni >= 0)
		sb_printf(s, "vni=%" PRId64 "i,", f->vni);
	sb_printf(s, "first_ns=%" PRIu64 "i %" PRIu64 "\n", f->first_ns, ts);
}

void sv_lp_iface(struct sb *s, const char *box, const char *iface, int egress,
		 uint64_t packets, uint64_t bytes, uint64_t flows, uint64_t ts)
{
	where(s, "sitevisor_iface", box, iface, egress);
	sb_printf(s, " packets=%" PRIu64 "i,bytes=%" PRIu64 "i,flows=%" PRIu64 "i %" PRIu64 "\n",
		  packets, bytes, flows, ts);
}
