#define _GNU_SOURCE
#include "ggufwrite.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "gguf.h"
#include "safetensors.h"
#include "core/base/banned.h"

#define GW_RESERVE (64ull << 20)
#define GW_BUF (4u << 20)

/* ---- names ---- */

/* Hugging Face name -> llama.cpp's (gguf tensor name). */
static char *gguf_name(const char *hf)
{
	static const struct { const char *hf, *gg; } map[] = {
		{ "self_attn.q_proj.weight", "attn_q.weight" }, { "self_attn.q_proj.bias", "attn_q.bias" },
		{ "self_attn.k_proj.weight", "attn_k.weight" }, { "self_attn.k_proj.bias", "attn_k.bias" },
		{ "self_attn.v_proj.weight", "attn_v.weight" }, { "self_attn.v_proj.bias", "attn_v.bias" },
		{ "self_attn.o_proj.weight", "attn_output.weight" }, { "mlp.gate_proj.weight", "ffn_gate.weight" },
		{ "mlp.up_proj.weight", "ffn_up.weight" }, { "mlp.down_proj.weight", "ffn_down.weight" },
		{ "input_layernorm.weight", "attn_norm.weight" },
		{ "post_attention_layernorm.weight", "ffn_norm.weight" },
	};
	if (!strcmp(hf, "model.embed_tokens.weight"))
		return xstrdup("token_embd.weight");
	if (!strcmp(hf, "model.norm.weight"))
		return xstrdup("output_norm.weight");
	if (!strcmp(hf, "lm_head.weight"))
		return xstrdup("output.weight");
	int layer, used = 0;
	if (sscanf(hf, "model.layers.%d.%n", &layer, &used) == 1 && used > 0)
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (!strcmp(hf + used, map[i].hf))
				return xasprintf("blk.%d.%s", layer, map[i].gg);
	return NULL;
}

/* ---- the header ---- */

static void put_u32(struct strbuf *sb, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };
	strbuf_add(sb, b, 4);
}

static void put_u64(struct strbuf *sb, uint64_t v)
{
	put_u32(sb, (uint32_t)v);
	put_u32(sb, (uint32_t)(v >> 32));
}

static void put_str(struct strbuf *sb, const char *s)
{
	put_u64(sb, strlen(s));
	strbuf_adds(sb, s);
}

struct kvs {
	struct strbuf sb;
	uint64_t n;
};

static void kv_key(struct kvs *k, const char *key, uint32_t type)
{
	put_str(&k->sb, key);
	put_u32(&k->sb, type);
	k->n++;
}

static void kv_u32(struct kvs *k, const char *key, uint32_t v)
{
	kv_key(k, key, GGKV_U32);
	put_u32(&k->sb, v);
}

static void kv_f32(struct kvs *k, const char *key, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	kv_key(k, key, GGKV_F32);
	put_u32(&k->sb, u);
}

static void kv_str(struct kvs *k, const char *key, const char *v)
{
	kv_key(k, key, GGKV_STRING);
	put_str(&k->sb, v);
}

static void kv_bool(struct kvs *k, const char *key, int v)
{
	kv_key(k, key, GGKV_BOOL);
	strbuf_addch(&k->sb, v ? 1 : 0);
}

static void kv_arch_u32(struct kvs *k, const char *arch, const char *suffix, int64_t v)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", arch, suffix);
	kv_u32(k, key, (uint32_t)v);
}

enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_BYTE = 6 };

#define SP "\xe2\x96\x81"   /* U+2581, SentencePiece's word boundary */

