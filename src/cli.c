#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/util.h"
#include "core/base/banned.h"

volatile sig_atomic_t cli_signal;
const char *cs_cmdname;

/*
 * --json's failure (cli_json_errors): the first error's message, and the
 * fields a command added, until cli_json_finish prints them as the one JSON
 * document on stdout. A mutex: error() may come from any thread.
 */
static struct {
	pthread_mutex_t lock;
	int on, printed, have;
	char msg[4400];
	json_t *fields;
} jerr = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void json_error_note(const char *msg, int errnum)
{
	pthread_mutex_lock(&jerr.lock);
	if (jerr.on && !jerr.have) {
		snprintf(jerr.msg, sizeof(jerr.msg), "%s%s%s", msg, errnum ? ": " : "", errnum ? strerror(errnum) : "");
		jerr.have = 1;
	}
	pthread_mutex_unlock(&jerr.lock);
}

void cli_json_errors(void)
{
	jerr.on = 1;
}

void cli_error_field(const char *key, const char *value)
{
	if (!jerr.on || !value)
		return;
	char *shown = redact_urls(value);
	pthread_mutex_lock(&jerr.lock);
	if (!jerr.fields)
		jerr.fields = json_object();
	json_object_set_new(jerr.fields, key, json_string(shown));
	pthread_mutex_unlock(&jerr.lock);
	free(shown);
}

int cli_json_finish(int rc)
{
	pthread_mutex_lock(&jerr.lock);
	int print = jerr.on && rc && !jerr.printed;
	json_t *e = print ? json_object() : NULL;
	if (e) {
		if (!jerr.have)
			snprintf(jerr.msg, sizeof(jerr.msg), "failed (exit status %d)", rc);
		json_object_set_new(e, "message", json_string(jerr.msg));
		json_object_set_new(e, "command", cs_cmdname ? json_string(cs_cmdname) : json_null());
		json_object_set_new(e, "exit_status", json_integer(rc));
		if (jerr.fields)
			json_object_update(e, jerr.fields);
	}
	pthread_mutex_unlock(&jerr.lock);
	if (e)
		print_json(json_pack("{s:o}", "error", e));
	return rc;
}

static void vreport(const char *kind, int errnum, const char *fmt, va_list ap)
{
	char msg[4096];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		msg[0] = '\0';
	/* No message shows a URL's credentials, whoever built it. */
	char *shown = redact_urls(msg);
	char line[4400];
	snprintf(line, sizeof(line), "coldstart: %s%s%s%s%s%s\n",
		 cs_cmdname ? cs_cmdname : "", cs_cmdname ? ": " : "",
		 kind, shown, errnum ? ": " : "", errnum ? strerror(errnum) : "");
	if (strcmp(kind, "warning: "))
		json_error_note(shown, errnum);
	free(shown);
	fflush(stdout);
	fputs(line, stderr);
}

int error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("", 0, fmt, ap);
	va_end(ap);
	return EXIT_FAIL;
}

int error_errno(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vreport("", e, fmt, ap);
	va_end(ap);
	return EXIT_FAIL;
}

void warning(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("warning: ", 0, fmt, ap);
	va_end(ap);
}

void warning_cb(const char *msg, void *arg)
{
	(void)arg;
	warning("%s", msg);
}

void stdout_line_cb(const char *msg, void *arg)
{
	(void)arg;
	fputs(msg, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport("fatal: ", 0, fmt, ap);
	va_end(ap);
	cli_json_finish(EXIT_FAIL);
	fflush(stdout);
	exit(1);
}

static void oom(const char *what)
{
	die("out of memory %s", what);
}

void cli_init(void)
{
	cs_oom_hook = oom;
}

int usage_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error("%s", msg);
	fprintf(stderr, "Try 'coldstart %s --help' for more information.\n",
		cs_cmdname ? cs_cmdname : "");
	return EXIT_USAGE;
}

