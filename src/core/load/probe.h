#ifndef CS_PROBE_H
#define CS_PROBE_H
/*
 * probe: the hardware floor for loading a model here, measured (what
 * `coldstart probe` shows):
 *
 *   storage -> host   every tensor byte read by the loader's threads into
 *                     reused buffers (ld_load with sink), evicted first with
 *                     cold
 *   host -> device    pinned host memory copied to the device on 4 streams
 *   overlapped        the loader's own pipeline into the device (evicted
 *                     again first with cold)
 *   floor             bytes / min(storage, host -> device)
 *
 * and with a tensor-parallel plan: host -> each device entry alone and all
 * entries at once, host memory bandwidth (memcpy), the TP load pipeline
 * (ld_load_tp) and its floor: the slowest of the bytes read / storage, the
 * ranks' bytes / all devices at once, both / host memory.
 *
 * Rates are in GB/s (1e9 bytes per second), times in seconds. In host mode
 * (LD_HOST: no usable GPU) nothing is copied to a device: the host ->
 * device figures stay 0 and the floors leave them out. LD_CUDA needs
 * cuda_open_devices first, entry i for rank i.
 *
 * Nothing prints. Errors: -1 with err filled (ECANCELED once o->cancel is
 * set during a load). Threads: the measurements start and join their own;
 * the calls themselves are not reentrant with other CUDA users of the
 * same entries.
 */
#include <signal.h>
#include <stdint.h>

#include "loader.h"
#include "tp.h"
#include "core/model/safetensors.h"
#include "core/base/util.h"

struct probe_opts {
	enum ld_device device;        /* LD_CUDA: the devices are open */
	int jobs;                     /* reader (and memcpy) threads */
	uint64_t chunk;               /* read and copy size */
	int cold;                     /* evict the model before each read */
	const struct tp_plan *plan;   /* NULL: no TP=N part */
	volatile sig_atomic_t *cancel;
};

struct probe_result {
	uint64_t bytes;               /* the model's tensor bytes */
	int coldness;                 /* cold: 1 evicted, 0 still cached (> 1 %), -1 not visible; else 1 */
	double storage_gbps;
	double h2d_gbps;              /* LD_CUDA only */
	double overlapped_gbps;       /* LD_CUDA only */
	double floor_s;
	/* With a plan (tp > 0): */
	int tp;
	double *each_gbps;            /* tp entries: host -> entry i alone (LD_CUDA only) */
	double all_gbps;              /* host -> every entry at once (LD_CUDA only) */
	double mem_gbps;              /* host memory, read + write */
	double tp_gbps;               /* the TP pipeline, of the files' bytes */
	double tp_floor_s;
	uint64_t read_bytes;          /* what the TP load read (each byte once) */
	uint64_t rank_bytes;          /* what the ranks hold together */
};

/* Every measurement above, in that order; r is filled (free it with
 * probe_result_release, also after an error). dir: the model's path, for the
 * eviction. */
int probe_run(const char *dir, const struct st_model *m, const struct probe_opts *o, struct probe_result *r,
	      struct cs_err *err);
void probe_result_release(struct probe_result *r);

/* The parts. */

/* Evict dir's pages and look: *state as probe_result.coldness. */
int probe_evict(const char *dir, int *state, struct cs_err *err);
/* Every tensor byte of m read with the loader (o's device and sink as
 * given): *bytes read and *gbps. */
int probe_read_rate(const struct st_model *m, const struct ld_opts *o, uint64_t *bytes, double *gbps,
		    struct cs_err *err);
/* About total bytes of pinned host memory copied in chunk pieces to the
 * current device on 4 streams (needs an open, bound device). */
int probe_h2d_rate(uint64_t total, uint64_t chunk, double *gbps, struct cs_err *err);
/* probe_h2d_rate on device entries 0..n-1 at once, a thread each (bound to
 * its entry): the aggregate rate, every entry's bytes over the whole time.
 * The first entry that fails is named in err ("GPU entry 1: ..."). */
int probe_h2d_all(int n, uint64_t total, uint64_t chunk, double *agg, struct cs_err *err);
/* Host memory bandwidth (read + write) by jobs memcpy threads; 0 when it
 * could not be measured. */
double probe_host_mem_gbps(int jobs);

#endif
