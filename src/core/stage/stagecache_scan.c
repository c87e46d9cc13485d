/* stagecache: the source -- its files, what identifies it, names and globs. */
#define _GNU_SOURCE
#include "stagecache_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/model/model.h"
#include "core/base/banned.h"

void sci_plan_release(struct splan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->f[i].rel);
		free(p->f[i].abs);
		free(p->f[i].etag);
		free(p->f[i].hash);
		free(p->f[i].done);
	}
	free(p->f);
	free(p->src);
	free(p->filters);
	free_strv(p->dropped, p->ndropped);
	source_files_free(p->remote, p->nremote);
	source_close(p->source);
	memset(p, 0, sizeof(*p));
}

int sc_valid_name(const char *name)
{
	return name && *name && name[0] != '.' && !strchr(name, '/') && strlen(name) <= 200;
}

const char *sc_remote_kind(const char *src)
{
	return src ? source_for(src)->kind(src) : NULL;
}

int sc_check_source_opts(const struct sc_opts *o, struct cs_err *err)
{
	int url = sc_remote_kind(o->src) != NULL;
	unsigned can = source_for(o->src)->flags;
	const char *why = o->insecure && !url ? "--insecure goes with a URL source (http://, https:// or s3://)"
			  : o->cacert && !url ? "--cacert goes with a URL source (http://, https:// or s3://)"
			  : o->cacert && o->insecure ? "--cacert and --insecure: one or the other"
			  : o->nfiles && !(can & SOURCE_NAMES) ? "--files goes with an http:// or https:// source"
			  : o->nheaders && !(can & SOURCE_HEADERS) ? "--header goes with an http:// or https:// source"
			  : o->no_sign && strcmp(source_for(o->src)->name, "s3") ? "--no-sign-request goes with an s3:// "
										"source"
			  : o->buffered && o->direct ? "--buffered and --direct: one or the other"
			  : o->buffered && !url ? "--buffered goes with a URL source (a directory is copied buffered "
						  "unless --direct)"
			  : NULL;
	return why ? cs_fail(err, EINVAL, "%s", why) : 0;
}

char *sc_source_shown(const char *src)
{
	return source_for(src)->shown(src);
}

int sc_source_probe(const struct sc_opts *o, uint64_t *bytes, size_t *files, struct cs_err *err)
{
	struct splan p;
	int rc = sci_scan_source(o, &p, err);
	if (!rc) {
		*bytes = p.total;
		*files = p.n;
	}
	sci_plan_release(&p);
	return rc;
}

char *sc_default_name(const char *src)
{
	return source_for(src)->default_name(src);
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

/* ---- the source ---- */

/* A glob matches the relative path or its base name. */
static int glob_matches(const char *glob, const char *rel)
{
	const char *base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	return fnmatch(glob, rel, 0) == 0 || fnmatch(glob, base, 0) == 0;
}

static int matches(char *const *globs, size_t n, const char *rel)
{
	for (size_t i = 0; i < n; i++)
		if (glob_matches(globs[i], rel))
			return 1;
	return 0;
}

/* A file the filters let through. */
static int wanted(const struct sc_opts *o, const char *rel)
{
	return (!o->ninclude || matches(o->include, o->ninclude, rel)) && !matches(o->exclude, o->nexclude, rel);
}

/* A file of the source the filters left out. */
static void drop(struct splan *p, const char *rel)
{
	p->dropped = xgrow(p->dropped, &p->adropped, p->ndropped + 1, sizeof(char *));
	p->dropped[p->ndropped++] = xstrdup(rel);
}

static int cmp_sfile(const void *a, const void *b)
{
	return strcmp(((const struct sfile *)a)->rel, ((const struct sfile *)b)->rel);
}

static int cmp_sfile_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct sfile *)elem)->rel);
}

int sci_has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

int sci_identified(const struct splan *p, const struct sfile *f)
{
	return !p->remote || source_file_identified(&p->remote[f->ri]);
}

/* What the filters let through, and a record of what they left out. */
struct filter {
	const struct sc_opts *o;
	struct splan *p;
};

