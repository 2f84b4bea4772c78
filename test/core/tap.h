/*
 * tap.h -- minimal TAP output for the standalone engine tests.
 *
 * One TAP_CHECK per assertion group prints "ok N - desc" or
 * "not ok N - desc"; failures also print a "# " diagnostic with the file and
 * line.  tap_done() prints the plan ("1..N") and returns the exit status.
 */
#ifndef RNN_TEST_TAP_H
#define RNN_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int	tap_count;
static int	tap_failed;

static int
tap_report(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list		ap;

	tap_count++;
	printf("%sok %d - ", ok ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
	{
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return ok;
}

/* TAP_CHECK(condition, "description %d", args...) */
#define TAP_CHECK(cond, ...) tap_report((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

/* Diagnostic line (does not count as a test). */
#define TAP_DIAG(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

static int
tap_done(void)
{
	printf("1..%d\n", tap_count);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_count);
	return tap_failed ? 1 : 0;
}

#endif							/* RNN_TEST_TAP_H */
