// SPDX-License-Identifier: GPL-2.0
/* The REST API; see api.h and docs/api.md. Every parameter is checked before the store sees
 * it: a typo or a bad value gets a 400 that names it, never a silently wider query. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"
#include "ingest.h"
#include "timeparse.h"

#define NS 1000000000LL
#define MAX_POINTS 10000

int sv_api_error(struct sb *out, int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out->len = 0;
	sb_puts(out, "{\"error\":");
	sb_json_str(out, msg);
	sb_puts(out, "}\n");
	return status;
}

static const char *param(const struct sv_params *p, const char *k)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (!strcmp(p->key[i], k))
			return p->val[i];
	return NULL;
}

/* Every parameter must be one the endpoint knows. */
const char *sv_api_param(const struct sv_params *p, const char *k)
{
	return param(p, k);
}

static int check_known(const struct sv_params *p, const char *const *known, struct sb *out)
{
	int i, k;

	if (p->overflow)
		return sv_api_error(out, 400, "too many parameters");
	for (i = 0; i < p->n; i++) {
		for (k = 0; known[k]; k++)
			if (!strcmp(p->key[i], known[k]))
				break;
		if (!known[k])
			return sv_api_error(out, 400, "unknown parameter '%s'", p->key[i]);
	}
	return 0;
}

/* A read the store gave up on: past its time budget (503, saying how to ask for less), or
 * failed. */
static int read_failed(struct sb *out, int ret)
{
	if (ret == -ETIMEDOUT)
		return sv_api_error(out, 503, "the query took too long: narrow since/until, or "
				    "filter by box, address or port");
	return sv_api_error(out, 500, "store read failed");
}

/* Rows skipped are rows read: deeper pages come from narrowing since/until (issue 15). */
#define SV_API_OFFSET_MAX 100000

static int int_param(const struct sv_params *p, const char *k, long min, long max, long def,
		     long *v, struct sb *out)
{
	const char *s = param(p, k);
	char *end;

	*v = def;
	if (!s)
		return 0;
	errno = 0;
	*v = strtol(s, &end, 10);
	if (errno || end == s || *end || *v < min || *v > max)
		return sv_api_error(out, 400, "%s must be a whole number from %ld to %ld", k, min,
				    max);
	return 0;
}

static int time_param(const struct sv_params *p, const char *k, int64_t def, int64_t *v,
		      struct sb *out)
{
	const char *s = param(p, k);

	*v = def;
	if (s && sv_parse_time(s, v))
		return sv_api_error(out, 400, "%s must be RFC 3339 or epoch seconds", k);
	return 0;
}

/* Addresses in canonical text, as the store keeps them. */
static int addr_param(const struct sv_params *p, const char *k, char *buf, const char **v,
		      struct sb *out)
{
	const char *s = param(p, k);
	unsigned char bin[16];

	*v = NULL;
	if (!s)
		return 0;
	if (inet_pton(AF_INET, s, bin) == 1)
		inet_ntop(AF_INET, bin, buf, SV_ADDR_MAX);
	else if (inet_pton(AF_INET6, s, bin) == 1)
		inet_ntop(AF_INET6, bin, buf, SV_ADDR_MAX);
	else
		return sv_api_error(out, 400, "%s is not an IP address", k);
	*v = buf;
	return 0;
}

static int protocol_param(const struct sv_params *p, int *v, struct sb *out)
{
	static const struct {
		const char *name;
		int num;
	} names[] = { { "tcp", 6 }, { "udp", 17 }, { "icmp", 1 }, { "icmpv6", 58 },
		      { "sctp", 132 } };
	const char *s = param(p, "protocol");
	unsigned int i;
	long n;

	if (s)
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcasecmp(s, names[i].name)) {
				*v = names[i].num;
				return 0;
			}
	if (int_param(p, "protocol", 0, 255, -1, &n, out))
		return 400;
	*v = n;
	return 0;
}

struct filter_bufs {
	char src[SV_ADDR_MAX], dst[SV_ADDR_MAX], any[SV_ADDR_MAX];
};

/* The filters every read endpoint shares. Default range: the last hour. */
static int parse_filter(const struct sv_params *p, struct sv_filter *f, struct filter_bufs *b,
			struct sb *out)
{
	const char *dir = param(p, "direction");
	int64_t now = sv_now_ns();
	long v;

