/* SPDX-License-Identifier: GPL-2.0 */
/* The virtual TAP as the rest of the agent sees it: the rules in the running agent, the
 * post's rules fetched for them, the control socket and the "tap" subcommand. Each part is
 * declared under the name of the file that defines it; what the family's files share and
 * nobody else needs is in tap_int.h. */
#ifndef SV_TAP_H
#define SV_TAP_H

#include <stddef.h>

struct sb;
struct sv_post_endpoint;

/* tap.c: the virtual TAP's rules in the running agent: checked, applied to the kernel
 * (programs attached per watched interface and direction, devices for remote and truncated
 * copies), listed with their counters and removed, all without reattaching anything else. */
struct sv_tap;

enum sv_tap_origin {
	SV_TAP_LOCAL, /* --tap at start or the control socket */
	SV_TAP_POST, /* the post's desired rules for this box */
};

int sv_tap_new(struct sv_tap **t);
/* Removes every rule: programs detached, our devices deleted. */
void sv_tap_free(struct sv_tap *t);
/* Adds a rule given as words; its id (1..63) or -errno with one line in err. */
int sv_tap_add(struct sv_tap *t, int argc, char **argv, enum sv_tap_origin origin, char *err,
	       size_t errlen);
int sv_tap_del(struct sv_tap *t, int id, char *err, size_t errlen);
/* Which of the post's rules it takes: none unless remote_ok, and only those whose --to is
 * one of allow (CIDR[:PORT], [IPv6CIDR]:PORT, iface:NAME). 0, or -EINVAL with one line in
 * err for a malformed allow. */
int sv_tap_set_policy(struct sv_tap *t, int remote_ok, const char *const *allow, int n, char *err,
		      size_t errlen);
/* Follows watched interfaces that came back under their name with a new index: their
 * rules are attached there again. Called on interface events and every interval. */
void sv_tap_refresh(struct sv_tap *t);
/* One line per rule: id, where from and to, the counters and the rule's text. */
void sv_tap_list(struct sv_tap *t, struct sb *out);
/* Runs a control command ("add ...", "del ID", "list"): output lines into out; 0 or -errno
 * with the message in err. */
int sv_tap_command(struct sv_tap *t, int argc, char **argv, struct sb *out, char *err,
		   size_t errlen);

/* tapspec.c: a rule's words. */
#define SV_TAP_TEXT 512 /* longest rule text */
#define SV_TAP_ARGS 64 /* most words in a rule */

/* Splits line in place on blanks into at most max words; the count, or -E2BIG. */
int sv_tap_split(char *line, char **argv, int max);

/* tapsync.c: the tap's rules from the post. A thread fetches this box's desired rules every
 * interval (GET /api/v1/taps?box=BOX), the main loop applies them (it owns the tap), and the
 * thread posts what became of each, with its counters (POST /api/v1/taps/status?box=BOX).
 * With several posts (one site), both go to the post that last answered, and to the next one
 * when that one gives no answer, as batches do (docs/scale-out.md). */
struct sv_tapsync;

/* Starts the thread for the n_posts posts of ep (1 to SV_DELIVER_MAX_POSTS, copied). Returns
 * 0 or -errno. */
int sv_tapsync_start(const struct sv_post_endpoint *ep, int n_posts, const char *box,
		     unsigned int interval, struct sv_tapsync **out);
/* Readable when the post's rules arrived: the main loop then calls sv_tapsync_apply. */
int sv_tapsync_fd(const struct sv_tapsync *s);
void sv_tapsync_apply(struct sv_tapsync *s, struct sv_tap *tap);
void sv_tapsync_stop(struct sv_tapsync *s);

/* control.c: the agent's control socket, a unix stream socket the "tap" subcommand talks to.
 *
 * Protocol (one request per connection): the client sends its words, each followed by "\n",
 * then an empty line. The agent answers with zero or more lines of output and a last line
 * "ok" or "error: MESSAGE", then closes. Words cannot hold a newline. */

/* Where the agent serves it and the subcommand asks, unless told otherwise (--control). */
#define SV_CONTROL_DEFAULT "/run/sitevisor/agent.sock"

/* Listens on path (mode 0600, its directory made if missing). A socket file no agent answers
 * on is stale and replaced; one an agent answers on is -EADDRINUSE. Returns the fd or -errno. */
int sv_control_open(const char *path);
/* Accepts one client on the listening fd and answers its request. */
void sv_control_serve(int fd, struct sv_tap *tap);
void sv_control_close(int fd, const char *path);

/* tapcli.c: the client, "sitevisor-agent tap ...". Returns the exit status. */
int sv_tap_main(int argc, char **argv);

#endif /* SV_TAP_H */
