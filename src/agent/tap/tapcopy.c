// SPDX-License-Identifier: GPL-2.0
/* The TAP's copies made by tc (tap_int.h). The filters sit at priority 1, in front of any
 * other clsact filter a user may have, so nothing ends the chain before a copy is made; each
 * rule's filter is its own handle (the rule id) and its action's control is "continue", so
 * every filter runs and the frame then goes on as if no filter had matched. */
#include "tap_int.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/gen_stats.h>
#include <linux/tc_act/tc_mirred.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "cbpf.h"
#include "rtnl.h"
#include "sitevisor.h"
#include "tcx.h"

#define COPY_PRIO 1

#define INSN(c, d, s, o, i)                                                                    \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define CB(i) ((short)(offsetof(struct __sk_buff, cb) + 4 * (i)))

int sv_tapcopy_prog(int id, int dir, int jmp_fd, char *err, size_t len)
{
	/* cb[4] = id | dir << SV_TAP_CLS_DIR_SHIFT; tail call slot 0 of jmp_fd (sv_tap_cls);
	 * if that slot is empty, 0: no copy. */
	const struct bpf_insn insns[] = {
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, id | dir << SV_TAP_CLS_DIR_SHIFT),
		INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_1, BPF_REG_2, CB(4), 0),
		INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_2, BPF_PSEUDO_MAP_FD, 0, jmp_fd),
		INSN(0, 0, 0, 0, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, 0),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_tail_call),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};

	if (id < 1 || id >= SV_TAP_MAX_RULES || dir < 0 || dir > 1)
		return -EINVAL;
	return sv_cbpf_load(insns, sizeof(insns) / sizeof(insns[0]), SV_TAPCOPY_NAME, err, len);
}

static struct tcmsg *tc_req(struct sv_nlreq *r, unsigned short type, unsigned short flags,
			    int ifindex)
{
	struct tcmsg *tcm = sv_nl_start(r, type, flags, sizeof(*tcm));

	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	return tcm;
}

/* A request naming rule id's filter on a hook. */
static void filter_req(struct sv_nlreq *r, unsigned short type, unsigned short flags,
		       int ifindex, int dir, int id)
{
	struct tcmsg *tcm = tc_req(r, type, flags, ifindex);

	tcm->tcm_parent = TC_H_MAKE(TC_H_CLSACT, dir ? TC_H_MIN_EGRESS : TC_H_MIN_INGRESS);
	tcm->tcm_handle = id;
	tcm->tcm_info = TC_H_MAKE(COPY_PRIO << 16, htons(ETH_P_ALL));
	sv_nl_attr(r, TCA_KIND, "bpf", 4);
}

/* The attributes of a tc message, and their length. */
static const struct rtattr *tc_attrs(const struct nlmsghdr *h, int *len)
{
	*len = h->nlmsg_len - NLMSG_LENGTH(sizeof(struct tcmsg));
	return (const struct rtattr *)((const char *)NLMSG_DATA(h) +
				       NLMSG_ALIGN(sizeof(struct tcmsg)));
}

static const struct rtattr *nested(const struct rtattr *a, unsigned short type)
{
	return a ? sv_nl_find(RTA_DATA(a), RTA_PAYLOAD(a), type) : NULL;
}

static int on_qdisc(const struct nlmsghdr *h, void *arg)
{
	const struct tcmsg *tcm = NLMSG_DATA(h);
	const struct rtattr *a, *kind;
	int len;

	if (h->nlmsg_type != RTM_NEWQDISC || tcm->tcm_ifindex != *(int *)arg)
		return 0;
	a = tc_attrs(h, &len);
	kind = sv_nl_find(a, len, TCA_KIND);
	return kind && !strncmp(RTA_DATA(kind), "clsact", RTA_PAYLOAD(kind));
}

static int has_clsact(int ifindex)
{
	struct sv_nlreq r;

	tc_req(&r, RTM_GETQDISC, 0, ifindex);
	return sv_nl_dump(&r, on_qdisc, &ifindex) == 1;
}

int sv_tapcopy_add(int ifindex, int dir, int id, int prog_fd, int target)
{
	struct tc_mirred parms = { .action = TC_ACT_UNSPEC, /* "continue" */
				   .eaction = TCA_EGRESS_MIRROR,
				   .ifindex = target };
	struct rtattr *opts, *acts, *act, *aopts;
	__u32 fd = prog_fd, flags = 0;
	struct sv_nlreq r;
	int err;

	/* Never over someone else's filter that holds the handle. */
	filter_req(&r, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex, dir, id);
	opts = sv_nl_attr(&r, TCA_OPTIONS, NULL, 0);
	sv_nl_attr(&r, TCA_BPF_FD, &fd, 4);
	sv_nl_attr(&r, TCA_BPF_NAME, SV_TAPCOPY_NAME, sizeof(SV_TAPCOPY_NAME));
	sv_nl_attr(&r, TCA_BPF_FLAGS, &flags, 4); /* not direct-action: the actions run */
	acts = sv_nl_attr(&r, TCA_BPF_ACT, NULL, 0);
	act = sv_nl_attr(&r, 1, NULL, 0);
	sv_nl_attr(&r, TCA_ACT_KIND, "mirred", 7);
	aopts = sv_nl_attr(&r, TCA_ACT_OPTIONS, NULL, 0);
	sv_nl_attr(&r, TCA_MIRRED_PARMS, &parms, sizeof(parms));
	sv_nl_end(&r, aopts);
	sv_nl_end(&r, act);
	sv_nl_end(&r, acts);
	sv_nl_end(&r, opts);
	err = sv_nl_talk(&r, NULL, 0);
	return err == -EINVAL && !has_clsact(ifindex) ? -ENOENT : err;
}