	sv_filter_init(f);
	f->box = param(p, "box");
	f->iface = param(p, "iface");
	if (dir) {
		f->direction = !strcmp(dir, "ingress") ? 0 : !strcmp(dir, "egress") ? 1 : -2;
		if (f->direction == -2)
			return sv_api_error(out, 400, "direction must be ingress or egress");
	}
	if (time_param(p, "since", now - 3600 * NS, &f->since_ns, out) ||
	    time_param(p, "until", now, &f->until_ns, out))
		return 400;
	if (f->until_ns <= f->since_ns)
		return sv_api_error(out, 400, "until must be after since");
	if (addr_param(p, "src_addr", b->src, &f->src_addr, out) ||
	    addr_param(p, "dst_addr", b->dst, &f->dst_addr, out) ||
	    addr_param(p, "addr", b->any, &f->addr, out) || protocol_param(p, &f->protocol, out))
		return 400;
	if (int_param(p, "src_port", 0, 65535, -1, &v, out))
		return 400;
	f->src_port = v;
	if (int_param(p, "dst_port", 0, 65535, -1, &v, out))
		return 400;
	f->dst_port = v;
	if (int_param(p, "port", 0, 65535, -1, &v, out))
		return 400;
	f->port = v;
	if (int_param(p, "ip_version", 0, 6, -1, &v, out))
		return 400;
	f->ip_version = v;
	if (int_param(p, "vni", 0, 0xffffff, -1, &v, out))
		return 400;
	f->vni = v;
	if (int_param(p, "drops", 0, 1, -1, &v, out))
		return 400;
	f->drops = v;
	f->reason = param(p, "reason");
	return 0;
}

static void json_time(struct sb *out, const char *key, int64_t ns)
{
	char t[40];

	sv_format_time(ns, t, sizeof(t));
	sb_printf(out, "\"%s\":\"%s\"", key, t);
}

static int box_json(void *ctx, const struct sv_box_row *r)
{
	struct sb *out = ctx;

	if (out->buf[out->len - 1] == '}')
		sb_putc(out, ',');
	sb_puts(out, "{\"name\":");
	sb_json_str(out, r->name);
	sb_putc(out, ',');
	json_time(out, "first_seen", r->first_seen_ns);
	sb_putc(out, ',');
	json_time(out, "last_seen", r->last_seen_ns);
	sb_puts(out, ",\"agent_version\":");
	sb_json_str(out, r->agent_version);
	/* Stored as JSON we wrote ourselves at ingest. */
	sb_printf(out, ",\"interfaces\":%s,\"flows\":%lld}", r->interfaces[0] ? r->interfaces : "[]",
		  (long long)r->flows);
	return 0;
}

static int get_boxes(struct sv_store *st, const struct sv_params *p, struct sb *out)
{
	static const char *const known[] = { NULL };
	int ret = check_known(p, known, out);

	if (ret)
		return ret;
	sb_puts(out, "{\"boxes\":[");
	if (sv_store_boxes(st, box_json, out))
		return sv_api_error(out, 500, "store read failed");
	sb_puts(out, "]}\n");
	return 200;
}

/* A page of rows: limit + 1 are read, the extra one only tells that there are more. */
struct page_ctx {
	struct sb *out;
	int limit, count;
};

static int flow_json(void *ctx, const struct sv_flow_row *row)
{
	struct page_ctx *fc = ctx;
	const struct sv_rec *r = &row->rec;
	struct sb *out = fc->out;

	if (++fc->count > fc->limit)
		return 0; /* the extra row only tells that there are more */
	if (fc->count > 1)
		sb_putc(out, ',');
	sb_printf(out, "{\"id\":%lld,\"box\":", (long long)row->id);
	sb_json_str(out, row->box);
	sv_rec_json(out, r, SV_PART_ALL);
	sb_putc(out, '}');
	return 0;
}

static const char *const filter_params[] = {
	"box", "iface", "direction", "protocol", "src_addr", "dst_addr", "src_port", "dst_port",
	"vni", "ip_version", "addr", "port", "since", "until", "drops", "reason",
};
#define N_FILTER (sizeof(filter_params) / sizeof(filter_params[0]))

/* filter_params plus the endpoint's own, NULL-terminated. */
static void known_with(const char **known, const char *a, const char *b, const char *c)
{
	unsigned int i;

	for (i = 0; i < N_FILTER; i++)
		known[i] = filter_params[i];
	known[i++] = a;
	known[i++] = b;
	known[i++] = c;
	known[i] = NULL;
}

static int sort_param(const struct sv_params *p, const char **sort, struct sb *out)
{
	static const char *const cols[] = { "last_ns", "first_ns", "bytes", "packets",
					     "box", "src_addr", "dst_addr", "src_port",
					     "dst_port", "protocol", "rtt_min_ns", "rtt_max_ns",
					     "rtt_mean_ns", "retransmits", "dns_latency_ns",
					     "dns_unanswered", NULL };
	const char *s = param(p, "sort");
	int i;

	*sort = "-last_ns";
	if (!s)
		return 0;
	for (i = 0; cols[i]; i++)
		if (!strcmp(s + (s[0] == '-'), cols[i])) {
			*sort = s;
			return 0;
		}
	return sv_api_error(out, 400, "sort must be one of last_ns, first_ns, bytes, packets, "
				      "box, src_addr, dst_addr, src_port, dst_port, protocol, "
				      "rtt_min_ns, rtt_max_ns, rtt_mean_ns, retransmits, "
				      "dns_latency_ns, dns_unanswered");
}

/* The flows' own filters on how long it took (issue 17). */
static const char *const lat_params[] = { "min_rtt_ns", "min_retransmits", "min_dns_latency_ns",
					  "dns_rcode" };
