/* workpool: a queue of items, worker threads, first error and cancel. */
#define _GNU_SOURCE
#include "workpool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

/* The queue this thread holds a slot of (its item in progress). */
static __thread struct wp_queue *holding;

void wp_init(struct wp_queue *q, size_t n, volatile sig_atomic_t *cancel)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->idle, &ca);
	pthread_cond_init(&q->slot, &ca);
	pthread_condattr_destroy(&ca);
	q->n = n;
	q->cancel = cancel;
	if (holding == q)   /* a queue at the address of one this thread used */
		holding = NULL;
}

void wp_destroy(struct wp_queue *q)
{
	pthread_cond_destroy(&q->idle);
	pthread_cond_destroy(&q->slot);
	pthread_mutex_destroy(&q->mu);
}

/* Under q->mu. */
static int open_for_more(const struct wp_queue *q)
{
	return !q->failed && q->next < q->n && !cs_cancelled(q->cancel);
}


/* Under q->mu: the caller's previous item is finished. */
static void release(struct wp_queue *q)
{
	if (holding != q)
		return;
	holding = NULL;
	if (q->active)
		q->active--;
	q->completed++;
	if (q->limit)
		pthread_cond_signal(&q->slot);
}

/* Under q->mu: wait for a slot under the limit (rechecking the cancel
 * flag, which a signal handler sets without waking anyone). */
static void acquire(struct wp_queue *q)
{
	while (q->limit && q->active >= q->limit && open_for_more(q)) {
		struct timespec until = timespec_in(CLOCK_MONOTONIC, 50000000);
		pthread_cond_timedwait(&q->slot, &q->mu, &until);
	}
}

int wp_take(struct wp_queue *q, size_t *item)
{
	pthread_mutex_lock(&q->mu);
	release(q);
	acquire(q);
	int ok = open_for_more(q);
	if (ok) {
		*item = q->next++;
		q->active++;
		holding = q;
	}
	pthread_mutex_unlock(&q->mu);
	return ok;
}

size_t wp_take_run(struct wp_queue *q, size_t max, int (*joins)(size_t first, size_t item, void *arg), void *arg,
		   size_t *first)
{
	pthread_mutex_lock(&q->mu);
	release(q);
	acquire(q);
	size_t n = 0;
	if (open_for_more(q)) {
		*first = q->next;
		while (n < max && q->next < q->n && (n == 0 || joins(*first, q->next, arg))) {
			q->next++;
			n++;
		}
		q->active++;
		holding = q;
	}
	pthread_mutex_unlock(&q->mu);
	return n;
}

void wp_fail(struct wp_queue *q, const struct cs_err *e)
{
	pthread_mutex_lock(&q->mu);
	if (!q->failed) {
		q->failed = 1;
		q->err = *e;
	}
	pthread_cond_broadcast(&q->slot);
	pthread_mutex_unlock(&q->mu);
}

void wp_done(struct wp_queue *q, uint64_t units)
{
	pthread_mutex_lock(&q->mu);
	q->done += units;
	pthread_mutex_unlock(&q->mu);
}

int wp_progress(struct wp_queue *q, uint64_t *done)
{
	pthread_mutex_lock(&q->mu);
	*done = q->done;
	int over = !open_for_more(q);
	pthread_mutex_unlock(&q->mu);
	return over;
}

/* A worker as wp_run starts it: the caller's function, then one less running. */
struct worker {
	struct wp_queue *q;
	void *(*fn)(void *);
	void *arg;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	w->fn(w->arg);
	pthread_mutex_lock(&w->q->mu);
	release(w->q);
	w->q->running--;
	pthread_cond_broadcast(&w->q->idle);
	pthread_mutex_unlock(&w->q->mu);
	return NULL;
}

/* Under q->mu: the auto-tuner. After each change of the limit it waits
 * for `limit` items to finish (those started before the change), then
 * measures a window of at least 200 ms and limit + 1 items (at most 3 s). */
