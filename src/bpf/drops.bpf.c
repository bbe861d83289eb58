// SPDX-License-Identifier: GPL-2.0
/* Kernel drop reasons (--drops): a raw tracepoint program on skb:kfree_skb that counts every
 * dropped packet of this network namespace by its flow, keyed as flow.bpf.c keys it, and by
 * the kernel's reason. Raw tracepoints need neither tracefs nor kprobes. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <asm-generic/errno-base.h>
#include "sitevisor.h"

char LICENSE[] SEC("license") = "GPL";

/* The kernel's structures, only the members read here; CO-RE relocates them against the
 * running kernel's BTF. */
struct net___sv {
	struct {
		unsigned int inum;
	} ns;
} __attribute__((preserve_access_index));

struct net_device___sv {
	int ifindex;
	struct {
		struct net___sv *net;
	} nd_net;
} __attribute__((preserve_access_index));

struct sock___sv {
	struct {
		struct {
			struct net___sv *net;
		} skc_net;
	} __sk_common;
} __attribute__((preserve_access_index));

struct dst_entry___sv {
	struct net_device___sv *dev;
} __attribute__((preserve_access_index));

struct skb_shared_info___sv {
	__u16 gso_segs;
} __attribute__((preserve_access_index));

struct sk_buff___sv {
	struct net_device___sv *dev;
	unsigned long _skb_refdst;
	struct sock___sv *sk;
	unsigned int len;
	int skb_iif;
	__u32 vlan_all;
	__u16 vlan_tci;
	__be16 protocol;
	__u16 network_header;
	__u16 mac_header;
	__u32 tail;
	__u32 end;
	unsigned char *head;
	unsigned char *data;
} __attribute__((preserve_access_index));

/* Set by the agent from the running kernel's enum skb_drop_reason (never compiled in: the
 * numbers change between kernels): frees that are no drop, and the unexplained one. */
const volatile __u32 sv_reason_consumed = 1;
const volatile __u32 sv_reason_not_specified = 2;
/* The agent's network namespace (its inode): the tracepoint fires for every namespace. */
const volatile __u32 sv_netns_ino = 0;
const volatile __u16 sv_vxlan_port = SV_VXLAN_PORT;

/* Headers are read from the skb's linear data into this buffer and parsed there: a header
 * never starts beyond SV_DHDR_MAX, and every read is of at most SV_DHDR_SLACK bytes. */
#define SV_DHDR_MAX 192
#define SV_DHDR_SLACK 64
#define SV_DHDR_READ (SV_DHDR_MAX + SV_DHDR_SLACK)

/* The struct sk_buff itself is copied with one read (a helper call per member would cost
 * more than the rest of the program) and its members taken at their CO-RE offsets. */
#define SV_SKB_READ 256

struct sv_dbuf {
	__u8 b[SV_DHDR_READ];
	__u8 skb[SV_SKB_READ + 8];
};

/* A member of the skb copy in d, at its offset in the running kernel. */
#define SV_SKB(d, field)                                                                         \
	(*(typeof(((struct sk_buff___sv *)0)->field) *)((d)->skb +                              \
		bpf_core_field_offset(((struct sk_buff___sv *)0)->field)))

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sv_dbuf);
} sv_drop_buf SEC(".maps");

/* Double-buffered like the flow maps (flow.bpf.c): the agent swaps slot 0 each interval and
 * reads the other map while nothing writes it. */
struct sv_drop_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sv_drop_key);
	__type(value, struct sv_drop_val);
};

struct sv_drop_map sv_drops_a SEC(".maps");
struct sv_drop_map sv_drops_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sv_drop_map);
} sv_drop_maps SEC(".maps") = {
	.values = { &sv_drops_a },
};

struct sv_drop_counters {
	__u64 c[SV_DROP_CNT_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sv_drop_counters);
} sv_drop_counters SEC(".maps");

/* Where parsing is: the offset of the next header in the buffer, the bytes read. */
struct sv_dcur {
	__u32 off;
	__u32 n;
	__u16 proto;
	__u8 l4;
};

static __always_inline const __u8 *sv_at(const struct sv_dbuf *d, const struct sv_dcur *c,
					 __u32 len)
{
	__u32 off = c->off;

	if (off > SV_DHDR_MAX || off + len > c->n)
		return 0;
	return d->b + (off & 0xff);
}