#define N_LAT (sizeof(lat_params) / sizeof(lat_params[0]))

static int parse_lat_filter(const struct sv_params *p, struct sv_filter *f, struct sb *out)
{
	int64_t *dst[N_LAT] = { &f->min_rtt_ns, &f->min_retransmits, &f->min_dns_latency_ns,
				&f->dns_rcode };
	const long max[N_LAT] = { 3600 * NS, 1L << 40, 3600 * NS, 15 };
	unsigned int i;
	long v;

	for (i = 0; i < N_LAT; i++) {
		if (int_param(p, lat_params[i], 0, max[i], -1, &v, out))
			return 400;
		*dst[i] = v;
	}
	return 0;
}

static int get_flows(struct sv_store *st, const struct sv_params *p, struct sb *out)
{
	const char *known[N_FILTER + N_LAT + 4], *sort;
	unsigned int i;
	struct filter_bufs bufs;
	struct page_ctx fc = { out, 0, 0 };
	struct sv_filter f;
	long limit, offset;
	int ret;

	known_with(known, "sort", "limit", "offset");
	for (i = 0; i < N_LAT; i++)
		known[N_FILTER + 3 + i] = lat_params[i];
	known[N_FILTER + 3 + N_LAT] = NULL;
	ret = check_known(p, known, out);
	if (!ret)
		ret = parse_filter(p, &f, &bufs, out);
	if (!ret)
		ret = parse_lat_filter(p, &f, out);
	if (!ret)
		ret = sort_param(p, &sort, out);
	if (!ret)
		ret = int_param(p, "limit", 1, 10000, 100, &limit, out);
	if (!ret)
		ret = int_param(p, "offset", 0, SV_API_OFFSET_MAX, 0, &offset, out);
	if (ret)
		return ret;
	fc.limit = limit;
	sb_puts(out, "{\"flows\":[");
	ret = sv_store_flows(st, &f, sort, limit + 1, offset, flow_json, &fc);
	if (ret)
		return read_failed(out, ret);
	sb_printf(out, "],\"limit\":%ld,\"offset\":%ld,\"more\":%s}\n", limit, offset,
		  fc.count > limit ? "true" : "false");
	return 200;
}

/* The step of a series (step_s, or about 120 points over the range) and its n points; the
 * range starts on a step. 0, or 400 for too many points. */
static int range_steps(struct sv_filter *f, long step_s, int64_t *step, size_t *n,
		       struct sb *out)
{
	int64_t s = step_s ? step_s * NS : (f->until_ns - f->since_ns) / 120;

	if (s < NS)
		s = NS;
	s -= s % NS;
	/* Aligned steps: points fall on round times, and whole minutes use the rollups. */
	if (s >= 60 * NS)
		s -= s % (60 * NS);
	f->since_ns -= f->since_ns % s;
	*n = (f->until_ns - f->since_ns + s - 1) / s;
	*step = s;
	if (*n > MAX_POINTS)
		return sv_api_error(out, 400, "range / step gives more than %d points", MAX_POINTS);
	return 0;
}

static int get_series(struct sv_store *st, const struct sv_params *p, struct sb *out)
{
	const char *known[] = { "box", "iface", "direction", "since", "until", "step", NULL };
	uint64_t *bytes = NULL, *packets = NULL;
	struct filter_bufs bufs;
	struct sv_filter f;
	int64_t step;
	long step_s;
	size_t n, i;
	int ret;

	ret = check_known(p, known, out);
	if (!ret)
		ret = parse_filter(p, &f, &bufs, out);
	if (!ret)
		ret = int_param(p, "step", 1, 86400 * 365, 0, &step_s, out);
	if (!ret)
		ret = range_steps(&f, step_s, &step, &n, out);
	if (ret)
		return ret;
	bytes = calloc(n, sizeof(*bytes));
	packets = calloc(n, sizeof(*packets));
	ret = !bytes || !packets ? -ENOMEM : sv_store_series(st, &f, step, n, bytes, packets);
	if (ret) {
		free(bytes);
		free(packets);
		return read_failed(out, ret);
	}
	sb_printf(out, "{\"step\":%lld,\"since_ns\":%lld,\"until_ns\":%lld,\"points\":[",
		  (long long)(step / NS), (long long)f.since_ns, (long long)f.until_ns);
	for (i = 0; i < n; i++)
		sb_printf(out, "%s{\"t\":%lld,\"bytes\":%llu,\"packets\":%llu}", i ? "," : "",
			  (long long)((f.since_ns + (int64_t)i * step) / NS),
			  (unsigned long long)bytes[i], (unsigned long long)packets[i]);
	sb_puts(out, "]}\n");
	free(bytes);
	free(packets);
	return 200;
}

struct top_ctx {
	struct sb *out;
	enum sv_top_by by;
	int n;
};

