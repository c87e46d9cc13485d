#ifndef CS_CUDA_H
#define CS_CUDA_H
/*
 * cuda: the few CUDA driver API calls coldstart needs, loaded at run time
 * with dlopen("libcuda.so.1") and declared here (no CUDA headers or
 * libraries at build time). Without a driver cuda_open fails with a
 * message and nothing else is touched.
 *
 * Every function returns 0 or -1 with err filled ("cuMemAlloc: out of
 * memory"). The driver API is thread-safe; threads that use the device call
 * cuda_bind() once to make the primary context current.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/base/util.h"

typedef uint64_t cuda_ptr;          /* CUdeviceptr */
typedef struct cuda_stream *cuda_stream;
typedef struct cuda_event *cuda_event;

#define CUDA_MAX_DEVICES 64

int cuda_open(int device, struct cs_err *err);     /* load, init, retain the primary context */
/* Several devices (entries may repeat): entry i's primary context is made
 * current by cuda_bind_device(i); entry 0 is the one cuda_bind binds and
 * cuda_device_name names. Pinned host memory is portable: usable by every
 * entry's context. */
int cuda_open_devices(const int *devices, int n, struct cs_err *err);
int cuda_bind_device(int i, struct cs_err *err);
const char *cuda_device_name_of(int i);
void cuda_close(void);                             /* release the context */
int cuda_bind(struct cs_err *err);                  /* make the context current in this thread */
const char *cuda_device_name(void);
int cuda_mem_info(uint64_t *free_b, uint64_t *total_b, struct cs_err *err);

int cuda_malloc(cuda_ptr *p, size_t n, struct cs_err *err);
void cuda_free(cuda_ptr p);
int cuda_host_alloc(void **p, size_t n, struct cs_err *err);   /* pinned */
void cuda_host_free(void *p);
int cuda_memset(cuda_ptr p, unsigned char v, size_t n, struct cs_err *err);

int cuda_stream_create(cuda_stream *s, struct cs_err *err);
void cuda_stream_destroy(cuda_stream s);
int cuda_stream_sync(cuda_stream s, struct cs_err *err);
int cuda_event_create(cuda_event *e, struct cs_err *err);
void cuda_event_destroy(cuda_event e);
int cuda_event_record(cuda_event e, cuda_stream s, struct cs_err *err);
int cuda_event_sync(cuda_event e, struct cs_err *err);

int cuda_htod_async(cuda_ptr dst, const void *src, size_t n, cuda_stream s, struct cs_err *err);
int cuda_dtoh(void *dst, cuda_ptr src, size_t n, struct cs_err *err);
/* height rows of width bytes, src rows spitch apart, dst rows dpitch apart. */
int cuda_htod_2d_async(cuda_ptr dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
		       cuda_stream s, struct cs_err *err);
int cuda_sync(struct cs_err *err);

#endif
