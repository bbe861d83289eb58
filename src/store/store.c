// SPDX-License-Identifier: GPL-2.0
/* The embedded SQLite store; see store.h.
 *
 * Ingest is exactly-once because the batch id goes into `batches` in the same transaction
 * as the batch's records: a retried batch conflicts there and the transaction stores
 * nothing. Rollups are summed per batch in memory and upserted once per (iface, direction,
 * minute), so a batch costs one statement per record plus a handful. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "log.h"
#include "sb.h"
#include "store_int.h"

static __thread struct sv_conn *tl_conn;

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
};

int sv_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	if (err)
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -EIO;
}

static int migrate(sqlite3 *db, char *err, size_t errlen)
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

static void conn_free(struct sv_conn *c)
{
	sqlite3_finalize(c->ins_batch);
	sqlite3_finalize(c->ins_flow);
	sqlite3_finalize(c->up_rollup);
	sqlite3_finalize(c->up_box);
	sqlite3_finalize(c->sel_state);
	for (int l = 0; l < SV_LEVELS + SV_WINDOWS; l++)
		sqlite3_finalize(c->up_talk[l]);
	sqlite3_close(c->db);
	free(c);
}

static struct sv_conn *conn_open(struct sv_store *st, char *err, size_t errlen)
{
	struct sv_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->st = st;
	if (sqlite3_open_v2(st->path, &c->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		if (err)
			snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, 10000);
	/* WAL: readers never wait for the writer. NORMAL is durable against a crash of the
	 * post itself (the WAL is on disk); only an OS crash may lose the last commits. */
	if (sv_exec(c->db,
		 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
		 "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;",
		 err, errlen))
		goto fail;
	return c;
fail:
	conn_free(c);
	return NULL;
}

/* This thread's connection, opened on first use. */
struct sv_conn *sv_store_conn(struct sv_store *st)
{
	struct sv_conn *c = tl_conn;

	if (c && c->st == st)
		return c;
	c = conn_open(st, NULL, 0);
	if (!c)
		return NULL;
	pthread_mutex_lock(&st->lock);
	if (st->nconns == MAX_CONNS) {
		pthread_mutex_unlock(&st->lock);
		conn_free(c);
		return NULL;
	}
	st->conns[st->nconns++] = c;
	pthread_mutex_unlock(&st->lock);
	tl_conn = c;
	return c;
}

int sv_store_open(const char *path, struct sv_store **out, char *err, size_t errlen)
{
	struct sv_store *st = calloc(1, sizeof(*st));
	struct sv_conn *c;
	int ret;

	/* Memory statistics take a global mutex on every allocation; we never read them. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);

	if (!st)
		return -ENOMEM;
	if (strlen(path) >= sizeof(st->path)) {
		free(st);
		snprintf(err, errlen, "path too long");
		return -ENAMETOOLONG;
	}
	strcpy(st->path, path);
	pthread_mutex_init(&st->lock, NULL);
	c = conn_open(st, err, errlen);
	if (!c) {
		free(st);
		return -EIO;
	}
	ret = migrate(c->db, err, errlen);
	if (!ret)
		ret = sv_flow_cols_sync(c->db, err, errlen);
	if (ret) {
		conn_free(c);
		free(st);
		return ret;
	}
	st->conns[st->nconns++] = c;
	tl_conn = c;
	*out = st;
	return 0;
}

void sv_store_close(struct sv_store *st)
{
	int i;

	if (!st)
		return;
	for (i = 0; i < st->nconns; i++)
		conn_free(st->conns[i]);
	tl_conn = NULL;
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* Every caller binds every parameter, so a reset is enough between uses. */
int sv_prepare(struct sv_conn *c, sqlite3_stmt **s, const char *sql)
{
	if (*s) {
		sqlite3_reset(*s);
		return 0;
	}
	return sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL) ==
			       SQLITE_OK ?
		       0 :
		       -EIO;
}

