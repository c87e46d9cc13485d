#ifndef CS_BENCHOUT_H
#define CS_BENCHOUT_H
/* bench's printing side: what each run and the end of the bench say (the
 * engine's callbacks, struct bench_cb), apart from cmd/bench.c's options. */
#include <jansson.h>

#include "core/bench/bench.h"
#include "core/bench/bench_netsim.h"
#include "runcfg.h"

/* What the command side keeps while the bench runs. */
struct bench_cli {
	struct run_cfg *cfg;
	int quiet;
	json_t *all;                   /* --json: every run */
};

/* The engine's callbacks (arg: the struct bench_cli). */
void bench_on_progress(const char *msg, void *arg);
void bench_on_notice(const char *msg, void *arg);
void bench_on_run_start(const struct bench *b, size_t k, const struct bench_arm *a, const char *path, void *arg);
int bench_on_run_done(const struct bench *b, size_t k, const struct bench_arm *a, const char *path,
		      struct rr_record *rec, int rc, const struct cs_err *err, void *arg);
/* After the runs (rc: theirs): the summary, the JSON, the sidecar's netsim
 * figures, the report. The exit status. */
int bench_finish(struct bench *b, struct bench_cli *c, const struct bench_netsim *ns, int rc);

#endif
