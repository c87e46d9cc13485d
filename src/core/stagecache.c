#define _GNU_SOURCE
#include "stagecache.h"

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

#include "fsutil.h"
#include "safetensors.h"
#include "banned.h"

#define RESERVE_BYTES (64ull << 20)  /* left free on the root after staging */
#define JOURNAL_MAGIC "coldstart-journal 1"

struct sfile {
	char *rel;       /* path relative to SRC */
	char *abs;       /* where to read it (symlinks resolved) */
	uint64_t size;
	int64_t mtime_ns;
	uint64_t *hash;  /* per chunk, xxh3 mode */
	unsigned char *done;
	uint64_t nchunks;
	uint64_t digest;
	int has_digest;
	int linked;      /* taken from the copy it replaces (unchanged file) */
	uint64_t old_digest;
	int has_old_digest;
};

struct splan {
	char *src;       /* realpath of SRC */
	char *filters;   /* canonical include/exclude list */
	struct sfile *f;
	size_t n, alloc;
	uint64_t total;
	uint64_t chunk;
};

static void plan_free(struct splan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->f[i].rel);
		free(p->f[i].abs);
		free(p->f[i].hash);
		free(p->f[i].done);
	}
	free(p->f);
	free(p->src);
	free(p->filters);
	memset(p, 0, sizeof(*p));
}

int sc_valid_name(const char *name)
{
	return name && *name && name[0] != '.' && !strchr(name, '/') && strlen(name) <= 200;
}

char *sc_default_name(const char *src)
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
		if (!name)
			name = fs_basename(real);
		free(real);
	}
	return name ? name : fs_basename(src);
}

int sc_valid_glob(const char *g)
{
	if (!g || !*g)
		return 0;
	for (const char *p = g; *p; p++) {
		if (*p == '\\') {
			if (!*++p)
				return 0; /* a trailing backslash escapes nothing */
		} else if (*p == '[') {
			const char *q = p + 1;
			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++; /* a ']' first is a member */
			while (*q && *q != ']')
				q++;
			if (!*q)
				return 0; /* '[' never closed */
			p = q;
		}
	}
	return 1;
}

static void notify(const struct sc_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notify(const struct sc_opts *o, const char *fmt, ...)
{
	if (!o->notice)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	o->notice(m, o->notice_arg);
	free(m);
}

/* ---- locks ---- */

static char *sub(const char *root, const char *a, const char *b)
{
	return xasprintf("%s/%s%s", root, a, b ? b : "");
}

/* flock with a bound: 0 taken, 1 it had to wait, -1 error (ETIMEDOUT, ECANCELED). */
static int lock_wait(int fd, int op, uint64_t timeout_ns, volatile sig_atomic_t *cancel, void (*first)(void *),
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

static long lock_holder(int fd)
{
	char buf[32] = { 0 };
	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return 0;
	return strtol(buf, NULL, 10);
}

static void lock_claim(int fd)
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
static int lock_take(const char *root, const char *name, const char *kind, int op, uint64_t timeout_ns,
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
		int w = timeout_ns ? lock_wait(fd, op, timeout_ns, cancel, first, arg)
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
static void lock_files_remove(const char *root, const char *name)
{
	const char *kinds[] = { "use", "stage" };
	for (size_t i = 0; i < 2; i++) {
		char *p = xasprintf("%s/.locks/%s.%s", root, name, kinds[i]);
		unlink(p);
		free(p);
	}
}

static int root_prepare(const char *root, struct cs_err *err)
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

/* ---- the source ---- */

static int matches(char *const *globs, size_t n, const char *rel)
{
	const char *base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], rel, 0) == 0 || fnmatch(globs[i], base, 0) == 0)
			return 1;
	return 0;
}

static int within(const char *dir, const char *path)
{
	size_t n = strlen(dir);
	return strncmp(dir, path, n) == 0 && (path[n] == '/' || path[n] == 0);
}

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
	int ok = within(blobs, target);
	free(blobs);
	return ok;
}

static int scan_dir(const struct sc_opts *o, struct splan *p, const char *abs, const char *rel, int depth,
		    struct cs_err *err)
{
	if (depth > 16)
		return cs_fail(err, ELOOP, "'%s' is nested too deeply in '%s'", rel, o->src);
	DIR *d = opendir(abs);
	if (!d)
		return cs_fail_errno(err, errno, "cannot read directory '%s'", abs);
	char **names = NULL;
	size_t nn = 0, na = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!rel && !strcmp(de->d_name, SC_MANIFEST))
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
				rc = cs_fail_errno(err, errno, "symlink '%s' in '%s' is broken", erel, o->src);
			else if (!o->follow_symlinks && !within(p->src, target) && !hf_blob(p->src, target))
				rc = cs_fail(err, EXDEV,
					     "symlink '%s' points outside '%s' (to '%s'); stage the directory it "
					     "points into, or pass --follow-symlinks", erel, o->src, target);
			else if (stat(target, &sb) < 0)
				rc = cs_fail_errno(err, errno, "cannot read '%s'", target);
		}
		const char *from = target ? target : eabs;
		if (!rc && S_ISDIR(sb.st_mode)) {
			rc = scan_dir(o, p, from, erel, depth + 1, err);
		} else if (!rc && !S_ISREG(sb.st_mode)) {
			rc = cs_fail(err, EINVAL, "'%s' in '%s' is not a regular file", erel, o->src);
		} else if (!rc && (!o->ninclude || matches(o->include, o->ninclude, erel)) &&
			   !matches(o->exclude, o->nexclude, erel)) {
			int fd = open(from, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				rc = cs_fail_errno(err, errno, "cannot read '%s'", eabs);
			} else {
				close(fd);
				p->f = xgrow(p->f, &p->alloc, p->n + 1, sizeof(*p->f));
				struct sfile *f = &p->f[p->n++];
				memset(f, 0, sizeof(*f));
				f->rel = erel;
				f->abs = xstrdup(from);
				f->size = (uint64_t)sb.st_size;
				f->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
				p->total += f->size;
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

static int cmp_sfile(const void *a, const void *b)
{
	return strcmp(((const struct sfile *)a)->rel, ((const struct sfile *)b)->rel);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static int scan_source(const struct sc_opts *o, struct splan *p, struct cs_err *err)
{
	memset(p, 0, sizeof(*p));
	p->chunk = cp_chunk_size(o->chunk);
	struct stat sb;
	if (stat(o->src, &sb) < 0)
		return cs_fail_errno(err, errno, "cannot open source '%s'", o->src);
	if (!S_ISDIR(sb.st_mode))
		return cs_fail(err, ENOTDIR, "source '%s' is not a directory", o->src);
	p->src = realpath(o->src, NULL);
	if (!p->src)
		return cs_fail_errno(err, errno, "cannot resolve source '%s'", o->src);
	char *fl = xstrdup("");
	for (size_t i = 0; i < o->ninclude; i++) {
		char *t = xasprintf("%s+%s\n", fl, o->include[i]);
		free(fl);
		fl = t;
	}
	for (size_t i = 0; i < o->nexclude; i++) {
		char *t = xasprintf("%s-%s\n", fl, o->exclude[i]);
		free(fl);
		fl = t;
	}
	p->filters = fl;
	if (scan_dir(o, p, p->src, NULL, 0, err))
		return -1;
	if (!p->n)
		return cs_fail(err, ENOENT, "source '%s' is empty%s", o->src,
			       o->ninclude || o->nexclude ? " (after --include/--exclude)" : "");
	qsort(p->f, p->n, sizeof(*p->f), cmp_sfile);
	int config = 0, weights = 0, safet = 0;
	for (size_t i = 0; i < p->n; i++) {
		const char *r = p->f[i].rel;
		config |= !strcmp(r, "config.json");
		safet |= has_suffix(r, ".safetensors");
		weights |= safet || has_suffix(r, ".bin") || has_suffix(r, ".pt") || has_suffix(r, ".pth") ||
			   has_suffix(r, ".gguf");
	}
	if (!config && !weights)
		return cs_fail(err, EINVAL,
			       "source '%s' is not a model: no config.json and no weights "
			       "(*.safetensors, *.bin, *.pt, *.gguf)", o->src);
	if (safet && !o->ninclude && !o->nexclude) {
		struct st_model m;
		struct cs_err e2;
		if (st_model_open(p->src, &m, &e2))
			return cs_fail(err, e2.code ? e2.code : EINVAL, "source '%s' is not a usable model: %s", o->src,
				       e2.msg);
		st_model_free(&m);
	}
	for (size_t i = 0; i < p->n; i++) {
		p->f[i].nchunks = cp_nchunks(p->f[i].size, p->chunk);
		p->f[i].done = xcalloc(p->f[i].nchunks ? p->f[i].nchunks : 1, 1);
		p->f[i].hash = xcalloc(p->f[i].nchunks ? p->f[i].nchunks : 1, sizeof(uint64_t));
	}
	return 0;
}

/* ---- manifest ---- */

static const char *verify_name(enum sc_verify v)
{
	return v == SC_VERIFY_XXH3 ? "xxh3" : "size";
}

static char *hex64(uint64_t v)
{
	return xasprintf("%016llx", (unsigned long long)v);
}

static int write_manifest(const char *dir, const char *name, const struct splan *p, enum sc_verify v,
			  struct cs_err *err)
{
	json_t *files = json_array();
	for (size_t i = 0; i < p->n; i++) {
		json_t *f = json_pack("{s:s, s:I, s:I}", "path", p->f[i].rel, "size", (json_int_t)p->f[i].size,
				      "mtime_ns", (json_int_t)p->f[i].mtime_ns);
		if (p->f[i].has_digest) {
			char *h = hex64(p->f[i].digest);
			json_object_set_new(f, "xxh3", json_string(h));
			free(h);
		}
		json_array_append_new(files, f);
	}
	json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:o}", "coldstart_manifest", 1, "name", name,
			      "source", p->src, "filters", p->filters, "staged_at", (json_int_t)time(NULL),
			      "verify", verify_name(v), "chunk", (json_int_t)p->chunk, "bytes",
			      (json_int_t)p->total, "files", files);
	char *s = json_dumps(j, JSON_INDENT(1));
	json_decref(j);
	char *path = path_join(dir, SC_MANIFEST);
	int rc = fs_write_file_sync(path, s, strlen(s), err);
	free(path);
	free(s);
	return rc;
}

struct manifest {
	json_t *j;
	const char *source, *filters;
	enum sc_verify verify;
	uint64_t bytes, chunk;
	int64_t staged_at, last_used, last_used_ns;
	json_t *files;
	const char *corrupt;           /* a failed verification's problem, or NULL */
	json_t *corrupt_files;         /* the relative paths it found damaged */
};

static int manifest_load(const char *dir, struct manifest *m)
{
	memset(m, 0, sizeof(*m));
	char *path = path_join(dir, SC_MANIFEST);
	struct stat sb;
	json_error_t je;
	m->j = stat(path, &sb) == 0 ? json_load_file(path, 0, &je) : NULL;
	free(path);
	if (!m->j)
		return -1;
	json_int_t bytes = 0, chunk = 0, at = 0;
	const char *verify = NULL;
	if (json_unpack(m->j, "{s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "source", &m->source, "filters", &m->filters,
			"verify", &verify, "bytes", &bytes, "chunk", &chunk, "staged_at", &at, "files",
			&m->files) || !json_is_array(m->files)) {
		json_decref(m->j);
		m->j = NULL;
		return -1;
	}
	m->verify = !strcmp(verify, "xxh3") ? SC_VERIFY_XXH3 : SC_VERIFY_SIZE;
	m->bytes = (uint64_t)bytes;
	m->chunk = (uint64_t)chunk;
	m->staged_at = at;
	m->corrupt = json_string_value(json_object_get(m->j, "corrupt"));
	m->corrupt_files = json_object_get(m->j, "corrupt_files");
	m->last_used = sb.st_mtim.tv_sec;
	m->last_used_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	return 0;
}

static void manifest_free(struct manifest *m)
{
	json_decref(m->j);
	m->j = NULL;
}

/* What identifies a source for a staged name: its real path, and for a
 * Hugging Face cache snapshot (.../models--ORG--NAME/snapshots/REV) the
 * repository, so a new revision is the same source with new contents. */
static char *source_id(const char *src)
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

static int same_source(const char *a, const char *b)
{
	char *x = source_id(a), *y = source_id(b);
	int same = !strcmp(x, y);
	free(x);
	free(y);
	return same;
}

static int in_list(json_t *list, const char *rel)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), rel))
			return 1;
	return 0;
}

