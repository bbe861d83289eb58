/* SPDX-License-Identifier: GPL-2.0 */
/* The flow record: the one userspace form of a flow, and its field list. The agent fills it
 * from the kernel's key and counts; the JSON writer, the post's batch parser, the InfluxDB
 * line protocol, IPFIX and the store's columns are all generated from SV_FLOW_FIELDS. */
#ifndef SV_FLOWREC_H
#define SV_FLOWREC_H

#include <stdint.h>

#define SV_BOX_MAX 128
#define SV_IFNAME_MAX 16
#define SV_ADDR_MAX 46
#define SV_MAC_MAX 18
#define SV_REASON_MAX 8
#define SV_DROP_REASONS_MAX 8 /* reasons a record names; drops counts them all */
#define SV_DROP_NAME_MAX 40 /* enum skb_drop_reason names without SKB_DROP_REASON_ */

/* The DROPS kind: a record's drops by the kernel's reason, in the order first seen. */
struct sv_drop_reasons {
	unsigned int n;
	struct {
		char name[SV_DROP_NAME_MAX];
		uint64_t packets;
	} r[SV_DROP_REASONS_MAX];
};

/*
 * Every field of a flow record, in the order of the JSON record and of the store's columns.
 * One name everywhere: the C member, the JSON key, the store column and the line protocol
 * key are the field's name. Adding a field is one line here (docs/architecture.md, "Adding
 * a flow field"); the writers, the parser and the store follow.
 *
 * X(name, kind, part, when, ipfix, lp, agg):
 *   kind  the C type, JSON form, range checked on ingest and store column (kinds below);
 *   part  KEY: the flow's identity, also in packet events; VAL: what the interval counted;
 *   when  whether a record has the field, an expression over r (the record), for the JSON
 *         record and the line protocol; an empty text field that JSON has is null;
 *   ipfix IPFIX(id): an IANA element sent after the fixed fields, encoded by kind;
 *         IPFIX_ENT(id): the same as an enterprise-specific element (SV_IPFIX_PEN);
 *         IPFIX_HAND(id): placed by ipfix_msg.c's templates (one field, several elements
 *         or none: addresses by version, the interface by direction); NO_IPFIX;
 *   lp    InfluxDB sitevisor_flow: LP_TAG (part of the series, written by lineproto.c),
 *         LP_PAIR (the addresses: both or neither), LP_FIELD(n): a field at position n
 *         (1, 2, ...; a new field takes the next), or LP_NONE;
 *   agg   how the agent folds the kernel's sv_flow_val member of the same name into the
 *         pending record: SUM, OR, FIRST (smallest timestamp), LAST (largest), or NOAGG
 *         (not a kernel count); LAT_*: the member of the kernel's struct sv_lat_val
 *         instead, LAT_SUM, LAT_MIN and LAT_MAX (of the samples), LAT_RCODE (the largest,
 *         -1 without answers).
 */
