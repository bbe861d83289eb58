// SPDX-License-Identifier: GPL-2.0
/* Filter expressions to classic BPF with libpcap; see pcapfilt.h. */
#include "pcapfilt.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <pcap/pcap.h>

int sv_pcapfilt_compile(const char *expr, unsigned int snaplen, struct sv_cinsn **prog,
			size_t *n, char *err, size_t errlen)
{
	struct bpf_program bp;
	pcap_t *p;
	size_t i;
	int ret = 0;

	/* A dead handle: the code is what tcpdump -r would run on a file, with tags in the
	 * frame (the program serves them so, see cbpf.c), no Linux ancillary loads. */
	p = pcap_open_dead(DLT_EN10MB, snaplen);
	if (!p) {
		snprintf(err, errlen, "pcap_open_dead failed");
		return -ENOMEM;
	}
	if (pcap_compile(p, &bp, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "%s", pcap_geterr(p));
		pcap_close(p);
		return -EINVAL;
	}
	*prog = calloc(bp.bf_len, sizeof(**prog));
	if (!*prog) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < bp.bf_len; i++)
		(*prog)[i] = (struct sv_cinsn){ .code = bp.bf_insns[i].code,
						.jt = bp.bf_insns[i].jt,
						.jf = bp.bf_insns[i].jf,
						.k = bp.bf_insns[i].k };
	*n = bp.bf_len;
out:
	pcap_freecode(&bp);
	pcap_close(p);
	return ret;
}

unsigned int sv_pcapfilt_run(const struct sv_cinsn *prog, size_t n, const unsigned char *pkt,
			     unsigned int wirelen, unsigned int caplen)
{
	struct bpf_insn insns[4096];
	size_t i;

	if (n > 4096)
		return 0;
	for (i = 0; i < n; i++)
		insns[i] = (struct bpf_insn){ .code = prog[i].code, .jt = prog[i].jt,
					      .jf = prog[i].jf, .k = prog[i].k };
	return bpf_filter(insns, pkt, wirelen, caplen);
}
