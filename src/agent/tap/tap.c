// SPDX-License-Identifier: GPL-2.0
/* The virtual TAP's state in the agent. The BPF object (tap.bpf.c) loads with the first rule.
 * Adding a rule: check it (interfaces exist, no mirror to itself, no loop), make its devices
 * (a VXLAN device for a remote monitor, a veth pair for a snaplen), write the rule into its
 * slot, then publish it in the interface's list, attaching the interface's program if this is
 * its first rule. Deleting runs the other way round. Nothing else is reattached, so traffic
 * and the flow programs are never disturbed. */
#include "tap_int.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "log.h"
#include "sb.h"
#include "tap.skel.h"
#include "cbpf.h"

#include "tcx.h"

struct tap_entry {
	int used;
	enum sv_tap_origin origin;
	long long post_id; /* SV_TAP_POST: the post's id of the rule */
	struct sv_tap_spec s;
	int from_ifindex;
	int to_ifindex; /* the real target: a local device or our VXLAN device */
	int vx_ifindex; /* our VXLAN device, or 0 */
	int underlay; /* where VXLAN copies leave, for loop checks; 0 if unknown */
	int veth_a, veth_b; /* our truncating pair, or 0 */
	int trunc_link; /* tcx link of sv_tap_trunc on veth_b */
	int expr_prog[2], expr_link[2]; /* SV_TAP_M_EXPR: per direction; 0 if none */
	int copy_prog[2]; /* per direction: the classifier of its tc filter, or 0 */
	int copy_on[2]; /* per direction: its tc filter is in place at from_ifindex */
	int copy_err[2]; /* why it is not, as last logged (retried every interval) */
	int no_prog[2]; /* its classifier could not be loaded: not retried */
	int by_tc[2]; /* per direction: its copies are left to that filter (publish) */
	/* Its filters' mirred counters: as last read, and what filters gone before counted. */
	__u64 tc_sent[2], tc_failed[2], tc_base_sent, tc_base_failed;
};

/* A watched hook (interface and direction). */
struct tap_hook {
	int used, ifindex, dir;
	int fd; /* the tap program's tcx link; < 0: none, the rules' filters decide alone */
	int ours; /* at the last publish, only sitevisor's tcx programs were at the hook */
};

/* A post rule this agent could not apply: not retried while the post still wants it. */
struct tap_refused {
	long long post_id;
	char error[200];
};

struct sv_tap {
	struct tap_bpf *skel;
	struct tap_refused refused[SV_TAP_MAX_RULES];
	int n_refused;
	struct tap_entry rules[SV_TAP_MAX_RULES];
	struct tap_hook hooks[2 * SV_TAP_MAX_RULES];
	int next_id;
	int ncpu;
	int no_cls; /* the filters' classifiers have nothing to jump to: no copies by tc */
	struct sv_tap_policy policy; /* which of the post's rules it takes */
};

#define fail sv_tap_fail

int sv_tap_new(struct sv_tap **t)
{
	struct sv_tap *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->next_id = 1;
	p->ncpu = libbpf_num_possible_cpus();
	*t = p;
	return 0;
}

static int load(struct sv_tap *t, char *err, size_t len)
{
	int ret, fd;
	__u32 slot = 0;

	if (t->skel)
		return 0;
	if (t->ncpu <= 0)
		return fail(t->ncpu < 0 ? t->ncpu : -EINVAL, err, len, "cannot count CPUs");
	t->skel = tap_bpf__open_and_load();
	if (!t->skel) {
		ret = -errno;
		return fail(ret, err, len, "cannot load the tap's BPF programs: %s",
			    strerror(-ret));
	}
	if (getrandom(&t->skel->bss->sv_tap_salt, sizeof(__u32), 0) != sizeof(__u32))
		t->skel->bss->sv_tap_salt = getpid() ^ time(NULL);
	fd = bpf_program__fd(t->skel->progs.sv_tap_cls);
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.sv_tap_cls_jmp), &slot, &fd, BPF_ANY)) {
		pr_info("tap: no classifier for tc filters (%s): copies by the tap program\n",
			strerror(errno));
		t->no_cls = 1;
	}
	sv_tapcopy_sweep(); /* what a killed agent left */
	return 0;
}

static int tcx_link(int prog_fd, int ifindex, int dir)
{
	int fd = bpf_link_create(prog_fd, ifindex, SV_TCX_TYPE(dir), NULL);

	return fd < 0 ? -errno : fd;
}

/* The tap program goes in front of the hook's tcx programs, so one of another's that ends
 * the hook's run early cannot keep it from copying. Only the rules' expression programs,
 * attached after it, go in front of it. */
static int tap_attach(int prog_fd, int ifindex, int dir)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = BPF_F_BEFORE);
	int fd = bpf_link_create(prog_fd, ifindex, SV_TCX_TYPE(dir), &opts);

	return fd < 0 ? -errno : fd;
}

