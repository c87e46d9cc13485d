#define _GNU_SOURCE
#include "cuda.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "banned.h"

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;

static struct {
	void *lib;
	CUdevice dev;
	CUcontext ctx;
	char name[128];
	CUresult (*Init)(unsigned);
	CUresult (*DeviceGetCount)(int *);
	CUresult (*DeviceGet)(CUdevice *, int);
	CUresult (*DeviceGetName)(char *, int, CUdevice);
	CUresult (*PrimaryCtxRetain)(CUcontext *, CUdevice);
	CUresult (*PrimaryCtxRelease)(CUdevice);
	CUresult (*CtxSetCurrent)(CUcontext);
	CUresult (*CtxSynchronize)(void);
	CUresult (*MemGetInfo)(size_t *, size_t *);
	CUresult (*MemAlloc)(cuda_ptr *, size_t);
	CUresult (*MemFree)(cuda_ptr);
	CUresult (*MemHostAlloc)(void **, size_t, unsigned);
	CUresult (*MemFreeHost)(void *);
	CUresult (*MemsetD8)(cuda_ptr, unsigned char, size_t);
	CUresult (*StreamCreate)(cuda_stream *, unsigned);
	CUresult (*StreamDestroy)(cuda_stream);
	CUresult (*StreamSynchronize)(cuda_stream);
	CUresult (*EventCreate)(cuda_event *, unsigned);
	CUresult (*EventDestroy)(cuda_event);
	CUresult (*EventRecord)(cuda_event, cuda_stream);
	CUresult (*EventSynchronize)(cuda_event);
	CUresult (*MemcpyHtoDAsync)(cuda_ptr, const void *, size_t, cuda_stream);
	CUresult (*MemcpyDtoH)(void *, cuda_ptr, size_t);
	CUresult (*GetErrorString)(CUresult, const char **);
} cu;

static int fail(struct cs_err *err, const char *call, CUresult r)
{
	const char *s = NULL;
	if (cu.GetErrorString)
		cu.GetErrorString(r, &s);
	return cs_fail(err, EIO, "%s: %s (CUDA error %d)", call, s ? s : "unknown error", r);
}

