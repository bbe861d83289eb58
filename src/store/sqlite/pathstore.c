// SPDX-License-Identifier: GPL-2.0
/* The SQLite store's part of packet trajectories (src/post/paths.c, docs/paths.md):
 * per-minute segment statistics with latency histograms, summed on read into percentiles,
 * and a bounded table of recent sampled paths. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"

static int exec_sql(struct sv_conn *c, const char *sql)
{
	return sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static void bind_point(sqlite3_stmt *s, int i, const struct sv_point *p)
{
	sqlite3_bind_text(s, i, p->box, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, i + 1, p->iface, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, i + 2, p->direction);
}

static int step_done(sqlite3_stmt *s)
{
	int ok = sqlite3_step(s) == SQLITE_DONE;

	sqlite3_reset(s);
	return ok ? 0 : -EIO;
}

static int write_seg(struct sv_conn *c, sqlite3_stmt *m, sqlite3_stmt *h,
		     const struct sv_seg_minute *g)
{
	int b;

	sqlite3_bind_int64(m, 1, g->minute);
	bind_point(m, 2, &g->from);
	bind_point(m, 5, &g->to);
	sqlite3_bind_int64(m, 8, g->seen);
	sqlite3_bind_int64(m, 9, g->lost);
	sqlite3_bind_int64(m, 10, g->lat_n);
	sqlite3_bind_int64(m, 11, g->lat_sum);
	if (g->lat_n) {
		sqlite3_bind_int64(m, 12, g->lat_min);
		sqlite3_bind_int64(m, 13, g->lat_max);
	} else {
		sqlite3_bind_null(m, 12);
		sqlite3_bind_null(m, 13);
	}
	if (step_done(m))
		return -EIO;
	for (b = 0; b < SV_LAT_BUCKETS; b++) {
		if (!g->hist[b])
			continue;
		sqlite3_bind_int64(h, 1, g->minute);
		bind_point(h, 2, &g->from);
		bind_point(h, 5, &g->to);
		sqlite3_bind_int(h, 8, b);
		sqlite3_bind_int64(h, 9, g->hist[b]);
		if (step_done(h))
			return -EIO;
	}
	return 0;
}

static int write_path(sqlite3_stmt *s, const struct sv_path_row *p)
{
	sqlite3_bind_int64(s, 1, p->first_ns);
	sqlite3_bind_text(s, 2, p->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, p->ip_version);
	sqlite3_bind_int(s, 4, p->protocol);
	sqlite3_bind_text(s, 5, p->src_addr, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, p->dst_addr, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 7, p->src_port);
	sqlite3_bind_int(s, 8, p->dst_port);
	sqlite3_bind_text(s, 9, p->hops, -1, SQLITE_STATIC);
	if (p->lost)
		sqlite3_bind_text(s, 10, p->lost, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 10);
	return step_done(s);
}

int sv_sqlite_paths_write(struct sv_store *st, const struct sv_path_row *paths, size_t n_paths,
			  const struct sv_seg_minute *segs, size_t n_segs, size_t keep)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	sqlite3_stmt *m = NULL, *h = NULL, *p = NULL, *trim = NULL;
	int err = -EIO;
	size_t i;

	if (!c || exec_sql(c, "BEGIN IMMEDIATE"))
		return -EIO;
	if (sqlite3_prepare_v2(c->db,
			       "INSERT INTO path_seg_minute VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			       " ?, ?) ON CONFLICT DO UPDATE SET seen = seen + excluded.seen,"
			       " lost = lost + excluded.lost, lat_n = lat_n + excluded.lat_n,"
			       " lat_sum = lat_sum + excluded.lat_sum,"
			       " lat_min = MIN(COALESCE(lat_min, excluded.lat_min),"
			       " COALESCE(excluded.lat_min, lat_min)),"
			       " lat_max = MAX(COALESCE(lat_max, excluded.lat_max),"
			       " COALESCE(excluded.lat_max, lat_max))",
			       -1, &m, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db,
			       "INSERT INTO path_seg_hist VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
			       " ON CONFLICT DO UPDATE SET n = n + excluded.n",
			       -1, &h, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db,
			       "INSERT INTO paths (first_ns, hash, ip_version, protocol, src_addr,"
			       " dst_addr, src_port, dst_port, hops, lost) VALUES (?, ?, ?, ?, ?, ?,"
			       " ?, ?, ?, ?)",
			       -1, &p, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db,
			       "DELETE FROM paths WHERE id <= (SELECT MAX(id) FROM paths) - ?", -1,
			       &trim, NULL) != SQLITE_OK)
		goto out;
	for (i = 0; i < n_segs; i++)
		if (write_seg(c, m, h, &segs[i]))
			goto out;
	for (i = 0; i < n_paths; i++)
		if (write_path(p, &paths[i]))
			goto out;
	sqlite3_bind_int64(trim, 1, keep);
	if (n_paths && step_done(trim))
		goto out;
	err = exec_sql(c, "COMMIT");
out:
	if (err)
		exec_sql(c, "ROLLBACK");
	sqlite3_finalize(m);
	sqlite3_finalize(h);
	sqlite3_finalize(p);
	sqlite3_finalize(trim);
	return err;
}

static void bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static void bind_opt_int(sqlite3_stmt *s, int i, int64_t v)
{
	if (v >= 0)
		sqlite3_bind_int64(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

int sv_sqlite_paths(struct sv_store *st, const struct sv_filter *f, int limit,
		    sv_path_row_cb cb, void *ctx)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	struct sv_path_row r;
	sqlite3_stmt *s;
	int rc, err = 0;

	/* NULL binds mean "any": one fixed statement, no SQL built from the request. */
	if (!c || sqlite3_prepare_v2(c->db,
				     "SELECT first_ns, hash, ip_version, protocol, src_addr,"
				     " dst_addr, src_port, dst_port, hops, lost FROM paths"
				     " WHERE first_ns >= ?1 AND first_ns < ?2"
				     " AND (?3 IS NULL OR src_addr = ?3)"
				     " AND (?4 IS NULL OR dst_addr = ?4)"
				     " AND (?5 IS NULL OR protocol = ?5)"
				     " AND (?6 IS NULL OR src_port = ?6)"
				     " AND (?7 IS NULL OR dst_port = ?7)"
				     " ORDER BY first_ns, id LIMIT ?8",
				     -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, f->since_ns);
	sqlite3_bind_int64(s, 2, f->until_ns);
	bind_opt_text(s, 3, f->src_addr);
	bind_opt_text(s, 4, f->dst_addr);
	bind_opt_int(s, 5, f->protocol);
	bind_opt_int(s, 6, f->src_port);
	bind_opt_int(s, 7, f->dst_port);
	sqlite3_bind_int(s, 8, limit);
	while (!err && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		r = (struct sv_path_row){
			.first_ns = sqlite3_column_int64(s, 0),
			.hash = col_text(s, 1),
			.ip_version = sqlite3_column_int(s, 2),
			.protocol = sqlite3_column_int(s, 3),
			.src_addr = col_text(s, 4),
			.dst_addr = col_text(s, 5),
			.src_port = sqlite3_column_int(s, 6),
			.dst_port = sqlite3_column_int(s, 7),
			.hops = col_text(s, 8),
			.lost = sqlite3_column_type(s, 9) == SQLITE_NULL ? NULL : col_text(s, 9),
		};
		err = cb(ctx, &r);
	}
	if (!err && rc != SQLITE_DONE)
		err = -EIO;
	sqlite3_finalize(s);
	return err;
}

