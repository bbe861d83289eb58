// SPDX-License-Identifier: GPL-2.0
/* rtnetlink requests for the TAP's own devices (rtnl.c). */
#include "tap_int.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include "rtnl.h"

static void link_req(struct sv_nlreq *r, unsigned short type, unsigned short flags)
{
	struct ifinfomsg *ifi = sv_nl_start(r, type, flags, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
}

/* IPv6 off before the device goes up: no router solicitations or MLD reports on it, which
 * would reach the monitor as if they were mirrored traffic. */
static int no_ipv6(const char *name)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	f = fopen(path, "w");
	if (!f)
		return errno == ENOENT ? 0 : -errno; /* no IPv6 in this kernel: nothing to stop */
	fputs("1", f);
	return fclose(f) ? -errno : 0;
}

static int link_up(const char *name)
{
	struct sv_nlreq r;
	struct ifinfomsg *ifi;
	int idx = if_nametoindex(name), err;

	if (!idx)
		return -errno;
	err = no_ipv6(name);
	if (err)
		return err;
	link_req(&r, RTM_NEWLINK, 0);
	ifi = NLMSG_DATA(&r.h);
	ifi->ifi_index = idx;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	err = sv_nl_talk(&r, NULL, 0);
	return err ? err : idx;
}

int sv_tapdev_del(int ifindex)
{
	struct sv_nlreq r;
	struct ifinfomsg *ifi;

	link_req(&r, RTM_DELLINK, 0);
	ifi = NLMSG_DATA(&r.h);
	ifi->ifi_index = ifindex;
	return sv_nl_talk(&r, NULL, 0);
}

int sv_tapdev_vxlan(const char *name, const struct sockaddr_storage *remote, unsigned int port,
		    unsigned int vni)
{
	struct rtattr *li, *data;
	struct sv_nlreq r;
	__u16 p = htons(port);
	__u8 learn = 0;
	int err, idx;

	link_req(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	sv_nl_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
	li = sv_nl_attr(&r, IFLA_LINKINFO, NULL, 0);
	sv_nl_attr(&r, IFLA_INFO_KIND, "vxlan", 6);
	data = sv_nl_attr(&r, IFLA_INFO_DATA, NULL, 0);
	sv_nl_attr(&r, IFLA_VXLAN_ID, &vni, 4);
	if (remote->ss_family == AF_INET)
		sv_nl_attr(&r, IFLA_VXLAN_GROUP, &((struct sockaddr_in *)remote)->sin_addr, 4);
	else
		sv_nl_attr(&r, IFLA_VXLAN_GROUP6, &((struct sockaddr_in6 *)remote)->sin6_addr, 16);
	sv_nl_attr(&r, IFLA_VXLAN_PORT, &p, 2);
	sv_nl_attr(&r, IFLA_VXLAN_LEARNING, &learn, 1);
	sv_nl_end(&r, data);
	sv_nl_end(&r, li);
	err = sv_nl_talk(&r, NULL, 0);
	if (err)
		return err;
	idx = link_up(name);
	if (idx < 0) {
		err = idx;
		idx = if_nametoindex(name);
		if (idx)
			sv_tapdev_del(idx);
		return err;
	}
	return idx;
}

int sv_tapdev_veth(const char *a, const char *b)
{
	struct rtattr *li, *data, *peer;
	struct ifinfomsg peer_ifi = { .ifi_family = AF_UNSPEC };
	struct sv_nlreq r;
	int err, idx;

	link_req(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	sv_nl_attr(&r, IFLA_IFNAME, a, strlen(a) + 1);
	li = sv_nl_attr(&r, IFLA_LINKINFO, NULL, 0);
	sv_nl_attr(&r, IFLA_INFO_KIND, "veth", 5);
	data = sv_nl_attr(&r, IFLA_INFO_DATA, NULL, 0);
	peer = sv_nl_attr(&r, VETH_INFO_PEER, &peer_ifi, sizeof(peer_ifi));
	sv_nl_attr(&r, IFLA_IFNAME, b, strlen(b) + 1);
	sv_nl_end(&r, peer);
	sv_nl_end(&r, data);
	sv_nl_end(&r, li);
	err = sv_nl_talk(&r, NULL, 0);
	if (err)
		return err;
	err = link_up(a);
	if (err >= 0)
		err = link_up(b);
	if (err < 0) {
		idx = if_nametoindex(a);
		if (idx)
			sv_tapdev_del(idx);
		return err;
	}
	return 0;
}

int sv_tapdev_kind(int ifindex, char *kind, size_t size)
{
	struct {
		struct nlmsghdr h;
		char buf[8192];
	} reply;
	struct ifinfomsg *ifi;
	struct rtattr *a, *b;
	struct sv_nlreq r;
	int len, blen, err;

	link_req(&r, RTM_GETLINK, 0);
	ifi = NLMSG_DATA(&r.h);
	ifi->ifi_index = ifindex;
	memset(&reply, 0, sizeof(reply));
	err = sv_nl_talk(&r, &reply, sizeof(reply));
	if (err)
		return err;
	if (reply.h.nlmsg_type != RTM_NEWLINK)
		return -ENODEV;
	kind[0] = 0;
	len = IFLA_PAYLOAD(&reply.h);
	for (a = IFLA_RTA(NLMSG_DATA(&reply.h)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != IFLA_LINKINFO)
			continue;
		blen = RTA_PAYLOAD(a);
		for (b = RTA_DATA(a); RTA_OK(b, blen); b = RTA_NEXT(b, blen))
			if (b->rta_type == IFLA_INFO_KIND)
				snprintf(kind, size, "%.*s", (int)RTA_PAYLOAD(b),
					 (char *)RTA_DATA(b));
	}
	return 0;
}

int sv_tapdev_route_oif(const struct sockaddr_storage *dst)
{
	struct {
		struct nlmsghdr h;
		char buf[4096];
	} reply;
	struct sv_nlreq r;
	struct rtmsg *rtm;
	struct rtattr *a;
	int v4 = dst->ss_family == AF_INET, len, err;

	rtm = sv_nl_start(&r, RTM_GETROUTE, 0, sizeof(*rtm));
	rtm->rtm_family = dst->ss_family;
	rtm->rtm_dst_len = v4 ? 32 : 128;
	if (v4)
		sv_nl_attr(&r, RTA_DST, &((struct sockaddr_in *)dst)->sin_addr, 4);
	else
		sv_nl_attr(&r, RTA_DST, &((struct sockaddr_in6 *)dst)->sin6_addr, 16);
	memset(&reply, 0, sizeof(reply));
	err = sv_nl_talk(&r, &reply, sizeof(reply));
	if (err)
		return err;
	if (reply.h.nlmsg_type != RTM_NEWROUTE)
		return -ENETUNREACH;
	rtm = NLMSG_DATA(&reply.h);
	len = RTM_PAYLOAD(&reply.h);
	for (a = RTM_RTA(rtm); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == RTA_OIF)
			return *(int *)RTA_DATA(a);
	return -ENETUNREACH;
}
