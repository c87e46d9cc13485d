#ifndef CS_RUNCFG_H
#define CS_RUNCFG_H
/*
 * runcfg: the options `run` and `bench` share (one option table group
 * over the engine's struct rr_opts), and the printing side of one run:
 * its progress, warnings, errors and result line. The run itself and its
 * record are the engine's (core/runrec.h). Command layer: prints.
 */
#include <jansson.h>

#include "core/bench/runrec.h"

struct run_cfg {
	struct rr_opts o;             /* RR_OPTS_INIT; callbacks print to stderr */
	/* --caches LIST and the sets' options (runcfg_caches): */
	const char *caches;
	enum cc_state states[CC_MAX_STATES];
	size_t nstates;
	struct cc_opts cc;
	int json, quiet;
	const char *model;            /* for the default server: a GGUF file gets llama.cpp */
};

void runcfg_init(struct run_cfg *c);
struct opt;
/* The run options as an option table group writing into c (one table per
 * process: the table is static). */
const struct opt *runcfg_options(struct run_cfg *c);
/* The server template to use: --server, else llama.cpp for a GGUF model
 * (c->model), else vllm if on the PATH, else this binary's refserve (said
 * once on stderr). "refserve" and "llama.cpp" select those explicitly.
 * NULL after printing why when the server cannot be used. */
const char *runcfg_server(struct run_cfg *c);

/* The checks of rr_check_* (runrec.h), reported: the CSV (0 or EXIT_FAIL),
 * the outputs against the inputs and a template (0 or a usage error). */
int runcfg_check_csv(const struct run_cfg *c);
int runcfg_check_outputs(const struct run_cfg *c, const char *const *models, size_t nmodels);
int runcfg_validate(const struct run_cfg *c, const char *tmpl, const char *what);
/* --caches and its options checked (at most max states: run takes one),
 * the cache directory set (default coldstart-caches/ next to the CSV),
 * sets left by killed runs removed; o.caches and o.cache_state (the first
 * state) set. 0 or a usage error. */
int runcfg_caches(struct run_cfg *c, size_t max);

/* After rr_run returned rc with err: the run's warnings, errors (the last
 * lines of the server's output on failure), its result line, and with
 * json_out the run as JSON (new reference). Returns the exit status: 0,
 * EXIT_FAIL, or 128+signal. */
int runcfg_finish(const struct run_cfg *c, const char *model, const char *mode, struct rr_record *rec, int rc,
		  const struct cs_err *err, json_t **json_out);
/* rr_run with the server runcfg_server picks, then runcfg_finish. */
int runcfg_execute(struct run_cfg *c, const char *model, const char *mode, struct rr_record *rec, json_t **json_out);

#endif
