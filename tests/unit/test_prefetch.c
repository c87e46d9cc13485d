/* The prefetch's order (model/model_order.c) and its plan (io/prefetch.c): the
 * engine's shard and tensor order, the memory budget, the cut. */
#define _GNU_SOURCE
#include "core/base/fsutil.h"
#include "core/base/strbuf.h"
#include "core/io/pagecache.h"
#include "core/io/prefetch.h"
#include "core/model/model.h"
#include "core/run/timeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ok(f && fputs(text, f) >= 0 && fclose(f) == 0, "wrote '%s'", path);
}

/* A safetensors file: the header as given (padded to 8), then data bytes. */
static void write_st(const char *dir, const char *name, const char *json, size_t data)
{
	char *path = path_join(dir, name);
	size_t n = strlen(json), padded = (n + 7) / 8 * 8;
	uint64_t len = padded;
	FILE *f = fopen(path, "wb");
	int good = f && fwrite(&len, 8, 1, f) == 1 && fwrite(json, 1, n, f) == n;
	for (size_t i = n; good && i < padded; i++)
		good = fputc(' ', f) != EOF;
	for (size_t i = 0; good && i < data; i++)
		good = fputc((int)(i & 0xff), f) != EOF;
	ok(good && fclose(f) == 0, "wrote '%s'", path);
	free(path);
}

/* Two F32 tensors, listed as a (bytes 64..128) then b (bytes 0..64): the
 * header's order and the names' order are not the data's. */
static const char two_out_of_order[] =
	"{\"%s.a\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[64,128]},"
	"\"%s.b\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}}";

static void shard(const char *dir, const char *name, const char *prefix, size_t big)
{
	char *json = xasprintf("{\"%s.a\":{\"dtype\":\"F32\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]},"
			       "\"%s.b\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}}",
			       prefix, big / 4, (size_t)64, 64 + big, prefix);
	write_st(dir, name, json, 64 + big);
	free(json);
}

/* The model at path opened (the test says so as what) and its read order: *n ranges. */
static struct st_range *open_order(const char *path, struct st_model *m, size_t *n, const char *what)
{
	struct cs_err e;
	int rc = st_model_open(path, m, &e);
	ok(!rc, "%s opens%s%s", what, rc ? ": " : "", rc ? e.msg : "");
	*n = 0;
	return rc ? NULL : st_model_read_order(m, n);
}

static void test_natural(void)
{
	ok(st_natural_cmp("model-2.safetensors", "model-10.safetensors") < 0, "natural order: 2 before 10");
	ok(st_natural_cmp("model-00002", "model-00010") < 0, "zero-padded: as strcmp");
	ok(st_natural_cmp("a", "b") < 0 && st_natural_cmp("b", "a") > 0 && !st_natural_cmp("x1", "x1"), "text: as strcmp");
	ok(st_natural_cmp("w-10.safetensors", "w-9.safetensors") > 0, "10 after 9");
}

/* An index that lists the second shard first; tensors whose data is not in
 * the header's order: the order is the shards by name, each one's header
 * and then its tensors by offset. */
static void test_safetensors_order(const char *tmp)
{
	char *dir = path_join(tmp, "st");
	fs_mkdir_p(dir, 0755);
	char *j1 = xasprintf(two_out_of_order, "x", "x"), *j2 = xasprintf(two_out_of_order, "y", "y");
	write_st(dir, "model-00001-of-00002.safetensors", j1, 128);
	write_st(dir, "model-00002-of-00002.safetensors", j2, 128);
	char *ip = path_join(dir, "model.safetensors.index.json");
	write_text(ip, "{\"metadata\":{\"total_size\":256},\"weight_map\":{"
		       "\"y.a\":\"model-00002-of-00002.safetensors\",\"y.b\":\"model-00002-of-00002.safetensors\","
		       "\"x.a\":\"model-00001-of-00002.safetensors\",\"x.b\":\"model-00001-of-00002.safetensors\"}}");
	struct st_model m;
	size_t n;
	struct st_range *r = open_order(dir, &m, &n, "the model");
	is_int(n, 6, "two shards: a header and two tensors each");
	if (n == 6) {
		uint64_t ds = m.shards[0].h.data_start;
		is_str(m.shards[r[0].shard].name, "model-00001-of-00002.safetensors", "the first shard by name first, "
		       "though the index lists the other first");
		ok(r[0].off == 0 && r[0].len == ds, "its header first: [0, %llu)", (unsigned long long)ds);
		ok(r[1].off == ds && r[1].len == 64, "then the tensor at data offset 0 (x.b, second in the header)");
		ok(r[2].off == ds + 64 && r[2].len == 64, "then the one at 64 (x.a, first in the header)");
		is_str(m.shards[r[3].shard].name, "model-00002-of-00002.safetensors", "then the second shard");
		ok(r[3].off == 0 && r[4].off == ds && r[5].off == ds + 64, "... in the same order");
	}
	free(r);
	st_model_release(&m);
	free(j1);
	free(j2);
	free(ip);
	free(dir);
}

