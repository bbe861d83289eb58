// SPDX-License-Identifier: GPL-2.0
/* The flow record's JSON writer and end reasons; see flowrec.h. The JSON field names are an
 * interface other tools rely on: change them only with a new name. */
#include <string.h>
#include "flowrec.h"
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
