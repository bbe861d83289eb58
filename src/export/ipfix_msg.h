/* SPDX-License-Identifier: GPL-2.0 */
/* IPFIX (RFC 7011) messages built from flow records: the templates, the data records and
 * the framing. No sockets here; ipfix.c sends what this builds. */
#ifndef SV_IPFIX_MSG_H
#define SV_IPFIX_MSG_H

#include <stddef.h>
#include <linux/types.h>
#include "flowrec.h"
#include "sitevisor.h"

#define SV_IPFIX_VERSION 10
#define SV_IPFIX_HDR_LEN 16
#define SV_IPFIX_SET_HDR_LEN 4
#define SV_IPFIX_TEMPLATE_SET 2

/* One template per kind of record; the template id is SV_IPFIX_TMPL_BASE + this. */
enum sv_ipfix_tmpl {
	SV_TMPL_IP4,
	SV_TMPL_IP6,
	SV_TMPL_L2, /* not IP: keyed by ethertype and MAC addresses */
	SV_TMPL_IP4_VXLAN, /* the same three with the VNI (layer2SegmentId) */
	SV_TMPL_IP6_VXLAN,
	SV_TMPL_L2_VXLAN,
	SV_TMPL_MAX,
};
#define SV_IPFIX_TMPL_BASE 256

/* A message being built in a caller's buffer of cap bytes (the message size limit). */
struct sv_ipfix_msg {
	__u8 *buf;
	size_t cap;
	size_t len;
	size_t set_off; /* where the open set's header is; 0: no set open */
	unsigned int set_id; /* the open set's id */
	unsigned int records; /* data records in the message */
	int templates; /* the message carries the template set */
	__u32 pen; /* enterprise of the IPFIX_ENT elements; sv_ipfix_msg_begin: SV_IPFIX_PEN */
};

/* Bytes of the template set (with its header) and of the largest data record. */
size_t sv_ipfix_templates_len(void);
/* Bytes of one template record (without a set header). */
size_t sv_ipfix_template_len(enum sv_ipfix_tmpl t);
size_t sv_ipfix_record_max(void);
/* Fields in a template, and the record length it describes: the fixed fields of its kind,
 * then the record's fields marked IPFIX(id) in flowrec.h, the same in every template. */
unsigned int sv_ipfix_tmpl_fields(enum sv_ipfix_tmpl t);
size_t sv_ipfix_record_len(enum sv_ipfix_tmpl t);
/* Whether a template carries the element id (the check of flowrec.h's IPFIX_HAND ids). */
int sv_ipfix_tmpl_has(enum sv_ipfix_tmpl t, unsigned int id);
/* Which template a record goes out with. */
enum sv_ipfix_tmpl sv_ipfix_tmpl_of(const struct sv_flow_key *k);

void sv_ipfix_msg_begin(struct sv_ipfix_msg *m, __u8 *buf, size_t cap);
/* Each returns -ENOSPC, leaving the message as it was, when it would pass cap. */
int sv_ipfix_msg_add_templates(struct sv_ipfix_msg *m);
/* One template in a set of its own, for an mtu too small for all of them together. */
int sv_ipfix_msg_add_template(struct sv_ipfix_msg *m, enum sv_ipfix_tmpl t);
/* A record, its addresses, MACs and interface from the kernel's key k it was made from. */
int sv_ipfix_msg_add_record(struct sv_ipfix_msg *m, const struct sv_flow_key *k,
			    const struct sv_rec *r);
/* Closes the open set and writes the header; returns the message's length. */
size_t sv_ipfix_msg_finish(struct sv_ipfix_msg *m, __u32 export_time, __u32 seq,
			   __u32 domain);

#endif /* SV_IPFIX_MSG_H */
