// SPDX-License-Identifier: GPL-2.0
/* The flow record's field list (src/lib/flowrec.h) against everything generated from it:
 * every field, given a value that is not its absent one, survives the JSON writer and the
 * batch parser, the store's insert and read, appears in the line protocol as its lp column
 * says, and has its IPFIX element in the templates. A field added to the list is covered
 * here without a line of this file changing. No root, no network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
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
	char err[256];
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
	printf("%d fields: %d checks passed, %d failed\n", SV_REC_NFIELDS, passed, failed);
	return failed ? 1 : 0;
}