static int top_json(void *ctx, const struct sv_top_row *r)
{
	struct top_ctx *tc = ctx;
	struct sb *out = tc->out;

	sb_puts(out, tc->n++ ? ",{" : "{");
	if (r->src_addr) {
		sb_puts(out, "\"src_addr\":");
		sb_json_str(out, r->src_addr);
		sb_putc(out, ',');
	}
	if (r->dst_addr) {
		sb_puts(out, "\"dst_addr\":");
		sb_json_str(out, r->dst_addr);
		sb_putc(out, ',');
	}
	if (tc->by == SV_TOP_PORT || tc->by == SV_TOP_PROTOCOL)
		sb_printf(out, "\"protocol\":%d,", r->protocol);
	if (tc->by == SV_TOP_PORT)
		sb_printf(out, "\"dst_port\":%d,", r->dst_port);
	sb_printf(out, "\"bytes\":%llu,\"packets\":%llu,\"flows\":%llu}",
		  (unsigned long long)r->bytes, (unsigned long long)r->packets,
		  (unsigned long long)r->flows);
	return 0;
}

static int get_top(struct sv_store *st, const struct sv_params *p, struct sb *out)
{
	static const char *const bys[] = { [SV_TOP_SRC] = "src", [SV_TOP_DST] = "dst",
					   [SV_TOP_PAIR] = "pair", [SV_TOP_PORT] = "port",
					   [SV_TOP_PROTOCOL] = "protocol" };
	const char *known[N_FILTER + 4], *by = param(p, "by"), *order = param(p, "order");
	struct top_ctx tc = { out, SV_TOP_SRC, 0 };
	struct filter_bufs bufs;
	struct sv_filter f;
	unsigned int b = SV_TOP_SRC;
	long limit;
	int ret;

	known_with(known, "by", "order", "limit");
	ret = check_known(p, known, out);
	if (!ret)
		ret = parse_filter(p, &f, &bufs, out);
	if (!ret)
		ret = int_param(p, "limit", 1, 1000, 10, &limit, out);
	if (ret)
		return ret;
	if (by) {
		for (b = 0; b < sizeof(bys) / sizeof(bys[0]); b++)
			if (!strcmp(by, bys[b]))
				break;
		if (b == sizeof(bys) / sizeof(bys[0]))
			return sv_api_error(out, 400, "by must be src, dst, pair, port or protocol");
	}
	tc.by = b;
	if (order && strcmp(order, "bytes") && strcmp(order, "packets"))
		return sv_api_error(out, 400, "order must be bytes or packets");
	sb_printf(out, "{\"by\":\"%s\",\"items\":[", bys[b]);
	ret = sv_store_top(st, &f, b, order && !strcmp(order, "packets"), limit, top_json, &tc);
	if (ret)
		return read_failed(out, ret);
	sb_printf(out, "],\"since_ns\":%lld,\"until_ns\":%lld}\n", (long long)f.since_ns,
		  (long long)f.until_ns);
	return 200;
}

/* A '\n'-separated list as a JSON array of strings. */
static void json_list(struct sb *out, const char *key, const char *list)
{
	const char *p = list;
	char item[SV_BOX_MAX + SV_IFNAME_MAX];
	int n = 0;

	sb_printf(out, ",\"%s\":[", key);
	while (*p) {
		size_t len = strcspn(p, "\n");

		snprintf(item, sizeof(item), "%.*s", (int)len, p);
		if (n++)
			sb_putc(out, ',');
		sb_json_str(out, item);
		p += len + (p[len] == '\n');
	}
	sb_putc(out, ']');
}

/* 1 if item is one of the '\n'-separated lines of list. */
static int line_in(const char *list, const char *item)
{
	size_t n = strlen(item);
	const char *p = list;

	while (*p) {
		size_t len = strcspn(p, "\n");

		if (len == n && !memcmp(p, item, n))
			return 1;
		p += len + (p[len] == '\n');
	}
	return 0;
}

/* seen_by: [{"box":..,"iface":..}], then the boxes alone. */
static void json_seen_by(struct sb *out, const char *list)
{
	char box[SV_BOX_MAX], iface[SV_IFNAME_MAX];
	struct sb boxes;
	const char *p;
	int n = 0;

	sb_init(&boxes);
	sb_puts(out, ",\"seen_by\":[");
	for (p = list; *p;) {
		size_t len = strcspn(p, "\t\n"), ilen;

		snprintf(box, sizeof(box), "%.*s", (int)len, p);
		p += len + (p[len] == '\t');
		ilen = strcspn(p, "\n");
		snprintf(iface, sizeof(iface), "%.*s", (int)ilen, p);
		p += ilen + (p[ilen] == '\n');
		sb_puts(out, n++ ? ",{\"box\":" : "{\"box\":");
		sb_json_str(out, box);
		sb_puts(out, ",\"iface\":");
		sb_json_str(out, iface);
		sb_putc(out, '}');
		if (!line_in(boxes.buf ? boxes.buf : "", box))
			sb_printf(&boxes, "%s%s", boxes.len ? "\n" : "", box);
	}
	sb_putc(out, ']');
	json_list(out, "boxes", boxes.buf ? boxes.buf : "");
	sb_free(&boxes);
}

