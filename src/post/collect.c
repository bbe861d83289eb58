// SPDX-License-Identifier: GPL-2.0
/* The IPFIX / NetFlow v9 collector; see collect.h.
 *
 * One thread reads the socket and parses each message (ipfix_parse.c); a message's flow
 * records become one batch, stored with sv_store_ingest like an agent's, from this thread's
 * own database connection. The batch id is the message's identity: version, exporter port,
 * observation domain, export time, sequence number and a hash of its bytes. A datagram the
 * network duplicated is therefore stored once, while two distinct messages never share an
 * id, even from exporters whose sequence numbers stand still. UDP cannot be retried, so what
 * cannot be stored is counted, as is what the kernel dropped from a full receive buffer. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include "thread.h"
#include "collect.h"
#include "log.h"
#include "timeparse.h"

#define NS 1000000000LL
#define WARN_EVERY_NS (60 * NS)
#define MAX_EXPORTERS 1024
#define MAX_IFACES 256 /* remembered per exporter for its box's interface list */
#define RCVBUF (8 << 20)
#define BURST 256 /* datagrams read between looks at the stop event */

/* An --ipfix-allow range, IPv4 as v4-mapped IPv6 like the sources. */
struct allow {
	uint8_t net[16];
	unsigned int prefix;
};

/* What the site knows of an exporter: the interfaces its records named so far. */
struct exporter {
	struct exporter *next;
	uint8_t addr[16];
	char ifaces[MAX_IFACES][SV_IFNAME_MAX];
	int n;
};

struct sv_collect {
	int fd, stop_fd;
	pthread_t thread;
	struct sv_store *store;
	struct sv_ipfix_cache *cache;
	struct sv_batch batch;
	struct exporter *exporters;
	int n_exporters;
	uint32_t kernel_drops; /* SO_RXQ_OVFL: dropped since the socket opened */
	int64_t warn_ns, no_tmpl_warn_ns;
	uint64_t bad_msgs;
	pthread_mutex_t lock; /* guards stats */
	struct sv_ipfix_stats stats;
	struct allow *allow; /* none: any exporter */
	int n_allow;
	uint8_t buf[65536];
};

static const char *const why[SV_IPFIX_MSG_N] = {
	[SV_IPFIX_MSG_TRUNCATED] = "shorter than a header or than its header says",
	[SV_IPFIX_MSG_BAD_VERSION] = "neither IPFIX (10) nor NetFlow v9",
	[SV_IPFIX_MSG_BAD_LENGTH] = "its length is shorter than its header",
	[SV_IPFIX_MSG_BAD_SET] = "a set length is below 4 or past the message's end",
	[SV_IPFIX_MSG_STORE_ERROR] = "the database refused its records",
	[SV_IPFIX_MSG_NOMEM] = "out of memory",
	[SV_IPFIX_MSG_NOT_ALLOWED] = "the address is not in --ipfix-allow",
};

static int parse_allow(const char *text, struct allow *a)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned long prefix;
	char *end;
	int v4;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = 0;
	memset(a, 0, sizeof(*a));
	v4 = inet_pton(AF_INET, buf, a->net + 12) == 1;
	if (v4)
		a->net[10] = a->net[11] = 0xff;
	else if (inet_pton(AF_INET6, buf, a->net) != 1)
		return -EINVAL;
	prefix = v4 ? 32 : 128;
	if (slash) {
		prefix = strtoul(slash, &end, 10);
		if (!*slash || *end || prefix > (v4 ? 32u : 128u))
			return -EINVAL;
	}
	a->prefix = prefix + (v4 ? 96 : 0);
	return 0;
}

int sv_collect_check(const struct sv_collect_cfg *cfg)
{
	struct allow a;
	int i;

	for (i = 0; i < cfg->n_allow; i++)
		if (parse_allow(cfg->allow[i], &a)) {
			pr_warn("invalid --ipfix-allow '%s': expected ADDR[/LEN]\n", cfg->allow[i]);
			return -EINVAL;
		}
	return 0;
}

static int allowed(const struct sv_collect *c, const uint8_t *addr)
{
	const struct allow *a;
	unsigned int i, bits;
	int k;

	for (k = 0; k < c->n_allow; k++) {
		a = &c->allow[k];
		for (i = 0, bits = a->prefix; bits >= 8 && a->net[i] == addr[i]; i++, bits -= 8)
			;
		if (bits < 8 && (!bits || !((a->net[i] ^ addr[i]) & (0xff00 >> bits))))
			return 1;
	}
	return !c->n_allow;
}