/* A published file is what its manifest says: present, same size and mtime
 * (publishing set it to the source's), and not found damaged by a verify. */
static int pub_file_intact(const char *pub, const struct manifest *m, const char *rel, uint64_t size, int64_t mtime_ns)
{
	if (m->corrupt && (!json_array_size(m->corrupt_files) || in_list(m->corrupt_files, rel)))
		return 0;
	char *dst = path_join(pub, rel);
	struct stat sb;
	int ok = stat(dst, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == size &&
		 (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec == mtime_ns;
	free(dst);
	return ok;
}

enum pub_state {
	PUB_MATCH,     /* from this very source state, intact: nothing to do */
	PUB_CHANGED,   /* the source (or the verification asked for) changed */
	PUB_DAMAGED,   /* the source did not change, but the copy did */
};

static enum pub_state pub_state(const char *pub, const struct manifest *m, const struct splan *p, enum sc_verify v)
{
	if (strcmp(m->source, p->src) || strcmp(m->filters, p->filters) || json_array_size(m->files) != p->n)
		return PUB_CHANGED;
	if (v == SC_VERIFY_XXH3 && m->verify != SC_VERIFY_XXH3)
		return PUB_CHANGED;
	int intact = !m->corrupt;
	for (size_t i = 0; i < p->n; i++) {
		json_t *f = json_array_get(m->files, i);
		const char *path = NULL;
		json_int_t size = -1, mt = -1;
		if (json_unpack(f, "{s:s, s:I, s:I}", "path", &path, "size", &size, "mtime_ns", &mt) ||
		    strcmp(path, p->f[i].rel) || (uint64_t)size != p->f[i].size || mt != p->f[i].mtime_ns)
			return PUB_CHANGED;
		intact = intact && pub_file_intact(pub, m, path, (uint64_t)size, mt);
	}
	return intact ? PUB_MATCH : PUB_DAMAGED;
}

static void touch(const char *dir)
{
	char *path = path_join(dir, SC_MANIFEST);
	utimensat(AT_FDCWD, path, NULL, 0);
	free(path);
}

/* ---- journal ---- */

static char *journal_header(const struct splan *p, enum sc_verify v)
{
	json_t *files = json_array();
	for (size_t i = 0; i < p->n; i++)
		json_array_append_new(files, json_pack("[s, I, I]", p->f[i].rel, (json_int_t)p->f[i].size,
						       (json_int_t)p->f[i].mtime_ns));
	json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:o}", "source", p->src, "filters", p->filters, "chunk",
			      (json_int_t)p->chunk, "verify", verify_name(v), "files", files);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	char *line = xasprintf(JOURNAL_MAGIC "\n%s\n", s);
	free(s);
	return line;
}

/* Mark the chunks the journal records; 0 when it belongs to this plan. */
/* The next chunk record of a journal: 1, or 0 at the end or at a torn or
 * garbled line (what follows it is not trusted either). */
static int journal_next(FILE *fp, unsigned long long *fi, unsigned long long *ci, unsigned long long *h)
{
	char line[128], nl = 0;
	return fgets(line, sizeof(line), fp) && sscanf(line, "c %llu %llu %16llx%c", fi, ci, h, &nl) == 4 &&
	       nl == '\n';
}

static int journal_load(const char *path, const struct splan *p, enum sc_verify v, uint64_t *resumed)
{
	*resumed = 0;
	FILE *fp = fopen(path, "re");
	if (!fp)
		return -1;
	char *want = journal_header(p, v);
	size_t wl = strlen(want);
	char *buf = xmalloc(wl + 1);
	int rc = -1;
	if (fread(buf, 1, wl, fp) == wl && !memcmp(buf, want, wl)) {
		rc = 0;
		unsigned long long fi, ci, h;
		while (journal_next(fp, &fi, &ci, &h)) {
			if (fi >= p->n || ci >= p->f[fi].nchunks)
				break;
			if (!p->f[fi].done[ci]) {
				p->f[fi].done[ci] = 1;
				p->f[fi].hash[ci] = h;
				uint64_t off = ci * p->chunk;
				*resumed += p->f[fi].size - off < p->chunk ? p->f[fi].size - off : p->chunk;
			}
		}
	}
	free(buf);
	free(want);
	fclose(fp);
	return rc;
}

struct jwriter {
	int fd;
	int failed;
};

