#define _GNU_SOURCE
#include "proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "banned.h"

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

/* In the child, before exec: close every fd >= 3 except keep. */
static void close_fds_except(int keep)
{
	if (keep > 3 && syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0U) < 0)
		for (int fd = 3; fd < keep; fd++)
			close(fd);
	if (syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U) < 0)
		for (int fd = keep + 1; fd < 65536; fd++)
			close(fd);
}

static void child_fail(int fd, int e)
{
	uint64_t z = 0;
	if (write(fd, &z, sizeof(z)) < 0 || write(fd, &e, sizeof(e)) < 0) {
		/* nobody to tell */
	}
	_exit(127);
}

static ssize_t read_full_fd(int fd, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = read(fd, (char *)buf + done, len - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int proc_spawn(struct proc *p, char *const argv[], struct cs_err *err)
{
	memset(p, 0, sizeof(*p));
	p->out_fd = -1;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int out[2], st[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return cs_fail_errno(err, errno, "cannot create a pipe");
	if (pipe2(st, O_CLOEXEC) < 0) {
		int e = errno;
		close(out[0]);
		close(out[1]);
		return cs_fail_errno(err, e, "cannot create a pipe");
	}
	p->cgroup = make_cgroup();
	char *procs = p->cgroup ? path_join(p->cgroup, "cgroup.procs") : NULL;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0) {
		/* Child: async-signal-safe calls only, until exec. */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		for (int s = 1; s < NSIG; s++)
			sigaction(s, &dfl, NULL);
		sigset_t none;
		sigemptyset(&none);
		setpgid(0, 0);
		if (procs) {
			int cfd = open(procs, O_WRONLY | O_CLOEXEC);
			if (cfd >= 0) {
				/* On failure we stay outside; the subreaper still sees us. */
				if (write(cfd, "0", 1) < 0) {
				}
				close(cfd);
			}
		}
		if (devnull < 0 || dup2(devnull, 0) != 0 || dup2(out[1], 1) != 1 || dup2(out[1], 2) != 2)
			child_fail(st[1], errno ? errno : EBADF);
		close_fds_except(st[1]);
		sigprocmask(SIG_SETMASK, &none, NULL);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t t = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
		if (write(st[1], &t, sizeof(t)) < 0) {
		}
		execvp(argv[0], argv);
		child_fail(st[1], errno);
	}
	int fork_errno = errno;
	if (pid > 0)
		setpgid(pid, pid); /* also here, so the group exists before we signal it */
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(procs);
	close(out[1]);
	close(st[1]);
	if (devnull >= 0)
		close(devnull);
	if (pid < 0) {
		close(out[0]);
		close(st[0]);
		if (p->cgroup)
			rmdir(p->cgroup);
		free(p->cgroup);
		p->cgroup = NULL;
		return cs_fail_errno(err, fork_errno, "cannot fork");
	}
	p->pid = pid;
	p->out_fd = out[0];
	uint64_t t = 0;
	int e = 0;
	ssize_t n = read_full_fd(st[0], &t, sizeof(t));
	ssize_t n2 = n == sizeof(t) ? read_full_fd(st[0], &e, sizeof(e)) : 0;
	close(st[0]);
	p->exec_ns = t ? t : now_ns();
	if (n2 == sizeof(e) || n != sizeof(t)) {
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
		}
		p->leader_exited = 1;
		p->leader_status = status;
		close(p->out_fd);
		p->out_fd = -1;
		if (p->cgroup)
			rmdir(p->cgroup);
		free(p->cgroup);
		p->cgroup = NULL;
		if (!e)
			e = EIO;
		return cs_fail_errno(err, e, "cannot run '%s'", argv[0]);
	}
	return 0;
}

int proc_reap(struct proc *p)
{
	for (;;) {
		int status;
		pid_t r = waitpid(-1, &status, WNOHANG);
		if (r <= 0)
			break;
		if (r == p->pid) {
			p->leader_exited = 1;
			p->leader_status = status;
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
	/* Descendants of us, breadth first. */
	pid_t self = getpid();
	size_t out = 0, oalloc = 0;
	pid_t *tree = NULL, *queue = xcalloc(n + 1, sizeof(pid_t));
	size_t qh = 0, qt = 0;
	queue[qt++] = self;
	while (qh < qt) {
		pid_t cur = queue[qh++];
		for (size_t i = 0; i < n; i++) {
			if (par[i] != cur || all[i] == self || contains(queue, qt, all[i]))
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
			if (x != self && !contains(tree, out, x)) {
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

void proc_free(struct proc *p)
{
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

int proc_port_in_use(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 0;
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int in_use = bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EADDRINUSE;
	close(s);
	return in_use;
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
