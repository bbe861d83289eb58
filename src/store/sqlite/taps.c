// SPDX-License-Identifier: GPL-2.0
/* The virtual TAP's desired rules per box and their last report (store.h). Few rows, rarely
 * written: statements are prepared per call. */
#include <errno.h>
#include "store_int.h"

static int run(struct sv_store *st, const char *sql, sqlite3_stmt **s)
{
	struct sv_conn *c = sv_sqlite_conn(st);

	if (!c || sqlite3_prepare_v2(c->db, sql, -1, s, NULL) != SQLITE_OK)
		return -EIO;
	return 0;
}

int sv_sqlite_tap_add(struct sv_store *st, const char *box, const char *rule, int64_t now_ns,
		      int64_t *id)
{
	sqlite3_stmt *s;
	int ret;

	if (run(st, "INSERT INTO taps (box, rule, created_ns) VALUES (?, ?, ?) RETURNING id", &s))
		return -EIO;
	sqlite3_bind_text(s, 1, box, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rule, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ns);
	ret = sqlite3_step(s) == SQLITE_ROW ? 0 : -EIO;
	if (!ret)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return ret;
}

int sv_sqlite_tap_del(struct sv_store *st, int64_t id)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	sqlite3_stmt *s;
	int ret;

	if (!c || run(st, "DELETE FROM taps WHERE id = ?", &s))
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	ret = sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
	if (!ret && !sqlite3_changes(c->db))
		ret = -ENOENT;
	sqlite3_finalize(s);
	return ret;
}

int sv_sqlite_taps(struct sv_store *st, const char *box, sv_tap_cb cb, void *ctx)
{
	sqlite3_stmt *s;
	int ret = 0, rc;

	if (run(st,
		"SELECT id, box, rule, error, created_ns, reported_ns, agent_id, matched, mirrored,"
		" truncated, rate_limited, failed FROM taps WHERE ?1 IS NULL OR box = ?1 ORDER BY id",
		&s))
		return -EIO;
	if (box)
		sqlite3_bind_text(s, 1, box, -1, SQLITE_STATIC);
	while (!ret && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct sv_tap_row r = {
			.id = sqlite3_column_int64(s, 0),
			.box = (const char *)sqlite3_column_text(s, 1),
			.rule = (const char *)sqlite3_column_text(s, 2),
			.error = (const char *)sqlite3_column_text(s, 3),
			.created_ns = sqlite3_column_int64(s, 4),
			.reported_ns = sqlite3_column_int64(s, 5),
			.agent_id = sqlite3_column_int64(s, 6),
			.matched = sqlite3_column_int64(s, 7),
			.mirrored = sqlite3_column_int64(s, 8),
			.truncated = sqlite3_column_int64(s, 9),
			.rate_limited = sqlite3_column_int64(s, 10),
			.failed = sqlite3_column_int64(s, 11),
		};
		ret = cb(ctx, &r);
	}
	if (!ret && rc != SQLITE_DONE)
		ret = -EIO;
	sqlite3_finalize(s);
	return ret;
}

int sv_sqlite_tap_report(struct sv_store *st, const char *box, const struct sv_tap_row *r,
			 int64_t now_ns)
{
	sqlite3_stmt *s;
	int ret;

	if (run(st,
		"UPDATE taps SET agent_id = ?, error = ?, reported_ns = ?, matched = ?, mirrored = ?,"
		" truncated = ?, rate_limited = ?, failed = ? WHERE id = ? AND box = ?",
		&s))
		return -EIO;
	sqlite3_bind_int64(s, 1, r->agent_id);
	if (r->error)
		sqlite3_bind_text(s, 2, r->error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ns);
	sqlite3_bind_int64(s, 4, r->matched);
	sqlite3_bind_int64(s, 5, r->mirrored);
	sqlite3_bind_int64(s, 6, r->truncated);
	sqlite3_bind_int64(s, 7, r->rate_limited);
	sqlite3_bind_int64(s, 8, r->failed);
	sqlite3_bind_int64(s, 9, r->id);
	sqlite3_bind_text(s, 10, box, -1, SQLITE_STATIC);
	ret = sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(s);
	return ret;
}
