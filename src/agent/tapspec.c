// SPDX-License-Identifier: GPL-2.0
/* TAP rule words → struct sv_tap_spec. The match is set by options (--src, --dst, --host,
 * --proto, --sport, --dport, --port, --match-vni) and by a libpcap expression. libpcap
 * compiles the whole expression first, so a typo gets libpcap's own message. An expression
 * of the forms that map onto those fields (host/net/port/portrange with src/dst, ip, ip6,
 * tcp, udp, icmp, icmp6 and proto, joined by "and") becomes fields, matched by the tap
 * program itself; any other ("or", "not", parentheses, other primitives) runs as the rule's
 * own classic filter translated to eBPF (tap.c, cbpf.c). Kept apart from tap.c: pcap.h's
 * struct bpf_program clashes with libbpf's. */
#include "tapspec.h"
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <pcap/pcap.h>

#define fail sv_tap_fail

int sv_tap_fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *const rule_dirs[] = { "in", "out", "both", NULL };

/* The words of a rule, as 'tap add --help' and the man page show them; the number words'
 * ranges below come from here. */
const struct sv_opt sv_tap_rule_opts[] = {
	{ "from", 0, SV_OPT_STR, .metavar = "IFACE", .help = "the interface watched (required)" },
	{ "direction", 0, SV_OPT_ENUM, .words = rule_dirs, .def = "both",
	  .help = "frames the interface receives (in), sends (out), or both" },
	{ "to", 0, SV_OPT_STR, .metavar = "IFACE|vxlan://HOST[:PORT]",
	  .help = "where copies go (required): out of a local interface, or to HOST (an IPv4 "
		  "address or [IPv6]) in VXLAN, port 4789 unless given" },
	{ "vni", 0, SV_OPT_NUM, .min = 0, .max = 0xffffff, .def = "0", .metavar = "N",
	  .help = "with --to vxlan://: the VXLAN network identifier of the copies" },
	{ "snaplen", 0, SV_OPT_NUM, .min = 14, .max = 65535, .metavar = "N",
	  .help = "copies are cut to N bytes (default: whole frames)" },
	{ "rate", 0, SV_OPT_NUM, .min = 1, .max = 100000000, .metavar = "PPS",
	  .help = "at most PPS copies a second, a token bucket holding one second (default: no "
		  "cap)" },
	{ "src", 0, SV_OPT_STR, .metavar = "CIDR",
	  .help = "match the source address: an IPv4 or IPv6 address or prefix" },
	{ "dst", 0, SV_OPT_STR, .metavar = "CIDR", .help = "match the destination address" },
	{ "host", 0, SV_OPT_STR, .metavar = "CIDR", .help = "match either address" },
	{ "proto", 0, SV_OPT_STR, .metavar = "P",
	  .help = "match the IP protocol: tcp, udp, icmp, icmp6, sctp or 0-255" },
	{ "sport", 0, SV_OPT_STR, .metavar = "N[-M]",
	  .help = "match the TCP or UDP source port, or a range" },
	{ "dport", 0, SV_OPT_STR, .metavar = "N[-M]",
	  .help = "match the destination port, or a range" },
	{ "port", 0, SV_OPT_STR, .metavar = "N[-M]", .help = "match either port, or a range" },
	{ "match-vni", 0, SV_OPT_NUM, .min = 0, .max = 0xffffff, .metavar = "N",
	  .help = "only VXLAN frames with VNI N; the other fields then match the inner frame" },
	SV_OPT_END,
};

const struct sv_opt *sv_tap_rule_opt(const char *name)
{
	const struct sv_opt *o;

	for (o = sv_tap_rule_opts; o->name; o++)
		if (!strcmp(o->name, name))
			return o;
	return NULL;
}

