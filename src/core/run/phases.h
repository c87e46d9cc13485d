#ifndef CS_PHASES_H
#define CS_PHASES_H
/*
 * phases: read a server's start-up phases from its log lines, in the formats
 * of vLLM across versions (v0.6 V0 to current V1), of refserve / the
 * transformers stand-in, and of llama.cpp (its loader's lines, llama-server's,
 * and coldstart's llama_serve.mjs on node-llama-cpp). Each line is fed with its offset from launch;
 * the parser keeps the first value of each phase. Unknown lines are ignored;
 * nothing here allocates, prints or fails, so it is safe on any input.
 *
 * Times are seconds, ctx_len a count of tokens; -1 means "not seen". A
 * value is taken only as a plain decimal number (no sign, hex, inf or nan):
 * a line that says anything else sets nothing.
 */

struct phases {
	double t_load_start;     /* offset of "Starting to load model" */
	double t_weights_end;    /* offset of the weights / model loading line */
	double weights_s;        /* "Loading weights took X seconds" */
	double model_load_s;     /* "Model loading took ... and X seconds" */
	double model_gib;        /* memory of the weights, GiB (GB in old vLLM) */
	double dynamo_s;         /* "Dynamo bytecode transform time: X s" */
	double compile_s;        /* "torch.compile takes/took X s in total" */
	double graph_s;          /* "Graph capturing finished in X secs" */
	double engine_init_s;    /* "init engine (...) took X seconds|s" */
	double kv_cache_gib;     /* "Available KV cache memory: X GiB" */
	double t_startup;        /* offset of "Application startup complete." (llama.cpp:
				  * "listening on") */
	/* llama.cpp: t_load_start is the loader's "loaded meta data" line and
	 * t_weights_end the end of the first evaluation (llama-server: "model
	 * loaded", after its warm-up run), since with mmap the weights arrive
	 * by page faults during that first evaluation. */
	double context_s;        /* "context created in X s" */
	double first_eval_s;     /* "first evaluation took X s" */
	/* The context length the server says it uses: vLLM's "Using max model
	 * len N" or its config line's max_seq_len=N (refserve: the former),
	 * llama.cpp's "n_ctx = N". */
	double ctx_len;
};

void phases_init(struct phases *p);
void phases_line(struct phases *p, const char *line, double t);
/* "; weights 4.100 s; graphs 2.000 s; context 2048 tokens": the phases
 * seen (weights, model load, compile, graphs, engine init, the context),
 * appended to b for a one-line summary. */
struct strbuf;
void phases_summary(const struct phases *p, struct strbuf *b);

#endif
