// SPDX-License-Identifier: GPL-2.0
/* The option tables' engine (see params.h): defaults, getopt_long, range errors, --config
 * files, --help and the man page's option list, all from one struct sv_opt array. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "params.h"

#ifndef SV_VERSION
#error "SV_VERSION comes from the Makefile (VERSION)"
#endif

#define HELP_COL 28 /* where --help's descriptions start */
#define HELP_WIDTH 80

int sv_parse_num(const char *s, unsigned long long min, unsigned long long max,
		 unsigned long long *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int sv_each_line(const char *path, const char *what, int (*fn)(void *ctx, char *line),
		 void *ctx)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	int err = 0;

	if (!f) {
		err = -errno;
		pr_warn("cannot read %s %s: %s\n", what, path, strerror(-err));
		return err;
	}
	while (!err && fgets(buf, sizeof(buf), f)) {
		char *p = buf, *e;

		e = strchr(p, '#');
		if (e)
			*e = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		for (e = p + strlen(p); e > p && strchr(" \t\r\n", e[-1]); e--)
			;
		*e = 0;
		if (*p)
			err = fn(ctx, p);
	}
	fclose(f);
	return err;
}

int sv_opt_verbose(void *cfg, const char *arg)
{
	sv_log_level++;
	return 0;
}

int sv_opt_quiet(void *cfg, const char *arg)
{
	sv_log_level = SV_LOG_WARN;
	return 0;
}

static int n_opts(const struct sv_cmd *cmd)
{
	int n = 0;

	while (cmd->opts[n].name || cmd->opts[n].short_name)
		n++;
	return n;
}

static int takes_value(const struct sv_opt *o)
{
	switch (o->type) {
	case SV_OPT_FLAG:
	case SV_OPT_DUMP:
	case SV_OPT_HELP:
	case SV_OPT_VERSION:
	case SV_OPT_ROFF:
		return 0;
	case SV_OPT_FUNC:
		return !(o->flags & SV_OPT_NOVALUE);
	default:
		return 1;
	}
}

/* "--name", or "-c" for a short option only. */
static const char *label(const struct sv_opt *o, char *buf, size_t size)
{
	if (o->name)
		snprintf(buf, size, "--%s", o->name);
	else
		snprintf(buf, size, "-%c", o->short_name);
	return buf;
}

/* "a, b or c" from a NULL-terminated list, each with a prefix. */
static void join_words(char *buf, size_t size, const char *const *w, const char *prefix)
{
	size_t n = 0;
	int i;

	buf[0] = 0;
	for (i = 0; w[i] && n < size; i++)
		n += snprintf(buf + n, size - n, "%s%s%s", !i ? "" : w[i + 1] ? ", " : " or ",
			      prefix, w[i]);
}

static int set_num(void *cfg, const struct sv_opt *o, const char *arg, const char *lb)
{
	unsigned long long v;

	if (sv_parse_num(arg, o->min, o->max, &v)) {
		pr_warn("invalid %s '%s': expected a whole number from %llu to %llu\n", lb, arg,
			o->min, o->max);
		return -EINVAL;
	}
	if (o->size == sizeof(unsigned int))
		*(unsigned int *)((char *)cfg + o->off) = v;
	else
		*(unsigned long long *)((char *)cfg + o->off) = v;
	return 0;
}

static int set_enum(void *cfg, const struct sv_opt *o, const char *arg, const char *lb)
{
	char words[256];
	int i;

	for (i = 0; o->words[i]; i++) {
		if (!strcmp(o->words[i], arg)) {
			*(int *)((char *)cfg + o->off) = i;
			return 0;
		}
	}
	join_words(words, sizeof(words), o->words, "");
	pr_warn("invalid %s '%s': %s\n", lb, arg, words);
	return -EINVAL;
}

