#ifndef CS_BENCH_RATE_H
#define CS_BENCH_RATE_H
/*
 * bench_rate: the read rate of each path the bench's modes read, measured
 * once before the runs, for the report's overlap floor (report_floor.h).
 * Per path ("nvme": --nvme, also where a staged start reads from; "net":
 * the network path when it is a path or netsim mount, never a URL): its
 * files evicted, then read in full by RR_PREFETCH_JOBS readers (pc_warm,
 * as --prefetch reads), timed, and evicted again, so the runs still start
 * cold. The sidecar gets "read_rates": [{path, bytes, seconds,
 * bytes_per_s, jobs, cold}] (cold false: more than 1 % was still cached
 * after eviction, the rate is not of the storage). Not with --cold none
 * (b->run.cold COLD_NONE): those runs start on the page cache as it is.
 *
 * Where a GPU is usable (device 0 as this process sees it), also the
 * pinned host -> GPU rate (probe_h2d_rate over BENCH_H2D_BYTES, in a child
 * process, so that no CUDA context stays in the bench): the sidecar's
 * "h2d_bytes_per_s". Without a driver nothing is said.
 *
 * One extra cold read of the model per path: on a 15 GB model at 1.5 GB/s,
 * about 10 s per path. A path that cannot be read is a notice, not an
 * error: the floor then falls back to what the runs measured.
 */
#include "bench.h"

#define BENCH_H2D_BYTES (1ull << 30)

/* Measures and records; 0, or -1 with err when the sidecar cannot be
 * rewritten (ECANCELED when cancelled meanwhile). */
int bench_record_rates(const struct bench *b, struct cs_err *err);

#endif
