/* SPDX-License-Identifier: GPL-2.0 */
/* How long it took (issue 17): TCP round trips from the handshake and from TCP timestamps,
 * retransmitted segments and DNS answer times, all from the tc path, included by flow.bpf.c.
 * Each piece is a global function the verifier checks once, as in parse.bpf.h. */
#ifndef SV_LATENCY_BPF_H
#define SV_LATENCY_BPF_H

#include <bpf/bpf_core_read.h>
#include "parse.bpf.h"

#define SV_TCP_FIN 0x01
#define SV_TCP_SYN 0x02
#define SV_TCP_RST 0x04
#define SV_TCP_ACK 0x10
#define SV_DNS_PORT 53
/* A TSval whose echo has not come after this long is given up (the segment was lost). */
#define SV_TS_STALE_NS 1000000000ull

/* 0: none of this runs (the flow path is then what it was without it). */
const volatile __u32 sv_latency = 0;
/* At most one timestamp RTT sample per side of a conversation in this time. */
const volatile __u64 sv_rtt_gap_ns = 10000000;

/* The interval's per-flow results, double-buffered and swapped with the flow maps. */
struct sv_lat_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sv_flow_key);
	__type(value, struct sv_lat_val);
};

struct sv_lat_map sv_lat_a SEC(".maps");
struct sv_lat_map sv_lat_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct sv_lat_map);
} sv_lat_maps SEC(".maps") = {
	.values = { &sv_lat_a },
};

/* TCP conversations: a set-associative array, sets chosen by bits of the conversation's
 * hash (sv_conv_set). An array lookup costs a few instructions where a hash map's costs a
 * hash of the key and a bucket walk; the agent sizes it to --max-flows conversations. */
const volatile __u32 sv_conv_mask = 16383;
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct sv_conv_set);
} sv_convs SEC(".maps");

/* DNS queries waiting for their answer (monotonic ns of the query); the agent ages out
 * those never answered and counts them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sv_dns_key);
	__type(value, __u64);
} sv_dns_pending SEC(".maps");

/* What new entries start from: in .rodata, not on the stack, which the calls share. */
static const struct sv_lat_val sv_lat_zero;

enum sv_lat_what {
	SV_LAT_RTT,
	SV_LAT_RETRANS,
	SV_LAT_DNS,
};

/* Adds a result to the flow key's entry in the active stats map. Sums are atomic (other
 * CPUs add to the same flow); a racing min or max can lose one sample's extreme. */
__noinline int sv_lat_add(const struct sv_flow_key *key, __u32 what, __u64 v, __u32 rcode)
{
	struct sv_lat_val *l;
	struct sv_counters *cnt;
	__u32 zero = 0;
	void *map;
	int err;

	if (!key)
		return 0;
	map = bpf_map_lookup_elem(&sv_lat_maps, &zero);
	if (!map)
		return 0;
	l = bpf_map_lookup_elem(map, key);
	if (!l) {
		err = bpf_map_update_elem(map, key, &sv_lat_zero, BPF_NOEXIST);
		l = !err || err == -EEXIST ? bpf_map_lookup_elem(map, key) : NULL;
	}
	if (!l) {
		cnt = bpf_map_lookup_elem(&sv_counters, &zero);
		if (cnt)
			cnt->c[SV_LOST_LAT]++;
		return 0;
	}
	if (what == SV_LAT_RTT) {
		__sync_fetch_and_add(&l->rtt_samples, 1);
		__sync_fetch_and_add(&l->rtt_sum_ns, v);
		if (!l->rtt_min_ns || v < l->rtt_min_ns)
			l->rtt_min_ns = v;
		if (v > l->rtt_max_ns)
			l->rtt_max_ns = v;
	} else if (what == SV_LAT_RETRANS) {
		__sync_fetch_and_add(&l->retransmits, v);
	} else {
		__sync_fetch_and_add(&l->dns_answers, 1);
		__sync_fetch_and_add(&l->dns_latency_sum_ns, v);
		if (rcode)
			__sync_fetch_and_add(&l->dns_failures, 1);
		if (rcode > l->dns_rcode)
			l->dns_rcode = rcode;
	}
	return 0;
}

static __always_inline __u64 sv_conv_mix(__u64 h, __u64 k)
{
	k *= 0x87c37b91114253d5ull;
	k = (k << 31) | (k >> 33);
	h ^= k * 0x4cf5ad432745937full;
	return ((h << 27) | (h >> 37)) * 5 + 0x52dce729;
}