static int strv_add(struct sv_strv *sv, const char *s)
{
	const char **v = realloc(sv->v, (sv->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	v[sv->n++] = s;
	sv->v = v;
	return 0;
}

static int add_str(void *cfg, const struct sv_opt *o, const char *arg, const char *lb)
{
	struct sv_strv *sv = (struct sv_strv *)((char *)cfg + o->off);

	if (o->max && (unsigned long long)sv->n >= o->max) {
		pr_warn("at most %llu %s\n", o->max, lb);
		return -EINVAL;
	}
	return strv_add(sv, arg);
}

/* One option's value into the options struct, checked. */
static int set_value(void *cfg, const struct sv_opt *o, const char *arg)
{
	char lb[64];
	int err = 0;

	label(o, lb, sizeof(lb));
	if ((o->flags & SV_OPT_NONEMPTY) && arg && !*arg) {
		pr_warn("invalid %s: empty\n", lb);
		return -EINVAL;
	}
	switch (o->type) {
	case SV_OPT_FLAG:
		*(int *)((char *)cfg + o->off) = 1;
		break;
	case SV_OPT_NUM:
		err = set_num(cfg, o, arg, lb);
		break;
	case SV_OPT_STR:
		*(const char **)((char *)cfg + o->off) = arg;
		break;
	case SV_OPT_STRS:
		err = add_str(cfg, o, arg, lb);
		break;
	case SV_OPT_ENUM:
		err = set_enum(cfg, o, arg, lb);
		break;
	case SV_OPT_FUNC:
		return o->set(cfg, arg);
	default:
		return -EINVAL;
	}
	return !err && o->set ? o->set(cfg, arg) : err;
}

/* Defaults as if typed, before anything else; a repeatable option's only if none is given. */
static int apply_defaults(struct sv_opt_state *p, int repeatable)
{
	const struct sv_opt *o;
	int err = 0;

	for (o = p->cmd->opts; !err && (o->name || o->short_name); o++) {
		if (!o->def || (o->type == SV_OPT_STRS) != repeatable)
			continue;
		if (repeatable && ((struct sv_strv *)((char *)p->cfg + o->off))->n)
			continue;
		err = set_value(p->cfg, o, o->def);
	}
	return err;
}

struct getopt_tables {
	struct option lo[SV_PARAMS_MAX + 1];
	char so[3 + 2 * SV_PARAMS_MAX + 1];
};

/* getopt_long's tables; an option's val is its index in the table plus 256. */
static void build_getopt(const struct sv_cmd *cmd, struct getopt_tables *t)
{
	const struct sv_opt *o;
	int i, n = 0, k = 0;

	/* ':' first: a missing value is told apart from an unknown option. */
	k += sprintf(t->so, "%s:", cmd->flags & SV_CMD_ARGS ? "+" : "");
	for (i = 0; i < n_opts(cmd); i++) {
		o = &cmd->opts[i];
		if (o->short_name)
			k += sprintf(t->so + k, "%c%s", o->short_name, takes_value(o) ? ":" : "");
		if (o->name)
			t->lo[n++] = (struct option){ o->name,
						      takes_value(o) ? required_argument :
								       no_argument,
						      NULL, 256 + i };
	}
	t->lo[n] = (struct option){ 0 };
}

static int opt_index(const struct sv_cmd *cmd, int c)
{
	int i;

	if (c >= 256)
		return c - 256;
	for (i = 0; i < n_opts(cmd); i++)
		if (cmd->opts[i].short_name == c)
			return i;
	return -1;
}

/* The option getopt stopped at, as typed: a long one whole, else "-X". */
static const char *bad_opt(int argc, char **argv, char *buf, size_t size)
{
	if (optind > 0 && optind <= argc && !strncmp(argv[optind - 1], "--", 2))
		return argv[optind - 1];
	snprintf(buf, size, "-%c", optopt);
	return buf;
}

static int usage_error(const struct sv_opt_state *p, int c, int argc, char **argv)
{
	const char *see = p->cmd->flags & SV_CMD_SHORT ? "-h" : "--help";
	char buf[4];
	const char *what = bad_opt(argc, argv, buf, sizeof(buf));

	if (c == ':' && (p->cmd->flags & SV_CMD_SHORT))
		pr_warn("%s needs a value (see %s)\n", what, see);
	else if (c == ':')
		pr_warn("option '%s' needs a value (see %s)\n", what, see);
	else
		pr_warn("unknown option '%s' (see %s)\n", what, see);
	return -EINVAL;
}

/* Options that print and end: 1. */
static int print_and_exit(const struct sv_cmd *cmd, const struct sv_opt *o)
{
	if (o->type == SV_OPT_HELP)
		sv_params_usage(cmd, stdout);
	else if (o->type == SV_OPT_VERSION)
		printf("%s %s\n", cmd->name, SV_VERSION);
	else
		sv_params_roff(cmd, stdout);
	return 1;
}

static int find_long(const struct sv_cmd *cmd, const char *name)
{
	int i;

	for (i = 0; i < n_opts(cmd); i++)
		if (cmd->opts[i].name && !strcmp(cmd->opts[i].name, name))
			return i;
	return -1;
}

/* "name value" or "name = value": the long option --name with that value, unless the
 * command line gave --name. */
static int config_line(void *ctx, char *line)
{
	struct sv_opt_state *p = ctx;
	char *v = line + strcspn(line, " \t=");
	const struct sv_opt *o;
	int i;

	if (*v)
		*v++ = 0;
	v += strspn(v, " \t=");
	i = find_long(p->cmd, line);
	o = i < 0 ? NULL : &p->cmd->opts[i];
	if (!o || o->type >= SV_OPT_CONFIG || (takes_value(o) && !*v)) {
		pr_warn("config: unknown option or missing value: '%s'\n", line);
		return -EINVAL;
	}
	if (p->given[i] == SV_GIVEN_ARGV)
		return 0;
	p->given[i] = SV_GIVEN_FILE;
	v = strdup(v); /* the options struct keeps it for the program's lifetime */
	return v ? set_value(p->cfg, o, v) : -ENOMEM;
}

static int read_configs(struct sv_opt_state *p, const struct sv_strv *files)
{
	int i, err = 0;

	for (i = 0; !err && i < files->n; i++)
		err = sv_each_line(files->v[i], "config file", config_line, p);
	return err;
}

/* The names in NEEDS ("post" or "post|influx") into W, NULL-terminated. */
static void split_needs(const char *needs, char *buf, size_t size, char *w[8])
{
	int n = 0;
	char *s;

	snprintf(buf, size, "%s", needs);
	for (s = strtok(buf, "|"); s && n < 7; s = strtok(NULL, "|"))
		w[n++] = s;
	w[n] = NULL;
}

/* "--a, --b and --c need --x or --y": every option of the group, and what it needs. */
static void say_needs(const struct sv_cmd *cmd, const char *needs)
{
	char group[512], alts[256], lb[64], buf[128], *w[8];
	const struct sv_opt *o;
	int n = 0, ng = 0;
	size_t len = 0;

	for (o = cmd->opts; o->name || o->short_name; o++)
		ng += o->needs && !strcmp(o->needs, needs);
	group[0] = 0;
	for (o = cmd->opts; o->name || o->short_name; o++) {
		if (!o->needs || strcmp(o->needs, needs) || len >= sizeof(group))
			continue;
		n++;
		len += snprintf(group + len, sizeof(group) - len, "%s%s",
				n == 1 ? "" : n < ng ? ", " : " and ", label(o, lb, sizeof(lb)));
	}
	split_needs(needs, buf, sizeof(buf), w);
	join_words(alts, sizeof(alts), (const char *const *)w, "--");
	pr_warn("%s %s %s\n", group, ng > 1 ? "need" : "needs", alts);
}

/* An option given without what it needs is a usage error. */
static int check_needs(const struct sv_opt_state *p)
{
	const struct sv_opt *o;
	char buf[128], *w[8];
	int i, k;

	for (i = 0; i < n_opts(p->cmd); i++) {
		o = &p->cmd->opts[i];
		if (!o->needs || !p->given[i])
			continue;
		split_needs(o->needs, buf, sizeof(buf), w);
		for (k = 0; w[k] && !sv_params_given(p, w[k]); k++)
			;
		if (!w[k]) {
			say_needs(p->cmd, o->needs);
			return -EINVAL;
		}
	}
	return 0;
}

/* argv, option by option; --config files are only noted. */
static int parse_argv(struct sv_opt_state *p, int argc, char **argv, struct sv_strv *configs)
{
	struct getopt_tables t;
	const struct sv_opt *o;
	int c, i, err = 0;

	build_getopt(p->cmd, &t);
	opterr = 0; /* one line of our own per mistake, not getopt's and then ours */
	optind = 0; /* a fresh start, also after another table's parse */
	while (!err && (c = getopt_long(argc, argv, t.so, t.lo, NULL)) != -1) {
		i = c == ':' || c == '?' ? -1 : opt_index(p->cmd, c);
		if (i < 0)
			return usage_error(p, c, argc, argv);
		o = &p->cmd->opts[i];
		p->given[i] = SV_GIVEN_ARGV;
		if (o->type >= SV_OPT_HELP)
			return print_and_exit(p->cmd, o);
		if (o->type == SV_OPT_CONFIG)
			err = strv_add(configs, optarg);
		else if (o->type == SV_OPT_DUMP)
			p->dump = 1;
		else
			err = set_value(p->cfg, o, optarg);
	}
	p->argi = optind;
	if (!err && optind < argc && !(p->cmd->flags & SV_CMD_ARGS)) {
		pr_warn("unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return err;
}

int sv_params_parse(struct sv_opt_state *p, const struct sv_cmd *cmd, void *cfg, int argc,
		    char **argv)
{
	struct sv_strv configs = { 0 };
	int err;

	memset(p, 0, sizeof(*p));
	p->cmd = cmd;
	p->cfg = cfg;
	if (n_opts(cmd) > SV_PARAMS_MAX)
		return -E2BIG;
	err = apply_defaults(p, 0);
	if (!err)
		err = parse_argv(p, argc, argv, &configs);
	if (!err)
		err = read_configs(p, &configs);
	if (!err)
		err = apply_defaults(p, 1);
	if (!err)
		err = check_needs(p);
	free(configs.v);
	if (!err && p->dump) {
		sv_params_dump(cmd, cfg, stdout);
		return 1;
	}
	return err;
}

void sv_params_dump(const struct sv_cmd *cmd, const void *cfg, FILE *f)
{
	const struct sv_opt *o;
	const void *v;
	int i;

	for (o = cmd->opts; o->name || o->short_name; o++) {
		v = (const char *)cfg + o->off;
		if (!o->name)
			continue;
		if (o->type == SV_OPT_FLAG && *(const int *)v)
			fprintf(f, "%s\n", o->name);
		else if (o->type == SV_OPT_NUM && o->size == sizeof(unsigned int))
			fprintf(f, "%s %u\n", o->name, *(const unsigned int *)v);
		else if (o->type == SV_OPT_NUM)
			fprintf(f, "%s %llu\n", o->name, *(const unsigned long long *)v);
		else if (o->type == SV_OPT_STR && *(const char *const *)v)
			fprintf(f, "%s %s\n", o->name, *(const char *const *)v);
		else if (o->type == SV_OPT_ENUM)
			fprintf(f, "%s %s\n", o->name, o->words[*(const int *)v]);
		for (i = 0; o->type == SV_OPT_STRS && i < ((const struct sv_strv *)v)->n; i++)
			fprintf(f, "%s %s\n", o->name, ((const struct sv_strv *)v)->v[i]);
	}
}

int sv_params_given(const struct sv_opt_state *p, const char *name)
{
	int i = find_long(p->cmd, name);

	return i >= 0 && p->given[i];
}

/* The metavar: given, or an enum's words, or "VALUE". */
static const char *metavar(const struct sv_opt *o, char *buf, size_t size)
{
	size_t n = 0;
	int i;

	if (o->metavar || o->type != SV_OPT_ENUM)
		return o->metavar ? o->metavar : "VALUE";
	for (i = 0; o->words[i] && n < size; i++)
		n += snprintf(buf + n, size - n, "%s%s", i ? "|" : "", o->words[i]);
	return buf;
}

/* Words of TEXT from column COL on, wrapped at HELP_WIDTH, new lines indented to INDENT. */
static void wrap(FILE *f, const char *text, int col, int indent)
{
	const char *p = text, *e;
	int len;

	while (*p) {
		while (*p == ' ')
			p++;
		e = p + strcspn(p, " ");
		len = e - p;
		if (col > indent && col + 1 + len > HELP_WIDTH) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", len, p);
		col += len;
		p = e;
	}
	fputc('\n', f);
}

/* The option's description with its default, as --help and the man page say it. */
static void describe(const struct sv_opt *o, char *buf, size_t size)
{
	if (o->def)
		snprintf(buf, size, "%s (default %s)", o->help, o->def);
	else
		snprintf(buf, size, "%s", o->help);
}

static void usage_opts(const struct sv_opt *opts, FILE *f)
{
	const struct sv_opt *o;
	char left[128], mv[128], text[1024];
	int n;

	for (o = opts; o->name || o->short_name; o++) {
		if (o->flags & SV_OPT_HIDDEN)
			continue;
		n = snprintf(left, sizeof(left), "  %c%c%s%s%s%s%s", o->short_name ? '-' : ' ',
			     o->short_name ? o->short_name : ' ',
			     o->short_name && o->name ? ", " : o->name ? "  " : "",
			     o->name ? "--" : "", o->name ? o->name : "", takes_value(o) ? " " : "",
			     takes_value(o) ? metavar(o, mv, sizeof(mv)) : "");
		describe(o, text, sizeof(text));
		/* A long left column gets a line of its own. */
		if (n >= HELP_COL - 1)
			fprintf(f, "%s\n%*s", left, HELP_COL, "");
		else
			fprintf(f, "%-*s", HELP_COL, left);
		wrap(f, text, HELP_COL, HELP_COL);
	}
}

void sv_params_usage(const struct sv_cmd *cmd, FILE *f)
{
	fprintf(f, "Usage: %s\n", cmd->synopsis);
	wrap(f, cmd->about, 0, 0);
	fputc('\n', f);
	usage_opts(cmd->opts, f);
	if (cmd->epilog)
		fprintf(f, "\n%s", cmd->epilog);
	if (cmd->arg_opts) {
		fprintf(f, "\n%s\n", cmd->arg_title);
		usage_opts(cmd->arg_opts, f);
	}
}

/* Text for roff: backslashes as \e, a '-' that starts a word as a minus (\-), and a line
 * never starting with a control character. */
static void roff_text(FILE *f, const char *s)
{
	const char *p;

	if (*s == '.' || *s == '\'')
		fputs("\\&", f);
	for (p = s; *p; p++) {
		if (*p == '\\')
			fputs("\\e", f);
		else if (*p == '-' && (p == s || strchr(" ('\"/-[", p[-1])))
			fputs("\\-", f);
		else
			fputc(*p, f);
	}
}

static void roff_opts(const struct sv_opt *opts, FILE *f)
{
	const struct sv_opt *o;
	char mv[128], text[1024];

	for (o = opts; o->name || o->short_name; o++) {
		if (o->flags & SV_OPT_HIDDEN)
			continue;
		fputs(".TP\n", f);
		if (o->short_name)
			fprintf(f, "\\fB\\-%c\\fR%s", o->short_name, o->name ? ", " : "");
		if (o->name) {
			fputs("\\fB", f);
			roff_text(f, "--");
			roff_text(f, o->name);
			fputs("\\fR", f);
		}
		if (takes_value(o)) {
			fputs(" \\fI", f);
			roff_text(f, metavar(o, mv, sizeof(mv)));
			fputs("\\fR", f);
		}
		fputc('\n', f);
		describe(o, text, sizeof(text));
		roff_text(f, text);
		fputc('\n', f);
	}
}

void sv_params_roff(const struct sv_cmd *cmd, FILE *f)
{
	roff_opts(cmd->opts, f);
	if (cmd->arg_opts) {
		fputs(".PP\n", f);
		roff_text(f, cmd->arg_title);
		fputc('\n', f);
		roff_opts(cmd->arg_opts, f);
	}
}
