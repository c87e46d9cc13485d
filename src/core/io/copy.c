#define _GNU_SOURCE
#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "core/base/fsutil.h"
#include "core/base/workpool.h"
#include "shaper.h"
#include "core/base/banned.h"

#define DIO_ALIGN 4096u
/* A remote source's write unit: small enough to stay in the CPU's cache
 * between arriving, being hashed and being written. */
#define CP_PIECE (1u << 20)

struct cchunk {
	size_t file;
	uint64_t off, len;
};

struct cdone {
	size_t file;
	uint64_t idx, hash;
};

struct cjob {
	const struct cp_opts *o;
	struct cp_file *files;
	int *src_fd, *dst_fd, *dio_fd, *sdio_fd;
	int *kernel_ok;             /* per file: copy_file_range allowed */
	struct cchunk *chunks;
	size_t nchunks;
	uint64_t chunk_size;
	struct shaper sh;
	struct wp_queue q;          /* the chunks; q.mu also guards kernel_ok, kernel_used, pend */
	int kernel_used;
	struct cdone *pend;         /* completed, not yet reported durable */
	size_t npend, apend;
};

uint64_t cp_chunk_size(uint64_t requested)
{
	uint64_t c = requested ? requested : CP_CHUNK_DEFAULT;
	return (c + DIO_ALIGN - 1) / DIO_ALIGN * DIO_ALIGN;
}

uint64_t cp_nchunks(uint64_t size, uint64_t chunk)
{
	chunk = cp_chunk_size(chunk);
	return (size + chunk - 1) / chunk;
}

uint64_t cp_file_digest(const uint64_t *h, uint64_t n)
{
	XXH3_state_t *st = XXH3_createState();
	XXH3_64bits_reset(st);
	for (uint64_t i = 0; i < n; i++) {
		unsigned char le[8];
		for (int b = 0; b < 8; b++)
			le[b] = (unsigned char)(h[i] >> (8 * b));
		XXH3_64bits_update(st, le, sizeof(le));
	}
	uint64_t d = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return d;
}

/* copy_file_range for the whole chunk; 1 done, 0 not possible here, -1 error. */
static int kernel_copy(struct cjob *j, const struct cchunk *c)
{
	loff_t in = (loff_t)c->off, out = (loff_t)c->off;
	uint64_t left = c->len;
	while (left) {
		ssize_t r = copy_file_range(j->src_fd[c->file], &in, j->dst_fd[c->file], &out, (size_t)left, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (left == c->len && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS))
				return 0;
			return -1;
		}
		if (r == 0) {
			errno = EIO; /* source shorter than it was */
			return -1;
		}
		left -= (uint64_t)r;
	}
	return 1;
}

/* A read that ended early: did the source shrink under the copy? Then say
 * so (the message that matters), not "Input/output error". */
static int shrunk(struct cjob *j, const struct cchunk *c, struct cs_err *e)
{
	struct stat st;
	const struct cp_file *f = &j->files[c->file];
	if (fstat(j->src_fd[c->file], &st) < 0 || (uint64_t)st.st_size >= c->off + c->len)
		return 0;
	cs_fail(e, ESTALE, "the source '%s' changed size while it was being copied (%llu bytes when the copy "
		"started, now %llu): stage again once it is stable", f->src, (unsigned long long)f->size,
		(unsigned long long)st.st_size);
	return 1;
}

/* A remote work item (a chunk, or a whole file) on its way to disk: the
 * bytes gather in buf (CP_PIECE) and are written a piece at a time, and
 * hashed chunk by chunk into hashes[]. */
struct csink {
	struct cjob *j;
	const struct cchunk *c;
	unsigned char *buf;
	size_t fill;                /* bytes in buf */
	uint64_t flushed;           /* bytes of the item written (and hashed) */
	XXH3_state_t *st;
	uint64_t *hashes;           /* per chunk of the item */
};

/* len bytes of buf at off of the destination file: with direct, the
 * block-aligned part O_DIRECT (a file system that opens O_DIRECT but
 * refuses the write gets it buffered), the rest through the page cache. */
