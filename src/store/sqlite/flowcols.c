// SPDX-License-Identifier: GPL-2.0
/* The flows table's record columns, generated from the record's field list (flowrec.h): the
 * column names, binding a record for the insert, reading one back, and the columns a field
 * added to the list brings to an existing database. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "sb.h"
#include "store_int.h"

#define COL_NAME(name, kind, part, when, ipfix, lp, agg) ", " #name
#define COL_PARAM(name, kind, part, when, ipfix, lp, agg) ", ?"

/* The box, then the record's fields, as the migrations made the table. */
const char sv_flow_insert[] = "INSERT INTO flows (box" SV_FLOW_FIELDS(COL_NAME) ") VALUES (?"
	SV_FLOW_FIELDS(COL_PARAM) ")";
const char sv_flow_select[] = "SELECT id, box" SV_FLOW_FIELDS(COL_NAME) " FROM flows";

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v && *v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static void bind_opt(sqlite3_stmt *s, int i, int64_t v, int64_t absent)
{
	if (v == absent)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, v);
}

/* Drop reasons as their JSON object; NULL for a record without drops. */
static void bind_drops(sqlite3_stmt *s, int i, const struct sv_drop_reasons *v)
{
	struct sb b;

	if (!v->n) {
		sqlite3_bind_null(s, i);
		return;
	}
	sb_init(&b);
	sv_drop_reasons_json(&b, v);
	if (b.buf)
		sqlite3_bind_text(s, i, b.buf, b.len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
	sb_free(&b);
}

/* How each kind is bound: absent values and empty text as NULL. */
#define BIND_IFACE(s, i, v) sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC)
#define BIND_DIR(s, i, v) sqlite3_bind_int(s, i, v)
#define BIND_U8(s, i, v) sqlite3_bind_int(s, i, v)
#define BIND_U16(s, i, v) sqlite3_bind_int(s, i, v)
#define BIND_IPVER(s, i, v) sqlite3_bind_int(s, i, v)
#define BIND_OPT8(s, i, v) bind_opt(s, i, v, -1)
#define BIND_VLAN(s, i, v) bind_opt(s, i, v, 0)
#define BIND_VNI(s, i, v) bind_opt(s, i, v, -1)
#define BIND_ADDR(s, i, v) bind_text(s, i, v)
#define BIND_MAC(s, i, v) bind_text(s, i, v)
#define BIND_COUNT(s, i, v) sqlite3_bind_int64(s, i, v)
#define BIND_NS(s, i, v) sqlite3_bind_int64(s, i, v)
#define BIND_REASON(s, i, v) bind_text(s, i, v)
#define BIND_DROPS(s, i, v) bind_drops(s, i, &(v))

void sv_flow_bind(sqlite3_stmt *s, const char *box, const struct sv_rec *r)
{
	int i = 1;

	sqlite3_bind_text(s, i++, box, -1, SQLITE_STATIC);
#define X(name, kind, part, when, ipfix, lp, agg) BIND_##kind(s, i++, r->name);
	SV_FLOW_FIELDS(X)
#undef X
}

static void copy_text(char *dst, size_t len, sqlite3_stmt *s, int i)
{
	snprintf(dst, len, "%s", col_text(s, i));
}

static int64_t col_opt(sqlite3_stmt *s, int i, int64_t absent)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? absent : sqlite3_column_int64(s, i);
}

#define READ_TEXT(s, i, v) copy_text(v, sizeof(v), s, i)
#define READ_INT(s, i, v) (v) = sqlite3_column_int(s, i)
#define READ_INT64(s, i, v) (v) = sqlite3_column_int64(s, i)
#define READ_IFACE READ_TEXT
#define READ_DIR READ_INT
#define READ_U8 READ_INT
#define READ_U16 READ_INT
#define READ_IPVER READ_INT
#define READ_OPT8(s, i, v) (v) = col_opt(s, i, -1)
#define READ_VLAN(s, i, v) (v) = col_opt(s, i, 0)
#define READ_VNI(s, i, v) (v) = col_opt(s, i, -1)
#define READ_ADDR READ_TEXT
#define READ_MAC READ_TEXT
#define READ_COUNT READ_INT64
#define READ_NS READ_INT64
#define READ_REASON READ_TEXT
/* Text the store wrote itself; anything else reads as no reasons. */
#define READ_DROPS(s, i, v)                                                                      \
	do {                                                                                     \
		if (sv_drop_reasons_parse(col_text(s, i), &(v)))                                 \
			memset(&(v), 0, sizeof(v));                                              \
	} while (0)

void sv_flow_read(sqlite3_stmt *s, int col, struct sv_rec *r)
{
#define X(name, kind, part, when, ipfix, lp, agg) READ_##kind(s, col++, r->name);
	SV_FLOW_FIELDS(X)
#undef X
}

/* Whether the flows table has the column name; its declared type into type. */
static int has_col(sqlite3 *db, const char *name, char *type, size_t len)
{
	sqlite3_stmt *s = NULL;
	int found = 0;

	if (sqlite3_prepare_v2(db, "SELECT type FROM pragma_table_info('flows') WHERE name = ?",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		snprintf(type, len, "%s", col_text(s, 0));
		found = 1;
	}
	sqlite3_finalize(s);
	return found;
}

/* A field of the list the table lacks gets its column (NULL in the records stored before);
 * a column whose type is not its field's is an error, not something to guess about. */
static int sync_col(sqlite3 *db, const char *name, const char *type, char *err, size_t errlen)
{
	char have[32], sql[160];
	int ret = has_col(db, name, have, sizeof(have));

	if (ret < 0 || (ret && !strcmp(have, type)))
		return ret < 0 ? -EIO : 0;
	if (ret) {
		snprintf(err, errlen, "flows.%s is %s, the record's field list says %s", name, have,
			 type);
		return -EINVAL;
	}
	snprintf(sql, sizeof(sql), "ALTER TABLE flows ADD COLUMN %s %s", name, type);
	return sv_exec(db, sql, err, errlen);
}

int sv_flow_cols_sync(sqlite3 *db, char *err, size_t errlen)
{
	int ret = 0;

	err[0] = 0;
#define X(name, kind, part, when, ipfix, lp, agg)                                                \
	if (!ret)                                                                                \
		ret = sync_col(db, #name, SV_SQL_##kind, err, errlen);
	SV_FLOW_FIELDS(X)
#undef X
	if (ret == -EIO && !*err)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	return ret;
}