void sv_api_alert_json(struct sb *out, const struct sv_alert *a)
{
	sb_printf(out, "{\"id\":%lld,\"type\":", (long long)a->id);
	sb_json_str(out, a->type);
	sb_puts(out, ",\"severity\":");
	sb_json_str(out, a->severity);
	sb_putc(out, ',');
	json_time(out, "first", a->first_ns);
	sb_putc(out, ',');
	json_time(out, "last", a->last_ns);
	sb_printf(out, ",\"first_ns\":%lld,\"last_ns\":%lld,\"src\":", (long long)a->first_ns,
		  (long long)a->last_ns);
	sb_json_str(out, a->src);
	sb_puts(out, ",\"target\":");
	if (a->target[0])
		sb_json_str(out, a->target);
	else
		sb_puts(out, "null");
	json_list(out, "hosts", a->hosts);
	sb_printf(out, ",\"host_count\":%llu", (unsigned long long)a->n_hosts);
	json_list(out, "ports", a->ports);
	sb_printf(out, ",\"port_count\":%llu", (unsigned long long)a->n_ports);
	json_list(out, "sources", a->sources);
	sb_printf(out, ",\"source_count\":%llu,\"flows\":%llu,\"packets\":%llu",
		  (unsigned long long)a->n_sources, (unsigned long long)a->flows,
		  (unsigned long long)a->packets);
	json_seen_by(out, a->seen_by);
	sb_putc(out, '}');
}

static int alert_json(void *ctx, const struct sv_alert *a)
{
	struct page_ctx *ac = ctx;

	if (++ac->count > ac->limit)
		return 0; /* the extra row only tells that there are more */
	if (ac->count > 1)
		sb_putc(ac->out, ',');
	sv_api_alert_json(ac->out, a);
	return 0;
}

static int get_alerts(struct sv_store *st, const struct sv_params *p, struct sb *out)
{
	static const char *const known[] = { "type", "severity", "src", "dst", "target", "box",
					     "since", "until", "limit", "offset", NULL };
	const char *type = param(p, "type"), *sev = param(p, "severity");
	char src[SV_ADDR_MAX], dst[SV_ADDR_MAX], tgt[SV_ADDR_MAX];
	struct sv_alert_filter f = { .type = type, .severity = sev, .box = param(p, "box") };
	struct page_ctx ac = { out, 0, 0 };
	const char *d, *t;
	long limit, offset;
	int ret;

	ret = check_known(p, known, out);
	if (ret)
		return ret;
	if (type && strcmp(type, "port_scan") && strcmp(type, "host_sweep") &&
	    strcmp(type, "syn_flood"))
		return sv_api_error(out, 400, "type must be port_scan, host_sweep or syn_flood");
	if (sev && strcmp(sev, "low") && strcmp(sev, "medium") && strcmp(sev, "high"))
		return sv_api_error(out, 400, "severity must be low, medium or high");
	/* Alerts last longer than flows matter: the default range is a day. */
	if (time_param(p, "since", sv_now_ns() - 86400 * NS, &f.since_ns, out) ||
	    time_param(p, "until", sv_now_ns() + NS, &f.until_ns, out))
		return 400;
	if (f.until_ns <= f.since_ns)
		return sv_api_error(out, 400, "until must be after since");
	if (param(p, "dst") && param(p, "target"))
		return sv_api_error(out, 400, "dst and target are the same filter: give one");
	if (addr_param(p, "src", src, &f.src, out) || addr_param(p, "dst", dst, &d, out) ||
	    addr_param(p, "target", tgt, &t, out))
		return 400;
	f.target = d ? d : t;
	if (int_param(p, "limit", 1, 1000, 100, &limit, out) ||
	    int_param(p, "offset", 0, SV_API_OFFSET_MAX, 0, &offset, out))
		return 400;
	ac.limit = limit;
	sb_puts(out, "{\"alerts\":[");
	ret = sv_store_alerts(st, &f, limit + 1, offset, alert_json, &ac);
	if (ret)
		return read_failed(out, ret);
	sb_printf(out, "],\"limit\":%ld,\"offset\":%ld,\"more\":%s}\n", limit, offset,
		  ac.count > limit ? "true" : "false");
	return 200;
}

/* --- packet trajectories (docs/paths.md) -------------------------------------------- */

struct paths_ctx {
	struct sb *out;
	int limit, count;
};

