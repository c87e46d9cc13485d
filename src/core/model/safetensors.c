#define _GNU_SOURCE
#include "safetensors.h"
#include "json_dup.h"
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

static const struct { const char *name; unsigned bits; } dtypes[ST_NDTYPES] = {
	[ST_BOOL] = { "BOOL", 8 }, [ST_U8] = { "U8", 8 }, [ST_I8] = { "I8", 8 },
	[ST_F8_E4M3] = { "F8_E4M3", 8 }, [ST_F8_E5M2] = { "F8_E5M2", 8 },
	[ST_F8_E8M0] = { "F8_E8M0", 8 }, [ST_I16] = { "I16", 16 },
	[ST_U16] = { "U16", 16 }, [ST_F16] = { "F16", 16 }, [ST_BF16] = { "BF16", 16 },
	[ST_I32] = { "I32", 32 }, [ST_U32] = { "U32", 32 }, [ST_F32] = { "F32", 32 },
	[ST_F64] = { "F64", 64 }, [ST_I64] = { "I64", 64 }, [ST_U64] = { "U64", 64 },
	[ST_C64] = { "C64", 64 }, [ST_F4] = { "F4", 4 },
	[ST_F6_E2M3] = { "F6_E2M3", 6 }, [ST_F6_E3M2] = { "F6_E3M2", 6 },
};

const char *st_dtype_name(int dtype)
{
	return dtype >= 0 && dtype < ST_NDTYPES ? dtypes[dtype].name : "?";
}

unsigned st_dtype_bits(int dtype)
{
	return dtype >= 0 && dtype < ST_NDTYPES ? dtypes[dtype].bits : 0;
}

int st_dtype_parse(const char *name)
{
	for (int i = 0; i < ST_NDTYPES; i++)
		if (!strcmp(name, dtypes[i].name))
			return i;
	return -1;
}

