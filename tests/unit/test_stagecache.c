#define _GNU_SOURCE
#include "core/stage/stagecache_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/base/strbuf.h"
#include "tap.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void plan_of(const char *src, struct splan *p)
{
	struct sc_opts o;
	memset(&o, 0, sizeof(o));
	o.src = src;
	o.name = "m";
	struct cs_err e;
	if (sci_scan_source(&o, p, &e))
		printf("# scan: %s\n", e.msg);
}

/* sc_result_describe's lines, joined by '|'. */
static void collect(const char *msg, void *arg)
{
	struct strbuf *sb = arg;
	if (sb->len)
		strbuf_addch(sb, '|');
	strbuf_adds(sb, msg);
}

/* A result as stage shows it: the summary lines and the JSON. */
static void test_result(void)
{
	char old[] = "old", path[] = "/r/m", *ev[] = { old };
	struct sc_result r = { .path = path, .files = 3, .bytes = 3ULL << 30, .copied = 1ULL << 30,
			       .linked = 1, .seconds = 2, .jobs = 1, .replaced = 1, .repaired = 1,
			       .nevicted = 1, .evicted = ev };
	struct strbuf sb = STRBUF_INIT;
	sc_result_describe("m", &r, collect, &sb);
	is_str(sb.buf, "staged 3.0 GiB in 2.00s (1.61 GB/s), 3 files, verified by file count and sizes; "
	       "1 copy thread|the staged copy was damaged (the source had not changed): copied 1.0 GiB again, "
	       "kept 1 intact file, and swapped the repaired copy in", "a repaired copy: two lines");
	strbuf_reset(&sb);
	r.noop = 1, r.replaced = 0;
	sc_result_describe("m", &r, collect, &sb);
	is_str(sb.buf, "'m' is already staged from the unchanged source (3.0 GiB, 3 files)", "a no-op: one line");
	strbuf_release(&sb);
	json_t *j = sc_result_json("m", &r);
	const char *ev0 = json_string_value(json_array_get(json_object_get(j, "evicted"), 0));
	ok(json_is_true(json_object_get(j, "noop")) && json_integer_value(json_object_get(j, "copied_bytes")) == 1 << 30 &&
		   ev0 && !strcmp(ev0, "old") &&
		   json_is_null(json_object_get(j, "replaced_source")) && !json_object_get(j, "store_checksum"),
	   "the JSON: every field, the evicted names");
	json_decref(j);
}

/* The options that go with some sources only, refused as stage refuses them. */
static void test_source_opts(void)
{
	struct cs_err err;
	struct sc_opts o = { .src = "/mnt/models/m" };
	ok(sc_check_source_opts(&o, &err) == 0, "a directory with no URL options: fine");
	o.insecure = 1;
	ok(sc_check_source_opts(&o, &err) == -1 && err.code == EINVAL && strstr(err.msg, "--insecure goes with a URL"),
	   "--insecure with a directory: refused");
	o.src = "https://example.com/m/";
	ok(sc_check_source_opts(&o, &err) == 0, "--insecure with an https URL: fine");
	o.cacert = "/ca.pem";
	ok(sc_check_source_opts(&o, &err) == -1 && strstr(err.msg, "--cacert and --insecure"), "--cacert with --insecure: refused");
	o.insecure = 0;
	o.nheaders = 1;
	ok(sc_check_source_opts(&o, &err) == 0, "--cacert and --header with an https URL: fine");
	o.src = "s3://bucket/m";
	ok(sc_check_source_opts(&o, &err) == -1 && strstr(err.msg, "--header goes with an http"),
	   "--header with s3:// (a row that takes no headers): refused");
	o.nheaders = 0, o.nfiles = 1;
	ok(sc_check_source_opts(&o, &err) == -1 && strstr(err.msg, "--files goes with an http"), "--files with s3://: refused");
	o.nfiles = 0, o.cacert = NULL, o.src = "/mnt/models/m", o.buffered = 1;
	ok(sc_check_source_opts(&o, &err) == -1 && strstr(err.msg, "--buffered goes with a URL"), "--buffered with a directory");
	o.direct = 1;
	ok(sc_check_source_opts(&o, &err) == -1 && strstr(err.msg, "--buffered and --direct"), "--buffered and --direct");
}