/* The synthetic SentencePiece vocabulary: tokens, scores, types. */
static void kv_vocab(struct kvs *k, const struct ms_hparams *hp)
{
	static const char *const pieces[] = {
		SP, SP "the", SP "a", SP "of", SP "and", SP "to", SP "in", SP "is", SP "Hello", SP "world",
		".", ",", "!", "?",
	};
	uint64_t n = (uint64_t)hp->vocab, next_byte = 0, next_piece = 0;
	unsigned char *type = xcalloc(n, 1);
	char **tok = xcalloc(n, sizeof(char *));
	tok[0] = xstrdup("<unk>");
	type[0] = TOK_UNKNOWN;
	if (hp->bos == hp->eos) {
		tok[hp->bos] = xstrdup("<|endoftext|>");
	} else {
		tok[hp->bos] = xstrdup("<s>");
		tok[hp->eos] = xstrdup("</s>");
		type[hp->eos] = TOK_CONTROL;
	}
	type[hp->bos] = TOK_CONTROL;
	for (uint64_t i = 1; i < n; i++) {
		if (tok[i])
			continue;
		if (next_byte < 256) {
			tok[i] = xasprintf("<0x%02" PRIX64 ">", next_byte++);
			type[i] = TOK_BYTE;
		} else if (next_piece < sizeof(pieces) / sizeof(pieces[0])) {
			tok[i] = xstrdup(pieces[next_piece++]);
			type[i] = TOK_NORMAL;
		} else {
			tok[i] = xasprintf(SP "w%" PRIu64, i);
			type[i] = TOK_NORMAL;
		}
	}
	kv_str(k, "tokenizer.ggml.model", "llama");
	kv_key(k, "tokenizer.ggml.tokens", GGKV_ARRAY);
	put_u32(&k->sb, GGKV_STRING);
	put_u64(&k->sb, n);
	for (uint64_t i = 0; i < n; i++) {
		put_str(&k->sb, tok[i]);
		free(tok[i]);
	}
	free(tok);
	kv_key(k, "tokenizer.ggml.scores", GGKV_ARRAY);
	put_u32(&k->sb, GGKV_F32);
	put_u64(&k->sb, n);
	for (uint64_t i = 0; i < n; i++) {
		float s = type[i] == TOK_NORMAL ? -(float)i : 0.0f;
		uint32_t u;
		memcpy(&u, &s, 4);
		put_u32(&k->sb, u);
	}
	kv_key(k, "tokenizer.ggml.token_type", GGKV_ARRAY);
	put_u32(&k->sb, GGKV_I32);
	put_u64(&k->sb, n);
	for (uint64_t i = 0; i < n; i++)
		put_u32(&k->sb, type[i]);
	free(type);
	kv_u32(k, "tokenizer.ggml.bos_token_id", (uint32_t)hp->bos);
	kv_u32(k, "tokenizer.ggml.eos_token_id", (uint32_t)hp->eos);
	kv_u32(k, "tokenizer.ggml.unknown_token_id", 0);
	kv_bool(k, "tokenizer.ggml.add_bos_token", hp->bos != hp->eos);
	kv_bool(k, "tokenizer.ggml.add_eos_token", 0);
}

/* llama.cpp's llama_ftype for the type of the weights. */
static uint32_t file_type(uint32_t type)
{
	return type == GG_F32 ? 0 : type == GG_F16 ? 1 : type == GG_Q8_0 ? 7 : 32;
}

static void model_kvs(struct kvs *k, const struct gw_plan *p, const char *preset)
{
	struct ms_hparams hp;
	ms_hparams(&p->model, &hp);
	const char *a = hp.family;
	kv_str(k, "general.architecture", a);
	kv_str(k, "general.type", "model");
	kv_str(k, "general.name", preset);
	kv_u32(k, "general.alignment", p->alignment);
	kv_u32(k, "general.file_type", file_type(p->type));
	kv_u32(k, "general.quantization_version", 2);
	kv_arch_u32(k, a, "context_length", hp.max_pos);
	kv_arch_u32(k, a, "embedding_length", hp.hidden);
	kv_arch_u32(k, a, "block_count", hp.layers);
	kv_arch_u32(k, a, "feed_forward_length", hp.intermediate);
	kv_arch_u32(k, a, "attention.head_count", hp.heads);
	kv_arch_u32(k, a, "attention.head_count_kv", hp.kv_heads);
	kv_arch_u32(k, a, "attention.key_length", hp.head_dim);
	kv_arch_u32(k, a, "attention.value_length", hp.head_dim);
	kv_arch_u32(k, a, "rope.dimension_count", hp.head_dim);
	kv_arch_u32(k, a, "vocab_size", hp.vocab);
	char key[128];
	snprintf(key, sizeof(key), "%s.rope.freq_base", a);
	kv_f32(k, key, (float)hp.rope_theta);
	snprintf(key, sizeof(key), "%s.attention.layer_norm_rms_epsilon", a);
	kv_f32(k, key, (float)hp.rms_eps);
	kv_vocab(k, &hp);
}

static void split_kvs(struct kvs *k, size_t part, size_t nparts, size_t ntensors)
{
	kv_key(k, "split.no", GGKV_U16);
	strbuf_add(&k->sb, (unsigned char[2]){ (unsigned char)part, (unsigned char)(part >> 8) }, 2);
	kv_key(k, "split.count", GGKV_U16);
	strbuf_add(&k->sb, (unsigned char[2]){ (unsigned char)nparts, (unsigned char)(nparts >> 8) }, 2);
	kv_key(k, "split.tensors.count", GGKV_I32);
	put_u32(&k->sb, (uint32_t)ntensors);
}

