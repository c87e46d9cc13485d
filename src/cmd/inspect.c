#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../cli.h"
#include "../opts.h"
#include "core/model/model.h"
#include "core/base/util.h"
#include "cmds.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart inspect MODEL [--json] [--tensors]\n"
	"\n"
	"Validate a safetensors model directory and summarize it: architecture\n"
	"(from config.json), shards, tensor and parameter counts, bytes per dtype.\n"
	"Every shard header is checked: the 8-byte length (<= 100 MB and within the\n"
	"file), UTF-8 JSON object without duplicate keys, known dtypes, each\n"
	"tensor's byte span equal to its shape times its dtype size, tensors\n"
	"sorted, non-overlapping and covering the data region exactly; and the\n"
	"index (model.safetensors.index.json) against the shards: every tensor in\n"
	"exactly one shard, as the weight_map says, and total_size right.\n"
	"\n"
	"MODEL may also be a GGUF model (llama.cpp's format): a .gguf file, part 1\n"
	"of a -0000K-of-0000N.gguf split set, or a directory holding one. Checked:\n"
	"the magic, version 2 or 3, every key and value (all types, nested\n"
	"arrays), keys and tensor names unique, general.alignment a power of two,\n"
	"general.architecture present; each tensor at most 4 dims with an element\n"
	"count that fits, a known ggml type whose block divides ne[0], its offset\n"
	"aligned, its bytes inside the file and overlapping no other; the split\n"
	"parts against split.no, split.count and split.tensors.count.\n"
	"Exit status 1 with a message naming the file, tensor and rule on the\n"
	"first problem.\n",
	.after = "Examples:\n"
	"  coldstart inspect ~/.cache/huggingface/hub/models--Qwen--Qwen2.5-0.5B/snapshots/*/\n"
	"  coldstart inspect --tensors qwen2.5-0.5b-instruct-q8_0.gguf\n",
};

/* "[4096, 11008]": a tensor's shape (safetensors) or ne (GGUF). */
static void shape_text(const uint64_t *dims, unsigned ndim, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "[");
	for (unsigned i = 0; i < ndim && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%" PRIu64, i ? ", " : "", dims[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

/* One shard's entry and the model's totals, for both formats' JSON. */
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

/* One tensor of --tensors --json, named as its format names them (dims: taken over). */
static json_t *tensor_json(const char *name, const char *type_key, const char *type, const char *dims_key,
			   json_t *dims, const char *shard, uint64_t offset, uint64_t bytes)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, type_key, json_string(type));
	json_object_set_new(o, dims_key, dims);
	json_object_set_new(o, "shard", json_string(shard));
	json_object_set_new(o, "offset", json_integer((json_int_t)offset));
	json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
	return o;
}

static void totals_json(json_t *j, const struct st_model *m)
{
	json_object_set_new(j, "tensors", json_integer((json_int_t)m->ntensors));
	json_object_set_new(j, "parameters", json_integer((json_int_t)m->nparams));
	json_object_set_new(j, "tensor_bytes", json_integer((json_int_t)m->tensor_bytes));
	json_object_set_new(j, "file_bytes", json_integer((json_int_t)m->file_bytes));
}

static json_t *gguf_json(const struct st_model *m, int tensors)
{
	const struct gg_file *g0 = &m->shards[0].g;
	json_t *j = json_object();
	json_object_set_new(j, "format", json_string("gguf"));
	json_object_set_new(j, "path", json_string(m->dir));
	json_object_set_new(j, "file", json_string(m->entry));
	json_object_set_new(j, "version", json_integer(g0->version));
	json_object_set_new(j, "architecture", json_string(m->architecture));
	json_object_set_new(j, "name", g0->name ? json_string(g0->name) : json_null());
	json_object_set_new(j, "alignment", json_integer(g0->alignment));
	json_object_set_new(j, "layers", m->num_layers >= 0 ? json_integer(m->num_layers) : json_null());
	json_object_set_new(j, "hidden_size", m->hidden_size >= 0 ? json_integer(m->hidden_size) : json_null());
	json_object_set_new(j, "context_length", g0->context_length >= 0 ? json_integer(g0->context_length) : json_null());
	json_object_set_new(j, "tokenizer", g0->tokenizer ? json_string(g0->tokenizer) : json_null());
	json_object_set_new(j, "vocab_size", m->vocab_size >= 0 ? json_integer(m->vocab_size) : json_null());
	json_object_set_new(j, "keys", json_integer((json_int_t)g0->nkv));
	json_t *shards = json_array();
	for (size_t s = 0; s < m->nshards; s++) {
		const struct st_shard *sh = &m->shards[s];
		json_array_append_new(shards, shard_json(sh->name, sh->file_size, sh->g.data_start, sh->g.ntensors,
							 sh->g.nparams));
	}
	json_object_set_new(j, "shards", shards);
	totals_json(j, m);
	json_t *bd = json_object();
	for (int t = 0; t < GG_NTYPES; t++)
		if (m->params_by_ggtype[t])
			json_object_set_new(bd, gg_type_name((uint32_t)t), json_integer((json_int_t)m->bytes_by_ggtype[t]));
	json_object_set_new(j, "bytes_by_type", bd);
	if (tensors) {
		json_t *ta = json_array();
		for (size_t s = 0; s < m->nshards; s++) {
			const struct gg_file *g = &m->shards[s].g;
			for (size_t t = 0; t < g->ntensors; t++) {
				const struct gg_tensor *x = &g->tensors[t];
				json_t *ne = json_array();
				for (uint32_t d = 0; d < x->ndim; d++)
					json_array_append_new(ne, json_integer((json_int_t)x->ne[d]));
				json_array_append_new(ta, tensor_json(x->name, "type", gg_type_name(x->type), "ne", ne,
								      m->shards[s].name, g->data_start + x->offset, x->nbytes));
			}
		}
		json_object_set_new(j, "tensor_list", ta);
	}
	return j;
}