/* --- rules with a libpcap expression: the capture's translator, in mark mode --- */

static void expr_unlink(struct tap_entry *e, int dir)
{
	if (e->expr_link[dir] > 0)
		close(e->expr_link[dir]);
	e->expr_link[dir] = 0;
}

/* The rule's programs: its expression's and its filters' classifiers. */
static void progs_free(struct tap_entry *e)
{
	int dir;

	for (dir = 0; dir < 2; dir++) {
		expr_unlink(e, dir);
		if (e->expr_prog[dir] > 0)
			close(e->expr_prog[dir]);
		if (e->copy_prog[dir] > 0)
			close(e->copy_prog[dir]);
		e->expr_prog[dir] = e->copy_prog[dir] = 0;
	}
}

/* In front of the hook's programs, so the marks are there when the tap program runs: that
 * one must be attached first (see tap_attach). Only where the tap program decides. */
static int expr_link(struct tap_entry *e, int dir)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = BPF_F_BEFORE);
	int fd;

	if (!e->expr_prog[dir] || e->expr_link[dir] > 0)
		return 0;
	fd = bpf_link_create(e->expr_prog[dir], e->from_ifindex, SV_TCX_TYPE(dir), &opts);
	if (fd < 0)
		return -errno;
	e->expr_link[dir] = fd;
	return 0;
}

static int expr_prog(const struct sv_cinsn *prog, size_t n, const struct sv_cbpf_opts *o,
		     const char *name, char *err, size_t len)
{
	struct bpf_insn *insns;
	size_t ni;
	int ret;

	ret = sv_cbpf_translate(prog, n, o, &insns, &ni, err, len);
	if (ret)
		return ret;
	ret = sv_cbpf_load(insns, ni, name, err, len);
	free(insns);
	return ret;
}

/* Compiles the rule's expression and translates it per direction twice: into a program
 * that marks the frames it accepts for the tap program, and into the classifier of the
 * rule's tc filter (without that, the tap program decides and copies). Loads both. */
static int expr_load(struct sv_tap *t, struct tap_entry *e, int id, char *err, size_t len)
{
	static const char *const names[] = { "svtap_expr_in", "svtap_expr_out" };
	struct sv_cbpf_opts o = { .perf_map_fd = -1, .cnt_map_fd = -1, .snaplen = 65535,
				  .mark_id = id };
	struct sv_cinsn *prog = NULL;
	char why[200];
	int dir, ret;
	size_t n;

	ret = sv_pcapfilt_compile(e->s.expr, 65535, &prog, &n, err, len);
	for (dir = 0; dir < 2 && !ret; dir++) {
		if (!(e->s.dirs & (1 << dir)))
			continue;
		o.dir = dir;
		o.cls = 0;
		ret = expr_prog(prog, n, &o, names[dir], err, len);
		if (ret < 0)
			break;
		e->expr_prog[dir] = ret;
		o.cls = 1;
		o.cls_jmp_fd = bpf_map__fd(t->skel->maps.sv_tap_cls_jmp);
		ret = expr_prog(prog, n, &o, SV_TAPCOPY_NAME, why, sizeof(why));
		if (ret < 0)
			pr_info("tap rule %d: no tc filter (%s): copies by the tap program\n", id,
				why);
		e->copy_prog[dir] = ret < 0 ? 0 : ret;
		ret = 0;
	}
	free(prog);
	if (ret)
		progs_free(e);
	return ret;
}

/* --- copies made by tc (tapcopy.c) --- */

/* The rule's filters' mirred counters, as the kernel has them now. Returns the directions
 * (bits) where the filter is no longer there: someone deleted it or its qdisc, or the
 * interface went. */
static int copy_read(struct tap_entry *e, int id)
{
	__u64 sent, failed;
	int dir, err, gone = 0;

	for (dir = 0; dir < 2; dir++) {
		if (!e->copy_on[dir])
			continue;
		err = sv_tapcopy_stats(e->from_ifindex, dir, id, &sent, &failed);
		if (!err) {
			e->tc_sent[dir] = sent;
			e->tc_failed[dir] = failed;
		} else if (err == -ENOENT || err == -EINVAL || err == -ENODEV) {
			gone |= 1 << dir;
		}
	}
	return gone;
}

/* The filter at dir is no more: what it counted up to the last read is kept. */
static void copy_forget(struct tap_entry *e, int dir)
{
	e->tc_base_sent += e->tc_sent[dir];
	e->tc_base_failed += e->tc_failed[dir];
	e->tc_sent[dir] = e->tc_failed[dir] = 0;
	e->copy_on[dir] = 0;
}

/* Takes the rule's filters away (gone: they went with their interface), keeping what they
 * counted. */
