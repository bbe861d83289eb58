// SPDX-License-Identifier: GPL-2.0
/* IPFIX and NetFlow v9 parsing; see ipfix_parse.h.
 *
 * Both are a header and then sets (v9 says FlowSets): template sets define record layouts,
 * data sets hold records in the layout of the template whose id is the set id. Every length
 * comes from the network: each read is checked against the end of the set it belongs to,
 * every loop advances by at least a byte, and a length that lies ends the message (header,
 * set; checked before anything in the message is used) or the set (a template or record
 * that runs past it). Templates live in a bounded table keyed by exporter session,
 * observation domain and template id. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ipfix_parse.h"

#define NS 1000000000LL
#define MS 1000000LL
#define VARLEN 65535
#define TMPL_BUCKETS 1024
#define DOM_BUCKETS 256
#define NTP_UNIX_OFFSET 2208988800LL
/* Longest record that can fit a UDP datagram after the v9 header and a set header. */
#define MAX_RECORD_LEN (65535 - 20 - 4)

const char *const sv_ipfix_msg_names[SV_IPFIX_MSG_N] = {
	"ok", "duplicate", "truncated", "bad_version", "bad_length", "bad_set", "store_error",
	"nomem", "not_allowed",
};
const char *const sv_ipfix_tmpl_names[SV_IPFIX_TMPL_N] = {
	"learnt", "options", "withdrawn", "bad", "table_full",
};
const char *const sv_ipfix_set_names[SV_IPFIX_SET_N] = {
	"data", "options", "no_template", "bad_data", "reserved",
};
const char *const sv_ipfix_rec_names[SV_IPFIX_REC_N] = {
	"stored", "duplicate", "options", "dropped", "out_of_range",
};

/* An exporter's transport session and observation domain; built zeroed, compared whole. */
struct dkey {
	uint8_t addr[16];
	uint16_t port;
	uint16_t version;
	uint32_t domain;
};

struct field {
	uint16_t ie, len; /* len VARLEN: variable length (IPFIX) */
	uint8_t skip; /* enterprise-specific, or a v9 scope type: never mapped */
};

struct tmpl {
	struct tmpl *next;
	struct dkey key;
	uint16_t id, n;
	int options;
	uint32_t min_len; /* fixed lengths, plus one byte per variable-length field */
	int64_t used_ns;
	struct field f[];
};

/* An exporter domain's time base, for IPFIX times relative to its system init time. */
struct dom {
	struct dom *next;
	struct dkey key;
	int64_t init_ms;
	int64_t used_ns;
};

/* Templates one exporter address holds (issue 15): one datagram of new templates must not
 * take the site's whole table from the other exporters. */
struct quota {
	struct quota *next;
	uint8_t addr[16];
	uint32_t n;
};

#define QUOTA_BUCKETS 1024

struct sv_ipfix_cache {
	struct quota *quota[QUOTA_BUCKETS];
	struct tmpl *tmpl[TMPL_BUCKETS];
	struct dom *dom[DOM_BUCKETS];
	size_t ntmpl, ndom;
	/* When full, no entry can go stale before these: until then newcomers are refused
	 * without a scan, so a flood of new templates costs no scan each. */
	int64_t tmpl_full_until, dom_full_until;
};

/* One message being parsed. */
struct msg {
	struct sv_ipfix_cache *c;
	struct dkey key;
	int withdrawn_all; /* bit 0: data templates, bit 1: options templates */
	uint32_t uptime_ms; /* v9: the header's sysUptime */
	int64_t export_ns, now_ns;
	struct sv_batch *b;
	struct sv_ipfix_stats *st;
};

