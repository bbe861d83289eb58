// SPDX-License-Identifier: GPL-2.0
/* IPFIX encoding; see ipfix_msg.h. Each template is a list of fields, and the same list
 * drives both the template record and every data record, so the two cannot disagree.
 *
 * Why fixed templates and not one per combination of fields present: a collector learns six
 * templates once, and a record's template follows from its key alone (IP version, VXLAN or
 * not). Fields that do not apply to a record carry 0 (ports of ICMP, tcpControlBits of UDP,
 * vlanId of an untagged frame), as IPFIX collectors read them.
 *
 * The fixed fields are placed by hand (an address is one of two elements by IP version, the
 * interface one of two by direction, ICMP's type and code one element); flowrec.h marks
 * them IPFIX_HAND, which ipfix_test checks against these templates. The record's fields
 * marked IPFIX(id) follow them in every template, encoded by their kind. */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include "ipfix_msg.h"

/* The fields we export. */
enum field {
	F_SRC4,
	F_DST4,
	F_SRC6,
	F_DST6,
	F_SPORT,
	F_DPORT,
	F_PROTO,
	F_ICMP4,
	F_ICMP6,
	F_TCP_FLAGS,
	F_OCTETS,
	F_PACKETS,
	F_START,
	F_END,
	F_IN_IF,
	F_OUT_IF,
	F_DIR,
	F_SMAC,
	F_DMAC,
	F_VLAN,
	F_CVLAN,
	F_ETYPE,
	F_L2SEG,
	F_END_REASON,
};

/* IANA IPFIX information element numbers and the lengths we send. */
static const struct {
	__u16 id, len;
} ies[] = {
	[F_SRC4] = { 8, 4 }, /* sourceIPv4Address */
	[F_DST4] = { 12, 4 }, /* destinationIPv4Address */
	[F_SRC6] = { 27, 16 }, /* sourceIPv6Address */
	[F_DST6] = { 28, 16 }, /* destinationIPv6Address */
	[F_SPORT] = { 7, 2 }, /* sourceTransportPort */
	[F_DPORT] = { 11, 2 }, /* destinationTransportPort */
	[F_PROTO] = { 4, 1 }, /* protocolIdentifier */
	[F_ICMP4] = { 32, 2 }, /* icmpTypeCodeIPv4 */
	[F_ICMP6] = { 139, 2 }, /* icmpTypeCodeIPv6 */
	[F_TCP_FLAGS] = { 6, 2 }, /* tcpControlBits (unsigned16 since RFC 7125) */
	[F_OCTETS] = { 1, 8 }, /* octetDeltaCount */
	[F_PACKETS] = { 2, 8 }, /* packetDeltaCount */
	[F_START] = { 152, 8 }, /* flowStartMilliseconds */
	[F_END] = { 153, 8 }, /* flowEndMilliseconds */
	[F_IN_IF] = { 10, 4 }, /* ingressInterface */
	[F_OUT_IF] = { 14, 4 }, /* egressInterface */
	[F_DIR] = { 61, 1 }, /* flowDirection: 0 ingress, 1 egress */
	[F_SMAC] = { 56, 6 }, /* sourceMacAddress */
	[F_DMAC] = { 80, 6 }, /* destinationMacAddress */
	[F_VLAN] = { 58, 2 }, /* vlanId: the outer tag */
	[F_CVLAN] = { 245, 2 }, /* dot1qCustomerVlanId: the inner tag of QinQ */
	[F_ETYPE] = { 256, 2 }, /* ethernetType */
	[F_L2SEG] = { 351, 8 }, /* layer2SegmentId: RFC 7133, type 0x01 VXLAN, VNI below */
	[F_END_REASON] = { 136, 1 }, /* flowEndReason */
};

#define COMMON_TAIL                                                                      \
	F_OCTETS, F_PACKETS, F_START, F_END, F_IN_IF, F_OUT_IF, F_DIR, F_SMAC, F_DMAC,   \
		F_VLAN, F_CVLAN, F_ETYPE
#define IP4_FIELDS F_SRC4, F_DST4, F_SPORT, F_DPORT, F_PROTO, F_ICMP4, F_TCP_FLAGS, COMMON_TAIL
#define IP6_FIELDS F_SRC6, F_DST6, F_SPORT, F_DPORT, F_PROTO, F_ICMP6, F_TCP_FLAGS, COMMON_TAIL
#define L2_FIELDS COMMON_TAIL

