// SPDX-License-Identifier: GPL-2.0
/* Attaching the tracing programs to interfaces and following interfaces as they come and go.
 *
 * tcx links (Linux 6.6+) are preferred: they stack with other programs without touching
 * qdiscs, and they vanish with the agent, so even a SIGKILLed agent leaves nothing attached.
 * On older kernels the programs go into a clsact qdisc as filters with our own handle; a
 * start finds filters a killed agent left (by handle, priority and program name) and removes
 * them. Programs go first in line, so they see every packet before anything can drop it. */
/* net/if.h (via iface.h) before the linux/ headers, which then skip their copies. */
#include "iface.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/socket.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "log.h"

#include "tcx.h"
#define SV_TC_HANDLE 0x5356 /* "SV" */
#define SV_TC_PRIO 1

static int tcx_attach(struct sv_iface *ifc, int prog_fd, int dir)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = BPF_F_BEFORE);
	int fd;

	fd = bpf_link_create(prog_fd, ifc->ifindex, SV_TCX_TYPE(dir),
			     &opts);
	if (fd < 0)
		return -errno;
	ifc->link_fd[dir] = fd;
	return 0;
}

/* A clsact filter at our handle and priority whose program is one of ours: a killed agent's. */
static void tc_remove_stale(const struct sv_ifaces *m, struct bpf_tc_hook *hook)
{
	LIBBPF_OPTS(bpf_tc_opts, q, .handle = m->tc_handle, .priority = m->tc_prio);
	size_t plen = strlen(m->prog_prefix);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd;

	if (bpf_tc_query(hook, &q))
		return;
	fd = bpf_prog_get_fd_by_id(q.prog_id);
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strncmp(info.name, m->prog_prefix, plen)) {
		LIBBPF_OPTS(bpf_tc_opts, d, .handle = m->tc_handle, .priority = m->tc_prio);
		if (!bpf_tc_detach(hook, &d))
			pr_info("removed a filter a previous agent left on %d\n", hook->ifindex);
	}
	close(fd);
}

static int tc_attach(struct sv_iface *ifc, int prog_fd, int dir)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
		    .attach_point = dir ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ifc->tc_handle, .priority = ifc->tc_prio,
		    .prog_fd = prog_fd);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (!err)
		ifc->tc_created = 1;
	else if (err != -EEXIST)
		return err;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		return err;
	ifc->tc_attached = 1;
	return 0;
}

static void tc_detach(struct sv_iface *ifc)
{
	int dir;

	for (dir = 0; dir < 2 && ifc->tc_attached; dir++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
			    .attach_point = dir ? BPF_TC_EGRESS : BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ifc->tc_handle, .priority = ifc->tc_prio);
		bpf_tc_detach(&hook, &opts);
	}
	if (ifc->tc_created) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
		bpf_tc_hook_destroy(&hook);
	}
	ifc->tc_attached = 0;
	ifc->tc_created = 0;
}

static void detach(struct sv_iface *ifc, int gone)
{
	int dir;

	for (dir = 0; dir < 2; dir++) {
		if (ifc->link_fd[dir] >= 0)
			close(ifc->link_fd[dir]);
		ifc->link_fd[dir] = -1;
	}
	if (!gone)
		tc_detach(ifc);
	ifc->tc_attached = 0;
	ifc->tc_created = 0;
	ifc->attached = 0;
}

static int attach(struct sv_ifaces *m, struct sv_iface *ifc)
{
	int dir, err = 0;

	for (dir = 0; dir < 2 && !err; dir++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifc->ifindex,
			    .attach_point = dir ? BPF_TC_EGRESS : BPF_TC_INGRESS);
		int fd = m->prog_fd[ifc->l3][dir];

		/* Whatever mode we use now, a killed clsact-mode agent may have left filters. */
		tc_remove_stale(m, &hook);

		if (m->mode != SV_ATTACH_TC) {
			err = tcx_attach(ifc, fd, dir);
			/* No tcx in this kernel: clsact from now on, for every interface. */
			if (m->mode == SV_ATTACH_AUTO && (err == -EINVAL || err == -EOPNOTSUPP) &&
			    dir == 0) {
				pr_info("kernel has no tcx links; attaching as clsact filters\n");
				m->mode = SV_ATTACH_TC;
			} else {
				if (!err && m->mode == SV_ATTACH_AUTO)
					m->mode = SV_ATTACH_TCX;
				continue;
			}
		}
		err = tc_attach(ifc, fd, dir);
	}
	if (err) {
		detach(ifc, 0);
		return err;
	}
	ifc->attached = 1;
	pr_info("tracing %s (%s)\n", ifc->name, m->mode == SV_ATTACH_TC ? "clsact" : "tcx");
	return 0;
}

