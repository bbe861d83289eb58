/* SPDX-License-Identifier: GPL-2.0 */
/* Small rtnetlink requests: one request per socket, acknowledged, so a failure is the
 * kernel's errno for exactly that request. Used for the TAP's devices and tc filters. */
#ifndef SV_RTNL_H
#define SV_RTNL_H

#include <stddef.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

struct sv_nlreq {
	struct nlmsghdr h;
	char buf[1024];
};

/* Starts r as a message of type with a zeroed family header of hdr bytes; returns it. */
void *sv_nl_start(struct sv_nlreq *r, unsigned short type, unsigned short flags, size_t hdr);
/* Appends an attribute; a nest is an attribute of no data closed by sv_nl_end. */
struct rtattr *sv_nl_attr(struct sv_nlreq *r, unsigned short type, const void *data,
			  unsigned short len);
void sv_nl_end(struct sv_nlreq *r, struct rtattr *nest);
/* Sends r; with reply, copies the first answer there. 0 or -errno. */
int sv_nl_talk(struct sv_nlreq *r, void *reply, size_t size);
/* Sends the dump request r and calls fn for each answer until fn returns non-zero or the
 * dump ends. 0, fn's value, or -errno. */
int sv_nl_dump(struct sv_nlreq *r, int (*fn)(const struct nlmsghdr *h, void *arg), void *arg);
/* The attribute of type in the attributes at a (len bytes), or NULL. */
const struct rtattr *sv_nl_find(const struct rtattr *a, int len, unsigned short type);

#endif /* SV_RTNL_H */
