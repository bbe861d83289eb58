// SPDX-License-Identifier: GPL-2.0
/* The ClickHouse schema, made by the post on every shard on open: local tables, materialized
 * views that sum the records per 10 s, minute and hour, and with a cluster the Distributed
 * tables over them. The flow columns come from the record's field list (flowrec.h); a field
 * added to the list becomes a column of an existing store on open. Only what ClickHouse 18.16
 * and current releases both do: no TTL, no LowCardinality, no codecs, no DateTime64. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "ch_int.h"
#include "log.h"

/* The schema's version, in each shard's sv_schema_local. A store of any older version is
 * brought to this one in one go (upgrade()); the versions: 1 the records and per-minute sums,
 * 2 hourly top talkers, pairs per minute, addresses per minute, 3 the analyser's tables
 * (feed.c), 4 sums per 10 s, 5 the seconds an address was dense in, 6 the records' times
 * in ms and the minutes' sources and destinations read from the pairs. */
#define CH_SCHEMA_VERSION 6

#define COL_DEF(name, kind, part, when, ipfix, lp, agg) ", " CH_COL(name, kind) " " SV_CH_##kind
#define COL_NAME(name, kind, part, when, ipfix, lp, agg) ", " CH_COL(name, kind)

const char ch_flow_cols[] = "" SV_FLOW_FIELDS(COL_NAME);

/* Each local table: its name, its columns and engine. The post inserts into one shard's
 * local table itself (ch_insert), so the Distributed tables, for reading, need no sharding
 * key. */
struct table {
	const char *name, *cols, *engine;
};

#define FLOWS_ENGINE "MergeTree PARTITION BY day ORDER BY (box, iface, direction, last_ms)"
#define TALK_COLS(unit)                                                                           \
	"day Date, " unit " Int64, dim UInt8, box String, iface String, direction UInt8,"        \
	" a String, b String, p UInt16, q UInt16, bytes UInt64, packets UInt64, flows UInt64"
#define TALK_ENGINE(part, unit)                                                                   \
	"SummingMergeTree((bytes, packets, flows)) PARTITION BY " part                            \
	" ORDER BY (dim, " unit ", box, iface, direction, a, b, p, q)"

