/* SPDX-License-Identifier: GPL-2.0 */
/* Bounds-checked header walkers, included by exactly one program (flow.bpf.c). Each layer is
 * a global BPF function, so the verifier checks it once on its own instead of once per path
 * through VLAN tags, extension headers and VXLAN: that keeps verification far below its
 * limits. They work on offsets kept in struct sv_meta and tell a truncated frame apart from
 * headers that sit in non-linear skb data (which the caller can pull and parse again). */
#ifndef SV_PARSE_BPF_H
#define SV_PARSE_BPF_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <asm-generic/errno-base.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sitevisor.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
/* Headers never start deeper than this; bounds the offsets for the verifier. */
#define SV_MAX_OFF 1024

struct sv_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct sv_vxlan_hdr {
	__u8 flags; /* 0x08: VNI valid */
	__u8 reserved1[3];
	__be32 vni_reserved; /* VNI in the upper 24 bits */
};

struct sv_ip6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
	__be16 frag_off; /* only meaningful for the fragment header */
};

enum sv_parse_status {
	SV_PARSE_DONE = 0, /* every header the key needs was read */
	SV_PARSE_SHORT = 1, /* a header continues beyond the linear data: pull and retry */
	SV_PARSE_TRUNC = 2, /* the frame itself ends inside a header: malformed */
};

/* What parsing one frame yields, plus the walkers' cursor. */
struct sv_meta {
	struct sv_flow_key key;
	__u32 off; /* cursor: offset of the next header */
	__u32 hdr_len; /* bytes from the frame start to the end of the (inner) L4 header */
	__u32 tcp_seq;
	__u32 ip_ident; /* (inner) IPv4 identification or IPv6 flow label, for trajectories */
	__u32 ip_end; /* offset where the (inner) IP packet ends per its length field */
	__u16 proto; /* ethertype of the header at off */
	__u16 udp_dport;
	__u8 tcp_flags;
	__u8 malformed;
	__u8 l4; /* an L4 header follows the IP header(s) */
	__u8 tcp_doff; /* the TCP header's length in 32-bit words (latency.bpf.h) */
};

/* A header does not fit in the linear data: SHORT if the frame is longer than its linear
 * part (the rest can be pulled), TRUNC if the frame really ends there. */
static __always_inline int sv_short(struct __sk_buff *skb)
{
	return skb->len > skb->data_end - skb->data ? SV_PARSE_SHORT : SV_PARSE_TRUNC;
}

/* Ethernet plus up to two VLAN tags; m->proto becomes the ethertype after them. A tag the
 * device already moved into skb metadata (vlan_present) counts as the outer one. */
__noinline int sv_parse_eth(struct __sk_buff *skb, struct sv_meta *m, __u32 tags)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth;
	__u32 off;
	__u16 p;
	int i;

	if (!m)
		return SV_PARSE_TRUNC;
	off = m->off;
	if (off > SV_MAX_OFF)
		return SV_PARSE_TRUNC;
	eth = data + off;
	if ((void *)(eth + 1) > end)
		return sv_short(skb);
	__builtin_memcpy(m->key.dst_mac, eth->h_dest, 6);
	__builtin_memcpy(m->key.src_mac, eth->h_source, 6);
	p = bpf_ntohs(eth->h_proto);
	off += sizeof(*eth);

	for (i = 0; i < 2; i++) {
		struct sv_vlan_hdr *vh = data + off;

		if (p != ETH_P_8021Q && p != ETH_P_8021AD)
			break;
		if ((void *)(vh + 1) > end)
			return sv_short(skb);
		if (tags == 0)
			m->key.vlan_id = bpf_ntohs(vh->tci) & 0x0fff;
		else if (tags == 1)
			m->key.inner_vlan_id = bpf_ntohs(vh->tci) & 0x0fff;
		tags++;
		p = bpf_ntohs(vh->encap_proto);
		off += sizeof(*vh);
	}
	/* Values below 0x0600 are 802.3 lengths, not ethertypes: key all such frames as 0. */
	m->proto = p >= ETH_P_802_3_MIN ? p : 0;
	m->off = off;
	return SV_PARSE_DONE;
}

static __always_inline void sv_set_v4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

static __always_inline int sv_parse_ipv4(struct __sk_buff *skb, struct sv_meta *m, __u32 off)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *iph = data + off;
	__u32 ihl, tot;

	if ((void *)(iph + 1) > end)
		return sv_short(skb);
	m->key.ip_version = 4;
	m->key.protocol = iph->protocol;
	sv_set_v4(m->key.src_addr, iph->saddr);
	sv_set_v4(m->key.dst_addr, iph->daddr);
	ihl = iph->ihl * 4;
	tot = bpf_ntohs(iph->tot_len);
	m->ip_ident = iph->id;
	m->ip_end = off + tot;
	if (ihl < sizeof(*iph)) {
		m->malformed = 1;
		return SV_PARSE_DONE;
	}
	if (tot < ihl || off + tot > skb->len)
		m->malformed = 1; /* lies about its length; its headers still tell the flow */
	if (off + ihl > skb->len)
		return SV_PARSE_TRUNC;
	/* Non-first fragments carry no L4 header: keyed by addresses and protocol. */
	m->l4 = (bpf_ntohs(iph->frag_off) & 0x1fff) == 0;
	m->off = off + ihl;
	return SV_PARSE_DONE;
}

static __always_inline int sv_is_ext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_FRAGMENT || nh == IPPROTO_AH;
}

