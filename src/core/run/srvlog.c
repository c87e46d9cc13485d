#define _GNU_SOURCE
#include "srvlog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/banned.h"

#define LINE_MAX_BYTES 65536

static void handle_line(struct srvlog *l, char *line, size_t len)
{
	uint64_t t = now_ns();
	line[len] = '\0';
	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	double off = t >= l->t0_ns ? (double)(t - l->t0_ns) / 1e9 : 0;
	if (l->out) {
		if ((fprintf(l->out, "[%10.3fs] %s\n", off, line) < 0 || fflush(l->out) != 0) && !l->write_errno)
			l->write_errno = errno ? errno : EIO;
	}
	if (l->on_line)
		l->on_line(line, t, l->on_line_arg);
	pthread_mutex_lock(&l->mu);
	l->lines++;
	if (l->re && !l->match_ns && regexec(l->re, line, 0, NULL, 0) == 0)
		l->match_ns = t;
	free(l->tail[l->tail_next]);
	l->tail[l->tail_next] = xstrdup(line);
	l->tail_next = (l->tail_next + 1) % SRVLOG_TAIL;
	if (l->ntail < SRVLOG_TAIL)
		l->ntail++;
	pthread_mutex_unlock(&l->mu);
}

static void *reader(void *arg)
{
	struct srvlog *l = arg;
	char *buf = xmalloc(LINE_MAX_BYTES + 1);
	size_t have = 0;
	for (;;) {
		pthread_mutex_lock(&l->mu);
		int stop = l->stop;
		pthread_mutex_unlock(&l->mu);
		if (stop)
			break;
		struct pollfd pfd = { l->fd, POLLIN, 0 };
		int pr = poll(&pfd, 1, 50);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		ssize_t n = read(l->fd, buf + have, LINE_MAX_BYTES - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		l->bytes += (uint64_t)n;
		have += (size_t)n;
		/* Lines end at \n, \r\n, or a lone \r (progress bars redraw
		 * with \r: each redraw becomes a stamped line). A \r at the end
		 * of the buffer waits for the next read to see if \n follows. */
		size_t start = 0;
		for (size_t i = 0; i < have; i++) {
			if (buf[i] == '\n') {
				handle_line(l, buf + start, i - start);
				start = i + 1;
			} else if (buf[i] == '\r' && i + 1 < have && buf[i + 1] != '\n') {
				handle_line(l, buf + start, i - start);
				start = i + 1;
			}
		}
		if (start == 0 && have == LINE_MAX_BYTES) { /* overlong line: cut */
			handle_line(l, buf, have);
			have = 0;
		} else {
			memmove(buf, buf + start, have - start);
			have -= start;
		}
	}
	if (have)
		handle_line(l, buf, have);
	free(buf);
	pthread_mutex_lock(&l->mu);
	l->eof = 1;
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

int srvlog_start(struct srvlog *l, int fd, const char *log_path, uint64_t t0_ns, const regex_t *re,
		 srvlog_line_fn on_line, void *arg, struct cs_err *err)
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->t0_ns = t0_ns;
	l->re = re;
	l->on_line = on_line;
	l->on_line_arg = arg;
	pthread_mutex_init(&l->mu, NULL);
	if (log_path) {
		l->out = fopen(log_path, "we");
		if (!l->out)
			return cs_fail_errno(err, errno, "cannot create log file '%s'", log_path);
	}
	int e = pthread_create(&l->th, NULL, reader, l);
	if (e) {
		if (l->out)
			fclose(l->out);
		l->out = NULL;
		return cs_fail_errno(err, e, "cannot start the log reader thread");
	}
	l->started = 1;
	return 0;
}

uint64_t srvlog_match_ns(struct srvlog *l)
{
	pthread_mutex_lock(&l->mu);
	uint64_t m = l->match_ns;
	pthread_mutex_unlock(&l->mu);
	return m;
}

char *srvlog_tail(struct srvlog *l)
{
	pthread_mutex_lock(&l->mu);
	char *s = xstrdup("");
	size_t first = (l->tail_next + SRVLOG_TAIL - l->ntail) % SRVLOG_TAIL;
	for (size_t i = 0; i < l->ntail; i++) {
		char *n = xasprintf("%s    %s\n", s, l->tail[(first + i) % SRVLOG_TAIL]);
		free(s);
		s = n;
	}
	pthread_mutex_unlock(&l->mu);
	return s;
}

void srvlog_stop(struct srvlog *l, uint64_t wait_ns)
{
	if (l->started) {
		uint64_t deadline = now_ns() + wait_ns;
		for (;;) {
			pthread_mutex_lock(&l->mu);
			int eof = l->eof;
			if (eof || now_ns() >= deadline)
				l->stop = 1;
			pthread_mutex_unlock(&l->mu);
			if (eof || now_ns() >= deadline)
				break;
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		pthread_join(l->th, NULL);
		l->started = 0;
	}
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->out && fclose(l->out) != 0 && !l->write_errno)
		l->write_errno = errno ? errno : EIO;
	l->out = NULL;
}

void srvlog_release(struct srvlog *l)
{
	for (size_t i = 0; i < SRVLOG_TAIL; i++) {
		free(l->tail[i]);
		l->tail[i] = NULL;
	}
	pthread_mutex_destroy(&l->mu);
}
