#define _GNU_SOURCE
#include "core/run/phases.h"

#include <math.h>
#include <stdio.h>

#include "core/base/strbuf.h"
#include "tap.h"

#ifndef LOGS
#define LOGS "tests/fixtures/logs"
#endif

/* Feed a sample log, line i at offset i seconds. */
static int feed(const char *name, struct phases *p)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", LOGS, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	phases_init(p);
	char line[4096];
	for (int i = 0; fgets(line, sizeof(line), f); i++) {
		line[strcspn(line, "\n")] = 0;
		phases_line(p, line, i);
	}
	fclose(f);
	return 0;
}

#define near(a, b) (fabs((a) - (b)) < 1e-6)

int main(void)
{
	struct phases p;
	ok(feed("vllm-0.6.txt", &p) == 0, "v0.6 sample");
	ok(near(p.t_load_start, 1) && near(p.t_weights_end, 3), "v0.6: load start and weights lines");
	ok(near(p.model_gib, 0.9276) && p.model_load_s < 0, "v0.6: GB, no time");
	ok(near(p.graph_s, 9) && near(p.t_startup, 7), "v0.6: graph capture and startup");

	ok(feed("vllm-0.7-v0.txt", &p) == 0, "v0.7 (V0) sample");
	ok(near(p.model_load_s, 3.912345) && near(p.model_gib, 14.2474), "V0: Model loading took X GB and Y seconds");
	ok(near(p.graph_s, 11) && near(p.engine_init_s, 13.84), "V0: graph capture with GiB, init engine seconds");
	ok(near(p.t_weights_end, 4), "V0: first weights line wins");

	ok(feed("vllm-0.8-v1.txt", &p) == 0, "v0.8 (early V1) sample");
	ok(near(p.weights_s, 4.71) && near(p.model_load_s, 5.023411) && near(p.model_gib, 14.9889), "V1: weights and model loading (GiB and)");
	ok(near(p.dynamo_s, 6.83) && near(p.compile_s, 20.78), "V1: dynamo and 'torch.compile takes'");
	ok(near(p.graph_s, 17) && near(p.engine_init_s, 48.01), "V1: graph and init engine");

	ok(feed("vllm-0.11-v1.txt", &p) == 0, "v0.11 (current) sample with process prefixes");
	ok(near(p.weights_s, 3.02) && near(p.model_load_s, 3.711006) && near(p.model_gib, 14.2488), "current: 'GiB memory and'");
	ok(near(p.compile_s, 7.68) && near(p.kv_cache_gib, 104.11), "current: 'torch.compile took', KV cache memory");
	ok(near(p.engine_init_s, 24.02) && near(p.t_startup, 12), "current: 'took X s (compilation: Y s)', prefixed startup line");
	ok(near(p.t_load_start, 1), "current: load start");

	ok(feed("refserve.txt", &p) == 0, "refserve sample (captured on an H200)");
	ok(near(p.weights_s, 7.16) && near(p.model_load_s, 7.378353) && near(p.t_startup, 6), "refserve: weights, model loading, startup");
	ok(p.compile_s < 0 && p.graph_s < 0, "refserve: no compile or graph phases");

	/* Captured from llama.cpp (node-llama-cpp 3.21.1's build) through
	 * llama_serve.mjs, a 0.5B Qwen2 GGUF; line i is offset i - 1. */
	ok(feed("llama.cpp-mmap.txt", &p) == 0, "llama.cpp mmap sample");
	ok(near(p.t_load_start, 0) && near(p.model_load_s, 1.015), "llama.cpp: loader's first line, model loaded in X s");
	ok(near(p.context_s, 0.268) && near(p.first_eval_s, 0.035), "llama.cpp: context and first evaluation");
	ok(near(p.t_weights_end, 127) && near(p.t_startup, 128), "llama.cpp: weights end with the first evaluation; listening");
	ok(p.weights_s < 0 && p.compile_s < 0 && p.graph_s < 0, "llama.cpp: no vLLM phases");
	ok(feed("llama.cpp-no-mmap.txt", &p) == 0 && near(p.model_load_s, 2.226) && near(p.first_eval_s, 0.025),
	   "llama.cpp --no-mmap sample");
	ok(feed("llama.cpp-direct-io.txt", &p) == 0 && near(p.model_load_s, 2.503) && near(p.context_s, 0.257),
	   "llama.cpp direct I/O sample");
	ok(feed("llama.cpp-vocab-only.txt", &p) == 0 && near(p.model_load_s, 0.769) && p.first_eval_s < 0 &&
	   p.t_weights_end < 0 && near(p.t_startup, 54), "llama.cpp vocab-only: no context, no evaluation");
	ok(feed("llama.cpp-corrupt.txt", &p) == 0 && p.t_load_start < 0 && p.model_load_s < 0 && p.t_startup < 0,
	   "llama.cpp corrupt model: no phase");

	phases_init(&p);
	phases_line(&p, "llama_serve: model loaded in soon s", 1);
	phases_line(&p, "llama_serve: first evaluation took", 2);
	ok(p.model_load_s < 0 && p.first_eval_s < 0 && p.t_weights_end < 0, "llama.cpp garbage leaves phases unset");

	phases_init(&p);
	phases_line(&p, "Loading weights took banana seconds", 1);
	phases_line(&p, "init engine (profile", 2);
	phases_line(&p, "", 3);
	ok(p.weights_s < 0 && p.engine_init_s < 0, "garbage leaves phases unset");

	/* Only plain decimal numbers: nothing infinite, hex or signed enters a row. */
	const char *bad[] = { "Loading weights took inf seconds", "Loading weights took nan seconds",
			      "Loading weights took 0x10 seconds", "Loading weights took 1e999 seconds",
			      "Loading weights took -3 seconds", "Loading weights took infinity seconds" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		phases_init(&p);
		phases_line(&p, bad[i], 1);
		if (!ok(p.weights_s < 0 && p.t_weights_end < 0, "not a plain number, not a phase"))
			printf("#   line: %s -> %g\n", bad[i], p.weights_s);
	}
	phases_init(&p);
	phases_line(&p, "Model loading took 1e-05 GiB memory and 0.25 seconds", 1);
	ok(near(p.model_gib, 1e-05) && near(p.model_load_s, 0.25), "an exponent, as Python prints small numbers");

	/* The context length the server says it uses. */
	ok(feed("llama.cpp-mmap.txt", &p) == 0 && near(p.ctx_len, 256), "llama.cpp: n_ctx (not n_ctx_seq or n_ctx_train)");
	ok(feed("vllm-0.11-v1.txt", &p) == 0 && p.ctx_len < 0, "a log that does not say it: unset");
	phases_init(&p);
	phases_line(&p, "(EngineCore_DP0 pid=4800) INFO 11-22 10:01:05 [model.py:1510] Using max model len 8192", 1);
	phases_line(&p, "INFO 11-22 10:01:06 [core.py:77] Initializing a V1 LLM engine (v0.11.0) with config: "
			"model='/m', dtype=torch.bfloat16, max_seq_len=4096, download_dir=None", 2);
	ok(near(p.ctx_len, 8192), "vLLM: 'Using max model len', the first line saying it");
	phases_init(&p);
	phases_line(&p, "INFO 11-22 10:01:06 [llm_engine.py:237] Initializing an LLM engine (v0.6.3) with config: "
			"model='/m', dtype=torch.bfloat16, max_seq_len=32768, download_dir=None", 2);
	ok(near(p.ctx_len, 32768), "vLLM V0: the config line's max_seq_len");
	phases_init(&p);
	phases_line(&p, "llama_new_context_with_model: n_ctx      = 2048", 1);
	ok(near(p.ctx_len, 2048), "older llama.cpp: llama_new_context_with_model: n_ctx");
	const char *badlen[] = { "Using max model len -1", "Using max model len 0x2000", "Using max model len 8192.5",
				 "Using max model len 99999999999999", "llama_context: n_ctx_seq = 256",
				 "Using max model len inf", ", max_seq_len=None," };
	for (size_t i = 0; i < sizeof(badlen) / sizeof(*badlen); i++) {
		phases_init(&p);
		phases_line(&p, badlen[i], 1);
		if (!ok(p.ctx_len < 0, "not a plain count, not a context length"))
			printf("#   line: %s -> %g\n", badlen[i], p.ctx_len);
	}

	/* The one-line summary exec logs at ready. */
	struct strbuf b = STRBUF_INIT;
	phases_init(&p);
	phases_summary(&p, &b);
	ok(!b.buf || !*b.buf, "nothing seen: nothing said");
	p.weights_s = 4.1;
	p.graph_s = 2;
	p.ctx_len = 2048;
	phases_summary(&p, &b);
	is_str(b.buf, "; weights 4.100 s; graphs 2.000 s; context 2048 tokens", "what was seen, in order");
	strbuf_release(&b);
	return done_testing();
}