static void copy_remove(struct tap_entry *e, int id, int gone)
{
	int dir;

	if (!gone)
		copy_read(e, id);
	for (dir = 0; dir < 2; dir++) {
		if (!e->copy_on[dir])
			continue;
		if (!gone)
			sv_tapcopy_del(e->from_ifindex, dir, id);
		copy_forget(e, dir);
	}
}

/* Logs why the rule has no filter at dir, once: placing is retried every interval. No
 * qdisc (-ENOENT) is the usual case and not worth a line. */
static void copy_failed(struct tap_entry *e, int id, int dir, int ret, const char *why)
{
	if (ret != -ENOENT && ret != e->copy_err[dir])
		pr_info("tap rule %d: no tc filter on %s %s (%s): copies by the tap program\n", id,
			e->s.from, dir ? "egress" : "ingress", why);
	e->copy_err[dir] = ret;
}

/* Puts the rule's missing filters where it watches, into a clsact qdisc that is there
 * already (the agent makes none: making one on a live device drops what it is sending,
 * see tap_int.h). Where that fails, the tap program copies instead. Returns the
 * directions placed now. */
static int copy_place(struct sv_tap *t, struct tap_entry *e, int id)
{
	int jmp = bpf_map__fd(t->skel->maps.sv_tap_cls_jmp), dir, ret, placed = 0;
	char err[200];

	for (dir = 0; dir < 2 && !t->no_cls; dir++) {
		if (!(e->s.dirs & (1 << dir)) || e->copy_on[dir] || e->no_prog[dir])
			continue;
		if (!e->copy_prog[dir] && (e->s.r.match & SV_TAP_M_EXPR))
			continue; /* its expression has no classifier */
		if (!e->copy_prog[dir]) {
			ret = sv_tapcopy_prog(id, dir, jmp, err, sizeof(err));
			if (ret < 0) {
				e->no_prog[dir] = 1;
				copy_failed(e, id, dir, ret, err);
				continue;
			}
			e->copy_prog[dir] = ret;
		}
		ret = sv_tapcopy_add(e->from_ifindex, dir, id, e->copy_prog[dir],
				     e->s.r.target_ifindex);
		if (ret) {
			copy_failed(e, id, dir, ret, strerror(-ret));
			continue;
		}
		e->copy_on[dir] = 1;
		e->copy_err[dir] = 0;
		placed |= 1 << dir;
	}
	return placed;
}

/* Whether the rule watches the hook (ifindex, dir). */
static int watches(const struct tap_entry *e, int ifindex, int dir)
{
	return e->used && e->from_ifindex == ifindex && (e->s.dirs & (1 << dir));
}

static struct tap_hook *find_hook(struct sv_tap *t, int ifindex, int dir, int add)
{
	struct tap_hook *free = NULL, *h;
	size_t i;

	for (i = 0; i < sizeof(t->hooks) / sizeof(t->hooks[0]); i++) {
		h = &t->hooks[i];
		if (h->used && h->ifindex == ifindex && h->dir == dir)
			return h;
		if (!h->used && !free)
			free = h;
	}
	if (!add || !free)
		return NULL;
	*free = (struct tap_hook){ .used = 1, .ifindex = ifindex, .dir = dir, .fd = -1 };
	return free;
}

/* Attaches (on) or detaches the expression programs of the hook's rules. */
static int hook_exprs(struct sv_tap *t, int ifindex, int dir, int on)
{
	struct tap_entry *e;
	int id, ret;

	for (id = 1; id < SV_TAP_MAX_RULES; id++) {
		e = &t->rules[id];
		if (!watches(e, ifindex, dir))
			continue;
		if (!on) {
			expr_unlink(e, dir);
			continue;
		}
		ret = expr_link(e, dir);
		if (ret)
			return ret;
	}
	return 0;
}

/* Marks the hook's rules as deciding alone there (sv_tap_cls) or not. */
static void hook_alone(struct sv_tap *t, int ifindex, int dir, int alone)
{
	int fd = bpf_map__fd(t->skel->maps.sv_tap_rules);
	struct tap_entry *e;
	__u32 id, bit = 1u << dir;

	for (id = 1; id < SV_TAP_MAX_RULES; id++) {
		e = &t->rules[id];
		if (!watches(e, ifindex, dir) || !!(e->s.r.alone & bit) == !!alone)
			continue;
		e->s.r.alone ^= bit;
		if (bpf_map_update_elem(fd, &id, &e->s.r, BPF_ANY))
			pr_warn("tap rule %u: cannot update it: %s\n", id, strerror(errno));
	}
}

