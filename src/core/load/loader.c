#define _GNU_SOURCE
#include "loader.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/base/workpool.h"
#include "core/base/banned.h"

struct chunk {
	size_t shard;
	uint64_t off;       /* offset inside the data region */
	uint64_t len;
	size_t tensor;      /* tensor parallel: the plan's tensor it lies in */
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
	const struct tp_plan *plan;   /* tensor parallel */
	struct ld_tp *T;
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

/* The chunks through `jobs` workers (unless rc already failed), then the
 * job's files, chunks and queue released. */
static int run_job(struct job *j, size_t nfds, int rc, void *(*worker)(void *), struct cs_err *err)
{
	wp_init(&j->q, j->nchunks, j->o->cancel);
	if (!rc && j->nchunks) {
		rc = wp_run(&j->q, j->o->jobs, worker, j, NULL, NULL, 0, "loader", err);
		if (!rc)
			rc = wp_result(&j->q, err);
	}
	for (size_t i = 0; i < nfds; i++)
		if (j->fds[i] >= 0)
			close(j->fds[i]);
	free(j->fds);
	free(j->chunks);
	wp_destroy(&j->q);
	return rc;
}

void ld_release(struct loader *L)
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
				ld_release(L);
				return -1;
			}
		} else if (!o->sink) {
			void *p = mmap(NULL, sz ? (size_t)sz : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) {
				int e = errno;
				ld_release(L);
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
					ld_release(L);
					return -1;
				}
			} else {
				memset(L->host[i], 0, (size_t)L->sizes[i]);
			}
		}
		if (o->device == LD_CUDA && cuda_sync(err)) {
			ld_release(L);
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
			j.chunks[j.nchunks++] = (struct chunk){ i, off, len, 0 };
		}
	}
	rc = run_job(&j, m->nshards, rc, o->device == LD_CUDA ? cuda_worker : host_worker, err);
	L->seconds = (double)(now_ns() - t0) / 1e9;
	if (rc)
		ld_release(L);
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

/* ---- tensor parallel ---- */

typedef int (*piece_fn)(void *arg, int rank, const unsigned char *src, uint64_t spitch, uint64_t dst, uint64_t width,
			uint64_t height, struct cs_err *e);

/* The part of chunk c (read into buf) that rank r holds: one contiguous
 * piece, or whole rows of a row-split tensor (height rows of width bytes,
 * spitch apart in buf, packed at dst). */
static int for_rank(const struct job *j, const struct chunk *c, const unsigned char *buf, int r, piece_fn fn,
		    void *arg, struct cs_err *e)
{
	const struct tp_tensor *T = &j->plan->t[c->tensor];
	const struct tp_slice *s = &T->r[r];
	if (s->nseg == 1) {
		uint64_t lo = s->src > c->off ? s->src : c->off;
		uint64_t hi = s->src + s->seg < c->off + c->len ? s->src + s->seg : c->off + c->len;
		return lo < hi ? fn(arg, r, buf + (lo - c->off), 0, s->dst + (lo - s->src), hi - lo, 1, e) : 0;
	}
	const struct st_tensor *t = &j->m->shards[T->shard].h.tensors[T->index];
	uint64_t i0 = (c->off - t->begin) / s->stride, i1 = (c->off + c->len - t->begin) / s->stride;
	return fn(arg, r, buf + (t->begin + i0 * s->stride - c->off) + (s->src - t->begin), s->stride,
		  s->dst + i0 * s->seg, s->seg, i1 - i0, e);
}

static int host_piece(void *arg, int r, const unsigned char *src, uint64_t spitch, uint64_t dst, uint64_t width,
		      uint64_t height, struct cs_err *e)
{
	(void)e;
	struct ld_tp *T = arg;
	for (uint64_t h = 0; h < height; h++)
		memcpy(T->host[r] + dst + h * width, src + h * spitch, (size_t)width);
	return 0;
}

static uint64_t tp_buffer_size(const struct job *j)
{
	uint64_t b = j->chunk_size;
	for (size_t i = 0; i < j->nchunks; i++)
		if (j->chunks[i].len > b)
			b = j->chunks[i].len;
	return b;
}

static void *tp_host_worker(void *arg)
{
	struct job *j = arg;
	struct cs_err e;
	unsigned char *buf = fs_alloc_aligned((size_t)tp_buffer_size(j));
	struct chunk span[SPAN_CHUNKS];
	size_t n;
	while ((n = take(j, span))) {
		for (size_t i = 0; i < n; i++) {
			if (read_chunk(j, &span[i], buf, &e)) {
				wp_fail(&j->q, &e);
				goto done;
			}
			for (int r = 0; r < j->plan->n; r++)
				for_rank(j, &span[i], buf, r, host_piece, j->T, &e);
		}
	}
done:
	free(buf);
	return NULL;
}

struct cuda_tp {
	struct ld_tp *T;
	cuda_stream *st;     /* per rank */
	int *used;           /* per rank: a copy was issued from the current buffer */
};

