/* SPDX-License-Identifier: GPL-2.0 */
/* Listening sockets from the address forms users write on command lines. */
#ifndef SV_LISTEN_H
#define SV_LISTEN_H

/* A bound, listening socket for "ADDR:PORT", "[V6ADDR]:PORT" or "unix:PATH"; a negative
 * errno otherwise (-EINVAL: not of those forms; -EADDRINUSE for a unix socket a running
 * process answers on). */
int sv_listen(const char *spec);
/* A bound UDP socket for "ADDR:PORT" or "[V6ADDR]:PORT" (flow collectors). */
int sv_listen_dgram(const char *spec);

#endif /* SV_LISTEN_H */