static int path_json(void *ctx, const struct sv_path_row *r)
{
	struct paths_ctx *pc = ctx;
	struct sb *out = pc->out;

	if (++pc->count > pc->limit)
		return 0;
	sb_puts(out, pc->count > 1 ? ",{\"hash\":" : "{\"hash\":");
	sb_json_str(out, r->hash);
	sb_printf(out, ",\"first_ns\":%lld,\"ip_version\":%d,\"protocol\":%d,\"src_addr\":",
		  (long long)r->first_ns, r->ip_version, r->protocol);
	sb_json_str(out, r->src_addr);
	sb_puts(out, ",\"dst_addr\":");
	sb_json_str(out, r->dst_addr);
	/* hops and lost are JSON the post wrote itself (src/post/paths.c). */
	sb_printf(out, ",\"src_port\":%d,\"dst_port\":%d,\"hops\":%s,\"lost\":%s}",
		  r->src_port, r->dst_port, r->hops, r->lost ? r->lost : "null");
	return 0;
}

static int get_paths(struct sv_store *st, const struct sv_params *p, struct sb *out)
{
	static const char *const known[] = { "src_addr", "dst_addr", "protocol", "src_port",
					     "dst_port", "since", "until", "limit", NULL };
	struct paths_ctx pc = { out, 0, 0 };
	struct filter_bufs bufs;
	struct sv_filter f;
	long limit;
	int ret;

	ret = check_known(p, known, out);
	if (!ret)
		ret = parse_filter(p, &f, &bufs, out);
	if (!ret)
		ret = int_param(p, "limit", 1, 10000, 1000, &limit, out);
	if (ret)
		return ret;
	pc.limit = limit;
	sb_puts(out, "{\"paths\":[");
	if (sv_store_paths(st, &f, limit + 1, path_json, &pc))
		return sv_api_error(out, 500, "store read failed");
	sb_printf(out, "],\"limit\":%ld,\"more\":%s}\n", limit,
		  pc.count > limit ? "true" : "false");
	return 200;
}

#define MAX_TOPO_BOXES 256

/* Links' mean latencies summed per ordered pair of boxes, for the clock skew estimate. */
struct topo_ctx {
	struct sb *out;
	int n;
	char *boxes[MAX_TOPO_BOXES];
	int n_boxes;
	double *sum; /* [a * MAX_TOPO_BOXES + b]: latency sum of a -> b links, and count */
	uint64_t *cnt;
};

static int topo_box(struct topo_ctx *tc, const char *name)
{
	int i;

	for (i = 0; i < tc->n_boxes; i++)
		if (!strcmp(tc->boxes[i], name))
			return i;
	if (tc->n_boxes == MAX_TOPO_BOXES || !(tc->boxes[i] = strdup(name)))
		return -1;
	return tc->n_boxes++;
}

static void point_json(struct sb *out, const char *key, const struct sv_point *pt)
{
	sb_printf(out, ",\"%s\":{\"box\":", key);
	sb_json_str(out, pt->box);
	sb_puts(out, ",\"iface\":");
	sb_json_str(out, pt->iface);
	sb_printf(out, ",\"direction\":\"%s\"}", pt->direction ? "egress" : "ingress");
}

static void opt_num(struct sb *out, const char *key, int64_t v, int present)
{
	if (present)
		sb_printf(out, ",\"%s\":%lld", key, (long long)v);
	else
		sb_printf(out, ",\"%s\":null", key);
}

static int link_json(void *ctx, const struct sv_link_row *r)
{
	struct topo_ctx *tc = ctx;
	struct sb *out = tc->out;
	int inbox = !strcmp(r->from.box, r->to.box), a, b;

	a = topo_box(tc, r->from.box);
	b = topo_box(tc, r->to.box);
	if (!inbox && a >= 0 && b >= 0 && r->lat_n && tc->sum) {
		tc->sum[a * MAX_TOPO_BOXES + b] += (double)r->lat_mean * r->lat_n;
		tc->cnt[a * MAX_TOPO_BOXES + b] += r->lat_n;
	}
	sb_printf(out, "%s{\"kind\":\"%s\"", tc->n++ ? "," : "", inbox ? "hop" : "link");
	point_json(out, "from", &r->from);
	point_json(out, "to", &r->to);
	sb_printf(out, ",\"packets\":%llu,\"crossed\":%llu,\"lost\":%llu,\"loss_rate\":%.6f",
		  (unsigned long long)r->seen, (unsigned long long)r->lat_n,
		  (unsigned long long)r->lost, r->seen ? (double)r->lost / r->seen : 0.0);
	sb_puts(out, ",\"latency_ns\":{\"n\":");
	sb_printf(out, "%llu", (unsigned long long)r->lat_n);
	opt_num(out, "p50", r->p50, r->lat_n);
	opt_num(out, "p90", r->p90, r->lat_n);
	opt_num(out, "p99", r->p99, r->lat_n);
	opt_num(out, "mean", r->lat_mean, r->lat_n);
	opt_num(out, "min", r->lat_min, r->lat_n);
	opt_num(out, "max", r->lat_max, r->lat_n);
	sb_puts(out, "}}");
	return 0;
}

/* Where links were seen both ways between two boxes: B's clock minus A's is about half the
 * difference of the two directions' mean one-way latencies (NTP's estimate: exact when the
 * two ways take equally long). */