/* ADDR or ADDR/LEN, IPv4 or IPv6, into the 16-byte form the kernel side compares. */
static int parse_net(const char *s, struct sv_tap_net *n)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned long long plen;
	struct in_addr a4;
	int v4;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = 0;
	memset(n, 0, sizeof(*n));
	v4 = inet_pton(AF_INET, buf, &a4) == 1;
	if (v4) {
		n->addr[10] = n->addr[11] = 0xff;
		memcpy(n->addr + 12, &a4, 4);
	} else if (inet_pton(AF_INET6, buf, n->addr) != 1) {
		return -EINVAL;
	}
	plen = v4 ? 32 : 128;
	if (slash && sv_parse_num(slash, 0, v4 ? 32 : 128, &plen))
		return -EINVAL;
	n->plen = plen + (v4 ? 96 : 0);
	/* Host bits set under the prefix would never match: a mistake, say so. */
	for (unsigned int i = n->plen; i < 128; i++)
		if (n->addr[i / 8] & (0x80 >> (i % 8)))
			return -EINVAL;
	return 0;
}

/* N or N-M. */
static int parse_ports(const char *s, __u16 r[2])
{
	unsigned long long lo, hi;
	char buf[16], *dash;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash++ = 0;
	if (sv_parse_num(buf, 0, 65535, &lo) || (dash && sv_parse_num(dash, 0, 65535, &hi)))
		return -EINVAL;
	if (!dash)
		hi = lo;
	if (lo > hi)
		return -EINVAL;
	r[0] = lo;
	r[1] = hi;
	return 0;
}

static int parse_proto(const char *s, __u8 *p)
{
	static const struct {
		const char *name;
		__u8 num;
	} names[] = { { "tcp", 6 }, { "udp", 17 }, { "icmp", 1 }, { "icmp6", 58 }, { "sctp", 132 } };
	unsigned long long v;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i].name)) {
			*p = names[i].num;
			return 0;
		}
	}
	if (sv_parse_num(s, 0, 255, &v))
		return -EINVAL;
	*p = v;
	return 0;
}

/* vxlan://HOST[:PORT], HOST an IPv4 address or [IPv6]. */
static int parse_remote(const char *url, struct sv_tap_spec *s)
{
	char host[64];
	const char *p = url + 8, *colon;
	unsigned long long port = 4789;
	size_t len;

	if (*p == '[') {
		colon = strchr(p, ']');
		if (!colon)
			return -EINVAL;
		len = colon - p - 1;
		p++;
		colon = colon[1] == ':' ? colon + 1 : (colon[1] ? NULL : colon + 1);
		if (!colon)
			return -EINVAL;
	} else {
		colon = strchr(p, ':');
		len = colon ? (size_t)(colon - p) : strlen(p);
	}
	if (!len || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, p, len);
	host[len] = 0;
	if (colon && *colon == ':' && sv_parse_num(colon + 1, 1, 65535, &port))
		return -EINVAL;
	memset(&s->raddr, 0, sizeof(s->raddr));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&s->raddr)->sin_addr) == 1)
		s->raddr.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&s->raddr)->sin6_addr) == 1)
		s->raddr.ss_family = AF_INET6;
	else
		return -EINVAL;
	snprintf(s->rhost, sizeof(s->rhost), "%s", host);
	s->port = port;
	s->remote = 1;
	return 0;
}

static int parse_ifname(const char *v, char *dst)
{
	if (!*v || strlen(v) >= IF_NAMESIZE || strchr(v, '/'))
		return -EINVAL;
	strcpy(dst, v);
	return 0;
}