/* No index: every *.safetensors, in natural order (vLLM's sort key). */
static void test_natural_shards(const char *tmp)
{
	char *dir = path_join(tmp, "nat");
	fs_mkdir_p(dir, 0755);
	shard(dir, "w-10.safetensors", "ten", 64);
	shard(dir, "w-2.safetensors", "two", 64);
	struct st_model m;
	size_t n;
	struct st_range *r = open_order(dir, &m, &n, "a model without an index");
	ok(n == 6 && !strcmp(m.shards[r[0].shard].name, "w-2.safetensors") &&
		   !strcmp(m.shards[r[3].shard].name, "w-10.safetensors"),
	   "w-2 before w-10 (natural order), though w-10 sorts first by name");
	free(r);
	st_model_release(&m);
	free(dir);
}

static void test_mem(const char *tmp)
{
	char *mi = path_join(tmp, "meminfo");
	write_text(mi, "MemTotal:       67108864 kB\nMemFree:         1000 kB\nMemAvailable:   33554432 kB\n");
	struct pf_mem mem;
	struct cs_err e;
	ok(pf_mem_read(mi, &mem, &e) == 0 && mem.known, "meminfo read");
	ok(mem.total == 64ull << 30 && mem.available == 32ull << 30, "MemTotal and MemAvailable, in bytes");
	is_int(mem.reserve, (64ull << 30) / 10, "the reserve: a tenth of memory");
	write_text(mi, "MemTotal:       4194304 kB\nMemAvailable:   3145728 kB\n");
	ok(pf_mem_read(mi, &mem, &e) == 0 && mem.reserve == PF_RESERVE_MIN, "at least 1 GiB kept for the server");
	write_text(mi, "MemTotal:       4194304 kB\n");
	ok(pf_mem_read(mi, &mem, &e) == -1 && !mem.known, "no MemAvailable: unknown");
	free(mi);
}

/* Three shards larger together than the budget: the plan reads the first
 * in the engine's order, the start of the second, none of the third, and
 * says so. */
