/* SPDX-License-Identifier: GPL-2.0 */
/* The C unit tests' one assertion: a PASS: or FAIL: line for tests/run.sh to count, and the
 * counts for the test's exit status. Included by one test file each (static state). */
#ifndef SV_TEST_CHECK_H
#define SV_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int passed, failed;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf(ok ? "PASS: " : "FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	passed += ok;
	failed += !ok;
}

#endif /* SV_TEST_CHECK_H */
