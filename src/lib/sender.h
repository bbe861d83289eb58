/* SPDX-License-Identifier: GPL-2.0 */
/* What the sender threads share (the agent's delivery to the post, the InfluxDB exit): a
 * libcurl handle for POSTs that keeps the answer and can be cut short, backoff with jitter,
 * and messages that repeat at most once a minute. */
#ifndef SV_SENDER_H
#define SV_SENDER_H

#include <stddef.h>
#include <curl/curl.h>
#include <pthread.h>

#define SV_NS_PER_MS 1000000ull
#define SV_NS_PER_SEC 1000000000ull
#define SV_LOG_EVERY_NS (60 * SV_NS_PER_SEC)

unsigned long long sv_mono_now_ns(void);

/* Waits after failures: 1 s doubling to 30 s, each drawn from its upper half so that a
 * site's senders do not all come back at the same instant. */
struct sv_backoff {
	unsigned int ms; /* 0: no failure since the last success */
	unsigned long long rnd;
};

void sv_backoff_seed(struct sv_backoff *b, unsigned long long seed);
/* The next wait in ms, at most cap_ms (0: no cap below 30 s). */
unsigned int sv_backoff_next(struct sv_backoff *b, unsigned int cap_ms);
static inline void sv_backoff_reset(struct sv_backoff *b)
{
	b->ms = 0;
}

/* 1 if a repeated message may go out at now (monotonic ns), and remembers that it did. */
int sv_ratelimit(unsigned long long *last, unsigned long long now);
/* A sender thread's wait, under lock: until signalled, and at the latest (if due_ns is not
 * 0) until the monotonic time due_ns, when the next try is due. */
void sv_sender_wait(pthread_cond_t *cond, pthread_mutex_t *lock, unsigned long long due_ns);

/* A sender thread logs too: one message must not be cut by another thread's. */
#define sv_locked_log(fn, ...)              \
	do {                                \
		flockfile(stderr);          \
		fn(__VA_ARGS__);            \
		funlockfile(stderr);        \
	} while (0)

/* One reused libcurl handle (keep-alive) for POSTs from one thread. */
struct sv_curl {
	CURL *c;
	struct curl_slist *hdrs;
	const int *abort; /* read atomically: non-zero cuts the transfer short */
	int unix_socket; /* to a unix socket (sv_curl_unix) */
	long status; /* the HTTP status of the last answer */
	char resp[256]; /* its first bytes, NUL-terminated */
	size_t resp_len;
	char errbuf[CURL_ERROR_SIZE];
};

/* headers: NULL-terminated "Name: value" lines. Callers may set more options on h->c. */
int sv_curl_init(struct sv_curl *h, const char *url, const char *const *headers,
		 const char *user_agent, const int *abort);
/* CURLE_OK with h->status set, or why the request failed. */
CURLcode sv_curl_post(struct sv_curl *h, const char *body, size_t len);
/* To the unix socket at path instead of the URL's host. */
void sv_curl_unix(struct sv_curl *h, const char *path);
/* The first line of the answer, or "no answer". */
const char *sv_curl_says(struct sv_curl *h);
/* Why a request that did not return CURLE_OK failed, in one line. */
const char *sv_curl_why(struct sv_curl *h, CURLcode rc);
void sv_curl_free(struct sv_curl *h);

#define SV_TOKEN_MAX 4096

/* Parses an http:// or https:// URL: 0 with *out (the caller's to curl_url_cleanup), -EINVAL
 * with *why (for the caller's one line), or -ENOMEM. */
int sv_url_http(const char *url, CURLU **out, const char **why);
/* "Authorization: SCHEME TOKEN" in *out (malloc'd). -EINVAL unless the token has 1 to
 * SV_TOKEN_MAX characters and fits in a header: printable ASCII without spaces, or (any_text)
 * anything but control characters. */
int sv_auth_header(const char *scheme, const char *token, int any_text, char **out);

#endif /* SV_SENDER_H */
