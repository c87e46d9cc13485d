#define _GNU_SOURCE
#include "probe.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cuda.h"
#include "core/io/pagecache.h"
#include "core/base/fsutil.h"
#include "core/base/workpool.h"
#include "core/base/banned.h"

int probe_evict(const char *dir, int *state, struct cs_err *err)
{
	struct pc_set set;
	char *p[] = { (char *)dir };
	if (pc_collect(p, 1, &set, err))
		return -1;
	int rc = pc_evict(&set, err);
	if (!rc)
		rc = pc_residency(&set, err);
	if (!rc)
		*state = set.resident * 100 > set.total ? 0 : set.nunknown ? -1 : 1;
	pc_set_release(&set);
	return rc;
}

int probe_read_rate(const struct st_model *m, const struct ld_opts *o, uint64_t *bytes, double *gbps,
		    struct cs_err *err)
{
	struct loader L;
	if (ld_load(m, o, &L, err))
		return -1;
	*bytes = L.bytes;
	*gbps = (double)L.bytes / L.seconds / 1e9;
	ld_release(&L);
	return 0;
}

int probe_h2d_rate(uint64_t total, uint64_t chunk, double *gbps, struct cs_err *err)
{
	enum { NS = 4 };
	void *h = NULL;
	cuda_ptr d = 0;
	cuda_stream st[NS] = { NULL };
	int rc = 0;
	if (cuda_host_alloc(&h, (size_t)chunk * NS, err) || cuda_malloc(&d, (size_t)chunk * NS, err))
		rc = -1;
	if (h)
		memset(h, 0x5a, (size_t)chunk * NS);
	for (int i = 0; i < NS && !rc; i++)
		rc = cuda_stream_create(&st[i], err);
	uint64_t done = 0, t0 = now_ns();
	for (unsigned k = 0; !rc && done < total; k++) {
		unsigned s = k % NS;
		rc = cuda_htod_async(d + (cuda_ptr)s * chunk, (char *)h + (size_t)s * chunk, (size_t)chunk, st[s], err);
		done += chunk;
	}
	for (int i = 0; i < NS; i++) {
		if (!rc && st[i])
			rc = cuda_stream_sync(st[i], err);
		cuda_stream_destroy(st[i]);
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	*gbps = secs > 0 ? (double)done / secs / 1e9 : 0;
	cuda_free(d);
	cuda_host_free(h);
	return rc;
}

struct h2d_arg {
	int entry;
	uint64_t total, chunk;
	double gbps;
	int rc;
	struct cs_err err;
};

static void *h2d_thread(void *p)
{
	struct h2d_arg *a = p;
	a->rc = cuda_bind_device(a->entry, &a->err) || probe_h2d_rate(a->total, a->chunk, &a->gbps, &a->err) ? -1 : 0;
	return NULL;
}

int probe_h2d_all(int n, uint64_t total, uint64_t chunk, double *agg, struct cs_err *err)
{
	struct h2d_arg *a = xcalloc((size_t)n, sizeof(*a));
	pthread_t *th = xcalloc((size_t)n, sizeof(pthread_t));
	int *started = xcalloc((size_t)n, sizeof(int));
	uint64_t t0 = now_ns();
	for (int i = 0; i < n; i++) {
		a[i] = (struct h2d_arg){ .entry = i, .total = total, .chunk = chunk };
		started[i] = pthread_create(&th[i], NULL, h2d_thread, &a[i]) == 0;
		if (!started[i])
			a[i].rc = cs_fail(&a[i].err, EAGAIN, "cannot start a thread");
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		if (a[i].rc && !rc)
			rc = cs_fail(err, a[i].err.code, "GPU entry %d: %s", i, a[i].err.msg);
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	*agg = secs > 0 ? (double)total * n / secs / 1e9 : 0;
	free(a);
	free(th);
	free(started);
	return rc;
}

struct mem_arg {
	struct wp_queue q;
	size_t len;
};

static void *mem_worker(void *p)
{
	struct mem_arg *a = p;
	char *src = fs_alloc_aligned(a->len), *dst = fs_alloc_aligned(a->len);
	memset(src, 0x33, a->len);
	memset(dst, 0, a->len);
	size_t item;
	while (wp_take(&a->q, &item))
		memcpy(dst, src, a->len);
	free(src);
	free(dst);
	return NULL;
}

double probe_host_mem_gbps(int jobs)
{
	struct mem_arg a = { .len = 64u << 20 };
	size_t n = 64;
	wp_init(&a.q, n, NULL);
	struct cs_err e;
	uint64_t t0 = now_ns();
	int rc = wp_run(&a.q, jobs, mem_worker, &a, NULL, NULL, 0, "memcpy", &e);
	double secs = (double)(now_ns() - t0) / 1e9;
	wp_destroy(&a.q);
	return rc || secs <= 0 ? 0 : 2.0 * (double)n * (double)a.len / secs / 1e9;
}

/* TP=N: each entry alone and all at once, host memory, the pipeline, the floor. */
static int probe_tp(const char *dir, const struct st_model *m, const struct probe_opts *o, struct probe_result *r,
		    struct cs_err *err)
{
	const struct tp_plan *p = o->plan;
	int gpu = o->device == LD_CUDA;
	uint64_t per = 2ULL << 30;
	r->tp = p->n;
	r->each_gbps = xcalloc((size_t)p->n, sizeof(double));
	for (int i = 0; i < p->n; i++)
		r->rank_bytes += p->rank_bytes[i];
	for (int i = 0; i < p->n && gpu; i++)
		if (cuda_bind_device(i, err) || probe_h2d_rate(per, o->chunk, &r->each_gbps[i], err))
			return -1;
	if (gpu && probe_h2d_all(p->n, per, o->chunk, &r->all_gbps, err))
		return -1;
	r->mem_gbps = probe_host_mem_gbps(o->jobs);
	int again = 1;
	if (o->cold && probe_evict(dir, &again, err))
		return -1;
	struct ld_opts to = { gpu ? LD_CUDA : LD_HOST, o->jobs, o->chunk, 0, 0, o->cancel };
	struct ld_tp T;
	if (ld_load_tp(m, p, &to, &T, err))
		return -1;
	r->read_bytes = T.read_bytes;
	r->tp_gbps = T.seconds > 0 ? (double)T.read_bytes / T.seconds / 1e9 : 0;
	ld_tp_release(&T);
	double terms[3] = { r->storage_gbps > 0 ? (double)r->read_bytes / (r->storage_gbps * 1e9) : 0,
			    gpu && r->all_gbps > 0 ? (double)r->rank_bytes / (r->all_gbps * 1e9) : 0,
			    r->mem_gbps > 0 ? (double)(r->read_bytes + r->rank_bytes) / (r->mem_gbps * 1e9) : 0 };
	for (int k = 0; k < 3; k++)
		r->tp_floor_s = terms[k] > r->tp_floor_s ? terms[k] : r->tp_floor_s;
	return 0;
}

int probe_run(const char *dir, const struct st_model *m, const struct probe_opts *o, struct probe_result *r,
	      struct cs_err *err)
{
	memset(r, 0, sizeof(*r));
	int gpu = o->device == LD_CUDA;
	r->bytes = m->tensor_bytes;
	r->coldness = 1;
	struct ld_opts lo = { LD_HOST, o->jobs, o->chunk, 0, 1, o->cancel };
	uint64_t got;
	if (o->cold && probe_evict(dir, &r->coldness, err))
		return -1;
	if (probe_read_rate(m, &lo, &got, &r->storage_gbps, err))
		return -1;
	if (gpu) {
		uint64_t total = r->bytes > (8ULL << 30) ? r->bytes : (8ULL << 30);
		if (probe_h2d_rate(total, o->chunk, &r->h2d_gbps, err))
			return -1;
		int again = 1;
		if (o->cold && probe_evict(dir, &again, err))
			return -1;
		lo.device = LD_CUDA;
		lo.sink = 0;
		if (probe_read_rate(m, &lo, &got, &r->overlapped_gbps, err))
			return -1;
	}
	if (o->plan && probe_tp(dir, m, o, r, err))
		return -1;
	double lim = gpu && r->h2d_gbps < r->storage_gbps ? r->h2d_gbps : r->storage_gbps;
	r->floor_s = lim > 0 ? (double)r->bytes / (lim * 1e9) : 0;
	return 0;
}

void probe_result_release(struct probe_result *r)
{
	free(r->each_gbps);
	r->each_gbps = NULL;
}