/* An address as two words, from 32-bit loads (the key's addresses are 4-aligned only). */
static __always_inline void sv_addr_words(const __u8 *a, __u64 *w0, __u64 *w1)
{
	const __u32 *w = (const __u32 *)a;

	*w0 = (__u64)w[0] << 32 | w[1];
	*w1 = (__u64)w[2] << 32 | w[3];
}

/* The conversation's key, the same both ways; *side: 0 if the packet comes from the lower
 * (address, port) pair. A 64-bit hash instead of the tuple keeps the lookup short; two
 * conversations of one interface share state only if their hashes collide. */
static __always_inline __u64 sv_conv_hash(const struct sv_flow_key *k, __u32 *side)
{
	__u64 s0, s1, d0, d1, h = k->ifindex;
	int lower;

	sv_addr_words(k->src_addr, &s0, &s1);
	sv_addr_words(k->dst_addr, &d0, &d1);
	lower = s0 != d0 ? s0 < d0 : s1 != d1 ? s1 < d1 : k->src_port <= k->dst_port;
	*side = !lower;
	h = sv_conv_mix(h, (__u64)k->vni << 32 | (__u32)k->vlan_id << 16 | k->inner_vlan_id);
	h = sv_conv_mix(h, lower ? s0 : d0);
	h = sv_conv_mix(h, lower ? s1 : d1);
	h = sv_conv_mix(h, lower ? d0 : s0);
	h = sv_conv_mix(h, lower ? d1 : s1);
	h = sv_conv_mix(h, lower ? (__u32)k->src_port << 16 | k->dst_port :
				   (__u32)k->dst_port << 16 | k->src_port);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 33);
}

struct sv_tcp_ts {
	__u32 val;
	__u32 ecr;
};

/* The timestamp option anywhere among the options (other stacks' layouts, rare). */
__noinline int sv_tcp_ts_walk(struct __sk_buff *skb, __u32 off, __u32 len, struct sv_tcp_ts *ts)
{
	__u8 o[40];
	__u32 i, n;

	if (!ts || len > sizeof(o))
		return 0;
	barrier_var(len); /* two checks the verifier can follow, not one range compare */
	if (len < 10 || bpf_skb_load_bytes(skb, off, o, len))
		return 0;
	for (i = 0; i < sizeof(o) - 1 && i < len; i += n) {
		if (o[i] == 0)
			return 0;
		if (o[i] == 1) {
			n = 1;
			continue;
		}
		n = o[i + 1];
		if (n < 2)
			return 0;
		if (o[i] == 8 && n == 10 && i + 10 <= len && i < sizeof(o) - 10) {
			ts->val = (__u32)o[i + 2] << 24 | o[i + 3] << 16 | o[i + 4] << 8 | o[i + 5];
			ts->ecr = (__u32)o[i + 6] << 24 | o[i + 7] << 16 | o[i + 8] << 8 | o[i + 9];
			return 1;
		}
	}
	return 0;
}

/* TSval and TSecr of the segment whose TCP header ends at m->off; Linux puts them first,
 * after two NOPs, which is read straight from the packet. */
static __always_inline int sv_tcp_ts(struct __sk_buff *skb, const struct sv_meta *m,
				     struct sv_tcp_ts *ts)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u32 optlen = ((__u32)m->tcp_doff - 5) * 4, off = m->off - optlen;
	__u32 *p;

	if (m->tcp_doff <= 5 || off > SV_MAX_OFF)
		return 0;
	p = data + off;
	if ((void *)(p + 3) <= end && p[0] == bpf_htonl(0x0101080a)) {
		ts->val = bpf_ntohl(p[1]);
		ts->ecr = bpf_ntohl(p[2]);
		return 1;
	}
	return sv_tcp_ts_walk(skb, off, optlen, ts);
}

/* Bytes of TCP payload: up to the IP length (not Ethernet padding), or the frame's end when
 * the IP length says nothing (a GSO packet beyond 64 KiB carries 0). */
static __always_inline __u32 sv_payload_len(struct __sk_buff *skb, const struct sv_meta *m)
{
	__u32 end = m->ip_end >= m->off && m->ip_end <= skb->len ? m->ip_end : skb->len;

	return end > m->off ? end - m->off : 0;
}