static void journal_record(size_t file, uint64_t chunk, uint64_t hash, void *arg)
{
	struct jwriter *w = arg;
	char line[64];
	int n = snprintf(line, sizeof(line), "c %zu %llu %016llx\n", file, (unsigned long long)chunk,
			 (unsigned long long)hash);
	if (!w->failed && write(w->fd, line, (size_t)n) != n)
		w->failed = 1; /* the journal only saves work; the copy goes on */
}

/* ---- the cache's contents ---- */

struct pubent {
	char *name;
	uint64_t bytes;
	int64_t last_used;
	struct manifest m;
};

static int cmp_lru(const void *a, const void *b)
{
	const struct pubent *x = a, *y = b;
	if (x->last_used != y->last_used)
		return x->last_used < y->last_used ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void published(const char *root, struct pubent **out, size_t *n)
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
		if (manifest_load(dir, &m) == 0) {
			*out = xgrow(*out, &alloc, *n + 1, sizeof(**out));
			(*out)[(*n)++] = (struct pubent){ xstrdup(de->d_name), m.bytes, m.last_used_ns, m };
		}
		free(dir);
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_lru);
}

static void pubents_free(struct pubent *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		manifest_free(&p[i].m);
	}
	free(p);
}

/* A journal's header (NULL when missing or unreadable); with fp, the file
 * stays open at the first chunk record. */
static json_t *journal_header_load(const char *root, const char *name, FILE **fp)
{
	char *jp = xasprintf("%s/.partial/%s.journal", root, name);
	FILE *f = fopen(jp, "re");
	free(jp);
	if (fp)
		*fp = NULL;
	if (!f)
		return NULL;
	char *line = NULL;
	size_t cap = 0;
	json_t *j = NULL;
	if (getline(&line, &cap, f) > 0 && getline(&line, &cap, f) > 0)
		j = json_loads(line, 0, NULL);
	free(line);
	if (fp && j)
		*fp = f;
	else
		fclose(f);
	return j;
}

/* What a partial copy's journal says: its header (NULL without one; the
 * caller drops it), the bytes the copy will hold, and the bytes its
 * well-formed chunk records put on disk. */
struct jsum {
	json_t *hdr;
	uint64_t total, done;
};

static void journal_summary(const char *root, const char *name, struct jsum *js)
{
	memset(js, 0, sizeof(*js));
	FILE *fp;
	js->hdr = journal_header_load(root, name, &fp);
	if (!js->hdr)
		return;
	json_t *files = json_object_get(js->hdr, "files");
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
		js->total += (uint64_t)json_integer_value(json_array_get(f, 1));
	uint64_t chunk = (uint64_t)json_integer_value(json_object_get(js->hdr, "chunk"));
	unsigned long long fi, ci, h;
	while (chunk && journal_next(fp, &fi, &ci, &h)) {
		uint64_t size = (uint64_t)json_integer_value(json_array_get(json_array_get(files, fi), 1));
		uint64_t off = ci * chunk;
		if (off < size)
			js->done += size - off < chunk ? size - off : chunk;
	}
	fclose(fp);
	if (js->done > js->total)
		js->done = js->total;
}

/* Bytes a partial copy will take when complete: the sizes in its journal. */
static uint64_t partial_total(const char *root, const char *name)
{
	struct jsum js;
	journal_summary(root, name, &js);
	json_decref(js.hdr);
	return js.total;
}

static int is_busy(const char *root, const char *name, const char *kind)
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

/* Take NAME out of the cache if nobody uses or stages it: 1 removed, 0 busy. */
static int evict_one(const char *root, const char *name, int with_partial, struct cs_err *err)
{
	int ufd = lock_take(root, name, "use", LOCK_EX, 0, NULL, NULL, NULL, NULL);
	if (ufd < 0)
		return errno == EWOULDBLOCK ? 0 : cs_fail_errno(err, errno, "cannot lock '%s' in '%s'", name, root);
	int sfd = lock_take(root, name, "stage", LOCK_EX, 0, NULL, NULL, NULL, NULL);
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
		lock_files_remove(root, name);
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

/*
 * Under the cache lock: make room for the plan (free space and max_cache),
 * evicting least recently used models that nobody uses, then create and
 * preallocate every destination file, so that two stagers never both count
 * the same free space.
 */
static int make_room(const struct sc_opts *o, const struct splan *p, const char *part, struct sc_result *r,
		     struct cs_err *err)
{
	uint64_t need = 0;
	for (size_t i = 0; i < p->n; i++) {
		char *dst = path_join(part, p->f[i].rel);
		need += p->f[i].size - allocated(dst, p->f[i].size);
		free(dst);
	}
	if (o->max_cache && p->total > o->max_cache) {
		char a[32], b[32];
		return cs_fail(err, ENOSPC, "'%s' needs %s, more than --max-cache %s", o->name,
			       fmt_bytes(a, sizeof(a), p->total), fmt_bytes(b, sizeof(b), o->max_cache));
	}
	uint64_t free_b = 0;
	if (fs_free_bytes(o->root, &free_b) < 0)
		return cs_fail_errno(err, errno, "cannot read free space of '%s'", o->root);
	struct pubent *pe;
	size_t npe, npe_all;
	published(o->root, &pe, &npe);
	npe_all = npe;
	uint64_t used = p->total;
	for (size_t i = 0; i < npe; i++)
		if (strcmp(pe[i].name, o->name))
			used += pe[i].bytes;
	DIR *d = NULL;
	char *pdir = sub(o->root, ".partial", NULL);
	if ((d = opendir(pdir))) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".journal"))
				continue;
			char *nm = xstrndup(de->d_name, strlen(de->d_name) - strlen(".journal"));
			if (strcmp(nm, o->name))
				used += partial_total(o->root, nm);
			free(nm);
		}
		closedir(d);
	}
	free(pdir);
	int rc = 0;
	uint64_t busy = 0;
	size_t alloc = 0;
	/* Dry run first: evict nothing unless evicting is enough. */
	{
		uint64_t u = used, fb = free_b, b = 0;
		for (size_t i = 0; i < npe; i++) {
			if ((!o->max_cache || u <= o->max_cache) && fb >= need + RESERVE_BYTES)
				break;
			if (!strcmp(pe[i].name, o->name))
				continue;
			if (is_busy(o->root, pe[i].name, "use") || is_busy(o->root, pe[i].name, "stage")) {
				b += pe[i].bytes;
				continue;
			}
			u -= pe[i].bytes;
			fb += pe[i].bytes;
		}
		if ((o->max_cache && u > o->max_cache) || fb < need + RESERVE_BYTES) {
			busy = b;
			npe = 0; /* nothing evicted: the checks below report it */
		}
	}
	for (size_t i = 0; i < npe && !rc; i++) {
		int over_cap = o->max_cache && used > o->max_cache;
		int short_space = free_b < need + RESERVE_BYTES;
		if (!over_cap && !short_space)
			break;
		if (!strcmp(pe[i].name, o->name))
			continue;
		int ev = evict_one(o->root, pe[i].name, 0, err);
		if (ev < 0) {
			rc = -1;
		} else if (ev == 0) {
			busy += pe[i].bytes;
		} else {
			char b[32];
			notify(o, "evicted '%s' (%s, least recently used) to make room", pe[i].name,
			       fmt_bytes(b, sizeof(b), pe[i].bytes));
			r->evicted = xgrow(r->evicted, &alloc, r->nevicted + 1, sizeof(char *));
			r->evicted[r->nevicted++] = xstrdup(pe[i].name);
			used -= pe[i].bytes;
			fs_free_bytes(o->root, &free_b);
		}
	}
	pubents_free(pe, npe_all);
	if (rc)
		return rc;
	char a[32], b[32], c[32];
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
	/* Create and preallocate, so that the space is ours before the lock goes. */
	for (size_t i = 0; i < p->n && !rc; i++) {
		char *dst = path_join(part, p->f[i].rel);
		char *dir = fs_parent_dir(dst);
		if (fs_mkdir_p(dir, 0755) < 0)
			rc = cs_fail_errno(err, errno, "cannot create '%s'", dir);
		int fd = rc ? -1 : open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		struct stat sb;
		if (!rc && (fd < 0 || fstat(fd, &sb) < 0))
			rc = cs_fail_errno(err, errno, "cannot create '%s'", dst);
		int whole = 1;
		for (uint64_t k = 0; k < p->f[i].nchunks; k++)
			whole &= p->f[i].done[k] != 0;
		if (!rc && sb.st_nlink > 1 && !whole) {
			/* A link into a published copy: never write through it. */
			close(fd);
			fd = -1;
			if (unlink(dst) < 0 || (fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0 ||
			    fstat(fd, &sb) < 0)
				rc = cs_fail_errno(err, errno, "cannot recreate '%s'", dst);
		}
		if (!rc && (uint64_t)sb.st_size != p->f[i].size) {
			/* Not what the journal expects: copy this file from scratch. */
			memset(p->f[i].done, 0, p->f[i].nchunks ? p->f[i].nchunks : 1);
			whole = 0;
			if (ftruncate(fd, 0) < 0)
				rc = cs_fail_errno(err, errno, "cannot truncate '%s'", dst);
		}
		/* A file already whole (linked, or resumed complete) is left alone:
		 * even a same-size ftruncate would set the mtime of an inode the
		 * published copy shares. */
		if (!rc && !whole && (fs_preallocate(fd, p->f[i].size) || ftruncate(fd, (off_t)p->f[i].size) < 0))
			rc = cs_fail_errno(err, errno, "cannot allocate %s for '%s'",
					   fmt_bytes(a, sizeof(a), p->f[i].size), dst);
		if (fd >= 0)
			close(fd);
		free(dir);
		free(dst);
	}
	return rc;
}

