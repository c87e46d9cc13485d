/* stagecache: what cache serve may hand a peer -- a published model's
 * files exactly as its manifest records them, checked at every request. */
#define _GNU_SOURCE
#include "stagecache_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/base/banned.h"

/* A file whose bytes were found to hash as staged, in the state it had. */
struct memo_ent {
	char *key;                     /* NAME/REL */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct sc_memo {
	pthread_mutex_t mu;            /* e, n, alloc */
	pthread_mutex_t hash_mu;       /* one file hashed at a time: memory, and a second
					* request for the file waits for the first's answer */
	struct memo_ent *e;
	size_t n, alloc;
};

struct sc_memo *sc_memo_new(void)
{
	struct sc_memo *m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->hash_mu, NULL);
	return m;
}

void sc_memo_free(struct sc_memo *m)
{
	if (!m)
		return;
	FREE_MEMBERS(m->e, m->n, key);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->hash_mu);
	free(m);
}

static int same_ts(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static int memo_has(struct sc_memo *m, const char *key, const struct stat *sb)
{
	int hit = 0;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n && !hit; i++) {
		const struct memo_ent *e = &m->e[i];
		hit = !strcmp(e->key, key) && e->dev == sb->st_dev && e->ino == sb->st_ino && e->size == sb->st_size &&
		      same_ts(e->mtime, sb->st_mtim) && same_ts(e->ctime, sb->st_ctim);
	}
	pthread_mutex_unlock(&m->mu);
	return hit;
}

static void memo_put(struct sc_memo *m, const char *key, const struct stat *sb)
{
	pthread_mutex_lock(&m->mu);
	size_t i = 0;
	while (i < m->n && strcmp(m->e[i].key, key))
		i++;
	if (i == m->n) {
		m->e = xgrow(m->e, &m->alloc, m->n + 1, sizeof(*m->e));
		m->e[m->n++].key = xstrdup(key);
	}
	struct memo_ent *e = &m->e[i];
	e->dev = sb->st_dev;
	e->ino = sb->st_ino;
	e->size = sb->st_size;
	e->mtime = sb->st_mtim;
	e->ctime = sb->st_ctim;
	pthread_mutex_unlock(&m->mu);
}

/* NAME's directory (malloc'd) and manifest, for serving: ENOENT when there
 * is no published model of that name, or it is marked corrupt (nothing of
 * it is served); then nothing is left to free. */
struct served {
	char *dir;
	struct stat dsb;
	struct manifest m;
};

static int load_served(const char *root, const char *name, struct served *sv, struct cs_err *err)
{
	sv->dir = NULL;
	if (!sc_valid_name(name))
		return cs_fail(err, ENOENT, "no such model");
	sv->dir = path_join(root, name);
	int rc = 0;
	if (stat(sv->dir, &sv->dsb) < 0 || !S_ISDIR(sv->dsb.st_mode) || sci_manifest_load(sv->dir, &sv->m) < 0) {
		rc = cs_fail(err, ENOENT, "no published model '%s'", name);
	} else if (sv->m.corrupt) {
		rc = cs_fail(err, ENOENT, "'%s' is marked corrupt (%s)", name, sv->m.corrupt);
		sci_manifest_release(&sv->m);
	}
	if (rc) {
		free(sv->dir);
		sv->dir = NULL;
	}
	return rc;
}

/* A damaged file found while serving: the model is marked corrupt, so that
 * nothing more of it is served, `cache ls` says so and `stage` repairs it
 * -- unless a stager holds it (it is being replaced or repaired: one try).
 * Returns -1 with EBADMSG. */
static int damaged(const char *root, const char *name, const struct stat *dsb, const char *rel, const char *why,
		   struct cs_err *err)
{
	char *problem = xasprintf("%s (found by cache serve)", why);
	json_t *bad = json_pack("[s]", rel);
	sci_mark_verdict(root, name, dsb->st_ino, problem, bad, NULL, 0);
	json_decref(bad);
	free(problem);
	return cs_fail(err, EBADMSG, "%s: the staged copy is damaged and is not served", why);
}

int sc_serve_list(const char *root, const char *name, struct sc_served_file **files, size_t *n, struct cs_err *err)
{
	*files = NULL;
	*n = 0;
	struct served sv;
	int rc = load_served(root, name, &sv, err);
	if (rc)
		return rc;
	size_t count = json_array_size(sv.m.files), i;
	json_t *f;
	*files = xcalloc(count ? count : 1, sizeof(**files));
	json_array_foreach(sv.m.files, i, f) {
		char *why;
		if (sci_pub_file_check(sv.dir, &sv.m, f, NULL, &why) == PF_DAMAGED) {
			rc = damaged(root, name, &sv.dsb, json_string_value(json_object_get(f, "path")), why, err);
			free(why);
			break;
		}
		free(why);   /* changed: its bytes are checked when it is asked for */
		(*files)[*n].rel = xstrdup(json_string_value(json_object_get(f, "path")));
		(*files)[(*n)++].size = (uint64_t)json_integer_value(json_object_get(f, "size"));
	}
	if (rc) {
		sc_served_files_free(*files, *n);
		*files = NULL;
		*n = 0;
	}
	sci_manifest_release(&sv.m);
	free(sv.dir);
	return rc;
}