/* The segments and their sums, with their names copied (the statement's go away). */
struct link_acc {
	struct sv_link_row row;
	char *names[4];
	uint64_t hist[SV_LAT_BUCKETS];
};

static int64_t percentile(const struct link_acc *a, double q)
{
	uint64_t need, sum = 0;
	int b;

	if (!a->row.lat_n)
		return -1;
	need = (uint64_t)(q * a->row.lat_n + 0.999999);
	need = need ? need : 1;
	for (b = 0; b < SV_LAT_BUCKETS; b++) {
		sum += a->hist[b];
		if (sum >= need)
			return sv_lat_bucket_mid(b);
	}
	return a->row.lat_max;
}

static int read_links(sqlite3 *db, int64_t since_min, int64_t until_min, struct link_acc **out,
		      size_t *n)
{
	struct link_acc *v = NULL, *a;
	size_t cap = 0;
	sqlite3_stmt *s;
	int rc, i;

	*n = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT from_box, from_iface, from_dir, to_box, to_iface, to_dir,"
			       " SUM(seen), SUM(lost), SUM(lat_n), SUM(lat_sum), MIN(lat_min),"
			       " MAX(lat_max) FROM path_seg_minute WHERE minute >= ? AND minute <= ?"
			       " GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, since_min);
	sqlite3_bind_int64(s, 2, until_min);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			a = realloc(v, cap * sizeof(*v));
			if (!a) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = a;
		}
		a = &v[(*n)++];
		memset(a, 0, sizeof(*a));
		for (i = 0; i < 4; i++)
			if (!(a->names[i] = strdup(col_text(s, i < 2 ? i : i + 1))))
				rc = SQLITE_NOMEM;
		if (rc == SQLITE_NOMEM)
			break;
		a->row.from = (struct sv_point){ a->names[0], a->names[1], sqlite3_column_int(s, 2) };
		a->row.to = (struct sv_point){ a->names[2], a->names[3], sqlite3_column_int(s, 5) };
		a->row.seen = sqlite3_column_int64(s, 6);
		a->row.lost = sqlite3_column_int64(s, 7);
		a->row.lat_n = sqlite3_column_int64(s, 8);
		a->row.lat_mean = a->row.lat_n ? sqlite3_column_int64(s, 9) / (int64_t)a->row.lat_n :
						 -1;
		a->row.lat_min = sqlite3_column_int64(s, 10);
		a->row.lat_max = sqlite3_column_int64(s, 11);
	}
	sqlite3_finalize(s);
	*out = v;
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static struct link_acc *find_link(struct link_acc *v, size_t n, sqlite3_stmt *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].names[0], col_text(s, 0)) &&
		    !strcmp(v[i].names[1], col_text(s, 1)) &&
		    v[i].row.from.direction == sqlite3_column_int(s, 2) &&
		    !strcmp(v[i].names[2], col_text(s, 3)) &&
		    !strcmp(v[i].names[3], col_text(s, 4)) &&
		    v[i].row.to.direction == sqlite3_column_int(s, 5))
			return &v[i];
	return NULL;
}

