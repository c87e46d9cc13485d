/* The shaper's schedule: behaviour, not speed (no timing assertions). */
#include "core/io/shaper.h"
#include "core/base/util.h"

#include "tap.h"

int main(void)
{
	struct shaper s;
	/* 1 MiB/ms link, no latency: two back-to-back 1 MiB requests are scheduled 1 ms apart. */
	shaper_init(&s, 1048576000ULL, 0, 0);
	uint64_t t0 = now_ns();
	uint64_t d1 = shaper_begin(&s, 1048576);
	uint64_t d2 = shaper_begin(&s, 1048576);
	ok(d1 >= t0 + 1000000 && d2 - d1 == 1000000, "the link serializes: second ends 1 ms after the first (%llu)",
	   (unsigned long long)(d2 - d1));
	struct shaper_stats st;
	shaper_snapshot(&s, &st);
	is_int(st.inflight, 2, "two in flight");
	is_int(st.peak_inflight, 2, "peak 2");
	ok(st.throttled_ns > 0, "the second request queued for the link");
	is_int(st.hist[9], 2, "1 MiB requests in the [1M,2M) bucket");
	shaper_end(&s, 0);
	shaper_end(&s, 0);
	shaper_snapshot(&s, &st);
	is_int(st.inflight, 0, "slots released");
	is_int(st.bytes, 2097152, "bytes counted");
	shaper_destroy(&s);

	/* Latency only: concurrent requests do not wait for each other. */
	shaper_init(&s, 0, 5000000ULL, 0);
	t0 = now_ns();
	d1 = shaper_begin(&s, 4096);
	d2 = shaper_begin(&s, 4096);
	ok(d1 >= t0 + 5000000 && d2 - d1 < 1000000, "latency is paid concurrently");
	shaper_snapshot(&s, &st);
	is_int(st.throttled_ns, 0, "no link queueing without a bandwidth limit");
	is_int(st.hist[1], 2, "4K requests in the 4K bucket");
	shaper_end(&s, 0);
	shaper_end(&s, 0);
	shaper_destroy(&s);

	/* A cancel flag ends every wait: a request throttled for an hour, a
	 * slot that never frees. (Without it these calls would not return.) */
	volatile sig_atomic_t stop = 0;
	shaper_init(&s, 1, 0, 1);
	shaper_set_cancel(&s, &stop);
	d1 = shaper_begin(&s, 3600);
	ok(d1 >= now_ns() + 3000ull * 1000000000ull, "1 byte/s: 3600 bytes complete in an hour");
	is_int(shaper_sleep_until(&s, now_ns() - 1), 0, "a time already past: no wait, not cancelled");
	stop = 1;
	is_int(shaper_sleep_until(&s, d1), -1, "cancelled: the sleep gives up at once");
	d2 = shaper_begin(&s, 1);
	shaper_snapshot(&s, &st);
	is_int(st.inflight, 2, "cancelled: waiting for the one slot gives up too (the request is counted)");
	is_int(shaper_end(&s, d1), -1, "cancelled: the end of a throttled request does not wait for it");
	is_int(shaper_end(&s, d2), -1, "... nor does the second's");
	shaper_snapshot(&s, &st);
	is_int(st.inflight, 0, "... and both slots are released");
	is_int(shaper_end(&s, 0), 0, "a completion already due is not a cancel");
	shaper_destroy(&s);

	/* 1 byte/s and 1 GiB requests: the schedule saturates, never wraps. */
	shaper_init(&s, 1, 0, 0);
	uint64_t prev = 0;
	int monotone = 1;
	for (int i = 0; i < 64; i++) {
		uint64_t d = shaper_begin(&s, 1u << 30);
		monotone &= d >= prev;
		prev = d;
	}
	ok(monotone && prev == UINT64_MAX, "64 GiB at 1 byte/s: completion times never go back (the last: never)");
	shaper_destroy(&s);

	is_int(shaper_bucket_min(0), 0, "bucket 0 starts at 0");
	is_int(shaper_bucket_min(1), 4096, "bucket 1 starts at 4K");
	is_int(shaper_bucket_min(11), 4194304, "last bucket starts at 4M");
	return done_testing();
}