static void hook_unlink(struct tap_hook *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

/* The list of rule ids for an interface and direction, rebuilt from the table. A rule's
 * copies are left to its tc filter while nobody else's tcx program, which might end the
 * hook's run before the filters, is at the hook (ours). Where all of them are, the filters
 * decide alone: the rules are told so, then the list goes (a tap program still running
 * finds none and leaves cb alone), then the expressions' and the tap's programs. Otherwise
 * the tap program and the expressions' programs are attached, the list is written whole,
 * and then the rules are told that they do not decide alone. Either way each frame is
 * decided by the tap program or by the filters, never by both or neither. */
static int publish_as(struct sv_tap *t, int ifindex, int dir, int ours)
{
	struct sv_tap_if_key k = { ifindex, dir };
	struct sv_tap_if_rules l = {};
	int fd = bpf_map__fd(t->skel->maps.sv_tap_ifs), id, prog, ret, alone = ours;
	struct tap_hook *h;

	for (id = 1; id < SV_TAP_MAX_RULES; id++) {
		struct tap_entry *e = &t->rules[id];

		if (!watches(e, ifindex, dir))
			continue;
		e->by_tc[dir] = ours && e->copy_on[dir];
		if (e->by_tc[dir])
			l.by_tc |= 1u << l.n;
		alone &= e->by_tc[dir];
		l.ids[l.n++] = id;
		if (e->s.r.match & SV_TAP_M_VNI)
			l.flags |= SV_TAP_IF_INNER;
		else
			l.flags |= SV_TAP_IF_PLAIN |
				   (e->s.r.match & ~SV_TAP_M_EXPR ? SV_TAP_IF_OUTER : 0);
	}
	h = find_hook(t, ifindex, dir, l.n > 0);
	if (!h)
		return l.n ? -ENOSPC : 0;
	h->ours = ours;
	if (!l.n || alone) {
		hook_alone(t, ifindex, dir, 1);
		bpf_map_delete_elem(fd, &k);
		hook_exprs(t, ifindex, dir, 0);
		hook_unlink(h);
		h->used = l.n > 0;
		return 0;
	}
	if (h->fd < 0) {
		prog = bpf_program__fd(dir ? t->skel->progs.sv_tap_egress :
					     t->skel->progs.sv_tap_ingress);
		h->fd = tap_attach(prog, ifindex, dir);
		if (h->fd < 0)
			return h->fd;
	}
	ret = hook_exprs(t, ifindex, dir, 1);
	if (ret)
		return ret;
	if (bpf_map_update_elem(fd, &k, &l, BPF_ANY))
		return -errno;
	hook_alone(t, ifindex, dir, 0);
	return 0;
}

static int publish(struct sv_tap *t, int ifindex, int dir)
{
	return publish_as(t, ifindex, dir, sv_tapcopy_hook_ours(ifindex, dir) == 1);
}

static int rules_on(struct sv_tap *t, int ifindex, int dir)
{
	int id, n = 0;

	for (id = 1; id < SV_TAP_MAX_RULES; id++)
		n += watches(&t->rules[id], ifindex, dir);
	return n;
}

/* A rule whose copies would be watched by a rule (its own or another) mirrors copies of
 * copies; refuse it, whichever of the two comes second. */
static int check_loops(struct sv_tap *t, struct tap_entry *n, char *err, size_t len)
{
	int id;

	if (n->to_ifindex == n->from_ifindex)
		return fail(-EINVAL, err, len, "rule mirrors %s to itself", n->s.from);
	if (!strncmp(n->s.from, "sv-tap", 6))
		return fail(-EINVAL, err, len,
			    "%s is a device of the tap itself: watching it would loop", n->s.from);
	if (n->underlay == n->from_ifindex && (n->s.dirs & (1 << SV_EGRESS)))
		return fail(-EINVAL, err, len,
			    "loop: copies to %s leave by %s, which this rule watches", n->s.rhost,
			    n->s.from);
	for (id = 1; id < SV_TAP_MAX_RULES; id++) {
		struct tap_entry *e = &t->rules[id];

		if (!e->used)
			continue;
		if (e->from_ifindex == n->to_ifindex && n->to_ifindex)
			return fail(-EINVAL, err, len, "loop: %s is watched by rule %d", n->s.to,
				    id);
		if (e->to_ifindex == n->from_ifindex || e->vx_ifindex == n->from_ifindex)
			return fail(-EINVAL, err, len, "loop: %s receives the copies of rule %d",
				    n->s.from, id);
		if (n->underlay && e->from_ifindex == n->underlay && (e->s.dirs & (1 << SV_EGRESS)))
			return fail(-EINVAL, err, len,
				    "loop: copies to %s leave by an interface rule %d watches",
				    n->s.rhost, id);
		if (e->underlay && e->underlay == n->from_ifindex && (n->s.dirs & (1 << SV_EGRESS)))
			return fail(-EINVAL, err, len, "loop: rule %d's copies leave by %s", id,
				    n->s.from);
	}
	return 0;
}

/* Looks up the interfaces and the remote's route. */
static int resolve(struct tap_entry *n, char *err, size_t len)
{
	char kind[32];
	int oif;

	n->from_ifindex = if_nametoindex(n->s.from);
	if (!n->from_ifindex)
		return fail(-ENODEV, err, len, "unknown interface '%s'", n->s.from);
	if (!n->s.remote) {
		n->to_ifindex = if_nametoindex(n->s.to);
		if (!n->to_ifindex)
			return fail(-ENODEV, err, len, "unknown interface '%s'", n->s.to);
		/* A bridge floods what it sends to its ports: copies would reach the VMs, and
		 * come back through watched ports as copies of copies. */
		if (!sv_tapdev_kind(n->to_ifindex, kind, sizeof(kind)) && !strcmp(kind, "bridge"))
			return fail(-EINVAL, err, len, "%s is a bridge: it would flood the copies "
				    "to its ports; mirror to a port or a veth", n->s.to);
		return 0;
	}
	oif = sv_tapdev_route_oif(&n->s.raddr);
	if (oif < 0)
		return fail(oif, err, len, "no route to %s: %s", n->s.rhost, strerror(-oif));
	n->underlay = oif;
	return 0;
}

static void undo_devices(struct sv_tap *t, struct tap_entry *e)
{
	__u32 key;

	if (e->trunc_link > 0)
		close(e->trunc_link);
	if (e->veth_b) {
		key = e->veth_b;
		bpf_map_delete_elem(bpf_map__fd(t->skel->maps.sv_tap_truncs), &key);
	}
	if (e->veth_a)
		sv_tapdev_del(e->veth_a);
	if (e->vx_ifindex)
		sv_tapdev_del(e->vx_ifindex);
	e->trunc_link = e->veth_a = e->veth_b = e->vx_ifindex = 0;
}

/* The devices a rule needs; sets the rule's target_ifindex. */
static int make_devices(struct sv_tap *t, int id, struct tap_entry *e, char *err, size_t len)
{
	struct sv_tap_trunc tr = { .rule_id = id, .snaplen = e->s.snaplen };
	char a[IF_NAMESIZE], b[IF_NAMESIZE];
	__u32 key;
	int ret;

	if (e->s.remote) {
		snprintf(a, sizeof(a), "sv-tap-%d", id);
		ret = sv_tapdev_vxlan(a, &e->s.raddr, e->s.port, e->s.vni);
		if (ret < 0)
			return fail(ret, err, len, "cannot create VXLAN device %s: %s", a,
				    strerror(-ret));
		e->vx_ifindex = e->to_ifindex = ret;
	}
	e->s.r.target_ifindex = e->to_ifindex;
	if (!e->s.snaplen)
		return 0;
	snprintf(a, sizeof(a), "sv-tap-%da", id);
	snprintf(b, sizeof(b), "sv-tap-%db", id);
	ret = sv_tapdev_veth(a, b);
	if (ret)
		return fail(ret, err, len, "cannot create veth pair %s: %s", a, strerror(-ret));
	e->veth_a = if_nametoindex(a);
	e->veth_b = if_nametoindex(b);
	if (!e->veth_a || !e->veth_b)
		return fail(-ENODEV, err, len, "veth pair %s vanished", a);
	tr.target_ifindex = e->to_ifindex;
	key = e->veth_b;
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.sv_tap_truncs), &key, &tr, BPF_ANY))
		return fail(-errno, err, len, "cannot configure %s: %s", b, strerror(errno));
	ret = tcx_link(bpf_program__fd(t->skel->progs.sv_tap_trunc), e->veth_b, SV_INGRESS);
	if (ret < 0)
		return fail(ret, err, len, "cannot attach to %s: %s", b, strerror(-ret));
	e->trunc_link = ret;
	e->s.r.target_ifindex = e->veth_a;
	return 0;
}