void sc_served_files_free(struct sc_served_file *files, size_t n)
{
	FREE_MEMBERS(files, n, rel);
}

static json_t *manifest_entry(const struct manifest *m, const char *rel)
{
	size_t i;
	json_t *f;
	json_array_foreach(m->files, i, f) {
		const char *p = json_string_value(json_object_get(f, "path"));
		if (p && !strcmp(p, rel))
			return f;
	}
	return NULL;
}

/* A changed file (size and mtime as staged, another inode or change time):
 * its bytes hashed against the manifest's xxh3, once per state it is seen
 * in. 0 they match, else -1 with *why. */
static int bytes_match(struct sc_memo *memo, const char *root, const char *name, const char *dir,
		       const struct manifest *m, json_t *f, int fd, const struct stat *sb, char **why)
{
	const char *rel = json_string_value(json_object_get(f, "path"));
	char *key = xasprintf("%s/%s", name, rel);
	int rc = 0;
	pthread_mutex_lock(&memo->hash_mu);
	if (!memo_has(memo, key, sb)) {
		uint64_t size = (uint64_t)sb->st_size, nchunks = cp_nchunks(size, m->chunk);
		uint64_t *h = xcalloc(nchunks + 1, sizeof(uint64_t));
		char *self = xasprintf("/proc/self/fd/%d", fd);   /* the file opened, not what the path names now */
		const char *paths[1] = { self };
		struct cs_err e;
		/* One thread: its buffer is a chunk (up to 1 GiB), and one file is
		 * hashed at a time already. */
		if (cp_hash_files(paths, 1, &size, NULL, &h, m->chunk, 1, 0, NULL, NULL, NULL, &e)) {
			*why = xasprintf("'%s/%s' cannot be read back: %s", dir, rel, e.msg);
			rc = -1;
		} else {
			char *got = sci_hex64(cp_file_digest(h, nchunks));
			const char *want = json_string_value(json_object_get(f, "xxh3"));
			if (!want || strcmp(got, want)) {
				*why = xasprintf("'%s/%s' changed after it was staged: its bytes no longer hash as staged "
						 "(xxh3 %s, staged as %s)", dir, rel, got, want ? want : "none");
				rc = -1;
			} else {
				memo_put(memo, key, sb);
				/* The manifest remembers too, when no stager holds the model. */
				int sfd = sci_lock_take(root, name, "stage", LOCK_EX, 0, NULL, NULL, NULL, NULL);
				if (sfd >= 0) {
					sci_pub_reidentify(dir, rel);
					close(sfd);
				}
			}
			free(got);
		}
		free(self);
		free(h);
	}
	pthread_mutex_unlock(&memo->hash_mu);
	free(key);
	return rc;
}

int sc_serve_open(struct sc_memo *memo, const char *root, const char *name, const char *rel, struct sc_served *out,
		  struct cs_err *err)
{
	out->fd = -1;
	struct served sv;
	int rc = load_served(root, name, &sv, err);
	if (rc)
		return rc;
	json_t *f = manifest_entry(&sv.m, rel);
	char *why = NULL;
	if (!f) {
		rc = cs_fail(err, ENOENT, "'%s' is not a file of '%s'", rel, name);
	} else {
		char *path = path_join(sv.dir, rel);
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat sb;
		enum pub_file st = fd < 0 || fstat(fd, &sb) < 0 ? sci_pub_file_check(sv.dir, &sv.m, f, NULL, &why)
								: sci_pub_file_check(sv.dir, &sv.m, f, &sb, &why);
		if (st == PF_INTACT && fd < 0) {   /* what the path names is not a file to open */
			st = PF_DAMAGED;
			why = xasprintf("'%s' cannot be opened: %s", path, strerror(errno));
		}
		if (st == PF_CHANGED) {
			free(why);
			why = NULL;
			st = bytes_match(memo, root, name, sv.dir, &sv.m, f, fd, &sb, &why) ? PF_DAMAGED : PF_INTACT;
		}
		if (st == PF_INTACT) {
			out->fd = fd;
			out->size = (uint64_t)sb.st_size;
			out->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
		} else {
			if (fd >= 0)
				close(fd);
			rc = damaged(root, name, &sv.dsb, rel, why, err);
		}
		free(path);
	}
	free(why);
	sci_manifest_release(&sv.m);
	free(sv.dir);
	return rc;
}