/* Sets one match field from its option or expression primitive. */
static int set_field(struct sv_tap_rule *r, const char *what, const char *v, char *err,
		     size_t len)
{
	static const struct {
		const char *name;
		__u32 flag;
	} fields[] = {
		{ "src", SV_TAP_M_SRC },	 { "dst", SV_TAP_M_DST },
		{ "host", SV_TAP_M_HOST },	 { "proto", SV_TAP_M_PROTO },
		{ "sport", SV_TAP_M_SPORT },	 { "dport", SV_TAP_M_DPORT },
		{ "port", SV_TAP_M_PORT },	 { "match-vni", SV_TAP_M_VNI },
	};
	const struct sv_opt *o;
	unsigned long long vni;
	__u32 flag = 0;
	size_t i;
	int bad;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!strcmp(what, fields[i].name))
			flag = fields[i].flag;
	if (r->match & flag)
		return fail(err, len, "%s given twice (a rule matches one value or range per field)",
			    what);
	r->match |= flag;
	switch (flag) {
	case SV_TAP_M_SRC:
	case SV_TAP_M_DST:
	case SV_TAP_M_HOST:
		bad = parse_net(v, flag == SV_TAP_M_SRC ? &r->src :
				   flag == SV_TAP_M_DST ? &r->dst : &r->host);
		return bad ? fail(err, len, "invalid address or CIDR '%s'", v) : 0;
	case SV_TAP_M_PROTO:
		return parse_proto(v, &r->proto) ?
			       fail(err, len, "invalid protocol '%s': tcp, udp, icmp, icmp6 or 0-255",
				    v) : 0;
	case SV_TAP_M_SPORT:
	case SV_TAP_M_DPORT:
	case SV_TAP_M_PORT:
		bad = parse_ports(v, flag == SV_TAP_M_SPORT ? r->sport :
				     flag == SV_TAP_M_DPORT ? r->dport : r->port);
		return bad ? fail(err, len, "invalid port '%s': N or N-M, 0-65535", v) : 0;
	case SV_TAP_M_VNI:
		o = sv_tap_rule_opt("match-vni");
		if (sv_parse_num(v, o->min, o->max, &vni))
			return fail(err, len, "invalid VNI '%s': %llu to %llu", v, o->min, o->max);
		r->vni = vni;
		return 0;
	}
	return fail(err, len, "unknown field '%s'", what);
}

static int set_ipv(struct sv_tap_rule *r, int v, char *err, size_t len)
{
	if ((r->match & SV_TAP_M_IPV) && r->ip_version != v)
		return fail(err, len, "expression asks for IPv4 and IPv6 at once");
	r->match |= SV_TAP_M_IPV;
	r->ip_version = v;
	return 0;
}

/* One primitive at w[*i]; advances *i past it. */
static int expr_primitive(struct sv_tap_rule *r, char **w, int n, int *i, char *err,
			  size_t len)
{
	const char *dir = NULL, *t = w[*i];
	char name[8];

	if (!strcmp(t, "ip") || !strcmp(t, "ip6")) {
		(*i)++;
		/* "ip proto N": a protocol; plain "ip": the version. */
		if (*i + 1 < n && !strcmp(w[*i], "proto")) {
			*i += 2;
			return set_ipv(r, t[2] ? 6 : 4, err, len) ?:
				       set_field(r, "proto", w[*i - 1], err, len);
		}
		return set_ipv(r, t[2] ? 6 : 4, err, len);
	}
	if (!strcmp(t, "tcp") || !strcmp(t, "udp") || !strcmp(t, "icmp") ||
	    !strcmp(t, "icmp6") || !strcmp(t, "sctp")) {
		(*i)++;
		if (!strcmp(t, "icmp") && set_ipv(r, 4, err, len))
			return -EINVAL;
		if (!strcmp(t, "icmp6") && set_ipv(r, 6, err, len))
			return -EINVAL;
		return set_field(r, "proto", t, err, len);
	}
	if (!strcmp(t, "proto") && *i + 1 < n) {
		*i += 2;
		return set_field(r, "proto", w[*i - 1], err, len);
	}
	if (!strcmp(t, "src") || !strcmp(t, "dst")) {
		dir = t;
		(*i)++;
		if (*i >= n)
			goto unsupported;
		t = w[*i];
	}
	if (*i + 1 >= n)
		goto unsupported;
	if (!strcmp(t, "host") || !strcmp(t, "net")) {
		*i += 2;
		return set_field(r, dir ? dir : "host", w[*i - 1], err, len);
	}
	if (!strcmp(t, "port") || !strcmp(t, "portrange")) {
		*i += 2;
		snprintf(name, sizeof(name), "%sport", dir ? (dir[0] == 's' ? "s" : "d") : "");
		return set_field(r, name, w[*i - 1], err, len);
	}
unsupported:
	return fail(err, len,
		    "tap expressions support host, net, port, portrange (with src/dst), ip, ip6, "
		    "tcp, udp, icmp, icmp6 and proto joined by 'and'; '%s' is not one of them",
		    t);
}

