// SPDX-License-Identifier: GPL-2.0
/* Writing flow records and packet events; see output.h. The JSON field names are an
 * interface other tools rely on: change them only with a new name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include "addr.h"
#include "output.h"

static const char *const end_reasons[] = {
	[SV_END_IDLE] = "idle",
	[SV_END_ACTIVE] = "active",
	[SV_END_FLOW] = "end",
	[SV_END_FORCED] = "forced",
};

const char *sv_end_reason_str(enum sv_end_reason r)
{
	return r >= SV_END_IDLE && r <= SV_END_FORCED ? end_reasons[r] : "unknown";
}

void sv_json_fstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static int is_icmp(const struct sv_flow_key *k)
{
	return (k->ip_version == 4 && k->protocol == IPPROTO_ICMP) ||
	       (k->ip_version == 6 && k->protocol == IPPROTO_ICMPV6);
}

static const char *iface_name(const struct sv_output *o, __u32 ifindex, char *buf)
{
	const char *n = sv_ifaces_name(o->ifaces, ifindex);

	if (n)
		return n;
	snprintf(buf, IF_NAMESIZE, "if%u", ifindex);
	return buf;
}

/* The fields a flow record and a packet event share: where it was seen and its headers. */
static void json_key(const struct sv_output *o, const struct sv_flow_key *k)
{
	char a[SV_ADDR_STRLEN], b[SV_ADDR_STRLEN], ifb[IF_NAMESIZE];
	FILE *f = o->f;

	fputs("\"box\":", f);
	sv_json_fstr(f, o->box);
	fputs(",\"iface\":", f);
	sv_json_fstr(f, iface_name(o, k->ifindex, ifb));
	fprintf(f, ",\"direction\":\"%s\",\"eth_type\":%u,\"ip_version\":%u,\"protocol\":%u",
		k->direction == SV_EGRESS ? "egress" : "ingress", k->eth_type, k->ip_version,
		k->protocol);
	if (k->ip_version) {
		sv_addr_str(k->src_addr, a, sizeof(a));
		sv_addr_str(k->dst_addr, b, sizeof(b));
		fprintf(f, ",\"src_addr\":\"%s\",\"dst_addr\":\"%s\"", a, b);
	} else {
		fputs(",\"src_addr\":null,\"dst_addr\":null", f);
	}
	if (is_icmp(k))
		fprintf(f, ",\"src_port\":0,\"dst_port\":0,\"icmp_type\":%u,\"icmp_code\":%u",
			k->src_port, k->dst_port);
	else
		fprintf(f, ",\"src_port\":%u,\"dst_port\":%u", k->src_port, k->dst_port);
	if (k->vlan_id)
		fprintf(f, ",\"vlan\":%u", k->vlan_id);
	if (k->inner_vlan_id)
		fprintf(f, ",\"inner_vlan\":%u", k->inner_vlan_id);
	if (k->flags & SV_KEY_TUNNEL) {
		sv_addr_str(k->outer_src_addr, a, sizeof(a));
		sv_addr_str(k->outer_dst_addr, b, sizeof(b));
		fprintf(f, ",\"vni\":%u,\"outer_src_addr\":\"%s\",\"outer_dst_addr\":\"%s\"", k->vni,
			a, b);
	}
	sv_mac_str(k->src_mac, a);
	sv_mac_str(k->dst_mac, b);
	fprintf(f, ",\"src_mac\":\"%s\",\"dst_mac\":\"%s\"", a, b);
}

static const char *proto_name(const struct sv_flow_key *k, char *buf)
{
	if (!k->ip_version) {
		snprintf(buf, 16, "0x%04x", k->eth_type);
		return buf;
	}
	switch (k->protocol) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_ICMP:
		return "ICMP";
	case IPPROTO_ICMPV6:
		return "ICMPv6";
	}
	snprintf(buf, 16, "proto%u", k->protocol);
	return buf;
}

static void text_flow(const struct sv_output *o, const struct sv_flow_rec *r)
{
	const struct sv_flow_key *k = r->key;
	char a[SV_ADDR_STRLEN], b[SV_ADDR_STRLEN], ifb[IF_NAMESIZE], pb[16], tb[32];
	time_t secs = r->last_ns / 1000000000ull;
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(tb, sizeof(tb), "%H:%M:%S", &tm);
	if (k->ip_version) {
		sv_addr_str(k->src_addr, a, sizeof(a));
		sv_addr_str(k->dst_addr, b, sizeof(b));
	} else {
		sv_mac_str(k->src_mac, a);
		sv_mac_str(k->dst_mac, b);
	}
	fprintf(o->f, "%s %-10s %-3s %-6s %s", tb, iface_name(o, k->ifindex, ifb),
		k->direction == SV_EGRESS ? "out" : "in", proto_name(k, pb), a);
	if (is_icmp(k))
		fprintf(o->f, " > %s type %u code %u", b, k->src_port, k->dst_port);
	else if (k->ip_version)
		fprintf(o->f, ":%u > %s:%u", k->src_port, b, k->dst_port);
	else
		fprintf(o->f, " > %s", b);
	if (k->flags & SV_KEY_TUNNEL)
		fprintf(o->f, " vni %u", k->vni);
	fprintf(o->f, "  %llu pkts %llu bytes\n", (unsigned long long)r->packets,
		(unsigned long long)r->bytes);
}

