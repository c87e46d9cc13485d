#define _GNU_SOURCE
#include "ckptwrite.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/base/banned.h"
#include "core/base/fsutil.h"
#include "safetensors.h"

/* ---- data generation ---- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t name_key(uint64_t seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;     /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return mix64(seed ^ mix64(h));
}

/* One 8-byte word of tensor data: every lane a finite, non-zero value with
 * a random sign, a random mantissa and an exponent giving |x| in
 * [2^-10, 2^-2). The random bits are wyrand's output for counter i (one
 * 64x64->128 multiply), so any word can be computed on its own. */
static inline uint64_t rand_word(uint64_t key, uint64_t i)
{
	uint64_t st = key + (i + 1) * 0xa0761d6478bd642fULL;
	__uint128_t t = (__uint128_t)st * (st ^ 0xe7037ed1a0b428dbULL);
	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

static inline uint64_t shape_bf16(uint64_t r)
{
	return (r & 0x807F807F807F807FULL) |
	       ((((r >> 7) & 0x0007000700070007ULL) + 0x0075007500750075ULL) << 7);
}

static inline uint64_t shape_f16(uint64_t r)
{
	return (r & 0x83FF83FF83FF83FFULL) |
	       ((((r >> 10) & 0x0007000700070007ULL) + 0x0005000500050005ULL) << 10);
}

static inline uint64_t shape_f32(uint64_t r)
{
	return (r & 0x807FFFFF807FFFFFULL) |
	       ((((r >> 23) & 0x0000000700000007ULL) + 0x0000007500000075ULL) << 23);
}

static inline uint64_t word(uint64_t key, uint64_t i, int dtype)
{
	uint64_t r = rand_word(key, i);
	return dtype == ST_F16 ? shape_f16(r) : dtype == ST_F32 ? shape_f32(r) : shape_bf16(r);
}

/* Whole words [i, i + n) into out, one loop per dtype. */
#define FILL_WORDS(SHAPE)                                        \
	for (uint64_t k = 0; k < n; k++) {                       \
		uint64_t w = SHAPE(rand_word(key, i + k));       \
		memcpy(out + 8 * k, &w, 8);                      \
	}

static void fill_words(unsigned char *out, uint64_t key, uint64_t i, uint64_t n, int dtype)
{
	if (dtype == ST_F16) {
		FILL_WORDS(shape_f16)
	} else if (dtype == ST_F32) {
		FILL_WORDS(shape_f32)
	} else {
		FILL_WORDS(shape_bf16)
	}
}

uint64_t ck_data_key(uint64_t seed, const char *name)
{
	return name_key(seed, name);
}

uint64_t ck_rand_word(uint64_t key, uint64_t i)
{
	return rand_word(key, i);
}

void ck_fill(const struct ck_plan *p, size_t tensor, uint64_t off, void *buf, size_t len)
{
	ck_fill_key(name_key(p->seed, p->model.tensors[tensor].name), p->model.dtype, off, buf, len);
}

void ck_fill_key(uint64_t key, int dtype, uint64_t off, void *buf, size_t len)
{
	unsigned char *out = buf;
	uint64_t end = off + len;
	uint64_t i = off / 8;
	/* Leading partial word. */
	if (off % 8) {
		uint64_t w = word(key, i, dtype);
		size_t skip = (size_t)(off % 8);
		size_t n = 8 - skip;
		if (n > len)
			n = len;
		memcpy(out, (unsigned char *)&w + skip, n);
		out += n;
		off += n;
		i++;
	}
	uint64_t whole = off < end ? (end - off) / 8 : 0;
	fill_words(out, key, i, whole, dtype);
	out += 8 * whole;
	off += 8 * whole;
	i += whole;
	if (off < end) {
		uint64_t w = word(key, i, dtype);
		memcpy(out, &w, (size_t)(end - off));
	}
}

/* ---- planning ---- */

static const struct ms_model *sort_model;

static int cmp_by_name(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return strcmp(sort_model->tensors[x].name, sort_model->tensors[y].name);
}

static uint64_t tensor_bytes(const struct ms_model *m, size_t i)
{
	return m->tensors[i].nelem * (st_dtype_bits(m->dtype) / 8);
}

static void build_header(struct ck_plan *p, struct ck_shard *s)
{
	/* jansson keeps insertion order: __metadata__ first, then file order. */
	json_t *h = json_object();
	json_t *meta = json_object();
	json_object_set_new(meta, "format", json_string("pt"));
	json_object_set_new(h, "__metadata__", meta);
	for (size_t k = 0; k < s->ntensors; k++) {
		size_t i = s->order[k];
		const struct ms_tensor *t = &p->model.tensors[i];
		json_t *e = json_object();
		json_object_set_new(e, "dtype", json_string(st_dtype_name(p->model.dtype)));
		json_t *shape = json_array();
		for (int d = 0; d < t->ndim; d++)
			json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
		json_object_set_new(e, "shape", shape);
		json_t *offs = json_array();
		json_array_append_new(offs, json_integer((json_int_t)p->offsets[i]));
		json_array_append_new(offs, json_integer((json_int_t)(p->offsets[i] + tensor_bytes(&p->model, i))));
		json_object_set_new(e, "data_offsets", offs);
		json_object_set_new(h, t->name, e);
	}
	char *js = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	if (!js)
		cs_oom("serializing a safetensors header");
	size_t n = strlen(js);
	size_t padded = n + (8 - (8 + n) % 8) % 8;
	s->header = xmalloc(padded + 1);
	memcpy(s->header, js, n);
	memset(s->header + n, ' ', padded - n);
	s->header[padded] = '\0';
	s->header_len = padded;
	free(js);
}

int ck_plan_build(const char *preset, int layers, int dtype, uint64_t shard_size, uint64_t seed,
		  struct ck_plan *p, struct cs_err *err)
{
	memset(p, 0, sizeof(*p));
	if (ms_build(preset, layers, dtype, &p->model, err))
		return -1;
	if (!shard_size)
		shard_size = CK_DEFAULT_SHARD_SIZE;
	p->seed = seed;
	const struct ms_model *m = &p->model;
	size_t *shard_of = xcalloc(m->ntensors, sizeof(size_t));
	uint64_t cur = 0;
	size_t nsh = 0;
	for (size_t i = 0; i < m->ntensors; i++) {
		uint64_t b = tensor_bytes(m, i);
		if (nsh == 0 || (cur > 0 && cur + b > shard_size)) {
			nsh++;
			cur = 0;
		}
		shard_of[i] = nsh - 1;
		cur += b;
		p->tensor_bytes += b;
		p->nparams += m->tensors[i].nelem;
	}
	p->nshards = nsh;
	p->shards = xcalloc(nsh, sizeof(*p->shards));
	p->offsets = xcalloc(m->ntensors, sizeof(uint64_t));
	for (size_t i = 0; i < m->ntensors; i++)
		p->shards[shard_of[i]].ntensors++;
	for (size_t s = 0; s < nsh; s++) {
		p->shards[s].order = xcalloc(p->shards[s].ntensors, sizeof(size_t));
		p->shards[s].ntensors = 0;
		p->shards[s].name = nsh == 1 ? xstrdup("model.safetensors")
					     : xasprintf("model-%05zu-of-%05zu.safetensors", s + 1, nsh);
	}
	for (size_t i = 0; i < m->ntensors; i++) {
		struct ck_shard *s = &p->shards[shard_of[i]];
		s->order[s->ntensors++] = i;
	}
	free(shard_of);
	sort_model = m;
	for (size_t s = 0; s < nsh; s++) {
		struct ck_shard *sh = &p->shards[s];
		qsort(sh->order, sh->ntensors, sizeof(size_t), cmp_by_name);
		uint64_t off = 0;
		for (size_t k = 0; k < sh->ntensors; k++) {
			p->offsets[sh->order[k]] = off;
			off += tensor_bytes(m, sh->order[k]);
		}
		sh->data_bytes = off;
		build_header(p, sh);
		sh->file_bytes = 8 + sh->header_len + sh->data_bytes;
		p->file_bytes += sh->file_bytes;
	}
	sort_model = NULL;
	return 0;
}

void ck_plan_release(struct ck_plan *p)
{
	if (!p)
		return;
	for (size_t s = 0; s < p->nshards; s++) {
		free(p->shards[s].name);
		free(p->shards[s].order);
		free(p->shards[s].header);
	}
	free(p->shards);
	free(p->offsets);
	ms_release(&p->model);
	memset(p, 0, sizeof(*p));
}

/* ---- the byte stream of one shard file ---- */

static void fill_stream(const struct ck_plan *p, size_t s, uint64_t off, unsigned char *buf, size_t len)
{
	const struct ck_shard *sh = &p->shards[s];
	uint64_t hl = sh->header_len;
	while (len && off < 8) {
		*buf++ = (unsigned char)(hl >> (8 * off));
		off++;
		len--;
	}
	if (len && off < 8 + hl) {
		size_t n = (size_t)(8 + hl - off);
		if (n > len)
			n = len;
		memcpy(buf, sh->header + (off - 8), n);
		buf += n;
		off += n;
		len -= n;
	}
	if (!len)
		return;
	uint64_t d = off - 8 - hl;
	/* First tensor whose range contains d: binary search in file order. */
	size_t lo = 0, hi = sh->ntensors;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (p->offsets[sh->order[mid]] <= d)
			lo = mid;
		else
			hi = mid;
	}
	for (size_t k = lo; k < sh->ntensors && len; k++) {
		size_t t = sh->order[k];
		uint64_t tb = p->offsets[t], te = tb + tensor_bytes(&p->model, t);
		if (d >= te)
			continue;
		size_t n = (size_t)(te - d);
		if (n > len)
			n = len;
		ck_fill(p, t, d - tb, buf, n);
		buf += n;
		d += n;
		len -= n;
	}
}

