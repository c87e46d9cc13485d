#define _GNU_SOURCE
#include "modelspec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/banned.h"
#include "safetensors.h"

enum family { FAM_LLAMA, FAM_QWEN2 };

struct ms_arch {
	const char *preset;
	const char *summary;
	enum family fam;
	int64_t hidden, intermediate, layers, heads, kv_heads, head_dim, vocab;
	int tied;
	int64_t max_pos;
	double rope_theta, rms_eps;
	double rope_factor;        /* llama3 rope scaling factor; 0 = none */
	int64_t bos, eos;
	int64_t sliding_window;    /* qwen2 */
	int explicit_head_dim;     /* config.json carries "head_dim" */
};

/* Values from each model's published config.json. */
static const struct ms_arch presets[] = {
	{ "qwen2.5-0.5b", "Qwen2.5-0.5B: 494,032,768 params, tied embeddings",
	  FAM_QWEN2, 896, 4864, 24, 14, 2, 64, 151936, 1, 32768, 1000000.0, 1e-6, 0,
	  151643, 151643, 32768, 0 },
	{ "llama-3.2-1b", "Llama-3.2-1B: 1,235,814,400 params, tied embeddings",
	  FAM_LLAMA, 2048, 8192, 16, 32, 8, 64, 128256, 1, 131072, 500000.0, 1e-5, 32.0,
	  128000, 128001, 0, 1 },
	{ "qwen2.5-7b", "Qwen2.5-7B: 7,615,616,512 params",
	  FAM_QWEN2, 3584, 18944, 28, 28, 4, 128, 152064, 0, 131072, 1000000.0, 1e-6, 0,
	  151643, 151643, 131072, 0 },
	{ "llama-3.1-8b", "Llama-3.1-8B: 8,030,261,248 params",
	  FAM_LLAMA, 4096, 14336, 32, 32, 8, 128, 128256, 0, 131072, 500000.0, 1e-5, 8.0,
	  128000, 128001, 0, 0 },
	{ "llama-3.1-70b", "Llama-3.1-70B: 70,553,706,496 params",
	  FAM_LLAMA, 8192, 28672, 80, 64, 8, 128, 128256, 0, 131072, 500000.0, 1e-5, 8.0,
	  128000, 128001, 0, 0 },
	{ "tiny", "Llama layout, 19,286,272 params (~39 MB in bf16), for tests",
	  FAM_LLAMA, 256, 688, 4, 4, 2, 64, 32000, 0, 2048, 10000.0, 1e-5, 0,
	  1, 2, 0, 0 },
};

size_t ms_npresets(void)
{
	return sizeof(presets) / sizeof(presets[0]);
}

const char *ms_preset_name(size_t i)
{
	return i < ms_npresets() ? presets[i].preset : NULL;
}

const char *ms_preset_summary(size_t i)
{
	return i < ms_npresets() ? presets[i].summary : NULL;
}

static void add(struct ms_model *m, size_t *alloc, char *name, uint64_t d0, uint64_t d1)
{
	m->tensors = xgrow(m->tensors, alloc, m->ntensors + 1, sizeof(*m->tensors));
	struct ms_tensor *t = &m->tensors[m->ntensors++];
	t->name = name;
	t->ndim = d1 ? 2 : 1;
	t->shape[0] = d0;
	t->shape[1] = d1;
	t->nelem = d1 ? d0 * d1 : d0;
}

int ms_build(const char *preset, int layers, int dtype, struct ms_model *m, struct cs_err *err)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < ms_npresets(); i++)
		if (!strcmp(presets[i].preset, preset))
			m->arch = &presets[i];
	if (!m->arch)
		return cs_fail(err, EINVAL, "unknown preset '%s'", preset);
	if (dtype != ST_BF16 && dtype != ST_F16 && dtype != ST_F32)
		return cs_fail(err, EINVAL, "unsupported dtype '%s'", st_dtype_name(dtype));
	const struct ms_arch *a = m->arch;
	m->layers = layers > 0 ? layers : (int)a->layers;
	m->dtype = dtype;
	size_t alloc = 0;
	uint64_t h = (uint64_t)a->hidden, q = (uint64_t)(a->heads * a->head_dim),
		 kv = (uint64_t)(a->kv_heads * a->head_dim), f = (uint64_t)a->intermediate;
	add(m, &alloc, xstrdup("model.embed_tokens.weight"), (uint64_t)a->vocab, h);
	for (int l = 0; l < m->layers; l++) {
		const char *p = "model.layers";
		add(m, &alloc, xasprintf("%s.%d.self_attn.q_proj.weight", p, l), q, h);
		if (a->fam == FAM_QWEN2)
			add(m, &alloc, xasprintf("%s.%d.self_attn.q_proj.bias", p, l), q, 0);
		add(m, &alloc, xasprintf("%s.%d.self_attn.k_proj.weight", p, l), kv, h);
		if (a->fam == FAM_QWEN2)
			add(m, &alloc, xasprintf("%s.%d.self_attn.k_proj.bias", p, l), kv, 0);
		add(m, &alloc, xasprintf("%s.%d.self_attn.v_proj.weight", p, l), kv, h);
		if (a->fam == FAM_QWEN2)
			add(m, &alloc, xasprintf("%s.%d.self_attn.v_proj.bias", p, l), kv, 0);
		add(m, &alloc, xasprintf("%s.%d.self_attn.o_proj.weight", p, l), h, q);
		add(m, &alloc, xasprintf("%s.%d.mlp.gate_proj.weight", p, l), f, h);
		add(m, &alloc, xasprintf("%s.%d.mlp.up_proj.weight", p, l), f, h);
		add(m, &alloc, xasprintf("%s.%d.mlp.down_proj.weight", p, l), h, f);
		add(m, &alloc, xasprintf("%s.%d.input_layernorm.weight", p, l), h, 0);
		add(m, &alloc, xasprintf("%s.%d.post_attention_layernorm.weight", p, l), h, 0);
	}
	add(m, &alloc, xstrdup("model.norm.weight"), h, 0);
	if (!a->tied)
		add(m, &alloc, xstrdup("lm_head.weight"), (uint64_t)a->vocab, h);
	return 0;
}