/*
 * Re-staging a changed source: files whose size and mtime did not change
 * are hard-linked from the published copy (verified when it was staged)
 * instead of copied again. Their chunks count as done.
 */
static size_t link_unchanged(struct splan *p, const char *pub, const char *part, enum sc_verify v)
{
	struct manifest m;
	size_t linked = 0;
	if (manifest_load(pub, &m) < 0)
		return 0;
	if (strcmp(m.source, p->src) || m.chunk != p->chunk) {
		manifest_free(&m);
		return 0;
	}
	size_t i;
	json_t *f;
	json_array_foreach(m.files, i, f) {
		const char *rel = json_string_value(json_object_get(f, "path"));
		uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
		int64_t mt = json_integer_value(json_object_get(f, "mtime_ns"));
		const char *hx = json_string_value(json_object_get(f, "xxh3"));
		for (size_t k = 0; rel && k < p->n; k++) {
			struct sfile *sf = &p->f[k];
			if (strcmp(sf->rel, rel) || sf->size != size || sf->mtime_ns != mt)
				continue;
			if (v == SC_VERIFY_XXH3 && !hx)
				break;
			char *from = path_join(pub, rel), *to = path_join(part, rel);
			char *dir = fs_parent_dir(to);
			/* Never a file that is damaged: it is copied again. */
			if (pub_file_intact(pub, &m, rel, size, mt) && fs_mkdir_p(dir, 0755) == 0 && link(from, to) == 0) {
				sf->linked = 1;
				linked++;
				memset(sf->done, 1, sf->nchunks ? sf->nchunks : 1);
				if (hx) {
					sf->old_digest = strtoull(hx, NULL, 16);
					sf->has_old_digest = 1;
				}
			}
			free(dir);
			free(from);
			free(to);
			break;
		}
	}
	manifest_free(&m);
	return linked;
}

static int cmp_rel(const void *key, const void *elem)
{
	return strcmp(key, ((const struct sfile *)elem)->rel);
}

/* Remove what the partial copy holds beyond the plan's files: a temporary
 * file of an attempt killed mid-write must not be published with it. */
static int prune_extras(const char *part, const struct splan *p, struct cs_err *err)
{
	char **files;
	size_t n;
	fs_list_files(part, &files, &n);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (!rc && !bsearch(files[i], p->f, p->n, sizeof(*p->f), cmp_rel)) {
			char *path = path_join(part, files[i]);
			if (unlink(path) < 0)
				rc = cs_fail_errno(err, errno, "cannot remove leftover '%s'", path);
			free(path);
		}
		free(files[i]);
	}
	free(files);
	return rc;
}

/* fsync every directory under dir, deepest first, then dir. */
static int sync_dirs(const char *dir, const struct splan *p)
{
	for (size_t i = p->n; i-- > 0;) {
		const char *slash = strrchr(p->f[i].rel, '/');
		if (!slash)
			continue;
		char *rel = xstrndup(p->f[i].rel, (size_t)(slash - p->f[i].rel));
		for (;;) {
			char *d = path_join(dir, rel);
			int rc = fs_fsync_path(d);
			free(d);
			if (rc < 0) {
				free(rel);
				return -1;
			}
			char *s = strrchr(rel, '/');
			if (!s)
				break;
			*s = 0;
		}
		free(rel);
	}
	return fs_fsync_path(dir);
}

/*
 * Check the partial copy: sizes, or (xxh3) every chunk read back from the
 * device against the source's hash. A file linked from the copy being
 * replaced that no longer matches the hash it was staged with is not an
 * error: its index goes into stale[] and the caller copies it again.
 */
static int verify_copy(const struct sc_opts *o, struct splan *p, const char *part, size_t *stale, size_t *nstale,
		       struct cs_err *err)
{
	*nstale = 0;
	if (o->verify == SC_VERIFY_SIZE) {
		for (size_t i = 0; i < p->n; i++) {
			char *dst = path_join(part, p->f[i].rel);
			struct stat sb;
			int bad = stat(dst, &sb) < 0 || (uint64_t)sb.st_size != p->f[i].size;
			int rc = bad ? cs_fail(err, EIO, "verification failed: '%s' is not %llu bytes", dst,
					       (unsigned long long)p->f[i].size)
				     : 0;
			free(dst);
			if (rc)
				return rc;
		}
		return 0;
	}
	const char **paths = xcalloc(p->n, sizeof(char *));
	uint64_t *expect = xcalloc(p->n, sizeof(uint64_t));
	uint64_t **hashes = xcalloc(p->n, sizeof(uint64_t *));
	for (size_t i = 0; i < p->n; i++) {
		paths[i] = path_join(part, p->f[i].rel);
		expect[i] = p->f[i].size;
		hashes[i] = xcalloc(p->f[i].nchunks ? p->f[i].nchunks : 1, sizeof(uint64_t));
	}
	int rc = cp_hash_files(paths, p->n, expect, NULL, hashes, p->chunk, o->jobs, 1, o->cancel, NULL, NULL, err);
	for (size_t i = 0; i < p->n && !rc; i++) {
		if (p->f[i].linked) {
			/* Hashed from the source when the copy it came from was staged. */
			memcpy(p->f[i].hash, hashes[i], p->f[i].nchunks * sizeof(uint64_t));
			if (!p->f[i].has_old_digest) {
				rc = cs_fail(err, EAGAIN, "internal: unhashed file kept for xxh3 verification");
			} else if (cp_file_digest(hashes[i], p->f[i].nchunks) != p->f[i].old_digest) {
				stale[(*nstale)++] = i;
				continue;
			}
		}
		for (uint64_t c = 0; c < p->f[i].nchunks && !rc; c++)
			if (hashes[i][c] != p->f[i].hash[c])
				rc = cs_fail(err, EIO,
					     "verification failed: '%s' differs from the source at bytes %llu-%llu",
					     paths[i], (unsigned long long)(c * p->chunk),
					     (unsigned long long)((c + 1) * p->chunk - 1));
		p->f[i].digest = cp_file_digest(p->f[i].hash, p->f[i].nchunks);
		p->f[i].has_digest = 1;
	}
	for (size_t i = 0; i < p->n; i++) {
		free((char *)paths[i]);
		free(hashes[i]);
	}
	free(paths);
	free(expect);
	free(hashes);
	return rc;
}

