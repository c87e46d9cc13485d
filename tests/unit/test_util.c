#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/util.h"

#include "tap.h"

static void size_is(const char *s, unsigned long long want)
{
	uint64_t v = 0;
	int r = parse_size(s, &v);
	ok(r == 0 && v == want, "parse_size('%s') = %llu (got %llu, rc %d)", s, want, (unsigned long long)v, r);
}

static void size_bad(const char *s)
{
	uint64_t v;
	ok(parse_size(s, &v) < 0, "parse_size('%s') rejected", s);
}

static void dur_is(const char *s, unsigned long long want)
{
	uint64_t v = 0;
	int r = parse_duration(s, &v);
	ok(r == 0 && v == want, "parse_duration('%s') = %llu ns (got %llu, rc %d)", s, want, (unsigned long long)v, r);
}

static void fin_is(const char *s, double want)
{
	double v = -12345;
	int r = parse_finite(s, &v);
	ok(r == 0 && v == want, "parse_finite('%s') = %g (got %g, rc %d)", s, want, v, r);
}

static void fin_bad(const char *s)
{
	double v = -12345;
	int r = parse_finite(s, &v);
	ok(r < 0 && v == -12345, "parse_finite('%s') refused, value untouched", s);
}

static void finite_tests(void)
{
	fin_is("0", 0);
	fin_is("12.5", 12.5);
	fin_is("-3", -3);
	fin_is("+2.25", 2.25);
	fin_is(".5", 0.5);
	fin_is("5.", 5);
	fin_is("1e3", 1000);
	fin_is("1.5E-2", 0.015);
	fin_is("007", 7);
	static const char *const bad[] = { "", " 1", "1 ", "nan", "NaN", "-nan", "inf", "-inf", "Infinity",
					   "0x10", "0X1p4", "1e999", "-1e999", "1e", "1e+", ".", "-", "+", "1.2.3",
					   "1,5", "12s", "--1", "\t3", "1;", "0b1", "1_000" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		fin_bad(bad[i]);
	ok(parse_finite(NULL, &(double){ 0 }) < 0, "parse_finite(NULL) refused");
	const char *end = NULL;
	double v = 0;
	ok(parse_finite_prefix("1.23 seconds", &v, &end) == 0 && v == 1.23 && !strcmp(end, " seconds"),
	   "parse_finite_prefix: the number at the start, end after it");
	ok(parse_finite_prefix("2.5e1s", &v, &end) == 0 && v == 25 && !strcmp(end, "s"), "parse_finite_prefix: an exponent");
	ok(parse_finite_prefix("1e", &v, &end) == 0 && v == 1 && !strcmp(end, "e"), "parse_finite_prefix: 'e' without digits is not an exponent");
	ok(parse_finite_prefix("inf seconds", &v, &end) < 0, "parse_finite_prefix: inf refused");
	ok(parse_finite_prefix("nan", &v, &end) < 0, "parse_finite_prefix: nan refused");
	ok(parse_finite_prefix(" 1", &v, &end) < 0, "parse_finite_prefix: a leading blank refused");
	char big[200];
	memset(big, '9', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	fin_bad(big);
}

static void red_is(const char *in, const char *want)
{
	char *r = redact_urls(in);
	is_str(r, want, "redact_urls('%s')", in);
	char *copy = xstrdup(in);
	int changed = redact_urls_inplace(copy);
	ok(strlen(copy) == strlen(in) && changed == (strcmp(in, want) != 0) && changed == url_has_secret(in),
	   "in place: same length, changed %d ('%s')", changed, copy);
	char *again = redact_urls(copy);
	is_str(again, want, "in place: every hidden byte overwritten ('%s')", copy);
	free(again);
	free(copy);
	free(r);
}

static void redact_tests(void)
{
	red_is("https://h/x/", "https://h/x/");
	red_is("https://user:pw@h:8080/x/?sig=abc&t=1#frag", "https://REDACTED@h:8080/x/?REDACTED#REDACTED");
	red_is("--model=https://u:p@h/x?X-Amz-Signature=s", "--model=https://REDACTED@h/x?REDACTED");
	red_is("coldstart bench --net 'http://tok@127.0.0.1:80/m/' -q", "coldstart bench --net 'http://REDACTED@127.0.0.1:80/m/' -q");
	red_is("s3://key:secret@bucket/p and s3://b/q?versionId=7 too", "s3://REDACTED@bucket/p and s3://b/q?REDACTED too");
	red_is("no url here ?a=b user@host", "no url here ?a=b user@host");
	red_is("a path /x/y?z", "a path /x/y?z");
	red_is("https://h/p@q", "https://h/p@q");
	red_is("https://a@b@h/x", "https://REDACTED@h/x");
	red_is("http://h/x?", "http://h/x?");
	red_is("://nothing", "://nothing");
	red_is("see \"https://h/x?k=v\", then", "see \"https://h/x?REDACTED\", then");
	char *n = redact_urls(NULL);
	ok(n == NULL, "redact_urls(NULL) is NULL");
	ok(redact_urls_inplace(NULL) == 0, "redact_urls_inplace(NULL) is harmless");
}

/* The deadline helpers and the string-array free (leaks: under unit-san). */
static void test_timespec_free(void)
{
	struct timespec now, t;
	clock_gettime(CLOCK_MONOTONIC, &now);
	t = timespec_in(CLOCK_MONOTONIC, 999999999);
	ok(t.tv_nsec >= 0 && t.tv_nsec < 1000000000, "timespec_in: nanoseconds normalized");
	long long d = (long long)(t.tv_sec - now.tv_sec) * 1000000000LL + (t.tv_nsec - now.tv_nsec);
	ok(d >= 999999999 && d < 60LL * 1000000000, "timespec_in: that far ahead of now");
	char **v = xcalloc(2, sizeof(char *));
	v[0] = xstrdup("a"), v[1] = xstrdup("b");
	free_strv(v, 2);
	free_strv(NULL, 0);
	struct named { char *name; int k; } *a = xcalloc(2, sizeof(*a));
	a[0].name = xstrdup("x"), a[1].name = xstrdup("y");
	FREE_MEMBERS(a, 2, name);
	ok(1, "free_strv, FREE_MEMBERS: the strings and the arrays freed");
}

int main(void)
{
	test_timespec_free();
	size_is("0", 0);
	size_is("4096", 4096);
	size_is("64M", 64ULL << 20);
	size_is("64m", 64ULL << 20);
	size_is("64MiB", 64ULL << 20);
	size_is("1.5GiB", 3ULL << 29);
	size_is("1.5G", 3ULL << 29);
	size_is("5GB", 5000000000ULL);
	size_is("200MB", 200000000ULL);
	size_is("2K", 2048);
	size_is("1T", 1ULL << 40);
	size_is("10B", 10);
	size_bad("");
	size_bad("M");
	size_bad("-1");
	size_bad("1.5X");
	size_bad("1e9");
	size_bad("99999999999999999999");
	size_bad("20000P");
	size_bad(" 1M");

	uint64_t r;
	ok(parse_rate("200MB/s", &r) == 0 && r == 200000000ULL, "parse_rate 200MB/s");
	ok(parse_rate("1GiB", &r) == 0 && r == 1ULL << 30, "parse_rate without /s");
	ok(parse_rate("fast/s", &r) < 0, "parse_rate rejects garbage");

	dur_is("250ms", 250000000ULL);
	dur_is("2m", 120000000000ULL);
	dur_is("1.5s", 1500000000ULL);
	dur_is("30", 30000000000ULL);
	dur_is("10us", 10000ULL);
	dur_is("1h", 3600000000000ULL);
	dur_is("0.5ms", 500000ULL);
	uint64_t d;
	ok(parse_duration("5x", &d) < 0, "parse_duration rejects unknown unit");
	ok(parse_duration("ms", &d) < 0, "parse_duration rejects missing number");
	ok(parse_duration("-1s", &d) < 0, "parse_duration rejects negative");

	long l;
	ok(parse_int_range("8", 1, 64, &l) == 0 && l == 8, "parse_int_range in range");
	ok(parse_int_range("0", 1, 64, &l) < 0, "parse_int_range below min");
	ok(parse_int_range("8x", 1, 64, &l) < 0, "parse_int_range trailing junk");
	uint64_t u;
	ok(parse_u64("18446744073709551615", &u) == 0 && u == UINT64_MAX, "parse_u64 max");
	ok(parse_u64("18446744073709551616", &u) < 0, "parse_u64 overflow");
	ok(parse_hex64("00000000000000ab", &u) == 0 && u == 0xab, "parse_hex64: 16 digits");
	ok(parse_hex64("ffffffffffffffff", &u) == 0 && u == UINT64_MAX, "parse_hex64 max");
	const char *badhex[] = { "ab", "0x000000000000ab", "-000000000000001", "+000000000000001", "00000000000000AB",
				 "000000000000000ab", " 00000000000000a", "00000000000000g0", "" };
	int hexbad = 0;
	for (size_t i = 0; i < sizeof(badhex) / sizeof(*badhex); i++)
		hexbad += parse_hex64(badhex[i], &u) < 0;
	is_int(hexbad, (int)(sizeof(badhex) / sizeof(*badhex)), "parse_hex64 refuses other lengths, 0x, signs, case, blanks");
	ok(parse_u64("-1", &u) < 0, "parse_u64 negative");

	ok(parse_int_range(" 8", 1, 64, &l) < 0, "parse_int_range: a leading blank");
	ok(parse_int_range("+8", 1, 64, &l) < 0, "parse_int_range: a plus sign");
	ok(parse_int_range("-8", -10, 64, &l) == 0 && l == -8, "parse_int_range: a minus sign");

	finite_tests();
	redact_tests();

	char buf[64];
	is_str(fmt_thousands(buf, sizeof(buf), 494032768), "494,032,768", "fmt_thousands");
	is_str(fmt_thousands(buf, sizeof(buf), 999), "999", "fmt_thousands small");
	is_str(fmt_thousands(buf, sizeof(buf), 1000), "1,000", "fmt_thousands 1000");
	is_str(fmt_bytes(buf, sizeof(buf), 1536), "1.5 KiB", "fmt_bytes KiB");
	is_str(fmt_bytes(buf, sizeof(buf), 100), "100 B", "fmt_bytes bytes");
	is_str(fmt_duration(buf, sizeof(buf), 62.34), "1m 02.3s", "fmt_duration minutes");
	int64_t now = (int64_t)time(NULL);
	ok(!strcmp(fmt_ago(buf, sizeof(buf), now + 100), "0s ago"), "fmt_ago: the future is now");
	ok(strstr(fmt_ago(buf, sizeof(buf), now - 3 * 3600), "h ago") && buf[0] == '3', "fmt_ago: hours");
	ok(!strcmp(fmt_ago(buf, sizeof(buf), now - 5 * 86400), "5d ago"), "fmt_ago: days past two");

	is_int(edit_distance("mkmodel", "mkmodle"), 1, "transposition costs 1");
	is_int(edit_distance("inspect", "inspcet"), 1, "transposition in the middle");
	is_int(edit_distance("bench", "bench"), 0, "identical");
	is_int(edit_distance("", "run"), 3, "empty vs word");

	char *p = path_join("/a/b/", "c");
	is_str(p, "/a/b/c", "path_join strips trailing slashes");
	free(p);

	struct cs_err e;
	ok(cs_fail_errno(&e, 2, "cannot open '%s'", "x") == -1, "cs_fail returns -1");
	is_str(e.msg, "cannot open 'x': No such file or directory", "cs_fail_errno appends strerror");
	return done_testing();
}