int main(void)
{
	test_result();
	test_source_opts();

	/* Eviction arithmetic: least recently used first, busy ones skipped. */
	uint64_t sizes[] = { 10, 20, 30 }, busy_b;
	int none_busy[] = { 0, 0, 0 }, first_busy[] = { 1, 0, 0 }, all_busy[] = { 1, 1, 1 };
	ok(sci_evict_enough(sizes, none_busy, 3, 100, 0, 25, 0, &busy_b) && busy_b == 0,
	   "free space: evicting the two oldest (10 + 20) frees 30 >= 25");
	ok(!sci_evict_enough(sizes, none_busy, 3, 100, 0, 61, 0, &busy_b), "61 needed, 60 evictable: not enough");
	ok(sci_evict_enough(sizes, first_busy, 3, 100, 0, 25, 0, &busy_b) && busy_b == 10,
	   "a busy model is skipped, and counted as held");
	ok(!sci_evict_enough(sizes, all_busy, 3, 100, 0, 1, 0, &busy_b) && busy_b == 60,
	   "all in use: nothing can be evicted");
	ok(sci_evict_enough(sizes, none_busy, 3, 100, 1000, 1, 75, &busy_b), "a cap: 100 -> 70 after two, <= 75");
	ok(!sci_evict_enough(sizes, first_busy, 3, 100, 1000, 1, 45, &busy_b),
	   "a cap only the busy model's bytes could meet: refused");
	ok(sci_evict_enough(sizes, none_busy, 0, 10, 100, 50, 20, &busy_b), "nothing to evict, nothing needed");

	/* A source and its plan. */
	char dir[] = "/tmp/test_stagecache.XXXXXX";
	ok(mkdtemp(dir) != NULL, "scratch directory");
	char *src = path_join(dir, "src");
	mkdir(src, 0755);
	char *f1 = path_join(src, "config.json"), *f2 = path_join(src, "model.bin");
	write_file(f1, "{\"a\": 1}\n");
	int fd = open(f2, O_WRONLY | O_CREAT, 0644);
	ok(fd >= 0 && ftruncate(fd, 40u << 20) == 0, "a 40 MiB weights file");
	close(fd);
	struct splan p;
	plan_of(src, &p);
	is_int(p.n, 2, "the plan has both files, sorted");
	is_str(p.f[0].rel, "config.json", "config.json first");
	is_int(p.f[1].nchunks, 3, "40 MiB in 16 MiB chunks: 3");

	/* The journal: records after the header that belongs to this plan. */
	char *jp = path_join(dir, "m.journal");
	char *hdr = sci_journal_header(&p, SC_VERIFY_SIZE);
	char *text = xasprintf("%sc 1 0 00000000000000aa\nc 1 2 00000000000000bb\nc 1 1 0000", hdr);
	write_file(jp, text);
	uint64_t resumed = 0;
	size_t changed = 9;
	ok(sci_journal_load(jp, &p, SC_VERIFY_SIZE, &resumed, &changed) == 0 && changed == 0,
	   "the journal belongs to this plan, no file changed");
	ok(p.f[1].done[0] && !p.f[1].done[1] && p.f[1].done[2], "chunks 0 and 2 done; the torn record is not");
	is_int(resumed, (16u << 20) + (8u << 20), "resumed bytes: 16 MiB + the 8 MiB tail");
	ok(p.f[1].hash[2] == 0xbb, "with the hash recorded");
	struct jsum js;
	char *partial = path_join(dir, ".partial");
	mkdir(partial, 0755);
	char *jp2 = path_join(partial, "m.journal");
	write_file(jp2, text);
	sci_journal_summary(dir, "m", &js);
	ok(js.hdr && js.total == p.total && js.done == (24u << 20), "journal summary: total and done bytes");
	json_decref(js.hdr);
	ok(sci_journal_load(jp, &p, SC_VERIFY_XXH3, &resumed, &changed) < 0,
	   "another verification mode: not this plan's journal");
	/* One file changed since (its ETag): its chunks are not taken, the
	 * others' are; the rewritten journal says so by itself. */
	memset(p.f[1].done, 0, p.f[1].nchunks);
	p.f[0].etag = xstrdup("\"new\"");
	ok(sci_journal_load(jp, &p, SC_VERIFY_SIZE, &resumed, &changed) == 0 && changed == 1 && p.f[1].done[0] &&
		   p.f[1].done[2] && resumed == (16u << 20) + (8u << 20),
	   "config.json changed: counted, model.bin's chunks still taken");
	struct cs_err je;
	ok(sci_journal_rewrite(jp, &p, SC_VERIFY_SIZE, &je) == 0, "the journal rewritten");
	memset(p.f[1].done, 0, p.f[1].nchunks);
	ok(sci_journal_load(jp, &p, SC_VERIFY_SIZE, &resumed, &changed) == 0 && changed == 0 && p.f[1].done[0] &&
		   p.f[1].done[2] && !p.f[1].done[1] && p.f[1].hash[2] == 0xbb,
	   "... with the new header and the chunks kept, hashes too");
	p.f[1].size++;
	memset(p.f[1].done, 0, p.f[1].nchunks);
	ok(sci_journal_load(jp, &p, SC_VERIFY_SIZE, &resumed, &changed) == 0 && changed == 1 && !p.f[1].done[0] &&
		   resumed == 0, "model.bin changed size: none of its chunks taken");
	free(text);
	free(hdr);

	/* Manifest and the state of a published copy. */
	sci_plan_release(&p);
	plan_of(src, &p);
	char *root = path_join(dir, "root");
	struct sc_opts o;
	memset(&o, 0, sizeof(o));
	o.root = root;
	o.src = src;
	o.name = "m";
	o.jobs = 2;
	struct sc_result r;
	struct cs_err e;
	ok(sc_stage(&o, &r, &e) == 0, "stage it");
	char *pub = path_join(root, "m");
	struct manifest m;
	ok(sci_manifest_load(pub, &m) == 0, "its manifest loads");
	ok(sci_pub_state(pub, &m, &p, SC_VERIFY_SIZE) == PUB_MATCH, "unchanged source, intact copy: match");
	ok(sci_pub_state(pub, &m, &p, SC_VERIFY_XXH3) == PUB_CHANGED, "xxh3 asked of a size-verified copy: changed");
	sci_manifest_release(&m);
	char *copy = path_join(pub, "config.json");
	write_file(copy, "{\"a\": 2}\n"); /* same size, new mtime */
	ok(sci_manifest_load(pub, &m) == 0 && sci_pub_state(pub, &m, &p, SC_VERIFY_SIZE) == PUB_DAMAGED,
	   "a copy edited in place: damaged");
	sci_manifest_release(&m);
	write_file(f1, "{\"a\": 3, \"b\": 4}\n");
	sci_plan_release(&p);
	plan_of(src, &p);
	ok(sci_manifest_load(pub, &m) == 0 && sci_pub_state(pub, &m, &p, SC_VERIFY_SIZE) == PUB_CHANGED,
	   "a changed source: changed");
	sci_manifest_release(&m);
	sc_result_release(&r);

	/* Names, sources, globs. */
	ok(sci_same_source("/c/models--o--n/snapshots/a", "/c/models--o--n/snapshots/b"),
	   "two revisions of one repository: the same source");
	ok(!sci_same_source("/x/srcA/model", "/x/srcB/model"), "two directories: two sources");
	ok(sc_valid_glob("*.safetensors") && sc_valid_glob("[ab]*") && sc_valid_glob("[]x]"), "valid globs");
	ok(!sc_valid_glob("[") && !sc_valid_glob("ab\\") && !sc_valid_glob(""), "invalid globs");
	char *nm = sc_default_name(".");
	char *cwd = getcwd(NULL, 0);
	char *base = fs_basename(cwd);
	is_str(nm, base, "the name of '.' is the directory's");
	free(nm);
	free(cwd);
	free(base);

	/* --chmod: rsync's octal form; permission bits only. */
	struct sc_chmod c;
	ok(sc_chmod_parse("D755,F644", &c) == 0 && c.set == (SC_CHMOD_DIRS | SC_CHMOD_FILES) && c.dir == 0755 &&
	   c.file == 0644, "--chmod D755,F644");
	ok(sc_chmod_parse("F0640", &c) == 0 && c.set == SC_CHMOD_FILES && c.file == 0640, "F0640: files only");
	ok(sc_chmod_parse("700", &c) == 0 && c.set == (SC_CHMOD_DIRS | SC_CHMOD_FILES) && c.dir == 0700 &&
	   c.file == 0700, "700: both");
	const char *bad[] = { "", "D", "D8", "F1644", "D755,", ",F644", "u+rwx", "D755;F644", "07777", "D75555" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(sc_chmod_parse(bad[i], &c) < 0, "--chmod '%s' refused", bad[i]);
	mode_t um = umask(027);
	is_int(sc_umask(), 027, "sc_umask reads the umask");
	umask(um);
	is_int(sc_umask(), um, "... without changing it");

	sci_plan_release(&p);
	fs_remove_tree(dir);
	free(src);
	free(f1);
	free(f2);
	free(jp);
	free(jp2);
	free(partial);
	free(root);
	free(pub);
	free(copy);
	return done_testing();
}
