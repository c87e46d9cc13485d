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

#include "core/base/fsutil.h"
#include "core/model/safetensors.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

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

static json_int_t ts_ns(struct timespec t)
{
	return (json_int_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* What publishing records of a file besides its size and mtime: its inode,
 * change time and link count. The change time moves with every write,
 * chmod and utimensat, so a file written in place and touched back to its
 * old mtime still shows; a link count that changed too explains it (a
 * stage that took the file over, or dropped a partial copy sharing it). */
static void put_identity(json_t *f, const struct stat *sb)
{
	json_object_set_new(f, "ino", json_integer((json_int_t)sb->st_ino));
	json_object_set_new(f, "ctime_ns", json_integer(ts_ns(sb->st_ctim)));
	json_object_set_new(f, "nlink", json_integer((json_int_t)sb->st_nlink));
}

int sci_write_manifest(const char *dir, const char *name, const struct splan *p, enum sc_verify v,
			  struct cs_err *err)
{
	json_t *files = json_array();
	for (size_t i = 0; i < p->n; i++) {
		json_t *f = json_pack("{s:s, s:I, s:I}", "path", p->f[i].rel, "size", (json_int_t)p->f[i].size,
				      "mtime_ns", (json_int_t)p->f[i].mtime_ns);
		char *path = path_join(dir, p->f[i].rel);
		struct stat sb;
		if (stat(path, &sb) == 0)   /* the last change publishing makes: mode and mtime are set */
			put_identity(f, &sb);
		free(path);
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
	if (p->kind_dir)
		json_object_set_new(j, "kind", json_string("dir"));
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

void sci_manifest_release(struct manifest *m)
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

enum pub_file sci_pub_file_check(const char *pub, const struct manifest *m, json_t *f, const struct stat *given,
				 char **why)
{
	const char *rel = json_string_value(json_object_get(f, "path"));
	json_t *ino = json_object_get(f, "ino"), *ct = json_object_get(f, "ctime_ns"), *nl = json_object_get(f, "nlink");
	uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
	json_int_t mt = json_integer_value(json_object_get(f, "mtime_ns"));
	char *dst = path_join(pub, rel ? rel : "");
	struct stat sb;
	enum pub_file st = PF_INTACT;
	char *w = NULL;
	if (!rel) {
		st = PF_DAMAGED;
		w = xasprintf("the manifest of '%s' has a file without a path", pub);
	} else if (m->corrupt && (!json_array_size(m->corrupt_files) || in_list(m->corrupt_files, rel))) {
		st = PF_DAMAGED;
		w = xasprintf("'%s' failed verification: %s", dst, m->corrupt);
	} else if (given ? (sb = *given, 0) : stat(dst, &sb) < 0) {
		st = PF_DAMAGED;
		w = xasprintf("'%s' is missing", dst);
	} else if (!S_ISREG(sb.st_mode)) {
		st = PF_DAMAGED;
		w = xasprintf("'%s' is no longer a regular file", dst);
	} else if ((uint64_t)sb.st_size != size) {
		st = PF_DAMAGED;
		w = xasprintf("'%s' has %llu bytes, the manifest says %llu", dst, (unsigned long long)sb.st_size,
			      (unsigned long long)size);
	} else if (ts_ns(sb.st_mtim) != mt) {
		st = PF_DAMAGED;
		w = xasprintf("'%s' was modified after it was staged (its mtime is not the one staged)", dst);
	} else if (json_is_integer(ino) && json_is_integer(ct) &&
		   ((json_int_t)sb.st_ino != json_integer_value(ino) ||
		    (ts_ns(sb.st_ctim) != json_integer_value(ct) &&
		     (!json_is_integer(nl) || (json_int_t)sb.st_nlink == json_integer_value(nl))))) {
		int hashed = json_is_string(json_object_get(f, "xxh3"));
		st = hashed ? PF_CHANGED : PF_DAMAGED;
		w = xasprintf("'%s' changed after it was staged (%s)%s", dst,
			      (json_int_t)sb.st_ino != json_integer_value(ino) ? "another file took its place"
									      : "its inode's change time moved",
			      hashed ? "" : ": staged with --verify size, nothing can vouch for its bytes");
	}
	free(dst);
	if (why)
		*why = w;
	else
		free(w);
	return st;
}

enum pub_file sci_pub_check(const char *pub, const struct manifest *m, char **why, size_t *nchanged)
{
	enum pub_file worst = PF_INTACT;
	*why = NULL;
	*nchanged = 0;
	size_t i;
	json_t *f;
	json_array_foreach(m->files, i, f) {
		char *w;
		enum pub_file st = sci_pub_file_check(pub, m, f, NULL, &w);
		*nchanged += st == PF_CHANGED;
		if (st > worst) {
			worst = st;
			free(*why);
			*why = w;
		} else {
			free(w);
		}
	}
	return worst;
}

int sci_manifest_rewrite(const char *dir, const struct manifest *m, struct cs_err *err)
{
	char *text = json_dumps(m->j, JSON_INDENT(1));
	char *path = path_join(dir, SC_MANIFEST);
	struct stat sb;
	int had = stat(path, &sb) == 0;
	int rc = fs_write_file_sync(path, text, strlen(text), err);
	struct timespec ts[2] = { { 0, UTIME_OMIT },
				  { (time_t)(m->last_used_ns / 1000000000), (long)(m->last_used_ns % 1000000000) } };
	if (!rc && had)
		chmod(path, sb.st_mode & 0777);   /* a new file: the umask's mode, not the copy's */
	if (!rc)
		utimensat(AT_FDCWD, path, ts, 0);
	free(path);
	free(text);
	return rc;
}

int sci_pub_reidentify(const char *pub, const char *rel)
{
	struct manifest m;
	if (sci_manifest_load(pub, &m) < 0)
		return -1;
	size_t i, changed = 0;
	json_t *f;
	json_array_foreach(m.files, i, f) {
		const char *r = json_string_value(json_object_get(f, "path"));
		json_t *nl = json_object_get(f, "nlink"), *ct = json_object_get(f, "ctime_ns");
		int one = rel && rel != SCI_EVERY;
		if (!r || (one && strcmp(r, rel)) || !json_is_integer(ct))
			continue;
		char *path = path_join(pub, r);
		struct stat sb;
		int ok = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
			 (uint64_t)sb.st_size == (uint64_t)json_integer_value(json_object_get(f, "size")) &&
			 ts_ns(sb.st_mtim) == json_integer_value(json_object_get(f, "mtime_ns")) &&
			 (ts_ns(sb.st_ctim) != json_integer_value(ct) ||
			  (json_int_t)sb.st_ino != json_integer_value(json_object_get(f, "ino")));
		/* Not one file the caller vouches for: the same inode, and (but for
		 * SCI_EVERY) a link count that explains the change. */
		if (ok && !one)
			ok = (json_int_t)sb.st_ino == json_integer_value(json_object_get(f, "ino")) &&
			     (rel == SCI_EVERY || !json_is_integer(nl) ||
			      (json_int_t)sb.st_nlink != json_integer_value(nl));
		free(path);
		if (ok) {
			put_identity(f, &sb);
			changed++;
		}
	}
	struct cs_err e;
	int rc = changed ? sci_manifest_rewrite(pub, &m, &e) : 0;
	sci_manifest_release(&m);
	return rc;
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
		    !sci_etag_matches(json_object_get(f, "etag"), &p->f[i]) || !sci_identified(p, &p->f[i]))
			return PUB_CHANGED;   /* (a URL file known by its size alone is never "unchanged") */
		intact = intact && sci_pub_file_check(pub, m, f, NULL, NULL) == PF_INTACT;
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

/* The next chunk record of a journal, "c FILE CHUNK HASH\n" exactly as
 * sci_journal_record writes it (decimal indices that fit, 16 hex digits):
 * 1, or 0 at the end or at a torn or garbled line -- a sign, a hex or
 * overflowing index is never read as a wrapped one, and what follows
 * such a line is not trusted either (its chunks are copied again). */
static int journal_next(FILE *fp, uint64_t *fi, uint64_t *ci, uint64_t *h)
{
	char line[128];
	if (!fgets(line, sizeof(line), fp))
		return 0;
	size_t n = strlen(line);
	if (n < 3 || line[n - 1] != '\n' || strncmp(line, "c ", 2))
		return 0;
	line[n - 1] = 0;
	char *f = line + 2, *c = strchr(f, ' '), *x = c ? strchr(c + 1, ' ') : NULL;
	if (!x)
		return 0;
	*c++ = 0;
	*x++ = 0;
	return !parse_u64(f, fi) && !parse_u64(c, ci) && !parse_hex64(x, h);
}

/* The header's settings (all but the files) as this plan has them. */
static int same_settings(json_t *h, const struct splan *p, enum sc_verify v)
{
	const char *src = json_string_value(json_object_get(h, "source"));
	const char *fl = json_string_value(json_object_get(h, "filters"));
	const char *vn = json_string_value(json_object_get(h, "verify"));
	json_t *ch = json_object_get(h, "chunk");
	return src && fl && vn && json_is_integer(ch) && !strcmp(src, p->src) && !strcmp(fl, p->filters) &&
	       !strcmp(vn, verify_name(v)) && (uint64_t)json_integer_value(ch) == p->chunk;
}

/* Each of the header's files: its index in the plan when the plan has it
 * in the same state (name, size, mtime, ETag), else SIZE_MAX -- never for
 * a URL file that has nothing but its size to tell versions apart. */
static size_t *map_files(json_t *files, const struct splan *p, size_t *nold)
{
	*nold = json_array_size(files);
	size_t *map = xcalloc(*nold ? *nold : 1, sizeof(size_t));
	for (size_t k = 0; k < *nold; k++) {
		json_t *e = json_array_get(files, k);
		const char *rel = json_string_value(json_array_get(e, 0));
		const char *etag = json_string_value(json_array_get(e, 3));
		map[k] = SIZE_MAX;
		for (size_t i = 0; rel && i < p->n; i++) {
			const struct sfile *f = &p->f[i];
			if (sci_identified(p, f) && !strcmp(f->rel, rel) &&
			    (json_int_t)f->size == json_integer_value(json_array_get(e, 1)) &&
			    (json_int_t)f->mtime_ns == json_integer_value(json_array_get(e, 2)) &&
			    (!f->etag == !etag) && (!etag || !strcmp(etag, f->etag))) {
				map[k] = i;
				break;
			}
		}
	}
	return map;
}

int sci_journal_load(const char *path, const struct splan *p, enum sc_verify v, uint64_t *resumed, size_t *changed)
{
	*resumed = 0;
	*changed = 0;
	FILE *fp = fopen(path, "re");
	if (!fp)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	json_t *h = NULL;
	if (getline(&line, &cap, fp) > 0 && !strcmp(line, JOURNAL_MAGIC "\n") && getline(&line, &cap, fp) > 0)
		h = json_loads(line, 0, NULL);
	free(line);
	if (!h || !same_settings(h, p, v)) {
		json_decref(h);
		fclose(fp);
		return -1;
	}
	size_t nold;
	size_t *map = map_files(json_object_get(h, "files"), p, &nold);
	/* Files the plan has that the journal does not, in that state. */
	for (size_t i = 0; i < p->n; i++) {
		int found = 0;
		for (size_t k = 0; k < nold && !found; k++)
			found = map[k] == i;
		*changed += !found;
	}
	uint64_t fi, ci, hh;
	while (journal_next(fp, &fi, &ci, &hh)) {
		if (fi >= nold)
			break;
		if (map[fi] == SIZE_MAX)
			continue;   /* a file that has changed since: fetched again */
		const struct sfile *f = &p->f[map[fi]];
		if (ci >= f->nchunks)
			break;
		if (!f->done[ci]) {
			f->done[ci] = 1;
			f->hash[ci] = hh;
			uint64_t off = ci * p->chunk;
			*resumed += f->size - off < p->chunk ? f->size - off : p->chunk;
		}
	}
	free(map);
	json_decref(h);
	fclose(fp);
	return 0;
}

int sci_journal_rewrite(const char *path, const struct splan *p, enum sc_verify v, struct cs_err *err)
{
	struct strbuf b = STRBUF_INIT;
	char *hdr = sci_journal_header(p, v);
	strbuf_adds(&b, hdr);
	free(hdr);
	for (size_t i = 0; i < p->n; i++)
		for (uint64_t c = 0; c < p->f[i].nchunks; c++)
			if (p->f[i].done[c])
				strbuf_addf(&b, "c %zu %llu %016llx\n", i, (unsigned long long)c,
					    (unsigned long long)p->f[i].hash[c]);
	/* Atomic by itself, its temporary removed by the next writer if
	 * this one is killed. */
	int rc = fs_write_file_sync(path, b.buf, b.len, err);
	strbuf_release(&b);
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
	uint64_t fi, ci, h;
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