/* ---- generator threads and ring of buffers ----
 *
 * The shard files are cut into segments of BUFSZ bytes (segment k). Up to
 * NGEN generator threads claim segments in order and fill ring slot k % NBUF
 * once the writer has released it; the caller's thread writes segments in
 * order. */

#define NBUF 8
#define NGEN_MAX 4
#define BUFSZ (16u << 20)
#define DIO_ALIGN 4096u

struct seg {
	size_t shard;
	uint64_t off;
	size_t len;
};

struct slot {
	unsigned char *buf;
	int64_t filled;     /* segment held, -1 when empty */
	int64_t free_for;   /* the segment allowed to fill it next */
};

struct ring {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot slots[NBUF];
	int stop;
	size_t next;        /* next segment to claim */
	size_t nseg;
	struct seg *segs;
	const struct ck_plan *plan;
};

static void *generator(void *arg)
{
	struct ring *r = arg;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		size_t k = r->next++;
		struct slot *sl = &r->slots[k % NBUF];
		while (!r->stop && k < r->nseg && sl->free_for != (int64_t)k)
			pthread_cond_wait(&r->cv, &r->mu);
		int stop = r->stop || k >= r->nseg;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			return NULL;
		const struct seg *sg = &r->segs[k];
		fill_stream(r->plan, sg->shard, sg->off, sl->buf, sg->len);
		pthread_mutex_lock(&r->mu);
		sl->filled = (int64_t)k;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
	}
}