/* Zeroes the rule's counters and its rate bucket, then writes the rule. */
static int write_rule(struct sv_tap *t, __u32 id, const struct sv_tap_rule *r)
{
	struct tap_bpf *s = t->skel;
	size_t csize = sizeof(struct sv_tap_counters) * t->ncpu;
	size_t bsize = bpf_map__value_size(s->maps.sv_tap_buckets);
	void *zero = calloc(1, csize > bsize ? csize : bsize);
	int err = 0;

	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(bpf_map__fd(s->maps.sv_tap_counters), &id, zero, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(s->maps.sv_tap_buckets), &id, zero, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(s->maps.sv_tap_rules), &id, r, BPF_ANY))
		err = -errno;
	free(zero);
	return err;
}

/* The next free id after the last one given: a slot freed now is reused as late as
 * possible, so no program still running with an old list reads a rewritten slot. */
static int alloc_id(struct sv_tap *t)
{
	int i, id;

	for (i = 0; i < SV_TAP_MAX_RULES - 1; i++) {
		id = (t->next_id - 1 + i) % (SV_TAP_MAX_RULES - 1) + 1;
		if (!t->rules[id].used) {
			t->next_id = id % (SV_TAP_MAX_RULES - 1) + 1;
			return id;
		}
	}
	return -ENOSPC;
}