static int write_at(struct cjob *j, size_t file, const unsigned char *buf, size_t len, uint64_t off, struct cs_err *e)
{
	size_t direct = 0;
	if (j->dio_fd[file] >= 0 && off % DIO_ALIGN == 0) {
		direct = len & ~(size_t)(DIO_ALIGN - 1);
		if (direct && fs_pwrite_full(j->dio_fd[file], buf, direct, (off_t)off)) {
			if (errno != EINVAL)
				return cs_fail_errno(e, errno, "cannot write '%s'", j->files[file].dst);
			direct = 0;
		}
	}
	if (direct < len && fs_pwrite_full(j->dst_fd[file], buf + direct, len - direct, (off_t)(off + direct)))
		return cs_fail_errno(e, errno, "cannot write '%s'", j->files[file].dst);
	return 0;
}

/* Hash n bytes that follow s->flushed into the item's chunk hashes. */
static void sink_hash(struct csink *s, const unsigned char *p, size_t n)
{
	uint64_t cs = s->j->chunk_size, at = s->flushed;
	while (n) {
		uint64_t room = cs - at % cs;
		size_t k = room < n ? (size_t)room : n;
		XXH3_64bits_update(s->st, p, k);
		p += k;
		n -= k;
		at += k;
		if (at % cs == 0 || at == s->c->len) {
			s->hashes[(at - 1) / cs] = XXH3_64bits_digest(s->st);
			XXH3_64bits_reset(s->st);
		}
	}
}

static int sink_flush(struct csink *s, struct cs_err *e)
{
	if (!s->fill)
		return 0;
	struct cjob *j = s->j;
	if (write_at(j, s->c->file, s->buf, s->fill, s->c->off + s->flushed, e))
		return -1;
	if (j->o->hash)
		sink_hash(s, s->buf, s->fill);
	/* Counted as it lands, not when the chunk ends: --jobs auto measures
	 * windows of a few chunks, and 16-64 chunks half done at a window's
	 * edge would swing its rate by half. */
	wp_done(&j->q, s->fill);
	s->flushed += s->fill;
	s->fill = 0;
	return 0;
}

static int sink_put(void *arg, uint64_t pos, const void *data, size_t n, struct cs_err *e)
{
	struct csink *s = arg;
	if (pos == 0 && (s->flushed || s->fill)) { /* the source started the range again */
		pthread_mutex_lock(&s->j->q.mu);
		s->j->q.done -= s->flushed;
		pthread_mutex_unlock(&s->j->q.mu);
		s->flushed = s->fill = 0;
		XXH3_64bits_reset(s->st);
	}
	if (pos != s->flushed + s->fill || pos + n > s->c->len)
		return cs_fail(e, EPROTO, "'%s': the source's bytes came out of order (at %llu of %llu)",
			       s->j->files[s->c->file].src, (unsigned long long)pos, (unsigned long long)s->c->len);
	const unsigned char *p = data;
	while (n) {
		size_t k = CP_PIECE - s->fill < n ? CP_PIECE - s->fill : n;
		memcpy(s->buf + s->fill, p, k);
		s->fill += k;
		p += k;
		n -= k;
		if (s->fill == CP_PIECE && sink_flush(s, e))
			return -1;
	}
	return 0;
}

/* A remote work item read, written and hashed (into hashes: a chunk's
 * hash each). 0, or -1 with e. */
static int remote_item(struct cjob *j, const struct cchunk *c, unsigned char *buf, XXH3_state_t *st,
		       uint64_t *hashes, struct cs_err *e)
{
	struct csink s = { j, c, buf, 0, 0, st, hashes };
	XXH3_64bits_reset(st);
	hashes[0] = 0;
	if (j->o->read(j->o->read_arg, c->file, c->off, (size_t)c->len, sink_put, &s, e) || sink_flush(&s, e))
		return -1;
	if (s.flushed != c->len)
		return cs_fail(e, EPROTO, "'%s': the source gave %llu bytes of the %llu asked for at %llu",
			       j->files[c->file].src, (unsigned long long)s.flushed, (unsigned long long)c->len,
			       (unsigned long long)c->off);
	return 0;
}

/* An item's chunks done: their hashes kept, and queued to be reported
 * durable. */
static void done_item(struct cjob *j, const struct cchunk *c, const uint64_t *hashes, uint64_t nck)
{
	const struct cp_file *f = &j->files[c->file];
	uint64_t idx = c->off / j->chunk_size;
	for (uint64_t k = 0; j->o->hash && f->hash && k < nck; k++)
		f->hash[idx + k] = hashes[k];
	pthread_mutex_lock(&j->q.mu);
	if (!j->o->read)
		j->q.done += c->len; /* a remote item counted its pieces */
	for (uint64_t k = 0; j->o->durable && k < nck; k++) {
		j->pend = xgrow(j->pend, &j->apend, j->npend + 1, sizeof(*j->pend));
		j->pend[j->npend++] = (struct cdone){ c->file, idx + k, j->o->hash ? hashes[k] : 0 };
	}
	pthread_mutex_unlock(&j->q.mu);
}

