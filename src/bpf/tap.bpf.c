// SPDX-License-Identifier: GPL-2.0
/* The virtual TAP. Where the watched interface has a clsact qdisc, each rule has a tc filter
 * there per direction whose mirred action makes the copies; its classifier ends in
 * sv_tap_cls. Where every rule at a hook has one, sv_tap_cls matches, counts and caps each
 * rule, and no tcx program of the tap runs (see SV_TAP_CB_COPY_LO). Elsewhere the tcx
 * programs sv_tap_ingress/egress find the rules a frame matches and copy it with
 * bpf_clone_redirect, or leave the copy to a rule's filter where it has one. The original
 * frame is only read: every program on a watched interface returns TC_ACT_UNSPEC (TCX_NEXT)
 * or, as a classifier, "no class", and cb is scratch space of the hook. The copy, a separate
 * skb, goes out of the target (a monitor port, a VXLAN device the agent made, or the near end
 * of a veth pair whose far end runs sv_tap_trunc to cut copies to a snaplen). */
#include <linux/pkt_cls.h>
#include "parse.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u16 sv_vxlan_port = SV_VXLAN_PORT;
/* Random, set by the agent after loading: in the copy magic (SV_TAP_CB_COPY_LO). */
__u32 sv_tap_salt;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SV_TAP_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sv_tap_rule);
} sv_tap_rules SEC(".maps");

/* A hash map: the agent replaces a whole list at once (an update swaps the element under
 * RCU), so a program sees the old list or the new one, never half of each. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct sv_tap_if_key);
	__type(value, struct sv_tap_if_rules);
} sv_tap_ifs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SV_TAP_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sv_tap_counters);
} sv_tap_counters SEC(".maps");

/* The rate cap: one token bucket per rule behind a spin lock, not per-CPU buckets of
 * rate/ncpus, so the cap is exact whichever CPUs the traffic lands on. Tokens are in
 * packet-nanoseconds (a packet costs 1e9); the bucket holds one second of the rate.
 * last_ns == 0: a fresh bucket, full. */
struct sv_tap_bucket {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 tokens;
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SV_TAP_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sv_tap_bucket);
} sv_tap_buckets SEC(".maps");

/* Slot 0: sv_tap_cls, where the tc filters' classifiers jump (tapcopy.c). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sv_tap_cls_jmp SEC(".maps");

/* Keyed by the ifindex of a truncating veth's far end. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SV_TAP_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sv_tap_trunc);
} sv_tap_truncs SEC(".maps");

#define NS_PER_SEC 1000000000ull

/* Outer headers, then (with inner) the frame inside VXLAN. */
static __always_inline int tap_parse(struct __sk_buff *skb, struct sv_meta *m, int inner)
{
	int layer, ret, tags = skb->vlan_present;

	for (layer = 0; layer < 2; layer++) {
		ret = sv_parse_eth(skb, m, layer ? 2 : tags);
		if (ret)
			return ret;
		ret = sv_parse_ip(skb, m);
		if (ret || !m->l4)
			return ret;
		m->udp_dport = 0;
		ret = sv_parse_l4(skb, m);
		if (ret || layer > 0 || !inner)
			return ret;
		if (m->udp_dport != sv_vxlan_port || !sv_enter_vxlan(skb, m))
			return -1; /* not VXLAN: no inner frame to match */
	}
	return SV_PARSE_DONE;
}

static __always_inline int net_match(const struct sv_tap_net *n, const __u8 *a)
{
	__u32 plen = n->plen, i, bits;

	for (i = 0; i < 16; i++) {
		if (plen == 0)
			return 1;
		bits = plen >= 8 ? 8 : plen;
		if ((a[i] ^ n->addr[i]) & (0xff00 >> bits))
			return 0;
		plen -= bits;
	}
	return 1;
}

static __always_inline int in_range(const __u16 *r, __u16 v)
{
	return v >= r[0] && v <= r[1];
}

