#ifndef CS_SHAPER_H
#define CS_SHAPER_H
/*
 * shaper: the timing model of a network file system path, for netsim.
 *
 * A read request of S bytes arriving at t:
 *   1. waits for one of max_inflight slots (like NFS RPC slots / nconnect);
 *   2. pays the latency L (concurrently with every other request);
 *   3. crosses one shared link of bandwidth B, scheduled on a virtual clock:
 *        tx_start = max(t + L, link_free);  link_free = tx_start + S / B
 *      and completes at link_free (or t + L when B is unlimited).
 * So one reader gets S / (L + S/B), many readers share exactly B. The time a
 * request queues for the link (tx_start - (t + L)) is "throttled" time.
 *
 * All functions are thread-safe. Zero for bw, latency or max_inflight means
 * unlimited.
 *
 * Cancel: with `cancel` set (shaper_set_cancel), every wait -- for a slot,
 * for the link, for a completion time -- looks at the flag at least every
 * SHAPER_POLL_NS and gives up once it is nonzero, so a request throttled
 * for days (stage --bwlimit 1) ends within a fraction of a second of
 * Ctrl-C or SIGTERM. Waits are also pthread cancellation points that leave
 * the mutex unlocked (FUSE's loop cancels its workers at unmount).
 */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define SHAPER_HIST 12   /* request sizes: <4K, [4K,8K), [8K,16K), ... [2M,4M), >=4M */

struct shaper_stats {
	uint64_t reads, bytes;
	uint64_t hist[SHAPER_HIST];
	unsigned inflight, peak_inflight;
	uint64_t throttled_ns;     /* queued for the link */
	uint64_t slot_wait_ns;     /* queued for an in-flight slot */
	uint64_t since_ns;         /* when the shaper started */
	uint64_t busy_ns;          /* wall time with at least one request in flight */
	uint64_t busy_since_ns;    /* start of the current busy period (inflight > 0) */
	uint64_t late_ns;          /* requests' time past their modelled completion:
				    * the backing storage or the CPU was slower than the model */
};

struct shaper {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t bw;               /* bytes per second */
	uint64_t latency_ns;
	unsigned max_inflight;
	uint64_t link_free_ns;
	volatile sig_atomic_t *cancel; /* NULL: waits end only at their time */
	struct shaper_stats st;
};

/* Waits poll the cancel flag this often. */
#define SHAPER_POLL_NS 50000000ull

void shaper_init(struct shaper *s, uint64_t bw, uint64_t latency_ns, unsigned max_inflight);
void shaper_destroy(struct shaper *s);
/* Waits give up when *cancel becomes nonzero (NULL: never). Set before the
 * shaper is shared. */
void shaper_set_cancel(struct shaper *s, volatile sig_atomic_t *cancel);

/* Take a slot and schedule a request of size bytes; returns the time at
 * which it may complete. Cancelled while waiting for a slot: the request
 * takes the slot anyway and is scheduled (so shaper_end pairs with every
 * begin); the caller's own checks of the flag stop it. */
uint64_t shaper_begin(struct shaper *s, size_t size);
/* Sleep until done_ns (after the data was read), then release the slot.
 * Returns 0, or -1 when cancelled before done_ns (the slot is released). */
int shaper_end(struct shaper *s, uint64_t done_ns);
/* Sleep until t_ns (CLOCK_MONOTONIC, as now_ns): 0 at t_ns, -1 as soon as
 * the cancel flag is set. */
int shaper_sleep_until(const struct shaper *s, uint64_t t_ns);

/* The statistics so far; busy_ns includes the busy period in progress. */
void shaper_snapshot(struct shaper *s, struct shaper_stats *out);
/* Lower bound of histogram bucket i, in bytes (0 for the first). */
uint64_t shaper_bucket_min(unsigned i);

#endif