void ms_release(struct ms_model *m)
{
	if (!m)
		return;
	FREE_MEMBERS(m->tensors, m->ntensors, name);
	memset(m, 0, sizeof(*m));
}

uint64_t ms_nparams(const struct ms_model *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < m->ntensors; i++)
		n += m->tensors[i].nelem;
	return n;
}

const char *ms_hf_class(const struct ms_model *m)
{
	return m->arch->fam == FAM_QWEN2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
}

void ms_hparams(const struct ms_model *m, struct ms_hparams *hp)
{
	const struct ms_arch *a = m->arch;
	*hp = (struct ms_hparams){
		.family = a->fam == FAM_QWEN2 ? "qwen2" : "llama",
		.hidden = a->hidden, .intermediate = a->intermediate, .layers = m->layers,
		.heads = a->heads, .kv_heads = a->kv_heads, .head_dim = a->head_dim, .vocab = a->vocab,
		.max_pos = a->max_pos, .bos = a->bos, .eos = a->eos,
		.rope_theta = a->rope_theta, .rms_eps = a->rms_eps, .tied = a->tied,
	};
}

static const char *torch_dtype(int dtype)
{
	return dtype == ST_F16 ? "float16" : dtype == ST_F32 ? "float32" : "bfloat16";
}

#define SET(obj, key, val) json_object_set_new(obj, key, val)

json_t *ms_config_json(const struct ms_model *m)
{
	const struct ms_arch *a = m->arch;
	json_t *c = json_object();
	json_t *archs = json_array();
	json_array_append_new(archs, json_string(ms_hf_class(m)));
	SET(c, "architectures", archs);
	if (a->fam == FAM_LLAMA)
		SET(c, "attention_bias", json_false());
	SET(c, "attention_dropout", json_real(0.0));
	SET(c, "bos_token_id", json_integer(a->bos));
	SET(c, "eos_token_id", json_integer(a->eos));
	if (a->explicit_head_dim)
		SET(c, "head_dim", json_integer(a->head_dim));
	SET(c, "hidden_act", json_string("silu"));
	SET(c, "hidden_size", json_integer(a->hidden));
	SET(c, "initializer_range", json_real(0.02));
	SET(c, "intermediate_size", json_integer(a->intermediate));
	SET(c, "max_position_embeddings", json_integer(a->max_pos));
	if (a->fam == FAM_QWEN2)
		SET(c, "max_window_layers", json_integer(m->layers));
	if (a->fam == FAM_LLAMA)
		SET(c, "mlp_bias", json_false());
	SET(c, "model_type", json_string(a->fam == FAM_QWEN2 ? "qwen2" : "llama"));
	SET(c, "num_attention_heads", json_integer(a->heads));
	SET(c, "num_hidden_layers", json_integer(m->layers));
	SET(c, "num_key_value_heads", json_integer(a->kv_heads));
	if (a->fam == FAM_LLAMA)
		SET(c, "pretraining_tp", json_integer(1));
	SET(c, "rms_norm_eps", json_real(a->rms_eps));
	if (a->rope_factor > 0) {
		json_t *rs = json_object();
		SET(rs, "factor", json_real(a->rope_factor));
		SET(rs, "high_freq_factor", json_real(4.0));
		SET(rs, "low_freq_factor", json_real(1.0));
		SET(rs, "original_max_position_embeddings", json_integer(8192));
		SET(rs, "rope_type", json_string("llama3"));
		SET(c, "rope_scaling", rs);
	} else if (a->fam == FAM_LLAMA) {
		SET(c, "rope_scaling", json_null());
	}
	SET(c, "rope_theta", json_real(a->rope_theta));
	if (a->fam == FAM_QWEN2)
		SET(c, "sliding_window", json_integer(a->sliding_window));
	SET(c, "tie_word_embeddings", json_boolean(a->tied));
	SET(c, "torch_dtype", json_string(torch_dtype(m->dtype)));
	SET(c, "transformers_version", json_string("4.45.0"));
	SET(c, "use_cache", json_true());
	if (a->fam == FAM_QWEN2) {
		SET(c, "use_mrope", json_false());
		SET(c, "use_sliding_window", json_false());
	}
	SET(c, "vocab_size", json_integer(a->vocab));
	return c;
}

json_t *ms_generation_config_json(const struct ms_model *m)
{
	const struct ms_arch *a = m->arch;
	json_t *g = json_object();
	SET(g, "bos_token_id", json_integer(a->bos));
	SET(g, "do_sample", json_false());
	SET(g, "eos_token_id", json_integer(a->eos));
	SET(g, "max_new_tokens", json_integer(2048));
	SET(g, "transformers_version", json_string("4.45.0"));
	return g;
}
