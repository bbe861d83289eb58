// SPDX-License-Identifier: GPL-2.0
/* The ClickHouse backend's handle: its places (clickhouse://[USER[:PASSWORD]@]HOST:PORT/DB, or
 * clickhouses:// for HTTPS) parsed, requests over ClickHouse's HTTP interface with libcurl,
 * TabSeparated answers, and the operations table store.c calls through. */
#define _GNU_SOURCE /* asprintf */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "ch_int.h"
#include "log.h"

#define CH_TIMEOUT_S 60

static __thread CURL *tl_curl;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	sb_put(ctx, p, size * n);
	return size * n;
}

/* Called on each connection the request goes out on, new or reused: from then on the server
 * may have it. */
static int on_reached(void *ctx, char *ip, char *local_ip, int port, int local_port)
{
	(void)ip;
	(void)local_ip;
	(void)port;
	(void)local_port;
	*(int *)ctx = 1;
	return CURL_PREREQFUNC_OK;
}

/* One request to one shard; ClickHouse's status decides. An insert's query goes in the URL
 * and its rows are the body; any other query is the body. */
static int request(struct sv_ch *ch, int k, const char *sql, const struct sb *data,
		   struct sb *out, char *err, size_t errlen)
{
	const char *body = data ? (data->buf ? data->buf : "") : sql;
	struct ch_shard *sh = &ch->shard[k];
	struct sb url, answer, *a = out ? out : &answer;
	long status = 0;
	int reached = 0;
	CURLcode rc;
	char *q;