static int want_file(void *arg, const char *rel)
{
	struct filter *w = arg;
	if (wanted(w->o, rel))
		return 1;
	drop(w->p, rel);
	return 0;
}

/* The source's files, as its row lists them, filtered: a directory's into
 * the plan; a URL's kept as listed too (p->remote: what is read), each
 * file's ETag and Last-Modified with it. */
static int scan_files(const struct sc_opts *o, struct splan *p, struct cs_err *err)
{
	struct source *s = p->source;
	struct filter w = { o, p };
	struct source_file *lf;
	size_t n;
	/* The filter is asked only while the listing runs. */
	s->o.want = want_file;
	s->o.want_arg = &w;
	int rc = s->ops->list(s, &lf, &n, err);
	s->o.want = NULL;
	s->o.want_arg = NULL;
	if (rc)
		return -1;
	int remote = s->ops->flags & SOURCE_REMOTE;
	size_t blind = 0;
	const char *first = NULL;
	p->f = xcalloc(n ? n : 1, sizeof(*p->f));
	p->alloc = n ? n : 1;
	for (size_t i = 0; i < n; i++) {
		const struct source_file *h = &lf[i];
		struct sfile *f = &p->f[p->n++];
		f->rel = xstrdup(h->name);
		f->abs = remote ? s->ops->shown(h->url) : xstrdup(h->url);
		f->etag = h->etag ? xstrdup(h->etag) : NULL;
		f->size = h->size;
		f->mtime_ns = h->mtime_ns;
		f->ri = i;
		p->total += h->size;
		if (remote && !source_file_identified(h) && !blind++)
			first = f->abs;
	}
	if (remote) {
		p->remote = lf;
		p->nremote = n;
	} else {
		source_files_free(lf, n);
	}
	if (blind == 1)
		sci_notify(o, "'%s' has neither an ETag nor a Last-Modified: only its size tells its versions apart, so it "
			   "is fetched in one request (not in parallel ranges), never resumed from an earlier attempt and never "
			   "taken as unchanged", first);
	else if (blind)
		sci_notify(o, "'%s' and %zu other files have neither an ETag nor a Last-Modified: only their sizes tell "
			   "their versions apart, so each is fetched in one request (not in parallel ranges), never "
			   "resumed from an earlier attempt and never taken as unchanged", first, blind - 1);
	return 0;
}

int sci_check_model(const char *dir, const struct splan *p, const char *shown, struct cs_err *err)
{
	int safet = 0;
	for (size_t i = 0; i < p->n; i++)
		safet |= sci_has_suffix(p->f[i].rel, ".safetensors");
	/* Each GGUF model (a file, or part 1 of a split set). */
	for (size_t i = 0; i < p->n && !safet; i++) {
		const char *r = p->f[i].rel;
		int no = 1;
		if (!sci_has_suffix(r, ".gguf") || (gg_split_parse(r, NULL, &no, NULL) && no != 1))
			continue;
		char *full = path_join(dir, r);
		struct st_model m;
		struct cs_err e2;
		int grc = gg_model_open(full, &m, &e2);
		st_model_release(&m);
		free(full);
		if (grc < 0)
			return cs_fail(err, e2.code ? e2.code : EINVAL, "source '%s' is not a usable model: %s", shown,
				       e2.msg);
	}
	if (safet) {
		/* The files to stage, not the whole directory: what is published. */
		char **rels = xcalloc(p->n, sizeof(char *));
		for (size_t i = 0; i < p->n; i++)
			rels[i] = p->f[i].rel;
		struct st_model m;
		struct cs_err e2;
		int rc = st_model_open_files(dir, rels, p->n, &m, &e2);
		free(rels);
		if (rc)
			return cs_fail(err, e2.code ? e2.code : EINVAL, "source '%s' is not a usable model: %s", shown,
				       e2.msg);
		st_model_release(&m);
	}
	return 0;
}

/* ---- what the filters left of a model ---- */

