/* SPDX-License-Identifier: GPL-2.0 */
/* Text forms of the addresses in a flow key, shared by every output format. */
#ifndef SV_ADDR_H
#define SV_ADDR_H

#include <stddef.h>
#include <linux/types.h>

#define SV_ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */
#define SV_MAC_STRLEN 18

/* A 16-byte key address as text: dotted quad for IPv4-mapped ones, IPv6 otherwise. */
void sv_addr_str(const __u8 addr[16], char *buf, size_t len);
void sv_mac_str(const __u8 mac[6], char *buf);

#endif /* SV_ADDR_H */
