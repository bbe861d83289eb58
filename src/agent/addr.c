// SPDX-License-Identifier: GPL-2.0
/* Text forms of flow-key addresses, and records' key fields; see addr.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include "addr.h"

static const __u8 v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void sv_addr_str(const __u8 addr[16], char *buf, size_t len)
{
	if (!memcmp(addr, v4_mapped, sizeof(v4_mapped)))
		inet_ntop(AF_INET, addr + 12, buf, len);
	else
		inet_ntop(AF_INET6, addr, buf, len);
}

void sv_mac_str(const __u8 m[6], char *buf)
{
	snprintf(buf, SV_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
		 m[4], m[5]);
}

static int is_icmp(const struct sv_flow_key *k)
{
	return (k->ip_version == 4 && k->protocol == IPPROTO_ICMP) ||
	       (k->ip_version == 6 && k->protocol == IPPROTO_ICMPV6);
}

void sv_rec_set_key(struct sv_rec *r, const struct sv_flow_key *k, const char *iface)
{
	sv_rec_init(r);
	snprintf(r->iface, sizeof(r->iface), "%s", iface);
	r->direction = k->direction == SV_EGRESS;
	r->eth_type = k->eth_type;
	r->ip_version = k->ip_version;
	r->protocol = k->protocol;
	if (k->ip_version) {
		sv_addr_str(k->src_addr, r->src_addr, sizeof(r->src_addr));
		sv_addr_str(k->dst_addr, r->dst_addr, sizeof(r->dst_addr));
	}
	if (is_icmp(k)) {
		r->icmp_type = k->src_port;
		r->icmp_code = k->dst_port;
	} else {
		r->src_port = k->src_port;
		r->dst_port = k->dst_port;
	}
	r->vlan = k->vlan_id;
	r->inner_vlan = k->inner_vlan_id;
	if (k->flags & SV_KEY_TUNNEL) {
		r->vni = k->vni;
		sv_addr_str(k->outer_src_addr, r->outer_src_addr, sizeof(r->outer_src_addr));
		sv_addr_str(k->outer_dst_addr, r->outer_dst_addr, sizeof(r->outer_dst_addr));
	}
	sv_mac_str(k->src_mac, r->src_mac);
	sv_mac_str(k->dst_mac, r->dst_mac);
}
