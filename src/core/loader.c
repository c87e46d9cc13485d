#define _GNU_SOURCE
#include "loader.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fsutil.h"
#include "workpool.h"
#include "banned.h"

struct chunk {
	size_t shard;
	uint64_t off;       /* offset inside the data region */
	uint64_t len;
};

struct job {
	const struct st_model *m;
	const struct ld_opts *o;
	struct loader *L;
	int *fds;
	struct chunk *chunks;
	size_t nchunks;
	struct wp_queue q;
	uint64_t chunk_size;
};

#define SPAN_CHUNKS 4

/*
 * Take the next span: up to SPAN_CHUNKS consecutive chunks of one shard.
 * The span is hinted to the kernel as one read-ahead (large I/Os from a cold
 * disk) while it is read and copied chunk by chunk (small buffers that stay
 * in cache when the data is already in memory).
 */
static int same_shard(size_t first, size_t item, void *arg)
{
	const struct job *j = arg;
	return j->chunks[item].shard == j->chunks[first].shard;
}

static size_t take(struct job *j, struct chunk *c)
{
	size_t first;
	size_t n = wp_take_run(&j->q, SPAN_CHUNKS, same_shard, j, &first);
	for (size_t i = 0; i < n; i++)
		c[i] = j->chunks[first + i];
	if (n) {
		const struct chunk *last = &c[n - 1];
		posix_fadvise(j->fds[c[0].shard], (off_t)(j->m->shards[c[0].shard].h.data_start + c[0].off),
			      (off_t)(last->off + last->len - c[0].off), POSIX_FADV_WILLNEED);
	}
	return n;
}

static int read_chunk(struct job *j, const struct chunk *c, void *dst, struct cs_err *e)
{
	const struct st_shard *s = &j->m->shards[c->shard];
	if (fs_pread_full(j->fds[c->shard], dst, (size_t)c->len, (off_t)(s->h.data_start + c->off)))
		return cs_fail_errno(e, errno, "cannot read '%s' at offset %llu", s->path,
				     (unsigned long long)(s->h.data_start + c->off));
	return 0;
}

static void *host_worker(void *arg)
{
	struct job *j = arg;
	struct cs_err e;
	unsigned char *sink = j->o->sink ? fs_alloc_aligned((size_t)j->chunk_size) : NULL;
	struct chunk span[SPAN_CHUNKS];
	size_t n;
	while ((n = take(j, span))) {
		for (size_t i = 0; i < n; i++) {
			if (read_chunk(j, &span[i], sink ? sink : j->L->host[span[i].shard] + span[i].off, &e)) {
				wp_fail(&j->q, &e);
				goto done;
			}
		}
	}
done:
	free(sink);
	return NULL;
}

static void *cuda_worker(void *arg)
{
	struct job *j = arg;
	struct cs_err e;
	cuda_stream st = NULL;
	cuda_event ev[2] = { NULL, NULL };
	void *buf[2] = { NULL, NULL };
	int pending[2] = { 0, 0 };
	if (cuda_bind(&e) || cuda_stream_create(&st, &e) || cuda_event_create(&ev[0], &e) ||
	    cuda_event_create(&ev[1], &e) || cuda_host_alloc(&buf[0], (size_t)j->chunk_size, &e) ||
	    cuda_host_alloc(&buf[1], (size_t)j->chunk_size, &e)) {
		wp_fail(&j->q, &e);
		goto out;
	}
	struct chunk span[SPAN_CHUNKS];
	size_t n;
	unsigned k = 0;
	while ((n = take(j, span))) {
		for (size_t i = 0; i < n; i++, k++) {
			const struct chunk *c = &span[i];
			unsigned b = k & 1;
			/* The copy that last used this buffer must be done. */
			if (pending[b] && cuda_event_sync(ev[b], &e)) {
				wp_fail(&j->q, &e);
				goto drain;
			}
			pending[b] = 0;
			if (read_chunk(j, c, buf[b], &e) ||
			    cuda_htod_async(j->L->dev[c->shard] + c->off, buf[b], (size_t)c->len, st, &e) ||
			    cuda_event_record(ev[b], st, &e)) {
				wp_fail(&j->q, &e);
				goto drain;
			}
			pending[b] = 1;
		}
	}
drain:
	if (cuda_stream_sync(st, &e))
		wp_fail(&j->q, &e);
out:
	for (int b = 0; b < 2; b++) {
		cuda_event_destroy(ev[b]);
		cuda_host_free(buf[b]);
	}
	cuda_stream_destroy(st);
	return NULL;
}

void ld_free(struct loader *L)
{
	for (size_t i = 0; i < L->n; i++) {
		if (L->host && L->host[i])
			munmap(L->host[i], (size_t)L->sizes[i]);
		if (L->dev && L->dev[i])
			cuda_free(L->dev[i]);
	}
	free(L->host);
	free(L->dev);
	free(L->sizes);
	memset(L, 0, sizeof(*L));
}

