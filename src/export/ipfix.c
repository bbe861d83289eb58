// SPDX-License-Identifier: GPL-2.0
/* IPFIX export to a collector; see ipfix.h, and ipfix_msg.c for the encoding.
 *
 * Everything runs on the event loop's thread, so every wait is bounded: a TCP connect waits
 * at most CONNECT_WAIT_MS per scan, and all sends of a scan wait at most SEND_BUDGET_MS
 * together (a UDP send that finds the socket full at most SEND_WAIT_MS of it). A TCP message
 * that could not be written whole in time ends the connection (the stream would be cut
 * mid-message); the next one is tried with backoff, and gets the templates again.
 *
 * The sequence number counts every data record the exporter built, sent or not, so a
 * collector's sequence check shows exactly the records lost on the way. */
#define _GNU_SOURCE /* POLLRDHUP */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include "ipfix.h"
#include "ipfix_msg.h"
#include "log.h"

#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull
#define SEND_WAIT_MS 50 /* a UDP socket that is full right now */
#define SEND_BUDGET_MS 1000 /* all TCP sends of one scan */
#define CONNECT_WAIT_MS 200 /* a TCP connect, once per scan; then it goes on in the background */
#define CONNECT_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define TMPL_EVERY_MSGS 100 /* UDP: templates again after this many messages too */
#define LOG_EVERY_NS (60 * NS_PER_SEC)

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };

struct sv_ipfix {
	struct sv_ipfix_target t;
	__u32 domain;
	__u32 pen;
	size_t mtu;
	__u64 tmpl_interval_ns;
	int tmpl_fit; /* templates and a record fit one message */
	int fd;

	/* TCP only. */
	enum conn_state state;
	__u64 connect_ns, next_try_ns;
	unsigned int backoff_ms;
	int said_down; /* a warning said the collector is unreachable */

	/* Templates: when they last went out (UDP), whether on this connection (TCP). */
	int tmpl_sent;
	__u64 tmpl_ns;
	unsigned int msgs_since_tmpl;

	/* The message being built and the scan it belongs to. */
	__u8 *buf;
	struct sv_ipfix_msg m;
	int open;
	int scan_msgs; /* messages sent (or tried) in this scan */
	__u64 deadline_ns; /* end of this scan's TCP send budget */
	__u32 seq;

	struct sv_ipfix_stats st;
	unsigned long long err_unsaid;
	__u64 err_logged_ns;
};

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* --- the target ------------------------------------------------------------------- */

/* Splits HOST:PORT or [HOST]:PORT in place; returns the host, sets *port. */
static char *split_host_port(char *s, char **port)
{
	char *colon;

	if (*s == '[') {
		colon = strchr(s, ']');
		if (!colon || colon[1] != ':')
			return NULL;
		*colon = 0;
		*port = colon + 2;
		return s + 1;
	}
	colon = strrchr(s, ':');
	if (!colon || memchr(s, ':', colon - s))
		return NULL; /* no port, or an IPv6 address without brackets */
	*colon = 0;
	*port = colon + 1;
	return s;
}

static int valid_port(const char *p)
{
	char *end;
	long v;

	if (*p < '0' || *p > '9')
		return 0;
	v = strtol(p, &end, 10);
	return !*end && v >= 1 && v <= 65535;
}

static int resolve(const char *opt, const char *s, const char *host, const char *port,
		   struct sv_ipfix_target *t)
{
	struct addrinfo hints = {
		.ai_socktype = t->tcp ? SOCK_STREAM : SOCK_DGRAM,
		.ai_flags = AI_NUMERICSERV,
	}, *ai;
	int err;

