/* caches: compile and kernel cache sets for measured starts (see caches.h). */
#define _GNU_SOURCE
#include "caches.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/csvlog.h"
#include "core/base/fsutil.h"
#include "core/io/pagecache.h"
#include "core/base/schema.h"
#include "core/stage/stagecache.h"
#include "core/base/banned.h"

extern char **environ;

static const char *const state_names[] = { "none", "cold", "warm", "staged" };

const char *cc_state_name(enum cc_state s)
{
	return s <= CC_STAGED ? state_names[s] : "?";
}

int cc_parse_states(const char *list, enum cc_state *out, size_t *n, struct cs_err *err)
{
	*n = 0;
	char *copy = xstrdup(list ? list : ""), *save = NULL;
	int rc = 0;
	for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
		enum cc_state s = CC_NONE;
		for (int k = CC_COLD; k <= CC_STAGED; k++)
			if (!strcmp(t, state_names[k]))
				s = (enum cc_state)k;
		if (s == CC_NONE) {
			rc = cs_fail(err, EINVAL, "unknown cache state '%s' (cold, warm, staged)", t);
			break;
		}
		for (size_t k = 0; k < *n; k++)
			if (out[k] == s)
				rc = cs_fail(err, EINVAL, "cache state '%s' given twice", t);
		if (!rc)
			out[(*n)++] = s;
	}
	free(copy);
	if (!rc && !*n)
		rc = cs_fail(err, EINVAL, "--caches '%s' names no state (cold, warm, staged)", list ? list : "");
	return rc;
}

/* The variables of a comma list (malloc'd strings), or -1 with err. */
static int env_names(const char *list, char ***out, size_t *n, struct cs_err *err)
{
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	char *copy = xstrdup(list ? list : CC_ENV_DEFAULT), *save = NULL;
	int rc = 0;
	for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
		int ok = (*t < '0' || *t > '9');
		for (const char *c = t; *c && ok; c++)
			ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
		if (!ok) {
			rc = cs_fail(err, EINVAL, "--cache-env: '%s' is not an environment variable's name", t);
			break;
		}
		for (size_t k = 0; k < *n && !rc; k++)
			if (!strcmp((*out)[k], t))
				rc = cs_fail(err, EINVAL, "--cache-env: '%s' given twice", t);
		if (!rc) {
			*out = xgrow(*out, &cap, *n + 1, sizeof(char *));
			(*out)[(*n)++] = xstrdup(t);
		}
	}
	free(copy);
	if (!rc && !*n)
		rc = cs_fail(err, EINVAL, "--cache-env names no variable");
	if (rc) {
		free_strv(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int cc_check_env(const char *list, struct cs_err *err)
{
	char **v;
	size_t n;
	if (env_names(list, &v, &n, err))
		return -1;
	free_strv(v, n);
	return 0;
}

int cc_check(const struct cc_opts *o, const enum cc_state *states, size_t n, struct cs_err *err)
{
	if (cc_check_env(o->env, err))
		return -1;
	int staged = 0;
	for (size_t k = 0; k < n; k++)
		staged |= states[k] == CC_STAGED;
	if (!staged)
		return 0;
	if (!o->src || !*o->src)
		return cs_fail(err, EINVAL, "caches 'staged' need --cache-src DIR|URL: a cache set on the network "
			       "storage (one made by a --caches warm run, e.g. DIR/warm-NAME copied there)");
	if (sc_remote_kind(o->src))
		return 0;
	struct stat st;
	if (stat(o->src, &st) < 0)
		return cs_fail_errno(err, errno, "--cache-src '%s'", o->src);
	if (!S_ISDIR(st.st_mode))
		return cs_fail(err, ENOTDIR, "--cache-src '%s' is not a directory", o->src);
	int rc = 0;
	if (!cc_is_cache_set(o->src, o->env)) {
		char *list = xstrdup(o->env ? o->env : CC_ENV_DEFAULT);
		rc = cs_fail(err, EINVAL, "--cache-src '%s' is not a cache set: it has none of the directories %s "
			     "(one per --cache-env variable)", o->src, list);
		free(list);
	}
	return rc;
}

int cc_is_cache_set(const char *path, const char *env)
{
	char **v;
	size_t nv;
	struct cs_err e;
	if (env_names(env, &v, &nv, &e))
		return 0;
	int found = 0;
	for (size_t k = 0; k < nv && !found; k++) {
		char *p = path_join(path, v[k]);
		struct stat st;
		found = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
		free(p);
	}
	free_strv(v, nv);
	return found;
}

static int copy_file(const char *from, const char *to, mode_t mode, uint64_t *bytes, struct cs_err *err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return cs_fail_errno(err, errno, "cannot open '%s'", from);
	mode &= 0777 & ~sc_umask();   /* the staged file's bits, masked as a new file's are (no setuid) */
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (out < 0) {
		int e = errno;
		close(in);
		return cs_fail_errno(err, e, "cannot create '%s'", to);
	}
	int rc = 0;
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
			/* No kernel copy here: read and write. */
			char buf[1 << 16];
			ssize_t r;
			off_t off = lseek(out, 0, SEEK_CUR);
			while (off >= 0 && (r = read(in, buf, sizeof(buf))) > 0) {
				if (fs_pwrite_full(out, buf, (size_t)r, off) < 0) {
					r = -1;
					break;
				}
				off += r;
				*bytes += (uint64_t)r;
			}
			n = off < 0 ? -1 : r;
		}
		if (n < 0) {
			rc = cs_fail_errno(err, errno, "cannot copy '%s' to '%s'", from, to);
			break;
		}
		if (n == 0)
			break;
		*bytes += (uint64_t)n;
	}
	if (fchmod(out, mode) < 0 && !rc)
		rc = cs_fail_errno(err, errno, "cannot set the mode of '%s'", to);
	if (close(out) < 0 && !rc)
		rc = cs_fail_errno(err, errno, "cannot write '%s'", to);
	close(in);
	return rc;
}

