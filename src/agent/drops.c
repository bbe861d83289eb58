// SPDX-License-Identifier: GPL-2.0
/* Kernel drop reasons (--drops); see drops.h. The reason numbers of enum skb_drop_reason
 * change between kernel versions, so their names come from the running kernel's BTF at
 * start, and so do the values of the frees that are no drop (SKB_CONSUMED, NOT_SPECIFIED). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "drops.h"
#include "drops.skel.h"
#include "log.h"

#define BATCH 1024
#define PREFIX "SKB_DROP_REASON_"

struct sv_drops {
	struct drops_bpf *skel;
	char **names; /* by reason number below n_names; NULL where the kernel has none */
	__u32 n_names;
	struct sv_drop_total *totals;
	size_t n_totals;
	int outer_fd;
	int map_fd[2];
	int active;
};

/* Whether skb:kfree_skb passes a reason: its raw tracepoint's arguments after the context
 * are (skb, location, reason[, rx_sk]). */
static int has_reason_arg(const struct btf *btf)
{
	const struct btf_type *t;
	__s32 id = btf__find_by_name_kind(btf, "btf_trace_kfree_skb", BTF_KIND_TYPEDEF);

	if (id < 0)
		return 0;
	t = btf__type_by_id(btf, id);
	while (t && (btf_is_typedef(t) || btf_is_ptr(t)))
		t = btf__type_by_id(btf, t->type);
	return t && btf_is_func_proto(t) && btf_vlen(t) >= 4;
}

