#ifndef CS_FSUTIL_H
#define CS_FSUTIL_H
/*
 * fsutil: small file-system primitives with full error handling.
 * All functions return 0 on success and -1 with errno set on failure, unless
 * stated otherwise. Strings returned are malloc'd and owned by the caller.
 * Thread-safe (no shared state).
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

/* Page-aligned (4096) allocation suitable for O_DIRECT; dies on OOM. */
void *fs_alloc_aligned(size_t n);
/* Reserve blocks with fallocate; file systems without it are not an error. */
int fs_preallocate(int fd, uint64_t len);
int fs_pwrite_full(int fd, const void *buf, size_t len, off_t off);
int fs_pread_full(int fd, void *buf, size_t len, off_t off);
/* Write the bytes to a temporary beside path (fs_temp_create, prefix
 * ".NAME.tmp-"), fsync, and rename it over path: path holds the old bytes
 * or the new, never part of them. Temporaries of earlier writers of path
 * that were killed are removed first (fs_temp_sweep). Fills err. */
int fs_write_file_sync(const char *path, const void *buf, size_t len, struct cs_err *err);
/* fs_write_file_sync could create its temporary beside path: one is made
 * and removed again (a writer killed meanwhile leaves one that the next
 * write sweeps). 0, or -1 with errno. */
int fs_probe_write(const char *path);

/*
 * Temporaries that a later run can prove abandoned. fs_temp_create makes
 * DIR/PREFIX<pid>-<8 hex digits> exclusively -- a file open for writing
 * (t->fd), or with directory set, a directory (t->fd open on it) -- and
 * holds flock(LOCK_EX) on it until fs_temp_done. The kernel drops that
 * lock when the writer dies, however it dies (kill -9 included) and in
 * whatever PID namespace it ran, so fs_temp_sweep(DIR, PREFIX) removes the
 * temporaries whose lock it can take -- those of dead writers -- and never
 * a live writer's (the PID in the name is for people, not the proof). The
 * lock belongs to the inode: it stays held when the temporary is renamed
 * into place. A file system without flock (fs_temp_create still succeeds)
 * leaves its temporaries to be removed by hand: nothing can prove them
 * abandoned. Returns 0, or -1 with errno.
 */
struct fs_temp {
	char *path;          /* malloc'd; NULL when none */
	int fd;              /* -1 when none */
};
int fs_temp_create(const char *dir, const char *prefix, int directory, struct fs_temp *t);
/* Close the lock (once the temporary was renamed into place or removed)
 * and free the path. Harmless on a zeroed or released struct. */
void fs_temp_done(struct fs_temp *t);
/* A temporary (or a file held the same way) whose holder is gone: 1 when
 * its lock is free or the file no longer exists, 0 while a live process
 * holds it, -1 when it cannot be told (errno). */
int fs_temp_abandoned(const char *path);
/* Remove DIR/PREFIX<pid>-<hex> files and trees whose lock nobody holds.
 * Returns how many were removed (best effort: errors are skipped). */
int fs_temp_sweep(const char *dir, const char *prefix);
/* The same for every hidden temporary of one kind in DIR, whatever file
 * it was for: .<NAME>.KIND<pid>-<hex> (KIND such as "tmp-" or
 * "mkmodel-partial-"), so a writer killed while writing a name no later run
 * writes again (a split set of another size, another directory) leaves
 * nothing behind either. */
int fs_temp_sweep_kind(const char *dir, const char *kind);
/* open(O_RDONLY) + fsync + close: for directories after renames. */
int fs_fsync_path(const char *path);
/* 1 if the directory has no entries besides . and .., 0 if it has, -1 on error. */
int fs_dir_is_empty(const char *path);
/* 1 if path is the root of a mounted file system, else 0. */
int fs_is_mountpoint(const char *path);
/* path lies on a network or FUSE file system (NFS, SMB, Ceph, Lustre, FUSE,
 * ...): 1, else 0 (also when it cannot be told). */
int fs_is_network(const char *path);
char *fs_parent_dir(const char *path);
char *fs_basename(const char *path);
int fs_mkdir_p(const char *path, mode_t mode);
/* Create path only if its parent exists (ENOENT otherwise): for directories
 * named by users, where a typo must not create a tree from '/'. */
int fs_mkdir_last(const char *path, mode_t mode);
/* The absolute, symlink-free form of a path that may not exist yet (its
 * directory resolved, its last component kept unless it resolves too). */
char *fs_canonical(const char *path);
/* 1 if path is dir or lies under it, comparing the strings as given (no
 * resolving: canonicalize both first where links matter); "/" holds every
 * absolute path, "/a" does not hold "/ab". */
int fs_path_within(const char *dir, const char *path);
/* 1 if a and b name the same file: the same inode where both exist, else
 * the same canonical path (directories and symlinks resolved), so an output
 * that does not exist yet is still recognized as an input's name. */
int fs_same_file(const char *a, const char *b);
/* Bytes allocated on disk by path and everything under it (no symlinks
 * followed); 0 if it does not exist. */
uint64_t fs_tree_bytes(const char *path);
/* Bytes available to an unprivileged writer on path's file system. */
int fs_free_bytes(const char *path, uint64_t *out);
/* Atomically swap two paths (renameat2 RENAME_EXCHANGE), falling back to two
 * renames through a side name beside b (.BASE.swap-PID-HEX, b's old inode
 * flocked while it is there) where the file system lacks it. What a
 * fallback killed between its renames left is recovered first. */
int fs_exchange(const char *a, const char *b);
/* Sides of b whose exchanger is gone (their lock free): renamed back to b
 * when b is missing (killed after the first rename), else removed (b
 * holds the new contents; the old ones were to be discarded). Returns
 * how many it handled; call it with whatever lock guards b's writers. */
int fs_exchange_recover(const char *b);
/*
 * Every regular file under root (symlinks followed, as in Hugging Face cache
 * snapshots; at most 16 levels deep), as paths relative to root, sorted.
 * *files is a malloc'd array of malloc'd strings. Unreadable entries are
 * skipped.
 */
void fs_list_files(const char *root, char ***files, size_t *n);
/* The value of the first "KEY<sep>VALUE" line of a text file such as
 * /proc/meminfo or /etc/os-release (blanks around sep and at the end, and
 * surrounding double quotes, dropped): malloc'd, or NULL. */
char *fs_file_value(const char *path, const char *key, char sep);

struct fs_mount {
	char mountpoint[4096];
	char fstype[256];
	char source[1024];
	char dev[64];             /* major:minor, as /sys/class/bdi names it */
};
/*
 * The mount of an absolute path, from /proc/self/mountinfo (escapes such
 * as \040 undone): with exact, the mount whose mount point is abs itself;
 * otherwise the one with the longest mount point that contains abs. Of
 * mounts stacked on one point the last wins. 0, or -1 when there is none.
 * Only mountinfo is read, never the mount itself (a dead FUSE mount fails
 * every access with ENOTCONN).
 */
int fs_mount_of(const char *abs, int exact, struct fs_mount *m);
/* The next entry of d other than "." and "..", or NULL (also for d NULL). */
struct dirent *fs_readdir(DIR *d);
/* rm -rf without following symlinks; best effort, returns -1 if anything stayed. */
int fs_remove_tree(const char *path);

#endif