static const struct table tables[] = {
	{ "flows", "day Date, box String, id Int64" SV_FLOW_FIELDS(COL_DEF), FLOWS_ENGINE },
	{ "rollup_minute", "day Date, box String, iface String, direction UInt8, minute Int64,"
	  " packets UInt64, bytes UInt64",
	  "SummingMergeTree((packets, bytes)) PARTITION BY day"
	  " ORDER BY (box, iface, direction, minute)" },
	{ "rollup_hour", "day Date, box String, iface String, direction UInt8, hour Int64,"
	  " packets UInt64, bytes UInt64",
	  "SummingMergeTree((packets, bytes)) PARTITION BY toYYYYMM(day)"
	  " ORDER BY (box, iface, direction, hour)" },
	/* Bytes, packets and records per 10 s: series in steps of 10 s read them instead of
	 * the raw records, and the newest flows find there the 10 seconds that hold their
	 * page. */
	{ "rollup_10s", "day Date, box String, iface String, direction UInt8, ten Int64,"
	  " packets UInt64, bytes UInt64, flows UInt64",
	  "SummingMergeTree((packets, bytes, flows)) PARTITION BY day"
	  " ORDER BY (box, iface, direction, ten)" },
	/* Top talkers per minute and per hour, so neither a day's top talkers nor an hour's
	 * read the raw records of the whole range. */
	{ "talk_minute", TALK_COLS("minute"), TALK_ENGINE("day", "minute") },
	{ "talk_hour", TALK_COLS("hour"), TALK_ENGINE("toYYYYMM(day)", "hour") },
	/* The minutes each address was seen in: an address filter reads only those. */
	{ "addr_minute", "day Date, addr String, minute Int64, flows UInt64",
	  "SummingMergeTree((flows)) PARTITION BY day ORDER BY (addr, minute)" },
	/* Where an address's newest records are, per second, so an address filter finds its
	 * page's bound in the raw records of a second or two, not of a minute (at 66,000
	 * records/s a minute is 4 M of them). Only the seconds an insert holds at least
	 * CH_ADDR_SEC_MIN records of an address in (addr_sec_mv): a row per address and 10 s of
	 * every record took 5.3 bytes per record at bench/clickhouse.sh's 20 M flows (nearly a
	 * row per record in sparse hours, where a minute's read is cheap anyway); this takes
	 * 0.08 at 100 M. So its sums are a lower bound of the address's records (query.c checks
	 * each window on the raw records), and dense stretches (big inserts) are in it. */
	{ "addr_sec", "day Date, addr String, sec Int64, flows UInt64",
	  "SummingMergeTree((flows)) PARTITION BY day ORDER BY (addr, sec)" },
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

/* The sums the engine keeps by itself, of every block inserted into flows_local: each view
 * into its table, with the version that brought it (a view newer than the store is filled
 * with the records stored before it on upgrade). sel is the view's SELECT in its table's
 * column order; its %s takes a further condition (the fill's), "" in the view. */
struct view {
	const char *view, *table, *sel;
	int since;
};

#define CH_ADDR_SEC_MIN 8
#define STR_(x) #x
#define STR(x) STR_(x)

/* Top talkers: one dimension (query.c's enum sv_top_by) a view, each row keyed (a, b, p, q). */
#define TALK_SEL(unit, ms, dim, keys, only, group)                                                \
	" SELECT day, toInt64(intDiv(last_ms, " ms ")) AS " unit ", toUInt8(" #dim ") AS dim,"    \
	" box, iface, direction, " keys ", sum(bytes) AS bytes, sum(packets) AS packets,"         \
	" count() AS flows FROM flows_local WHERE " only "%s GROUP BY day, " unit ", box, iface," \
	" direction" group
#define TALK_MIN(dim, keys, only, group) TALK_SEL("minute", "60000", dim, keys, only, group)
#define TALK_HOUR(dim, keys, only, group) TALK_SEL("hour", "3600000", dim, keys, only, group)
#define K_SRC "src_addr AS a, '' AS b, toUInt16(0) AS p, toUInt16(0) AS q", "src_addr != ''", ", a"
#define K_DST "dst_addr AS a, '' AS b, toUInt16(0) AS p, toUInt16(0) AS q", "dst_addr != ''", ", a"
/* Pairs of either address, so that the destinations per minute are all among them. */
#define K_PAIR "src_addr AS a, dst_addr AS b, toUInt16(0) AS p, toUInt16(0) AS q",             \
	"(src_addr != '' OR dst_addr != '')", ", a, b"
#define K_PORT "'' AS a, '' AS b, toUInt16(protocol) AS p, dst_port AS q",                       \
	"protocol IN (6, 17, 132)", ", p, q"
#define K_PROTO "'' AS a, '' AS b, toUInt16(protocol) AS p, toUInt16(0) AS q", "ip_version > 0", \
	", p"
#define EXPAND(m, ...) m(__VA_ARGS__)
/* Bytes and packets (and records) per unit of ms, box, interface and direction. */
#define ROLLUP_SEL(unit, ms, flows)                                                              \
	" SELECT day, box, iface, direction, toInt64(intDiv(last_ms, " ms ")) AS " unit ","      \
	" sum(packets) AS packets, sum(bytes) AS bytes" flows " FROM flows_local WHERE 1%s"      \
	" GROUP BY day, box, iface, direction, " unit

static const struct view views[] = {
	/* Sources and destinations per minute are read from the pairs (query.c top_sums). */
	{ "talk_port_mv", "talk_minute_local", EXPAND(TALK_MIN, 3, K_PORT), 1 },
	{ "talk_proto_mv", "talk_minute_local", EXPAND(TALK_MIN, 4, K_PROTO), 1 },
	{ "rollup_minute_mv", "rollup_minute_local", ROLLUP_SEL("minute", "60000", ""), 1 },
	{ "rollup_hour_mv", "rollup_hour_local", ROLLUP_SEL("hour", "3600000", ""), 1 },
	{ "talk_pair_mv", "talk_minute_local", EXPAND(TALK_MIN, 2, K_PAIR), 2 },
	{ "talk_hour_src_mv", "talk_hour_local", EXPAND(TALK_HOUR, 0, K_SRC), 2 },
	{ "talk_hour_dst_mv", "talk_hour_local", EXPAND(TALK_HOUR, 1, K_DST), 2 },
	{ "talk_hour_pair_mv", "talk_hour_local", EXPAND(TALK_HOUR, 2, K_PAIR), 2 },
	{ "talk_hour_port_mv", "talk_hour_local", EXPAND(TALK_HOUR, 3, K_PORT), 2 },
	{ "talk_hour_proto_mv", "talk_hour_local", EXPAND(TALK_HOUR, 4, K_PROTO), 2 },
	/* A record counts once for an address, also when it is both ends. */
	{ "addr_minute_mv", "addr_minute_local",
	  " SELECT day, addr, toInt64(intDiv(last_ms, 60000)) AS minute, count() AS flows"
	  " FROM flows_local ARRAY JOIN if(src_addr = dst_addr, [src_addr], [src_addr, dst_addr])"
	  " AS addr WHERE addr != ''%s GROUP BY day, addr, minute", 2 },
	{ "rollup_10s_mv", "rollup_10s_local", ROLLUP_SEL("ten", "10000", ", count() AS flows"), 4 },
	{ "addr_sec_mv", "addr_sec_local",
	  " SELECT day, addr, toInt64(intDiv(last_ms, 1000)) AS sec, count() AS flows"
	  " FROM flows_local ARRAY JOIN if(src_addr = dst_addr, [src_addr], [src_addr, dst_addr])"
	  " AS addr WHERE addr != ''%s GROUP BY day, addr, sec"
	  " HAVING flows >= " STR(CH_ADDR_SEC_MIN), 5 },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Views of older versions no longer made: sources and destinations per minute (v1-v5). */
static const char *const retired[] = { "talk_src_mv", "talk_dst_mv" };

static int run(struct sv_ch *ch, int k, const char *sql, struct sb *out, char *err,
	       size_t errlen)
{
	return ch_run(ch, k, sql, out, err, errlen);
}

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

/* Shard k's names of what (a SELECT name ... with %s the database) into out. */
static int names(struct sv_ch *ch, int k, const char *what, struct sb *out, char *err,
		 size_t errlen)
{
	struct sb sql;
	int ret;

	sb_init(&sql);
	sb_printf(&sql, what, ch->db);
	sb_puts(&sql, " FORMAT TabSeparated");
	ret = sb_failed(&sql) ? -ENOMEM : run(ch, k, sql.buf, out, err, errlen);
	sb_free(&sql);
	return ret;
}

#define COLUMNS_OF(t) "SELECT name FROM system.columns WHERE database = '%s' AND table = '" t "'"
#define TABLES "SELECT name FROM system.tables WHERE database = '%s'"
#define DAYS_OF(t)                                                                                \
	"SELECT DISTINCT partition FROM system.parts WHERE database = '%s' AND table = '" t "'"  \
	" AND active ORDER BY partition"

/* Each field's column: its name in v1-v5 (the field's own), now (CH_COL), and type. */
static const struct {
	const char *old, *name, *type;
} fields[] = {
#define X(name, kind, part, when, ipfix, lp, agg) { #name, CH_COL(name, kind), SV_CH_##kind },
	SV_FLOW_FIELDS(X)
#undef X
};

/* Adds the columns of fields the list has and shard k's flows table lacks: of the current
 * one, or (old) of a v1-v5 table being copied, which an older post may have left without the
 * fields added since. */
static int sync_cols(struct sv_ch *ch, int k, int old, char *err, size_t errlen)
{
	const char *table = old ? "flows_old_local" : "flows_local";
	char sql[256];
	struct sb have;
	size_t i;
	int ret;

	sb_init(&have);
	ret = old ? names(ch, k, COLUMNS_OF("flows_old_local"), &have, err, errlen) :
		    names(ch, k, COLUMNS_OF("flows_local"), &have, err, errlen);
	for (i = 0; !ret && i < N_OF(fields); i++) {
		const char *name = old ? fields[i].old : fields[i].name;

		if (has_name(&have, name))
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s", table, name,
			 fields[i].type);
		ret = run(ch, k, sql, NULL, err, errlen);
		if (!ret && !old && ch->cluster[0]) {
			snprintf(sql, sizeof(sql), "ALTER TABLE flows ADD COLUMN %s %s", name,
				 fields[i].type);
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

/* Runs fmt (one %s, given each line of list in turn) on shard k, one statement a line. */
static int each_line(struct sv_ch *ch, int k, const struct sb *list, const char *fmt, char *err,
		     size_t errlen)
{
	const char *p = list->buf, *nl;
	struct sb sql, line;
	int ret = 0;

	sb_init(&sql);
	sb_init(&line);
	for (; !ret && p && (nl = strchr(p, '\n')); p = nl + 1) {
		sql.len = line.len = 0;
		sb_printf(&line, "%.*s", (int)(nl - p), p);
		sb_printf(&sql, fmt, line.buf);
		ret = sb_failed(&sql) || sb_failed(&line) ? -ENOMEM :
							     run(ch, k, sql.buf, NULL, err, errlen);
	}
	sb_free(&sql);
	sb_free(&line);
	return ret;
}

/* The records stored before view v into its table, one day at a time (each a bounded
 * query): those before until (ms), as the view sums every record inserted after it. */
static int backfill(struct sv_ch *ch, int k, const struct view *v, int64_t until,
		    const struct sb *days, char *err, size_t errlen)
{
	struct sb fmt, cond;
	int ret;

	sb_init(&fmt);
	sb_init(&cond);
	/* The day goes in last, through each_line: the view's %s takes the condition. */
	sb_printf(&cond, " AND last_ms < %lld AND day = '%%s'", (long long)until);
	sb_printf(&fmt, "INSERT INTO %s", v->table);
	sb_printf(&fmt, v->sel, cond.buf ? cond.buf : "");
	ret = sb_failed(&fmt) || sb_failed(&cond) ? -ENOMEM :
						     each_line(ch, k, days, fmt.buf, err, errlen);
	sb_free(&fmt);
	sb_free(&cond);
	return ret;
}

/* Every view on shard k; one the store lacks and newer than its version from (> 0) is filled
 * with the records stored before it (a post that dies in between leaves it unfilled:
 * docs/scale-out.md). */
static int add_views(struct sv_ch *ch, int k, int from, char *err, size_t errlen)
{
	struct sb have, days, sql;
	struct timespec now;
	int64_t until;
	size_t i;
	int ret;

	sb_init(&have);
	sb_init(&days);
	sb_init(&sql);
	ret = names(ch, k, TABLES, &have, err, errlen);
	if (!ret)
		ret = names(ch, k, DAYS_OF("flows_local"), &days, err, errlen);
	clock_gettime(CLOCK_REALTIME, &now);
	until = now.tv_sec * 1000LL + now.tv_nsec / CH_NS_PER_MS;
	for (i = 0; !ret && i < N_OF(views); i++) {
		int had = has_name(&have, views[i].view);

		sql.len = 0;
		sb_printf(&sql, "CREATE MATERIALIZED VIEW IF NOT EXISTS %s TO %s AS",
			  views[i].view, views[i].table);
		sb_printf(&sql, views[i].sel, "");
		ret = sb_failed(&sql) ? -ENOMEM : run(ch, k, sql.buf, NULL, err, errlen);
		if (!ret && !had && from && views[i].since > from)
			ret = backfill(ch, k, &views[i], until, &days, err, errlen);
	}
	sb_free(&have);
	sb_free(&days);
	sb_free(&sql);
	return ret;
}

/* The copy of a day of v1-v5 records: their times were ns. */
static int copy_sql(struct sb *sql)
{
	size_t i;

	sb_printf(sql, "INSERT INTO flows_local (day, box, id%s) SELECT day, box, id",
		  ch_flow_cols);
	for (i = 0; i < N_OF(fields); i++)
		sb_printf(sql, strcmp(fields[i].old, fields[i].name) ? ", intDiv(%s, 1000000)" :
								       ", %s", fields[i].old);
	sb_puts(sql, " FROM flows_old_local WHERE day = '%s'");
	return sb_failed(sql) ? -ENOMEM : 0;
}

/* Version 6 keeps a record's times in ms, sorted by them: shard k's flows table of an older
 * version is rebuilt. Its views go first (they name their table, and would sum the copy a
 * second time), the old table is renamed, so no post's insert reaches it any more, and its
 * records are copied day by day into the new table before any view is made on it. A post
 * that dies half-way finds flows_old_local and starts the copy again. */
static int rebuild(struct sv_ch *ch, int k, char *err, size_t errlen)
{
	struct sb have, cols, days, sql;
	size_t i;
	int ret;

	sb_init(&have);
	sb_init(&cols);
	sb_init(&days);
	sb_init(&sql);
	ret = names(ch, k, TABLES, &have, err, errlen);
	if (!ret)
		ret = names(ch, k, COLUMNS_OF("flows_local"), &cols, err, errlen);
	if (ret || (has_name(&cols, "last_ms") && !has_name(&have, "flows_old_local")))
		goto out; /* done before */
	pr_info("clickhouse: %s: the records' times in ms (schema v6): rebuilding flows_local\n",
		ch->shard[k].url);
	for (i = 0; !ret && i < N_OF(views) + N_OF(retired); i++) {
		sql.len = 0;
		sb_printf(&sql, "DROP TABLE IF EXISTS %s",
			  i < N_OF(views) ? views[i].view : retired[i - N_OF(views)]);
		ret = sb_failed(&sql) ? -ENOMEM : run(ch, k, sql.buf, NULL, err, errlen);
	}
	if (!ret)
		ret = run(ch, k, has_name(&have, "flows_old_local") ?
				 "DROP TABLE IF EXISTS flows_local" :
				 "RENAME TABLE flows_local TO flows_old_local", NULL, err, errlen);
	/* With a cluster, the Distributed table has the old columns. */
	if (!ret)
		ret = run(ch, k, "DROP TABLE IF EXISTS flows", NULL, err, errlen);
	if (!ret)
		ret = ch_create_table(ch, k, tables[0].name, tables[0].cols, tables[0].engine, err,
				      errlen);
	if (!ret)
		ret = sync_cols(ch, k, 1, err, errlen);
	if (!ret)
		ret = names(ch, k, DAYS_OF("flows_old_local"), &days, err, errlen);
	sql.len = 0;
	if (!ret)
		ret = copy_sql(&sql);
	if (!ret)
		ret = each_line(ch, k, &days, sql.buf, err, errlen);
	if (!ret)
		ret = run(ch, k, "DROP TABLE flows_old_local", NULL, err, errlen);
out:
	sb_free(&have);
	sb_free(&cols);
	sb_free(&days);
	sb_free(&sql);
	return ret;
}

/* Shard k from version from (0: a new database) to this one: every table and view IF NOT
 * EXISTS, so a post that died half-way finishes the work next time. */
static int upgrade(struct sv_ch *ch, int k, int from, char *err, size_t errlen)
{
	size_t i;
	int ret = 0;

	if (from > 0)
		ret = rebuild(ch, k, err, errlen);
	for (i = 0; !ret && i < N_OF(tables); i++)
		ret = ch_create_table(ch, k, tables[i].name, tables[i].cols, tables[i].engine, err,
				      errlen);
	if (!ret)
		ret = ch_feed_schema(ch, k, err, errlen);
	if (!ret)
		ret = add_views(ch, k, from, err, errlen);
	/* The retired views' rows (a mutation: ClickHouse deletes them in the background). */
	if (!ret && from > 0)
		ret = run(ch, k, "ALTER TABLE talk_minute_local DELETE WHERE dim IN (0, 1)", NULL, err,
			  errlen);
	return ret;
}

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
	if (v < CH_SCHEMA_VERSION) {
		ret = upgrade(ch, k, v, err, errlen);
		snprintf(sql, sizeof(sql), "INSERT INTO sv_schema_local VALUES (%d)",
			 CH_SCHEMA_VERSION);
		if (!ret)
			ret = run(ch, k, sql, NULL, err, errlen);
	}
	return ret ? ret : sync_cols(ch, k, 0, err, errlen);
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
#define RD_NS(r, i, v) (v) = strtoull(ch_str(r, i), NULL, 10) * CH_NS_PER_MS
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
