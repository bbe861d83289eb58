// SPDX-License-Identifier: GPL-2.0
/* The per-packet path: tc/tcx programs on ingress and egress of every traced interface. They
 * parse headers, add the frame to its flow in the active flow map and optionally emit a
 * packet event. They only read: every program returns TC_ACT_UNSPEC (== TCX_NEXT), so the
 * packet continues exactly as if nothing were attached. */
#include <linux/pkt_cls.h>
#include "parse.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u16 sv_vxlan_port = SV_VXLAN_PORT;
/* Slots of the per-CPU flow cache minus one (a power of two minus one); 0: no cache. */
const volatile __u32 sv_cache_mask = SV_CACHE_SLOTS - 1;
/* 0: no packet events; N: one event per N packets on average. */
const volatile __u32 sv_sample_rate = 0;
/* Wake the agent once this much event data waits, not per event: a wakeup per packet would
 * cost more than the tracing itself. The agent also polls on a short timer. */
const volatile __u32 sv_wakeup_bytes = 64 * 1024;
/* Trajectory sampling: 0 off; N: fingerprint the packets whose invariant hash is 0 mod N.
 * sv_traj_mask = N - 1 when N is a power of two: a mask instead of a division, which costs
 * more than the whole hash. */
const volatile __u32 sv_traj_rate = 0;
const volatile __u32 sv_traj_mask = 0;

/* Two flow maps of this shape exist; the agent points slot 0 of sv_flow_maps at one of them
 * and swaps them every interval. The swap waits for running programs (the kernel calls
 * synchronize_rcu() on map-in-map updates), so the agent reads the other map while nothing
 * writes it: no increment is lost between reading and clearing. */
struct sv_flow_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sv_flow_key);
	__type(value, struct sv_flow_val);
};

struct sv_flow_map sv_flows_a SEC(".maps");
struct sv_flow_map sv_flows_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sv_flow_map);
} sv_flow_maps SEC(".maps") = {
	.values = { &sv_flows_a },
};

/* The flow cache: a direct-mapped per-CPU array in front of the flow map, so a packet of a
 * flow its CPU saw lately costs an array lookup, a hash and a compare instead of a hash map
 * lookup and two atomic adds. Double-buffered like the flow maps and swapped with them, so
 * the agent reads a cache no program writes; a slot's counts move to the flow map when
 * another flow takes the slot, so every packet is counted in exactly one place. */
struct sv_cache_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	/* Fixed size (inner arrays must match the outer map's template); --flow-cache uses
	 * fewer slots through sv_cache_mask. */
	__uint(max_entries, SV_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct sv_cache_slot);
};

struct sv_cache_map sv_cache_a SEC(".maps");
struct sv_cache_map sv_cache_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sv_cache_map);
} sv_cache_maps SEC(".maps") = {
	.values = { &sv_cache_a },
};

struct sv_counters {
	__u64 c[SV_CNT_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sv_counters);
} sv_counters SEC(".maps");

#include "latency.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} sv_events SEC(".maps");

/* Trajectory fingerprints (--trajectory): their own ring buffer, so a burst of packet
 * events cannot crowd them out and the agent reads each kind with its own record size. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} sv_fps SEC(".maps");

/* Round trips, retransmissions and DNS answer times (latency.bpf.h). */
static __always_inline void sv_latency_note(struct __sk_buff *skb, struct sv_meta *m,
					    struct sv_cache_slot *slot, __u64 segs, __u64 now)
{
	__u8 p = m->key.protocol;

	if (p == IPPROTO_TCP)
		sv_tcp_note(skb, m, slot, segs, now);
	if ((p == IPPROTO_TCP || p == IPPROTO_UDP) &&
	    (m->key.src_port == SV_DNS_PORT || m->key.dst_port == SV_DNS_PORT))
		sv_dns_track(skb, m);
}