static void *worker(void *arg)
{
	struct cjob *j = arg;
	/* A remote source streams through a piece-sized buffer; a file is
	 * read a chunk at a time (one large request to a network file system). */
	size_t blen = j->o->read ? CP_PIECE : (size_t)j->chunk_size;
	unsigned char *buf = fs_alloc_aligned(blen);
	XXH3_state_t *st = j->o->read ? XXH3_createState() : NULL;
	if (j->o->read && !st)
		cs_oom("a hash state");
	struct cchunk c;
	struct cs_err e;
	size_t item;
	while (wp_take(&j->q, &item)) {
		c = j->chunks[item];
		const struct cp_file *f = &j->files[c.file];
		uint64_t done_ns = 0;
		if (j->o->bwlimit) {
			/* Read in the chunk's own slot of the link, not in a burst. */
			done_ns = shaper_begin(&j->sh, (size_t)c.len);
			uint64_t slot = (uint64_t)((double)c.len * 1e9 / (double)j->o->bwlimit);
			if (shaper_sleep_until(&j->sh, done_ns > slot ? done_ns - slot : 0)) {
				shaper_end(&j->sh, 0);   /* cancelled before its slot: not copied */
				break;
			}
		}
		int k = 0;
		uint64_t h = 0;
		pthread_mutex_lock(&j->q.mu);
		int kernel_ok = j->kernel_ok[c.file];
		pthread_mutex_unlock(&j->q.mu);
		if (kernel_ok) {
			k = kernel_copy(j, &c);
			if (k < 0) {
				int er = errno;
				if (!shrunk(j, &c, &e))
					cs_fail_errno(&e, er, "cannot copy '%s' to '%s'", f->src, f->dst);
				wp_fail(&j->q, &e);
				break;
			}
			if (k == 0) {
				pthread_mutex_lock(&j->q.mu);
				j->kernel_ok[c.file] = 0;
				pthread_mutex_unlock(&j->q.mu);
			} else {
				pthread_mutex_lock(&j->q.mu);
				j->kernel_used = 1;
				pthread_mutex_unlock(&j->q.mu);
			}
		}
		uint64_t nck = (c.len + j->chunk_size - 1) / j->chunk_size, *hs = &h;
		if (!k && j->o->read) {
			if (nck > 1)
				hs = xcalloc(nck, sizeof(*hs));
			if (remote_item(j, &c, buf, st, hs, &e)) {
				if (hs != &h)
					free(hs);
				wp_fail(&j->q, &e);
				break;
			}
		} else if (!k) {
			/* With direct, aligned reads bypass the page cache too. */
			size_t dlen = j->sdio_fd[c.file] >= 0 ? (size_t)c.len & ~(size_t)(DIO_ALIGN - 1) : 0;
			if ((dlen && fs_pread_full(j->sdio_fd[c.file], buf, dlen, (off_t)c.off)) ||
			    (dlen < c.len &&
			     fs_pread_full(j->src_fd[c.file], buf + dlen, (size_t)c.len - dlen, (off_t)(c.off + dlen)))) {
				int er = errno;
				if (!shrunk(j, &c, &e))
					cs_fail_errno(&e, er, "cannot read '%s'", f->src);
				wp_fail(&j->q, &e);
				break;
			}
			if (j->o->hash)
				h = XXH3_64bits(buf, (size_t)c.len);
			if (write_at(j, c.file, buf, (size_t)c.len, c.off, &e)) {
				wp_fail(&j->q, &e);
				break;
			}
		}
		if (j->o->evict_src && j->src_fd[c.file] >= 0)
			posix_fadvise(j->src_fd[c.file], (off_t)c.off, (off_t)c.len, POSIX_FADV_DONTNEED);
		if (j->o->bwlimit)
			shaper_end(&j->sh, done_ns);
		done_item(j, &c, hs, nck);
		if (hs != &h)
			free(hs);
	}
	free(buf);
	XXH3_freeState(st);
	return NULL;
}

