// SPDX-License-Identifier: GPL-2.0
/* Time parsing and formatting; see timeparse.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "timeparse.h"

#define NS 1000000000LL

int64_t sv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

/* ".123" into nanoseconds; p points after the dot. Returns the end or NULL. */
static const char *fraction(const char *p, int64_t *ns)
{
	int64_t scale = NS / 10;

	*ns = 0;
	if (*p < '0' || *p > '9')
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
		*ns += (*p - '0') * scale;
	return p;
}

static int parse_epoch(const char *s, int64_t *ns)
{
	int64_t sec = 0, frac = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (sec > (INT64_MAX / NS - 9) / 10)
			return -EINVAL;
		sec = sec * 10 + (*p - '0');
	}
	if (p == s)
		return -EINVAL;
	if (*p == '.' && !(p = fraction(p + 1, &frac)))
		return -EINVAL;
	if (*p)
		return -EINVAL;
	*ns = sec * NS + frac;
	return 0;
}

int sv_parse_time(const char *s, int64_t *ns)
{
	struct tm tm = { 0 };
	int64_t frac = 0, off = 0;
	const char *p;
	time_t t;

	if (!strchr(s, '-'))
		return parse_epoch(s, ns);
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.' && !(p = fraction(p + 1, &frac)))
		return -EINVAL;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-' || *p == ' ') {
		/* ' ': a '+' that URL decoding of a query string turned into a space. */
		int h, m, n = 0;

		if (sscanf(p + 1, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5 || h > 23 || m > 59)
			return -EINVAL;
		off = (h * 3600 + m * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	/* Nanoseconds in 64 bits end in 2262: later times are refused, not wrapped. */
	if (t < 0 || t - off < 0 || t - off > INT64_MAX / NS - 1)
		return -EINVAL;
	*ns = (t - off) * NS + frac;
	return 0;
}

void sv_format_time(int64_t ns, char *buf, size_t len)
{
	time_t t = ns / NS;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
