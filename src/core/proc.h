#ifndef CS_PROC_H
#define CS_PROC_H
/*
 * proc: launch a server as a process tree we can account for, and stop all
 * of it.
 *
 * The child gets its own process group (pgid = pid). The caller becomes a
 * child subreaper (PR_SET_CHILD_SUBREAPER) at proc_spawn, so descendants that
 * double-fork or call setsid re-parent to us instead of PID 1: "the tree" is
 * every live descendant of this process. Where cgroup v2 is mounted and
 * writable, the child also joins a fresh leaf cgroup, used for enumeration
 * and cgroup.kill.
 *
 * stdout and stderr of the child go to one pipe (proc.out_fd, read end,
 * owned by the caller after spawn). The child's environment and cwd are
 * inherited; signals are reset to default and unblocked before exec; fds
 * other than 0-2 are closed.
 *
 * Not thread-safe: one caller thread drives a struct proc. proc_reap uses
 * waitpid(-1), so it also reaps unrelated children of the caller.
 */
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

struct proc {
	pid_t pid;            /* the leader (also the process group id) */
	int out_fd;           /* read end of the stdout+stderr pipe, -1 once closed */
	uint64_t exec_ns;     /* CLOCK_MONOTONIC in the child just before execvp */
	char *cgroup;         /* cgroup v2 directory, or NULL */
	int leader_exited;
	int leader_status;    /* waitpid status once leader_exited */
};

struct proc_stop_report {
	int signalled;        /* processes sent SIGTERM */
	int killed;           /* processes that needed SIGKILL */
	int remaining;        /* processes still alive at the end (should be 0) */
	double seconds;
};

/* Start argv[0] (PATH search) with stdin from /dev/null. On exec failure
 * returns -1 with the errno in err->code and the message naming argv[0]. */
int proc_spawn(struct proc *p, char *const argv[], struct cs_err *err);

/* Reap whatever exited (leader or adopted orphans); non-blocking. Returns 1
 * if the leader has exited (now or before). */
int proc_reap(struct proc *p);

/* Every live, non-zombie descendant of this process (the tree), plus the
 * cgroup members if any. *pids is malloc'd. */
size_t proc_tree(const struct proc *p, pid_t **pids);

/* SIGTERM the tree, wait up to term_timeout_ns, SIGKILL what is left, and
 * wait (bounded, 10 s) until nothing is left; everything reaped. */
int proc_stop(struct proc *p, uint64_t term_timeout_ns, struct proc_stop_report *rep);

/* Release the cgroup (must be empty) and close fds. */
void proc_free(struct proc *p);

/* A free TCP port on 127.0.0.1 (bound and released), or -1. */
int proc_free_port(void);
/* 1 if something listens or binds 127.0.0.1:port (bind fails with EADDRINUSE). */
int proc_port_in_use(int port);

/* Describe a wait status: "exited with status 3", "killed by signal 9". */
void proc_status_str(int status, char *buf, size_t len);

#endif
