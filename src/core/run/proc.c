#define _GNU_SOURCE
#include "proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/base/banned.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static int cgroup_seq;

/* A fresh leaf cgroup under ours, or NULL when cgroup v2 is not writable. */
static char *make_cgroup(void)
{
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) != 0)
		return NULL;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return NULL;
	char line[4096], *self = NULL;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			free(self);
			self = xstrdup(line + 3);
		}
	}
	fclose(f);
	if (!self)
		return NULL;
	char *dir = xasprintf("/sys/fs/cgroup%s/coldstart-%d-%d", strcmp(self, "/") ? self : "",
			      (int)getpid(), ++cgroup_seq);
	free(self);
	if (mkdir(dir, 0755) < 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* ---- between fork and _exit: system calls only ---- */

/* Close every fd >= 3 except those in keep (n entries, -1 ignored). Called
 * in forked children: no allocation. */
static void close_fds_except(int *keep, size_t n)
{
	for (size_t i = 1; i < n; i++) /* insertion sort: qsort may allocate */
		for (size_t k = i; k > 0 && keep[k - 1] > keep[k]; k--) {
			int t = keep[k];
			keep[k] = keep[k - 1];
			keep[k - 1] = t;
		}
	unsigned lo = 3;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < (int)lo)
			continue;
		if ((unsigned)keep[i] > lo && syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0U) < 0)
			for (int fd = (int)lo; fd < keep[i]; fd++)
				close(fd);
		lo = (unsigned)keep[i] + 1;
	}
	if (syscall(SYS_close_range, lo, ~0U, 0U) < 0)
		for (int fd = (int)lo; fd < 65536; fd++)
			close(fd);
}

/* What the server child tells the caller through the exec pipe: the clock
 * just before execvp (8 bytes), then -- only if something failed -- the
 * errno (an int). A failure before the exec attempt sends a zero clock. */
static void child_fail(int fd, int e, int sent_clock)
{
	uint64_t z = 0;
	if ((!sent_clock && write(fd, &z, sizeof(z)) < 0) || write(fd, &e, sizeof(e)) < 0) {
		/* nobody to tell */
	}
	_exit(127);
}

static void reset_signals(void)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
}

static void server_child(char *const argv[], char *const envp[], pid_t guard, int st, int out, int devnull, const char *procs)
{
	reset_signals();
	setpgid(0, 0);
	/* If the guard is ever killed outright, the leader goes with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != guard)
		child_fail(st, ESRCH, 0);
	if (procs) {
		int cfd = open(procs, O_WRONLY | O_CLOEXEC);
		if (cfd >= 0) {
			/* On failure we stay outside; the guard still sees us. */
			if (write(cfd, "0", 1) < 0) {
			}
			close(cfd);
		}
	}
	if (devnull < 0 || dup2(devnull, 0) != 0 || dup2(out, 1) != 1 || dup2(out, 2) != 2)
		child_fail(st, errno ? errno : EBADF, 0);
	int keep[] = { st };
	close_fds_except(keep, 1);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t t = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	if (write(st, &t, sizeof(t)) < 0) {
	}
	if (envp)
		execvpe(argv[0], argv, envp);
	else
		execvp(argv[0], argv);
	child_fail(st, errno, 1);
}

/* An event from the guard: one write, so it arrives whole. */
struct gev {
	int type;             /* 'P' leader's pid, 'X' leader's wait status, 'F' fork failed (errno) */
	int value;
};

static void gsend(int fd, int type, int value)
{
	struct gev e = { type, value };
	if (write(fd, &e, sizeof(e)) < 0) {
		/* the caller is gone: the lifeline tells the guard the same */
	}
}

#define G_MAXPROC 65536
static pid_t g_pid[G_MAXPROC], g_ppid[G_MAXPROC];
static char g_state[G_MAXPROC];
static pid_t g_desc[G_MAXPROC];

static long g_num(const char *s, const char **end)
{
	long v = 0;
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	*end = s;
	return v;
}

