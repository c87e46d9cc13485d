#define _GNU_SOURCE
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/base/banned.h"

/* ggml's type traits (ggml.c): name, elements per block, bytes per block.
 * Retired ids (4, 5, 31-33, 36-38) have none. */
static const struct { const char *name; uint32_t block, size; } types[GG_NTYPES] = {
	[0] = { "f32", 1, 4 }, [1] = { "f16", 1, 2 }, [2] = { "q4_0", 32, 18 },
	[3] = { "q4_1", 32, 20 }, [6] = { "q5_0", 32, 22 }, [7] = { "q5_1", 32, 24 },
	[8] = { "q8_0", 32, 34 }, [9] = { "q8_1", 32, 36 }, [10] = { "q2_K", 256, 84 },
	[11] = { "q3_K", 256, 110 }, [12] = { "q4_K", 256, 144 }, [13] = { "q5_K", 256, 176 },
	[14] = { "q6_K", 256, 210 }, [15] = { "q8_K", 256, 292 }, [16] = { "iq2_xxs", 256, 66 },
	[17] = { "iq2_xs", 256, 74 }, [18] = { "iq3_xxs", 256, 98 }, [19] = { "iq1_s", 256, 50 },
	[20] = { "iq4_nl", 32, 18 }, [21] = { "iq3_s", 256, 110 }, [22] = { "iq2_s", 256, 82 },
	[23] = { "iq4_xs", 256, 136 }, [24] = { "i8", 1, 1 }, [25] = { "i16", 1, 2 },
	[26] = { "i32", 1, 4 }, [27] = { "i64", 1, 8 }, [28] = { "f64", 1, 8 },
	[29] = { "iq1_m", 256, 56 }, [30] = { "bf16", 1, 2 }, [34] = { "tq1_0", 256, 54 },
	[35] = { "tq2_0", 256, 66 }, [39] = { "mxfp4", 32, 17 }, [40] = { "nvfp4", 64, 36 },
	[41] = { "q1_0", 128, 18 },
};

static const char *const kv_names[GGKV_NTYPES] = {
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};
static const unsigned kv_sizes[GGKV_NTYPES] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

const char *gg_type_name(uint32_t type)
{
	return type < GG_NTYPES ? types[type].name : NULL;
}

uint32_t gg_type_block(uint32_t type)
{
	return type < GG_NTYPES ? types[type].block : 0;
}

uint32_t gg_type_size(uint32_t type)
{
	return type < GG_NTYPES ? types[type].size : 0;
}

int gg_type_parse(const char *name)
{
	for (int i = 0; i < GG_NTYPES; i++)
		if (types[i].name && !strcasecmp(name, types[i].name))
			return i;
	return -1;
}

uint64_t gg_nbytes(uint32_t type, const uint64_t *ne, uint32_t ndim)
{
	uint32_t blk = gg_type_block(type), sz = gg_type_size(type);
	if (!blk || ndim > GG_MAX_DIMS)
		return 0;
	uint64_t row = ndim ? ne[0] : 1;
	if (row % blk)
		return 0;
	uint64_t n = row / blk;
	if (n && sz > UINT64_MAX / n)
		return 0;
	n *= sz;
	for (uint32_t i = 1; i < ndim; i++) {
		if (ne[i] && n > UINT64_MAX / ne[i])
			return 0;
		n *= ne[i];
	}
	return n;
}

/* ---- the reader: a cursor over the prefix ---- */

struct rd {
	const unsigned char *p;
	size_t len, off;
	uint64_t file_size;
	struct cs_err *err;
	const char *where;    /* what is being read, for messages */
};

/* Need n more bytes: -1 with EAGAIN (more of the file may help) or EINVAL. */
static int need(struct rd *r, uint64_t n)
{
	if (n <= r->len - r->off)
		return 0;
	if (r->off + n <= r->file_size && r->len < r->file_size)
		return cs_fail(r->err, EAGAIN, "header continues past the bytes read");
	return cs_fail(r->err, EINVAL, "truncated: %s runs past the end of the file (%" PRIu64 " bytes)",
		       r->where, r->file_size);
}

