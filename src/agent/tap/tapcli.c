// SPDX-License-Identifier: GPL-2.0
/* "sitevisor-agent tap ...": manages the running agent's TAP rules over its control socket. */
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "tap_int.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sitevisor-agent tap [--control PATH] COMMAND\n"
		"Mirrors chosen traffic of this box to a monitor, through the running agent.\n\n"
		"  add --from IFACE [--direction in|out|both] --to IFACE|vxlan://HOST[:PORT]\n"
		"      [--vni N] [--snaplen N] [--rate PPS] [--src CIDR] [--dst CIDR]\n"
		"      [--host CIDR] [--proto P] [--sport N[-M]] [--dport N[-M]] [--port N[-M]]\n"
		"      [--match-vni N] [EXPRESSION]\n"
		"                 adds a rule and prints its id\n"
		"  list           the rules with their counters, one a line\n"
		"  del ID         removes a rule\n\n"
		"  --control PATH the agent's control socket (default %s)\n"
		"EXPRESSION: libpcap syntax of the forms host/net/port/portrange (with src/dst),\n"
		"ip, ip6, tcp, udp, icmp, icmp6 and proto N, joined by 'and'. See docs/tap.md.\n",
		SV_CONTROL_DEFAULT);
}

int sv_tap_main(int argc, char **argv)
{
	const char *path = SV_CONTROL_DEFAULT;
	int i = 1;

	sv_prog_name = "sitevisor-agent tap";
	if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (i < argc && !strcmp(argv[i], "--control")) {
		if (i + 1 >= argc || !argv[i + 1][0]) {
			pr_warn("--control needs a path\n");
			return 2;
		}
		path = argv[i + 1];
		i += 2;
	}
	if (i >= argc || (strcmp(argv[i], "add") && strcmp(argv[i], "del") &&
			  strcmp(argv[i], "list"))) {
		pr_warn("expected a command: add, list or del (see --help)\n");
		return 2;
	}
	/* argv[0] is "tap": the request names what it is for. */
	argv[i - 1] = "tap";
	return sv_control_request(path, argc - i + 1, argv + i - 1);
}
