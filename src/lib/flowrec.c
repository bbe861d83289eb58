// SPDX-License-Identifier: GPL-2.0
/* The flow record's JSON writer and end reasons; see flowrec.h. The JSON field names are an
 * interface other tools rely on: change them only with a new name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "flowrec.h"
#include "jsonr.h"
#include "sb.h"

static const char *const end_reasons[] = {
	[SV_END_IDLE] = "idle",
	[SV_END_ACTIVE] = "active",
	[SV_END_FLOW] = "end",
	[SV_END_FORCED] = "forced",
};

const char *sv_end_reason_str(enum sv_end_reason r)
{
	return r >= SV_END_IDLE && r <= SV_END_FORCED ? end_reasons[r] : "unknown";
}

unsigned int sv_end_reason_num(const char *s)
{
	unsigned int i;

	for (i = SV_END_IDLE; i <= SV_END_FORCED; i++)
		if (!strcmp(s, end_reasons[i]))
			return i;
	return 0;
}

int sv_drop_reasons_add(struct sv_drop_reasons *v, const char *name, uint64_t packets)
{
	unsigned int i;

	for (i = 0; i < v->n; i++)
		if (!strcmp(v->r[i].name, name))
			break;
	if (i == SV_DROP_REASONS_MAX)
		return -ENOSPC;
	if (i == v->n) {
		snprintf(v->r[i].name, sizeof(v->r[i].name), "%s", name);
		v->n++;
	}
	v->r[i].packets += packets;
	return 0;
}

int sv_drop_reasons_read(struct jr *j, struct sv_drop_reasons *v, const char **why)
{
	char name[SV_DROP_NAME_MAX];
	uint64_t n;
	int k;

	memset(v, 0, sizeof(*v));
	if (jr_object(j))
		return -EINVAL;
	while ((k = jr_key(j, name, sizeof(name))) == 1) {
		if (jr_u64(j, &n))
			return -EINVAL;
		if (!*name || n > UINT64_MAX >> 1 || sv_drop_reasons_add(v, name, n)) {
			*why = "drop_reasons: an empty name, a count out of range or too many";
			return -EINVAL;
		}
	}
	return k < 0 ? -EINVAL : 0;
}

int sv_drop_reasons_parse(const char *text, struct sv_drop_reasons *v)
{
	const char *why = NULL;
	struct jr j;

	jr_init(&j, text, strlen(text));
	if (sv_drop_reasons_read(&j, v, &why) || jr_end(&j))
		return -EINVAL;
	return 0;
}

void sv_drop_reasons_sum(const char *text, struct sv_drop_reasons *v)
{
	struct sv_drop_reasons one;
	const char *why = NULL;
	unsigned int i;
	struct jr j;
	int first = 1;

	jr_init(&j, text, strlen(text));
	if (jr_array(&j))
		return;
	while (jr_more(&j, first) == 1 && !sv_drop_reasons_read(&j, &one, &why)) {
		first = 0;
		for (i = 0; i < one.n; i++)
			sv_drop_reasons_add(v, one.r[i].name, one.r[i].packets);
	}
}

/* What each kind holds when the field is absent. */
#define ABSENT_OPT8(x) x = -1
#define ABSENT_VNI(x) x = -1
#define ABSENT_IFACE(x)
#define ABSENT_DIR(x)
#define ABSENT_U8(x)
#define ABSENT_U16(x)
#define ABSENT_IPVER(x)
#define ABSENT_VLAN(x)
#define ABSENT_ADDR(x)
#define ABSENT_MAC(x)
#define ABSENT_COUNT(x)
#define ABSENT_NS(x)
#define ABSENT_REASON(x)
#define ABSENT_DROPS(x)

void sv_rec_init(struct sv_rec *r)
{
	memset(r, 0, sizeof(*r));
#define X(name, kind, part, when, ipfix, lp, agg) ABSENT_##kind(r->name);
	SV_FLOW_FIELDS(X)
#undef X
}

/* Numbers by hand: printf's parsing was most of a record's cost. */
static void json_u64(struct sb *s, uint64_t v)
{
	char b[24];
	int i = sizeof(b);

	do
		b[--i] = '0' + v % 10;
	while ((v /= 10));
	sb_put(s, b + i, sizeof(b) - i);
}

static void json_i64(struct sb *s, int64_t v)
{
	if (v < 0)
		sb_putc(s, '-');
	json_u64(s, v < 0 ? -(uint64_t)v : (uint64_t)v);
}

/* Text: null when empty (an IP field of a non-IP flow, a value not given). */
static void json_text(struct sb *s, const char *v)
{
	if (*v)
		sb_json_str(s, v);
	else
		sb_puts(s, "null");
}

void sv_drop_reasons_json(struct sb *s, const struct sv_drop_reasons *v)
{
	unsigned int i;

	sb_putc(s, '{');
	for (i = 0; i < v->n; i++) {
		if (i)
			sb_putc(s, ',');
		sb_json_str(s, v->r[i].name);
		sb_putc(s, ':');
		json_u64(s, v->r[i].packets);
	}
	sb_putc(s, '}');
}

#define JSON_IFACE(s, v) sb_json_str(s, v)
#define JSON_DIR(s, v) sb_puts(s, (v) ? "\"egress\"" : "\"ingress\"")
#define JSON_U8(s, v) json_u64(s, v)
#define JSON_U16(s, v) json_u64(s, v)
#define JSON_IPVER(s, v) json_u64(s, v)
#define JSON_OPT8(s, v) json_i64(s, v)
#define JSON_VLAN(s, v) json_i64(s, v)
#define JSON_VNI(s, v) json_i64(s, v)
#define JSON_ADDR(s, v) json_text(s, v)
#define JSON_MAC(s, v) json_text(s, v)
#define JSON_COUNT(s, v) json_u64(s, v)
#define JSON_NS(s, v) json_u64(s, v)
#define JSON_REASON(s, v) json_text(s, v)
#define JSON_DROPS(s, v) sv_drop_reasons_json(s, &(v))

#define PART_KEY SV_PART_KEY
#define PART_VAL SV_PART_VAL

void sv_rec_json(struct sb *s, const struct sv_rec *r, int parts)
{
#define X(name, kind, part, when, ipfix, lp, agg)                                                \
	if ((parts & PART_##part) && (when)) {                                                   \
		sb_put(s, ",\"" #name "\":", sizeof(",\"" #name "\":") - 1);                    \
		JSON_##kind(s, r->name);                                                         \
	}
	SV_FLOW_FIELDS(X)
#undef X
}
