// SPDX-License-Identifier: GPL-2.0
/* udprate: a paced UDP flood over FLOWS flows for the capture benchmark. Flow i has source
 * port SPORT+i; the last flow goes to MPORT, the others to PORT, so a filter on MPORT
 * selects 1/FLOWS of the packets. Batches of 64 go to one flow at a time, round robin.
 * At the end it prints "sent N matched M cpu_ns C": datagrams the kernel took, those of
 * them to MPORT, and this process's CPU time (with no IRQ time accounting that includes
 * the softirq work -- veth, tc, packet taps -- the kernel did in its context).
 *
 *   udprate -t SECONDS [-r PPS] [-f FLOWS] [-s PAYLOAD] [-p SPORT] ADDR PORT MPORT
 * -r 0 (the default): as fast as it can. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#define BATCH 64
#define MAX_FLOWS 1000

static __uint64_t ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int flow_socket(const char *addr, int sport, int dport)
{
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(sport) };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(dport) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || inet_pton(AF_INET, addr, &dst.sin_addr) != 1 ||
	    bind(fd, (void *)&src, sizeof(src)) || connect(fd, (void *)&dst, sizeof(dst))) {
		perror("udprate: socket");
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	long rate = 0, flows = 100, size = 18, sport = 40000;
	double secs = 0;
	static int fds[MAX_FLOWS];
	static char buf[1500];
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { buf, 0 };
	unsigned long long sent = 0, matched = 0;
	__uint64_t start, end, due, step;
	long b;
	int c, i;

	while ((c = getopt(argc, argv, "t:r:f:s:p:")) != -1) {
		switch (c) {
		case 't': secs = atof(optarg); break;
		case 'r': rate = atol(optarg); break;
		case 'f': flows = atol(optarg); break;
		case 's': size = atol(optarg); break;
		case 'p': sport = atol(optarg); break;
		default: return 2;
		}
	}
	if (optind + 3 != argc || secs <= 0 || rate < 0 || flows < 1 || flows > MAX_FLOWS ||
	    size < 0 || size > 1472 || sport < 1 || sport + flows > 65535) {
		fprintf(stderr, "usage: udprate -t SECONDS [-r PPS] [-f FLOWS] [-s PAYLOAD] "
				"[-p SPORT] ADDR PORT MPORT\n");
		return 2;
	}
	for (i = 0; i < flows; i++)
		fds[i] = flow_socket(argv[optind], sport + i,
				     atoi(argv[optind + (i == flows - 1 ? 2 : 1)]));
	iov.iov_len = size;
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	start = ns(CLOCK_MONOTONIC);
	end = start + (__uint64_t)(secs * 1e9);
	step = rate ? 1000000000ull * BATCH / rate : 0;
	due = start;
	for (b = 0; ns(CLOCK_MONOTONIC) < end; b++) {
		int fl = b % flows, n;

		if (rate) {
			struct timespec ts = { due / 1000000000ull, due % 1000000000ull };

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			due += step;
		}
		n = sendmmsg(fds[fl], msgs, BATCH, 0);
		if (n < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED)
				continue;
			perror("udprate: send");
			return 1;
		}
		sent += n;
		if (fl == flows - 1)
			matched += n;
	}
	printf("sent %llu matched %llu cpu_ns %llu\n", sent, matched,
	       (unsigned long long)ns(CLOCK_PROCESS_CPUTIME_ID));
	return 0;
}