static int read_hists(sqlite3 *db, int64_t since_min, int64_t until_min, struct link_acc *v,
		      size_t n)
{
	struct link_acc *a;
	sqlite3_stmt *s;
	int rc, b;

	if (sqlite3_prepare_v2(db,
			       "SELECT from_box, from_iface, from_dir, to_box, to_iface, to_dir,"
			       " bucket, SUM(n) FROM path_seg_hist WHERE minute >= ? AND minute <= ?"
			       " GROUP BY 1, 2, 3, 4, 5, 6, 7",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, since_min);
	sqlite3_bind_int64(s, 2, until_min);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		a = find_link(v, n, s);
		b = sqlite3_column_int(s, 6);
		if (a && b >= 0 && b < SV_LAT_BUCKETS)
			a->hist[b] += sqlite3_column_int64(s, 7);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int sv_sqlite_path_links(struct sv_store *st, int64_t since_ns, int64_t until_ns,
			 sv_link_row_cb cb, void *ctx)
{
	struct sv_conn *c = sv_sqlite_conn(st);
	int64_t since_min = since_ns / 60000000000LL, until_min = until_ns / 60000000000LL;
	struct link_acc *v = NULL;
	size_t n = 0, i;
	int err, k;

	if (!c)
		return -EIO;
	err = read_links(c->db, since_min, until_min, &v, &n);
	if (!err)
		err = read_hists(c->db, since_min, until_min, v, n);
	for (i = 0; i < n && !err; i++) {
		v[i].row.p50 = percentile(&v[i], 0.50);
		v[i].row.p90 = percentile(&v[i], 0.90);
		v[i].row.p99 = percentile(&v[i], 0.99);
		err = cb(ctx, &v[i].row);
	}
	for (i = 0; i < n; i++)
		for (k = 0; k < 4; k++)
			free(v[i].names[k]);
	free(v);
	return err;
}
