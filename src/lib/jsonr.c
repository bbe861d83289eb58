// SPDX-License-Identifier: GPL-2.0
/* The JSON reader; see jsonr.h. Every function returns 0 (or 1 where documented) on success
 * and -EINVAL with j->err set otherwise; after an error every call fails. */
#include <errno.h>
#include <string.h>
#include "jsonr.h"

static int fail(struct jr *j, const char *why)
{
	if (!j->err)
		j->err = why;
	return -EINVAL;
}

static void ws(struct jr *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

/* Consumes c after white space, or fails. */
static int expect(struct jr *j, char c, const char *why)
{
	if (j->err)
		return -EINVAL;
	ws(j);
	if (j->p >= j->end || *j->p != c)
		return fail(j, why);
	j->p++;
	return 0;
}

void jr_init(struct jr *j, const char *p, size_t n)
{
	j->p = p;
	j->end = p + n;
	j->err = NULL;
}

int jr_object(struct jr *j)
{
	return expect(j, '{', "expected an object");
}

static int hex4(const char *p, unsigned int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		char c = p[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			*v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			*v |= c - 'A' + 10;
		else
			return -1;
	}
	return 0;
}

/* Appends code point cp as UTF-8; 0 or -1 if it does not fit. */
static int put_utf8(char *out, size_t len, size_t *n, unsigned int cp)
{
	char b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = 0xc0 | (cp >> 6);
		b[1] = 0x80 | (cp & 0x3f);
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = 0xe0 | (cp >> 12);
		b[1] = 0x80 | ((cp >> 6) & 0x3f);
		b[2] = 0x80 | (cp & 0x3f);
		k = 3;
	} else {
		b[0] = 0xf0 | (cp >> 18);
		b[1] = 0x80 | ((cp >> 12) & 0x3f);
		b[2] = 0x80 | ((cp >> 6) & 0x3f);
		b[3] = 0x80 | (cp & 0x3f);
		k = 4;
	}
	if (*n + k >= len)
		return -1;
	memcpy(out + *n, b, k);
	*n += k;
	return 0;
}

/* A \u escape at j->p (after the backslash and 'u'), surrogate pairs joined. */
static int unicode_escape(struct jr *j, unsigned int *cp)
{
	unsigned int lo;

	if (j->end - j->p < 4 || hex4(j->p, cp))
		return fail(j, "bad \\u escape");
	j->p += 4;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return fail(j, "lone low surrogate");
	if (*cp < 0xd800 || *cp > 0xdbff)
		return *cp ? 0 : fail(j, "NUL in a string");
	if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) ||
	    lo < 0xdc00 || lo > 0xdfff)
		return fail(j, "unpaired surrogate");
	j->p += 6;
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return 0;
}

int jr_string(struct jr *j, char *out, size_t len)
{
	size_t n = 0;

	if (expect(j, '"', "expected a string"))
		return -EINVAL;
	while (j->p < j->end && *j->p != '"') {
		const char *q = j->p;
		unsigned int cp;
		unsigned char c;
		size_t run;

		/* Plain characters, nearly all of them, are copied a run at a time. */
		while (q < j->end && (unsigned char)*q >= 0x20 && *q != '"' && *q != '\\')
			q++;
		run = q - j->p;
		if (run) {
			if (out && n + run >= len)
				return fail(j, "string too long");
			if (out)
				memcpy(out + n, j->p, run);
			n += run;
			j->p = q;
			continue;
		}
		c = *j->p++;
		cp = c;
		if (c < 0x20)
			return fail(j, "control character in a string");
		if (c == '\\') {
			if (j->p >= j->end)
				break;
			c = *j->p++;
			switch (c) {
			case '"': case '\\': case '/': cp = c; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				if (unicode_escape(j, &cp))
					return -EINVAL;
				break;
			default:
				return fail(j, "bad escape in a string");
			}
		}
		if (out && put_utf8(out, len, &n, cp))
			return fail(j, "string too long");
	}
	if (j->p >= j->end)
		return fail(j, "unterminated string");
	j->p++;
	if (out)
		out[n] = 0;
	return 0;
}

/* Whether the last character before p, white space aside, is the object's '{': the first
 * member needs no comma before it. Only called inside an object, so '{' is behind p. */
static int just_opened(const struct jr *j)
{
	const char *q = j->p - 1;

	while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
		q--;
	return *q == '{';
}

