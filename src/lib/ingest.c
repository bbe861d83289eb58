// SPDX-License-Identifier: GPL-2.0
/* Ingest batch parsing; see ingest.h. Flow records are read by their field list
 * (flowrec.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ingest.h"
#include "jsonr.h"
#include "sb.h"

#define KEY_MAX 32

static int set_err(char *err, size_t len, size_t line, const char *why)
{
	snprintf(err, len, "line %zu: %s", line, why);
	return -EINVAL;
}

static int u64_in(struct jr *j, uint64_t max, uint64_t *v, const char **why)
{
	if (jr_u64(j, v))
		return -EINVAL;
	if (*v > max) {
		*why = "number out of range";
		return -EINVAL;
	}
	return 0;
}

static int uint_in(struct jr *j, unsigned int max, unsigned int *v, const char **why)
{
	uint64_t x;
	int err = u64_in(j, max, &x, why);

	*v = x;
	return err;
}

/* An address as text, or null; stored in canonical form so queries match it. */
static int addr(struct jr *j, char *out, const char **why)
{
	unsigned char bin[16];
	char s[64];

	if (jr_null(j)) {
		out[0] = 0;
		return 0;
	}
	if (jr_string(j, s, sizeof(s)))
		return -EINVAL;
	/* inet_pton takes only dotted quads without leading zeros: the canonical text already,
	 * at most 15 characters. */
	if (inet_pton(AF_INET, s, bin) == 1)
		memcpy(out, s, strlen(s) + 1);
	else if (inet_pton(AF_INET6, s, bin) == 1)
		inet_ntop(AF_INET6, bin, out, SV_ADDR_MAX);
	else {
		*why = "not an IP address";
		return -EINVAL;
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "aa:bb:cc:dd:ee:ff" in either case, stored lower case. By hand: sscanf was a tenth of the
 * ingest's time. */
static int mac(struct jr *j, char *out, const char **why)
{
	char s[32];
	int i;

	if (jr_string(j, s, sizeof(s)))
		return -EINVAL;
	for (i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : hexval(s[i]) < 0)
			break;
		out[i] = s[i] | (i % 3 == 2 ? 0 : 0x20);
	}
	if (i != 17 || s[17]) {
		*why = "not a MAC address";
		return -EINVAL;
	}
	out[17] = 0;
	return 0;
}

static int small_int(struct jr *j, unsigned int max, int *v, const char **why)
{
	unsigned int x;

	if (uint_in(j, max, &x, why))
		return -EINVAL;
	*v = x;
	return 0;
}

static int direction(struct jr *j, int *dir, const char **why)
{
	char s[16];

	if (jr_string(j, s, sizeof(s)))
		return -EINVAL;
	*dir = !strcmp(s, "egress") ? 1 : !strcmp(s, "ingress") ? 0 : -1;
	if (*dir < 0)
		*why = "direction is neither ingress nor egress";
	return *dir < 0 ? -EINVAL : 0;
}

static int ip_version(struct jr *j, unsigned int *v, const char **why)
{
	if (uint_in(j, 6, v, why))
		return -EINVAL;
	if (*v && *v != 4 && *v != 6)
		*why = "ip_version is not 0, 4 or 6";
	return *v && *v != 4 && *v != 6 ? -EINVAL : 0;
}

static int vni(struct jr *j, int64_t *vni, const char **why)
{
	uint64_t v;

	if (u64_in(j, 0xffffff, &v, why))
		return -EINVAL;
	*vni = v;
	return 0;
}

/* How each kind of field (flowrec.h) is read and checked. */
#define PARSE_IFACE(j, v, why) jr_string(j, v, SV_IFNAME_MAX)
#define PARSE_DIR(j, v, why) direction(j, &(v), why)
#define PARSE_U8(j, v, why) uint_in(j, 255, &(v), why)
#define PARSE_U16(j, v, why) uint_in(j, 0xffff, &(v), why)
#define PARSE_IPVER(j, v, why) ip_version(j, &(v), why)
#define PARSE_OPT8(j, v, why) small_int(j, 255, &(v), why)
#define PARSE_VLAN(j, v, why) small_int(j, 4095, &(v), why)
#define PARSE_VNI(j, v, why) vni(j, &(v), why)
#define PARSE_ADDR(j, v, why) addr(j, v, why)
#define PARSE_MAC(j, v, why) mac(j, v, why)
#define PARSE_COUNT(j, v, why) u64_in(j, UINT64_MAX >> 1, &(v), why)
#define PARSE_NS(j, v, why) u64_in(j, INT64_MAX, &(v), why)
#define PARSE_REASON(j, v, why) jr_string(j, v, SV_REASON_MAX)
#define PARSE_DROPS(j, v, why) sv_drop_reasons_read(j, &(v), why)

/* A flow record's keys: the line's type and box, then the fields in the order the agent
 * writes them (flowrec.h), which the parser guesses first. */
enum {
	RK_TYPE,
	RK_BOX,
#define X(name, kind, part, when, ipfix, lp, agg) RK_##name,
	SV_FLOW_FIELDS(X)
#undef X
	RK_N
};

/* A known key of a line, for key_index. */
struct key_name {
	const char *name;
	size_t len;
};

static const struct key_name rec_keys[RK_N] = {
	{ "type", 4 },
	{ "box", 3 },
#define X(name, kind, part, when, ipfix, lp, agg) { #name, sizeof(#name) - 1 },
	SV_FLOW_FIELDS(X)
#undef X
};

/* The key's index in keys[n], trying from the one after the last key on (a writer's order
 * guessed right costs one compare); -1 for an unknown key. */
static int key_index(const struct key_name *keys, int n, const char *k, size_t len, int from)
{
	int i, t;

	for (i = 0; i < n; i++) {
		t = (from + i) % n;
		if (keys[t].len == len && !memcmp(keys[t].name, k, len))
			return t;
	}
	return -1;
}

/* One member of a flow record. Unknown keys are skipped, so newer agents can add fields. */
static int rec_field(struct jr *j, int key, struct sv_rec *r, char *type, char *box,
		     const char **why)
{
	switch (key) {
	case RK_TYPE:
		return jr_string(j, type, 16);
	case RK_BOX:
		return jr_string(j, box, SV_BOX_MAX);
#define X(name, kind, part, when, ipfix, lp, agg)                                                \
	case RK_##name:                                                                          \
		return PARSE_##kind(j, r->name, why);
	SV_FLOW_FIELDS(X)
#undef X
	}
	return jr_skip(j);
}

/* 1: a flow record in r; 0: a line of another type (named in type); negative: malformed
 * (*why says). */
static int parse_rec(const char *p, size_t n, const char *batch_box, struct sv_rec *r,
		     char type[16], const char **why)
{
	char key[KEY_MAX], box[SV_BOX_MAX] = "";
	int k, i = -1;
	const char *name;
	size_t len;
	struct jr j;

	sv_rec_init(r);
	type[0] = 0;
	r->direction = -1; /* to tell a record without one */
	jr_init(&j, p, n);
	if (jr_object(&j))
		goto bad;
	while ((k = jr_key_ref(&j, key, sizeof(key), &name, &len)) == 1) {
		i = key_index(rec_keys, RK_N, name, len, i + 1);
		if (rec_field(&j, i, r, type, box, why))
			goto bad;
		/* A fingerprint (its type first, as the agent writes it) is read by parse_fp,
		 * which checks all of it: reading it as a flow record too cost half of its
		 * parse. */
		if (i == RK_TYPE && !strcmp(type, "fp"))
			return 0;
	}
	if (k < 0 || jr_end(&j))
		goto bad;
	if (!type[0])
		return *why = "record without a type", -EINVAL;
	if (strcmp(type, "flow"))
		return 0;
	if (strcmp(box, batch_box))
		return *why = "record's box differs from the batch's", -EINVAL;
	if (!r->iface[0] || r->direction < 0 || !r->last_ns)
		return *why = "record lacks iface, direction or last_ns", -EINVAL;
	if (r->first_ns > r->last_ns)
		return *why = "first_ns after last_ns", -EINVAL;
	if (!r->end_reason[0] || sv_end_reason_num(r->end_reason))
		return 1;
	return *why = "unknown end_reason", -EINVAL;
bad:
	if (!*why)
		*why = j.err ? j.err : "malformed record";
	return -EINVAL;
}

/* The hash: 16 hex digits, as the agent writes it. */
static int fp_hash(struct jr *j, uint64_t *h, const char **why)
{
	char s[24];
	int i, v;

	if (jr_string(j, s, sizeof(s)))
		return -EINVAL;
	*h = 0;
	for (i = 0; i < 16 && (v = hexval(s[i])) >= 0; i++)
		*h = *h << 4 | v;
	if (i != 16 || s[16]) {
		*why = "hash is not 16 hex digits";
		return -EINVAL;
	}
	return 0;
}

/* A fingerprint's keys, in the order the agent writes them (src/agent/output.c), which the
 * parser guesses first as for flow records. */
enum {
	FK_TYPE,
	FK_HASH,
	FK_TS,
	FK_BOX,
	FK_IFACE,
	FK_DIR,
	FK_IPVER,
	FK_PROTO,
	FK_SRC,
	FK_DST,
	FK_SPORT,
	FK_DPORT,
	FK_TUNNEL,
	FK_LEN,
	FK_N
};

static const struct key_name fp_keys[FK_N] = {
#define K(s) { s, sizeof(s) - 1 }
	K("type"),	 K("hash"),	  K("ts_ns"),	 K("box"),	K("iface"),
	K("direction"),	 K("ip_version"), K("protocol"), K("src_addr"), K("dst_addr"),
	K("src_port"),	 K("dst_port"),	  K("tunnel"),	 K("len"),
#undef K
};

static int fp_field(struct jr *j, int key, struct sv_fp_rec *f, char *box, const char **why)
{
	uint64_t v;
	int b;

	switch (key) {
	case FK_BOX:
		return jr_string(j, box, SV_BOX_MAX);
	case FK_HASH:
		return fp_hash(j, &f->hash, why);
	case FK_TS:
		if (u64_in(j, INT64_MAX, &v, why))
			return -EINVAL;
		f->ts_ns = v;
		return 0;
	case FK_IFACE:
		return jr_string(j, f->iface, SV_IFNAME_MAX);
	case FK_DIR:
		return direction(j, &f->direction, why);
	case FK_IPVER:
		if (uint_in(j, 6, &f->ip_version, why))
			return -EINVAL;
		if (f->ip_version != 4 && f->ip_version != 6)
			*why = "ip_version is not 4 or 6";
		return f->ip_version != 4 && f->ip_version != 6 ? -EINVAL : 0;
	case FK_PROTO:
		return uint_in(j, 255, &f->protocol, why);
	case FK_SPORT:
		return uint_in(j, 65535, &f->src_port, why);
	case FK_DPORT:
		return uint_in(j, 65535, &f->dst_port, why);
	case FK_LEN:
		return uint_in(j, 0xffffffffu, &f->len, why);
	case FK_SRC:
		return addr(j, f->src_addr, why);
	case FK_DST:
		return addr(j, f->dst_addr, why);
	case FK_TUNNEL:
		if (jr_bool(j, &b))
			return -EINVAL;
		f->tunnel = b;
		return 0;
	}
	return jr_skip(j); /* the type (known to be "fp"), and keys of newer agents */
}

/* A fingerprint line (its type already known to be "fp"); 0 or negative (*why says). */
static int parse_fp(const char *p, size_t n, const char *batch_box, struct sv_fp_rec *f,
		    const char **why)
{
	char key[KEY_MAX], box[SV_BOX_MAX] = "";
	const char *name;
	int k, i = -1;
	size_t len;
	struct jr j;

	memset(f, 0, sizeof(*f));
	f->direction = -1;
	jr_init(&j, p, n);
	if (jr_object(&j))
		goto bad;
	while ((k = jr_key_ref(&j, key, sizeof(key), &name, &len)) == 1) {
		i = key_index(fp_keys, FK_N, name, len, i + 1);
		if (fp_field(&j, i, f, box, why))
			goto bad;
	}
	if (k < 0 || jr_end(&j))
		goto bad;
	if (strcmp(box, batch_box))
		return *why = "record's box differs from the batch's", -EINVAL;
	if (!f->iface[0] || f->direction < 0 || !f->ts_ns || !f->ip_version ||
	    !f->src_addr[0] || !f->dst_addr[0])
		return *why = "fp lacks hash, ts_ns, iface, direction or addresses", -EINVAL;
	return 0;
bad:
	if (!*why)
		*why = j.err ? j.err : "malformed fp";
	return -EINVAL;
}

/* arr with room for one more element (doubling), or NULL when out of memory (arr is then
 * unchanged and still the caller's). */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 256;

	if (n < *cap)
		return arr;
	arr = realloc(arr, c * size);
	if (arr)
		*cap = c;
	return arr;
}