static void say_waiting(void *arg)
{
	const struct sc_opts *o = arg;
	char *p = xasprintf("%s/.locks/%s.stage", o->root, o->name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	long pid = fd >= 0 ? lock_holder(fd) : 0;
	if (fd >= 0)
		close(fd);
	if (pid > 0)
		notify(o, "waiting: process %ld is staging '%s'", pid, o->name);
	else
		notify(o, "waiting: another process is staging '%s'", o->name);
}

/* The published copy, as this source sees it: under a shared use lock, so
 * nobody replaces it meanwhile. *state is PUB_CHANGED when there is none. */
static int published_state(const struct sc_opts *o, const struct splan *p, const char *pub, enum pub_state *state)
{
	*state = PUB_CHANGED;
	int fd = lock_take(o->root, o->name, "use", LOCK_SH, 30ull * 1000000000, o->cancel, NULL, NULL, NULL);
	if (fd < 0)
		return 0;
	struct manifest m;
	int exists = manifest_load(pub, &m) == 0;
	if (exists) {
		*state = pub_state(pub, &m, p, o->verify);
		manifest_free(&m);
	}
	if (*state == PUB_MATCH)
		touch(pub);
	close(fd);
	return exists;
}

/* A staged name belongs to one source: another source for it is refused
 * (unless --replace), whether it is published or half copied. */
static int check_owner(const struct sc_opts *o, const struct splan *p, const char *pub, struct cs_err *err)
{
	if (o->replace)
		return 0;
	struct manifest m;
	int rc = 0;
	if (manifest_load(pub, &m) == 0) {
		if (!same_source(m.source, p->src))
			rc = cs_fail(err, EEXIST,
				     "'%s' in '%s' is staged from '%s', not from '%s': a staged name belongs to one "
				     "source; give this one another --name, or pass --replace to replace the copy",
				     o->name, o->root, m.source, p->src);
		manifest_free(&m);
		return rc;
	}
	json_t *h = journal_header_load(o->root, o->name, NULL);
	const char *src = h ? json_string_value(json_object_get(h, "source")) : NULL;
	if (src && !same_source(src, p->src))
		rc = cs_fail(err, EEXIST,
			     "'%s' in '%s' holds a partial copy of '%s', not of '%s': a staged name belongs to one "
			     "source; stage that one again to finish it, 'coldstart cache rm %s' to drop it, or pass "
			     "--replace", o->name, o->root, src, p->src, o->name);
	json_decref(h);
	return rc;
}

/* Source and staging root must not overlap: a root inside the source would
 * be copied into itself, and a source inside the copy it is staged to
 * would be replaced by itself. */
static int check_paths(const struct sc_opts *o, const char *src, struct cs_err *err)
{
	if (within(src, o->root))
		return cs_fail(err, EINVAL, "the staging root '%s' is inside the source '%s': the copy would contain itself",
			       o->root, src);
	char *pub = path_join(o->root, o->name), *hidden = NULL;
	int rc = 0;
	if (within(pub, src))
		rc = cs_fail(err, EINVAL, "the source '%s' is the staged copy '%s' itself", src, pub);
	const char *subs[] = { ".partial", ".trash", ".locks" };
	for (size_t i = 0; i < 3 && !rc; i++) {
		hidden = path_join(o->root, subs[i]);
		if (within(hidden, src))
			rc = cs_fail(err, EINVAL, "the source '%s' is inside the staging root's own '%s'", src, hidden);
		free(hidden);
	}
	free(pub);
	return rc;
}

/* Empty, preallocated destinations for files to copy (again). */
static int recreate(const struct splan *p, const char *part, const size_t *idx, size_t n, struct cs_err *err)
{
	for (size_t k = 0; k < n; k++) {
		const struct sfile *f = &p->f[idx[k]];
		char *dst = path_join(part, f->rel);
		unlink(dst);
		int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		int rc = fd < 0 || fs_preallocate(fd, f->size) || ftruncate(fd, (off_t)f->size) < 0
				 ? cs_fail_errno(err, errno, "cannot recreate '%s'", dst)
				 : 0;
		if (fd >= 0)
			close(fd);
		free(dst);
		if (rc)
			return rc;
	}
	return 0;
}

/* Copy the chunks not done yet; each one on disk goes into the journal. */
static int copy_missing(const struct sc_opts *o, struct splan *p, const char *part, const char *jpath,
			struct sc_result *r, struct cs_err *err)
{
	struct jwriter jw = { open(jpath, O_WRONLY | O_APPEND | O_CLOEXEC), 0 };
	if (jw.fd < 0)
		return cs_fail_errno(err, errno, "cannot open journal '%s'", jpath);
	struct cp_file *cf = xcalloc(p->n, sizeof(*cf));
	char **dsts = xcalloc(p->n, sizeof(char *));
	for (size_t i = 0; i < p->n; i++) {
		dsts[i] = path_join(part, p->f[i].rel);
		cf[i] = (struct cp_file){ p->f[i].abs, dsts[i], 0, p->f[i].done, p->f[i].hash };
	}
	struct cp_opts co = {
		.jobs = o->jobs, .chunk = p->chunk, .direct = o->direct, .bwlimit = o->bwlimit,
		.evict_src = !o->keep_src_cache, .hash = o->verify == SC_VERIFY_XXH3, .cancel = o->cancel,
		.progress = o->progress, .progress_arg = o->progress_arg, .durable = journal_record,
		.durable_arg = &jw,
	};
	struct cp_stats cs;
	uint64_t tc = now_ns();
	int rc = cp_copy(cf, p->n, &co, &cs, err);
	r->copy_s += (double)(now_ns() - tc) / 1e9;
	r->copied += cs.bytes;
	r->kernel_copy |= cs.kernel_copy;
	for (size_t i = 0; i < p->n && !rc; i++)
		if (cf[i].size != p->f[i].size)
			rc = cs_fail(err, EAGAIN, "'%s' changed size while it was being staged (%llu bytes, then %llu): "
				     "stage again", p->f[i].abs, (unsigned long long)p->f[i].size,
				     (unsigned long long)cf[i].size);
	for (size_t i = 0; i < p->n; i++)
		free(dsts[i]);
	free(dsts);
	free(cf);
	close(jw.fd);
	return rc;
}

/* Publish the complete, verified copy: one rename, or an exchange with the
 * copy it replaces -- only while no server uses that one. */
static int publish(const struct sc_opts *o, const char *part, const char *pub, const char *jpath,
		   struct sc_result *r, struct cs_err *err)
{
	int ufd = lock_take(o->root, o->name, "use", LOCK_EX, 0, NULL, NULL, NULL, NULL);
	if (ufd < 0)
		return cs_fail(err, EBUSY,
			       "'%s' is in use by a running server, so the new copy was not swapped in; it waits, "
			       "complete, in '%s': stage again once the server stopped", pub, part);
	unlink(jpath);
	struct stat sb;
	int rc = 0;
	if (lstat(pub, &sb) == 0) {
		if (fs_exchange(part, pub) < 0) {
			rc = cs_fail_errno(err, errno, "cannot swap '%s' into '%s'", part, pub);
		} else {
			r->replaced = 1;
			char *trash = xasprintf("%s/.trash/%s.%ld.%llu", o->root, o->name, (long)getpid(),
						(unsigned long long)now_ns());
			if (rename(part, trash) == 0)
				fs_remove_tree(trash);
			else
				fs_remove_tree(part);
			free(trash);
		}
	} else if (rename(part, pub) < 0) {
		rc = cs_fail_errno(err, errno, "cannot publish '%s' as '%s'", part, pub);
	}
	close(ufd);
	char *pdir = sub(o->root, ".partial", NULL);
	if (!rc && (fs_fsync_path(o->root) < 0 || fs_fsync_path(pdir) < 0))
		rc = cs_fail_errno(err, errno, "cannot flush '%s'", o->root);
	free(pdir);
	return rc;
}

int sc_stage(const struct sc_opts *o, struct sc_result *r, struct cs_err *err)
{
	memset(r, 0, sizeof(*r));
	uint64_t t0 = now_ns();
	r->verify = o->verify;
	if (!sc_valid_name(o->name))
		return cs_fail(err, EINVAL, "invalid name '%s': it must be one directory name, not starting with '.'",
			       o->name ? o->name : "");
	if (root_prepare(o->root, err))
		return -1;
	char *root_abs = realpath(o->root, NULL);
	if (!root_abs)
		return cs_fail_errno(err, errno, "cannot resolve staging root '%s'", o->root);
	struct sc_opts oo = *o;
	oo.root = root_abs;
	o = &oo;
	char *src_abs = realpath(o->src, NULL);
	struct splan p;
	memset(&p, 0, sizeof(p));
	int rc = src_abs ? check_paths(o, src_abs, err) : 0;
	free(src_abs);
	if (!rc)
		rc = scan_source(o, &p, err);
	char *pub = path_join(o->root, o->name);
	char *part = xasprintf("%s/.partial/%s", o->root, o->name);
	char *jpath = xasprintf("%s/.partial/%s.journal", o->root, o->name);
	int sfd = -1, cfd = -1;
	if (rc)
		goto out;
	r->path = xstrdup(pub);
	r->files = p.n;
	r->bytes = p.total;
	/* Fast answers first: another source's name, or nothing to do. */
	enum pub_state state;
	if ((rc = check_owner(o, &p, pub, err)))
		goto out;
	if (published_state(o, &p, pub, &state) && state == PUB_MATCH) {
		r->noop = 1;
		goto out;
	}
	int waited = 0;
	sfd = lock_take(o->root, o->name, "stage", LOCK_EX, o->wait_timeout_ns ? o->wait_timeout_ns : 3600ull * 1000000000,
			o->cancel, say_waiting, (void *)o, &waited);
	if (sfd < 0) {
		rc = errno == ECANCELED ? cs_fail(err, ECANCELED, "interrupted")
					: cs_fail_errno(err, errno, "cannot lock '%s' for staging", o->name);
		goto out;
	}
	lock_claim(sfd);
	r->waited = waited;
	/* Under the stage lock: the same questions, answered for good. */
	if ((rc = check_owner(o, &p, pub, err)))
		goto out;
	int exists = published_state(o, &p, pub, &state);
	if (exists && state == PUB_MATCH) {
		r->noop = 1;
		goto out;
	}
	r->repaired = exists && state == PUB_DAMAGED;
	if (exists && state == PUB_CHANGED) {
		struct manifest m;
		if (manifest_load(pub, &m) == 0) {
			if (!same_source(m.source, p.src))
				r->replaced_source = xstrdup(m.source);
			manifest_free(&m);
		}
	}
	/* Resume what an earlier attempt left, if it copied this same source. */
	struct stat sb;
	int have_part = stat(part, &sb) == 0 && S_ISDIR(sb.st_mode);
	if (!have_part || journal_load(jpath, &p, o->verify, &r->resumed) < 0) {
		r->resumed = 0;
		for (size_t i = 0; i < p.n; i++)
			memset(p.f[i].done, 0, p.f[i].nchunks ? p.f[i].nchunks : 1);
		if (have_part)
			notify(o, "discarding an earlier partial copy of '%s' (from another source state)", o->name);
		unlink(jpath);
		if (fs_remove_tree(part) < 0) {
			rc = cs_fail_errno(err, errno, "cannot remove old partial copy '%s'", part);
			goto out;
		}
		if (fs_mkdir_p(part, 0755) < 0) {
			rc = cs_fail_errno(err, errno, "cannot create '%s'", part);
			goto out;
		}
	} else if (r->resumed) {
		char b[32];
		notify(o, "resuming: %s of '%s' already copied", fmt_bytes(b, sizeof(b), r->resumed), o->name);
	}
	/* Files the source did not change since the published copy, and that
	 * are not damaged there: link them. */
	if (!r->resumed)
		r->linked = link_unchanged(&p, pub, part, o->verify);

	/* Room and allocation, serialized with every other stager of this root. */
	char *cpath = sub(o->root, ".locks/cache", NULL);
	cfd = open(cpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(cpath);
	if (cfd < 0 || lock_wait(cfd, LOCK_EX, 600ull * 1000000000, o->cancel, NULL, NULL) < 0) {
		rc = cs_fail_errno(err, errno, "cannot lock the cache of '%s'", o->root);
		goto out;
	}
	rc = make_room(o, &p, part, r, err);
	if (rc && !r->resumed && !r->linked) {
		/* Refused before any data moved: leave nothing behind. */
		unlink(jpath);
		fs_remove_tree(part);
	}
	if (!rc && !r->resumed) {
		char *hdr = journal_header(&p, o->verify);
		rc = fs_write_file_sync(jpath, hdr, strlen(hdr), err);
		free(hdr);
	}
	close(cfd);
	cfd = -1;
	if (rc)
		goto out;

	size_t *stale = xcalloc(p.n, sizeof(size_t)), nstale = 0;
	for (int pass = 0; !rc && pass < 2; pass++) {
		rc = copy_missing(o, &p, part, jpath, r, err);
		if (rc) {
			if (err->code != ECANCELED) {
				char *m = xstrdup(err->msg);
				cs_fail(err, err->code, "%s; the partial copy stays in '%s': stage again to resume, or "
					"'coldstart cache gc' removes it", m, part);
				free(m);
			}
			break;
		}
		/* The source must not have changed under the copy. */
		for (size_t i = 0; i < p.n && !rc; i++) {
			struct stat ss;
			if (stat(p.f[i].abs, &ss) < 0 || (uint64_t)ss.st_size != p.f[i].size ||
			    (int64_t)ss.st_mtim.tv_sec * 1000000000 + ss.st_mtim.tv_nsec != p.f[i].mtime_ns)
				rc = cs_fail(err, EAGAIN, "'%s' changed while it was being staged; stage again", p.f[i].abs);
		}
		uint64_t tv = now_ns();
		if (!rc)
			rc = verify_copy(o, &p, part, stale, &nstale, err);
		r->verify_s += (double)(now_ns() - tv) / 1e9;
		if (rc) {
			if (err->code == EIO) { /* a wrong copy is worth nothing: start over next time */
				unlink(jpath);
				fs_remove_tree(part);
			}
			break;
		}
		if (!nstale)
			break;
		if (pass) {
			rc = cs_fail(err, EIO, "'%s' still differs from its hash after copying it again", p.f[stale[0]].rel);
			break;
		}
		/* Files taken from the copy being replaced that no longer match
		 * their hash: that copy was damaged. Copy them from the source. */
		if (nstale == 1)
			notify(o, "the staged copy's '%s' no longer matches the hash it was staged with: copying it again",
			       p.f[stale[0]].rel);
		else
			notify(o, "%zu files of the staged copy (first '%s') no longer match the hashes they were staged "
			       "with: copying them again", nstale, p.f[stale[0]].rel);
		for (size_t k = 0; k < nstale; k++) {
			struct sfile *f = &p.f[stale[k]];
			f->linked = 0;
			f->has_old_digest = 0;
			memset(f->done, 0, f->nchunks ? f->nchunks : 1);
			r->linked--;
		}
		r->repaired = 1;
		rc = recreate(&p, part, stale, nstale, err);
	}
	free(stale);
	if (rc)
		goto out;
	for (size_t i = 0; i < p.n; i++) {
		if (p.f[i].linked)
			continue;
		/* Keep the source's modification times, as cp -a does. */
		struct timespec ts[2] = { { 0, UTIME_OMIT },
					  { (time_t)(p.f[i].mtime_ns / 1000000000), (long)(p.f[i].mtime_ns % 1000000000) } };
		char *dst = path_join(part, p.f[i].rel);
		utimensat(AT_FDCWD, dst, ts, 0);
		free(dst);
	}
	rc = prune_extras(part, &p, err);
	if (!rc)
		rc = write_manifest(part, o->name, &p, o->verify, err);
	if (!rc && sync_dirs(part, &p) < 0)
		rc = cs_fail_errno(err, errno, "cannot flush the directories of '%s'", part);
	if (!rc)
		rc = publish(o, part, pub, jpath, r, err);
out:
	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	r->seconds = (double)(now_ns() - t0) / 1e9;
	free(pub);
	free(part);
	free(jpath);
	free(root_abs);
	plan_free(&p);
	return rc;
}

void sc_result_free(struct sc_result *r)
{
	free(r->path);
	free(r->replaced_source);
	for (size_t i = 0; i < r->nevicted; i++)
		free(r->evicted[i]);
	free(r->evicted);
	memset(r, 0, sizeof(*r));
}

/* ---- cache management ---- */


int sc_list(const char *root, struct sc_entry **out, size_t *n, struct cs_err *err)
{
	*out = NULL;
	*n = 0;
	struct stat sb;
	if (stat(root, &sb) < 0)
		return cs_fail_errno(err, errno, "cannot open staging root '%s'", root);
	size_t alloc = 0;
	struct pubent *pe;
	size_t npe;
	published(root, &pe, &npe);
	for (size_t i = 0; i < npe; i++) {
		const struct manifest *m = &pe[i].m;
		*out = xgrow(*out, &alloc, *n + 1, sizeof(**out));
		struct sc_entry *e = &(*out)[(*n)++];
		memset(e, 0, sizeof(*e));
		e->name = xstrdup(pe[i].name);
		e->source = xstrdup(m->source);
		e->verify = m->verify;
		e->files = json_array_size(m->files);
		e->bytes = e->done = m->bytes;
		e->staged_at = m->staged_at;
		e->last_used = m->last_used;
		e->in_use = is_busy(root, e->name, "use");
		e->staging = is_busy(root, e->name, "stage");
		e->problem = m->corrupt ? xstrdup(m->corrupt) : NULL;
	}
	pubents_free(pe, npe);
	char *pdir = sub(root, ".partial", NULL);
	DIR *d = opendir(pdir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || has_suffix(de->d_name, ".journal") || has_suffix(de->d_name, ".swap"))
			continue;
		*out = xgrow(*out, &alloc, *n + 1, sizeof(**out));
		struct sc_entry *e = &(*out)[(*n)++];
		memset(e, 0, sizeof(*e));
		e->name = xstrdup(de->d_name);
		e->partial = 1;
		e->staging = is_busy(root, e->name, "stage");
		struct jsum js;
		journal_summary(root, e->name, &js);
		e->bytes = js.total;
		e->done = js.done;
		json_t *j = js.hdr;
		if (j) {
			const char *src = json_string_value(json_object_get(j, "source"));
			e->source = src ? xstrdup(src) : NULL;
			e->files = json_array_size(json_object_get(j, "files"));
			const char *v = json_string_value(json_object_get(j, "verify"));
			e->verify = v && !strcmp(v, "xxh3") ? SC_VERIFY_XXH3 : SC_VERIFY_SIZE;
			json_decref(j);
		}
	}
	if (d)
		closedir(d);
	free(pdir);
	return 0;
}

void sc_entries_free(struct sc_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].name);
		free(e[i].source);
		free(e[i].problem);
	}
	free(e);
}