int bad_option(int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	if (c == ':')
		return usage_error("option '%s' needs a value", arg);
	if (optopt && optopt != '?')
		return usage_error("unknown option '-%c'", optopt);
	return usage_error("unknown option '%s'", arg);
}

int one_operand(int argc, char **argv, const char *what, const char **out)
{
	if (optind >= argc)
		return usage_error("missing %s", what);
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);
	*out = argv[optind];
	return 0;
}

static void on_signal(int sig)
{
	/* A lock-free atomic store: async-signal-safe, and the engine's
	 * threads read the flag with atomic loads. */
	__atomic_store_n(&cli_signal, sig, __ATOMIC_RELAXED);
}

static sigset_t stop_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	return set;
}

/*
 * The deadline's watchdog: the one thread that takes the stop signals (the
 * others block them), so the flag is set even when every other thread is
 * stuck where no handler can run -- a read waiting on a hung mount's page
 * in D state. After the deadline it ends the process as kill -9 would,
 * exit_group taking the stuck threads with it.
 */
static void *watchdog(void *arg)
{
	unsigned seconds = (unsigned)(uintptr_t)arg;
	sigset_t set = stop_signals();
	int sig = 0;
	while (sigwait(&set, &sig) != 0) {
	}
	on_signal(sig);
	struct timespec ts = { (time_t)seconds, 0 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
	char msg[256];
	snprintf(msg, sizeof(msg), "coldstart: %s%sinterrupted; stopped without waiting for work stuck in the kernel "
		 "(a slow or hung file system)\n", cs_cmdname ? cs_cmdname : "", cs_cmdname ? ": " : "");
	fflush(stdout);
	if (write(STDERR_FILENO, msg, strlen(msg)) < 0) {
		/* nothing more to say */
	}
	_exit(128 + sig);
}

int cli_signal_deadline(unsigned seconds)
{
	sigset_t set = stop_signals(), old;
	pthread_sigmask(SIG_BLOCK, &set, &old);
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &a, watchdog, (void *)(uintptr_t)seconds);
	pthread_attr_destroy(&a);
	if (rc) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);   /* the handler alone, then */
		return -1;
	}
	return 0;
}

void cli_catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int cli_signal_exit(void)
{
	int sig = __atomic_load_n(&cli_signal, __ATOMIC_RELAXED);   /* the deadline's thread may set it */
	return 128 + (sig ? sig : SIGINT);
}

void progress_init(struct progress *p, const char *label, int quiet)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->enabled = !quiet && isatty(STDERR_FILENO);
	p->start_ns = now_ns();
}

void progress_update(struct progress *p, uint64_t done, uint64_t total)
{
	if (!p->enabled)
		return;
	uint64_t t = now_ns();
	if (p->drawn && t - p->last_ns < 100000000ULL && done < total)
		return;
	p->last_ns = t;
	p->drawn = 1;
	double el = (double)(t - p->start_ns) / 1e9;
	double frac = total ? (double)done / (double)total : 1;
	double rate = el > 0 ? (double)done / el : 0;
	char a[32], b[32], r[32], eta[32] = "";
	fmt_bytes(a, sizeof(a), done);
	fmt_bytes(b, sizeof(b), total);
	fmt_bytes(r, sizeof(r), (uint64_t)rate);
	if (rate > 0 && done < total)
		fmt_duration(eta, sizeof(eta), (double)(total - done) / rate);
	char bar[31];
	int filled = (int)(frac * 30);
	for (int i = 0; i < 30; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r%s [%s] %3d%%  %s / %s  %s/s%s%s\033[K", p->label, bar,
		(int)(frac * 100), a, b, r, *eta ? "  ETA " : "", eta);
	fflush(stderr);
}

void progress_cb(uint64_t done, uint64_t total, void *progress)
{
	progress_update(progress, done, total);
}

void progress_done(struct progress *p)
{
	if (p->enabled && p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

int print_json(json_t *j)
{
	jerr.printed = 1;
	int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
	json_decref(j);
	putchar('\n');
	return rc;
}
