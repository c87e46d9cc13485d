#define _GNU_SOURCE
#include "pagecache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/model/gguf.h"
#include "core/base/workpool.h"
#include "core/base/banned.h"

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

struct cs_cachestat_range {
	uint64_t off, len;
};

struct cs_cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

static int cachestat_works = -1;   /* unknown until first try */

const char *pc_method_name(enum pc_method m)
{
	return m == PC_CACHESTAT ? "cachestat" : m == PC_MINCORE ? "mincore" : "none";
}

static uint64_t page_size(void)
{
	static uint64_t ps; /* written by whichever thread asks first: same value */
	uint64_t v = __atomic_load_n(&ps, __ATOMIC_RELAXED);
	if (!v) {
		v = (uint64_t)sysconf(_SC_PAGESIZE);
		__atomic_store_n(&ps, v, __ATOMIC_RELAXED);
	}
	return v;
}

static int mincore_resident(int fd, uint64_t off, uint64_t len, uint64_t *bytes)
{
	uint64_t ps = page_size();
	uint64_t start = off / ps * ps, end = off + len;
	uint64_t pages_total = 0;
	const uint64_t window = 1ULL << 30;
	unsigned char *vec = xmalloc(window / ps);
	for (uint64_t w = start; w < end; w += window) {
		uint64_t wl = end - w < window ? end - w : window;
		void *map = mmap(NULL, wl, PROT_READ, MAP_SHARED, fd, (off_t)w);
		if (map == MAP_FAILED) {
			free(vec);
			return -1;
		}
		int r = mincore(map, wl, vec);
		int e = errno;
		munmap(map, wl);
		if (r < 0) {
			free(vec);
			errno = e;
			return -1;
		}
		uint64_t np = (wl + ps - 1) / ps;
		for (uint64_t i = 0; i < np; i++)
			pages_total += vec[i] & 1;
	}
	free(vec);
	*bytes = pages_total * ps;
	return 0;
}

/* May mincore tell the truth about fd? Only for a file the caller may
 * write or owns (kernel >= 5.2); otherwise it reports just the caller's own
 * mappings, which would read as "cold". */
static int mincore_honest(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return 0;
	if (geteuid() == 0 || st.st_uid == geteuid())
		return 1;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_ACCMODE) != O_RDONLY)
		return 1;
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return faccessat(AT_FDCWD, p, W_OK, AT_EACCESS) == 0;
}

int pc_fd_resident(int fd, uint64_t off, uint64_t len, uint64_t *bytes, enum pc_method *method)
{
	*bytes = 0;
	if (!len)
		return 0;
	if (__atomic_load_n(&cachestat_works, __ATOMIC_RELAXED) != 0) {
		struct cs_cachestat_range r = { off, len };
		struct cs_cachestat cs;
		if (syscall(__NR_cachestat, fd, &r, &cs, 0) == 0) {
			__atomic_store_n(&cachestat_works, 1, __ATOMIC_RELAXED);
			uint64_t b = cs.nr_cache * page_size();
			*bytes = b > len ? len : b;
			if (method)
				*method = PC_CACHESTAT;
			return 0;
		}
		if (errno == ENOSYS)
			__atomic_store_n(&cachestat_works, 0, __ATOMIC_RELAXED);
		else if (errno != EOPNOTSUPP && errno != EBADF)
			return -1; /* EPERM: mincore would not tell the truth either */
	}
	if (!mincore_honest(fd)) {
		errno = EPERM;
		return -1;
	}
	if (mincore_resident(fd, off, len, bytes))
		return -1;
	if (*bytes > len)
		*bytes = len;
	if (method)
		*method = PC_MINCORE;
	return 0;
}

static void add_file(struct pc_set *set, size_t *alloc, const char *path, uint64_t size)
{
	set->files = xgrow(set->files, alloc, set->n + 1, sizeof(*set->files));
	set->files[set->n].path = xstrdup(path);
	set->files[set->n].size = size;
	set->files[set->n].resident = 0;
	set->n++;
	set->total += size;
}

