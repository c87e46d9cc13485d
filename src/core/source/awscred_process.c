/* awscred: credential_process -- split, run without a shell, its JSON
 * read (awscred.h); and the JSON documents the endpoints answer. */
#define _GNU_SOURCE
#include "awscred_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/base/strbuf.h"
#include "core/base/banned.h"

extern char **environ;

#define PROCESS_OUT_MAX (64u << 10)

char **aws_split_command(const char *cmd, size_t *n)
{
	char **v = NULL;
	size_t alloc = 0;
	*n = 0;
	struct strbuf w = STRBUF_INIT;
	int inword = 0;
	const char *p = cmd;
	for (; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n') {
			if (inword) {
				v = xgrow(v, &alloc, *n + 2, sizeof(*v));
				v[(*n)++] = strbuf_detach(&w);
				inword = 0;
			}
			continue;
		}
		inword = 1;
		if (*p == '\\') {
			if (!p[1])
				break;
			if (p[1] != '\n')
				strbuf_addch(&w, p[1]);
			p++;
		} else if (*p == '\'') {
			const char *e = strchr(p + 1, '\'');
			if (!e)
				break;
			strbuf_add(&w, p + 1, (size_t)(e - p - 1));
			p = e;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1] && strchr("\\\"$`\n", p[1])) {
					if (p[1] != '\n')
						strbuf_addch(&w, p[1]);
					p++;
				} else {
					strbuf_addch(&w, *p);
				}
			}
			if (!*p) {
				p = "\"";   /* unclosed: what the check below refuses */
				break;
			}
		} else {
			strbuf_addch(&w, *p);
		}
	}
	if (!*p && inword) {
		v = xgrow(v, &alloc, *n + 2, sizeof(*v));
		v[(*n)++] = strbuf_detach(&w);
	}
	strbuf_release(&w);
	if (*p || !*n) {   /* an unclosed quote, a trailing '\\', or no word */
		free_strv(v, *n);
		*n = 0;
		return NULL;
	}
	v[*n] = NULL;
	return v;
}

int64_t aws_parse_time(const char *s)
{
	int y, mo, d, h, mi, sec, used = 0;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) < 6)
		return -1;
	const char *t = s + used;
	if (*t == '.')
		for (t++; *t >= '0' && *t <= '9'; t++)
			;
	long off = 0;
	if (*t == '+' || *t == '-') {
		int oh, om;
		if (sscanf(t + 1, "%2d:%2d", &oh, &om) != 2)
			return -1;
		off = (*t == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
		t += 6;
	} else if (*t == 'Z' || *t == 'z') {
		t++;
	} else {
		return -1;
	}
	if (*t || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
			 .tm_sec = sec };
	return (int64_t)timegm(&tm) - off;
}

static const char *jstr(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	return s && *s ? s : NULL;
}

int ac_parse_json(const char *text, size_t len, int want_version, const char *what, struct ac_creds *out,
		  struct cs_err *err)
{
	memset(out, 0, sizeof(*out));
	json_error_t je;
	json_t *j = json_loadb(text, len, 0, &je);
	const char *why = NULL;
	if (!json_is_object(j))
		why = "not a JSON object";
	else if (want_version && json_integer_value(json_object_get(j, "Version")) != want_version)
		why = "no \"Version\": 1";
	else if (!jstr(j, "AccessKeyId") || !jstr(j, "SecretAccessKey"))
		why = "no AccessKeyId and SecretAccessKey";
	int64_t exp = 0;
	const char *e = j ? jstr(j, "Expiration") : NULL;
	if (!why && e && (exp = aws_parse_time(e)) < 0)
		why = "an Expiration that is not an ISO 8601 time";
	else if (!why && e && exp <= (int64_t)time(NULL))
		why = "credentials that have expired";
	if (why) {
		json_decref(j);
		return cs_fail(err, EPROTO, "%s: %s (its output is not shown)", what, why);
	}
	const char *tok = jstr(j, "SessionToken");
	if (!tok)
		tok = jstr(j, "Token");
	out->key_id = xstrdup(jstr(j, "AccessKeyId"));
	out->secret = xstrdup(jstr(j, "SecretAccessKey"));
	out->token = tok ? xstrdup(tok) : NULL;
	out->expires = e ? exp : 0;
	json_decref(j);
	return 0;
}

/* The child's stdout until it closes, at most PROCESS_OUT_MAX bytes, by
 * deadline (ms on CLOCK_MONOTONIC). 0, ETIMEDOUT, or E2BIG. */
static int read_all(int fd, struct strbuf *out, uint64_t deadline_ms)
{
	char buf[4096];
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		if (now >= deadline_ms)
			return ETIMEDOUT;
		struct pollfd pf = { fd, POLLIN, 0 };
		int r = poll(&pf, 1, (int)(deadline_ms - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r ? errno : ETIMEDOUT;
		ssize_t got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got ? errno : 0;
		if (out->len + (size_t)got > PROCESS_OUT_MAX)
			return E2BIG;
		strbuf_add(out, buf, (size_t)got);
	}
}

/* argv run with stdin /dev/null, stdout into out, stderr passed through;
 * its status in *status. 0, or an errno (ETIMEDOUT: killed). */
static int run(char **argv, int timeout_ms, struct strbuf *out, int *status)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC))
		return errno;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	if (rc) {
		close(pfd[0]);
		return rc;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	rc = read_all(pfd[0], out, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + (uint64_t)timeout_ms);
	close(pfd[0]);
	if (rc)
		kill(-pid, SIGKILL);   /* its own group: what it started goes too */
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return rc;
}

int ac_process(const char *profile, const char *cmd, int timeout_ms, struct ac_creds *out, struct cs_err *err)
{
	memset(out, 0, sizeof(*out));
	size_t n;
	char **argv = aws_split_command(cmd, &n);
	if (!argv)
		return cs_fail(err, EINVAL, "profile '%s': credential_process is not a command line (an unclosed quote, "
			       "or empty)", profile);
	struct strbuf sb = STRBUF_INIT;
	int status = 0, rc = run(argv, timeout_ms, &sb, &status);
	char *what = xasprintf("profile '%s': credential_process '%s'", profile, argv[0]);
	if (rc == ETIMEDOUT)
		rc = cs_fail(err, rc, "%s did not finish within %d s: killed", what, timeout_ms / 1000);
	else if (rc == E2BIG)
		rc = cs_fail(err, rc, "%s wrote more than %u KiB: refused", what, PROCESS_OUT_MAX >> 10);
	else if (rc)
		rc = cs_fail(err, rc, "%s could not be run: %s", what, strerror(rc));
	else if (WIFSIGNALED(status))
		rc = cs_fail(err, ECHILD, "%s was killed by signal %d (its output is not shown)", what, WTERMSIG(status));
	else if (WEXITSTATUS(status))
		rc = cs_fail(err, ECHILD, "%s exited with status %d (its output is not shown)", what, WEXITSTATUS(status));
	else
		rc = ac_parse_json(sb.buf, sb.len, 1, what, out, err);
	if (sb.buf)
		memset(sb.buf, 0, sb.len);
	strbuf_release(&sb);
	free_strv(argv, n);
	free(what);
	return rc;
}

void ac_creds_release(struct ac_creds *c)
{
	if (c->secret)
		memset(c->secret, 0, strlen(c->secret));
	if (c->token)
		memset(c->token, 0, strlen(c->token));
	free(c->key_id);
	free(c->secret);
	free(c->token);
	memset(c, 0, sizeof(*c));
}
