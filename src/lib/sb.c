// SPDX-License-Identifier: GPL-2.0
/* The string buffer; see sb.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sb.h"

void sb_init(struct sb *s)
{
	memset(s, 0, sizeof(*s));
}

void sb_free(struct sb *s)
{
	free(s->buf);
	sb_init(s);
}

int sb_reserve(struct sb *s, size_t n)
{
	size_t cap;
	char *b;

	if (s->failed)
		return -1;
	if (s->len + n + 1 <= s->cap)
		return 0;
	for (cap = s->cap ? s->cap : 256; cap < s->len + n + 1; cap *= 2)
		;
	b = realloc(s->buf, cap);
	if (!b) {
		s->failed = 1;
		return -1;
	}
	s->buf = b;
	s->cap = cap;
	return 0;
}

void sb_put(struct sb *s, const char *p, size_t n)
{
	if (sb_reserve(s, n))
		return;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = 0;
}

void sb_putc(struct sb *s, char c)
{
	sb_put(s, &c, 1);
}

void sb_puts(struct sb *s, const char *p)
{
	sb_put(s, p, strlen(p));
}

void sb_printf(struct sb *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || sb_reserve(s, n))
		return;
	va_start(ap, fmt);
	vsnprintf(s->buf + s->len, n + 1, fmt, ap);
	va_end(ap);
	s->len += n;
}

void sb_json_str(struct sb *s, const char *p)
{
	sb_putc(s, '"');
	for (; *p; p++) {
		unsigned char c = *p;

		if (c == '"' || c == '\\') {
			sb_putc(s, '\\');
			sb_putc(s, c);
		} else if (c < 0x20) {
			sb_printf(s, "\\u%04x", c);
		} else {
			sb_putc(s, c);
		}
	}
	sb_putc(s, '"');
}