static int add_name(struct sv_drops *d, __u32 val, const char *name)
{
	if (val >= d->n_names) {
		__u32 n = val + 1;
		char **v = realloc(d->names, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		memset(v + d->n_names, 0, (n - d->n_names) * sizeof(*v));
		d->names = v;
		d->n_names = n;
	}
	free(d->names[val]);
	d->names[val] = strdup(name);
	return d->names[val] ? 0 : -ENOMEM;
}

/* The names of enum skb_drop_reason (without SKB_DROP_REASON_) by number, and the two
 * values the program skips. 1: the kernel has no drop reasons. */
static int read_reasons(struct sv_drops *d, struct drops_bpf *s)
{
	const struct btf_type *t;
	const struct btf_enum *e;
	struct btf *btf;
	int i, err = 0;
	__s32 id;

	btf = btf__load_vmlinux_btf();
	if (!btf)
		return 1;
	id = btf__find_by_name_kind(btf, "skb_drop_reason", BTF_KIND_ENUM);
	if (id < 0 || !has_reason_arg(btf)) {
		btf__free(btf);
		return 1;
	}
	t = btf__type_by_id(btf, id);
	e = btf_enum(t);
	for (i = 0; !err && i < btf_vlen(t); i++) {
		const char *n = btf__name_by_offset(btf, e[i].name_off);

		if (!strcmp(n, "SKB_CONSUMED"))
			s->rodata->sv_reason_consumed = e[i].val;
		else if (!strcmp(n, PREFIX "NOT_SPECIFIED"))
			s->rodata->sv_reason_not_specified = e[i].val;
		if (!strncmp(n, PREFIX, strlen(PREFIX)) && strcmp(n, PREFIX "MAX") &&
		    strcmp(n, PREFIX "SUBSYS_MASK") && (__u32)e[i].val < 0x10000)
			err = add_name(d, e[i].val, n + strlen(PREFIX));
	}
	btf__free(btf);
	return err;
}

static int load(struct sv_drops *d, unsigned int vxlan_port)
{
	struct drops_bpf *s;
	struct stat st;
	int err;

	s = drops_bpf__open();
	if (!s)
		return -errno;
	d->skel = s;
	err = read_reasons(d, s);
	if (err)
		return err;
	/* The tracepoint fires for every namespace: count only this one's drops. */
	if (!stat("/proc/self/ns/net", &st))
		s->rodata->sv_netns_ino = st.st_ino;
	s->rodata->sv_vxlan_port = vxlan_port;
	err = drops_bpf__load(s);
	if (!err)
		err = drops_bpf__attach(s);
	if (err)
		return err;
	d->outer_fd = bpf_map__fd(s->maps.sv_drop_maps);
	d->map_fd[0] = bpf_map__fd(s->maps.sv_drops_a);
	d->map_fd[1] = bpf_map__fd(s->maps.sv_drops_b);
	return 0;
}

int sv_drops_open(struct sv_drops **out, unsigned int vxlan_port)
{
	struct sv_drops *d = calloc(1, sizeof(*d));
	int err;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	err = load(d, vxlan_port);
	if (err == 1)
		pr_warn("drops: this kernel has no drop reasons on skb:kfree_skb; running without "
			"--drops\n");
	else if (err && err != -ENOMEM)
		pr_warn("drops: cannot trace skb:kfree_skb (%s); running without --drops\n",
			strerror(-err));
	if (err) {
		sv_drops_close(d);
		return err == -ENOMEM ? err : 0;
	}
	*out = d;
	return 0;
}

static const char *reason_name(const struct sv_drops *d, __u32 reason, char buf[24])
{
	if (reason < d->n_names && d->names[reason])
		return d->names[reason];
	/* A subsystem's reason (upper 16 bits: the subsystem), or one the BTF lacks. */
	snprintf(buf, 24, "0x%x", reason);
	return buf;
}

static void add_total(struct sv_drops *d, const char *reason, __u64 packets)
{
	struct sv_drop_total *v;
	size_t i;

	for (i = 0; i < d->n_totals; i++)
		if (!strcmp(d->totals[i].reason, reason))
			break;
	if (i == d->n_totals) {
		char *r = strdup(reason);

		v = r ? realloc(d->totals, (i + 1) * sizeof(*v)) : NULL;
		if (!v) {
			free(r);
			return; /* the metric lags; the records are unaffected */
		}
		d->totals = v;
		d->totals[i] = (struct sv_drop_total){ r, 0 };
		d->n_totals++;
	}
	d->totals[i].packets += packets;
}

struct drain_ctx {
	struct sv_drops *d;
	struct sv_flowtab *t;
};

/* One drained entry: into the totals, and into the flow's record. */
static int take_drop(void *ctx, const void *key, const void *val)
{
	const struct drain_ctx *c = ctx;
	const struct sv_drop_key *k = key;
	const struct sv_drop_val *v = val;
	char buf[24];
	const char *r = reason_name(c->d, k->reason, buf);

	add_total(c->d, r, v->packets);
	/* Records only for the interfaces traced, as the tc programs see them. */
	if (!sv_ifaces_name(c->t->ifaces, k->flow.ifindex))
		return 0;
	return sv_flowtab_add_drops(c->t, &k->flow, r, v);
}

/* Reads and empties a drop map no program writes any more. */
static int drain(struct sv_drops *d, int fd, struct sv_flowtab *t)
{
	static struct sv_drop_key keys[BATCH];
	static struct sv_drop_val vals[BATCH];
	struct drain_ctx c = { d, t };

	return sv_map_drain(fd, keys, sizeof(keys[0]), vals, sizeof(vals[0]), BATCH, take_drop, &c);
}

int sv_drops_collect(struct sv_drops *d, struct sv_flowtab *t)
{
	int old = d->active, fd = d->map_fd[!old];
	__u32 zero = 0;

	/* Returns once no program can still write the old map (see flowtab.c). */
	if (bpf_map_update_elem(d->outer_fd, &zero, &fd, BPF_ANY))
		return -errno;
	d->active = !old;
	return drain(d, d->map_fd[old], t);
}

int sv_drops_counters(struct sv_drops *d, __u64 c[SV_DROP_CNT_MAX])
{
	return sv_percpu_sum(bpf_map__fd(d->skel->maps.sv_drop_counters), c, SV_DROP_CNT_MAX);
}

const struct sv_drop_total *sv_drops_totals(const struct sv_drops *d, size_t *n)
{
	*n = d->n_totals;
	return d->totals;
}

void sv_drops_close(struct sv_drops *d)
{
	__u32 i;

	if (!d)
		return;
	drops_bpf__destroy(d->skel);
	for (i = 0; i < d->n_names; i++)
		free(d->names[i]);
	free(d->names);
	for (i = 0; i < d->n_totals; i++)
		free((char *)d->totals[i].reason);
	free(d->totals);
	free(d);
}
