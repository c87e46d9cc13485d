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
 * a remote source (read) streams each chunk through a 1 MiB buffer;
 * otherwise chunks are read into large aligned buffers and written, with
 * O_DIRECT when `direct` (the tail of a file that is not block-aligned goes
 * through the page cache). `bwlimit` (bytes/s) spares a shared network path;
 * `evict_src` drops each source chunk from the page cache once copied.
 * Destinations are fsynced before cp_copy returns success.
 *
 * Resume: a file with a `skip` map keeps its destination (no truncation) and
 * copies only the chunks whose flag is zero. With `hash`, every chunk's
 * source bytes are hashed (XXH3-64) as they are read (this turns the kernel
 * copy off: the bytes must pass through memory). `durable` is called from
 * the caller's thread for each chunk once its bytes are on disk (the
 * destination was fdatasync'ed after the chunk completed), four times a
 * second (or every 32 chunks) and at the end, also after a failure or a
 * cancel, so a journal written from it never claims a chunk that a power
 * cut could lose. With `bwlimit`, each chunk is read in its own slot of
 * the link, so reads are paced, not burst.
 *
 * Thread safety: cp_copy starts and joins its own threads; progress is
 * called from the caller's thread. Nothing prints.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/util.h"

/* The copy unit when none is asked for (stage --chunk). */
#define CP_CHUNK_DEFAULT (16u << 20)

struct cp_file {
	const char *src;
	const char *dst;
	uint64_t size;              /* filled by cp_copy from the source */
	const unsigned char *skip;  /* optional, per chunk: nonzero = already there */
	uint64_t *hash;             /* optional out, per chunk (with opts.hash) */
	int whole;                  /* a remote source: read the file in one request (one
				     * response, one version: a source that cannot tell its
				     * versions apart); its chunks are still hashed and
				     * reported durable one by one, and a skip map is all
				     * or nothing */
};

typedef void (*cp_durable_fn)(size_t file, uint64_t chunk, uint64_t hash, void *arg);
/* A source that is not a local file (HTTP, object storage): len bytes of
 * file at off, handed to sink(sink_arg, ...) as they arrive, from any
 * thread; -1 with err on failure. cp_copy's sink writes them through a
 * small buffer that stays in the CPU's cache (hashed on the way), so the
 * bytes cross memory once, not three times as through a chunk-sized
 * buffer. With it, files[i].size is the caller's and files[i].src only
 * names the file in messages; no kernel copy, no source eviction. */
typedef int (*cp_read_fn)(void *arg, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
			  struct cs_err *err);

typedef void (*cp_progress_fn)(uint64_t done, uint64_t total, void *arg);

struct cp_opts {
	int jobs;                   /* default 8; WP_JOBS_AUTO: found as it goes */
	uint64_t chunk;             /* default 16 MiB */
	int direct;                 /* O_DIRECT writes, no copy_file_range */
	int no_kernel_copy;         /* never use copy_file_range */
	uint64_t bwlimit;           /* bytes/s over all threads, 0 = none */
	int evict_src;
	int hash;                   /* hash source chunks into files[i].hash */
	cp_read_fn read;            /* a remote source (NULL: files[i].src is a path) */
	void *read_arg;
	cp_durable_fn durable;
	void *durable_arg;
	volatile sig_atomic_t *cancel;
	cp_progress_fn progress;
	void *progress_arg;
};

struct cp_stats {
	uint64_t bytes;             /* copied by this call */
	uint64_t skipped;           /* already there (skip maps) */
	double seconds;
	int kernel_copy;            /* copy_file_range did (some of) the work */
	int jobs;                   /* the concurrency used (--jobs auto: found) */
};

/* The chunk size cp_copy uses for a requested one (0 = default), and the
 * number of chunks of a file of `size` bytes. */
uint64_t cp_chunk_size(uint64_t requested);
uint64_t cp_nchunks(uint64_t size, uint64_t chunk);

int cp_copy(struct cp_file *files, size_t n, const struct cp_opts *o, struct cp_stats *st, struct cs_err *err);

/*
 * Hash files in parallel (all chunks of all files over `jobs` threads):
 * hashes[i] (caller-allocated, cp_nchunks(size) entries) receives each
 * chunk's XXH3-64. With `cold`, each file's cached pages are dropped first
 * and after reading, so the bytes come from the device. sizes[i] receives
 * the file's size; a file whose size is not expect[i] (when expect is
 * given) fails with EIO before anything is read.
 */
int cp_hash_files(const char *const *paths, size_t n, const uint64_t *expect, uint64_t *sizes,
		  uint64_t **hashes, uint64_t chunk, int jobs, int cold, volatile sig_atomic_t *cancel,
		  cp_progress_fn progress, void *arg, struct cs_err *err);

/* A file's digest from its chunk hashes (XXH3-64 over them, little endian). */
uint64_t cp_file_digest(const uint64_t *chunk_hashes, uint64_t n);

#endif
