// SPDX-License-Identifier: GPL-2.0
/* The ClickHouse schema, made by the post on every shard on open: local tables, materialized
 * views that sum the records per minute and per hour, and with a cluster the Distributed
 * tables over them. The flow columns come from the record's field list (flowrec.h); a field
 * added to the list becomes a column of an existing store on open. Only what ClickHouse 18.16
 * and current releases both do: no TTL, no LowCardinality, no codecs, no DateTime64. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "ch_int.h"

/* The schema's version, in each shard's sv_schema_local; a new step bumps it. */
#define CH_SCHEMA_VERSION 5

#define COL_DEF(name, kind, part, when, ipfix, lp, agg) ", " #name " " SV_CH_##kind
#define COL_NAME(name, kind, part, when, ipfix, lp, agg) ", " #name

const char ch_flow_cols[] = "" SV_FLOW_FIELDS(COL_NAME);

/* Each local table: its name, its columns and engine. The post inserts into one shard's
 * local table itself (ch_insert), so the Distributed tables, for reading, need no sharding
 * key. */
struct table {
	const char *name, *cols, *engine;
};

static const struct table tables[] = {
	{ "flows", "day Date, box String, id Int64" SV_FLOW_FIELDS(COL_DEF),
	  "MergeTree PARTITION BY day ORDER BY (box, iface, direction, last_ns)" },
	{ "rollup_minute", "day Date, box String, iface String, direction UInt8, minute Int64,"
	  " packets UInt64, bytes UInt64",
	  "SummingMergeTree((packets, bytes)) PARTITION BY day"
	  " ORDER BY (box, iface, direction, minute)" },
	{ "rollup_hour", "day Date, box String, iface String, direction UInt8, hour Int64,"
	  " packets UInt64, bytes UInt64",
	  "SummingMergeTree((packets, bytes)) PARTITION BY toYYYYMM(day)"
	  " ORDER BY (box, iface, direction, hour)" },
	{ "talk_minute", "day Date, minute Int64, dim UInt8, box String, iface String,"
	  " direction UInt8, a String, b String, p UInt16, q UInt16, bytes UInt64,"
	  " packets UInt64, flows UInt64",
	  "SummingMergeTree((bytes, packets, flows)) PARTITION BY day"
	  " ORDER BY (dim, minute, box, iface, direction, a, b, p, q)" },
	{ "batches", "day Date, box String, batch_id String, post String, state UInt8,"
	  " received_ns Int64",
	  "MergeTree PARTITION BY day ORDER BY (box, batch_id)" },
	{ "box_seen", "day Date, name String, seen_ns Int64, agent_version String,"
	  " interfaces String, flows UInt64",
	  "MergeTree PARTITION BY toYYYYMM(day) ORDER BY (name, seen_ns)" },
	{ "alerts", "id Int64, version Int64, type String, severity String, src String,"
	  " target String, first_ns Int64, last_ns Int64, flows UInt64, packets UInt64,"
	  " n_hosts UInt64, n_ports UInt64, n_sources UInt64, hosts String, ports String,"
	  " sources String, seen_by String",
	  "ReplacingMergeTree(version) ORDER BY id" },
	{ "paths", "day Date DEFAULT toDate(toDateTime(intDiv(first_ns, 1000000000))),"
	  " first_ns Int64, hash String, ip_version UInt8, protocol UInt8,"
	  " src_addr String, dst_addr String, src_port UInt16, dst_port UInt16, hops String,"
	  " lost String, has_lost UInt8",
	  "MergeTree PARTITION BY day ORDER BY first_ns" },
	{ "path_seg", "day Date DEFAULT toDate(toDateTime(minute * 60)), minute Int64,"
	  " from_box String, from_iface String, from_dir UInt8, to_box String, to_iface String, to_dir UInt8, seen UInt64,"
	  " lost UInt64, lat_n UInt64, lat_sum Int64, lat_min Int64, lat_max Int64,"
	  " hist_b Array(UInt16), hist_n Array(UInt64)",
	  "MergeTree PARTITION BY day ORDER BY (minute, from_box, to_box)" },
	{ "taps", "id Int64, version Int64, deleted UInt8, box String, rule String,"
	  " created_ns Int64, agent_id Int64, error String, has_error UInt8, reported_ns Int64,"
	  " matched UInt64, mirrored UInt64, truncated UInt64, rate_limited UInt64,"
	  " failed UInt64",
	  "ReplacingMergeTree(version) ORDER BY id" },
};

