#define _GNU_SOURCE
#include "core/source/source.h"
#include "core/source/httpsrc.h"
#include "core/stage/stagecache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "tap.h"

/* The row source_for gives src, by name ("(null)" for none). */
static const char *row(const char *src)
{
	const struct source_ops *r = source_for(src);
	return r ? r->name : "(null)";
}

static void picks_rows(void)
{
	is_str(row("/mnt/nfs/qwen"), "local", "an absolute path: local");
	is_str(row("models/qwen"), "local", "a relative path: local");
	is_str(row(""), "local", "\"\": local (stage refuses it before)");
	is_str(row(NULL), "local", "NULL: local, never no row");
	is_str(row("http://h/m/"), "http", "http://");
	is_str(row("https://h/m/"), "http", "https://");
	is_str(row("HTTP://h/m/"), "http", "HTTP:// (the scheme in any case)");
	is_str(row("HtTpS://"), "http", "a scheme and nothing after it is still the http row's");
	is_str(row("http://127.0.0.1:41000/qwen/"), "http", "a peer (cache serve's URL): HTTP");
	is_str(row("s3://bucket/prefix/"), "s3", "s3://");
	is_str(row("S3://bucket"), "s3", "S3:// (any case)");
	is_str(row("s3:/bucket/x"), "local", "s3:/ (one slash) is a path");
	is_str(row("s3:bucket"), "local", "s3: without slashes is a path");
	is_str(row("http:/h/x"), "local", "http:/ (one slash) is a path");
	is_str(row("file:///mnt/x"), "local", "file:// is not a URL source: a path (named \"file:\")");
	is_str(row("ftp://h/x"), "local", "another scheme: a path");
	is_str(row(" http://h/"), "local", "a leading space: a path");
}

static void kinds_and_flags(void)
{
	const struct source_ops *h = source_for("http://h/"), *s = source_for("s3://b/"), *l = source_for("/x");
	is_str(h->kind("http://h/"), "http", "kind of http://");
	is_str(h->kind("HTTPS://h/"), "https", "kind of HTTPS://");
	is_str(s->kind("s3://b/"), "s3", "kind of s3://");
	ok(l->kind("/x") == NULL, "a path has no kind (not remote)");
	is_str(sc_remote_kind("HTTPS://h/"), "https", "sc_remote_kind asks the table");
	ok(sc_remote_kind(NULL) == NULL && sc_remote_kind("") == NULL && sc_remote_kind("s3:/x") == NULL,
	   "sc_remote_kind: NULL, \"\" and s3:/x are not remote");
	is_int(h->flags, SOURCE_REMOTE | SOURCE_HEADERS | SOURCE_NAMES, "http: remote, takes --header and --files");
	is_int(s->flags, SOURCE_REMOTE, "s3: remote, neither --header nor --files");
	is_int(l->flags, 0, "local: none of them");
}

static void shown(const char *src, const char *want)
{
	char *r = source_for(src)->shown(src);
	is_str(r, want, "shown: %s", want);
	free(r);
	r = sc_source_shown(src);
	is_str(r, want, "sc_source_shown: %s", want);
	free(r);
}

static void name_of(const char *src, const char *want)
{
	char *n = source_for(src)->default_name(src);
	is_str(n, want, "default name of %s", src);
	free(n);
}

static void identity(const char *src, const char *want)
{
	char *n = source_for(src)->identity(src);
	is_str(n, want, "identity of %s", src);
	free(n);
}

static void names_redacted(void)
{
	shown("https://user:pw@host:8443/m/?sig=SECRET#f", "https://host:8443/m/");
	shown("HTTP://u@host/m", "HTTP://host/m");
	shown("s3://KEY:SECRET@bucket/p?x=1", "s3://bucket/p");
	shown("/mnt/u:p@h/m?x", "/mnt/u:p@h/m?x");   /* a path is shown as it is */
	name_of("http://u:p@h/models/qwen-q8_0.gguf?sig=SECRET", "qwen-q8_0");
	name_of("https://huggingface.co/Qwen/Qwen2.5-0.5B/resolve/main/", "main");
	name_of("s3://bucket/models/llama-3/", "llama-3");
	name_of("s3://KEY:SECRET@bucket/m.gguf", "m");
	identity("https://user:pw@h/m/?sig=SECRET", "https://h/m/");
	identity("s3://bucket/p/", "s3://bucket/p/");
	identity("/c/models--org--m/snapshots/abc123", "/c/models--org--m");
	identity("/c/models--org--m/snapshots/abc123/sub", "/c/models--org--m/snapshots/abc123/sub");
	identity("/mnt/m", "/mnt/m");
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

/* A filter that leaves out "skip.bin", counting what it was asked. */
static int asked;
static int want_all_but_skip(void *arg, const char *name)
{
	(void)arg;
	asked++;
	return strcmp(name, "skip.bin") != 0;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct source_file *)a)->name, ((const struct source_file *)b)->name);
}

