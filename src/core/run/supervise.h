#ifndef CS_SUPERVISE_H
#define CS_SUPERVISE_H
/*
 * supervise: a server run in the foreground until it exits, as `coldstart
 * exec` runs it (the production form of a cold start: a container's
 * entrypoint, a Slurm task).
 *
 * sv_run, in order:
 *  1. removes the ready file (one left by an earlier life is not this
 *     server's readiness) and plans the prefetch (io/prefetch.h: the
 *     model's bytes in the engine's read order, what is resident skipped,
 *     no more than memory allows; the plan told through status in one
 *     line, "prefetch: ...");
 *  2. catches SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 (the
 *     handlers before the call are put back when it returns);
 *  3. starts the server (proc_spawn_env: its own process group under a
 *     guard, so its whole tree is stopped even if this process is killed
 *     with kill -9; hold_fd -- the staged model's use lock -- stays open in
 *     the guard until the tree is gone), starts warming the model's files
 *     (prefetch_jobs) and reads the server's output (each line to line);
 *  4. until the server's leader exits: passes each caught signal on to the
 *     server's process group (never stopping a healthy server itself), and
 *     checks readiness (ready, every 20 ms; http/tcp checks bounded to 1 s)
 *     until it first answers -- from a socket the server's own process
 *     tree holds, unless any_owner (readyowner.h; another process's answer
 *     is warned about once and not taken) -- then writes the ready file
 *     and reports through on_ready. Without a readiness check the server
 *     is ready as it starts;
 *  5. removes the ready file (only the one it wrote: the same inode),
 *     stops the prefetch and the output reader, and lets the guard stop
 *     what is left of the tree.
 *
 * Before it starts anything it refuses (sv_check_port) a port, or the
 * readiness check's local port, that another process already listens on:
 * the server could not listen there, and the other's answer would look
 * like its readiness.
 *
 * The ready file is JSON on one line, {"ready_s":S,"model":PATH,"pid":PID}
 * ("model" left out when NULL), written atomically (fs_write_file_sync).
 *
 * Nothing prints: status gets one-line progress (started, a signal passed
 * on, the exit), warn what went wrong without stopping the server (no
 * prefetch, the output unreadable, the ready file unwritable). line is
 * called on the output reader's thread, the others on the caller's.
 *
 * Not reentrant: the caught signals are process-wide, so one sv_run at a
 * time per process.
 */
#include <sys/types.h>

#include "phases.h"
#include "ready.h"
#include "core/base/util.h"

struct sv_ready {
	double ready_s;               /* from the server's exec to its first answer */
	pid_t pid;                    /* the server's leader */
	int prefetch;                 /* 0: none; 1: done by then; 2: still warming */
	struct phases phases;         /* what the server's log said by then */
};

typedef void (*sv_ready_fn)(const struct sv_ready *r, void *arg);

struct sv_opts {
	char **argv;                  /* the server's command (argv[0] looked up on PATH) */
	char **envp;                  /* its whole environment; NULL: this process's */
	int hold_fd;                  /* kept open until the server's tree is gone; -1: none */
	struct ready_spec *ready;     /* borrowed, checked by this call; NULL: ready at start */
	const char *ready_file;       /* NULL: none */
	const char *model;            /* for the ready file and the prefetch; may be NULL */
	int prefetch_jobs;            /* > 0 (with model): warm its files while the server starts */
	uint64_t prefetch_cap;        /* > 0: read ahead at most this (the memory budget applies too) */
	int port;                     /* > 0: the server's port, which nothing may hold before it starts */
	int any_owner;                /* accept a readiness answer from any process, not only the server's tree */
	cs_msg_fn line;               /* each line of the server's stdout and stderr, no newline */
	cs_msg_fn status;
	cs_msg_fn warn;
	sv_ready_fn on_ready;         /* once, when the server first answers */
	void *arg;                    /* for every callback; each may be NULL */
};

struct sv_result {
	int status;                   /* the leader's wait status */
	int code;                     /* as a shell reports it: the exit status, 128 + N after signal N */
	int ready;                    /* it was ready before it exited */
	pid_t pid;
};

/* Run the server until its leader exits: 0 with *r filled, or -1 with err
 * when it could not be started (sv_check_port's refusal, EADDRINUSE; else
 * proc_spawn's errors: errno in err->code, the message naming argv[0]). */
int sv_run(const struct sv_opts *o, struct sv_result *r, struct cs_err *err);

/* Can the ready file be written where it is asked for, without harm?
 * Checked before anything is staged or started: a startup probe waiting
 * for a file that can never appear waits for ever, and the file is
 * replaced when the server is ready and removed when it exits. Refused:
 * a directory (EISDIR); a path that exists and is not a ready file this
 * command wrote (EEXIST: a model's file, a config, anything else would be
 * overwritten, then deleted); a path inside one of inside[0..n) (the
 * model, the stage root, the source: EINVAL); a trial write that fails
 * (its errno; ENOENT saying the directory does not exist). 0, or -1 with
 * err naming the path. */
int sv_check_ready_file(const char *path, const char *const *inside, size_t n, struct cs_err *err);
/* Nothing listens on port (if > 0) nor on rs's local port (if rs is an
 * http/tcp check on this host): 0, else -1 with EADDRINUSE and err naming
 * the port and, where it can be seen, the process holding it. */
int sv_check_port(int port, const struct ready_spec *rs, struct cs_err *err);

#endif