/* Record a verification's verdict in the manifest -- the problem and the
 * damaged files, or none -- keeping the manifest's mtime (the last use).
 * Only if dir is still the copy that was verified (no stage swapped another
 * in meanwhile: the stage lock is held here). */
static int mark_verdict(const char *root, const char *name, ino_t verified_ino, const char *problem, json_t *bad)
{
	int sfd = lock_take(root, name, "stage", LOCK_EX, 10ull * 1000000000, NULL, NULL, NULL, NULL);
	if (sfd < 0)
		return -1;
	char *dir = path_join(root, name);
	struct manifest m;
	struct stat sb;
	int rc = -1;
	if (stat(dir, &sb) == 0 && sb.st_ino == verified_ino && manifest_load(dir, &m) == 0) {
		if (problem) {
			json_object_set_new(m.j, "corrupt", json_string(problem));
			json_object_set(m.j, "corrupt_files", bad);
		} else {
			json_object_del(m.j, "corrupt");
			json_object_del(m.j, "corrupt_files");
		}
		char *text = json_dumps(m.j, JSON_INDENT(1));
		char *path = path_join(dir, SC_MANIFEST);
		struct cs_err e;
		rc = fs_write_file_sync(path, text, strlen(text), &e);
		struct timespec ts[2] = { { 0, UTIME_OMIT },
					  { (time_t)(m.last_used_ns / 1000000000), (long)(m.last_used_ns % 1000000000) } };
		if (!rc)
			utimensat(AT_FDCWD, path, ts, 0);
		free(path);
		free(text);
		manifest_free(&m);
	}
	free(dir);
	close(sfd);
	return rc;
}

