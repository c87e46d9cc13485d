#define _GNU_SOURCE
#include "csvlog.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "strbuf.h"
#include "banned.h"

/* A UTF-8 byte order mark at the start (spreadsheets write one). */
static size_t bom_len(const char *buf, size_t len)
{
	return len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? 3 : 0;
}

/* One field at buf[*i] into f: quoted (RFC 4180) or bare. *line counts
 * the newlines inside quotes. */
static int parse_field(const char *buf, size_t len, size_t *i, size_t *line, struct strbuf *f, struct cs_err *err)
{
	size_t k = *i, start_line = *line;
	if (k >= len || buf[k] != '"') {
		while (k < len && buf[k] != ',' && buf[k] != '\n' && buf[k] != '\r')
			strbuf_addch(f, buf[k++]);
		*i = k;
		return 0;
	}
	for (k++;;) {
		if (k >= len)
			return cs_fail(err, EINVAL, "line %zu: unterminated quoted field", start_line);
		if (buf[k] == '"') {
			if (k + 1 < len && buf[k + 1] == '"') {
				strbuf_addch(f, '"');
				k += 2;
				continue;
			}
			k++;
			break;
		}
		if (buf[k] == '\n')
			(*line)++;
		strbuf_addch(f, buf[k++]);
	}
	*i = k;
	if (k < len && buf[k] != ',' && buf[k] != '\n' && buf[k] != '\r')
		return cs_fail(err, EINVAL, "line %zu: text after a closing quote", *line);
	return 0;
}

/* One record at buf[*i]: its fields up to the end of its line. */
static int parse_record(const char *buf, size_t len, size_t *i, size_t *line, char ***cells_out, size_t *n_out,
			struct cs_err *err)
{
	char **cells = NULL;
	size_t ncells = 0, alloc = 0;
	for (;;) {
		struct strbuf f = STRBUF_INIT;
		if (parse_field(buf, len, i, line, &f, err)) {
			strbuf_release(&f);
			free_strv(cells, ncells);
			return -1;
		}
		cells = xgrow(cells, &alloc, ncells + 1, sizeof(char *));
		cells[ncells++] = strbuf_detach(&f);
		if (*i < len && buf[*i] == ',') {
			(*i)++;
			continue;
		}
		if (*i < len && buf[*i] == '\r')
			(*i)++;
		if (*i < len && buf[*i] == '\n') {
			(*i)++;
			(*line)++;
		}
		break;
	}
	*cells_out = cells;
	*n_out = ncells;
	return 0;
}

int csv_parse(const char *buf, size_t len, struct csv_table *t, struct cs_err *err)
{
	memset(t, 0, sizeof(*t));
	size_t ralloc = 0, line = 1;
	size_t i = bom_len(buf, len);
	while (i < len) {
		char **cells;
		size_t ncells;
		if (parse_record(buf, len, &i, &line, &cells, &ncells, err)) {
			csv_table_release(t);
			return -1;
		}
		size_t nalloc = ralloc;
		t->cells = xgrow(t->cells, &ralloc, t->nrows + 1, sizeof(char **));
		t->ncols = xgrow(t->ncols, &nalloc, t->nrows + 1, sizeof(size_t));
		t->cells[t->nrows] = cells;
		t->ncols[t->nrows] = ncells;
		t->nrows++;
	}
	return 0;
}

void csv_table_release(struct csv_table *t)
{
	if (!t)
		return;
	for (size_t r = 0; r < t->nrows; r++) {
		free_strv(t->cells[r], t->ncols[r]);
	}
	free(t->cells);
	free(t->ncols);
	memset(t, 0, sizeof(*t));
}

void csv_quote(struct strbuf *line, const char *field)
{
	int q = strpbrk(field, ",\"\r\n") != NULL;
	if (q)
		strbuf_addch(line, '"');
	for (const char *p = field; *p; p++) {
		if (*p == '"')
			strbuf_addch(line, '"');
		strbuf_addch(line, *p);
	}
	if (q)
		strbuf_addch(line, '"');
}