/* Report chunks completed so far as durable: fdatasync their files first.
 * A file whose sync fails keeps its chunks unreported. */
static void commit(struct cjob *j, size_t nfiles)
{
	pthread_mutex_lock(&j->q.mu);
	struct cdone *p = j->pend;
	size_t np = j->npend;
	j->pend = NULL;
	j->npend = j->apend = 0;
	pthread_mutex_unlock(&j->q.mu);
	if (!np)
		return;
	unsigned char *state = xcalloc(nfiles, 1); /* 0 unseen, 1 synced, 2 failed */
	for (size_t i = 0; i < np; i++) {
		size_t f = p[i].file;
		if (!state[f])
			state[f] = fdatasync(j->dst_fd[f]) == 0 ? 1 : 2;
		if (state[f] == 1)
			j->o->durable(f, p[i].idx, p[i].hash, j->o->durable_arg);
	}
	free(state);
	free(p);
}

struct copy_tick {
	struct cjob *j;
	const struct cp_opts *o;
	size_t nfiles;
	uint64_t skipped, total, last_commit;
};

static int copy_tick(void *arg)
{
	struct copy_tick *t = arg;
	struct cjob *j = t->j;
	uint64_t done;
	/* On while any worker runs: once every chunk is handed out, the last
	 * `jobs` of them are still in flight, and their progress and journal
	 * records must not wait for the end (a kill -9 there loses them). */
	wp_progress(&j->q, &done);
	pthread_mutex_lock(&j->q.mu);
	size_t npend = j->npend;
	pthread_mutex_unlock(&j->q.mu);
	if (t->o->progress)
		t->o->progress(t->skipped + done, t->total, t->o->progress_arg);
	if (t->o->durable && (now_ns() - t->last_commit >= 250000000ull || npend >= 32)) {
		commit(j, t->nfiles);
		t->last_commit = now_ns();
	}
	return 0;
}

/* qsort_r: by the fraction of its file a chunk starts at, then by file. */
static int by_place(const void *a, const void *b, void *arg)
{
	const struct cchunk *x = a, *y = b;
	const struct cp_file *files = arg;
	unsigned __int128 l = (unsigned __int128)x->off * files[y->file].size,
			  r = (unsigned __int128)y->off * files[x->file].size;
	if (l != r)
		return l < r ? -1 : 1;
	return x->file < y->file ? -1 : x->file > y->file;
}