static void skew_json(struct topo_ctx *tc)
{
	int a, b, n = 0;
	uint64_t ab, ba;
	double off;

	sb_puts(tc->out, "],\"clock_skew\":[");
	for (a = 0; tc->sum && a < tc->n_boxes; a++) {
		for (b = a + 1; b < tc->n_boxes; b++) {
			ab = tc->cnt[a * MAX_TOPO_BOXES + b];
			ba = tc->cnt[b * MAX_TOPO_BOXES + a];
			if (!ab || !ba)
				continue;
			off = (tc->sum[a * MAX_TOPO_BOXES + b] / ab -
			       tc->sum[b * MAX_TOPO_BOXES + a] / ba) / 2;
			sb_puts(tc->out, n++ ? ",{\"a\":" : "{\"a\":");
			sb_json_str(tc->out, tc->boxes[a]);
			sb_puts(tc->out, ",\"b\":");
			sb_json_str(tc->out, tc->boxes[b]);
			sb_printf(tc->out, ",\"b_minus_a_ns\":%.0f,\"samples\":%llu}", off,
				  (unsigned long long)(ab < ba ? ab : ba));
		}
	}
}

static int get_topology(struct sv_store *st, const struct sv_params *p, struct sb *out)
{
	static const char *const known[] = { "since", "until", NULL };
	struct topo_ctx tc = { .out = out };
	struct filter_bufs bufs;
	struct sv_filter f;
	int ret, i;

	ret = check_known(p, known, out);
	if (!ret)
		ret = parse_filter(p, &f, &bufs, out);
	if (ret)
		return ret;
	tc.sum = calloc((size_t)MAX_TOPO_BOXES * MAX_TOPO_BOXES, sizeof(*tc.sum));
	tc.cnt = calloc((size_t)MAX_TOPO_BOXES * MAX_TOPO_BOXES, sizeof(*tc.cnt));
	sb_printf(out, "{\"since_ns\":%lld,\"until_ns\":%lld,\"links\":[", (long long)f.since_ns,
		  (long long)f.until_ns);
	ret = sv_store_path_links(st, f.since_ns, f.until_ns, link_json, &tc);
	if (!ret) {
		skew_json(&tc);
		sb_puts(out, "],\"boxes\":[");
		for (i = 0; i < tc.n_boxes; i++) {
			sb_puts(out, i ? "," : "");
			sb_json_str(out, tc.boxes[i]);
		}
		sb_puts(out, "]}\n");
	}
	for (i = 0; i < tc.n_boxes; i++)
		free(tc.boxes[i]);
	free(tc.sum);
	free(tc.cnt);
	return ret ? sv_api_error(out, 500, "store read failed") : 200;
}

/* --- /api/v1/drops (issue 16): the kernel's drops by box, reason, flow and time ---------- */

/* Series come ordered by box and reason; each is written when the next begins. */
struct drops_ctx {
	struct sb *out;
	char box[SV_BOX_MAX], reason[SV_DROP_NAME_MAX];
	uint64_t *pts, total;
	size_t n;
	int count;
};

static void drop_series_end(struct drops_ctx *dc)
{
	size_t i;

	if (!dc->box[0])
		return;
	sb_puts(dc->out, dc->count++ ? ",{\"box\":" : "{\"box\":");
	sb_json_str(dc->out, dc->box);
	sb_puts(dc->out, ",\"reason\":");
	sb_json_str(dc->out, dc->reason);
	sb_printf(dc->out, ",\"total\":%llu,\"points\":[", (unsigned long long)dc->total);
	for (i = 0; i < dc->n; i++)
		sb_printf(dc->out, "%s%llu", i ? "," : "", (unsigned long long)dc->pts[i]);
	sb_puts(dc->out, "]}");
	memset(dc->pts, 0, dc->n * sizeof(*dc->pts));
	dc->total = 0;
	dc->box[0] = 0;
}

static int drop_series_json(void *ctx, const struct sv_drop_row *r)
{
	struct drops_ctx *dc = ctx;

	if (strcmp(dc->box, r->box) || strcmp(dc->reason, r->reason)) {
		drop_series_end(dc);
		snprintf(dc->box, sizeof(dc->box), "%s", r->box);
		snprintf(dc->reason, sizeof(dc->reason), "%s", r->reason);
	}
	if (r->b >= 0 && (size_t)r->b < dc->n) {
		dc->pts[r->b] += r->packets;
		dc->total += r->packets;
	}
	return 0;
}

static int drop_flow_json(void *ctx, const struct sv_drop_row *r)
{
	struct drops_ctx *dc = ctx;

	sb_puts(dc->out, dc->count++ ? ",{\"box\":" : "{\"box\":");
	sb_json_str(dc->out, r->box);
	sv_rec_json(dc->out, r->rec, SV_PART_KEY);
	sb_printf(dc->out, ",\"first_ns\":%lld,\"last_ns\":%lld,\"drops\":%llu,"
		  "\"drop_bytes\":%llu,\"drop_reasons\":",
		  (long long)r->rec->first_ns, (long long)r->rec->last_ns,
		  (unsigned long long)r->rec->drops, (unsigned long long)r->rec->drop_bytes);
	sv_drop_reasons_json(dc->out, &r->rec->drop_reasons);
	sb_putc(dc->out, '}');
	return 0;
}