int pc_collect(char *const *paths, size_t npaths, struct pc_set *set, struct cs_err *err)
{
	memset(set, 0, sizeof(*set));
	size_t alloc = 0;
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;
		if (stat(paths[i], &st) < 0) {
			int e = errno;
			pc_set_release(set);
			return cs_fail_errno(err, e, "cannot access '%s'", paths[i]);
		}
		char *prefix = NULL;
		int no = 0, count = 0;
		if (S_ISREG(st.st_mode) && gg_split_parse(paths[i], &prefix, &no, &count) && no != 1) {
			free(prefix);
			prefix = NULL;
		}
		if (prefix) {
			/* Part 1 of a split GGUF model: the model is every part. */
			for (int k = 1; k <= count; k++) {
				char *part = gg_split_path(prefix, k, count);
				struct stat pst;
				if (stat(part, &pst) == 0 && S_ISREG(pst.st_mode))
					add_file(set, &alloc, part, (uint64_t)pst.st_size);
				free(part);
			}
			free(prefix);
		} else if (S_ISREG(st.st_mode)) {
			add_file(set, &alloc, paths[i], (uint64_t)st.st_size);
		} else if (S_ISDIR(st.st_mode)) {
			char **files;
			size_t n;
			fs_list_files(paths[i], &files, &n);
			for (size_t k = 0; k < n; k++) {
				char *full = path_join(paths[i], files[k]);
				struct stat fst;
				if (stat(full, &fst) == 0)
					add_file(set, &alloc, full, (uint64_t)fst.st_size);
				free(full);
				free(files[k]);
			}
			free(files);
		} else {
			pc_set_release(set);
			return cs_fail(err, EINVAL, "'%s' is not a regular file or directory", paths[i]);
		}
	}
	return 0;
}

void pc_set_release(struct pc_set *set)
{
	if (!set)
		return;
	FREE_MEMBERS(set->files, set->n, path);
	free(set->order);
	memset(set, 0, sizeof(*set));
}

int pc_residency(struct pc_set *set, struct cs_err *err)
{
	set->resident = 0;
	set->unknown_bytes = 0;
	set->nunknown = 0;
	for (size_t i = 0; i < set->n; i++) {
		struct pc_file *f = &set->files[i];
		int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOATIME);
		if (fd < 0 && errno == EPERM)
			fd = open(f->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cs_fail_errno(err, errno, "cannot open '%s'", f->path);
		struct stat st;
		if (fstat(fd, &st) == 0)
			f->size = (uint64_t)st.st_size;
		int r = pc_fd_resident(fd, 0, f->size, &f->resident, &set->method);
		int e = errno;
		close(fd);
		f->unknown = r < 0 && (e == EPERM || e == EACCES);
		if (f->unknown) {
			f->resident = 0;
			set->unknown_bytes += f->size;
			set->nunknown++;
			continue;
		}
		if (r < 0)
			return cs_fail_errno(err, e, "cannot read the page-cache residency of '%s'", f->path);
		set->resident += f->resident;
	}
	return 0;
}

int pc_evict(struct pc_set *set, struct cs_err *err)
{
	for (size_t i = 0; i < set->n; i++) {
		const char *path = set->files[i].path;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cs_fail_errno(err, errno, "cannot open '%s'", path);
		/* Dirty pages cannot be dropped: write them first. Read-only
		 * file systems answer EROFS/EINVAL, which is fine. */
		if (fdatasync(fd) < 0 && errno != EROFS && errno != EINVAL && errno != EBADF) {
			int e = errno;
			close(fd);
			return cs_fail_errno(err, e, "cannot flush '%s'", path);
		}
		int r = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
		if (r)
			return cs_fail_errno(err, r, "cannot evict '%s' from the page cache", path);
	}
	return 0;
}

int pc_drop_global(struct cs_err *err)
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			return cs_fail(err, errno, "dropping the whole page cache needs root (/proc/sys/vm/drop_caches: %s); use per-file eviction instead",
				       strerror(errno));
		return cs_fail_errno(err, errno, "cannot open '/proc/sys/vm/drop_caches'");
	}
	int r = fs_pwrite_full(fd, "3\n", 2, 0);
	int e = errno;
	close(fd);
	if (r)
		return cs_fail_errno(err, e, "cannot write '/proc/sys/vm/drop_caches'");
	return 0;
}

/* ---- warm ---- */

struct chunk {
	int fd;
	size_t file;
	uint64_t off, len;
};

struct warm {
	struct pc_set *set;
	struct chunk *chunks;
	size_t nchunks;
	uint64_t chunk_size;
	uint64_t todo;          /* bytes to read */
	struct wp_queue q;      /* q.done: bytes read so far */
	pc_progress_fn progress;
	void *arg;
};

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

static int populate_works = -1;   /* unknown until the first try */

/*
 * Bring one chunk into the page cache. Preferred: map it and let the kernel
 * fault it in (MADV_POPULATE_READ, Linux >= 5.14): the data is never copied
 * to user space. Otherwise read it into buf.
 */