int cp_copy(struct cp_file *files, size_t n, const struct cp_opts *o, struct cp_stats *st, struct cs_err *err)
{
	memset(st, 0, sizeof(*st));
	uint64_t t0 = now_ns();
	struct cjob j;
	memset(&j, 0, sizeof(j));
	j.o = o;
	j.files = files;
	j.chunk_size = cp_chunk_size(o->chunk);
	wp_init(&j.q, 0, o->cancel);
	shaper_init(&j.sh, o->bwlimit, 0, 0);
	shaper_set_cancel(&j.sh, o->cancel);   /* a throttled chunk ends at Ctrl-C, not days later */
	j.src_fd = xcalloc(n ? n : 1, sizeof(int));
	j.dst_fd = xcalloc(n ? n : 1, sizeof(int));
	j.dio_fd = xcalloc(n ? n : 1, sizeof(int));
	j.sdio_fd = xcalloc(n ? n : 1, sizeof(int));
	j.kernel_ok = xcalloc(n ? n : 1, sizeof(int));
	for (size_t i = 0; i < n; i++)
		j.src_fd[i] = j.dst_fd[i] = j.dio_fd[i] = j.sdio_fd[i] = -1;
	size_t alloc = 0;
	uint64_t total = 0, skipped = 0;
	int rc = 0;
	uint64_t last_commit = now_ns();
	for (size_t i = 0; i < n && !rc; i++) {
		struct cp_file *f = &files[i];
		struct stat ss, ds;
		memset(&ss, 0, sizeof(ss));
		if (!o->read) {
			j.src_fd[i] = open(f->src, O_RDONLY | O_CLOEXEC);
			if (j.src_fd[i] < 0 || fstat(j.src_fd[i], &ss) < 0) {
				rc = cs_fail_errno(err, errno, "cannot open '%s'", f->src);
				break;
			}
			if (!S_ISREG(ss.st_mode)) {
				rc = cs_fail(err, EINVAL, "'%s' is not a regular file", f->src);
				break;
			}
			f->size = (uint64_t)ss.st_size;
		}
		if (f->skip) {
			uint64_t k = 0, nck = cp_nchunks(f->size, j.chunk_size);
			while (k < nck && f->skip[k])
				k++;
			if (k == nck) { /* nothing to do here: leave the destination alone */
				skipped += f->size;
				total += f->size;
				continue;
			}
		}
		j.dst_fd[i] = open(f->dst, O_WRONLY | O_CREAT | (f->skip ? 0 : O_TRUNC) | O_CLOEXEC, 0644);
		if (j.dst_fd[i] < 0 || fstat(j.dst_fd[i], &ds) < 0) {
			rc = cs_fail_errno(err, errno, "cannot create '%s'", f->dst);
			break;
		}
		if (f->skip && (uint64_t)ds.st_size != f->size) {
			rc = cs_fail(err, EINVAL, "cannot resume '%s': it has %llu bytes, the source %llu", f->dst,
				     (unsigned long long)ds.st_size, (unsigned long long)f->size);
			break;
		}
		if (fs_preallocate(j.dst_fd[i], f->size) || ftruncate(j.dst_fd[i], (off_t)f->size) < 0) {
			rc = cs_fail_errno(err, errno, "cannot allocate %llu bytes for '%s'", (unsigned long long)f->size, f->dst);
			break;
		}
		if (o->direct) {
			j.dio_fd[i] = open(f->dst, O_WRONLY | O_DIRECT | O_CLOEXEC); /* -1 where unsupported: buffered */
			if (!o->read)
				j.sdio_fd[i] = open(f->src, O_RDONLY | O_DIRECT | O_CLOEXEC);
		}
		j.kernel_ok[i] = !o->read && !o->direct && !o->no_kernel_copy && !o->hash && ss.st_dev == ds.st_dev;
		if (o->read && f->whole) {   /* one request for all of it, whatever a skip map says */
			j.chunks = xgrow(j.chunks, &alloc, j.nchunks + 1, sizeof(*j.chunks));
			j.chunks[j.nchunks++] = (struct cchunk){ i, 0, f->size };
			total += f->size;
			continue;
		}
		for (uint64_t off = 0; off < f->size; off += j.chunk_size) {
			uint64_t len = f->size - off < j.chunk_size ? f->size - off : j.chunk_size;
			if (f->skip && f->skip[off / j.chunk_size]) {
				skipped += len;
				continue;
			}
			j.chunks = xgrow(j.chunks, &alloc, j.nchunks + 1, sizeof(*j.chunks));
			j.chunks[j.nchunks++] = (struct cchunk){ i, off, len };
		}
		total += f->size;
	}
	/* A remote source: the files advance together, each chunk in the order
	 * of where it lies in its file, so the writers spread over the files
	 * instead of all queueing on one file's inode lock. */
	if (!rc && o->read && n > 1)
		qsort_r(j.chunks, j.nchunks, sizeof(*j.chunks), by_place, files);
	if (!rc && j.nchunks) {
		struct copy_tick t = { &j, o, n, skipped, total, last_commit };
		j.q.n = j.nchunks;
		rc = wp_run(&j.q, o->jobs, worker, &j, copy_tick, &t, 100000000u, "copy", err);
		if (!rc)
			rc = wp_result(&j.q, err);
		if (o->progress && !rc)
			o->progress(skipped + j.q.done, total, o->progress_arg);
	}
	if (o->durable)
		commit(&j, n);
	for (size_t i = 0; i < n; i++) {
		if (!rc && j.dst_fd[i] >= 0 && fsync(j.dst_fd[i]) < 0)
			rc = cs_fail_errno(err, errno, "cannot flush '%s' to disk", files[i].dst);
		if (j.src_fd[i] >= 0)
			close(j.src_fd[i]);
		if (j.dio_fd[i] >= 0)
			close(j.dio_fd[i]);
		if (j.sdio_fd[i] >= 0)
			close(j.sdio_fd[i]);
		if (j.dst_fd[i] >= 0 && close(j.dst_fd[i]) < 0 && !rc)
			rc = cs_fail_errno(err, errno, "cannot close '%s'", files[i].dst);
	}
	st->bytes = j.q.done;
	st->jobs = (int)wp_jobs(&j.q);
	st->skipped = skipped;
	st->kernel_copy = j.kernel_used;
	st->seconds = (double)(now_ns() - t0) / 1e9;
	free(j.src_fd);
	free(j.dst_fd);
	free(j.dio_fd);
	free(j.sdio_fd);
	free(j.kernel_ok);
	free(j.chunks);
	free(j.pend);
	shaper_destroy(&j.sh);
	wp_destroy(&j.q);
	return rc;
}

