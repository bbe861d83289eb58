// SPDX-License-Identifier: GPL-2.0
/* udpsink: binds a UDP socket and never reads it, until SIGTERM. The benchmark's receiver
 * needs a bound port so its stack takes every datagram up to the socket (and drops it there
 * once the queue is full, counted in Udp RcvbufErrors) instead of answering with ICMP port
 * unreachable, which would add egress traffic. Not reading keeps the second core free.
 *
 *   udpsink ADDR PORT */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE }, *ai;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: udpsink ADDR PORT\n");
		return 2;
	}
	if (getaddrinfo(argv[1], argv[2], &hints, &ai)) {
		fprintf(stderr, "udpsink: bad address\n");
		return 2;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen)) {
		perror("udpsink: bind");
		return 1;
	}
	/* Tell the script the port is bound; it waits for this line. */
	printf("bound\n");
	fflush(stdout);
	for (;;)
		pause(); /* SIGTERM's default action ends us */
}
