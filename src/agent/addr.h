/* SPDX-License-Identifier: GPL-2.0 */
/* Text forms of the addresses in a flow key, and the flow record's key fields made from the
 * kernel's key: shared by every output format. */
#ifndef SV_ADDR_H
#define SV_ADDR_H

#include <stddef.h>
#include <linux/types.h>
#include "flowrec.h"
#include "sitevisor.h"

#define SV_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */
#define SV_MAC_STRLEN 18

/* A 16-byte key address as text: dotted quad for IPv4-mapped ones, IPv6 otherwise. */
void sv_addr_str(const __u8 addr[16], char *buf, size_t len);
void sv_mac_str(const __u8 mac[6], char *buf);
/* A record's key fields from the kernel's key, seen on the interface named iface; the
 * record's counts are zeroed. ICMP's type and code move from the port slots to their own
 * fields, the ports then 0. */
void sv_rec_set_key(struct sv_rec *r, const struct sv_flow_key *k, const char *iface);

#endif /* SV_ADDR_H */
