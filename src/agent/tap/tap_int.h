/* SPDX-License-Identifier: GPL-2.0 */
/* What the tap's files share and nobody else needs; the rest of the agent includes tap.h.
 *
 * The virtual TAP mirrors chosen traffic of this box to a monitor. Its work is split by
 * concern (parsing a rule, devices over rtnetlink, tc filters, the post, the control socket)
 * so each file reads alone, and by necessity: pcap.h, needed to compile a rule's expression,
 * and libbpf, needed for everything else, both define struct bpf_program, so no file may
 * include both. From the agent's folder the family uses rtnl.h (netlink requests), cbpf.h
 * (an expression's classic filter as eBPF) and tcx.h. The members, each declared below (or
 * in tap.h) under its name:
 *
 *   tap.c      the rules in the running agent: checks (loops, room), the BPF object
 *              (src/bpf/tap.bpf.c) loaded with the first rule, rules written into its
 *              maps and published per interface and direction; the post's rules applied.
 *   tapspec.c  a rule's words (options and a libpcap expression) to struct sv_tap_spec;
 *              the family's error helper.
 *   tapcopy.c  copies made by tc: a cls_bpf filter with a mirred action per rule and hook.
 *   tapdev.c   the tap's own devices over rtnetlink: VXLAN devices, veth pairs for snaplen.
 *   tapsync.c  the thread that fetches the post's rules and reports what became of them.
 *   tappolicy.c which of the post's rules the box takes (--allow-remote-tap, --tap-allow-to).
 *   control.c  the control socket, both ends: the agent serves it, the subcommand asks.
 *   tapcli.c   the "tap" subcommand.
 */
#ifndef SV_TAP_INT_H
#define SV_TAP_INT_H

#include <stddef.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/types.h>
#include "params.h"
#include "sitevisor.h"
#include "tap.h"

/* tapspec.c: a rule as words (from the command line, the control socket or the post)
 * checked and turned into the kernel's struct sv_tap_rule plus where copies go. */
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
/* One line into err (printf); returns ret, the caller's -errno, so an error the kernel
 * reported reaches the caller as it was. */
int sv_tap_fail(int ret, char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* tappolicy.c: which of the post's rules this box takes. */
struct sv_tap_allow;

struct sv_tap_policy {
	int remote_ok; /* --allow-remote-tap */
	struct sv_tap_allow *allow; /* --tap-allow-to */
	int n_allow;
};

/* From the options; -EINVAL with one line in err for a malformed --tap-allow-to. */
int sv_tap_policy_init(struct sv_tap_policy *p, int remote_ok, const char *const *allow, int n,
		       char *err, size_t len);
void sv_tap_policy_free(struct sv_tap_policy *p);
/* 0 if the box takes this rule from the post, else -EPERM (or the rule's own mistake,
 * -EINVAL) with the reason in err. Checked before the rule is compiled: names first. */
int sv_tap_policy_check(const struct sv_tap_policy *p, int argc, char **argv, char *err,
			size_t len);

/* tap.c: the post's desired rules for this box, and what the agent reports of each. */
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

/* tapcopy.c: the copies made by tc: per rule and watched hook, a cls_bpf filter in the
 * clsact qdisc with a mirred mirror action to the rule's target. Its classifier jumps to the
 * tap's sv_tap_cls, which decides for the rule (see SV_TAP_CB_COPY_LO). */

/* The name of the filters and of their classifiers. */
#define SV_TAPCOPY_NAME "sv_tap_copy"

/* Loads the classifier of rule id's filter at direction dir (0 ingress, 1 egress): it
 * tail-calls slot 0 of the program array jmp_fd. Its fd, or -errno with one line in err. */
int sv_tapcopy_prog(int id, int dir, int jmp_fd, char *err, size_t len);
/* Adds rule id's filter on the hook (ifindex, dir: 0 ingress, 1 egress), mirroring to
 * target. 0, -ENOENT if the device has no clsact qdisc, -EEXIST if a filter (someone
 * else's) holds the handle, or another -errno.
 * No qdisc is made here: making a clsact qdisc on a live device (Linux 6.18) drops a frame
 * it is sending now and then (seen: 2 in 10 makes at 5,000 frames/s, SKB_DROP_REASON_
 * QDISC_DROP in __dev_queue_xmit); adding and deleting filters does not. */
int sv_tapcopy_add(int ifindex, int dir, int id, int prog_fd, int target);
int sv_tapcopy_del(int ifindex, int dir, int id);
/* The filter's mirred action: frames it was given, and those it could not send. 0 or -errno */
int sv_tapcopy_stats(int ifindex, int dir, int id, __u64 *packets, __u64 *failed);
/* Removes the filters a killed agent left on any interface of this namespace. */
void sv_tapcopy_sweep(void);
/* 1 if every tcx program at the hook is one of sitevisor's (they all return TCX_NEXT, so
 * the clsact filters behind them run), 0 if another's is there, -errno if unknown. */
int sv_tapcopy_hook_ours(int ifindex, int dir);

/* tapdev.c: the devices the tap makes for itself over rtnetlink: VXLAN devices towards
 * remote monitors and veth pairs that cut copies to a snaplen. */

/* A VXLAN device NAME sending to remote:port with VNI, its source address and underlay chosen
 * by the route; IPv6 off (no chatter to the monitor), up. Returns the ifindex or -errno. */
int sv_tapdev_vxlan(const char *name, const struct sockaddr_storage *remote, unsigned int port,
		    unsigned int vni);
/* A veth pair A-B, both up with IPv6 off. Returns 0 or -errno. */
int sv_tapdev_veth(const char *a, const char *b);
/* Deletes a device we made (a veth pair goes with either end). */
int sv_tapdev_del(int ifindex);
/* The kind of a device ("bridge", "veth", ...; "" for a physical one) into kind. 0 or -errno. */
int sv_tapdev_kind(int ifindex, char *kind, size_t size);
/* The interface the route to an address leaves by, or -errno. */
int sv_tapdev_route_oif(const struct sockaddr_storage *dst);

/* control.c: the client's end. Sends words to the agent at path; prints its output on
 * stdout, an error on stderr. Returns the exit status: 0, or 1. */
int sv_control_request(const char *path, int argc, char **argv);

#endif /* SV_TAP_INT_H */
