// SPDX-License-Identifier: GPL-2.0
/* What the agent takes from the post (docs/security.md): a mirror is a wiretap, so a rule
 * from the post is applied only with --allow-remote-tap, only towards a destination the box's
 * own --tap-allow-to admits, and only if it names no host (libpcap would resolve a name in
 * the main loop). Everything else is refused with the reason, which the post shows. */
#include "tap_int.h"
#include <errno.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

struct sv_tap_allow {
	char iface[IF_NAMESIZE]; /* iface:NAME; empty for an address range */
	int family;
	unsigned char net[16];
	unsigned int prefix, port; /* port 0: any */
};

/* [ADDR[/LEN]]:PORT, ADDR[/LEN]:PORT (IPv4) or ADDR[/LEN]. */
static int split_port(char *s, char **addr, unsigned long long *port)
{
	char *colon;

	*port = 0;
	*addr = s;
	if (*s == '[') {
		colon = strchr(s, ']');
		if (!colon || (colon[1] && colon[1] != ':'))
			return -EINVAL;
		*colon++ = 0;
		*addr = s + 1;
		return *colon ? sv_parse_num(colon + 1, 1, 65535, port) : 0;
	}
	colon = strchr(s, ':');
	if (!colon || strchr(colon + 1, ':'))
		return 0; /* none, or an IPv6 address */
	*colon = 0;
	return sv_parse_num(colon + 1, 1, 65535, port);
}

static int parse_allow(const char *text, struct sv_tap_allow *a)
{
	char buf[128], *addr, *slash;
	unsigned long long port, prefix;

	memset(a, 0, sizeof(*a));
	if (!strncmp(text, "iface:", 6)) {
		if (!text[6] || strlen(text + 6) >= IF_NAMESIZE)
			return -EINVAL;
		strcpy(a->iface, text + 6);
		return 0;
	}
	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	if (split_port(buf, &addr, &port))
		return -EINVAL;
	slash = strchr(addr, '/');
	if (slash)
		*slash++ = 0;
	a->family = inet_pton(AF_INET, addr, a->net) == 1 ? AF_INET :
		    inet_pton(AF_INET6, addr, a->net) == 1 ? AF_INET6 : 0;
	if (!a->family)
		return -EINVAL;
	prefix = a->family == AF_INET ? 32 : 128;
	if (slash && sv_parse_num(slash, 0, prefix, &prefix))
		return -EINVAL;
	a->prefix = prefix;
	a->port = port;
	return 0;
}

int sv_tap_policy_init(struct sv_tap_policy *p, int remote_ok, const char *const *allow, int n,
		       char *err, size_t len)
{
	int i;

	memset(p, 0, sizeof(*p));
	p->remote_ok = remote_ok;
	if (!n)
		return 0;
	p->allow = calloc(n, sizeof(*p->allow));
	if (!p->allow)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (parse_allow(allow[i], &p->allow[i])) {
			free(p->allow);
			p->allow = NULL;
			return sv_tap_fail(-EINVAL, err, len, "invalid --tap-allow-to '%s': "
					   "CIDR[:PORT], [IPv6CIDR]:PORT or iface:NAME", allow[i]);
		}
	p->n_allow = n;
	return 0;
}

void sv_tap_policy_free(struct sv_tap_policy *p)
{
	free(p->allow);
	p->allow = NULL;
	p->n_allow = 0;
}

static int in_net(const struct sv_tap_allow *a, const struct sockaddr_storage *ss)
{
	const unsigned char *b = ss->ss_family == AF_INET ?
		(const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr :
		(const unsigned char *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	unsigned int i, bits = a->prefix;

	if (ss->ss_family != a->family)
		return 0;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (a->net[i] != b[i])
			return 0;
	return !bits || !((a->net[i] ^ b[i]) & (0xff00 >> bits));
}

static int admitted(const struct sv_tap_policy *p, const struct sv_tap_spec *s)
{
	int i;

	for (i = 0; i < p->n_allow; i++) {
		const struct sv_tap_allow *a = &p->allow[i];

		if (!s->remote ? a->iface[0] && !strcmp(a->iface, s->to) :
				 !a->iface[0] && in_net(a, &s->raddr) &&
					 (!a->port || a->port == s->port))
			return 1;
	}
	return 0;
}

/* Words libpcap knows; any other word of letters in an expression is a name it would look
 * up (a host, a network, a service, a protocol from /etc/protocols). */
static const char *const pcap_words[] = {
	"host", "net", "port", "portrange", "src", "dst", "and", "or", "not", "ip", "ip6",
	"arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "proto", "ether", "vlan",
	"mpls", "less", "greater", "len", "mask", "broadcast", "multicast", "inbound",
	"outbound", "tcpflags", "tcp-fin", "tcp-syn", "tcp-rst", "tcp-push", "tcp-ack",
	"tcp-urg", "icmptype", "icmpcode", "icmp-echoreply", "icmp-unreach", "icmp-echo",
	"icmp6type", "gre", "esp", "ah", "pim", "vrrp", NULL,
};

static int pcap_word(const char *w, size_t n)
{
	int i;

	for (i = 0; pcap_words[i]; i++)
		if (strlen(pcap_words[i]) == n && !strncasecmp(pcap_words[i], w, n))
			return 1;
	return 0;
}

/* The first name in an expression's word, copied into name, or 0 if it has none. Tokens are
 * runs of letters, digits, '-', '_', '.' and ':'; a token with a ':' is an address. */
static int has_name(const char *w, char *name, size_t size)
{
	const char *p = w, *q;

	while (*p) {
		for (; *p && !isalnum((unsigned char)*p) && !strchr("-_.:", *p); p++)
			;
		for (q = p; *q && (isalnum((unsigned char)*q) || strchr("-_.:", *q)); q++)
			;
		if (q > p && isalpha((unsigned char)*p) && !memchr(p, ':', q - p) &&
		    !pcap_word(p, q - p)) {
			snprintf(name, size, "%.*s", (int)(q - p), p);
			return 1;
		}
		p = q;
	}
	return 0;
}

int sv_tap_policy_check(const struct sv_tap_policy *p, int argc, char **argv, char *err,
			size_t len)
{
	struct sv_tap_spec *s;
	char name[64];
	int i, ret;

	if (!p->remote_ok)
		return sv_tap_fail(-EPERM, err, len, "this box takes no tap rules from the post "
				   "(its agent runs without --allow-remote-tap)");
	for (i = 0; i < argc && !strncmp(argv[i], "--", 2); i += 2)
		;
	for (; i < argc; i++)
		if (has_name(argv[i], name, sizeof(name)))
			return sv_tap_fail(-EPERM, err, len,
					   "a rule from the post may not name hosts or services "
					   "('%s'): use addresses and numbers", name);
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = sv_tap_spec_parse(argc, argv, s, err, len);
	if (!ret && !admitted(p, s))
		ret = sv_tap_fail(-EPERM, err, len, "--to %s%s is not in this box's "
				  "--tap-allow-to", s->remote ? "vxlan://" : "",
				  s->remote ? s->rhost : s->to);
	free(s);
	return ret;
}
