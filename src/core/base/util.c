#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

int cs_failf(struct cs_err *err, int code, int with_strerror, const char *fmt, ...)
{
	if (!err)
		return -1;
	err->code = code;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
	if (with_strerror && code) {
		size_t used = strlen(err->msg);
		snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", strerror(code));
	}
	return -1;
}

void (*cs_oom_hook)(const char *what);

void cs_oom(const char *what)
{
	if (cs_oom_hook)
		cs_oom_hook(what);
	abort(); /* no hook, or one that returned */
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		cs_oom("allocating memory");
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		cs_oom("allocating memory");
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		cs_oom("allocating memory");
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		cs_oom("duplicating a string");
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		cs_oom("duplicating a string");
	return p;
}

void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *p;
	if (vasprintf(&p, fmt, ap) < 0)
		cs_oom("formatting a string");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void *xgrow(void *p, size_t *alloc, size_t n, size_t sz)
{
	if (n <= *alloc)
		return p;
	size_t want = *alloc ? *alloc : 8;
	while (want < n) {
		if (want > SIZE_MAX / 2)
			cs_oom("growing an array past SIZE_MAX");
		want *= 2;
	}
	if (sz && want > SIZE_MAX / sz)
		cs_oom("growing an array past SIZE_MAX");
	*alloc = want;
	return xrealloc(p, want * sz);
}

/*
 * Parse "<digits>[.<digits>]" at *s exactly, as an integer part and a
 * fraction in [0,1). Rejects signs, exponents, hex, empty input.
 */
static int parse_decimal(const char **s, uint64_t *ipart, double *frac)
{
	const char *p = *s;
	uint64_t v = 0;
	int digits = 0;
	while (isdigit((unsigned char)*p)) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
		digits++;
	}
	double f = 0, scale = 0.1;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			f += (*p - '0') * scale;
			scale /= 10;
			p++;
			digits++;
		}
	}
	if (!digits)
		return -1;
	*s = p;
	*ipart = v;
	*frac = f;
	return 0;
}

static int scale_checked(uint64_t ipart, double frac, uint64_t mult, uint64_t *out)
{
	uint64_t whole;
	if (__builtin_mul_overflow(ipart, mult, &whole))
		return -1;
	double extra = frac * (double)mult;
	uint64_t e = (uint64_t)llround(extra);
	if (__builtin_add_overflow(whole, e, out))
		return -1;
	return 0;
}

struct unit {
	const char *suffix;
	uint64_t mult;
};

/* A decimal number, then (after spaces, when allowed) one of the units. */
static int parse_with_units(const char *s, int spaces, int icase, const struct unit *units, size_t nunits,
			    uint64_t *out)
{
	if (!s)
		return -1;
	uint64_t ip;
	double fr;
	if (parse_decimal(&s, &ip, &fr))
		return -1;
	while (spaces && *s == ' ')
		s++;
	for (size_t i = 0; i < nunits; i++)
		if (!(icase ? strcasecmp(s, units[i].suffix) : strcmp(s, units[i].suffix)))
			return scale_checked(ip, fr, units[i].mult, out);
	return -1;
}

int parse_size(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", 1ULL << 10 }, { "kib", 1ULL << 10 }, { "kb", 1000ULL },
		{ "m", 1ULL << 20 }, { "mib", 1ULL << 20 }, { "mb", 1000000ULL },
		{ "g", 1ULL << 30 }, { "gib", 1ULL << 30 }, { "gb", 1000000000ULL },
		{ "t", 1ULL << 40 }, { "tib", 1ULL << 40 }, { "tb", 1000000000000ULL },
		{ "p", 1ULL << 50 }, { "pib", 1ULL << 50 }, { "pb", 1000000000000000ULL },
	};
	return parse_with_units(s, 1, 1, units, sizeof(units) / sizeof(units[0]), out);
}

int parse_rate(const char *s, uint64_t *out)
{
	if (!s)
		return -1;
	size_t n = strlen(s);
	if (n > 2 && !strcasecmp(s + n - 2, "/s")) {
		char *tmp = xstrndup(s, n - 2);
		int r = parse_size(tmp, out);
		free(tmp);
		return r;
	}
	return parse_size(s, out);
}

