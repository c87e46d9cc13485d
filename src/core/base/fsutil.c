#define _GNU_SOURCE
#include "fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <dirent.h>

#include "banned.h"

void *fs_alloc_aligned(size_t n)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, n ? n : 4096))
		cs_oom("allocating aligned memory");
	return p;
}

int fs_preallocate(int fd, uint64_t len)
{
	if (!len)
		return 0;
	if (fallocate(fd, 0, 0, (off_t)len) == 0)
		return 0;
	if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)
		return 0;
	return -1;
}

/* The whole of len at off, or -1 with errno (ENOSPC for a write that made no
 * progress, EIO for a read past the end). */
static int io_full(int fd, char *p, size_t len, off_t off, int write)
{
	while (len) {
		ssize_t n = write ? pwrite(fd, p, len, off) : pread(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = write ? ENOSPC : EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int fs_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	return io_full(fd, (char *)buf, len, off, 1);
}

int fs_pread_full(int fd, void *buf, size_t len, off_t off)
{
	return io_full(fd, buf, len, off, 0);
}

/* A token that makes a temporary's name unique beside the PID (which
 * another container on the same file system may share). */
static uint32_t temp_token(void)
{
	static uint32_t seq;
	uint32_t r;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	uint64_t x = now_ns() ^ ((uint64_t)__atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ULL);
	return (uint32_t)(x ^ (x >> 32));
}

/* fd and path name the same inode: nobody removed or replaced it. */
static int same_inode(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

int fs_temp_create(const char *dir, const char *prefix, int directory, struct fs_temp *t)
{
	t->path = NULL;
	t->fd = -1;
	for (int attempt = 0; attempt < 64; attempt++) {
		char *p = xasprintf("%s/%s%ld-%08x", dir, prefix, (long)getpid(), temp_token());
		int fd = -1;
		if (directory) {
			if (mkdir(p, 0755) == 0) {
				fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (fd < 0 && errno != ENOENT) {   /* ENOENT: swept already */
					int e = errno;
					rmdir(p);
					errno = e;
					goto fail;
				}
			} else if (errno != EEXIST) {
				goto fail;
			}
		} else {
			fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd < 0 && errno != EEXIST)
				goto fail;
		}
		/* A sweeper may take a temporary between its creation and its
		 * lock (it is then removed): try another name. */
		if (fd >= 0 && (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) && same_inode(fd, p)) {
			t->path = p;
			t->fd = fd;
			return 0;
		}
		if (fd >= 0)
			close(fd);
		free(p);
		continue;
fail:;
		int e = errno;
		free(p);
		errno = e;
		return -1;
	}
	errno = EEXIST;
	return -1;
}

void fs_temp_done(struct fs_temp *t)
{
	if (t->fd >= 0)
		close(t->fd);
	free(t->path);
	t->path = NULL;
	t->fd = -1;
}

/* Q is <digits>-<8 hex digits>: the tail fs_temp_create appends. */
static int temp_tail(const char *q)
{
	size_t d = strspn(q, "0123456789");
	if (!d || q[d] != '-')
		return 0;
	q += d + 1;
	return strspn(q, "0123456789abcdef") == 8 && !q[8];
}

/* NAME is PREFIX<digits>-<8 hex digits>: a temporary of fs_temp_create's. */
static int temp_name(const char *name, const char *prefix)
{
	size_t pl = strlen(prefix);
	return !strncmp(name, prefix, pl) && temp_tail(name + pl);
}

/* NAME is .<anything>.KIND<digits>-<8 hex digits> (KIND ends in '-'). */
static int temp_kind_name(const char *name, const char *kind)
{
	if (name[0] != '.')
		return 0;
	size_t kl = strlen(kind);
	for (const char *q = strstr(name + 1, kind); q; q = strstr(q + 1, kind))
		if (q > name + 1 && q[-1] == '.' && temp_tail(q + kl))
			return 1;
	return 0;
}

/* Opened to take its lock: read-write where it can (NFS gives exclusive
 * flocks only then), never through a symlink. */
static int open_for_lock(const char *p)
{
	int fd = open(p, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno != ELOOP && errno != ENOENT)
		fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	return fd;
}

int fs_temp_abandoned(const char *path)
{
	int fd = open_for_lock(path);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	int rc = flock(fd, LOCK_EX | LOCK_NB) == 0 ? 1 : errno == EWOULDBLOCK ? 0 : -1;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* For each DIR/PREFIX<pid>-<hex> whose lock nobody holds: fn(path, its
 * lstat, b) called while we hold that lock, and only if the name still is
 * the inode we locked. Returns how many fn handled (fn returned 0). */
static int each_abandoned_as(const char *dir, int (*match)(const char *, const char *), const char *prefix,
			     int (*fn)(const char *, const struct stat *, const char *), const char *b)
{
	DIR *d = opendir(dir);
	int done = 0;
	struct dirent *de;
	while ((de = fs_readdir(d))) {
		if (!match(de->d_name, prefix))
			continue;
		char *p = path_join(dir, de->d_name);
		int fd = open_for_lock(p);
		struct stat st;
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && same_inode(fd, p) && lstat(p, &st) == 0 &&
		    fn(p, &st, b) == 0)
			done++;
		if (fd >= 0)
			close(fd);
		free(p);
	}
	if (d)
		closedir(d);
	return done;
}

static int each_abandoned(const char *dir, const char *prefix, int (*fn)(const char *, const struct stat *, const char *),
			  const char *b)
{
	return each_abandoned_as(dir, temp_name, prefix, fn, b);
}

static int remove_temp(const char *p, const struct stat *st, const char *unused)
{
	(void)unused;
	return S_ISDIR(st->st_mode) ? fs_remove_tree(p) : unlink(p);
}

int fs_temp_sweep(const char *dir, const char *prefix)
{
	return each_abandoned(dir, prefix, remove_temp, NULL);
}

int fs_temp_sweep_kind(const char *dir, const char *kind)
{
	return each_abandoned_as(dir, temp_kind_name, kind, remove_temp, NULL);
}

/* DIR/.NAME.KIND- for path DIR/NAME: the prefix of its hidden temporaries. */
static char *hidden_prefix(const char *path, const char *kind)
{
	char *base = fs_basename(path);
	char *prefix = xasprintf(".%s.%s-", base, kind);
	free(base);
	return prefix;
}

int fs_probe_write(const char *path)
{
	char *dir = fs_parent_dir(path), *prefix = hidden_prefix(path, "tmp");
	struct fs_temp t;
	int rc = fs_temp_create(dir, prefix, 0, &t);
	if (!rc) {
		unlink(t.path);
		fs_temp_done(&t);
	}
	int e = errno;
	free(prefix);
	free(dir);
	errno = e;
	return rc;
}

int fs_write_file_sync(const char *path, const void *buf, size_t len, struct cs_err *err)
{
	char *dir = fs_parent_dir(path), *prefix = hidden_prefix(path, "tmp");
	fs_temp_sweep(dir, prefix);
	struct fs_temp t;
	int rc = 0;
	if (fs_temp_create(dir, prefix, 0, &t) < 0) {
		rc = cs_fail_errno(err, errno, "cannot create a temporary file beside '%s'", path);
		goto out;
	}
	if (fs_pwrite_full(t.fd, buf, len, 0))
		rc = cs_fail_errno(err, errno, "cannot write '%s'", t.path);
	else if (fsync(t.fd) < 0)
		rc = cs_fail_errno(err, errno, "cannot flush '%s' to disk", t.path);
	else if (rename(t.path, path) < 0)
		rc = cs_fail_errno(err, errno, "cannot rename '%s' to '%s'", t.path, path);
	if (rc)
		unlink(t.path);
	/* The lock is given up only now that the temporary is gone. */
	if (close(t.fd) < 0 && !rc)
		rc = cs_fail_errno(err, errno, "cannot close '%s'", path);
	t.fd = -1;
	fs_temp_done(&t);
out:
	free(prefix);
	free(dir);
	return rc;
}

int fs_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	/* Some file systems (FUSE without fsync) refuse directory fsync. */
	if (rc < 0 && (errno == EINVAL || errno == EROFS || errno == ENOSYS))
		rc = 0;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int fs_dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int empty = fs_readdir(d) == NULL;
	closedir(d);
	return empty;
}

int fs_is_mountpoint(const char *path)
{
	struct stat a, b;
	char *parent = xasprintf("%s/..", path);
	int r = stat(path, &a) == 0 && stat(parent, &b) == 0 &&
		(a.st_dev != b.st_dev || a.st_ino == b.st_ino);
	free(parent);
	return r;
}

char *fs_parent_dir(const char *path)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	if (n == 0)
		return xstrdup(".");
	while (n > 1 && path[n - 1] == '/')
		n--;
	return xstrndup(path, n);
}

