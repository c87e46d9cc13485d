/* stagecache: what the cache holds, least recently used first; making room. */
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

static int cmp_lru(const void *a, const void *b)
{
	const struct pubent *x = a, *y = b;
	if (x->last_used != y->last_used)
		return x->last_used < y->last_used ? -1 : 1;
	return strcmp(x->name, y->name);
}

void sci_published(const char *root, struct pubent **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	size_t alloc = 0;
	DIR *d = opendir(root);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *dir = path_join(root, de->d_name);
		struct manifest m;
		if (sci_manifest_load(dir, &m) == 0) {
			*out = xgrow(*out, &alloc, *n + 1, sizeof(**out));
			(*out)[(*n)++] = (struct pubent){ xstrdup(de->d_name), m.bytes, m.last_used_ns, m };
		}
		free(dir);
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_lru);
}

void sci_pubents_free(struct pubent *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		sci_manifest_release(&p[i].m);
	}
	free(p);
}

/* Take NAME out of the cache if nobody uses or stages it: 1 removed, 0 busy. */
int sci_evict_one(const char *root, const char *name, int with_partial, struct cs_err *err)
{
	int ufd = sci_lock_take(root, name, "use", LOCK_EX, 0, NULL, NULL, NULL, NULL);
	if (ufd < 0)
		return errno == EWOULDBLOCK ? 0 : cs_fail_errno(err, errno, "cannot lock '%s' in '%s'", name, root);
	int sfd = sci_lock_take(root, name, "stage", LOCK_EX, 0, NULL, NULL, NULL, NULL);
	if (sfd < 0) {
		int e = errno;
		close(ufd);
		return e == EWOULDBLOCK ? 0 : cs_fail_errno(err, e, "cannot lock '%s' in '%s'", name, root);
	}
	char *pub = path_join(root, name);
	char *part = xasprintf("%s/.partial/%s", root, name);
	char *jp = xasprintf("%s.journal", part);
	char *trash = xasprintf("%s/.trash/%s.%ld.%llu", root, name, (long)getpid(), (unsigned long long)now_ns());
	struct stat sb;
	int rc = 1, moved = 0;
	if (lstat(pub, &sb) == 0) {
		if (rename(pub, trash) < 0)
			rc = cs_fail_errno(err, errno, "cannot remove '%s'", pub);
		else
			moved = 1;
		fs_fsync_path(root);
	}
	if (rc == 1 && with_partial) {
		unlink(jp);
		if (fs_remove_tree(part) < 0)
			rc = cs_fail_errno(err, errno, "cannot remove '%s'", part);
	}
	/* Nothing of NAME left: its lock files go too (still held here). */
	if (rc == 1 && lstat(pub, &sb) < 0 && lstat(part, &sb) < 0 && lstat(jp, &sb) < 0)
		sci_lock_files_remove(root, name);
	close(ufd);
	close(sfd);
	if (moved)
		fs_remove_tree(trash);
	free(pub);
	free(part);
	free(jp);
	free(trash);
	return rc;
}

static uint64_t allocated(const char *path, uint64_t size)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		return 0;
	uint64_t a = (uint64_t)sb.st_blocks * 512;
	return a < size ? a : size;
}

int sci_evict_enough(const uint64_t *bytes, const int *busy, size_t n, uint64_t used, uint64_t free_b,
		     uint64_t need, uint64_t cap, uint64_t *busy_bytes)
{
	uint64_t b = 0;
	for (size_t i = 0; i < n; i++) {
		if ((!cap || used <= cap) && free_b >= need)
			break;
		if (busy[i]) {
			b += bytes[i];
			continue;
		}
		used -= bytes[i] < used ? bytes[i] : used;
		free_b += bytes[i];
	}
	*busy_bytes = b;
	return (!cap || used <= cap) && free_b >= need;
}

/* What the cache holds besides NAME: published models and partial copies
 * (at their full size), plus the plan itself. */
static uint64_t cache_used(const struct sc_opts *o, const struct splan *p, const struct pubent *pe, size_t npe)
{
	uint64_t used = p->total;
	for (size_t i = 0; i < npe; i++)
		if (strcmp(pe[i].name, o->name))
			used += pe[i].bytes;
	char *pdir = sci_sub(o->root, ".partial", NULL);
	DIR *d = opendir(pdir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !sci_has_suffix(de->d_name, ".journal"))
			continue;
		char *nm = xstrndup(de->d_name, strlen(de->d_name) - strlen(".journal"));
		if (strcmp(nm, o->name))
			used += sci_partial_total(o->root, nm);
		free(nm);
	}
	if (d)
		closedir(d);
	free(pdir);
	return used;
}

/* Evict least recently used models nobody uses until the plan fits. */
static int evict_lru(const struct sc_opts *o, const struct pubent *pe, size_t npe, uint64_t need, uint64_t *used,
		     uint64_t *free_b, uint64_t *busy, struct sc_result *r, struct cs_err *err)
{
	size_t alloc = 0;
	for (size_t i = 0; i < npe; i++) {
		if ((!o->max_cache || *used <= o->max_cache) && *free_b >= need + RESERVE_BYTES)
			break;
		if (!strcmp(pe[i].name, o->name))
			continue;
		int ev = sci_evict_one(o->root, pe[i].name, 0, err);
		if (ev < 0)
			return -1;
		if (ev == 0) {
			*busy += pe[i].bytes;
			continue;
		}
		char b[32];
		sci_notify(o, "evicted '%s' (%s, least recently used) to make room", pe[i].name,
			   fmt_bytes(b, sizeof(b), pe[i].bytes));
		r->evicted = xgrow(r->evicted, &alloc, r->nevicted + 1, sizeof(char *));
		r->evicted[r->nevicted++] = xstrdup(pe[i].name);
		*used -= pe[i].bytes;
		fs_free_bytes(o->root, free_b);
	}
	return 0;
}

