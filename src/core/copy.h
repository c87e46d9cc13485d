#ifndef CS_COPY_H
#define CS_COPY_H
/*
 * copy: the parallel chunked copy engine behind `stage`.
 *
 * Every file is cut into chunks and all chunks of all files are spread over
 * `jobs` threads, so one 5 GB shard keeps every thread busy. Destinations
 * are created (truncated) and preallocated to their final size first, so a
 * full disk fails before any data is written. Within one file system the
 * kernel copies (copy_file_range: reflink where the file system has it);
 * otherwise chunks are read into large aligned buffers and written, with
 * O_DIRECT when `direct` (the tail of a file that is not block-aligned goes
 * through the page cache). `bwlimit` (bytes/s) spares a shared network path;
 * `evict_src` drops each source chunk from the page cache once copied.
 * Destinations are fsynced before cp_copy returns success.
 *
 * Thread safety: cp_copy starts and joins its own threads; progress is
 * called from the caller's thread. Nothing prints.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct cp_file {
	const char *src;
	const char *dst;
	uint64_t size;              /* filled by cp_copy from the source */
};

typedef void (*cp_progress_fn)(uint64_t done, uint64_t total, void *arg);

struct cp_opts {
	int jobs;                   /* default 8 */
	uint64_t chunk;             /* default 16 MiB */
	int direct;                 /* O_DIRECT writes, no copy_file_range */
	int no_kernel_copy;         /* never use copy_file_range */
	uint64_t bwlimit;           /* bytes/s over all threads, 0 = none */
	int evict_src;
	volatile sig_atomic_t *cancel;
	cp_progress_fn progress;
	void *progress_arg;
};

struct cp_stats {
	uint64_t bytes;
	double seconds;
	int kernel_copy;            /* copy_file_range did (some of) the work */
};

int cp_copy(struct cp_file *files, size_t n, const struct cp_opts *o, struct cp_stats *st, struct cs_err *err);

#endif
