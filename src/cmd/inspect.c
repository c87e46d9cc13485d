#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "../cli.h"
#include "../opts.h"
#include "core/model/model.h"
#include "core/base/util.h"
#include "cmds.h"
#include "inspectout.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart inspect MODEL [--json] [--tensors]\n"
	"\n"
	"Validate a model, a safetensors directory or a GGUF file, and summarize\n"
	"it: architecture (config.json, the GGUF keys), shards, tensor and\n"
	"parameter counts, bytes per dtype.\n"
	"Safetensors: every shard header is checked: the 8-byte length (<= 100 MB\n"
	"and within the file), UTF-8 JSON object without duplicate keys, known\n"
	"dtypes, each tensor's byte span equal to its shape times its dtype size,\n"
	"tensors sorted, non-overlapping and covering the data region exactly; and\n"
	"the index (model.safetensors.index.json) against the shards: every tensor\n"
	"in exactly one shard, as the weight_map says, and total_size right.\n"
	"\n"
	"GGUF (llama.cpp's format): MODEL is a .gguf file, part 1\n"
	"of a -0000K-of-0000N.gguf split set, or a directory holding one. Checked:\n"
	"the magic, version 2 or 3, every key and value (all types, nested\n"
	"arrays), keys and tensor names unique, general.alignment a power of two,\n"
	"general.architecture present; each tensor at most 4 dims with an element\n"
	"count that fits, a known ggml type whose block divides ne[0], its offset\n"
	"aligned, its bytes inside the file and overlapping no other; the split\n"
	"parts against split.no, split.count and split.tensors.count.\n"
	"Exit status 1 with a message naming the file, tensor and rule on the\n"
	"first problem.\n",
	.after = INSPECT_JSON_KEYS
	"\n"
	"With --json, a failure is a JSON object on stdout too: {\"error\":\n"
	"{\"message\", \"command\", \"exit_status\", \"path\"}} (the message also on\n"
	"stderr).\n"
	"\n"
	"Examples:\n"
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
	cli_error_field("path", dir);
	struct st_model m;
	struct cs_err err;
	if (st_model_open(dir, &m, &err))
		return error("%s", err.msg);
	if (json)
		print_json(inspect_json(&m, tensors));
	else
		print_human(&m, tensors);
	st_model_release(&m);
	return 0;
}
