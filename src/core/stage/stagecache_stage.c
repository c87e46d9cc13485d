/* stagecache: sc_stage, in phases, and the steps of a copy. */
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
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/base/workpool.h"
#include "core/model/model.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

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

static void say_waiting(void *arg)
{
	const struct sc_opts *o = arg;
	char *p = xasprintf("%s/.locks/%s.stage", o->root, o->name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	long pid = fd >= 0 ? sci_lock_holder(fd) : 0;
	if (fd >= 0)
		close(fd);
	if (pid > 0)
		sci_notify(o, "waiting: process %ld is staging '%s'", pid, o->name);
	else
		sci_notify(o, "waiting: another process is staging '%s'", o->name);
}

/* The published copy, as this source sees it: under a shared use lock, so
 * nobody replaces it meanwhile. *state is PUB_CHANGED when there is none.
 * A copy that matches but whose permission bits are not the ones this
 * stage gives (the source's changed, or --chmod) gets them in place when
 * the caller holds the stage lock (locked); without it, it does not
 * match yet. */
static int published_state(const struct sc_opts *o, const struct splan *p, const char *pub, int locked,
			   enum pub_state *state)
{
	*state = PUB_CHANGED;
	int fd = sci_lock_take(o->root, o->name, "use", LOCK_SH, 30ull * 1000000000, o->cancel, NULL, NULL, NULL);
	if (fd < 0)
		return 0;
	struct manifest m;
	int exists = sci_manifest_load(pub, &m) == 0;
	if (exists) {
		*state = sci_pub_state(pub, &m, p, o->verify);
		sci_manifest_release(&m);
	}
	struct cs_err e;
	int modes = *state == PUB_MATCH ? sci_apply_modes(o, p, pub, 0, &e) : 0;
	if (modes && locked && sci_apply_modes(o, p, pub, 1, &e) >= 0) {
		sci_pub_reidentify(pub, SCI_EVERY);   /* found intact just now: only the modes changed */
		sci_notify(o, "gave the files of '%s' the permission bits %s (%d changed)", o->name,
			   o->chmod.set ? "--chmod asks for" : "of the source, masked by the umask", modes);
		modes = 0;
	}
	if (modes)
		*state = PUB_CHANGED;
	if (*state == PUB_MATCH)
		sci_touch(pub);
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
	if (sci_manifest_load(pub, &m) == 0) {
		if (!sci_same_source(m.source, p->src))
			rc = cs_fail(err, EEXIST,
				     "'%s' in '%s' is staged from '%s', not from '%s': a staged name belongs to one "
				     "source; give this one another --name, or pass --replace to replace the copy",
				     o->name, o->root, m.source, p->src);
		sci_manifest_release(&m);
		return rc;
	}
	json_t *h = sci_journal_header_load(o->root, o->name, NULL);
	const char *src = h ? json_string_value(json_object_get(h, "source")) : NULL;
	if (src && !sci_same_source(src, p->src))
		rc = cs_fail(err, EEXIST,
			     "'%s' in '%s' holds a partial copy of '%s', not of '%s': a staged name belongs to one "
			     "source; stage that one again to finish it, 'coldstart cache rm %s' to drop it, or pass "
			     "--replace", o->name, o->root, src, p->src, o->name);
	json_decref(h);
	return rc;
}

/* Publish the complete, verified copy: one rename, or an exchange with the
 * copy it replaces -- only while no server uses that one. */
static int publish(const struct sc_opts *o, const char *part, const char *pub, const char *jpath,
		   struct sc_result *r, struct cs_err *err)
{
	/* A second, not one try: `cache ls` and cache serve look whether a
	 * model is in use by taking this lock for an instant. */
	int ufd = sci_lock_take(o->root, o->name, "use", LOCK_EX, 1000000000ull, NULL, NULL, NULL, NULL);
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
			/* Files taken over from the old copy lost a link with it. */
			if (r->linked)
				sci_pub_reidentify(pub, NULL);
		}
	} else if (rename(part, pub) < 0) {
		rc = cs_fail_errno(err, errno, "cannot publish '%s' as '%s'", part, pub);
	}
	close(ufd);
	char *pdir = sci_sub(o->root, ".partial", NULL);
	if (!rc && (fs_fsync_path(o->root) < 0 || fs_fsync_path(pdir) < 0))
		rc = cs_fail_errno(err, errno, "cannot flush '%s'", o->root);
	free(pdir);
	return rc;
}