char *fs_basename(const char *path)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	size_t b = n;
	while (b > 0 && path[b - 1] != '/')
		b--;
	return xstrndup(path + b, n - b);
}

/* 1: path is a directory; 0: nothing there; -1: something else (ENOTDIR). */
static int is_dir(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode))
		return 1;
	errno = ENOTDIR;
	return -1;
}

int fs_mkdir_p(const char *path, mode_t mode)
{
	int d = is_dir(path);
	if (d)
		return d > 0 ? 0 : -1;
	char *parent = fs_parent_dir(path);
	int rc = 0;
	if (strcmp(parent, path) && strcmp(parent, ".") && strcmp(parent, "/"))
		rc = fs_mkdir_p(parent, mode);
	free(parent);
	if (rc)
		return -1;
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int fs_mkdir_last(const char *path, mode_t mode)
{
	int d = is_dir(path);
	if (d)
		return d > 0 ? 0 : -1;
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int fs_path_within(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return n && strncmp(dir, path, n) == 0 && (path[n] == '/' || path[n] == 0);
}

char *fs_canonical(const char *path)
{
	char *real = realpath(path, NULL);
	if (real)
		return real;
	char *dir = fs_parent_dir(path), *base = fs_basename(path);
	char *rdir = realpath(dir, NULL);
	char *c = rdir ? path_join(rdir, base) : xstrdup(path);
	free(dir);
	free(base);
	free(rdir);
	return c;
}

int fs_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	char *x = fs_canonical(a), *y = fs_canonical(b);
	int same = !strcmp(x, y);
	free(x);
	free(y);
	return same;
}

uint64_t fs_tree_bytes(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	uint64_t n = (uint64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode))
		return n;
	DIR *d = opendir(path);
	struct dirent *de;
	while ((de = fs_readdir(d))) {
		char *c = path_join(path, de->d_name);
		n += fs_tree_bytes(c);
		free(c);
	}
	if (d)
		closedir(d);
	return n;
}

