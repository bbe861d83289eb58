// SPDX-License-Identifier: GPL-2.0
/* tcpxfer: one TCP transfer of a known size, for tests.
 *   tcpxfer -l PORT           accept one connection, read to EOF, print the bytes read
 *   tcpxfer ADDR PORT BYTES   connect, send BYTES, close, wait for the peer to close */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

static char buf[65536];

static int serve(const char *port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(port)) };
	int one = 1, ls, fd;
	long total = 0;
	ssize_t n;

	ls = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (void *)&sa, sizeof(sa)) || listen(ls, 1)) {
		perror("tcpxfer: listen");
		return 1;
	}
	fd = accept(ls, NULL, NULL);
	if (fd < 0) {
		perror("tcpxfer: accept");
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	close(fd);
	printf("%ld\n", total);
	return 0;
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	long left;
	int fd;

	if (argc == 3 && !strcmp(argv[1], "-l"))
		return serve(argv[2]);
	if (argc != 4) {
		fprintf(stderr, "usage: tcpxfer -l PORT | tcpxfer ADDR PORT BYTES\n");
		return 2;
	}
	if (getaddrinfo(argv[1], argv[2], &hints, &ai))
		return 2;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		perror("tcpxfer: connect");
		return 1;
	}
	for (left = atol(argv[3]); left > 0;) {
		ssize_t n = write(fd, buf, left < (long)sizeof(buf) ? left : (long)sizeof(buf));

		if (n <= 0) {
			perror("tcpxfer: write");
			return 1;
		}
		left -= n;
	}
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return 0;
}
