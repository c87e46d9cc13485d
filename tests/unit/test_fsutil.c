/* fsutil: temporaries that a later run can prove abandoned, and the atomic
 * file write built on them. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __x86_64__
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/seccomp.h>
#endif

#include "core/base/fsutil.h"
#include "core/base/util.h"
#include "tap.h"

static char dir[] = "/tmp/cs-test-fsutil-XXXXXX";

/* Entries of dir whose name starts with prefix. */
static int count(const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while ((de = fs_readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[256];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* A writer killed (SIGKILL) while its temporary is open: a file with some
 * bytes in it, or a directory with a file inside. */
static void killed_writer(const char *prefix, int directory)
{
	fflush(stdout); /* the child must not flush our TAP lines again (TSan's _exit does) */
	pid_t pid = fork();
	if (pid == 0) {
		struct fs_temp t;
		if (fs_temp_create(dir, prefix, directory, &t) < 0)
			_exit(1);
		if (directory) {
			char *p = xasprintf("%s/half.safetensors", t.path);
			int fd = open(p, O_WRONLY | O_CREAT, 0644);
			if (fd < 0 || write(fd, "half", 4) != 4)
				_exit(1);
		} else if (write(t.fd, "half", 4) != 4) {
			_exit(1);
		}
		raise(SIGKILL);
		_exit(1);
	}
	int st;
	waitpid(pid, &st, 0);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the %s writer was killed with its temporary open",
	   directory ? "directory" : "file");
}

/* fs_temp_sweep run in another process (as a concurrent run would). */
static int sweep_elsewhere(const char *prefix)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(fs_temp_sweep(dir, prefix));
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#ifdef __x86_64__
/* A seccomp filter: renameat2(RENAME_EXCHANGE) fails EINVAL (a file system
 * without it), and the process is killed at the rename(2) whose argument
 * argi is the pointer `at` -- between fs_exchange's fallback renames, as a
 * kill -9 would land there (no cleanup runs). */
static int filter_renames(const char *at, int argi)
{
	uint64_t v = (uint64_t)(uintptr_t)at;
	unsigned lo = offsetof(struct seccomp_data, args) + 8 * (unsigned)argi, hi = lo + 4;
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_renameat2, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args) + 8 * 4),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, RENAME_EXCHANGE, 7, 5),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rename, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, lo),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)v, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, hi),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(v >> 32), 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* fs_exchange(a, b) in a child, through the fallback, killed at the rename
 * that names `at` as argument argi. 1 when it died there. */
static int exchange_killed(const char *a, const char *b, const char *at, int argi)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (filter_renames(at, argi))
			_exit(2);
		fs_exchange(a, b);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}
#endif

/* DIR/NAME/which holds TEXT. */
static void put(const char *d, const char *text)
{
	mkdir(d, 0755);
	char *p = xasprintf("%s/which", d);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	free(p);
}

static const char *which(const char *d)
{
	char *p = xasprintf("%s/which", d);
	const char *w = slurp(p);
	free(p);
	return w ? w : "(none)";
}

/* fs_exchange's fallback killed between its renames: the next exchange
 * of b finds b whole and leaves nothing beside it. */
static void exchange_fallback_killed(void)
{
#ifdef __x86_64__
	char *x = xasprintf("%s/x", dir);
	mkdir(x, 0755);
	char *a = xasprintf("%s/new", x), *b = xasprintf("%s/pub", x), *c = xasprintf("%s/newer", x);
	put(a, "new");
	put(b, "old");
	/* Killed after its first rename: b is only in the side name. */
	ok(exchange_killed(a, b, a, 0), "fallback exchange killed before its second rename");
	ok(access(b, F_OK) != 0 && access(a, F_OK) == 0, "... b is only under a side name now");
	ok(fs_exchange(a, b) == 0, "the next exchange of the same paths succeeds");
	is_str(which(b), "new", "... b holds the new copy");
	is_str(which(a), "old", "... a the old one");
	DIR *d = opendir(x);
	int n = 0;
	while (fs_readdir(d))
		n++;
	closedir(d);
	is_int(n, 2, "... and nothing else is left beside them");
	/* Killed after its second rename: b is new, the old copy in the side name. */
	fs_remove_tree(a);
	put(a, "newest");
	ok(exchange_killed(a, b, a, 1), "fallback exchange killed before its last rename");
	ok(access(a, F_OK) != 0, "... a is gone, the old copy under a side name");
	is_str(which(b), "newest", "... b holds the new copy");
	put(c, "newer");
	ok(fs_exchange(c, b) == 0, "a later exchange of b");
	d = opendir(x);
	n = 0;
	while (fs_readdir(d))
		n++;
	closedir(d);
	is_int(n, 2, "... removed the killed exchange's side copy: only b and the other side are left");
	free(a);
	free(b);
	free(c);
	free(x);
#else
	ok(1, "# skip fs_exchange's fallback is tested on x86-64 only (seccomp filter)");
#endif
}