int cc_copy_tree(const char *src, const char *dst, uint64_t *bytes, size_t *files, struct cs_err *err)
{
	*bytes = 0;
	*files = 0;
	if (mkdir(dst, 0700) < 0 && errno != EEXIST)
		return cs_fail_errno(err, errno, "cannot create '%s'", dst);
	char **list;
	size_t n;
	fs_list_files(src, &list, &n);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (!rc && strcmp(list[i], SC_MANIFEST)) {
			char *from = path_join(src, list[i]), *to = path_join(dst, list[i]);
			char *dir = fs_parent_dir(to);
			struct stat st;
			if (fs_mkdir_p(dir, 0700) < 0)
				rc = cs_fail_errno(err, errno, "cannot create '%s'", dir);
			else if (stat(from, &st) < 0)
				rc = cs_fail_errno(err, errno, "cannot read '%s'", from);
			else if (!(rc = copy_file(from, to, st.st_mode, bytes, err)))
				(*files)++;
			free(dir);
			free(from);
			free(to);
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

char **cc_envp(const char *env, const char *root)
{
	char **names;
	size_t nn;
	struct cs_err e;
	if (env_names(env, &names, &nn, &e))
		return NULL;
	size_t ne = 0;
	while (environ && environ[ne])
		ne++;
	char **out = xcalloc(ne + nn + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < ne; i++) {
		int ours = 0;
		for (size_t j = 0; j < nn && !ours; j++) {
			size_t l = strlen(names[j]);
			ours = !strncmp(environ[i], names[j], l) && environ[i][l] == '=';
		}
		if (!ours)
			out[k++] = xstrdup(environ[i]);
	}
	for (size_t j = 0; j < nn; j++)
		out[k++] = xasprintf("%s=%s/%s", names[j], root, names[j]);
	free_strv(names, nn);
	return out;
}

void cc_envp_free(char **envp)
{
	for (size_t i = 0; envp && envp[i]; i++)
		free(envp[i]);
	free(envp);
}

/* ROOT/VAR for each variable, created (0700: caches may hold code). */
int cc_make_dirs(const char *env, const char *root, struct cs_err *err)
{
	char **names;
	size_t nn;
	if (env_names(env, &names, &nn, err))
		return -1;
	int rc = 0;
	for (size_t j = 0; j < nn && !rc; j++) {
		char *p = path_join(root, names[j]);
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = cs_fail_errno(err, errno, "cannot create '%s'", p);
		free(p);
	}
	free_strv(names, nn);
	return rc;
}

void cc_set_measure(struct cc_set *s)
{
	char **files;
	size_t n;
	fs_list_files(s->root, &files, &n);
	s->files = 0;
	s->bytes = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char *p = path_join(s->root, files[i]);
		if (strcmp(files[i], SC_MANIFEST) && strcmp(files[i], CC_PRIMED_MARKER) && stat(p, &st) == 0) {
			s->files++;
			s->bytes += (uint64_t)st.st_size;
		}
		free(p);
		free(files[i]);
	}
	free(files);
}

static char *safe_name(const char *name)
{
	char *s = xstrdup(name && *name ? name : "model");
	for (char *p = s; *p; p++)
		if (*p == '/' || *p == ' ' || (p == s && *p == '.'))
			*p = '_';
	return s;
}

static void stage_notice(const char *msg, void *arg)
{
	const struct cc_opts *o = arg;
	cs_say(o->notice, o->cb_arg, "caches: %s", msg);
}

static int open_staged(const struct cc_opts *o, const char *dir, struct cc_set *s, struct cs_err *err)
{
	s->stage_root = path_join(dir, "staged");
	if (fs_mkdir_last(s->stage_root, 0755) < 0)
		return cs_fail_errno(err, errno, "cannot create the caches' stage root '%s'", s->stage_root);
	/* The copy's name comes from a locked hold directory: unique across
	 * processes and PID namespaces sharing DIR, and live while held. */
	s->hold = cc_private_dir(dir, "hold", &s->lock_fd, err);
	if (!s->hold)
		return -1;
	s->stage_name = xasprintf("caches-%s", strrchr(s->hold, '/') + 1 + strlen("hold-"));   /* caches-PID-HEX */
	struct cs_err e;
	if (!sc_remote_kind(o->src)) {
		/* The copy starts cold, as a staged model's does. */
		struct pc_set set;
		char *paths[1] = { (char *)o->src };
		if (pc_collect(paths, 1, &set, &e) == 0) {
			if (pc_evict(&set, &e))
				cs_say(o->notice, o->cb_arg, "cannot evict '%s' before staging it: %s", o->src, e.msg);
			pc_set_release(&set);
		}
	}
	struct sc_opts so = {
		.root = s->stage_root, .src = o->src, .name = s->stage_name, .jobs = o->stage_jobs,
		.kind_dir = 1, .bearer = o->bearer, .insecure = o->insecure, .cacert = o->cacert, .no_sign = o->no_sign,
		.cancel = o->cancel, .notice = stage_notice, .notice_arg = (void *)o,
	};
	struct sc_result r = { 0 };
	int rc = sc_stage(&so, &r, &e);
	if (rc) {
		char *shown = sc_source_shown(o->src);
		cs_fail(err, e.code, "staging the caches '%s' into '%s' failed: %s", shown, s->stage_root, e.msg);
		free(shown);
	} else {
		s->root = xstrdup(r.path);
		s->copy_s = r.seconds;
	}
	sc_result_release(&r);
	return rc;
}

static int cc_set_open_in(const struct cc_opts *o, const char *dir, enum cc_state st, const char *name,
			  struct cc_set *s, struct cs_err *err);

int cc_set_open(const struct cc_opts *o, enum cc_state st, const char *name, struct cc_set *s, struct cs_err *err)
{
	memset(s, 0, sizeof(*s));
	s->state = st;
	s->copy_s = -1;
	s->lock_fd = -1;
	if (fs_mkdir_last(o->dir, 0755) < 0)
		return cs_fail_errno(err, errno, "cannot create the cache directory '%s'", o->dir);
	/* The server gets absolute paths: it may change its directory. */
	char *dir = fs_canonical(o->dir);
	if (!dir)
		return cs_fail_errno(err, errno, "cannot resolve the cache directory '%s'", o->dir);
	int rc = cc_set_open_in(o, dir, st, name, s, err);
	free(dir);
	return rc;
}

static int cc_set_open_in(const struct cc_opts *o, const char *dir, enum cc_state st, const char *name,
			  struct cc_set *s, struct cs_err *err)
{
	int rc = 0;
	if (st == CC_COLD) {
		s->root = cc_private_dir(dir, "cold", &s->lock_fd, err);
		if (!s->root)
			return -1;
		s->remove_root = 1;
	} else if (st == CC_WARM) {
		char *safe = safe_name(name);
		s->root = xasprintf("%s/warm-%s", dir, safe);
		free(safe);
		if (mkdir(s->root, 0700) < 0 && errno != EEXIST)
			return cs_fail_errno(err, errno, "cannot create the warm cache set '%s'", s->root);
	} else if (st == CC_STAGED) {
		rc = open_staged(o, dir, s, err);
	} else {
		return cs_fail(err, EINVAL, "no cache state");
	}
	if (!rc)
		rc = cc_make_dirs(o->env, s->root, err);
	if (!rc) {
		cc_set_measure(s);
		if (st == CC_COLD && s->files)
			rc = cs_fail(err, EEXIST, "the cold cache set '%s' is not empty", s->root);
	}
	if (!rc) {
		s->envp = cc_envp(o->env, s->root);
		if (!s->envp)
			rc = cs_fail(err, EINVAL, "invalid --cache-env");
	}
	if (rc)
		cc_set_close(s, o);
	return rc;
}

int cc_primed(const struct cc_set *s, const char *key)
{
	char *p = path_join(s->root, CC_PRIMED_MARKER);
	FILE *f = fopen(p, "re");
	free(p);
	if (!f)
		return 0;
	char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return !strcmp(buf, key);
}

int cc_mark_primed(const struct cc_set *s, const char *key, struct cs_err *err)
{
	char *p = path_join(s->root, CC_PRIMED_MARKER);
	int rc = fs_write_file_sync(p, key, strlen(key), err);
	free(p);
	return rc;
}

void cc_set_notes(const struct cc_set *s, struct strbuf *notes)
{
	notes_add(notes, NOTE_CACHES, "%s", cc_state_name(s->state));
	notes_add(notes, NOTE_CACHE_FILES, "%zu", s->files);
	notes_add(notes, NOTE_CACHE_BYTES, "%llu", (unsigned long long)s->bytes);
	struct cc_set after = *s;
	cc_set_measure(&after);
	notes_add(notes, NOTE_CACHE_BYTES_AFTER, "%llu", (unsigned long long)after.bytes);
	if (s->copy_s >= 0)
		notes_add(notes, NOTE_CACHE_COPY_S, "%.3f", s->copy_s);
}

void cc_set_close(struct cc_set *s, const struct cc_opts *o)
{
	struct cs_err e;
	if (s->remove_root && s->root && fs_remove_tree(s->root))
		cs_say(o->notice, o->cb_arg, "cannot remove the cold cache set '%s': %s", s->root, strerror(errno));
	if (s->stage_name && sc_remove(s->stage_root, s->stage_name, &e) && e.code != ENOENT)
		cs_say(o->notice, o->cb_arg, "cannot remove the staged caches: %s", e.msg);
	if (s->hold)
		rmdir(s->hold);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->hold);
	cc_envp_free(s->envp);
	free(s->root);
	free(s->stage_root);
	free(s->stage_name);
	memset(s, 0, sizeof(*s));
	s->lock_fd = -1;
}