static uint64_t align_up(uint64_t v, uint32_t a)
{
	return (v + a - 1) / a * a;
}

static void build_part(struct gw_plan *p, size_t s, const char *preset)
{
	struct gw_part *pt = &p->parts[s];
	struct kvs k = { STRBUF_INIT, 0 };
	if (s == 0)
		model_kvs(&k, p, preset);
	if (p->nparts > 1)
		split_kvs(&k, s, p->nparts, p->ntensors);
	struct strbuf *h = &pt->header;
	strbuf_add(h, GG_MAGIC, 4);
	put_u32(h, 3);
	put_u64(h, pt->ntensors);
	put_u64(h, k.n);
	strbuf_add(h, k.sb.buf, k.sb.len);
	strbuf_release(&k.sb);
	uint64_t off = 0;
	for (size_t i = pt->first; i < pt->first + pt->ntensors; i++) {
		struct gw_tensor *t = &p->tensors[i];
		put_str(h, t->name);
		put_u32(h, t->ndim);
		for (uint32_t d = 0; d < t->ndim; d++)
			put_u64(h, t->ne[d]);
		put_u32(h, t->type);
		t->offset = off;
		put_u64(h, off);
		off = align_up(off + t->nbytes, p->alignment);
	}
	while (h->len % p->alignment)
		strbuf_addch(h, 0);
	pt->file_bytes = h->len + off;
}

/* ---- planning ---- */

static int part_paths(struct gw_plan *p, const char *path, struct cs_err *err)
{
	char *prefix;
	if (gg_is_gguf_name(path)) {
		prefix = xstrndup(path, strlen(path) - 5);
		p->dir = fs_parent_dir(path);
	} else {
		prefix = path_join(path, "model");
		p->dir = xstrdup(path);
	}
	char *base = fs_basename(prefix);
	int bad = !*base || !strcmp(base, ".") || !strcmp(base, "..");
	free(base);
	if (bad) {
		free(prefix);
		return cs_fail(err, EINVAL, "'%s' names no file", path);
	}
	for (size_t s = 0; s < p->nparts; s++)
		p->parts[s].path = p->nparts == 1 ? xasprintf("%s.gguf", prefix)
						  : gg_split_path(prefix, (int)s + 1, (int)p->nparts);
	free(prefix);
	return 0;
}

int gw_plan_build(const char *preset, int layers, uint32_t type, uint64_t split_size, uint64_t seed,
		  const char *path, struct gw_plan *p, struct cs_err *err)
{
	memset(p, 0, sizeof(*p));
	if (type != GG_F16 && type != GG_BF16 && type != GG_F32 && type != GG_Q8_0)
		return cs_fail(err, EINVAL, "GGUF tensor type '%s' is not written (f16, bf16, f32 or q8_0)",
			       gg_type_name(type) ? gg_type_name(type) : "?");
	int dt = type == GG_F32 ? ST_F32 : type == GG_BF16 ? ST_BF16 : ST_F16;
	if (ms_build(preset, layers, dt, &p->model, err))
		return -1;
	p->type = type;
	p->seed = seed;
	p->alignment = GG_DEFAULT_ALIGNMENT;
	p->ntensors = p->model.ntensors;
	p->tensors = xcalloc(p->ntensors, sizeof(*p->tensors));
	size_t alloc = 0;
	uint64_t part_bytes = 0;
	for (size_t i = 0; i < p->ntensors; i++) {
		const struct ms_tensor *m = &p->model.tensors[i];
		struct gw_tensor *t = &p->tensors[i];
		t->name = gguf_name(m->name);
		if (!t->name) {
			gw_plan_release(p);
			return cs_fail(err, EINVAL, "tensor '%s' has no GGUF name", m->name);
		}
		t->ndim = (uint32_t)m->ndim;
		t->ne[0] = m->ndim == 2 ? m->shape[1] : m->shape[0];
		t->ne[1] = m->ndim == 2 ? m->shape[0] : 1;
		t->nelem = m->nelem;
		t->type = m->ndim == 1 ? GG_F32 : type;
		if (t->type == GG_Q8_0 && t->ne[0] % 32) {
			t->type = GG_F16;
			p->nfallback++;
		}
		t->nbytes = gg_nbytes(t->type, t->ne, t->ndim);
		p->nparams += t->nelem;
		p->tensor_bytes += t->nbytes;
		/* A new part when this tensor would pass split_size (never an empty one). */
		if (!p->nparts || (split_size && part_bytes && part_bytes + t->nbytes > split_size)) {
			p->parts = xgrow(p->parts, &alloc, p->nparts + 1, sizeof(*p->parts));
			memset(&p->parts[p->nparts], 0, sizeof(*p->parts));
			strbuf_init(&p->parts[p->nparts].header);
			p->parts[p->nparts].first = i;
			p->nparts++;
			part_bytes = 0;
		}
		t->part = p->nparts - 1;
		p->parts[p->nparts - 1].ntensors++;
		part_bytes += align_up(t->nbytes, p->alignment);
	}
	if (p->nparts > 99999) {
		gw_plan_release(p);
		return cs_fail(err, EINVAL, "--shard-size %" PRIu64 " would make more than 99999 parts", split_size);
	}
	if (part_paths(p, path, err)) {
		gw_plan_release(p);
		return -1;
	}
	for (size_t s = 0; s < p->nparts; s++) {
		build_part(p, s, preset);
		p->file_bytes += p->parts[s].file_bytes;
	}
	return 0;
}

