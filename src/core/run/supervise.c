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
#include "core/io/prefetch.h"
#include "core/base/strbuf.h"
#include "proc.h"
#include "readyowner.h"
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
	int warned_owner;             /* another process's answer was warned about */
	int wrote;                    /* the ready file was written: its identity below */
	dev_t ready_dev;
	ino_t ready_ino;
	struct sigaction old[NFORWARDED];
};

static void write_ready_file(struct sv *s, double ready_s)
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
	struct stat st;
	if (fs_write_file_sync(o->ready_file, text, strlen(text), &err))
		cs_say(o->warn, o->arg, "cannot write the ready file: %s", err.msg);
	else if (stat(o->ready_file, &st) == 0) {
		s->wrote = 1;
		s->ready_dev = st.st_dev;
		s->ready_ino = st.st_ino;
	}
	free(text);
}

/* A ready file as write_ready_file writes it: one JSON object with
 * "ready_s" and "pid", "model" at most besides. */
static int is_ready_file(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	int ok = json_is_object(j) && json_is_number(json_object_get(j, "ready_s")) &&
		 json_is_integer(json_object_get(j, "pid")) &&
		 json_object_size(j) == 2u + (json_object_get(j, "model") != NULL);
	json_decref(j);
	return ok;
}

/* The ready file removed at the end: only the one this run wrote. */
static void remove_ready_file(const struct sv *s)
{
	struct stat st;
	if (s->wrote && lstat(s->o->ready_file, &st) == 0 && st.st_dev == s->ready_dev && st.st_ino == s->ready_ino)
		unlink(s->o->ready_file);
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
	char why[512];
	if (!s->o->any_owner && rs->kind != READY_LOG && !ro_answer_owned(rs, &s->p, why, sizeof(why))) {
		if (!s->warned_owner)
			cs_say(s->o->warn, s->o->arg, "not ready yet: %s", why);
		s->warned_owner = 1;
		return;
	}
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

/* The prefetch's plan (io/prefetch.h: the engine's order, what is
 * resident skipped, the memory budget), told through status; 1 when
 * there is something to warm. */
static int prefetch_collect(const struct sv_opts *o, struct pc_set *set)
{
	memset(set, 0, sizeof(*set));
	if (o->prefetch_jobs <= 0 || !o->model)
		return 0;
	struct pf_plan plan;
	struct strbuf line = STRBUF_INIT;
	struct cs_err err;
	int go = pf_prepare(o->model, o->prefetch_cap, set, &line, &plan, &err);
	if (go < 0)
		cs_say(o->warn, o->arg, "no prefetch: %s", err.msg);
	else
		cs_say(o->status, o->arg, "prefetch: %s", line.buf);
	strbuf_release(&line);
	return go > 0;
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
	if (sv_check_port(o->port, o->ready, err))
		return -1;
	/* One left by an earlier life is not this server's readiness (and
	 * anything else there is not ours to remove: sv_check_ready_file). */
	if (o->ready_file && is_ready_file(o->ready_file))
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
	remove_ready_file(&s);
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

/* path (canonical where its directory is) lies in dir or under it. */
static int lies_in(const char *path, const char *dir)
{
	char *d = fs_canonical(dir);
	if (!d)
		return 0;
	char *pdir = fs_parent_dir(path), *cp = fs_canonical(pdir), *base = fs_basename(path);
	char *full = cp ? path_join(cp, base) : NULL;
	int in = full && fs_path_within(d, full);
	free(d);
	free(pdir);
	free(cp);
	free(base);
	free(full);
	return in;
}

int sv_check_ready_file(const char *path, const char *const *inside, size_t n, struct cs_err *err)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return cs_fail(err, EISDIR, "cannot write the ready file '%s': it is a directory", path);
	if (lstat(path, &st) == 0 && (!S_ISREG(st.st_mode) || !is_ready_file(path)))
		return cs_fail(err, EEXIST, "'%s' exists and is not a ready file coldstart wrote: as the ready file it "
			       "would be overwritten, then removed; give a path of its own", path);
	for (size_t i = 0; i < n; i++)
		if (inside[i] && lies_in(path, inside[i]))
			return cs_fail(err, EINVAL, "the ready file '%s' would be inside '%s': give it a path of its own "
				       "(it is replaced when the server is ready and removed when it exits)", path, inside[i]);
	if (fs_probe_write(path) == 0)
		return 0;
	int e = errno;
	return cs_fail(err, e, "cannot write the ready file '%s': %s%s", path, strerror(e),
		       e == ENOENT ? " (its directory does not exist)" : "");
}

int sv_check_port(int port, const struct ready_spec *rs, struct cs_err *err)
{
	char who[160];
	if (port > 0 && ro_port_taken(port)) {
		ro_port_holder(port, who, sizeof(who));
		return cs_fail(err, EADDRINUSE, "port %d is already in use on 127.0.0.1%s: the server could not "
			       "listen there, and that process's answers would look like its readiness", port, who);
	}
	int rport = rs ? ready_local_port(rs) : 0;
	if (rport > 0 && rport != port && ro_port_taken(rport)) {
		ro_port_holder(rport, who, sizeof(who));
		return cs_fail(err, EADDRINUSE, "port %d, where the readiness check (%s) looks, is already in use%s: "
			       "the server's answer could not be told apart", rport, rs->text, who);
	}
	return 0;
}