static void print_gguf(const struct st_model *m, int tensors)
{
	const struct gg_file *g0 = &m->shards[0].g;
	char a[64], b[64];
	printf("model:        %s (GGUF v%u)\n", m->entry, g0->version);
	printf("architecture: %s", m->architecture);
	if (g0->name)
		printf(" (%s)", g0->name);
	if (m->num_layers >= 0)
		printf(", %" PRId64 " layers", m->num_layers);
	if (m->hidden_size >= 0)
		printf(", hidden %" PRId64, m->hidden_size);
	if (g0->context_length >= 0)
		printf(", context %" PRId64, g0->context_length);
	printf("\n");
	if (g0->tokenizer)
		printf("tokenizer:    %s, %" PRIu64 " tokens\n", g0->tokenizer, g0->vocab);
	printf("keys:         %" PRIu64 ", alignment %u\n", g0->nkv, g0->alignment);
	printf("files:        %zu%s\n", m->nshards, m->nshards > 1 ? " (split)" : "");
	for (size_t s = 0; s < m->nshards; s++)
		printf("  %-36s %5zu tensors  %s bytes\n", m->shards[s].name, m->shards[s].g.ntensors,
		       fmt_thousands(a, sizeof(a), m->shards[s].file_size));
	printf("tensors:      %" PRIu64 "\n", m->ntensors);
	printf("parameters:   %s\n", fmt_thousands(a, sizeof(a), m->nparams));
	for (int t = 0; t < GG_NTYPES; t++)
		if (m->params_by_ggtype[t])
			printf("  %-8s      %s params, %s bytes\n", gg_type_name((uint32_t)t),
			       fmt_thousands(a, sizeof(a), m->params_by_ggtype[t]),
			       fmt_thousands(b, sizeof(b), m->bytes_by_ggtype[t]));
	printf("tensor bytes: %s\n", fmt_thousands(a, sizeof(a), m->tensor_bytes));
	printf("file bytes:   %s (%s)\n", fmt_thousands(a, sizeof(a), m->file_bytes),
	       fmt_bytes(b, sizeof(b), m->file_bytes));
	if (!tensors)
		return;
	printf("\n");
	for (size_t s = 0; s < m->nshards; s++) {
		const struct gg_file *g = &m->shards[s].g;
		for (size_t t = 0; t < g->ntensors; t++) {
			char sh[256];
			shape_text(g->tensors[t].ne, g->tensors[t].ndim, sh, sizeof(sh));
			printf("%-60s %-8s %-20s %s\n", g->tensors[t].name, gg_type_name(g->tensors[t].type), sh,
			       m->shards[s].name);
		}
	}
}