/* The sums the engine keeps by itself: every block inserted into flows_local. */
/* Top talkers per minute: one view per dimension (query.c's enum sv_top_by, but pairs, which
 * differ in nearly every minute and are read raw), each row keyed as (a, b, p, q). */
#define TALK_MV(name, dim, keys, only, group)                                                     \
	"CREATE MATERIALIZED VIEW IF NOT EXISTS talk_" name "_mv TO talk_minute_local AS"        \
	" SELECT day, toInt64(intDiv(last_ns, 60000000000)) AS minute, toUInt8(" #dim ") AS dim," \
	" box, iface, direction, " keys ", sum(bytes) AS bytes, sum(packets) AS packets,"        \
	" count() AS flows FROM flows_local WHERE " only " GROUP BY day, minute, box, iface,"    \
	" direction" group

static const char *const views[] = {
	TALK_MV("src", 0, "src_addr AS a, '' AS b, toUInt16(0) AS p, toUInt16(0) AS q",
		"src_addr != ''", ", a"),
	TALK_MV("dst", 1, "dst_addr AS a, '' AS b, toUInt16(0) AS p, toUInt16(0) AS q",
		"dst_addr != ''", ", a"),
	TALK_MV("port", 3, "'' AS a, '' AS b, toUInt16(protocol) AS p, dst_port AS q",
		"protocol IN (6, 17, 132)", ", p, q"),
	TALK_MV("proto", 4, "'' AS a, '' AS b, toUInt16(protocol) AS p, toUInt16(0) AS q",
		"ip_version > 0", ", p"),
	"CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_minute_mv TO rollup_minute_local AS"
	" SELECT day, box, iface, direction, toInt64(intDiv(last_ns, 60000000000)) AS minute,"
	" sum(packets) AS packets, sum(bytes) AS bytes FROM flows_local"
	" GROUP BY day, box, iface, direction, minute",
	"CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_hour_mv TO rollup_hour_local AS"
	" SELECT day, box, iface, direction, toInt64(intDiv(last_ns, 3600000000000)) AS hour,"
	" sum(packets) AS packets, sum(bytes) AS bytes FROM flows_local"
	" GROUP BY day, box, iface, direction, hour",
};

static int run(struct sv_ch *ch, int k, const char *sql, struct sb *out, char *err,
	       size_t errlen)
{
	return ch_run(ch, k, sql, out, err, errlen);
}

/* Adds the columns of fields the list has and shard k's flows table lacks. */
static int sync_cols(struct sv_ch *ch, int k, char *err, size_t errlen)
{
	static const struct {
		const char *name, *type;
	} cols[] = {
#define X(name, kind, part, when, ipfix, lp, agg) { #name, SV_CH_##kind },
		SV_FLOW_FIELDS(X)
#undef X
	};
	char sql[256];
	struct sb have;
	size_t i;
	int ret;

	sb_init(&have);
	snprintf(sql, sizeof(sql), "SELECT name FROM system.columns WHERE database = '%s' AND"
		 " table = 'flows_local' FORMAT TabSeparated", ch->db);
	ret = run(ch, k, sql, &have, err, errlen);
	for (i = 0; !ret && i < sizeof(cols) / sizeof(cols[0]); i++) {
		char line[64];

		snprintf(line, sizeof(line), "\n%s\n", cols[i].name);
		if (have.buf && (strstr(have.buf, line) ||
				 !strncmp(have.buf, line + 1, strlen(line + 1))))
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE flows_local ADD COLUMN %s %s", cols[i].name,
			 cols[i].type);
		ret = run(ch, k, sql, NULL, err, errlen);
		if (!ret && ch->cluster[0]) {
			snprintf(sql, sizeof(sql), "ALTER TABLE flows ADD COLUMN %s %s",
				 cols[i].name, cols[i].type);
			ret = run(ch, k, sql, NULL, err, errlen);
		}
	}
	sb_free(&have);
	return ret;
}

