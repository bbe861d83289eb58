/* SPDX-License-Identifier: GPL-2.0 */
/* Leveled logging to stderr. Errors a user can cause are one line each, prefixed with the
 * program name, so they read well in a terminal and in the journal. */
#ifndef SV_LOG_H
#define SV_LOG_H

enum sv_log_level {
	SV_LOG_WARN = 0,
	SV_LOG_INFO = 1,
	SV_LOG_DEBUG = 2,
};

extern int sv_log_level;
extern const char *sv_prog_name;

void sv_log(enum sv_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_warn(...) sv_log(SV_LOG_WARN, __VA_ARGS__)
#define pr_info(...) sv_log(SV_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) sv_log(SV_LOG_DEBUG, __VA_ARGS__)

#endif /* SV_LOG_H */