/* Parent and state of pid from /proc/PID/stat, without stdio. */
static int g_stat(pid_t pid, pid_t *ppid, char *state)
{
	char path[40] = "/proc/", digits[16];
	int nd = 0;
	for (unsigned v = (unsigned)pid; v || !nd; v /= 10)
		digits[nd++] = (char)('0' + v % 10);
	size_t l = 6;
	while (nd)
		path[l++] = digits[--nd];
	memcpy(path + l, "/stat", 6);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[1024];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *rp = NULL;
	for (char *q = buf; *q; q++)
		if (*q == ')')
			rp = q;
	if (!rp || rp[1] != ' ' || !rp[2] || rp[3] != ' ')
		return -1;
	*state = rp[2];
	const char *end;
	*ppid = (pid_t)g_num(rp + 4, &end);
	return 0;
}

/* Send sig to every live (non-zombie) descendant of this process; returns
 * how many there were. sig 0 only counts. */
static int g_signal_tree(int sig)
{
	int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t n = 0;
	char buf[8192];
	long got;
	while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < got;) {
			/* struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name */
			unsigned short reclen;
			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			const char *name = buf + off + 19;
			off += reclen;
			if (*name < '0' || *name > '9' || n == G_MAXPROC)
				continue;
			const char *end;
			pid_t pid = (pid_t)g_num(name, &end);
			if (!g_stat(pid, &g_ppid[n], &g_state[n])) {
				g_pid[n] = pid;
				n++;
			}
		}
	}
	close(fd);
	/* Descendants, level by level. */
	size_t nd = 1;
	g_desc[0] = getpid();
	for (size_t h = 0; h < nd; h++)
		for (size_t i = 0; i < n && nd < G_MAXPROC; i++)
			if (g_ppid[i] == g_desc[h] && g_pid[i] != g_desc[0])
				g_desc[nd++] = g_pid[i];
	int count = 0;
	for (size_t k = 1; k < nd; k++) {
		for (size_t i = 0; i < n; i++) {
			if (g_pid[i] != g_desc[k])
				continue;
			if (g_state[i] != 'Z' && g_state[i] != 'X') {
				count++;
				if (sig)
					kill(g_desc[k], sig);
			}
			break;
		}
	}
	return count;
}

static void g_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static void g_reap(pid_t leader, int ev, int *reported)
{
	int status;
	pid_t r;
	while ((r = waitpid(-1, &status, WNOHANG)) > 0)
		if (r == leader && !*reported) {
			gsend(ev, 'X', status);
			*reported = 1;
		}
}

