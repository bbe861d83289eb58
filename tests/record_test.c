// SPDX-License-Identifier: GPL-2.0
/* The flow record's field list (src/lib/flowrec.h) against everything generated from it:
 * every field, given a value that is not its absent one, survives the JSON writer and the
 * batch parser, the store's insert and read, appears in the line protocol as its lp column
 * says, and has its IPFIX element in the templates. A field added to the list is covered
 * here without a line of this file changing. The trajectory fingerprint's line likewise: the
 * parser's checks and the ClickHouse backend's row. No root, no network. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "clickhouse/ch_int.h"
#include "flowrec.h"
#include "ingest.h"
#include "ipfix_msg.h"
#include "jsonr.h"
#include "lineproto.h"
#include "sb.h"
#include "store.h"

/* A value of each kind that is valid, not the absent one, and differs per field (n). */
#define SET_IFACE(v, n) snprintf(v, sizeof(v), "if-%d", n)
#define SET_DIR(v, n) v = 1
#define SET_U8(v, n) v = 200 + n % 50
#define SET_U16(v, n) v = 60000 + n
#define SET_IPVER(v, n) v = 6
#define SET_OPT8(v, n) v = 100 + n
#define SET_VLAN(v, n) v = 4000 + n
#define SET_VNI(v, n) v = 0xfffff0 + n % 16
#define SET_ADDR(v, n) snprintf(v, sizeof(v), "2001:db8::%x", n)
#define SET_MAC(v, n) snprintf(v, sizeof(v), "02:00:00:00:00:%02x", n)
#define SET_COUNT(v, n) v = (1ull << 62) + n
#define SET_NS(v, n) v = 1700000000000000000ull + n
#define SET_REASON(v, n) snprintf(v, sizeof(v), "%s", sv_end_reason_str(SV_END_FLOW))
#define SET_DROPS(v, n) (sv_drop_reasons_add(&(v), "NETFILTER_DROP", n),                        \
			 sv_drop_reasons_add(&(v), "SOCKET_RCVBUFF", (1ull << 62) + n))

static void full_rec(struct sv_rec *r)
{
	int n = 0;

	sv_rec_init(r);
#define X(name, kind, part, when, ipfix, lp, agg) SET_##kind(r->name, ++n);
	SV_FLOW_FIELDS(X)
#undef X
	r->first_ns = r->last_ns; /* the parser checks first <= last */
}

