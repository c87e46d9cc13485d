#define _GNU_SOURCE
#include "phases.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/strbuf.h"
#include "core/base/util.h"
#include "core/base/banned.h"

void phases_init(struct phases *p)
{
	double *f = (double *)p;
	for (size_t i = 0; i < sizeof(*p) / sizeof(double); i++)
		f[i] = -1;
}

/* The finite decimal right after `key` in line (after blanks), if key
 * occurs, ending the word ("1.23 seconds", "1.23s"): never signed, nan,
 * inf or hex. */
static int num_after(const char *line, const char *key, double *out)
{
	const char *k = strstr(line, key);
	if (!k)
		return 0;
	const char *end, *s = k + strlen(key);
	double v;
	s += strspn(s, " ");
	if (*s == '-' || *s == '+' || parse_finite_prefix(s, &v, &end)) /* servers print no sign */
		return 0;
	if (*end == 's' && !isalnum((unsigned char)end[1]))
		end++;
	if (isalnum((unsigned char)*end) || *end == '.' || *end == '_')
		return 0;
	*out = v;
	return 1;
}

/* A count right after `key` (digits only: no sign, no fraction, at most
 * 12 digits), if key occurs. */
static int count_after(const char *line, const char *key, double *out)
{
	const char *k = strstr(line, key);
	if (!k)
		return 0;
	k += strlen(key);
	size_t n = strspn(k, "0123456789");
	if (!n || n > 12 || k[n] == '.' || (k[n] >= 'a' && k[n] <= 'z') || (k[n] >= 'A' && k[n] <= 'Z'))
		return 0;
	*out = (double)strtoll(k, NULL, 10);
	return 1;
}

/* llama.cpp's "llama_context: n_ctx                 = 4096" (older:
 * "llama_new_context_with_model: n_ctx      = 4096"), not n_ctx_seq,
 * n_ctx_train and the rest. */
static int llama_n_ctx(const char *line, double *out)
{
	const char *k = strstr(line, ": n_ctx ");
	if (!k)
		return 0;
	k += strlen(": n_ctx ");
	k += strspn(k, " ");
	return *k == '=' && count_after(k, "= ", out);
}

static void first(double *slot, double v)
{
	if (*slot < 0 && v >= 0)
		*slot = v;
}

/* llama.cpp's loader (any front end), llama-server, llama_serve.mjs. */
static void llama_line(struct phases *p, const char *line, double t)
{
	double v;
	if (strstr(line, "llama_model_loader: loaded meta data"))
		first(&p->t_load_start, t);
	if (llama_n_ctx(line, &v))
		first(&p->ctx_len, v);
	if (strncmp(line, "llama_serve: ", 13) == 0) {
		if (num_after(line, "model loaded in ", &v))
			first(&p->model_load_s, v);
		if (num_after(line, "context created in ", &v))
			first(&p->context_s, v);
		if (num_after(line, "first evaluation took ", &v)) {
			first(&p->first_eval_s, v);
			first(&p->t_weights_end, t);
		}
		if (strstr(line, "listening on http"))
			first(&p->t_startup, t);
		return;
	}
	/* llama-server: "main: model loaded" comes after its warm-up run. */
	if (strstr(line, "main: model loaded"))
		first(&p->t_weights_end, t);
	if (strstr(line, "server is listening on http"))
		first(&p->t_startup, t);
}

void phases_line(struct phases *p, const char *line, double t)
{
	double v, w;
	if (strstr(line, "Starting to load model"))
		first(&p->t_load_start, t);
	if (num_after(line, "Loading weights took ", &v)) {
		first(&p->weights_s, v);
		first(&p->t_weights_end, t);
	}
	/* current: "Model loading took 0.93 GiB memory and 1.23 seconds";
	 * earlier V1: "... 0.9276 GiB and 1.23 seconds"; V0: "... GB and ..." */
	if (num_after(line, "Model loading took ", &v)) {
		first(&p->model_gib, v);
		const char *and = strstr(line, " and ");
		if (and && num_after(and, " and ", &w))
			first(&p->model_load_s, w);
		first(&p->t_weights_end, t);
	}
	/* v0.6: "Loading model weights took 0.9276 GB" (no time) */
	if (num_after(line, "Loading model weights took ", &v)) {
		first(&p->model_gib, v);
		first(&p->t_weights_end, t);
	}
	if (num_after(line, "Dynamo bytecode transform time: ", &v))
		first(&p->dynamo_s, v);
	if (num_after(line, "torch.compile takes ", &v) || num_after(line, "torch.compile took ", &v))
		first(&p->compile_s, v);
	if (num_after(line, "Graph capturing finished in ", &v))
		first(&p->graph_s, v);
	const char *ie = strstr(line, "init engine (");
	if (ie) {
		const char *took = strstr(ie, ") took ");
		if (took && num_after(took, ") took ", &v))
			first(&p->engine_init_s, v);
	}
	if (num_after(line, "Available KV cache memory: ", &v))
		first(&p->kv_cache_gib, v);
	if (strstr(line, "Application startup complete."))
		first(&p->t_startup, t);
	/* The context it uses: "Using max model len 8192" (vLLM, refserve),
	 * "... with config: model=..., max_seq_len=8192, ..." (every vLLM). */
	if (count_after(line, "Using max model len ", &v) || count_after(line, ", max_seq_len=", &v))
		first(&p->ctx_len, v);
	llama_line(p, line, t);
}

void phases_summary(const struct phases *p, struct strbuf *b)
{
	const struct { const char *name; double v; } parts[] = {
		{ "weights", p->weights_s }, { "model load", p->model_load_s }, { "compile", p->compile_s },
		{ "graphs", p->graph_s },     { "engine init", p->engine_init_s },
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++)
		if (parts[i].v >= 0)
			strbuf_addf(b, "; %s %.3f s", parts[i].name, parts[i].v);
	if (p->ctx_len >= 0)
		strbuf_addf(b, "; context %.0f tokens", p->ctx_len);
}
