/* SPDX-License-Identifier: GPL-2.0 */
/* A strict, allocation-free JSON reader for input that comes over the network: it reads one
 * value at a time from a bounded buffer, never reads past it, bounds nesting, and leaves a
 * one-line reason in jr->err when the input is not what was asked for. */
#ifndef SV_JSONR_H
#define SV_JSONR_H

#include <stddef.h>
#include <stdint.h>

#define JR_MAX_DEPTH 32

struct jr {
	const char *p;
	const char *end;
	const char *err; /* static text; set on the first error */
};

void jr_init(struct jr *j, const char *p, size_t n);
/* Expects '{'. */
int jr_object(struct jr *j);
/* The next key of the current object into key: 1 if read, 0 at '}', negative on error. */
int jr_key(struct jr *j, char *key, size_t len);
/* The same, without a copy when the key has no escapes: *name (not NUL-terminated) and *n
 * point into the input then, else into key. */
int jr_key_ref(struct jr *j, char *key, size_t len, const char **name, size_t *n);
/* A string value, unescaped (UTF-8 kept; \u escapes to UTF-8; NUL refused). */
int jr_string(struct jr *j, char *out, size_t len);
/* A non-negative integer without fraction or exponent. */
int jr_u64(struct jr *j, uint64_t *out);
/* 1 and consumes it if the next value is null, else 0. */
int jr_null(struct jr *j);
/* true or false into *out (1 or 0). */
int jr_bool(struct jr *j, int *out);
/* Skips any value. */
int jr_skip(struct jr *j);
/* Expects '['; then call jr_more() before each element: 1 if one follows, 0 at ']'. */
int jr_array(struct jr *j);
int jr_more(struct jr *j, int first);
/* 0 if only white space is left. */
int jr_end(struct jr *j);

#endif /* SV_JSONR_H */
