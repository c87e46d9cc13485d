#ifndef CS_LOADER_H
#define CS_LOADER_H
/*
 * loader: read every tensor byte of a validated model into GPU memory (or
 * host memory) as fast as the hardware allows.
 *
 * Each shard's data region (all its tensors, contiguous and validated by
 * safetensors.c) goes into one arena: device memory (cuda) or process memory
 * (host); a tensor lives at arena + its begin offset. The region is cut into
 * chunks taken by `jobs` threads. In cuda mode every thread has its own
 * stream and two pinned buffers: it reads a chunk into one buffer while the
 * previous chunk's host-to-device copy runs from the other. In host mode a
 * thread reads straight into the arena. dummy: allocate, read nothing.
 *
 * ld_verify re-reads every byte from the files and compares it with the
 * loaded copy (copied back from the device in cuda mode); a mismatch names
 * the shard and tensor.
 *
 * Ownership: struct loader owns its arenas until ld_release. Nothing prints;
 * cuda mode needs cuda_open() first.
 */
#include <signal.h>
#include <stdint.h>

#include "cuda.h"
#include "core/model/model.h"
#include "tp.h"
#include "core/base/util.h"

enum ld_device { LD_HOST, LD_CUDA };

/* 4 MiB: small pinned buffers stay in the CPU cache. */
#define LD_CHUNK_DEFAULT (4u << 20)

struct ld_opts {
	enum ld_device device;
	int jobs;                   /* default 8 */
	uint64_t chunk;             /* 0: LD_CHUNK_DEFAULT */
	int dummy;
	int sink;                   /* host: read into a per-thread buffer, keep nothing
				     * (the storage read rate, without first-touch page
				     * faults of fresh memory) */
	volatile sig_atomic_t *cancel;
};

struct loader {
	enum ld_device device;
	size_t n;
	uint64_t *sizes;
	unsigned char **host;       /* host arenas */
	cuda_ptr *dev;              /* device arenas */
	uint64_t bytes;             /* tensor bytes loaded (or allocated) */
	double seconds;             /* the load itself */
};

int ld_load(const struct st_model *m, const struct ld_opts *o, struct loader *L, struct cs_err *err);

/*
 * Tensor-parallel: each rank's slices (tp.h) into its own arena -- on the
 * device of its cuda_open_devices entry (cuda), or in host memory. Every
 * byte of the files is read once, by the `jobs` reader threads: a chunk
 * (whole rows of a row-split tensor, else up to `chunk` bytes) is read into
 * the thread's pinned buffer and copied from there to every rank that
 * holds part of it (cuda: a 2-D copy per rank on the rank's stream; the
 * buffer is reused once every rank's copy from it is done). All ranks are
 * loaded when ld_load_tp returns. ld_verify_tp compares every rank's arena
 * with its slices re-read from the files.
 */
struct ld_tp {
	enum ld_device device;
	int n;
	uint64_t *bytes;            /* per rank */
	unsigned char **host;       /* host arenas */
	cuda_ptr *dev;              /* device arenas (rank r on device entry r) */
	uint64_t read_bytes;        /* from the files: each byte once */
	double seconds;
};

int ld_load_tp(const struct st_model *m, const struct tp_plan *p, const struct ld_opts *o, struct ld_tp *L,
	       struct cs_err *err);
int ld_verify_tp(const struct st_model *m, const struct tp_plan *p, const struct ld_tp *L, struct cs_err *err);
void ld_tp_release(struct ld_tp *L);
int ld_verify(const struct st_model *m, const struct loader *L, struct cs_err *err);
void ld_release(struct loader *L);

#endif