/* Each field of a against b, by name. */
static void same(const char *what, const struct sv_rec *a, const struct sv_rec *b)
{
#define X(name, kind, part, when, ipfix, lp, agg)                                                \
	check(!memcmp(&a->name, &b->name, sizeof(a->name)), "%s: %s kept", what, #name);
	SV_FLOW_FIELDS(X)
#undef X
}

/* The agent's JSON line parsed by the post. */
static void json_round_trip(const struct sv_rec *r, struct sv_batch *b)
{
	char err[256] = "";
	struct sb s;

	sb_init(&s);
	sb_puts(&s, "{\"type\":\"batch\",\"batch_id\":\"t1\",\"box\":\"b\"}\n{\"type\":\"flow\","
		    "\"box\":\"b\"");
	sv_rec_json(&s, r, SV_PART_ALL);
	sb_puts(&s, "}\n");
	check(!sv_ingest_parse(s.buf, s.len, b, err, sizeof(err)) && b->n == 1,
	      "the JSON record parses: %s", s.buf);
	if (b->n == 1)
		same("JSON -> parser", r, &b->recs[0]);
	sb_free(&s);
}

/* The same record with its members in the reverse order, white space between them and each
 * key's first letter escaped (\u0069face): the parser's guess of the agent's order and its
 * keys read without a copy must give the same record as the general way. */
static void json_any_order(const struct sv_rec *r)
{
	const char *val[SV_REC_NFIELDS + 2];
	char key[SV_REC_NFIELDS + 2][32], err[256];
	size_t len[SV_REC_NFIELDS + 2];
	struct sv_batch b = { 0 };
	struct sb s, out;
	struct jr j;
	int n = 0;

	sb_init(&s);
	sb_init(&out);
	sb_puts(&s, "{\"type\":\"flow\",\"box\":\"b\"");
	sv_rec_json(&s, r, SV_PART_ALL);
	sb_puts(&s, "}");
	jr_init(&j, s.buf, s.len);
	jr_object(&j);
	while (n < SV_REC_NFIELDS + 2 && jr_key(&j, key[n], sizeof(key[n])) == 1) {
		val[n] = j.p;
		jr_skip(&j);
		len[n] = j.p - val[n];
		n++;
	}
	sb_puts(&out, "{\"type\":\"batch\",\"batch_id\":\"t2\",\"box\":\"b\"}\n{");
	while (n--) {
		sb_printf(&out, "\"\\u%04x%s\" : %.*s%s", key[n][0], key[n] + 1, (int)len[n], val[n],
			  n ? " ,\t" : "}\n");
	}
	check(!sv_ingest_parse(out.buf, out.len, &b, err, sizeof(err)) && b.n == 1,
	      "the record in the reverse order, keys escaped, parses: %s", err);
	if (b.n == 1)
		same("reverse order -> parser", r, &b.recs[0]);
	sv_batch_free(&b);
	sb_free(&out);
	sb_free(&s);
}

static int keep_row(void *ctx, const struct sv_flow_row *row)
{
	*(struct sv_rec *)ctx = row->rec;
	return 0;
}

static void store_round_trip(const struct sv_batch *b)
{
	char path[] = "/tmp/sv-record-test-XXXXXX", err[256];
	struct sv_store *st = NULL;
	struct sv_filter f;
	struct sv_rec back;
	int dup = 0, fd = mkstemp(path);

	if (fd < 0) {
		check(0, "a temporary database");
		return;
	}
	close(fd);
	unlink(path);
	check(!sv_store_open(path, &st, err, sizeof(err)), "the store opens: %s", err);
	if (!st)
		return;
	sv_filter_init(&f);
	memset(&back, 0, sizeof(back));
	check(!sv_store_ingest(st, b, 1, &dup) && !dup, "the record is stored");
	check(!sv_store_flows(st, &f, "-last_ns", 10, 0, keep_row, &back), "and read back");
	same("store", &b->recs[0], &back);
	sv_store_close(st);
	unlink(path);
}

/* Positions 1..SV_REC_NLP once each; fields written with their value, tags as tags. */
static void line_protocol(const struct sv_rec *r)
{
	int seen[SV_REC_NFIELDS + 1] = { 0 }, pos;
	char key[64];
	struct sb s;

	sb_init(&s);
	sv_lp_flow(&s, "b", r, r->last_ns);
#define X(name, kind, part, when, ipfix, lp, agg)                                                \
	if ((lp) > 0)                                                                            \
		seen[(lp) <= SV_REC_NLP ? (lp) : 0]++;                                           \
	snprintf(key, sizeof(key), "%s" #name "=", (lp) == LP_TAG ? "," : "");                 \
	if ((lp) != LP_NONE)                                                                     \
		check(strstr(s.buf, key) != NULL, "line protocol has %s", key);
	SV_FLOW_FIELDS(X)
#undef X
	check(!seen[0], "no LP_FIELD position past the number of line protocol fields");
	for (pos = 1; pos <= SV_REC_NLP; pos++)
		check(seen[pos] == 1, "LP_FIELD(%d) is used once (%d)", pos, seen[pos]);
	if (failed)
		printf("the line: %s", s.buf);
	sb_free(&s);
}

/* IPFIX_HAND elements in some template, IPFIX ones in every template. */
static void ipfix(void)
{
	int t, some;

#define X(name, kind, part, when, ipfix, lp, agg)                                                \
	for (some = 0, t = 0; t < SV_TMPL_MAX; t++)                                              \
		some += sv_ipfix_tmpl_has(t, (ipfix) < 0 ? -(ipfix) : (ipfix));                  \
	if ((ipfix) < 0)                                                                         \
		check(some > 0, "IPFIX element %d of %s is in a template", -(ipfix), #name);     \
	if ((ipfix) > 0)                                                                         \
		check(some == SV_TMPL_MAX, "IPFIX element %d of %s is in every template",        \
		      (ipfix), #name);
	SV_FLOW_FIELDS(X)
#undef X
}

/* --- trajectory fingerprints ------------------------------------------------------------ */

#define FP_HEAD "{\"type\":\"batch\",\"batch_id\":\"f1\",\"box\":\"b\"}\n"
/* As the agent writes one (src/agent/output.c). */
#define FP_LINE(hash, box, tail)                                                                 \
	"{\"type\":\"fp\",\"hash\":\"" hash "\",\"ts_ns\":1795319943181624381,\"box\":\"" box      \
	"\",\"iface\":\"eth\\t0\",\"direction\":\"egress\",\"ip_version\":6,\"protocol\":17,"     \
	"\"src_addr\":\"2001:DB8::1\",\"dst_addr\":\"198.18.1.2\",\"src_port\":41002,"             \
	"\"dst_port\":9302,\"tunnel\":true,\"len\":1500" tail "}\n"

/* parse BODY: 0 and the batch, or the parser's reason in err. */
static int parse(const char *body, struct sv_batch *b, char *err, size_t len)
{
	err[0] = 0;
	return sv_ingest_parse(body, strlen(body), b, err, len);
}

static void fp_fields(const char *what, const struct sv_fp_rec *f)
{
	check(f->hash == 0x9f2c41d07be83a15ULL && f->ts_ns == 1795319943181624381LL &&
		      !strcmp(f->iface, "eth\t0") && f->direction == 1 && f->ip_version == 6 &&
		      f->protocol == 17 && f->src_port == 41002 && f->dst_port == 9302 &&
		      f->len == 1500 && f->tunnel == 1 && !strcmp(f->src_addr, "2001:db8::1") &&
		      !strcmp(f->dst_addr, "198.18.1.2"),
	      "%s: every field read (addresses canonical)", what);
}

/* The parser's fingerprint lines: read whole in the agent's order and in any other, with a
 * flow record after them; refused when any part is wrong, even after a good start. */
static void fp_parse(void)
{
	static const struct {
		const char *line, *why;
	} bad[] = {
		{ FP_LINE("9f2c41d07be83a1", "b", ""), "hash is not 16 hex digits" },
		{ FP_LINE("9f2c41d07be83a15", "c", ""), "record's box differs" },
		{ FP_LINE("9f2c41d07be83a15", "b", ",\"src_port\":65536"), "number out of range" },
		{ FP_LINE("9f2c41d07be83a15", "b", ",\"direction\":\"up\""), "neither" },
		{ FP_LINE("9f2c41d07be83a15", "b", ",\"ip_version\":0"), "not 4 or 6" },
		{ FP_LINE("9f2c41d07be83a15", "b", ",\"dst_addr\":\"198.18.1\""), "not an IP" },
		{ FP_LINE("9f2c41d07be83a15", "b", ",\"tunnel\":1"), "" },
		{ FP_LINE("9f2c41d07be83a15", "b", ",\"len\":"), "" },
		{ FP_LINE("9f2c41d07be83a15", "b", ",\"ts_ns\":18446744073709551616"), "too large" },
		{ FP_LINE("9f2c41d07be83a15", "b", ",\"ts_ns\":9223372036854775808"), "out of range" },
		{ "{\"type\":\"fp\",\"hash\":\"9f2c41d07be83a15\",\"ts_ns\":1,\"box\":\"b\","
		  "\"direction\":\"egress\",\"ip_version\":4,\"src_addr\":\"198.18.1.1\","
		  "\"dst_addr\":\"198.18.1.2\"}\n", "fp lacks" },
	};
	struct sv_batch b;
	char err[256], body[2048];
	size_t i;

	check(!parse(FP_HEAD FP_LINE("9f2c41d07be83a15", "b", "") "{\"type\":\"flow\",\"box\":"
	      "\"b\",\"iface\":\"e\",\"direction\":\"ingress\",\"packets\":3,\"last_ns\":5}\n"
	      FP_LINE("9f2c41d07be83a15", "b", ",\"newer\":[1,{}]"), &b, err, sizeof(err)) &&
	      b.n_fps == 2 && b.n == 1 && b.skipped == 0,
	      "two fingerprints and a record between them parse: %s", err);
	if (b.n_fps == 2 && b.n == 1) {
		fp_fields("the agent's line", &b.fps[0]);
		fp_fields("with a key of a newer agent", &b.fps[1]);
		check(!strcmp(b.recs[0].iface, "e") && b.recs[0].packets == 3,
		      "the record after a fingerprint is read whole");
	}
	sv_batch_free(&b);
	/* The same members reversed, type last, a key escaped: not the agent's order. */
	check(!parse(FP_HEAD "{\"len\":1500,\"tunnel\":true,\"dst_port\":9302,\"src_port\":41002,"
		     "\"dst_addr\":\"198.18.1.2\",\"src_addr\":\"2001:db8::1\",\"protocol\":17,"
		     "\"ip_version\":6,\"direction\":\"egress\",\"\\u0069face\":\"eth\\t0\","
		     "\"box\":\"b\",\"ts_ns\":1795319943181624381,\"hash\":\"9F2C41D07BE83A15\","
		     "\"type\":\"fp\"}\n", &b, err, sizeof(err)) && b.n_fps == 1 && b.n == 0,
	      "a fingerprint in another order parses: %s", err);
	if (b.n_fps == 1)
		fp_fields("another order", &b.fps[0]);
	sv_batch_free(&b);
	/* Keys that the guessed next key ("hash") begins or ends: others, skipped. */
	check(!parse(FP_HEAD "{\"type\":\"fp\",\"hashx\":\"z\",\"has\":\"z\",\"hash\\\"\":1,"
		     "\"hash\":\"9f2c41d07be83a15\",\"ts_ns\":1795319943181624381,\"box\":\"b\","
		     "\"iface\":\"eth\\t0\",\"direction\":\"egress\",\"ip_version\":6,\"protocol\":17,"
		     "\"src_addr\":\"2001:db8::1\",\"dst_addr\":\"198.18.1.2\",\"src_port\":41002,"
		     "\"dst_port\":9302,\"tunnel\":true,\"len\":1500}\n", &b, err, sizeof(err)) &&
	      b.n_fps == 1, "keys like the next one are others: %s", err);
	if (b.n_fps == 1)
		fp_fields("keys like the next one", &b.fps[0]);
	sv_batch_free(&b);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), FP_HEAD "%s", bad[i].line);
		check(parse(body, &b, err, sizeof(err)) == -EINVAL &&
			      !strncmp(err, "line 2: ", 8) && strstr(err, bad[i].why),
		      "refused (%s): %s", err, bad[i].line);
		sv_batch_free(&b);
	}
}

/* The ClickHouse backend's fps rows (TabSeparated, the columns of feed.c's table): the day
 * of the time stored, text escaped. */
static void fp_rows(void)
{
	struct sv_batch b;
	char err[256];
	struct sb s;

	sb_init(&s);
	check(!parse(FP_HEAD FP_LINE("9f2c41d07be83a15", "b", "") FP_LINE("0000000000000001", "b",
		     ",\"tunnel\":false,\"direction\":\"ingress\",\"ip_version\":4,"
		     "\"ts_ns\":1,\"len\":0"), &b, err, sizeof(err)) && b.n_fps == 2,
	      "two fingerprints parse: %s", err);
	snprintf(b.box, sizeof(b.box), "b\\x");
	ch_fps_rows(&s, &b, 8589934591ULL, 1795319943181624381LL);
	check(s.buf && !strcmp(s.buf,
		"2026-11-22\tb\\\\x\t8589934591\t11469614714693630485\t1795319943181624381\t"
		"eth\\t0\t1\t6\t17\t41002\t9302\t1500\t1\t2001:db8::1\t198.18.1.2\n"
		"2026-11-22\tb\\\\x\t8589934591\t1\t1\teth\\t0\t0\t4\t17\t41002\t9302\t0\t0\t"
		"2001:db8::1\t198.18.1.2\n"), "fps rows: %s", s.buf ? s.buf : "(none)");
	sb_free(&s);
	sv_batch_free(&b);
}

int main(void)
{
	struct sv_batch b = { 0 };
	struct sv_rec r;

	full_rec(&r);
	json_round_trip(&r, &b);
	json_any_order(&r);
	if (b.n == 1)
		store_round_trip(&b);
	sv_batch_free(&b);
	line_protocol(&r);
	ipfix();
	fp_parse();
	fp_rows();
	printf("%d fields: %d checks passed, %d failed\n", SV_REC_NFIELDS, passed, failed);
	return failed ? 1 : 0;
}