/* Write one segment: the aligned part through the O_DIRECT descriptor (if
 * any), the unaligned tail through a buffered one. */
static int write_seg(int dfd, int *bfd, const char *path, const unsigned char *buf, size_t len, uint64_t off)
{
	size_t direct = dfd >= 0 && off % DIO_ALIGN == 0 ? len & ~(size_t)(DIO_ALIGN - 1) : 0;
	if (direct && fs_pwrite_full(dfd, buf, direct, (off_t)off))
		return -1;
	if (direct == len)
		return 0;
	if (*bfd < 0 && (*bfd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	return fs_pwrite_full(*bfd, buf + direct, len - direct, (off_t)(off + direct));
}

/* 2 MiB-aligned and backed by transparent huge pages where the kernel
 * allows: each O_DIRECT write then pins 8 pages instead of 4096. */
static unsigned char *alloc_ring_buffer(void)
{
	void *p = NULL;
	if (posix_memalign(&p, 2u << 20, BUFSZ))
		cs_oom("allocating the write ring");
	madvise(p, BUFSZ, MADV_HUGEPAGE);
	return p;
}

static int write_shards(const struct ck_plan *p, const char *tmp, const struct ck_write_opts *o,
			struct cs_err *err)
{
	struct ring r;
	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	r.plan = p;
	size_t segalloc = 0;
	for (size_t s = 0; s < p->nshards; s++) {
		for (uint64_t off = 0; off < p->shards[s].file_bytes; off += BUFSZ) {
			uint64_t left = p->shards[s].file_bytes - off;
			r.segs = xgrow(r.segs, &segalloc, r.nseg + 1, sizeof(*r.segs));
			r.segs[r.nseg++] = (struct seg){ s, off, left < BUFSZ ? (size_t)left : BUFSZ };
		}
	}
	for (int i = 0; i < NBUF; i++) {
		r.slots[i].buf = alloc_ring_buffer();
		r.slots[i].filled = -1;
		r.slots[i].free_for = i;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int ngen = ncpu < 1 ? 1 : ncpu > NGEN_MAX ? NGEN_MAX : (int)ncpu;
	pthread_t th[NGEN_MAX];
	int started = 0, rc = 0;
	for (; started < ngen; started++) {
		int perr = pthread_create(&th[started], NULL, generator, &r);
		if (perr) {
			if (!started)
				rc = cs_fail_errno(err, perr, "cannot start a generator thread");
			break;
		}
	}
	uint64_t done = 0;
	int dfd = -1, bfd = -1;
	size_t cur = (size_t)-1;
	char *path = NULL;
	for (size_t k = 0; k < r.nseg && !rc; k++) {
		const struct seg *sg = &r.segs[k];
		if (sg->shard != cur) {
			cur = sg->shard;
			free(path);
			path = path_join(tmp, p->shards[cur].name);
			/* O_DIRECT: the data need not pass through (and evict) the
			 * page cache; file systems without it get buffered writes. */
			dfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0644);
			if (dfd < 0 && errno == EINVAL) {
				bfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
				if (bfd < 0)
					rc = cs_fail_errno(err, errno, "cannot create '%s'", path);
			} else if (dfd < 0) {
				rc = cs_fail_errno(err, errno, "cannot create '%s'", path);
			}
			if (!rc && fs_preallocate(dfd >= 0 ? dfd : bfd, p->shards[cur].file_bytes))
				rc = cs_fail_errno(err, errno, "cannot allocate %" PRIu64 " bytes for '%s'",
						   p->shards[cur].file_bytes, path);
			if (rc)
				break;
		}
		if (cs_cancelled(o->cancel)) {
			rc = cs_fail(err, ECANCELED, "interrupted");
			break;
		}
		struct slot *sl = &r.slots[k % NBUF];
		pthread_mutex_lock(&r.mu);
		while (sl->filled != (int64_t)k)
			pthread_cond_wait(&r.cv, &r.mu);
		pthread_mutex_unlock(&r.mu);
		if (write_seg(dfd, &bfd, path, sl->buf, sg->len, sg->off)) {
			rc = cs_fail_errno(err, errno, "cannot write '%s'", path);
			break;
		}
		done += sg->len;
		pthread_mutex_lock(&r.mu);
		sl->filled = -1;
		sl->free_for = (int64_t)(k + NBUF);
		pthread_cond_broadcast(&r.cv);
		pthread_mutex_unlock(&r.mu);
		if (o->progress)
			o->progress(done, p->file_bytes, o->progress_arg);
		int last = k + 1 == r.nseg || r.segs[k + 1].shard != cur;
		if (last) {
			int fd = dfd >= 0 ? dfd : bfd;
			if (fsync(fd) < 0)
				rc = cs_fail_errno(err, errno, "cannot flush '%s' to disk", path);
			else /* leave the new model cold, as a fresh copy from elsewhere would be */
				posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			if (dfd >= 0 && close(dfd) < 0 && !rc)
				rc = cs_fail_errno(err, errno, "cannot close '%s'", path);
			if (bfd >= 0 && close(bfd) < 0 && !rc)
				rc = cs_fail_errno(err, errno, "cannot close '%s'", path);
			dfd = bfd = -1;
		}
	}
	if (dfd >= 0)
		close(dfd);
	if (bfd >= 0)
		close(bfd);
	free(path);
	pthread_mutex_lock(&r.mu);
	r.stop = 1;
	pthread_cond_broadcast(&r.cv);
	pthread_mutex_unlock(&r.mu);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NBUF; i++)
		free(r.slots[i].buf);
	free(r.segs);
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.cv);
	return rc;
}

