/* SPDX-License-Identifier: GPL-2.0 */
/* The virtual TAP's rules in the running agent: checked, applied to the kernel (programs
 * attached per watched interface and direction, devices for remote and truncated copies),
 * listed with their counters and removed, all without reattaching anything else. */
#ifndef SV_TAP_H
#define SV_TAP_H

#include "sb.h"

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
/* Follows watched interfaces that came back under their name with a new index: their
 * rules are attached there again. Called on interface events and every interval. */
void sv_tap_refresh(struct sv_tap *t);
/* One line per rule: id, where from and to, the counters and the rule's text. */
void sv_tap_list(struct sv_tap *t, struct sb *out);
/* Runs a control command ("add ...", "del ID", "list"): output lines into out; 0 or -errno
 * with the message in err. */
int sv_tap_command(struct sv_tap *t, int argc, char **argv, struct sb *out, char *err,
		   size_t errlen);
/* The post's desired rules for this box, and what the agent reports of each. */
struct sv_tap_want {
	long long post_id;
	char rule[512];
};

struct sv_tap_report {
	long long post_id;
	int agent_id; /* 0: not applied (see error) */
	char error[200];
	unsigned long long matched, mirrored, truncated, rate_limited, failed;
};

/* Makes the post's rules those wanted: removes the post's rules no longer wanted, adds new
 * ones (a rule that failed is not retried while it stays wanted: its error is reported), and
 * fills rep (room for n) with a report per wanted rule. Local rules are left alone. */
void sv_tap_sync(struct sv_tap *t, const struct sv_tap_want *want, int n,
		 struct sv_tap_report *rep);

/* The client: "sitevisor-agent tap ...". */
int sv_tap_main(int argc, char **argv);

#define SV_CONTROL_DEFAULT "/run/sitevisor/agent.sock"

#endif /* SV_TAP_H */