/* The box's own sockets (tcp:tcp_retransmit_skb, tcp:tcp_retransmit_synack): the kernel
 * says which of their segments it sends again, also those tc never saw the first time
 * (dropped on the way out, before the device). 1 once the agent attached both tracepoints;
 * then tc leaves the retransmissions of segments that leave with a local socket to them. */
__u32 sv_sock_tp = 0;
/* The agent's network namespace (its inode): the tracepoints fire for every namespace. */
const volatile __u32 sv_netns_ino = 0;

/* A local TCP socket as its egress flow key sees it: src is the socket's side. */
struct sv_sock_tuple {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u16 src_port;
	__u16 dst_port;
	__u32 pad;
};

/* Which egress flow a local socket's segments take (the key tc counts them under), noted by
 * tc when it first sees a side of a conversation leave with a socket. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sv_sock_tuple);
	__type(value, struct sv_flow_key);
} sv_sock_flows SEC(".maps");

/* Whether the segment leaves with a socket of this box while the tracepoints count those. */
static __always_inline int sv_sock_own(struct __sk_buff *skb, const struct sv_meta *m)
{
	return sv_sock_tp && m->key.direction == SV_EGRESS && skb->sk;
}

/* Not inlined: its tuple gets a stack frame of its own, off the deepest chain of calls (the
 * verifier limits their combined stack to 512 bytes). */
static __noinline void sv_sock_note(const struct sv_meta *m)
{
	struct sv_sock_tuple t = {};

	__builtin_memcpy(t.src_addr, m->key.src_addr, 16);
	__builtin_memcpy(t.dst_addr, m->key.dst_addr, 16);
	t.src_port = m->key.src_port;
	t.dst_port = m->key.dst_port;
	bpf_map_update_elem(&sv_sock_flows, &t, &m->key, BPF_ANY);
}

/* Retransmissions: a segment that starts before the highest sequence end its side sent.
 * A SYN with a new initial sequence number starts the conversation over. Returns whether
 * this packet opens a new handshake (a fresh SYN or SYN-ACK). */
static __always_inline int sv_tcp_seq(struct __sk_buff *skb, const struct sv_meta *m,
				      struct sv_conv *c, __u32 s, __u64 segs)
{
	struct sv_conv_side *me = &c->side[s & 1];
	__u32 flags = m->tcp_flags, len, end;
	int fresh = 0;

	len = sv_payload_len(skb, m) + !!(flags & SV_TCP_SYN) + !!(flags & SV_TCP_FIN);
	if (!len || (flags & SV_TCP_RST))
		return 0;
	end = m->tcp_seq + len;
	if ((flags & SV_TCP_SYN) && (!(me->flags & SV_SIDE_SEQ) || end != me->seq_end)) {
		/* Not the same SYN again: a new connection on the same ports. */
		if (!(flags & SV_TCP_ACK))
			__builtin_memset(c, 0, sizeof(*c));
		else
			__builtin_memset(me, 0, sizeof(*me));
		fresh = 1;
	} else if ((me->flags & SV_SIDE_SEQ) && (__s32)(m->tcp_seq - me->seq_end) < 0) {
		if (!sv_sock_own(skb, m))
			sv_lat_add(&m->key, SV_LAT_RETRANS, segs, 0);
		if (flags & SV_TCP_SYN)
			me->hs_ns = 0; /* Karn: a repeated SYN times nothing */
	}
	if (!(me->flags & SV_SIDE_SEQ) || (__s32)(end - me->seq_end) > 0) {
		me->seq_end = end;
		me->flags |= SV_SIDE_SEQ;
	}
	return fresh;
}

/* The handshake: SYN to SYN-ACK times the round trip to the server, SYN-ACK to the ACK the
 * round trip to the client, each on the flow of the packet that answered. */
static __always_inline void sv_tcp_handshake(const struct sv_meta *m, struct sv_conv *c,
					     __u32 s, int fresh)
{
	struct sv_conv_side *me = &c->side[s & 1], *peer = &c->side[!(s & 1)];
	__u32 f = m->tcp_flags & (SV_TCP_SYN | SV_TCP_ACK);
	__u64 now;

	if (f == SV_TCP_SYN) {
		if (fresh)
			me->hs_ns = bpf_ktime_get_ns();
		return;
	}
	if (f == (SV_TCP_SYN | SV_TCP_ACK)) {
		now = bpf_ktime_get_ns();
		if (peer->hs_ns && !(peer->flags & SV_SIDE_SYNACK) && fresh)
			sv_lat_add(&m->key, SV_LAT_RTT, now - peer->hs_ns, 0);
		peer->hs_ns = 0;
		me->hs_ns = fresh ? now : 0;
		me->flags |= SV_SIDE_SYNACK;
		return;
	}
	if (f == SV_TCP_ACK && peer->hs_ns && (peer->flags & SV_SIDE_SYNACK)) {
		sv_lat_add(&m->key, SV_LAT_RTT, bpf_ktime_get_ns() - peer->hs_ns, 0);
		peer->hs_ns = 0;
	}
}

