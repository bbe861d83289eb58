// SPDX-License-Identifier: GPL-2.0
/* Listening sockets from "ADDR:PORT", "[V6ADDR]:PORT" or "unix:PATH", for the post's API and
 * the agent's metrics. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "listen.h"

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A socket file that answers belongs to a running post: never take it over. One that
	 * does not is what a stopped post left behind. */
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128)) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT" or "unix:PATH" into a listening socket. */
static int open_inet(const char *spec, int type)
{
	struct addrinfo hints = { .ai_socktype = type, .ai_flags = AI_PASSIVE }, *ai;
	char host[256], *port;
	int fd, one = 1, rc;

	snprintf(host, sizeof(host), "%s", spec[0] == '[' ? spec + 1 : spec);
	port = strrchr(host, ':');
	if (!port)
		return -EINVAL;
	*port++ = 0;
	if (spec[0] == '[' && port - host >= 2 && port[-2] == ']')
		port[-2] = 0;
	rc = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
	if (rc)
		return -EINVAL;
	fd = socket(ai->ai_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || (type == SOCK_STREAM && listen(fd, 128))) {
		close(fd);
		goto fail;
	}
	freeaddrinfo(ai);
	return fd;
fail:
	rc = -errno;
	freeaddrinfo(ai);
	return rc;
}

int sv_listen(const char *spec)
{
	if (!strncmp(spec, "unix:", 5))
		return listen_unix(spec + 5);
	return open_inet(spec, SOCK_STREAM);
}

int sv_listen_dgram(const char *spec)
{
	return strncmp(spec, "unix:", 5) ? open_inet(spec, SOCK_DGRAM) : -EINVAL;
}