/* ---- files ---- */

static int write_json_file(const char *dir, const char *name, json_t *j, struct cs_err *err)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	if (!s)
		cs_oom("serializing JSON");
	size_t n = strlen(s);
	char *text = xasprintf("%s\n", s);
	free(s);
	char *path = path_join(dir, name);
	int rc = fs_write_file_sync(path, text, n + 1, err);
	free(path);
	free(text);
	return rc;
}

static json_t *index_json(const struct ck_plan *p)
{
	json_t *idx = json_object();
	json_t *meta = json_object();
	json_object_set_new(meta, "total_size", json_integer((json_int_t)p->tensor_bytes));
	json_object_set_new(idx, "metadata", meta);
	json_t *wm = json_object();
	/* transformers writes the weight_map sorted by tensor name. */
	size_t n = p->model.ntensors;
	size_t *ord = xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		ord[i] = i;
	sort_model = &p->model;
	qsort(ord, n, sizeof(size_t), cmp_by_name);
	sort_model = NULL;
	size_t *shard_of = xcalloc(n, sizeof(size_t));
	for (size_t s = 0; s < p->nshards; s++)
		for (size_t k = 0; k < p->shards[s].ntensors; k++)
			shard_of[p->shards[s].order[k]] = s;
	for (size_t k = 0; k < n; k++)
		json_object_set_new(wm, p->model.tensors[ord[k]].name,
				    json_string(p->shards[shard_of[ord[k]]].name));
	free(ord);
	free(shard_of);
	json_object_set_new(idx, "weight_map", wm);
	return idx;
}