static const __u8 t_ip4[] = { IP4_FIELDS, F_END_REASON };
static const __u8 t_ip6[] = { IP6_FIELDS, F_END_REASON };
static const __u8 t_l2[] = { L2_FIELDS, F_END_REASON };
static const __u8 t_ip4_vx[] = { IP4_FIELDS, F_L2SEG, F_END_REASON };
static const __u8 t_ip6_vx[] = { IP6_FIELDS, F_L2SEG, F_END_REASON };
static const __u8 t_l2_vx[] = { L2_FIELDS, F_L2SEG, F_END_REASON };

#define T(a) { a, sizeof(a) }
static const struct {
	const __u8 *f;
	unsigned int n;
} tmpls[SV_TMPL_MAX] = {
	[SV_TMPL_IP4] = T(t_ip4),	    [SV_TMPL_IP6] = T(t_ip6),
	[SV_TMPL_L2] = T(t_l2),		    [SV_TMPL_IP4_VXLAN] = T(t_ip4_vx),
	[SV_TMPL_IP6_VXLAN] = T(t_ip6_vx), [SV_TMPL_L2_VXLAN] = T(t_l2_vx),
};

/* The generated fields: their count and bytes, the same in every template. */
#define GEN_LEN_DIR 1
#define GEN_LEN_U8 1
#define GEN_LEN_IPVER 1
#define GEN_LEN_OPT8 1
#define GEN_LEN_U16 2
#define GEN_LEN_VLAN 2
#define GEN_LEN_VNI 4
#define GEN_LEN_COUNT 8
#define GEN_LEN_NS 8
#define GEN_LEN_IFACE 0 /* text kinds have no IPFIX encoding here */
#define GEN_LEN_ADDR 0
#define GEN_LEN_MAC 0
#define GEN_LEN_REASON 0
#define GEN_LEN_DROPS 0
#define GEN_N(name, kind, part, when, ipfix, lp, agg) +((ipfix) > 0)
#define GEN_ENT(name, kind, part, when, ipfix, lp, agg) +((ipfix) > 0 && ((ipfix) & 0x8000))
#define GEN_BYTES(name, kind, part, when, ipfix, lp, agg) +((ipfix) > 0 ? GEN_LEN_##kind : 0)
enum {
	GEN_FIELDS = 0 SV_FLOW_FIELDS(GEN_N),
	GEN_ENT_FIELDS = 0 SV_FLOW_FIELDS(GEN_ENT), /* each with a 4-byte enterprise number */
	GEN_RECORD_LEN = 0 SV_FLOW_FIELDS(GEN_BYTES),
};
#define GEN_CHECK(name, kind, part, when, ipfix, lp, agg)                                        \
	_Static_assert((ipfix) <= 0 || GEN_LEN_##kind, #name ": IPFIX(id) needs a numeric kind");
SV_FLOW_FIELDS(GEN_CHECK)

#define L2SEG_VXLAN (1ull << 56) /* RFC 7133 segment type 0x01 in the upper byte */

static __u8 *put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v;
	return p + 2;
}

static __u8 *put32(__u8 *p, __u32 v)
{
	put16(p, v >> 16);
	return put16(p + 2, v);
}

static __u8 *put64(__u8 *p, __u64 v)
{
	put32(p, v >> 32);
	return put32(p + 4, v);
}

static __u8 *putn(__u8 *p, const __u8 *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}

unsigned int sv_ipfix_tmpl_fields(enum sv_ipfix_tmpl t)
{
	return tmpls[t].n + GEN_FIELDS;
}

size_t sv_ipfix_record_len(enum sv_ipfix_tmpl t)
{
	size_t len = GEN_RECORD_LEN;
	unsigned int i;

	for (i = 0; i < tmpls[t].n; i++)
		len += ies[tmpls[t].f[i]].len;
	return len;
}

int sv_ipfix_tmpl_has(enum sv_ipfix_tmpl t, unsigned int id)
{
	unsigned int i;

	for (i = 0; i < tmpls[t].n; i++)
		if (ies[tmpls[t].f[i]].id == id)
			return 1;
#define X(name, kind, part, when, ipfix, lp, agg)                                                \
	if ((ipfix) > 0 && (unsigned int)(ipfix) == id)                                          \
		return 1;
	SV_FLOW_FIELDS(X)
#undef X
	return 0;
}

size_t sv_ipfix_template_len(enum sv_ipfix_tmpl t)
{
	return 4 + 4 * sv_ipfix_tmpl_fields(t) + 4 * GEN_ENT_FIELDS;
}

