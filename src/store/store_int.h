/* SPDX-License-Identifier: GPL-2.0 */
/* What store.c and query.c share and nobody else needs. */
#ifndef SV_STORE_INT_H
#define SV_STORE_INT_H

#include <sqlite3.h>
#include "store.h"

struct sv_conn {
	struct sv_store *st;
	sqlite3 *db;
	sqlite3_stmt *ins_batch, *ins_flow, *up_rollup, *up_box, *up_talk;
};

/* This thread's connection, opened on first use; NULL if it cannot be opened. */
struct sv_conn *sv_store_conn(struct sv_store *st);

/* Deletes alerts whose last activity is older than before_ns (alerts.c). */
int sv_alerts_prune(struct sv_conn *c, int64_t before_ns);

#endif /* SV_STORE_INT_H */