/*
 * One stage, as sc_stage runs it:
 *  1. prepare: the root ready and resolved, source and root checked apart,
 *     the source scanned into a plan;
 *  2. decide: whose name it is and whether anything is to do -- answered
 *     once fast, then again for good under the stage lock;
 *  3. resume: chunks an earlier attempt put on disk, or a clean start;
 *     files unchanged and intact in the copy being replaced are linked;
 *  4. allocate: room (LRU eviction) and every file preallocated under the
 *     cache lock; the journal's header;
 *  5. copy and verify: what is missing, then the check; files linked from a
 *     damaged copy are copied again (once);
 *  6. publish: the source's mtimes, leftovers out, the manifest, fsync, one
 *     rename (or exchange).
 */
struct stage_job {
	struct sc_opts o;              /* the caller's, root resolved */
	struct sc_result *r;
	struct splan p;
	char *root_abs, *pub, *part, *jpath;
	int sfd;                       /* the stage lock, held from phase 2 on */
};

/* The partial copy and its journal removed. Files it shared with the
 * published copy (linked from it) lost a link: that copy's manifest
 * records their identity anew. */
static int drop_partial(struct stage_job *j)
{
	unlink(j->jpath);
	int rc = fs_remove_tree(j->part);
	sci_pub_reidentify(j->pub, NULL);
	return rc;
}

static int stage_prepare(struct stage_job *j, struct cs_err *err)
{
	if (sci_root_prepare(j->o.root, err))
		return -1;
	j->root_abs = realpath(j->o.root, NULL);
	if (!j->root_abs)
		return cs_fail_errno(err, errno, "cannot resolve staging root '%s'", j->o.root);
	j->o.root = j->root_abs;
	j->pub = path_join(j->o.root, j->o.name);
	j->part = xasprintf("%s/.partial/%s", j->o.root, j->o.name);
	j->jpath = xasprintf("%s/.partial/%s.journal", j->o.root, j->o.name);
	char *src_abs = realpath(j->o.src, NULL);
	int rc = src_abs ? sci_check_paths(&j->o, src_abs, err) : 0;
	free(src_abs);
	if (!rc)
		rc = sci_scan_source(&j->o, &j->p, err);
	if (!rc) {
		j->r->path = xstrdup(j->pub);
		j->r->files = j->p.n;
		j->r->bytes = j->p.total;
	}
	return rc;
}

/* 1: nothing to do (published from this very source state, intact). */
static int stage_decide(struct stage_job *j, struct cs_err *err)
{
	const struct sc_opts *o = &j->o;
	struct sc_result *r = j->r;
	enum pub_state state;
	if (check_owner(o, &j->p, j->pub, err))
		return -1;
	if (published_state(o, &j->p, j->pub, 0, &state) && state == PUB_MATCH)
		return 1;
	int waited = 0;
	j->sfd = sci_lock_take(o->root, o->name, "stage", LOCK_EX,
			       o->wait_timeout_ns ? o->wait_timeout_ns : 3600ull * 1000000000, o->cancel, say_waiting,
			       (void *)o, &waited);
	if (j->sfd < 0)
		return errno == ECANCELED ? cs_fail(err, ECANCELED, "interrupted")
					  : cs_fail_errno(err, errno, "cannot lock '%s' for staging", o->name);
	sci_lock_claim(j->sfd);
	r->waited = waited;
	/* A publish killed inside fs_exchange's fallback (no RENAME_EXCHANGE):
	 * the old copy back where it was, or its leftover side removed. */
	fs_exchange_recover(j->pub);
	if (check_owner(o, &j->p, j->pub, err))
		return -1;
	int exists = published_state(o, &j->p, j->pub, 1, &state);
	if (exists && state == PUB_MATCH)
		return 1;
	r->repaired = exists && state == PUB_DAMAGED;
	struct manifest m;
	if (exists && state == PUB_CHANGED && sci_manifest_load(j->pub, &m) == 0) {
		if (!sci_same_source(m.source, j->p.src))
			r->replaced_source = xstrdup(m.source);
		sci_manifest_release(&m);
	}
	return 0;
}

/* What earlier stagers of NAME that were killed left besides the partial
 * copy (which is resumed): the journal's temporaries (flocked while their
 * writer lives), and removed copies in .trash that nobody finished
 * deleting (garbage by definition). Safe without the stage lock. */