/* A directory's lock taken without waiting: the open fd holding it, -1
 * when another process holds it, -2 when it cannot be opened. */
static int lock_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -2;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

char *cc_private_dir(const char *parent, const char *prefix, int *lock_fd, struct cs_err *err)
{
	/* Created and locked as one step (fs_temp_create retries a name that
	 * a concurrent cc_remove_unlocked took before the lock was held). */
	char *pfx = xasprintf("%s-", prefix);
	struct fs_temp t;
	int rc = fs_temp_create(parent, pfx, 1, &t);
	free(pfx);
	*lock_fd = -1;
	if (rc < 0) {
		cs_fail_errno(err, errno, "cannot create a directory in '%s'", parent);
		return NULL;
	}
	if (fchmod(t.fd, 0700) < 0) {   /* private, as mkdtemp made it */
		cs_fail_errno(err, errno, "cannot make '%s' private", t.path);
		rmdir(t.path);
		fs_temp_done(&t);
		return NULL;
	}
	*lock_fd = t.fd;
	return t.path;
}

void cc_remove_unlocked(const char *parent, const char *prefix, cs_msg_fn notice, void *arg)
{
	DIR *d = parent ? opendir(parent) : NULL;
	struct dirent *de;
	size_t l = strlen(prefix);
	while (d && (de = fs_readdir(d))) {
		if (strncmp(de->d_name, prefix, l) || de->d_name[l] != '-')
			continue;
		char *p = path_join(parent, de->d_name);
		int fd = lock_dir(p);
		struct stat a, b;
		/* Removed while we hold its lock, if it is still the directory
		 * locked: nobody starts using it meanwhile. */
		if (fd >= 0 && fstat(fd, &a) == 0 && lstat(p, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev &&
		    fs_remove_tree(p) == 0)
			cs_say(notice, arg, "removed '%s', left by a coldstart that was killed", p);
		if (fd >= 0)
			close(fd);
		free(p);
	}
	if (d)
		closedir(d);
}

void cc_remove_stale(const struct cc_opts *o)
{
	if (!o->dir)
		return;
	cc_remove_unlocked(o->dir, "cold", o->notice, o->cb_arg);
	char *root = path_join(o->dir, "staged");
	struct sc_entry *e = NULL;
	size_t n = 0;
	struct cs_err err;
	if (access(root, F_OK) == 0 && sc_list(root, &e, &n, &err) == 0) {
		/* Staged copies whose hold nobody has locked. */
		for (size_t i = 0; i < n; i++) {
			if (strncmp(e[i].name, "caches-", 7) || e[i].staging)
				continue;
			char *hold = xasprintf("%s/hold-%s", o->dir, e[i].name + 7);
			int fd = lock_dir(hold);
			if (fd != -1 && sc_remove(root, e[i].name, &err) == 0)
				cs_say(o->notice, o->cb_arg, "removed staged caches '%s', left by a coldstart that was killed",
				       e[i].name);
			if (fd >= 0)
				close(fd);
			free(hold);
		}
		sc_entries_free(e, n);
	}
	free(root);
	cc_remove_unlocked(o->dir, "hold", NULL, NULL);
}

char *cc_default_dir(const char *csv)
{
	char *parent = csv ? fs_parent_dir(csv) : xstrdup(".");
	char *dir = path_join(parent, "coldstart-caches");
	free(parent);
	return dir;
}

/* exec's default name for the set staged from src. */
static char *private_name(const char *src)
{
	char *base = sc_default_name(src);
	size_t bl = base ? strlen(base) : 0;
	char *name = bl >= 6 && !strcmp(base + bl - 6, "caches") ? xstrdup(base)
								  : xasprintf("%s-caches", base ? base : "model");
	free(base);
	return name;
}

/* The server's copy of x->staged under ROOT/.work. */
static int private_copy(const char *root, const char *name, const char *env, struct cc_private *x,
			struct cs_err *err)
{
	/* Absolute: the server may change its directory. */
	char *aroot = fs_canonical(root);
	char *wroot = path_join(aroot ? aroot : root, ".work");
	free(aroot);
	if (fs_mkdir_last(wroot, 0755) < 0) {
		int e = errno;
		cs_fail(err, e, "cannot create '%s': %s", wroot, strerror(e));
		free(wroot);
		return -1;
	}
	cc_remove_unlocked(wroot, name, NULL, NULL);
	x->work = cc_private_dir(wroot, name, &x->lock_fd, err);
	free(wroot);
	if (!x->work)
		return -1;
	uint64_t t0 = now_ns();
	struct cs_err e;
	if (cc_copy_tree(x->staged, x->work, &x->bytes, &x->files, &e) || cc_make_dirs(env, x->work, &e))
		return cs_fail(err, e.code, "the server's copy of the caches: %s", e.msg);
	x->copy_s = (double)(now_ns() - t0) / 1e9;
	x->envp = cc_envp(env, x->work);
	return 0;
}

int cc_private_check(const char *src, const char *env, struct cs_err *err)
{
	enum cc_state st = CC_STAGED;
	struct cc_opts o = { .env = env, .src = src };
	return cc_check(&o, &st, 1, err);
}

int cc_private_open(const struct sc_opts *so, const char *env, struct cc_private *x, cs_msg_fn warn, void *arg,
		    struct cs_err *err)
{
	struct sc_opts o = *so;
	char *name = so->name ? xstrdup(so->name) : private_name(so->src);
	o.name = name;
	o.kind_dir = 1;
	struct sc_result r;
	struct cs_err e;
	if (sc_stage(&o, &r, &e)) {
		free(name);
		sc_result_release(&r);
		return cs_fail(err, e.code, "staging the caches: %s", e.msg);
	}
	x->staged = r.path;
	r.path = NULL;
	x->stage_s = r.seconds;
	x->copied = !r.noop;
	sc_result_release(&r);
	int rc = sc_use_checked(x->staged, warn, arg, &x->use_fd, err);
	if (!rc)
		rc = private_copy(so->root, name, env, x, err);
	free(name);
	return rc;
}

void cc_private_close(struct cc_private *x, cs_msg_fn warn, void *arg)
{
	if (x->work && fs_remove_tree(x->work))
		cs_say(warn, arg, "cannot remove the server's copy of the caches '%s': %s", x->work, strerror(errno));
	if (x->lock_fd >= 0)
		close(x->lock_fd);
	sc_release(x->use_fd);
	cc_envp_free(x->envp);
	free(x->staged);
	free(x->work);
}