/* Whether the parsed frame matches every field the rule names. */
__noinline int tap_match(const struct sv_tap_rule *r, const struct sv_meta *m)
{
	const struct sv_flow_key *k;
	__u32 f;
	int l4;

	if (!r || !m)
		return 0;
	k = &m->key;
	f = r->match;
	if ((f & SV_TAP_M_IP) && !k->ip_version)
		return 0;
	if ((f & SV_TAP_M_IPV) && k->ip_version != r->ip_version)
		return 0;
	if ((f & (SV_TAP_M_SRC | SV_TAP_M_DST | SV_TAP_M_HOST)) && !k->ip_version)
		return 0;
	if ((f & SV_TAP_M_SRC) && !net_match(&r->src, k->src_addr))
		return 0;
	if ((f & SV_TAP_M_DST) && !net_match(&r->dst, k->dst_addr))
		return 0;
	if ((f & SV_TAP_M_HOST) && !net_match(&r->host, k->src_addr) &&
	    !net_match(&r->host, k->dst_addr))
		return 0;
	if ((f & SV_TAP_M_PROTO) && (!k->ip_version || k->protocol != r->proto))
		return 0;
	if (!(f & (SV_TAP_M_SPORT | SV_TAP_M_DPORT | SV_TAP_M_PORT)))
		return 1;
	/* Ports: only TCP and UDP have them (the key holds ICMP type and code there). */
	l4 = m->l4 && (k->protocol == IPPROTO_TCP || k->protocol == IPPROTO_UDP);
	if (!l4)
		return 0;
	if ((f & SV_TAP_M_SPORT) && !in_range(r->sport, k->src_port))
		return 0;
	if ((f & SV_TAP_M_DPORT) && !in_range(r->dport, k->dst_port))
		return 0;
	if ((f & SV_TAP_M_PORT) && !in_range(r->port, k->src_port) &&
	    !in_range(r->port, k->dst_port))
		return 0;
	return 1;
}

/* 1: within the rule's rate (a token taken), 0: over it. */
static __always_inline int tap_admit(__u32 id, __u64 rate)
{
	struct sv_tap_bucket *b;
	__u64 now, full, tokens;
	int ok = 0;

	if (!rate)
		return 1;
	b = bpf_map_lookup_elem(&sv_tap_buckets, &id);
	if (!b)
		return 0;
	now = bpf_ktime_get_ns();
	full = rate * NS_PER_SEC;
	bpf_spin_lock(&b->lock);
	if (!b->last_ns || now - b->last_ns >= NS_PER_SEC)
		tokens = full;
	else
		tokens = b->tokens + (now - b->last_ns) * rate;
	if (tokens > full)
		tokens = full;
	if (tokens >= NS_PER_SEC) {
		tokens -= NS_PER_SEC;
		ok = 1;
	}
	b->tokens = tokens;
	b->last_ns = now;
	bpf_spin_unlock(&b->lock);
	return ok;
}

/* A frame rule id matched: counted, and taken (1) if within the rule's rate. */
static __always_inline int tap_take(const struct sv_tap_rule *r, struct sv_tap_counters *c,
				    __u32 id)
{
	c->matched++;
	if (!tap_admit(id, r->rate_pps)) {
		c->rate_limited++;
		return 0;
	}
	return 1;
}

#define TAP_INNER 1 /* tap_rule's how: m is the frame inside VXLAN */
#define TAP_BY_TC 2 /* the copy is left to the rule's tc filter */

/* One rule against one frame: count, cap, copy. marks: the rule ids whose expression
 * programs accepted the frame. Returns 1 if the copy is left to tc, else 0. */
