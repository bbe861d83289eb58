/* SPDX-License-Identifier: GPL-2.0 */
/* libpcap's side of capture: compiling a filter expression into classic BPF, and running
 * classic BPF in userspace (tests). Kept apart because pcap/bpf.h and linux/bpf.h both
 * define struct bpf_insn. */
#ifndef SV_PCAPFILT_H
#define SV_PCAPFILT_H

#include <stddef.h>
#include <linux/types.h>

/* One classic BPF instruction, laid out as libpcap's struct bpf_insn and the kernel's
 * struct sock_filter (both headers define names that clash with linux/bpf.h). */
struct sv_cinsn {
	__u16 code;
	__u8 jt;
	__u8 jf;
	__u32 k;
};

/* Compiles expr for Ethernet frames (DLT_EN10MB) with pcap_compile, optimized, netmask
 * unknown. Returns 0 and a malloc'ed program, or -EINVAL with libpcap's message in err. */
int sv_pcapfilt_compile(const char *expr, unsigned int snaplen, struct sv_cinsn **prog,
			size_t *n, char *err, size_t errlen);

/* libpcap's interpreter on one frame: its return value (0: no match). */
unsigned int sv_pcapfilt_run(const struct sv_cinsn *prog, size_t n, const unsigned char *pkt,
			     unsigned int wirelen, unsigned int caplen);

#endif /* SV_PCAPFILT_H */
