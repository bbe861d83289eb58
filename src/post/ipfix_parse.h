/* SPDX-License-Identifier: GPL-2.0 */
/* IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) messages into flow records. No I/O: a message
 * and where it came from go in, templates are remembered, records come out and every
 * problem is counted by reason, so this file can be fuzzed on its own. */
#ifndef SV_IPFIX_PARSE_H
#define SV_IPFIX_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include "ingest.h"

#define SV_IPFIX_MAX_FIELDS 256 /* in one template; real ones have a few dozen */
#define SV_IPFIX_MAX_TEMPLATES 4096 /* held at once, over every exporter */
#define SV_IPFIX_MAX_TEMPLATES_PER_EXPORTER 512 /* of those, by one exporter address */
#define SV_IPFIX_MAX_DOMAINS 4096 /* time bases (systemInitTimeMilliseconds) held */
#define SV_IPFIX_MAX_RECORDS 4096 /* flow records taken from one message */
/* A template or time base unused this long may make room for a new one when its table is
 * full. */
#define SV_IPFIX_STALE_NS (600 * 1000000000LL)

/* What became of a message (one result each). */
enum sv_ipfix_msg {
	SV_IPFIX_MSG_OK, /* read; its flow records (if any) are stored */
	SV_IPFIX_MSG_DUPLICATE, /* stored before: the same datagram again */
	SV_IPFIX_MSG_TRUNCATED, /* shorter than a header, or than its header says */
	SV_IPFIX_MSG_BAD_VERSION, /* neither 9 nor 10 */
	SV_IPFIX_MSG_BAD_LENGTH, /* IPFIX length shorter than the header */
	SV_IPFIX_MSG_BAD_SET, /* a set length below 4 or past the message's end */
	SV_IPFIX_MSG_STORE_ERROR, /* the database refused the batch */
	SV_IPFIX_MSG_NOMEM,
	SV_IPFIX_MSG_NOT_ALLOWED, /* from an address outside --ipfix-allow: not read */
	SV_IPFIX_MSG_N
};

/* Template records. */
enum sv_ipfix_tmpl {
	SV_IPFIX_TMPL_LEARNT, /* a template defined or redefined */
	SV_IPFIX_TMPL_OPTIONS, /* an options template: its records never become flows */
	SV_IPFIX_TMPL_WITHDRAWN, /* IPFIX withdrawals (one per record, also "all") */
	SV_IPFIX_TMPL_BAD, /* fields past the set, zero-length fields, too many fields, ... */
	SV_IPFIX_TMPL_TABLE_FULL, /* no room, none stale, or the exporter's quota: refused */
	SV_IPFIX_TMPL_N
};

/* Data sets. */
enum sv_ipfix_set {
	SV_IPFIX_SET_DATA, /* read */
	SV_IPFIX_SET_OPTIONS, /* options data, read for the exporter's time base only */
	SV_IPFIX_SET_NO_TEMPLATE, /* dropped: its template is not known (yet) */
	SV_IPFIX_SET_BAD_DATA, /* dropped from a record whose variable length runs past the set */
	SV_IPFIX_SET_RESERVED, /* a reserved set id, skipped as the RFCs say */
	SV_IPFIX_SET_N
};

/* Data records. */
enum sv_ipfix_rec {
	SV_IPFIX_REC_STORED, /* flow records stored */
	SV_IPFIX_REC_DUPLICATE, /* flow records of a duplicate message, stored before */
	SV_IPFIX_REC_OPTIONS, /* options records read */
	SV_IPFIX_REC_DROPPED, /* read, but past SV_IPFIX_MAX_RECORDS in their message, or the
			       * database refused them */
	SV_IPFIX_REC_OUT_OF_RANGE, /* dated more than SV_STORE_SKEW_NS ahead of the post's
				    * clock, or older than the retention: not stored */
	SV_IPFIX_REC_N
};

struct sv_ipfix_stats {
	uint64_t msgs[SV_IPFIX_MSG_N];
	uint64_t tmpls[SV_IPFIX_TMPL_N];
	uint64_t sets[SV_IPFIX_SET_N];
	uint64_t recs[SV_IPFIX_REC_N];
	uint64_t socket_drops; /* datagrams the kernel dropped: receive buffer full */
	uint64_t templates, domains; /* held now */
};

/* Label values, as in sitevisor_post_ipfix_messages_total{result="truncated"}. */
extern const char *const sv_ipfix_msg_names[SV_IPFIX_MSG_N];
extern const char *const sv_ipfix_tmpl_names[SV_IPFIX_TMPL_N];
extern const char *const sv_ipfix_set_names[SV_IPFIX_SET_N];
extern const char *const sv_ipfix_rec_names[SV_IPFIX_REC_N];

/* Adds the counters of from into to; the gauges are taken as they are. */
void sv_ipfix_stats_add(struct sv_ipfix_stats *to, const struct sv_ipfix_stats *from);

/* Where a message came from. Templates belong to the exporter's transport session and
 * observation domain (RFC 7011 section 8): address, source port, version and domain. */
struct sv_ipfix_src {
	uint8_t addr[16]; /* IPv6, or IPv4-mapped (::ffff:a.b.c.d) */
	uint16_t port;
};

/* The message header, for the batch id and the logs. */
struct sv_ipfix_hdr {
	unsigned int version; /* 9 or 10 */
	uint32_t export_secs, seq, domain; /* domain: the v9 source id */
};

struct sv_ipfix_cache;

int sv_ipfix_cache_new(struct sv_ipfix_cache **out);
void sv_ipfix_cache_free(struct sv_ipfix_cache *c);

/* Parses one message. Templates update c; the flow records replace b's (b->n, b->recs,
 * growing b->cap); st counts templates, sets and records, and the message's result is returned
 * for the caller to count (storing may still change it). A message whose header or set
 * lengths lie is dropped whole, before any of it is used: templates too. Any result but
 * SV_IPFIX_MSG_OK leaves b->n at 0. now_ns ages templates and stands in for a missing
 * export time. */
enum sv_ipfix_msg sv_ipfix_parse(struct sv_ipfix_cache *c, const struct sv_ipfix_src *src,
				 const uint8_t *msg, size_t len, int64_t now_ns,
				 struct sv_ipfix_hdr *hdr, struct sv_batch *b,
				 struct sv_ipfix_stats *st);

#endif /* SV_IPFIX_PARSE_H */