static void src_of(const struct sockaddr_storage *sa, struct sv_ipfix_src *src)
{
	memset(src, 0, sizeof(*src));
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		memcpy(src->addr, &s6->sin6_addr, 16);
		src->port = ntohs(s6->sin6_port);
	} else if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		src->addr[10] = src->addr[11] = 0xff;
		memcpy(src->addr + 12, &s4->sin_addr, 4);
		src->port = ntohs(s4->sin_port);
	}
}

/* IPv4 (also when it came v4-mapped to a v6 socket) as a.b.c.d. */
static void addr_text(const uint8_t *addr, char *out, size_t len)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (!memcmp(addr, mapped, 12))
		inet_ntop(AF_INET, addr + 12, out, len);
	else
		inet_ntop(AF_INET6, addr, out, len);
}

static uint64_t fnv64(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	while (n--)
		h = (h ^ *p++) * 1099511628211ull;
	return h;
}

static struct exporter *exporter_get(struct sv_collect *c, const uint8_t *addr,
				     const char *text, const char *box, unsigned int version)
{
	struct exporter *e;

	for (e = c->exporters; e; e = e->next)
		if (!memcmp(e->addr, addr, 16))
			return e;
	/* Past the bound (spoofed sources?) a box's interfaces are those of its message. */
	if (c->n_exporters >= MAX_EXPORTERS || !(e = calloc(1, sizeof(*e))))
		return NULL;
	memcpy(e->addr, addr, 16);
	e->next = c->exporters;
	c->exporters = e;
	if (++c->n_exporters == MAX_EXPORTERS)
		pr_warn("ipfix: %d exporters: more get no interface list\n", MAX_EXPORTERS);
	pr_info("ipfix: %s from %s: box %s\n", version == 10 ? "IPFIX" : "NetFlow v9", text, box);
	return e;
}

/* Adds name to the sorted list (if0, if2, if10, ...) unless it is there or full. */
static void iface_add(char (*list)[SV_IFNAME_MAX], int *n, const char *name)
{
	int i, cmp = 1;

	for (i = 0; i < *n && (cmp = strverscmp(list[i], name)) < 0; i++)
		;
	if ((i < *n && !cmp) || *n == MAX_IFACES)
		return;
	memmove(list[i + 1], list[i], (*n - i) * sizeof(list[0]));
	strcpy(list[i], name);
	(*n)++;
}

/* The box's interfaces: every one its records named so far. */
static void interfaces(struct exporter *e, struct sv_batch *b)
{
	char tmp[MAX_IFACES][SV_IFNAME_MAX];
	char (*list)[SV_IFNAME_MAX] = e ? e->ifaces : tmp;
	int n = e ? e->n : 0, i;
	size_t k;
	struct sb s;

	for (k = 0; k < b->n; k++)
		iface_add(list, &n, b->recs[k].iface);
	if (e)
		e->n = n;
	sb_init(&s);
	sb_putc(&s, '[');
	for (i = 0; i < n; i++) {
		if (i)
			sb_putc(&s, ',');
		sb_json_str(&s, list[i]);
	}
	sb_putc(&s, ']');
	snprintf(b->interfaces, sizeof(b->interfaces), "%s",
		 sb_failed(&s) || s.len >= sizeof(b->interfaces) ? "[]" : s.buf);
	sb_free(&s);
}

/* The records of a message as one batch of the exporter's box. */
static enum sv_ipfix_msg store(struct sv_collect *c, const struct sv_ipfix_src *src,
			       const struct sv_ipfix_hdr *h, size_t len,
			       struct sv_ipfix_stats *st)
{
	struct sv_batch *b = &c->batch;
	char addr[INET6_ADDRSTRLEN];
	int dup = 0;

	addr_text(src->addr, addr, sizeof(addr));
	snprintf(b->box, sizeof(b->box), "ipfix:%s", addr);
	snprintf(b->batch_id, sizeof(b->batch_id), "v%u-%u-%u-%u-%u-%016llx", h->version,
		 src->port, h->domain, h->export_secs, h->seq,
		 (unsigned long long)fnv64(c->buf, len));
	snprintf(b->agent_version, sizeof(b->agent_version), "%s",
		 h->version == 10 ? "ipfix" : "netflow-v9");
	/* Records dated beyond the skew ahead, or older than the retention, are not stored: the
	 * one would stay past the retention, the other go at the next pruning. */
	st->recs[SV_IPFIX_REC_OUT_OF_RANGE] += sv_store_date_check(c->store, b, sv_now_ns());
	if (!b->n)
		return SV_IPFIX_MSG_OK;
	interfaces(exporter_get(c, src->addr, addr, b->box, h->version), b);
	if (sv_store_ingest(c->store, b, sv_now_ns(), &dup)) {
		st->recs[SV_IPFIX_REC_DROPPED] += b->n;
		return SV_IPFIX_MSG_STORE_ERROR;
	}
	st->recs[dup ? SV_IPFIX_REC_DUPLICATE : SV_IPFIX_REC_STORED] += b->n;
	return dup ? SV_IPFIX_MSG_DUPLICATE : SV_IPFIX_MSG_OK;
}