int st_safe_name(const char *name)
{
	return name && *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

void st_header_release(struct st_header *h)
{
	if (!h)
		return;
	FREE_MEMBERS(h->tensors, h->ntensors, name);
	for (size_t i = 0; i < h->nmeta; i++) {
		free(h->meta_keys[i]);
		free(h->meta_vals[i]);
	}
	free(h->meta_keys);
	free(h->meta_vals);
	memset(h, 0, sizeof(*h));
}

static void shape_str(const struct st_tensor *t, char *buf, size_t len)
{
	size_t o = 0;
	o += (size_t)snprintf(buf + o, len - o, "[");
	for (int i = 0; i < t->ndim && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%" PRIu64, i ? ", " : "", t->shape[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

static int get_u64(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_tensor(const char *name, json_t *obj, struct st_tensor *t, struct cs_err *err)
{
	if (!json_is_object(obj))
		return cs_fail(err, EINVAL, "tensor '%s': entry is not a JSON object", name);
	json_t *dt = json_object_get(obj, "dtype");
	json_t *shape = json_object_get(obj, "shape");
	json_t *offs = json_object_get(obj, "data_offsets");
	if (!json_is_string(dt))
		return cs_fail(err, EINVAL, "tensor '%s': missing or non-string \"dtype\"", name);
	t->dtype = st_dtype_parse(json_string_value(dt));
	if (t->dtype < 0)
		return cs_fail(err, EINVAL, "tensor '%s': unknown dtype '%s'", name,
			       json_string_value(dt));
	if (!json_is_array(shape))
		return cs_fail(err, EINVAL, "tensor '%s': missing or non-array \"shape\"", name);
	if (json_array_size(shape) > ST_MAX_DIMS)
		return cs_fail(err, EINVAL, "tensor '%s': shape has %zu dimensions (at most %d)",
			       name, json_array_size(shape), ST_MAX_DIMS);
	t->ndim = (int)json_array_size(shape);
	t->nelem = 1;
	int overflow = 0;
	for (int i = 0; i < t->ndim; i++) {
		if (get_u64(json_array_get(shape, (size_t)i), &t->shape[i]))
			return cs_fail(err, EINVAL,
				       "tensor '%s': shape[%d] is not a non-negative integer", name, i);
		if (__builtin_mul_overflow(t->nelem, t->shape[i], &t->nelem))
			overflow = 1;
	}
	if (!json_is_array(offs) || json_array_size(offs) != 2 ||
	    get_u64(json_array_get(offs, 0), &t->begin) ||
	    get_u64(json_array_get(offs, 1), &t->end))
		return cs_fail(err, EINVAL,
			       "tensor '%s': \"data_offsets\" is not [begin, end] of non-negative integers",
			       name);
	if (t->end < t->begin)
		return cs_fail(err, EINVAL, "tensor '%s': data_offsets end %" PRIu64
			       " is before begin %" PRIu64, name, t->end, t->begin);
	uint64_t bits;
	char sh[256];
	shape_str(t, sh, sizeof(sh));
	if (overflow || __builtin_mul_overflow(t->nelem, (uint64_t)st_dtype_bits(t->dtype), &bits))
		return cs_fail(err, EINVAL, "tensor '%s': shape %s overflows", name, sh);
	uint64_t span = t->end - t->begin;
	if (bits % 8 || span > UINT64_MAX / 8 || span * 8 != bits)
		return cs_fail(err, EINVAL,
			       "tensor '%s': data_offsets span %" PRIu64 " bytes, but shape %s of %s needs %" PRIu64 "%s",
			       name, span, sh, st_dtype_name(t->dtype), bits / 8,
			       bits % 8 ? " and a fraction" : "");
	return 0;
}

static int cmp_tensor_offset(const void *a, const void *b)
{
	const struct st_tensor *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* A header that defines a key twice: which, and both places (offsets in
 * the file). A tensor defined twice is the case that matters: loaders keep
 * one of the two, and which differs. */
static int header_dup(const unsigned char *js, size_t n, const json_error_t *jerr, struct cs_err *err)
{
	struct json_dup d;
	if (json_find_dup((const char *)js, n, (size_t)jerr->position, &d))
		return cs_fail(err, EINVAL, "header is not valid JSON: %s (byte %d)", jerr->text, jerr->position);
	int rc;
	if (!d.parent && strcmp(d.key, "__metadata__"))
		rc = cs_fail(err, EINVAL, "tensor '%s' is defined twice in the header: at bytes %zu and %zu", d.key,
			     8 + d.at[0], 8 + d.at[1]);
	else if (!d.parent)
		rc = cs_fail(err, EINVAL, "\"__metadata__\" is defined twice in the header: at bytes %zu and %zu",
			     8 + d.at[0], 8 + d.at[1]);
	else
		rc = cs_fail(err, EINVAL, "%s%s%s: key '%s' is given twice in the header, at bytes %zu and %zu",
			     strcmp(d.parent, "__metadata__") ? "tensor '" : "\"", d.parent,
			     strcmp(d.parent, "__metadata__") ? "'" : "\"", d.key, 8 + d.at[0], 8 + d.at[1]);
	json_dup_release(&d);
	return rc;
}

int st_header_parse(const unsigned char *buf, size_t len, uint64_t file_size,
		    struct st_header *h, struct cs_err *err)
{
	memset(h, 0, sizeof(*h));
	if (file_size < 8 || len < 8)
		return cs_fail(err, EINVAL, "file is %" PRIu64 " bytes, too short for the 8-byte header length",
			       file_size);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = (n << 8) | buf[i];
	if (n > ST_MAX_HEADER)
		return cs_fail(err, EINVAL, "header length %" PRIu64 " exceeds the %u-byte limit (truncated or not safetensors?)",
			       n, ST_MAX_HEADER);
	if (n > file_size - 8)
		return cs_fail(err, EINVAL, "header length %" PRIu64 " runs past the end of the %" PRIu64 "-byte file (truncated?)",
			       n, file_size);
	if (n > len - 8)
		return cs_fail(err, EINVAL, "header length %" PRIu64 " runs past the bytes read", n);
	if (n < 2 || buf[8] != '{')
		return cs_fail(err, EINVAL, "header does not start with a JSON object");
	h->header_len = n;
	h->data_start = 8 + n;
	h->data_len = file_size - h->data_start;

	json_error_t jerr;
	json_t *root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root && json_error_code(&jerr) == json_error_duplicate_key)
		return header_dup(buf + 8, (size_t)n, &jerr, err);
	if (!root)
		return cs_fail(err, EINVAL, "header is not valid JSON: %s (byte %d)", jerr.text,
			       jerr.position);
	if (!json_is_object(root)) {
		json_decref(root);
		return cs_fail(err, EINVAL, "header is not a JSON object");
	}
	size_t cap = json_object_size(root);
	h->tensors = xcalloc(cap, sizeof(*h->tensors));
	const char *key;
	json_t *val;
	int rc = 0;
	json_object_foreach(root, key, val) {
		if (!strcmp(key, "__metadata__")) {
			if (!json_is_object(val)) {
				rc = cs_fail(err, EINVAL, "\"__metadata__\" is not an object");
				break;
			}
			size_t m = json_object_size(val);
			h->meta_keys = xcalloc(m, sizeof(char *));
			h->meta_vals = xcalloc(m, sizeof(char *));
			const char *mk;
			json_t *mv;
			json_object_foreach(val, mk, mv) {
				if (!json_is_string(mv)) {
					rc = cs_fail(err, EINVAL, "\"__metadata__\" value of '%s' is not a string", mk);
					break;
				}
				h->meta_keys[h->nmeta] = xstrdup(mk);
				h->meta_vals[h->nmeta] = xstrdup(json_string_value(mv));
				h->nmeta++;
			}
			if (rc)
				break;
			continue;
		}
		struct st_tensor *t = &h->tensors[h->ntensors];
		if (parse_tensor(key, val, t, err)) {
			rc = -1;
			break;
		}
		t->name = xstrdup(key);
		h->ntensors++;
	}
	json_decref(root);
	if (rc) {
		st_header_release(h);
		return -1;
	}
	qsort(h->tensors, h->ntensors, sizeof(*h->tensors), cmp_tensor_offset);
	uint64_t expect = 0;
	for (size_t i = 0; i < h->ntensors; i++) {
		const struct st_tensor *t = &h->tensors[i];
		if (t->begin < expect) {
			rc = cs_fail(err, EINVAL, "tensor '%s' [%" PRIu64 ", %" PRIu64 ") overlaps tensor '%s' [%" PRIu64 ", %" PRIu64 ")",
				     t->name, t->begin, t->end, h->tensors[i - 1].name,
				     h->tensors[i - 1].begin, h->tensors[i - 1].end);
			break;
		}
		if (t->begin > expect) {
			rc = cs_fail(err, EINVAL, "gap of %" PRIu64 " bytes before tensor '%s' at offset %" PRIu64,
				     t->begin - expect, t->name, t->begin);
			break;
		}
		expect = t->end;
	}
	if (!rc && expect != h->data_len) {
		if (expect > h->data_len) {
			const char *last = h->ntensors ? h->tensors[h->ntensors - 1].name : "";
			rc = cs_fail(err, EINVAL, "tensor '%s' ends at data offset %" PRIu64 ", past the end of the data (%" PRIu64 " bytes; truncated file?)",
				     last, expect, h->data_len);
		} else {
			rc = cs_fail(err, EINVAL, "tensors cover %" PRIu64 " bytes but the data region is %" PRIu64 " bytes (%" PRIu64 " trailing bytes)",
				     expect, h->data_len, h->data_len - expect);
		}
	}
	if (rc) {
		st_header_release(h);
		return -1;
	}
	return 0;
}

int st_file_read(const char *path, struct st_header *h, uint64_t *file_size, struct cs_err *err)
{
	memset(h, 0, sizeof(*h));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cs_fail_errno(err, errno, "cannot open '%s'", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return cs_fail_errno(err, e, "cannot stat '%s'", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cs_fail(err, EINVAL, "'%s': not a regular file", path);
	}
	uint64_t size = (uint64_t)st.st_size;
	if (file_size)
		*file_size = size;
	unsigned char lenbuf[8];
	if (size < 8) {
		close(fd);
		return cs_fail(err, EINVAL, "'%s': file is %" PRIu64 " bytes, too short for the 8-byte header length",
			       path, size);
	}
	if (fs_pread_full(fd, lenbuf, 8, 0)) {
		int e = errno;
		close(fd);
		return cs_fail_errno(err, e, "cannot read '%s'", path);
	}
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = (n << 8) | lenbuf[i];
	size_t want = 8;
	if (n <= ST_MAX_HEADER && n <= size - 8)
		want = 8 + (size_t)n;
	unsigned char *buf = xmalloc(want);
	memcpy(buf, lenbuf, 8);
	if (want > 8 && fs_pread_full(fd, buf + 8, want - 8, 8)) {
		int e = errno;
		free(buf);
		close(fd);
		return cs_fail_errno(err, e, "cannot read the header of '%s'", path);
	}
	close(fd);
	struct cs_err e2;
	int rc = st_header_parse(buf, want, size, h, &e2);
	free(buf);
	if (rc)
		return cs_fail(err, e2.code, "'%s': %s", path, e2.msg);
	return 0;
}

/* ---- model directory ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

/* "model-00001-of-00004.safetensors" and the like. */
static int is_series_shard(const char *name)
{
	unsigned a, b;
	int n = 0;
	if (strchr(name, '/'))
		return 0;
	if (sscanf(name, "model-%5u-of-%5u.safetensors%n", &a, &b, &n) != 2)
		return 0;
	return n > 0 && name[n] == '\0' && strlen(name) == 32;
}

static int line_of(const char *s, size_t at)
{
	int line = 1;
	for (size_t i = 0; i < at; i++)
		line += s[i] == '\n';
	return line;
}

/* A JSON file (an index, config.json) that defines a key twice: which,
 * and both places. 0 with err filled, or -1 when they cannot be found. */
static int file_dup(FILE *f, const char *path, const json_error_t *jerr, struct cs_err *err)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[65536];
	size_t n;
	rewind(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && sb.len < ST_MAX_HEADER)
		strbuf_add(&sb, buf, n);
	struct json_dup d;
	int rc = ferror(f) || !sb.len ? -1 : json_find_dup(sb.buf, sb.len, (size_t)jerr->position, &d);
	if (!rc) {
		int l0 = line_of(sb.buf, d.at[0]), l1 = line_of(sb.buf, d.at[1]);
		if (d.parent && !strcmp(d.parent, "weight_map"))
			cs_fail(err, EINVAL, "'%s': tensor '%s' is mapped twice in \"weight_map\": to '%s' (line %d) and to "
				"'%s' (line %d)", path, d.key, d.val[0] ? d.val[0] : "?", l0, d.val[1] ? d.val[1] : "?", l1);
		else
			cs_fail(err, EINVAL, "'%s': key '%s'%s%s%s is given twice: lines %d and %d", path, d.key,
				d.parent ? " (in '" : "", d.parent ? d.parent : "", d.parent ? "')" : "", l0, l1);
		json_dup_release(&d);
	}
	strbuf_release(&sb);
	return rc;
}

static json_t *load_json_file(const char *path, struct cs_err *err)
{
	/* A file that cannot be read is not "invalid JSON": say why. */
	FILE *f = fopen(path, "re");
	if (!f) {
		cs_fail_errno(err, errno, "cannot read '%s'", path);
		return NULL;
	}
	json_error_t jerr;
	json_t *j = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	int bad = ferror(f), e = errno;
	if (!j && !bad && json_error_code(&jerr) == json_error_duplicate_key && !file_dup(f, path, &jerr, err)) {
		fclose(f);
		return NULL;
	}
	fclose(f);
	if (!j && bad)
		cs_fail_errno(err, e ? e : EIO, "cannot read '%s'", path);
	else if (!j)
		cs_fail(err, EINVAL, "'%s': invalid JSON: %s (line %d, column %d)", path, jerr.text,
			jerr.line, jerr.column);
	return j;
}

/* name is one of the model's files (m->files, sorted). */
static int has_file(const struct st_model *m, const char *name)
{
	return m->nfiles && bsearch(&name, m->files, m->nfiles, sizeof(char *), cmp_str);
}

static int read_config(struct st_model *m, struct cs_err *err)
{
	if (!has_file(m, "config.json"))
		return 0;
	char *path = path_join(m->dir, "config.json");
	json_t *j = load_json_file(path, err);
	if (!j) {
		free(path);
		return -1;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		int r = cs_fail(err, EINVAL, "'%s': not a JSON object", path);
		free(path);
		return r;
	}
	free(path);
	json_t *arch = json_object_get(j, "architectures");
	if (json_is_array(arch) && json_is_string(json_array_get(arch, 0)))
		m->architecture = xstrdup(json_string_value(json_array_get(arch, 0)));
	json_t *v;
	if (json_is_string(v = json_object_get(j, "model_type")))
		m->model_type = xstrdup(json_string_value(v));
	if (json_is_string(v = json_object_get(j, "torch_dtype")) ||
	    json_is_string(v = json_object_get(j, "dtype")))
		m->torch_dtype = xstrdup(json_string_value(v));
	/* Multimodal configs keep the language model under text_config. */
	json_t *src = j;
	if (!json_object_get(j, "num_hidden_layers") && json_is_object(json_object_get(j, "text_config")))
		src = json_object_get(j, "text_config");
	if (json_is_integer(v = json_object_get(src, "num_hidden_layers")))
		m->num_layers = json_integer_value(v);
	if (json_is_integer(v = json_object_get(src, "hidden_size")))
		m->hidden_size = json_integer_value(v);
	if (json_is_integer(v = json_object_get(src, "vocab_size")))
		m->vocab_size = json_integer_value(v);
	json_decref(j);
	return 0;
}

/* set: m->files is a given set of files, which must hold the shard. */
static int open_shard(struct st_model *m, const char *name, int set, struct cs_err *err)
{
	if (set && !has_file(m, name))
		return cs_fail(err, ENOENT, "'%s': '%s', which the index maps tensors to, is not among the model's files",
			       m->dir, name);
	struct st_shard *s = &m->shards[m->nshards];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->path = path_join(m->dir, name);
	m->nshards++;
	return st_file_read(s->path, &s->h, &s->file_size, err);
}

/* Every tensor of every shard, sorted by name (*k of them); a name in two
 * shards is refused (-1 with err), indexed or not (st_model_names). */
static int tensor_refs(const struct st_model *m, struct st_name_ref **out, size_t *k, struct cs_err *err)
{
	struct st_name_ref *refs = *out = st_model_names(m, k);
	size_t i = st_names_dup(refs, *k);
	if (i)
		return cs_fail(err, EINVAL, "'%s': tensor '%s' is in two shards: '%s' and '%s'", m->dir,
			       refs[i].name, m->shards[refs[i - 1].shard].name, m->shards[refs[i].shard].name);
	return 0;
}

static int check_index(struct st_model *m, const char *index_path, json_t *wm, struct cs_err *err)
{
	struct st_name_ref *refs;
	size_t k;
	int rc = tensor_refs(m, &refs, &k, err);
	const char *key;
	json_t *val;
	json_object_foreach(wm, key, val) {
		if (rc)
			break;
		struct st_name_ref probe = { key, 0, 0 };
		struct st_name_ref *hit = bsearch(&probe, refs, k, sizeof(*refs), st_name_ref_cmp);
		const char *want = json_string_value(val);
		if (!hit) {
			rc = cs_fail(err, EINVAL, "'%s': maps tensor '%s' to '%s', which does not contain it",
				     index_path, key, want);
		} else if (strcmp(m->shards[hit->shard].name, want)) {
			rc = cs_fail(err, EINVAL, "'%s': maps tensor '%s' to '%s', but it is in '%s'",
				     index_path, key, want, m->shards[hit->shard].name);
		} else {
			hit->seen = 1;
		}
	}
	for (size_t i = 0; i < k && !rc; i++)
		if (!refs[i].seen)
			rc = cs_fail(err, EINVAL, "'%s': tensor '%s' of '%s' is missing from the weight_map",
				     index_path, refs[i].name, m->shards[refs[i].shard].name);
	free(refs);
	if (!rc && m->index_total_size != m->tensor_bytes)
		rc = cs_fail(err, EINVAL, "'%s': metadata.total_size is %" PRIu64 " but the tensors hold %" PRIu64 " bytes",
			     index_path, m->index_total_size, m->tensor_bytes);
	return rc;
}

/* The file names a weight_map maps tensors to (borrowed from wm; one per
 * tensor, so repeated), appended to *names. */
static int weight_map_names(const char *index_path, json_t *wm, char ***names, size_t *nn, size_t *na,
			    struct cs_err *err)
{
	const char *key;
	json_t *val;
	json_object_foreach(wm, key, val) {
		if (!json_is_string(val))
			return cs_fail(err, EINVAL, "'%s': weight_map entry '%s' is not a file name", index_path, key);
		if (!st_safe_name(json_string_value(val)))
			return cs_fail(err, EINVAL, "'%s': weight_map entry '%s' names '%s', not a plain file name",
				       index_path, key, json_string_value(val));
		*names = xgrow(*names, na, *nn + 1, sizeof(char *));
		(*names)[(*nn)++] = (char *)json_string_value(val);
	}
	return 0;
}

int st_index_files(const char *path, char ***files, size_t *n, struct cs_err *err)
{
	*files = NULL;
	*n = 0;
	json_t *index = load_json_file(path, err);
	if (!index)
		return -1;
	json_t *wm = json_object_get(index, "weight_map");
	char **names = NULL;
	size_t nn = 0, na = 0;
	int rc = json_is_object(wm) ? weight_map_names(path, wm, &names, &nn, &na, err)
				    : cs_fail(err, EINVAL, "'%s': missing or empty \"weight_map\" object", path);
	if (!rc && nn) {
		qsort(names, nn, sizeof(char *), cmp_str);
		for (size_t i = 0; i < nn; i++)
			if (!*n || strcmp((*files)[*n - 1], names[i])) {
				*files = xrealloc(*files, (*n + 1) * sizeof(char *));
				(*files)[(*n)++] = xstrdup(names[i]);
			}
	}
	free(names);
	json_decref(index);
	return rc;
}

static void add_totals(struct st_model *m)
{
	for (size_t s = 0; s < m->nshards; s++) {
		const struct st_shard *sh = &m->shards[s];
		m->file_bytes += sh->file_size;
		for (size_t t = 0; t < sh->h.ntensors; t++) {
			const struct st_tensor *x = &sh->h.tensors[t];
			m->ntensors++;
			m->nparams += x->nelem;
			m->tensor_bytes += x->end - x->begin;
			m->params_by_dtype[x->dtype] += x->nelem;
			m->bytes_by_dtype[x->dtype] += x->end - x->begin;
		}
	}
}

int st_model_fill(const char *dir, char *const *set, size_t nset, struct st_model *m, struct cs_err *err)
{
	memset(m, 0, sizeof(*m));
	m->num_layers = m->hidden_size = m->vocab_size = -1;
	m->dir = xstrdup(dir);
	struct stat st;
	if (stat(dir, &st) < 0)
		return cs_fail_errno(err, errno, "cannot open model '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return cs_fail(err, ENOTDIR, "'%s' is not a directory", dir);

	if (set) {
		m->files = xcalloc(nset ? nset : 1, sizeof(char *));
		for (size_t i = 0; i < nset; i++)
			m->files[i] = xstrdup(set[i]);
		m->nfiles = nset;
		qsort(m->files, nset, sizeof(char *), cmp_str);
	} else {
		fs_list_files(dir, &m->files, &m->nfiles);
	}

	if (read_config(m, err))
		return -1;

	char *index_path = path_join(dir, "model.safetensors.index.json");
	json_t *wm = NULL, *index = NULL;
	int rc = 0;
	if (has_file(m, "model.safetensors.index.json")) {
		m->has_index = 1;
		index = load_json_file(index_path, err);
		if (!index) {
			rc = -1;
			goto out;
		}
		json_t *meta = json_object_get(index, "metadata");
		json_t *ts = json_is_object(meta) ? json_object_get(meta, "total_size") : NULL;
		wm = json_object_get(index, "weight_map");
		if (!json_is_object(wm) || !json_object_size(wm)) {
			rc = cs_fail(err, EINVAL, "'%s': missing or empty \"weight_map\" object", index_path);
			goto out;
		}
		/* total_size is an integer in transformers' output; some tools write a float. */
		if (json_is_integer(ts) && json_integer_value(ts) >= 0) {
			m->index_total_size = (uint64_t)json_integer_value(ts);
		} else if (json_is_real(ts) && json_real_value(ts) >= 0) {
			m->index_total_size = (uint64_t)json_real_value(ts);
		} else {
			rc = cs_fail(err, EINVAL, "'%s': missing or invalid \"metadata.total_size\"", index_path);
			goto out;
		}
		/* The distinct shard names, sorted. */
		char **names = NULL;
		size_t nn = 0, na = 0;
		rc = weight_map_names(index_path, wm, &names, &nn, &na, err);
		if (!rc) {
			/* Shards of the same series that the index forgot are opened
			 * too, so that their tensors are checked against it; other
			 * files (e.g. consolidated.safetensors) are not the index's. */
			for (size_t i = 0; i < m->nfiles; i++) {
				if (is_series_shard(m->files[i])) {
					names = xgrow(names, &na, nn + 1, sizeof(char *));
					names[nn++] = m->files[i];
				}
			}
			qsort(names, nn, sizeof(char *), cmp_str);
			size_t uniq = 0;
			for (size_t i = 0; i < nn; i++)
				if (!uniq || strcmp(names[uniq - 1], names[i]))
					names[uniq++] = names[i];
			m->shards = xcalloc(uniq, sizeof(*m->shards));
			for (size_t i = 0; i < uniq && !rc; i++)
				rc = open_shard(m, names[i], set != NULL, err);
		}
		free(names);
		if (rc)
			goto out;
		add_totals(m);
		rc = check_index(m, index_path, wm, err);
	} else {
		size_t n = 0;
		for (size_t i = 0; i < m->nfiles; i++)
			if (!strchr(m->files[i], '/') && has_suffix(m->files[i], ".safetensors"))
				n++;
		if (!n) {
			rc = cs_fail(err, ENOENT, "'%s': no model.safetensors, index or *.safetensors file (not a safetensors model directory)",
				     dir);
			goto out;
		}
		m->shards = xcalloc(n, sizeof(*m->shards));
		for (size_t i = 0; i < m->nfiles && !rc; i++)
			if (!strchr(m->files[i], '/') && has_suffix(m->files[i], ".safetensors"))
				rc = open_shard(m, m->files[i], 0, err);
		if (!rc) {
			/* Without an index, loaders read every file: each name once. */
			add_totals(m);
			struct st_name_ref *refs;
			size_t k;
			rc = tensor_refs(m, &refs, &k, err);
			free(refs);
		}
	}
out:
	json_decref(index);
	free(index_path);
	return rc;
}
