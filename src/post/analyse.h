/* SPDX-License-Identifier: GPL-2.0 */
/* One analyser for a site of several posts (issue 14, docs/scale-out.md): over a store that
 * several posts write (ClickHouse), the posts elect one of them through heartbeats in the
 * store, and that one feeds its detector and trajectory join from what every post stored,
 * read back from the store a few seconds behind; the others feed neither. */
#ifndef SV_ANALYSE_H
#define SV_ANALYSE_H

#include <stdint.h>
#include "detect.h"
#include "paths.h"
#include "sb.h"
#include "store.h"

struct sv_analyse;

/* Starts the election and feeding thread. detect may be NULL (--no-detect). replay_ns: how
 * far before the previous analyser's watermark a post taking over starts reading (the
 * detection window and the path hold, whichever is longer). 0; -EOPNOTSUPP when the store
 * has one writer (SQLite: the post feeds both from its own batches, as ever); -ENOMEM. */
int sv_analyse_start(struct sv_store *st, struct sv_detect *detect, struct sv_paths *paths,
		     int64_t replay_ns, struct sv_analyse **out);
/* NULL is fine. */
void sv_analyse_stop(struct sv_analyse *a);
/* Prometheus text: whether this post analyses, which post does, how far behind it reads. */
void sv_analyse_metrics(struct sv_analyse *a, struct sb *out);

#endif /* SV_ANALYSE_H */