static char *read_all(int fd, size_t *len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return NULL;
	char *b = xmalloc((size_t)st.st_size + 1);
	if (fs_pread_full(fd, b, (size_t)st.st_size, 0) < 0) {
		free(b);
		return NULL;
	}
	b[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	return b;
}

int csv_load(const char *path, struct csv_table *t, struct cs_err *err)
{
	memset(t, 0, sizeof(*t));
	FILE *f = fopen(path, "re");
	if (!f)
		return cs_fail_errno(err, errno, "cannot open '%s'", path);
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char tmp[65536];
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		buf = xgrow(buf, &cap, len + n + 1, 1);
		memcpy(buf + len, tmp, n);
		len += n;
	}
	int bad = ferror(f), e = errno;
	fclose(f);
	int rc = bad ? cs_fail_errno(err, e ? e : EIO, "cannot read '%s'", path) : csv_parse(buf ? buf : "", len, t, err);
	free(buf);
	if (rc && !bad) {
		char *m = xstrdup(err->msg);
		cs_fail(err, err->code, "'%s': %s", path, m);
		free(m);
	}
	return rc;
}

/* The header, after an optional BOM, ending the file or its first line
 * (LF or CRLF). */
static int header_ok(const char *buf, size_t len)
{
	size_t b = bom_len(buf, len);
	buf += b;
	len -= b;
	size_t h = strlen(CSV_HEADER);
	if (len < h || memcmp(buf, CSV_HEADER, h))
		return 0;
	return len == h || buf[h] == '\n' || (buf[h] == '\r' && (len == h + 1 || buf[h + 1] == '\n'));
}

/* The line ending a file uses: CRLF when its first line ends so. */
static const char *file_eol(const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);
	return nl && nl > buf && nl[-1] == '\r' ? "\r\n" : "\n";
}