static __always_inline void sv_dset_v4(__u8 *dst, const __u8 *src)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, src, 4);
}

/* The layer parsers are global functions, verified once each, as in parse.bpf.h: inlined,
 * their paths multiply past the verifier's limits. */

/* Ethernet and up to two VLAN tags; tags: those already keyed (a tag in skb metadata). */
__noinline int sv_deth(const struct sv_dbuf *d, struct sv_dcur *c, struct sv_flow_key *k,
		       int tags)
{
	const __u8 *p;
	__u16 proto;
	int i;

	if (!d || !c || !k)
		return -1;
	p = sv_at(d, c, ETH_HLEN);
	if (!p)
		return -1;
	__builtin_memcpy(k->dst_mac, p, 6);
	__builtin_memcpy(k->src_mac, p + 6, 6);
	proto = (__u16)p[12] << 8 | p[13];
	c->off += ETH_HLEN;
	for (i = 0; i < 2 && (proto == ETH_P_8021Q || proto == 0x88A8); i++) {
		p = sv_at(d, c, 4);
		if (!p)
			return -1;
		if (tags == 0)
			k->vlan_id = ((__u16)p[0] << 8 | p[1]) & 0x0fff;
		else if (tags == 1)
			k->inner_vlan_id = ((__u16)p[0] << 8 | p[1]) & 0x0fff;
		tags++;
		proto = (__u16)p[2] << 8 | p[3];
		c->off += 4;
	}
	c->proto = proto >= ETH_P_802_3_MIN ? proto : 0;
	return 0;
}

__noinline int sv_dipv4(const struct sv_dbuf *d, struct sv_dcur *c, struct sv_flow_key *k)
{
	const __u8 *p;
	__u32 ihl;

	if (!d || !c || !k)
		return -1;
	p = sv_at(d, c, 20);
	if (!p)
		return -1;
	k->ip_version = 4;
	k->protocol = p[9];
	sv_dset_v4(k->src_addr, p + 12);
	sv_dset_v4(k->dst_addr, p + 16);
	ihl = (p[0] & 0x0f) * 4;
	if (ihl < 20)
		return -1;
	c->l4 = ((p[6] & 0x1f) | p[7]) == 0;
	c->off += ihl;
	return 0;
}

static __always_inline int sv_dext(__u8 nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_FRAGMENT || nh == IPPROTO_AH;
}

__noinline int sv_dipv6(const struct sv_dbuf *d, struct sv_dcur *c, struct sv_flow_key *k)
{
	const __u8 *p;
	__u8 nh;
	int i;

	if (!d || !c || !k)
		return -1;
	p = sv_at(d, c, 40);
	if (!p)
		return -1;
	k->ip_version = 6;
	__builtin_memcpy(k->src_addr, p + 8, 16);
	__builtin_memcpy(k->dst_addr, p + 24, 16);
	nh = p[6];
	c->off += 40;
	c->l4 = 1;
	for (i = 0; i < SV_MAX_EXT_HDRS && sv_dext(nh); i++) {
		p = sv_at(d, c, 4);
		if (!p)
			break;
		if (nh == IPPROTO_FRAGMENT) {
			if ((((__u16)p[2] << 8 | p[3]) & 0xfff8)) {
				k->protocol = p[0];
				c->l4 = 0;
				return 0;
			}
			c->off += 8;
		} else if (nh == IPPROTO_AH) {
			c->off += ((__u32)p[1] + 2) * 4;
		} else {
			c->off += ((__u32)p[1] + 1) * 8;
		}
		nh = p[0];
	}
	k->protocol = nh;
	if (sv_dext(nh))
		c->l4 = 0;
	return 0;
}

/* Ports (ICMP: type and code); returns the UDP destination port, 0 for other protocols. */
__noinline int sv_dl4(const struct sv_dbuf *d, struct sv_dcur *c, struct sv_flow_key *k)
{
	const __u8 *p;
	__u8 proto;

	if (!d || !c || !k)
		return 0;
	proto = k->protocol;

	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		p = sv_at(d, c, proto == IPPROTO_TCP ? 20 : 8);
		if (!p)
			return 0;
		k->src_port = (__u16)p[0] << 8 | p[1];
		k->dst_port = (__u16)p[2] << 8 | p[3];
		c->off += proto == IPPROTO_TCP ? 20 : 8;
		return proto == IPPROTO_UDP ? k->dst_port : 0;
	}
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		p = sv_at(d, c, 8);
		if (!p)
			return 0;
		k->src_port = p[0];
		k->dst_port = p[1];
	}
	return 0;
}

