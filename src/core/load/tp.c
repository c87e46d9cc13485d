/* tp: tensor-parallel slicing plan (see tp.h). */
#define _GNU_SOURCE
#include "tp.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/banned.h"

static const char *const kind_names[TP_NKINDS] = { "replicated", "column", "kv", "row", "vocab" };

const char *tp_kind_name(enum tp_kind k)
{
	return k < TP_NKINDS ? kind_names[k] : "?";
}

/* The layer name before ".weight" / ".bias" ("q_proj"), into buf. */
static int layer_of(const char *name, char *buf, size_t n, int *bias)
{
	const char *dot = strrchr(name, '.');
	if (!dot || (strcmp(dot, ".weight") && strcmp(dot, ".bias")))
		return -1;
	*bias = !strcmp(dot, ".bias");
	const char *start = dot;
	while (start > name && start[-1] != '.')
		start--;
	size_t l = (size_t)(dot - start);
	if (l + 1 > n)
		return -1;
	memcpy(buf, start, l);
	buf[l] = 0;
	return 0;
}

enum tp_kind tp_kind_of(const char *name, int ndim)
{
	char layer[64];
	int bias;
	if (ndim < 1 || ndim > 2 || layer_of(name, layer, sizeof(layer), &bias))
		return TP_REPLICATED;
	static const char *const column[] = { "q_proj", "gate_proj", "up_proj" };
	for (size_t i = 0; i < sizeof(column) / sizeof(*column); i++)
		if (!strcmp(layer, column[i]))
			return TP_COLUMN;
	if (!strcmp(layer, "k_proj") || !strcmp(layer, "v_proj"))
		return TP_KV;
	if (!strcmp(layer, "o_proj") || !strcmp(layer, "down_proj"))
		return bias || ndim != 2 ? TP_REPLICATED : TP_ROW;
	if (!strcmp(layer, "embed_tokens") || !strcmp(layer, "lm_head"))
		return TP_VOCAB;
	return TP_REPLICATED;
}

/* num_key_value_heads (else num_attention_heads) of config.json, or with
 * attention set, num_attention_heads; -1 when absent. */
static int config_heads(const struct st_model *m, int attention)
{
	char *p = path_join(m->dir, "config.json");
	/* st_model_open refused a config.json with a key twice; so does this. */
	json_t *j = json_load_file(p, JSON_REJECT_DUPLICATES, NULL);
	free(p);
	if (!j)
		return -1;
	json_t *tc = json_object_get(j, "text_config");
	json_t *c = json_is_object(tc) ? tc : j;
	json_t *v = attention ? NULL : json_object_get(c, "num_key_value_heads");
	if (!json_is_integer(v))
		v = json_object_get(c, "num_attention_heads");
	int kv = json_is_integer(v) && json_integer_value(v) > 0 ? (int)json_integer_value(v) : -1;
	json_decref(j);
	return kv;
}

/* Rows [*a, *b) of dim d for rank r, or -1 with err. */
static int rows_of(const struct tp_plan *p, enum tp_kind k, const char *name, uint64_t d, int r, uint64_t *a,
		   uint64_t *b, struct cs_err *err)
{
	uint64_t n = (uint64_t)p->n;
	if (k == TP_VOCAB) {
		uint64_t part = (d + n - 1) / n;
		*a = (uint64_t)r * part < d ? (uint64_t)r * part : d;
		*b = *a + part < d ? *a + part : d;
		return 0;
	}
	if (k == TP_KV && p->kv_heads > 0 && (uint64_t)p->kv_heads < n) {
		uint64_t kv = (uint64_t)p->kv_heads;
		if (n % kv || d % kv)
			return cs_fail(err, EINVAL, "'%s': %llu key/value heads do not spread over TP=%d (it must be a "
				       "multiple of them)", name, (unsigned long long)kv, p->n);
		uint64_t hd = d / kv, h = (uint64_t)r * kv / n;
		*a = h * hd;
		*b = *a + hd;
		return 0;
	}
	if (d % n)
		return cs_fail(err, EINVAL, "'%s': dimension %llu does not divide by TP=%d", name, (unsigned long long)d, p->n);
	if (k == TP_KV && p->kv_heads > 0 && (uint64_t)p->kv_heads % n)
		return cs_fail(err, EINVAL, "'%s': %d key/value heads do not divide by TP=%d", name, p->kv_heads, p->n);
	*a = d / n * (uint64_t)r;
	*b = *a + d / n;
	return 0;
}