/* Create and preallocate one destination, so the space is ours. */
static int allocate_file(const char *part, struct sfile *f, struct cs_err *err)
{
	char *dst = path_join(part, f->rel);
	char *dir = fs_parent_dir(dst);
	int rc = 0;
	if (fs_mkdir_p(dir, 0755) < 0)
		rc = cs_fail_errno(err, errno, "cannot create '%s'", dir);
	int whole = 1;
	for (uint64_t k = 0; k < f->nchunks; k++)
		whole &= f->done[k] != 0;
	struct stat sb;
	int have = !rc && lstat(dst, &sb) == 0;
	if (have && whole && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == f->size) {
		/* Whole (linked from the published copy, or resumed complete): left
		 * alone, not even opened -- a link has the published copy's mode,
		 * which need not let us write (a source's 0444 files). */
		free(dir);
		free(dst);
		return 0;
	}
	/* A link into a published copy: never write through it. */
	if (have && sb.st_nlink > 1 && !whole && unlink(dst) < 0)
		rc = cs_fail_errno(err, errno, "cannot recreate '%s'", dst);
	int fd = rc ? -1 : open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (!rc && (fd < 0 || fstat(fd, &sb) < 0))
		rc = cs_fail_errno(err, errno, "cannot create '%s'", dst);
	if (!rc && (uint64_t)sb.st_size != f->size) {
		/* Not what the journal expects: copy this file from scratch. */
		memset(f->done, 0, f->nchunks ? f->nchunks : 1);
		whole = 0;
		if (ftruncate(fd, 0) < 0)
			rc = cs_fail_errno(err, errno, "cannot truncate '%s'", dst);
	}
	/* A file already whole (linked, or resumed complete) is left alone:
	 * even a same-size ftruncate would set the mtime of an inode the
	 * published copy shares. */
	char a[32];
	if (!rc && !whole && (fs_preallocate(fd, f->size) || ftruncate(fd, (off_t)f->size) < 0))
		rc = cs_fail_errno(err, errno, "cannot allocate %s for '%s'", fmt_bytes(a, sizeof(a), f->size), dst);
	if (fd >= 0)
		close(fd);
	free(dir);
	free(dst);
	return rc;
}

/*
 * Under the cache lock: make room for the plan (free space and max_cache),
 * evicting least recently used models that nobody uses -- only when that
 * is enough (a dry run first) -- then create and preallocate every
 * destination file, so that two stagers never both count the same space.
 */
int sci_make_room(const struct sc_opts *o, const struct splan *p, const char *part, struct sc_result *r,
		  struct cs_err *err)
{
	char a[32], b[32], c[32];
	uint64_t need = 0;
	for (size_t i = 0; i < p->n; i++) {
		char *dst = path_join(part, p->f[i].rel);
		need += p->f[i].size - allocated(dst, p->f[i].size);
		free(dst);
	}
	if (o->max_cache && p->total > o->max_cache)
		return cs_fail(err, ENOSPC, "'%s' needs %s, more than --max-cache %s", o->name,
			       fmt_bytes(a, sizeof(a), p->total), fmt_bytes(b, sizeof(b), o->max_cache));
	uint64_t free_b = 0;
	if (fs_free_bytes(o->root, &free_b) < 0)
		return cs_fail_errno(err, errno, "cannot read free space of '%s'", o->root);
	struct pubent *pe;
	size_t npe;
	sci_published(o->root, &pe, &npe);
	uint64_t used = cache_used(o, p, pe, npe), busy = 0;
	uint64_t *sizes = xcalloc(npe + 1, sizeof(uint64_t));
	int *held = xcalloc(npe + 1, sizeof(int));
	for (size_t i = 0; i < npe; i++) {
		int self = !strcmp(pe[i].name, o->name); /* being replaced: not ours to evict, not counted */
		sizes[i] = self ? 0 : pe[i].bytes;
		held[i] = self || sci_is_busy(o->root, pe[i].name, "use") || sci_is_busy(o->root, pe[i].name, "stage");
	}
	/* Dry run first: evict nothing unless evicting is enough. */
	int rc = 0;
	if (sci_evict_enough(sizes, held, npe, used, free_b, need + RESERVE_BYTES, o->max_cache, &busy)) {
		busy = 0; /* counted again by what eviction finds busy */
		rc = evict_lru(o, pe, npe, need, &used, &free_b, &busy, r, err);
	}
	free(sizes);
	free(held);
	sci_pubents_free(pe, npe);
	if (rc)
		return rc;
	if (free_b < need + RESERVE_BYTES)
		return cs_fail(err, ENOSPC, "not enough space in '%s' for '%s': needs %s (+%s reserve), %s free%s%s%s",
			       o->root, o->name, fmt_bytes(a, sizeof(a), need), fmt_bytes(b, sizeof(b), RESERVE_BYTES),
			       fmt_bytes(c, sizeof(c), free_b), busy ? " (" : "",
			       busy ? fmt_bytes(a, sizeof(a), busy) : "", busy ? " held by models in use)" : "");
	if (o->max_cache && used > o->max_cache)
		return cs_fail(err, ENOSPC, "'%s' does not fit in --max-cache %s: the cache would hold %s%s%s%s",
			       o->name, fmt_bytes(a, sizeof(a), o->max_cache), fmt_bytes(b, sizeof(b), used),
			       busy ? " (" : "", busy ? fmt_bytes(c, sizeof(c), busy) : "",
			       busy ? " held by models in use)" : "");
	for (size_t i = 0; i < p->n && !rc; i++)
		rc = allocate_file(part, &p->f[i], err);
	return rc;
}