int fs_free_bytes(const char *path, uint64_t *out)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return -1;
	*out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return 0;
}

/* A side of b whose exchanger is gone: b back when b is missing (killed
 * after the first rename), else removed. */
static int recover_side(const char *p, const struct stat *st, const char *b)
{
	struct stat bs;
	if (lstat(b, &bs) < 0 && errno == ENOENT)
		return rename(p, b);
	return remove_temp(p, st, NULL);
}

int fs_exchange_recover(const char *b)
{
	char *dir = fs_parent_dir(b), *prefix = hidden_prefix(b, "swap");
	int done = each_abandoned(dir, prefix, recover_side, b);
	free(prefix);
	free(dir);
	return done;
}

int fs_exchange(const char *a, const char *b)
{
	fs_exchange_recover(b);
	if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -1;
	/* Two renames through a side name. b's old inode is locked first:
	 * the lock moves with it, so a kill between the renames leaves a
	 * side that fs_exchange_recover can prove abandoned. */
	char *dir = fs_parent_dir(b), *prefix = hidden_prefix(b, "swap");
	char *side = xasprintf("%s/%s%ld-%08x", dir, prefix, (long)getpid(), temp_token());
	free(prefix);
	free(dir);
	int lk = open_for_lock(b);
	if (lk >= 0 && flock(lk, LOCK_EX | LOCK_NB) < 0) {
		close(lk);
		lk = -1;
	}
	int rc = -1;
	if (rename(b, side) == 0) {
		if (rename(a, b) == 0) {
			rc = rename(side, a);
		} else {
			int e = errno;
			if (rename(side, b) < 0) { /* best effort: put it back */ }
			errno = e;
		}
	}
	int e = errno;
	if (lk >= 0)
		close(lk);
	free(side);
	errno = e;
	return rc;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP || type == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0; /* keep going: best effort, the caller checks what stayed */
}

