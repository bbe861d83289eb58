// SPDX-License-Identifier: GPL-2.0
/* The SQLite backend's handle and connections: the database opened (and migrated) once, then
 * one connection per thread, opened on first use, since SQLite serializes the writers
 * anyway and readers in WAL mode never wait for them; the operations table store.c calls. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include "store_int.h"

static __thread struct sv_conn *tl_conn;

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

static void conn_free(struct sv_conn *c)
{
	sqlite3_finalize(c->ins_batch);
	sqlite3_finalize(c->ins_flow);
	sqlite3_finalize(c->up_rollup);
	sqlite3_finalize(c->up_box);
	sqlite3_finalize(c->sel_state);
	sqlite3_finalize(c->ins_late);
	for (int l = 0; l < SV_LEVELS + SV_WINDOWS; l++)
		sqlite3_finalize(c->up_talk[l]);
	sqlite3_close(c->db);
	free(c);
}

int64_t sv_sqlite_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* SQLite asks every 1000 virtual machine steps: non-zero interrupts the statement. */
static int over_budget(void *p)
{
	const struct sv_conn *c = p;

	return c->due_ns && sv_sqlite_mono_ns() > c->due_ns;
}

static struct sv_conn *conn_open(struct sv_sqlite *st, char *err, size_t errlen)
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
	sqlite3_progress_handler(c->db, 1000, over_budget, c);
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
struct sv_conn *sv_sqlite_conn(struct sv_store *base)
{
	struct sv_sqlite *st = sv_sqlite(base);
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

static int sv_sqlite_open(const struct sv_store_cfg *cfg, struct sv_store **out, char *err,
			  size_t errlen)
{
	struct sv_sqlite *st;
	const char *path = cfg->places[0];
	struct sv_conn *c;
	int ret;

	if (cfg->n_places > 1 || cfg->cluster) {
		snprintf(err, errlen, "a SQLite database is one file: no shards, no cluster");
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));

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
	ret = sv_sqlite_migrate(c->db, err, errlen);
	if (!ret)
		ret = sv_flow_cols_sync(c->db, err, errlen);
	if (!ret) {
		st->base.work.late_waiting = sv_talk_waiting(c);
		ret = st->base.work.late_waiting < 0 ? -EIO : 0;
		if (ret)
			snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
	}
	if (ret) {
		conn_free(c);
		free(st);
		return ret;
	}
	st->conns[st->nconns++] = c;
	tl_conn = c;
	*out = &st->base;
	return 0;
}

static void sv_sqlite_close(struct sv_store *base)
{
	struct sv_sqlite *st = sv_sqlite(base);
	int i;

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

/* One post writes an SQLite file: it feeds its detector and join from its own batches, so
 * there is no analyser to elect and no feed to read (store.h). */
static int one_writer_beat(struct sv_store *st, int64_t now_ns, struct sv_beat_row *mine,
			   sv_beat_cb cb, void *ctx)
{
	(void)st, (void)now_ns, (void)mine, (void)cb, (void)ctx;
	return -EOPNOTSUPP;
}

static int one_writer_feed(struct sv_store *st, int64_t since_ns, int max, sv_feed_want want,
			   sv_feed_cb cb, void *ctx)
{
	(void)st, (void)since_ns, (void)max, (void)want, (void)cb, (void)ctx;
	return -EOPNOTSUPP;
}

const struct sv_store_ops sv_sqlite_ops = {
	.scheme = NULL, /* the default: a file path */
	.open = sv_sqlite_open,
	.close = sv_sqlite_close,
	.ingest = sv_sqlite_ingest,
	.prune = sv_sqlite_prune,
	.rollup = sv_sqlite_rollup,
	.size = sv_sqlite_size,
	.box_count = sv_sqlite_box_count,
	.boxes = sv_sqlite_boxes,
	.flows = sv_sqlite_flows,
	.series = sv_sqlite_series,
	.top = sv_sqlite_top,
	.alert_put = sv_sqlite_alert_put,
	.alerts = sv_sqlite_alerts,
	.paths_write = sv_sqlite_paths_write,
	.paths = sv_sqlite_paths,
	.path_links = sv_sqlite_path_links,
	.drop_series = sv_sqlite_drop_series,
	.drop_flows = sv_sqlite_drop_flows,
	.tap_add = sv_sqlite_tap_add,
	.tap_del = sv_sqlite_tap_del,
	.taps = sv_sqlite_taps,
	.tap_report = sv_sqlite_tap_report,
	.beat = one_writer_beat,
	.feed = one_writer_feed,
};
