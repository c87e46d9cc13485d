#ifndef CS_LOADCFG_H
#define CS_LOADCFG_H
/*
 * loadcfg: the loader options `refserve` and `probe` share (--device,
 * --jobs, --chunk), their defaults and validation, and the choice of
 * device. Command layer: reports usage errors.
 */
#include <stdint.h>

#include "core/load/loader.h"

struct load_cfg {
	const char *device;     /* auto (default), cuda, host */
	long jobs;              /* WP_JOBS_DEFAULT */
	uint64_t chunk;         /* LD_CHUNK_DEFAULT */
};

void loadcfg_init(struct load_cfg *c);
struct opt;
/* --device, --jobs, --chunk as an option table group writing into c (one
 * table per process); the help of jobs and chunk as the command says it. */
const struct opt *loadcfg_options(struct load_cfg *c, const char *jobs_help, const char *chunk_help);
/*
 * Open the GPU unless --device host: *dev = LD_CUDA when usable. When the
 * GPU cannot be used: with --device cuda returns -1 (err says why); with
 * auto returns 0, *dev = LD_HOST and err says why (for a log line).
 */
int loadcfg_device(const struct load_cfg *c, enum ld_device *dev, struct cs_err *err);
/* The same over several device entries (cuda_open_devices). */
int loadcfg_devices(const struct load_cfg *c, const int *gpus, int n, enum ld_device *dev, struct cs_err *err);
struct st_model;
/* Open the safetensors model at dir for command cmd ("probe"): 0, or the
 * error printed (a GGUF model is refused: llama.cpp's) and EXIT_FAIL. */
int loadcfg_open_model(const char *dir, struct st_model *m, const char *cmd);
/* --gpus LIST: device numbers, comma-separated (may repeat), at most max;
 * 0 or a usage error naming the bad entry. */
int loadcfg_parse_gpus(const char *list, int *gpus, int max, int *n);

#endif