static void sweep_leftovers(const struct stage_job *j)
{
	char *pdir = sci_sub(j->o.root, ".partial", NULL), *tdir = sci_sub(j->o.root, ".trash", NULL);
	char *prefix = xasprintf(".%s.journal.tmp-", j->o.name);
	fs_temp_sweep(pdir, prefix);
	free(prefix);
	DIR *d = opendir(tdir);
	struct dirent *de;
	size_t nl = strlen(j->o.name);
	while ((de = fs_readdir(d))) {
		/* NAME.PID.NS: a copy renamed there to be deleted. */
		const char *q = de->d_name + nl;
		size_t a = strncmp(de->d_name, j->o.name, nl) || *q != '.' ? 0 : strspn(q + 1, "0123456789");
		if (!a || q[1 + a] != '.' || !q[2 + a] || strspn(q + 2 + a, "0123456789") != strlen(q + 2 + a))
			continue;
		char *t = path_join(tdir, de->d_name);
		fs_remove_tree(t);
		free(t);
	}
	if (d)
		closedir(d);
	free(pdir);
	free(tdir);
}

static int stage_resume(struct stage_job *j, struct cs_err *err)
{
	struct splan *p = &j->p;
	struct sc_result *r = j->r;
	struct stat sb;
	int have_part = stat(j->part, &sb) == 0 && S_ISDIR(sb.st_mode);
	size_t changed = 0;
	if (!have_part || sci_journal_load(j->jpath, p, j->o.verify, &r->resumed, &changed) < 0) {
		r->resumed = 0;
		for (size_t i = 0; i < p->n; i++)
			memset(p->f[i].done, 0, p->f[i].nchunks ? p->f[i].nchunks : 1);
		if (have_part)
			sci_notify(&j->o, "discarding an earlier partial copy of '%s' (from another source state)",
				   j->o.name);
		if (drop_partial(j) < 0)
			return cs_fail_errno(err, errno, "cannot remove old partial copy '%s'", j->part);
		if (fs_mkdir_p(j->part, 0755) < 0)
			return cs_fail_errno(err, errno, "cannot create '%s'", j->part);
	} else if (r->resumed) {
		char b[32];
		sci_notify(&j->o, "resuming: %s of '%s' already copied%s", fmt_bytes(b, sizeof(b), r->resumed), j->o.name,
			   changed ? "; files changed since are fetched again" : "");
		/* The journal's header must describe the files as they are now. */
		if (changed && sci_journal_rewrite(j->jpath, p, j->o.verify, err))
			return -1;
	}
	if (!r->resumed)
		r->linked = sci_link_unchanged(p, j->pub, j->part, j->o.verify);
	return 0;
}

