#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../cli.h"
#include "../opts.h"
#include "core/model/ckptwrite.h"
#include "core/model/gguf.h"
#include "core/model/ggufwrite.h"
#include "core/model/safetensors.h"
#include "core/base/util.h"
#include "cmds.h"
#include "core/base/banned.h"

static const char usage_text[] =
	"usage: coldstart mkmodel DIR --preset NAME [options]\n"
	"\n"
	"Write a synthetic Hugging Face checkpoint into DIR: config.json,\n"
	"generation_config.json and safetensors shards (with\n"
	"model.safetensors.index.json when there is more than one) holding the\n"
	"preset's real tensor names, shapes and order. Tensor data is\n"
	"pseudo-random and incompressible, small, finite and never zero; the same\n"
	"seed gives the same bytes. The checkpoint is written under a temporary\n"
	"name and renamed into place when complete, so DIR never holds half a model;\n"
	"the temporary of a writer that was killed (kill -9 included) is removed by\n"
	"the next mkmodel of DIR, and a live writer's never.\n"
	"DIR's path is printed on stdout.\n"
	"\n"
	"With --format gguf it writes a GGUF model llama.cpp loads instead: one file\n"
	"(PATH if it ends in .gguf, else PATH/model.gguf), or with --shard-size the\n"
	"PREFIX-0000K-of-0000N.gguf split layout. Tensor names, shapes and metadata\n"
	"are llama.cpp's for the preset's architecture (llama, qwen2), with a\n"
	"synthetic SentencePiece vocabulary of the preset's size; norms and biases\n"
	"are F32 and the weights --dtype (f16 by default, bf16, f32 or q8_0). The\n"
	"path of the file llama.cpp opens is printed on stdout.\n";

static const struct opts_list presets = { "Presets", ms_npresets, ms_preset_name, ms_preset_summary, 14 };
static const struct opts_help help = {
	usage_text,
	"Examples:\n"
	"  coldstart mkmodel /mnt/nvme0/models/qwen-0.5b --preset qwen2.5-0.5b\n"
	"  coldstart mkmodel m8b --preset llama-3.1-8b --layers 2 --shard-size 200M\n"
	"  coldstart mkmodel x --preset qwen2.5-7b --dry-run\n"
	"  coldstart mkmodel qwen.gguf --preset qwen2.5-0.5b --format gguf --dtype q8_0\n",
	&presets,
};

#define DTYPE_Q8_0 1000   /* GGUF only */

static int parse_dtype(const char *s)
{
	if (!strcasecmp(s, "q8_0"))
		return DTYPE_Q8_0;
	if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16"))
		return ST_BF16;
	if (!strcmp(s, "fp16") || !strcmp(s, "f16") || !strcmp(s, "float16"))
		return ST_F16;
	if (!strcmp(s, "fp32") || !strcmp(s, "f32") || !strcmp(s, "float32"))
		return ST_F32;
	return -1;
}

static int dtype_cb(const struct opt *o, const char *arg)
{
	int d = parse_dtype(arg);
	if (d < 0)
		return usage_error("invalid --dtype '%s' (bf16, fp16, fp32, or q8_0 with --format gguf)", arg);
	*(int *)o->value = d;
	return 0;
}

/* A plan as the dry run shows it, whichever the format. */
struct plan_view {
	const char *path_key, *path;       /* "dir" or "file" */
	const char *kind_key, *kind;       /* "architecture" HF class, or "format" gguf */
	const char *preset, *label, *dtype, *parts_label;
	int layers;
	uint64_t nparams, tensor_bytes, file_bytes;
	size_t ntensors, nparts;
	const char **part_name;
	size_t *part_tensors;
	uint64_t *part_bytes;
};

static int print_view(const struct plan_view *v, int json)
{
	char a[64], b[64];
	if (json) {
		json_t *j = json_object();
		json_object_set_new(j, v->path_key, json_string(v->path));
		json_object_set_new(j, "preset", json_string(v->preset));
		json_object_set_new(j, v->kind_key, json_string(v->kind));
		json_object_set_new(j, "layers", json_integer(v->layers));
		json_object_set_new(j, "dtype", json_string(v->dtype));
		json_object_set_new(j, "parameters", json_integer((json_int_t)v->nparams));
		json_object_set_new(j, "tensors", json_integer((json_int_t)v->ntensors));
		json_object_set_new(j, "tensor_bytes", json_integer((json_int_t)v->tensor_bytes));
		json_object_set_new(j, "file_bytes", json_integer((json_int_t)v->file_bytes));
		json_t *sh = json_array();
		for (size_t s = 0; s < v->nparts; s++) {
			json_t *o = json_object();
			json_object_set_new(o, "name", json_string(v->part_name[s]));
			json_object_set_new(o, "tensors", json_integer((json_int_t)v->part_tensors[s]));
			json_object_set_new(o, "bytes", json_integer((json_int_t)v->part_bytes[s]));
			json_array_append_new(sh, o);
		}
		json_object_set_new(j, "shards", sh);
		return print_json(j);
	}
	printf("preset:       %s (%s, %d layers, %s)\n", v->preset, v->label, v->layers, v->dtype);
	printf("parameters:   %s\n", fmt_thousands(a, sizeof(a), v->nparams));
	printf("tensors:      %zu\n", v->ntensors);
	printf("%-14s%zu\n", v->parts_label, v->nparts);
	for (size_t s = 0; s < v->nparts; s++)
		printf("  %-36s %5zu tensors  %s bytes\n", v->part_name[s], v->part_tensors[s],
		       fmt_thousands(a, sizeof(a), v->part_bytes[s]));
	printf("tensor bytes: %s\n", fmt_thousands(a, sizeof(a), v->tensor_bytes));
	printf("file bytes:   %s (%s)\n", fmt_thousands(a, sizeof(a), v->file_bytes),
	       fmt_bytes(b, sizeof(b), v->file_bytes));
	return 0;
}