static int rd_bytes(struct rd *r, void *out, size_t n)
{
	if (need(r, n))
		return -1;
	if (out)
		memcpy(out, r->p + r->off, n);
	r->off += n;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	unsigned char b[4];
	if (rd_bytes(r, b, 4))
		return -1;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *v)
{
	uint32_t lo, hi;
	if (rd_u32(r, &lo) || rd_u32(r, &hi))
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* A string: pointer into the buffer and its length (not NUL-terminated). */
static int rd_str(struct rd *r, const char **s, uint64_t *n)
{
	if (rd_u64(r, n))
		return -1;
	if (*n > r->file_size)
		return cs_fail(r->err, EINVAL, "%s: string length %" PRIu64 " exceeds the file size", r->where, *n);
	if (need(r, *n))
		return -1;
	*s = (const char *)r->p + r->off;
	r->off += (size_t)*n;
	return 0;
}

/* ---- KVs ---- */

static int skip_value(struct rd *r, uint32_t type, int depth);

static int skip_array(struct rd *r, int depth, uint32_t *etype_out, uint64_t *count_out)
{
	uint32_t et;
	uint64_t n;
	if (rd_u32(r, &et) || rd_u64(r, &n))
		return -1;
	if (et >= GGKV_NTYPES)
		return cs_fail(r->err, EINVAL, "%s: array of unknown type %" PRIu32, r->where, et);
	if (et == GGKV_ARRAY && depth + 1 >= GG_MAX_DEPTH)
		return cs_fail(r->err, EINVAL, "%s: arrays nested more than %d deep", r->where, GG_MAX_DEPTH);
	/* Every element takes at least one byte (a string 8, an array 12). */
	uint64_t min = et == GGKV_STRING ? 8 : et == GGKV_ARRAY ? 12 : kv_sizes[et];
	if (n > (r->file_size - r->off) / min)
		return cs_fail(r->err, EINVAL, "%s: array of %" PRIu64 " %s elements exceeds the file size", r->where,
			       n, kv_names[et]);
	if (etype_out)
		*etype_out = et;
	if (count_out)
		*count_out = n;
	if (min == kv_sizes[et] && et != GGKV_STRING)
		return need(r, n * min) ? -1 : (r->off += (size_t)(n * min), 0);
	for (uint64_t i = 0; i < n; i++)
		if (skip_value(r, et, depth + 1))
			return -1;
	return 0;
}

static int skip_value(struct rd *r, uint32_t type, int depth)
{
	const char *s;
	uint64_t n;
	if (type == GGKV_STRING)
		return rd_str(r, &s, &n);
	if (type == GGKV_ARRAY)
		return skip_array(r, depth, NULL, NULL);
	if (type == GGKV_BOOL) {
		unsigned char b;
		if (rd_bytes(r, &b, 1))
			return -1;
		return b > 1 ? cs_fail(r->err, EINVAL, "%s: bool value %u is neither 0 nor 1", r->where, b) : 0;
	}
	return rd_bytes(r, NULL, kv_sizes[type]);
}

/* An integer value of any integer type, for the keys coldstart reads. */
static int int_value(const unsigned char *p, uint32_t type, int64_t *v)
{
	uint64_t u = 0;
	unsigned n = type < GGKV_NTYPES ? kv_sizes[type] : 0;
	if (type == GGKV_F32 || type == GGKV_F64 || type == GGKV_BOOL || !n)
		return -1;
	for (unsigned i = 0; i < n; i++)
		u |= (uint64_t)p[i] << (8 * i);
	int sgn = type == GGKV_I8 || type == GGKV_I16 || type == GGKV_I32 || type == GGKV_I64;
	if (sgn && n < 8 && (u >> (8 * n - 1)) & 1)
		u |= ~0ULL << (8 * n);
	*v = (int64_t)u;
	return 0;
}

static int key_is(const char *k, uint64_t kn, const char *want)
{
	return strlen(want) == kn && !memcmp(k, want, kn);
}

/* ARCH.SUFFIX, for the keys whose prefix is the architecture. */
static int arch_key_is(const struct gg_file *f, const char *k, uint64_t kn, const char *suffix)
{
	if (!f->arch)
		return 0;
	size_t al = strlen(f->arch), sl = strlen(suffix);
	return kn == al + 1 + sl && !memcmp(k, f->arch, al) && k[al] == '.' && !memcmp(k + al + 1, suffix, sl);
}

/* Names collected with their position (KV or tensor info number). */
struct seen_ent {
	char *name;
	uint64_t idx;
};

struct seen {
	struct seen_ent *e;
	size_t n, alloc;
};

static void seen_add(struct seen *s, const char *name, size_t len, uint64_t idx)
{
	s->e = xgrow(s->e, &s->alloc, s->n + 1, sizeof(*s->e));
	s->e[s->n++] = (struct seen_ent){ xstrndup(name, len), idx };
}

static int cmp_seen(const void *a, const void *b)
{
	const struct seen_ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* A name collected twice (sorted in place): its first two entries, or NULL. */
static const struct seen_ent *first_duplicate(struct seen *s)
{
	if (s->n < 2)
		return NULL;
	qsort(s->e, s->n, sizeof(*s->e), cmp_seen);
	for (size_t i = 1; i < s->n; i++)
		if (!strcmp(s->e[i - 1].name, s->e[i].name))
			return &s->e[i - 1];
	return NULL;
}

static void seen_free(struct seen *s)
{
	FREE_MEMBERS(s->e, s->n, name);
}

/* The value of a key coldstart uses: check its type, keep it. */
static int use_kv(struct rd *r, struct gg_file *f, const char *k, uint64_t kn, uint32_t type, size_t at)
{
	const unsigned char *v = r->p + at;
	int64_t iv;
	if (key_is(k, kn, "general.alignment")) {
		if (type != GGKV_U32)
			return cs_fail(r->err, EINVAL, "key 'general.alignment' is %s, must be u32", kv_names[type]);
		int_value(v, type, &iv);
		if (iv == 0 || (iv & (iv - 1)))
			return cs_fail(r->err, EINVAL, "key 'general.alignment' is %" PRId64 ", not a power of two", iv);
		f->alignment = (uint32_t)iv;
	} else if (key_is(k, kn, "general.architecture") || key_is(k, kn, "general.name") ||
		   key_is(k, kn, "tokenizer.ggml.model")) {
		if (type != GGKV_STRING)
			return cs_fail(r->err, EINVAL, "key '%.*s' is %s, must be a string", (int)kn, k, kv_names[type]);
		uint64_t sl;
		memcpy(&sl, v, 8);  /* little-endian hosts only, as ggml */
		char **dst = key_is(k, kn, "general.name") ? &f->name : k[0] == 't' ? &f->tokenizer : &f->arch;
		free(*dst);
		*dst = xstrndup((const char *)v + 8, (size_t)sl);
		if (dst == &f->arch && (!**dst || strlen(*dst) != sl))
			return cs_fail(r->err, EINVAL, "key 'general.architecture' is empty or holds a NUL");
	} else if (key_is(k, kn, "tokenizer.ggml.tokens")) {
		if (type != GGKV_ARRAY || v[0] != GGKV_STRING || v[1] || v[2] || v[3])
			return cs_fail(r->err, EINVAL, "key 'tokenizer.ggml.tokens' must be an array of strings");
		memcpy(&f->vocab, v + 4, 8);
	} else if (key_is(k, kn, "general.file_type") || key_is(k, kn, "split.no") ||
		   key_is(k, kn, "split.count") || key_is(k, kn, "split.tensors.count") ||
		   arch_key_is(f, k, kn, "block_count") || arch_key_is(f, k, kn, "embedding_length") ||
		   arch_key_is(f, k, kn, "context_length")) {
		if (int_value(v, type, &iv) || iv < 0)
			return cs_fail(r->err, EINVAL, "key '%.*s' must be a non-negative integer", (int)kn, k);
		if (key_is(k, kn, "general.file_type"))
			f->file_type = iv;
		else if (key_is(k, kn, "split.no"))
			f->split_no = iv > 65535 ? 65535 : (int)iv;
		else if (key_is(k, kn, "split.count"))
			f->split_count = iv > 65535 ? 65535 : (int)iv;
		else if (key_is(k, kn, "split.tensors.count"))
			f->split_tensors = iv;
		else if (arch_key_is(f, k, kn, "block_count"))
			f->block_count = iv;
		else if (arch_key_is(f, k, kn, "embedding_length"))
			f->embedding_length = iv;
		else
			f->context_length = iv;
	}
	return 0;
}

static int read_kvs(struct rd *r, struct gg_file *f, struct seen *keys)
{
	char where[128];
	r->where = where;
	for (uint64_t i = 0; i < f->nkv; i++) {
		const char *k;
		uint64_t kn;
		uint32_t type;
		snprintf(where, sizeof(where), "key %" PRIu64, i);
		if (rd_str(r, &k, &kn))
			return -1;
		if (!kn || memchr(k, 0, (size_t)kn))
			return cs_fail(r->err, EINVAL, "key %" PRIu64 " is empty or holds a NUL", i);
		snprintf(where, sizeof(where), "key '%.*s'", kn > 80 ? 80 : (int)kn, k);
		if (rd_u32(r, &type))
			return -1;
		if (type >= GGKV_NTYPES)
			return cs_fail(r->err, EINVAL, "%s: unknown value type %" PRIu32, where, type);
		size_t at = r->off;
		if (skip_value(r, type, 0))
			return -1;
		if (use_kv(r, f, k, kn, type, at))
			return -1;
		seen_add(keys, k, (size_t)kn, i);
	}
	/* Readers keep the first or the last: both places are named. */
	const struct seen_ent *dup = first_duplicate(keys);
	if (dup)
		return cs_fail(r->err, EINVAL, "key '%s' is defined twice: KVs %" PRIu64 " and %" PRIu64 " (counting from 0)",
			       dup[0].name, dup[0].idx, dup[1].idx);
	if (f->split_no > 0 || f->arch)
		return 0;
	return cs_fail(r->err, EINVAL, "no 'general.architecture' key (a string naming the model's architecture)");
}

/* ---- tensor infos ---- */

static int read_tensor(struct rd *r, struct gg_tensor *t, uint64_t i)
{
	char where[128];
	const char *s;
	uint64_t n;
	snprintf(where, sizeof(where), "tensor info %" PRIu64, i);
	r->where = where;
	if (rd_str(r, &s, &n))
		return -1;
	if (!n || n > GG_MAX_NAME || memchr(s, 0, (size_t)n))
		return cs_fail(r->err, EINVAL, "tensor %" PRIu64 ": name of %" PRIu64 " bytes (must be 1 to %d, no NUL)",
			       i, n, GG_MAX_NAME);
	t->name = xstrndup(s, (size_t)n);
	snprintf(where, sizeof(where), "tensor '%s'", t->name);
	if (rd_u32(r, &t->ndim))
		return -1;
	if (t->ndim > GG_MAX_DIMS)
		return cs_fail(r->err, EINVAL, "tensor '%s': %" PRIu32 " dimensions (at most %d)", t->name, t->ndim,
			       GG_MAX_DIMS);
	t->nelem = 1;
	for (uint32_t d = 0; d < t->ndim; d++) {
		if (rd_u64(r, &t->ne[d]))
			return -1;
		if (t->ne[d] == 0 || t->ne[d] > INT64_MAX)
			return cs_fail(r->err, EINVAL, "tensor '%s': dimension %" PRIu32 " is %" PRIu64 " (must be 1 to 2^63-1)",
				       t->name, d, t->ne[d]);
		if (t->nelem > INT64_MAX / t->ne[d])
			return cs_fail(r->err, EINVAL, "tensor '%s': the element count overflows 64 bits", t->name);
		t->nelem *= t->ne[d];
	}
	for (uint32_t d = t->ndim; d < GG_MAX_DIMS; d++)
		t->ne[d] = 1;
	if (rd_u32(r, &t->type) || rd_u64(r, &t->offset))
		return -1;
	if (!gg_type_name(t->type))
		return cs_fail(r->err, EINVAL, "tensor '%s': unknown or retired ggml type %" PRIu32, t->name, t->type);
	if (t->ne[0] % gg_type_block(t->type))
		return cs_fail(r->err, EINVAL, "tensor '%s': ne[0] = %" PRIu64 " is not a multiple of %s's block of %" PRIu32,
			       t->name, t->ne[0], gg_type_name(t->type), gg_type_block(t->type));
	t->nbytes = gg_nbytes(t->type, t->ne, t->ndim);
	if (!t->nbytes)
		return cs_fail(r->err, EINVAL, "tensor '%s': its size in bytes overflows 64 bits", t->name);
	return 0;
}

static int cmp_offset(const void *a, const void *b)
{
	const struct gg_tensor *x = *(struct gg_tensor *const *)a, *y = *(struct gg_tensor *const *)b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Offsets aligned, inside the file, not overlapping; totals by type. */
static int check_layout(struct gg_file *f, struct cs_err *err)
{
	uint64_t data_len = f->file_size - f->data_start;
	struct gg_tensor **by = xcalloc(f->ntensors ? f->ntensors : 1, sizeof(*by));
	int rc = 0;
	for (size_t i = 0; i < f->ntensors && !rc; i++) {
		struct gg_tensor *t = &f->tensors[i];
		by[i] = t;
		if (t->offset % f->alignment)
			rc = cs_fail(err, EINVAL, "tensor '%s': offset %" PRIu64 " is not a multiple of the alignment (%" PRIu32 ")",
				     t->name, t->offset, f->alignment);
		else if (t->offset > data_len || t->nbytes > data_len - t->offset)
			rc = cs_fail(err, EINVAL, "tensor '%s': bytes %" PRIu64 "..%" PRIu64 " of the data lie past the end of "
				     "the file (%" PRIu64 " data bytes)", t->name, t->offset, t->offset + t->nbytes, data_len);
		f->nparams += t->nelem;
		f->tensor_bytes += t->nbytes;
		f->params_by_type[t->type] += t->nelem;
		f->bytes_by_type[t->type] += t->nbytes;
	}
	if (!rc && f->ntensors > 1) {
		qsort(by, f->ntensors, sizeof(*by), cmp_offset);
		for (size_t i = 1; i < f->ntensors && !rc; i++)
			if (by[i - 1]->offset + by[i - 1]->nbytes > by[i]->offset)
				rc = cs_fail(err, EINVAL, "tensors '%s' and '%s' overlap (bytes %" PRIu64 " and %" PRIu64 ")",
					     by[i - 1]->name, by[i]->name, by[i - 1]->offset, by[i]->offset);
	}
	free(by);
	return rc;
}

static int parse(struct rd *r, struct gg_file *f)
{
	char magic[4];
	r->where = "the header";
	if (rd_bytes(r, magic, 4))
		return -1;
	if (memcmp(magic, GG_MAGIC, 4))
		return cs_fail(r->err, EINVAL, "not a GGUF file (no 'GGUF' magic)");
	if (rd_u32(r, &f->version))
		return -1;
	if (f->version == 0 || f->version > 0xffff)
		return cs_fail(r->err, EINVAL, "GGUF version %" PRIu32 " (a big-endian file, or not GGUF)", f->version);
	if (f->version == 1 || f->version > 3)
		return cs_fail(r->err, EINVAL, "GGUF version %" PRIu32 " (only 2 and 3 are read)", f->version);
	uint64_t nt;
	if (rd_u64(r, &nt) || rd_u64(r, &f->nkv))
		return -1;
	/* A tensor info is at least 8+1+4+4+8 bytes, a KV at least 8+1+4+1. */
	if (nt > r->file_size / 25 || f->nkv > r->file_size / 14)
		return cs_fail(r->err, EINVAL, "%" PRIu64 " tensors and %" PRIu64 " keys cannot fit in %" PRIu64 " bytes", nt,
			       f->nkv, r->file_size);
	struct seen keys = { 0 };
	int rc = read_kvs(r, f, &keys);
	seen_free(&keys);
	if (rc)
		return -1;
	f->tensors = xcalloc(nt ? nt : 1, sizeof(*f->tensors));
	struct seen names = { 0 };
	for (uint64_t i = 0; i < nt && !rc; i++) {
		rc = read_tensor(r, &f->tensors[i], i);
		f->ntensors = i + 1;
		if (!rc)
			seen_add(&names, f->tensors[i].name, strlen(f->tensors[i].name), i);
	}
	const struct seen_ent *dup = rc ? NULL : first_duplicate(&names);
	if (dup)
		rc = cs_fail(r->err, EINVAL, "tensor '%s' is defined twice: tensor infos %" PRIu64 " and %" PRIu64
			     " (counting from 0)", dup[0].name, dup[0].idx, dup[1].idx);
	seen_free(&names);
	if (rc)
		return -1;
	f->header_end = r->off;
	f->data_start = (r->off + f->alignment - 1) / f->alignment * f->alignment;
	if (f->data_start > f->file_size) {
		if (nt)
			return cs_fail(r->err, EINVAL, "truncated: the data section (at byte %" PRIu64 ") lies past the end of "
				       "the file", f->data_start);
		f->data_start = f->file_size;
	}
	return check_layout(f, r->err);
}

int gg_parse(const unsigned char *buf, size_t len, uint64_t file_size, struct gg_file *f, struct cs_err *err)
{
	memset(f, 0, sizeof(*f));
	f->alignment = GG_DEFAULT_ALIGNMENT;
	f->block_count = f->embedding_length = f->context_length = f->file_type = f->split_tensors = -1;
	f->split_no = f->split_count = -1;
	f->file_size = file_size;
	if (len > file_size)
		len = (size_t)file_size;
	struct rd r = { buf, len, 0, file_size, err, "the header" };
	if (parse(&r, f) == 0)
		return 0;
	gg_file_release(f);
	return -1;
}

void gg_file_release(struct gg_file *f)
{
	if (!f)
		return;
	FREE_MEMBERS(f->tensors, f->ntensors, name);
	free(f->arch);
	free(f->name);
	free(f->tokenizer);
	memset(f, 0, sizeof(*f));
}

#define GG_READ_FIRST (1u << 20)
#define GG_READ_MAX (1ull << 32)   /* a header larger than 4 GiB is refused */

int gg_file_read(const char *path, struct gg_file *f, struct cs_err *err)
{
	memset(f, 0, sizeof(*f));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cs_fail_errno(err, errno, "cannot open '%s'", path);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = S_ISREG(st.st_mode) ? errno : EINVAL;
		close(fd);
		return cs_fail(err, e, "'%s' is not a regular file", path);
	}
	uint64_t size = (uint64_t)st.st_size;
	size_t cap = GG_READ_FIRST, have = 0;
	unsigned char *buf = NULL;
	int rc = -1;
	struct cs_err e;
	for (;;) {
		size_t want = size < cap ? (size_t)size : cap;
		buf = xrealloc(buf, want ? want : 1);
		if (want > have && fs_pread_full(fd, buf + have, want - have, (off_t)have) < 0) {
			rc = cs_fail_errno(err, errno, "cannot read '%s'", path);
			break;
		}
		have = want;
		rc = gg_parse(buf, have, size, f, &e);
		if (rc == 0 || e.code != EAGAIN)
			break;
		if (cap >= GG_READ_MAX) {
			e.code = EINVAL;
			snprintf(e.msg, sizeof(e.msg), "header larger than 4 GiB");
			break;
		}
		cap *= 4;
	}
	if (rc && e.code != EAGAIN && buf)
		cs_fail(err, e.code, "'%s': %s", path, e.msg);
	free(buf);
	close(fd);
	return rc;
}

int gg_has_magic(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char m[4];
	ssize_t n = read(fd, m, 4);
	int e = errno;
	close(fd);
	if (n < 0) {
		errno = e;
		return -1;
	}
	return n == 4 && !memcmp(m, GG_MAGIC, 4);
}

int gg_is_gguf_name(const char *name)
{
	size_t n = strlen(name);
	return n > 5 && !strcmp(name + n - 5, ".gguf");
}

int gg_split_parse(const char *path, char **prefix, int *no, int *count)
{
	size_t n = strlen(path);
	/* "-00001-of-00003.gguf" is 20 bytes. */
	if (n <= 20 || !gg_is_gguf_name(path))
		return 0;
	const char *t = path + n - 20;
	int k, c, used = 0;
	if (t[0] != '-' || sscanf(t, "-%5d-of-%5d.gguf%n", &k, &c, &used) != 2 || used != 20 || k < 1 || c < 1 || k > c)
		return 0;
	for (int i = 1; i <= 5; i++)
		if (t[i] < '0' || t[i] > '9' || t[i + 9] < '0' || t[i + 9] > '9')
			return 0;
	if (prefix)
		*prefix = xstrndup(path, n - 20);
	if (no)
		*no = k;
	if (count)
		*count = c;
	return 1;
}

char *gg_split_path(const char *prefix, int no, int count)
{
	return xasprintf("%s-%05d-of-%05d.gguf", prefix, no, count);
}