#define FILTER_HINT "; stage it too, or use --kind dir to copy files that are not a model"

static int is_weight(const char *rel)
{
	static const char *const ext[] = { ".safetensors", ".bin", ".pt", ".pth", ".gguf" };
	for (size_t i = 0; i < sizeof(ext) / sizeof(*ext); i++)
		if (sci_has_suffix(rel, ext[i]))
			return 1;
	return 0;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int was_dropped(const struct splan *p, const char *rel)
{
	return p->ndropped && bsearch(&rel, p->dropped, p->ndropped, sizeof(char *), cmp_cstr);
}

static int is_kept(const struct splan *p, const char *rel)
{
	return p->n && bsearch(rel, p->f, p->n, sizeof(*p->f), cmp_sfile_key);
}

/* How the filters left rel out: "--exclude 'G' leaves out 'REL'", or
 * "no --include matches 'REL'". malloc'd. */
static char *left_out(const struct sc_opts *o, const char *rel)
{
	for (size_t i = 0; i < o->nexclude; i++)
		if (glob_matches(o->exclude[i], rel))
			return xasprintf("--exclude '%s' leaves out '%s'", o->exclude[i], rel);
	return xasprintf("no --include matches '%s'", rel);
}

static int refuse_dropped(const struct sc_opts *o, const char *rel, struct cs_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse_dropped(const struct sc_opts *o, const char *rel, struct cs_err *err, const char *fmt, ...)
{
	char *why = left_out(o, rel), *rest;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&rest, fmt, ap) < 0)
		cs_oom("formatting an error");
	va_end(ap);
	int rc = cs_fail(err, EINVAL, "%s%s", why, rest);
	free(why);
	free(rest);
	return rc;
}

/* "PREFIX-0000K-of-0000N.EXT" (K from 1): 1 with the prefix's length, k
 * and n; else 0. */
static int series_part(const char *rel, size_t *plen, int *k, int *n)
{
	const char *dot = strrchr(rel, '.');
	if (strchr(rel, '/') || !dot || dot - rel < 16)
		return 0;
	const char *q = dot - 15;   /* "-0000K-of-0000N" */
	unsigned a, b;
	int used = 0;
	if (sscanf(q, "-%5u-of-%5u%n", &a, &b, &used) != 2 || q + used != dot || a < 1 || a > b)
		return 0;
	*plen = (size_t)(q - rel);
	*k = (int)a;
	*n = (int)b;
	return 1;
}

