/* SPDX-License-Identifier: GPL-2.0 */
/* tcx (Linux 6.6) constants that older uapi headers lack. */
#ifndef SV_TCX_H
#define SV_TCX_H

#define SV_BPF_TCX_INGRESS 46 /* enum bpf_attach_type */
#define SV_BPF_TCX_EGRESS 47
#ifndef BPF_F_BEFORE
#define BPF_F_BEFORE (1U << 3)
#endif

/* The tcx attach type of a direction (0: ingress, 1: egress). */
#define SV_TCX_TYPE(dir) ((dir) ? SV_BPF_TCX_EGRESS : SV_BPF_TCX_INGRESS)

#endif /* SV_TCX_H */