static int insert_flow(struct sv_conn *c, const char *box, const struct sv_rec *r)
{
	if (sv_prepare(c, &c->ins_flow, sv_flow_insert))
		return -EIO;
	sv_flow_bind(c->ins_flow, box, r);
	return sqlite3_step(c->ins_flow) == SQLITE_DONE ? 0 : -EIO;
}

struct rollup {
	const char *iface;
	int direction;
	int64_t minute;
	uint64_t packets, bytes;
};

static size_t rollup_hash(const char *iface, int direction, int64_t minute)
{
	size_t h = minute * 31 + direction;

	for (; *iface; iface++)
		h = h * 131 + (unsigned char)*iface;
	return h;
}

/* Sums the batch per (iface, direction, minute) in an open-addressing table: a batch usually
 * spans one interval, but one that spans hours must not cost a search per record. */
static int sum_rollups(const struct sv_batch *b, struct rollup **out, size_t *n)
{
	size_t cap = 16, i, cnt = 0;
	struct rollup *r;

	while (cap < b->n * 2)
		cap *= 2;
	r = calloc(cap, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < b->n; i++) {
		const struct sv_rec *x = &b->recs[i];
		int64_t m = x->last_ns / NS_PER_MIN;
		size_t k = rollup_hash(x->iface, x->direction, m) & (cap - 1);

		while (r[k].iface && (r[k].minute != m || r[k].direction != x->direction ||
				      strcmp(r[k].iface, x->iface)))
			k = (k + 1) & (cap - 1);
		if (!r[k].iface) {
			r[k] = (struct rollup){ x->iface, x->direction, m, 0, 0 };
			cnt++;
		}
		r[k].packets += x->packets;
		r[k].bytes += x->bytes;
	}
	*out = r;
	*n = cap;
	return 0;
}

static int upsert_rollups(struct sv_conn *c, const struct sv_batch *b)
{
	struct rollup *r;
	size_t i, n;
	int err = 0;

	if (sum_rollups(b, &r, &n))
		return -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		if (!r[i].iface)
			continue;
		if (sv_prepare(c, &c->up_rollup,
			    "INSERT INTO rollup_minute VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO"
			    " UPDATE SET packets = packets + excluded.packets,"
			    " bytes = bytes + excluded.bytes")) {
			err = -EIO;
			break;
		}
		sqlite3_bind_text(c->up_rollup, 1, b->box, -1, SQLITE_STATIC);
		sqlite3_bind_text(c->up_rollup, 2, r[i].iface, -1, SQLITE_STATIC);
		sqlite3_bind_int(c->up_rollup, 3, r[i].direction);
		sqlite3_bind_int64(c->up_rollup, 4, r[i].minute);
		sqlite3_bind_int64(c->up_rollup, 5, r[i].packets);
		sqlite3_bind_int64(c->up_rollup, 6, r[i].bytes);
		if (sqlite3_step(c->up_rollup) != SQLITE_DONE)
			err = -EIO;
	}
	free(r);
	return err;
}