int ld_load(const struct st_model *m, const struct ld_opts *o, struct loader *L, struct cs_err *err)
{
	memset(L, 0, sizeof(*L));
	L->device = o->device;
	L->n = m->nshards;
	L->sizes = xcalloc(L->n, sizeof(uint64_t));
	L->host = xcalloc(L->n, sizeof(unsigned char *));
	L->dev = xcalloc(L->n, sizeof(cuda_ptr));
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < L->n; i++) {
		uint64_t sz = m->shards[i].h.data_len;
		L->sizes[i] = sz;
		L->bytes += sz;
		if (o->device == LD_CUDA) {
			if (cuda_malloc(&L->dev[i], (size_t)sz, err)) {
				ld_free(L);
				return -1;
			}
		} else if (!o->sink) {
			void *p = mmap(NULL, sz ? (size_t)sz : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) {
				int e = errno;
				ld_free(L);
				return cs_fail_errno(err, e, "cannot allocate %llu bytes of host memory", (unsigned long long)sz);
			}
			madvise(p, (size_t)sz, MADV_HUGEPAGE);
			L->host[i] = p;
		}
	}
	if (o->dummy) {
		/* Touch the memory, as a loader would, without any file I/O. */
		for (size_t i = 0; i < L->n; i++) {
			if (o->device == LD_CUDA) {
				if (cuda_memset(L->dev[i], 0, (size_t)L->sizes[i], err)) {
					ld_free(L);
					return -1;
				}
			} else {
				memset(L->host[i], 0, (size_t)L->sizes[i]);
			}
		}
		if (o->device == LD_CUDA && cuda_sync(err)) {
			ld_free(L);
			return -1;
		}
		L->seconds = (double)(now_ns() - t0) / 1e9;
		return 0;
	}
	struct job j;
	memset(&j, 0, sizeof(j));
	j.m = m;
	j.o = o;
	j.L = L;
	j.chunk_size = o->chunk ? o->chunk : LD_CHUNK_DEFAULT;
	j.fds = xcalloc(L->n, sizeof(int));
	size_t alloc = 0;
	int rc = 0;
	for (size_t i = 0; i < L->n; i++) {
		j.fds[i] = open(m->shards[i].path, O_RDONLY | O_CLOEXEC);
		if (j.fds[i] < 0 && !rc)
			rc = cs_fail_errno(err, errno, "cannot open '%s'", m->shards[i].path);
		for (uint64_t off = 0; off < L->sizes[i]; off += j.chunk_size) {
			uint64_t len = L->sizes[i] - off < j.chunk_size ? L->sizes[i] - off : j.chunk_size;
			j.chunks = xgrow(j.chunks, &alloc, j.nchunks + 1, sizeof(*j.chunks));
			j.chunks[j.nchunks++] = (struct chunk){ i, off, len };
		}
	}
	wp_init(&j.q, j.nchunks, o->cancel);
	if (!rc && j.nchunks) {
		rc = wp_run(&j.q, o->jobs, o->device == LD_CUDA ? cuda_worker : host_worker, &j, NULL, NULL, 0, "loader",
			    err);
		if (!rc)
			rc = wp_result(&j.q, err);
	}
	for (size_t i = 0; i < L->n; i++)
		if (j.fds[i] >= 0)
			close(j.fds[i]);
	free(j.fds);
	free(j.chunks);
	wp_destroy(&j.q);
	L->seconds = (double)(now_ns() - t0) / 1e9;
	if (rc)
		ld_free(L);
	return rc;
}

static const char *tensor_at(const struct st_shard *s, uint64_t off)
{
	for (size_t t = 0; t < s->h.ntensors; t++)
		if (off >= s->h.tensors[t].begin && off < s->h.tensors[t].end)
			return s->h.tensors[t].name;
	return "?";
}

int ld_verify(const struct st_model *m, const struct loader *L, struct cs_err *err)
{
	const size_t chunk = 16u << 20;
	unsigned char *a = xmalloc(chunk), *b = L->device == LD_CUDA ? xmalloc(chunk) : NULL;
	int rc = 0;
	for (size_t i = 0; i < L->n && !rc; i++) {
		const struct st_shard *s = &m->shards[i];
		int fd = open(s->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = cs_fail_errno(err, errno, "cannot open '%s'", s->path);
			break;
		}
		for (uint64_t off = 0; off < L->sizes[i] && !rc; off += chunk) {
			size_t len = L->sizes[i] - off < chunk ? (size_t)(L->sizes[i] - off) : chunk;
			if (fs_pread_full(fd, a, len, (off_t)(s->h.data_start + off))) {
				rc = cs_fail_errno(err, errno, "cannot read '%s'", s->path);
				break;
			}
			const unsigned char *loaded = L->host[i] + off;
			if (L->device == LD_CUDA) {
				if (cuda_dtoh(b, L->dev[i] + off, len, err)) {
					rc = -1;
					break;
				}
				loaded = b;
			}
			if (memcmp(a, loaded, len)) {
				size_t k = 0;
				while (k < len && a[k] == loaded[k])
					k++;
				rc = cs_fail(err, EIO, "'%s': tensor '%s' differs from the file at data offset %llu",
					     s->path, tensor_at(s, off + k), (unsigned long long)(off + k));
			}
		}
		close(fd);
	}
	free(a);
	free(b);
	return rc;
}
