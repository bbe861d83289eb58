/* SPDX-License-Identifier: GPL-2.0 */
/* A TAP rule as words (from the command line, the control socket or the post) checked and
 * turned into the kernel's struct sv_tap_rule plus where copies go. */
#ifndef SV_TAPSPEC_H
#define SV_TAPSPEC_H

#include <stddef.h>
#include <net/if.h>
#include <sys/socket.h>
#include "params.h"
#include "sitevisor.h"

#define SV_TAP_TEXT 512 /* longest rule text */
#define SV_TAP_ARGS 64 /* most words in a rule */

struct sv_tap_spec {
	char from[IF_NAMESIZE];
	int dirs; /* bit SV_INGRESS, bit SV_EGRESS */
	char to[IF_NAMESIZE]; /* a local target; empty for a remote one */
	int remote;
	struct sockaddr_storage raddr;
	char rhost[64]; /* the remote as written */
	unsigned int port, vni; /* VXLAN towards the remote */
	unsigned int snaplen; /* 0: whole frames */
	unsigned long long rate; /* packets per second; 0: no cap */
	struct sv_tap_rule r; /* the match (target_ifindex is set when applied) */
	char text[SV_TAP_TEXT]; /* the rule's words joined by spaces */
	char expr[SV_TAP_TEXT]; /* with SV_TAP_M_EXPR: the libpcap expression */
};

/* The words of a rule: names, ranges and help, for 'tap add --help' and the man page. */
extern const struct sv_opt sv_tap_rule_opts[];
/* The word NAME ("snaplen") of sv_tap_rule_opts, or NULL. */
const struct sv_opt *sv_tap_rule_opt(const char *name);

/* Parses a rule's words: options, then an optional libpcap expression. On a mistake returns
 * -EINVAL with one line in err. Interfaces are not looked up here. */
int sv_tap_spec_parse(int argc, char **argv, struct sv_tap_spec *s, char *err, size_t errlen);
/* One line into err (printf); returns -EINVAL. */
int sv_tap_fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Splits line in place on blanks into at most max words; the count, or -E2BIG. */
int sv_tap_split(char *line, char **argv, int max);

#endif /* SV_TAPSPEC_H */