static void path_within(void)
{
	ok(fs_path_within("/a/b", "/a/b"), "fs_path_within: a directory holds itself");
	ok(fs_path_within("/a/b", "/a/b/c"), "... and what is under it");
	ok(!fs_path_within("/a/b", "/a/bc"), "... not a sibling sharing its prefix");
	ok(!fs_path_within("/a/b", "/a"), "... not its parent");
	ok(fs_path_within("/a/b/", "/a/b/c"), "... a trailing slash changes nothing");
	ok(!fs_path_within("/a/b/", "/a/bc"), "... nor for a sibling");
	ok(fs_path_within("/", "/x/y"), "the root holds every absolute path");
	ok(!fs_path_within("/", "x"), "... not a relative one");
	ok(!fs_path_within("", "/x"), "an empty directory holds nothing");
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;

	path_within();

	/* Abandoned temporaries, file and tree, are removed. */
	killed_writer(".a.tmp-", 0);
	killed_writer(".a.tmp-", 1);
	is_int(count(".a.tmp-"), 2, "both temporaries were left behind");
	DIR *ad = opendir(dir);
	int abandoned = 0;
	for (struct dirent *de; (de = fs_readdir(ad));) {
		char *p = path_join(dir, de->d_name);
		abandoned += !strncmp(de->d_name, ".a.tmp-", 7) && fs_temp_abandoned(p) == 1;
		free(p);
	}
	closedir(ad);
	is_int(abandoned, 2, "fs_temp_abandoned: both are abandoned");
	char *gone = path_join(dir, ".a.tmp-1-00000000");
	is_int(fs_temp_abandoned(gone), 1, "... and so is one that is gone");
	free(gone);
	is_int(fs_temp_sweep(dir, ".a.tmp-"), 2, "the sweep removes both");
	is_int(count(".a.tmp-"), 0, "nothing of them is left");

	/* A live writer's temporary is never removed, by this process or another. */
	struct fs_temp live, livedir;
	ok(fs_temp_create(dir, ".b.tmp-", 0, &live) == 0, "a live file temporary");
	ok(fs_temp_create(dir, ".b.tmp-", 1, &livedir) == 0, "a live directory temporary");
	char *name = fs_basename(live.path);
	char *want = xasprintf(".b.tmp-%ld-", (long)getpid());
	ok(!strncmp(name, want, strlen(want)) && strlen(name) == strlen(want) + 8, "named PREFIX<pid>-<8 hex>: %s", name);
	free(want);
	free(name);
	is_int(fs_temp_abandoned(live.path), 0, "a live writer's temporary is not abandoned");
	is_int(fs_temp_abandoned(livedir.path), 0, "... nor its directory");
	is_int(sweep_elsewhere(".b.tmp-"), 0, "a concurrent sweep removes nothing");
	is_int(fs_temp_sweep(dir, ".b.tmp-"), 0, "nor does one in the same process");
	is_int(count(".b.tmp-"), 2, "both live temporaries are still there");
	/* Renamed into place it keeps its lock; done, the name is ours. */
	char *final = xasprintf("%s/b", dir);
	ok(rename(live.path, final) == 0, "renamed into place");
	fs_temp_done(&live);
	fs_remove_tree(livedir.path);
	fs_temp_done(&livedir);
	is_int(count(".b.tmp-"), 0, "none left once done");
	fs_temp_done(&live);   /* twice: harmless */

	/* Only names of the exact form are touched. */
	const char *others[] = { ".c.tmp-123", ".c.tmp-12x-0000abcd", ".c.tmp-1-0000abc", ".c.tmp-1-0000abcde",
				 ".c.tmp--0000abcd", ".c.tmp-1-0000ABCD" };
	for (size_t i = 0; i < sizeof(others) / sizeof(*others); i++) {
		char *p = xasprintf("%s/%s", dir, others[i]);
		close(open(p, O_WRONLY | O_CREAT, 0644));
		free(p);
	}
	is_int(fs_temp_sweep(dir, ".c.tmp-"), 0, "names not of the form PREFIX<pid>-<8 hex> are left alone");
	is_int(count(".c.tmp-"), 6, "all six still there");

	/* fs_write_file_sync: atomic, and it removes what a killed writer of
	 * the same file left. */
	char *path = xasprintf("%s/out.md", dir);
	killed_writer(".out.md.tmp-", 0);
	is_int(count(".out.md.tmp-"), 1, "a killed writer of out.md left its temporary");
	struct cs_err err;
	ok(fs_write_file_sync(path, "new\n", 4, &err) == 0, "fs_write_file_sync");
	is_str(slurp(path), "new\n", "the new bytes are in place");
	is_int(count(".out.md.tmp-"), 0, "and the killed writer's temporary is gone");
	ok(fs_write_file_sync(path, "newer\n", 6, &err) == 0, "over an existing file");
	is_str(slurp(path), "newer\n", "replaced");
	is_int(count(".out.md"), 0, "no temporary left");
	struct fs_temp other;
	ok(fs_temp_create(dir, ".out.md.tmp-", 0, &other) == 0, "another writer of out.md is at work");
	ok(fs_write_file_sync(path, "x\n", 2, &err) == 0, "a write meanwhile");
	is_int(count(".out.md.tmp-"), 1, "leaves the other writer's temporary alone");
	unlink(other.path);
	fs_temp_done(&other);
	char *nodir = xasprintf("%s/no/such/out.md", dir);
	ok(fs_write_file_sync(nodir, "x", 1, &err) < 0 && err.code == ENOENT, "a missing directory: ENOENT");
	ok(strstr(err.msg, nodir) != NULL, "the message names the file: %s", err.msg);
	free(nodir);

	/* fs_probe_write: the temporary made and removed, nothing else. */
	ok(fs_probe_write(path) == 0, "fs_probe_write beside out.md");
	is_int(count(".out.md.tmp-"), 0, "leaves no temporary");
	char *probe_missing = xasprintf("%s/no/such/ready", dir);
	ok(fs_probe_write(probe_missing) < 0 && errno == ENOENT, "a missing directory: ENOENT");
	free(probe_missing);
	free(path);
	free(final);

	exchange_fallback_killed();

	fs_remove_tree(dir);
	return done_testing();
}
