#ifndef CS_WORKPOOL_H
#define CS_WORKPOOL_H
/*
 * workpool: the one shape of coldstart's parallel I/O -- threads taking
 * numbered items (chunks of files) from one queue until it is empty; the
 * first error stops every thread and is kept for the caller; a cancel
 * flag is honoured between items. Copy, hashing, the loader and the
 * page-cache warm run on it. (The checkpoint writer is not a queue but an
 * ordered ring: mkmodel's generators fill buffers that one thread writes
 * in file order.)
 *
 *   wp_init      the queue of n items
 *   wp_take      a worker's next item (0 when none is left, one failed, or
 *                cancelled)
 *   wp_fail      the first error wins, the others are dropped
 *   wp_run       start the threads (at most one per item), call tick from
 *                the calling thread while they run, join them
 *   wp_result    the outcome: the first error, ECANCELED, or 0
 *
 * q->mu may also guard the caller's own shared state (progress counters,
 * pending lists): lock it around that state as wp_* do around theirs.
 */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Threads of a pool: the default and the most a command accepts (as text
 * too, for help and messages). */
#define WP_JOBS_DEFAULT 8
#define WP_JOBS_MAX 256
#define WP_JOBS_DEFAULT_S "8"
#define WP_JOBS_MAX_S "256"
/* jobs = WP_JOBS_AUTO: find the concurrency as the work goes (see wp_run). */
#define WP_JOBS_AUTO (-1)
#define WP_JOBS_AUTO_NET (-2)   /* the same, from WP_JOBS_DEFAULT (a network source wants several in flight) */
#define WP_JOBS_AUTO_REMOTE (-3) /* the same, from WP_JOBS_AUTO_REMOTE_START (an object store or HTTP server:
				  * each request pays a round trip and a server-side lookup, 16-64 in flight) */
#define WP_JOBS_AUTO_REMOTE_START 16
#define WP_AUTO_MAX 64

/* The auto-tuner's state (wp_run's thread only, except limit). */
struct wp_tune {
	int on;
	uint64_t t0, done0, items0;   /* the current window's start */
	double best_rate;
	size_t best_limit, peak;
	int settled, warming, flat;
};

struct wp_queue {
	pthread_mutex_t mu;
	size_t next, n;               /* items handed out, of n */
	uint64_t done;                /* units finished (wp_done): bytes, for progress */
	int failed;
	struct cs_err err;            /* the first error */
	volatile sig_atomic_t *cancel;
	size_t running;               /* wp_run's workers not yet returned */
	pthread_cond_t idle;          /* signalled as each returns */
	/* Auto concurrency: at most limit items in progress at once. */
	size_t limit, active;         /* limit 0: no limit */
	uint64_t completed;           /* items finished */
	pthread_cond_t slot;          /* signalled as a slot frees or the queue closes */
	struct wp_tune tune;
	size_t tune_jobs_fixed;       /* the threads a fixed-size run started */
};

void wp_init(struct wp_queue *q, size_t n, volatile sig_atomic_t *cancel);
void wp_destroy(struct wp_queue *q);
/* The next item: 1 with *item set, or 0. */
int wp_take(struct wp_queue *q, size_t *item);
/* Up to max consecutive items as one run, starting at *first, as long as
 * joins(first, item, arg) says the next item belongs to it. Returns how
 * many (0 as wp_take). */
size_t wp_take_run(struct wp_queue *q, size_t max, int (*joins)(size_t first, size_t item, void *arg), void *arg,
		   size_t *first);
void wp_fail(struct wp_queue *q, const struct cs_err *e);
/* units more are finished. */
void wp_done(struct wp_queue *q, uint64_t units);
/* Units finished so far; returns 1 when the work is over from the queue's
 * side (every item handed out, one failed, or cancelled). */
int wp_progress(struct wp_queue *q, uint64_t *done);

/*
 * jobs threads of fn(arg) (0: WP_JOBS_DEFAULT; never more than items,
 * none for an empty queue); with tick, tick(targ) from this thread every
 * tick_ns while it returns 0, and once more when the threads are done.
 * WP_JOBS_AUTO: WP_AUTO_MAX threads, but at most `limit` items in progress
 * at once (a worker's item counts from wp_take until its next wp_take or
 * its return). The limit starts at 1 (WP_JOBS_AUTO_NET: 8) and doubles
 * while the units finished per second (wp_done, or q->done) grow by 10% or
 * more from one window to the next (after a change, the items started
 * before it finish first; a window is then at least 200 ms and limit + 1
 * items, at most 3 s); past one flat step it tries one more doubling, and
 * after two, or one that is 5% or more below the best rate, it goes back
 * to the best limit seen and stays there. wp_jobs tells the limit it settled on.
 * Returns as soon as the last thread does (not at the next tick), all
 * joined: 0, or -1 when no thread could start ("cannot start WHAT
 * threads", EAGAIN).
 */
int wp_run(struct wp_queue *q, int jobs, void *(*fn)(void *), void *arg, int (*tick)(void *), void *targ,
	   uint64_t tick_ns, const char *what, struct cs_err *err);
/* After wp_run: the first error, else ECANCELED ("interrupted") if the
 * cancel flag is set, else 0. */
int wp_result(struct wp_queue *q, struct cs_err *err);
/* After wp_run: the concurrency used (auto: the limit it settled on, or
 * the highest it reached before the work ended). */
size_t wp_jobs(const struct wp_queue *q);

#endif
