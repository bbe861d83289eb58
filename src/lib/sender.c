// SPDX-License-Identifier: GPL-2.0
/* The pieces sender threads share; see sender.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sender.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000

unsigned long long sv_mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * SV_NS_PER_SEC + ts.tv_nsec;
}

void sv_backoff_seed(struct sv_backoff *b, unsigned long long seed)
{
	b->ms = 0;
	b->rnd = seed ^ 0x9e3779b97f4a7c15ull; /* xorshift must never start at 0 */
}

unsigned int sv_backoff_next(struct sv_backoff *b, unsigned int cap_ms)
{
	unsigned int ms;

	b->ms = b->ms ? b->ms * 2 : BACKOFF_MIN_MS;
	if (b->ms > BACKOFF_MAX_MS)
		b->ms = BACKOFF_MAX_MS;
	b->rnd ^= b->rnd << 13;
	b->rnd ^= b->rnd >> 7;
	b->rnd ^= b->rnd << 17;
	ms = b->ms / 2 + b->rnd % (b->ms / 2 + 1);
	return cap_ms && ms > cap_ms ? cap_ms : ms;
}

int sv_ratelimit(unsigned long long *last, unsigned long long now)
{
	if (*last && now - *last < SV_LOG_EVERY_NS)
		return 0;
	*last = now;
	return 1;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct sv_curl *h = ctx;
	size_t len = size * n, room = sizeof(h->resp) - 1 - h->resp_len;

	if (len < room)
		room = len;
	memcpy(h->resp + h->resp_len, p, room);
	h->resp_len += room;
	h->resp[h->resp_len] = 0;
	return len;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct sv_curl *h = ctx;

	return h->abort && __atomic_load_n(h->abort, __ATOMIC_RELAXED);
}

int sv_curl_init(struct sv_curl *h, const char *url, const char *const *headers,
		 const char *user_agent, const int *abort)
{
	struct curl_slist *n;

	memset(h, 0, sizeof(*h));
	h->abort = abort;
	for (; *headers; headers++) {
		n = curl_slist_append(h->hdrs, *headers);
		if (!n)
			goto fail;
		h->hdrs = n;
	}
	h->c = curl_easy_init();
	if (!h->c)
		goto fail;
	curl_easy_setopt(h->c, CURLOPT_URL, url);
	curl_easy_setopt(h->c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(h->c, CURLOPT_USERAGENT, user_agent);
	curl_easy_setopt(h->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h->c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h->c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h->c, CURLOPT_XFERINFODATA, h);
	curl_easy_setopt(h->c, CURLOPT_ERRORBUFFER, h->errbuf);
	return 0;
fail:
	sv_curl_free(h);
	return -ENOMEM;
}

CURLcode sv_curl_post(struct sv_curl *h, const char *body, size_t len)
{
	CURLcode rc;

	h->status = 0;
	h->resp_len = 0;
	h->resp[0] = h->errbuf[0] = 0;
	curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc = curl_easy_perform(h->c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &h->status);
	return rc;
}

const char *sv_curl_says(struct sv_curl *h)
{
	char *p = h->resp;

	p[strcspn(p, "\r\n")] = 0;
	return *p ? p : "no answer";
}

void sv_curl_unix(struct sv_curl *h, const char *path)
{
	curl_easy_setopt(h->c, CURLOPT_UNIX_SOCKET_PATH, path);
	h->unix_socket = 1;
}

const char *sv_curl_why(struct sv_curl *h, CURLcode rc)
{
	long oserr = 0;

	/* curl names "localhost port 80" for a unix socket: the OS's reason says more. */
	if (h->unix_socket && rc == CURLE_COULDNT_CONNECT &&
	    curl_easy_getinfo(h->c, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK && oserr)
		snprintf(h->errbuf, sizeof(h->errbuf), "cannot connect: %s", strerror(oserr));
	return h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
}

void sv_curl_free(struct sv_curl *h)
{
	if (h->c)
		curl_easy_cleanup(h->c);
	curl_slist_free_all(h->hdrs);
	h->c = NULL;
	h->hdrs = NULL;
}

void sv_sender_wait(pthread_cond_t *cond, pthread_mutex_t *lock, unsigned long long due_ns)
{
	struct timespec ts;

	if (!due_ns) {
		pthread_cond_wait(cond, lock);
		return;
	}
	ts.tv_sec = due_ns / SV_NS_PER_SEC;
	ts.tv_nsec = due_ns % SV_NS_PER_SEC;
	pthread_cond_timedwait(cond, lock, &ts);
}

int sv_url_http(const char *url, CURLU **out, const char **why)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	CURLUcode rc;

	*out = NULL;
	if (!u)
		return -ENOMEM;
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc != CURLUE_OK)
		*why = curl_url_strerror(rc);
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") && strcmp(scheme, "https")))
		*why = "the scheme must be http or https";
	else
		*out = u;
	curl_free(scheme);
	if (*out)
		return 0;
	curl_url_cleanup(u);
	return -EINVAL;
}

/* Whatever ends up in an HTTP header must not end it or split it. */
static int header_safe(const char *t, int any_text)
{
	const unsigned char *p = (const unsigned char *)t;

	for (; *p; p++)
		if (any_text ? *p < 0x20 || *p == 0x7f : *p < 0x21 || *p > 0x7e)
			return 0;
	return p != (const unsigned char *)t && p - (const unsigned char *)t <= SV_TOKEN_MAX;
}

int sv_auth_header(const char *scheme, const char *token, int any_text, char **out)
{
	static const char hdr[] = "Authorization: ";

	*out = NULL;
	if (!header_safe(token, any_text))
		return -EINVAL;
	*out = malloc(sizeof(hdr) + strlen(scheme) + 1 + strlen(token));
	if (!*out)
		return -ENOMEM;
	sprintf(*out, "%s%s %s", hdr, scheme, token);
	return 0;
}
