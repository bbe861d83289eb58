// SPDX-License-Identifier: GPL-2.0
/* The virtual TAP's part of the API (docs/api.md, "Virtual TAP rules"): desired rules per box,
 * which the box's agent fetches and applies, and the agent's reports of them.
 *
 *   GET    /api/v1/taps[?box=B]       the rules with their last report       (read)
 *   POST   /api/v1/taps?box=B         {"rule": "..."}: a new rule, its id    (admin token)
 *   DELETE /api/v1/taps/ID            the rule goes; the agent removes it    (admin token)
 *   POST   /api/v1/taps/status?box=B  the agent's report                     (box B's token)
 *
 * The post checks a rule's form only (one printable line) and that the box has room for it;
 * the box's agent checks the rest (its interfaces, loops, whether it takes rules from the
 * post and to where) and reports an error, which GET shows. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"
#include "jsonr.h"
#include "sitevisor.h"
#include "timeparse.h"

#define RULE_MAX 511
#define BOX_MAX 127
#define REPORT_MAX 256 /* rules in one report */
/* Rules per box: as many as an agent takes (one more and it would refuse the whole list). */
#define BOX_RULES_MAX (SV_TAP_MAX_RULES - 1)

/* 1..max printable characters (no control characters: a rule is one line). */
static int printable(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return n >= 1 && n <= max;
}

static int box_param(const struct sv_params *p, const char **box, int required,
		     struct sb *out)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->key[i], "box"))
			return sv_api_error(out, 400, "unknown parameter '%s'", p->key[i]);
	*box = sv_api_param(p, "box");
	if (!*box && required)
		return sv_api_error(out, 400, "box is required");
	if (*box && !printable(*box, BOX_MAX))
		return sv_api_error(out, 400, "invalid box: 1 to %d printable characters", BOX_MAX);
	return 0;
}

static int tap_json(void *ctx, const struct sv_tap_row *r)
{
	struct sb *out = ctx;

	if (out->buf[out->len - 1] == '}')
		sb_putc(out, ',');
	sb_printf(out, "{\"id\":%lld,\"box\":", (long long)r->id);
	sb_json_str(out, r->box);
	sb_puts(out, ",\"rule\":");
	sb_json_str(out, r->rule);
	sb_printf(out, ",\"created_ns\":%lld,\"state\":\"%s\"", (long long)r->created_ns,
		  !r->reported_ns ? "pending" : r->error ? "error" : "active");
	if (r->error) {
		sb_puts(out, ",\"error\":");
		sb_json_str(out, r->error);
	}
	if (r->reported_ns)
		sb_printf(out,
			  ",\"agent_id\":%lld,\"reported_ns\":%lld,\"counters\":{\"matched\":%llu,"
			  "\"mirrored\":%llu,\"truncated\":%llu,\"rate_limited\":%llu,"
			  "\"failed\":%llu}",
			  (long long)r->agent_id, (long long)r->reported_ns,
			  (unsigned long long)r->matched, (unsigned long long)r->mirrored,
			  (unsigned long long)r->truncated, (unsigned long long)r->rate_limited,
			  (unsigned long long)r->failed);
	sb_putc(out, '}');
	return 0;
}

static int get_taps(struct sv_store *st, const struct sv_params *p, struct sb *out)
{
	const char *box;
	int ret = box_param(p, &box, 0, out);

	if (ret)
		return ret;
	sb_puts(out, "{\"taps\":[");
	if (sv_store_taps(st, box, tap_json, out))
		return sv_api_error(out, 500, "store read failed");
	sb_puts(out, "]}\n");
	return 200;
}

static int count_tap(void *ctx, const struct sv_tap_row *r)
{
	(*(int *)ctx)++;
	return 0;
}

static int add_tap(struct sv_store *st, const struct sv_params *p, const char *body,
		   size_t len, struct sb *out)
{
	int n = 0;
	char key[16], rule[RULE_MAX + 2] = "";
	const char *box;
	struct jr j;
	int64_t id;
	int ret = box_param(p, &box, 1, out);

	if (ret)
		return ret;
	jr_init(&j, body, len);
	if (jr_object(&j))
		return sv_api_error(out, 400, "body: %s", j.err);
	while ((ret = jr_key(&j, key, sizeof(key))) == 1) {
		if (strcmp(key, "rule"))
			return sv_api_error(out, 400, "body: unknown key '%s'", key);
		if (jr_string(&j, rule, sizeof(rule)))
			return sv_api_error(out, 400, "rule: %s", j.err);
	}
	if (ret < 0 || jr_end(&j))
		return sv_api_error(out, 400, "body: %s", j.err ? j.err : "trailing data");
	if (!printable(rule, RULE_MAX))
		return sv_api_error(out, 400, "rule: 1 to %d printable characters", RULE_MAX);
	if (sv_store_taps(st, box, count_tap, &n))
		return sv_api_error(out, 500, "store read failed");
	if (n >= BOX_RULES_MAX)
		return sv_api_error(out, 409, "box '%s' has %d tap rules, the most its agent "
				    "takes: delete one first", box, n);
	if (sv_store_tap_add(st, box, rule, sv_now_ns(), &id))
		return sv_api_error(out, 500, "store write failed");
	sb_printf(out, "{\"id\":%lld}\n", (long long)id);
	return 201;
}