#define CALL(fn, ...)                                           \
	do {                                                    \
		CUresult r_ = cu.fn(__VA_ARGS__);               \
		if (r_)                                         \
			return fail(err, "cu" #fn, r_);         \
	} while (0)

static void *sym(const char *a, const char *b)
{
	void *p = dlsym(cu.lib, a);
	if (!p && b)
		p = dlsym(cu.lib, b);
	return p;
}

int cuda_open(int device, struct cs_err *err)
{
	if (cu.ctx)
		return 0;
	cu.lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!cu.lib)
		return cs_fail(err, ENOENT, "no NVIDIA driver (cannot load libcuda.so.1: %s)", dlerror());
#define LOAD(f, a, b)                                                                   \
	if (!(*(void **)&cu.f = sym(a, b)))                                             \
		return cs_fail(err, ENOSYS, "libcuda.so.1 lacks %s (driver too old?)", a)
	LOAD(Init, "cuInit", NULL);
	LOAD(DeviceGetCount, "cuDeviceGetCount", NULL);
	LOAD(DeviceGet, "cuDeviceGet", NULL);
	LOAD(DeviceGetName, "cuDeviceGetName", NULL);
	LOAD(PrimaryCtxRetain, "cuDevicePrimaryCtxRetain", NULL);
	LOAD(PrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease");
	LOAD(CtxSetCurrent, "cuCtxSetCurrent", NULL);
	LOAD(CtxSynchronize, "cuCtxSynchronize", NULL);
	LOAD(MemGetInfo, "cuMemGetInfo_v2", NULL);
	LOAD(MemAlloc, "cuMemAlloc_v2", NULL);
	LOAD(MemFree, "cuMemFree_v2", NULL);
	LOAD(MemHostAlloc, "cuMemHostAlloc", NULL);
	LOAD(MemFreeHost, "cuMemFreeHost", NULL);
	LOAD(MemsetD8, "cuMemsetD8_v2", NULL);
	LOAD(StreamCreate, "cuStreamCreate", NULL);
	LOAD(StreamDestroy, "cuStreamDestroy_v2", "cuStreamDestroy");
	LOAD(StreamSynchronize, "cuStreamSynchronize", NULL);
	LOAD(EventCreate, "cuEventCreate", NULL);
	LOAD(EventDestroy, "cuEventDestroy_v2", "cuEventDestroy");
	LOAD(EventRecord, "cuEventRecord", NULL);
	LOAD(EventSynchronize, "cuEventSynchronize", NULL);
	LOAD(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", NULL);
	LOAD(MemcpyDtoH, "cuMemcpyDtoH_v2", NULL);
	LOAD(GetErrorString, "cuGetErrorString", NULL);
#undef LOAD
	CALL(Init, 0);
	int n = 0;
	CALL(DeviceGetCount, &n);
	if (device < 0 || device >= n)
		return cs_fail(err, ENODEV, "no CUDA device %d (%d present)", device, n);
	CALL(DeviceGet, &cu.dev, device);
	CALL(DeviceGetName, cu.name, (int)sizeof(cu.name), cu.dev);
	CALL(PrimaryCtxRetain, &cu.ctx, cu.dev);
	CALL(CtxSetCurrent, cu.ctx);
	return 0;
}

void cuda_close(void)
{
	if (cu.ctx) {
		cu.PrimaryCtxRelease(cu.dev);
		cu.ctx = NULL;
	}
}

int cuda_bind(struct cs_err *err)
{
	CALL(CtxSetCurrent, cu.ctx);
	return 0;
}

const char *cuda_device_name(void)
{
	return cu.name;
}

int cuda_mem_info(uint64_t *free_b, uint64_t *total_b, struct cs_err *err)
{
	size_t f = 0, t = 0;
	CALL(MemGetInfo, &f, &t);
	*free_b = f;
	*total_b = t;
	return 0;
}

int cuda_malloc(cuda_ptr *p, size_t n, struct cs_err *err)
{
	CALL(MemAlloc, p, n ? n : 1);
	return 0;
}

void cuda_free(cuda_ptr p)
{
	if (p)
		cu.MemFree(p);
}

int cuda_host_alloc(void **p, size_t n, struct cs_err *err)
{
	CALL(MemHostAlloc, p, n, 0);
	return 0;
}

void cuda_host_free(void *p)
{
	if (p)
		cu.MemFreeHost(p);
}

int cuda_memset(cuda_ptr p, unsigned char v, size_t n, struct cs_err *err)
{
	CALL(MemsetD8, p, v, n);
	return 0;
}

int cuda_stream_create(cuda_stream *s, struct cs_err *err)
{
	CALL(StreamCreate, s, 1 /* CU_STREAM_NON_BLOCKING */);
	return 0;
}

void cuda_stream_destroy(cuda_stream s)
{
	if (s)
		cu.StreamDestroy(s);
}

int cuda_stream_sync(cuda_stream s, struct cs_err *err)
{
	CALL(StreamSynchronize, s);
	return 0;
}

int cuda_event_create(cuda_event *e, struct cs_err *err)
{
	CALL(EventCreate, e, 2 /* CU_EVENT_DISABLE_TIMING */);
	return 0;
}

void cuda_event_destroy(cuda_event e)
{
	if (e)
		cu.EventDestroy(e);
}

int cuda_event_record(cuda_event e, cuda_stream s, struct cs_err *err)
{
	CALL(EventRecord, e, s);
	return 0;
}

int cuda_event_sync(cuda_event e, struct cs_err *err)
{
	CALL(EventSynchronize, e);
	return 0;
}

int cuda_htod_async(cuda_ptr dst, const void *src, size_t n, cuda_stream s, struct cs_err *err)
{
	CALL(MemcpyHtoDAsync, dst, src, n, s);
	return 0;
}

int cuda_dtoh(void *dst, cuda_ptr src, size_t n, struct cs_err *err)
{
	CALL(MemcpyDtoH, dst, src, n);
	return 0;
}

int cuda_sync(struct cs_err *err)
{
	CALL(CtxSynchronize);
	return 0;
}