/* Whether the side's rate limit lets it take a new sample (sample_ns may lie ahead). */
static __always_inline int sv_side_due(const struct sv_conv_side *d, __u64 coarse)
{
	return (__s64)(coarse - d->sample_ns) >= (__s64)sv_rtt_gap_ns;
}

/* Whether a TSval or a SYN-ACK of the conversation waits for its echo. */
static __always_inline int sv_conv_waits(const struct sv_conv *c)
{
	const struct sv_conv_side *a = &c->side[0], *b = &c->side[1];

	return a->ts_ns || b->ts_ns || (a->hs_ns && (a->flags & SV_SIDE_SYNACK)) ||
	       (b->hs_ns && (b->flags & SV_SIDE_SYNACK));
}

/* Only an armed conversation has anything to clear (SV_SIDE_FRESH is set only while armed):
 * a disarmed one's segments write nothing here. */
static __always_inline void sv_conv_disarm(struct sv_conv *c, __u64 *tag, __u64 key)
{
	if (*tag == key)
		return;
	*tag = key;
	c->side[0].flags &= ~SV_SIDE_FRESH;
	c->side[1].flags &= ~SV_SIDE_FRESH;
}

/* Arms the conversation's pure ACKs while an echo is awaited or a side may take a sample;
 * disarmed, they go unseen, so neither side's last TSval is known to be current any more.
 * Armed for a sample that does not come within the gap (no timestamps, a TSval that stays),
 * the due sides wait four gaps more: pure ACKs are then looked at a fifth of the time.
 * key: the tag without SV_TAG_ARMED. */
static __always_inline void sv_conv_arm(struct sv_conv *c, __u64 *tag, __u64 key, __u64 coarse)
{
	int due0 = sv_side_due(&c->side[0], coarse), due1 = sv_side_due(&c->side[1], coarse);

	if (!sv_conv_waits(c)) {
		if (!due0 && !due1) {
			sv_conv_disarm(c, tag, key);
			return;
		}
		if (*tag != (key | SV_TAG_ARMED)) {
			c->arm_ns = coarse;
		} else if (coarse - c->arm_ns > sv_rtt_gap_ns) {
			if (due0)
				c->side[0].sample_ns = coarse + 4 * sv_rtt_gap_ns;
			if (due1)
				c->side[1].sample_ns = coarse + 4 * sv_rtt_gap_ns;
			sv_conv_disarm(c, tag, key);
			return;
		}
	}
	if (*tag != (key | SV_TAG_ARMED))
		*tag = key | SV_TAG_ARMED;
}

/* Timestamps, as passive ping tools use them: a TSval's first sighting one way and its
 * echo (TSecr) the other way. Only the first segment with a TSval is timed (a later one
 * with the same value would make the round trip look shorter), one per side waits at a
 * time, and a side gives a sample at most every sv_rtt_gap_ns. */
static __always_inline void sv_tcp_tsrtt(struct __sk_buff *skb, const struct sv_meta *m,
					 struct sv_conv *c, __u32 s, __u64 coarse, int armed)
{
	struct sv_conv_side *me = &c->side[s & 1], *peer = &c->side[!(s & 1)];
	struct sv_tcp_ts ts = {};
	__u64 now = 0;
	int fresh;

