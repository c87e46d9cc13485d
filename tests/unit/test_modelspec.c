#include "core/model/modelspec.h"
#include "core/model/safetensors.h"

#include "tap.h"

static void count_is(const char *preset, unsigned long long want, size_t want_tensors)
{
	struct ms_model m;
	struct cs_err e;
	int r = ms_build(preset, 0, ST_BF16, &m, &e);
	ok(r == 0, "build %s", preset);
	is_int(ms_nparams(&m), want, "%s parameter count", preset);
	is_int(m.ntensors, want_tensors, "%s tensor count", preset);
	/* Each name once: the writers would otherwise write a checkpoint
	 * that every reader refuses (a tensor defined twice). */
	size_t dups = 0;
	for (size_t i = 0; i < m.ntensors; i++)
		for (size_t j = i + 1; j < m.ntensors; j++)
			dups += !strcmp(m.tensors[i].name, m.tensors[j].name);
	is_int(dups, 0, "%s: no tensor name twice", preset);
	ms_release(&m);
}

int main(void)
{
	/* Published parameter counts of the real models. */
	count_is("qwen2.5-0.5b", 494032768ULL, 1 + 24 * 12 + 1);
	count_is("llama-3.2-1b", 1235814400ULL, 1 + 16 * 9 + 1);
	count_is("qwen2.5-7b", 7615616512ULL, 1 + 28 * 12 + 2);
	count_is("llama-3.1-8b", 8030261248ULL, 1 + 32 * 9 + 2);
	count_is("llama-3.1-70b", 70553706496ULL, 1 + 80 * 9 + 2);
	count_is("tiny", 19286272ULL, 1 + 4 * 9 + 2);

	struct ms_model m;
	struct cs_err e;
	ok(ms_build("gpt-5", 0, ST_BF16, &m, &e) < 0 && strstr(e.msg, "unknown preset 'gpt-5'"), "unknown preset");
	ok(ms_build("tiny", 0, ST_I32, &m, &e) < 0, "unsupported dtype");

	ok(ms_build("qwen2.5-7b", 2, ST_F16, &m, &e) == 0, "qwen2.5-7b with 2 layers");
	is_str(m.tensors[0].name, "model.embed_tokens.weight", "first tensor is the embedding");
	is_str(m.tensors[1].name, "model.layers.0.self_attn.q_proj.weight", "then layer 0 q_proj");
	is_int(m.tensors[1].shape[0], 3584, "q_proj rows");
	is_str(m.tensors[4].name, "model.layers.0.self_attn.k_proj.bias", "qwen2 has qkv biases");
	is_int(m.tensors[3].shape[0], 512, "k_proj rows = kv_heads * head_dim");
	is_str(m.tensors[m.ntensors - 1].name, "lm_head.weight", "untied: lm_head last");
	json_t *c = ms_config_json(&m);
	is_int(json_integer_value(json_object_get(c, "num_hidden_layers")), 2, "config follows --layers");
	is_str(json_string_value(json_object_get(c, "torch_dtype")), "float16", "config torch_dtype");
	is_str(json_string_value(json_array_get(json_object_get(c, "architectures"), 0)), "Qwen2ForCausalLM",
	       "architectures");
	json_decref(c);
	ms_release(&m);

	ok(ms_build("llama-3.2-1b", 0, ST_BF16, &m, &e) == 0, "llama-3.2-1b");
	c = ms_config_json(&m);
	ok(json_is_true(json_object_get(c, "tie_word_embeddings")), "tied embeddings in config");
	is_str(json_string_value(json_object_get(json_object_get(c, "rope_scaling"), "rope_type")), "llama3",
	       "llama3 rope scaling");
	json_decref(c);
	is_str(m.tensors[m.ntensors - 1].name, "model.norm.weight", "tied: no lm_head");
	ms_release(&m);
	return done_testing();
}