/* Shard k's schema version; 0 for a new database. */
static int version(struct sv_ch *ch, int k, int *v, char *err, size_t errlen)
{
	struct sb out;
	int ret;

	sb_init(&out);
	ret = run(ch, k, "CREATE TABLE IF NOT EXISTS sv_schema_local (version UInt32)"
		  " ENGINE = MergeTree ORDER BY version", NULL, err, errlen);
	if (!ret)
		ret = run(ch, k, "SELECT max(version) FROM sv_schema_local FORMAT TabSeparated",
			  &out, err, errlen);
	*v = out.buf ? atoi(out.buf) : 0;
	sb_free(&out);
	return ret;
}

int ch_create_table(struct sv_ch *ch, int k, const char *name, const char *cols,
		    const char *engine, char *err, size_t errlen)
{
	struct sb sql;
	int ret;

	sb_init(&sql);
	sb_printf(&sql, "CREATE TABLE IF NOT EXISTS %s_local (%s) ENGINE = %s", name, cols,
		  engine);
	ret = sb_failed(&sql) ? -ENOMEM : run(ch, k, sql.buf, NULL, err, errlen);
	if (!ret && ch->cluster[0]) {
		sql.len = 0;
		sb_printf(&sql, "CREATE TABLE IF NOT EXISTS %s AS %s_local ENGINE ="
			  " Distributed(%s, %s, %s_local)", name, name, ch->cluster, ch->db, name);
		ret = sb_failed(&sql) ? -ENOMEM : run(ch, k, sql.buf, NULL, err, errlen);
	}
	sb_free(&sql);
	return ret;
}

/* Each table of list on shard k (ch_create_table). */
#define MAKE_TABLES(ch, k, list, err, errlen)                                                     \
	make_tables(ch, k, list, sizeof(list) / sizeof(list[0]), err, errlen)
static int make_tables(struct sv_ch *ch, int k, const struct table *list, size_t n, char *err,
		       size_t errlen)
{
	size_t i;
	int ret = 0;

	for (i = 0; !ret && i < n; i++)
		ret = ch_create_table(ch, k, list[i].name, list[i].cols, list[i].engine, err,
				      errlen);
	return ret;
}

/* Version 1: every table, view and Distributed table; each IF NOT EXISTS, so a post that
 * died half-way through finishes the step next time. */
static int step1(struct sv_ch *ch, int k, char *err, size_t errlen)
{
	size_t i;
	int ret = MAKE_TABLES(ch, k, tables, err, errlen);

	for (i = 0; !ret && i < sizeof(views) / sizeof(views[0]); i++)
		ret = run(ch, k, views[i], NULL, err, errlen);
	return ret;
}

/* Version 2 (issue 14: the dashboard's queries at 100 M flows): top talkers per hour, pairs
 * per minute too, and the minutes each address was seen in, so neither a day's top talkers
 * nor an address filter reads the raw records of the whole range. */
static const struct table tables2[] = {
	{ "talk_hour", "day Date, hour Int64, dim UInt8, box String, iface String,"
	  " direction UInt8, a String, b String, p UInt16, q UInt16, bytes UInt64,"
	  " packets UInt64, flows UInt64",
	  "SummingMergeTree((bytes, packets, flows)) PARTITION BY toYYYYMM(day)"
	  " ORDER BY (dim, hour, box, iface, direction, a, b, p, q)" },
	{ "addr_minute", "day Date, addr String, minute Int64, flows UInt64",
	  "SummingMergeTree((flows)) PARTITION BY day ORDER BY (addr, minute)" },
};

/* A view's SELECT over flows_local in its table's column order; %s: a further condition
 * (the backfill's), "" in the view. */