/* Maps the expression's primitives onto the rule's fields, if it is of those forms. */
static int map_expr(struct sv_tap_rule *r, char *text, char *err, size_t len)
{
	char *w[SV_TAP_ARGS];
	int i, n;

	/* One word may hold several (a quoted expression): the primitives from the text. */
	n = sv_tap_split(text, w, SV_TAP_ARGS);
	if (n < 0)
		return -EINVAL;
	for (i = 0; i < n;) {
		if (expr_primitive(r, w, n, &i, err, len))
			return -EINVAL;
		if (i < n && (!strcmp(w[i], "and") || !strcmp(w[i], "&&")))
			i++;
		else if (i < n)
			return -EINVAL;
	}
	return 0;
}

/* libpcap checks the whole expression. One of the simple forms becomes the rule's fields
 * (matched by the tap program itself); any other runs as the rule's own classic filter,
 * translated to eBPF (SV_TAP_M_EXPR, s->expr). */
static int parse_expr(struct sv_tap_spec *s, char **w, int n, char *err, size_t len)
{
	char text[SV_TAP_TEXT] = "", copy[SV_TAP_TEXT];
	struct sv_tap_rule mapped = s->r;
	struct bpf_program prog;
	pcap_t *p;
	int i, ret;

	for (i = 0; i < n; i++) {
		if (strlen(text) + strlen(w[i]) + 2 > sizeof(text))
			return fail(err, len, "expression too long");
		if (i)
			strcat(text, " ");
		strcat(text, w[i]);
	}
	p = pcap_open_dead(DLT_EN10MB, 65535);
	if (!p)
		return fail(err, len, "cannot start libpcap");
	ret = pcap_compile(p, &prog, text, 1, PCAP_NETMASK_UNKNOWN);
	if (ret)
		fail(err, len, "bad expression '%s': %s", text, pcap_geterr(p));
	else
		pcap_freecode(&prog);
	pcap_close(p);
	if (ret)
		return -EINVAL;
	strcpy(copy, text);
	if (!map_expr(&mapped, copy, err, len)) {
		s->r = mapped;
		return 0;
	}
	/* The expression reads the frame as on the wire, not a VXLAN packet's inner frame. */
	if (s->r.match & SV_TAP_M_VNI)
		return fail(err, len, "with --match-vni, an expression may only join host, net, "
				      "port, portrange and proto primitives with 'and'");
	strcpy(s->expr, text);
	s->r.match |= SV_TAP_M_EXPR;
	return 0;
}

static int parse_dir(const char *v, int *dirs)
{
	if (!strcmp(v, "in"))
		*dirs = 1 << SV_INGRESS;
	else if (!strcmp(v, "out"))
		*dirs = 1 << SV_EGRESS;
	else if (!strcmp(v, "both"))
		*dirs = 1 << SV_INGRESS | 1 << SV_EGRESS;
	else
		return -EINVAL;
	return 0;
}

/* A number word within its range in sv_tap_rule_opts, or one line: "invalid --snaplen '10': 14
 * to 65535 bytes". */
static int rule_num(const char *name, const char *v, const char *unit, unsigned long long *n,
		    char *err, size_t len)
{
	const struct sv_opt *o = sv_tap_rule_opt(name);

	if (sv_parse_num(v, o->min, o->max, n))
		return fail(err, len, "invalid --%s '%s': %llu to %llu%s", name, v, o->min, o->max,
			    unit);
	return 0;
}

