#define _GNU_SOURCE
#include "core/io/copy.h"
#include "core/base/fsutil.h"

#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static void make_file(const char *path, size_t size, unsigned seed)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	unsigned char *b = xmalloc(size ? size : 1);
	for (size_t i = 0; i < size; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (unsigned char)(seed >> 16);
	}
	fs_pwrite_full(fd, b, size, 0);
	close(fd);
	free(b);
}

static int same(const char *a, const char *b)
{
	char *cmd = xasprintf("cmp -s '%s' '%s'", a, b);
	int r = system(cmd) == 0;
	free(cmd);
	return r;
}

struct durable_log {
	size_t n;                   /* (read by fake_read's mode 5 from a worker: atomic) */
	uint64_t idx[64], hash[64], byidx[64];
};

static void on_durable(size_t file, uint64_t chunk, uint64_t hash, void *arg)
{
	struct durable_log *l = arg;
	(void)file;
	if (l->n < 64 && chunk < 64) {
		l->idx[l->n] = chunk;
		l->hash[l->n] = hash;
		l->byidx[chunk] = hash;
		__atomic_store_n(&l->n, l->n + 1, __ATOMIC_SEQ_CST);
	}
}

/* A remote source for cp_copy's read: the bytes of local files, handed
 * over in odd pieces; mode 1 restarts one chunk half-way (a retry; mode 4:
 * the first read of file 0, wherever it starts), mode 2 hands bytes out of
 * order, mode 3 stops short, mode 5 holds the read at 0 until the other
 * chunks are reported durable (5 s at most: saw_durable says whether).
 * It counts the reads and the longest. */
struct fake_src {
	const char **paths;
	int mode;
	int restarted;
	int reads;
	size_t longest;
	struct durable_log *log;
	size_t want_durable;
	int saw_durable;
};

static int fake_read(void *arg, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
		     struct cs_err *err)
{
	struct fake_src *fs = arg;
	__atomic_fetch_add(&fs->reads, 1, __ATOMIC_SEQ_CST);
	if (len > __atomic_load_n(&fs->longest, __ATOMIC_SEQ_CST))
		__atomic_store_n(&fs->longest, len, __ATOMIC_SEQ_CST);
	if (fs->mode == 5 && off == 0) {
		for (int i = 0; i < 500 && !fs->saw_durable; i++) {
			fs->saw_durable = __atomic_load_n(&fs->log->n, __ATOMIC_SEQ_CST) >= fs->want_durable;
			if (!fs->saw_durable)
				usleep(10000);
		}
	}
	int fd = open(fs->paths[file], O_RDONLY);
	unsigned char b[7777];
	size_t pos = 0, stop = len;
	if (fs->mode == 3 && off == 0)
		stop = len / 2;
	int rc = 0;
	while (pos < stop && !rc) {
		size_t k = stop - pos < sizeof(b) ? stop - pos : sizeof(b);
		if (fs_pread_full(fd, b, k, (off_t)(off + pos))) {
			rc = cs_fail_errno(err, errno, "cannot read '%s'", fs->paths[file]);
			break;
		}
		uint64_t at = fs->mode == 2 && pos > len / 2 ? pos + 1 : pos;
		rc = sink(sink_arg, at, b, k, err);
		pos += k;
		if ((fs->mode == 1 || fs->mode == 4) && file == 0 && (off > 0 || fs->mode == 4) &&
		    !__atomic_exchange_n(&fs->restarted, 1, __ATOMIC_SEQ_CST) && pos > len / 2)
			pos = 0; /* a retry: the range again from its start */
	}
	close(fd);
	return rc;
}

