#ifndef CS_UTIL_H
#define CS_UTIL_H
/*
 * util: errors, allocation, number/size/duration parsing and formatting.
 *
 * Core modules never print: they fill a caller-owned struct cs_err and
 * return -1 (cs_fail). The message is complete ("what failed: 'subject'")
 * and the caller decides how to show it (the command side's error() /
 * warning() / die() in cli.h). The allocation wrappers never return NULL:
 * out of memory goes through cs_oom.
 * Thread safety: the parsing and formatting functions are reentrant; the
 * printing functions write whole lines with one stdio call each.
 */
#include <stdarg.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CS_ERRMSG_MAX 1024

struct cs_err {
	int code;                 /* errno-style value, 0 when not known */
	char msg[CS_ERRMSG_MAX];  /* human message, no "coldstart:" prefix */
};

/* A cancel flag (set by a signal handler or another thread) is set. */
static inline int cs_cancelled(volatile sig_atomic_t *flag)
{
	return flag && __atomic_load_n(flag, __ATOMIC_RELAXED);
}

/* Fill err (if non-NULL) with a formatted message; returns -1.
 * cs_fail_errno appends ": strerror(code)". */
int cs_failf(struct cs_err *err, int code, int with_strerror, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define cs_fail(err, code, ...) cs_failf((err), (code), 0, __VA_ARGS__)
#define cs_fail_errno(err, code, ...) cs_failf((err), (code), 1, __VA_ARGS__)

/* How the engine hands progress and notices to the command side: one
 * line, no prefix, no newline. cs_say formats it and calls cb (nothing
 * when cb is NULL). */
typedef void (*cs_msg_fn)(const char *msg, void *arg);
void cs_say(cs_msg_fn cb, void *arg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Where a remote source hands a range's bytes as they arrive, in order:
 * data starts pos bytes into the range (pos 0 again: the read restarted,
 * what came before is void). 0, or -1 with err set (the destination
 * failed): the read stops and returns that error. */
typedef int (*cs_sink_fn)(void *arg, uint64_t pos, const void *data, size_t n, struct cs_err *err);

/* Out of memory: the engine cannot go on. Calls cs_oom_hook (the command
 * side sets one that reports and exits), else abort(). Never returns. */
void cs_oom(const char *what) __attribute__((noreturn));
extern void (*cs_oom_hook)(const char *what);

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Grow *p (of *alloc elements of size sz) so that it holds at least n. */
void *xgrow(void *p, size_t *alloc, size_t n, size_t sz);

/* Frees the n strings of v, then v (NULL with n 0 is fine). */
void free_strv(char **v, size_t n);
/* Frees member m of each of the n elements of array a, then a: an array
 * of records each owning one malloc'd pointer (a name, a path). */
#define FREE_MEMBERS(a, n, m)                                          \
	do {                                                           \
		for (size_t free_members_i_ = 0; free_members_i_ < (n); free_members_i_++) \
			free((a)[free_members_i_].m);                  \
		free(a);                                               \
	} while (0)

/*
 * Sizes: a number with an optional fraction and unit. Units are
 * case-insensitive: B; K/M/G/T/P and KiB/MiB/GiB/TiB/PiB are powers of 1024;
 * KB/MB/GB/TB/PB are powers of 1000 (as Hugging Face's "5GB"). A bare
 * number is bytes. Returns 0 and stores bytes, or -1 (invalid or overflow).
 */
int parse_size(const char *s, uint64_t *out);
/* A rate: a size with an optional "/s" suffix, in bytes per second. */
int parse_rate(const char *s, uint64_t *out);
/*
 * Durations: a number with an optional fraction and unit ns, us, ms, s, m,
 * h; a bare number is seconds. Returns 0 and stores nanoseconds, or -1.
 */
int parse_duration(const char *s, uint64_t *ns_out);
/* As parse_duration, but a bare number other than 0 is refused: for values
 * such as latencies, where "5" could mean 5 ms as easily as 5 s. */
int parse_duration_unit(const char *s, uint64_t *ns_out);
/* A non-negative decimal integer that fits in uint64_t; -1 otherwise. */
int parse_u64(const char *s, uint64_t *out);
/* As parse_u64, bounded to [min, max] (an optional '-', then digits). */
int parse_int_range(const char *s, long min, long max, long *out);
/* Exactly 16 lowercase hex digits, as "%016llx" writes a 64-bit hash (no
 * 0x, sign, blank or other length); -1 otherwise, *out untouched. */
int parse_hex64(const char *s, uint64_t *out);
/*
 * A finite decimal number, the only kind read from CSVs, notes, sidecars
 * and server logs: [+-]DIGITS[.DIGITS][e[+-]DIGITS] (or .DIGITS), in the C
 * locale. No blanks, hex, "inf", "nan", or a value that overflows a
 * double. parse_finite takes all of s; parse_finite_prefix the number at
 * the start of s, *end set after it (a log line's "1.23 seconds").
 * Returns 0, or -1 with *out untouched.
 */
int parse_finite(const char *s, double *out);
int parse_finite_prefix(const char *s, double *out, const char **end);

/*
 * Credentials in URLs: every scheme://... in a text (a URL ends at a blank,
 * a quote, '<', '>' or '`') with its user info, query and fragment hidden,
 * as passwords, tokens and presigned signatures go there.
 * redact_urls: "https://REDACTED@host/p?REDACTED" (malloc'd).
 * redact_urls_inplace: each hidden byte overwritten with '*', the length
 * kept (for argv, which /proc/PID/cmdline shows); returns 1 if it changed s.
 * url_has_secret: 1 if s holds a URL with any of them.
 */
char *redact_urls(const char *text);
int redact_urls_inplace(char *s);
int url_has_secret(const char *s);

/* Human formatting into a caller buffer; returns buf. */
char *fmt_bytes(char *buf, size_t len, uint64_t bytes);       /* "1.5 GiB" */
char *fmt_thousands(char *buf, size_t len, uint64_t v);       /* "494,032,768" */
char *fmt_duration(char *buf, size_t len, double seconds);    /* "1m 02.3s" */
char *fmt_ago(char *buf, size_t len, int64_t t);              /* unix time t from now: "5m ago" */

/* Monotonic clock in nanoseconds / seconds. */
uint64_t now_ns(void);
double now_s(void);
/* Clock clk's time ns (below a second) from now: a deadline for
 * pthread_cond_timedwait on a condition that waits on clk. */
struct timespec timespec_in(clockid_t clk, long ns);

/* Edit distance (Damerau–Levenshtein, optimal string alignment). */
size_t edit_distance(const char *a, const char *b);

/* Join directory and name with one '/'; the result is malloc'd. */
char *path_join(const char *dir, const char *name);

#endif