static void view_parts(struct plan_view *v, size_t n)
{
	v->nparts = n;
	v->part_name = xcalloc(n ? n : 1, sizeof(char *));
	v->part_tensors = xcalloc(n ? n : 1, sizeof(size_t));
	v->part_bytes = xcalloc(n ? n : 1, sizeof(uint64_t));
}

static int view_print_free(struct plan_view *v, int json)
{
	int rc = print_view(v, json);
	free(v->part_name);
	free(v->part_tensors);
	free(v->part_bytes);
	return rc;
}

static int print_plan(const struct ck_plan *p, const char *preset, const char *dir, int json)
{
	struct plan_view v = { "dir", dir, "architecture", ms_hf_class(&p->model), preset, ms_hf_class(&p->model),
			       st_dtype_name(p->model.dtype), "shards:", p->model.layers, p->nparams, p->tensor_bytes,
			       p->file_bytes, p->model.ntensors, 0, NULL, NULL, NULL };
	view_parts(&v, p->nshards);
	for (size_t s = 0; s < p->nshards; s++) {
		v.part_name[s] = p->shards[s].name;
		v.part_tensors[s] = p->shards[s].ntensors;
		v.part_bytes[s] = p->shards[s].file_bytes;
	}
	return view_print_free(&v, json);
}

static int print_gguf_plan(const struct gw_plan *p, const char *preset, int json)
{
	struct plan_view v = { "file", p->parts[0].path, "format", "gguf", preset, "GGUF", gg_type_name(p->type),
			       "files:", p->model.layers, p->nparams, p->tensor_bytes, p->file_bytes, p->ntensors, 0,
			       NULL, NULL, NULL };
	view_parts(&v, p->nparts);
	for (size_t s = 0; s < p->nparts; s++) {
		v.part_name[s] = p->parts[s].path;
		v.part_tensors[s] = p->parts[s].ntensors;
		v.part_bytes[s] = p->parts[s].file_bytes;
	}
	return view_print_free(&v, json);
}

struct mk_args {
	const char *preset, *path;
	int dtype, force, dry, json, quiet;
	uint64_t shard, seed;
	int shard_given;
	long layers;
};

/* A plan's error: an unknown preset is a usage error. */
static int plan_error(const struct cs_err *err)
{
	if (err->code == EINVAL && !strncmp(err->msg, "unknown preset", 14))
		return usage_error("%s (see 'coldstart mkmodel --help')", err->msg);
	return error("%s", err->msg);
}

/* Write one of the plans with a progress bar, timed (*el seconds): 0, or
 * the exit status after saying why. */
static int write_plan(const struct mk_args *m, const struct ck_plan *cp, const struct gw_plan *gp, double *el)
{
	cli_catch_signals();
	struct progress pg;
	progress_init(&pg, "writing", m->quiet);
	struct ck_write_opts wo = { .dir = cp ? m->path : NULL, .force = m->force, .progress = progress_cb,
				    .progress_arg = &pg, .cancel = &cli_signal };
	struct cs_err err;
	uint64_t t0 = now_ns();
	int rc = cp ? ck_write(cp, &wo, &err) : gw_write(gp, &wo, &err);
	progress_done(&pg);
	*el = (double)(now_ns() - t0) / 1e9;
	if (!rc)
		return 0;
	if (err.code == ECANCELED) {
		error("interrupted; nothing was written to '%s'", m->path);
		return cli_signal_exit();
	}
	return error("%s", err.msg);
}

/* "wrote PRESET (N params, TYPE) to 'PATH': N shards, SIZE in S (RATE)" */
static void say_wrote(const struct mk_args *m, const char *path, uint64_t nparams, const char *type, size_t n,
		      const char *unit, uint64_t bytes, double el)
{
	char a[32], b[32], r[32];
	fprintf(stderr, "coldstart: mkmodel: wrote %s (%s params, %s) to '%s': %zu %s%s, %s in %.2fs (%s/s)\n",
		m->preset, fmt_thousands(a, sizeof(a), nparams), type, path, n, unit, n == 1 ? "" : "s",
		fmt_bytes(b, sizeof(b), bytes), el, fmt_bytes(r, sizeof(r), el > 0 ? (uint64_t)((double)bytes / el) : 0));
}

