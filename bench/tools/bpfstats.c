// SPDX-License-Identifier: GPL-2.0
/* bpfstats: keeps BPF run-time statistics on (run_time_ns, run_cnt) for as long as it runs,
 * whatever kernel.bpf_stats_enabled says: the kernel counts the holders of a
 * BPF_ENABLE_STATS fd and the sysctl apart, so another benchmark switching the sysctl off
 * cannot blank this one's numbers. Prints "on" when they are, then waits for a signal. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

int main(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	if (fd < 0) {
		fprintf(stderr, "bpfstats: %s\n", strerror(errno));
		return 1;
	}
	printf("on\n");
	fflush(stdout);
	pause();
	return 0;
}
