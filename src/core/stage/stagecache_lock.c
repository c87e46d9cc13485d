/* stagecache: locks (flock on the local side, checked to still name their
 * inode), the root's layout, notices. */
#define _GNU_SOURCE
#include "stagecache_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/model/safetensors.h"
#include "core/base/banned.h"

/* ---- locks ---- */

char *sci_sub(const char *root, const char *a, const char *b)
{
	return xasprintf("%s/%s%s", root, a, b ? b : "");
}

/* flock with a bound: 0 taken, 1 it had to wait, -1 error (ETIMEDOUT, ECANCELED). */
int sci_lock_wait(int fd, int op, uint64_t timeout_ns, volatile sig_atomic_t *cancel, void (*first)(void *),
		     void *arg)
{
	if (flock(fd, op | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return -1;
	if (first)
		first(arg);
	uint64_t t0 = now_ns();
	for (;;) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (flock(fd, op | LOCK_NB) == 0)
			return 1;
		if (errno != EWOULDBLOCK)
			return -1;
		if (cs_cancelled(cancel)) {
			errno = ECANCELED;
			return -1;
		}
		if (now_ns() - t0 > timeout_ns) {
			errno = ETIMEDOUT;
			return -1;
		}
	}
}

long sci_lock_holder(int fd)
{
	char buf[32] = { 0 };
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	/* "PID\n" as sci_lock_claim writes it, a PID that fits pid_t; else none */
	if (n < 2 || buf[n - 1] != '\n')
		return 0;
	buf[n - 1] = 0;
	return parse_int_range(buf, 1, INT_MAX, &pid) ? 0 : pid;
}

void sci_lock_claim(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) < 0) {
		/* the pid is only for messages */
	}
}

/*
 * Take ROOT/.locks/NAME.KIND (LOCK_SH or LOCK_EX), keeping it only while the
 * path still names the inode locked: removing a model unlinks its lock files
 * while holding them exclusively, and a lock on an unlinked inode protects
 * nothing. timeout_ns 0 means one try (busy: -1 with errno EWOULDBLOCK).
 * Users who may not write the lock directory still get shared locks on
 * existing lock files (flock needs only a read-only descriptor). Returns the
 * fd, or -1 with errno set (ETIMEDOUT, ECANCELED, or the open's error).
 */
int sci_lock_take(const char *root, const char *name, const char *kind, int op, uint64_t timeout_ns,
		     volatile sig_atomic_t *cancel, void (*first)(void *), void *arg, int *waited)
{
	char *p = xasprintf("%s/.locks/%s.%s", root, name, kind);
	int e = EAGAIN;
	if (waited)
		*waited = 0;
	for (int tries = 0; tries < 100; tries++) {
		int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 && (errno == EACCES || errno == EROFS))
			fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			e = errno;
			break;
		}
		int w = timeout_ns ? sci_lock_wait(fd, op, timeout_ns, cancel, first, arg)
				   : flock(fd, op | LOCK_NB) == 0 ? 0 : -1;
		if (w < 0) {
			e = errno;
			close(fd);
			break;
		}
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(p, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
			if (waited)
				*waited |= w == 1;
			free(p);
			return fd;
		}
		close(fd); /* removed under us: take the new one */
		if (waited)
			*waited |= w == 1;
		first = NULL;
	}
	free(p);
	errno = e;
	return -1;
}

/* Unlink NAME's lock files; the caller holds them exclusively. */
void sci_lock_files_remove(const char *root, const char *name)
{
	const char *kinds[] = { "use", "stage" };
	for (size_t i = 0; i < 2; i++) {
		char *p = xasprintf("%s/.locks/%s.%s", root, name, kinds[i]);
		unlink(p);
		free(p);
	}
}

int sci_is_busy(const char *root, const char *name, const char *kind)
{
	char *p = xasprintf("%s/.locks/%s.%s", root, name, kind);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return 0;
	int b = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return b;
}

int sci_root_prepare(const char *root, struct cs_err *err)
{
	/* The root itself only where its parent exists: a typo in --root must
	 * not grow a tree of directories from '/'. */
	if (fs_mkdir_last(root, 0755) < 0)
		return cs_fail_errno(err, errno, "cannot create staging root '%s'%s", root,
				     errno == ENOENT ? " (its parent directory does not exist)" : "");
	const char *subs[] = { "/.locks", "/.partial", "/.trash" };
	for (size_t i = 0; i < sizeof(subs) / sizeof(*subs); i++) {
		char *p = xasprintf("%s%s", root, subs[i]);
		int rc = mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
		if (rc < 0)
			cs_fail_errno(err, errno, "cannot create staging directory '%s'", p);
		free(p);
		if (rc < 0)
			return -1;
	}
	return 0;
}