#define SV_FLOW_FIELDS(X)                                                                        \
	X(iface, IFACE, KEY, 1, IPFIX_HAND(10), LP_TAG, NOAGG)                                  \
	X(direction, DIR, KEY, 1, IPFIX_HAND(61), LP_TAG, NOAGG)                                \
	X(eth_type, U16, KEY, 1, IPFIX_HAND(256), LP_NONE, NOAGG)                               \
	X(ip_version, IPVER, KEY, 1, NO_IPFIX, LP_TAG, NOAGG)                                   \
	X(protocol, U8, KEY, 1, IPFIX_HAND(4), LP_TAG, NOAGG)                                   \
	X(src_addr, ADDR, KEY, 1, IPFIX_HAND(8), LP_PAIR, NOAGG)                                \
	X(dst_addr, ADDR, KEY, 1, IPFIX_HAND(12), LP_PAIR, NOAGG)                               \
	X(src_port, U16, KEY, 1, IPFIX_HAND(7), LP_FIELD(1), NOAGG)                             \
	X(dst_port, U16, KEY, 1, IPFIX_HAND(11), LP_FIELD(2), NOAGG)                            \
	X(icmp_type, OPT8, KEY, r->icmp_type >= 0, IPFIX_HAND(32), LP_NONE, NOAGG)              \
	X(icmp_code, OPT8, KEY, r->icmp_type >= 0, IPFIX_HAND(32), LP_NONE, NOAGG)              \
	X(vlan, VLAN, KEY, r->vlan, IPFIX_HAND(58), LP_NONE, NOAGG)                             \
	X(inner_vlan, VLAN, KEY, r->inner_vlan, IPFIX_HAND(245), LP_NONE, NOAGG)                \
	X(vni, VNI, KEY, r->vni >= 0, IPFIX_HAND(351), LP_FIELD(6), NOAGG)                      \
	X(outer_src_addr, ADDR, KEY, r->vni >= 0, NO_IPFIX, LP_NONE, NOAGG)                     \
	X(outer_dst_addr, ADDR, KEY, r->vni >= 0, NO_IPFIX, LP_NONE, NOAGG)                     \
	X(src_mac, MAC, KEY, 1, IPFIX_HAND(56), LP_NONE, NOAGG)                                 \
	X(dst_mac, MAC, KEY, 1, IPFIX_HAND(80), LP_NONE, NOAGG)                                 \
	X(packets, COUNT, VAL, 1, IPFIX_HAND(2), LP_FIELD(3), SUM)                              \
	X(bytes, COUNT, VAL, 1, IPFIX_HAND(1), LP_FIELD(4), SUM)                                \
	X(tcp_flags, U16, VAL, 1, IPFIX_HAND(6), LP_FIELD(5), OR)                               \
	X(first_ns, NS, VAL, 1, IPFIX_HAND(152), LP_FIELD(7), FIRST)                            \
	X(last_ns, NS, VAL, 1, IPFIX_HAND(153), LP_NONE, LAST)                                  \
	X(end_reason, REASON, VAL, 1, IPFIX_HAND(136), LP_NONE, NOAGG)                          \
	/* Issue 17: how long it took; from the kernel's struct sv_lat_val (README). */         \
	X(rtt_samples, COUNT, VAL, r->rtt_samples, IPFIX_ENT(1), LP_FIELD(8), LAT_SUM)          \
	X(rtt_min_ns, COUNT, VAL, r->rtt_samples, IPFIX_ENT(2), LP_FIELD(9), LAT_MIN)           \
	X(rtt_max_ns, COUNT, VAL, r->rtt_samples, IPFIX_ENT(3), LP_FIELD(10), LAT_MAX)          \
	X(rtt_sum_ns, COUNT, VAL, r->rtt_samples, IPFIX_ENT(4), LP_FIELD(11), LAT_SUM)          \
	X(retransmits, COUNT, VAL, SV_REC_TCP(r), IPFIX_ENT(5), LP_FIELD(12), LAT_SUM)          \
	X(dns_answers, COUNT, VAL, SV_REC_DNS(r), IPFIX_ENT(6), LP_FIELD(13), LAT_SUM)          \
	X(dns_latency_sum_ns, COUNT, VAL, SV_REC_DNS(r), IPFIX_ENT(7), LP_FIELD(14), LAT_SUM)   \
	X(dns_rcode, OPT8, VAL, r->dns_answers, IPFIX_ENT(8), LP_FIELD(15), LAT_RCODE)          \
	X(dns_failures, COUNT, VAL, SV_REC_DNS(r), IPFIX_ENT(9), LP_FIELD(16), LAT_SUM)         \
	X(dns_unanswered, COUNT, VAL, SV_REC_DNS(r), IPFIX_ENT(10), LP_FIELD(17), LAT_SUM)      \
	/* issue 16: the kernel's drops of the flow in the interval (--drops), by flowtab.c */  \
	X(drops, COUNT, VAL, r->drops, IPFIX(133), LP_FIELD(18), NOAGG)                         \
	X(drop_bytes, COUNT, VAL, r->drops, IPFIX(132), LP_FIELD(19), NOAGG)                    \
	X(drop_reasons, DROPS, VAL, r->drops, NO_IPFIX, LP_NONE, NOAGG)