static int upsert_box(struct sv_conn *c, const struct sv_batch *b, int64_t now)
{
	sqlite3_stmt *s;

	if (sv_prepare(c, &c->up_box,
		    "INSERT INTO boxes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
		    " last_seen_ns = excluded.last_seen_ns, agent_version ="
		    " excluded.agent_version, interfaces = excluded.interfaces,"
		    " flows = flows + excluded.flows"))
		return -EIO;
	s = c->up_box;
	sqlite3_bind_text(s, 1, b->box, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_text(s, 4, b->agent_version, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, b->interfaces, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, b->n);
	return sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
}

/* Claims the batch id: 1 if new, 0 if stored before. */
static int claim_batch(struct sv_conn *c, const struct sv_batch *b, int64_t now)
{
	if (sv_prepare(c, &c->ins_batch,
		    "INSERT INTO batches VALUES (?, ?, ?) ON CONFLICT DO NOTHING"))
		return -EIO;
	sqlite3_bind_text(c->ins_batch, 1, b->box, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->ins_batch, 2, b->batch_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->ins_batch, 3, now);
	if (sqlite3_step(c->ins_batch) != SQLITE_DONE)
		return -EIO;
	return sqlite3_changes(c->db) == 1;
}

int sv_store_ingest(struct sv_store *st, const struct sv_batch *b, int64_t now, int *duplicate)
{
	struct sv_conn *c = sv_store_conn(st);
	size_t i;
	int ret;

	*duplicate = 0;
	if (!c)
		return -EIO;
	if (sv_exec(c->db, "BEGIN IMMEDIATE", NULL, 0))
		goto fail;
	ret = claim_batch(c, b, now);
	if (ret == 0)
		*duplicate = 1;
	if (ret <= 0)
		goto rollback;
	for (i = 0, ret = 0; i < b->n && !ret; i++)
		ret = insert_flow(c, b->box, &b->recs[i]);
	if (!ret)
		ret = upsert_rollups(c, b);
	if (!ret)
		ret = sv_talk_ingest(c, b, now);
	if (!ret)
		ret = upsert_box(c, b, now);
	if (!ret && !sv_exec(c->db, "COMMIT", NULL, 0)) {
		if (st->stored)
			st->stored(st->stored_ctx, b);
		return 0;
	}
	ret = -EIO;
rollback:
	if (ret < 0)
		pr_warn("storing a batch of %s failed: %s\n", b->box, sqlite3_errmsg(c->db));
	sv_exec(c->db, "ROLLBACK", NULL, 0);
	return ret < 0 ? ret : 0;
fail:
	pr_warn("storing a batch of %s failed: %s\n", b->box, sqlite3_errmsg(c->db));
	return -EIO;
}

void sv_store_on_stored(struct sv_store *st, sv_stored_fn fn, void *ctx)
{
	st->stored = fn;
	st->stored_ctx = ctx;
}

/* Deletes in chunks so a large prune never holds the write lock for long. */
static int delete_chunked(struct sv_conn *c, const char *sql, int64_t before)
{
	sqlite3_stmt *s;
	int n;

	if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	do {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, before);
		if (sqlite3_step(s) != SQLITE_DONE) {
			sqlite3_finalize(s);
			return -EIO;
		}
		n = sqlite3_changes(c->db);
	} while (n > 0);
	sqlite3_finalize(s);
	return 0;
}

int sv_store_prune(struct sv_store *st, int64_t now_ns, int64_t keep_ns, int64_t rollup_keep_ns)
{
	int64_t before_ns = now_ns - keep_ns, rollup_before_ns = now_ns - rollup_keep_ns;

	struct sv_conn *c = sv_store_conn(st);

	if (!c)
		return -EIO;
	if (delete_chunked(c, "DELETE FROM flows WHERE id IN (SELECT id FROM flows WHERE"
			      " last_ns < ? LIMIT 20000)", before_ns) ||
	    delete_chunked(c, "DELETE FROM batches WHERE received_ns < ?", before_ns))
		return -EIO;
	if (sv_alerts_prune(c, before_ns))
		return -EIO;
	if (sv_talk_prune(c, now_ns, rollup_keep_ns))
		return -EIO;
	if (delete_chunked(c, "DELETE FROM path_seg_minute WHERE minute < ?",
			   rollup_before_ns / NS_PER_MIN) ||
	    delete_chunked(c, "DELETE FROM path_seg_hist WHERE minute < ?",
			   rollup_before_ns / NS_PER_MIN))
		return -EIO;
	return delete_chunked(c, "DELETE FROM rollup_minute WHERE minute < ?",
			      rollup_before_ns / NS_PER_MIN);
}

/* The one number a one-row, one-column query answers; -1 on error. */
static int64_t scalar(struct sv_store *st, const char *sql)
{
	struct sv_conn *c = sv_store_conn(st);
	sqlite3_stmt *s;
	int64_t v = -1;

	if (!c || sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

int64_t sv_store_size(struct sv_store *st)
{
	return scalar(st, "SELECT (page_count - freelist_count) * page_size FROM"
			  " pragma_page_count, pragma_freelist_count, pragma_page_size");
}

int64_t sv_store_box_count(struct sv_store *st)
{
	return scalar(st, "SELECT COUNT(*) FROM boxes");
}
