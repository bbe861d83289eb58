// SPDX-License-Identifier: GPL-2.0
/* The ClickHouse backend's insert rows: a batch's records and trajectory fingerprints as
 * TabSeparated text, the bulk of the post's work per record after the parser. Written by hand
 * into room reserved once per row: printf and a bounds check per character were most of the
 * ingest's time. */
#include <string.h>
#include "ch_int.h"
#include "ingest.h"

/* The most a field's text takes: escaped text is at most twice as long, a number 20 digits
 * and a sign. Drop reasons are their JSON object: a name's character escapes to at most six
 * ("\u0001"), a count and the punctuation take 24. */
#define MAX_TEXT(size) (2 * (size))
#define MAX_NUM 21
#define MAX_IFACE MAX_TEXT(SV_IFNAME_MAX)
#define MAX_DIR MAX_NUM
#define MAX_U8 MAX_NUM
#define MAX_U16 MAX_NUM
#define MAX_IPVER MAX_NUM
#define MAX_OPT8 MAX_NUM
#define MAX_VLAN MAX_NUM
#define MAX_VNI MAX_NUM
#define MAX_ADDR MAX_TEXT(SV_ADDR_MAX)
#define MAX_MAC MAX_TEXT(SV_MAC_MAX)
#define MAX_COUNT MAX_NUM
#define MAX_NS MAX_NUM
#define MAX_REASON MAX_TEXT(SV_REASON_MAX)
#define MAX_DROPS MAX_TEXT(2 + SV_DROP_REASONS_MAX * (6 * SV_DROP_NAME_MAX + 24))

#define MAX_FIELD(name, kind, part, when, ipfix, lp, agg) +1 + MAX_##kind
/* A record's fields, each after a tab. */
#define MAX_REC (0 SV_FLOW_FIELDS(MAX_FIELD))
/* A flow row: day, box, id, the record, the newline. */
#define MAX_ROW (10 + 1 + MAX_TEXT(SV_BOX_MAX) + 1 + MAX_NUM + MAX_REC + 1)
/* A fingerprint's row: day, box, 11 numbers, the interface, two addresses, their tabs and
 * the newline. */
#define MAX_FP_ROW (10 + MAX_TEXT(SV_BOX_MAX) + 11 * MAX_NUM + MAX_IFACE + 2 * MAX_ADDR + 16)

static char *put_u64(char *w, uint64_t v)
{
	char b[20];
	int i = sizeof(b);

	do
		b[--i] = '0' + v % 10;
	while ((v /= 10));
	memcpy(w, b + i, sizeof(b) - i);
	return w + sizeof(b) - i;
}

static char *put_i64(char *w, int64_t v)
{
	if (v < 0)
		*w++ = '-';
	return put_u64(w, v < 0 ? -(uint64_t)v : (uint64_t)v);
}

/* As ch_tsv: tabs, newlines and backslashes escaped. */
static char *put_text(char *w, const char *t)
{
	for (; *t; t++) {
		if (*t == '\t' || *t == '\n' || *t == '\\') {
			*w++ = '\\';
			*w++ = *t == '\t' ? 't' : *t == '\n' ? 'n' : '\\';
		} else {
			*w++ = *t;
		}
	}
	return w;
}

static char *put_2(char *w, unsigned int v)
{
	*w++ = '0' + v / 10;
	*w++ = '0' + v % 10;
	return w;
}

/* The UTC day of ns (not negative) as YYYY-MM-DD: the civil date of a day number (H. Hinnant's
 * days-to-civil); gmtime_r and strftime per row cost more than the rest of the row. */
static char *put_day(char *w, int64_t ns)
{
	int64_t z = ns / (86400 * 1000000000LL) + 719468;
	int64_t era = z / 146097, doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	unsigned int d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);

	w = put_2(w, y / 100);
	w = put_2(w, y % 100);
	*w++ = '-';
	w = put_2(w, m);
	*w++ = '-';
	return put_2(w, d);
}