	err = getaddrinfo(host, port, &hints, &ai);
	if (err) {
		pr_warn("invalid %s '%s': cannot resolve '%s': %s\n", opt, s, host,
			gai_strerror(err));
		return -EINVAL;
	}
	memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
	t->addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int sv_ipfix_parse_target(const char *opt, const char *s, struct sv_ipfix_target *t)
{
	char buf[sizeof(t->shown)], *host, *port = NULL;
	const char *rest = s;

	memset(t, 0, sizeof(*t));
	if (!strncmp(s, "tcp://", 6)) {
		t->tcp = 1;
		rest = s + 6;
	} else if (!strncmp(s, "udp://", 6)) {
		rest = s + 6;
	}
	if (strlen(s) >= sizeof(buf)) {
		pr_warn("invalid %s: longer than %zu characters\n", opt, sizeof(buf) - 1);
		return -EINVAL;
	}
	snprintf(t->shown, sizeof(t->shown), "%s", s);
	snprintf(buf, sizeof(buf), "%s", rest);
	host = split_host_port(buf, &port);
	if (!host || !*host) {
		pr_warn("invalid %s '%s': expected HOST:PORT, [IPv6]:PORT or tcp://HOST:PORT\n",
			opt, s);
		return -EINVAL;
	}
	if (!valid_port(port)) {
		pr_warn("invalid %s '%s': the port must be a number from 1 to 65535\n", opt, s);
		return -EINVAL;
	}
	return resolve(opt, s, host, port, t);
}

/* --- TCP connection ---------------------------------------------------------------- */

/* err 0: the collector closed the connection. */
static void say_trouble(struct sv_ipfix *x, const char *what, int err)
{
	const char *why = err ? strerror(err) : "the collector closed the connection";

	if (!x->said_down)
		pr_warn("ipfix: %s %s: %s; retrying (records meanwhile are dropped and "
			"counted)\n",
			what, x->t.shown, why);
	x->said_down = 1;
}

/* err as for say_trouble(). */
static void conn_down(struct sv_ipfix *x, const char *what, int err)
{
	__u64 now = mono_ns();

	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	x->state = CONN_DOWN;
	x->next_try_ns = now + x->backoff_ms * NS_PER_MS;
	/* Up to a quarter of jitter: agents restarted together do not reconnect together. */
	x->next_try_ns += (now % (x->backoff_ms / 4 + 1)) * NS_PER_MS;
	x->backoff_ms = x->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : x->backoff_ms * 2;
	say_trouble(x, what, err);
}

static void conn_up(struct sv_ipfix *x)
{
	const char *again = x->st.connects ? " again" : "";

	x->state = CONN_UP;
	x->tmpl_sent = 0; /* a new transport session learns the templates anew */
	x->backoff_ms = BACKOFF_MIN_MS;
	x->st.connects++;
	/* A warning said there was trouble: its end is said at the same level. */
	sv_log(x->said_down ? SV_LOG_WARN : SV_LOG_INFO, "ipfix: connected to %s%s\n",
	       x->t.shown, again);
	x->said_down = 0;
}

static void conn_start(struct sv_ipfix *x)
{
	x->fd = socket(x->t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		conn_down(x, "cannot create a socket for", errno);
		return;
	}
	x->connect_ns = mono_ns();
	if (!connect(x->fd, (struct sockaddr *)&x->t.addr, x->t.addr_len))
		conn_up(x);
	else if (errno == EINPROGRESS)
		x->state = CONN_CONNECTING;
	else
		conn_down(x, "cannot connect to", errno);
}

static void conn_finish(struct sv_ipfix *x, int wait_ms)
{
	struct pollfd p = { .fd = x->fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err = 0;

	if (poll(&p, 1, wait_ms) <= 0) {
		if (mono_ns() - x->connect_ns > CONNECT_TIMEOUT_MS * NS_PER_MS)
			conn_down(x, "cannot connect to", ETIMEDOUT);
		return;
	}
	if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
		conn_down(x, "cannot connect to", err ? err : errno);
	else
		conn_up(x);
}

/* A collector never sends over IPFIX's TCP: readable means it closed or reset. */
static void conn_check(struct sv_ipfix *x)
{
	struct pollfd p = { .fd = x->fd, .events = POLLIN | POLLRDHUP };
	char junk[256];
	ssize_t n;

	if (poll(&p, 1, 0) <= 0)
		return;
	n = recv(x->fd, junk, sizeof(junk), MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_down(x, "lost", n ? errno : 0);
}

/* Brings the connection as far up as it gets within wait_ms. */
static void conn_ensure(struct sv_ipfix *x, int wait_ms)
{
	if (x->state == CONN_UP)
		conn_check(x);
	if (x->state == CONN_DOWN && mono_ns() >= x->next_try_ns)
		conn_start(x);
	if (x->state == CONN_CONNECTING)
		conn_finish(x, wait_ms);
}

/* --- sending ----------------------------------------------------------------------- */

/* Milliseconds left of this scan's send budget, at most max. */
static int budget_ms(const struct sv_ipfix *x, int max)
{
	__u64 now = mono_ns(), left;

	if (now >= x->deadline_ns)
		return 0;
	left = (x->deadline_ns - now + NS_PER_MS - 1) / NS_PER_MS;
	return left < (__u64)max ? (int)left : max;
}

static int wait_out(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return ms > 0 && poll(&p, 1, ms) > 0 ? 0 : -ETIMEDOUT;
}

static int send_udp(struct sv_ipfix *x, const __u8 *buf, size_t len)
{
	ssize_t n;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		n = sendto(x->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&x->t.addr,
			   x->t.addr_len);
		if (n == (ssize_t)len)
			return 0;
		if (n >= 0)
			return -EMSGSIZE;
		if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
			return -errno;
		if (errno != EINTR && wait_out(x->fd, budget_ms(x, SEND_WAIT_MS)))
			return -EAGAIN;
	}
	return -EAGAIN;
}

/* The whole message or an error; a part sent means the connection must go. */
static int send_tcp(struct sv_ipfix *x, const __u8 *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(x->fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (wait_out(x->fd, budget_ms(x, SEND_BUDGET_MS)))
			return -ETIMEDOUT;
	}
	return 0;
}

static void say_send_error(struct sv_ipfix *x, int err)
{
	__u64 now = mono_ns();

	x->err_unsaid++;
	if (x->err_logged_ns && now - x->err_logged_ns < LOG_EVERY_NS)
		return;
	pr_warn("ipfix: cannot send to %s: %s (%llu messages failed since the last such "
		"line; their records are dropped and counted)\n",
		x->t.shown, strerror(-err), x->err_unsaid);
	x->err_logged_ns = now;
	x->err_unsaid = 0;
}

/* Sends the message built so far; its records count as sent or as dropped. */
static void send_msg(struct sv_ipfix *x)
{
	unsigned int recs = x->m.records;
	size_t len = sv_ipfix_msg_finish(&x->m, time(NULL), x->seq, x->domain);
	int err;

	x->open = 0;
	x->seq += recs;
	if (!x->scan_msgs++)
		x->deadline_ns = mono_ns() + SEND_BUDGET_MS * NS_PER_MS;
	if (x->t.tcp && x->state != CONN_UP) {
		x->st.dropped += recs;
		return;
	}
	err = x->t.tcp ? send_tcp(x, x->buf, len) : send_udp(x, x->buf, len);
	if (err) {
		x->st.send_errors++;
		x->st.dropped += recs;
		if (x->t.tcp)
			conn_down(x, "lost", -err);
		else
			say_send_error(x, err);
		return;
	}
	x->st.messages++;
	x->st.records += recs;
	x->msgs_since_tmpl++;
	if (x->m.templates) {
		x->tmpl_sent = 1;
		x->tmpl_ns = mono_ns();
		x->msgs_since_tmpl = 0;
	}
}

static int templates_due(const struct sv_ipfix *x)
{
	if (!x->tmpl_sent)
		return 1;
	if (x->t.tcp) /* once per connection: TCP delivers them */
		return 0;
	return x->msgs_since_tmpl >= TMPL_EVERY_MSGS ||
	       mono_ns() - x->tmpl_ns >= x->tmpl_interval_ns;
}

/* Bytes of the longest template record. */
static size_t template_max(void)
{
	size_t max = 0;
	int t;

	for (t = 0; t < SV_TMPL_MAX; t++)
		if (sv_ipfix_template_len(t) > max)
			max = sv_ipfix_template_len(t);
	return max;
}

/* A new message, its enterprise elements under the configured enterprise number. */
static void msg_begin(struct sv_ipfix *x)
{
	sv_ipfix_msg_begin(&x->m, x->buf, x->mtu);
	x->m.pen = x->pen;
}

/* The templates in a message of their own, or one message each when together they pass
 * the mtu (one always fits: sv_ipfix_open checks). */
static void send_templates(struct sv_ipfix *x)
{
	int t;

	msg_begin(x);
	if (!sv_ipfix_msg_add_templates(&x->m)) {
		x->open = 1;
		send_msg(x);
		return;
	}
	for (t = 0; t < SV_TMPL_MAX; t++) {
		msg_begin(x);
		sv_ipfix_msg_add_template(&x->m, t);
		x->open = 1;
		send_msg(x);
	}
}

static void begin_msg(struct sv_ipfix *x)
{
	if (x->t.tcp)
		conn_ensure(x, x->scan_msgs ? 0 : CONNECT_WAIT_MS);
	if (templates_due(x) && !x->tmpl_fit)
		send_templates(x);
	msg_begin(x);
	if (templates_due(x))
		sv_ipfix_msg_add_templates(&x->m);
	x->open = 1;
}

int sv_ipfix_flow(void *ctx, const struct sv_flow_key *k, const struct sv_rec *r)
{
	struct sv_ipfix *x = ctx;

	if (!x->open)
		begin_msg(x);
	if (!sv_ipfix_msg_add_record(&x->m, k, r))
		return 0;
	send_msg(x);
	begin_msg(x);
	if (sv_ipfix_msg_add_record(&x->m, k, r)) {
		x->st.dropped++; /* cannot happen: open() checked a record fits */
		x->seq++;
	}
	return 0;
}

void sv_ipfix_end(struct sv_ipfix *x)
{
	if (x->open) {
		send_msg(x);
	} else {
		/* A quiet box still reconnects, and keeps the collector's templates alive. */
		if (x->t.tcp)
			conn_ensure(x, x->scan_msgs ? 0 : CONNECT_WAIT_MS);
		if (templates_due(x) && (!x->t.tcp || x->state == CONN_UP))
			send_templates(x);
	}
	x->scan_msgs = 0;
}

/* --- open, start, close ---------------------------------------------------------- */

int sv_ipfix_open(const struct sv_ipfix_cfg *cfg, struct sv_ipfix **out)
{
	struct sv_ipfix *x = calloc(1, sizeof(*x));
	size_t fit = SV_IPFIX_HDR_LEN + SV_IPFIX_SET_HDR_LEN + sv_ipfix_record_max();

	*out = x;
	if (!x)
		return -ENOMEM;
	x->t = *cfg->target;
	x->fd = -1;
	x->domain = cfg->domain;
	x->pen = cfg->pen ? cfg->pen : SV_IPFIX_PEN;
	x->mtu = cfg->mtu;
	x->tmpl_interval_ns = (__u64)cfg->template_interval * NS_PER_SEC;
	x->tmpl_fit = fit + sv_ipfix_templates_len() <= x->mtu;
	x->backoff_ms = BACKOFF_MIN_MS;
	if (fit > x->mtu || SV_IPFIX_HDR_LEN + SV_IPFIX_SET_HDR_LEN + template_max() > x->mtu) {
		pr_warn("--ipfix-mtu %zu is too small for a record\n", x->mtu);
		return -EINVAL;
	}
	x->buf = malloc(x->mtu);
	if (!x->buf)
		return -ENOMEM;
	if (x->t.tcp)
		return 0;
	x->fd = socket(x->t.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		pr_warn("ipfix: cannot create a UDP socket: %s\n", strerror(errno));
		return -errno;
	}
	return 0;
}

void sv_ipfix_start(struct sv_ipfix *x)
{
	if (x->t.tcp) {
		conn_ensure(x, CONNECT_TIMEOUT_MS / 5);
		if (x->state == CONN_CONNECTING)
			say_trouble(x, "still connecting to", ETIMEDOUT);
	}
	if (!x->t.tcp || x->state == CONN_UP) {
		send_templates(x);
		x->scan_msgs = 0;
	}
	pr_info("ipfix: exporting to %s (%s), observation domain %u, messages of at most %zu "
		"bytes\n",
		x->t.shown, x->t.tcp ? "TCP" : "UDP", x->domain, x->mtu);
}

void sv_ipfix_get_stats(const struct sv_ipfix *x, struct sv_ipfix_stats *st)
{
	*st = x->st;
}

void sv_ipfix_close(struct sv_ipfix *x)
{
	if (!x)
		return;
	if (x->err_unsaid)
		pr_warn("ipfix: %llu more messages failed to send\n", x->err_unsaid);
	if (x->fd >= 0)
		close(x->fd); /* TCP: the kernel still delivers what is queued */
	free(x->buf);
	free(x);
}
