#define _GNU_SOURCE
#include "core/base/fsutil.h"
#include "core/model/gguf.h"
#include "core/model/ggufwrite.h"
#include "core/model/modelspec.h"
#include "core/model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

/* ---- a GGUF built byte by byte, independently of ggufwrite ---- */

struct buf {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(struct buf *b, uint64_t v) { put(b, &v, 8); }
static void str(struct buf *b, const char *s)
{
	u64(b, strlen(s));
	put(b, s, strlen(s));
}

static void head(struct buf *b, uint32_t version, uint64_t nt, uint64_t nkv)
{
	put(b, "GGUF", 4);
	u32(b, version);
	u64(b, nt);
	u64(b, nkv);
}

static void kv_str(struct buf *b, const char *k, const char *v)
{
	str(b, k);
	u32(b, GGKV_STRING);
	str(b, v);
}

static void kv_u32(struct buf *b, const char *k, uint32_t v)
{
	str(b, k);
	u32(b, GGKV_U32);
	u32(b, v);
}

static void tinfo(struct buf *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off)
{
	str(b, name);
	u32(b, nd);
	for (uint32_t i = 0; i < nd; i++)
		u64(b, ne[i]);
	u32(b, type);
	u64(b, off);
}

static void pad_data(struct buf *b, size_t data_bytes)
{
	while (b->n % 32)
		put(b, "", 1);
	unsigned char z[64] = { 0 };
	while (data_bytes) {
		size_t k = data_bytes < sizeof(z) ? data_bytes : sizeof(z);
		put(b, z, k);
		data_bytes -= k;
	}
}

/* A valid file: arch, one F32 [8,2] tensor and one Q8_0 [32] tensor. */
static void valid(struct buf *b, uint32_t version)
{
	b->n = 0;
	head(b, version, 2, 2);
	kv_str(b, "general.architecture", "llama");
	kv_u32(b, "general.alignment", 32);
	tinfo(b, "a.weight", 2, (uint64_t[]){ 8, 2 }, GG_F32, 0);
	tinfo(b, "b.weight", 1, (uint64_t[]){ 32 }, GG_Q8_0, 64);
	pad_data(b, 64 + 34);
}

static int parse_err(const struct buf *b, const char *want, const char *what)
{
	struct gg_file f;
	struct cs_err e = { 0, "" };
	int rc = gg_parse(b->p, b->n, b->n, &f, &e);
	if (rc == 0)
		gg_file_release(&f);
	int good = rc == -1 && strstr(e.msg, want);
	ok(good, "%s: '%s'", what, e.msg);
	return good;
}

static void test_parser(void)
{
	struct buf b = { 0 };
	struct gg_file f;
	struct cs_err e;

	valid(&b, 3);
	ok(gg_parse(b.p, b.n, b.n, &f, &e) == 0, "a valid v3 file parses");
	is_int(f.ntensors, 2, "two tensors");
	is_str(f.arch, "llama", "architecture");
	is_int(f.nparams, 16 + 32, "parameter count");
	is_int(f.bytes_by_type[GG_Q8_0], 34, "Q8_0: 34 bytes per block of 32");
	is_int(f.data_start % 32, 0, "data section aligned");
	gg_file_release(&f);
	valid(&b, 2);
	ok(gg_parse(b.p, b.n, b.n, &f, &e) == 0, "version 2 is read");
	gg_file_release(&f);

	valid(&b, 3);
	ok(gg_parse(b.p, 40, b.n, &f, &e) == -1 && e.code == EAGAIN, "a prefix asks for more (EAGAIN)");
	struct buf t = { 0 };
	put(&t, b.p, 60);
	ok(gg_parse(t.p, t.n, t.n, &f, &e) == -1 && e.code == EINVAL && strstr(e.msg, "truncated"),
	   "a truncated file: '%s'", e.msg);

	valid(&b, 3);
	memcpy(b.p, "GGML", 4);
	parse_err(&b, "no 'GGUF' magic", "bad magic");
	valid(&b, 1);
	parse_err(&b, "GGUF version 1", "version 1");
	valid(&b, 0x03000000);
	parse_err(&b, "big-endian", "a byte-swapped version");

	/* Every KV type, nested arrays included, parses. */
	b.n = 0;
	head(&b, 3, 0, 14);
	kv_str(&b, "general.architecture", "qwen2");
	uint32_t types[] = { GGKV_U8, GGKV_I8, GGKV_U16, GGKV_I16, GGKV_U32, GGKV_I32, GGKV_F32, GGKV_BOOL,
			     GGKV_U64, GGKV_I64, GGKV_F64 };
	unsigned sizes[] = { 1, 1, 2, 2, 4, 4, 4, 1, 8, 8, 8 };
	for (int i = 0; i < 11; i++) {
		char k[16];
		snprintf(k, sizeof(k), "t.%d", i);
		str(&b, k);
		u32(&b, types[i]);
		uint64_t one = 1;
		put(&b, &one, sizes[i]);
	}
	str(&b, "arr.nested");
	u32(&b, GGKV_ARRAY);
	u32(&b, GGKV_ARRAY);
	u64(&b, 2);
	for (int i = 0; i < 2; i++) {
		u32(&b, GGKV_STRING);
		u64(&b, 2);
		str(&b, "x");
		str(&b, "yz");
	}
	str(&b, "arr.i32");
	u32(&b, GGKV_ARRAY);
	u32(&b, GGKV_I32);
	u64(&b, 3);
	u32(&b, 1);
	u32(&b, 2);
	u32(&b, 3);
	ok(gg_parse(b.p, b.n, b.n, &f, &e) == 0 && f.nkv == 14, "every KV type and nested arrays: %s",
	   f.nkv == 14 ? "ok" : e.msg);
	gg_file_release(&f);

	b.n = 0;
	head(&b, 3, 0, 2);
	kv_str(&b, "general.architecture", "llama");
	str(&b, "bad");
	u32(&b, 13);
	parse_err(&b, "key 'bad': unknown value type 13", "unknown KV type");

	b.n = 0;
	head(&b, 3, 0, 2);
	kv_str(&b, "general.architecture", "llama");
	str(&b, "deep");
	u32(&b, GGKV_ARRAY);
	for (int i = 0; i < GG_MAX_DEPTH; i++) {
		u32(&b, GGKV_ARRAY);
		u64(&b, 1);
	}
	u32(&b, GGKV_U8);
	u64(&b, 0);
	parse_err(&b, "nested more than", "arrays nested too deep");

	b.n = 0;
	head(&b, 3, 0, 2);
	kv_str(&b, "general.architecture", "llama");
	kv_str(&b, "general.architecture", "qwen2");
	parse_err(&b, "key 'general.architecture' is defined twice: KVs 0 and 1", "duplicate key, both places named");

	b.n = 0;
	head(&b, 3, 0, 2);
	kv_str(&b, "general.architecture", "llama");
	kv_u32(&b, "general.alignment", 48);
	parse_err(&b, "not a power of two", "alignment 48");

	b.n = 0;
	head(&b, 3, 0, 2);
	kv_str(&b, "general.architecture", "llama");
	kv_str(&b, "general.alignment", "32");
	parse_err(&b, "'general.alignment' is string, must be u32", "alignment of the wrong type");

	b.n = 0;
	head(&b, 3, 0, 1);
	kv_u32(&b, "general.alignment", 32);
	parse_err(&b, "no 'general.architecture' key", "no architecture");

	b.n = 0;
	head(&b, 3, 0, 2);
	kv_str(&b, "general.architecture", "llama");
	str(&b, "flag");
	u32(&b, GGKV_BOOL);
	put(&b, "\x02", 1);
	parse_err(&b, "neither 0 nor 1", "bool 2");

	b.n = 0;
	head(&b, 3, 0, 1);
	str(&b, "general.architecture");
	u32(&b, GGKV_STRING);
	u64(&b, 1ull << 40);
	parse_err(&b, "exceeds the file size", "a string longer than the file");

	b.n = 0;
	head(&b, 3, 0, 2);
	kv_str(&b, "general.architecture", "llama");
	str(&b, "tokens");
	u32(&b, GGKV_ARRAY);
	u32(&b, GGKV_STRING);
	u64(&b, 1ull << 50);
	parse_err(&b, "array of 1125899906842624 string elements exceeds the file size", "a huge array count");

	/* Tensor infos. */
#define TENSORS(nt, ...)                                           \
	do {                                                       \
		b.n = 0;                                           \
		head(&b, 3, nt, 1);                                \
		kv_str(&b, "general.architecture", "llama");      \
		__VA_ARGS__;                                       \
		pad_data(&b, 256);                                 \
	} while (0)
	TENSORS(1, tinfo(&b, "x", 5, (uint64_t[]){ 1, 1, 1, 1, 1 }, GG_F32, 0));
	parse_err(&b, "tensor 'x': 5 dimensions (at most 4)", "five dimensions");
	TENSORS(1, tinfo(&b, "x", 2, (uint64_t[]){ 1ull << 40, 1ull << 40 }, GG_F32, 0));
	parse_err(&b, "tensor 'x': the element count overflows", "element count overflow");
	TENSORS(1, tinfo(&b, "x", 1, (uint64_t[]){ 0 }, GG_F32, 0));
	parse_err(&b, "dimension 0 is 0", "a zero dimension");
	TENSORS(1, tinfo(&b, "x", 1, (uint64_t[]){ 4 }, 4, 0));
	parse_err(&b, "unknown or retired ggml type 4", "a retired type");
	TENSORS(1, tinfo(&b, "x", 1, (uint64_t[]){ 4 }, 99, 0));
	parse_err(&b, "unknown or retired ggml type 99", "an unknown type");
	TENSORS(1, tinfo(&b, "x", 1, (uint64_t[]){ 48 }, GG_Q8_0, 0));
	parse_err(&b, "ne[0] = 48 is not a multiple of q8_0's block of 32", "Q8_0 row not whole blocks");
	TENSORS(1, tinfo(&b, "x", 1, (uint64_t[]){ 4 }, GG_F32, 8));
	parse_err(&b, "offset 8 is not a multiple of the alignment (32)", "unaligned offset");
	TENSORS(1, tinfo(&b, "x", 1, (uint64_t[]){ 1024 }, GG_F32, 0));
	parse_err(&b, "lie past the end of the file", "tensor beyond the file");
	TENSORS(2, tinfo(&b, "x", 1, (uint64_t[]){ 16 }, GG_F32, 0); tinfo(&b, "y", 1, (uint64_t[]){ 8 }, GG_F32, 32));
	parse_err(&b, "tensors 'x' and 'y' overlap", "overlapping tensors");
	TENSORS(2, tinfo(&b, "x", 1, (uint64_t[]){ 8 }, GG_F32, 0); tinfo(&b, "x", 1, (uint64_t[]){ 8 }, GG_F32, 32));
	parse_err(&b, "tensor 'x' is defined twice: tensor infos 0 and 1", "duplicate tensor names, both places named");
	char longname[80];
	memset(longname, 'n', 64);
	longname[64] = 0;
	TENSORS(1, tinfo(&b, longname, 1, (uint64_t[]){ 8 }, GG_F32, 0));
	parse_err(&b, "name of 64 bytes", "a 64-byte tensor name");
	b.n = 0;
	head(&b, 3, 1ull << 40, 0);
	parse_err(&b, "cannot fit", "a tensor count larger than the file");
	free(b.p);
	free(t.p);
}

static void test_names(void)
{
	char *prefix;
	int no, count;
	ok(gg_split_parse("/m/qwen-00002-of-00003.gguf", &prefix, &no, &count) == 1 && no == 2 && count == 3 &&
	   !strcmp(prefix, "/m/qwen"), "split name parsed");
	free(prefix);
	ok(!gg_split_parse("qwen-0002-of-00003.gguf", NULL, NULL, NULL), "four digits is not the split layout");
	ok(!gg_split_parse("qwen-00004-of-00003.gguf", NULL, NULL, NULL), "part after the count refused");
	ok(!gg_split_parse("qwen.gguf", NULL, NULL, NULL), "a plain name is not split");
	char *p = gg_split_path("/m/x", 1, 12);
	is_str(p, "/m/x-00001-of-00012.gguf", "split path built");
	free(p);
	is_int(gg_type_parse("Q8_0"), GG_Q8_0, "type names any case");
	is_int(gg_type_block(GG_Q8_0) * 100 + gg_type_size(GG_Q8_0), 3234, "q8_0 block 32, 34 bytes");
	ok(gg_nbytes(GG_Q8_0, (uint64_t[]){ 33 }, 1) == 0, "nbytes refuses partial blocks");
}

static int float_ok(float v)
{
	return isfinite(v) && v != 0 && fabsf(v) < 1;
}

static float half(uint16_t h)
{
	int e = (h >> 10) & 31, m = h & 1023;
	float v = e ? ldexpf(1.0f + (float)m / 1024, e - 15) : ldexpf((float)m / 1024, -14);
	return e == 31 ? NAN : (h & 0x8000 ? -v : v);
}

static void test_writer(const char *tmp)
{
	struct cs_err e;
	struct ms_model sm;
	ms_build("qwen2.5-0.5b", 2, ST_BF16, &sm, &e);
	uint64_t st_params = ms_nparams(&sm);
	ms_release(&sm);
	const uint32_t types[] = { GG_F16, GG_BF16, GG_F32, GG_Q8_0 };
	for (int k = 0; k < 4; k++) {
		struct gw_plan p;
		char *path = xasprintf("%s/q-%s.gguf", tmp, gg_type_name(types[k]));
		struct ck_write_opts wo = { 0 };
		int rc = gw_plan_build("qwen2.5-0.5b", 2, types[k], 0, 7, path, &p, &e) || gw_write(&p, &wo, &e);
		ok(!rc, "wrote a 2-layer qwen2 GGUF in %s%s%s", gg_type_name(types[k]), rc ? ": " : "", rc ? e.msg : "");
		struct gg_file f;
		if (gg_file_read(path, &f, &e)) {
			ok(0, "%s reads back: %s", path, e.msg);
			gw_plan_release(&p);
			free(path);
			continue;
		}
		is_int(f.nparams, st_params, "%s: parameters equal the safetensors preset's", gg_type_name(types[k]));
		is_str(f.arch, "qwen2", "%s: architecture qwen2", gg_type_name(types[k]));
		is_int(f.vocab, 151936, "%s: vocabulary of the preset's size", gg_type_name(types[k]));
		is_int(f.block_count, 2, "%s: block_count", gg_type_name(types[k]));
		is_int(f.file_size, p.file_bytes, "%s: file size as planned", gg_type_name(types[k]));
		ok(f.params_by_type[types[k]] > 0 && f.params_by_type[GG_F32] > 0, "%s: weights in the type, norms in F32",
		   gg_type_name(types[k]));
		/* The data: finite, small, never zero. */
		int fd = open(path, O_RDONLY);
		const struct gg_tensor *t = NULL;
		for (size_t i = 0; i < f.ntensors; i++)
			if (!strcmp(f.tensors[i].name, "blk.1.ffn_down.weight"))
				t = &f.tensors[i];
		unsigned char blk[34 * 4];
		int good = t && fd >= 0 && fs_pread_full(fd, blk, sizeof(blk), (off_t)(f.data_start + t->offset)) == 0;
		for (int j = 0; good && j < 4; j++) {
			if (types[k] == GG_Q8_0) {
				good = float_ok(half((uint16_t)(blk[34 * j] | blk[34 * j + 1] << 8)));
				for (int q = 2; q < 34 && good; q++)
					good = blk[34 * j + q] != 0 && blk[34 * j + q] != 0x80;
			} else if (types[k] == GG_F32) {
				float v;
				memcpy(&v, blk + 4 * j, 4);
				good = float_ok(v);
			} else {
				uint16_t h = (uint16_t)(blk[2 * j] | blk[2 * j + 1] << 8);
				float v;
				uint32_t u = (uint32_t)h << 16;
				memcpy(&v, &u, 4);
				good = float_ok(types[k] == GG_F16 ? half(h) : v);
			}
		}
		ok(good, "%s: data finite, small and non-zero", gg_type_name(types[k]));
		if (fd >= 0)
			close(fd);
		gg_file_release(&f);
		gw_plan_release(&p);
		free(path);
	}

	/* Deterministic for a seed; another seed, other bytes. */
	struct gw_plan a, c;
	gw_plan_build("tiny", 1, GG_Q8_0, 0, 1, "/x.gguf", &a, &e);
	gw_plan_build("tiny", 1, GG_Q8_0, 0, 2, "/x.gguf", &c, &e);
	unsigned char x[340], y[340], z[340];
	gw_fill(&a, 1, 0, x, sizeof(x));
	gw_fill(&a, 1, 0, y, sizeof(y));
	gw_fill(&c, 1, 0, z, sizeof(z));
	ok(!memcmp(x, y, sizeof(x)) && memcmp(x, z, sizeof(x)), "same seed same bytes, other seed other bytes");
	ok(a.nfallback > 0, "tiny's 688-wide rows fall back to f16 in q8_0 (%zu)", a.nfallback);
	gw_plan_release(&a);
	gw_plan_release(&c);

	/* The split layout opens as one model. */
	struct gw_plan p;
	char *path = xasprintf("%s/sp.gguf", tmp);
	struct ck_write_opts wo = { 0 };
	int rc = gw_plan_build("tiny", 2, GG_F16, 4 << 20, 0, path, &p, &e) || gw_write(&p, &wo, &e);
	ok(!rc && p.nparts > 2, "split into %zu parts", p.nparts);
	struct st_model m;
	char *first = xasprintf("%s/sp-00001-of-%05zu.gguf", tmp, p.nparts);
	rc = st_model_open(first, &m, &e);
	ok(!rc && m.format == ST_FORMAT_GGUF && m.nshards == p.nparts && m.nparams == p.nparams,
	   "the split set opens as one model%s%s", rc ? ": " : "", rc ? e.msg : "");
	st_model_release(&m);
	ok(st_model_open(tmp, &m, &e) == -1 && strstr(e.msg, "GGUF models"), "a directory of several models: '%s'", e.msg);
	char *second = xasprintf("%s/sp-00002-of-%05zu.gguf", tmp, p.nparts);
	ok(st_model_open(second, &m, &e) == -1 && strstr(e.msg, "name part 1"), "part 2 named: '%s'", e.msg);
	unlink(second);
	ok(st_model_open(first, &m, &e) == -1 && strstr(e.msg, "is missing"), "a missing part: '%s'", e.msg);
	ok(gw_write(&p, &wo, &e) == -1 && strstr(e.msg, "--force"), "existing parts are not replaced without force");
	gw_plan_release(&p);
	free(first);
	free(second);
	free(path);
}

static void write_buf(const char *path, const struct buf *b)
{
	FILE *f = fopen(path, "wb");
	ok(f && fwrite(b->p, 1, b->n, f) == b->n && fclose(f) == 0, "wrote '%s'", path);
}

/* Part k (0-based) of a split pair holding the tensors named. */
static void split_part(struct buf *b, int k, const char *t1, const char *t2)
{
	b->n = 0;
	head(b, 3, 2, k ? 2 : 3);
	if (!k)
		kv_str(b, "general.architecture", "llama");
	kv_u32(b, "split.no", (uint32_t)k);
	kv_u32(b, "split.count", 2);
	tinfo(b, t1, 1, (uint64_t[]){ 8 }, GG_F32, 0);
	tinfo(b, t2, 1, (uint64_t[]){ 8 }, GG_F32, 32);
	pad_data(b, 64);
}

/* A tensor defined in two parts of a split set: refused, both named. */
static void test_split_duplicate(const char *tmp)
{
	struct buf b = { 0 };
	char *p1 = xasprintf("%s/dup-00001-of-00002.gguf", tmp), *p2 = xasprintf("%s/dup-00002-of-00002.gguf", tmp);
	split_part(&b, 0, "a.weight", "b.weight");
	write_buf(p1, &b);
	split_part(&b, 1, "c.weight", "d.weight");
	write_buf(p2, &b);
	struct st_model m;
	struct cs_err e;
	int rc = st_model_open(p1, &m, &e);
	ok(!rc && m.ntensors == 4, "a split pair with distinct names opens%s%s", rc ? ": " : "", rc ? e.msg : "");
	st_model_release(&m);
	split_part(&b, 1, "c.weight", "a.weight");
	write_buf(p2, &b);
	rc = st_model_open(p1, &m, &e);
	const char *want = "tensor 'a.weight' is in two parts: 'dup-00001-of-00002.gguf' and 'dup-00002-of-00002.gguf'";
	ok(rc == -1 && strstr(e.msg, want), "a tensor in two parts is refused, both named: '%s'", rc ? e.msg : "");
	unlink(p1);
	unlink(p2);
	free(p1);
	free(p2);
	free(b.p);
}

/* The engine's read order of a GGUF: the header, then the tensors by
 * offset (the tensor infos list them the other way round); a split set:
 * its parts in order. */
static void test_read_order(const char *tmp)
{
	struct buf b = { 0 };
	head(&b, 3, 2, 1);
	kv_str(&b, "general.architecture", "llama");
	tinfo(&b, "late.weight", 1, (uint64_t[]){ 8 }, GG_F32, 32);
	tinfo(&b, "early.weight", 1, (uint64_t[]){ 8 }, GG_F32, 0);
	pad_data(&b, 64);
	char *path = xasprintf("%s/order.gguf", tmp);
	write_buf(path, &b);
	struct st_model m;
	struct cs_err e;
	int rc = st_model_open(path, &m, &e);
	ok(!rc, "a GGUF whose tensor infos are not in offset order opens%s%s", rc ? ": " : "", rc ? e.msg : "");
	size_t n = 0;
	struct st_range *r = rc ? NULL : st_model_read_order(&m, &n);
	uint64_t ds = rc ? 0 : m.shards[0].g.data_start;
	ok(n == 3 && r[0].off == 0 && r[0].len == ds, "the header first, up to the data section");
	ok(n == 3 && r[1].off == ds && r[1].len == 32 && r[2].off == ds + 32,
	   "then early.weight (offset 0, listed second), then late.weight");
	free(r);
	st_model_release(&m);
	char *p1 = xasprintf("%s/ord-00001-of-00002.gguf", tmp), *p2 = xasprintf("%s/ord-00002-of-00002.gguf", tmp);
	split_part(&b, 0, "a.weight", "b.weight");
	write_buf(p1, &b);
	split_part(&b, 1, "c.weight", "d.weight");
	write_buf(p2, &b);
	rc = st_model_open(p1, &m, &e);
	r = rc ? NULL : st_model_read_order(&m, &n);
	ok(!rc && n == 6 && !strcmp(m.shards[r[0].shard].name, "ord-00001-of-00002.gguf") &&
		   !strcmp(m.shards[r[3].shard].name, "ord-00002-of-00002.gguf") && r[3].off == 0,
	   "a split set: part 1 (header and tensors), then part 2");
	free(r);
	st_model_release(&m);
	unlink(path);
	unlink(p1);
	unlink(p2);
	free(path);
	free(p1);
	free(p2);
	free(b.p);
}

int main(void)
{
	test_parser();
	test_names();
	char tmp[] = "/tmp/cs-test-gguf-XXXXXX";
	if (!mkdtemp(tmp))
		return 1;
	test_writer(tmp);
	test_split_duplicate(tmp);
	test_read_order(tmp);
	fs_remove_tree(tmp);
	return done_testing();
}
