// SPDX-License-Identifier: GPL-2.0
/* Writing flow records and packet events; see output.h. The JSON records' fields come from
 * the record's field list (flowrec.h); the text line is for people. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include "addr.h"
#include "output.h"
#include "sb.h"

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

/* A record's JSON line: the type and box, then the fields of the given parts, then what
 * follows them (tail, with its closing brace). */
static int json_line(const struct sv_output *o, const char *head, const struct sv_rec *r,
		     int parts, const char *tail)
{
	struct sb s;
	int err;

	sb_init(&s);
	sb_puts(&s, head);
	sb_puts(&s, "\"box\":");
	sb_json_str(&s, o->box);
	sv_rec_json(&s, r, parts);
	sb_puts(&s, tail);
	err = sb_failed(&s) ? -ENOMEM : 0;
	if (!err)
		fwrite(s.buf, 1, s.len, o->f);
	sb_free(&s);
	return err ? err : ferror(o->f) ? -EPIPE : 0;
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

static void text_flow(const struct sv_output *o, const struct sv_flow_key *k,
		      const struct sv_rec *r)
{
	const char *a = k->ip_version ? r->src_addr : r->src_mac;
	const char *b = k->ip_version ? r->dst_addr : r->dst_mac;
	time_t secs = r->last_ns / 1000000000ull;
	char pb[16], tb[32];
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(tb, sizeof(tb), "%H:%M:%S", &tm);
	fprintf(o->f, "%s %-10s %-3s %-6s %s", tb, r->iface, r->direction ? "out" : "in",
		proto_name(k, pb), a);
	if (r->icmp_type >= 0)
		fprintf(o->f, " > %s type %d code %d", b, r->icmp_type, r->icmp_code);
	else if (k->ip_version)
		fprintf(o->f, ":%u > %s:%u", r->src_port, b, r->dst_port);
	else
		fprintf(o->f, " > %s", b);
	if (r->vni >= 0)
		fprintf(o->f, " vni %lld", (long long)r->vni);
	fprintf(o->f, "  %llu pkts %llu bytes\n", (unsigned long long)r->packets,
		(unsigned long long)r->bytes);
}

int sv_output_flow(void *ctx, const struct sv_flow_key *k, const struct sv_rec *r)
{
	struct sv_output *o = ctx;

	if (o->json)
		return json_line(o, "{\"type\":\"flow\",", r, SV_PART_ALL, "}\n");
	text_flow(o, k, r);
	return ferror(o->f) ? -EPIPE : 0;
}

int sv_output_packet(struct sv_output *o, const struct sv_pkt_event *e, __u64 wall_ns)
{
	char head[64], tail[96], ifb[IF_NAMESIZE];
	struct sv_rec r;

	sv_rec_set_key(&r, &e->key, sv_ifaces_label(o->ifaces, e->key.ifindex, ifb));
	snprintf(head, sizeof(head), "{\"type\":\"packet\",\"ts_ns\":%llu,",
		 (unsigned long long)wall_ns);
	snprintf(tail, sizeof(tail), ",\"len\":%u,\"segs\":%u,\"tcp_flags\":%u,\"tcp_seq\":%u}\n",
		 e->len, e->segs, e->tcp_flags, e->tcp_seq);
	return json_line(o, head, &r, SV_PART_KEY, tail);
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
	sv_json_fstr(f, sv_ifaces_label(o->ifaces, e->ifindex, ifb));
	fprintf(f,
		",\"direction\":\"%s\",\"ip_version\":%u,\"protocol\":%u,\"src_addr\":\"%s\","
		"\"dst_addr\":\"%s\",\"src_port\":%u,\"dst_port\":%u,\"tunnel\":%s,\"len\":%u}\n",
		e->direction == SV_EGRESS ? "egress" : "ingress", e->ip_version, e->protocol, a, b,
		e->src_port, e->dst_port, e->flags & SV_KEY_TUNNEL ? "true" : "false", e->len);
	return ferror(f) ? -EPIPE : 0;
}
