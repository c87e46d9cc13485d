/* bench: is the model behind each mode the same one? (see bench.h) */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/base/fsutil.h"
#include "core/source/source.h"
#include "core/io/pagecache.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

#define ID_SAMPLE (64u << 10)   /* bytes per sample */
#define ID_SAMPLES 8            /* samples per file, the first at 0, the last ending the file */
#define ID_SHOW 3               /* differences named in the error */

struct mfile {
	char *name;                 /* relative to the model */
	uint64_t size;
	uint64_t digest;            /* sampled XXH3-64; local files only */
	char *etag;                 /* a URL's listing */
};

struct mident {
	const char *opt;            /* "--nvme", "--net" */
	const char *shown;          /* the path or URL as it may be shown */
	int remote;
	struct mfile *f;
	size_t n;
	uint64_t bytes;
	uint64_t digest;            /* over every file's name, size and digest */
};

static void mident_free(struct mident *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->f[i].name);
		free(m->f[i].etag);
	}
	free(m->f);
	m->f = NULL;
	m->n = 0;
}

static int cmp_mfile(const void *a, const void *b)
{
	return strcmp(((const struct mfile *)a)->name, ((const struct mfile *)b)->name);
}

/* A file that is not part of the model: anything hidden (.cache/, a staged
 * copy's manifest, .git/). */
static int hidden(const char *rel)
{
	for (const char *p = rel; p; p = strchr(p, '/'), p = p ? p + 1 : NULL)
		if (*p == '.')
			return 1;
	return 0;
}

/* XXH3-64 of the size and ID_SAMPLES ranges of ID_SAMPLE bytes spread over
 * the file (the whole file when it is that small); the pages read are
 * dropped again, so the check leaves no cache behind for the runs. */
static int sample_digest(const char *path, uint64_t size, uint64_t *out, struct cs_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cs_fail_errno(err, errno, "cannot open '%s'", path);
	XXH3_state_t *st = XXH3_createState();
	if (!st)
		cs_oom("a hash state");
	XXH3_64bits_reset(st);
	XXH3_64bits_update(st, &size, sizeof(size));
	char *buf = xmalloc(ID_SAMPLE);
	int whole = size <= (uint64_t)ID_SAMPLE * ID_SAMPLES, rc = 0;
	size_t nranges = whole ? (size_t)((size + ID_SAMPLE - 1) / ID_SAMPLE) : ID_SAMPLES;
	for (size_t k = 0; k < nranges && !rc; k++) {
		/* k * (size - ID_SAMPLE) / 7, without overflow: the last ends the file */
		uint64_t span = size - ID_SAMPLE;
		uint64_t off = whole ? k * ID_SAMPLE : span / (ID_SAMPLES - 1) * k + span % (ID_SAMPLES - 1) * k / (ID_SAMPLES - 1);
		size_t len = whole && size - off < ID_SAMPLE ? (size_t)(size - off) : ID_SAMPLE;
		if (fs_pread_full(fd, buf, len, (off_t)off) < 0)
			rc = cs_fail_errno(err, errno ? errno : EIO, "cannot read '%s'", path);
		else
			XXH3_64bits_update(st, buf, len);
		posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
	}
	*out = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	free(buf);
	close(fd);
	return rc;
}

static void add_file(struct mident *m, size_t *alloc, const char *name, uint64_t size)
{
	m->f = xgrow(m->f, alloc, m->n + 1, sizeof(*m->f));
	m->f[m->n++] = (struct mfile){ .name = xstrdup(name), .size = size };
	m->bytes += size;
}

/* A local model: a directory (its files, hidden ones left out) or a GGUF
 * file (every part of a split one). */
