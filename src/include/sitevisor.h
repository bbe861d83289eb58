/* SPDX-License-Identifier: GPL-2.0 */
/* Every struct and constant the BPF programs and the userspace agent share. Fixed-width
 * types with explicit padding only, so both compilers lay them out identically. */
#ifndef SITEVISOR_H
#define SITEVISOR_H

#include <linux/types.h>

#define SV_VXLAN_PORT 4789
/* IPv6 extension headers followed before giving up on finding the L4 header. */
#define SV_MAX_EXT_HDRS 6
/* How much of a non-linear skb the parser pulls into the linear area when headers cross. */
#define SV_PULL_LEN 256

enum sv_direction {
	SV_INGRESS = 0,
	SV_EGRESS = 1,
};

/* sv_flow_key.flags */
#define SV_KEY_TUNNEL (1 << 0) /* vni and outer_* are set: the inner packet is the flow */

/*
 * The flow key. Every frame belongs to exactly one key: IP frames by addresses, protocol
 * and ports (ICMP: type and code in the port slots); IP fragments without an L4 header with
 * ports 0; other frames by ethertype and MAC addresses. Addresses are stored as 16 bytes;
 * IPv4 ones as IPv4-mapped IPv6 (::ffff:a.b.c.d).
 */
struct sv_flow_key {
	__u32 ifindex;
	__u8 direction; /* enum sv_direction */
	__u8 ip_version; /* 0 (not IP), 4 or 6 */
	__u8 protocol; /* IP protocol, or the next header where IPv6 parsing stopped */
	__u8 flags; /* SV_KEY_* */
	__u16 eth_type; /* host order; the ethertype after any VLAN tags */
	__u16 src_port; /* host order; ICMP type */
	__u16 dst_port; /* host order; ICMP code */
	__u16 vlan_id; /* outermost 802.1Q/802.1ad VLAN id, 0 if untagged */
	__u16 inner_vlan_id; /* second tag, 0 if none */
	__u16 pad0;
	__u32 vni; /* VXLAN network identifier when SV_KEY_TUNNEL */
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u8 outer_src_addr[16];
	__u8 outer_dst_addr[16];
	__u32 pad1;
} __attribute__((aligned(8))); /* whole 64-bit words: the flow cache hashes and compares them */

/* Per-flow value in the kernel map. packets and bytes count wire frames: a GSO super-packet
 * counts as the segments it leaves as, each with its own headers. */
struct sv_flow_val {
	__u64 packets;
	__u64 bytes;
	__u64 first_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 last_ns;
	__u32 tcp_flags; /* OR of every packet's flags (low 8 bits) */
	__u32 pad0;
};

/* A slot of the per-CPU flow cache in front of the flow map: the flow the slot holds and
 * what it counted since it took the slot. val.packets == 0: an empty slot. */
struct sv_cache_slot {
	struct sv_flow_key key;
	struct sv_flow_val val;
	/* The key's TCP conversation (latency.bpf.h): its hash with bit 0 the side the key
	 * sends from, kept so a segment of a cached flow needs no hash; 0: not known yet. */
	__u64 conv;
};

#define SV_CACHE_SLOTS 1024 /* default slots per CPU (a power of two) */

/* One record on the packet ring buffer (--packets). */
struct sv_pkt_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	struct sv_flow_key key;
	__u32 len; /* wire length of the frame (sum of segments for GSO) */
	__u32 tcp_seq;
	__u16 segs; /* GSO segments this skb stands for, 1 normally */
	__u8 tcp_flags;
	__u8 pad0[5];
};

/*
 * Per-CPU counters (an array indexed by this enum). SV_LOST_* count what could not be
 * recorded, so the agent reports it; nothing is dropped without a count.
 */
enum sv_counter {
	SV_CNT_PACKETS, /* frames seen by the programs */
	SV_CNT_BYTES,
	SV_CNT_MALFORMED, /* frames whose headers were truncated or lied; still counted */
	SV_CNT_PULLED, /* non-linear frames whose headers had to be pulled */
	SV_LOST_FLOW_PACKETS, /* flow map full or update failed */
	SV_LOST_FLOW_BYTES,
	SV_LOST_NO_MAP, /* no active flow map (never expected) */
	SV_CNT_SAMPLED, /* packet events selected by sampling */
	SV_LOST_RINGBUF, /* packet events the ring buffer had no room for */
	SV_CNT_FP, /* trajectory fingerprints selected (--trajectory) */
	SV_LOST_FP_RINGBUF, /* fingerprints the fingerprint ring buffer had no room for */
	/* Issue 17: round trips, retransmissions, DNS (src/bpf/latency.bpf.h). */
	SV_LOST_LAT, /* RTT samples, retransmissions, DNS answers the stats map had no room for */
	SV_LOST_DNS, /* DNS queries the pending-query map had no room for */
	SV_CNT_MAX,
};

