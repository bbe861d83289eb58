// SPDX-License-Identifier: GPL-2.0
/* udpmsg: sends each HEX argument as one UDP datagram, in order, from one socket (so from
 * one source port); "" sends an empty datagram. Tests craft IPFIX and NetFlow messages with
 * it: bash's /dev/udp may split a write and opens a new port per redirection.
 *
 *   udpmsg [-p SRCPORT] [-s SRCADDR] [-g GAP_MS] ADDR PORT HEX... */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Hex digits, white space between bytes allowed. Returns the length or -1. */
static long unhex(const char *s, unsigned char *out, size_t cap)
{
	size_t n = 0;

	while (*s) {
		if (*s == ' ' || *s == '\n') {
			s++;
			continue;
		}
		if (hexval(s[0]) < 0 || !s[1] || hexval(s[1]) < 0 || n == cap)
			return -1;
		out[n++] = hexval(s[0]) << 4 | hexval(s[1]);
		s += 2;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	static unsigned char buf[65536];
	long sport = 0, gap = 0, len;
	const char *src = NULL;
	int c, fd, i;

	while ((c = getopt(argc, argv, "p:g:s:")) != -1) {
		switch (c) {
		case 'p': sport = atol(optarg); break;
		case 's': src = optarg; break;
		case 'g': gap = atol(optarg); break;
		default: return 2;
		}
	}
	if (argc - optind < 3) {
		fprintf(stderr, "usage: udpmsg [-p SRCPORT] [-s SRCADDR] [-g GAP_MS] ADDR PORT "
			"HEX...\n");
		return 2;
	}
	if (getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai)) {
		fprintf(stderr, "udpmsg: bad address\n");
		return 2;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd >= 0 && (sport || src)) {
		struct sockaddr_storage ss;

		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		((struct sockaddr_in *)&ss)->sin_port = htons(sport); /* same offset in v6 */
		/* -s: an IPv4 source, another loopback address say, as a second exporter. */
		if (src && inet_pton(AF_INET, src, &((struct sockaddr_in *)&ss)->sin_addr) != 1)
			fd = -1;
		if (fd >= 0 && bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen))
			fd = -1;
	}
	if (fd < 0) {
		perror("udpmsg");
		return 1;
	}
	for (i = optind + 2; i < argc; i++) {
		len = unhex(argv[i], buf, sizeof(buf));
		if (len < 0) {
			fprintf(stderr, "udpmsg: argument %d is not hex\n", i - optind - 1);
			return 2;
		}
		if (sendto(fd, buf, len, 0, ai->ai_addr, ai->ai_addrlen) != len) {
			perror("udpmsg: sendto");
			return 1;
		}
		if (gap)
			usleep(gap * 1000);
	}
	printf("%d\n", argc - optind - 2);
	return 0;
}
