/* SPDX-License-Identifier: GPL-2.0 */
/* Which interfaces are traced: attach at start, follow interfaces that come and go (rtnetlink),
 * detach on exit. Only what this agent attached is ever removed. */
#ifndef SV_IFACE_H
#define SV_IFACE_H

#include <net/if.h>

enum sv_attach_mode {
	SV_ATTACH_AUTO, /* tcx links where the kernel has them, clsact otherwise */
	SV_ATTACH_TCX,
	SV_ATTACH_TC,
};

struct sv_iface {
	int ifindex;
	char name[IF_NAMESIZE];
	int attached;
	int l3; /* no Ethernet header: the l3 programs */
	int link_fd[2]; /* tcx links, ingress and egress */
	int tc_attached; /* clsact filters of ours are in place */
	int tc_created; /* we created the clsact qdisc, so we remove it */
	unsigned int tc_handle, tc_prio; /* of our clsact filters (from sv_ifaces) */
	struct sv_iface *next;
};

struct sv_ifaces {
	struct sv_iface *list;
	char **names; /* -i names; NULL: every interface that is up, except loopback */
	int n_names;
	enum sv_attach_mode mode;
	int prog_fd[2][2]; /* [l3][direction] */
	int nl_fd;
	int dump_pending;
	/* clsact mode: our filters' handle and priority, and the name prefix of our programs
	 * (stale filters at that handle whose program has it are removed). 0 / NULL: the flow
	 * agent's. Other users (capture) take their own, so neither removes the other's. */
	unsigned int tc_handle, tc_prio;
	const char *prog_prefix;
};

/* Opens the rtnetlink socket, lists the interfaces and attaches to the chosen ones. With
 * names given, every name must exist and attach, or this fails. */
int sv_ifaces_start(struct sv_ifaces *m);
/* Handles whatever is readable on m->nl_fd: interfaces that appeared, changed or vanished. */
int sv_ifaces_poll(struct sv_ifaces *m);
/* Detaches everything this agent attached; names stay known for the last records. */
void sv_ifaces_stop(struct sv_ifaces *m);
void sv_ifaces_free(struct sv_ifaces *m);
/* Name of an interface we traced, even after it vanished; NULL if never seen. */
const char *sv_ifaces_name(const struct sv_ifaces *m, int ifindex);
/* The name, or "if" and the index for an interface not (or no longer) known: into buf. */
const char *sv_ifaces_label(const struct sv_ifaces *m, int ifindex, char buf[IF_NAMESIZE]);
int sv_ifaces_count(const struct sv_ifaces *m);

/* Appends an interface name given with -i (kept, not copied): one line and -EINVAL for a
 * name that cannot be one or past SV_MAX_IFNAMES; -ENOMEM. */
#define SV_MAX_IFNAMES 64
int sv_ifnames_add(char ***names, int *n, char *name);

#endif /* SV_IFACE_H */