void gw_plan_release(struct gw_plan *p)
{
	if (!p)
		return;
	FREE_MEMBERS(p->tensors, p->ntensors, name);
	for (size_t s = 0; s < p->nparts; s++) {
		free(p->parts[s].path);
		strbuf_release(&p->parts[s].header);
	}
	free(p->parts);
	free(p->dir);
	ms_release(&p->model);
	memset(p, 0, sizeof(*p));
}

/* ---- data ---- */

/* One Q8_0 block: an f16 scale in [2^-9, 2^-8) and 32 int8 in [-127, 127]
 * without 0, so every weight is finite, small and non-zero. */
static void q8_block(uint64_t key, uint64_t b, unsigned char *out)
{
	uint64_t w[4];
	for (int j = 0; j < 4; j++)
		w[j] = ck_rand_word(key, b * 4 + (uint64_t)j);
	uint16_t d = (uint16_t)(0x1800 | (ck_rand_word(key, ~b) & 0x3ff));
	out[0] = (unsigned char)d;
	out[1] = (unsigned char)(d >> 8);
	memcpy(out + 2, w, 32);
	for (int j = 2; j < 34; j++)
		if (out[j] == 0 || out[j] == 0x80)
			out[j] = 1;
}

void gw_fill(const struct gw_plan *p, size_t i, uint64_t off, unsigned char *buf, size_t len)
{
	const struct gw_tensor *t = &p->tensors[i];
	uint64_t key = ck_data_key(p->seed, t->name);
	if (t->type != GG_Q8_0) {
		int dt = t->type == GG_F32 ? ST_F32 : t->type == GG_BF16 ? ST_BF16 : ST_F16;
		ck_fill_key(key, dt, off, buf, len);
		return;
	}
	for (size_t k = 0; k + 34 <= len; k += 34)
		q8_block(key, (off + k) / 34, buf + k);
}

/* ---- writing ---- */

struct wctx {
	const struct gw_plan *p;
	const struct ck_write_opts *o;
	unsigned char *buf;
	uint64_t done;
	struct fs_temp *tmp;   /* per part, locked until renamed (fsutil.h) */
	uint64_t pos;          /* write offset in the current part */
};

static int write_all(struct wctx *w, int fd, const void *b, size_t n, const char *path, struct cs_err *err)
{
	if (fs_pwrite_full(fd, b, n, (off_t)w->pos) < 0)
		return cs_fail_errno(err, errno, "cannot write '%s'", path);
	w->pos += n;
	return 0;
}

static int write_tensor(struct wctx *w, int fd, size_t i, const char *path, struct cs_err *err)
{
	const struct gw_tensor *t = &w->p->tensors[i];
	size_t step = t->type == GG_Q8_0 ? GW_BUF / 34 * 34 : GW_BUF;
	for (uint64_t off = 0; off < t->nbytes; off += step) {
		if (cs_cancelled(w->o->cancel))
			return cs_fail(err, ECANCELED, "interrupted");
		size_t n = t->nbytes - off < step ? (size_t)(t->nbytes - off) : step;
		gw_fill(w->p, i, off, w->buf, n);
		if (write_all(w, fd, w->buf, n, path, err))
			return -1;
		w->done += n;
		if (w->o->progress)
			w->o->progress(w->done, w->p->file_bytes, w->o->progress_arg);
	}
	uint64_t pad = align_up(t->nbytes, w->p->alignment) - t->nbytes;
	memset(w->buf, 0, (size_t)pad);
	return pad ? write_all(w, fd, w->buf, (size_t)pad, path, err) : 0;
}