void sv_ipfix_stats_add(struct sv_ipfix_stats *to, const struct sv_ipfix_stats *from)
{
	int i;

	for (i = 0; i < SV_IPFIX_MSG_N; i++)
		to->msgs[i] += from->msgs[i];
	for (i = 0; i < SV_IPFIX_TMPL_N; i++)
		to->tmpls[i] += from->tmpls[i];
	for (i = 0; i < SV_IPFIX_SET_N; i++)
		to->sets[i] += from->sets[i];
	for (i = 0; i < SV_IPFIX_REC_N; i++)
		to->recs[i] += from->recs[i];
	to->socket_drops += from->socket_drops;
	to->templates = from->templates;
	to->domains = from->domains;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Big-endian unsigned of 1 to 8 bytes (IPFIX allows reduced-size encoding). */
static uint64_t getn(const uint8_t *p, size_t len)
{
	uint64_t v = 0;

	while (len--)
		v = v << 8 | *p++;
	return v;
}

static int all_zero(const uint8_t *p, size_t n)
{
	while (n && !*p)
		p++, n--;
	return !n;
}

static uint32_t hash_key(const struct dkey *k, uint32_t id)
{
	const uint8_t *p = (const uint8_t *)k;
	uint32_t h = 2166136261u ^ id;
	size_t i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

int sv_ipfix_cache_new(struct sv_ipfix_cache **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void sv_ipfix_cache_free(struct sv_ipfix_cache *c)
{
	struct quota *q;
	struct tmpl *t;
	struct dom *d;
	size_t i;

	if (!c)
		return;
	for (i = 0; i < TMPL_BUCKETS; i++)
		while ((t = c->tmpl[i])) {
			c->tmpl[i] = t->next;
			free(t);
		}
	for (i = 0; i < DOM_BUCKETS; i++)
		while ((d = c->dom[i])) {
			c->dom[i] = d->next;
			free(d);
		}
	for (i = 0; i < QUOTA_BUCKETS; i++)
		while ((q = c->quota[i])) {
			c->quota[i] = q->next;
			free(q);
		}
	free(c);
}

/* An exporter address's count of templates, or where to link a new one. */
static struct quota **quota_slot(struct sv_ipfix_cache *c, const uint8_t *addr)
{
	struct dkey k = { 0 };
	struct quota **p;

	memcpy(k.addr, addr, sizeof(k.addr));
	for (p = &c->quota[hash_key(&k, 0) % QUOTA_BUCKETS]; *p; p = &(*p)->next)
		if (!memcmp((*p)->addr, addr, sizeof(k.addr)))
			break;
	return p;
}

/* One more template for addr: 0, or -ENOSPC past its quota (-ENOMEM). */
static int quota_take(struct sv_ipfix_cache *c, const uint8_t *addr)
{
	struct quota **p = quota_slot(c, addr);

	if (!*p) {
		*p = calloc(1, sizeof(**p));
		if (!*p)
			return -ENOMEM;
		memcpy((*p)->addr, addr, sizeof((*p)->addr));
	}
	if ((*p)->n >= SV_IPFIX_MAX_TEMPLATES_PER_EXPORTER)
		return -ENOSPC;
	(*p)->n++;
	return 0;
}

static void quota_give(struct sv_ipfix_cache *c, const uint8_t *addr)
{
	struct quota **p = quota_slot(c, addr), *q = *p;

	if (q && !--q->n) {
		*p = q->next;
		free(q);
	}
}

/* --- templates --- */

/* Where template id of this session lives, or the NULL link to put it at. */
static struct tmpl **tmpl_slot(struct sv_ipfix_cache *c, const struct dkey *k, uint16_t id)
{
	struct tmpl **p = &c->tmpl[hash_key(k, id) % TMPL_BUCKETS];

	for (; *p; p = &(*p)->next)
		if ((*p)->id == id && !memcmp(&(*p)->key, k, sizeof(*k)))
			break;
	return p;
}

static void tmpl_unlink(struct sv_ipfix_cache *c, struct tmpl **p)
{
	struct tmpl *t = *p;

	*p = t->next;
	quota_give(c, t->key.addr);
	free(t);
	c->ntmpl--;
}

/* Makes room by dropping the least recently used template, if nobody used it for a while.
 * A full scan, but only when the table is full and something may have gone stale. */
static int tmpl_evict(struct sv_ipfix_cache *c, int64_t now)
{
	struct tmpl **oldest = NULL, **p;
	size_t i;

	if (now < c->tmpl_full_until)
		return -ENOSPC;
	for (i = 0; i < TMPL_BUCKETS; i++)
		for (p = &c->tmpl[i]; *p; p = &(*p)->next)
			if (!oldest || (*p)->used_ns < (*oldest)->used_ns)
				oldest = p;
	if (!oldest || now - (*oldest)->used_ns < SV_IPFIX_STALE_NS) {
		c->tmpl_full_until = oldest ? (*oldest)->used_ns + SV_IPFIX_STALE_NS : now;
		return -ENOSPC;
	}
	tmpl_unlink(c, oldest);
	return 0;
}

/* Takes t (defines or redefines its id); frees it when there is no room. */
static int tmpl_put(struct msg *m, struct tmpl *t)
{
	struct sv_ipfix_cache *c = m->c;
	struct tmpl **p = tmpl_slot(c, &t->key, t->id);

	if (*p) {
		t->next = (*p)->next;
		free(*p);
		*p = t;
		return 0;
	}
	if (quota_take(c, t->key.addr)) {
		free(t);
		return -ENOSPC;
	}
	if (c->ntmpl >= SV_IPFIX_MAX_TEMPLATES) {
		if (tmpl_evict(c, m->now_ns)) {
			quota_give(c, t->key.addr);
			free(t);
			return -ENOSPC;
		}
		p = tmpl_slot(c, &t->key, t->id); /* eviction may have changed the chain */
	}
	t->next = NULL;
	*p = t;
	c->ntmpl++;
	return 0;
}

/* IPFIX withdrawal: one template, or with all set every template of that kind (data or
 * options) of the session and domain. */
static void tmpl_withdraw(struct msg *m, uint16_t id, int all, int options)
{
	struct sv_ipfix_cache *c = m->c;
	struct tmpl **p;
	size_t i;

	m->st->tmpls[SV_IPFIX_TMPL_WITHDRAWN]++;
	if (!all) {
		p = tmpl_slot(c, &m->key, id);
		if (*p)
			tmpl_unlink(c, p);
		return;
	}
	/* Once per message is enough: a message of nothing but withdrawals must not cost a
	 * table scan each. */
	if (m->withdrawn_all & (1 << options))
		return;
	m->withdrawn_all |= 1 << options;
	for (i = 0; i < TMPL_BUCKETS; i++)
		for (p = &c->tmpl[i]; *p;)
			if ((*p)->options == options && !memcmp(&(*p)->key, &m->key, sizeof(m->key)))
				tmpl_unlink(c, p);
			else
				p = &(*p)->next;
}

static struct tmpl *tmpl_alloc(const struct msg *m, uint16_t id, uint16_t n, int options)
{
	struct tmpl *t = calloc(1, sizeof(*t) + n * sizeof(t->f[0]));

	if (!t)
		return NULL;
	t->key = m->key;
	t->id = id;
	t->options = options;
	t->used_ns = m->now_ns;
	return t;
}

/* Field i of t; a zero length can carry nothing and would let records take no room. */
static int tmpl_field(const struct msg *m, struct tmpl *t, uint16_t ie, uint16_t len,
		      int skip)
{
	if (!len)
		return -EINVAL;
	t->f[t->n].ie = ie;
	t->f[t->n].len = len;
	t->f[t->n].skip = skip;
	t->n++;
	t->min_len += len == VARLEN && m->key.version == 10 ? 1 : len;
	return 0;
}

/* Stores a complete template, counting it. Only a template no record could ever fit is an
 * error (then the caller counts it bad); a full table is counted here. */
static int tmpl_learn(struct msg *m, struct tmpl *t)
{
	int kind = t->options ? SV_IPFIX_TMPL_OPTIONS : SV_IPFIX_TMPL_LEARNT;

	if (t->min_len > MAX_RECORD_LEN) {
		free(t);
		return -EINVAL;
	}
	m->st->tmpls[tmpl_put(m, t) ? SV_IPFIX_TMPL_TABLE_FULL : kind]++;
	return 0;
}

/* One IPFIX (options) template record of the n bytes at p. Returns its length, -EINVAL if
 * it is malformed (the rest of the set cannot be found then) or -ENOMEM. */
static int ipfix_template(struct msg *m, const uint8_t *p, size_t n, int options)
{
	uint16_t id = get16(p), count = get16(p + 2), ie, len;
	size_t off = options ? 6 : 4, i;
	struct tmpl *t;

	if (!count) {
		if (id != (options ? 3 : 2) && id < 256)
			return -EINVAL;
		tmpl_withdraw(m, id, id < 256, options);
		return 4;
	}
	if (id < 256 || count > SV_IPFIX_MAX_FIELDS || n < off || n - off < 4ul * count)
		return -EINVAL;
	if (options && (!get16(p + 4) || get16(p + 4) > count))
		return -EINVAL; /* the scope field count */
	t = tmpl_alloc(m, id, count, options);
	if (!t)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		if (n - off < 4)
			goto bad;
		ie = get16(p + off);
		len = get16(p + off + 2);
		off += 4;
		if (ie & 0x8000) { /* enterprise number follows */
			if (n - off < 4)
				goto bad;
			off += 4;
		}
		if (tmpl_field(m, t, ie & 0x7fff, len, ie >> 15))
			goto bad;
	}
	return tmpl_learn(m, t) ? -EINVAL : (int)off;
bad:
	free(t);
	return -EINVAL;
}

/* A v9 template record: id, field count, then type and length per field. */
static int v9_template(struct msg *m, const uint8_t *p, size_t n)
{
	uint16_t id = get16(p), count = get16(p + 2), i;
	struct tmpl *t;

	if (id < 256 || !count || count > SV_IPFIX_MAX_FIELDS || n - 4 < 4ul * count)
		return -EINVAL;
	t = tmpl_alloc(m, id, count, 0);
	if (!t)
		return -ENOMEM;
	for (i = 0; i < count; i++)
		if (tmpl_field(m, t, get16(p + 4 + 4 * i), get16(p + 6 + 4 * i), 0)) {
			free(t);
			return -EINVAL;
		}
	return tmpl_learn(m, t) ? -EINVAL : 4 + 4 * count;
}

/* A v9 options template record: id, scope length and option length in bytes, then the
 * fields. Scope types (system, interface, ...) are not IEs: they are never mapped. */
static int v9_options(struct msg *m, const uint8_t *p, size_t n)
{
	uint16_t id, scope_len, opt_len, count, i;
	struct tmpl *t;

	if (n < 6)
		return -EINVAL;
	id = get16(p);
	scope_len = get16(p + 2);
	opt_len = get16(p + 4);
	count = (scope_len + opt_len) / 4;
	if (id < 256 || scope_len % 4 || opt_len % 4 || !count || count > SV_IPFIX_MAX_FIELDS ||
	    n - 6 < 4ul * count)
		return -EINVAL;
	t = tmpl_alloc(m, id, count, 1);
	if (!t)
		return -ENOMEM;
	for (i = 0; i < count; i++)
		if (tmpl_field(m, t, get16(p + 6 + 4 * i), get16(p + 8 + 4 * i),
			       i < scope_len / 4)) {
			free(t);
			return -EINVAL;
		}
	return tmpl_learn(m, t) ? -EINVAL : 6 + 4 * count;
}

/* A (options) template set. Zero bytes at its end are padding. */
static int template_set(struct msg *m, const uint8_t *p, size_t n, int options)
{
	int used;

	while (n >= 4 && !all_zero(p, n)) {
		if (m->key.version == 10)
			used = ipfix_template(m, p, n, options);
		else
			used = options ? v9_options(m, p, n) : v9_template(m, p, n);
		if (used == -ENOMEM)
			return used;
		if (used <= 0) {
			m->st->tmpls[SV_IPFIX_TMPL_BAD]++;
			return 0;
		}
		p += used;
		n -= used;
	}
	return 0;
}

/* --- time bases --- */

/* Drops the least recently used time base if it went stale; as tmpl_evict. */
static int dom_evict(struct sv_ipfix_cache *c, int64_t now)
{
	struct dom **oldest = NULL, **p, *d;
	size_t i;

	if (now < c->dom_full_until)
		return -ENOSPC;
	for (i = 0; i < DOM_BUCKETS; i++)
		for (p = &c->dom[i]; *p; p = &(*p)->next)
			if (!oldest || (*p)->used_ns < (*oldest)->used_ns)
				oldest = p;
	if (!oldest || now - (*oldest)->used_ns < SV_IPFIX_STALE_NS) {
		c->dom_full_until = oldest ? (*oldest)->used_ns + SV_IPFIX_STALE_NS : now;
		return -ENOSPC;
	}
	d = *oldest;
	*oldest = d->next;
	free(d);
	c->ndom--;
	return 0;
}

static struct dom **dom_slot(struct sv_ipfix_cache *c, const struct dkey *k)
{
	struct dom **p = &c->dom[hash_key(k, 0) % DOM_BUCKETS];

	for (; *p; p = &(*p)->next)
		if (!memcmp(&(*p)->key, k, sizeof(*k)))
			break;
	return p;
}

/* The time base of the message's session and domain; with create, made if missing (NULL
 * when the table is full of fresh ones: those exporters' times fall back). */
static struct dom *dom_get(struct msg *m, int create)
{
	struct sv_ipfix_cache *c = m->c;
	struct dom **p = dom_slot(c, &m->key), *d;

	if (*p) {
		(*p)->used_ns = m->now_ns;
		return *p;
	}
	if (!create || (c->ndom >= SV_IPFIX_MAX_DOMAINS && dom_evict(c, m->now_ns)))
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->key = m->key;
	d->init_ms = -1;
	d->used_ns = m->now_ns;
	p = dom_slot(c, &m->key); /* eviction may have changed the chain */
	*p = d;
	c->ndom++;
	return d;
}

/* --- data records --- */

enum {
	F_BYTES, F_PKTS, F_BYTES_TOTAL, F_PKTS_TOTAL, F_SRC4, F_DST4, F_SRC6, F_DST6, F_SMAC,
	F_DMAC, F_SPORT, F_DPORT, F_PROTO, F_IN_IF, F_OUT_IF, F_DIR, F_IPVER, F_ICMP_TYPE,
	F_ICMP_CODE, F_ICMP_TC, F_START, F_END, F_START_UP, F_END_UP, F_START_DUS, F_END_DUS,
	F_INIT, F_ETH_TYPE, F_VLAN, F_INNER_VLAN, F_VNI, F_TCP_FLAGS, F_END_REASON,
	F_DROPS, F_DROP_BYTES,
};

/* The fields of one record that we read, as they came. */
struct fv {
	uint64_t have; /* 1 << F_* */
	uint64_t bytes, pkts, bytes_total, pkts_total, vni, drops, drop_bytes;
	uint8_t src4[4], dst4[4], src6[16], dst6[16], smac[6], dmac[6];
	uint32_t proto, sport, dport, in_if, out_if, dir, ipver, icmp_type, icmp_code, icmp_tc;
	uint32_t start_up, end_up, start_dus, end_dus, eth_type, vlan, inner_vlan, tcp_flags;
	uint32_t end_reason;
	int64_t start_ns, end_ns, init_ms;
};

#define HAS(v, f) ((v)->have & (1ull << (f)))

static void set_bytes(struct fv *v, int f, void *dst, const uint8_t *p, size_t len,
		      size_t want)
{
	if (len != want)
		return;
	memcpy(dst, p, len);
	v->have |= 1ull << f;
}

/* An NTP timestamp (dateTimeMicroseconds, dateTimeNanoseconds) into ns since the epoch. */
static int64_t ntp_ns(uint64_t x)
{
	int64_t secs = (int64_t)(x >> 32) - NTP_UNIX_OFFSET;

	return secs < 0 ? -1 : secs * NS + (int64_t)(((x & 0xffffffffull) * NS) >> 32);
}

/* Integer fields; a length above 8 bytes is not an integer: ignored. */
static void take_int(struct fv *v, uint16_t ie, uint64_t x)
{
	int f;

	switch (ie) {
	case 1: f = F_BYTES; v->bytes = x; break; /* octetDeltaCount, v9 IN_BYTES */
	case 2: f = F_PKTS; v->pkts = x; break; /* packetDeltaCount, v9 IN_PKTS */
	case 85: f = F_BYTES_TOTAL; v->bytes_total = x; break; /* octetTotalCount */
	case 86: f = F_PKTS_TOTAL; v->pkts_total = x; break; /* packetTotalCount */
	case 4: f = F_PROTO; v->proto = x; break;
	case 6: f = F_TCP_FLAGS; v->tcp_flags = x; break;
	case 7: f = F_SPORT; v->sport = x; break;
	case 11: f = F_DPORT; v->dport = x; break;
	case 10: f = F_IN_IF; v->in_if = x; break; /* ingressInterface, v9 INPUT_SNMP */
	case 14: f = F_OUT_IF; v->out_if = x; break; /* egressInterface, v9 OUTPUT_SNMP */
	case 61: f = F_DIR; v->dir = x; break; /* flowDirection */
	case 60: f = F_IPVER; v->ipver = x; break;
	case 32: case 139: f = F_ICMP_TC; v->icmp_tc = x; break; /* icmpTypeCodeIPv4/6 */
	case 176: case 178: f = F_ICMP_TYPE; v->icmp_type = x; break;
	case 177: case 179: f = F_ICMP_CODE; v->icmp_code = x; break;
	case 256: f = F_ETH_TYPE; v->eth_type = x; break; /* ethernetType */
	case 58: case 243: f = F_VLAN; v->vlan = x; break; /* vlanId, dot1qVlanId */
	case 245: f = F_INNER_VLAN; v->inner_vlan = x; break; /* dot1qCustomerVlanId */
	case 351: f = F_VNI; v->vni = x; break; /* layer2SegmentId */
	case 136: f = F_END_REASON; v->end_reason = x; break; /* flowEndReason */
	case 133: f = F_DROPS; v->drops = x; break; /* droppedPacketDeltaCount */
	case 132: f = F_DROP_BYTES; v->drop_bytes = x; break; /* droppedOctetDeltaCount */
	case 22: f = F_START_UP; v->start_up = x; break; /* flowStartSysUpTime, FIRST_SWITCHED */
	case 21: f = F_END_UP; v->end_up = x; break; /* flowEndSysUpTime, LAST_SWITCHED */
	case 158: f = F_START_DUS; v->start_dus = x; break; /* flowStartDeltaMicroseconds */
	case 159: f = F_END_DUS; v->end_dus = x; break;
	case 160: /* systemInitTimeMilliseconds */
		if (x > INT64_MAX / MS)
			return;
		f = F_INIT;
		v->init_ms = x;
		break;
	case 150: case 151: /* flowStartSeconds, flowEndSeconds */
		if (x > INT64_MAX / NS)
			return;
		f = ie == 150 ? F_START : F_END;
		*(ie == 150 ? &v->start_ns : &v->end_ns) = x * NS;
		break;
	case 152: case 153: /* flowStartMilliseconds, flowEndMilliseconds */
		if (x > INT64_MAX / MS)
			return;
		f = ie == 152 ? F_START : F_END;
		*(ie == 152 ? &v->start_ns : &v->end_ns) = x * MS;
		break;
	case 154: case 155: case 156: case 157: /* micro- and nanoseconds, NTP format */
		if (ntp_ns(x) < 0)
			return;
		f = ie % 2 == 0 ? F_START : F_END;
		*(ie % 2 == 0 ? &v->start_ns : &v->end_ns) = ntp_ns(x);
		break;
	default:
		return;
	}
	v->have |= 1ull << f;
}

static void take(struct fv *v, uint16_t ie, const uint8_t *p, size_t len)
{
	switch (ie) {
	case 8: set_bytes(v, F_SRC4, v->src4, p, len, 4); return;
	case 12: set_bytes(v, F_DST4, v->dst4, p, len, 4); return;
	case 27: set_bytes(v, F_SRC6, v->src6, p, len, 16); return;
	case 28: set_bytes(v, F_DST6, v->dst6, p, len, 16); return;
	case 56: set_bytes(v, F_SMAC, v->smac, p, len, 6); return; /* sourceMacAddress */
	case 80: set_bytes(v, F_DMAC, v->dmac, p, len, 6); return; /* destinationMacAddress */
	}
	if (len <= 8)
		take_int(v, ie, getn(p, len));
}

static void fmt_mac(char *out, const uint8_t *m)
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* ns since the epoch of a sysUpTime-relative time, or -1 when there is no base. v9: the
 * header's sysUptime and unix seconds; the difference is taken modulo 2^32 ms, so a wrapped
 * uptime still gives a time before the export. IPFIX: systemInitTimeMilliseconds, from the
 * record or from the domain's options records. */
static int64_t uptime_ns(struct msg *m, const struct fv *v, uint32_t up)
{
	int64_t init_ms = -1, t;
	struct dom *d;

	if (m->key.version == 9) {
		t = m->export_ns - (int64_t)(uint32_t)(m->uptime_ms - up) * MS;
		return t > 0 ? t : -1;
	}
	if (HAS(v, F_INIT))
		init_ms = v->init_ms;
	else if ((d = dom_get(m, 0)))
		init_ms = d->init_ms;
	if (init_ms < 0 || init_ms > INT64_MAX / MS - UINT32_MAX)
		return -1;
	t = (init_ms + up) * MS;
	/* A flow cannot end long after its export: such an uptime is a negative offset written
	 * modulo 2^32 (softflowd replaying a capture older than its own start writes them). */
	if (t - m->export_ns > (int64_t)INT32_MAX * MS)
		t -= ((int64_t)UINT32_MAX + 1) * MS;
	return t > 0 ? t : -1;
}

static void rec_times(struct msg *m, const struct fv *v, struct sv_rec *r)
{
	int64_t first = HAS(v, F_START) ? v->start_ns : -1;
	int64_t last = HAS(v, F_END) ? v->end_ns : -1;

	if (first < 0 && HAS(v, F_START_DUS))
		first = m->export_ns - v->start_dus * 1000LL;
	if (last < 0 && HAS(v, F_END_DUS))
		last = m->export_ns - v->end_dus * 1000LL;
	if (first < 0 && HAS(v, F_START_UP))
		first = uptime_ns(m, v, v->start_up);
	if (last < 0 && HAS(v, F_END_UP))
		last = uptime_ns(m, v, v->end_up);
	/* IPFIX uptimes without a known init time: the flow ended at the export, and
	 * lasted what its two uptimes say. */
	if (last < 0 && HAS(v, F_END_UP) && m->key.version == 10) {
		last = m->export_ns;
		if (first < 0 && HAS(v, F_START_UP))
			first = last - (int64_t)(uint32_t)(v->end_up - v->start_up) * MS;
	}
	if (last <= 0)
		last = first > 0 ? first : m->export_ns;
	if (first < 0 || first > last)
		first = last;
	r->first_ns = first;
	r->last_ns = last;
}

static void rec_addrs(const struct fv *v, struct sv_rec *r)
{
	int has4 = HAS(v, F_SRC4) || HAS(v, F_DST4), has6 = HAS(v, F_SRC6) || HAS(v, F_DST6);
	static const uint8_t zero[16];

	r->ip_version = HAS(v, F_IPVER) && (v->ipver == 4 || v->ipver == 6) ? v->ipver : 0;
	/* Templates with both families carry zeros in the unused one. */
	if (!r->ip_version && has6 && (!has4 || memcmp(v->src6, zero, 16) ||
				       memcmp(v->dst6, zero, 16)))
		r->ip_version = 6;
	else if (!r->ip_version && has4)
		r->ip_version = 4;
	if (r->ip_version == 4) {
		if (HAS(v, F_SRC4))
			inet_ntop(AF_INET, v->src4, r->src_addr, sizeof(r->src_addr));
		if (HAS(v, F_DST4))
			inet_ntop(AF_INET, v->dst4, r->dst_addr, sizeof(r->dst_addr));
	} else if (r->ip_version == 6) {
		if (HAS(v, F_SRC6))
			inet_ntop(AF_INET6, v->src6, r->src_addr, sizeof(r->src_addr));
		if (HAS(v, F_DST6))
			inet_ntop(AF_INET6, v->dst6, r->dst_addr, sizeof(r->dst_addr));
	}
	if (HAS(v, F_ETH_TYPE))
		r->eth_type = v->eth_type & 0xffff;
	else
		r->eth_type = r->ip_version == 4 ? 0x0800 : r->ip_version == 6 ? 0x86dd : 0;
}

/* ICMP type and code as the agent gives them, ports 0. Without an ICMP field, the
 * destination port: NetFlow exporters put type * 256 + code there. */
static void rec_icmp(const struct fv *v, struct sv_rec *r)
{
	if (!(r->protocol == 1 && r->ip_version != 6) && r->protocol != 58)
		return;
	if (HAS(v, F_ICMP_TYPE)) {
		r->icmp_type = v->icmp_type & 0xff;
		r->icmp_code = HAS(v, F_ICMP_CODE) ? (int)(v->icmp_code & 0xff) : 0;
	} else if (HAS(v, F_ICMP_TC) || HAS(v, F_DPORT)) {
		uint32_t tc = HAS(v, F_ICMP_TC) ? v->icmp_tc : v->dport;

		r->icmp_type = tc >> 8 & 0xff;
		r->icmp_code = tc & 0xff;
	}
	r->src_port = r->dst_port = 0;
}

static uint64_t count63(uint64_t x)
{
	return x > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : x;
}

static void rec_l2(const struct fv *v, struct sv_rec *r)
{
	if (HAS(v, F_VLAN))
		r->vlan = v->vlan & 0xfff;
	if (HAS(v, F_INNER_VLAN))
		r->inner_vlan = v->inner_vlan & 0xfff;
	/* layer2SegmentId: the top byte is the segment type, 1 for VXLAN (or 0 from exporters
	 * that put the bare VNI there); VXLAN's VNI is the low 24 bits. */
	if (HAS(v, F_VNI) && (v->vni >> 56 == 1 || v->vni <= 0xffffff))
		r->vni = v->vni & 0xffffff;
	if (HAS(v, F_SMAC))
		fmt_mac(r->src_mac, v->smac);
	if (HAS(v, F_DMAC))
		fmt_mac(r->dst_mac, v->dmac);
}

/* The record as the agent would have written it. */
static void rec_build(struct msg *m, const struct fv *v, struct sv_rec *r)
{
	static const char *const reasons[] = { "", "idle", "active", "end", "forced", "forced" };
	uint32_t ifx;

	sv_rec_init(r); /* every field absent until an element says otherwise */
	/* flowDirection: 0 ingress (also when absent), 1 egress. The interface is where the
	 * flow was observed: its ingress interface, or egress for egress flows. */
	r->direction = HAS(v, F_DIR) && v->dir == 1;
	if (r->direction)
		ifx = HAS(v, F_OUT_IF) ? v->out_if : v->in_if;
	else
		ifx = HAS(v, F_IN_IF) ? v->in_if : v->out_if;
	snprintf(r->iface, sizeof(r->iface), "if%u", ifx);
	rec_addrs(v, r);
	r->protocol = v->proto & 0xff;
	r->src_port = v->sport & 0xffff;
	r->dst_port = v->dport & 0xffff;
	r->tcp_flags = v->tcp_flags & 0xffff;
	rec_icmp(v, r);
	rec_l2(v, r);
	r->packets = count63(HAS(v, F_PKTS) ? v->pkts : v->pkts_total);
	r->bytes = count63(HAS(v, F_BYTES) ? v->bytes : v->bytes_total);
	rec_times(m, v, r);
	if (HAS(v, F_DROPS)) {
		r->drops = count63(v->drops);
		r->drop_bytes = count63(HAS(v, F_DROP_BYTES) ? v->drop_bytes : 0);
	}
	if (HAS(v, F_END_REASON) && v->end_reason < sizeof(reasons) / sizeof(reasons[0]))
		strcpy(r->end_reason, reasons[v->end_reason]);
}

/* Options records only tell us the exporter's system init time. */
static void options_record(struct msg *m, const struct fv *v)
{
	struct dom *d;

	m->st->recs[SV_IPFIX_REC_OPTIONS]++;
	if (HAS(v, F_INIT) && (d = dom_get(m, 1)))
		d->init_ms = v->init_ms;
}

/* One record of t from the n bytes at p: its length, -EINVAL if a variable length runs past
 * the set, or -ENOMEM. */
static int record(struct msg *m, const struct tmpl *t, const uint8_t *p, size_t n)
{
	struct fv v = { 0 };
	struct sv_rec r;
	size_t off = 0, len;
	int i;

	for (i = 0; i < t->n; i++) {
		len = t->f[i].len;
		if (len == VARLEN && m->key.version == 10) {
			if (off >= n)
				return -EINVAL;
			len = p[off++];
			if (len == 255) {
				if (n - off < 2)
					return -EINVAL;
				len = get16(p + off);
				off += 2;
			}
		}
		if (len > n - off)
			return -EINVAL;
		if (!t->f[i].skip)
			take(&v, t->f[i].ie, p + off, len);
		off += len;
	}
	if (!off)
		return -EINVAL; /* cannot happen (no zero-length fields); never loop on it */
	if (t->options) {
		options_record(m, &v);
	} else if (m->b->n >= SV_IPFIX_MAX_RECORDS) {
		m->st->recs[SV_IPFIX_REC_DROPPED]++;
	} else {
		rec_build(m, &v, &r);
		if (sv_batch_push(m->b, &r))
			return -ENOMEM;
	}
	return off;
}

static int data_set(struct msg *m, uint16_t id, const uint8_t *p, size_t n)
{
	struct tmpl *t = *tmpl_slot(m->c, &m->key, id);
	size_t nrec = 0;
	int used;

	if (!t) {
		m->st->sets[SV_IPFIX_SET_NO_TEMPLATE]++;
		return 0;
	}
	t->used_ns = m->now_ns;
	/* What is left shorter than a record is padding. */
	while (n >= t->min_len) {
		used = record(m, t, p, n);
		if (used == -ENOMEM)
			return used;
		if (used < 0)
			break;
		p += used;
		n -= used;
		nrec++;
	}
	if ((n >= t->min_len || !nrec) && !all_zero(p, n))
		m->st->sets[SV_IPFIX_SET_BAD_DATA]++;
	else
		m->st->sets[t->options ? SV_IPFIX_SET_OPTIONS : SV_IPFIX_SET_DATA]++;
	return 0;
}

static int one_set(struct msg *m, uint16_t id, const uint8_t *p, size_t n)
{
	int v9 = m->key.version == 9;

	if (id == (v9 ? 0 : 2))
		return template_set(m, p, n, 0);
	if (id == (v9 ? 1 : 3))
		return template_set(m, p, n, 1);
	if (id >= 256)
		return data_set(m, id, p, n);
	m->st->sets[SV_IPFIX_SET_RESERVED]++;
	return 0;
}

/* The header: sets *off past it and *len to the message's own length. */
static enum sv_ipfix_msg header(struct msg *m, const uint8_t *p, size_t *len, size_t *off,
				struct sv_ipfix_hdr *hdr)
{
	if (*len < 4)
		return SV_IPFIX_MSG_TRUNCATED;
	hdr->version = get16(p);
	if (hdr->version == 10) {
		if (*len < 16)
			return SV_IPFIX_MSG_TRUNCATED;
		if (get16(p + 2) < 16)
			return SV_IPFIX_MSG_BAD_LENGTH;
		if (get16(p + 2) > *len)
			return SV_IPFIX_MSG_TRUNCATED;
		*len = get16(p + 2);
		hdr->export_secs = get32(p + 4);
		hdr->seq = get32(p + 8);
		hdr->domain = get32(p + 12);
		*off = 16;
	} else if (hdr->version == 9) {
		if (*len < 20)
			return SV_IPFIX_MSG_TRUNCATED;
		m->uptime_ms = get32(p + 4);
		hdr->export_secs = get32(p + 8);
		hdr->seq = get32(p + 12);
		hdr->domain = get32(p + 16);
		*off = 20;
	} else {
		return SV_IPFIX_MSG_BAD_VERSION;
	}
	m->key.version = hdr->version;
	m->key.domain = hdr->domain;
	m->export_ns = hdr->export_secs ? hdr->export_secs * NS : m->now_ns;
	return SV_IPFIX_MSG_OK;
}

/* The set lengths must tile the message before anything in it is believed: a message whose
 * framing lies is dropped whole, templates included. */
static enum sv_ipfix_msg framing(const struct msg *m, const uint8_t *p, size_t off, size_t len)
{
	uint16_t slen;

	while (len - off >= 4) {
		slen = get16(p + off + 2);
		if (slen < 4 || slen > len - off)
			return SV_IPFIX_MSG_BAD_SET;
		off += slen;
	}
	/* An IPFIX message's length is its sets' lengths; v9 has none, bytes may trail. */
	return off < len && m->key.version == 10 ? SV_IPFIX_MSG_BAD_SET : SV_IPFIX_MSG_OK;
}

static enum sv_ipfix_msg sets(struct msg *m, const uint8_t *p, size_t off, size_t len)
{
	uint16_t slen;

	while (len - off >= 4) {
		slen = get16(p + off + 2);
		if (one_set(m, get16(p + off), p + off + 4, slen - 4))
			return SV_IPFIX_MSG_NOMEM;
		off += slen;
	}
	return SV_IPFIX_MSG_OK;
}

enum sv_ipfix_msg sv_ipfix_parse(struct sv_ipfix_cache *c, const struct sv_ipfix_src *src,
				 const uint8_t *msg, size_t len, int64_t now_ns,
				 struct sv_ipfix_hdr *hdr, struct sv_batch *b,
				 struct sv_ipfix_stats *st)
{
	struct msg m = { .c = c, .now_ns = now_ns, .b = b, .st = st };
	enum sv_ipfix_msg res;
	size_t off = 0;

	memset(hdr, 0, sizeof(*hdr));
	memcpy(m.key.addr, src->addr, sizeof(m.key.addr));
	m.key.port = src->port;
	b->n = 0;
	res = header(&m, msg, &len, &off, hdr);
	if (res == SV_IPFIX_MSG_OK)
		res = framing(&m, msg, off, len);
	if (res == SV_IPFIX_MSG_OK)
		res = sets(&m, msg, off, len);
	if (res != SV_IPFIX_MSG_OK)
		b->n = 0; /* out of memory */
	st->templates = c->ntmpl;
	st->domains = c->ndom;
	return res;
}
