/* SPDX-License-Identifier: GPL-2.0 */
/* Readiness and stopping for systemd's Type=notify services, without linking libsystemd. */
#ifndef SV_SDNOTIFY_H
#define SV_SDNOTIFY_H

/* Sends state ("READY=1", "STOPPING=1", "STATUS=...") to $NOTIFY_SOCKET if set; silently
 * nothing otherwise. */
void sv_notify(const char *state);

#endif /* SV_SDNOTIFY_H */