static int warm_chunk(int fd, uint64_t off, uint64_t len, unsigned char *buf)
{
	if (__atomic_load_n(&populate_works, __ATOMIC_RELAXED) != 0) {
		void *map = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, (off_t)off);
		if (map != MAP_FAILED) {
			int r = madvise(map, (size_t)len, MADV_POPULATE_READ);
			int e = errno;
			munmap(map, (size_t)len);
			if (r == 0) {
				__atomic_store_n(&populate_works, 1, __ATOMIC_RELAXED);
				return 0;
			}
			if (e != EINVAL && e != ENOSYS) {
				errno = e;
				return -1; /* a real read error (EIO, EFAULT past EOF...) */
			}
			__atomic_store_n(&populate_works, 0, __ATOMIC_RELAXED);
		}
	}
	return fs_pread_full(fd, buf, (size_t)len, (off_t)off);
}

static void *warm_worker(void *arg)
{
	struct warm *w = arg;
	unsigned char *buf = fs_alloc_aligned((size_t)w->chunk_size);
	size_t item;
	while (wp_take(&w->q, &item)) {
		const struct chunk *c = &w->chunks[item];
		if (warm_chunk(c->fd, c->off, c->len, buf) < 0) {
			struct cs_err e;
			cs_fail_errno(&e, errno ? errno : EIO, "cannot read '%s'", w->set->files[c->file].path);
			wp_fail(&w->q, &e);
		}
		wp_done(&w->q, c->len);
	}
	free(buf);
	return NULL;
}

/* Progress while the readers run; over when every byte is in, or stopped. */
static int warm_tick(void *arg)
{
	struct warm *w = arg;
	uint64_t done;
	int over = wp_progress(&w->q, &done);
	if (w->progress)
		w->progress(done, w->todo, w->arg);
	return (over && done >= w->todo) || w->q.failed || cs_cancelled(w->q.cancel);
}

/*
 * The chunks that are no longer wholly resident once the readers are done,
 * read again, once, with plain reads: warm promises the files resident.
 * A machine may reclaim page cache on its own while the warm runs -- the
 * VMs coldstart's CI runs on do, with DAMON's proactive pageout, which
 * sees unmapped cache pages as idle -- and take pages a reader brought in
 * moments before. Returns the bytes read again, or (uint64_t)-1 (err).
 */
static uint64_t rewarm(struct warm *w, struct cs_err *err)
{
	uint64_t again = 0;
	unsigned char *buf = NULL;
	for (size_t i = 0; i < w->nchunks; i++) {
		const struct chunk *c = &w->chunks[i];
		uint64_t res = 0;
		enum pc_method m;
		if (pc_fd_resident(c->fd, c->off, c->len, &res, &m) || res >= c->len)
			continue;
		if (!buf)
			buf = fs_alloc_aligned((size_t)w->chunk_size);
		if (fs_pread_full(c->fd, buf, (size_t)c->len, (off_t)c->off)) {
			cs_fail_errno(err, errno ? errno : EIO, "cannot read '%s'", w->set->files[c->file].path);
			free(buf);
			return (uint64_t)-1;
		}
		again += c->len;
	}
	free(buf);
	return again;
}

