/* stagecache: the cache operations -- list, verify (and mark), repair,
 * remove, gc, use. */
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
	sci_published(root, &pe, &npe);
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
		e->in_use = sci_is_busy(root, e->name, "use");
		e->staging = sci_is_busy(root, e->name, "stage");
		e->problem = m->corrupt ? xstrdup(m->corrupt) : NULL;
		if (!m->corrupt) {   /* what a verify has not seen: the files against the manifest, by stat */
			char *dir = path_join(root, e->name), *why;
			e->damaged = sci_pub_check(dir, m, &why, &e->changed) == PF_DAMAGED;
			if (e->damaged)
				e->problem = why;
			else
				free(why);
			free(dir);
		}
	}
	sci_pubents_free(pe, npe);
	char *pdir = sci_sub(root, ".partial", NULL);
	DIR *d = opendir(pdir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || sci_has_suffix(de->d_name, ".journal") || sci_has_suffix(de->d_name, ".swap"))
			continue;
		*out = xgrow(*out, &alloc, *n + 1, sizeof(**out));
		struct sc_entry *e = &(*out)[(*n)++];
		memset(e, 0, sizeof(*e));
		e->name = xstrdup(de->d_name);
		e->partial = 1;
		e->staging = sci_is_busy(root, e->name, "stage");
		struct jsum js;
		sci_journal_summary(root, e->name, &js);
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

const char *sc_entry_state(const struct sc_entry *e)
{
	return e->partial ? "partial" : e->damaged ? "damaged" : e->problem ? "corrupt" : e->changed ? "changed"
											      : "staged";
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

int sci_mark_verdict(const char *root, const char *name, ino_t verified_ino, const char *problem, json_t *bad,
		     json_t *refresh, uint64_t lock_timeout_ns)
{
	int sfd = sci_lock_take(root, name, "stage", LOCK_EX, lock_timeout_ns, NULL, NULL, NULL, NULL);
	if (sfd < 0)
		return -1;
	char *dir = path_join(root, name);
	struct manifest m;
	struct stat sb;
	int rc = -1;
	if (stat(dir, &sb) == 0 && sb.st_ino == verified_ino && sci_manifest_load(dir, &m) == 0) {
		if (problem) {
			json_object_set_new(m.j, "corrupt", json_string(problem));
			json_object_set(m.j, "corrupt_files", bad);
		} else {
			json_object_del(m.j, "corrupt");
			json_object_del(m.j, "corrupt_files");
		}
		struct cs_err e;
		rc = problem || m.corrupt ? sci_manifest_rewrite(dir, &m, &e) : 0;
		sci_manifest_release(&m);
		size_t i;
		json_t *v;
		json_array_foreach(refresh, i, v)
			if (!rc && json_is_string(v))
				rc = sci_pub_reidentify(dir, json_string_value(v));
	}
	free(dir);
	close(sfd);
	return rc;
}

/* A damaged file found by a verify: listed, and the first problem kept
 * (problem is taken). */
static void note_bad(struct sc_verify_report *rep, json_t *bad, const char *rel, char *problem)
{
	json_array_append_new(bad, json_string(rel));
	if (!rep->problem)
		rep->problem = problem;
	else
		free(problem);
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
	if (stat(dir, &dsb) < 0 || sci_manifest_load(dir, &m) < 0) {
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
	/* Every file, so that a repair knows all that is damaged: present, of
	 * its size, then (xxh3) its bytes, then its mtime and the inode as
	 * published -- a copy staged with --verify size has nothing else to
	 * vouch for its bytes. An earlier verdict is not taken: this one makes
	 * its own. */
	struct manifest unmarked = m;
	unmarked.corrupt = NULL;
	char **later = xcalloc(n ? n : 1, sizeof(char *));   /* the mtime or inode problem, once the bytes pass */
	json_t *refresh = json_array();                      /* changed, and its bytes hash as staged */
	int hashed = m.verify == SC_VERIFY_XXH3;
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		char *problem = NULL;
		enum pub_file st = sci_pub_file_check(dir, &unmarked, json_array_get(m.files, i), NULL, &problem);
		if (st != PF_INTACT && hashed && stat(paths[i], &sb) == 0 && S_ISREG(sb.st_mode) &&
		    (uint64_t)sb.st_size == expect[i]) {
			if (st == PF_CHANGED) {
				json_array_append_new(refresh, json_string(rels[i]));
				free(problem);
			} else {
				later[i] = problem;
			}
			problem = NULL;
		}
		if (problem)
			note_bad(rep, bad, rels[i], problem);
		else
			idx[nh++] = i;
	}
	if (hashed && nh) {
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
			json_array_clear(refresh);
		} else {
			for (size_t k = 0; k < nh; k++) {
				size_t i = idx[k];
				char *got = sci_hex64(cp_file_digest(hashes[i], cp_nchunks(expect[i], m.chunk)));
				if (!want[i] || strcmp(got, want[i])) {
					note_bad(rep, bad, rels[i],
						 xasprintf("'%s' does not match its hash (xxh3 %s, staged as %s)", paths[i],
							   got, want[i] ? want[i] : "none"));
					for (size_t r = json_array_size(refresh); r-- > 0;)
						if (!strcmp(json_string_value(json_array_get(refresh, r)), rels[i]))
							json_array_remove(refresh, r);
				} else if (later[i]) {
					note_bad(rep, bad, rels[i], later[i]);
					later[i] = NULL;
				}
				free(got);
			}
		}
		free(hp);
		free(he);
		free(hh);
	}
	free_strv(later, n);
	rep->ok = !rc && !rep->problem;
	rep->damaged = json_array_size(bad);
	/* A failed verify marks the copy corrupt (stage then re-copies what is
	 * damaged, and no server is started on it); a passing one clears it. */
	if (!rc && (rep->problem || m.corrupt || json_array_size(refresh)))
		rep->marked = sci_mark_verdict(root, name, dsb.st_ino, rep->problem, bad, refresh,
					       10ull * 1000000000) == 0 && (rep->problem || m.corrupt);
	json_decref(bad);
	json_decref(refresh);
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
	sci_manifest_release(&m);
	free(dir);
	return rc;
}