void csv_show(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < len && s[i] != '\n' && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r')
			o += (size_t)snprintf(out + o, outlen - o, "\\r");
		else if (c == '\t')
			o += (size_t)snprintf(out + o, outlen - o, "\\t");
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

static void first_line(const char *buf, size_t len, char *out, size_t outlen)
{
	csv_show(buf, len, out, outlen);
}

/* Largest run_id of the records after the header (a whole decimal number;
 * other values, hand-written ones, are not ids). ERANGE when it leaves no
 * room for another id. */
static int max_run_id(const char *buf, size_t len, long long *maxid, struct cs_err *err)
{
	struct csv_table t;
	if (csv_parse(buf, len, &t, err))
		return -1;
	int rc = 0;
	for (size_t r = 1; r < t.nrows && !rc; r++) {
		uint64_t v = 0;
		const char *c = t.ncols[r] ? t.cells[r][0] : "";
		int digits = *c && strspn(c, "0123456789") == strlen(c);
		if (!digits)
			continue;
		if (parse_u64(c, &v) || v >= (uint64_t)LLONG_MAX)
			rc = cs_fail(err, ERANGE, "record %zu has run_id %s: no run_id after it fits 63 bits", r + 1,
				     t.cells[r][0]);
		else if ((long long)v > *maxid)
			*maxid = (long long)v;
	}
	csv_table_release(&t);
	return rc;
}

int csv_check_header(const char *path, struct cs_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : cs_fail_errno(err, errno, "cannot open '%s'", path);
	size_t len = 0;
	char *buf = read_all(fd, &len);
	int e = errno;
	close(fd);
	if (!buf)
		return cs_fail_errno(err, e, "cannot read '%s'", path);
	int rc = 0;
	if (len && !header_ok(buf, len)) {
		char got[400];
		first_line(buf, len, got, sizeof(got));
		rc = cs_fail(err, EINVAL, "'%s' has header '%s', expected '%s' (not appending; bytes that do not print "
			     "are shown as \\xHH)", path, got, CSV_HEADER);
	} else if (len) {
		long long maxid = 0;
		struct cs_err pe;
		if (max_run_id(buf, len, &maxid, &pe))
			rc = cs_fail(err, pe.code, "'%s': %s (not appending)", path, pe.msg);
	}
	free(buf);
	return rc;
}

long long csv_peek_next_id(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	size_t len = 0;
	char *buf = read_all(fd, &len);
	close(fd);
	long long maxid = 0;
	struct cs_err e;
	if (buf && len && header_ok(buf, len))
		max_run_id(buf, len, &maxid, &e);
	free(buf);
	return maxid + 1;
}

char *csv_row_text(const struct csv_row *row, const char *eol)
{
	struct strbuf line = STRBUF_INIT;
	strbuf_addf(&line, "%lld,", row->run_id);
	csv_quote(&line, row->storage_mode ? row->storage_mode : "");
	strbuf_addch(&line, ',');
	char *model = redact_urls(row->model ? row->model : ""), *notes = redact_urls(row->notes ? row->notes : "");
	csv_quote(&line, model);
	strbuf_addch(&line, ',');
	if (row->max_model_len >= 0)
		strbuf_addf(&line, "%lld", row->max_model_len);
	strbuf_addch(&line, ',');
	if (isfinite(row->load_s) && row->load_s >= 0)
		strbuf_addf(&line, "%.3f", row->load_s);
	strbuf_addch(&line, ',');
	if (row->gpu_mem_used_mb >= 0)
		strbuf_addf(&line, "%lld", row->gpu_mem_used_mb);
	strbuf_addch(&line, ',');
	csv_quote(&line, notes);
	free(model);
	free(notes);
	strbuf_adds(&line, eol ? eol : "");
	return strbuf_detach(&line);
}

int csv_append(const char *path, struct csv_row *row, struct cs_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return cs_fail_errno(err, errno, "cannot open '%s'", path);
	if (flock(fd, LOCK_EX) < 0) {
		int e = errno;
		close(fd);
		return cs_fail_errno(err, e, "cannot lock '%s'", path);
	}
	size_t len = 0;
	char *buf = read_all(fd, &len);
	if (!buf) {
		int e = errno;
		close(fd);
		return cs_fail_errno(err, e, "cannot read '%s'", path);
	}
	int rc = 0;
	long long maxid = 0;
	if (len) {
		if (!header_ok(buf, len)) {
			char got[400];
			first_line(buf, len, got, sizeof(got));
			rc = cs_fail(err, EINVAL, "'%s' has header '%s', expected '%s' (not appending; bytes that do not "
				     "print are shown as \\xHH)", path, got, CSV_HEADER);
		} else {
			struct cs_err pe;
			if (max_run_id(buf, len, &maxid, &pe))
				rc = cs_fail(err, pe.code, "'%s': %s (not appending)", path, pe.msg);
		}
	}
	if (!rc) {
		row->run_id = maxid + 1;
		const char *eol = len ? file_eol(buf, len) : "\n";
		char *text = csv_row_text(row, eol);
		struct strbuf line = STRBUF_INIT;
		if (!len)
			strbuf_adds(&line, CSV_HEADER "\n");
		else if (buf[len - 1] != '\n')
			strbuf_adds(&line, eol);
		strbuf_adds(&line, text);
		free(text);
		/* O_APPEND + one write: the row lands whole at the end. */
		ssize_t w = write(fd, line.buf, line.len);
		if (w != (ssize_t)line.len) {
			int e = w < 0 ? errno : ENOSPC;
			/* Undo a partial row so the file stays parseable. */
			if (w > 0 && ftruncate(fd, (off_t)len) < 0) { /* best effort */ }
			rc = cs_fail_errno(err, e, "cannot append to '%s'", path);
		} else if (fdatasync(fd) < 0 && errno != EINVAL) {
			rc = cs_fail_errno(err, errno, "cannot flush '%s'", path);
		}
		strbuf_release(&line);
	}
	free(buf);
	flock(fd, LOCK_UN);
	if (close(fd) < 0 && !rc)
		rc = cs_fail_errno(err, errno, "cannot close '%s'", path);
	return rc;
}

void notes_add(struct strbuf *notes, const char *key, const char *fmt, ...)
{
	if (notes->len)
		strbuf_adds(notes, "; ");
	strbuf_addf(notes, "%s=", key);
	size_t start = notes->len;
	va_list ap;
	va_start(ap, fmt);
	strbuf_vaddf(notes, fmt, ap);
	va_end(ap);
	for (char *p = notes->buf + start; *p; p++)
		if (*p == ';' || *p == '\n' || *p == '\r')
			*p = ',';
	if (url_has_secret(notes->buf + start)) {
		char *v = redact_urls(notes->buf + start);
		notes->len = start;
		notes->buf[start] = '\0';
		strbuf_adds(notes, v);
		free(v);
	}
}

/* Value of key among "k=v" items separated by any of seps (surrounding
 * blanks dropped). */
static char *notes_find(const char *notes, const char *key, const char *seps)
{
	if (!notes)
		return NULL;
	size_t kl = strlen(key);
	const char *p = notes;
	while (*p) {
		while (*p == ' ' || *p == '\t' || (*p && strchr(seps, *p)))
			p++;
		const char *end = p + strcspn(p, seps);
		if ((size_t)(end - p) > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t n = (size_t)(end - v);
			while (n && isspace((unsigned char)v[n - 1]))
				n--;
			return xstrndup(v, n);
		}
		p = end;
	}
	return NULL;
}

char *notes_get(const char *notes, const char *key)
{
	return notes_find(notes, key, ";");
}

char *notes_get_lenient(const char *notes, const char *key)
{
	return notes_find(notes, key, ";,");
}
