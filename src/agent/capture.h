/* SPDX-License-Identifier: GPL-2.0 */
/* sitevisor-agent capture: in-kernel filtered capture to pcapng (docs/capture.md). */
#ifndef SV_CAPTURE_H
#define SV_CAPTURE_H

/* The subcommand; argv[0] is "capture". Returns the exit status. */
int sv_capture_main(int argc, char **argv);

#endif /* SV_CAPTURE_H */
