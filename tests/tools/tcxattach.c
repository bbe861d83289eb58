// SPDX-License-Identifier: GPL-2.0
/* tcxattach IFACE in|out OBJ PROG: attaches someone else's program to the interface's tcx
 * hook, after those there, and holds the link until killed (bpftool before 7.3 cannot). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	unsigned int ifindex;
	int link;

	if (argc != 5 || !(ifindex = if_nametoindex(argv[1])) ||
	    (strcmp(argv[2], "in") && strcmp(argv[2], "out"))) {
		fprintf(stderr, "usage: tcxattach IFACE in|out OBJ PROG\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[3], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "tcxattach: cannot load %s\n", argv[3]);
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, argv[4]);
	if (!prog) {
		fprintf(stderr, "tcxattach: no program %s\n", argv[4]);
		return 1;
	}
	/* 46, 47: BPF_TCX_INGRESS and BPF_TCX_EGRESS (Linux 6.6). */
	link = bpf_link_create(bpf_program__fd(prog), ifindex, strcmp(argv[2], "in") ? 47 : 46,
			       NULL);
	if (link < 0) {
		fprintf(stderr, "tcxattach: %s\n", strerror(errno));
		return 1;
	}
	printf("attached\n");
	fflush(stdout);
	for (;;)
		pause();
}