static int check_room(struct sv_tap *t, struct tap_entry *n, char *err, size_t len)
{
	int dir;

	for (dir = 0; dir < 2; dir++)
		if ((n->s.dirs & (1 << dir)) &&
		    rules_on(t, n->from_ifindex, dir) >= SV_TAP_MAX_PER_IF)
			return fail(-ENOSPC, err, len, "%s already has %d rules %s (the most)",
				    n->s.from, SV_TAP_MAX_PER_IF, dir ? "out" : "in");
	return 0;
}

int sv_tap_add(struct sv_tap *t, int argc, char **argv, enum sv_tap_origin origin, char *err,
	       size_t len)
{
	struct tap_entry n = { .origin = origin };
	int id, dir, ret;

	ret = sv_tap_spec_parse(argc, argv, &n.s, err, len);
	if (!ret)
		ret = resolve(&n, err, len);
	if (!ret)
		ret = check_loops(t, &n, err, len);
	if (!ret)
		ret = check_room(t, &n, err, len);
	if (!ret)
		ret = load(t, err, len);
	if (ret)
		return ret;
	id = alloc_id(t);
	if (id < 0)
		return fail(id, err, len, "too many tap rules (at most %d)", SV_TAP_MAX_RULES - 1);
	ret = make_devices(t, id, &n, err, len);
	if (!ret) {
		ret = write_rule(t, id, &n.s.r);
		if (ret)
			fail(ret, err, len, "cannot write rule %d: %s", id, strerror(-ret));
	}
	if (ret) {
		undo_devices(t, &n);
		return ret;
	}
	if (n.s.r.match & SV_TAP_M_EXPR) {
		ret = expr_load(t, &n, id, err, len);
		if (ret) {
			undo_devices(t, &n);
			return ret;
		}
	}
	copy_place(t, &n, id);
	n.used = 1;
	t->rules[id] = n;
	for (dir = 0; dir < 2 && !ret; dir++)
		if (n.s.dirs & (1 << dir))
			ret = publish(t, n.from_ifindex, dir);
	if (ret) {
		fail(ret, err, len, "cannot attach to %s: %s%s", n.s.from, strerror(-ret),
		     ret == -EINVAL ? " (the tap needs tcx links, Linux 6.6+)" : "");
		sv_tap_del(t, id, NULL, 0);
		return ret;
	}
	return id;
}

int sv_tap_set_policy(struct sv_tap *t, int remote_ok, const char *const *allow, int n, char *err,
		      size_t len)
{
	sv_tap_policy_free(&t->policy);
	return sv_tap_policy_init(&t->policy, remote_ok, allow, n, err, len);
}

int sv_tap_del(struct sv_tap *t, int id, char *err, size_t len)
{
	struct sv_tap_rule zero = {};
	struct tap_entry *e;
	__u32 key;
	int dir;

	if (id < 1 || id >= SV_TAP_MAX_RULES || !t->rules[id].used)
		return err ? fail(-ENOENT, err, len, "no tap rule %d", id) : -ENOENT;
	e = &t->rules[id];
	e->used = 0;
	/* Out of the lists first (its marks with it); then the filters, the slot and the
	 * devices can go. */
	for (dir = 0; dir < 2; dir++) {
		expr_unlink(e, dir);
		if (e->s.dirs & (1 << dir))
			publish(t, e->from_ifindex, dir);
	}
	copy_remove(e, id, 0);
	key = id;
	bpf_map_update_elem(bpf_map__fd(t->skel->maps.sv_tap_rules), &key, &zero, BPF_ANY);
	undo_devices(t, e);
	progs_free(e);
	return 0;
}

/* The filters' counters, so those of an interface that goes away are known up to now; the
 * filters someone removed, and those that can be placed now (a qdisc made since, a handle
 * freed); and each hook's way of copying again where any of that changed or another tcx
 * program came or went. */
static void refresh_hooks(struct sv_tap *t)
{
	struct tap_entry *e;
	struct tap_hook *h;
	int id, dir, ours, gone, placed;
	size_t i;

	if (!t)
		return;
	for (id = 1; id < SV_TAP_MAX_RULES; id++) {
		e = &t->rules[id];
		if (!e->used)
			continue;
		gone = copy_read(e, id);
		for (dir = 0; dir < 2; dir++)
			if (gone & (1 << dir)) {
				pr_warn("tap rule %d: its tc filter on %s %s is gone (its copies "
					"since the last interval are not counted)\n", id, e->s.from,
					dir ? "egress" : "ingress");
				copy_forget(e, dir);
			}
		placed = copy_place(t, e, id);
		for (dir = 0; dir < 2; dir++) {
			if (placed & (1 << dir))
				pr_info("tap rule %d: its tc filter on %s %s is in place: copies by "
					"tc\n", id, e->s.from, dir ? "egress" : "ingress");
			if ((gone | placed) & (1 << dir))
				publish(t, e->from_ifindex, dir);
		}
	}
	for (i = 0; i < sizeof(t->hooks) / sizeof(t->hooks[0]); i++) {
		h = &t->hooks[i];
		if (!h->used)
			continue;
		ours = sv_tapcopy_hook_ours(h->ifindex, h->dir) == 1;
		if (ours != h->ours)
			publish_as(t, h->ifindex, h->dir, ours);
	}
}