int fs_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
	return lstat(path, &st) == 0 ? -1 : 0;
}

static void walk_files(const char *root, const char *rel, char ***files, size_t *n, size_t *alloc,
		       int depth)
{
	if (depth > 16)
		return;
	char *dirpath = rel ? path_join(root, rel) : xstrdup(root);
	DIR *d = opendir(dirpath);
	if (!d) {
		free(dirpath);
		return;
	}
	struct dirent *de;
	while ((de = fs_readdir(d))) {
		char *r = rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		char *full = path_join(root, r);
		struct stat st;
		if (stat(full, &st) == 0) {
			if (S_ISREG(st.st_mode)) {
				*files = xgrow(*files, alloc, *n + 1, sizeof(char *));
				(*files)[(*n)++] = r;
				r = NULL;
			} else if (S_ISDIR(st.st_mode)) {
				walk_files(root, r, files, n, alloc, depth + 1);
			}
		}
		free(full);
		free(r);
	}
	closedir(d);
	free(dirpath);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void fs_list_files(const char *root, char ***files, size_t *n)
{
	size_t alloc = 0;
	*files = NULL;
	*n = 0;
	walk_files(root, NULL, files, n, &alloc, 0);
	if (*n)
		qsort(*files, *n, sizeof(char *), cmp_cstr);
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void mi_unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

int fs_mount_of(const char *abs, int exact, struct fs_mount *m)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0, best = 0;
	int rc = -1;
	struct fs_mount cur;
	while (getline(&line, &cap, f) > 0) {
		/* id parent major:minor root mountpoint opts... - fstype source superopts */
		char *dash = strstr(line, " - ");
		memset(&cur, 0, sizeof(cur));
		if (!dash || sscanf(line, "%*s %*s %63s %*s %4095s", cur.dev, cur.mountpoint) != 2 ||
		    sscanf(dash + 3, "%255s %1023s", cur.fstype, cur.source) < 1)
			continue;
		mi_unescape(cur.mountpoint);
		mi_unescape(cur.source);
		size_t n = strlen(cur.mountpoint);
		int match = exact ? !strcmp(cur.mountpoint, abs)
				  : !strcmp(cur.mountpoint, "/") ||
					    (!strncmp(abs, cur.mountpoint, n) && (abs[n] == '/' || abs[n] == 0));
		if (match && n >= best) {
			*m = cur;
			best = n;
			rc = 0;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

char *fs_file_value(const char *path, const char *key, char sep)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char line[1024];
	char *out = NULL;
	size_t kl = strlen(key);
	while (!out && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, kl))
			continue;
		char *p = line + kl;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != sep)
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strlen(p);
		while (n && isspace((unsigned char)p[n - 1]))
			p[--n] = 0;
		if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
			p[n - 1] = 0;
			p++;
		}
		out = xstrdup(p);
	}
	fclose(f);
	return out;
}

struct dirent *fs_readdir(DIR *d)
{
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			return de;
	return NULL;
}

int fs_is_network(const char *path)
{
	struct statfs sf;
	if (statfs(path, &sf) < 0)
		return 0;
	switch ((unsigned long)sf.f_type) {
	case 0x6969UL:       /* NFS */
	case 0x65735546UL:   /* FUSE (s3fs, gcsfuse, netsim, ...) */
	case 0xFF534D42UL:   /* CIFS */
	case 0xFE534D42UL:   /* SMB2 */
	case 0x517BUL:       /* SMB */
	case 0x00C36400UL:   /* Ceph */
	case 0x0BD00BD0UL:   /* Lustre */
	case 0x47504653UL:   /* GPFS */
	case 0x013111A8UL:   /* IBRIX */
	case 0x6B414653UL:   /* AFS */
		return 1;
	default:
		return 0;
	}
}