struct got {
	char buf[64];
	size_t n;
};

static int collect(void *arg, uint64_t pos, const void *data, size_t n, struct cs_err *err)
{
	(void)err;
	struct got *g = arg;
	if (pos + n > sizeof(g->buf) - 1)
		return -1;
	memcpy(g->buf + pos, data, n);
	if (pos + n > g->n)
		g->n = pos + n;
	return 0;
}

static void local_row(void)
{
	char tmpl[] = "/tmp/test_source.XXXXXX";
	char *dir = mkdtemp(tmpl);
	char path[8192], real[4096];
	snprintf(path, sizeof(path), "%s/model", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/model/sub", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/model/config.json", dir);
	put(path, "{\"a\": 1}");
	snprintf(path, sizeof(path), "%s/model/sub/w.safetensors", dir);
	put(path, "0123456789abcdef");
	snprintf(path, sizeof(path), "%s/model/skip.bin", dir);
	put(path, "x");
	snprintf(path, sizeof(path), "%s/model/.coldstart-manifest.json", dir);
	put(path, "{}");
	struct timeval tv[2] = { { 1700000000, 0 }, { 1700000000, 0 } };
	snprintf(path, sizeof(path), "%s/model/config.json", dir);
	utimes(path, tv);

	snprintf(path, sizeof(path), "%s/model", dir);
	ok(realpath(path, real) != NULL, "the directory resolves");
	is_str(row(path), "local", "the directory: local");
	char *n = source_for(path)->default_name(path);
	is_str(n, "model", "its default name: the directory's name");
	free(n);

	struct source_opts so = { .skip = ".coldstart-manifest.json", .want = want_all_but_skip };
	struct source *s = NULL;
	struct cs_err e;
	ok(source_open(path, &so, &s, &e) == 0 && s, "opened");
	is_str(s->canon, real, "canon: its real path");
	struct source_file *f = NULL;
	size_t nf = 0;
	ok(s->ops->list(s, &f, &nf, &e) == 0, "listed");
	qsort(f, nf, sizeof(*f), cmp_file);
	is_int(nf, 2, "two files: the filter left one out, the manifest is skipped");
	is_int(asked, 3, "the filter was asked of each regular file, not of the skipped manifest");
	if (nf == 2) {
		is_str(f[0].name, "config.json", "config.json");
		is_int(f[0].size, 8, "... its size");
		is_int(f[0].mtime_ns, 1700000000LL * 1000000000LL, "... its mtime");
		ok(!f[0].etag && source_file_identified(&f[0]), "no ETag for a local file; its mtime identifies it");
		is_str(f[1].name, "sub/w.safetensors", "a file in a subdirectory, by its relative path");
		snprintf(path, sizeof(path), "%s/sub/w.safetensors", real);
		is_str(f[1].url, path, "... read from its real path");
		is_int(f[1].size, 16, "... its size");

		ok(s->ops->stat(s, &f[1], &e) == 0, "stat: as listed");
		void *r = s->ops->reader_new(s, f, nf);
		struct got g = { "", 0 };
		ok(s->ops->read(r, 1, 4, 6, collect, &g, &e) == 0 && g.n == 6 && !memcmp(g.buf, "456789", 6),
		   "read bytes [4, 10) of the file: '%.*s'", (int)g.n, g.buf);
		struct got g2 = { "", 0 };
		ok(s->ops->read(r, 1, 12, 8, collect, &g2, &e) == -1 && e.code == ESTALE,
		   "a range past the end: ESTALE (%s)", e.msg);
		s->ops->reader_free(r);

		put(f[1].url, "0123456789abcdefgh");
		ok(s->ops->stat(s, &f[1], &e) == -1 && e.code == ESTALE, "stat after a change: ESTALE (%s)", e.msg);
	}
	source_files_free(f, nf);
	source_close(s);

	/* Symlinks: one out of the directory is refused unless followed. */
	snprintf(path, sizeof(path), "%s/outside", dir);
	put(path, "out");
	char link[8192];
	snprintf(link, sizeof(link), "%s/model/out", dir);
	ok(symlink(path, link) == 0, "a symlink out of the directory");
	snprintf(path, sizeof(path), "%s/model", dir);
	struct source_opts plain = { 0 };
	ok(source_open(path, &plain, &s, &e) == 0, "opened again");
	ok(s->ops->list(s, &f, &nf, &e) == -1 && e.code == EXDEV && strstr(e.msg, "points outside"),
	   "a symlink out: EXDEV (%s)", e.msg);
	source_close(s);
	plain.follow_symlinks = 1;
	ok(source_open(path, &plain, &s, &e) == 0 && s->ops->list(s, &f, &nf, &e) == 0 && nf == 5,
	   "followed: 5 files (the manifest too, with no skip)");
	source_files_free(f, nf);
	source_close(s);
	unlink(link);

	snprintf(path, sizeof(path), "%s/model/config.json", dir);
	ok(source_open(path, &plain, &s, &e) == -1 && !s && e.code == ENOTDIR, "a file: ENOTDIR (%s)", e.msg);
	snprintf(path, sizeof(path), "%s/none", dir);
	ok(source_open(path, &plain, &s, &e) == -1 && e.code == ENOENT, "nothing there: ENOENT (%s)", e.msg);
	char *cmd = NULL;
	if (asprintf(&cmd, "rm -rf '%s'", dir) > 0 && system(cmd) != 0)
		ok(0, "cleanup");
	free(cmd);
}

