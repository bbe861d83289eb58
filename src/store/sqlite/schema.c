// SPDX-License-Identifier: GPL-2.0
/* The SQLite backend's schema: the migrations that build it step by step, and the check on
 * open that brings an older database up to this post's version (SV_SCHEMA_VERSION). */
#include <errno.h>
#include <stdio.h>
#include <sqlite3.h>
#include "store_int.h"

/* Each migration takes the schema from version i to i + 1. Never edit one that shipped:
 * add the next. */
static const char *const migrations[SV_SCHEMA_VERSION] = {
	"CREATE TABLE flows ("
	"  id INTEGER PRIMARY KEY, box TEXT NOT NULL, iface TEXT NOT NULL,"
	"  direction INTEGER NOT NULL, eth_type INTEGER, ip_version INTEGER,"
	"  protocol INTEGER, src_addr TEXT, dst_addr TEXT, src_port INTEGER,"
	"  dst_port INTEGER, icmp_type INTEGER, icmp_code INTEGER, vlan INTEGER,"
	"  inner_vlan INTEGER, vni INTEGER, outer_src_addr TEXT, outer_dst_addr TEXT,"
	"  src_mac TEXT, dst_mac TEXT, packets INTEGER NOT NULL, bytes INTEGER NOT NULL,"
	"  tcp_flags INTEGER, first_ns INTEGER, last_ns INTEGER NOT NULL, end_reason TEXT);"
	"CREATE INDEX flows_last ON flows(last_ns);"
	"CREATE TABLE rollup_minute ("
	"  box TEXT NOT NULL, iface TEXT NOT NULL, direction INTEGER NOT NULL,"
	"  minute INTEGER NOT NULL, packets INTEGER NOT NULL, bytes INTEGER NOT NULL,"
	"  PRIMARY KEY (box, iface, direction, minute)) WITHOUT ROWID;"
	"CREATE TABLE boxes ("
	"  name TEXT PRIMARY KEY, first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL,"
	"  agent_version TEXT, interfaces TEXT, flows INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE batches ("
	"  box TEXT NOT NULL, batch_id TEXT NOT NULL, received_ns INTEGER NOT NULL,"
	"  PRIMARY KEY (box, batch_id)) WITHOUT ROWID;",
	/* 2: pruning old batch ids by age; and the time index covers what top talkers,
	 * series and the usual filters read, so those queries never touch the table. It
	 * replaces the plain one: a second index on every record costs ingest rate. */
	"CREATE INDEX batches_received ON batches(received_ns);"
	"DROP INDEX flows_last;"
	"CREATE INDEX flows_time ON flows(last_ns, box, iface, direction, protocol, src_addr,"
	"  dst_addr, dst_port, bytes, packets);",
	/* 3: top talkers per hour, one row per (dimension, box, iface, direction, key), so
	 * top over a day reads thousands of rows, not millions. Filled from what is stored.
	 * Sources, destinations, ports and protocols; not pairs (see talk_record). Rows with
	 * box '', iface '' and direction -1 sum the whole site, for queries without those
	 * filters: a site's day is then a few thousand rows. */
	"CREATE TABLE talk_hour ("
	"  hour INTEGER NOT NULL, dim INTEGER NOT NULL, box TEXT NOT NULL, iface TEXT NOT NULL,"
	"  direction INTEGER NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, p INTEGER NOT NULL,"
	"  q INTEGER NOT NULL, bytes INTEGER NOT NULL, packets INTEGER NOT NULL,"
	"  flows INTEGER NOT NULL,"
	"  PRIMARY KEY (hour, dim, box, iface, direction, a, b, p, q)) WITHOUT ROWID;"
	"INSERT INTO talk_hour SELECT last_ns / 3600000000000, 0, box, iface, direction,"
	"  src_addr, '', 0, 0, SUM(bytes), SUM(packets), COUNT(*) FROM flows"
	"  WHERE src_addr IS NOT NULL GROUP BY 1, 3, 4, 5, 6;"
	"INSERT INTO talk_hour SELECT last_ns / 3600000000000, 1, box, iface, direction,"
	"  dst_addr, '', 0, 0, SUM(bytes), SUM(packets), COUNT(*) FROM flows"
	"  WHERE dst_addr IS NOT NULL GROUP BY 1, 3, 4, 5, 6;"
	"INSERT INTO talk_hour SELECT last_ns / 3600000000000, 3, box, iface, direction, '', '',"
	"  protocol, dst_port, SUM(bytes), SUM(packets), COUNT(*) FROM flows"
	"  WHERE protocol IN (6, 17, 132) GROUP BY 1, 3, 4, 5, 8, 9;"
	"INSERT INTO talk_hour SELECT last_ns / 3600000000000, 4, box, iface, direction, '', '',"
	"  protocol, 0, SUM(bytes), SUM(packets), COUNT(*) FROM flows"
	"  WHERE ip_version > 0 GROUP BY 1, 3, 4, 5, 8;"
	"INSERT INTO talk_hour SELECT hour, dim, '', '', -1, a, b, p, q, SUM(bytes), SUM(packets),"
	"  SUM(flows) FROM talk_hour GROUP BY hour, dim, a, b, p, q;"
	/* Overlay views filter by VNI: a partial index costs only tunnelled records. */
	"CREATE INDEX flows_vni ON flows(vni, last_ns) WHERE vni IS NOT NULL;",
	/* 4: top talkers per minute and per ten minutes too, pairs included, and every level
	 * filled once its buckets have closed (talk.c), not upserted by every batch. Each
	 * level's state says which range it holds whole. The new levels start empty at this
	 * hour and fill backwards from the raw records; the hourly level keeps its rows up to
	 * the hour under way, which ingest still completes, and refills the later ones. */
	"CREATE TABLE talk_min ("
	"  minute INTEGER NOT NULL, dim INTEGER NOT NULL, box TEXT NOT NULL, iface TEXT NOT NULL,"
	"  direction INTEGER NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, p INTEGER NOT NULL,"
	"  q INTEGER NOT NULL, bytes INTEGER NOT NULL, packets INTEGER NOT NULL,"
	"  flows INTEGER NOT NULL,"
	"  PRIMARY KEY (minute, dim, box, iface, direction, a, b, p, q)) WITHOUT ROWID;"
	"CREATE TABLE talk_10m ("
	"  tenmin INTEGER NOT NULL, dim INTEGER NOT NULL, box TEXT NOT NULL, iface TEXT NOT NULL,"
	"  direction INTEGER NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, p INTEGER NOT NULL,"
	"  q INTEGER NOT NULL, bytes INTEGER NOT NULL, packets INTEGER NOT NULL,"
	"  flows INTEGER NOT NULL,"
	"  PRIMARY KEY (tenmin, dim, box, iface, direction, a, b, p, q)) WITHOUT ROWID;"
	"CREATE TABLE talk_state (level INTEGER PRIMARY KEY, lo INTEGER NOT NULL,"
	"  done INTEGER NOT NULL);"
	"CREATE TEMP TABLE now4 AS SELECT CAST(strftime('%s', 'now') AS INTEGER) / 3600"
	"  * 3600000000000 AS h, EXISTS (SELECT 1 FROM talk_hour) AS old;"
	"INSERT INTO talk_state SELECT 0, h, h FROM now4;"
	"INSERT INTO talk_state SELECT 1, h, h FROM now4;"
	"INSERT INTO talk_state SELECT 2, CASE WHEN old THEN 0 ELSE h END,"
	"  CASE WHEN old THEN h + 3600000000000 ELSE h END FROM now4;"
	"DELETE FROM talk_hour WHERE hour >= (SELECT done / 3600000000000 FROM talk_state"
	"  WHERE level = 2);"
	"DROP TABLE now4;"
	/* The site's sums over the last 6 and 24 hours, slid along as the ten-minute level
	 * fills (states 100 and 101), for the dashboard's usual "top of the last day". */
	"CREATE TABLE talk_win ("
	"  win INTEGER NOT NULL, dim INTEGER NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,"
	"  p INTEGER NOT NULL, q INTEGER NOT NULL, bytes INTEGER NOT NULL,"
	"  packets INTEGER NOT NULL, flows INTEGER NOT NULL,"
	"  PRIMARY KEY (win, dim, a, b, p, q)) WITHOUT ROWID;"
	"INSERT INTO talk_state VALUES (100, 0, 0), (101, 0, 0);",
	/* 5: attacks the detector found (post/detect.c). Lists are '\n'-separated items the
	 * detector caps; alert_boxes makes "which alerts did this box see" an index lookup. */
	"CREATE TABLE alerts ("
	"  id INTEGER PRIMARY KEY, type TEXT NOT NULL, severity TEXT NOT NULL,"
	"  src TEXT NOT NULL, target TEXT NOT NULL, first_ns INTEGER NOT NULL,"
	"  last_ns INTEGER NOT NULL, flows INTEGER NOT NULL, packets INTEGER NOT NULL,"
	"  n_hosts INTEGER NOT NULL, n_ports INTEGER NOT NULL, n_sources INTEGER NOT NULL,"
	"  hosts TEXT NOT NULL, ports TEXT NOT NULL, sources TEXT NOT NULL,"
	"  seen_by TEXT NOT NULL);"
	"CREATE INDEX alerts_last ON alerts(last_ns);"
	"CREATE TABLE alert_boxes ("
	"  box TEXT NOT NULL, alert INTEGER NOT NULL, PRIMARY KEY (box, alert)) WITHOUT ROWID;",
	/* 6: packet trajectories (src/post/paths.c): per-minute segment statistics with
	 * their latency histograms, and a bounded set of recent sampled paths. */
	"CREATE TABLE path_seg_minute ("
	"  minute INTEGER NOT NULL, from_box TEXT NOT NULL, from_iface TEXT NOT NULL,"
	"  from_dir INTEGER NOT NULL, to_box TEXT NOT NULL, to_iface TEXT NOT NULL,"
	"  to_dir INTEGER NOT NULL, seen INTEGER NOT NULL, lost INTEGER NOT NULL,"
	"  lat_n INTEGER NOT NULL, lat_sum INTEGER NOT NULL, lat_min INTEGER, lat_max INTEGER,"
	"  PRIMARY KEY (minute, from_box, from_iface, from_dir, to_box, to_iface, to_dir))"
	"  WITHOUT ROWID;"
	"CREATE TABLE path_seg_hist ("
	"  minute INTEGER NOT NULL, from_box TEXT NOT NULL, from_iface TEXT NOT NULL,"
	"  from_dir INTEGER NOT NULL, to_box TEXT NOT NULL, to_iface TEXT NOT NULL,"
	"  to_dir INTEGER NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,"
	"  PRIMARY KEY (minute, from_box, from_iface, from_dir, to_box, to_iface, to_dir,"
	"  bucket)) WITHOUT ROWID;"
	"CREATE TABLE paths ("
	"  id INTEGER PRIMARY KEY, first_ns INTEGER NOT NULL, hash TEXT NOT NULL,"
	"  ip_version INTEGER, protocol INTEGER, src_addr TEXT, dst_addr TEXT,"
	"  src_port INTEGER, dst_port INTEGER, hops TEXT NOT NULL, lost TEXT);"
	"CREATE INDEX paths_time ON paths(first_ns);",
	/* 7: desired virtual TAP rules per box, and what the box's agent last reported of each
	 * (its own rule id, an error, the counters). */
	"CREATE TABLE taps ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, box TEXT NOT NULL, rule TEXT NOT NULL,"
	"  created_ns INTEGER NOT NULL, agent_id INTEGER, error TEXT, reported_ns INTEGER,"
	"  matched INTEGER NOT NULL DEFAULT 0, mirrored INTEGER NOT NULL DEFAULT 0,"
	"  truncated INTEGER NOT NULL DEFAULT 0, rate_limited INTEGER NOT NULL DEFAULT 0,"
	"  failed INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX taps_box ON taps(box);",
	/* 8 (issue 17): how long it took. The columns come with the field list (flowcols.c)
	 * but this step's index needs them first; the column sync then finds them there.
	 * Records with a result are a few among many: the dashboard's slowest flows and DNS
	 * failures read them through a partial index by time. */
	"ALTER TABLE flows ADD COLUMN rtt_samples INTEGER;"
	"ALTER TABLE flows ADD COLUMN rtt_min_ns INTEGER;"
	"ALTER TABLE flows ADD COLUMN rtt_max_ns INTEGER;"
	"ALTER TABLE flows ADD COLUMN rtt_sum_ns INTEGER;"
	"ALTER TABLE flows ADD COLUMN retransmits INTEGER;"
	"ALTER TABLE flows ADD COLUMN dns_answers INTEGER;"
	"ALTER TABLE flows ADD COLUMN dns_latency_sum_ns INTEGER;"
	"ALTER TABLE flows ADD COLUMN dns_rcode INTEGER;"
	"ALTER TABLE flows ADD COLUMN dns_failures INTEGER;"
	"ALTER TABLE flows ADD COLUMN dns_unanswered INTEGER;"
	"CREATE INDEX flows_latency ON flows(last_ns) WHERE rtt_samples > 0 OR retransmits > 0"
	"  OR dns_answers > 0 OR dns_unanswered > 0;",
	/* 9 (issue 15): records older than a top-talker level's end, queued by ingest and
	 * folded into the levels later in slices (talk.c), so a batch of history costs the
	 * ingest transaction one row per record, not dozens of sums. mask: the levels (bit l)
	 * and windows (bit SV_LEVELS + i) that do not hold the record yet. */
	"CREATE TABLE talk_late (id INTEGER PRIMARY KEY, last_ns INTEGER NOT NULL,"
	"  mask INTEGER NOT NULL);"
	"CREATE INDEX talk_late_time ON talk_late(last_ns);",
};

int sv_sqlite_migrate(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int v = 0;
	char sql[64];

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		goto fail;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (v > SV_SCHEMA_VERSION) {
		snprintf(err, errlen, "database schema v%d is newer than this post's (v%d)", v,
			 SV_SCHEMA_VERSION);
		return -EINVAL;
	}
	for (; v < SV_SCHEMA_VERSION; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (sv_exec(db, "BEGIN IMMEDIATE", err, errlen))
			return -EIO;
		if (sv_exec(db, migrations[v], err, errlen) || sv_exec(db, sql, err, errlen)) {
			sv_exec(db, "ROLLBACK", NULL, 0);
			return -EIO;
		}
		if (sv_exec(db, "COMMIT", err, errlen))
			return -EIO;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	return -EIO;
}
