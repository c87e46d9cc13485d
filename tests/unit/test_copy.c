#define _GNU_SOURCE
#include "core/copy.h"
#include "core/fsutil.h"

#include <errno.h>
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
		f[i] = (struct cp_file){ src[i], dst[i], 0 };
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

	struct cp_file missing = { "/nonexistent/file", dst[0], 0 };
	ok(cp_copy(&missing, 1, &o, &st, &e) < 0 && strstr(e.msg, "cannot open '/nonexistent/file'"), "missing source named");
	char *nodir = xasprintf("%s/no/such/dir/x", d);
	struct cp_file bad = { src[1], nodir, 0 };
	ok(cp_copy(&bad, 1, &o, &st, &e) < 0 && strstr(e.msg, "cannot create"), "uncreatable destination named");
	free(nodir);

	volatile sig_atomic_t cancel = 1;
	struct cp_opts oc = { .jobs = 2, .chunk = 1u << 20, .cancel = &cancel };
	ok(cp_copy(f, 1, &oc, &st, &e) < 0 && e.code == ECANCELED, "cancelled copy reports ECANCELED");

	for (int i = 0; i < 3; i++) {
		free(src[i]);
		free(dst[i]);
	}
	fs_remove_tree(d);
	return done_testing();
}