#define TALK_SEL(unit, ns, dim, keys, only, group)                                                \
	" SELECT day, toInt64(intDiv(last_ns, " ns ")) AS " unit ", toUInt8(" #dim ") AS dim,"    \
	" box, iface, direction, " keys ", sum(bytes) AS bytes, sum(packets) AS packets,"         \
	" count() AS flows FROM flows_local WHERE " only "%s GROUP BY day, " unit ", box, iface," \
	" direction" group
#define TALK_HOUR(dim, keys, only, group) TALK_SEL("hour", "3600000000000", dim, keys, only, group)
#define K_SRC "src_addr AS a, '' AS b, toUInt16(0) AS p, toUInt16(0) AS q", "src_addr != ''", ", a"
#define K_DST "dst_addr AS a, '' AS b, toUInt16(0) AS p, toUInt16(0) AS q", "dst_addr != ''", ", a"
#define K_PAIR "src_addr AS a, dst_addr AS b, toUInt16(0) AS p, toUInt16(0) AS q",             \
	"src_addr != ''", ", a, b"
#define K_PORT "'' AS a, '' AS b, toUInt16(protocol) AS p, dst_port AS q",                       \
	"protocol IN (6, 17, 132)", ", p, q"
#define K_PROTO "'' AS a, '' AS b, toUInt16(protocol) AS p, toUInt16(0) AS q", "ip_version > 0", \
	", p"
#define EXPAND(m, ...) m(__VA_ARGS__)

struct view {
	const char *view, *table, *sel;
};

static const struct view views2[] = {
	{ "talk_pair_mv", "talk_minute_local",
	  EXPAND(TALK_SEL, "minute", "60000000000", 2, K_PAIR) },
	{ "talk_hour_src_mv", "talk_hour_local", EXPAND(TALK_HOUR, 0, K_SRC) },
	{ "talk_hour_dst_mv", "talk_hour_local", EXPAND(TALK_HOUR, 1, K_DST) },
	{ "talk_hour_pair_mv", "talk_hour_local", EXPAND(TALK_HOUR, 2, K_PAIR) },
	{ "talk_hour_port_mv", "talk_hour_local", EXPAND(TALK_HOUR, 3, K_PORT) },
	{ "talk_hour_proto_mv", "talk_hour_local", EXPAND(TALK_HOUR, 4, K_PROTO) },
	/* A record counts once for an address, also when it is both ends. */
	{ "addr_minute_mv", "addr_minute_local",
	  " SELECT day, addr, toInt64(intDiv(last_ns, 60000000000)) AS minute, count() AS flows"
	  " FROM flows_local ARRAY JOIN if(src_addr = dst_addr, [src_addr], [src_addr, dst_addr])"
	  " AS addr WHERE addr != ''%s GROUP BY day, addr, minute" },
};

