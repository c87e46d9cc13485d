#ifndef CS_CKPTWRITE_H
#define CS_CKPTWRITE_H
/*
 * ckptwrite: plan and write a synthetic Hugging Face checkpoint for a
 * modelspec preset.
 *
 * Layout: config.json, generation_config.json, and either model.safetensors
 * or model-0000K-of-0000N.safetensors shards plus
 * model.safetensors.index.json. Shards are filled in state_dict order and a
 * new shard starts when the next tensor would pass shard_size (as
 * transformers' split_torch_state_dict_into_shards); inside a file tensors
 * are laid out in name order, as the safetensors library writes them.
 *
 * Data: pseudo-random, small, finite and never zero (|x| in [2^-10, 2^-2)),
 * a pure function of (seed, tensor name), so the same seed gives the same
 * bytes whatever the sharding.
 *
 * Atomicity: everything is written into a temporary directory beside DIR
 * (inside DIR when DIR is a mount point), .NAME.mkmodel-partial-PID-XXXXXXXX,
 * fsynced, and published by one rename (RENAME_EXCHANGE when replacing with
 * force). On any failure or cancellation the temporary directory is
 * removed: DIR is either untouched or complete. It is locked while its
 * writer lives (fsutil.h's fs_temp_create): the next ck_write of DIR
 * removes those of writers that were killed, and never a live one's.
 *
 * Threads: ck_write runs up to 4 generator threads beside the caller's
 * thread, which writes (O_DIRECT where the file system allows it).
 * The progress callback is called from the caller's thread.
 */
#include <signal.h>
#include <stdint.h>

#include "modelspec.h"
#include "core/base/util.h"

#define CK_DEFAULT_SHARD_SIZE 5000000000ULL   /* transformers' "5GB" */

struct ck_shard {
	char *name;
	size_t *order;             /* indices into model.tensors, in file order */
	size_t ntensors;
	char *header;              /* JSON, space-padded so 8 + len is a multiple of 8 */
	size_t header_len;
	uint64_t data_bytes, file_bytes;
};

struct ck_plan {
	struct ms_model model;
	uint64_t seed;
	size_t nshards;
	struct ck_shard *shards;
	uint64_t *offsets;         /* per tensor: data offset inside its shard */
	uint64_t tensor_bytes, file_bytes, nparams;
};

typedef void (*ck_progress_fn)(uint64_t done, uint64_t total, void *arg);

struct ck_write_opts {
	const char *dir;
	int force;                          /* replace a non-empty DIR */
	ck_progress_fn progress;
	void *progress_arg;
	volatile sig_atomic_t *cancel;      /* checked between buffers; may be NULL */
};

int ck_plan_build(const char *preset, int layers, int dtype, uint64_t shard_size, uint64_t seed,
		  struct ck_plan *p, struct cs_err *err);
void ck_plan_release(struct ck_plan *p);

/* Checks DIR's state (missing / empty / non-empty without force) and free
 * space before writing anything. ECANCELED in err->code when cancelled. */
int ck_write(const struct ck_plan *p, const struct ck_write_opts *o, struct cs_err *err);

/* Fill buf with len bytes of tensor data starting at byte off of the tensor
 * (off and len multiples of the element size); exposed for tests. */
void ck_fill(const struct ck_plan *p, size_t tensor, uint64_t off, void *buf, size_t len);

/* The generator underneath, for other writers (GGUF): the key of a tensor
 * name under a seed, len bytes of dtype data from byte off of the stream of
 * that key, and the raw 64 random bits of word i. */
uint64_t ck_data_key(uint64_t seed, const char *name);
void ck_fill_key(uint64_t key, int dtype, uint64_t off, void *buf, size_t len);
uint64_t ck_rand_word(uint64_t key, uint64_t i);

#endif