	if ((m->tcp_flags & SV_TCP_SYN) || !sv_tcp_ts(skb, m, &ts))
		return;
	if (peer->ts_ns && ts.ecr == peer->ts_val && (m->tcp_flags & SV_TCP_ACK)) {
		now = bpf_ktime_get_ns();
		sv_lat_add(&m->key, SV_LAT_RTT, now - peer->ts_ns, 0);
		peer->ts_ns = 0;
		peer->sample_ns = now;
	}
	/* Armed, every segment of this side is seen from now on: the next new TSval is the
	 * first of its value. Before, pure ACKs may have gone by unseen. */
	fresh = me->flags & SV_SIDE_FRESH;
	if (armed)
		me->flags |= SV_SIDE_FRESH;
	if (ts.val == me->ts_seen)
		return;
	me->ts_seen = ts.val;
	if (!fresh)
		return;
	if (me->ts_ns ? coarse - me->ts_ns < SV_TS_STALE_NS : !sv_side_due(me, coarse))
		return;
	me->ts_val = ts.val;
	me->ts_ns = now ? now : bpf_ktime_get_ns();
}

/* The way of the set that holds the conversation (key: its tag without SV_TAG_ARMED), or
 * one made for it: an empty way, else the least recently seen one. */
static __always_inline __u32 sv_conv_way(struct sv_conv_set *set, __u64 key, __u32 seen)
{
	__u32 i, way = 0, age = 0;

	/* The tags alone first: one cache line, where the conversation nearly always is. */
	for (i = 0; i < SV_CONV_WAYS; i++)
		if ((set->tag[i] & ~SV_TAG_ARMED) == key)
			return i;
	for (i = 0; i < SV_CONV_WAYS; i++) {
		if (!set->tag[i]) {
			age = ~0u;
			way = i;
		} else if (seen - set->conv[i].seen > age) {
			age = seen - set->conv[i].seen;
			way = i;
		}
	}
	set->tag[way & (SV_CONV_WAYS - 1)] = key;
	__builtin_memset(&set->conv[way & (SV_CONV_WAYS - 1)], 0, sizeof(struct sv_conv));
	return way;
}

static __always_inline void sv_conv_seen(struct sv_conv *c, __u64 coarse)
{
	if (c->seen != (__u32)(coarse >> 20))
		c->seen = coarse >> 20;
}

/* A TCP segment of conversation conv (sv_conv_of): its state, then retransmission,
 * handshake and timestamps. */
__noinline int sv_tcp_track(struct __sk_buff *skb, struct sv_meta *m, __u64 segs, __u64 coarse,
			    __u64 conv)
{
	__u64 key = conv & ~SV_TAG_ARMED;
	__u32 s = conv & 1, idx = (conv >> 32) & sv_conv_mask, way;
	struct sv_conv_set *set;
	struct sv_conv *c;
	int fresh, armed;

	if (!m)
		return 0;
	set = bpf_map_lookup_elem(&sv_convs, &idx);
	if (!set)
		return 0;
	way = sv_conv_way(set, key, coarse >> 20) & (SV_CONV_WAYS - 1);
	c = &set->conv[way];
	armed = set->tag[way] & SV_TAG_ARMED;
	if ((!(c->side[s].flags & SV_SIDE_SEQ) || (m->tcp_flags & SV_TCP_SYN)) &&
	    sv_sock_own(skb, m))
		sv_sock_note(m); /* before its first retransmission can come */
	fresh = sv_tcp_seq(skb, m, c, s, segs);
	sv_conv_seen(c, coarse);
	if (m->tcp_flags & (SV_TCP_SYN | SV_TCP_ACK))
		sv_tcp_handshake(m, c, s, fresh);
	sv_tcp_tsrtt(skb, m, c, s, coarse, armed);
	sv_conv_arm(c, &set->tag[way], key, coarse);
	return 0;
}

/* The segment's conversation as its hash with bit 0 the side it comes from: from the flow
 * cache slot that counted it (computed once per flow and CPU) or computed here. */
static __always_inline __u64 sv_conv_of(const struct sv_meta *m, struct sv_cache_slot *slot)
{
	__u64 conv;
	__u32 side;

	if (slot && slot->conv)
		return slot->conv;
	conv = sv_conv_hash(&m->key, &side) & ~1ull;
	conv = (conv ? conv : 2) | side; /* tag 0 is an empty way */
	if (slot)
		slot->conv = conv;
	return conv;
}

/* A data segment of len bytes (no SYN, FIN or RST) of a disarmed conversation that follows
 * on from what its side sent: the common segment of a bulk transfer, taken here without a
 * call (a call into sv_tcp_track's code costs more than all the work below). Disarmed,
 * nothing waits for an echo and neither side is SV_SIDE_FRESH (sv_conv_arm), so the
 * handshake and the timestamps have nothing to do (a TSval seen now cannot be timed, and
 * the first segment once armed notes its side's TSval anew): only the sequence end, and
 * arming once a side is due. A segment that starts below its side's end (a retransmission)
 * goes to sv_tcp_track, which counts it: returns 0 for those and whatever else needs it. */