/* --- Trajectory sampling (--trajectory, docs/paths.md) ---------------------------------- */

/*
 * One fingerprint on the sv_fps ring buffer: a packet selected by a hash over fields that no
 * hop changes (inner addresses, protocol, IPv4 id or IPv6 flow label, IP payload length,
 * ports, TCP sequence number, the first 8 payload bytes), so every agent on the packet's way
 * selects the same packets and the post joins their sightings by hash. The inner 5-tuple
 * lets the post answer "paths of a flow"; addresses as in sv_flow_key.
 */
struct sv_fp_event {
	__u64 hash;
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 ifindex;
	__u8 direction; /* enum sv_direction */
	__u8 ip_version; /* 4 or 6 */
	__u8 protocol;
	__u8 flags; /* SV_KEY_TUNNEL: seen inside VXLAN */
	__u16 src_port; /* host order; ICMP type */
	__u16 dst_port; /* host order; ICMP code */
	__u32 len; /* wire length at this sighting (outer headers included) */
	__u8 src_addr[16];
	__u8 dst_addr[16];
};

/* --- Round trips, retransmissions, DNS (issue 17, src/bpf/latency.bpf.h) ---------------- */

/*
 * What the latency code adds to a flow in an interval, in its own double-buffered map keyed
 * by the flow key (swapped with the flow maps), so the flow map's value does not grow. The
 * members are named as the record's fields (flowrec.h) that the agent folds them into.
 * Every sample lands on the flow of the packet that completed it: an RTT sample on the
 * packets that answered (SYN-ACK, the handshake's ACK, a TSecr echo), a DNS answer on the
 * answers. So a record's rtt_* is the round trip from this interface to the record's source
 * and back.
 */
struct sv_lat_val {
	__u64 rtt_samples;
	__u64 rtt_sum_ns;
	__u64 rtt_min_ns;
	__u64 rtt_max_ns;
	__u64 retransmits; /* segments (GSO segments each) re-sending sequence space */
	__u64 dns_answers;
	__u64 dns_latency_sum_ns;
	__u64 dns_failures; /* answers whose response code is not NOERROR */
	__u64 dns_unanswered; /* the agent's: queries it aged out (never set by the kernel) */
	__u32 dns_rcode; /* the largest response code among the answers */
	__u32 pad0;
};

/* One side of a TCP conversation on an interface (the sender of the packet). */
struct sv_conv_side {
	__u32 seq_end; /* highest sequence number + length this side sent (SV_SIDE_SEQ) */
	__u32 ts_seen; /* the last TSval this side sent */
	__u32 ts_val; /* the TSval waiting for its echo (when ts_ns) */
	__u32 flags; /* SV_SIDE_* */
	__u64 ts_ns; /* when ts_val was first seen (precise clock); 0: none waiting */
	__u64 hs_ns; /* when this side's SYN (SV_SIDE_SYNACK: SYN-ACK) passed; 0: none */
	__u64 sample_ns; /* the last RTT sample this side's TSval gave (rate limit) */
};

#define SV_SIDE_SEQ (1 << 0) /* seq_end is valid */
#define SV_SIDE_SYNACK (1 << 1) /* hs_ns is a SYN-ACK's: the handshake's ACK answers it */
#define SV_SIDE_FRESH (1 << 2) /* ts_seen is this side's last TSval: none went unseen since */

/* The state of a TCP conversation on one interface, both directions, found by a 64-bit hash
 * of the interface, tunnel, VLAN and the ordered address/port pairs (sv_conv_hash). */
struct sv_conv {
	struct sv_conv_side side[2]; /* 0: the lower (address, port) pair sent */
	__u64 arm_ns; /* when the pure ACKs were armed for a new sample (coarse clock) */
	__u32 seen; /* coarse clock >> 20 when a segment last looked at it (which way to reuse) */
	__u32 pad0;
};

/* A set of the conversation table (an array indexed by bits of the hash): up to
 * SV_CONV_WAYS conversations, the least recently seen one making room for a new one. The
 * tags come first, so a pure ACK with nothing to time reads one cache line. */