static int plan_tensor(struct tp_plan *p, const struct st_tensor *t, struct tp_tensor *out, struct cs_err *err)
{
	uint64_t bytes = t->end - t->begin;
	unsigned bits = st_dtype_bits(t->dtype);
	enum tp_kind k = bits % 8 || !t->nelem ? TP_REPLICATED : tp_kind_of(t->name, t->ndim);
	if (k == TP_KV && p->kv_heads <= 0 && p->n > 1)
		return cs_fail(err, EINVAL, "'%s': the number of key/value heads is needed to split it (config.json has "
			       "no num_key_value_heads or num_attention_heads)", t->name);
	char layer[64];
	int bias;
	if (k == TP_COLUMN && p->heads > 0 && p->heads % p->n && !layer_of(t->name, layer, sizeof(layer), &bias) &&
	    !strcmp(layer, "q_proj"))
		return cs_fail(err, EINVAL, "'%s': %d attention heads do not divide by TP=%d", t->name, p->heads, p->n);
	out->kind = k;
	out->r = xcalloc((size_t)p->n, sizeof(struct tp_slice));
	for (int r = 0; r < p->n; r++) {
		struct tp_slice *s = &out->r[r];
		if (k == TP_REPLICATED || p->n == 1) {
			*s = (struct tp_slice){ t->begin, bytes, bytes, 1, 0 };
		} else if (k == TP_ROW) {
			uint64_t a = 0, b = 0, es = bits / 8, row = t->shape[1] * es;
			if (rows_of(p, k, t->name, t->shape[1], r, &a, &b, err))
				return -1;
			*s = (struct tp_slice){ t->begin + a * es, row, (b - a) * es, t->shape[0], 0 };
		} else {
			uint64_t a = 0, b = 0, row = bytes / t->shape[0];
			if (rows_of(p, k, t->name, t->shape[0], r, &a, &b, err))
				return -1;
			*s = (struct tp_slice){ t->begin + a * row, (b - a) * row, (b - a) * row, 1, 0 };
		}
		s->dst = p->rank_bytes[r];
		p->rank_bytes[r] += s->seg * s->nseg;
	}
	p->counts[k]++;
	return 0;
}

int tp_plan_make(const struct st_model *m, int n, int kv_heads, struct tp_plan *p, struct cs_err *err)
{
	memset(p, 0, sizeof(*p));
	if (n < 1 || n > TP_MAX)
		return cs_fail(err, EINVAL, "TP=%d: 1 to %d ranks", n, TP_MAX);
	if (m->format != ST_FORMAT_SAFETENSORS)
		return cs_fail(err, EINVAL, "tensor parallelism needs a safetensors checkpoint");
	p->n = n;
	p->kv_heads = kv_heads > 0 ? kv_heads : config_heads(m, 0);
	p->heads = config_heads(m, 1);
	p->rank_bytes = xcalloc((size_t)n, sizeof(uint64_t));
	size_t total = 0;
	for (size_t s = 0; s < m->nshards; s++)
		total += m->shards[s].h.ntensors;
	p->t = xcalloc(total ? total : 1, sizeof(*p->t));
	for (size_t s = 0; s < m->nshards; s++)
		for (size_t i = 0; i < m->shards[s].h.ntensors; i++) {
			struct tp_tensor *t = &p->t[p->nt++];
			t->shard = s;
			t->index = i;
			if (plan_tensor(p, &m->shards[s].h.tensors[i], t, err)) {
				tp_plan_release(p);
				return -1;
			}
		}
	return 0;
}

void tp_plan_release(struct tp_plan *p)
{
	FREE_MEMBERS(p->t, p->nt, r);
	free(p->rank_bytes);
	memset(p, 0, sizeof(*p));
}
