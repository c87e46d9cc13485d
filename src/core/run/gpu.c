#define _GNU_SOURCE
#include "gpu.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "core/base/banned.h"

/* Minimal NVML declarations (nvml.h is not needed to build). */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
	unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;   /* v2 and v3 layout */

static struct {
	int tried, ok;
	void *lib;
	unsigned count;
	int (*init)(void);
	int (*get_count)(unsigned *);
	int (*get_handle)(unsigned, nvmlDevice_t *);
	int (*get_mem)(nvmlDevice_t, nvmlMemory_t *);
	int (*get_name)(nvmlDevice_t, char *, unsigned);
	int (*get_procs)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *);
	int (*driver)(char *, unsigned);
	char driver_version[96];
} nv;

static void *sym(const char *a, const char *b)
{
	void *p = dlsym(nv.lib, a);
	if (!p && b)
		p = dlsym(nv.lib, b);
	return p;
}

static void load(void)
{
	if (nv.tried)
		return;
	nv.tried = 1;
	nv.lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!nv.lib)
		return;
	nv.init = (int (*)(void))sym("nvmlInit_v2", "nvmlInit");
	nv.get_count = (int (*)(unsigned *))sym("nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
	nv.get_handle = (int (*)(unsigned, nvmlDevice_t *))sym("nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
	nv.get_mem = (int (*)(nvmlDevice_t, nvmlMemory_t *))sym("nvmlDeviceGetMemoryInfo", NULL);
	nv.get_name = (int (*)(nvmlDevice_t, char *, unsigned))sym("nvmlDeviceGetName", NULL);
	nv.get_procs = (int (*)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *))sym(
		"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2");
	nv.driver = (int (*)(char *, unsigned))sym("nvmlSystemGetDriverVersion", NULL);
	if (!nv.init || !nv.get_count || !nv.get_handle || !nv.get_mem || nv.init() != 0)
		return;
	if (nv.get_count(&nv.count) != 0 || nv.count == 0)
		return;
	if (nv.driver)
		nv.driver(nv.driver_version, sizeof(nv.driver_version));
	nv.ok = 1;
}

int gpu_available(void)
{
	load();
	return nv.ok;
}

unsigned gpu_count(void)
{
	load();
	return nv.ok ? nv.count : 0;
}

int gpu_device(unsigned i, struct gpu_info *out)
{
	memset(out, 0, sizeof(*out));
	load();
	nvmlDevice_t d;
	nvmlMemory_t m;
	if (!nv.ok || i >= nv.count || nv.get_handle(i, &d) != 0 || nv.get_mem(d, &m) != 0)
		return -1;
	if (nv.get_name)
		nv.get_name(d, out->name, sizeof(out->name));
	out->total = m.total;
	out->used = m.used;
	return 0;
}

const char *gpu_driver_version(void)
{
	load();
	return nv.ok && nv.driver_version[0] ? nv.driver_version : NULL;
}

int64_t gpu_used_total(void)
{
	load();
	if (!nv.ok)
		return -1;
	uint64_t sum = 0;
	for (unsigned i = 0; i < nv.count; i++) {
		struct gpu_info g;
		if (gpu_device(i, &g) == 0)
			sum += g.used;
	}
	return (int64_t)sum;
}

static int64_t sum_procs(int (*fn)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *), nvmlDevice_t d,
			 const pid_t *pids, size_t n, int *found)
{
	nvmlProcessInfo_t infos[256];
	unsigned cnt = 256;
	if (!fn || fn(d, &cnt, infos) != 0)
		return 0;
	int64_t sum = 0;
	for (unsigned k = 0; k < cnt && k < 256; k++) {
		for (size_t j = 0; j < n; j++) {
			/* NVML reports ~0ULL when the figure is not available. */
			if ((pid_t)infos[k].pid == pids[j] && infos[k].usedGpuMemory != ~0ULL) {
				sum += (int64_t)infos[k].usedGpuMemory;
				*found = 1;
			}
		}
	}
	return sum;
}

int64_t gpu_used_by(const pid_t *pids, size_t n)
{
	load();
	if (!nv.ok || !n)
		return -1;
	int found = 0;
	int64_t sum = 0;
	for (unsigned i = 0; i < nv.count; i++) {
		nvmlDevice_t d;
		if (nv.get_handle(i, &d) != 0)
			continue;
		sum += sum_procs(nv.get_procs, d, pids, n, &found);
	}
	return found ? sum : -1;
}