static __always_inline int sv_parse_ipv6(struct __sk_buff *skb, struct sv_meta *m, __u32 off)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6h = data + off;
	struct sv_ip6_ext eh;
	__u8 nh;
	int i;

	if ((void *)(ip6h + 1) > end)
		return sv_short(skb);
	m->key.ip_version = 6;
	__builtin_memcpy(m->key.src_addr, &ip6h->saddr, 16);
	__builtin_memcpy(m->key.dst_addr, &ip6h->daddr, 16);
	m->ip_ident = *(__be32 *)ip6h & bpf_htonl(0x000fffff);
	m->ip_end = off + sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
	if (off + sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len) > skb->len)
		m->malformed = 1;
	nh = ip6h->nexthdr;
	off += sizeof(*ip6h);
	m->l4 = 1;

	/* Extension headers are rare: read them with skb_load_bytes, which also reaches
	 * non-linear data, rather than widening the packet ranges the verifier tracks. */
	for (i = 0; i < SV_MAX_EXT_HDRS && sv_is_ext(nh); i++) {
		if (bpf_skb_load_bytes(skb, off, &eh, sizeof(eh)))
			break;
		if (nh == IPPROTO_FRAGMENT) {
			if (bpf_ntohs(eh.frag_off) & 0xfff8) {
				/* Not the first fragment: what follows is payload, not headers,
				 * so the fragment header's next header is the protocol. */
				m->key.protocol = eh.nexthdr;
				m->l4 = 0;
				m->off = off + 8;
				return SV_PARSE_DONE;
			}
			off += 8;
		} else if (nh == IPPROTO_AH) {
			off += ((__u32)eh.hdrlen + 2) * 4;
		} else {
			off += ((__u32)eh.hdrlen + 1) * 8;
		}
		nh = eh.nexthdr;
	}
	m->key.protocol = nh;
	if (sv_is_ext(nh)) {
		/* Truncated, or a longer chain than we follow: keyed by where we stopped. */
		m->malformed = 1;
		m->l4 = 0;
	}
	m->off = off;
	return SV_PARSE_DONE;
}

/* IPv4 or IPv6 at m->off, per m->proto. */
__noinline int sv_parse_ip(struct __sk_buff *skb, struct sv_meta *m)
{
	__u32 off;

	if (!m)
		return SV_PARSE_TRUNC;
	m->l4 = 0;
	off = m->off;
	if (off > SV_MAX_OFF)
		return SV_PARSE_TRUNC;
	if (m->proto == ETH_P_IP)
		return sv_parse_ipv4(skb, m, off);
	if (m->proto == ETH_P_IPV6)
		return sv_parse_ipv6(skb, m, off);
	return SV_PARSE_DONE;
}

/* TCP, UDP, ICMP and ICMPv6 at m->off (ICMP: type and code in the port slots). */
__noinline int sv_parse_l4(struct __sk_buff *skb, struct sv_meta *m)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u32 off;
	__u8 proto;

	if (!m)
		return SV_PARSE_TRUNC;
	off = m->off;
	if (off > SV_MAX_OFF)
		return SV_PARSE_TRUNC;
	proto = m->key.protocol;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;
		__u32 doff;

		if ((void *)(th + 1) > end)
			return sv_short(skb);
		m->key.src_port = bpf_ntohs(th->source);
		m->key.dst_port = bpf_ntohs(th->dest);
		m->tcp_flags = ((__u8 *)th)[13];
		m->tcp_seq = bpf_ntohl(th->seq);
		doff = th->doff * 4;
		if (doff < sizeof(*th)) {
			m->malformed = 1;
			doff = sizeof(*th);
		}
		m->tcp_doff = doff / 4;
		m->off = off + doff;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = data + off;

		if ((void *)(uh + 1) > end)
			return sv_short(skb);
		m->key.src_port = bpf_ntohs(uh->source);
		m->key.dst_port = bpf_ntohs(uh->dest);
		m->udp_dport = m->key.dst_port;
		m->off = off + sizeof(*uh);
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		__u8 *ich = data + off;

		if ((void *)(ich + 8) > end)
			return sv_short(skb);
		m->key.src_port = ich[0];
		m->key.dst_port = ich[1];
		m->off = off + 8;
	}
	return SV_PARSE_DONE;
}

/* A VXLAN header at m->off with a whole inner Ethernet header behind it: the inner frame
 * becomes the flow and the outer addresses move to outer_*. Returns 1 if it did. */
__noinline int sv_enter_vxlan(struct __sk_buff *skb, struct sv_meta *m)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct sv_vxlan_hdr *vx;
	__u32 off;

	if (!m)
		return 0;
	off = m->off;
	if (off > SV_MAX_OFF)
		return 0;
	vx = data + off;
	if ((void *)(vx + 1) + sizeof(struct ethhdr) > end || !(vx->flags & 0x08))
		return 0;
	m->key.flags |= SV_KEY_TUNNEL;
	m->key.vni = bpf_ntohl(vx->vni_reserved) >> 8;
	__builtin_memcpy(m->key.outer_src_addr, m->key.src_addr, 16);
	__builtin_memcpy(m->key.outer_dst_addr, m->key.dst_addr, 16);
	__builtin_memset(m->key.src_addr, 0, 16);
	__builtin_memset(m->key.dst_addr, 0, 16);
	m->key.ip_version = 0;
	m->key.protocol = 0;
	m->key.src_port = 0;
	m->key.dst_port = 0;
	m->off = off + sizeof(*vx);
	return 1;
}

#endif /* SV_PARSE_BPF_H */