int sc_verify_model(const char *root, const char *name, int jobs, volatile sig_atomic_t *cancel,
		    cp_progress_fn progress, void *arg, struct sc_verify_report *rep, struct cs_err *err)
{
	memset(rep, 0, sizeof(*rep));
	if (!sc_valid_name(name))
		return cs_fail(err, EINVAL, "invalid name '%s'", name);
	char *dir = path_join(root, name);
	struct manifest m;
	struct stat dsb;
	if (stat(dir, &dsb) < 0 || manifest_load(dir, &m) < 0) {
		struct stat sb;
		int e = stat(dir, &sb) == 0 ? EINVAL : ENOENT;
		int rc = cs_fail(err, e, e == ENOENT ? "no staged model '%s' in '%s'"
						    : "'%s' in '%s' has no readable manifest", name, root);
		free(dir);
		return rc;
	}
	size_t n = json_array_size(m.files);
	rep->how = m.verify;
	rep->files = n;
	rep->bytes = m.bytes;
	const char **paths = xcalloc(n ? n : 1, sizeof(char *));
	const char **rels = xcalloc(n ? n : 1, sizeof(char *));
	uint64_t *expect = xcalloc(n ? n : 1, sizeof(uint64_t));
	uint64_t **hashes = xcalloc(n ? n : 1, sizeof(uint64_t *));
	const char **want = xcalloc(n ? n : 1, sizeof(char *));
	size_t *idx = xcalloc(n ? n : 1, sizeof(size_t));
	json_t *bad = json_array();
	size_t nh = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *f = json_array_get(m.files, i);
		const char *rel = json_string_value(json_object_get(f, "path"));
		rels[i] = rel ? rel : "";
		expect[i] = (uint64_t)json_integer_value(json_object_get(f, "size"));
		want[i] = json_string_value(json_object_get(f, "xxh3"));
		paths[i] = path_join(dir, rels[i]);
		hashes[i] = xcalloc(cp_nchunks(expect[i], m.chunk) + 1, sizeof(uint64_t));
	}
	int rc = 0;
	/* Every file, so that a repair knows all that is damaged. */
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		char *problem = NULL;
		if (stat(paths[i], &sb) < 0)
			problem = xasprintf("'%s' is missing", paths[i]);
		else if ((uint64_t)sb.st_size != expect[i])
			problem = xasprintf("'%s' has %llu bytes, the manifest says %llu", paths[i],
					    (unsigned long long)sb.st_size, (unsigned long long)expect[i]);
		if (problem) {
			json_array_append_new(bad, json_string(rels[i]));
			if (!rep->problem)
				rep->problem = problem;
			else
				free(problem);
		} else {
			idx[nh++] = i;
		}
	}
	if (m.verify == SC_VERIFY_XXH3 && nh) {
		const char **hp = xcalloc(nh, sizeof(char *));
		uint64_t *he = xcalloc(nh, sizeof(uint64_t));
		uint64_t **hh = xcalloc(nh, sizeof(uint64_t *));
		for (size_t k = 0; k < nh; k++) {
			hp[k] = paths[idx[k]];
			he[k] = expect[idx[k]];
			hh[k] = hashes[idx[k]];
		}
		struct cs_err e2;
		if (cp_hash_files(hp, nh, he, NULL, hh, m.chunk, jobs, 1, cancel, progress, arg, &e2)) {
			if (e2.code == ECANCELED)
				rc = cs_fail(err, ECANCELED, "interrupted");
			else if (!rep->problem)
				rep->problem = xstrdup(e2.msg);
		} else {
			for (size_t k = 0; k < nh; k++) {
				size_t i = idx[k];
				char *got = hex64(cp_file_digest(hashes[i], cp_nchunks(expect[i], m.chunk)));
				if (!want[i] || strcmp(got, want[i])) {
					json_array_append_new(bad, json_string(rels[i]));
					if (!rep->problem)
						rep->problem = xasprintf("'%s' does not match its hash (xxh3 %s, staged as %s)",
									 paths[i], got, want[i] ? want[i] : "none");
				}
				free(got);
			}
		}
		free(hp);
		free(he);
		free(hh);
	}
	rep->ok = !rc && !rep->problem;
	rep->damaged = json_array_size(bad);
	/* A failed verify marks the copy corrupt (stage then re-copies what is
	 * damaged, and no server is started on it); a passing one clears it. */
	if (!rc && (rep->problem || m.corrupt))
		rep->marked = mark_verdict(root, name, dsb.st_ino, rep->problem, bad) == 0;
	json_decref(bad);
	for (size_t i = 0; i < n; i++) {
		free((char *)paths[i]);
		free(hashes[i]);
	}
	free(paths);
	free(rels);
	free(expect);
	free(hashes);
	free(want);
	free(idx);
	manifest_free(&m);
	free(dir);
	return rc;
}

/* The settings a model was staged with, from its manifest. */
static int staged_opts(const char *root, const char *name, struct sc_opts *o, char **src, char ***globs, struct cs_err *err)
{
	char *dir = path_join(root, name);
	struct manifest m;
	int rc = manifest_load(dir, &m);
	free(dir);
	if (rc)
		return cs_fail(err, ENOENT, "no staged model '%s' in '%s' (or no readable manifest)", name, root);
	*src = xstrdup(m.source);
	o->src = *src;
	o->verify = m.verify;
	o->chunk = m.chunk;
	/* filters: "+GLOB\n" includes, "-GLOB\n" excludes */
	size_t n = 0;
	for (const char *q = m.filters; *q; q++)
		n += *q == '\n';
	*globs = xcalloc(n + 1, sizeof(char *));
	o->include = *globs;
	o->ninclude = 0;
	char **exc = xcalloc(n + 1, sizeof(char *));
	o->exclude = exc;
	o->nexclude = 0;
	for (const char *q = m.filters; *q;) {
		const char *e = strchr(q, '\n');
		size_t l = e ? (size_t)(e - q) : strlen(q);
		if (l > 1 && *q == '+')
			o->include[o->ninclude++] = xstrndup(q + 1, l - 1);
		else if (l > 1 && *q == '-')
			o->exclude[o->nexclude++] = xstrndup(q + 1, l - 1);
		q += l + (e ? 1 : 0);
	}
	manifest_free(&m);
	return 0;
}

