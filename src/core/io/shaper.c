#define _GNU_SOURCE
#include "shaper.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "core/base/util.h"
#include "core/base/banned.h"

void shaper_init(struct shaper *s, uint64_t bw, uint64_t latency_ns, unsigned max_inflight)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->bw = bw;
	s->latency_ns = latency_ns;
	s->max_inflight = max_inflight;
	s->st.since_ns = now_ns();
}

void shaper_set_cancel(struct shaper *s, volatile sig_atomic_t *cancel)
{
	s->cancel = cancel;
}

static void unlock_mu(void *mu)
{
	pthread_mutex_unlock(mu);
}

static struct timespec ts_of(uint64_t ns)
{
	return (struct timespec){ (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };
}

int shaper_sleep_until(const struct shaper *s, uint64_t t_ns)
{
	for (;;) {
		uint64_t t = now_ns();
		if (t >= t_ns)
			return 0;
		if (cs_cancelled(s->cancel))
			return -1;
		/* Without a flag there is nothing to look at: one sleep. */
		uint64_t until = s->cancel && t_ns - t > SHAPER_POLL_NS ? t + SHAPER_POLL_NS : t_ns;
		struct timespec ts = ts_of(until);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL); /* EINTR: look again */
	}
}

void shaper_destroy(struct shaper *s)
{
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

uint64_t shaper_bucket_min(unsigned i)
{
	return i == 0 ? 0 : 4096ULL << (i - 1);
}

static unsigned bucket(size_t size)
{
	unsigned i = 0;
	while (i + 1 < SHAPER_HIST && size >= shaper_bucket_min(i + 1))
		i++;
	return i;
}

uint64_t shaper_begin(struct shaper *s, size_t size)
{
	uint64_t done;
	pthread_mutex_lock(&s->mu);
	pthread_cleanup_push(unlock_mu, &s->mu);
	uint64_t t = now_ns();
	while (s->max_inflight && s->st.inflight >= s->max_inflight && !cs_cancelled(s->cancel)) {
		if (!s->cancel) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		/* The cv uses the realtime clock: a slice of it, then the flag again. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec + SHAPER_POLL_NS;
		ts = ts_of(ns);
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	uint64_t arrival = now_ns();
	s->st.slot_wait_ns += arrival - t;
	if (!s->st.inflight++)
		s->st.busy_since_ns = arrival;
	if (s->st.inflight > s->st.peak_inflight)
		s->st.peak_inflight = s->st.inflight;
	s->st.reads++;
	s->st.bytes += size;
	s->st.hist[bucket(size)]++;
	uint64_t ready = s->latency_ns > UINT64_MAX - arrival ? UINT64_MAX : arrival + s->latency_ns;
	done = ready;
	if (s->bw) {
		uint64_t start = ready > s->link_free_ns ? ready : s->link_free_ns;
		s->st.throttled_ns += start - ready;
		/* Saturating: at 1 byte/s, 64 chunks of 1 GiB in flight reach
		 * past 2^64 ns, and a wrapped clock would let the rest through. */
		double txd = (double)size * 1e9 / (double)s->bw;
		uint64_t tx = txd >= 1.8e19 ? UINT64_MAX : (uint64_t)txd;
		s->link_free_ns = tx > UINT64_MAX - start ? UINT64_MAX : start + tx;
		done = s->link_free_ns;
	}
	pthread_cleanup_pop(1);
	return done;
}

int shaper_end(struct shaper *s, uint64_t done_ns)
{
	uint64_t t = now_ns();
	if (done_ns && t > done_ns) {
		pthread_mutex_lock(&s->mu);
		s->st.late_ns += t - done_ns;
		pthread_mutex_unlock(&s->mu);
	}
	int rc = shaper_sleep_until(s, done_ns);
	pthread_mutex_lock(&s->mu);
	if (!--s->st.inflight)
		s->st.busy_ns += now_ns() - s->st.busy_since_ns;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void shaper_snapshot(struct shaper *s, struct shaper_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->st;
	if (out->inflight)
		out->busy_ns += now_ns() - out->busy_since_ns;
	pthread_mutex_unlock(&s->mu);
}
