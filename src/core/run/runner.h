#ifndef CS_RUNNER_H
#define CS_RUNNER_H
/*
 * runner: one measured start of a server.
 *
 *  1. cold control, outside the measured time: evict the model's files
 *     (or drop the whole cache, or nothing), then measure residency;
 *  2. launch (proc_spawn): load_s starts just before exec; with
 *     prefetch_jobs, a thread warms the model's files into the page cache
 *     right after exec, overlapping the server's own start-up, and is
 *     stopped at ready: in the order the engine reads them, what is
 *     resident skipped, no more than memory allows (io/prefetch.h's plan,
 *     made before exec and told through status);
 *  3. poll readiness every poll interval with a bounded per-check timeout,
 *     while watching for the server's exit and the deadline; an http/tcp
 *     answer counts only if the listening socket that gave it belongs to
 *     the server's process tree (unless any_owner), and a readiness port
 *     already taken before launch fails the run at once;
 *  4. at ready: sample GPU memory of the server's process tree;
 *  5. stop the whole tree (SIGTERM, wait, SIGKILL), reap everything, and
 *     wait (bounded) until the GPU memory the run used is released.
 * Every exit path, cancellation included, runs step 5; once cancelled, the
 * wait after SIGTERM is at most RUN_CANCEL_GRACE_NS and the GPU memory is
 * not waited for (no next start needs it), so an interrupted run ends
 * within about a second, the tree killed.
 *
 * Nothing prints; the status callback (may be NULL) gets one-line progress
 * messages. Not thread-safe.
 */
#include <signal.h>
#include <stdint.h>

#include "phases.h"
#include "core/base/schema.h"
#include "timeline.h"
#include "proc.h"
#include "core/base/util.h"

enum cold_mode { COLD_FILES, COLD_GLOBAL, COLD_NONE };

#define RUN_CANCEL_GRACE_NS 1000000000ull

enum run_outcome {
	RUN_READY,
	RUN_EXITED,        /* the server exited before ready */
	RUN_TIMEOUT,       /* not ready before the deadline */
	RUN_PORT_TAKEN,    /* the port was in use before launch */
	RUN_SPAWN_FAILED,  /* could not be started */
	RUN_CANCELLED,     /* cancel flag set (Ctrl-C) */
	RUN_COLD_FAILED,   /* eviction failed */
	RUN_FOREIGN,       /* the readiness check was answered by another process */
};

/* run_result.cold_method of a model the server reads from a URL. */
#define RUN_COLD_REMOTE NOTE_COLD_MODE_REMOTE

struct run_opts {
	char **argv;
	const char *model;            /* files to evict and to measure residency of */
	const char *also_evict;       /* more files evicted before launch (a cache set), NULL */
	char **envp;                  /* the server's environment, NULL: inherited */
	const char *ready_spec;       /* "{port}" substituted inside */
	int port;
	uint64_t timeout_ns;
	uint64_t stop_timeout_ns;
	uint64_t poll_ns;             /* default 5 ms */
	enum cold_mode cold;
	const char *log_path;
	uint64_t gpu_release_timeout_ns;
	int prefetch_jobs;            /* >0: warm the model's files at launch */
	uint64_t prefetch_cap;        /* > 0: read ahead at most this (the memory budget applies too) */
	int timeline;                 /* sample the server every 100 ms until ready */
	int hold_fd;                  /* kept open until the server's tree is gone (<= 0: none) */
	int detached;                 /* the launcher may exit 0 and leave the server running */
	int any_owner;                /* accept a readiness answer from any process */
	volatile sig_atomic_t *cancel;
	cs_msg_fn status;
	void *status_arg;
};

struct run_result {
	enum run_outcome outcome;
	char reason[CS_ERRMSG_MAX];
	double load_s;                /* ready - exec, seconds */
	uint64_t exec_ns, ready_ns;   /* CLOCK_MONOTONIC */
	uint64_t model_bytes, resident_bytes;
	double resident_pct;          /* after cold control, before launch; < 0: unknown */
	int cold;                     /* 1: resident_pct <= 1; 0: more; -1: unverified
				       * (the kernel would not show the residency) */
	size_t unknown_files;         /* files whose residency could not be read */
	char unknown_path[512];       /* the first of them */
	const char *cold_method;      /* cachestat / mincore */
	int64_t gpu_mem_bytes;        /* -1: unavailable */
	const char *gpu_method;       /* "per-process", "device-delta" or NULL */
	int gpu_released;             /* 1 released, 0 timed out, -1 not measured */
	double gpu_release_s;
	int exit_status;              /* wait status if the leader exited */
	int owner_checked;            /* the answering socket was the tree's */
	int launcher_exited;          /* detached: the launcher exited 0 before ready */
	int log_errno;                /* writing the server's log failed (0: it did not) */
	int record_failed;            /* set by the caller: the row could not be written */
	struct proc_stop_report stop;
	char *tail;                   /* last log lines (malloc'd) on failure */
	long last_http;
	uint64_t log_lines;
	struct phases phases;         /* from the server's log, offsets from exec */
	/* --prefetch: bytes it read and when it finished (offset from exec;
	 * -1 when the server was ready first and the prefetch was stopped). */
	uint64_t prefetch_bytes;
	double prefetch_s;
	uint64_t prefetch_planned;    /* what the plan meant to read */
	int prefetch_cut;             /* the plan stopped at the memory budget */
	/* timeline: bytes read by the server's tree (/proc/PID/io read_bytes,
	 * kept for processes that exited), its resident memory, its GPU
	 * memory, and the model's bytes in the page cache. malloc'd. */
	struct tl_sample *tl;
	size_t ntl;
};

int runner_run(const struct run_opts *o, struct run_result *r, struct cs_err *err);
void run_result_release(struct run_result *r);
const char *run_outcome_name(enum run_outcome o);

#endif