static void remote_copies(char **src, char **dst, const size_t *sizes)
{
	const char *paths[2] = { src[0], src[1] };
	uint64_t ck = 1536u << 10; /* a chunk and a half of the sink's 1 MiB pieces */
	for (int direct = 0; direct < 2; direct++) {
		struct fake_src fs = { paths, 1, 0, 0, 0, NULL, 0, 0 };
		uint64_t n0 = cp_nchunks(sizes[0], ck);
		uint64_t *h = xcalloc(n0, sizeof(uint64_t));
		struct cp_file f[2] = { { src[0], dst[0], sizes[0], NULL, h, 0 }, { src[1], dst[1], sizes[1], NULL, NULL, 0 } };
		unlink(dst[0]);
		unlink(dst[1]);
		struct cp_opts o = { .jobs = 3, .chunk = ck, .hash = 1, .direct = direct, .read = fake_read, .read_arg = &fs };
		struct cp_stats st;
		struct cs_err e;
		ok(cp_copy(f, 2, &o, &st, &e) == 0 && same(src[0], dst[0]) && same(src[1], dst[1]),
		   "remote source in odd pieces, one chunk restarted half-way%s: exact copies", direct ? ", O_DIRECT" : "");
		ok(fs.restarted, "the restart happened");
		uint64_t *rh = xcalloc(n0, sizeof(uint64_t));
		const char *dp[1] = { dst[0] };
		int eq = cp_hash_files(dp, 1, NULL, NULL, &rh, ck, 2, 0, NULL, NULL, NULL, &e) == 0;
		for (uint64_t i = 0; i < n0; i++)
			eq &= h[i] == rh[i];
		ok(eq, "the streamed chunks' hashes are the read-back hashes (the restart forgot its first half)");
		free(h);
		free(rh);
	}
	struct fake_src bad = { paths, 2, 0, 0, 0, NULL, 0, 0 };
	struct cp_file f1 = { src[0], dst[0], sizes[0], NULL, NULL, 0 };
	struct cp_opts o = { .jobs = 2, .chunk = ck, .read = fake_read, .read_arg = &bad };
	struct cp_stats st;
	struct cs_err e;
	ok(cp_copy(&f1, 1, &o, &st, &e) < 0 && e.code == EPROTO && strstr(e.msg, "out of order"),
	   "bytes out of order are an error (%s)", e.msg);
	bad.mode = 3;

	/* A whole file in one request (a source that cannot tell its versions
	 * apart): one read for it, restarted half-way, and still every chunk
	 * hashed and reported durable on its own; a skip map does not split it. */
	{
		uint64_t n0 = cp_nchunks(sizes[0], ck);
		uint64_t *h = xcalloc(n0, sizeof(uint64_t)), *rh = xcalloc(n0, sizeof(uint64_t));
		unsigned char *skip = xcalloc(n0, 1);
		skip[0] = 1;
		struct fake_src ws = { paths, 4, 0, 0, 0, NULL, 0, 0 };
		struct durable_log log = { 0 };
		struct cp_file fw = { src[0], dst[0], sizes[0], skip, h, 1 };
		struct cp_opts ow = { .jobs = 3, .chunk = ck, .hash = 1, .read = fake_read, .read_arg = &ws,
				      .durable = on_durable, .durable_arg = &log };
		unlink(dst[0]);
		make_file(dst[0], sizes[0], 99);
		ok(cp_copy(&fw, 1, &ow, &st, &e) == 0 && same(src[0], dst[0]), "whole: an exact copy");
		ok(ws.reads == 1 && ws.longest == sizes[0] && ws.restarted, "whole: one read of all of it (restarted half-way)");
		is_int(log.n, n0, "whole: every chunk reported durable");
		const char *dp[1] = { dst[0] };
		int eq = cp_hash_files(dp, 1, NULL, NULL, &rh, ck, 2, 0, NULL, NULL, NULL, &e) == 0;
		for (uint64_t i = 0; i < n0; i++)
			eq &= h[i] == rh[i] && log.byidx[i] == rh[i];
		ok(eq, "whole: each chunk's hash is its read-back hash");
		is_int(st.skipped, 0, "whole: nothing skipped by the skip map");
		free(h);
		free(rh);
		free(skip);
	}

	/* Every chunk handed out at once (as many threads as chunks): the
	 * ones that finish are reported durable while the last still runs. */
	{
		uint64_t n0 = cp_nchunks(sizes[0], ck);
		struct durable_log log = { 0 };
		struct fake_src ts = { paths, 5, 0, 0, 0, &log, (size_t)n0 - 1, 0 };
		struct cp_file ft = { src[0], dst[0], sizes[0], NULL, NULL, 0 };
		struct cp_opts ot = { .jobs = (int)n0, .chunk = ck, .read = fake_read, .read_arg = &ts,
				      .durable = on_durable, .durable_arg = &log };
		ok(cp_copy(&ft, 1, &ot, &st, &e) == 0 && same(src[0], dst[0]), "the tail in flight: an exact copy");
		ok(ts.saw_durable, "the chunks done were reported durable while the last was still being read");
		is_int(log.n, n0, "and every chunk once");
	}
	ok(cp_copy(&f1, 1, &o, &st, &e) < 0 && e.code == EPROTO && strstr(e.msg, "bytes of the"),
	   "a source that stops short is an error (%s)", e.msg);
}