/* One "--name value" option. */
static int parse_opt(struct sv_tap_spec *s, const char *o, const char *v, int *vni_set,
		     char *err, size_t len)
{
	unsigned long long n;

	if (!strcmp(o, "--from"))
		return parse_ifname(v, s->from) ? fail(err, len, "invalid --from '%s'", v) : 0;
	if (!strcmp(o, "--direction"))
		return parse_dir(v, &s->dirs) ?
			       fail(err, len, "invalid --direction '%s': in, out or both", v) : 0;
	if (!strcmp(o, "--to")) {
		if (!strncmp(v, "vxlan://", 8))
			return parse_remote(v, s) ? fail(err, len, "invalid --to '%s': "
							       "vxlan://ADDR[:PORT]", v) : 0;
		return parse_ifname(v, s->to) ?
			       fail(err, len, "invalid --to '%s': an interface or vxlan://HOST[:PORT]",
				    v) : 0;
	}
	if (!strcmp(o, "--vni")) {
		*vni_set = 1;
		if (rule_num("vni", v, "", &n, err, len))
			return -EINVAL;
		s->vni = n;
		return 0;
	}
	if (!strcmp(o, "--snaplen")) {
		if (rule_num("snaplen", v, " bytes", &n, err, len))
			return -EINVAL;
		s->snaplen = n;
		return 0;
	}
	if (!strcmp(o, "--rate")) {
		if (rule_num("rate", v, " packets/s", &n, err, len))
			return -EINVAL;
		s->rate = n;
		return 0;
	}
	if (!strcmp(o, "--src") || !strcmp(o, "--dst") || !strcmp(o, "--host") ||
	    !strcmp(o, "--proto") || !strcmp(o, "--sport") || !strcmp(o, "--dport") ||
	    !strcmp(o, "--port") || !strcmp(o, "--match-vni"))
		return set_field(&s->r, o + 2, v, err, len);
	return fail(err, len, "unknown tap option '%s'", o);
}

int sv_tap_spec_parse(int argc, char **argv, struct sv_tap_spec *s, char *err, size_t len)
{
	int i, vni_set = 0;
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	s->dirs = 1 << SV_INGRESS | 1 << SV_EGRESS;
	s->vni = 0;
	for (i = 0; i < argc; i++) {
		n += snprintf(s->text + n, n < sizeof(s->text) ? sizeof(s->text) - n : 0, "%s%s",
			      i ? " " : "", argv[i]);
		if (n >= sizeof(s->text))
			return fail(err, len, "rule too long (at most %d bytes)", SV_TAP_TEXT - 1);
	}
	for (i = 0; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (i + 1 >= argc)
			return fail(err, len, "tap option '%s' needs a value", argv[i]);
		if (parse_opt(s, argv[i], argv[i + 1], &vni_set, err, len))
			return -EINVAL;
	}
	if (i < argc && parse_expr(s, argv + i, argc - i, err, len))
		return -EINVAL;
	if (!s->from[0])
		return fail(err, len, "a tap rule needs --from IFACE");
	if (!s->to[0] && !s->remote)
		return fail(err, len, "a tap rule needs --to IFACE or --to vxlan://HOST[:PORT]");
	if (vni_set && !s->remote)
		return fail(err, len, "--vni needs --to vxlan://HOST");
	if (s->remote && !vni_set)
		s->vni = 0;
	if ((s->r.match & SV_TAP_M_PROTO) && !(s->r.match & SV_TAP_M_IPV))
		s->r.match |= SV_TAP_M_IP;
	s->r.rate_pps = s->rate;
	return 0;
}

int sv_tap_split(char *line, char **argv, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return n;
		if (n == max)
			return -E2BIG;
		argv[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = 0;
	}
}