static int push_fp(struct sv_batch *b, const struct sv_fp_rec *f)
{
	struct sv_fp_rec *a = grow(b->fps, &b->cap_fps, b->n_fps, sizeof(*f));

	if (!a)
		return -ENOMEM;
	b->fps = a;
	b->fps[b->n_fps++] = *f;
	return 0;
}

static int valid_id(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._:-", *s)))
			return 0;
	return 1;
}

static int valid_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int header_interfaces(struct jr *j, struct sv_batch *b)
{
	char name[SV_IFNAME_MAX];
	struct sb s;
	int first = 1, r;

	sb_init(&s);
	if (jr_array(j))
		return -EINVAL;
	sb_putc(&s, '[');
	while ((r = jr_more(j, first)) == 1) {
		if (jr_string(j, name, sizeof(name)))
			break;
		if (!first)
			sb_putc(&s, ',');
		sb_json_str(&s, name);
		first = 0;
	}
	sb_putc(&s, ']');
	if (r == 0 && !sb_failed(&s) && s.len < sizeof(b->interfaces))
		memcpy(b->interfaces, s.buf, s.len + 1);
	else if (!j->err)
		j->err = "interfaces too long";
	sb_free(&s);
	return j->err ? -EINVAL : 0;
}

static int parse_header(const char *p, size_t n, struct sv_batch *b, const char **why)
{
	char key[KEY_MAX], type[16] = "";
	struct jr j;
	int k = 0, err = 0;

	strcpy(b->interfaces, "[]");
	jr_init(&j, p, n);
	if (jr_object(&j))
		goto bad;
	while (!err && (k = jr_key(&j, key, sizeof(key))) == 1) {
		if (!strcmp(key, "type"))
			err = jr_string(&j, type, sizeof(type));
		else if (!strcmp(key, "batch_id"))
			err = jr_string(&j, b->batch_id, sizeof(b->batch_id));
		else if (!strcmp(key, "box"))
			err = jr_string(&j, b->box, sizeof(b->box));
		else if (!strcmp(key, "agent_version"))
			err = jr_string(&j, b->agent_version, sizeof(b->agent_version));
		else if (!strcmp(key, "interfaces"))
			err = header_interfaces(&j, b);
		else
			err = jr_skip(&j);
	}
	if (err || k < 0 || jr_end(&j))
		goto bad;
	if (strcmp(type, "batch"))
		return *why = "the first line is not a batch header", -EINVAL;
	if (!valid_id(b->batch_id))
		return *why = "batch_id missing or not of [A-Za-z0-9._:-]", -EINVAL;
	if (!valid_name(b->box))
		return *why = "box missing or not printable", -EINVAL;
	return 0;
bad:
	*why = j.err ? j.err : "malformed batch header";
	return -EINVAL;
}