int sc_repair(const struct sc_opts *base, const char *name, struct sc_result *r, struct cs_err *err)
{
	memset(r, 0, sizeof(*r));
	struct sc_opts o = *base;
	o.name = name;
	char *src = NULL;
	char **inc = NULL;
	if (staged_opts(base->root, name, &o, &src, &inc, err))
		return -1;
	struct stat sb;
	int rc = stat(src, &sb) < 0 ? cs_fail_errno(err, errno, "cannot repair '%s': its source '%s' is gone", name, src)
				    : sc_stage(&o, r, err);
	for (size_t i = 0; i < o.ninclude; i++)
		free(o.include[i]);
	for (size_t i = 0; i < o.nexclude; i++)
		free(o.exclude[i]);
	free(o.include);
	free(o.exclude);
	free(src);
	return rc;
}

int sc_remove(const char *root, const char *name, struct cs_err *err)
{
	if (!sc_valid_name(name))
		return cs_fail(err, EINVAL, "invalid name '%s'", name);
	char *pub = path_join(root, name);
	char *part = xasprintf("%s/.partial/%s", root, name);
	char *jp = xasprintf("%s.journal", part);
	struct stat sb;
	int have_pub = lstat(pub, &sb) == 0, have_part = lstat(part, &sb) == 0 || lstat(jp, &sb) == 0;
	int rc = 0;
	if (!have_pub && !have_part) {
		rc = cs_fail(err, ENOENT, "no staged model '%s' in '%s'", name, root);
	} else {
		int ev = evict_one(root, name, 1, err);
		if (ev == 0 && have_pub)
			rc = cs_fail(err, EBUSY, "'%s' is in use by a running server or being staged; not removed", pub);
		else if (ev == 0)
			rc = cs_fail(err, EBUSY, "'%s' is being staged right now; not removed", name);
		else if (ev < 0)
			rc = -1;
	}
	free(pub);
	free(part);
	free(jp);
	return rc;
}

int sc_gc(const char *root, uint64_t max_cache, sc_notice_fn notice, void *arg, uint64_t *freed,
	  struct cs_err *err)
{
	*freed = 0;
	struct stat sb;
	if (stat(root, &sb) < 0)
		return cs_fail_errno(err, errno, "cannot open staging root '%s'", root);
	char *trash = sub(root, ".trash", NULL);
	char *pdir = sub(root, ".partial", NULL);
	DIR *d = opendir(trash);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *p = path_join(trash, de->d_name);
		*freed += fs_tree_bytes(p);
		fs_remove_tree(p);
		free(p);
	}
	if (d)
		closedir(d);
	/* Partial copies nobody is working on, and journals without a copy:
	 * one name at a time, copy and journal together. */
	char **names = NULL;
	size_t nn = 0, na = 0;
	d = opendir(pdir);
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *nm = has_suffix(de->d_name, ".journal")
				   ? xstrndup(de->d_name, strlen(de->d_name) - strlen(".journal"))
				   : xstrdup(de->d_name);
		int dup = !sc_valid_name(nm);
		for (size_t k = 0; k < nn && !dup; k++)
			dup = !strcmp(names[k], nm);
		if (dup) {
			free(nm);
			continue;
		}
		names = xgrow(names, &na, nn + 1, sizeof(char *));
		names[nn++] = nm;
	}
	if (d)
		closedir(d);
	for (size_t k = 0; k < nn; k++) {
		const char *nm = names[k];
		int sfd = lock_take(root, nm, "stage", LOCK_EX, 0, NULL, NULL, NULL, NULL);
		if (sfd >= 0) {
			char *part = path_join(pdir, nm), *jp = xasprintf("%s.journal", part), *pub = path_join(root, nm);
			uint64_t bytes = fs_tree_bytes(part) + fs_tree_bytes(jp);
			unlink(jp);
			struct stat st;
			int had_part = lstat(part, &st) == 0;
			if (fs_remove_tree(part) == 0) {
				*freed += bytes;
				if (had_part && notice) {
					char b[32];
					char *m = xasprintf("removed abandoned partial copy '%s' (%s)", part,
							    fmt_bytes(b, sizeof(b), bytes));
					notice(m, arg);
					free(m);
				}
			}
			if (lstat(pub, &st) < 0) {
				int ufd = lock_take(root, nm, "use", LOCK_EX, 0, NULL, NULL, NULL, NULL);
				if (ufd >= 0) {
					lock_files_remove(root, nm);
					close(ufd);
				}
			}
			close(sfd);
			free(part);
			free(jp);
			free(pub);
		}
		free(names[k]);
	}
	free(names);
	free(trash);
	free(pdir);
	if (!max_cache)
		return 0;
	struct pubent *pe;
	size_t npe;
	published(root, &pe, &npe);
	uint64_t used = 0;
	for (size_t i = 0; i < npe; i++)
		used += pe[i].bytes;
	int rc = 0;
	for (size_t i = 0; i < npe && used > max_cache && !rc; i++) {
		int ev = evict_one(root, pe[i].name, 0, err);
		if (ev < 0)
			rc = -1;
		if (ev == 1) {
			used -= pe[i].bytes;
			*freed += pe[i].bytes;
			char b[32];
			char *m = xasprintf("evicted '%s' (%s, least recently used)", pe[i].name,
					    fmt_bytes(b, sizeof(b), pe[i].bytes));
			if (notice)
				notice(m, arg);
			free(m);
		}
	}
	pubents_free(pe, npe);
	if (!rc && used > max_cache) {
		char a[32], b[32];
		rc = cs_fail(err, EBUSY, "the cache still holds %s, over --max-cache %s: the rest is in use",
			     fmt_bytes(a, sizeof(a), used), fmt_bytes(b, sizeof(b), max_cache));
	}
	return rc;
}

/* The published model a path belongs to: the nearest directory at or above
 * it that holds a manifest and sits in a staging root (one with .locks).
 * Symlinks, relative paths and "." / ".." forms are resolved first. */
static int staged_model_of(const char *path, char **root, char **name)
{
	char *real = realpath(path, NULL);
	if (!real)
		return -1;
	struct stat sb;
	char *dir = stat(real, &sb) == 0 && S_ISDIR(sb.st_mode) ? xstrdup(real) : fs_parent_dir(real);
	free(real);
	for (;;) {
		char *man = path_join(dir, SC_MANIFEST);
		char *parent = fs_parent_dir(dir);
		char *locks = path_join(parent, ".locks");
		char *base = fs_basename(dir);
		int hit = stat(man, &sb) == 0 && stat(locks, &sb) == 0 && S_ISDIR(sb.st_mode) && sc_valid_name(base);
		free(man);
		free(locks);
		if (hit) {
			*root = parent;
			*name = base;
			free(dir);
			return 0;
		}
		free(base);
		int top = !strcmp(parent, dir);
		free(dir);
		dir = parent;
		if (top)
			break;
	}
	free(dir);
	return -1;
}

int sc_use(const char *model_path, struct cs_err *err)
{
	char *root, *name;
	if (staged_model_of(model_path, &root, &name))
		return -1;
	char *dir = path_join(root, name);
	int fd = lock_take(root, name, "use", LOCK_SH, 30ull * 1000000000, NULL, NULL, NULL, NULL);
	struct manifest m;
	if (fd < 0) {
		cs_fail_errno(err, errno, "cannot lock staged model '%s' in use", dir);
		fd = -2;
	} else if (manifest_load(dir, &m) < 0) {
		/* Evicted between the check and the lock. */
		cs_fail(err, ENOENT, "staged model '%s' was removed", dir);
		close(fd);
		fd = -2;
	} else {
		if (m.corrupt) {
			cs_fail(err, EBADMSG,
				"staged model '%s' failed verification (%s): re-stage it ('coldstart stage' of its "
				"source, or 'coldstart cache verify --repair %s')", dir, m.corrupt, name);
			close(fd);
			fd = -2;
		} else {
			touch(dir);
		}
		manifest_free(&m);
	}
	free(dir);
	free(root);
	free(name);
	return fd;
}

void sc_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