static int ident_local(const char *path, struct mident *m, struct cs_err *err)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		return cs_fail_errno(err, errno, "cannot open model '%s'", path);
	size_t alloc = 0;
	char **full = NULL;
	size_t nfull = 0, afull = 0;
	if (S_ISDIR(sb.st_mode)) {
		char **files;
		size_t n;
		fs_list_files(path, &files, &n);
		for (size_t i = 0; i < n; i++) {
			struct stat fs;
			char *p = path_join(path, files[i]);
			if (!hidden(files[i]) && stat(p, &fs) == 0) {
				add_file(m, &alloc, files[i], (uint64_t)fs.st_size);
				full = xgrow(full, &afull, nfull + 1, sizeof(char *));
				full[nfull++] = p;
				p = NULL;
			}
			free(p);
			free(files[i]);
		}
		free(files);
	} else {
		struct pc_set set;
		char *paths[1] = { (char *)path };
		if (pc_collect(paths, 1, &set, err))
			return -1;
		for (size_t i = 0; i < set.n; i++) {
			char *base = fs_basename(set.files[i].path);
			add_file(m, &alloc, base, set.files[i].size);
			free(base);
			full = xgrow(full, &afull, nfull + 1, sizeof(char *));
			full[nfull++] = xstrdup(set.files[i].path);
		}
		pc_set_release(&set);
	}
	int rc = 0;
	for (size_t i = 0; i < m->n && !rc; i++)
		rc = sample_digest(full[i], m->f[i].size, &m->f[i].digest, err);
	free_strv(full, nfull);
	if (rc)
		return -1;
	qsort(m->f, m->n, sizeof(*m->f), cmp_mfile);
	XXH3_state_t *st = XXH3_createState();
	if (!st)
		cs_oom("a hash state");
	XXH3_64bits_reset(st);
	for (size_t i = 0; i < m->n; i++) {
		XXH3_64bits_update(st, m->f[i].name, strlen(m->f[i].name) + 1);
		XXH3_64bits_update(st, &m->f[i].size, sizeof(m->f[i].size));
		XXH3_64bits_update(st, &m->f[i].digest, sizeof(m->f[i].digest));
	}
	m->digest = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return 0;
}

/* A URL: its listing, as stage lists it (names, sizes, ETags; no bytes). */
static int ident_remote(const struct bench *b, struct mident *m, struct cs_err *err)
{
	struct source_opts so = { .insecure = b->stage_insecure, .cacert = b->stage_cacert, .bearer = b->stage_bearer,
				  .no_sign = b->stage_no_sign };
	struct source_file *hf = NULL;
	size_t n = 0;
	struct source *s;
	if (source_open(b->net, &so, &s, err))
		return -1;
	int rc = s->ops->list(s, &hf, &n, err);
	source_close(s);
	size_t alloc = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		if (hidden(hf[i].name))
			continue;
		add_file(m, &alloc, hf[i].name, hf[i].size);
		m->f[m->n - 1].etag = hf[i].etag ? xstrdup(hf[i].etag) : NULL;
	}
	source_files_free(hf, n);
	if (!rc)
		qsort(m->f, m->n, sizeof(*m->f), cmp_mfile);
	return rc;
}

/* A file a listing must show when the local copy has it: the weights and
 * what says how to load them. */
static int must_list(const char *name)
{
	static const char *const sfx[] = { ".safetensors", ".gguf", ".bin", ".pt", ".pth", ".index.json" };
	size_t l = strlen(name);
	for (size_t i = 0; i < sizeof(sfx) / sizeof(*sfx); i++) {
		size_t s = strlen(sfx[i]);
		if (l >= s && !strcmp(name + l - s, sfx[i]))
			return 1;
	}
	return !strcmp(name, "config.json");
}

