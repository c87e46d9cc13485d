#ifndef CS_GPU_H
#define CS_GPU_H
/*
 * gpu: NVIDIA GPU memory and names through NVML, loaded at run time with
 * dlopen("libnvidia-ml.so.1"); no build-time dependency. Without a driver
 * every query reports "unavailable" (gpu_available() == 0) and no error.
 *
 * Not thread-safe: call from one thread.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct gpu_info {
	char name[96];
	uint64_t total, used;     /* bytes */
};

/* Load NVML once; 1 if at least one device answers. */
int gpu_available(void);
unsigned gpu_count(void);
int gpu_device(unsigned i, struct gpu_info *out);
const char *gpu_driver_version(void);
/* Memory used on all devices, in bytes; -1 if unavailable. */
int64_t gpu_used_total(void);
/*
 * Memory used by the given processes on all devices (NVML's per-process
 * figures), in bytes; -1 if NVML gives no per-process figures for any of
 * them (e.g. PIDs from another namespace).
 */
int64_t gpu_used_by(const pid_t *pids, size_t n);

#endif
