// SPDX-License-Identifier: GPL-2.0
/* "sitevisor-agent tap ...": manages the running agent's TAP rules over its control socket. */
#include <stdio.h>
#include <string.h>
#include "control.h"
#include "log.h"
#include "params.h"
#include "tap.h"
#include "tapspec.h"

struct tapcli_opts {
	const char *control;
};

static const struct sv_opt tapcli_opts[] = {
	{ "control", 0, SV_OPT_STR, SV_FIELD(struct tapcli_opts, control),
	  .flags = SV_OPT_NONEMPTY, .def = SV_CONTROL_DEFAULT, .metavar = "PATH",
	  .help = "the agent's control socket" },
	SV_OPTS_STANDARD('h'),
	SV_OPT_END,
};

static const struct sv_cmd tapcli_cmd = {
	.name = "sitevisor-agent tap",
	.synopsis = "sitevisor-agent tap [--control PATH] add|list|del ...",
	.about = "Mirrors chosen traffic of this box to a monitor, through the running agent.",
	.epilog = "Commands:\n"
		  "  add RULE       adds a rule (its words below, then an optional EXPRESSION)\n"
		  "                 and prints its id\n"
		  "  list           the rules with their counters, one a line\n"
		  "  del ID         removes a rule\n"
		  "EXPRESSION: a libpcap filter expression; one of the forms host/net/port/\n"
		  "portrange (with src/dst), ip, ip6, tcp, udp, icmp, icmp6 and proto N,\n"
		  "joined by 'and', becomes the fields below, any other runs as the rule's\n"
		  "own filter. See docs/tap.md.\n",
	.arg_opts = sv_tap_rule_opts,
	.arg_title = "The words of a rule:",
	.opts = tapcli_opts,
	.flags = SV_CMD_ARGS,
};

int sv_tap_main(int argc, char **argv)
{
	struct tapcli_opts o = { 0 };
	struct sv_opt_state p;
	int i, err;

	sv_prog_name = "sitevisor-agent tap";
	err = sv_params_parse(&p, &tapcli_cmd, &o, argc, argv);
	if (err)
		return err > 0 ? 0 : 2;
	i = p.argi;
	if (i >= argc || (strcmp(argv[i], "add") && strcmp(argv[i], "del") &&
			  strcmp(argv[i], "list"))) {
		pr_warn("expected a command: add, list or del (see --help)\n");
		return 2;
	}
	/* argv[0] is "tap": the request names what it is for. */
	argv[i - 1] = "tap";
	return sv_control_request(o.control, argc - i + 1, argv + i - 1);
}
