// SPDX-License-Identifier: GPL-2.0
/* tcxquery IFACE: names the programs attached to the interface's tcx ingress and egress
 * hooks, one "direction name" line each. bpftool before 7.3 cannot show tcx links. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <bpf/bpf.h>

int main(int argc, char **argv)
{
	static const char *const dirs[] = { "ingress", "egress" };
	unsigned int ifindex;
	int d;

	if (argc != 2 || !(ifindex = if_nametoindex(argv[1]))) {
		fprintf(stderr, "usage: tcxquery IFACE\n");
		return 2;
	}
	for (d = 0; d < 2; d++) {
		__u32 ids[64], cnt = 64, i;

		/* 46, 47: BPF_TCX_INGRESS and BPF_TCX_EGRESS (Linux 6.6). */
		if (bpf_prog_query(ifindex, 46 + d, 0, NULL, ids, &cnt)) {
			if (errno == EINVAL)
				return 0; /* no tcx in this kernel: nothing attached there */
			perror("tcxquery");
			return 1;
		}
		for (i = 0; i < cnt; i++) {
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);
			int fd = bpf_prog_get_fd_by_id(ids[i]);

			if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
				printf("%s %s\n", dirs[d], info.name);
		}
	}
	return 0;
}