/* DIR's state: missing, an empty directory, or (with force) a non-empty
 * one that is no mount point. */
static int check_dir(const char *dir, int force, int *exists, int *mountpoint, int *empty, struct cs_err *err)
{
	struct stat st;
	*exists = *mountpoint = 0;
	*empty = 1;
	if (lstat(dir, &st) < 0)
		return errno == ENOENT ? 0 : cs_fail_errno(err, errno, "cannot stat '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return cs_fail(err, EEXIST, "'%s' exists and is not a directory", dir);
	*exists = 1;
	*mountpoint = fs_is_mountpoint(dir);
	/* Partial checkpoints of writers that were killed (their lock is
	 * gone) can hold gigabytes nobody will ever see; a mount point holds
	 * its own, so they go before it is found empty or not. */
	if (*mountpoint)
		fs_temp_sweep(dir, ".mkmodel-partial-");
	*empty = fs_dir_is_empty(dir);
	if (*empty < 0)
		return cs_fail_errno(err, errno, "cannot read directory '%s'", dir);
	if (!*empty && !force)
		return cs_fail(err, EEXIST, "'%s' is not empty (use --force to replace it)", dir);
	if (!*empty && *mountpoint)
		return cs_fail(err, EEXIST, "'%s' is a non-empty mount point; write into a new directory inside it", dir);
	return 0;
}

int ck_write(const struct ck_plan *p, const struct ck_write_opts *o, struct cs_err *err)
{
	const char *dir = o->dir;
	int exists, mountpoint, empty;
	fs_exchange_recover(dir);   /* a --force replace killed between its renames */
	if (check_dir(dir, o->force, &exists, &mountpoint, &empty, err))
		return -1;
	char *parent = fs_parent_dir(dir);
	if (!exists && fs_mkdir_p(parent, 0755)) {
		int rc = cs_fail_errno(err, errno, "cannot create directory '%s'", parent);
		free(parent);
		return rc;
	}
	const char *where = mountpoint ? dir : parent;
	char *base = fs_basename(dir);
	char *prefix = mountpoint ? xstrdup(".mkmodel-partial-") : xasprintf(".%s.mkmodel-partial-", base);
	free(base);
	/* Every dead writer's partial beside DIR, whichever directory it was
	 * writing: one killed while writing another name is never swept by
	 * that name again. */
	if (!mountpoint)
		fs_temp_sweep_kind(where, "mkmodel-partial-");
	struct fs_temp tt = { NULL, -1 };
	char *tmp = NULL;

	int rc = 0;
	uint64_t need = p->file_bytes + (1u << 20), avail;
	if (fs_free_bytes(where, &avail) == 0 && avail < need) {
		char a[32], b[32];
		rc = cs_fail(err, ENOSPC, "not enough space in '%s': the checkpoint needs %s, %s is free",
			     where, fmt_bytes(a, sizeof(a), need), fmt_bytes(b, sizeof(b), avail));
		goto out;
	}
	/* Locked while this writer lives: a later run removes it only once it
	 * is dead (fs_temp_sweep). */
	if (fs_temp_create(where, prefix, 1, &tt) < 0) {
		rc = cs_fail_errno(err, errno, "cannot create a partial directory in '%s'", where);
		goto out;
	}
	tmp = tt.path;
	rc = write_shards(p, tmp, o, err);
	json_t *j;
	if (!rc) {
		j = ms_generation_config_json(&p->model);
		rc = write_json_file(tmp, "generation_config.json", j, err);
		json_decref(j);
	}
	if (!rc && p->nshards > 1) {
		j = index_json(p);
		rc = write_json_file(tmp, "model.safetensors.index.json", j, err);
		json_decref(j);
	}
	if (!rc) {
		j = ms_config_json(&p->model);
		rc = write_json_file(tmp, "config.json", j, err);
		json_decref(j);
	}
	if (!rc && fs_fsync_path(tmp))
		rc = cs_fail_errno(err, errno, "cannot flush directory '%s'", tmp);
	if (!rc && cs_cancelled(o->cancel))
		rc = cs_fail(err, ECANCELED, "interrupted");
	if (rc) {
		fs_remove_tree(tmp);
		goto out;
	}
	/* Publish. */
	if (mountpoint) {
		/* config.json last: until it appears the directory is no model. */
		const char *last = "config.json";
		for (int pass = 0; pass < 2 && !rc; pass++) {
			DIR *d = opendir(tmp);
			struct dirent *de;
			while (d && (de = readdir(d)) && !rc) {
				if (de->d_name[0] == '.' || (!strcmp(de->d_name, last)) != pass)
					continue;
				char *from = path_join(tmp, de->d_name), *to = path_join(dir, de->d_name);
				if (rename(from, to) < 0)
					rc = cs_fail_errno(err, errno, "cannot move '%s' to '%s'", from, to);
				free(from);
				free(to);
			}
			if (d)
				closedir(d);
		}
		if (rc)
			fs_remove_tree(tmp);
		else
			rmdir(tmp);
	} else if (!exists || empty) {
		if (rename(tmp, dir) < 0) {
			rc = cs_fail_errno(err, errno, "cannot rename '%s' to '%s'", tmp, dir);
			fs_remove_tree(tmp);
		}
	} else {
		if (fs_exchange(tmp, dir) < 0) {
			rc = cs_fail_errno(err, errno, "cannot replace '%s'", dir);
			fs_remove_tree(tmp);
		} else {
			/* tmp now holds the old contents. */
			fs_remove_tree(tmp);
		}
	}
	if (!rc && fs_fsync_path(where))
		rc = cs_fail_errno(err, errno, "cannot flush directory '%s'", where);
out:
	fs_temp_done(&tt);
	free(prefix);
	free(parent);
	return rc;
}