#define SV_CONV_WAYS 4
struct sv_conv_set {
	__u64 tag[SV_CONV_WAYS]; /* the hash without bit 0, | SV_TAG_ARMED; 0: an empty way */
	struct sv_conv conv[SV_CONV_WAYS];
};

/* The conversation's pure ACKs are looked at: a round trip waits for one, or a side may
 * take a new timestamp sample. */
#define SV_TAG_ARMED 1ull

/* A DNS query waiting for its answer: the query's flow key and transaction id. */
struct sv_dns_key {
	struct sv_flow_key flow;
	__u16 id;
	__u16 pad0[3];
};

/* --- Filtered capture (sitevisor-agent capture, docs/capture.md) ------------------------ */

/*
 * sitevisor-agent capture: what the capture program sends with each accepted frame (the
 * frame's first caplen bytes follow it in the same perf event). Written by generated eBPF
 * code (src/agent/cbpf.c), so the offsets are part of the contract: keep it 32 bytes.
 */
struct sv_cap_meta {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 ifindex;
	__u32 len; /* skb->len: the frame without a tag the kernel took out (vlan_present) */
	__u32 caplen; /* bytes that follow: min(len, snaplen, the filter's return value) */
	__u16 vlan_tci; /* with vlan_present: the tag to put back after the MAC addresses */
	__u16 vlan_proto; /* network byte order, as __sk_buff has it */
	__u8 vlan_present;
	__u8 dir; /* 0: ingress, 1: egress */
	__u8 pad0[6];
};

/* Per-CPU counters of the capture program (an array indexed by this enum). */
enum sv_cap_counter {
	SV_CAP_SENT, /* accepted and handed to the perf buffer */
	SV_CAP_FILTERED, /* rejected by the filter (including loads past the frame's end) */
	SV_CAP_LOST, /* accepted, but bpf_perf_event_output failed (buffer full) */
	SV_CAP_MAX,
};

/* ---- Virtual TAP (src/bpf/tap.bpf.c, src/agent/tap.c) ----
 * Rules live in an array indexed by rule id; each watched interface and direction has a list
 * of rule ids. The agent writes a rule before any list names it and removes it from the lists
 * before its slot is reused (ids go round, so a slot is not reused at once). */
#define SV_TAP_MAX_RULES 64 /* rule ids 1..63; slot 0 is never used */
#define SV_TAP_MAX_PER_IF 8 /* rules per interface and direction */

/* sv_tap_rule.match: the fields a frame must match (all of them) */
#define SV_TAP_M_SRC (1 << 0) /* src address in src */
#define SV_TAP_M_DST (1 << 1)
#define SV_TAP_M_HOST (1 << 2) /* src or dst address in host */
#define SV_TAP_M_PROTO (1 << 3) /* IP protocol */
#define SV_TAP_M_SPORT (1 << 4) /* ranges, inclusive */
#define SV_TAP_M_DPORT (1 << 5)
#define SV_TAP_M_PORT (1 << 6) /* src or dst port */
#define SV_TAP_M_VNI (1 << 7) /* VXLAN with this VNI: the other fields match the inner frame */
#define SV_TAP_M_IPV (1 << 8) /* ip_version (4 or 6) */
#define SV_TAP_M_IP (1 << 9) /* any IP frame */
#define SV_TAP_M_EXPR (1 << 10) /* a libpcap expression, run by the rule's own program */

/* A rule's expression program (cbpf.c, mark mode) runs before the tap program at the same
 * hook and marks the frames it accepts in __sk_buff.cb: cb[0..1] a bitmap of rule ids,
 * valid only under this 64-bit magic in cb[2..3] (cb holds other layers' leftovers). The tap
 * program takes the marks and clears them. */
#define SV_TAP_CB_MAGIC_LO 0x7a705356u
#define SV_TAP_CB_MAGIC_HI 0x6b72616du

/* Copies made by tc: each rule has a cls_bpf filter with a mirred mirror action per watched
 * hook, in a clsact qdisc behind the tcx programs. mirred clones without making the
 * original's header private, which bpf_clone_redirect must do (a copy of the header of every
 * mirrored frame). Where every rule at a hook has its filter, the agent attaches no tap
 * program there and each filter's classifier (sv_tap_cls) matches, counts and caps its rule
 * alone (sv_tap_rule.alone): one program per frame and rule, as cheap as tc mirred's own
 * classifier. Otherwise the tap program at the hook decides and leaves the rule ids to copy
 * by tc (sv_tap_if_rules.by_tc) in cb[0..1] under this magic in cb[2..3], xor-ed with the
 * direction, the ifindex and a salt of the loaded object, so that what it left at another
 * hook means nothing here; it copies the others with bpf_clone_redirect itself. */