/* The whole frame: outer layers, then the inner frame of a VXLAN packet. */
static __always_inline int sv_parse(struct __sk_buff *skb, struct sv_meta *m, int l2)
{
	int layer, ret, tags = 0;

	if (skb->vlan_present) {
		m->key.vlan_id = skb->vlan_tci & 0x0fff;
		tags = 1;
	}
	for (layer = 0; layer < 2; layer++) {
		if (l2 || layer > 0) {
			/* Tags of an inner frame are skipped, not keyed (tags = 2). */
			ret = sv_parse_eth(skb, m, layer ? 2 : tags);
			if (ret)
				return ret;
		} else {
			m->proto = bpf_ntohs(skb->protocol);
		}
		m->key.eth_type = m->proto;
		ret = sv_parse_ip(skb, m);
		m->hdr_len = m->off;
		if (ret || !m->l4)
			return ret;
		m->udp_dport = 0;
		ret = sv_parse_l4(skb, m);
		m->hdr_len = m->off;
		if (ret || layer > 0 || m->udp_dport != sv_vxlan_port || !sv_enter_vxlan(skb, m))
			return ret;
	}
	return SV_PARSE_DONE;
}

/* Adds counts to the flow map (atomically: other CPUs add to the same flows). */
static __always_inline void sv_add_to_flow(const struct sv_flow_key *key,
					   const struct sv_flow_val *add, struct sv_counters *cnt)
{
	struct sv_flow_val *v;
	__u32 zero = 0;
	void *flows;
	int err;

	flows = bpf_map_lookup_elem(&sv_flow_maps, &zero);
	if (!flows) {
		cnt->c[SV_LOST_NO_MAP] += add->packets;
		return;
	}
	v = bpf_map_lookup_elem(flows, key);
	if (!v) {
		err = bpf_map_update_elem(flows, key, add, BPF_NOEXIST);
		if (!err)
			return;
		/* Another CPU inserted the same flow between our lookup and update. */
		v = err == -EEXIST ? bpf_map_lookup_elem(flows, key) : NULL;
		if (!v) {
			cnt->c[SV_LOST_FLOW_PACKETS] += add->packets;
			cnt->c[SV_LOST_FLOW_BYTES] += add->bytes;
			return;
		}
	}
	__sync_fetch_and_add(&v->packets, add->packets);
	__sync_fetch_and_add(&v->bytes, add->bytes);
	if (add->last_ns > v->last_ns)
		v->last_ns = add->last_ns;
	if ((v->tcp_flags & add->tcp_flags) != add->tcp_flags)
		__sync_fetch_and_or(&v->tcp_flags, add->tcp_flags);
}

static __always_inline __u32 sv_key_hash(const struct sv_flow_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = 0;
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*k) / 8); i++)
		h = ((h << 7) | (h >> 57)) ^ w[i];
	return (h * 0x9E3779B97F4A7C15ull) >> 40;
}

static __always_inline int sv_key_eq(const struct sv_flow_key *a, const struct sv_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 d = 0;
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*a) / 8); i++)
		d |= x[i] ^ y[i];
	return !d;
}

/* Counts the frame in its CPU's cache slot, moving whatever flow held the slot to the flow
 * map first. Returns the slot, which now holds the frame's flow; NULL without a cache. */
static __always_inline struct sv_cache_slot *sv_count(struct sv_meta *m, struct sv_counters *cnt,
						      __u64 segs, __u64 len, __u64 now)
{
	struct sv_flow_val add = { segs, len, now, now, m->tcp_flags };
	struct sv_cache_slot *s;
	__u32 zero = 0, idx;
	void *cache;

	cache = sv_cache_mask ? bpf_map_lookup_elem(&sv_cache_maps, &zero) : NULL;
	idx = sv_key_hash(&m->key) & sv_cache_mask;
	s = cache ? bpf_map_lookup_elem(cache, &idx) : NULL;
	if (!s) {
		sv_add_to_flow(&m->key, &add, cnt);
		return NULL;
	}
	if (s->val.packets && sv_key_eq(&s->key, &m->key)) {
		s->val.packets += segs;
		s->val.bytes += len;
		s->val.last_ns = now;
		s->val.tcp_flags |= m->tcp_flags;
		return s;
	}
	if (s->val.packets)
		sv_add_to_flow(&s->key, &s->val, cnt);
	__builtin_memcpy(&s->key, &m->key, sizeof(s->key));
	s->val = add;
	if (sv_latency)
		s->conv = 0; /* another flow's conversation */
	return s;
}

