#ifndef CS_MODELSPEC_H
#define CS_MODELSPEC_H
/*
 * modelspec: architecture presets of real decoder-only models, and the list
 * of tensors (Hugging Face names, shapes, state_dict order) and config.json
 * they imply. Used by mkmodel to write synthetic checkpoints.
 *
 * Ownership: ms_build fills a struct ms_model that owns its tensor list;
 * release it with ms_release. Presets are static and immutable. Nothing prints.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/util.h"

struct ms_arch;

struct ms_tensor {
	char *name;
	int ndim;
	uint64_t shape[2];
	uint64_t nelem;
};

struct ms_model {
	const struct ms_arch *arch;
	int layers;
	int dtype;                 /* enum st_dtype: ST_BF16, ST_F16 or ST_F32 */
	size_t ntensors;
	struct ms_tensor *tensors; /* state_dict order */
};

/* Number of presets and their names, for help and error messages. */
size_t ms_npresets(void);
const char *ms_preset_name(size_t i);
const char *ms_preset_summary(size_t i);

/*
 * Build the tensor list for a preset. layers <= 0 keeps the preset's
 * default. Returns -1 with err naming the preset when it is unknown.
 */
int ms_build(const char *preset, int layers, int dtype, struct ms_model *m, struct cs_err *err);
void ms_release(struct ms_model *m);

uint64_t ms_nparams(const struct ms_model *m);
const char *ms_hf_class(const struct ms_model *m);

/* The hyperparameters a GGUF writer needs (the preset's, with the layer
 * count of the built model). family is "llama" or "qwen2", which are also
 * llama.cpp's architecture names. */
struct ms_hparams {
	const char *family;
	int64_t hidden, intermediate, layers, heads, kv_heads, head_dim, vocab, max_pos, bos, eos;
	double rope_theta, rms_eps;
	int tied;
};
void ms_hparams(const struct ms_model *m, struct ms_hparams *hp);

/* New references to config.json / generation_config.json contents. */
json_t *ms_config_json(const struct ms_model *m);
json_t *ms_generation_config_json(const struct ms_model *m);

#endif
