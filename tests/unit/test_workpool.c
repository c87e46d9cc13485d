/* The one chunk queue (core/base/workpool.c): every item once, first error, cancel. */
#define _GNU_SOURCE
#include "core/base/workpool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"

#define N 1000

struct job {
	struct wp_queue q;
	int seen[N];                  /* times each item was taken */
	size_t fail_at;               /* item whose worker fails (N: none) */
	volatile sig_atomic_t cancel;
	size_t cancel_at;             /* item after which cancel is set (N: never) */
};

static void *worker(void *arg)
{
	struct job *j = arg;
	size_t i;
	while (wp_take(&j->q, &i)) {
		__atomic_add_fetch(&j->seen[i], 1, __ATOMIC_RELAXED);
		if (i == j->fail_at) {
			struct cs_err e;
			cs_fail(&e, EIO, "item %zu failed", i);
			wp_fail(&j->q, &e);
			struct cs_err later;
			cs_fail(&later, EPERM, "a later error");
			wp_fail(&j->q, &later);
		}
		if (i == j->cancel_at)
			__atomic_store_n(&j->cancel, SIGINT, __ATOMIC_RELAXED); /* as a signal handler would, seen by other threads */
		wp_done(&j->q, 10);
	}
	return NULL;
}

static int over_limit;
static size_t max_active;

/* A worker that checks the limit and takes a little time per item. */
static size_t first_limit;   /* the limit when item 0 was taken: where auto started */

