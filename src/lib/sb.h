/* SPDX-License-Identifier: GPL-2.0 */
/* A growable string buffer for building HTTP answers. Out of memory is sticky: writes after
 * a failed allocation do nothing and sb_failed() says so, so callers check once at the end. */
#ifndef SV_SB_H
#define SV_SB_H

#include <stddef.h>

struct sb {
	char *buf;
	size_t len;
	size_t cap;
	int failed;
};

void sb_init(struct sb *s);
void sb_free(struct sb *s);
/* Room for n more bytes; 0 or -1 (then failed). */
int sb_reserve(struct sb *s, size_t n);
void sb_putc(struct sb *s, char c);
void sb_put(struct sb *s, const char *p, size_t n);
void sb_puts(struct sb *s, const char *p);
void sb_printf(struct sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal, quotes included. */
void sb_json_str(struct sb *s, const char *p);
static inline int sb_failed(const struct sb *s)
{
	return s->failed;
}

#endif /* SV_SB_H */