/* Up to a key's opening quote: 1 if a key follows, 0 at '}' (consumed), negative on error. */
static int key_start(struct jr *j)
{
	if (j->err)
		return -EINVAL;
	ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return 0;
	}
	if (!just_opened(j) && expect(j, ',', "expected ',' or '}'"))
		return -EINVAL;
	return 1;
}

int jr_key(struct jr *j, char *key, size_t len)
{
	int r = key_start(j);

	if (r <= 0)
		return r;
	if (jr_string(j, key, len) || expect(j, ':', "expected ':' after a key"))
		return -EINVAL;
	return 1;
}

int jr_key_ref(struct jr *j, char *key, size_t len, const char **name, size_t *n)
{
	int r = key_start(j);
	const char *q;

	if (r <= 0)
		return r;
	ws(j);
	/* A key without escapes or control characters reads as itself: no copy. */
	for (q = j->p + 1; j->p < j->end && q < j->end && (unsigned char)*q >= 0x20 &&
			   *q != '"' && *q != '\\';
	     q++)
		;
	if (j->p < j->end && *j->p == '"' && q < j->end && *q == '"' &&
	    (size_t)(q - j->p - 1) < len) {
		*name = j->p + 1;
		*n = q - j->p - 1;
		j->p = q + 1;
	} else {
		if (jr_string(j, key, len))
			return -EINVAL;
		*name = key;
		*n = strlen(key);
	}
	return expect(j, ':', "expected ':' after a key") ? -EINVAL : 1;
}

int jr_u64(struct jr *j, uint64_t *out)
{
	uint64_t v = 0;
	const char *s;

	if (j->err)
		return -EINVAL;
	ws(j);
	s = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		unsigned int d = *j->p - '0';

		if (v > (UINT64_MAX - d) / 10)
			return fail(j, "number too large");
		v = v * 10 + d;
		j->p++;
	}
	if (j->p == s || (j->p - s > 1 && *s == '0'))
		return fail(j, "expected a whole number");
	if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		return fail(j, "expected a whole number");
	*out = v;
	return 0;
}

static int literal(struct jr *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
		return 0;
	j->p += n;
	return 1;
}

int jr_null(struct jr *j)
{
	if (j->err)
		return 0;
	ws(j);
	return literal(j, "null");
}

int jr_bool(struct jr *j, int *out)
{
	if (j->err)
		return -EINVAL;
	ws(j);
	if (literal(j, "true"))
		*out = 1;
	else if (literal(j, "false"))
		*out = 0;
	else
		return fail(j, "expected true or false");
	return 0;
}

static int skip_number(struct jr *j)
{
	const char *s = j->p;

	while (j->p < j->end && strchr("+-0123456789.eE", *j->p))
		j->p++;
	return j->p > s ? 0 : fail(j, "expected a value");
}

static int skip(struct jr *j, int depth)
{
	int first = 1, r;

	if (depth > JR_MAX_DEPTH)
		return fail(j, "nested too deeply");
	ws(j);
	if (j->p >= j->end)
		return fail(j, "expected a value");
	switch (*j->p) {
	case '"':
		return jr_string(j, NULL, 0);
	case '{':
		j->p++;
		while ((r = jr_key(j, NULL, 0)) == 1)
			if (skip(j, depth + 1))
				return -EINVAL;
		return r;
	case '[':
		j->p++;
		while ((r = jr_more(j, first)) == 1) {
			first = 0;
			if (skip(j, depth + 1))
				return -EINVAL;
		}
		return r;
	case 't':
		return literal(j, "true") ? 0 : fail(j, "expected a value");
	case 'f':
		return literal(j, "false") ? 0 : fail(j, "expected a value");
	case 'n':
		return literal(j, "null") ? 0 : fail(j, "expected a value");
	}
	return skip_number(j);
}

int jr_skip(struct jr *j)
{
	return j->err ? -EINVAL : skip(j, 0);
}

int jr_array(struct jr *j)
{
	return expect(j, '[', "expected an array");
}

int jr_more(struct jr *j, int first)
{
	if (j->err)
		return -EINVAL;
	ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return 0;
	}
	if (!first && expect(j, ',', "expected ',' or ']'"))
		return -EINVAL;
	return 1;
}

int jr_end(struct jr *j)
{
	if (j->err)
		return -EINVAL;
	ws(j);
	return j->p == j->end ? 0 : fail(j, "text after the value");
}
