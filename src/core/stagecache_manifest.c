/* stagecache: the manifest of a published model and the journal of a
 * partial copy. */
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

#include "fsutil.h"
#include "safetensors.h"
#include "banned.h"

/* ---- manifest ---- */

static const char *verify_name(enum sc_verify v)
{
	return v == SC_VERIFY_XXH3 ? "xxh3" : "size";
}

int sci_etag_matches(json_t *entry_etag, const struct sfile *f)
{
	const char *e = json_string_value(entry_etag);
	return (!e && !f->etag) || (e && f->etag && !strcmp(e, f->etag));
}

char *sci_hex64(uint64_t v)
{
	return xasprintf("%016llx", (unsigned long long)v);
}

int sci_write_manifest(const char *dir, const char *name, const struct splan *p, enum sc_verify v,
			  struct cs_err *err)
{
	json_t *files = json_array();
	for (size_t i = 0; i < p->n; i++) {
		json_t *f = json_pack("{s:s, s:I, s:I}", "path", p->f[i].rel, "size", (json_int_t)p->f[i].size,
				      "mtime_ns", (json_int_t)p->f[i].mtime_ns);
		if (p->f[i].etag)
			json_object_set_new(f, "etag", json_string(p->f[i].etag));
		if (p->f[i].has_digest) {
			char *h = sci_hex64(p->f[i].digest);
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

int sci_manifest_load(const char *dir, struct manifest *m)
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

void sci_manifest_free(struct manifest *m)
{
	json_decref(m->j);
	m->j = NULL;
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
int sci_pub_file_intact(const char *pub, const struct manifest *m, const char *rel, uint64_t size, int64_t mtime_ns)
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

enum pub_state sci_pub_state(const char *pub, const struct manifest *m, const struct splan *p, enum sc_verify v)
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
		    strcmp(path, p->f[i].rel) || (uint64_t)size != p->f[i].size || mt != p->f[i].mtime_ns ||
		    !sci_etag_matches(json_object_get(f, "etag"), &p->f[i]))
			return PUB_CHANGED;
		intact = intact && sci_pub_file_intact(pub, m, path, (uint64_t)size, mt);
	}
	return intact ? PUB_MATCH : PUB_DAMAGED;
}

void sci_touch(const char *dir)
{
	char *path = path_join(dir, SC_MANIFEST);
	utimensat(AT_FDCWD, path, NULL, 0);
	free(path);
}

/* ---- journal ---- */

char *sci_journal_header(const struct splan *p, enum sc_verify v)
{
	json_t *files = json_array();
	for (size_t i = 0; i < p->n; i++) {
		json_t *e = json_pack("[s, I, I]", p->f[i].rel, (json_int_t)p->f[i].size, (json_int_t)p->f[i].mtime_ns);
		if (p->f[i].etag)
			json_array_append_new(e, json_string(p->f[i].etag));
		json_array_append_new(files, e);
	}
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

int sci_journal_load(const char *path, const struct splan *p, enum sc_verify v, uint64_t *resumed)
{
	*resumed = 0;
	FILE *fp = fopen(path, "re");
	if (!fp)
		return -1;
	char *want = sci_journal_header(p, v);
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

void sci_journal_record(size_t file, uint64_t chunk, uint64_t hash, void *arg)
{
	struct jwriter *w = arg;
	char line[64];
	int n = snprintf(line, sizeof(line), "c %zu %llu %016llx\n", file, (unsigned long long)chunk,
			 (unsigned long long)hash);
	if (!w->failed && write(w->fd, line, (size_t)n) != n)
		w->failed = 1; /* the journal only saves work; the copy goes on */
}

/* A journal's header (NULL when missing or unreadable); with fp, the file
 * stays open at the first chunk record. */
json_t *sci_journal_header_load(const char *root, const char *name, FILE **fp)
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

void sci_journal_summary(const char *root, const char *name, struct jsum *js)
{
	memset(js, 0, sizeof(*js));
	FILE *fp;
	js->hdr = sci_journal_header_load(root, name, &fp);
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
uint64_t sci_partial_total(const char *root, const char *name)
{
	struct jsum js;
	sci_journal_summary(root, name, &js);
	json_decref(js.hdr);
	return js.total;
}