static void tune(struct wp_queue *q)
{
	struct wp_tune *t = &q->tune;
	uint64_t now = now_ns();
	if (t->settled)
		return;
	if (t->warming) {
		if (q->completed - t->items0 < q->limit && now - t->t0 < 3000000000u)
			return;
		t->warming = 0;
		t->t0 = now;
		t->done0 = q->done;
		t->items0 = q->completed;
		return;
	}
	uint64_t el = now - t->t0;
	if (el < 200000000u || (q->completed - t->items0 <= q->limit && el < 3000000000u))
		return;
	double rate = (double)(q->done - t->done0) * 1e9 / (double)el;
	int better = rate >= t->best_rate * 1.10 || !t->best_limit;
	int worse = t->best_limit && rate < t->best_rate * 0.95;
	if (better) {
		t->best_rate = rate;
		t->best_limit = q->limit;
		t->flat = 0;
	}
	/* Keep doubling while it pays, and once more past a flat step (a
	 * network path can plateau at 2-4 and jump at 8); a step that costs
	 * (5% or more below the best), or two that do not pay: back to the
	 * best limit. */
	if ((better || (!worse && !t->flat++)) && q->limit * 2 <= WP_AUTO_MAX && q->limit * 2 <= q->n) {
		q->limit *= 2;
		pthread_cond_broadcast(&q->slot);
	} else {
		q->limit = t->best_limit;
		t->settled = 1;
	}
	if (q->limit > t->peak)
		t->peak = q->limit;
	t->warming = 1;
	t->t0 = now;
	t->done0 = q->done;
	t->items0 = q->completed;
}

/* Until every worker has returned: tick(targ) every tick_ns while it
 * returns 0 (and the tuner). Woken at once by the last worker, not at the
 * next tick. */
static void watch(struct wp_queue *q, int (*tick)(void *), void *targ, uint64_t tick_ns)
{
	int ticking = tick != NULL;
	pthread_mutex_lock(&q->mu);
	while (q->running) {
		if (ticking) {
			pthread_mutex_unlock(&q->mu);
			ticking = !tick(targ);
			pthread_mutex_lock(&q->mu);
			if (!q->running)
				break;
		}
		if (q->tune.on)
			tune(q);
		if (!ticking && !(q->tune.on && !q->tune.settled)) {
			pthread_cond_wait(&q->idle, &q->mu);
			continue;
		}
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		uint64_t ns = (uint64_t)until.tv_nsec + tick_ns;
		until.tv_sec += (time_t)(ns / 1000000000u);
		until.tv_nsec = (long)(ns % 1000000000u);
		pthread_cond_timedwait(&q->idle, &q->mu, &until);
	}
	pthread_mutex_unlock(&q->mu);
}

int wp_run(struct wp_queue *q, int jobs, void *(*fn)(void *), void *arg, int (*tick)(void *), void *targ,
	   uint64_t tick_ns, const char *what, struct cs_err *err)
{
	if (!q->n)
		return 0; /* nothing to do: no thread */
	int autom = jobs == WP_JOBS_AUTO || jobs == WP_JOBS_AUTO_NET || jobs == WP_JOBS_AUTO_REMOTE;
	size_t nt = jobs > 0 ? (size_t)jobs : autom ? WP_AUTO_MAX : WP_JOBS_DEFAULT;
	if (nt > q->n)
		nt = q->n;
	if (autom) {
		q->limit = jobs == WP_JOBS_AUTO_REMOTE ? WP_JOBS_AUTO_REMOTE_START : jobs == WP_JOBS_AUTO_NET ? WP_JOBS_DEFAULT : 1;
		if (q->limit > nt)
			q->limit = nt;
		memset(&q->tune, 0, sizeof(q->tune));
		q->tune.on = 1;
		q->tune.t0 = now_ns();
		q->tune.peak = q->limit;
		q->tune.warming = 1;
		tick_ns = tick_ns && tick_ns < 50000000u ? tick_ns : 50000000u;
	}
	q->tune_jobs_fixed = q->tune.on ? 0 : nt;
	pthread_t *th = xcalloc(nt, sizeof(pthread_t));
	struct worker w = { q, fn, arg };
	size_t started = 0;
	pthread_mutex_lock(&q->mu);
	for (; started < nt; started++) {
		if (pthread_create(&th[started], NULL, worker_main, &w))
			break;
		q->running++;
	}
	pthread_mutex_unlock(&q->mu);
	if (started) {
		watch(q, tick, targ, tick_ns ? tick_ns : 100000000u);
		if (tick)
			tick(targ); /* once more: the figures at the end */
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	return started ? 0 : cs_fail(err, EAGAIN, "cannot start %s threads", what);
}

size_t wp_jobs(const struct wp_queue *q)
{
	if (!q->tune.on)
		return q->tune_jobs_fixed;
	return q->tune.settled ? q->tune.best_limit : q->tune.peak;
}

int wp_result(struct wp_queue *q, struct cs_err *err)
{
	if (q->failed)
		return cs_fail(err, q->err.code, "%s", q->err.msg);
	if (cs_cancelled(q->cancel))
		return cs_fail(err, ECANCELED, "interrupted");
	return 0;
}