/* TCP records carry retransmits (0 too); another record only a count someone gave it. */
#define SV_REC_TCP(r) ((r)->protocol == 6 || (r)->retransmits)
/* A record with DNS results: answers, or queries that never got one. */
#define SV_REC_DNS(r) ((r)->dns_answers || (r)->dns_unanswered)

/*
 * The kinds. SV_CT_* is the member's C type (and array size), SV_SQL_* the store column.
 *   IFACE  an interface name                        TEXT
 *   DIR    0 ingress, 1 egress; JSON "ingress"/"egress"  INTEGER
 *   U8     0..255                                   INTEGER
 *   U16    0..65535                                 INTEGER
 *   IPVER  0 (not IP), 4 or 6                       INTEGER
 *   OPT8   0..255, -1: absent (NULL in the store)   INTEGER
 *   VLAN   1..4095, 0: untagged (NULL)              INTEGER
 *   VNI    0..2^24-1, -1: not tunnelled (NULL)      INTEGER
 *   ADDR   an IP address in canonical text, "": none (JSON null, NULL)  TEXT
 *   MAC    aa:bb:cc:dd:ee:ff, "": none              TEXT
 *   COUNT  a count, 0..2^63-1                       INTEGER
 *   NS     wall-clock ns since the epoch, 0..2^63-1  INTEGER
 *   REASON why the record was emitted (sv_end_reason_str), "": not said  TEXT
 *   DROPS  kernel drop reason name -> packets, up to SV_DROP_REASONS_MAX; JSON an object
 *          {"NETFILTER_DROP":3}, the store's column that object as text  TEXT
 */
#define SV_CT_IFACE(n) char n[SV_IFNAME_MAX]
#define SV_CT_DIR(n) int n
#define SV_CT_U8(n) unsigned int n
#define SV_CT_U16(n) unsigned int n
#define SV_CT_IPVER(n) unsigned int n
#define SV_CT_OPT8(n) int n
#define SV_CT_VLAN(n) int n
#define SV_CT_VNI(n) int64_t n
#define SV_CT_ADDR(n) char n[SV_ADDR_MAX]
#define SV_CT_MAC(n) char n[SV_MAC_MAX]
#define SV_CT_COUNT(n) uint64_t n
#define SV_CT_NS(n) uint64_t n
#define SV_CT_REASON(n) char n[SV_REASON_MAX]
#define SV_CT_DROPS(n) struct sv_drop_reasons n

#define SV_SQL_IFACE "TEXT"
#define SV_SQL_DIR "INTEGER"
#define SV_SQL_U8 "INTEGER"
#define SV_SQL_U16 "INTEGER"
#define SV_SQL_IPVER "INTEGER"
#define SV_SQL_OPT8 "INTEGER"
#define SV_SQL_VLAN "INTEGER"
#define SV_SQL_VNI "INTEGER"
#define SV_SQL_ADDR "TEXT"
#define SV_SQL_MAC "TEXT"
#define SV_SQL_COUNT "INTEGER"
#define SV_SQL_NS "INTEGER"
#define SV_SQL_REASON "TEXT"
#define SV_SQL_DROPS "TEXT"

/* The ClickHouse column per kind (store/clickhouse): absent values are stored as the record's
 * own absent values (-1, 0, ""), not as Nullable, which costs ClickHouse a column more. */
