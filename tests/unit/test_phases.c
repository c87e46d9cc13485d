#define _GNU_SOURCE
#include "core/phases.h"

#include <math.h>
#include <stdio.h>

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
	return done_testing();
}
