/* SPDX-License-Identifier: GPL-2.0 */
/* The TAP's copies made by tc: per rule and watched hook, a cls_bpf filter in the clsact
 * qdisc with a mirred mirror action to the rule's target. Its classifier jumps to the tap's
 * sv_tap_cls, which decides for the rule (see SV_TAP_CB_COPY_LO). */
#ifndef SV_TAPCOPY_H
#define SV_TAPCOPY_H

#include <stddef.h>
#include <linux/types.h>

/* The name of the filters and of their classifiers. */
#define SV_TAPCOPY_NAME "sv_tap_copy"

/* Loads the classifier of rule id's filter at direction dir (0 ingress, 1 egress): it
 * tail-calls slot 0 of the program array jmp_fd. Its fd, or -errno with one line in err. */
int sv_tapcopy_prog(int id, int dir, int jmp_fd, char *err, size_t len);
/* Adds rule id's filter on the hook (ifindex, dir: 0 ingress, 1 egress), mirroring to
 * target. 0, -ENOENT if the device has no clsact qdisc, -EEXIST if a filter (someone
 * else's) holds the handle, or another -errno.
 * No qdisc is made here: making a clsact qdisc on a live device (Linux 6.18) drops a frame
 * it is sending now and then (seen: 2 in 10 makes at 5,000 frames/s, SKB_DROP_REASON_
 * QDISC_DROP in __dev_queue_xmit); adding and deleting filters does not. */
int sv_tapcopy_add(int ifindex, int dir, int id, int prog_fd, int target);
int sv_tapcopy_del(int ifindex, int dir, int id);
/* The filter's mirred action: frames it was given, and those it could not send. 0 or -errno */
int sv_tapcopy_stats(int ifindex, int dir, int id, __u64 *packets, __u64 *failed);
/* Removes the filters a killed agent left on any interface of this namespace. */
void sv_tapcopy_sweep(void);
/* 1 if every tcx program at the hook is one of sitevisor's (they all return TCX_NEXT, so
 * the clsact filters behind them run), 0 if another's is there, -errno if unknown. */
int sv_tapcopy_hook_ours(int ifindex, int dir);

#endif /* SV_TAPCOPY_H */