#define SV_CH_IFACE "String"
#define SV_CH_DIR "UInt8"
#define SV_CH_U8 "UInt8"
#define SV_CH_U16 "UInt16"
#define SV_CH_IPVER "UInt8"
#define SV_CH_OPT8 "Int16"
#define SV_CH_VLAN "UInt16"
#define SV_CH_VNI "Int32"
#define SV_CH_ADDR "String"
#define SV_CH_MAC "String"
#define SV_CH_COUNT "UInt64"
#define SV_CH_NS "UInt64"
#define SV_CH_REASON "String"
#define SV_CH_DROPS "String" /* the JSON object, "" for none */

/* The values of the ipfix and lp columns. */
#define IPFIX(id) (id)
#define IPFIX_HAND(id) (-(id))
#define IPFIX_ENT(id) ((id) | 0x8000)
/* The default enterprise of IPFIX_ENT elements (--ipfix-pen): 32473, reserved for
 * documentation (RFC 5612), as sitevisor has no number of its own (docs/exits/ipfix.md). */
#define SV_IPFIX_PEN 32473
#define NO_IPFIX 0
#define LP_NONE 0
#define LP_TAG (-1)
#define LP_PAIR (-2)
#define LP_FIELD(n) (n)

#define SV_REC_MEMBER(name, kind, part, when, ipfix, lp, agg) SV_CT_##kind(name);

struct sv_rec {
	SV_FLOW_FIELDS(SV_REC_MEMBER)
};

#define SV_REC_COUNT_ONE(name, kind, part, when, ipfix, lp, agg) +1
#define SV_REC_LP_ONE(name, kind, part, when, ipfix, lp, agg) +((lp) > 0)
enum {
	SV_REC_NFIELDS = 0 SV_FLOW_FIELDS(SV_REC_COUNT_ONE),
	SV_REC_NLP = 0 SV_FLOW_FIELDS(SV_REC_LP_ONE), /* line protocol fields by position */
};

/* Which parts a writer takes. */
#define SV_PART_KEY 1
#define SV_PART_VAL 2
#define SV_PART_ALL 3

/* Why a record was emitted; the values are IPFIX flowEndReason (RFC 7011 IE 136). */
enum sv_end_reason {
	SV_END_IDLE = 1,
	SV_END_ACTIVE = 2,
	SV_END_FLOW = 3, /* TCP FIN or RST seen */
	SV_END_FORCED = 4, /* the agent is stopping */
};

/* idle, active, end, forced; "unknown" for another value. */
const char *sv_end_reason_str(enum sv_end_reason r);
/* The flowEndReason of a record's end_reason text; 0 if it has none. */
unsigned int sv_end_reason_num(const char *s);

/* A record with nothing in it: absent fields at their absent values. */
void sv_rec_init(struct sv_rec *r);

struct sb;
struct jr;
/* Adds packets to a reason of v, a new entry if it is not there; 0, or -ENOSPC when v is full
 * (the packets are then in the record's drops only). */
int sv_drop_reasons_add(struct sv_drop_reasons *v, const char *name, uint64_t packets);
/* v as a JSON object, {} when empty. */
void sv_drop_reasons_json(struct sb *s, const struct sv_drop_reasons *v);
/* A JSON object of name -> count into v (from zero); 0 or -EINVAL, *why says. */
int sv_drop_reasons_read(struct jr *j, struct sv_drop_reasons *v, const char **why);
/* The same from text (the store's column); 0 or -EINVAL. */
int sv_drop_reasons_parse(const char *text, struct sv_drop_reasons *v);
/* A JSON array of drop_reasons objects (a flow's records, as a store groups them) summed into v. */
void sv_drop_reasons_sum(const char *text, struct sv_drop_reasons *v);

/* The record's fields of the given parts (SV_PART_*) as JSON members, each with a leading
 * comma: ,"iface":"eth0",...; the caller writes the braces and what comes first. */
void sv_rec_json(struct sb *s, const struct sv_rec *r, int parts);

#endif /* SV_FLOWREC_H */