/* Every part of each kept PREFIX-0000K-of-0000N set the source has is kept. */
static int check_series(const struct sc_opts *o, const struct splan *p, struct cs_err *err)
{
	for (size_t i = 0; i < p->n; i++) {
		size_t pl;
		int k, n;
		if (!series_part(p->f[i].rel, &pl, &k, &n))
			continue;
		const char *ext = strrchr(p->f[i].rel, '.');
		for (int j = 1; j <= n; j++) {
			char *other = xasprintf("%.*s-%05d-of-%05d%s", (int)pl, p->f[i].rel, j, n, ext);
			int rc = was_dropped(p, other)
					 ? refuse_dropped(o, other, err, ", but '%s' of the same set is staged: the model "
							  "would lack part %d of %d" FILTER_HINT, p->f[i].rel, j, n)
					 : 0;
			free(other);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* An index (and the extension of the files it maps) against what is kept. */
static int check_index(const struct sc_opts *o, const struct splan *p, const char *index, const char *ext,
		       const char *index_dir, struct cs_err *err)
{
	char **files = NULL;
	size_t nf = 0;
	char *path = index_dir ? path_join(index_dir, index) : NULL;
	struct cs_err ie;
	int readable = path && st_index_files(path, &files, &nf, &ie) == 0;
	free(path);
	/* Not read (a URL before its copy): the index's files by their names,
	 * the PREFIX-0000K-of-0000N series of its extension. */
	for (size_t i = 0; !readable && i < p->n + p->ndropped; i++) {
		const char *r = i < p->n ? p->f[i].rel : p->dropped[i - p->n];
		size_t pl;
		int k, n;
		if (sci_has_suffix(r, ext) && series_part(r, &pl, &k, &n)) {
			files = xrealloc(files, (nf + 1) * sizeof(char *));
			files[nf++] = xstrdup(r);
		}
	}
	int kept = is_kept(p, index), rc = 0;
	size_t nkept = 0, ndropped = 0, first_kept = 0, first_dropped = 0;
	for (size_t i = 0; i < nf; i++) {
		if (is_kept(p, files[i]) && !nkept++)
			first_kept = i;
		if (was_dropped(p, files[i]) && !ndropped++)
			first_dropped = i;
	}
	int same_format = 0;
	for (size_t i = 0; i < p->n; i++)
		same_format |= !strchr(p->f[i].rel, '/') && sci_has_suffix(p->f[i].rel, ext);
	/* Kept, it is what a loader of its format reads the files by. */
	if (kept && ndropped && (nkept || same_format))
		rc = refuse_dropped(o, files[first_dropped], err, ", which '%s' maps tensors to: the staged model could not "
				    "load%s" FILTER_HINT, index, ndropped > 1 ? " (nor the other files left out)" : "");
	else if (!kept && was_dropped(p, index) && nkept)
		rc = refuse_dropped(o, index, err, ", but '%s'%s that it maps tensors to %s staged: without their index they "
				    "are no model" FILTER_HINT, files[first_kept], nkept > 1 ? " and the others" : "",
				    nkept > 1 ? "are" : "is");
	free_strv(files, nf);
	return rc;
}

int sci_check_filtered(const struct sc_opts *o, const struct splan *p, const char *index_dir, const char *shown,
		       struct cs_err *err)
{
	if (!o->ninclude && !o->nexclude)
		return 0;
	int weights = 0, hf_weights = 0;
	for (size_t i = 0; i < p->n; i++) {
		weights |= is_weight(p->f[i].rel);
		hf_weights |= is_weight(p->f[i].rel) && !sci_has_suffix(p->f[i].rel, ".gguf");
	}
	if (!weights) {
		size_t nw = 0, first = 0;
		for (size_t i = 0; i < p->ndropped; i++)
			if (is_weight(p->dropped[i]) && !nw++)
				first = i;
		if (!nw)
			return cs_fail(err, EINVAL, "--include/--exclude leave no weights (*.safetensors, *.bin, *.pt, *.gguf) "
				       "of '%s' to stage; use --kind dir to copy files that are not a model", shown);
		char *why = left_out(o, p->dropped[first]);
		int rc = cs_fail(err, EINVAL, "--include/--exclude leave no weights of '%s' to stage: %s%s; use --kind dir "
				 "to copy files that are not a model", shown, why,
				 nw > 1 ? " (and the other weight files)" : "");
		free(why);
		return rc;
	}
	if (hf_weights && was_dropped(p, "config.json"))
		return refuse_dropped(o, "config.json", err, ": the staged weights need it to be loaded" FILTER_HINT);
	if (check_index(o, p, "model.safetensors.index.json", ".safetensors", index_dir, err) ||
	    check_index(o, p, "pytorch_model.bin.index.json", ".bin", index_dir, err))
		return -1;
	return check_series(o, p, err);
}

int sci_scan_source(const struct sc_opts *o, struct splan *p, struct cs_err *err)
{
	memset(p, 0, sizeof(*p));
	p->chunk = cp_chunk_size(o->chunk);
	/* --verify xxh3: the store's own checksum of each file, where it
	 * keeps one (S3: a HEAD each; the listing has only the ETag). */
	struct source_opts so = {
		.insecure = o->insecure, .cacert = o->cacert, .bearer = o->bearer, .headers = (const char *const *)o->headers,
		.nheaders = o->nheaders, .stall_s = o->stall_s, .cancel = o->cancel, .names = o->files,
		.nnames = o->nfiles, .follow_symlinks = o->follow_symlinks, .skip = SC_MANIFEST,
		.checksums = o->verify == SC_VERIFY_XXH3, .notice = o->notice, .notice_arg = o->notice_arg,
		.no_sign = o->no_sign,
	};
	if (source_open(o->src, &so, &p->source, err))
		return -1;
	if (o->no_sign && strcmp(p->source->ops->name, "s3")) {
		source_close(p->source);
		p->source = NULL;
		return cs_fail(err, EINVAL, "--no-sign-request goes with an s3:// source");
	}
	int url = p->source->ops->flags & SOURCE_REMOTE;
	p->src = xstrdup(p->source->canon);
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
	for (size_t i = 0; i < o->nfiles; i++) {
		char *t = xasprintf("%s=%s\n", fl, o->files[i]);
		free(fl);
		fl = t;
	}
	p->filters = fl;
	if (scan_files(o, p, err))
		return -1;
	const char *shown = url ? p->src : o->src;   /* a URL without its credentials */
	if (!p->n)
		return cs_fail(err, ENOENT, "source '%s' is empty%s", shown,
			       o->ninclude || o->nexclude ? " (after --include/--exclude)" : "");
	qsort(p->f, p->n, sizeof(*p->f), cmp_sfile);
	if (p->ndropped)
		qsort(p->dropped, p->ndropped, sizeof(char *), cmp_cstr);
	int config = 0, weights = 0;
	for (size_t i = 0; i < p->n; i++) {
		config |= !strcmp(p->f[i].rel, "config.json");
		weights |= is_weight(p->f[i].rel);
	}
	p->kind_dir = o->kind_dir;
	if (!config && !weights && !o->kind_dir)
		return cs_fail(err, EINVAL,
			       "source '%s' is not a model: no config.json and no weights "
			       "(*.safetensors, *.bin, *.pt, *.gguf); a directory that is not a model (a compile "
			       "cache) stages with --kind dir", shown);
	/* What is published must be a model: checked before anything is
	 * copied (a URL source's headers, and an index it keeps, once its
	 * files are here). */
	if (!o->kind_dir && sci_check_filtered(o, p, url ? NULL : p->src, shown, err))
		return -1;
	if (!url && !o->kind_dir && sci_check_model(p->src, p, o->src, err))
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		p->f[i].nchunks = cp_nchunks(p->f[i].size, p->chunk);
		p->f[i].done = xcalloc(p->f[i].nchunks ? p->f[i].nchunks : 1, 1);
		p->f[i].hash = xcalloc(p->f[i].nchunks ? p->f[i].nchunks : 1, sizeof(uint64_t));
	}
	return 0;
}

/* What identifies a source for a staged name: its row's identity (a
 * Hugging Face cache snapshot's repository, a URL without credentials). */
static char *source_id(const char *src)
{
	return source_for(src)->identity(src);
}

int sci_same_source(const char *a, const char *b)
{
	char *x = source_id(a), *y = source_id(b);
	int same = !strcmp(x, y);
	free(x);
	free(y);
	return same;
}

/* Source and staging root must not overlap: a root inside the source would
 * be copied into itself, and a source inside the copy it is staged to
 * would be replaced by itself. */
int sci_check_paths(const struct sc_opts *o, const char *src, struct cs_err *err)
{
	if (fs_path_within(src, o->root))
		return cs_fail(err, EINVAL, "the staging root '%s' is inside the source '%s': the copy would contain itself",
			       o->root, src);
	char *pub = path_join(o->root, o->name), *hidden = NULL;
	int rc = 0;
	if (fs_path_within(pub, src))
		rc = cs_fail(err, EINVAL, "the source '%s' is the staged copy '%s' itself", src, pub);
	const char *subs[] = { ".partial", ".trash", ".locks" };
	for (size_t i = 0; i < 3 && !rc; i++) {
		hidden = path_join(o->root, subs[i]);
		if (fs_path_within(hidden, src))
			rc = cs_fail(err, EINVAL, "the source '%s' is inside the staging root's own '%s'", src, hidden);
		free(hidden);
	}
	free(pub);
	return rc;
}
