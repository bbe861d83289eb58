// SPDX-License-Identifier: GPL-2.0
/* The control socket, both ends; see tap.h for the protocol. The agent serves it from its
 * main loop, so commands run on the thread that owns the tap's state: no locks. A client has
 * two seconds to send its whole request (not per byte: one trickling a byte at a time is cut
 * off as soon), so a stuck client cannot hold the agent up for long. */
#define _GNU_SOURCE
#include "tap_int.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "log.h"
#include "sb.h"

#define REQ_MAX 8192
#define REQ_DEADLINE_MS 2000

static int addr_of(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa;
	int fd, err = addr_of(path, &sa);

	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void make_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir(dir, 0755); /* an existing directory is fine; bind says the rest */
	}
}

int sv_control_open(const char *path)
{
	struct sockaddr_un sa;
	int fd, err = addr_of(path, &sa);
	mode_t old;

	if (err)
		return err;
	fd = connect_to(path);
	if (fd >= 0) {
		close(fd);
		return -EADDRINUSE;
	}
	if (fd == -ECONNREFUSED)
		unlink(path); /* a socket file nobody listens on: a killed agent's */
	make_dir(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0077); /* root's tool: nobody else may change what is mirrored */
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16) ? -errno : 0;
	umask(old);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

void sv_control_close(int fd, const char *path)
{
	if (fd < 0)
		return;
	close(fd);
	unlink(path);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Reads until the empty line that ends a request, within REQ_DEADLINE_MS in all; the words
 * in place, or -errno. */
static int read_request(int c, char *buf, char **words, int max)
{
	long long due = mono_ms() + REQ_DEADLINE_MS, left;
	struct pollfd pfd = { .fd = c, .events = POLLIN };
	size_t len = 0;
	ssize_t n;
	char *p, *nl;
	int count = 0;

	for (;;) {
		if (len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n')
			break;
		if (len == 1 && buf[0] == '\n')
			break;
		if (len == REQ_MAX - 1)
			return -E2BIG;
		left = due - mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
			return -ETIMEDOUT;
		n = read(c, buf + len, REQ_MAX - 1 - len);
		if (n <= 0)
			return n ? -errno : -EPIPE;
		len += n;
	}
	buf[len - 1] = 0;
	for (p = buf; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = 0;
		if (count == max)
			return -E2BIG;
		words[count++] = p;
	}
	return count;
}

void sv_control_serve(int fd, struct sv_tap *tap)
{
	struct timeval tv = { .tv_sec = 2 };
	char *buf, *words[SV_TAP_ARGS + 2], err[256] = "";
	struct sb out;
	int c, n, ret;

	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	buf = malloc(REQ_MAX);
	sb_init(&out);
	n = buf ? read_request(c, buf, words, SV_TAP_ARGS + 2) : -ENOMEM;
	if (n < 0) {
		snprintf(err, sizeof(err), "bad request: %s", strerror(-n));
		ret = -EINVAL;
	} else if (n >= 1 && !strcmp(words[0], "tap")) {
		ret = sv_tap_command(tap, n - 1, words + 1, &out, err, sizeof(err));
	} else {
		snprintf(err, sizeof(err), "unknown request");
		ret = -EINVAL;
	}
	if (ret)
		sb_printf(&out, "error: %s\n", err);
	else
		sb_puts(&out, "ok\n");
	if (!sb_failed(&out) && write(c, out.buf, out.len) < 0)
		pr_debug("control client went away: %s\n", strerror(errno));
	sb_free(&out);
	free(buf);
	close(c);
}

/* Prints the answer: output lines to stdout, the last line decides the status. */
static int print_answer(FILE *f)
{
	char line[4096], prev[4096];
	int have = 0;

	while (fgets(line, sizeof(line), f)) {
		if (have)
			fputs(prev, stdout);
		memcpy(prev, line, sizeof(line));
		have = 1;
	}
	if (have && !strcmp(prev, "ok\n"))
		return 0;
	if (have && !strncmp(prev, "error: ", 7)) {
		pr_warn("%s", prev + 7);
		return 1;
	}
	pr_warn("the agent's answer was cut short\n");
	return 1;
}

int sv_control_request(const char *path, int argc, char **argv)
{
	struct sb req;
	FILE *f;
	int fd, i, ret;

	sb_init(&req);
	for (i = 0; i < argc; i++) {
		if (strchr(argv[i], '\n')) {
			pr_warn("an argument holds a newline\n");
			sb_free(&req);
			return 1;
		}
		sb_printf(&req, "%s\n", argv[i]);
	}
	sb_puts(&req, "\n");
	fd = connect_to(path);
	if (fd < 0) {
		pr_warn("no agent answers on %s: %s (is sitevisor-agent running? see --control)\n",
			path, strerror(-fd));
		sb_free(&req);
		return 1;
	}
	if (sb_failed(&req) || write(fd, req.buf, req.len) != (ssize_t)req.len) {
		pr_warn("cannot send the request to %s\n", path);
		close(fd);
		sb_free(&req);
		return 1;
	}
	sb_free(&req);
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return 1;
	}
	ret = print_answer(f);
	fclose(f);
	return ret;
}