	if (!tl_curl && !(tl_curl = curl_easy_init()))
		return -ENOMEM;
	sb_init(&url);
	sb_init(&answer);
	sb_puts(&url, sh->url);
	if (sh->has_db)
		sb_printf(&url, "?database=%s", ch->db);
	/* A read within the post's query budget (whole seconds, at least one). */
	if (!data && ch->base.query_budget_ns > 0)
		sb_printf(&url, "%smax_execution_time=%lld", sh->has_db ? "&" : "?",
			  (long long)((ch->base.query_budget_ns + 999999999) / 1000000000));
	if (data) {
		q = curl_easy_escape(tl_curl, sql, 0);
		sb_printf(&url, "%squery=%s", sh->has_db ? "&" : "?", q ? q : "");
		curl_free(q);
	}
	if (sb_failed(&url)) {
		sb_free(&url);
		return -ENOMEM;
	}
	curl_easy_reset(tl_curl); /* keeps the connections: one per thread and shard */
	curl_easy_setopt(tl_curl, CURLOPT_URL, url.buf);
	curl_easy_setopt(tl_curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(tl_curl, CURLOPT_POSTFIELDSIZE, (long)(data ? data->len : strlen(sql)));
	curl_easy_setopt(tl_curl, CURLOPT_TIMEOUT, (long)CH_TIMEOUT_S);
	curl_easy_setopt(tl_curl, CURLOPT_CONNECTTIMEOUT, 3L);
	curl_easy_setopt(tl_curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(tl_curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(tl_curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(tl_curl, CURLOPT_PREREQFUNCTION, on_reached);
	curl_easy_setopt(tl_curl, CURLOPT_PREREQDATA, &reached);
	if (sh->user) {
		curl_easy_setopt(tl_curl, CURLOPT_USERNAME, sh->user);
		curl_easy_setopt(tl_curl, CURLOPT_PASSWORD, sh->password ? sh->password : "");
	}
	rc = curl_easy_perform(tl_curl);
	curl_easy_getinfo(tl_curl, CURLINFO_RESPONSE_CODE, &status);
	sb_free(&url);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "%s: %s", sh->url, curl_easy_strerror(rc));
	else if (status != 200)
		snprintf(err, errlen, "%.*s", (int)strcspn(a->buf ? a->buf : "", "\n"),
			 a->buf ? a->buf : "");
	if (rc == CURLE_OK && a->buf && !strncmp(a->buf, "Code: 159,", 10)) {
		sb_free(&answer);
		return -ETIMEDOUT; /* TIMEOUT_EXCEEDED: over the query budget */
	}
	sb_free(&answer);
	/* Nothing was sent only if no connection took the request: a kept-alive one that died
	 * unanswered makes libcurl send it again on a new one, and when that new one is refused
	 * the server that died may have stored it (an insert committed, its answer never sent). */
	if (rc == CURLE_COULDNT_CONNECT && !reached)
		return -ECONNREFUSED;
	return rc == CURLE_OK && status == 200 ? 0 : -EIO;
}

/* Any shard can answer through the Distributed tables: one that is down is skipped. */
static int each_shard(struct sv_ch *ch, const char *sql, struct sb *out, char *err,
		      size_t errlen)
{
	size_t len = out ? out->len : 0;
	int i, start, ret = -EIO;

	start = __atomic_fetch_add(&ch->next, 1, __ATOMIC_RELAXED);
	for (i = 0; i < ch->n_shards && ret && ret != -ETIMEDOUT; i++) {
		if (out)
			out->len = len;
		ret = request(ch, (int)(((unsigned int)start + i) % ch->n_shards), sql, NULL, out,
			      err, errlen);
	}
	return ret;
}

int ch_run(struct sv_ch *ch, int k, const char *sql, struct sb *out, char *err, size_t errlen)
{
	int ret;

	if (k >= 0)
		ret = request(ch, k, sql, NULL, out, err, errlen);
	else
		ret = each_shard(ch, sql, out, err, errlen);
	return ret == -ETIMEDOUT ? ret : ret ? -EIO : 0;
}

int ch_insert(struct sv_ch *ch, const char *table, const char *cols, int64_t key,
	      const struct sb *rows)
{
	int i, n = key < 0 ? ch->n_shards : 1, ret = -EIO;
	uint64_t k;
	char err[256];
	struct sb sql;

	sb_init(&sql);
	sb_printf(&sql, "INSERT INTO %s_local%s%s%s FORMAT TabSeparated", table, cols ? " (" : "",
		  cols ? cols : "", cols ? ")" : "");
	if (sb_failed(&sql) || sb_failed(rows)) {
		sb_free(&sql);
		return -ENOMEM;
	}
	/* One shard's local table: one block, stored whole or not at all. The next shard only
	 * if this one was not even reached: one that went away during the insert may have
	 * stored it (ingest.c's next try counts the records before inserting them again). */
	k = key < 0 ? (unsigned int)__atomic_fetch_add(&ch->next, 1, __ATOMIC_RELAXED) :
		      (uint64_t)key;
	for (i = 0; i < n && (i == 0 || ret == -ECONNREFUSED); i++)
		ret = request(ch, (int)((k + i) % (uint64_t)ch->n_shards), sql.buf, rows, NULL,
			      err, sizeof(err));
	ret = ret ? -EIO : 0;
	if (ret)
		pr_warn("clickhouse: inserting into %s: %s\n", table, err);
	sb_free(&sql);
	return ret;
}

void ch_quote(struct sb *s, const char *text)
{
	sb_putc(s, '\'');
	for (; text && *text; text++) {
		if (*text == '\'' || *text == '\\')
			sb_putc(s, '\\');
		sb_putc(s, *text);
	}
	sb_putc(s, '\'');
}

void ch_tsv(struct sb *s, const char *text)
{
	for (; text && *text; text++) {
		if (*text == '\t')
			sb_puts(s, "\\t");
		else if (*text == '\n')
			sb_puts(s, "\\n");
		else if (*text == '\\')
			sb_puts(s, "\\\\");
		else
			sb_putc(s, *text);
	}
}

void ch_rows_init(struct ch_rows *r, struct sb *answer)
{
	r->p = answer->buf;
	r->end = answer->buf ? answer->buf + answer->len : NULL;
	r->n = 0;
}

/* Unescapes one field in place, up to a tab or newline; returns the separator's place. */
static char *field(char *p, char *end)
{
	char *w = p;

	while (p < end && *p != '\t' && *p != '\n') {
		if (*p == '\\' && p + 1 < end) {
			p++;
			*w++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p == '0' ? '\0' : *p;
			p++;
			continue;
		}
		*w++ = *p++;
	}
	if (w < p)
		*w = 0;
	return p;
}

int ch_next(struct ch_rows *r)
{
	char *sep, c;

	r->n = 0;
	if (!r->p || r->p >= r->end)
		return 0;
	do {
		sep = field(r->p, r->end);
		c = sep < r->end ? *sep : '\n';
		if (r->n < (int)(sizeof(r->f) / sizeof(r->f[0])))
			r->f[r->n++] = r->p;
		if (sep < r->end)
			*sep = 0;
		r->p = sep + 1;
	} while (c == '\t');
	return 1;
}

int64_t ch_new_id(int64_t now_ns)
{
	uint16_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint16_t)now_ns;
	return (now_ns / 1000000) * 1024 + (rnd & 1023);
}

/* Takes "clickhouse[s]://[USER[:PASSWORD]@]HOST:PORT/DB" apart into shard k. */
static int parse_place(struct sv_ch *ch, int k, const char *place, const char *password,
		       char *err, size_t errlen)
{
	const char *rest, *at, *slash, *colon;
	struct ch_shard *sh = &ch->shard[k];
	int tls = !strncmp(place, "clickhouses://", 14);
	char db[64];

	rest = place + (tls ? 14 : 13);
	slash = strchr(rest, '/');
	at = memchr(rest, '@', slash ? (size_t)(slash - rest) : strlen(rest));
	if (!slash || !slash[1] || strlen(slash + 1) >= sizeof(db) ||
	    strspn(slash + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
		    strlen(slash + 1)) {
		snprintf(err, errlen, "%s: expected clickhouse://[USER[:PASSWORD]@]HOST:PORT/DB",
			 place);
		return -EINVAL;
	}
	snprintf(db, sizeof(db), "%s", slash + 1);
	if (k && strcmp(db, ch->db)) {
		snprintf(err, errlen, "every --store names the same database");
		return -EINVAL;
	}
	snprintf(ch->db, sizeof(ch->db), "%s", db);
	if (at) {
		colon = memchr(rest, ':', at - rest);
		sh->user = strndup(rest, (colon ? colon : at) - rest);
		sh->password = colon ? strndup(colon + 1, at - colon - 1) : NULL;
		rest = at + 1;
	}
	if (password) {
		free(sh->password);
		sh->password = strdup(password);
		if (!sh->user)
			sh->user = strdup("default");
	}
	if (asprintf(&sh->url, "%s://%.*s/", tls ? "https" : "http", (int)(slash - rest), rest) <
	    0)
		sh->url = NULL;
	return sh->url ? 0 : -ENOMEM;
}

static void ch_close(struct sv_store *st)
{
	struct sv_ch *ch = sv_ch(st);
	int i;

	for (i = 0; i < ch->n_shards; i++) {
		free(ch->shard[i].url);
		free(ch->shard[i].user);
		free(ch->shard[i].password);
	}
	free(ch);
}

static int ch_open(const struct sv_store_cfg *cfg, struct sv_store **out, char *err,
		   size_t errlen)
{
	struct sv_ch *ch;
	uint64_t rnd = 0;
	int i, ret = 0;

	if (cfg->n_places > CH_MAX_SHARDS) {
		snprintf(err, errlen, "at most %d --store places", CH_MAX_SHARDS);
		return -EINVAL;
	}
	if (cfg->n_places > 1 && !cfg->cluster) {
		snprintf(err, errlen, "several --store places are a cluster's shards: name it "
				      "with --store-cluster");
		return -EINVAL;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (i = 0; i < cfg->n_places && !ret; i++, ch->n_shards++)
		ret = parse_place(ch, i, cfg->places[i], cfg->password, err, errlen);
	if (!ret && cfg->cluster) {
		if (strlen(cfg->cluster) >= sizeof(ch->cluster) ||
		    strspn(cfg->cluster, "abcdefghijklmnopqrstuvwxyz0123456789_-ABCDEFGHIJKLMNOPQRSTUVWXYZ") !=
			    strlen(cfg->cluster)) {
			snprintf(err, errlen, "%s: not a cluster name", cfg->cluster);
			ret = -EINVAL;
		} else {
			snprintf(ch->cluster, sizeof(ch->cluster), "%s", cfg->cluster);
		}
	}
	/* A post restarted after dying mid-batch finds its own claim, not a stranger's. */
	if (cfg->writer) {
		rnd = 1469598103934665603ULL; /* FNV-1a */
		for (const char *p = cfg->writer; *p; p++)
			rnd = (rnd ^ (unsigned char)*p) * 1099511628211ULL;
	} else if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		rnd = (uint64_t)(uintptr_t)ch;
	}
	snprintf(ch->post_id, sizeof(ch->post_id), "%016llx", (unsigned long long)rnd);
	if (!ret)
		ret = ch_schema(ch, err, errlen);
	if (ret) {
		ch_close(&ch->base);
		return ret;
	}
	*out = &ch->base;
	return 0;
}

const struct sv_store_ops sv_clickhouse_ops = {
	.scheme = "clickhouse",
	.open = ch_open,
	.close = ch_close,
	.ingest = ch_ingest,
	.prune = ch_prune,
	.rollup = ch_rollup,
	.size = ch_size,
	.box_count = ch_box_count,
	.boxes = ch_boxes,
	.flows = ch_flows,
	.series = ch_series,
	.drop_series = ch_drop_series,
	.drop_flows = ch_drop_flows,
	.top = ch_top,
	.alert_put = ch_alert_put,
	.alerts = ch_alerts,
	.paths_write = ch_paths_write,
	.paths = ch_paths,
	.path_links = ch_path_links,
	.tap_add = ch_tap_add,
	.tap_del = ch_tap_del,
	.taps = ch_taps,
	.tap_report = ch_tap_report,
	.beat = ch_beat,
	.feed = ch_feed,
};