static __always_inline void sv_emit_event(struct sv_meta *m, struct sv_counters *cnt,
					  __u64 segs, __u64 len)
{
	struct sv_pkt_event *e;
	__u64 flags, avail;

	if (sv_sample_rate > 1 && bpf_get_prandom_u32() % sv_sample_rate)
		return;
	cnt->c[SV_CNT_SAMPLED]++;
	e = bpf_ringbuf_reserve(&sv_events, sizeof(*e), 0);
	if (!e) {
		cnt->c[SV_LOST_RINGBUF]++;
		return;
	}
	e->ts_ns = bpf_ktime_get_ns(); /* events need the precise clock, flows do not */
	__builtin_memcpy(&e->key, &m->key, sizeof(e->key));
	e->len = len;
	e->tcp_seq = m->tcp_seq;
	e->segs = segs;
	e->tcp_flags = m->tcp_flags;
	/* Wake the agent once per sv_wakeup_bytes of new data (when this event crosses a
	 * multiple of it): not per event, which costs an interrupt per packet once the reader
	 * falls behind, and not only once, which lets a reader sleep while the buffer fills. */
	avail = bpf_ringbuf_query(&sv_events, BPF_RB_AVAIL_DATA);
	flags = avail % sv_wakeup_bytes < sizeof(*e) + 8 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

/* What the trajectory hash covers: only fields no router, bridge or tunnel endpoint rewrites
 * (no TTL / hop limit, no checksum, no outer header), in whole 64-bit words. */
struct sv_traj_in {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u32 ident; /* IPv4 id or IPv6 flow label, network order */
	__u8 protocol;
	__u8 ip_version;
	__u16 ip_payload; /* IP length minus what precedes the payload read below */
	__u16 src_port;
	__u16 dst_port;
	__u32 tcp_seq;
	__u64 payload; /* the first 8 bytes after the (inner) L4 header, 0 if fewer */
};

static __always_inline __u64 sv_rotl64(__u64 x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* MurmurHash3's 64-bit block mix and finalizer over the words of sv_traj_in: every input bit
 * reaches every output bit, so "hash mod N == 0" selects an unbiased 1 in N. */
static __always_inline __u64 sv_traj_hash(const struct sv_traj_in *in)
{
	const __u64 *w = (const __u64 *)in;
	__u64 h = 0x5356545241ull, k; /* a fixed seed: every agent must use the same */
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*in) / 8); i++) {
		k = w[i] * 0x87c37b91114253d5ull;
		k = sv_rotl64(k, 31) * 0x4cf5ad432745937full;
		h ^= k;
		h = sv_rotl64(h, 27) * 5 + 0x52dce729;
	}
	h ^= sizeof(*in);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* The invariant hash of an IP packet (the inner one of a VXLAN frame). */
static __always_inline __u64 sv_traj_key(struct __sk_buff *skb, const struct sv_meta *m)
{
	struct sv_traj_in in = {};

	__builtin_memcpy(in.src_addr, m->key.src_addr, 16);
	__builtin_memcpy(in.dst_addr, m->key.dst_addr, 16);
	in.ident = m->ip_ident;
	in.protocol = m->key.protocol;
	in.ip_version = m->key.ip_version;
	in.src_port = m->key.src_port;
	in.dst_port = m->key.dst_port;
	in.tcp_seq = m->tcp_seq;
	/* From the IP length, not skb->len: a NIC's Ethernet padding is there on ingress
	 * until the IP layer trims it, and must not change the hash. */
	if (m->ip_end > m->off) {
		void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
		__u32 off = m->off;

		in.ip_payload = m->ip_end - off;
		/* Straight from the linear data when it holds them: a helper call costs more
		 * than the rest of the hash. */
		if (m->ip_end - off >= 8 && off <= SV_MAX_OFF) {
			if (data + off + 8 <= end)
				__builtin_memcpy(&in.payload, data + off, 8);
			else
				bpf_skb_load_bytes(skb, off, &in.payload, 8);
		}
	}
	return sv_traj_hash(&in);
}

static __always_inline void sv_emit_fp(struct __sk_buff *skb, struct sv_meta *m,
				       struct sv_counters *cnt, __u32 len)
{
	struct sv_fp_event *e;
	__u64 h, flags, avail;

