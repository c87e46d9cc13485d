#define _GNU_SOURCE
#include "runner.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>

#include "core/base/fsutil.h"
#include "gpu.h"
#include "core/io/pagecache.h"
#include "core/io/prefetch.h"
#include "core/base/strbuf.h"
#include "ready.h"
#include "readyowner.h"
#include "sockown.h"
#include "srvlog.h"
#include "core/base/banned.h"

const char *run_outcome_name(enum run_outcome o)
{
	static const char *names[] = { "ready", "exited", "timeout", "port-taken", "spawn-failed", "cancelled",
				       "cold-failed", "foreign-ready" };
	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

#define status(o, ...) cs_say((o)->status, (o)->status_arg, __VA_ARGS__)

static void sleep_until(uint64_t t)
{
	uint64_t n = now_ns();
	if (t <= n)
		return;
	struct timespec ts = { (time_t)((t - n) / 1000000000ULL), (long)((t - n) % 1000000000ULL) };
	nanosleep(&ts, NULL);
}

static int cold_control(const struct run_opts *o, struct run_result *r, struct cs_err *err)
{
	struct pc_set set;
	char *paths[] = { (char *)o->model };
	if (pc_collect(paths, 1, &set, err))
		return -1;
	int rc = 0;
	if (o->cold == COLD_FILES)
		rc = pc_evict(&set, err);
	if (!rc && o->cold == COLD_FILES && o->also_evict) {
		/* A cache set comes from storage like the weights do. */
		struct pc_set extra;
		char *ep[] = { (char *)o->also_evict };
		rc = pc_collect(ep, 1, &extra, err);
		if (!rc) {
			rc = pc_evict(&extra, err);
			pc_set_release(&extra);
		}
	}
	else if (o->cold == COLD_GLOBAL)
		rc = pc_drop_global(err);
	if (!rc)
		rc = pc_residency(&set, err);
	if (!rc) {
		r->model_bytes = set.total;
		r->resident_bytes = set.resident;
		r->resident_pct = set.total ? 100.0 * (double)set.resident / (double)set.total : 0;
		r->cold = r->resident_pct <= 1.0;
		r->cold_method = pc_method_name(set.method);
		r->unknown_files = set.nunknown;
		if (set.nunknown) {
			/* Evicted all the same, but nobody can say it worked -- unless
			 * what can be seen is warm already (a lower bound then). */
			r->cold = set.resident * 100 > set.total ? 0 : -1;
			if (r->cold < 0)
				r->resident_pct = -1;
			for (size_t i = 0; i < set.n; i++)
				if (set.files[i].unknown) {
					snprintf(r->unknown_path, sizeof(r->unknown_path), "%s", set.files[i].path);
					break;
				}
		}
	}
	pc_set_release(&set);
	return rc;
}

struct phase_feed {
	struct phases *ph;
	uint64_t t0;
};

/* srvlog's reader thread; the result is read after srvlog_stop joined it. */
static void on_line(const char *line, uint64_t t_ns, void *arg)
{
	struct phase_feed *f = arg;
	phases_line(f->ph, line, t_ns >= f->t0 ? (double)(t_ns - f->t0) / 1e9 : 0);
}

/* Before launch (the file walk stays out of the measured time): what to
 * warm, in which order, within which budget; the plan told through
 * status. 1 when there is a prefetch to start. */
static int prefetch_prepare(struct pc_set *set, const struct run_opts *o, struct run_result *r)
{
	memset(set, 0, sizeof(*set));
	if (o->prefetch_jobs <= 0 || !o->model)
		return 0;
	struct pf_plan plan;
	struct strbuf line = STRBUF_INIT;
	struct cs_err e;
	int go = pf_prepare(o->model, o->prefetch_cap, set, &line, &plan, &e);
	if (go < 0)
		status(o, "no prefetch: %s", e.msg);
	else
		status(o, "prefetch: %s", line.buf);
	strbuf_release(&line);
	r->prefetch_planned = go > 0 ? plan.warm : 0;
	r->prefetch_cut = go >= 0 && plan.cut;
	return go > 0;
}

static void prefetch_finish(struct pc_prefetch *pf, struct run_result *r)
{
	if (!pf->started)
		return;
	pc_prefetch_stop(pf);
	r->prefetch_bytes = pf->st.read_bytes;
	r->prefetch_s = pf->rc == 0 && pf->done_ns > r->exec_ns && (!r->ready_ns || pf->done_ns <= r->ready_ns)
				? (double)(pf->done_ns - r->exec_ns) / 1e9
				: -1;
}

struct sampler {
	int on;
	struct pc_set set;
	int have_set;
	struct { pid_t pid; uint64_t bytes; } *seen; /* last read_bytes per pid, exited ones too */
	size_t n, alloc, talloc;
	uint64_t next_ns;
};

/* A number from a "KEY: N ..." line of /proc/PID/FILE. */
static int proc_counter(pid_t pid, const char *file, const char *key, uint64_t *out)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	char *v = fs_file_value(path, key, ':');
	if (v)
		*out = strtoull(v, NULL, 10);
	free(v);
	return v ? 0 : -1;
}