/* A VXLAN header with an inner Ethernet header behind it: the inner frame becomes the flow,
 * as sv_enter_vxlan (parse.bpf.h) does. */
__noinline int sv_dvxlan(const struct sv_dbuf *d, struct sv_dcur *c, struct sv_flow_key *k)
{
	const __u8 *p;

	if (!d || !c || !k)
		return 0;
	p = sv_at(d, c, 8 + ETH_HLEN);
	if (!p || !(p[0] & 0x08))
		return 0;
	k->flags |= SV_KEY_TUNNEL;
	k->vni = (__u32)p[4] << 16 | (__u32)p[5] << 8 | p[6];
	__builtin_memcpy(k->outer_src_addr, k->src_addr, 16);
	__builtin_memcpy(k->outer_dst_addr, k->dst_addr, 16);
	__builtin_memset(k->src_addr, 0, 16);
	__builtin_memset(k->dst_addr, 0, 16);
	k->ip_version = 0;
	k->protocol = 0;
	k->src_port = 0;
	k->dst_port = 0;
	c->off += 8;
	return 1;
}

/* The frame's flow from the buffer: outer layers, then a VXLAN packet's inner frame. */
static __always_inline void sv_dparse(const struct sv_dbuf *d, struct sv_dcur *c,
				      struct sv_flow_key *k, int l2, int tags)
{
	int layer;

	for (layer = 0; layer < 2; layer++) {
		if ((l2 || layer) && sv_deth(d, c, k, layer ? 2 : tags))
			return;
		k->eth_type = c->proto;
		c->l4 = 0;
		if (c->proto == ETH_P_IP && sv_dipv4(d, c, k))
			return;
		if (c->proto == ETH_P_IPV6 && sv_dipv6(d, c, k))
			return;
		if (!c->l4)
			return;
		if (sv_dl4(d, c, k) != sv_vxlan_port || layer || !sv_dvxlan(d, c, k))
			return;
	}
}

static __always_inline __u32 sv_net_ino(struct net___sv *net)
{
	return net ? BPF_CORE_READ(net, ns.inum) : 0;
}

/* The device the skb is on; for a locally sent packet that has none yet (dropped by the
 * output hook, say), the one its route leads to, where it would have left. */
static __always_inline struct net_device___sv *sv_ddev(const struct sv_dbuf *d)
{
	struct net_device___sv *dev = SV_SKB(d, dev);
	struct dst_entry___sv *dst;

	if (dev)
		return dev;
	dst = (void *)(SV_SKB(d, _skb_refdst) & ~1ul); /* SKB_DST_NOREF */
	return dst ? BPF_CORE_READ(dst, dev) : 0;
}

/* The wire frames a GSO/GRO skb stands for, as the tc programs count them. */
static __always_inline __u64 sv_dsegs(const struct sv_dbuf *d, unsigned char *head)
{
	struct skb_shared_info___sv *sh = (void *)(head + SV_SKB(d, end));
	__u16 segs = BPF_CORE_READ(sh, gso_segs);

	return segs > 1 ? segs : 1;
}

/* Reads the skb's headers into the buffer and keys the drop. Returns the bytes it stands
 * for (from the start of its headers, each segment's headers counted), 0 if the drop is not
 * this namespace's; *segs: the wire frames. */