/* The settings a model was staged with, from its manifest. */
static int staged_opts(const char *root, const char *name, struct sc_opts *o, char **src, char ***globs, struct cs_err *err)
{
	char *dir = path_join(root, name);
	struct manifest m;
	int rc = sci_manifest_load(dir, &m);
	free(dir);
	if (rc)
		return cs_fail(err, ENOENT, "no staged model '%s' in '%s' (or no readable manifest)", name, root);
	*src = xstrdup(m.source);
	o->src = *src;
	o->verify = m.verify;
	o->chunk = m.chunk;
	const char *kind = json_string_value(json_object_get(m.j, "kind"));
	o->kind_dir = kind && !strcmp(kind, "dir");
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
	sci_manifest_release(&m);
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
	free_strv(o.include, o.ninclude);
	free_strv(o.exclude, o.nexclude);
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
		int ev = sci_evict_one(root, name, 1, err);
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
	char *trash = sci_sub(root, ".trash", NULL);
	char *pdir = sci_sub(root, ".partial", NULL);
	DIR *d = opendir(trash);
	struct dirent *de;
	while ((de = fs_readdir(d))) {
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
	while ((de = fs_readdir(d))) {
		char *nm = sci_has_suffix(de->d_name, ".journal")
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
		int sfd = sci_lock_take(root, nm, "stage", LOCK_EX, 0, NULL, NULL, NULL, NULL);
		if (sfd >= 0) {
			char *part = path_join(pdir, nm), *jp = xasprintf("%s.journal", part), *pub = path_join(root, nm);
			uint64_t bytes = fs_tree_bytes(part) + fs_tree_bytes(jp);
			unlink(jp);
			struct stat st;
			int had_part = lstat(part, &st) == 0;
			if (fs_remove_tree(part) == 0) {
				sci_pub_reidentify(pub, NULL);   /* files it shared lost a link */
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
				int ufd = sci_lock_take(root, nm, "use", LOCK_EX, 0, NULL, NULL, NULL, NULL);
				if (ufd >= 0) {
					sci_lock_files_remove(root, nm);
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
	sci_published(root, &pe, &npe);
	uint64_t used = 0;
	for (size_t i = 0; i < npe; i++)
		used += pe[i].bytes;
	int rc = 0;
	for (size_t i = 0; i < npe && used > max_cache && !rc; i++) {
		int ev = sci_evict_one(root, pe[i].name, 0, err);
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
	sci_pubents_free(pe, npe);
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
	int fd = sci_lock_take(root, name, "use", LOCK_SH, 30ull * 1000000000, NULL, NULL, NULL, NULL);
	struct manifest m;
	if (fd < 0) {
		cs_fail_errno(err, errno, "cannot lock staged model '%s' in use", dir);
		fd = -2;
	} else if (sci_manifest_load(dir, &m) < 0) {
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
			char *why;
			size_t nchanged;
			if (sci_pub_check(dir, &m, &why, &nchanged) == PF_DAMAGED) {
				cs_fail(err, EBADMSG, "staged model '%s' is damaged (%s): re-stage it ('coldstart stage' of "
					"its source copies what is damaged again)", dir, why);
				close(fd);
				fd = -2;
			} else {
				sci_touch(dir);
			}
			free(why);
		}
		sci_manifest_release(&m);
	}
	free(dir);
	free(root);
	free(name);
	return fd;
}

int sc_published_ok(const char *root, const char *name)
{
	if (!sc_valid_name(name))
		return 0;
	char *dir = path_join(root, name);
	struct manifest m;
	int ok = sci_manifest_load(dir, &m) == 0;
	if (ok) {
		ok = !m.corrupt;
		sci_manifest_release(&m);
	}
	free(dir);
	return ok;
}

int sc_use_checked(const char *model_path, sc_notice_fn notice, void *arg, int *fd, struct cs_err *err)
{
	*fd = sc_use(model_path, err);
	if (*fd != -2)
		return 0;
	*fd = -1;
	if (err->code == EBADMSG)
		return -1;
	cs_say(notice, arg, "%s", err->msg);
	return 0;
}

void sc_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
