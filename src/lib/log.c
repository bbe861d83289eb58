// SPDX-License-Identifier: GPL-2.0
/* Leveled logging; see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include "log.h"

int sv_log_level = SV_LOG_INFO;
const char *sv_prog_name = "sitevisor";

void sv_log(enum sv_log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > sv_log_level)
		return;
	fprintf(stderr, "%s: ", sv_prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
