#ifndef CS_PROC_H
#define CS_PROC_H
/*
 * proc: launch a server as a process tree we can account for, and stop all
 * of it -- also when the caller is killed with SIGKILL.
 *
 * proc_spawn forks a guard, and the guard forks the server:
 *
 *   caller --- guard (own process group, PR_SET_CHILD_SUBREAPER)
 *                 `-- server leader (own process group, PDEATHSIG=SIGKILL)
 *                        `-- whatever it starts (double forks, setsid: all
 *                            re-parent to the guard, never to PID 1)
 *
 * "The tree" is every live descendant of the guard (plus the members of a
 * fresh cgroup v2 leaf where one is writable). The guard reaps the tree,
 * tells the caller when the leader exits, and watches a pipe from the
 * caller: when it closes -- proc_release, exit, or the caller's death by any
 * signal, SIGKILL included -- the guard sends SIGTERM to the whole tree,
 * SIGKILL after a second to whatever is left, and exits once nothing is
 * left. It ignores the terminal's signals (Ctrl-C goes to the caller, which
 * stops the tree itself) and sits in its own process group, so a signal to
 * the caller's group does not take it down first. Between fork and exit the
 * guard uses system calls only (it may be the fork of a threaded process).
 * Nothing here depends on cgroup v2 or on root.
 *
 * stdout and stderr of the server go to one pipe (proc.out_fd, read end,
 * owned by the caller after spawn). The server's environment and cwd are
 * inherited; signals are reset to default and unblocked before exec; fds
 * other than 0-2 are closed. hold_fd (>= 0) stays open in the guard until
 * the tree is gone: a lock passed there lasts as long as any process of the
 * server does, even after the caller died.
 *
 * Not thread-safe: one caller thread drives a struct proc.
 */
#include <stdint.h>
#include <sys/types.h>

#include "core/base/util.h"

struct proc {
	pid_t pid;            /* the leader (also its process group id) */
	pid_t guard;          /* the guard process */
	int out_fd;           /* read end of the stdout+stderr pipe, -1 once closed */
	int ctl_fd;           /* write end of the guard's lifeline, -1 once closed */
	int ev_fd;            /* read end of the guard's event pipe */
	uint64_t exec_ns;     /* CLOCK_MONOTONIC in the server just before execvp */
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

/* Start argv[0] (PATH search) with stdin from /dev/null. When it cannot be
 * executed returns -1 with the errno in err->code and a message naming
 * argv[0] and the reason (not found, not on PATH, permission denied). */
int proc_spawn(struct proc *p, char *const argv[], int hold_fd, struct cs_err *err);
/* The same with the server's whole environment given (NULL: inherited). */
int proc_spawn_env(struct proc *p, char *const argv[], char *const envp[], int hold_fd, struct cs_err *err);

/* Take the guard's news (non-blocking). Returns 1 if the leader has exited
 * (now or before). */
int proc_reap(struct proc *p);

/* Every live, non-zombie process of the tree (the guard excluded).
 * *pids is malloc'd. */
size_t proc_tree(const struct proc *p, pid_t **pids);

/* SIGTERM the tree, wait up to term_timeout_ns, SIGKILL what is left, and
 * wait (bounded, 10 s) until nothing is left. */
int proc_stop(struct proc *p, uint64_t term_timeout_ns, struct proc_stop_report *rep);

/* Let the guard go (it kills anything still left and exits; waited for,
 * bounded), release the cgroup and close fds. */
void proc_release(struct proc *p);

/* A free TCP port on 127.0.0.1 (bound and released), or -1. */
int proc_free_port(void);

/* Describe a wait status: "exited with status 3", "killed by signal 9". */
void proc_status_str(int status, char *buf, size_t len);

/* The command name of a process (/proc/PID/comm) into buf; "?" if gone. */
void proc_comm(pid_t pid, char *buf, size_t len);

#endif
