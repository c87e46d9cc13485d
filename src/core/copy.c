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

#include "fsutil.h"
#include "shaper.h"
#include "banned.h"

#define DIO_ALIGN 4096u

struct cchunk {
	size_t file;
	uint64_t off, len;
};

struct cjob {
	const struct cp_opts *o;
	struct cp_file *files;
	int *src_fd, *dst_fd, *dio_fd;
	int *kernel_ok;             /* per file: copy_file_range allowed */
	struct cchunk *chunks;
	size_t nchunks, next;
	uint64_t chunk_size, done;
	struct shaper sh;
	pthread_mutex_t mu;
	int failed, kernel_used;
	struct cs_err err;
};

static int take(struct cjob *j, struct cchunk *c)
{
	pthread_mutex_lock(&j->mu);
	int ok = !j->failed && j->next < j->nchunks && !(j->o->cancel && *j->o->cancel);
	if (ok)
		*c = j->chunks[j->next++];
	pthread_mutex_unlock(&j->mu);
	return ok;
}

static void fail(struct cjob *j, const struct cs_err *e)
{
	pthread_mutex_lock(&j->mu);
	if (!j->failed) {
		j->failed = 1;
		j->err = *e;
	}
	pthread_mutex_unlock(&j->mu);
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

static void *worker(void *arg)
{
	struct cjob *j = arg;
	unsigned char *buf = fs_alloc_aligned((size_t)j->chunk_size);
	struct cchunk c;
	struct cs_err e;
	while (take(j, &c)) {
		const struct cp_file *f = &j->files[c.file];
		uint64_t done_ns = j->o->bwlimit ? shaper_begin(&j->sh, (size_t)c.len) : 0;
		int k = 0;
		pthread_mutex_lock(&j->mu);
		int kernel_ok = j->kernel_ok[c.file];
		pthread_mutex_unlock(&j->mu);
		if (kernel_ok) {
			k = kernel_copy(j, &c);
			if (k < 0) {
				cs_fail_errno(&e, errno, "cannot copy '%s' to '%s'", f->src, f->dst);
				fail(j, &e);
				break;
			}
			if (k == 0) {
				pthread_mutex_lock(&j->mu);
				j->kernel_ok[c.file] = 0;
				pthread_mutex_unlock(&j->mu);
			} else {
				pthread_mutex_lock(&j->mu);
				j->kernel_used = 1;
				pthread_mutex_unlock(&j->mu);
			}
		}
		if (!k) {
			if (fs_pread_full(j->src_fd[c.file], buf, (size_t)c.len, (off_t)c.off)) {
				cs_fail_errno(&e, errno, "cannot read '%s'", f->src);
				fail(j, &e);
				break;
			}
			int dfd = j->dst_fd[c.file];
			size_t direct = 0;
			if (j->dio_fd[c.file] >= 0 && c.off % DIO_ALIGN == 0) {
				direct = (size_t)c.len & ~(size_t)(DIO_ALIGN - 1);
				if (direct && fs_pwrite_full(j->dio_fd[c.file], buf, direct, (off_t)c.off)) {
					cs_fail_errno(&e, errno, "cannot write '%s'", f->dst);
					fail(j, &e);
					break;
				}
			}
			if (direct < c.len &&
			    fs_pwrite_full(dfd, buf + direct, (size_t)c.len - direct, (off_t)(c.off + direct))) {
				cs_fail_errno(&e, errno, "cannot write '%s'", f->dst);
				fail(j, &e);
				break;
			}
		}
		if (j->o->evict_src)
			posix_fadvise(j->src_fd[c.file], (off_t)c.off, (off_t)c.len, POSIX_FADV_DONTNEED);
		if (j->o->bwlimit)
			shaper_end(&j->sh, done_ns);
		pthread_mutex_lock(&j->mu);
		j->done += c.len;
		pthread_mutex_unlock(&j->mu);
	}
	free(buf);
	return NULL;
}

int cp_copy(struct cp_file *files, size_t n, const struct cp_opts *o, struct cp_stats *st, struct cs_err *err)
{
	memset(st, 0, sizeof(*st));
	uint64_t t0 = now_ns();
	struct cjob j;
	memset(&j, 0, sizeof(j));
	j.o = o;
	j.files = files;
	j.chunk_size = o->chunk ? o->chunk : (16u << 20);
	j.chunk_size = (j.chunk_size + DIO_ALIGN - 1) / DIO_ALIGN * DIO_ALIGN;
	pthread_mutex_init(&j.mu, NULL);
	shaper_init(&j.sh, o->bwlimit, 0, 0);
	j.src_fd = xcalloc(n ? n : 1, sizeof(int));
	j.dst_fd = xcalloc(n ? n : 1, sizeof(int));
	j.dio_fd = xcalloc(n ? n : 1, sizeof(int));
	j.kernel_ok = xcalloc(n ? n : 1, sizeof(int));
	for (size_t i = 0; i < n; i++)
		j.src_fd[i] = j.dst_fd[i] = j.dio_fd[i] = -1;
	size_t alloc = 0;
	uint64_t total = 0;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		struct cp_file *f = &files[i];
		struct stat ss, ds;
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
		j.dst_fd[i] = open(f->dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (j.dst_fd[i] < 0 || fstat(j.dst_fd[i], &ds) < 0) {
			rc = cs_fail_errno(err, errno, "cannot create '%s'", f->dst);
			break;
		}
		if (fs_preallocate(j.dst_fd[i], f->size) || ftruncate(j.dst_fd[i], (off_t)f->size) < 0) {
			rc = cs_fail_errno(err, errno, "cannot allocate %llu bytes for '%s'", (unsigned long long)f->size, f->dst);
			break;
		}
		if (o->direct)
			j.dio_fd[i] = open(f->dst, O_WRONLY | O_DIRECT | O_CLOEXEC); /* -1 where unsupported: buffered */
		j.kernel_ok[i] = !o->direct && !o->no_kernel_copy && ss.st_dev == ds.st_dev;
		for (uint64_t off = 0; off < f->size; off += j.chunk_size) {
			uint64_t len = f->size - off < j.chunk_size ? f->size - off : j.chunk_size;
			j.chunks = xgrow(j.chunks, &alloc, j.nchunks + 1, sizeof(*j.chunks));
			j.chunks[j.nchunks++] = (struct cchunk){ i, off, len };
		}
		total += f->size;
	}
	if (!rc && j.nchunks) {
		int nt = o->jobs > 0 ? o->jobs : 8;
		if ((size_t)nt > j.nchunks)
			nt = (int)j.nchunks;
		pthread_t *th = xcalloc((size_t)nt, sizeof(pthread_t));
		int started = 0;
		for (; started < nt; started++)
			if (pthread_create(&th[started], NULL, worker, &j))
				break;
		if (!started)
			rc = cs_fail(err, EAGAIN, "cannot start copy threads");
		for (;;) {
			pthread_mutex_lock(&j.mu);
			uint64_t done = j.done;
			int over = j.failed || j.next >= j.nchunks;
			pthread_mutex_unlock(&j.mu);
			if (o->progress)
				o->progress(done, total, o->progress_arg);
			if (over || !started || (o->cancel && *o->cancel))
				break;
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		for (int i = 0; i < started; i++)
			pthread_join(th[i], NULL);
		free(th);
		if (!rc && j.failed)
			rc = cs_fail(err, j.err.code, "%s", j.err.msg);
		if (!rc && o->cancel && *o->cancel)
			rc = cs_fail(err, ECANCELED, "interrupted");
		if (o->progress && !rc)
			o->progress(j.done, total, o->progress_arg);
	}
	for (size_t i = 0; i < n; i++) {
		if (!rc && j.dst_fd[i] >= 0 && fsync(j.dst_fd[i]) < 0)
			rc = cs_fail_errno(err, errno, "cannot flush '%s' to disk", files[i].dst);
		if (j.src_fd[i] >= 0)
			close(j.src_fd[i]);
		if (j.dio_fd[i] >= 0)
			close(j.dio_fd[i]);
		if (j.dst_fd[i] >= 0 && close(j.dst_fd[i]) < 0 && !rc)
			rc = cs_fail_errno(err, errno, "cannot close '%s'", files[i].dst);
	}
	st->bytes = j.done;
	st->kernel_copy = j.kernel_used;
	st->seconds = (double)(now_ns() - t0) / 1e9;
	free(j.src_fd);
	free(j.dst_fd);
	free(j.dio_fd);
	free(j.kernel_ok);
	free(j.chunks);
	shaper_destroy(&j.sh);
	pthread_mutex_destroy(&j.mu);
	return rc;
}
