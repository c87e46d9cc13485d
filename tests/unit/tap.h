/* Minimal TAP producer for C unit tests, run by prove. */
#ifndef CS_TAP_H
#define CS_TAP_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

__attribute__((format(printf, 4, 5), unused)) static int tap_ok(int c, const char *f, int l, const char *fmt, ...)
{
	va_list ap;
	printf("%sok %d - ", c ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!c) {
		tap_failed++;
		printf("#   Failed at %s line %d\n", f, l);
	}
	return c;
}

__attribute__((format(printf, 5, 6), unused)) static int tap_is_int(long long g, long long w, const char *f, int l, const char *fmt, ...)
{
	va_list ap;
	int c = g == w;
	printf("%sok %d - ", c ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!c) {
		tap_failed++;
		printf("#   Failed at %s line %d\n#          got: %lld\n#     expected: %lld\n", f, l, g, w);
	}
	return c;
}

__attribute__((format(printf, 5, 6), unused)) static int tap_is_str(const char *g, const char *w, const char *f, int l, const char *fmt, ...)
{
	va_list ap;
	int c = g && w && !strcmp(g, w);
	printf("%sok %d - ", c ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!c) {
		tap_failed++;
		printf("#   Failed at %s line %d\n#          got: '%s'\n#     expected: '%s'\n", f, l,
		       g ? g : "(null)", w ? w : "(null)");
	}
	return c;
}

__attribute__((unused)) static int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
#endif