static __always_inline int sv_tcp_quiet(const struct sv_meta *m, struct sv_conv_set *set,
					__u64 conv, __u32 len, __u64 coarse)
{
	__u64 key = conv & ~SV_TAG_ARMED;
	struct sv_conv_side *me;
	struct sv_conv *c;
	__u32 s = conv & 1;
	int i;

	for (i = 0; i < SV_CONV_WAYS; i++)
		if (set->tag[i] == key)
			break;
	if (i == SV_CONV_WAYS)
		return 0;
	c = &set->conv[i & (SV_CONV_WAYS - 1)];
	me = &c->side[s];
	if (!(me->flags & SV_SIDE_SEQ) || (__s32)(m->tcp_seq - me->seq_end) < 0)
		return 0;
	me->seq_end = m->tcp_seq + len;
	sv_conv_seen(c, coarse);
	if (sv_side_due(&c->side[0], coarse) || sv_side_due(&c->side[1], coarse)) {
		c->arm_ns = coarse;
		set->tag[i & (SV_CONV_WAYS - 1)] = conv | SV_TAG_ARMED;
	}
	return 1;
}

/* A TCP segment. A pure ACK (no data, no SYN, FIN or RST) is looked at only while its
 * conversation is armed for it: the common segment costs an array lookup and four compares
 * in the cache line of the set's tags; a data segment of a disarmed conversation, a few
 * more (sv_tcp_quiet). */
static __always_inline void sv_tcp_note(struct __sk_buff *skb, struct sv_meta *m,
					struct sv_cache_slot *slot, __u64 segs, __u64 coarse)
{
	__u64 conv = sv_conv_of(m, slot), armed = conv | SV_TAG_ARMED;
	__u32 idx = (conv >> 32) & sv_conv_mask, len;
	struct sv_conv_set *set;

	if (!(m->tcp_flags & (SV_TCP_SYN | SV_TCP_FIN | SV_TCP_RST))) {
		set = bpf_map_lookup_elem(&sv_convs, &idx);
		if (!set)
			return;
		len = sv_payload_len(skb, m);
		if (len ? sv_tcp_quiet(m, set, conv, len, coarse) :
		    (set->tag[0] != armed && set->tag[1] != armed && set->tag[2] != armed &&
		     set->tag[3] != armed))
			return;
	}
	sv_tcp_track(skb, m, segs, coarse, conv);
}

/* The flow key of the other direction of the same conversation on this interface. */
static __always_inline void sv_key_reverse(struct sv_flow_key *r, const struct sv_flow_key *k)
{
	__builtin_memcpy(r, k, sizeof(*r));
	r->direction = !k->direction;
	r->src_port = k->dst_port;
	r->dst_port = k->src_port;
	__builtin_memcpy(r->src_mac, k->dst_mac, 6);
	__builtin_memcpy(r->dst_mac, k->src_mac, 6);
	__builtin_memcpy(r->src_addr, k->dst_addr, 16);
	__builtin_memcpy(r->dst_addr, k->src_addr, 16);
	__builtin_memcpy(r->outer_src_addr, k->outer_dst_addr, 16);
	__builtin_memcpy(r->outer_dst_addr, k->outer_src_addr, 16);
}

/* DNS over UDP or TCP port 53 (over TCP: a message at the start of a segment, after its
 * length): a query waits in sv_dns_pending under its flow key and id; the answer of the
 * reverse flow with the same id gives the latency and response code, on the answer's flow. */