/* Drop reasons as their JSON object (as SQLite keeps them); "" for a record without drops. */
static char *put_drops(char *w, const struct sv_drop_reasons *v)
{
	struct sb b;

	if (!v->n)
		return w;
	sb_init(&b);
	sv_drop_reasons_json(&b, v);
	w = put_text(w, b.buf && !sb_failed(&b) ? b.buf : "");
	sb_free(&b);
	return w;
}

#define PUT_IFACE(w, v) put_text(w, v)
#define PUT_DIR(w, v) put_i64(w, v)
#define PUT_U8(w, v) put_u64(w, v)
#define PUT_U16(w, v) put_u64(w, v)
#define PUT_IPVER(w, v) put_u64(w, v)
#define PUT_OPT8(w, v) put_i64(w, v)
#define PUT_VLAN(w, v) put_i64(w, v)
#define PUT_VNI(w, v) put_i64(w, v)
#define PUT_ADDR(w, v) put_text(w, v)
#define PUT_MAC(w, v) put_text(w, v)
#define PUT_COUNT(w, v) put_u64(w, v)
#define PUT_NS(w, v) put_u64(w, (v) / CH_NS_PER_MS) /* first_ms, last_ms */
#define PUT_REASON(w, v) put_text(w, v)
#define PUT_DROPS(w, v) put_drops(w, &(v))

static char *put_rec(char *w, const struct sv_rec *r)
{
#define X(name, kind, part, when, ipfix, lp, agg)                                                \
	*w++ = '\t';                                                                             \
	w = PUT_##kind(w, r->name);
	SV_FLOW_FIELDS(X)
#undef X
	return w;
}

void ch_flow_rows(struct sb *s, const struct sv_batch *b, uint64_t hash)
{
	size_t i;
	char *w;

	/* About what a row takes, so the buffer grows once or twice, not at every doubling. */
	sb_reserve(s, b->n * 320);
	for (i = 0; i < b->n; i++) {
		if (sb_reserve(s, MAX_ROW))
			return;
		w = put_day(s->buf + s->len, (int64_t)b->recs[i].last_ns);
		*w++ = '\t';
		w = put_text(w, b->box);
		*w++ = '\t';
		w = put_u64(w, (hash << 20) | (i & 0xfffff));
		w = put_rec(w, &b->recs[i]);
		*w++ = '\n';
		s->len = w - s->buf;
	}
	if (s->buf)
		s->buf[s->len] = 0;
}

/* In feed.c's columns. Every row's day is the day stored (now), written once: the day and box
 * start each row alike. */
void ch_fps_rows(struct sb *s, const struct sv_batch *b, uint64_t bid, int64_t now)
{
	const struct sv_fp_rec *f;
	char head[16 + MAX_TEXT(SV_BOX_MAX) + MAX_NUM], *w;
	size_t i, n;

	w = put_day(head, now);
	*w++ = '\t';
	w = put_text(w, b->box);
	*w++ = '\t';
	w = put_u64(w, bid);
	n = w - head;
	/* About what a row takes, as ch_flow_rows does. */
	sb_reserve(s, b->n_fps * 160);
	for (i = 0; i < b->n_fps; i++) {
		if (sb_reserve(s, MAX_FP_ROW))
			return;
		f = &b->fps[i];
		w = s->buf + s->len;
		memcpy(w, head, n);
		w += n;
		*w++ = '\t';
		w = put_u64(w, f->hash);
		*w++ = '\t';
		w = put_i64(w, f->ts_ns);
		*w++ = '\t';
		w = put_text(w, f->iface);
		*w++ = '\t';
		w = put_i64(w, f->direction);
		*w++ = '\t';
		w = put_u64(w, f->ip_version);
		*w++ = '\t';
		w = put_u64(w, f->protocol);
		*w++ = '\t';
		w = put_u64(w, f->src_port);
		*w++ = '\t';
		w = put_u64(w, f->dst_port);
		*w++ = '\t';
		w = put_u64(w, f->len);
		*w++ = '\t';
		*w++ = f->tunnel ? '1' : '0';
		*w++ = '\t';
		w = put_text(w, f->src_addr);
		*w++ = '\t';
		w = put_text(w, f->dst_addr);
		*w++ = '\n';
		s->len = w - s->buf;
	}
	if (s->buf)
		s->buf[s->len] = 0;
}