size_t sv_ipfix_templates_len(void)
{
	size_t len = SV_IPFIX_SET_HDR_LEN;
	int t;

	for (t = 0; t < SV_TMPL_MAX; t++)
		len += sv_ipfix_template_len(t);
	return len;
}

size_t sv_ipfix_record_max(void)
{
	size_t max = 0, len;
	int t;

	for (t = 0; t < SV_TMPL_MAX; t++) {
		len = sv_ipfix_record_len(t);
		max = len > max ? len : max;
	}
	return max;
}

enum sv_ipfix_tmpl sv_ipfix_tmpl_of(const struct sv_flow_key *k)
{
	enum sv_ipfix_tmpl t = k->ip_version == 4 ? SV_TMPL_IP4 :
			       k->ip_version == 6 ? SV_TMPL_IP6 :
						    SV_TMPL_L2;

	return k->flags & SV_KEY_TUNNEL ? t + SV_TMPL_IP4_VXLAN : t;
}

static int is_icmp(const struct sv_flow_key *k)
{
	return (k->ip_version == 4 && k->protocol == IPPROTO_ICMP) ||
	       (k->ip_version == 6 && k->protocol == IPPROTO_ICMPV6);
}

/* The ports, or the ICMP type and code the key keeps in their place. */
static __u16 port_or_icmp(const struct sv_flow_key *k, enum field f)
{
	int icmp = is_icmp(k);

	if (f == F_ICMP4 || f == F_ICMP6)
		return icmp ? (__u16)(k->src_port << 8 | (k->dst_port & 0xff)) : 0;
	if (icmp)
		return 0;
	return f == F_SPORT ? k->src_port : k->dst_port;
}

/* One field of a record; returns where the next one goes. */
static __u8 *put_field(__u8 *p, enum field f, const struct sv_flow_key *k,
		       const struct sv_rec *r)
{
	int egress = k->direction == SV_EGRESS;

	switch (f) { /* the counts come from the record, the rest from the key */
	case F_SRC4:
		return putn(p, k->src_addr + 12, 4); /* the key holds IPv4-mapped IPv6 */
	case F_DST4:
		return putn(p, k->dst_addr + 12, 4);
	case F_SRC6:
		return putn(p, k->src_addr, 16);
	case F_DST6:
		return putn(p, k->dst_addr, 16);
	case F_SPORT:
	case F_DPORT:
	case F_ICMP4:
	case F_ICMP6:
		return put16(p, port_or_icmp(k, f));
	case F_PROTO:
		*p = k->protocol;
		return p + 1;
	case F_TCP_FLAGS:
		return put16(p, k->protocol == IPPROTO_TCP ? r->tcp_flags & 0xfff : 0);
	case F_OCTETS:
		return put64(p, r->bytes);
	case F_PACKETS:
		return put64(p, r->packets);
	case F_START:
		return put64(p, r->first_ns / 1000000);
	case F_END:
		return put64(p, r->last_ns / 1000000);
	case F_IN_IF:
		return put32(p, egress ? 0 : k->ifindex);
	case F_OUT_IF:
		return put32(p, egress ? k->ifindex : 0);
	case F_DIR:
		*p = egress;
		return p + 1;
	case F_SMAC:
		return putn(p, k->src_mac, 6);
	case F_DMAC:
		return putn(p, k->dst_mac, 6);
	case F_VLAN:
		return put16(p, k->vlan_id);
	case F_CVLAN:
		return put16(p, k->inner_vlan_id);
	case F_ETYPE:
		return put16(p, k->eth_type);
	case F_L2SEG:
		return put64(p, L2SEG_VXLAN | (k->vni & 0xffffff));
	case F_END_REASON:
		*p = sv_end_reason_num(r->end_reason);
		return p + 1;
	}
	return p;
}

void sv_ipfix_msg_begin(struct sv_ipfix_msg *m, __u8 *buf, size_t cap)
{
	*m = (struct sv_ipfix_msg){ .buf = buf, .cap = cap, .len = SV_IPFIX_HDR_LEN,
				    .pen = SV_IPFIX_PEN };
}

static void close_set(struct sv_ipfix_msg *m)
{
	if (m->set_off)
		put16(m->buf + m->set_off + 2, m->len - m->set_off);
	m->set_off = 0;
	m->set_id = 0;
}