__noinline int tap_rule(struct __sk_buff *skb, const struct sv_meta *m, __u32 id, __u64 marks,
			int how)
{
	int inner = how & TAP_INNER;
	struct sv_tap_counters *c;
	struct sv_tap_rule *r;

	if (!skb || !m)
		return 0;
	r = bpf_map_lookup_elem(&sv_tap_rules, &id);
	c = bpf_map_lookup_elem(&sv_tap_counters, &id);
	if (!r || !c || !r->target_ifindex)
		return 0;
	if (!!(r->match & SV_TAP_M_VNI) != inner)
		return 0;
	if (inner && m->key.vni != r->vni)
		return 0;
	if ((r->match & SV_TAP_M_EXPR) && (id >= 64 || !((marks >> id) & 1)))
		return 0;
	if (!tap_match(r, m) || !tap_take(r, c, id))
		return 0;
	if (how & TAP_BY_TC)
		return 1;
	if (bpf_clone_redirect(skb, r->target_ifindex, 0))
		c->failed++;
	else
		c->mirrored++;
	return 0;
}

/* The ids of the rules whose copies are left to tc. */
static __always_inline __u64 tap_rules(struct __sk_buff *skb, const struct sv_meta *m,
				       const struct sv_tap_if_rules *rules, int inner, __u64 marks)
{
	__u64 copies = 0;
	__u32 id;
	int i;

	for (i = 0; i < SV_TAP_MAX_PER_IF; i++) {
		if (i >= rules->n)
			break;
		id = rules->ids[i] & (SV_TAP_MAX_RULES - 1);
		if (tap_rule(skb, m, id, marks,
			     inner | ((rules->by_tc >> i) & 1 ? TAP_BY_TC : 0)))
			copies |= 1ull << id;
	}
	return copies;
}

/* The expression programs' marks, taken off the frame before any copy is made. */
static __always_inline __u64 take_marks(struct __sk_buff *skb)
{
	__u64 marks;

	if (skb->cb[2] != SV_TAP_CB_MAGIC_LO || skb->cb[3] != SV_TAP_CB_MAGIC_HI)
		return 0;
	marks = skb->cb[0] | (__u64)skb->cb[1] << 32;
	skb->cb[0] = skb->cb[1] = skb->cb[2] = skb->cb[3] = 0;
	return marks;
}

/* For the tc filters behind: which rules' copies to make, under a magic that names this
 * hook, so a filter never takes what this program left at another hook for its own. */
static __always_inline void put_copies(struct __sk_buff *skb, __u64 copies, __u32 dir)
{
	skb->cb[0] = copies;
	skb->cb[1] = copies >> 32;
	skb->cb[2] = SV_TAP_CB_COPY_LO ^ dir;
	skb->cb[3] = SV_TAP_CB_COPY_HI ^ skb->ifindex ^ sv_tap_salt;
}

/* The parse for the rules' fields, with one pull where the headers are not all linear. */
static __always_inline int tap_parse_pulled(struct __sk_buff *skb, struct sv_meta *m,
					    int inner)
{
	int ret;

	__builtin_memset(m, 0, sizeof(*m));
	ret = tap_parse(skb, m, inner);
	if (ret == SV_PARSE_SHORT &&
	    !bpf_skb_pull_data(skb, skb->len < SV_PULL_LEN ? skb->len : SV_PULL_LEN)) {
		__builtin_memset(m, 0, sizeof(*m));
		ret = tap_parse(skb, m, inner);
	}
	return ret;
}