void sv_tap_refresh(struct sv_tap *t)
{
	struct tap_entry *e;
	int id, dir, now, old;

	for (id = 1; t && id < SV_TAP_MAX_RULES; id++) {
		e = &t->rules[id];
		if (!e->used)
			continue;
		now = if_nametoindex(e->s.from);
		if (!now || now == e->from_ifindex)
			continue;
		old = e->from_ifindex;
		copy_remove(e, id, 1);
		e->from_ifindex = now;
		copy_place(t, e, id);
		for (dir = 0; dir < 2; dir++) {
			if (!(e->s.dirs & (1 << dir)))
				continue;
			expr_unlink(e, dir);
			publish(t, old, dir); /* the old interface's list and link go */
			if (publish(t, now, dir))
				pr_warn("tap rule %d: cannot attach to %s again\n", id, e->s.from);
		}
		pr_info("tap rule %d: %s is back (index %d), mirroring from it again\n", id,
			e->s.from, now);
	}
	refresh_hooks(t);
}

/* The program's counters with those of the rule's mirred actions: a frame they were given
 * was mirrored unless it failed. */
static void read_counters(struct sv_tap *t, __u32 id, struct sv_tap_counters *sum)
{
	struct sv_tap_counters *v = calloc(t->ncpu, sizeof(*v));
	struct tap_entry *e = &t->rules[id];
	__u64 sent, failed;
	int i;

	memset(sum, 0, sizeof(*sum));
	if (!v)
		return;
	copy_read(e, id);
	sent = e->tc_base_sent + e->tc_sent[0] + e->tc_sent[1];
	failed = e->tc_base_failed + e->tc_failed[0] + e->tc_failed[1];
	sum->mirrored = sent - failed;
	sum->failed = failed;
	if (!bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.sv_tap_counters), &id, v)) {
		for (i = 0; i < t->ncpu; i++) {
			sum->matched += v[i].matched;
			sum->mirrored += v[i].mirrored;
			sum->truncated += v[i].truncated;
			sum->rate_limited += v[i].rate_limited;
			sum->failed += v[i].failed;
		}
	}
	free(v);
}

/* How the rule's copies are made: "tc" (its filters' mirred actions), "bpf"
 * (bpf_clone_redirect), or per direction. */
static const char *copy_way(const struct tap_entry *e)
{
	static const char *const ways[] = { "bpf", "in:tc,out:bpf", "in:bpf,out:tc", "tc" };
	int in = !!(e->s.dirs & 1), out = !!(e->s.dirs & 2);
	int tc_in = e->by_tc[0] || !in, tc_out = e->by_tc[1] || !out;

	if (in && out)
		return ways[tc_in | tc_out << 1];
	return tc_in && tc_out ? "tc" : "bpf";
}

void sv_tap_list(struct sv_tap *t, struct sb *out)
{
	static const char *const dirs[] = { "", "in", "out", "both" };
	struct sv_tap_counters c;
	int id;

	for (id = 1; id < SV_TAP_MAX_RULES; id++) {
		struct tap_entry *e = &t->rules[id];

		if (!e->used)
			continue;
		read_counters(t, id, &c);
		sb_printf(out, "%d from=%s direction=%s to=", id, e->s.from, dirs[e->s.dirs & 3]);
		if (e->s.remote)
			sb_printf(out, "vxlan://%s:%u vni=%u", e->s.rhost, e->s.port, e->s.vni);
		else
			sb_puts(out, e->s.to);
		sb_printf(out, " snaplen=%u rate=%llu origin=%s copy=%s matched=%llu mirrored=%llu "
			  "truncated=%llu rate_limited=%llu failed=%llu rule=%s\n",
			  e->s.snaplen, e->s.rate, e->origin == SV_TAP_POST ? "post" : "local",
			  copy_way(e),
			  (unsigned long long)c.matched, (unsigned long long)c.mirrored,
			  (unsigned long long)c.truncated, (unsigned long long)c.rate_limited,
			  (unsigned long long)c.failed, e->s.text);
	}
}