static void differ(struct strbuf *d, size_t *n, json_t *list, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void differ(struct strbuf *d, size_t *n, json_t *list, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	if (*n < ID_SHOW)
		strbuf_addf(d, "%s%s", *n ? "; " : "", m);
	(*n)++;
	json_array_append_new(list, json_string(m));
	free(m);
}

/* Every difference between the local model a and b (local or a URL's
 * listing): names, sizes, sampled bytes. */
static size_t compare(const struct mident *a, const struct mident *b, struct strbuf *d, json_t *list)
{
	size_t i = 0, k = 0, n = 0;
	while (i < a->n || k < b->n) {
		int c = i == a->n ? 1 : k == b->n ? -1 : strcmp(a->f[i].name, b->f[k].name);
		if (c < 0) {
			if (!b->remote || must_list(a->f[i].name))
				differ(d, &n, list, "'%s' is under %s only", a->f[i].name, a->opt);
			i++;
		} else if (c > 0) {
			differ(d, &n, list, "'%s' is under %s only", b->f[k].name, b->opt);
			k++;
		} else {
			const struct mfile *x = &a->f[i++], *y = &b->f[k++];
			if (x->size != y->size)
				differ(d, &n, list, "'%s' is %" PRIu64 " bytes under %s and %" PRIu64 " under %s", x->name,
				       x->size, a->opt, y->size, b->opt);
			else if (!b->remote && x->digest != y->digest)
				differ(d, &n, list, "'%s' has other bytes under %s than under %s (the same size, %" PRIu64
				       " bytes; the sampled hashes differ)", x->name, a->opt, b->opt, x->size);
		}
	}
	return n;
}

static json_t *ident_json(const char *mode, const struct mident *m)
{
	json_t *o = json_pack("{s:s, s:s, s:I}", "mode", mode, "path", m->shown, "bytes", (json_int_t)m->bytes);
	if (!m->remote) {
		char hex[24];
		snprintf(hex, sizeof(hex), "%016" PRIx64, m->digest);
		json_object_set_new(o, "sampled_xxh3", json_string(hex));
	}
	json_t *files = json_array();
	for (size_t i = 0; i < m->n; i++) {
		json_t *f = json_pack("{s:s, s:I}", "name", m->f[i].name, "size", (json_int_t)m->f[i].size);
		if (m->f[i].etag)
			json_object_set_new(f, "etag", json_string(m->f[i].etag));
		json_array_append_new(files, f);
	}
	json_object_set_new(o, "files", files);
	return o;
}

static int reads_nvme(const struct bench *b)
{
	for (size_t i = 0; i < b->narms; i++)
		if (!(b->arms[i].mode->flags & MODE_READS_NET))
			return 1;
	return 0;
}

static int reads_net(const struct bench *b)
{
	for (size_t i = 0; i < b->narms; i++)
		if (b->arms[i].mode->flags & MODE_READS_NET)
			return 1;
	return 0;
}

int bench_check_models(struct bench *b, struct cs_err *err)
{
	json_decref(b->model_json);
	b->model_json = NULL;
	int want_nvme = b->nvme && reads_nvme(b), want_net = b->net && !b->net_pending && reads_net(b);
	if (!want_nvme && !want_net)
		return 0;
	struct mident nv = { .opt = "--nvme", .shown = b->nvme }, nt = { .opt = "--net", .shown = b->net_shown ? b->net_shown : b->net,
								       .remote = b->net_remote != NULL };
	struct cs_err e;
	int rc = 0;
	if (want_nvme && ident_local(b->nvme, &nv, &e))
		rc = cs_fail(err, e.code, "--nvme: %s", e.msg);
	if (!rc && want_net && b->net_is_nvme) {
		want_net = 0; /* a simulated path over the NVMe copy: the same files */
	} else if (!rc && want_net && (nt.remote ? ident_remote(b, &nt, &e) : ident_local(b->net, &nt, &e))) {
		rc = cs_fail(err, e.code, "--net: %s", e.msg);
	}
	if (rc) {
		mident_free(&nv);
		mident_free(&nt);
		return -1;
	}
	json_t *j = json_pack("{s:s}", "method",
			      "names and sizes of every file (hidden ones left out); for local paths also an XXH3-64 of "
			      "8 samples of 64 KiB spread over each file (the whole file when smaller); a URL: its "
			      "listing's names, sizes and ETags");
	json_t *modes = json_array();
	if (want_nvme)
		json_array_append_new(modes, ident_json(MODE_NVME, &nv));
	if (want_net)
		json_array_append_new(modes, ident_json(MODE_NET, &nt));
	json_object_set_new(j, "paths", modes);
	if (b->net_is_nvme)
		json_object_set_new(j, "net", json_string("a simulated network path over the NVMe copy: the same files"));
	if (want_nvme && want_net) {
		struct strbuf d = STRBUF_INIT;
		json_t *list = json_array();
		size_t n = compare(&nv, &nt, &d, list);
		json_object_set_new(j, "same", json_boolean(n == 0));
		json_object_set_new(j, "differences", list);
		if (n) {
			char more[64] = "";
			if (n > ID_SHOW)
				snprintf(more, sizeof(more), "; and %zu more", n - ID_SHOW);
			if (b->allow_model_mismatch) {
				cs_say(b->cb.notice, b->cb.arg, "the models behind --nvme '%s' and --net '%s' differ (%s%s): "
				       "compared anyway (--allow-different-models), the sidecar records it", nv.shown,
				       nt.shown, d.buf, more);
			} else {
				rc = cs_fail(err, EINVAL, "the models behind --nvme '%s' and --net '%s' differ: %s%s; the modes "
					     "would not load the same model (--allow-different-models compares them anyway)",
					     nv.shown, nt.shown, d.buf, more);
			}
		}
		strbuf_release(&d);
	}
	b->model_json = j;
	mident_free(&nv);
	mident_free(&nt);
	return rc;
}