static __always_inline int tap_handle(struct __sk_buff *skb, __u32 dir)
{
	struct sv_tap_if_key k = { .ifindex = skb->ifindex, .direction = dir };
	struct sv_tap_if_rules *l, rules;
	struct sv_meta m = {};
	__u64 marks = take_marks(skb), copies = 0;
	int ret, inner;

	l = bpf_map_lookup_elem(&sv_tap_ifs, &k);
	if (!l)
		return TC_ACT_UNSPEC;
	/* A copy on the stack: the agent may replace the list meanwhile, and a copy's bounds
	 * are simple for the verifier. */
	rules = *l;
	/* Parse only what the rules read: mirroring everything costs no parsing, and only VNI
	 * rules make the inner frame worth parsing. */
	for (inner = 0; inner < 2; inner++) {
		if (!(rules.flags & (inner ? SV_TAP_IF_INNER : SV_TAP_IF_PLAIN)))
			continue;
		if (inner || (rules.flags & SV_TAP_IF_OUTER)) {
			ret = tap_parse_pulled(skb, &m, inner);
			/* A malformed frame matches on what was read; no inner frame: nothing. */
			if (inner && ret)
				break;
		}
		copies |= tap_rules(skb, &m, &rules, inner, marks);
	}
	put_copies(skb, copies, dir);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int sv_tap_ingress(struct __sk_buff *skb)
{
	return tap_handle(skb, SV_INGRESS);
}

SEC("tc")
int sv_tap_egress(struct __sk_buff *skb)
{
	return tap_handle(skb, SV_EGRESS);
}

/* The classifier of a rule's tc filter, reached by tail call from the filter's own
 * instructions (tapcopy.c, or the rule's expression translated by cbpf.c), which leave the
 * rule id and the hook's direction in cb[4] (SV_TAP_CLS_*). Where the tap program ran at
 * this hook, it decided: copy if it marked the rule. Where it did not (the agent attaches
 * none where every rule's filter can decide alone), the classifier matches, counts and caps
 * the rule itself. Returns -1 (the filter's mirred action runs) or 0 (no copy). */
SEC("tc")
int sv_tap_cls(struct __sk_buff *skb)
{
	__u32 arg = skb->cb[4], id = arg & (SV_TAP_MAX_RULES - 1);
	__u32 dir = (arg >> SV_TAP_CLS_DIR_SHIFT) & 1;
	struct sv_tap_counters *c;
	struct sv_tap_rule *r;
	struct sv_meta m;
	int inner;

	if (skb->cb[2] == (SV_TAP_CB_COPY_LO ^ dir) &&
	    skb->cb[3] == (SV_TAP_CB_COPY_HI ^ skb->ifindex ^ sv_tap_salt))
		return ((skb->cb[0] | (__u64)skb->cb[1] << 32) >> id) & 1 ? -1 : 0;
	r = bpf_map_lookup_elem(&sv_tap_rules, &id);
	c = bpf_map_lookup_elem(&sv_tap_counters, &id);
	/* Not alone here: the tap program decides, and its mark is gone (another program
	 * behind it wrote cb): no copy rather than a second one. */
	if (!r || !c || !r->target_ifindex || !((r->alone >> dir) & 1))
		return 0;
	if ((r->match & SV_TAP_M_EXPR) && !(arg & SV_TAP_CLS_EXPR))
		return 0;
	if (r->match & ~SV_TAP_M_EXPR) {
		inner = !!(r->match & SV_TAP_M_VNI);
		if (tap_parse_pulled(skb, &m, inner) && inner)
			return 0;
		if ((inner && m.key.vni != r->vni) || !tap_match(r, &m))
			return 0;
	}
	return tap_take(r, c, id) ? -1 : 0;
}

/* On the ingress of a truncating veth's far end, where only copies arrive: cut to the
 * snaplen and send out of the real target. These are our copies, so dropping one that
 * cannot be cut is ours to do (and counted). */
SEC("tc")
int sv_tap_trunc(struct __sk_buff *skb)
{
	struct sv_tap_counters *c;
	struct sv_tap_trunc *t;
	__u32 key = skb->ifindex;

	t = bpf_map_lookup_elem(&sv_tap_truncs, &key);
	if (!t)
		return TC_ACT_SHOT;
	key = t->rule_id;
	c = bpf_map_lookup_elem(&sv_tap_counters, &key);
	if (!c)
		return TC_ACT_SHOT;
	if (skb->len > t->snaplen) {
		if (bpf_skb_change_tail(skb, t->snaplen, 0)) {
			c->failed++;
			return TC_ACT_SHOT;
		}
		c->truncated++;
	}
	return bpf_redirect(t->target_ifindex, 0);
}