int parse_duration(const char *s, uint64_t *ns_out)
{
	static const struct unit units[] = {
		{ "", 1000000000ULL }, { "s", 1000000000ULL }, { "ns", 1 },
		{ "us", 1000ULL }, { "ms", 1000000ULL }, { "m", 60000000000ULL },
		{ "min", 60000000000ULL }, { "h", 3600000000000ULL },
	};
	return parse_with_units(s, 0, 0, units, sizeof(units) / sizeof(units[0]), ns_out);
}

int parse_duration_unit(const char *s, uint64_t *ns_out)
{
	size_t n = s ? strlen(s) : 0;
	if (n && isdigit((unsigned char)s[n - 1])) {
		/* A bare number: only zero is unambiguous. */
		uint64_t v;
		if (parse_duration(s, &v) || v)
			return -1;
	}
	return parse_duration(s, ns_out);
}

int parse_u64(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int parse_hex64(const char *s, uint64_t *out)
{
	if (!s || strspn(s, "0123456789abcdef") != 16 || s[16])
		return -1;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++)
		v = v << 4 | (uint64_t)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
	*out = v;
	return 0;
}

int parse_int_range(const char *s, long min, long max, long *out)
{
	if (!s || !(isdigit((unsigned char)*s) || (*s == '-' && isdigit((unsigned char)s[1]))))
		return -1;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static const char *digits_at(const char *p)
{
	while (isdigit((unsigned char)*p))
		p++;
	return p;
}

int parse_finite_prefix(const char *s, double *out, const char **end)
{
	if (!s)
		return -1;
	const char *p = s + (*s == '+' || *s == '-');
	const char *q = digits_at(p);
	int mant = q > p;
	if (*q == '.') {
		const char *f = digits_at(q + 1);
		mant |= f > q + 1;
		q = mant ? f : q;
	}
	if (!mant)
		return -1;
	if (*q == 'e' || *q == 'E') {
		const char *x = q + 1 + (q[1] == '+' || q[1] == '-');
		const char *xe = digits_at(x);
		if (xe > x)
			q = xe;
	}
	/* strtod on exactly the text checked above (it alone rounds right). */
	char buf[128];
	if ((size_t)(q - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(q - s));
	buf[q - s] = '\0';
	char *e;
	double v = strtod(buf, &e);
	if (*e || !isfinite(v))
		return -1;
	*out = v;
	if (end)
		*end = q;
	return 0;
}

int parse_finite(const char *s, double *out)
{
	const char *end;
	double v;
	if (parse_finite_prefix(s, &v, &end) || *end)
		return -1;
	*out = v;
	return 0;
}

/* ---- URLs in text ---- */

static int url_end_char(char c)
{
	return !c || isspace((unsigned char)c) || strchr("\"'`<>", c) || (unsigned char)c < 0x20;
}

/* The next URL of s from *pos: the spans to hide, [a[i], b[i]), at most 3
 * (user info, query, fragment). Returns their number, -1 when no URL is
 * left; *pos moves past the URL. */
static int url_secrets(const char *s, size_t *pos, size_t a[3], size_t b[3])
{
	const char *m;
	for (const char *from = s + *pos; (m = strstr(from, "://")); from = m + 3) {
		const char *st = m;
		while (st > s && (isalnum((unsigned char)st[-1]) || strchr("+.-", st[-1])))
			st--;
		while (st < m && !isalpha((unsigned char)*st))
			st++;
		if (st == m)
			continue;
		const char *h = m + 3, *end = h;
		while (!url_end_char(*end))
			end++;
		const char *auth_end = h + strcspn(h, "/?#");
		if (auth_end > end)
			auth_end = end;
		int n = 0;
		const char *at = NULL;
		for (const char *c = h; c < auth_end; c++)
			if (*c == '@')
				at = c;
		if (at) {
			a[n] = (size_t)(h - s);
			b[n++] = (size_t)(at - s);
		}
		const char *q = auth_end + strcspn(auth_end, "?#");
		if (q > end)
			q = end;
		if (q < end && *q == '?') {
			const char *hash = memchr(q, '#', (size_t)(end - q));
			a[n] = (size_t)(q + 1 - s);
			b[n++] = (size_t)((hash ? hash : end) - s);
			q = hash ? hash : end;
		}
		if (q < end && *q == '#') {
			a[n] = (size_t)(q + 1 - s);
			b[n++] = (size_t)(end - s);
		}
		*pos = (size_t)(end - s);
		return n;
	}
	return -1;
}

char *redact_urls(const char *text)
{
	if (!text)
		return NULL;
	size_t len = strlen(text), cap = len + 1, o = 0, pos = 0, done = 0, a[3], b[3];
	char *out = xmalloc(cap);
	int n;
	while ((n = url_secrets(text, &pos, a, b)) >= 0) {
		for (int i = 0; i < n; i++) {
			if (b[i] == a[i])
				continue;
			size_t keep = a[i] - done;
			out = xgrow(out, &cap, o + keep + 9, 1);
			memcpy(out + o, text + done, keep);
			o += keep;
			memcpy(out + o, "REDACTED", 8);
			o += 8;
			done = b[i];
		}
	}
	out = xgrow(out, &cap, o + len - done + 1, 1);
	memcpy(out + o, text + done, len - done);
	out[o + len - done] = '\0';
	return out;
}

int redact_urls_inplace(char *s)
{
	size_t pos = 0, a[3], b[3];
	int n, changed = 0;
	while (s && (n = url_secrets(s, &pos, a, b)) >= 0)
		for (int i = 0; i < n; i++)
			for (size_t k = a[i]; k < b[i]; k++)
				if (s[k] != '*') {
					s[k] = '*';
					changed = 1;
				}
	return changed;
}

int url_has_secret(const char *s)
{
	size_t pos = 0, a[3], b[3];
	int n;
	while (s && (n = url_secrets(s, &pos, a, b)) >= 0)
		for (int i = 0; i < n; i++)
			if (b[i] > a[i])
				return 1;
	return 0;
}

char *fmt_ago(char *buf, size_t len, int64_t t)
{
	int64_t d = (int64_t)time(NULL) - t;
	if (d < 0)
		d = 0;
	if (d < 120)
		snprintf(buf, len, "%llds ago", (long long)d);
	else if (d < 7200)
		snprintf(buf, len, "%lldm ago", (long long)(d / 60));
	else if (d < 172800)
		snprintf(buf, len, "%lldh ago", (long long)(d / 3600));
	else
		snprintf(buf, len, "%lldd ago", (long long)(d / 86400));
	return buf;
}

char *fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

char *fmt_thousands(char *buf, size_t len, uint64_t v)
{
	char digits[32];
	int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
	size_t o = 0;
	for (int i = 0; i < n && o + 1 < len; i++) {
		if (i && (n - i) % 3 == 0 && o + 2 < len)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	if (len)
		buf[o < len ? o : len - 1] = '\0';
	return buf;
}

char *fmt_duration(char *buf, size_t len, double seconds)
{
	if (seconds < 0)
		seconds = 0;
	if (seconds < 60)
		snprintf(buf, len, "%.1fs", seconds);
	else if (seconds < 3600)
		snprintf(buf, len, "%dm %04.1fs", (int)(seconds / 60), fmod(seconds, 60));
	else
		snprintf(buf, len, "%dh %02dm", (int)(seconds / 3600), (int)fmod(seconds, 3600) / 60);
	return buf;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct timespec timespec_in(clockid_t clk, long ns)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	ts.tv_nsec += ns;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

double now_s(void)
{
	return (double)now_ns() / 1e9;
}

size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *d = xcalloc((la + 1) * (lb + 1), sizeof(*d));
#define D(i, j) d[(i) * (lb + 1) + (j)]
	for (size_t i = 0; i <= la; i++)
		D(i, 0) = i;
	for (size_t j = 0; j <= lb; j++)
		D(0, j) = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t best = D(i - 1, j) + 1;
			if (D(i, j - 1) + 1 < best)
				best = D(i, j - 1) + 1;
			if (D(i - 1, j - 1) + cost < best)
				best = D(i - 1, j - 1) + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    D(i - 2, j - 2) + 1 < best)
				best = D(i - 2, j - 2) + 1;
			D(i, j) = best;
		}
	}
	size_t r = D(la, lb);
#undef D
	free(d);
	return r;
}

char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return xasprintf("%.*s/%s", (int)n, dir, name);
}

void cs_say(cs_msg_fn cb, void *arg, const char *fmt, ...)
{
	if (!cb)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	cb(msg, arg);
	free(msg);
}
