/* SPDX-License-Identifier: GPL-2.0 */
/* Classic BPF (a compiled libpcap filter) to an eBPF tc program that runs the filter inside
 * the kernel and sends each accepted frame to userspace. See cbpf.c for the mapping. */
#ifndef SV_CBPF_H
#define SV_CBPF_H

#include <stddef.h>
#include <linux/bpf.h>
#include "pcapfilt.h" /* struct sv_cinsn */

struct sv_cbpf_opts {
	int perf_map_fd; /* BPF_MAP_TYPE_PERF_EVENT_ARRAY: accepted frames go here */
	int cnt_map_fd; /* per-CPU array of SV_CAP_MAX __u64, enum sv_cap_counter */
	__u32 snaplen; /* at most this many bytes of a frame are sent */
	int dir; /* 0: ingress, 1: egress; written into each event */
	/* 1..63: mark mode, for a tap rule with this id: an accepted frame is not sent but
	 * marked in __sk_buff.cb (SV_TAP_CB_MAGIC_*); the maps above are unused. 0: capture. */
	int mark_id;
	/* With mark_id, classifier mode, for the rule's tc filter: the program returns 0 for
	 * a frame the expression rejects, and tail-calls slot 0 of the program array
	 * cls_jmp_fd (sv_tap_cls) for one it accepts, with cb[4] as SV_TAP_CLS_* says. */
	int cls;
	int cls_jmp_fd;
};

/* Translates n classic instructions into a freshly allocated eBPF program (*out, *out_n
 * instructions). The program returns TC_ACT_UNSPEC (classifier mode: 0, or the tail call
 * decides). On error returns a negative errno and puts one line (no newline) into err. */
int sv_cbpf_translate(const struct sv_cinsn *prog, size_t n, const struct sv_cbpf_opts *o,
		      struct bpf_insn **out, size_t *out_n, char *err, size_t errlen);

/* Loads a translated program as BPF_PROG_TYPE_SCHED_CLS named name; returns its fd or a
 * negative errno, the verifier's log (last line) in err. */
int sv_cbpf_load(const struct bpf_insn *insns, size_t n, const char *name, char *err,
		 size_t errlen);

#endif /* SV_CBPF_H */