int sv_tapcopy_del(int ifindex, int dir, int id)
{
	struct sv_nlreq r;

	filter_req(&r, RTM_DELTFILTER, 0, ifindex, dir, id);
	return sv_nl_talk(&r, NULL, 0);
}

int sv_tapcopy_stats(int ifindex, int dir, int id, __u64 *packets, __u64 *failed)
{
	struct {
		struct nlmsghdr h;
		char buf[8192];
	} reply;
	const struct rtattr *a, *st, *x;
	const struct gnet_stats_queue *q;
	struct sv_nlreq r;
	int len, err;

	*packets = *failed = 0;
	filter_req(&r, RTM_GETTFILTER, 0, ifindex, dir, id);
	memset(&reply, 0, sizeof(reply));
	err = sv_nl_talk(&r, &reply, sizeof(reply));
	if (err)
		return err;
	if (reply.h.nlmsg_type != RTM_NEWTFILTER)
		return -ENOENT;
	a = tc_attrs(&reply.h, &len);
	st = nested(nested(nested(sv_nl_find(a, len, TCA_OPTIONS), TCA_BPF_ACT), 1),
		    TCA_ACT_STATS);
	if (!st)
		return -ENOENT;
	x = nested(st, TCA_STATS_PKT64);
	if (x && RTA_PAYLOAD(x) >= 8)
		memcpy(packets, RTA_DATA(x), 8);
	else if ((x = nested(st, TCA_STATS_BASIC)) && RTA_PAYLOAD(x) >= 12)
		*packets = ((const struct gnet_stats_basic *)RTA_DATA(x))->packets;
	x = nested(st, TCA_STATS_QUEUE);
	if (x && RTA_PAYLOAD(x) >= sizeof(*q)) {
		q = RTA_DATA(x);
		*failed = (__u64)q->drops + q->overlimits;
	}
	return 0;
}

struct scan {
	int dir;
	int ours[2 * SV_TAP_MAX_RULES], n_ours; /* (dir, handle) of our filters */
};

static int on_filter(const struct nlmsghdr *h, void *arg)
{
	const struct tcmsg *tcm = NLMSG_DATA(h);
	const struct rtattr *a, *name;
	struct scan *s = arg;
	int len;

	if (h->nlmsg_type != RTM_NEWTFILTER || !tcm->tcm_handle)
		return 0; /* a priority's header, not a filter */
	a = tc_attrs(h, &len);
	name = nested(sv_nl_find(a, len, TCA_OPTIONS), TCA_BPF_NAME);
	if (TC_H_MAJ(tcm->tcm_info) >> 16 == COPY_PRIO && name &&
	    !strncmp(RTA_DATA(name), SV_TAPCOPY_NAME, RTA_PAYLOAD(name)) &&
	    s->n_ours < (int)(sizeof(s->ours) / sizeof(s->ours[0])))
		s->ours[s->n_ours++] = s->dir << 16 | (tcm->tcm_handle & 0xffff);
	return 0;
}

/* Notes our filters in ifindex's clsact qdisc. */
static int scan_filters(int ifindex, struct scan *s)
{
	struct sv_nlreq r;
	struct tcmsg *tcm;
	int err;

	memset(s, 0, sizeof(*s));
	for (s->dir = 0; s->dir < 2; s->dir++) {
		tcm = tc_req(&r, RTM_GETTFILTER, 0, ifindex);
		tcm->tcm_parent = TC_H_MAKE(TC_H_CLSACT,
					    s->dir ? TC_H_MIN_EGRESS : TC_H_MIN_INGRESS);
		err = sv_nl_dump(&r, on_filter, s);
		if (err)
			return err;
	}
	return 0;
}

void sv_tapcopy_sweep(void)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	struct scan s;
	int k;

	for (i = ifs; i && i->if_index; i++) {
		if (scan_filters(i->if_index, &s))
			continue;
		for (k = 0; k < s.n_ours; k++)
			sv_tapcopy_del(i->if_index, s.ours[k] >> 16, s.ours[k] & 0xffff);
	}
	if (ifs)
		if_freenameindex(ifs);
}

/* Programs known to return TCX_NEXT: the flow agent's, the tap's and the capture's. */
static int ours(__u32 prog_id)
{
	static const char *const names[] = { "sv_ingress", "sv_egress", "sv_ingress_l3",
					     "sv_egress_l3", "sv_tap_ingress", "sv_tap_egress",
					     "svtap_expr_in", "svtap_expr_out", "svcap_in",
					     "svcap_out" };
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	size_t i;
	int fd = bpf_prog_get_fd_by_id(prog_id), ret = 0;

	if (fd < 0)
		return -errno;
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		for (i = 0; i < sizeof(names) / sizeof(names[0]) && !ret; i++)
			ret = !strcmp(info.name, names[i]);
	close(fd);
	return ret;
}

int sv_tapcopy_hook_ours(int ifindex, int dir)
{
	__u32 ids[64], i;
	LIBBPF_OPTS(bpf_prog_query_opts, q, .prog_ids = ids, .prog_cnt = 64);
	int ret;

	if (bpf_prog_query_opts(ifindex, SV_TCX_TYPE(dir), &q))
		return -errno;
	if (q.prog_cnt > 64)
		return 0;
	for (i = 0; i < q.prog_cnt; i++) {
		ret = ours(ids[i]);
		if (ret <= 0)
			return ret;
	}
	return 1;
}
