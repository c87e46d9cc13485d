#ifndef CS_SRVLOG_H
#define CS_SRVLOG_H
/*
 * srvlog: capture a server's output. A thread reads the pipe, writes each
 * line (ended by \n, \r\n or a lone \r) to the log file, prefixed with its
 * offset from launch
 * ("[   12.345s] text"), keeps the last SRVLOG_TAIL lines for error reports,
 * and records when a line first matches the readiness regex (if any). A
 * failure to write the log (a full disk) is kept in write_errno, not lost.
 *
 * Thread-safe accessors; srvlog_stop joins the thread after the pipe
 * reaches EOF or, if some process still holds it, after a bounded wait.
 */
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>

#include "core/base/util.h"

#define SRVLOG_TAIL 20

typedef void (*srvlog_line_fn)(const char *line, uint64_t t_ns, void *arg);

struct srvlog {
	int fd;
	FILE *out;
	uint64_t t0_ns;
	const regex_t *re;
	srvlog_line_fn on_line;   /* called on the reader thread, may be NULL */
	void *on_line_arg;
	pthread_t th;
	pthread_mutex_t mu;
	int started, eof, stop;
	uint64_t match_ns;        /* 0 until the regex matched */
	char *tail[SRVLOG_TAIL];
	size_t ntail, tail_next;
	uint64_t lines, bytes;
	int write_errno;          /* the first error writing the log file (0: none) */
};

/* Start reading fd (takes ownership; closed by srvlog_stop). log_path may
 * be NULL (no file). */
int srvlog_start(struct srvlog *l, int fd, const char *log_path, uint64_t t0_ns, const regex_t *re,
		 srvlog_line_fn on_line, void *arg, struct cs_err *err);
uint64_t srvlog_match_ns(struct srvlog *l);
/* Last lines joined with "\n", indented; malloc'd. */
char *srvlog_tail(struct srvlog *l);
/* Wait up to wait_ns for EOF, then stop the reader and close the pipe and
 * the log file. The tail stays readable until srvlog_release. */
void srvlog_stop(struct srvlog *l, uint64_t wait_ns);
void srvlog_release(struct srvlog *l);

#endif