/* The temporaries of part path: ".NAME.tmp-". */
static char *part_prefix(const char *path)
{
	char *base = fs_basename(path);
	char *prefix = xasprintf(".%s.tmp-", base);
	free(base);
	return prefix;
}

static int write_part(struct wctx *w, size_t s, struct cs_err *err)
{
	const struct gw_part *pt = &w->p->parts[s];
	char *prefix = part_prefix(pt->path);
	struct fs_temp *t = &w->tmp[s];
	int rc = fs_temp_create(w->p->dir, prefix, 0, t);
	free(prefix);
	if (rc)
		return cs_fail_errno(err, errno, "cannot create a temporary file beside '%s'", pt->path);
	w->pos = 0;
	rc = write_all(w, t->fd, pt->header.buf, pt->header.len, t->path, err);
	w->done += pt->header.len;
	for (size_t i = pt->first; !rc && i < pt->first + pt->ntensors; i++)
		rc = write_tensor(w, t->fd, i, t->path, err);
	if (!rc && fdatasync(t->fd) < 0)
		rc = cs_fail_errno(err, errno, "cannot sync '%s'", t->path);
	return rc;
}

static int check_target(const struct gw_plan *p, const struct ck_write_opts *o, struct cs_err *err)
{
	if (fs_mkdir_p(p->dir, 0755) < 0)
		return cs_fail_errno(err, errno, "cannot create directory '%s'", p->dir);
	uint64_t replaced = 0;
	/* Parts of writers that were killed mid-write, whatever set they
	 * were writing (a split into another number of parts has other names). */
	fs_temp_sweep_kind(p->dir, "tmp-");
	for (size_t s = 0; s < p->nparts; s++) {
		struct stat st;
		if (lstat(p->parts[s].path, &st) < 0)
			continue;
		if (!S_ISREG(st.st_mode))
			return cs_fail(err, EEXIST, "'%s' exists and is not a regular file", p->parts[s].path);
		if (!o->force)
			return cs_fail(err, EEXIST, "'%s' exists (use --force to replace it)", p->parts[s].path);
		replaced += (uint64_t)st.st_size;
	}
	uint64_t avail;
	if (fs_free_bytes(p->dir, &avail) == 0 && avail + replaced < p->file_bytes + GW_RESERVE) {
		char a[32], b[32];
		return cs_fail(err, ENOSPC, "not enough space in '%s': needs %s (+64 MiB reserve), %s free",
			       p->dir, fmt_bytes(a, sizeof(a), p->file_bytes), fmt_bytes(b, sizeof(b), avail));
	}
	return 0;
}

int gw_write(const struct gw_plan *p, const struct ck_write_opts *o, struct cs_err *err)
{
	if (check_target(p, o, err))
		return -1;
	struct wctx w = { p, o, fs_alloc_aligned(GW_BUF), 0, xcalloc(p->nparts, sizeof(struct fs_temp)), 0 };
	for (size_t s = 0; s < p->nparts; s++)
		w.tmp[s].fd = -1;
	int rc = 0;
	for (size_t s = 0; s < p->nparts && !rc; s++)
		rc = write_part(&w, s, err);
	/* The first part last: llama.cpp opens it, and finds the rest. */
	for (size_t s = p->nparts; !rc && s-- > 0;)
		if (rename(w.tmp[s].path, p->parts[s].path) < 0)
			rc = cs_fail_errno(err, errno, "cannot rename '%s' to '%s'", w.tmp[s].path, p->parts[s].path);
		else
			fs_temp_done(&w.tmp[s]);
	if (!rc && fs_fsync_path(p->dir) < 0)
		rc = cs_fail_errno(err, errno, "cannot sync directory '%s'", p->dir);
	for (size_t s = 0; s < p->nparts; s++) {
		if (w.tmp[s].path)
			unlink(w.tmp[s].path);
		fs_temp_done(&w.tmp[s]);
	}
	free(w.tmp);
	free(w.buf);
	return rc;
}