int sv_output_flow(void *ctx, const struct sv_flow_rec *r)
{
	struct sv_output *o = ctx;

	if (!o->json) {
		text_flow(o, r);
	} else {
		fputs("{\"type\":\"flow\",", o->f);
		json_key(o, r->key);
		fprintf(o->f,
			",\"packets\":%llu,\"bytes\":%llu,\"tcp_flags\":%u,\"first_ns\":%llu,"
			"\"last_ns\":%llu,\"end_reason\":\"%s\"}\n",
			(unsigned long long)r->packets, (unsigned long long)r->bytes, r->tcp_flags,
			(unsigned long long)r->first_ns, (unsigned long long)r->last_ns,
			sv_end_reason_str(r->reason));
	}
	return ferror(o->f) ? -EPIPE : 0;
}

void sv_output_point(const struct sv_output *o, const struct sv_flow_rec *r,
		     struct sv_lp_flow *p, struct sv_point_strs *s)
{
	const struct sv_flow_key *k = r->key;

	*p = (struct sv_lp_flow){
		.iface = iface_name(o, k->ifindex, s->iface),
		.egress = k->direction == SV_EGRESS,
		.ip_version = k->ip_version,
		.protocol = k->protocol,
		.tcp_flags = r->tcp_flags,
		.vni = k->flags & SV_KEY_TUNNEL ? (int64_t)k->vni : -1,
		.packets = r->packets,
		.bytes = r->bytes,
		.first_ns = r->first_ns,
		.last_ns = r->last_ns,
	};
	if (k->ip_version) {
		sv_addr_str(k->src_addr, s->src, sizeof(s->src));
		sv_addr_str(k->dst_addr, s->dst, sizeof(s->dst));
		p->src_addr = s->src;
		p->dst_addr = s->dst;
	}
	if (!is_icmp(k)) { /* ICMP keeps type and code there: the JSON record says 0 */
		p->src_port = k->src_port;
		p->dst_port = k->dst_port;
	}
}

int sv_output_packet(struct sv_output *o, const struct sv_pkt_event *e, __u64 wall_ns)
{
	fprintf(o->f, "{\"type\":\"packet\",\"ts_ns\":%llu,", (unsigned long long)wall_ns);
	json_key(o, &e->key);
	fprintf(o->f, ",\"len\":%u,\"segs\":%u,\"tcp_flags\":%u,\"tcp_seq\":%u}\n", e->len,
		e->segs, e->tcp_flags, e->tcp_seq);
	return ferror(o->f) ? -EPIPE : 0;
}

int sv_output_fp(struct sv_output *o, const struct sv_fp_event *e, __u64 wall_ns)
{
	char a[SV_ADDR_STRLEN], b[SV_ADDR_STRLEN], ifb[IF_NAMESIZE];
	FILE *f = o->f;

	sv_addr_str(e->src_addr, a, sizeof(a));
	sv_addr_str(e->dst_addr, b, sizeof(b));
	/* The hash as hex text: JSON readers that hold numbers as doubles would round it. */
	fprintf(f, "{\"type\":\"fp\",\"hash\":\"%016llx\",\"ts_ns\":%llu,\"box\":",
		(unsigned long long)e->hash, (unsigned long long)wall_ns);
	sv_json_fstr(f, o->box);
	fputs(",\"iface\":", f);
	sv_json_fstr(f, iface_name(o, e->ifindex, ifb));
	fprintf(f,
		",\"direction\":\"%s\",\"ip_version\":%u,\"protocol\":%u,\"src_addr\":\"%s\","
		"\"dst_addr\":\"%s\",\"src_port\":%u,\"dst_port\":%u,\"tunnel\":%s,\"len\":%u}\n",
		e->direction == SV_EGRESS ? "egress" : "ingress", e->ip_version, e->protocol, a, b,
		e->src_port, e->dst_port, e->flags & SV_KEY_TUNNEL ? "true" : "false", e->len);
	return ferror(f) ? -EPIPE : 0;
}