	if (m->key.ip_version != 4 && m->key.ip_version != 6)
		return;
	h = sv_traj_key(skb, m);
	if (sv_traj_mask) {
		if ((__u32)h & sv_traj_mask)
			return;
	} else if (sv_traj_rate > 1 && (__u32)h % sv_traj_rate) {
		return;
	}
	cnt->c[SV_CNT_FP]++;
	e = bpf_ringbuf_reserve(&sv_fps, sizeof(*e), 0);
	if (!e) {
		cnt->c[SV_LOST_FP_RINGBUF]++;
		return;
	}
	e->hash = h;
	e->ts_ns = bpf_ktime_get_ns(); /* one-way latencies need the precise clock */
	e->ifindex = m->key.ifindex;
	e->direction = m->key.direction;
	e->ip_version = m->key.ip_version;
	e->protocol = m->key.protocol;
	e->flags = m->key.flags & SV_KEY_TUNNEL;
	e->src_port = m->key.src_port;
	e->dst_port = m->key.dst_port;
	e->len = len;
	__builtin_memcpy(e->src_addr, m->key.src_addr, 16);
	__builtin_memcpy(e->dst_addr, m->key.dst_addr, 16);
	/* Woken in bulk like packet events (see sv_emit_event). */
	avail = bpf_ringbuf_query(&sv_fps, BPF_RB_AVAIL_DATA);
	flags = avail % sv_wakeup_bytes < sizeof(*e) + 8 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

static __always_inline int sv_handle(struct __sk_buff *skb, __u8 dir, int l2)
{
	struct sv_cache_slot *slot;
	struct sv_counters *cnt;
	struct sv_meta m = {};
	__u64 segs, len, now;
	__u32 zero = 0;
	int ret;

	cnt = bpf_map_lookup_elem(&sv_counters, &zero);
	if (!cnt)
		return TC_ACT_UNSPEC;
	m.key.ifindex = skb->ifindex;
	m.key.direction = dir;
	ret = sv_parse(skb, &m, l2);
	if (ret == SV_PARSE_SHORT && !bpf_skb_pull_data(skb, skb->len < SV_PULL_LEN ?
								skb->len : SV_PULL_LEN)) {
		cnt->c[SV_CNT_PULLED]++;
		__builtin_memset(&m, 0, sizeof(m));
		m.key.ifindex = skb->ifindex;
		m.key.direction = dir;
		ret = sv_parse(skb, &m, l2);
	}
	if (ret != SV_PARSE_DONE)
		m.malformed = 1;
	if (m.malformed)
		cnt->c[SV_CNT_MALFORMED]++;

	/* Count what goes on the wire: a GSO skb leaves as gso_segs frames, each repeating
	 * the headers, and a VLAN tag held in skb metadata is still 4 bytes on the wire. */
	segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	len = skb->len + (segs - 1) * m.hdr_len + (skb->vlan_present ? 4 * segs : 0);
	/* Flow times need milliseconds (IPFIX has no finer), and the coarse clock costs a
	 * tenth of the precise one here. */
	now = bpf_ktime_get_coarse_ns();
	cnt->c[SV_CNT_PACKETS] += segs;
	cnt->c[SV_CNT_BYTES] += len;
	slot = sv_count(&m, cnt, segs, len, now);
	if (sv_latency && ret == SV_PARSE_DONE && m.l4)
		sv_latency_note(skb, &m, slot, segs, now);
	if (sv_sample_rate)
		sv_emit_event(&m, cnt, segs, len);
	if (sv_traj_rate && ret == SV_PARSE_DONE)
		sv_emit_fp(skb, &m, cnt, len);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int sv_ingress(struct __sk_buff *skb)
{
	return sv_handle(skb, SV_INGRESS, 1);
}

SEC("tc")
int sv_egress(struct __sk_buff *skb)
{
	return sv_handle(skb, SV_EGRESS, 1);
}

/* For devices without an Ethernet header (tun, wireguard): data starts at the IP header. */
SEC("tc")
int sv_ingress_l3(struct __sk_buff *skb)
{
	return sv_handle(skb, SV_INGRESS, 0);
}

SEC("tc")
int sv_egress_l3(struct __sk_buff *skb)
{
	return sv_handle(skb, SV_EGRESS, 0);
}