static void remote_open(void)
{
	struct source_opts so = { 0 };
	struct source *s;
	struct cs_err e;
	ok(source_open("https://u:SECRET@h/m/?sig=SECRET", &so, &s, &e) == 0, "an http source opens without a request");
	is_str(s->canon, "https://h/m/", "its canon: redacted");
	source_close(s);
	char tmpl[] = "/tmp/test_source_home.XXXXXX";
	char *home = mkdtemp(tmpl);
	setenv("HOME", home, 1);
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	ok(source_open("s3://bucket/models/m/", &so, &s, &e) == -1 && !s && e.code == ENOKEY &&
	   strstr(e.msg, "no S3 credentials found"), "no credentials: an s3 source does not open (%s)", e.msg);
	struct source_opts anon = { .no_sign = 1 };
	ok(source_open("s3://bucket/models/m/", &anon, &s, &e) == 0, "an s3 source opens (its settings read)");
	is_str(s ? s->canon : "", "s3://bucket/models/m/", "its canon");
	source_close(s);
	setenv("AWS_PROFILE", "nope", 1);
	ok(source_open("s3://bucket/m/", &so, &s, &e) == -1 && !s && strstr(e.msg, "AWS_PROFILE 'nope'"),
	   "settings that cannot be read: no source (%s)", e.msg);
	unsetenv("AWS_PROFILE");
	struct source_opts names = { .nnames = 1, .names = (char *const[]){ (char *)"a" }, .no_sign = 1 };
	ok(source_open("s3://bucket/m/", &names, &s, &e) == 0, "opened with --files");
	struct source_file *f = NULL;
	size_t n = 0;
	ok(s->ops->list(s, &f, &n, &e) == -1 && e.code == EINVAL && strstr(e.msg, "--files is for HTTP sources"),
	   "an S3 prefix takes no --files (%s)", e.msg);
	source_close(s);
	rmdir(home);
}

static void s3_error_xml(void)
{
	struct hs_s3_error x;
	hs_s3_error_parse("<Error><Code>NoSuchKey</Code><Message>The key &amp; more\nline 2</Message>"
			  "<RequestId>R1</RequestId></Error>", &x);
	is_str(x.code, "NoSuchKey", "the code as sent");
	is_str(x.code_line, "NoSuchKey", "... as a line");
	is_str(x.message_line, "The key & more", "the message: entities decoded, its first line");
	hs_s3_error_release(&x);
	ok(!x.code && !x.code_line && !x.message_line, "freed: all NULL");
	hs_s3_error_parse("<Error><Code>AccessDenied</Code><Message></Message></Error>", &x);
	ok(x.code_line && !x.message_line, "an empty <Message> (radosgw): none");
	hs_s3_error_release(&x);
	hs_s3_error_parse("<Error><Code>\x1b[31mX</Code></Error>", &x);
	is_str(x.code, "\x1b[31mX", "the code as sent, for comparisons");
	is_str(x.code_line, "[31mX", "... and printable for messages");
	hs_s3_error_release(&x);
	hs_s3_error_parse(NULL, &x);
	ok(!x.code && !x.code_line && !x.message_line, "no body: nothing");
	hs_s3_error_parse("not xml", &x);
	ok(!x.code && !x.message_line, "no tags: nothing");
	hs_s3_error_release(&x);
}

int main(void)
{
	picks_rows();
	kinds_and_flags();
	names_redacted();
	local_row();
	remote_open();
	s3_error_xml();
	return done_testing();
}
