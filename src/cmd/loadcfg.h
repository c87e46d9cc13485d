#ifndef CS_LOADCFG_H
#define CS_LOADCFG_H
/*
 * loadcfg: the loader options `refserve` and `probe` share (--device,
 * --jobs, --chunk), their defaults and validation, and the choice of
 * device. Command layer: reports usage errors.
 */
#include <getopt.h>
#include <stdint.h>

#include "../core/loader.h"

enum { OPT_LOAD_DEVICE = 1100, OPT_LOAD_CHUNK };

#define LOADCFG_LONGOPTS \
	{ "device", required_argument, NULL, OPT_LOAD_DEVICE }, \
	{ "jobs", required_argument, NULL, 'j' }, \
	{ "chunk", required_argument, NULL, OPT_LOAD_CHUNK }

struct load_cfg {
	const char *device;     /* auto (default), cuda, host */
	long jobs;              /* 8 */
	uint64_t chunk;         /* 4 MiB: small pinned buffers stay in cache */
};

void loadcfg_init(struct load_cfg *c);
/* 1 handled, 0 not a loader option, EXIT_USAGE after reporting a bad value. */
int loadcfg_option(struct load_cfg *c, int opt, const char *arg);
/*
 * Open the GPU unless --device host: *dev = LD_CUDA when usable. When the
 * GPU cannot be used: with --device cuda returns -1 (err says why); with
 * auto returns 0, *dev = LD_HOST and err says why (for a log line).
 */
int loadcfg_device(const struct load_cfg *c, enum ld_device *dev, struct cs_err *err);

#endif
