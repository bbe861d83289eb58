// SPDX-License-Identifier: GPL-2.0
/* Alerts in the store: what post/detect.c found, written when an alert opens and each time
 * the attack it describes goes on, pruned with the flow records (query.c reads them). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "sb.h"
#include "store_int.h"

static void bind_alert(sqlite3_stmt *s, const struct sv_alert *a)
{
	sqlite3_bind_text(s, 1, a->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, a->severity, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, a->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, a->target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, a->first_ns);
	sqlite3_bind_int64(s, 6, a->last_ns);
	sqlite3_bind_int64(s, 7, a->flows);
	sqlite3_bind_int64(s, 8, a->packets);
	sqlite3_bind_int64(s, 9, a->n_hosts);
	sqlite3_bind_int64(s, 10, a->n_ports);
	sqlite3_bind_int64(s, 11, a->n_sources);
	sqlite3_bind_text(s, 12, a->hosts ? a->hosts : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 13, a->ports ? a->ports : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 14, a->sources ? a->sources : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 15, a->seen_by ? a->seen_by : "", -1, SQLITE_STATIC);
}

static int write_alert(sqlite3 *db, struct sv_alert *a)
{
	static const char *const insert =
		"INSERT INTO alerts (type, severity, src, target, first_ns, last_ns, flows,"
		" packets, n_hosts, n_ports, n_sources, hosts, ports, sources, seen_by)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
	static const char *const update =
		"UPDATE alerts SET type = ?1, severity = ?2, src = ?3, target = ?4, first_ns = ?5,"
		" last_ns = ?6, flows = ?7, packets = ?8, n_hosts = ?9, n_ports = ?10,"
		" n_sources = ?11, hosts = ?12, ports = ?13, sources = ?14, seen_by = ?15"
		" WHERE id = ?16";
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(db, a->id ? update : insert, -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	bind_alert(s, a);
	if (a->id)
		sqlite3_bind_int64(s, 16, a->id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return -EIO;
	if (!a->id)
		a->id = sqlite3_last_insert_rowid(db);
	return 0;
}

/* One alert_boxes row per box of seen_by ("box\tiface" lines). */
static int write_boxes(sqlite3 *db, const struct sv_alert *a)
{
	const char *p = a->seen_by ? a->seen_by : "";
	sqlite3_stmt *s;
	int err = 0;

	if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO alert_boxes VALUES (?, ?)", -1, &s,
			       NULL) != SQLITE_OK)
		return -EIO;
	while (*p && !err) {
		size_t n = strcspn(p, "\t\n");

		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, p, n, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, a->id);
		if (sqlite3_step(s) != SQLITE_DONE)
			err = -EIO;
		p += strcspn(p, "\n");
		p += *p == '\n';
	}
	sqlite3_finalize(s);
	return err;
}

int sv_sqlite_alert_put(struct sv_store *st, struct sv_alert *a)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	int64_t id;

	if (!c || sv_exec(c->db, "BEGIN IMMEDIATE", NULL, 0))
		return -EIO;
	id = a->id;
	/* A box never leaves an alert's evidence, so adding rows is enough. */
	if (write_alert(c->db, a) || write_boxes(c->db, a) || sv_exec(c->db, "COMMIT", NULL, 0)) {
		sv_exec(c->db, "ROLLBACK", NULL, 0);
		a->id = id;
		return -EIO;
	}
	return 0;
}

int sv_alerts_prune(struct sv_conn *c, int64_t before_ns)
{
	sqlite3_stmt *s;
	int rc;

	/* The boxes first: they name the alerts to go. */
	if (sqlite3_prepare_v2(c->db,
			       "DELETE FROM alert_boxes WHERE alert IN (SELECT id FROM alerts"
			       " WHERE last_ns < ?)",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, before_ns);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE ||
	    sqlite3_prepare_v2(c->db, "DELETE FROM alerts WHERE last_ns < ?", -1, &s, NULL) !=
		    SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, before_ns);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -EIO;
}
