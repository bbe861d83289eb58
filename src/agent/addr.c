// SPDX-License-Identifier: GPL-2.0
/* Text forms of flow-key addresses; see addr.h. */
#include <arpa/inet.h>
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