static int get_drops(struct sv_store *st, const struct sv_params *p, struct sb *out)
{
	const char *known[N_FILTER + 4];
	struct drops_ctx dc = { .out = out };
	struct filter_bufs bufs;
	struct sv_filter f;
	long step_s, limit;
	int64_t step;
	int ret;

	known_with(known, "step", "limit", NULL);
	ret = check_known(p, known, out);
	if (!ret)
		ret = parse_filter(p, &f, &bufs, out);
	if (!ret)
		ret = int_param(p, "step", 1, 86400 * 365, 0, &step_s, out);
	if (!ret)
		ret = int_param(p, "limit", 1, 1000, 20, &limit, out);
	if (!ret)
		ret = range_steps(&f, step_s, &step, &dc.n, out);
	if (ret)
		return ret;
	dc.pts = calloc(dc.n, sizeof(*dc.pts));
	if (!dc.pts)
		return sv_api_error(out, 500, "out of memory");
	sb_printf(out, "{\"step\":%lld,\"since_ns\":%lld,\"until_ns\":%lld,\"series\":[",
		  (long long)(step / NS), (long long)f.since_ns, (long long)f.until_ns);
	ret = sv_store_drop_series(st, &f, step, drop_series_json, &dc);
	drop_series_end(&dc);
	free(dc.pts);
	sb_puts(out, "],\"flows\":[");
	dc.count = 0;
	if (ret || sv_store_drop_flows(st, &f, limit, drop_flow_json, &dc))
		return sv_api_error(out, 500, "store read failed");
	sb_puts(out, "]}\n");
	return 200;
}

int sv_api_get(struct sv_store *st, const char *name, const struct sv_params *p,
	       struct sb *out)
{
	if (!strcmp(name, "drops"))
		return get_drops(st, p, out);
	if (!strcmp(name, "alerts"))
		return get_alerts(st, p, out);
	if (!strcmp(name, "paths"))
		return get_paths(st, p, out);
	if (!strcmp(name, "paths/topology"))
		return get_topology(st, p, out);
	if (!strcmp(name, "boxes"))
		return get_boxes(st, p, out);
	if (!strcmp(name, "flows"))
		return get_flows(st, p, out);
	if (!strcmp(name, "series"))
		return get_series(st, p, out);
	if (!strcmp(name, "top"))
		return get_top(st, p, out);
	return sv_api_error(out, 404, "no such endpoint: /api/v1/%s", name);
}

static void stat_add(unsigned long long *c, unsigned long long n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

int sv_api_ingest(struct sv_store *st, struct sv_api_stats *stats, const char *body, size_t len,
		  struct sb *out)
{
	return sv_api_ingest_as(st, stats, NULL, NULL, body, len, out);
}

int sv_api_ingest_as(struct sv_store *st, struct sv_api_stats *stats,
		     int (*may_box)(const void *who, const char *box), const void *who,
		     const char *body, size_t len, struct sb *out)
{
	struct sv_batch b;
	char err[200];
	int dup = 0, ret;
	size_t refused;
	int64_t now;

	ret = sv_ingest_parse(body, len, &b, err, sizeof(err));
	if (ret) {
		sv_batch_free(&b);
		stat_add(&stats->batches_rejected, 1);
		return ret == -ENOMEM ? sv_api_error(out, 500, "out of memory") :
					sv_api_error(out, 400, "%s", err);
	}
	if (may_box && !may_box(who, b.box)) {
		ret = sv_api_error(out, 403, "this token may not deliver for box '%s'", b.box);
		sv_batch_free(&b);
		stat_add(&stats->batches_rejected, 1);
		return ret;
	}
	/* The collector's rule too: a box whose clock is far off has those records refused
	 * and counted, the rest stored (its agent says so: docs/security.md). */
	now = sv_now_ns();
	refused = sv_store_date_check(st, &b, now);
	ret = sv_store_ingest(st, &b, now, &dup);
	if (!ret) {
		sb_printf(out, "{\"accepted\":%zu,\"skipped\":%zu,\"duplicate\":%s", dup ? 0 : b.n,
			  b.skipped, dup ? "true" : "false");
		if (b.n_fps)
			sb_printf(out, ",\"fingerprints\":%zu", dup ? 0 : b.n_fps);
		if (refused && !dup)
			sb_printf(out, ",\"out_of_range\":%zu", refused);
		stat_add(&stats->records_out_of_range, dup ? 0 : refused);
		sb_puts(out, "}\n");
		stat_add(dup ? &stats->batches_duplicate : &stats->batches_stored, 1);
		stat_add(&stats->records_stored, dup ? 0 : b.n);
		stat_add(&stats->records_skipped, b.skipped);
	}
	sv_batch_free(&b);
	return ret ? sv_api_error(out, 500, "store write failed") : 200;
}