static int cuda_piece(void *arg, int r, const unsigned char *src, uint64_t spitch, uint64_t dst, uint64_t width,
		      uint64_t height, struct cs_err *e)
{
	struct cuda_tp *c = arg;
	if (cuda_bind_device(r, e))
		return -1;
	int rc = height == 1 ? cuda_htod_async(c->T->dev[r] + dst, src, (size_t)width, c->st[r], e)
			     : cuda_htod_2d_async(c->T->dev[r] + dst, (size_t)width, src, (size_t)spitch, (size_t)width,
						  (size_t)height, c->st[r], e);
	c->used[r] = 1;
	return rc;
}

static void *tp_cuda_worker(void *arg)
{
	struct job *j = arg;
	struct cs_err e;
	int n = j->plan->n;
	cuda_stream *st = xcalloc((size_t)n, sizeof(cuda_stream));
	cuda_event *ev[2] = { xcalloc((size_t)n, sizeof(cuda_event)), xcalloc((size_t)n, sizeof(cuda_event)) };
	int *pend[2] = { xcalloc((size_t)n, sizeof(int)), xcalloc((size_t)n, sizeof(int)) };
	int *used = xcalloc((size_t)n, sizeof(int));
	void *buf[2] = { NULL, NULL };
	size_t bsize = (size_t)tp_buffer_size(j);
	/* Pinned (portable) buffers need a current context, any of them. */
	int bad = cuda_bind_device(0, &e) || cuda_host_alloc(&buf[0], bsize, &e) || cuda_host_alloc(&buf[1], bsize, &e);
	for (int r = 0; r < n && !bad; r++)
		bad = cuda_bind_device(r, &e) || cuda_stream_create(&st[r], &e) || cuda_event_create(&ev[0][r], &e) ||
		      cuda_event_create(&ev[1][r], &e);
	if (bad) {
		wp_fail(&j->q, &e);
		goto out;
	}
	struct cuda_tp ct = { j->T, st, used };
	struct chunk span[SPAN_CHUNKS];
	size_t nt;
	unsigned k = 0;
	while ((nt = take(j, span))) {
		for (size_t i = 0; i < nt; i++, k++) {
			unsigned b = k & 1;
			/* Every copy that last used this buffer must be done. */
			for (int r = 0; r < n; r++) {
				if (pend[b][r] && (cuda_bind_device(r, &e) || cuda_event_sync(ev[b][r], &e))) {
					wp_fail(&j->q, &e);
					goto drain;
				}
				pend[b][r] = 0;
				used[r] = 0;
			}
			if (read_chunk(j, &span[i], buf[b], &e)) {
				wp_fail(&j->q, &e);
				goto drain;
			}
			for (int r = 0; r < n; r++) {
				if (for_rank(j, &span[i], buf[b], r, cuda_piece, &ct, &e) ||
				    (used[r] && (cuda_bind_device(r, &e) || cuda_event_record(ev[b][r], st[r], &e)))) {
					wp_fail(&j->q, &e);
					goto drain;
				}
				pend[b][r] = used[r];
			}
		}
	}
drain:
	for (int r = 0; r < n; r++)
		if (st[r] && (cuda_bind_device(r, &e) || cuda_stream_sync(st[r], &e)))
			wp_fail(&j->q, &e);
out:
	for (int r = 0; r < n; r++) {
		if (cuda_bind_device(r, &e) == 0) {
			cuda_event_destroy(ev[0][r]);
			cuda_event_destroy(ev[1][r]);
			cuda_stream_destroy(st[r]);
		}
	}
	cuda_host_free(buf[0]);
	cuda_host_free(buf[1]);
	free(st);
	free(ev[0]);
	free(ev[1]);
	free(pend[0]);
	free(pend[1]);
	free(used);
	return NULL;
}

void ld_tp_release(struct ld_tp *L)
{
	struct cs_err e;
	for (int r = 0; r < L->n; r++) {
		if (L->host && L->host[r])
			munmap(L->host[r], (size_t)(L->bytes[r] ? L->bytes[r] : 1));
		if (L->dev && L->dev[r] && cuda_bind_device(r, &e) == 0)
			cuda_free(L->dev[r]);
	}
	free(L->host);
	free(L->dev);
	free(L->bytes);
	memset(L, 0, sizeof(*L));
}

/* The chunks: whole rows of a row-split tensor (at least one), else up to
 * chunk bytes, never across tensors. */
static void tp_chunks(struct job *j)
{
	size_t alloc = 0;
	for (size_t i = 0; i < j->plan->nt; i++) {
		const struct tp_tensor *T = &j->plan->t[i];
		const struct st_tensor *t = &j->m->shards[T->shard].h.tensors[T->index];
		uint64_t step = j->chunk_size;
		if (T->r[0].nseg > 1) {
			uint64_t rows = j->chunk_size / T->r[0].stride;
			step = (rows ? rows : 1) * T->r[0].stride;
		}
		for (uint64_t off = t->begin; off < t->end; off += step) {
			uint64_t len = t->end - off < step ? t->end - off : step;
			j->chunks = xgrow(j->chunks, &alloc, j->nchunks + 1, sizeof(*j->chunks));
			j->chunks[j->nchunks++] = (struct chunk){ T->shard, off, len, i };
		}
	}
}