static void guard_main(char *const argv[], char *const envp[], int ctl, int ev, int st, int out, int devnull, int hold,
		       const char *procs)
{
	setpgid(0, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	prctl(PR_SET_NAME, "coldstart-guard");
	struct sigaction ign;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2 };
	for (size_t i = 0; i < sizeof(ignored) / sizeof(*ignored); i++)
		sigaction(ignored[i], &ign, NULL);
	/* Every signal is still blocked (the caller blocked them around fork):
	 * SIGCHLD arrives through a signalfd. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	int keep[] = { ctl, ev, st, out, devnull, hold, sfd };
	close_fds_except(keep, sizeof(keep) / sizeof(*keep));
	pid_t self = getpid();
	pid_t leader = fork();
	if (leader == 0)
		server_child(argv, envp, self, st, out, devnull, procs);
	close(out);
	close(st);
	if (devnull >= 0)
		close(devnull);
	if (leader < 0) {
		gsend(ev, 'F', errno);
		_exit(1);
	}
	gsend(ev, 'P', leader);
	int reported = 0;
	for (;;) {
		struct pollfd pf[2] = { { ctl, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		int pr = poll(pf, sfd >= 0 ? 2 : 1, 1000);
		if (sfd >= 0 && pr > 0 && (pf[1].revents & POLLIN)) {
			struct signalfd_siginfo si[8];
			while (read(sfd, si, sizeof(si)) > 0) {
			}
		}
		g_reap(leader, ev, &reported);
		if (pr > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			char c;
			ssize_t r = read(ctl, &c, 1);
			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
				break;
		}
	}
	/* The lifeline is cut: the caller is done or dead. Nothing it started
	 * may outlive it: SIGTERM, a second's grace, then SIGKILL. */
	kill(-leader, SIGTERM);
	g_signal_tree(SIGTERM);
	for (int i = 0; i < 100 && g_signal_tree(0); i++) {
		g_reap(leader, ev, &reported);
		g_sleep_ms(10);
	}
	for (int i = 0; i < 1000; i++) {
		kill(-leader, SIGKILL);
		int left = g_signal_tree(SIGKILL);
		g_reap(leader, ev, &reported);
		if (!left && waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
			break;
		g_sleep_ms(10);
	}
	_exit(0);
}

/* ---- the caller's side ---- */

static ssize_t read_full_fd(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t done = 0;
	while (done < len) {
		if (timeout_ms >= 0) {
			struct pollfd pf = { fd, POLLIN, 0 };
			int r = poll(&pf, 1, timeout_ms);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
		}
		ssize_t r = read(fd, (char *)buf + done, len - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static void handle_event(struct proc *p, const struct gev *e)
{
	if (e->type == 'X' && !p->leader_exited) {
		p->leader_exited = 1;
		p->leader_status = e->value;
	}
}

/* What "cannot run" means for argv[0]. */
static int spawn_error(struct cs_err *err, int e, const char *prog)
{
	if (e == ENOENT && !strchr(prog, '/'))
		return cs_fail(err, e, "cannot run '%s': not found on PATH", prog);
	if (e == ENOENT)
		return cs_fail(err, e, "cannot run '%s': no such file", prog);
	if (e == EACCES)
		return cs_fail(err, e, "cannot run '%s': permission denied (not executable, or a directory on the way "
			       "is not searchable)", prog);
	return cs_fail_errno(err, e, "cannot run '%s'", prog);
}

int proc_spawn(struct proc *p, char *const argv[], int hold_fd, struct cs_err *err)
{
	return proc_spawn_env(p, argv, NULL, hold_fd, err);
}

int proc_spawn_env(struct proc *p, char *const argv[], char *const envp[], int hold_fd, struct cs_err *err)
{
	memset(p, 0, sizeof(*p));
	p->out_fd = p->ctl_fd = p->ev_fd = -1;
	int out[2], st[2], ctl[2], ev[2];
	int *pipes[] = { out, st, ctl, ev };
	for (size_t i = 0; i < 4; i++) {
		if (pipe2(pipes[i], O_CLOEXEC) < 0) {
			int e = errno;
			for (size_t k = 0; k < i; k++) {
				close(pipes[k][0]);
				close(pipes[k][1]);
			}
			return cs_fail_errno(err, e, "cannot create a pipe");
		}
	}
	p->cgroup = make_cgroup();
	char *procs = p->cgroup ? path_join(p->cgroup, "cgroup.procs") : NULL;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	sigset_t all, old;
	sigfillset(&all);
	/* Nothing buffered in stdio may be written twice, by a child too. */
	fflush(NULL);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t g = fork();
	if (g == 0) {
		close(out[0]);
		close(st[0]);
		close(ctl[1]);
		close(ev[0]);
		guard_main(argv, envp, ctl[0], ev[1], st[1], out[1], devnull, hold_fd, procs);
	}
	int fork_errno = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(procs);
	close(out[1]);
	close(st[1]);
	close(ctl[0]);
	close(ev[1]);
	if (devnull >= 0)
		close(devnull);
	if (g < 0) {
		close(out[0]);
		close(st[0]);
		close(ctl[1]);
		close(ev[0]);
		if (p->cgroup)
			rmdir(p->cgroup);
		free(p->cgroup);
		p->cgroup = NULL;
		return cs_fail_errno(err, fork_errno, "cannot fork");
	}
	p->guard = g;
	p->ctl_fd = ctl[1];
	p->ev_fd = ev[0];
	p->out_fd = out[0];
	struct gev first = { 0, 0 };
	int rc = 0;
	if (read_full_fd(p->ev_fd, &first, sizeof(first), 10000) != sizeof(first) || first.type != 'P')
		rc = first.type == 'F' ? cs_fail_errno(err, first.value, "cannot fork the server")
				       : cs_fail(err, EIO, "the process guard did not start the server");
	else
		p->pid = first.value;
	uint64_t t = 0;
	int e = 0;
	if (!rc) {
		ssize_t n = read_full_fd(st[0], &t, sizeof(t), -1);
		ssize_t n2 = n == sizeof(t) ? read_full_fd(st[0], &e, sizeof(e), -1) : 0;
		if (n != sizeof(t))
			rc = cs_fail(err, EIO, "cannot run '%s': the process ended before exec", argv[0]);
		else if (n2 == sizeof(e) || !t)
			rc = spawn_error(err, e ? e : EIO, argv[0]);
	}
	close(st[0]);
	p->exec_ns = t ? t : now_ns();
	fcntl(p->ev_fd, F_SETFL, O_NONBLOCK);
	if (rc) {
		proc_release(p);
		return -1;
	}
	return 0;
}

int proc_reap(struct proc *p)
{
	struct gev e;
	while (p->ev_fd >= 0 && read(p->ev_fd, &e, sizeof(e)) == (ssize_t)sizeof(e))
		handle_event(p, &e);
	if (p->guard > 0) {
		int status;
		if (waitpid(p->guard, &status, WNOHANG) == p->guard) {
			/* The guard is gone (killed from outside): so is the leader,
			 * by its death signal. */
			while (p->ev_fd >= 0 && read(p->ev_fd, &e, sizeof(e)) == (ssize_t)sizeof(e))
				handle_event(p, &e);
			p->guard = 0;
			if (!p->leader_exited) {
				p->leader_exited = 1;
				p->leader_status = SIGKILL;
			}
		}
	}
	return p->leader_exited;
}

/* Parent pid and state of a process from /proc/PID/stat. */
static int read_stat(pid_t pid, pid_t *ppid, char *state)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* comm may contain spaces and parentheses: parse after the last ')'. */
	char *rp = strrchr(buf, ')');
	if (!rp || sscanf(rp + 1, " %c %d", state, ppid) != 2)
		return -1;
	return 0;
}

static int contains(const pid_t *v, size_t n, pid_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

size_t proc_tree(const struct proc *p, pid_t **pids)
{
	/* All processes with their parents. */
	size_t n = 0, alloc = 0;
	pid_t *all = NULL, *par = NULL;
	char *state = NULL;
	size_t palloc = 0, salloc = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)atoi(de->d_name), pp;
		char s;
		if (read_stat(pid, &pp, &s))
			continue;
		all = xgrow(all, &alloc, n + 1, sizeof(pid_t));
		par = xgrow(par, &palloc, n + 1, sizeof(pid_t));
		state = xgrow(state, &salloc, n + 1, 1);
		all[n] = pid;
		par[n] = pp;
		state[n] = s;
		n++;
	}
	if (d)
		closedir(d);
	/* Descendants of the guard (of us once it is gone), breadth first. */
	pid_t root = p && p->guard > 0 ? p->guard : getpid();
	size_t out = 0, oalloc = 0;
	pid_t *tree = NULL, *queue = xcalloc(n + 1, sizeof(pid_t));
	size_t qh = 0, qt = 0;
	queue[qt++] = root;
	while (qh < qt) {
		pid_t cur = queue[qh++];
		for (size_t i = 0; i < n; i++) {
			if (par[i] != cur || all[i] == root || contains(queue, qt, all[i]))
				continue;
			queue[qt++] = all[i];
			if (state[i] != 'Z' && state[i] != 'X') {
				tree = xgrow(tree, &oalloc, out + 1, sizeof(pid_t));
				tree[out++] = all[i];
			}
		}
	}
	/* Members of the cgroup (they are descendants too, unless something
	 * moved in from outside; include them all the same). */
	if (p && p->cgroup) {
		char *procs = path_join(p->cgroup, "cgroup.procs");
		FILE *f = fopen(procs, "re");
		free(procs);
		int x;
		while (f && fscanf(f, "%d", &x) == 1) {
			if (x != root && x != getpid() && !contains(tree, out, x)) {
				for (size_t i = 0; i < n; i++) {
					if (all[i] == x && state[i] != 'Z' && state[i] != 'X') {
						tree = xgrow(tree, &oalloc, out + 1, sizeof(pid_t));
						tree[out++] = x;
					}
				}
			}
		}
		if (f)
			fclose(f);
	}
	free(queue);
	free(all);
	free(par);
	free(state);
	*pids = tree;
	return out;
}

static void signal_tree(const struct proc *p, int sig, int *count)
{
	if (!p->leader_exited || sig == SIGKILL)
		kill(-p->pid, sig);
	pid_t *pids;
	size_t n = proc_tree(p, &pids);
	for (size_t i = 0; i < n; i++)
		kill(pids[i], sig);
	if (count)
		*count = (int)n;
	free(pids);
	if (sig == SIGKILL && p->cgroup) {
		char *kf = path_join(p->cgroup, "cgroup.kill");
		int fd = open(kf, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "1", 1) < 0) {
			}
			close(fd);
		}
		free(kf);
	}
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

/* Wait until the tree is empty or the deadline passes; returns what is left. */
static size_t wait_tree(struct proc *p, uint64_t deadline_ns)
{
	for (;;) {
		proc_reap(p);
		pid_t *pids;
		size_t n = proc_tree(p, &pids);
		free(pids);
		if (!n || now_ns() >= deadline_ns)
			return n;
		sleep_ms(10);
	}
}

int proc_stop(struct proc *p, uint64_t term_timeout_ns, struct proc_stop_report *rep)
{
	struct proc_stop_report r;
	memset(&r, 0, sizeof(r));
	uint64_t t0 = now_ns();
	proc_reap(p);
	signal_tree(p, SIGTERM, &r.signalled);
	size_t left = wait_tree(p, t0 + term_timeout_ns);
	if (left) {
		r.killed = (int)left;
		signal_tree(p, SIGKILL, NULL);
		left = wait_tree(p, now_ns() + 10ULL * 1000000000ULL);
	}
	proc_reap(p);
	r.remaining = (int)left;
	r.seconds = (double)(now_ns() - t0) / 1e9;
	if (rep)
		*rep = r;
	return left ? -1 : 0;
}

void proc_release(struct proc *p)
{
	if (p->ctl_fd >= 0)
		close(p->ctl_fd); /* the guard stops what is left and exits */
	p->ctl_fd = -1;
	if (p->guard > 0) {
		int done = 0;
		for (int i = 0; i < 1500 && !done; i++) {
			pid_t r = waitpid(p->guard, NULL, WNOHANG);
			done = r == p->guard || (r < 0 && errno == ECHILD);
			if (!done)
				sleep_ms(10);
		}
		if (!done) {
			kill(p->guard, SIGKILL);
			while (waitpid(p->guard, NULL, 0) < 0 && errno == EINTR) {
			}
		}
		p->guard = 0;
	}
	if (p->ev_fd >= 0)
		close(p->ev_fd);
	p->ev_fd = -1;
	if (p->out_fd >= 0)
		close(p->out_fd);
	p->out_fd = -1;
	if (p->cgroup) {
		/* The kernel refuses while members remain; they were stopped. */
		for (int i = 0; i < 50 && rmdir(p->cgroup) < 0 && errno == EBUSY; i++)
			sleep_ms(10);
		free(p->cgroup);
		p->cgroup = NULL;
	}
}

void proc_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		snprintf(buf, len, "?");
		return;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int proc_free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	int port = -1;
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(s);
	return port;
}

void proc_status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "stopped (status 0x%x)", status);
}
