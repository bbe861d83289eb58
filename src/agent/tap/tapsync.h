/* SPDX-License-Identifier: GPL-2.0 */
/* The tap's rules from the post: a thread fetches this box's desired rules every interval
 * (GET /api/v1/taps?box=BOX), the main loop applies them (it owns the tap), and the thread
 * posts what became of each, with its counters (POST /api/v1/taps/status?box=BOX). */
#ifndef SV_TAPSYNC_H
#define SV_TAPSYNC_H

#include "deliver.h"
#include "tap.h"

struct sv_tapsync;

/* Starts the thread. Returns 0 or -errno. */
int sv_tapsync_start(const struct sv_post_endpoint *ep, const char *box, unsigned int interval,
		     struct sv_tapsync **out);
/* Readable when the post's rules arrived: the main loop then calls sv_tapsync_apply. */
int sv_tapsync_fd(const struct sv_tapsync *s);
void sv_tapsync_apply(struct sv_tapsync *s, struct sv_tap *tap);
void sv_tapsync_stop(struct sv_tapsync *s);

#endif /* SV_TAPSYNC_H */