static struct sv_iface *find(const struct sv_ifaces *m, int ifindex)
{
	struct sv_iface *ifc;

	for (ifc = m->list; ifc; ifc = ifc->next)
		if (ifc->ifindex == ifindex)
			return ifc;
	return NULL;
}

static int wanted_name(const struct sv_ifaces *m, const char *name)
{
	int i;

	for (i = 0; i < m->n_names; i++)
		if (!strcmp(m->names[i], name))
			return 1;
	return 0;
}

/* -1: a link type whose frames we cannot parse; 1: starts at the IP header; 0: Ethernet. */
static int link_layer(unsigned short type)
{
	switch (type) {
	case ARPHRD_ETHER:
	case ARPHRD_LOOPBACK:
		return 0;
	case ARPHRD_NONE:
	case ARPHRD_TUNNEL:
	case ARPHRD_TUNNEL6:
	case ARPHRD_SIT:
	case ARPHRD_IPGRE:
	case ARPHRD_RAWIP:
		return 1;
	default:
		return -1;
	}
}

static void on_newlink(struct sv_ifaces *m, struct ifinfomsg *ifi, const char *name)
{
	struct sv_iface *ifc = find(m, ifi->ifi_index);
	int ll = link_layer(ifi->ifi_type), err;

	if (m->names ? !wanted_name(m, name) :
		       (!(ifi->ifi_flags & IFF_UP) || (ifi->ifi_flags & IFF_LOOPBACK)))
		return;
	if (ifc && ifc->attached) {
		snprintf(ifc->name, sizeof(ifc->name), "%s", name); /* renamed */
		return;
	}
	if (ll < 0) {
		pr_warn("%s: link type %u is not Ethernet or IP; not traced\n", name,
			ifi->ifi_type);
		return;
	}
	if (!ifc) {
		ifc = calloc(1, sizeof(*ifc));
		if (!ifc)
			return;
		ifc->ifindex = ifi->ifi_index;
		ifc->link_fd[0] = ifc->link_fd[1] = -1;
		ifc->tc_handle = m->tc_handle;
		ifc->tc_prio = m->tc_prio;
		ifc->next = m->list;
		m->list = ifc;
	}
	snprintf(ifc->name, sizeof(ifc->name), "%s", name);
	ifc->l3 = ll;
	err = attach(m, ifc);
	if (err)
		pr_warn("%s: cannot attach: %s\n", name, strerror(-err));
}

static void on_dellink(struct sv_ifaces *m, int ifindex)
{
	struct sv_iface *ifc = find(m, ifindex);

	if (!ifc || !ifc->attached)
		return;
	/* The kernel already removed the programs with the device; keep the name for the
	 * flows of it that are still to be exported. */
	detach(ifc, 1);
	pr_info("%s vanished; let go\n", ifc->name);
}

static void parse_msg(struct sv_ifaces *m, struct nlmsghdr *nh)
{
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
	const char *name = NULL;
	struct rtattr *rta;

	if (len < 0)
		return;
	for (rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == IFLA_IFNAME)
			name = RTA_DATA(rta);
	if (nh->nlmsg_type == RTM_DELLINK)
		on_dellink(m, ifi->ifi_index);
	else if (nh->nlmsg_type == RTM_NEWLINK && name)
		on_newlink(m, ifi, name);
}