static json_t *model_json(const struct st_model *m, int tensors)
{
	if (m->format == ST_FORMAT_GGUF)
		return gguf_json(m, tensors);
	json_t *j = json_object();
	json_object_set_new(j, "dir", json_string(m->dir));
	json_object_set_new(j, "architecture", m->architecture ? json_string(m->architecture) : json_null());
	json_object_set_new(j, "model_type", m->model_type ? json_string(m->model_type) : json_null());
	json_object_set_new(j, "torch_dtype", m->torch_dtype ? json_string(m->torch_dtype) : json_null());
	json_object_set_new(j, "layers", m->num_layers >= 0 ? json_integer(m->num_layers) : json_null());
	json_object_set_new(j, "hidden_size", m->hidden_size >= 0 ? json_integer(m->hidden_size) : json_null());
	json_object_set_new(j, "indexed", json_boolean(m->has_index));
	json_t *shards = json_array();
	for (size_t s = 0; s < m->nshards; s++) {
		const struct st_shard *sh = &m->shards[s];
		uint64_t params = 0;
		for (size_t t = 0; t < sh->h.ntensors; t++)
			params += sh->h.tensors[t].nelem;
		json_array_append_new(shards, shard_json(sh->name, sh->file_size, sh->h.header_len, sh->h.ntensors, params));
	}
	json_object_set_new(j, "shards", shards);
	totals_json(j, m);
	json_t *bd = json_object();
	for (int d = 0; d < ST_NDTYPES; d++)
		if (m->bytes_by_dtype[d])
			json_object_set_new(bd, st_dtype_name(d), json_integer((json_int_t)m->bytes_by_dtype[d]));
	json_object_set_new(j, "bytes_by_dtype", bd);
	json_t *files = json_array();
	for (size_t i = 0; i < m->nfiles; i++)
		json_array_append_new(files, json_string(m->files[i]));
	json_object_set_new(j, "files", files);
	if (tensors) {
		json_t *ta = json_array();
		for (size_t s = 0; s < m->nshards; s++) {
			for (size_t t = 0; t < m->shards[s].h.ntensors; t++) {
				const struct st_tensor *x = &m->shards[s].h.tensors[t];
				json_t *shape = json_array();
				for (int d = 0; d < x->ndim; d++)
					json_array_append_new(shape, json_integer((json_int_t)x->shape[d]));
				json_array_append_new(ta, tensor_json(x->name, "dtype", st_dtype_name(x->dtype), "shape", shape,
								      m->shards[s].name, m->shards[s].h.data_start + x->begin,
								      x->end - x->begin));
			}
		}
		json_object_set_new(j, "tensor_list", ta);
	}
	return j;
}

static void print_human(const struct st_model *m, int tensors)
{
	char a[64], b[64];
	if (m->format == ST_FORMAT_GGUF) {
		print_gguf(m, tensors);
		return;
	}
	printf("model:        %s\n", m->dir);
	if (m->architecture || m->model_type) {
		printf("architecture: %s", m->architecture ? m->architecture : "?");
		if (m->model_type)
			printf(" (%s)", m->model_type);
		if (m->num_layers >= 0)
			printf(", %" PRId64 " layers", m->num_layers);
		if (m->hidden_size >= 0)
			printf(", hidden %" PRId64, m->hidden_size);
		if (m->torch_dtype)
			printf(", %s", m->torch_dtype);
		printf("\n");
	} else {
		printf("architecture: unknown (no config.json)\n");
	}
	printf("shards:       %zu%s\n", m->nshards, m->has_index ? " (indexed)" : "");
	for (size_t s = 0; s < m->nshards; s++)
		printf("  %-36s %5zu tensors  %s bytes\n", m->shards[s].name, m->shards[s].h.ntensors,
		       fmt_thousands(a, sizeof(a), m->shards[s].file_size));
	printf("tensors:      %" PRIu64 "\n", m->ntensors);
	printf("parameters:   %s\n", fmt_thousands(a, sizeof(a), m->nparams));
	for (int d = 0; d < ST_NDTYPES; d++)
		if (m->bytes_by_dtype[d])
			printf("  %-8s      %s params, %s bytes\n", st_dtype_name(d),
			       fmt_thousands(a, sizeof(a), m->params_by_dtype[d]),
			       fmt_thousands(b, sizeof(b), m->bytes_by_dtype[d]));
	printf("tensor bytes: %s\n", fmt_thousands(a, sizeof(a), m->tensor_bytes));
	printf("file bytes:   %s (%s)\n", fmt_thousands(a, sizeof(a), m->file_bytes),
	       fmt_bytes(b, sizeof(b), m->file_bytes));
	if (tensors) {
		printf("\n");
		for (size_t s = 0; s < m->nshards; s++) {
			for (size_t t = 0; t < m->shards[s].h.ntensors; t++) {
				const struct st_tensor *x = &m->shards[s].h.tensors[t];
				char sh[256];
				shape_text(x->shape, (unsigned)x->ndim, sh, sizeof(sh));
				printf("%-60s %-8s %-20s %s\n", x->name, st_dtype_name(x->dtype), sh,
				       m->shards[s].name);
			}
		}
	}
}

int cmd_inspect(int argc, char **argv)
{
	int json = 0, tensors = 0;
	const struct opt opts[] = {
		OPT_FLAG_(0, "json", &json, "machine-readable summary on stdout"),
		OPT_FLAG_('t', "tensors", &tensors, "also list every tensor (name, dtype, shape, shard)"),
		OPT_END_(),
	};
	const char *dir;
	int rc = opts_parse_one(opts, &help, argc, argv, "MODEL", &dir);
	if (rc >= 0)
		return rc;
	struct st_model m;
	struct cs_err err;
	if (st_model_open(dir, &m, &err))
		return error("%s", err.msg);
	if (json)
		print_json(model_json(&m, tensors));
	else
		print_human(&m, tensors);
	st_model_release(&m);
	return 0;
}