static __always_inline __u64 sv_dkey(struct sk_buff___sv *skb, struct sv_dbuf *d,
				     struct sv_flow_key *k, struct sv_drop_counters *cnt,
				     __u64 *segs)
{
	struct net_device___sv *dev;
	struct sock___sv *sk;
	struct sv_dcur c = {};
	unsigned char *head, *data;
	__u32 start, tail, len, ino;
	__u16 mac, nh;
	int l2, tags = 0;

	if (bpf_probe_read_kernel(d->skb, SV_SKB_READ, skb))
		return 0;
	dev = sv_ddev(d);
	/* Never a member of the copy inside BPF_CORE_READ: it would relocate the copy too. */
	sk = SV_SKB(d, sk);
	ino = dev ? sv_net_ino(BPF_CORE_READ(dev, nd_net.net)) :
		    sv_net_ino(BPF_CORE_READ(sk, __sk_common.skc_net.net));
	if (sv_netns_ino && ino != sv_netns_ino)
		return 0;
	if (dev) {
		k->ifindex = BPF_CORE_READ(dev, ifindex);
		k->direction = SV_SKB(d, skb_iif) == (int)k->ifindex ? SV_INGRESS : SV_EGRESS;
	} else {
		k->direction = SV_EGRESS; /* a locally sent packet before it had a device */
	}
	if (SV_SKB(d, vlan_all)) {
		k->vlan_id = SV_SKB(d, vlan_tci) & 0x0fff;
		tags = 1;
	}
	mac = SV_SKB(d, mac_header);
	nh = SV_SKB(d, network_header);
	/* From the Ethernet header where the skb has one, else from the IP header (a device
	 * without one, or a packet not yet given one), as the tc programs would key it. */
	l2 = mac != 0xffff && nh >= mac + ETH_HLEN;
	start = l2 ? mac : nh;
	head = SV_SKB(d, head);
	data = SV_SKB(d, data);
	tail = SV_SKB(d, tail);
	len = SV_SKB(d, len);
	if (data - head > start)
		len += (data - head) - start;
	c.proto = bpf_ntohs(SV_SKB(d, protocol));
	c.n = tail > start ? tail - start : 0;
	if (c.n > SV_DHDR_READ)
		c.n = SV_DHDR_READ;
	if (c.n && !bpf_probe_read_kernel(d->b, c.n & 0x1ff, head + start))
		sv_dparse(d, &c, k, l2, tags);
	else
		cnt->c[SV_DROP_CNT_NOHDR]++;
	*segs = sv_dsegs(d, head);
	len += (*segs - 1) * c.off;
	return len ? len : 1;
}

static __always_inline void sv_dcount(const struct sv_drop_key *key, __u64 segs, __u64 len,
				      struct sv_drop_counters *cnt)
{
	struct sv_drop_val add = { segs, len, 0, 0 }, *v;
	__u32 zero = 0;
	void *drops;
	int err;

	/* The coarse clock the tc programs take is not for tracing programs. */
	add.first_ns = add.last_ns = bpf_ktime_get_ns();
	drops = bpf_map_lookup_elem(&sv_drop_maps, &zero);
	v = drops ? bpf_map_lookup_elem(drops, key) : 0;
	if (!v && drops) {
		err = bpf_map_update_elem(drops, key, &add, BPF_NOEXIST);
		if (!err)
			goto counted;
		/* Another CPU inserted the same key meanwhile, or the map is full. */
		v = err == -EEXIST ? bpf_map_lookup_elem(drops, key) : 0;
	}
	if (!v) {
		cnt->c[SV_DROP_LOST_PACKETS] += segs;
		cnt->c[SV_DROP_LOST_BYTES] += len;
		return;
	}
	__sync_fetch_and_add(&v->packets, segs);
	__sync_fetch_and_add(&v->bytes, len);
	if (add.last_ns > v->last_ns)
		v->last_ns = add.last_ns;
counted:
	cnt->c[SV_DROP_CNT_PACKETS] += segs;
	cnt->c[SV_DROP_CNT_BYTES] += len;
}

SEC("raw_tp/kfree_skb")
int sv_kfree_skb(struct bpf_raw_tracepoint_args *ctx)
{
	struct sk_buff___sv *skb = (void *)ctx->args[0];
	__u32 reason = ctx->args[2], zero = 0;
	struct sv_drop_counters *cnt;
	struct sv_drop_key key = {};
	struct sv_dbuf *d;
	__u64 len, segs = 1;

	if (!reason || reason == sv_reason_consumed || reason == sv_reason_not_specified)
		return 0;
	cnt = bpf_map_lookup_elem(&sv_drop_counters, &zero);
	d = bpf_map_lookup_elem(&sv_drop_buf, &zero);
	if (!cnt || !d || !skb)
		return 0;
	len = sv_dkey(skb, d, &key.flow, cnt, &segs);
	if (!len)
		return 0;
	key.reason = reason;
	sv_dcount(&key, segs, len, cnt);
	return 0;
}