int sv_tap_command(struct sv_tap *t, int argc, char **argv, struct sb *out, char *err,
		   size_t len)
{
	unsigned long id;
	char *end;
	int ret;

	if (argc >= 1 && !strcmp(argv[0], "add")) {
		ret = sv_tap_add(t, argc - 1, argv + 1, SV_TAP_LOCAL, err, len);
		if (ret > 0) {
			sb_printf(out, "%d\n", ret);
			pr_info("tap rule %d added: %s\n", ret, t->rules[ret].s.text);
		}
		return ret < 0 ? ret : 0;
	}
	if (argc == 2 && !strcmp(argv[0], "del")) {
		errno = 0;
		id = strtoul(argv[1], &end, 10);
		if (errno || end == argv[1] || *end)
			return fail(-EINVAL, err, len, "invalid rule id '%s'", argv[1]);
		ret = sv_tap_del(t, id > SV_TAP_MAX_RULES ? 0 : (int)id, err, len);
		if (!ret)
			pr_info("tap rule %lu removed\n", id);
		return ret;
	}
	if (argc == 1 && !strcmp(argv[0], "list")) {
		if (t->skel)
			sv_tap_list(t, out);
		return 0;
	}
	return fail(-EINVAL, err, len, "unknown tap command (add, del ID or list)");
}

static int wanted(const struct sv_tap_want *want, int n, long long post_id)
{
	int i;

	for (i = 0; i < n; i++)
		if (want[i].post_id == post_id)
			return 1;
	return 0;
}

/* Adds one post rule, or remembers why not. Returns its id, or 0. */
static int sync_add(struct sv_tap *t, const struct sv_tap_want *w, char *err, size_t len)
{
	char line[SV_TAP_TEXT], *words[SV_TAP_ARGS];
	int n, id;

	snprintf(line, sizeof(line), "%s", w->rule);
	n = sv_tap_split(line, words, SV_TAP_ARGS);
	id = n < 0 ? fail(n, err, len, "too many words") :
		     sv_tap_policy_check(&t->policy, n, words, err, len);
	if (!id)
		id = sv_tap_add(t, n, words, SV_TAP_POST, err, len);
	if (id > 0) {
		t->rules[id].post_id = w->post_id;
		pr_info("tap rule %d added from the post (its rule %lld): %s\n", id, w->post_id,
			w->rule);
		return id;
	}
	pr_warn("tap rule %lld from the post refused: %s\n", w->post_id, err);
	if (t->n_refused < SV_TAP_MAX_RULES) {
		t->refused[t->n_refused].post_id = w->post_id;
		snprintf(t->refused[t->n_refused].error, sizeof(t->refused[0].error), "%s", err);
		t->n_refused++;
	}
	return 0;
}

static const char *refused(struct sv_tap *t, long long post_id)
{
	int i;

	for (i = 0; i < t->n_refused; i++)
		if (t->refused[i].post_id == post_id)
			return t->refused[i].error;
	return NULL;
}

void sv_tap_sync(struct sv_tap *t, const struct sv_tap_want *want, int n,
		 struct sv_tap_report *rep)
{
	struct sv_tap_counters c;
	char err[200];
	int i, id;

	for (id = 1; id < SV_TAP_MAX_RULES; id++)
		if (t->rules[id].used && t->rules[id].origin == SV_TAP_POST &&
		    !wanted(want, n, t->rules[id].post_id)) {
			pr_info("tap rule %d removed: the post no longer wants it\n", id);
			sv_tap_del(t, id, NULL, 0);
		}
	for (i = 0; i < t->n_refused;)
		if (!wanted(want, n, t->refused[i].post_id))
			t->refused[i] = t->refused[--t->n_refused];
		else
			i++;
	for (i = 0; i < n; i++) {
		memset(&rep[i], 0, sizeof(rep[i]));
		rep[i].post_id = want[i].post_id;
		for (id = 1; id < SV_TAP_MAX_RULES; id++)
			if (t->rules[id].used && t->rules[id].origin == SV_TAP_POST &&
			    t->rules[id].post_id == want[i].post_id)
				break;
		if (id == SV_TAP_MAX_RULES) {
			const char *why = refused(t, want[i].post_id);

			if (why) {
				snprintf(rep[i].error, sizeof(rep[i].error), "%s", why);
				continue;
			}
			id = sync_add(t, &want[i], err, sizeof(err));
			if (!id) {
				snprintf(rep[i].error, sizeof(rep[i].error), "%s", err);
				continue;
			}
		}
		read_counters(t, id, &c);
		rep[i].agent_id = id;
		rep[i].matched = c.matched;
		rep[i].mirrored = c.mirrored;
		rep[i].truncated = c.truncated;
		rep[i].rate_limited = c.rate_limited;
		rep[i].failed = c.failed;
	}
}

void sv_tap_free(struct sv_tap *t)
{
	int id;

	if (!t)
		return;
	for (id = 1; id < SV_TAP_MAX_RULES; id++)
		if (t->rules[id].used)
			sv_tap_del(t, id, NULL, 0);
	tap_bpf__destroy(t->skel);
	sv_tap_policy_free(&t->policy);
	free(t);
}
