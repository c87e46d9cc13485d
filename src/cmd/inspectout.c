#define _GNU_SOURCE
#include "inspectout.h"

#include "core/base/banned.h"

static json_t *int_or_null(int64_t v)
{
	return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *shard_json(const char *name, uint64_t file_bytes, uint64_t header_bytes, uint64_t tensors,
			  uint64_t params)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "file_bytes", json_integer((json_int_t)file_bytes));
	json_object_set_new(o, "header_bytes", json_integer((json_int_t)header_bytes));
	json_object_set_new(o, "tensors", json_integer((json_int_t)tensors));
	json_object_set_new(o, "parameters", json_integer((json_int_t)params));
	return o;
}

/* One tensor of tensor_list: shape outermost first (dims as they come,
 * reversed for GGUF's ne, which is then given too). */
static json_t *tensor_json(const char *name, const char *dtype, const uint64_t *dims, unsigned ndim, int gguf,
			   const char *shard, uint64_t offset, uint64_t bytes)
{
	json_t *o = json_object(), *shape = json_array();
	for (unsigned d = 0; d < ndim; d++)
		json_array_append_new(shape, json_integer((json_int_t)dims[gguf ? ndim - 1 - d : d]));
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "dtype", json_string(dtype));
	json_object_set_new(o, "shape", shape);
	if (gguf) {
		json_t *ne = json_array();
		for (unsigned d = 0; d < ndim; d++)
			json_array_append_new(ne, json_integer((json_int_t)dims[d]));
		json_object_set_new(o, "ne", ne);
	}
	json_object_set_new(o, "shard", json_string(shard));
	json_object_set_new(o, "offset", json_integer((json_int_t)offset));
	json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
	return o;
}

/* dtype and dtypes, from each type's parameters and bytes. */
static void dtypes_json(json_t *j, int n, const uint64_t *params, const uint64_t *bytes,
			const char *(*name)(int t))
{
	json_t *all = json_object();
	int top = -1;
	for (int t = 0; t < n; t++) {
		if (!params[t] && !bytes[t])
			continue;
		json_object_set_new(all, name(t), json_pack("{s:I,s:I}", "parameters", (json_int_t)params[t], "bytes",
							    (json_int_t)bytes[t]));
		if (top < 0 || bytes[t] > bytes[top])
			top = t;
	}
	json_object_set_new(j, "dtype", top >= 0 ? json_string(name(top)) : json_null());
	json_object_set_new(j, "dtypes", all);
}

static const char *gg_name(int t)
{
	return gg_type_name((uint32_t)t);
}

static json_t *tensors_json(const struct st_model *m, int gguf)
{
	json_t *ta = json_array();
	for (size_t s = 0; s < m->nshards; s++) {
		const struct st_shard *sh = &m->shards[s];
		size_t n = gguf ? sh->g.ntensors : sh->h.ntensors;
		for (size_t t = 0; t < n; t++) {
			if (gguf) {
				const struct gg_tensor *x = &sh->g.tensors[t];
				json_array_append_new(ta, tensor_json(x->name, gg_type_name(x->type), x->ne, x->ndim, 1,
								      sh->name, sh->g.data_start + x->offset, x->nbytes));
			} else {
				const struct st_tensor *x = &sh->h.tensors[t];
				json_array_append_new(ta, tensor_json(x->name, st_dtype_name(x->dtype), x->shape,
								      (unsigned)x->ndim, 0, sh->name,
								      sh->h.data_start + x->begin, x->end - x->begin));
			}
		}
	}
	return ta;
}

/* Each format's own keys. */
static void own_json(json_t *j, const struct st_model *m)
{
	if (m->format != ST_FORMAT_GGUF) {
		json_object_set_new(j, "model_type", str_or_null(m->model_type));
		json_object_set_new(j, "torch_dtype", str_or_null(m->torch_dtype));
		json_object_set_new(j, "indexed", json_boolean(m->has_index));
		return;
	}
	const struct gg_file *g0 = &m->shards[0].g;
	json_object_set_new(j, "version", json_integer(g0->version));
	json_object_set_new(j, "name", str_or_null(g0->name));
	json_object_set_new(j, "alignment", json_integer(g0->alignment));
	json_object_set_new(j, "tokenizer", str_or_null(g0->tokenizer));
	json_object_set_new(j, "keys", json_integer((json_int_t)g0->nkv));
}

json_t *inspect_json(const struct st_model *m, int tensors)
{
	int gguf = m->format == ST_FORMAT_GGUF;
	json_t *j = json_object();
	json_object_set_new(j, "format", json_string(gguf ? "gguf" : "safetensors"));
	json_object_set_new(j, "path", json_string(m->dir));
	json_object_set_new(j, "file", str_or_null(m->entry));
	json_object_set_new(j, "architecture", str_or_null(m->architecture));
	json_object_set_new(j, "layers", int_or_null(m->num_layers));
	json_object_set_new(j, "hidden_size", int_or_null(m->hidden_size));
	json_object_set_new(j, "vocab_size", int_or_null(m->vocab_size));
	json_object_set_new(j, "context_length", int_or_null(gguf ? m->shards[0].g.context_length : -1));
	if (gguf)
		dtypes_json(j, GG_NTYPES, m->params_by_ggtype, m->bytes_by_ggtype, gg_name);
	else
		dtypes_json(j, ST_NDTYPES, m->params_by_dtype, m->bytes_by_dtype, st_dtype_name);
	json_object_set_new(j, "tensors", json_integer((json_int_t)m->ntensors));
	json_object_set_new(j, "parameters", json_integer((json_int_t)m->nparams));
	json_object_set_new(j, "tensor_bytes", json_integer((json_int_t)m->tensor_bytes));
	json_object_set_new(j, "file_bytes", json_integer((json_int_t)m->file_bytes));
	json_t *shards = json_array();
	for (size_t s = 0; s < m->nshards; s++) {
		const struct st_shard *sh = &m->shards[s];
		uint64_t params = 0;
		for (size_t t = 0; !gguf && t < sh->h.ntensors; t++)
			params += sh->h.tensors[t].nelem;
		json_array_append_new(shards, gguf ? shard_json(sh->name, sh->file_size, sh->g.data_start, sh->g.ntensors,
								sh->g.nparams)
						   : shard_json(sh->name, sh->file_size, sh->h.header_len, sh->h.ntensors,
								params));
	}
	json_object_set_new(j, "shards", shards);
	json_t *files = json_array();
	for (size_t i = 0; i < m->nfiles; i++)
		json_array_append_new(files, json_string(m->files[i]));
	json_object_set_new(j, "files", files);
	own_json(j, m);
	if (tensors)
		json_object_set_new(j, "tensor_list", tensors_json(m, gguf));
	return j;
}