static void sample(struct sampler *sm, const struct proc *p, struct pc_prefetch *pf, uint64_t exec_ns,
		   struct run_result *r)
{
	pid_t *pids;
	size_t n = proc_tree(p, &pids);
	uint64_t rss = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t rb, kb;
		if (proc_counter(pids[i], "io", "read_bytes", &rb) == 0) {
			size_t k;
			for (k = 0; k < sm->n && sm->seen[k].pid != pids[i]; k++)
				;
			if (k == sm->n) {
				sm->seen = xgrow(sm->seen, &sm->alloc, sm->n + 1, sizeof(*sm->seen));
				sm->seen[sm->n++].pid = pids[i];
			}
			sm->seen[k].bytes = rb;
		}
		if (proc_counter(pids[i], "status", "VmRSS", &kb) == 0)
			rss += kb * 1024;
	}
	uint64_t read = 0;
	for (size_t k = 0; k < sm->n; k++)
		read += sm->seen[k].bytes;
	int64_t gpu = gpu_used_by(pids, n);
	free(pids);
	double cached = -1;
	struct cs_err e;
	if (sm->have_set && pc_residency(&sm->set, &e) == 0) {
		cached = (double)sm->set.resident;
		/* mincore maps every file each time: too slow to run between
		 * readiness checks on a large model. Only cachestat is cheap. */
		if (sm->set.method != PC_CACHESTAT) {
			pc_set_release(&sm->set);
			sm->have_set = 0;
		}
	}
	r->tl = xgrow(r->tl, &sm->talloc, r->ntl + 1, sizeof(*r->tl));
	double warmed = pf->started ? (double)__atomic_load_n(&pf->warmed, __ATOMIC_RELAXED) : -1;
	r->tl[r->ntl++] = (struct tl_sample){ (double)(now_ns() - exec_ns) / 1e9, (double)read, (double)rss,
					      (double)gpu, cached, warmed };
}

static size_t tree_size(const struct proc *p)
{
	pid_t *pids;
	size_t n = proc_tree(p, &pids);
	free(pids);
	return n;
}

/* Exit statuses a shell gives a command it could not run. */
static const char *exit_hint(int status, int detached)
{
	if (!WIFEXITED(status))
		return "";
	if (WEXITSTATUS(status) == 127)
		return " (127: the shell did not find a command)";
	if (WEXITSTATUS(status) == 126)
		return " (126: the shell found a command it could not execute)";
	if (WEXITSTATUS(status) == 0 && !detached)
		return "; a launcher that starts the server in the background and exits needs --detached";
	return "";
}

/* The listening socket that answered the readiness check belongs to the
 * server's process tree. Otherwise r->reason says whose it is. */
static int answered_by_tree(const struct ready_spec *rs, const struct proc *p, struct run_result *r)
{
	int ok = ro_answer_owned(rs, p, r->reason, sizeof(r->reason));
	r->owner_checked = ok;
	return ok;
}

