// SPDX-License-Identifier: GPL-2.0
/* notifywait PATH SECONDS: what systemd does for Type=notify services, for tests. Binds a
 * unix datagram socket at PATH and prints each message it receives, one per line, until
 * STOPPING=1 arrives or SECONDS pass. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd p = { .events = POLLIN };
	char buf[4096];
	int left;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: notifywait PATH SECONDS\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	p.fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	unlink(argv[1]);
	if (p.fd < 0 || bind(p.fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("notifywait");
		return 1;
	}
	for (left = atoi(argv[2]) * 10; left > 0; left--) {
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(p.fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = 0;
		printf("%s\n", buf);
		fflush(stdout);
		if (strstr(buf, "STOPPING=1"))
			break;
	}
	unlink(argv[1]);
	return 0;
}