int main(void)
{
	char tmpl[] = "/tmp/cs-test-copy-XXXXXX";
	char *d = mkdtemp(tmpl);
	const char *names[] = { "big", "odd", "empty" };
	size_t sizes[] = { (10u << 20) + 4096, 12345, 0 };
	char *src[3], *dst[3];
	for (int i = 0; i < 3; i++) {
		src[i] = xasprintf("%s/%s", d, names[i]);
		dst[i] = xasprintf("%s/%s.copy", d, names[i]);
		make_file(src[i], sizes[i], (unsigned)i + 1);
	}
	struct cp_file f[3];
	for (int i = 0; i < 3; i++)
		f[i] = (struct cp_file){ src[i], dst[i], 0, NULL, NULL, 0 };
	struct cp_stats st;
	struct cs_err e;

	struct cp_opts o = { .jobs = 3, .chunk = 1u << 20 };
	ok(cp_copy(f, 3, &o, &st, &e) == 0, "copy 3 files, 3 threads, 1 MiB chunks (%s)", st.bytes ? "" : e.msg);
	is_int(st.bytes, sizes[0] + sizes[1], "all bytes counted");
	for (int i = 0; i < 3; i++)
		ok(same(src[i], dst[i]), "%s identical", names[i]);
	is_int(f[0].size, sizes[0], "sizes filled in");

	struct cp_opts od = { .jobs = 4, .chunk = 256u << 10, .direct = 1, .evict_src = 1 };
	for (int i = 0; i < 3; i++)
		unlink(dst[i]);
	ok(cp_copy(f, 3, &od, &st, &e) == 0, "O_DIRECT copy with the tail buffered, source evicted");
	ok(!st.kernel_copy, "no kernel copy with --direct");
	for (int i = 0; i < 3; i++)
		ok(same(src[i], dst[i]), "%s identical (direct)", names[i]);

	struct cp_opts ob = { .jobs = 2, .chunk = 1u << 20, .no_kernel_copy = 1, .bwlimit = 1ULL << 30 };
	ok(cp_copy(f, 2, &ob, &st, &e) == 0 && same(src[0], dst[0]), "read/write path with a bandwidth limit");

	/* A destination that already holds more bytes is truncated to the source. */
	make_file(dst[1], 99999, 7);
	ok(cp_copy(&f[1], 1, &o, &st, &e) == 0 && same(src[1], dst[1]), "longer stale destination replaced exactly");

	struct cp_file missing = { "/nonexistent/file", dst[0], 0, NULL, NULL, 0 };
	ok(cp_copy(&missing, 1, &o, &st, &e) < 0 && strstr(e.msg, "cannot open '/nonexistent/file'"), "missing source named");
	char *nodir = xasprintf("%s/no/such/dir/x", d);
	struct cp_file bad = { src[1], nodir, 0, NULL, NULL, 0 };
	ok(cp_copy(&bad, 1, &o, &st, &e) < 0 && strstr(e.msg, "cannot create"), "uncreatable destination named");
	free(nodir);

	volatile sig_atomic_t cancel = 1;
	struct cp_opts oc = { .jobs = 2, .chunk = 1u << 20, .cancel = &cancel };
	ok(cp_copy(f, 1, &oc, &st, &e) < 0 && e.code == ECANCELED, "cancelled copy reports ECANCELED");

	/* Hashing as read, durable callbacks, and resuming with a skip map. */
	{
		uint64_t ck = 1u << 20, n = cp_nchunks(sizes[0], ck);
		is_int(n, 11, "10 MiB + 4 KiB in 1 MiB chunks: 11 chunks");
		uint64_t *h = xcalloc(n, sizeof(uint64_t));
		struct durable_log log = { 0 };
		struct cp_file fh = { src[0], dst[0], 0, NULL, h, 0 };
		struct cp_opts oh = { .jobs = 3, .chunk = ck, .hash = 1, .durable = on_durable, .durable_arg = &log };
		ok(cp_copy(&fh, 1, &oh, &st, &e) == 0 && same(src[0], dst[0]), "hashing copy");
		ok(!st.kernel_copy, "hashing turns the kernel copy off");
		is_int(log.n, n, "every chunk reported durable once");
		int hashes_match = 1;
		for (size_t i = 0; i < log.n; i++)
			hashes_match &= log.hash[i] == h[log.idx[i]];
		uint64_t *rh = xcalloc(n, sizeof(uint64_t)), sz = 0;
		const char *paths[1] = { dst[0] };
		ok(cp_hash_files(paths, 1, NULL, &sz, &rh, ck, 4, 1, NULL, NULL, NULL, &e) == 0, "hash the copy read back");
		is_int(sz, sizes[0], "size reported");
		int eq = 1;
		for (uint64_t i = 0; i < n; i++)
			eq &= h[i] == rh[i] && h[i] == log.byidx[i];
		ok(eq && hashes_match, "source hashes = read-back hashes = hashes reported durable");
		ok(cp_file_digest(h, n) == cp_file_digest(rh, n) && cp_file_digest(h, n) != cp_file_digest(h, n - 1),
		   "file digest from chunk hashes");
		uint64_t expect = sizes[0] + 1;
		ok(cp_hash_files(paths, 1, &expect, NULL, &rh, ck, 2, 0, NULL, NULL, NULL, &e) < 0 && e.code == EIO,
		   "hash_files refuses a file of the wrong size");

		/* Resume: damage chunks 2 and 7 of the copy, mark all others done. */
		int fd = open(dst[0], O_WRONLY);
		unsigned char junk[4096] = { 0 };
		fs_pwrite_full(fd, junk, sizeof(junk), (off_t)(2 * ck));
		fs_pwrite_full(fd, junk, sizeof(junk), (off_t)(7 * ck));
		close(fd);
		unsigned char *skip = xcalloc(n, 1);
		memset(skip, 1, n);
		skip[2] = skip[7] = 0;
		struct cp_file fr = { src[0], dst[0], 0, skip, NULL, 0 };
		ok(cp_copy(&fr, 1, &o, &st, &e) == 0 && same(src[0], dst[0]), "resume rewrites only the missing chunks");
		is_int(st.bytes, 2 * ck, "two chunks copied");
		is_int(st.skipped, sizes[0] - 2 * ck, "the rest skipped");
		ok(truncate(dst[0], 5) == 0, "shorten the copy");
		ok(cp_copy(&fr, 1, &o, &st, &e) < 0 && strstr(e.msg, "cannot resume"), "resume refuses a destination of the wrong size");
		free(skip);
		free(h);
		free(rh);
	}

	remote_copies(src, dst, sizes);

	for (int i = 0; i < 3; i++) {
		free(src[i]);
		free(dst[i]);
	}
	fs_remove_tree(d);
	return done_testing();
}