static int stage_allocate(struct stage_job *j, struct cs_err *err)
{
	const struct sc_opts *o = &j->o;
	char *cpath = sci_sub(o->root, ".locks/cache", NULL);
	int cfd = open(cpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(cpath);
	if (cfd < 0 || sci_lock_wait(cfd, LOCK_EX, 600ull * 1000000000, o->cancel, NULL, NULL) < 0) {
		int rc = cs_fail_errno(err, errno, "cannot lock the cache of '%s'", o->root);
		if (cfd >= 0)
			close(cfd);
		return rc;
	}
	int rc = sci_make_room(o, &j->p, j->part, j->r, err);
	if (rc && !j->r->resumed && !j->r->linked) {
		/* Refused before any data moved: leave nothing behind. */
		drop_partial(j);
	}
	if (!rc && !j->r->resumed) {
		char *hdr = sci_journal_header(&j->p, o->verify);
		rc = fs_write_file_sync(j->jpath, hdr, strlen(hdr), err);
		free(hdr);
	}
	close(cfd);
	return rc;
}

static int stage_copy(struct stage_job *j, struct cs_err *err)
{
	struct splan *p = &j->p;
	struct sc_result *r = j->r;
	size_t *stale = xcalloc(p->n, sizeof(size_t)), nstale = 0;
	int rc = 0;
	for (int pass = 0; !rc && pass < 2; pass++) {
		rc = sci_copy_missing(&j->o, p, j->part, j->jpath, r, err);
		if (rc) {
			/* A remote object that changed: stage_dir fetches it again. */
			if (err->code != ECANCELED && !(err->code == ESTALE && p->remote)) {
				char *m = xstrdup(err->msg);
				cs_fail(err, err->code, "%s; the partial copy stays in '%s': stage again to resume, or "
					"'coldstart cache gc' removes it", m, j->part);
				free(m);
			}
			break;
		}
		rc = sci_source_unchanged(p, err);
		uint64_t tv = now_ns();
		if (!rc)
			rc = sci_verify_copy(&j->o, p, j->part, stale, &nstale, err);
		if (!rc && !nstale)
			rc = sci_verify_store(&j->o, p, j->part, r, err);
		r->verify_s += (double)(now_ns() - tv) / 1e9;
		if (rc) {
			if (err->code == EIO) /* a wrong copy is worth nothing: start over next time */
				drop_partial(j);
			break;
		}
		if (!nstale)
			break;
		if (pass) {
			rc = cs_fail(err, EIO, "'%s' still differs from its hash after copying it again", p->f[stale[0]].rel);
			break;
		}
		/* Files taken from the copy being replaced that no longer match
		 * their hash: that copy was damaged. Copy them from the source. */
		if (nstale == 1)
			sci_notify(&j->o, "the staged copy's '%s' no longer matches the hash it was staged with: copying it "
				   "again", p->f[stale[0]].rel);
		else
			sci_notify(&j->o, "%zu files of the staged copy (first '%s') no longer match the hashes they were "
				   "staged with: copying them again", nstale, p->f[stale[0]].rel);
		for (size_t k = 0; k < nstale; k++) {
			struct sfile *f = &p->f[stale[k]];
			f->linked = 0;
			f->has_old_digest = 0;
			memset(f->done, 0, f->nchunks ? f->nchunks : 1);
			r->linked--;
		}
		r->repaired = 1;
		rc = sci_recreate(p, j->part, stale, nstale, err);
	}
	free(stale);
	return rc;
}

static int stage_publish(struct stage_job *j, struct cs_err *err)
{
	const struct splan *p = &j->p;
	for (size_t i = 0; i < p->n; i++) {
		if (p->f[i].linked)
			continue;
		/* Keep the source's modification times, as cp -a does. */
		struct timespec ts[2] = { { 0, UTIME_OMIT },
					  { (time_t)(p->f[i].mtime_ns / 1000000000), (long)(p->f[i].mtime_ns % 1000000000) } };
		char *dst = path_join(j->part, p->f[i].rel);
		utimensat(AT_FDCWD, dst, ts, 0);
		free(dst);
	}
	int rc = prune_extras(j->part, p, err);
	if (!rc && p->remote && !p->kind_dir)   /* what the server sent is a model llama.cpp or vLLM can open */
		rc = sci_check_filtered(&j->o, p, j->part, p->src, err) || sci_check_model(j->part, p, p->src, err);
	/* The source's permission bits, masked by the umask (or --chmod's):
	 * before the manifest, which records each file as it is then; its own
	 * mode after it. */
	if (!rc && sci_apply_modes(&j->o, p, j->part, 1, err) < 0)
		rc = -1;
	if (!rc)
		rc = sci_write_manifest(j->part, j->o.name, p, j->o.verify, err);
	if (!rc && sci_apply_modes(&j->o, p, j->part, 1, err) < 0)
		rc = -1;
	if (!rc && sync_dirs(j->part, p) < 0)
		rc = cs_fail_errno(err, errno, "cannot flush the directories of '%s'", j->part);
	if (!rc)
		rc = publish(&j->o, j->part, j->pub, j->jpath, j->r, err);
	return rc;
}

/* A glob that matches exactly name. */
static char *glob_quote(const char *name)
{
	struct strbuf sb = STRBUF_INIT;
	for (const char *c = name; *c; c++) {
		if (strchr("*?[]\\", *c))
			strbuf_addch(&sb, '\\');
		strbuf_addch(&sb, *c);
	}
	return strbuf_detach(&sb);
}

static int stage_dir(const struct sc_opts *o, struct sc_result *r, struct cs_err *err);

/*
 * A GGUF model given as its file (or part 1 of a split set): stage the
 * directory it lies in, limited to its parts, and answer the staged file.
 */
static int stage_file(const struct sc_opts *o, struct sc_result *r, struct cs_err *err)
{
	struct st_model m;
	struct cs_err e;
	int grc = gg_model_open(o->src, &m, &e);
	if (grc > 0)
		return cs_fail(err, EINVAL, "source '%s' is a file, and not a GGUF model: stage takes a model directory "
			       "or a GGUF file", o->src);
	if (grc)
		return cs_fail(err, e.code == ENOENT ? ENOENT : EINVAL, "source '%s' is not a usable GGUF model: %s",
			       o->src, e.msg);
	if (o->ninclude || o->nexclude) {
		st_model_release(&m);
		return cs_fail(err, EINVAL, "--include/--exclude select files of a directory; source '%s' is one model file",
			       o->src);
	}
	struct sc_opts fo = *o;
	char *dir = fs_parent_dir(o->src);
	fo.src = dir;
	fo.include = xcalloc(m.nshards, sizeof(char *));
	fo.ninclude = m.nshards;
	for (size_t i = 0; i < m.nshards; i++)
		fo.include[i] = glob_quote(m.shards[i].name);
	int rc = stage_dir(&fo, r, err);
	if (!rc) {
		char *p = path_join(r->path, m.shards[0].name);
		free(r->path);
		r->path = p;
	}
	free_strv(fo.include, m.nshards);
	free(dir);
	st_model_release(&m);
	return rc;
}

int sc_stage(const struct sc_opts *o, struct sc_result *r, struct cs_err *err)
{
	struct stat sb;
	if (o->src && stat(o->src, &sb) == 0 && S_ISREG(sb.st_mode)) {
		memset(r, 0, sizeof(*r));
		return stage_file(o, r, err);
	}
	int rc = stage_dir(o, r, err);
	/* A GGUF URL: the staged file (part 1 of a split set) is the answer. */
	size_t ul = o->src ? strcspn(o->src, "?#") : 0;
	if (!rc && o->src && source_for(o->src)->flags & SOURCE_REMOTE && ul > 5 &&
	    !strncasecmp(o->src + ul - 5, ".gguf", 5)) {
		char *path = xstrndup(o->src, ul), *slash = strrchr(path, '/');
		char *p = path_join(r->path, slash ? slash + 1 : path);
		free(r->path);
		r->path = p;
		free(path);
	}
	return rc;
}

static int stage_dir_once(const struct sc_opts *o, struct sc_result *r, struct cs_err *err);

static int stage_dir(const struct sc_opts *o, struct sc_result *r, struct cs_err *err)
{
	memset(r, 0, sizeof(*r));
	uint64_t t0 = now_ns();
	if (!sc_valid_name(o->name))
		return cs_fail(err, EINVAL, "invalid name '%s': it must be one directory name, not starting with '.'",
			       o->name ? o->name : "");
	/* A remote object that changes mid-transfer (If-Match: 412) is
	 * fetched again within this call, a bounded number of times: the
	 * journal keeps every chunk of the files that did not change. */
	int rc = -1;
	for (int attempt = 1; attempt <= SC_CHANGED_RETRIES + 1; attempt++) {
		rc = stage_dir_once(o, r, err);
		if (!rc || err->code != ESTALE || !sc_remote_kind(o->src))
			break;
		if (attempt > SC_CHANGED_RETRIES) {
			char *m = xstrdup(err->msg);
			cs_fail(err, ESTALE, "%s, %d times in a row; the partial copy stays in '%s/.partial': stage again "
				"when the source has settled", m, attempt, o->root);
			free(m);
			break;
		}
		sci_notify(o, "%s: fetching what changed again (attempt %d of %d)", err->msg, attempt + 1,
			   SC_CHANGED_RETRIES + 1);
	}
	r->seconds = (double)(now_ns() - t0) / 1e9;
	return rc;
}

static int stage_dir_once(const struct sc_opts *o, struct sc_result *r, struct cs_err *err)
{
	sc_result_release(r);
	r->verify = o->verify;
	struct stage_job j;
	memset(&j, 0, sizeof(j));
	j.o = *o;
	j.r = r;
	j.sfd = -1;
	int rc = stage_prepare(&j, err);
	if (!rc)
		sweep_leftovers(&j);
	if (!rc)
		rc = stage_decide(&j, err);
	if (rc == 1) {
		r->noop = 1;
		rc = 0;
	} else if (!rc) {
		rc = stage_resume(&j, err);
		if (!rc)
			rc = stage_allocate(&j, err);
		if (!rc)
			rc = stage_copy(&j, err);
		if (!rc)
			rc = stage_publish(&j, err);
	}
	if (j.sfd >= 0)
		close(j.sfd);
	free(j.pub);
	free(j.part);
	free(j.jpath);
	free(j.root_abs);
	sci_plan_release(&j.p);
	return rc;
}

void sc_result_release(struct sc_result *r)
{
	free(r->path);
	free(r->replaced_source);
	free_strv(r->evicted, r->nevicted);
	memset(r, 0, sizeof(*r));
}
