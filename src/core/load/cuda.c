#define _GNU_SOURCE
#include "cuda.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/base/banned.h"

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;

/* cuMemcpy2DAsync's argument, as the driver API lays it out. */
struct memcpy2d {
	size_t srcXInBytes, srcY;
	int srcMemoryType;
	const void *srcHost;
	cuda_ptr srcDevice;
	void *srcArray;
	size_t srcPitch;
	size_t dstXInBytes, dstY;
	int dstMemoryType;
	void *dstHost;
	cuda_ptr dstDevice;
	void *dstArray;
	size_t dstPitch;
	size_t WidthInBytes, Height;
};

#define CU_MEMORYTYPE_HOST 1
#define CU_MEMORYTYPE_DEVICE 2
#define CU_MEMHOSTALLOC_PORTABLE 1

static struct {
	void *lib;
	CUdevice dev;
	CUcontext ctx;
	char name[128];
	/* every opened device (cuda_open_devices), the first being dev/ctx */
	int n;
	CUdevice devs[CUDA_MAX_DEVICES];
	CUcontext ctxs[CUDA_MAX_DEVICES];
	char names[CUDA_MAX_DEVICES][128];
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
	CUresult (*Memcpy2DAsync)(const struct memcpy2d *, cuda_stream);
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
	return cuda_open_devices(&device, 1, err);
}

int cuda_open_devices(const int *devices, int ndev, struct cs_err *err)
{
	if (cu.ctx)
		return 0;
	if (ndev < 1 || ndev > CUDA_MAX_DEVICES)
		return cs_fail(err, EINVAL, "%d devices: 1 to %d", ndev, CUDA_MAX_DEVICES);
	if (!cu.lib)
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
	LOAD(Memcpy2DAsync, "cuMemcpy2DAsync_v2", NULL);
	LOAD(GetErrorString, "cuGetErrorString", NULL);
#undef LOAD
	CALL(Init, 0);
	int n = 0;
	CALL(DeviceGetCount, &n);
	for (int i = 0; i < ndev; i++)
		if (devices[i] < 0 || devices[i] >= n)
			return cs_fail(err, ENODEV, "no CUDA device %d (%d present)", devices[i], n);
	/* One primary context per entry (retained once each: a device named
	 * twice is retained twice and released twice). */
	for (int i = 0; i < ndev; i++) {
		CALL(DeviceGet, &cu.devs[i], devices[i]);
		CALL(DeviceGetName, cu.names[i], (int)sizeof(cu.names[i]), cu.devs[i]);
		CUresult r = cu.PrimaryCtxRetain(&cu.ctxs[i], cu.devs[i]);
		if (r) {
			while (i-- > 0)
				cu.PrimaryCtxRelease(cu.devs[i]);
			return fail(err, "cuDevicePrimaryCtxRetain", r);
		}
		cu.n = i + 1;
	}
	cu.dev = cu.devs[0];
	cu.ctx = cu.ctxs[0];
	memcpy(cu.name, cu.names[0], sizeof(cu.name));
	CALL(CtxSetCurrent, cu.ctx);
	return 0;
}

void cuda_close(void)
{
	for (int i = 0; i < cu.n; i++)
		cu.PrimaryCtxRelease(cu.devs[i]);
	cu.n = 0;
	cu.ctx = NULL;
}

int cuda_bind_device(int i, struct cs_err *err)
{
	if (i < 0 || i >= cu.n)
		return cs_fail(err, EINVAL, "device entry %d not opened", i);
	CALL(CtxSetCurrent, cu.ctxs[i]);
	return 0;
}

const char *cuda_device_name_of(int i)
{
	return i >= 0 && i < cu.n ? cu.names[i] : "";
}

int cuda_htod_2d_async(cuda_ptr dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
		       cuda_stream s, struct cs_err *err)
{
	struct memcpy2d c = {
		.srcMemoryType = CU_MEMORYTYPE_HOST, .srcHost = src, .srcPitch = spitch,
		.dstMemoryType = CU_MEMORYTYPE_DEVICE, .dstDevice = dst, .dstPitch = dpitch,
		.WidthInBytes = width, .Height = height,
	};
	CALL(Memcpy2DAsync, &c, s);
	return 0;
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
	CALL(MemHostAlloc, p, n, CU_MEMHOSTALLOC_PORTABLE);
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