static int request_dump(struct sv_ifaces *m)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh.nlmsg_len = sizeof(req),
		.nh.nlmsg_type = RTM_GETLINK,
		.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		.ifi.ifi_family = AF_UNSPEC,
	};

	if (send(m->nl_fd, &req, sizeof(req), 0) < 0)
		return -errno;
	m->dump_pending = 1;
	return 0;
}

int sv_ifaces_poll(struct sv_ifaces *m)
{
	char buf[32768] __attribute__((aligned(4)));
	struct nlmsghdr *nh;
	ssize_t n;

	for (;;) {
		n = recv(m->nl_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			/* Events were lost: list everything again to catch up. */
			pr_warn("interface events overflowed; re-reading interfaces\n");
			request_dump(m);
			continue;
		}
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		for (nh = (void *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR)
				m->dump_pending = 0;
			else
				parse_msg(m, nh);
		}
	}
}

static int check_names(const struct sv_ifaces *m)
{
	int i;

	for (i = 0; i < m->n_names; i++) {
		struct sv_iface *ifc;

		for (ifc = m->list; ifc; ifc = ifc->next)
			if (!strcmp(ifc->name, m->names[i]) && ifc->attached)
				break;
		if (!ifc) {
			pr_warn("cannot trace interface '%s'\n", m->names[i]);
			return -ENODEV;
		}
	}
	return 0;
}

int sv_ifaces_start(struct sv_ifaces *m)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	struct pollfd pfd;
	int err, tries;

	if (!m->tc_handle) {
		m->tc_handle = SV_TC_HANDLE;
		m->tc_prio = SV_TC_PRIO;
	}
	if (!m->prog_prefix)
		m->prog_prefix = "sv_";
	m->nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (m->nl_fd < 0)
		return -errno;
	/* Subscribe before listing, so an interface created in between is not missed. */
	if (bind(m->nl_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	err = request_dump(m);
	if (err)
		return err;
	pfd.fd = m->nl_fd;
	pfd.events = POLLIN;
	for (tries = 0; m->dump_pending && tries < 100; tries++) {
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			return -errno;
		err = sv_ifaces_poll(m);
		if (err)
			return err;
	}
	if (m->dump_pending)
		return -ETIMEDOUT;
	return check_names(m);
}

void sv_ifaces_stop(struct sv_ifaces *m)
{
	struct sv_iface *ifc;

	for (ifc = m->list; ifc; ifc = ifc->next)
		if (ifc->attached)
			detach(ifc, 0);
	if (m->nl_fd >= 0)
		close(m->nl_fd);
	m->nl_fd = -1;
}

void sv_ifaces_free(struct sv_ifaces *m)
{
	struct sv_iface *ifc, *next;

	sv_ifaces_stop(m);
	for (ifc = m->list; ifc; ifc = next) {
		next = ifc->next;
		free(ifc);
	}
	m->list = NULL;
}

const char *sv_ifaces_name(const struct sv_ifaces *m, int ifindex)
{
	struct sv_iface *ifc = find(m, ifindex);

	return ifc ? ifc->name : NULL;
}

const char *sv_ifaces_label(const struct sv_ifaces *m, int ifindex, char buf[IF_NAMESIZE])
{
	const char *n = sv_ifaces_name(m, ifindex);

	if (n)
		return n;
	snprintf(buf, IF_NAMESIZE, "if%u", (unsigned int)ifindex);
	return buf;
}

int sv_ifaces_count(const struct sv_ifaces *m)
{
	const struct sv_iface *ifc;
	int n = 0;

	for (ifc = m->list; ifc; ifc = ifc->next)
		n += ifc->attached;
	return n;
}

int sv_ifnames_add(char ***names, int *n, char *name)
{
	char **v;

	if (!*name || strlen(name) >= IF_NAMESIZE) {
		pr_warn("invalid interface name '%s'\n", name);
		return -EINVAL;
	}
	if (*n == SV_MAX_IFNAMES) {
		pr_warn("at most %d interfaces\n", SV_MAX_IFNAMES);
		return -EINVAL;
	}
	v = realloc(*names, (*n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[(*n)++] = name;
	*names = v;
	return 0;
}