/* ---- parallel hashing ---- */

struct hjob {
	const char *const *paths;
	int *fd;
	uint64_t **hashes;
	struct cchunk *chunks;
	size_t nchunks;
	uint64_t chunk_size;
	int cold;
	struct wp_queue q;
};

static void *hworker(void *arg)
{
	struct hjob *j = arg;
	unsigned char *buf = fs_alloc_aligned((size_t)j->chunk_size);
	size_t item;
	while (wp_take(&j->q, &item)) {
		struct cchunk c = j->chunks[item];
		int fd = j->fd[c.file];
		if (fs_pread_full(fd, buf, (size_t)c.len, (off_t)c.off)) {
			struct cs_err e;
			cs_fail_errno(&e, errno ? errno : EIO, "cannot read '%s'", j->paths[c.file]);
			wp_fail(&j->q, &e);
			break;
		}
		j->hashes[c.file][c.off / j->chunk_size] = XXH3_64bits(buf, (size_t)c.len);
		if (j->cold)
			posix_fadvise(fd, (off_t)c.off, (off_t)c.len, POSIX_FADV_DONTNEED);
		wp_done(&j->q, c.len);
	}
	free(buf);
	return NULL;
}

struct hash_tick {
	struct hjob *j;
	cp_progress_fn progress;
	void *arg;
	uint64_t total;
};

static int hash_tick(void *arg)
{
	struct hash_tick *t = arg;
	uint64_t done;
	int over = wp_progress(&t->j->q, &done);
	if (t->progress)
		t->progress(done, t->total, t->arg);
	return over;
}

int cp_hash_files(const char *const *paths, size_t n, const uint64_t *expect, uint64_t *sizes,
		  uint64_t **hashes, uint64_t chunk, int jobs, int cold, volatile sig_atomic_t *cancel,
		  cp_progress_fn progress, void *arg, struct cs_err *err)
{
	struct hjob j;
	memset(&j, 0, sizeof(j));
	j.paths = paths;
	j.hashes = hashes;
	j.chunk_size = cp_chunk_size(chunk);
	j.cold = cold;
	j.fd = xcalloc(n ? n : 1, sizeof(int));
	for (size_t i = 0; i < n; i++)
		j.fd[i] = -1;
	size_t alloc = 0;
	uint64_t total = 0;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		struct stat sb;
		j.fd[i] = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (j.fd[i] < 0 || fstat(j.fd[i], &sb) < 0) {
			rc = cs_fail_errno(err, errno, "cannot open '%s'", paths[i]);
			break;
		}
		uint64_t size = (uint64_t)sb.st_size;
		if (sizes)
			sizes[i] = size;
		if (expect && size != expect[i]) {
			rc = cs_fail(err, EIO, "'%s' has %llu bytes, expected %llu", paths[i],
				     (unsigned long long)size, (unsigned long long)expect[i]);
			break;
		}
		if (cold)
			posix_fadvise(j.fd[i], 0, 0, POSIX_FADV_DONTNEED);
		for (uint64_t off = 0; off < size; off += j.chunk_size) {
			uint64_t len = size - off < j.chunk_size ? size - off : j.chunk_size;
			j.chunks = xgrow(j.chunks, &alloc, j.nchunks + 1, sizeof(*j.chunks));
			j.chunks[j.nchunks++] = (struct cchunk){ i, off, len };
		}
		total += size;
	}
	if (!rc && j.nchunks) {
		struct hash_tick t = { &j, progress, arg, total };
		wp_init(&j.q, j.nchunks, cancel);
		rc = wp_run(&j.q, jobs, hworker, &j, hash_tick, &t, 100000000u, "hashing", err);
		if (!rc)
			rc = wp_result(&j.q, err);
		if (!rc && progress)
			progress(j.q.done, total, arg);
		wp_destroy(&j.q);
	}
	for (size_t i = 0; i < n; i++)
		if (j.fd[i] >= 0)
			close(j.fd[i]);
	free(j.fd);
	free(j.chunks);
	return rc;
}
