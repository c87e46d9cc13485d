/* source: the local row -- a mounted directory (NFS, FUSE, a local disk). */
#define _GNU_SOURCE
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/model/gguf.h"
#include "core/base/banned.h"

static int local_recognise(const char *src)
{
	(void)src;
	return 1;   /* last in the table: what no other row takes is a path */
}

static const char *local_kind(const char *src)
{
	(void)src;
	return NULL;
}

static char *local_shown(const char *src)
{
	return xstrdup(src);
}

/* A GGUF file's model name: its base name without ".gguf" and without the
 * split suffix (-00001-of-00003). */
static char *gguf_model_name(const char *path)
{
	char *prefix = NULL, *base;
	if (gg_split_parse(path, &prefix, NULL, NULL)) {
		base = fs_basename(prefix);
		free(prefix);
	} else {
		base = fs_basename(path);
		if (gg_is_gguf_name(base))
			base[strlen(base) - 5] = 0;
	}
	if (!*base || *base == '.') {
		free(base);
		return NULL;
	}
	return base;
}

/* A Hugging Face cache snapshot (.../models--ORG--NAME/snapshots/REV) is
 * named ORG--NAME; a GGUF file by its model; else the directory's name. */
static char *local_default_name(const char *src)
{
	char *real = realpath(src, NULL);
	char *name = NULL;
	if (real) {
		char *snap = strstr(real, "/snapshots/");
		if (snap && !strchr(snap + strlen("/snapshots/"), '/')) {
			*snap = 0;
			char *repo = strrchr(real, '/');
			repo = repo ? repo + 1 : real;
			if (!strncmp(repo, "models--", 8) && repo[8])
				name = xstrdup(repo + 8);
			*snap = '/';
		}
		struct stat sb;
		if (!name && stat(real, &sb) == 0 && S_ISREG(sb.st_mode))
			name = gguf_model_name(real);
		if (!name)
			name = fs_basename(real);
		free(real);
	}
	return name ? name : fs_basename(src);
}

/* Its path, and for a Hugging Face cache snapshot
 * (.../models--ORG--NAME/snapshots/REV) the repository, so a new revision
 * is the same source with new contents. */
static char *local_identity(const char *src)
{
	const char *snap = strstr(src, "/snapshots/");
	if (snap && !strchr(snap + strlen("/snapshots/"), '/')) {
		const char *repo = snap;
		while (repo > src && repo[-1] != '/')
			repo--;
		if (!strncmp(repo, "models--", 8))
			return xstrndup(src, (size_t)(snap - src));
	}
	return xstrdup(src);
}

static int local_open(struct source *s, struct cs_err *err)
{
	struct stat sb;
	if (stat(s->given, &sb) < 0)
		return cs_fail_errno(err, errno, "cannot open source '%s'", s->given);
	if (!S_ISDIR(sb.st_mode))
		return cs_fail(err, ENOTDIR, "source '%s' is not a directory", s->given);
	s->canon = realpath(s->given, NULL);
	if (!s->canon)
		return cs_fail_errno(err, errno, "cannot resolve source '%s'", s->given);
	return 0;
}

/* ---- listing: the directory walked ---- */

/* A Hugging Face cache snapshot (REPO/snapshots/REV) links its files to
 * REPO/blobs/: those links are part of the model, not an escape. */
static int hf_blob(const char *src, const char *target)
{
	const char *slash = strrchr(src, '/');
	if (!slash || slash == src)
		return 0;
	size_t pl = (size_t)(slash - src);
	const char *snap = "/snapshots";
	size_t sl = strlen(snap);
	if (pl < sl || strncmp(src + pl - sl, snap, sl))
		return 0;
	char *blobs = xasprintf("%.*s/blobs", (int)(pl - sl), src);
	int ok = fs_path_within(blobs, target);
	free(blobs);
	return ok;
}

struct walk {
	struct source *s;
	struct source_file *f;
	size_t n, alloc;
};

