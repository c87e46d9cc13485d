#include "core/util.h"

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

int main(void)
{
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
	ok(parse_u64("-1", &u) < 0, "parse_u64 negative");

	char buf[64];
	is_str(fmt_thousands(buf, sizeof(buf), 494032768), "494,032,768", "fmt_thousands");
	is_str(fmt_thousands(buf, sizeof(buf), 999), "999", "fmt_thousands small");
	is_str(fmt_thousands(buf, sizeof(buf), 1000), "1,000", "fmt_thousands 1000");
	is_str(fmt_bytes(buf, sizeof(buf), 1536), "1.5 KiB", "fmt_bytes KiB");
	is_str(fmt_bytes(buf, sizeof(buf), 100), "100 B", "fmt_bytes bytes");
	is_str(fmt_duration(buf, sizeof(buf), 62.34), "1m 02.3s", "fmt_duration minutes");

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