static void raise_nofile(size_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want + 64) {
		rl.rlim_cur = rl.rlim_max < want + 64 ? rl.rlim_max : want + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* One span [off, end) of file i, cut in chunks; those wholly resident skipped. */
static void add_span(struct warm *w, size_t *alloc, const int *fds, size_t i, uint64_t off, uint64_t end,
		     struct pc_warm_stats *st)
{
	for (; off < end; off += w->chunk_size) {
		uint64_t len = end - off < w->chunk_size ? end - off : w->chunk_size;
		uint64_t res = 0;
		if (pc_fd_resident(fds[i], off, len, &res, &w->set->method) == 0 && res >= len) {
			st->skipped_bytes += len;
			continue;
		}
		w->chunks = xgrow(w->chunks, alloc, w->nchunks + 1, sizeof(*w->chunks));
		w->chunks[w->nchunks++] = (struct chunk){ fds[i], i, off, len };
		w->todo += len;
	}
}

/* The chunks to read, in order: every file whole, or set->order's ranges
 * widened to pages, those that touch joined into one span. */
static void plan_chunks(struct warm *w, const int *fds, struct pc_warm_stats *st)
{
	const struct pc_set *set = w->set;
	size_t alloc = 0;
	if (!set->order) {
		for (size_t i = 0; i < set->n; i++)
			add_span(w, &alloc, fds, i, 0, set->files[i].size, st);
		return;
	}
	uint64_t ps = page_size(), a = 0, b = 0;
	size_t cur = (size_t)-1;
	for (size_t k = 0; k <= set->norder; k++) {
		const struct pc_range *r = k < set->norder ? &set->order[k] : NULL;
		uint64_t ra = 0, rb = 0;
		if (r) {
			uint64_t size = set->files[r->file].size;
			ra = r->off / ps * ps;
			rb = r->off + r->len > size ? size : r->off + r->len;
			rb = (rb + ps - 1) / ps * ps < size ? (rb + ps - 1) / ps * ps : size;
			if (ra >= rb)
				continue;
			if (r->file == cur && ra >= a && ra <= b) {
				if (rb > b)
					b = rb;
				continue;
			}
		}
		if (cur != (size_t)-1)
			add_span(w, &alloc, fds, cur, a, b, st);
		if (r) {
			cur = r->file;
			a = ra;
			b = rb;
		}
	}
}

int pc_warm(struct pc_set *set, int jobs, uint64_t chunk, pc_progress_fn progress, void *arg,
	    volatile sig_atomic_t *cancel, struct pc_warm_stats *st, struct cs_err *err)
{
	memset(st, 0, sizeof(*st));
	if (!chunk)
		chunk = PC_WARM_CHUNK_DEFAULT;
	chunk = (chunk + page_size() - 1) / page_size() * page_size();
	if (jobs <= 0 && jobs != WP_JOBS_AUTO && jobs != WP_JOBS_AUTO_NET)
		jobs = WP_JOBS_DEFAULT;
	/* Files on a network file system: auto starts with several readers. */
	for (size_t i = 0; jobs == WP_JOBS_AUTO && i < set->n; i++)
		if (fs_is_network(set->files[i].path))
			jobs = WP_JOBS_AUTO_NET;
	uint64_t t0 = now_ns();
	raise_nofile(set->n);
	struct warm w = { .set = set, .chunk_size = chunk, .progress = progress, .arg = arg };
	int *fds = xcalloc(set->n ? set->n : 1, sizeof(int));
	int rc = 0;
	for (size_t i = 0; i < set->n; i++)
		fds[i] = -1;
	for (size_t i = 0; i < set->n && !rc; i++) {
		fds[i] = open(set->files[i].path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			rc = cs_fail_errno(err, errno, "cannot open '%s'", set->files[i].path);
	}
	if (!rc)
		plan_chunks(&w, fds, st);
	if (!rc && w.nchunks) {
		wp_init(&w.q, w.nchunks, cancel);
		rc = wp_run(&w.q, jobs, warm_worker, &w, warm_tick, &w, 50000000u, "reader", err);
		st->read_bytes = w.q.done;
		st->jobs = (int)wp_jobs(&w.q);
		if (!rc)
			rc = wp_result(&w.q, err);
		wp_destroy(&w.q);
		uint64_t again = rc ? 0 : rewarm(&w, err);
		if (again == (uint64_t)-1)
			rc = -1;
		else
			st->reread_bytes = again;
	}
	for (size_t i = 0; i < set->n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(w.chunks);
	st->seconds = (double)(now_ns() - t0) / 1e9;
	return rc;
}

static void prefetch_progress(uint64_t done, uint64_t total, void *arg)
{
	(void)total;
	__atomic_store_n(&((struct pc_prefetch *)arg)->warmed, done, __ATOMIC_RELAXED);
}

static void *prefetch_main(void *arg)
{
	struct pc_prefetch *pf = arg;
	struct cs_err e;
	pf->rc = pc_warm(&pf->set, pf->jobs, 16u << 20, prefetch_progress, pf, &pf->stop, &pf->st, &e);
	__atomic_store_n(&pf->warmed, pf->st.read_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&pf->done_ns, now_ns(), __ATOMIC_RELEASE);   /* read while it runs, too */
	return NULL;
}

int pc_prefetch_start(struct pc_prefetch *pf, struct pc_set *set, int jobs)
{
	memset(pf, 0, sizeof(*pf));
	pf->set = *set;
	memset(set, 0, sizeof(*set));
	pf->jobs = jobs;
	pf->started = pthread_create(&pf->th, NULL, prefetch_main, pf) == 0;
	if (!pf->started) {
		pc_set_release(&pf->set);
		return -1;
	}
	return 0;
}

void pc_prefetch_stop(struct pc_prefetch *pf)
{
	if (!pf->started)
		return;
	__atomic_store_n(&pf->stop, 1, __ATOMIC_RELAXED);
	pthread_join(pf->th, NULL);
	pc_set_release(&pf->set);
	pf->started = 0;
}