static int walk_dir(struct walk *w, const char *abs, const char *rel, int depth, struct cs_err *err)
{
	const struct source *s = w->s;
	if (depth > 16)
		return cs_fail(err, ELOOP, "'%s' is nested too deeply in '%s'", rel, s->given);
	DIR *d = opendir(abs);
	if (!d)
		return cs_fail_errno(err, errno, "cannot read directory '%s'", abs);
	char **names = NULL;
	size_t nn = 0, na = 0;
	struct dirent *de;
	while ((de = fs_readdir(d))) {
		if (!rel && s->o.skip && !strcmp(de->d_name, s->o.skip))
			continue;
		names = xgrow(names, &na, nn + 1, sizeof(*names));
		names[nn++] = xstrdup(de->d_name);
	}
	closedir(d);
	int rc = 0;
	for (size_t i = 0; i < nn; i++) {
		char *eabs = path_join(abs, names[i]);
		char *erel = rel ? path_join(rel, names[i]) : xstrdup(names[i]);
		char *target = NULL;
		struct stat sb;
		if (!rc && lstat(eabs, &sb) < 0)
			rc = cs_fail_errno(err, errno, "cannot read '%s'", eabs);
		if (!rc && S_ISLNK(sb.st_mode)) {
			target = realpath(eabs, NULL);
			if (!target)
				rc = cs_fail_errno(err, errno, "symlink '%s' in '%s' is broken", erel, s->given);
			else if (!s->o.follow_symlinks && !fs_path_within(s->canon, target) && !hf_blob(s->canon, target))
				rc = cs_fail(err, EXDEV,
					     "symlink '%s' points outside '%s' (to '%s'); stage the directory it "
					     "points into, or pass --follow-symlinks", erel, s->given, target);
			else if (stat(target, &sb) < 0)
				rc = cs_fail_errno(err, errno, "cannot read '%s'", target);
		}
		const char *from = target ? target : eabs;
		if (!rc && S_ISDIR(sb.st_mode)) {
			rc = walk_dir(w, from, erel, depth + 1, err);
		} else if (!rc && !S_ISREG(sb.st_mode)) {
			rc = cs_fail(err, EINVAL, "'%s' in '%s' is not a regular file", erel, s->given);
		} else if (!rc && (!s->o.want || s->o.want(s->o.want_arg, erel))) {   /* not left out by a filter */
			int fd = open(from, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				rc = cs_fail_errno(err, errno, "cannot read '%s'", eabs);
			} else {
				close(fd);
				w->f = xgrow(w->f, &w->alloc, w->n + 1, sizeof(*w->f));
				w->f[w->n++] = (struct source_file){
					erel, xstrdup(from), (uint64_t)sb.st_size, NULL,
					(int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec, NULL };
				erel = NULL;
			}
		}
		free(target);
		free(eabs);
		free(erel);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int local_list(struct source *s, struct source_file **out, size_t *n, struct cs_err *err)
{
	struct walk w = { s, NULL, 0, 0 };
	*out = NULL;
	*n = 0;
	if (walk_dir(&w, s->canon, NULL, 0, err)) {
		source_files_free(w.f, w.n);
		return -1;
	}
	*out = w.f;
	*n = w.n;
	return 0;
}

static int local_stat(struct source *s, struct source_file *f, struct cs_err *err)
{
	(void)s;
	struct stat sb;
	if (stat(f->url, &sb) < 0)
		return cs_fail_errno(err, errno, "cannot read '%s'", f->url);
	if ((uint64_t)sb.st_size != f->size ||
	    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec != f->mtime_ns)
		return cs_fail(err, ESTALE, "'%s' changed (its size or mtime is not the listed one)", f->url);
	return 0;
}

/* ---- reading: pread ---- */

struct local_reader {
	const struct source_file *files;
	size_t n;
};

static void *local_reader_new(struct source *s, const struct source_file *files, size_t n)
{
	(void)s;
	struct local_reader *r = xcalloc(1, sizeof(*r));
	r->files = files;
	r->n = n;
	return r;
}

static int local_read(void *reader, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
		      struct cs_err *err)
{
	const struct local_reader *r = reader;
	const struct source_file *f = &r->files[file];
	int fd = open(f->url, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cs_fail_errno(err, errno, "cannot read '%s'", f->url);
	char buf[1 << 16];
	uint64_t pos = 0;
	int rc = 0;
	while (!rc && pos < len) {
		size_t want = len - pos < sizeof(buf) ? (size_t)(len - pos) : sizeof(buf);
		ssize_t got = pread(fd, buf, want, (off_t)(off + pos));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			rc = cs_fail_errno(err, errno, "cannot read '%s'", f->url);
		else if (got == 0)
			rc = cs_fail(err, ESTALE, "'%s' ends at %llu bytes, before %llu", f->url,
				     (unsigned long long)(off + pos), (unsigned long long)(off + len));
		else if (sink(sink_arg, pos, buf, (size_t)got, err))
			rc = -1;
		else
			pos += (uint64_t)got;
	}
	close(fd);
	return rc ? -1 : 0;
}

static void local_reader_free(void *reader)
{
	free(reader);
}

const struct source_ops source_local = {
	.name = "local",
	.flags = 0,
	.recognise = local_recognise,
	.kind = local_kind,
	.shown = local_shown,
	.default_name = local_default_name,
	.identity = local_identity,
	.open = local_open,
	.list = local_list,
	.stat = local_stat,
	.reader_new = local_reader_new,
	.read = local_read,
	.reader_free = local_reader_free,
};