static void test_budget(const char *tmp)
{
	char *dir = path_join(tmp, "big");
	fs_mkdir_p(dir, 0755);
	shard(dir, "model-00003-of-00003.safetensors", "c", 256 << 10);
	shard(dir, "model-00001-of-00003.safetensors", "a", 256 << 10);
	shard(dir, "model-00002-of-00003.safetensors", "b", 256 << 10);
	char *mi = path_join(tmp, "meminfo");
	/* 1 GiB kept for the server, 400 KiB left for the page cache. */
	write_text(mi, "MemTotal:       4194304 kB\nMemAvailable:   1048976 kB\n");
	struct pc_set set;
	struct cs_err e;
	char *paths[1] = { dir };
	int can = pc_collect(paths, 1, &set, &e) == 0 && pc_evict(&set, &e) == 0 && pc_residency(&set, &e) == 0 &&
		  !set.resident && !set.nunknown;
	pc_set_release(&set);
	if (!can) {
		ok(1, "# SKIP the files stay resident here (tmpfs?): no budget to test");
		free(mi);
		free(dir);
		return;
	}
	struct pf_plan p;
	ok(pf_plan_make(dir, 0, mi, &p, &e) == 0, "a plan");
	is_str(p.order, "safetensors", "in the engine's order");
	is_int(p.budget, 400 << 10, "the budget: MemAvailable less 1 GiB, nothing of the model resident");
	ok(p.cut && p.warm <= p.budget && p.warm > (256 << 10), "cut: what it reads fits the budget (%llu bytes)",
	   (unsigned long long)p.warm);
	is_str(p.stop_at, "model-00002-of-00003.safetensors", "it stops in the second shard");
	int first = 0, third = 0;
	for (size_t k = 0; k < p.set.norder; k++) {
		const char *f = p.set.files[p.set.order[k].file].path;
		first |= k == 0 && strstr(f, "model-00001-of-00003.safetensors") && p.set.order[k].off == 0;
		third |= strstr(f, "model-00003-of-00003.safetensors") != NULL;
	}
	ok(first && !third, "the first shard first, nothing of the third");
	struct strbuf b = STRBUF_INIT;
	pf_plan_describe(&p, &b);
	ok(strstr(b.buf, "only the first part in the engine's read order") && strstr(b.buf, "up to 'model-00002-of-00003.safetensors'") &&
		   strstr(b.buf, "memory allows 400.0 KiB (MemAvailable 1.0 GiB less 1.0 GiB kept for the server)") &&
		   strstr(b.buf, "would evict"),
	   "the line says how much, the budget and why: '%s'", b.buf);
	strbuf_release(&b);
	pf_plan_release(&p);
	/* A cap below the memory budget: the cap rules. */
	ok(pf_plan_make(dir, 100 << 10, mi, &p, &e) == 0 && p.capped && p.budget == 100 << 10 && p.warm <= 100 << 10 &&
		   !strcmp(p.stop_at, "model-00001-of-00003.safetensors"),
	   "a cap of 100 KiB: only the first shard's start");
	pf_plan_release(&p);
	/* Everything resident: nothing to warm. */
	ok(pc_collect(paths, 1, &set, &e) == 0 && pc_warm(&set, 2, 0, NULL, NULL, NULL, &(struct pc_warm_stats){ 0 }, &e) == 0,
	   "warmed by hand");
	pc_set_release(&set);
	ok(pf_plan_make(dir, 0, mi, &p, &e) == 0 && !p.need && !p.warm, "resident: nothing to warm");
	b = (struct strbuf)STRBUF_INIT;
	pf_plan_describe(&p, &b);
	ok(strstr(b.buf, "none: the model is resident") != NULL, "and it says so: '%s'", b.buf);
	strbuf_release(&b);
	pf_plan_release(&p);
	free(mi);
	free(dir);
}

/* The run's timeline shows the prefetch's progress against the weights
 * phase's markers, and nothing of it when none ran. */
static void test_timeline(void)
{
	struct tl_sample with[3] = { { 0, 0, 1e6, -1, 0, 0 }, { 0.1, 0, 2e6, -1, 4e7, 5e7 }, { 0.2, 0, 3e6, -1, 9e7, 1e8 } };
	struct tl_sample without[3] = { { 0, 0, 1e6, -1, 0, -1 }, { 0.1, 0, 2e6, -1, 4e7, -1 }, { 0.2, 0, 3e6, -1, 9e7, -1 } };
	struct tl_marker mk[2] = { { "weights start", 0.05 }, { "weights loaded", 0.15 } };
	char *a = rp_timeline_svg("t", with, 3, mk, 2), *b = rp_timeline_svg("t", without, 3, mk, 2);
	ok(strstr(a, "prefetched so far") && strstr(a, "prefetch reads") && strstr(a, "weights loaded"),
	   "with a prefetch: its reads and its progress, beside the weights phase's markers");
	ok(!strstr(b, "prefetch"), "without one: nothing of it");
	free(a);
	free(b);
}

int main(void)
{
	/* On a disk where it can: /tmp may be tmpfs, whose pages never leave. */
	char tmp[] = "/var/tmp/cs-test-prefetch-XXXXXX", alt[] = "/tmp/cs-test-prefetch-XXXXXX";
	char *dir = mkdtemp(tmp) ? tmp : mkdtemp(alt);
	if (!dir)
		return 1;
	test_natural();
	test_timeline();
	test_safetensors_order(dir);
	test_natural_shards(dir);
	test_mem(dir);
	test_budget(dir);
	fs_remove_tree(dir);
	return done_testing();
}