__noinline int sv_dns_track(struct __sk_buff *skb, struct sv_meta *m)
{
	struct sv_dns_key k = {};
	struct sv_counters *cnt;
	__u32 off, zero = 0;
	__u16 hdr[2];
	__u64 now, sent, *t;
	int err;

	if (!m)
		return 0;
	off = m->off + (m->key.protocol == IPPROTO_TCP ? 2 : 0);
	if (sv_payload_len(skb, m) < off - m->off + 12 || bpf_skb_load_bytes(skb, off, hdr, 4))
		return 0;
	k.id = hdr[0];
	now = bpf_ktime_get_ns();
	if (!(bpf_ntohs(hdr[1]) & 0x8000)) {
		if (m->key.dst_port != SV_DNS_PORT)
			return 0;
		__builtin_memcpy(&k.flow, &m->key, sizeof(k.flow));
		err = bpf_map_update_elem(&sv_dns_pending, &k, &now, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			cnt = bpf_map_lookup_elem(&sv_counters, &zero);
			if (cnt)
				cnt->c[SV_LOST_DNS]++;
		}
		return 0;
	}
	if (m->key.src_port != SV_DNS_PORT)
		return 0;
	sv_key_reverse(&k.flow, &m->key);
	t = bpf_map_lookup_elem(&sv_dns_pending, &k);
	/* Whoever deletes the query counts it: this answer, or the agent aging it out. */
	if (!t)
		return 0;
	sent = *t; /* before the delete frees the element for reuse */
	if (now > sent && !bpf_map_delete_elem(&sv_dns_pending, &k))
		sv_lat_add(&m->key, SV_LAT_DNS, now - sent, bpf_ntohs(hdr[1]) & 0xf);
	return 0;
}

/* The kernel's structures the tracepoints read, only those members; CO-RE relocates them
 * against the running kernel's BTF (as drops.bpf.c does). */
struct net___lat {
	struct {
		unsigned int inum;
	} ns;
} __attribute__((preserve_access_index));

struct sock_common___lat {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct {
		struct net___lat *net;
	} skc_net;
	struct {
		__u8 a[16];
	} skc_v6_daddr;
	struct {
		__u8 a[16];
	} skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sk_buff___lat {
	char cb[48];
} __attribute__((preserve_access_index));

struct tcp_skb_cb___lat {
	__u16 tcp_gso_segs;
} __attribute__((preserve_access_index));

#define SV_AF_INET 2
#define SV_AF_INET6 10

/* Counts segs retransmissions of the local socket sk (a full or a request socket) on the
 * egress flow tc saw its segments leave by; none if they crossed no traced interface. */
static __always_inline int sv_sock_retrans(const struct sock_common___lat *sk, __u64 segs)
{
	struct sv_sock_tuple t = {};
	struct sv_flow_key key, *k;
	__u16 family;

	if (BPF_CORE_READ(sk, skc_net.net, ns.inum) != sv_netns_ino)
		return 0;
	family = BPF_CORE_READ(sk, skc_family);
	if (family == SV_AF_INET) {
		sv_set_v4(t.src_addr, BPF_CORE_READ(sk, skc_rcv_saddr));
		sv_set_v4(t.dst_addr, BPF_CORE_READ(sk, skc_daddr));
	} else if (family == SV_AF_INET6) {
		BPF_CORE_READ_INTO(&t.src_addr, sk, skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&t.dst_addr, sk, skc_v6_daddr);
	} else {
		return 0;
	}
	t.src_port = BPF_CORE_READ(sk, skc_num);
	t.dst_port = bpf_ntohs(BPF_CORE_READ(sk, skc_dport));
	k = bpf_map_lookup_elem(&sv_sock_flows, &t);
	if (!k)
		return 0;
	__builtin_memcpy(&key, k, sizeof(key));
	sv_lat_add(&key, SV_LAT_RETRANS, segs, 0);
	return 0;
}

/* tcp_retransmit_skb(sk, skb, err) fires once per retransmission the socket attempts, after
 * the kernel added tcp_skb_pcount(skb) to TcpRetransSegs -- except with -EBUSY: the first
 * copy was still in the host's queues, nothing was sent and nothing counted. */
SEC("raw_tp/tcp_retransmit_skb")
int sv_tcp_retransmit(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sk_buff___lat *skb = (const void *)ctx->args[1];
	const struct tcp_skb_cb___lat *cb;
	__u16 segs;

	if ((int)ctx->args[2] == -EBUSY)
		return 0;
	cb = (const void *)__builtin_preserve_access_index(&skb->cb);
	segs = BPF_CORE_READ(cb, tcp_gso_segs);
	return sv_sock_retrans((const void *)ctx->args[0], segs ? segs : 1);
}

/* tcp_retransmit_synack(listener, req): a SYN-ACK sent again, one segment the kernel
 * counted; the request socket holds the connection's addresses and ports. */
SEC("raw_tp/tcp_retransmit_synack")
int sv_tcp_retransmit_synack(struct bpf_raw_tracepoint_args *ctx)
{
	return sv_sock_retrans((const void *)ctx->args[1], 1);
}

#endif /* SV_LATENCY_BPF_H */
