/* SPDX-License-Identifier: GPL-2.0 */
/* One declarative option table per program (and subcommand): the table drives getopt_long,
 * range errors, --help, the man page's option list and the post's --config file alike. */
#ifndef SV_PARAMS_H
#define SV_PARAMS_H

#include <stddef.h>
#include <stdio.h>

enum sv_opt_type {
	SV_OPT_FLAG, /* int, set to 1; takes no value */
	SV_OPT_NUM, /* unsigned int or unsigned long long, a whole number in [min, max] */
	SV_OPT_STR, /* const char * */
	SV_OPT_STRS, /* struct sv_strv: repeatable; at most max values (0: no bound) */
	SV_OPT_ENUM, /* int: the index of the value in words */
	SV_OPT_FUNC, /* the option's own set(), with the value or NULL (no_value) */
	SV_OPT_CONFIG, /* a file of "name value" lines, read after the command line */
	SV_OPT_DUMP, /* print the options in effect as such a file, then end parsing with 1 */
	SV_OPT_HELP, /* these print and end parsing with 1 */
	SV_OPT_VERSION,
	SV_OPT_ROFF,
};

enum {
	SV_OPT_NONEMPTY = 1 << 0, /* an empty value is a mistake, not "the default" */
	SV_OPT_HIDDEN = 1 << 1, /* in neither --help nor the man page */
	SV_OPT_NOVALUE = 1 << 2, /* SV_OPT_FUNC: takes no value */
};

struct sv_strv {
	const char **v;
	int n;
};

struct sv_opt {
	const char *name; /* the long name without "--"; NULL: a short option only */
	char short_name; /* 0: none */
	enum sv_opt_type type;
	unsigned int flags;
	size_t off, size; /* where the value goes in the program's options struct */
	unsigned long long min, max;
	const char *def; /* the default as it would be typed; applied before parsing */
	const char *metavar;
	const char *help; /* one paragraph; --help and the man page wrap it */
	const char *const *words; /* SV_OPT_ENUM: the values, NULL-terminated */
	const char *needs; /* "post" or "post|influx": only with (one of) those options */
	/* SV_OPT_FUNC: sets the value. Other types: checks the value just set. Says what is
	 * wrong in one line; returns 0 or a negative errno. */
	int (*set)(void *cfg, const char *arg);
};

/* Entries of a table, each naming its field in the options struct T. */
#define SV_FIELD(T, f) .off = offsetof(T, f), .size = sizeof(((T *)0)->f)
#define SV_OPT_END { .name = NULL, .short_name = 0 }
/* A number macro as a default's text: .def = SV_STR(SV_CACHE_SLOTS). */
#define SV_STR_(x) #x
#define SV_STR(x) SV_STR_(x)
/* -v and -q: the log level. */
#define SV_OPTS_LOG(verbose_help)                                                       \
	{ .name = "verbose", .short_name = 'v', .type = SV_OPT_FUNC,                    \
	  .flags = SV_OPT_NOVALUE, .set = sv_opt_verbose, .help = verbose_help },      \
	{ .name = "quiet", .short_name = 'q', .type = SV_OPT_FUNC,                      \
	  .flags = SV_OPT_NOVALUE, .set = sv_opt_quiet, .help = "warnings only" }
/* --help, --version and the hidden --help-roff (the man page's option list). */
#define SV_OPTS_STANDARD(help_letter)                                                        \
	{ .name = "help", .short_name = help_letter, .type = SV_OPT_HELP,                    \
	  .help = "print this help and exit" },                                              \
	{ .name = "version", .type = SV_OPT_VERSION, .help = "print the version and exit" }, \
	{ .name = "help-roff", .type = SV_OPT_ROFF, .flags = SV_OPT_HIDDEN }

enum {
	SV_CMD_ARGS = 1 << 0, /* the options end at the first argument, the rest is the program's */
	SV_CMD_SHORT = 1 << 1, /* tcpdump's messages: "-w needs a value (see -h)" */
};

struct sv_cmd {
	const char *name; /* "sitevisor-agent capture": messages, --help, --version */
	const char *synopsis; /* after "Usage: "; more lines after '\n' */
	const char *about; /* --help's paragraph under the synopsis */
	const char *epilog; /* --help's last lines, or NULL */
	const struct sv_opt *opts; /* ends with SV_OPT_END */
	unsigned int flags;
	/* Words the program's arguments may hold (tap add's rule), parsed elsewhere: only
	 * shown, under this title, by --help and the man page. */
	const struct sv_opt *arg_opts;
	const char *arg_title;
};

#define SV_PARAMS_MAX 64

struct sv_opt_state {
	const struct sv_cmd *cmd;
	void *cfg;
	unsigned char given[SV_PARAMS_MAX]; /* per option: SV_GIVEN_ARGV or SV_GIVEN_FILE */
	int argi; /* with SV_CMD_ARGS: argv[argi] is the first argument after the options */
	int dump; /* SV_OPT_DUMP given */
};

enum { SV_GIVEN_ARGV = 1, SV_GIVEN_FILE = 2 };

/* Applies the table's defaults, then argv (then --config files, for options the command
 * line did not give), then checks the "needs". Returns 0 to run, 1 to exit 0 (--help and
 * --version printed), a negative errno on a usage error (said in one line). */
int sv_params_parse(struct sv_opt_state *p, const struct sv_cmd *cmd, void *cfg, int argc,
		    char **argv);
/* Whether the option NAME was given, on the command line or in a file. */
int sv_params_given(const struct sv_opt_state *p, const char *name);

/* --help's text. */
void sv_params_usage(const struct sv_cmd *cmd, FILE *f);
/* The options in effect as --config lines; those set by their own function are left out. */
void sv_params_dump(const struct sv_cmd *cmd, const void *cfg, FILE *f);
/* The options as man(7) paragraphs, for the man page's OPTIONS section. */
void sv_params_roff(const struct sv_cmd *cmd, FILE *f);

/* A whole decimal number in [min, max] (no sign, no blanks after); 0 or -EINVAL, silent. */
int sv_parse_num(const char *s, unsigned long long min, unsigned long long max,
		 unsigned long long *out);
/* Lines of a file with # comments, blank lines and surrounding white space dropped; a file
 * that cannot be opened is said in one line ("cannot read WHAT PATH: why"). */
int sv_each_line(const char *path, const char *what, int (*fn)(void *ctx, char *line),
		 void *ctx);

/* set() of -v and -q: the log level. */
int sv_opt_verbose(void *cfg, const char *arg);
int sv_opt_quiet(void *cfg, const char *arg);

#endif /* SV_PARAMS_H */
