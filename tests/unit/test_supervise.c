/* The supervisor behind `coldstart exec`: exit statuses, signals passed on, the ready file. */
#define _GNU_SOURCE
#include "core/run/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/base/strbuf.h"
#include "core/io/pagecache.h"
#include "tap.h"

/* What the callbacks saw. */
struct seen {
	pthread_mutex_t mu;
	struct strbuf out;            /* the server's lines (the reader's thread) */
	struct strbuf status;
	struct strbuf warn;
	int readies;
	struct sv_ready ready;
	const char *ready_file;
	int file_at_start;            /* the ready file existed when the server had started */
	int file_at_ready;            /* ... and when it was ready */
	char *file_text;
	int signal_at_ready;          /* sent to this process once ready (0: none) */
	pid_t killer;
};

static void on_line(const char *msg, void *arg)
{
	struct seen *s = arg;
	pthread_mutex_lock(&s->mu);
	strbuf_addf(&s->out, "%s\n", msg);
	pthread_mutex_unlock(&s->mu);
}

static void on_status(const char *msg, void *arg)
{
	struct seen *s = arg;
	strbuf_addf(&s->status, "%s\n", msg);
	if (!strncmp(msg, "started pid", 11) && s->ready_file)
		s->file_at_start = access(s->ready_file, F_OK) == 0;
}

static void on_warn(const char *msg, void *arg)
{
	struct seen *s = arg;
	strbuf_addf(&s->warn, "%s\n", msg);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	struct strbuf b = STRBUF_INIT;
	int c;
	while ((c = fgetc(f)) != EOF)
		strbuf_addch(&b, (char)c);
	fclose(f);
	return b.buf ? strbuf_detach(&b) : xstrdup("");
}

/* Another process signals this one, as a container runtime or Slurm would. */
static pid_t signal_me(int sig)
{
	fflush(NULL);
	pid_t parent = getpid(), k = fork();
	if (k == 0) {
		kill(parent, sig);
		_exit(0);
	}
	return k;
}

static void on_ready(const struct sv_ready *r, void *arg)
{
	struct seen *s = arg;
	s->readies++;
	s->ready = *r;
	if (s->ready_file) {
		s->file_at_ready = access(s->ready_file, F_OK) == 0;
		free(s->file_text);
		s->file_text = slurp(s->ready_file);
	}
	if (s->signal_at_ready)
		s->killer = signal_me(s->signal_at_ready);
}

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
}

static void seen_free(struct seen *s)
{
	if (s->killer > 0)
		waitpid(s->killer, NULL, 0);
	strbuf_release(&s->out);
	strbuf_release(&s->status);
	strbuf_release(&s->warn);
	free(s->file_text);
	pthread_mutex_destroy(&s->mu);
}

static const char *text(const struct strbuf *b)
{
	return b->buf ? b->buf : "";
}

/* Run sh -c SCRIPT under the supervisor; the result's code, or -1. */
static int run_sh(const char *script, const char *ready, const char *ready_file, const char *model, int prefetch,
		  struct seen *s, struct sv_result *r)
{
	char sh[] = "sh", c[] = "-c";
	char *argv[] = { sh, c, (char *)script, NULL };
	struct ready_spec rs;
	struct cs_err err;
	if (ready && ready_parse(ready, 0, &rs, &err)) {
		printf("# ready_parse: %s\n", err.msg);
		return -1;
	}
	s->ready_file = ready_file;
	struct sv_opts o = {
		.argv = argv, .hold_fd = -1, .ready = ready ? &rs : NULL, .ready_file = ready_file, .model = model,
		.prefetch_jobs = prefetch, .line = on_line, .status = on_status, .warn = on_warn, .on_ready = on_ready,
		.arg = s,
	};
	int rc = sv_run(&o, r, &err);
	if (rc)
		printf("# sv_run: %s\n", err.msg);
	if (ready)
		ready_release(&rs);
	return rc ? -1 : r->code;
}

static int handled;
static void test_handler(int sig)
{
	(void)sig;
	handled = 1;
}