static __u8 *put_template(__u8 *p, enum sv_ipfix_tmpl t, __u32 pen)
{
	unsigned int i;

	p = put16(p, SV_IPFIX_TMPL_BASE + t);
	p = put16(p, sv_ipfix_tmpl_fields(t));
	for (i = 0; i < tmpls[t].n; i++) {
		p = put16(p, ies[tmpls[t].f[i]].id);
		p = put16(p, ies[tmpls[t].f[i]].len);
	}
#define X(name, kind, part, when, ipfix, lp, agg)                                                \
	if ((ipfix) > 0) {                                                                       \
		p = put16(p, ipfix);                                                             \
		p = put16(p, GEN_LEN_##kind);                                                    \
		if ((ipfix) & 0x8000)                                                            \
			p = put32(p, pen);                                                       \
	}
	SV_FLOW_FIELDS(X)
#undef X
	return p;
}

/* A template set of the templates from..to-1. */
static int add_templates(struct sv_ipfix_msg *m, int from, int to)
{
	size_t len = SV_IPFIX_SET_HDR_LEN;
	__u8 *p = m->buf + m->len;
	int t;

	for (t = from; t < to; t++)
		len += sv_ipfix_template_len(t);
	if (m->len + len > m->cap)
		return -ENOSPC;
	close_set(m);
	p = put16(p, SV_IPFIX_TEMPLATE_SET);
	p = put16(p, len);
	for (t = from; t < to; t++)
		p = put_template(p, t, m->pen);
	m->len = p - m->buf;
	m->templates = 1;
	return 0;
}

int sv_ipfix_msg_add_templates(struct sv_ipfix_msg *m)
{
	return add_templates(m, 0, SV_TMPL_MAX);
}

int sv_ipfix_msg_add_template(struct sv_ipfix_msg *m, enum sv_ipfix_tmpl t)
{
	return add_templates(m, t, t + 1);
}

/* The numeric kinds' values; the others have no encoding (GEN_CHECK). */
#define GEN_VAL_NUM(v) ((__u64)(v))
#define GEN_VAL_DIR GEN_VAL_NUM
#define GEN_VAL_U8 GEN_VAL_NUM
#define GEN_VAL_IPVER GEN_VAL_NUM
#define GEN_VAL_OPT8 GEN_VAL_NUM
#define GEN_VAL_U16 GEN_VAL_NUM
#define GEN_VAL_VLAN GEN_VAL_NUM
#define GEN_VAL_VNI GEN_VAL_NUM
#define GEN_VAL_COUNT GEN_VAL_NUM
#define GEN_VAL_NS GEN_VAL_NUM
#define GEN_VAL_IFACE(v) 0
#define GEN_VAL_ADDR(v) 0
#define GEN_VAL_MAC(v) 0
#define GEN_VAL_REASON(v) 0
#define GEN_VAL_DROPS(v) 0

/* The generated fields' values, big-endian in their kind's length. */
static __u8 *put_gen(__u8 *p, __u64 v, unsigned int len)
{
	switch (len) {
	case 1:
		*p = v;
		return p + 1;
	case 2:
		return put16(p, v);
	case 4:
		return put32(p, v);
	}
	return put64(p, v);
}

int sv_ipfix_msg_add_record(struct sv_ipfix_msg *m, const struct sv_flow_key *k,
			    const struct sv_rec *r)
{
	enum sv_ipfix_tmpl t = sv_ipfix_tmpl_of(k);
	unsigned int id = SV_IPFIX_TMPL_BASE + t;
	int same = m->set_id == id;
	size_t need = sv_ipfix_record_len(t) + (same ? 0 : SV_IPFIX_SET_HDR_LEN);
	unsigned int i;
	__u8 *p;

	if (m->len + need > m->cap)
		return -ENOSPC;
	if (!same) {
		close_set(m);
		m->set_off = m->len;
		m->set_id = id;
		put16(m->buf + m->len, id); /* the length comes when the set closes */
		m->len += SV_IPFIX_SET_HDR_LEN;
	}
	p = m->buf + m->len;
	for (i = 0; i < tmpls[t].n; i++)
		p = put_field(p, tmpls[t].f[i], k, r);
#define X(name, kind, part, when, ipfix, lp, agg)                                                \
	if ((ipfix) > 0)                                                                         \
		p = put_gen(p, GEN_VAL_##kind(r->name), GEN_LEN_##kind);
	SV_FLOW_FIELDS(X)
#undef X
	m->len = p - m->buf;
	m->records++;
	return 0;
}

size_t sv_ipfix_msg_finish(struct sv_ipfix_msg *m, __u32 export_time, __u32 seq, __u32 domain)
{
	__u8 *p = m->buf;

	close_set(m);
	p = put16(p, SV_IPFIX_VERSION);
	p = put16(p, m->len);
	p = put32(p, export_time);
	p = put32(p, seq);
	put32(p, domain);
	return m->len;
}
