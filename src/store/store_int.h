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

/* A text column, "" for NULL. */
static inline const char *col_text(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	return t ? t : "";
}

#endif /* SV_STORE_INT_H */