static void *auto_worker(void *arg)
{
	struct job *j = arg;
	size_t i;
	while (wp_take(&j->q, &i)) {
		pthread_mutex_lock(&j->q.mu);
		if (j->q.limit && j->q.active > j->q.limit)
			over_limit = 1;
		if (j->q.active > max_active)
			max_active = j->q.active;
		if (i == 0)
			first_limit = j->q.limit;
		pthread_mutex_unlock(&j->q.mu);
		__atomic_add_fetch(&j->seen[i], 1, __ATOMIC_RELAXED);
		if (i == j->fail_at) {
			struct cs_err e;
			cs_fail(&e, EIO, "item %zu failed", i);
			wp_fail(&j->q, &e);
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
		wp_done(&j->q, 10);
	}
	return NULL;
}

/* A source that serves up to 16 requests well and chokes on more: an
 * item takes 4 ms at 16 or fewer in progress, 32 ms at 17-32 (a quarter of
 * the rate), 256 ms beyond. */
static void *choking_worker(void *arg)
{
	struct job *j = arg;
	size_t i;
	while (wp_take(&j->q, &i)) {
		pthread_mutex_lock(&j->q.mu);
		size_t a = j->q.active;
		if (a > max_active)
			max_active = a;
		pthread_mutex_unlock(&j->q.mu);
		long ms = a <= 16 ? 4 : a <= 32 ? 32 : 256;
		struct timespec ts = { 0, ms * 1000000 };
		nanosleep(&ts, NULL);
		wp_done(&j->q, 10);
	}
	return NULL;
}

static int ticks;
static int tick(void *arg)
{
	uint64_t done;
	ticks++;
	return wp_progress(arg, &done);
}

static void run(struct job *j, int jobs, struct cs_err *err, int *rc_run, int *rc_result)
{
	wp_init(&j->q, N, &j->cancel);
	*rc_run = wp_run(&j->q, jobs, worker, j, tick, &j->q, 1000000u, "test", err);
	*rc_result = wp_result(&j->q, err);
}

static int same_shard(size_t first, size_t item, void *arg)
{
	(void)arg;
	return item / 4 == first / 4; /* runs of 4 */
}

int main(void)
{
	struct job *j = calloc(1, sizeof(*j));
	struct cs_err err;
	int rr, rs;
	j->fail_at = j->cancel_at = N;
	run(j, 8, &err, &rr, &rs);
	int once = 1;
	for (size_t i = 0; i < N; i++)
		once &= j->seen[i] == 1;
	ok(rr == 0 && rs == 0 && once, "8 threads: every item taken exactly once, no error");
	is_int(j->q.done, 10 * N, "units done add up");
	ok(ticks > 0, "the caller's tick ran while the threads did");
	wp_destroy(&j->q);

	memset(j, 0, sizeof(*j));
	j->fail_at = 100;
	j->cancel_at = N;
	run(j, 1, &err, &rr, &rs);
	ok(rr == 0 && rs == -1 && err.code == EIO && !strcmp(err.msg, "item 100 failed"),
	   "the first error is the one reported, later ones dropped: %s", err.msg);
	size_t taken = 0;
	for (size_t i = 0; i < N; i++)
		taken += (size_t)j->seen[i];
	is_int(taken, 101, "after the error no item is taken (one thread: items 0-100, no more)");
	wp_destroy(&j->q);

	memset(j, 0, sizeof(*j));
	j->fail_at = N;
	j->cancel_at = 10;
	run(j, 2, &err, &rr, &rs);
	ok(rs == -1 && err.code == ECANCELED, "cancel: ECANCELED (%s)", err.msg);
	wp_destroy(&j->q);

	/* Runs: consecutive items while the predicate holds, at most max. */
	struct wp_queue q;
	wp_init(&q, 10, NULL);
	size_t first, n = wp_take_run(&q, 3, same_shard, NULL, &first);
	ok(n == 3 && first == 0, "a run of at most 3 (items 0-2)");
	n = wp_take_run(&q, 3, same_shard, NULL, &first);
	ok(n == 1 && first == 3, "the run stops where the predicate does (item 3 alone)");
	n = wp_take_run(&q, 8, same_shard, NULL, &first);
	ok(n == 4 && first == 4, "items 4-7");
	n = wp_take_run(&q, 8, same_shard, NULL, &first);
	ok(n == 2 && first == 8, "the last two");
	ok(wp_take_run(&q, 8, same_shard, NULL, &first) == 0, "then nothing");
	wp_destroy(&q);

	/* Auto: every item once, never more in progress than the limit. */
	memset(j, 0, sizeof(*j));
	j->fail_at = j->cancel_at = N;
	wp_init(&j->q, N, &j->cancel);
	over_limit = max_active = 0;
	rr = wp_run(&j->q, WP_JOBS_AUTO, auto_worker, j, NULL, NULL, 0, "test", &err);
	rs = wp_result(&j->q, &err);
	once = 1;
	for (size_t i = 0; i < N; i++)
		once &= j->seen[i] == 1;
	ok(rr == 0 && rs == 0 && once, "auto: every item taken exactly once");
	ok(!over_limit, "auto: never more items in progress than the limit (at most %zu seen)", max_active);
	size_t used = wp_jobs(&j->q);
	ok(used >= 1 && used <= WP_AUTO_MAX, "auto: the concurrency found is 1 to %d (%zu)", WP_AUTO_MAX, used);
	is_int(j->q.done, 10 * N, "auto: units done add up");
	wp_destroy(&j->q);
	memset(j, 0, sizeof(*j));
	j->fail_at = 500;
	j->cancel_at = N;
	wp_init(&j->q, N, &j->cancel);
	rr = wp_run(&j->q, WP_JOBS_AUTO, auto_worker, j, NULL, NULL, 0, "test", &err);
	ok(rr == 0 && wp_result(&j->q, &err) == -1 && err.code == EIO, "auto: an error ends it (no worker left waiting)");
	wp_destroy(&j->q);

	/* Where auto starts: 1 (a local disk), 8 (a network mount), 16 (a URL). */
	const int starts[][2] = { { WP_JOBS_AUTO, 1 }, { WP_JOBS_AUTO_NET, WP_JOBS_DEFAULT },
				  { WP_JOBS_AUTO_REMOTE, WP_JOBS_AUTO_REMOTE_START } };
	for (size_t k = 0; k < 3; k++) {
		memset(j, 0, sizeof(*j));
		j->fail_at = j->cancel_at = N;
		wp_init(&j->q, N, &j->cancel);
		first_limit = 0;
		rr = wp_run(&j->q, starts[k][0], auto_worker, j, NULL, NULL, 0, "test", &err);
		ok(rr == 0 && wp_result(&j->q, &err) == 0 && first_limit == (size_t)starts[k][1],
		   "auto mode %d starts at %d in flight (%zu)", starts[k][0], starts[k][1], first_limit);
		wp_destroy(&j->q);
	}

	/* A step that costs is not followed by another: from 16, 32 is a
	 * quarter of the rate, so auto goes back to 16 without trying 64. */
	{
		struct job *jc = xcalloc(1, sizeof(*jc));
		size_t nc = 3000;
		jc->fail_at = jc->cancel_at = nc;
		wp_init(&jc->q, nc, &jc->cancel);
		max_active = 0;
		rr = wp_run(&jc->q, WP_JOBS_AUTO_REMOTE, choking_worker, jc, NULL, NULL, 0, "test", &err);
		ok(rr == 0 && wp_result(&jc->q, &err) == 0, "auto against a source that chokes past 16: done");
		is_int(wp_jobs(&jc->q), 16, "... settled at 16");
		ok(max_active <= 32, "... without trying 64 (at most %zu in progress)", max_active);
		wp_destroy(&jc->q);
		free(jc);
	}

	/* No item: no thread needed, nothing fails. */
	wp_init(&q, 0, NULL);
	ok(wp_run(&q, 8, worker, NULL, NULL, NULL, 0, "test", &err) == 0 && wp_result(&q, &err) == 0,
	   "an empty queue runs and succeeds");
	wp_destroy(&q);
	free(j);
	return done_testing();
}
