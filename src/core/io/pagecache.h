#ifndef CS_PAGECACHE_H
#define CS_PAGECACHE_H
/*
 * pagecache: residency, eviction and warming of files in the Linux page cache.
 *
 * Residency uses cachestat(2) (Linux >= 6.5: O(1) per range) and falls back
 * to mmap + mincore(2). The kernel shows residency only to a caller who may
 * write the file (or owns it, or is root): cachestat refuses with EPERM and
 * mincore would silently report only the caller's own mappings. Such files
 * are marked `unknown` (never guessed as 0 % resident), which is the normal
 * case for a shared, root-owned model directory read by a user. Eviction is fdatasync +
 * posix_fadvise(DONTNEED) per file (no root needed); pc_drop_global is
 * sync + /proc/sys/vm/drop_caches (root). Warming reads only the chunks
 * that are not fully resident, from several threads at once.
 *
 * Ownership: a pc_set owns its paths; free with pc_set_release. Nothing here
 * prints. pc_warm starts and joins its own threads; the other functions are
 * single-threaded and reentrant.
 */
#include <signal.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "core/base/util.h"

enum pc_method { PC_NONE, PC_CACHESTAT, PC_MINCORE };

struct pc_file {
	char *path;
	uint64_t size;
	uint64_t resident;   /* bytes, from the last pc_residency */
	int unknown;         /* the kernel would not tell (see above) */
};

/* A byte range of set->files[file]: what an ordered warm reads. */
struct pc_range {
	size_t file;
	uint64_t off, len;
};

struct pc_set {
	size_t n;
	struct pc_file *files;
	uint64_t total;      /* sum of sizes */
	uint64_t resident;   /* sum of resident bytes (of the files whose residency is known) */
	uint64_t unknown_bytes; /* sizes of the files whose residency is unknown */
	size_t nunknown;
	enum pc_method method;
	/* NULL: pc_warm reads every file whole, in order. Otherwise it reads
	 * these ranges, in this order, and nothing else (prefetch.h makes
	 * them: the engine's read order, cut at a memory budget). Owned. */
	struct pc_range *order;
	size_t norder;
};

/* Expand files and directories (recursively, following symlinks) into a
 * set of regular files; part 1 of a split GGUF model (NAME-00001-of-0000N.gguf)
 * stands for all its parts. A path that does not exist is an error. */
int pc_collect(char *const *paths, size_t npaths, struct pc_set *set, struct cs_err *err);
void pc_set_release(struct pc_set *set);

/* Fill resident bytes per file and in total; files the kernel will not
 * show (EPERM) are marked unknown, not an error. */
int pc_residency(struct pc_set *set, struct cs_err *err);
/* Residency of one open file of the given size, in bytes; -1 on error
 * (EPERM: the kernel will not show it to this caller). */
int pc_fd_resident(int fd, uint64_t off, uint64_t len, uint64_t *bytes, enum pc_method *method);

/* Flush and drop every file's pages. */
int pc_evict(struct pc_set *set, struct cs_err *err);
/* sync and drop the whole page cache (root only). */
int pc_drop_global(struct cs_err *err);

struct pc_warm_stats {
	uint64_t read_bytes;     /* bytes read from storage (non-resident chunks) */
	uint64_t skipped_bytes;  /* bytes already resident, not read */
	uint64_t reread_bytes;   /* read a second time: not resident after the readers (rare) */
	int jobs;                /* readers used (WP_JOBS_AUTO: the number found) */
	double seconds;
};

typedef void (*pc_progress_fn)(uint64_t done, uint64_t total, void *arg);

/*
 * Read every non-resident chunk of the set (of set->order's ranges, in
 * their order, when there are some: each range widened to whole pages,
 * ranges that touch joined, then cut in chunks), jobs threads at a time,
 * each taking the next chunk in order, so the readers move through the
 * set together, front first; then
 * once more, with plain reads, any chunk a reclaim took back meanwhile
 * (reread_bytes). chunk == 0 means PC_WARM_CHUNK_DEFAULT; jobs 0 means
 * WP_JOBS_DEFAULT, WP_JOBS_AUTO finds the number of readers as it goes. The progress callback runs on the caller's thread
 * about every 50 ms. Cancellation is checked between chunks (ECANCELED).
 */
#define PC_WARM_CHUNK_DEFAULT (4u << 20)
int pc_warm(struct pc_set *set, int jobs, uint64_t chunk, pc_progress_fn progress, void *arg,
	    volatile sig_atomic_t *cancel, struct pc_warm_stats *st, struct cs_err *err);

/*
 * pc_warm on a thread of its own, beside something else (a server starting):
 *   pc_prefetch_start  takes the set (its files found beforehand) and
 *                      starts warming it with jobs readers; 0, or -1 when
 *                      no thread could start (the set is freed then)
 *   pc_prefetch_stop   stops it if it is still going, joins it, frees the
 *                      set; st, rc and done_ns tell what it did
 * While it runs, done_ns and warmed alone may be read, with atomic loads
 * (done_ns 0: still warming; warmed: the bytes read so far, updated about
 * every 50 ms: the prefetch's progress over time).
 */
struct pc_prefetch {
	struct pc_set set;
	int jobs;
	volatile sig_atomic_t stop;
	struct pc_warm_stats st;
	int rc;                  /* pc_warm's */
	uint64_t done_ns;        /* CLOCK_MONOTONIC when it finished (or was stopped) */
	uint64_t warmed;         /* bytes read so far */
	pthread_t th;
	int started;
};
int pc_prefetch_start(struct pc_prefetch *pf, struct pc_set *set, int jobs);
void pc_prefetch_stop(struct pc_prefetch *pf);

const char *pc_method_name(enum pc_method m);

#endif
