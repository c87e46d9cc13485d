#ifndef CS_RUNCFG_H
#define CS_RUNCFG_H
/*
 * runcfg: the options `run` and `bench` share, and one measured run with
 * its output (CSV row, JSON, messages). Command layer: prints.
 */
#include <jansson.h>

#include "../core/runner.h"

struct run_cfg {
	const char *server;
	int shell;
	const char *ready;
	uint64_t timeout_ns, stop_timeout_ns, gpu_release_ns;
	enum cold_mode cold;
	long max_model_len;
	long port;
	const char *csv;
	const char *log;
	int log_is_dir;               /* bench: --log names the directory of the per-run logs */
	const char *notes;
	const char *name;
	int json, record_failures, quiet;
	int prefetch;                 /* jobs, 0 = off */
	int detached, any_owner;
	double staged_copy_s;         /* >= 0: a staged run; notes get copy_s, load_s, total_s */
};

void runcfg_init(struct run_cfg *c);
struct opt;
/* The run options as an option table group writing into c (one table per
 * process: the table is static). */
const struct opt *runcfg_options(struct run_cfg *c);
/* The server template to use: --server, else vllm if on the PATH, else this
 * binary's refserve (said once on stderr). "refserve" selects it explicitly. */
const char *runcfg_server(struct run_cfg *c);

/* Before the first run: the CSV, if any, must be appendable (right header,
 * writable, room on its file system) and its directory must exist (the
 * last level is created if missing, no more). Reports; 0 or EXIT_FAIL. */
#define CSV_MIN_ROOM (64u << 10)
int runcfg_check_csv(const struct run_cfg *c);

/* Before the first run: no output may be (or resolve to) an input or
 * another output -- the CSV, the log and its timeline files against each
 * other and against the models' files. Reports a usage error (2) or 0. */
int runcfg_check_outputs(const struct run_cfg *c, const char *const *models, size_t nmodels);
/* A server template that can be expanded (not empty, tokens known, quotes
 * closed); what names it in the message. Reports a usage error (2) or 0. */
int runcfg_validate(const struct run_cfg *c, const char *tmpl, const char *what);

/* One measured run of the server on model, recorded as storage mode `mode`.
 * extra_notes (may be NULL) go into the row after the run's own keys.
 * Returns 0 (ready, row written), EXIT_FAIL, or 128+signal. *json_out, if
 * non-NULL, receives the run as a JSON object (new reference). */
int runcfg_execute(struct run_cfg *c, const char *model, const char *mode, const char *extra_notes,
		   struct run_result *res, json_t **json_out);

#endif