static int write_gguf(const struct mk_args *m)
{
	uint32_t type = m->dtype == DTYPE_Q8_0 ? GG_Q8_0 : m->dtype == ST_F32 ? GG_F32
					  : m->dtype == ST_BF16 ? GG_BF16 : GG_F16;
	struct gw_plan plan;
	struct cs_err err;
	if (gw_plan_build(m->preset, (int)m->layers, type, m->shard_given ? m->shard : 0, m->seed, m->path, &plan,
			  &err))
		return plan_error(&err);
	double el = 0;
	int rc = m->dry ? (print_gguf_plan(&plan, m->preset, m->json) ? EXIT_FAIL : 0) : write_plan(m, NULL, &plan, &el);
	if (!m->dry && !rc && !m->quiet) {
		char t[32];
		snprintf(t, sizeof(t), "GGUF %s", gg_type_name(plan.type));
		say_wrote(m, plan.parts[0].path, plan.nparams, t, plan.nparts, "file", plan.file_bytes, el);
		if (plan.nfallback)
			fprintf(stderr, "coldstart: mkmodel: %zu weight%s with rows not a multiple of 32 written as f16\n",
				plan.nfallback, plan.nfallback == 1 ? "" : "s");
	}
	if (!m->dry && !rc)
		printf("%s\n", plan.parts[0].path);
	gw_plan_release(&plan);
	return rc;
}

static int write_safetensors(const struct mk_args *m)
{
	struct ck_plan plan;
	struct cs_err err;
	if (ck_plan_build(m->preset, (int)m->layers, m->dtype < 0 ? ST_BF16 : m->dtype, m->shard, m->seed, &plan, &err))
		return plan_error(&err);
	double el = 0;
	int rc = m->dry ? (print_plan(&plan, m->preset, m->path, m->json) ? EXIT_FAIL : 0)
			 : write_plan(m, &plan, NULL, &el);
	if (!m->dry && !rc && !m->quiet)
		say_wrote(m, m->path, plan.nparams, st_dtype_name(plan.model.dtype), plan.nshards, "shard",
			  plan.file_bytes, el);
	if (!m->dry && !rc)
		printf("%s\n", m->path);
	ck_plan_release(&plan);
	return rc;
}

int cmd_mkmodel(int argc, char **argv)
{
	struct mk_args m = { .dtype = -1, .shard = CK_DEFAULT_SHARD_SIZE };
	const char *format = "safetensors";
	const struct opt opts[] = {
		OPT_STRING_('p', "preset", &m.preset, "NAME", "architecture to write (see below)"),
		OPT_STRING_(0, "format", &format, "FMT",
			"safetensors (default: a Hugging Face directory) or\ngguf (llama.cpp's format)"),
		OPT_CALLBACK_(0, "dtype", &m.dtype, "TYPE", dtype_cb,
			"bf16 (default), fp16 or fp32; gguf: f16 (default),\nbf16, f32 or q8_0"),
		OPT_SIZE_(0, "shard-size", &m.shard, "SIZE", 0, 0, "e.g. 5GB, 500M",
			"largest shard, default 5GB (as transformers); gguf:\none file unless given",
			.flags = OPTF_NONZERO, .seen = &m.shard_given),
		OPT_INT_(0, "layers", &m.layers, "N", 1, 100000, "a positive integer",
			"number of decoder layers (default: the preset's)"),
		OPT_U64_(0, "seed", &m.seed, "N", "a non-negative integer", "data seed (default 0)"),
		OPT_FLAG_('f', "force", &m.force, "replace DIR (gguf: the file) if it exists"),
		OPT_FLAG_('n', "dry-run", &m.dry, "print the plan, write nothing"),
		OPT_FLAG_(0, "json", &m.json, "with --dry-run: the plan as JSON"),
		OPT_FLAG_('q', "quiet", &m.quiet, "no progress bar or summary"),
		OPT_END_(),
	};
	int prc = opts_parse_one(opts, &help, argc, argv, "DIR", &m.path);
	if (prc >= 0)
		return prc;
	if (!m.preset)
		return usage_error("missing --preset (one of: tiny, qwen2.5-0.5b, llama-3.2-1b, qwen2.5-7b, llama-3.1-8b)");
	if (m.json && !m.dry)
		return usage_error("--json goes with --dry-run");
	if (!strcmp(format, "gguf"))
		return write_gguf(&m);
	if (strcmp(format, "safetensors"))
		return usage_error("invalid --format '%s' (safetensors or gguf)", format);
	if (m.dtype == DTYPE_Q8_0)
		return usage_error("--dtype q8_0 goes with --format gguf");
	return write_safetensors(&m);
}
