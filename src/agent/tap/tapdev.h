/* SPDX-License-Identifier: GPL-2.0 */
/* The devices the virtual TAP makes for itself over rtnetlink: VXLAN devices towards remote
 * monitors and veth pairs that cut copies to a snaplen. */
#ifndef SV_TAPDEV_H
#define SV_TAPDEV_H

#include <stddef.h>
#include <sys/socket.h>

/* A VXLAN device NAME sending to remote:port with VNI, its source address and underlay chosen
 * by the route; IPv6 off (no chatter to the monitor), up. Returns the ifindex or -errno. */
int sv_tapdev_vxlan(const char *name, const struct sockaddr_storage *remote, unsigned int port,
		    unsigned int vni);
/* A veth pair A-B, both up with IPv6 off. Returns 0 or -errno. */
int sv_tapdev_veth(const char *a, const char *b);
/* Deletes a device we made (a veth pair goes with either end). */
int sv_tapdev_del(int ifindex);
/* The kind of a device ("bridge", "veth", ...; "" for a physical one) into kind. 0 or -errno. */
int sv_tapdev_kind(int ifindex, char *kind, size_t size);
/* The interface the route to an address leaves by, or -errno. */
int sv_tapdev_route_oif(const struct sockaddr_storage *dst);

#endif /* SV_TAPDEV_H */