int sv_batch_push(struct sv_batch *b, const struct sv_rec *r)
{
	struct sv_rec *a = grow(b->recs, &b->cap, b->n, sizeof(*r));

	if (!a)
		return -ENOMEM;
	b->recs = a;
	b->recs[b->n++] = *r;
	return 0;
}

/* Room for every line at once: growing the array by doubling cost page faults per batch. */
static int reserve_lines(struct sv_batch *b, const char *p, const char *end)
{
	size_t n = 0;

	for (; (p = memchr(p, '\n', end - p)); p++)
		n++;
	b->recs = malloc((n + 1) * sizeof(*b->recs));
	b->cap = b->recs ? n + 1 : 0;
	return b->recs ? 0 : -ENOMEM;
}

int sv_ingest_parse(const char *body, size_t len, struct sv_batch *b, char *err, size_t errlen)
{
	const char *p = body, *end = body + len, *nl, *why = NULL;
	char type[16];
	size_t line = 0;
	struct sv_fp_rec fp;
	int ret;

	memset(b, 0, sizeof(*b));
	if (reserve_lines(b, p, end))
		return -ENOMEM;
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		line++;
		if (nl - p == 0 || (nl - p == 1 && *p == '\r')) {
			p = nl + 1;
			continue;
		}
		if (!b->batch_id[0]) {
			if (parse_header(p, nl - p, b, &why))
				return set_err(err, errlen, line, why);
		} else {
			/* In place: the array has room for every line (reserve_lines). */
			ret = parse_rec(p, nl - p, b->box, &b->recs[b->n], type, &why);
			if (ret == 0 && !strcmp(type, "fp")) {
				if (parse_fp(p, nl - p, b->box, &fp, &why))
					return set_err(err, errlen, line, why);
				if (push_fp(b, &fp))
					return -ENOMEM;
			} else if (ret < 0) {
				return set_err(err, errlen, line, why);
			} else if (ret == 0) {
				b->skipped++;
			} else {
				b->n++;
			}
		}
		p = nl + 1;
	}
	if (!b->batch_id[0])
		return set_err(err, errlen, 1, "empty body: expected a batch header");
	return 0;
}

void sv_batch_free(struct sv_batch *b)
{
	free(b->recs);
	b->recs = NULL;
	b->n = b->cap = 0;
	free(b->fps);
	b->fps = NULL;
	b->n_fps = b->cap_fps = 0;
}