int main(void)
{
	alarm(120);   /* a supervisor that never returns fails the test rather than hanging it */
	char dir[] = "/tmp/test_supervise.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char *rf = xasprintf("%s/ready", dir);
	struct seen s;
	struct sv_result r;

	/* Exit statuses, as a shell reports them. */
	seen_init(&s);
	/* The server waits (bounded) for the ready file, and says it saw it. */
	char *wait_file = xasprintf("echo hello; for i in $(seq 250); do [ -f '%s' ] && { echo seen; exit 0; }; "
				    "sleep 0.02; done; exit 1", rf);
	is_int(run_sh(wait_file, NULL, rf, NULL, 0, &s, &r), 0, "a server that exits 0: 0");
	ok(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "... its wait status");
	ok(r.ready && r.pid > 0, "... no readiness check: ready as it started");
	ok(access(rf, F_OK) != 0, "... the ready file removed when it exited");
	is_str(text(&s.out), "hello\nseen\n", "the ready file was written as it started (the server saw it); "
	       "its output reaches the line callback, a line at a time");
	free(wait_file);
	ok(strstr(text(&s.status), "started pid ") && strstr(text(&s.status), ": sh\n"), "status: started, naming argv[0]");
	ok(strstr(text(&s.status), "the server exited with status 0\n") != NULL, "status: how it exited");
	is_int(s.readies, 0, "on_ready is for a readiness check's first answer only");
	seen_free(&s);

	seen_init(&s);
	is_int(run_sh("exit 3", "log:^never$", rf, NULL, 0, &s, &r), 3, "a server that exits 3: 3");
	ok(!r.ready && s.readies == 0, "... never ready");
	ok(strstr(text(&s.status), "the server exited with status 3, before it was ready\n") != NULL,
	   "... said so: before it was ready");
	seen_free(&s);

	seen_init(&s);
	is_int(run_sh("kill -KILL $$", NULL, NULL, NULL, 0, &s, &r), 128 + SIGKILL, "killed by SIGKILL: 128+9");
	ok(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL, "... its wait status says the signal");
	ok(strstr(text(&s.status), "the server exited on signal 9\n") != NULL, "... said as a signal, not a status");
	seen_free(&s);

	seen_init(&s);
	is_int(run_sh("kill -USR1 $$", NULL, NULL, NULL, 0, &s, &r), 128 + SIGUSR1, "killed by SIGUSR1: 128+10");
	seen_free(&s);

	/* Readiness, the ready file, the phases of the log; then SIGTERM to
	 * the supervisor reaches the server, whose own status comes back. */
	FILE *f = fopen(rf, "w");
	fputs("{\"ready_s\":0.5,\"model\":\"/old\",\"pid\":1}\n", f);   /* left by an earlier life */
	fclose(f);
	char *model = xasprintf("%s/weights.bin", dir);
	f = fopen(model, "w");
	for (int i = 0; i < 65536; i++)   /* 1 MiB: more than a format check reads of it */
		fputs("0123456789abcdef", f);
	fclose(f);
	/* Not resident, where the page cache lets it go (not on tmpfs): the
	 * prefetch runs only for a model that is not. */
	struct pc_set ms;
	struct cs_err me;
	char *mp[1] = { model };
	int evicted = pc_collect(mp, 1, &ms, &me) == 0 && pc_evict(&ms, &me) == 0 && pc_residency(&ms, &me) == 0 &&
		      !ms.resident && !ms.nunknown;
	pc_set_release(&ms);
	struct sigaction sa = { .sa_handler = test_handler }, before;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	seen_init(&s);
	s.signal_at_ready = SIGTERM;
	const char *server = "trap 'echo got TERM; exit 7' TERM; echo 'Loading weights took 1.50 seconds'; echo up; "
			     "while :; do sleep 0.05; done";
	is_int(run_sh(server, "log:^up$", rf, model, 1, &s, &r), 7,
	       "SIGTERM to the supervisor: passed on, and the server's own status (7) returned");
	ok(strstr(text(&s.out), "got TERM\n") != NULL, "... the server got SIGTERM");
	ok(strstr(text(&s.status), "passed signal 15 (") != NULL, "... status says it was passed on");
	ok(r.ready && s.readies == 1, "ready once, at the log line");
	ok(!s.file_at_start, "a ready file left from before is removed before the server starts");
	ok(s.file_at_ready, "the ready file is there when on_ready is called");
	json_t *j = s.file_text ? json_loads(s.file_text, 0, NULL) : NULL;
	ok(j && json_integer_value(json_object_get(j, "pid")) == r.pid && r.pid == s.ready.pid,
	   "... naming the server's pid");
	ok(j && json_is_string(json_object_get(j, "model")) && !strcmp(json_string_value(json_object_get(j, "model")), model),
	   "... and the model");
	ok(j && json_is_real(json_object_get(j, "ready_s")) && json_real_value(json_object_get(j, "ready_s")) >= 0,
	   "... and the time to ready");
	json_decref(j);
	ok(access(rf, F_OK) != 0, "the ready file is removed when the server exits");
	ok(s.ready.phases.weights_s == 1.5, "on_ready has the phases the log said by then (weights 1.5 s)");
	if (evicted)
		ok((s.ready.prefetch == 1 || s.ready.prefetch == 2) && strstr(text(&s.status), "prefetch: warming "),
		   "with prefetch_jobs and a model not resident: the prefetch ran, and status said so");
	else
		ok(s.ready.prefetch == 0 && strstr(text(&s.status), "prefetch: none: the model is resident"),
		   "with prefetch_jobs and a model that stays resident (tmpfs): no prefetch, and status said why");
	is_str(text(&s.warn), "", "no warnings");
	sigaction(SIGTERM, NULL, &before);
	ok(before.sa_handler == test_handler, "the caller's SIGTERM handler is back afterwards");
	ok(!handled, "... and the signal was the supervisor's, not the caller's");
	seen_free(&s);

	seen_init(&s);
	s.signal_at_ready = SIGINT;
	is_int(run_sh("trap 'exit 9' INT; echo up; while :; do sleep 0.05; done", "log:^up$", NULL, NULL, 0, &s, &r), 9,
	       "SIGINT to the supervisor: passed on, the server's status (9) returned");
	ok(strstr(text(&s.status), "passed signal 2 (") != NULL, "... status says so");
	is_int(s.ready.prefetch, 0, "no prefetch asked: none");
	seen_free(&s);

	seen_init(&s);
	s.signal_at_ready = SIGTERM;
	is_int(run_sh("echo up; while :; do sleep 0.05; done", "log:^up$", NULL, NULL, 0, &s, &r), 128 + SIGTERM,
	       "a server that does not handle SIGTERM: it ends on it, 128+15");
	seen_free(&s);

	/* A server that cannot start. */
	seen_init(&s);
	char nosuch[] = "/nonexistent/server";
	char *bad[] = { nosuch, NULL };
	struct sv_opts o = { .argv = bad, .hold_fd = -1, .ready_file = rf, .status = on_status, .arg = &s };
	struct cs_err err;
	ok(sv_run(&o, &r, &err) == -1 && err.code == ENOENT, "a server that does not exist: -1, ENOENT");
	ok(strstr(err.msg, "/nonexistent/server") != NULL, "... naming it");
	is_str(text(&s.status), "", "... nothing said as started");
	seen_free(&s);

	/* The ready file's place, checked before anything starts. */
	ok(sv_check_ready_file(rf, NULL, 0, &err) == 0, "a ready file in a writable directory: fine");
	ok(access(rf, F_OK) != 0, "... the check leaves nothing behind");
	ok(sv_check_ready_file(dir, NULL, 0, &err) == -1 && err.code == EISDIR && strstr(err.msg, "it is a directory"),
	   "a directory: refused");
	char *nodir = xasprintf("%s/no/such/ready", dir);
	ok(sv_check_ready_file(nodir, NULL, 0, &err) == -1 && err.code == ENOENT &&
		   strstr(err.msg, "(its directory does not exist)") && strstr(err.msg, nodir),
	   "a directory that does not exist: refused, naming the path");

	/* What is there already is not ours to overwrite and delete. */
	char *other = xasprintf("%s/config.json", dir);
	const char *cfg = "{\"a\":1}\n", *old = "{\"ready_s\":1.5,\"model\":\"/m\",\"pid\":7}\n",
		   *odd = "{\"ready_s\":1.5,\"pid\":7,\"x\":1}\n";
	ok(fs_write_file_sync(other, cfg, strlen(cfg), &err) == 0, "another file in the directory");
	ok(sv_check_ready_file(other, NULL, 0, &err) == -1 && err.code == EEXIST && strstr(err.msg, other) &&
		   strstr(err.msg, "not a ready file"),
	   "a file that is not a ready file: refused, naming it");
	ok(fs_write_file_sync(rf, old, strlen(old), &err) == 0,
	   "a ready file an earlier exec left");
	ok(sv_check_ready_file(rf, NULL, 0, &err) == 0, "... may be replaced");
	ok(fs_write_file_sync(rf, odd, strlen(odd), &err) == 0, "one with a key of another's");
	ok(sv_check_ready_file(rf, NULL, 0, &err) == -1 && err.code == EEXIST, "... is refused");
	unlink(rf);
	char *link = xasprintf("%s/link", dir);
	ok(symlink(other, link) == 0, "a symbolic link to another file");
	ok(sv_check_ready_file(link, NULL, 0, &err) == -1 && err.code == EEXIST, "... refused");
	unlink(link);
	const char *inside[] = { NULL, dir };
	ok(sv_check_ready_file(rf, inside, 2, &err) == -1 && err.code == EINVAL && strstr(err.msg, "would be inside"),
	   "a ready file inside the model (or the source, or ROOT): refused");
	char *sub = xasprintf("%s/.", dir);
	const char *inside2[] = { sub };
	ok(sv_check_ready_file(rf, inside2, 1, &err) == -1 && err.code == EINVAL, "... however the directory is spelt");
	const char *elsewhere[] = { "/nonexistent/model", nodir };
	ok(sv_check_ready_file(rf, elsewhere, 2, &err) == 0, "outside them (or they do not exist): fine");
	unlink(other);
	free(other);
	free(link);
	free(sub);

	unlink(model);
	rmdir(dir);
	free(nodir);
	free(model);
	free(rf);
	return done_testing();
}