/* One line a minute at most, so a flood of garbage cannot flood the log. */
static void report(struct sv_collect *c, const struct sv_ipfix_src *src, enum sv_ipfix_msg res,
		   const struct sv_ipfix_stats *st)
{
	int bad = res != SV_IPFIX_MSG_OK && res != SV_IPFIX_MSG_DUPLICATE;
	int64_t now;
	char addr[INET6_ADDRSTRLEN];

	if (!bad && !st->sets[SV_IPFIX_SET_NO_TEMPLATE])
		return;
	now = sv_now_ns();
	addr_text(src->addr, addr, sizeof(addr));
	if (bad) {
		c->bad_msgs++;
		if (now - c->warn_ns >= WARN_EVERY_NS) {
			c->warn_ns = now;
			pr_warn("ipfix: dropped a message from %s port %u: %s (%llu dropped so far)\n",
				addr, src->port, why[res], (unsigned long long)c->bad_msgs);
		}
	}
	if (st->sets[SV_IPFIX_SET_NO_TEMPLATE] && now - c->no_tmpl_warn_ns >= WARN_EVERY_NS) {
		c->no_tmpl_warn_ns = now;
		pr_info("ipfix: data from %s port %u before its template: dropped until the "
			"exporter sends the template\n", addr, src->port);
	}
}

static void one_message(struct sv_collect *c, const struct sockaddr_storage *sa, size_t len)
{
	struct sv_ipfix_stats st = { 0 };
	struct sv_ipfix_src src;
	struct sv_ipfix_hdr hdr;
	enum sv_ipfix_msg res;

	src_of(sa, &src);
	if (!allowed(c, src.addr)) {
		st.msgs[SV_IPFIX_MSG_NOT_ALLOWED]++;
		pthread_mutex_lock(&c->lock);
		sv_ipfix_stats_add(&c->stats, &st);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	res = sv_ipfix_parse(c->cache, &src, c->buf, len, sv_now_ns(), &hdr, &c->batch, &st);
	if (res == SV_IPFIX_MSG_OK && c->batch.n)
		res = store(c, &src, &hdr, len, &st);
	st.msgs[res]++;
	pthread_mutex_lock(&c->lock);
	sv_ipfix_stats_add(&c->stats, &st);
	c->stats.socket_drops = c->kernel_drops;
	pthread_mutex_unlock(&c->lock);
	report(c, &src, res, &st);
}

/* Reads what is queued, up to BURST datagrams. */
static void drain(struct sv_collect *c)
{
	char ctl[CMSG_SPACE(sizeof(uint32_t))];
	struct sockaddr_storage sa = { 0 }; /* recvmsg fills it */
	struct iovec iov = { c->buf, sizeof(c->buf) };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;
	int i;

	for (i = 0; i < BURST; i++) {
		mh = (struct msghdr){ .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov,
				      .msg_iovlen = 1, .msg_control = ctl,
				      .msg_controllen = sizeof(ctl) };
		n = recvmsg(c->fd, &mh, MSG_DONTWAIT);
		if (n < 0)
			return;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL)
				memcpy(&c->kernel_drops, CMSG_DATA(cm), sizeof(uint32_t));
		one_message(c, &sa, n);
	}
}

static void *run(void *arg)
{
	struct sv_collect *c = arg;
	struct pollfd pfd[2] = { { .fd = c->fd, .events = POLLIN },
				 { .fd = c->stop_fd, .events = POLLIN } };

	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
			pr_warn("ipfix: poll: %s; the collector stops\n", strerror(errno));
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents)
			drain(c);
	}
	return NULL;
}