static int del_tap(struct sv_store *st, const char *sid, const struct sv_params *p,
		   struct sb *out)
{
	char *end;
	long long id;
	int ret;

	if (p->n)
		return sv_api_error(out, 400, "unknown parameter '%s'", p->key[0]);
	id = strtoll(sid, &end, 10);
	if (!*sid || *end || id <= 0)
		return sv_api_error(out, 404, "no such tap rule '%s'", sid);
	ret = sv_store_tap_del(st, id);
	if (ret == -ENOENT)
		return sv_api_error(out, 404, "no such tap rule %lld", id);
	if (ret)
		return sv_api_error(out, 500, "store write failed");
	sb_printf(out, "{\"deleted\":%lld}\n", id);
	return 200;
}

/* One element of a report: {"id":N,"agent_id":N,"error":S|null,"matched":N,...}. */
static int read_report(struct jr *j, struct sv_tap_row *r, char *err, size_t errlen)
{
	static const char *const nums[] = { "id",	 "agent_id",	 "matched", "mirrored",
					    "truncated", "rate_limited", "failed" };
	uint64_t *slots[] = { (uint64_t *)&r->id, (uint64_t *)&r->agent_id, &r->matched,
			      &r->mirrored, &r->truncated, &r->rate_limited, &r->failed };
	char key[16];
	size_t i;
	int ret;

	memset(r, 0, sizeof(*r));
	r->error = NULL;
	if (jr_object(j))
		return -EINVAL;
	while ((ret = jr_key(j, key, sizeof(key))) == 1) {
		if (!strcmp(key, "error")) {
			if (jr_null(j))
				continue;
			if (jr_string(j, err, errlen))
				return -EINVAL;
			r->error = err;
			continue;
		}
		for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
			if (!strcmp(key, nums[i]))
				break;
		if (i == sizeof(nums) / sizeof(nums[0])) {
			j->err = "unknown key in a report";
			return -EINVAL;
		}
		if (jr_u64(j, slots[i]))
			return -EINVAL;
	}
	if (ret < 0)
		return -EINVAL;
	if (r->id <= 0 || r->id > INT64_MAX / 2 || r->agent_id < 0) {
		j->err = "a report needs a positive id";
		return -EINVAL;
	}
	return 0;
}

static int report_taps(struct sv_store *st, const struct sv_params *p, const char *body,
		       size_t len, struct sb *out)
{
	char key[16], err[256];
	struct sv_tap_row r;
	const char *box;
	struct jr j;
	int ret = box_param(p, &box, 1, out), n = 0, first = 1;

	if (ret)
		return ret;
	jr_init(&j, body, len);
	if (jr_object(&j) || jr_key(&j, key, sizeof(key)) != 1 || strcmp(key, "taps") ||
	    jr_array(&j))
		return sv_api_error(out, 400, "body: expected {\"taps\": [...]}");
	while ((ret = jr_more(&j, first)) == 1) {
		first = 0;
		if (++n > REPORT_MAX)
			return sv_api_error(out, 400, "body: more than %d reports", REPORT_MAX);
		if (read_report(&j, &r, err, sizeof(err)))
			return sv_api_error(out, 400, "body: %s", j.err ? j.err : "bad report");
		if (sv_store_tap_report(st, box, &r, sv_now_ns()))
			return sv_api_error(out, 500, "store write failed");
	}
	if (ret < 0 || jr_key(&j, key, sizeof(key)) != 0 || jr_end(&j))
		return sv_api_error(out, 400, "body: %s", j.err ? j.err : "trailing data");
	sb_printf(out, "{\"reported\":%d}\n", n);
	return 200;
}

int sv_api_taps(struct sv_store *st, const char *method, const char *sub,
		const struct sv_params *p, const char *body, size_t len, struct sb *out)
{
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	if (!*sub && get)
		return get_taps(st, p, out);
	if (!*sub && !strcmp(method, "POST"))
		return add_tap(st, p, body, len, out);
	if (!strcmp(sub, "/status") && !strcmp(method, "POST"))
		return report_taps(st, p, body, len, out);
	if (*sub == '/' && strcmp(sub, "/status") && !strcmp(method, "DELETE"))
		return del_tap(st, sub + 1, p, out);
	return sv_api_error(out, 405, "method not allowed");
}
