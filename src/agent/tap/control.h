/* SPDX-License-Identifier: GPL-2.0 */
/* The agent's control socket: a unix stream socket the "tap" subcommand talks to.
 *
 * Protocol (one request per connection): the client sends its words, each followed by "\n",
 * then an empty line. The agent answers with zero or more lines of output and a last line
 * "ok" or "error: MESSAGE", then closes. Words cannot hold a newline. */
#ifndef SV_CONTROL_H
#define SV_CONTROL_H

struct sv_tap;

/* Listens on path (mode 0600, its directory made if missing). A socket file no agent answers
 * on is stale and replaced; one an agent answers on is -EADDRINUSE. Returns the fd or -errno. */
int sv_control_open(const char *path);
/* Accepts one client on the listening fd and answers its request. */
void sv_control_serve(int fd, struct sv_tap *tap);
void sv_control_close(int fd, const char *path);
/* Sends words to the agent at path; prints its output on stdout, an error on stderr.
 * Returns the exit status: 0, or 1. */
int sv_control_request(const char *path, int argc, char **argv);

#endif /* SV_CONTROL_H */