int ld_load_tp(const struct st_model *m, const struct tp_plan *p, const struct ld_opts *o, struct ld_tp *L,
	       struct cs_err *err)
{
	memset(L, 0, sizeof(*L));
	L->device = o->device;
	L->n = p->n;
	L->bytes = xcalloc((size_t)p->n, sizeof(uint64_t));
	L->host = xcalloc((size_t)p->n, sizeof(unsigned char *));
	L->dev = xcalloc((size_t)p->n, sizeof(cuda_ptr));
	uint64_t t0 = now_ns();
	for (int r = 0; r < p->n; r++) {
		uint64_t sz = p->rank_bytes[r];
		L->bytes[r] = sz;
		if (o->device == LD_CUDA) {
			if (cuda_bind_device(r, err) || cuda_malloc(&L->dev[r], (size_t)sz, err) ||
			    (o->dummy && cuda_memset(L->dev[r], 0, (size_t)sz, err))) {
				ld_tp_release(L);
				return -1;
			}
		} else {
			void *q = mmap(NULL, sz ? (size_t)sz : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (q == MAP_FAILED) {
				int e = errno;
				ld_tp_release(L);
				return cs_fail_errno(err, e, "rank %d: cannot allocate %llu bytes of host memory", r,
						     (unsigned long long)sz);
			}
			madvise(q, (size_t)sz, MADV_HUGEPAGE);
			L->host[r] = q;
			if (o->dummy)
				memset(q, 0, (size_t)sz);
		}
	}
	if (o->dummy) {
		int rc = 0;
		for (int r = 0; r < p->n && !rc && o->device == LD_CUDA; r++)
			rc = cuda_bind_device(r, err) || cuda_sync(err) ? -1 : 0;
		L->seconds = (double)(now_ns() - t0) / 1e9;
		if (rc)
			ld_tp_release(L);
		return rc;
	}
	struct job j = {
		.m = m, .o = o, .plan = p, .T = L, .chunk_size = o->chunk ? o->chunk : LD_CHUNK_DEFAULT,
		.fds = xcalloc(m->nshards ? m->nshards : 1, sizeof(int)),
	};
	int rc = 0;
	for (size_t i = 0; i < m->nshards; i++) {
		j.fds[i] = open(m->shards[i].path, O_RDONLY | O_CLOEXEC);
		if (j.fds[i] < 0 && !rc)
			rc = cs_fail_errno(err, errno, "cannot open '%s'", m->shards[i].path);
	}
	tp_chunks(&j);
	for (size_t i = 0; i < j.nchunks; i++)
		L->read_bytes += j.chunks[i].len;
	rc = run_job(&j, m->nshards, rc, o->device == LD_CUDA ? tp_cuda_worker : tp_host_worker, err);
	L->seconds = (double)(now_ns() - t0) / 1e9;
	if (rc)
		ld_tp_release(L);
	return rc;
}

int ld_verify_tp(const struct st_model *m, const struct tp_plan *p, const struct ld_tp *L, struct cs_err *err)
{
	int rc = 0;
	unsigned char *want = NULL, *got = NULL;
	size_t cap = 0;
	int *fds = xcalloc(m->nshards ? m->nshards : 1, sizeof(int));
	for (size_t i = 0; i < m->nshards; i++)
		fds[i] = -1;
	for (size_t i = 0; i < p->nt && !rc; i++) {
		const struct tp_tensor *T = &p->t[i];
		const struct st_shard *sh = &m->shards[T->shard];
		if (fds[T->shard] < 0 && (fds[T->shard] = open(sh->path, O_RDONLY | O_CLOEXEC)) < 0) {
			rc = cs_fail_errno(err, errno, "cannot open '%s'", sh->path);
			break;
		}
		for (int r = 0; r < p->n && !rc; r++) {
			const struct tp_slice *s = &T->r[r];
			size_t len = (size_t)(s->seg * s->nseg);
			if (len > cap) {
				cap = len;
				free(want);
				free(got);
				want = xmalloc(cap);
				got = xmalloc(cap);
			}
			for (uint64_t g = 0; g < s->nseg && !rc; g++)
				if (fs_pread_full(fds[T->shard], want + g * s->seg, (size_t)s->seg,
						  (off_t)(sh->h.data_start + s->src + g * s->stride)))
					rc = cs_fail_errno(err, errno, "cannot read '%s'", sh->path);
			const unsigned char *have = L->host[r] ? L->host[r] + s->dst : NULL;
			if (!rc && L->device == LD_CUDA) {
				if (cuda_bind_device(r, err) || (len && cuda_dtoh(got, L->dev[r] + s->dst, len, err)))
					rc = -1;
				have = got;
			}
			if (!rc && len && memcmp(want, have, len))
				rc = cs_fail(err, EIO, "rank %d: its slice of tensor '%s' (%s) differs from '%s'", r,
					     sh->h.tensors[T->index].name, tp_kind_name(T->kind), sh->path);
		}
	}
	for (size_t i = 0; i < m->nshards; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(want);
	free(got);
	return rc;
}
