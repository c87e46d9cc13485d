/* supervise: a server in the foreground -- started, signals passed on, its readiness, its end. */
#define _GNU_SOURCE
#include "supervise.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/io/pagecache.h"
#include "proc.h"
#include "srvlog.h"
#include "core/base/banned.h"

/* Signals for the server, taken from the handler to the loop. */
static volatile sig_atomic_t pending[65];
static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
#define NFORWARDED (sizeof(forwarded) / sizeof(*forwarded))

static void on_signal(int sig)
{
	if (sig > 0 && sig < 65)
		__atomic_store_n(&pending[sig], 1, __ATOMIC_RELAXED);
}

/* The server's output, passed on; its phases read on the way. */
struct relay {
	struct phases ph;
	uint64_t t0;
	pthread_mutex_t mu;
	const struct sv_opts *o;
};

static void on_line(const char *line, uint64_t t_ns, void *arg)
{
	struct relay *r = arg;
	if (r->o->line)
		r->o->line(line, r->o->arg);
	pthread_mutex_lock(&r->mu);
	phases_line(&r->ph, line, t_ns >= r->t0 ? (double)(t_ns - r->t0) / 1e9 : 0);
	pthread_mutex_unlock(&r->mu);
}

/* One sv_run: what it started, and what it has to stop. */
struct sv {
	const struct sv_opts *o;
	struct proc p;
	struct pc_prefetch pf;
	struct relay rl;
	struct srvlog log;
	int have_log;
	int ready;
	struct sigaction old[NFORWARDED];
};

static void write_ready_file(const struct sv *s, double ready_s)
{
	const struct sv_opts *o = s->o;
	if (!o->ready_file)
		return;
	json_t *j = json_pack("{s:f, s:s?, s:I}", "ready_s", ready_s, "model", o->model, "pid", (json_int_t)s->p.pid);
	char *dump = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	char *text = xasprintf("%s\n", dump);
	free(dump);
	/* Atomic, and a temporary left by a kill is swept by the next exec. */
	struct cs_err err;
	if (fs_write_file_sync(o->ready_file, text, strlen(text), &err))
		cs_say(o->warn, o->arg, "cannot write the ready file: %s", err.msg);
	free(text);
}

static void signals_catch(struct sv *s)
{
	for (size_t i = 0; i < NFORWARDED; i++) {
		struct sigaction sa = { .sa_handler = on_signal };
		sigemptyset(&sa.sa_mask);
		__atomic_store_n(&pending[forwarded[i]], 0, __ATOMIC_RELAXED);
		sigaction(forwarded[i], &sa, &s->old[i]);
	}
}

static void signals_restore(struct sv *s)
{
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &s->old[i], NULL);
}

static void signals_pass(struct sv *s)
{
	for (size_t i = 0; i < NFORWARDED; i++) {
		int sig = forwarded[i];
		if (__atomic_exchange_n(&pending[sig], 0, __ATOMIC_RELAXED)) {
			kill(-s->p.pid, sig);
			cs_say(s->o->status, s->o->arg, "passed signal %d (%s) to the server", sig, strsignal(sig));
		}
	}
}

/* One readiness check; at the first answer the ready file and on_ready. */
static void check_ready(struct sv *s)
{
	struct ready_spec *rs = s->o->ready;
	int ok = rs->kind == READY_LOG ? s->have_log && srvlog_match_ns(&s->log) != 0
				       : ready_check(rs, 1000000000ull);
	if (!ok)
		return;
	s->ready = 1;
	struct sv_ready r = { .ready_s = (double)(now_ns() - s->p.exec_ns) / 1e9, .pid = s->p.pid };
	write_ready_file(s, r.ready_s);
	r.prefetch = !s->pf.started ? 0 : __atomic_load_n(&s->pf.done_ns, __ATOMIC_ACQUIRE) ? 1 : 2;
	pthread_mutex_lock(&s->rl.mu);
	r.phases = s->rl.ph;
	pthread_mutex_unlock(&s->rl.mu);
	if (s->o->on_ready)
		s->o->on_ready(&r, s->o->arg);
}

/* The model's files found, for the prefetch; 1 when there is one to start. */
static int prefetch_collect(const struct sv_opts *o, struct pc_set *set)
{
	if (o->prefetch_jobs <= 0 || !o->model)
		return 0;
	char *paths[1] = { (char *)o->model };
	struct cs_err err;
	if (pc_collect(paths, 1, set, &err) == 0)
		return 1;
	cs_say(o->warn, o->arg, "no prefetch: %s", err.msg);
	return 0;
}

/* Started: the prefetch and the output's reader. */
static void start_watching(struct sv *s, struct pc_set *set, int want_prefetch)
{
	const struct sv_opts *o = s->o;
	if (want_prefetch)
		pc_prefetch_start(&s->pf, set, o->prefetch_jobs);
	s->rl.t0 = s->p.exec_ns;
	s->rl.o = o;
	pthread_mutex_init(&s->rl.mu, NULL);
	phases_init(&s->rl.ph);
	struct cs_err err;
	const regex_t *re = o->ready && o->ready->kind == READY_LOG ? &o->ready->re : NULL;
	s->have_log = srvlog_start(&s->log, s->p.out_fd, NULL, s->p.exec_ns, re, on_line, &s->rl, &err) == 0;
	s->p.out_fd = -1;
	if (!s->have_log)
		cs_say(o->warn, o->arg, "cannot read the server's output: %s", err.msg);
}

int sv_run(const struct sv_opts *o, struct sv_result *r, struct cs_err *err)
{
	struct sv s;
	memset(&s, 0, sizeof(s));
	memset(r, 0, sizeof(*r));
	s.o = o;
	if (o->ready_file)
		unlink(o->ready_file);
	struct pc_set set;
	int want_prefetch = prefetch_collect(o, &set);
	signals_catch(&s);
	if (proc_spawn_env(&s.p, o->argv, o->envp, o->hold_fd, err)) {
		signals_restore(&s);
		if (want_prefetch)
			pc_set_release(&set);
		return -1;
	}
	start_watching(&s, &set, want_prefetch);
	cs_say(o->status, o->arg, "started pid %ld: %s", (long)s.p.pid, o->argv[0]);
	if (!o->ready) {
		s.ready = 1;
		write_ready_file(&s, 0);
	}
	while (!proc_reap(&s.p)) {
		signals_pass(&s);
		if (!s.ready) {
			check_ready(&s);
			if (s.ready)
				continue;
		}
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	int st = s.p.leader_status;
	if (o->ready_file)
		unlink(o->ready_file);
	pc_prefetch_stop(&s.pf);
	if (s.have_log) {
		srvlog_stop(&s.log, 2000000000ull);
		srvlog_release(&s.log);
	}
	r->pid = s.p.pid;
	proc_release(&s.p);   /* what the server left behind goes with it */
	pthread_mutex_destroy(&s.rl.mu);
	signals_restore(&s);
	r->status = st;
	r->ready = s.ready;
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
	cs_say(o->status, o->arg, "the server exited %s %d%s", WIFSIGNALED(st) ? "on signal" : "with status",
	       WIFSIGNALED(st) ? WTERMSIG(st) : r->code, s.ready ? "" : ", before it was ready");
	return 0;
}

int sv_check_ready_file(const char *path, struct cs_err *err)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return cs_fail(err, EISDIR, "cannot write the ready file '%s': it is a directory", path);
	if (fs_probe_write(path) == 0)
		return 0;
	int e = errno;
	return cs_fail(err, e, "cannot write the ready file '%s': %s%s", path, strerror(e),
		       e == ENOENT ? " (its directory does not exist)" : "");
}