/* One run's state, through the steps of runner.h. */
struct run {
	const struct run_opts *o;
	struct run_result *r;
	struct ready_spec rs;
	int64_t baseline;             /* device GPU memory before launch, < 0 unknown */
	struct pc_set pf_set;         /* the prefetch's files, found before launch */
	struct pc_prefetch pf;
	int prefetch;
	struct sampler sm;
	struct proc p;
	struct phase_feed feed;
	struct srvlog log;
};

/* A run that cannot start: the outcome, its reason, -1 (err set). */
static int refuse(struct run_result *r, enum run_outcome outcome, int code, struct cs_err *err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int refuse(struct run_result *r, enum run_outcome outcome, int code, struct cs_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	r->outcome = outcome;
	return cs_fail(err, code, "%s", r->reason);
}

/* Step 1 and the checks before launch: cold control, the ports free, the
 * readiness spec understood. */
static int before_launch(struct run *x, struct cs_err *err)
{
	const struct run_opts *o = x->o;
	struct run_result *r = x->r;
	if (o->model && cold_control(o, r, err))
		return refuse(r, RUN_COLD_FAILED, err->code, err, "%s", err->msg);
	char who[160];
	if (o->port > 0 && ro_port_taken(o->port)) {
		ro_port_holder(o->port, who, sizeof(who));
		return refuse(r, RUN_PORT_TAKEN, EADDRINUSE, err, "port %d is already in use on 127.0.0.1%s", o->port, who);
	}
	if (ready_parse(o->ready_spec, o->port, &x->rs, err))
		return refuse(r, RUN_SPAWN_FAILED, err->code, err, "%s", err->msg);
	/* Something already answering where we will look for the server
	 * would make it look ready at once. */
	int rport = o->any_owner ? 0 : ready_local_port(&x->rs);
	if (rport > 0 && rport != o->port && ro_port_taken(rport)) {
		ro_port_holder(rport, who, sizeof(who));
		refuse(r, RUN_PORT_TAKEN, EADDRINUSE, err,
		       "port %d, where the readiness check (%s) looks, is already in use%s: the server's answer "
		       "could not be told apart", rport, x->rs.text, who);
		ready_release(&x->rs);
		return -1;
	}
	x->baseline = gpu_used_total();
	return 0;
}

/* Step 2: launch, the prefetch and the log reader started. */
static int launch(struct run *x, struct cs_err *err)
{
	const struct run_opts *o = x->o;
	struct run_result *r = x->r;
	/* The model's files for the prefetch and the sampler, found before
	 * launch so that no file walk runs inside the measured time. */
	memset(&x->pf, 0, sizeof(x->pf));
	x->prefetch = prefetch_prepare(&x->pf_set, o, r);
	x->sm.on = o->timeline;
	if (x->sm.on && o->model) {
		char *paths[1] = { (char *)o->model };
		struct cs_err e2;
		x->sm.have_set = pc_collect(paths, 1, &x->sm.set, &e2) == 0;
	}
	if (proc_spawn_env(&x->p, o->argv, o->envp, o->hold_fd > 0 ? o->hold_fd : -1, err)) {
		refuse(r, RUN_SPAWN_FAILED, err->code, err, "%s", err->msg);
		ready_release(&x->rs);
		if (x->prefetch)
			pc_set_release(&x->pf_set);
		if (x->sm.have_set)
			pc_set_release(&x->sm.set);
		return -1;
	}
	r->exec_ns = x->p.exec_ns;
	if (x->prefetch)
		pc_prefetch_start(&x->pf, &x->pf_set, o->prefetch_jobs);
	phases_init(&r->phases);
	x->feed = (struct phase_feed){ &r->phases, x->p.exec_ns };
	int have_log = srvlog_start(&x->log, x->p.out_fd, o->log_path, x->p.exec_ns,
				    x->rs.kind == READY_LOG ? &x->rs.re : NULL, on_line, &x->feed, err) == 0;
	x->p.out_fd = -1; /* owned by srvlog now (or closed below) */
	if (!have_log) {
		/* Without a log we cannot see the server; stop it and fail. */
		if (x->sm.have_set)
			pc_set_release(&x->sm.set);
		prefetch_finish(&x->pf, r);
		proc_stop(&x->p, o->stop_timeout_ns, &r->stop);
		proc_release(&x->p);
		ready_release(&x->rs);
		return refuse(r, RUN_SPAWN_FAILED, err->code, err, "%s", err->msg);
	}
	status(o, "started pid %d, waiting for %s", (int)x->p.pid, x->rs.text);
	return 0;
}

/* The server answered (or its log matched)? 1 when the run is decided. */
static int check_ready(struct run *x, uint64_t deadline)
{
	struct run_result *r = x->r;
	if (x->rs.kind == READY_LOG) {
		uint64_t m = srvlog_match_ns(&x->log);
		if (!m)
			return 0;
		r->ready_ns = m;
		r->outcome = RUN_READY;
		return 1;
	}
	uint64_t left = deadline > now_ns() ? deadline - now_ns() : 1000000;
	uint64_t per = left < 1000000000ULL ? left : 1000000000ULL;
	if (!ready_check(&x->rs, per))
		return 0;
	uint64_t t = now_ns();
	if (!x->o->any_owner && !answered_by_tree(&x->rs, &x->p, r)) {
		r->outcome = RUN_FOREIGN;
		return 1;
	}
	r->ready_ns = t;
	r->outcome = RUN_READY;
	return 1;
}

/* The leader exited (or, detached, the processes it left)? 1 when the run
 * is decided. */
static int check_exit(struct run *x, uint64_t *next_tree_check)
{
	const struct run_opts *o = x->o;
	struct run_result *r = x->r;
	if (proc_reap(&x->p) && !r->launcher_exited) {
		int st = x->p.leader_status, ok0 = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		r->exit_status = st;
		if (o->detached && ok0 && tree_size(&x->p)) {
			/* A launcher that put the server in the background. */
			r->launcher_exited = 1;
			status(o, "the launcher exited with status 0; following the processes it left");
			return 0;
		}
		r->outcome = RUN_EXITED;
		if (o->detached && ok0) {
			snprintf(r->reason, sizeof(r->reason),
				 "the launcher exited with status 0 and no process it started is left; the "
				 "server was never ready");
		} else {
			char how[96];
			proc_status_str(st, how, sizeof(how));
			snprintf(r->reason, sizeof(r->reason), "server %s before it was ready%s", how,
				 exit_hint(st, o->detached));
		}
		return 1;
	}
	if (r->launcher_exited && now_ns() >= *next_tree_check) {
		*next_tree_check = now_ns() + 100000000ULL;
		if (!tree_size(&x->p)) {
			r->outcome = RUN_EXITED;
			snprintf(r->reason, sizeof(r->reason),
				 "every process the launcher left has exited; the server was never ready");
			return 1;
		}
	}
	return 0;
}

/* Step 3: poll until ready, exit, cancel or the deadline. */
static void wait_ready(struct run *x)
{
	const struct run_opts *o = x->o;
	struct run_result *r = x->r;
	uint64_t poll = o->poll_ns ? o->poll_ns : 5000000ULL;
	uint64_t deadline = x->p.exec_ns + o->timeout_ns, next_tree_check = 0;
	for (uint64_t next = now_ns();; next += poll) {
		if (x->sm.on && now_ns() >= x->sm.next_ns) {
			sample(&x->sm, &x->p, &x->pf, x->p.exec_ns, r);
			x->sm.next_ns = now_ns() + 100000000ULL;
		}
		if (cs_cancelled(o->cancel)) {
			r->outcome = RUN_CANCELLED;
			snprintf(r->reason, sizeof(r->reason), "interrupted");
			return;
		}
		if (check_ready(x, deadline) || check_exit(x, &next_tree_check))
			return;
		if (now_ns() >= deadline) {
			char d[32], last[320];
			ready_last(&x->rs, last, sizeof(last));
			r->outcome = RUN_TIMEOUT;
			snprintf(r->reason, sizeof(r->reason), "server not ready after %s (last check: %s)",
				 fmt_duration(d, sizeof(d), (double)o->timeout_ns / 1e9), last);
			return;
		}
		if (next + poll < now_ns())
			next = now_ns();
		sleep_until(next + poll);
	}
}

/* Step 4: at ready, the GPU memory of the server's process tree. */
static void measure_ready(struct run *x)
{
	struct run_result *r = x->r;
	r->load_s = (double)(r->ready_ns - r->exec_ns) / 1e9;
	pid_t *pids;
	size_t n = proc_tree(&x->p, &pids);
	int64_t per = gpu_used_by(pids, n);
	free(pids);
	if (per >= 0) {
		r->gpu_mem_bytes = per;
		r->gpu_method = "per-process";
	} else if (x->baseline >= 0) {
		int64_t now = gpu_used_total();
		r->gpu_mem_bytes = now > x->baseline ? now - x->baseline : 0;
		r->gpu_method = "device-delta";
	}
	status(x->o, "ready after %.3fs; stopping the server", r->load_s);
}

/* Step 5, last part: the next start must not find this run's memory still held. */
static void wait_gpu_release(struct run *x)
{
	struct run_result *r = x->r;
	if (x->baseline < 0 || !x->o->gpu_release_timeout_ns)
		return;
	uint64_t t0 = now_ns();
	int64_t used = r->gpu_mem_bytes > 0 ? r->gpu_mem_bytes : 0;
	int64_t slack = used / 20 > (256LL << 20) ? used / 20 : (256LL << 20);
	r->gpu_released = 0;
	while (now_ns() - t0 < x->o->gpu_release_timeout_ns) {
		int64_t now = gpu_used_total();
		if (now < 0 || now <= x->baseline + slack) {
			r->gpu_released = 1;
			break;
		}
		sleep_until(now_ns() + 50000000ULL);
	}
	r->gpu_release_s = (double)(now_ns() - t0) / 1e9;
}

/* Step 5: stop the whole tree, the log drained, the GPU memory released. */
static int stop_all(struct run *x, int rc, struct cs_err *err)
{
	struct run_result *r = x->r;
	/* Interrupted (Ctrl-C, SIGTERM from a scheduler): the server gets its
	 * SIGTERM and a second, not the whole grace; the tree is killed after. */
	uint64_t grace = x->o->stop_timeout_ns;
	int cancelled = cs_cancelled(x->o->cancel);
	if (cancelled && grace > RUN_CANCEL_GRACE_NS)   /* at most: --stop-timeout 0 stays 0 */
		grace = RUN_CANCEL_GRACE_NS;
	if (proc_stop(&x->p, grace, &r->stop) && r->outcome == RUN_READY)
		rc = cs_fail(err, EIO, "%d process(es) of the server survived SIGKILL", r->stop.remaining);
	srvlog_stop(&x->log, 2000000000ULL);
	r->log_lines = x->log.lines;
	r->log_errno = x->log.write_errno;
	if (r->outcome != RUN_READY)
		r->tail = srvlog_tail(&x->log);
	srvlog_release(&x->log);
	proc_release(&x->p);
	ready_release(&x->rs);
	if (!cancelled)   /* no next start to wait for */
		wait_gpu_release(x);
	return rc;
}

int runner_run(const struct run_opts *o, struct run_result *r, struct cs_err *err)
{
	memset(r, 0, sizeof(*r));
	phases_init(&r->phases);
	r->gpu_mem_bytes = -1;
	r->gpu_released = -1;
	r->load_s = -1;
	struct run x;
	memset(&x, 0, sizeof(x));
	x.o = o;
	x.r = r;
	if (before_launch(&x, err) || launch(&x, err))
		return -1;
	wait_ready(&x);
	r->last_http = x.rs.last_http;
	if (x.sm.on && r->outcome == RUN_READY)
		sample(&x.sm, &x.p, &x.pf, x.p.exec_ns, r); /* the moment it was ready */
	if (x.sm.have_set)
		pc_set_release(&x.sm.set);
	free(x.sm.seen);
	prefetch_finish(&x.pf, r);
	int rc = 0;
	if (r->outcome == RUN_READY)
		measure_ready(&x);
	else
		rc = cs_fail(err, r->outcome == RUN_CANCELLED ? ECANCELED : EIO, "%s", r->reason);
	return stop_all(&x, rc, err);
}

void run_result_release(struct run_result *r)
{
	free(r->tail);
	r->tail = NULL;
	free(r->tl);
	r->tl = NULL;
	r->ntl = 0;
}