#define SV_TAP_CB_COPY_LO 0x79706f63u
#define SV_TAP_CB_COPY_HI 0x6377745au

/* What a rule's filter tells sv_tap_cls in cb[4]: the rule id (bits 0..5), the direction,
 * and for a rule with an expression, that the expression accepted the frame. */
#define SV_TAP_CLS_DIR_SHIFT 8
#define SV_TAP_CLS_EXPR (1 << 9)

/* A prefix over the 16-byte address form of sv_flow_key (IPv4 as ::ffff:a.b.c.d). */
struct sv_tap_net {
	__u8 addr[16];
	__u8 plen; /* 0..128 */
	__u8 pad[7];
};

struct sv_tap_rule {
	__u32 match; /* SV_TAP_M_* */
	__u32 target_ifindex; /* copies go out of this device (a truncating veth for snaplen) */
	__u32 vni;
	__u8 proto;
	__u8 ip_version;
	__u16 pad0;
	__u16 sport[2], dport[2], port[2];
	__u32 alone; /* bit dir: the rule's filter there decides alone (sv_tap_cls) */
	struct sv_tap_net src, dst, host;
	__u64 rate_pps; /* 0: no cap */
};

/* Per rule, per CPU. matched = mirrored + rate_limited + failed, where failed here is a copy
 * that could not be made; a copy that was made but could not be cut or sent on after the
 * truncating veth also counts as failed (then it is in mirrored too). A copy made by the
 * rule's tc filter is counted by its mirred action, not here (the agent adds the two). */
struct sv_tap_counters {
	__u64 matched;
	__u64 mirrored; /* copies bpf_clone_redirect handed to the target */
	__u64 truncated; /* copies cut to the snaplen */
	__u64 rate_limited; /* matched, not copied: over the rule's rate */
	__u64 failed; /* the copy could not be made or sent on */
};

struct sv_tap_if_key {
	__u32 ifindex;
	__u32 direction; /* enum sv_direction */
};

/* sv_tap_if_rules.flags: which rules the list holds, so a program parses only what they read */
#define SV_TAP_IF_PLAIN (1 << 0) /* a rule without --match-vni */
#define SV_TAP_IF_OUTER (1 << 1) /* one of those matches fields of the frame: parse it */
#define SV_TAP_IF_INNER (1 << 2) /* a rule matches a VXLAN VNI: parse the inner frame */

struct sv_tap_if_rules {
	__u32 n;
	__u32 flags; /* SV_TAP_IF_* */
	__u32 ids[SV_TAP_MAX_PER_IF];
	__u32 by_tc; /* bit i: ids[i]'s copies are made by its tc filter (SV_TAP_CB_COPY_*) */
	__u32 pad;
};

/* The far end of a rule's truncating veth pair: cut copies to snaplen, send them on. */
struct sv_tap_trunc {
	__u32 rule_id;
	__u32 snaplen;
	__u32 target_ifindex;
	__u32 pad;
};

/* --- Kernel drop reasons (--drops, issue 16; src/bpf/drops.bpf.c, src/agent/drops.c) ---- */

/* A dropped packet's flow, keyed as the tc programs key it (the device the kernel freed it
 * on, ingress if it arrived there), and the kernel's reason (enum skb_drop_reason of the
 * running kernel: the agent names it from BTF). */
struct sv_drop_key {
	struct sv_flow_key flow;
	__u32 reason;
	__u32 pad;
};

struct sv_drop_val {
	__u64 packets; /* wire frames freed with the reason (a GSO skb: its segments) */
	__u64 bytes; /* their length from the start of their headers */
	__u64 first_ns; /* CLOCK_MONOTONIC */
	__u64 last_ns;
};

/* Per-CPU counters of the drop program. SV_DROP_LOST_*: the observer's own losses (a full
 * map), never mixed with the site's drops. */
enum sv_drop_counter {
	SV_DROP_CNT_PACKETS, /* drops counted in the drop map */
	SV_DROP_CNT_BYTES,
	SV_DROP_CNT_NOHDR, /* drops whose headers could not be read: counted by reason only */
	SV_DROP_LOST_PACKETS, /* drop map full */
	SV_DROP_LOST_BYTES,
	SV_DROP_CNT_MAX,
};

#endif /* SITEVISOR_H */