/* Whether a TabSeparated list of names holds name. */
static int has_name(const struct sb *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list->buf;

	for (; p && (p = strstr(p, name)); p += n)
		if ((p == list->buf || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
			return 1;
	return 0;
}

/* The records stored before view v into its table, one day at a time (each a bounded
 * query): those of before until, as the view sums every record inserted after it. */
static int backfill(struct sv_ch *ch, int k, const struct view *v, int64_t until,
		    const struct sb *days, char *err, size_t errlen)
{
	const char *p = days->buf, *nl;
	struct sb sql, cond;
	int ret = 0;

	sb_init(&sql);
	sb_init(&cond);
	for (; !ret && p && *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		sql.len = 0;
		cond.len = 0;
		sb_printf(&cond, " AND last_ns < %lld AND day = '%.*s'", (long long)until,
			  (int)(nl - p), p);
		sb_printf(&sql, "INSERT INTO %s", v->table);
		sb_printf(&sql, v->sel, cond.buf);
		ret = sb_failed(&sql) || sb_failed(&cond) ? -ENOMEM :
							     run(ch, k, sql.buf, NULL, err, errlen);
	}
	sb_free(&sql);
	sb_free(&cond);
	return ret;
}

/* The views of list on shard k; a view made here is filled with the records stored before
 * it (a step that dies half-way leaves its views unfilled: docs/scale-out.md). */
#define ADD_VIEWS(ch, k, list, err, errlen)                                                       \
	add_views(ch, k, list, sizeof(list) / sizeof(list[0]), err, errlen)
static int add_views(struct sv_ch *ch, int k, const struct view *list, size_t n, char *err,
		     size_t errlen)
{
	struct sb have, days, sql;
	struct timespec now;
	int64_t until;
	size_t i;
	int ret;

	sb_init(&have);
	sb_init(&days);
	sb_init(&sql);
	sb_printf(&sql, "SELECT name FROM system.tables WHERE database = '%s'"
		  " FORMAT TabSeparated", ch->db);
	ret = run(ch, k, sql.buf, &have, err, errlen);
	sql.len = 0;
	sb_printf(&sql, "SELECT DISTINCT partition FROM system.parts WHERE database = '%s' AND"
		  " table = 'flows_local' AND active ORDER BY partition FORMAT TabSeparated", ch->db);
	if (!ret)
		ret = run(ch, k, sql.buf, &days, err, errlen);
	clock_gettime(CLOCK_REALTIME, &now);
	until = now.tv_sec * 1000000000LL + now.tv_nsec;
	for (i = 0; !ret && i < n; i++) {
		int had = has_name(&have, list[i].view);

		sql.len = 0;
		sb_printf(&sql, "CREATE MATERIALIZED VIEW IF NOT EXISTS %s TO %s AS",
			  list[i].view, list[i].table);
		sb_printf(&sql, list[i].sel, "");
		ret = sb_failed(&sql) ? -ENOMEM : run(ch, k, sql.buf, NULL, err, errlen);
		if (!ret && !had)
			ret = backfill(ch, k, &list[i], until, &days, err, errlen);
	}
	sb_free(&have);
	sb_free(&days);
	sb_free(&sql);
	return ret;
}

/* Version 2: the new tables and views. */
static int step2(struct sv_ch *ch, int k, char *err, size_t errlen)
{
	int ret = MAKE_TABLES(ch, k, tables2, err, errlen);

	return ret ? ret : ADD_VIEWS(ch, k, views2, err, errlen);
}

/* Version 3 (issue 14): the analyser's tables (feed.c). */
static int step3(struct sv_ch *ch, int k, char *err, size_t errlen)
{
	return ch_feed_schema(ch, k, err, errlen);
}

/* Version 4 (issue 14): bytes, packets and records per 10 seconds, box, interface and
 * direction. Series in steps of 10 s read them instead of the raw records, and the newest
 * flows find there the 10 seconds that hold their page. */
static const struct table tables4[] = {
	{ "rollup_10s", "day Date, box String, iface String, direction UInt8, ten Int64,"
	  " packets UInt64, bytes UInt64, flows UInt64",
	  "SummingMergeTree((packets, bytes, flows)) PARTITION BY day"
	  " ORDER BY (box, iface, direction, ten)" },
};

static const struct view views4[] = {
	{ "rollup_10s_mv", "rollup_10s_local",
	  " SELECT day, box, iface, direction, toInt64(intDiv(last_ns, 10000000000)) AS ten,"
	  " sum(packets) AS packets, sum(bytes) AS bytes, count() AS flows FROM flows_local"
	  " WHERE 1%s GROUP BY day, box, iface, direction, ten" },
};

static int step4(struct sv_ch *ch, int k, char *err, size_t errlen)
{
	int ret = MAKE_TABLES(ch, k, tables4, err, errlen);

	return ret ? ret : ADD_VIEWS(ch, k, views4, err, errlen);
}

/* Version 5 (issue 14): where an address's newest records are, per second, so an address
 * filter finds its page's bound in the raw records of a second or two, not of a minute (at
 * 66,000 records/s a minute is 4 M of them). Only the seconds an insert holds at least
 * CH_ADDR_SEC_MIN records of an address in: a row per address and 10 s of every record took
 * 5.3 bytes per record at bench/clickhouse.sh's 20 M flows (nearly a row per record in
 * sparse hours, where a minute's read is cheap anyway); this takes 0.08 at 100 M. So its sums
 * are a lower bound of the address's records (query.c checks each window on the raw
 * records), and dense stretches (big inserts) are in it. */
#define CH_ADDR_SEC_MIN 8
#define STR_(x) #x
#define STR(x) STR_(x)

static const struct table tables5[] = {
	{ "addr_sec", "day Date, addr String, sec Int64, flows UInt64",
	  "SummingMergeTree((flows)) PARTITION BY day ORDER BY (addr, sec)" },
};

static const struct view views5[] = {
	{ "addr_sec_mv", "addr_sec_local",
	  " SELECT day, addr, toInt64(intDiv(last_ns, 1000000000)) AS sec, count() AS flows"
	  " FROM flows_local ARRAY JOIN if(src_addr = dst_addr, [src_addr], [src_addr, dst_addr])"
	  " AS addr WHERE addr != ''%s GROUP BY day, addr, sec"
	  " HAVING flows >= " STR(CH_ADDR_SEC_MIN) },
};

static int step5(struct sv_ch *ch, int k, char *err, size_t errlen)
{
	int ret = MAKE_TABLES(ch, k, tables5, err, errlen);

	return ret ? ret : ADD_VIEWS(ch, k, views5, err, errlen);
}

static int (*const steps[CH_SCHEMA_VERSION])(struct sv_ch *, int, char *, size_t) = {
	step1, step2, step3, step4, step5,
};

static int shard_schema(struct sv_ch *ch, int k, char *err, size_t errlen)
{
	char sql[160];
	int v, ret;

	snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS %s", ch->db);
	ret = run(ch, k, sql, NULL, err, errlen);
	ch->shard[k].has_db = !ret;
	if (!ret)
		ret = version(ch, k, &v, err, errlen);
	if (ret)
		return ret;
	if (v > CH_SCHEMA_VERSION) {
		snprintf(err, errlen, "%sstore schema v%d is newer than this post's (v%d)",
			 ch->shard[k].url, v, CH_SCHEMA_VERSION);
		return -EINVAL;
	}
	for (; v < CH_SCHEMA_VERSION && !ret; v++) {
		ret = steps[v](ch, k, err, errlen);
		snprintf(sql, sizeof(sql), "INSERT INTO sv_schema_local VALUES (%d)", v + 1);
		if (!ret)
			ret = run(ch, k, sql, NULL, err, errlen);
	}
	return ret ? ret : sync_cols(ch, k, err, errlen);
}

int ch_schema(struct sv_ch *ch, char *err, size_t errlen)
{
	int k, ret = 0;

	/* Every shard has its own tables: the post makes them all before anything else. */
	for (k = 0; k < ch->n_shards && !ret; k++)
		ret = shard_schema(ch, k, err, errlen);
	return ret;
}

/* How each kind is read back from a row (rows.c writes them). */
#define RD_TEXT(r, i, v) snprintf(v, sizeof(v), "%s", ch_str(r, i))
#define RD_INT(r, i, v) (v) = ch_i64(r, i)
#define RD_UINT(r, i, v) (v) = strtoull(ch_str(r, i), NULL, 10)
#define RD_IFACE RD_TEXT
#define RD_DIR RD_INT
#define RD_U8 RD_INT
#define RD_U16 RD_INT
#define RD_IPVER RD_INT
#define RD_OPT8 RD_INT
#define RD_VLAN RD_INT
#define RD_VNI RD_INT
#define RD_ADDR RD_TEXT
#define RD_MAC RD_TEXT
#define RD_COUNT RD_UINT
#define RD_NS RD_UINT
#define RD_REASON RD_TEXT
/* Text the store wrote itself; anything else reads as no reasons. */
#define RD_DROPS(r, i, v)                                                                        \
	do {                                                                                     \
		if (sv_drop_reasons_parse(ch_str(r, i), &(v)))                                   \
			memset(&(v), 0, sizeof(v));                                              \
	} while (0)

void ch_flow_read(const struct ch_rows *r, int col, struct sv_rec *rec)
{
#define X(name, kind, part, when, ipfix, lp, agg) RD_##kind(r, col++, rec->name);
	SV_FLOW_FIELDS(X)
#undef X
}