static void free_all(struct sv_collect *c)
{
	struct exporter *e;

	while ((e = c->exporters)) {
		c->exporters = e->next;
		free(e);
	}
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	sv_ipfix_cache_free(c->cache);
	sv_batch_free(&c->batch);
	free(c->allow);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int sv_collect_start(int fd, struct sv_store *st, const struct sv_collect_cfg *cfg,
		     struct sv_collect **out)
{
	struct sv_collect *c = calloc(1, sizeof(*c));
	int one = 1, size = RCVBUF, err, i;

	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->store = st;
	c->allow = cfg->n_allow ? calloc(cfg->n_allow, sizeof(*c->allow)) : NULL;
	if (cfg->n_allow && !c->allow) {
		free(c);
		return -ENOMEM;
	}
	for (i = 0; i < cfg->n_allow; i++)
		parse_allow(cfg->allow[i], &c->allow[i]); /* checked by sv_collect_check */
	c->n_allow = cfg->n_allow;
	pthread_mutex_init(&c->lock, NULL);
	c->stop_fd = eventfd(0, EFD_CLOEXEC);
	err = c->stop_fd < 0 ? -errno : sv_ipfix_cache_new(&c->cache);
	if (err)
		goto fail;
	/* Bursts of exporters' messages wait here while the database is busy; beyond it the
	 * kernel drops, and SO_RXQ_OVFL tells us how many. FORCE needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	err = sv_thread_start(&c->thread, run, c);
	if (err)
		goto fail;
	*out = c;
	return 0;
fail:
	free_all(c);
	return err;
}

static void counts(struct sb *s, const char *what, const uint64_t *v,
		   const char *const *names, int n)
{
	int i, any = 0;

	sb_printf(s, "%s%s", s->len ? "; " : "", what);
	for (i = 0; i < n; i++)
		if (v[i]) {
			sb_printf(s, " %s=%llu", names[i], (unsigned long long)v[i]);
			any = 1;
		}
	if (!any)
		sb_puts(s, " none");
}

void sv_collect_stop(struct sv_collect *c)
{
	struct sv_ipfix_stats st;
	uint64_t one = 1;
	struct sb s;

	if (!c)
		return;
	if (write(c->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(c->thread, NULL);
	sv_collect_stats(c, &st);
	sb_init(&s);
	counts(&s, "messages", st.msgs, sv_ipfix_msg_names, SV_IPFIX_MSG_N);
	counts(&s, "templates", st.tmpls, sv_ipfix_tmpl_names, SV_IPFIX_TMPL_N);
	counts(&s, "data sets", st.sets, sv_ipfix_set_names, SV_IPFIX_SET_N);
	counts(&s, "records", st.recs, sv_ipfix_rec_names, SV_IPFIX_REC_N);
	sb_printf(&s, "; socket drops %llu", (unsigned long long)st.socket_drops);
	if (!sb_failed(&s))
		pr_info("ipfix: %s\n", s.buf);
	sb_free(&s);
	free_all(c);
}

void sv_collect_stats(struct sv_collect *c, struct sv_ipfix_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

static void family(struct sb *s, const char *name, const char *help, const uint64_t *v,
		   const char *const *names, int n)
{
	int i;

	sb_printf(s, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (i = 0; i < n; i++)
		sb_printf(s, "%s{result=\"%s\"} %llu\n", name, names[i], (unsigned long long)v[i]);
}

void sv_collect_metrics(const struct sv_ipfix_stats *st, struct sb *out)
{
	family(out, "sitevisor_post_ipfix_messages_total",
	       "IPFIX and NetFlow v9 messages received, by what became of them.", st->msgs,
	       sv_ipfix_msg_names, SV_IPFIX_MSG_N);
	family(out, "sitevisor_post_ipfix_templates_total",
	       "Template records received, by what became of them.", st->tmpls,
	       sv_ipfix_tmpl_names, SV_IPFIX_TMPL_N);
	family(out, "sitevisor_post_ipfix_data_sets_total",
	       "Data sets received, by what became of them.", st->sets, sv_ipfix_set_names,
	       SV_IPFIX_SET_N);
	family(out, "sitevisor_post_ipfix_records_total",
	       "Data records received, by what became of them.", st->recs, sv_ipfix_rec_names,
	       SV_IPFIX_REC_N);
	sb_printf(out,
		  "# HELP sitevisor_post_ipfix_socket_drops_total Datagrams the kernel dropped "
		  "(receive buffer full).\n# TYPE sitevisor_post_ipfix_socket_drops_total counter\n"
		  "sitevisor_post_ipfix_socket_drops_total %llu\n"
		  "# HELP sitevisor_post_ipfix_templates Templates held now.\n"
		  "# TYPE sitevisor_post_ipfix_templates gauge\nsitevisor_post_ipfix_templates %llu\n",
		  (unsigned long long)st->socket_drops, (unsigned long long)st->templates);
}
