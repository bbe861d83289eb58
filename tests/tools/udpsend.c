// SPDX-License-Identifier: GPL-2.0
/* udpsend: sends an exact number of UDP datagrams of a given payload size, or as many as it
 * can for a given time (benchmarks), and prints how many it sent. Tests need counts they
 * know; ping and nc do not give them.
 *
 *   udpsend [-n COUNT | -t SECONDS] [-s PAYLOAD] [-p SRCPORT] [-g GAP_US] [-c] ADDR PORT
 *
 * -c: the first 8 payload bytes count the datagrams, so no two are alike (trajectories). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#define BATCH 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long count = -1, size = 64, sport = 0, gap = 0, sent = 0;
	double secs = 0, end;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	struct mmsghdr msgs[BATCH];
	struct iovec iov;
	static char buf[65536];
	int c, fd, i, number = 0;

	while ((c = getopt(argc, argv, "n:t:s:p:g:c")) != -1) {
		switch (c) {
		case 'n': count = atol(optarg); break;
		case 't': secs = atof(optarg); break;
		case 's': size = atol(optarg); break;
		case 'p': sport = atol(optarg); break;
		case 'g': gap = atol(optarg); break;
		case 'c': number = 1; break;
		default: return 2;
		}
	}
	if (optind + 2 != argc || size < 0 || size > 65507 || (count < 0 && secs <= 0)) {
		fprintf(stderr, "usage: udpsend [-n COUNT | -t SECONDS] [-s PAYLOAD] [-p SRCPORT] "
				"[-g GAP_US] [-c] ADDR PORT\n");
		return 2;
	}
	if (getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai)) {
		fprintf(stderr, "udpsend: bad address\n");
		return 2;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (sport) {
		struct sockaddr_storage ss = { .ss_family = ai->ai_family };

		((struct sockaddr_in *)&ss)->sin_port = htons(sport); /* same offset in v6 */
		if (bind(fd, (void *)&ss, ai->ai_family == AF_INET ? sizeof(struct sockaddr_in) :
								    sizeof(struct sockaddr_in6))) {
			perror("udpsend: bind");
			return 1;
		}
	}
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		perror("udpsend: connect");
		return 1;
	}
	iov.iov_base = buf;
	iov.iov_len = size;
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	end = now() + secs;
	while (count < 0 ? now() < end : sent < count) {
		int want = gap || number ? 1 : BATCH, n;

		if (count >= 0 && count - sent < want)
			want = count - sent;
		if (number && size >= 8)
			memcpy(buf, &sent, 8);
		n = sendmmsg(fd, msgs, want, 0);
		if (n < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED)
				continue;
			perror("udpsend: send");
			return 1;
		}
		sent += n;
		if (gap)
			usleep(gap);
	}
	printf("%ld\n", sent);
	return 0;
}
