#ifndef CS_RUNCFG_H
#define CS_RUNCFG_H
/*
 * runcfg: the options `run` and `bench` share, and one measured run with
 * its output (CSV row, JSON, messages). Command layer: prints.
 */
#include <getopt.h>
#include <jansson.h>

#include "../core/runner.h"

enum {
	OPT_SERVER = 1000, OPT_SHELL, OPT_READY, OPT_TIMEOUT, OPT_STOP_TIMEOUT, OPT_COLD, OPT_MAX_MODEL_LEN,
	OPT_PORT, OPT_CSV, OPT_LOG, OPT_NOTES, OPT_JSON, OPT_RECORD_FAILURES, OPT_GPU_RELEASE, OPT_QUIET, OPT_NAME, OPT_PREFETCH,
	OPT_DETACHED, OPT_READY_OWNER, OPT_RUNCFG_END
};

#define RUNCFG_LONGOPTS \
	{ "server", required_argument, NULL, OPT_SERVER }, \
	{ "shell", no_argument, NULL, OPT_SHELL }, \
	{ "ready", required_argument, NULL, OPT_READY }, \
	{ "timeout", required_argument, NULL, OPT_TIMEOUT }, \
	{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT }, \
	{ "cold", required_argument, NULL, OPT_COLD }, \
	{ "max-model-len", required_argument, NULL, OPT_MAX_MODEL_LEN }, \
	{ "port", required_argument, NULL, OPT_PORT }, \
	{ "csv", required_argument, NULL, OPT_CSV }, \
	{ "log", required_argument, NULL, OPT_LOG }, \
	{ "notes", required_argument, NULL, OPT_NOTES }, \
	{ "json", no_argument, NULL, OPT_JSON }, \
	{ "record-failures", no_argument, NULL, OPT_RECORD_FAILURES }, \
	{ "gpu-release-timeout", required_argument, NULL, OPT_GPU_RELEASE }, \
	{ "quiet", no_argument, NULL, OPT_QUIET }, \
	{ "name", required_argument, NULL, OPT_NAME }, \
	{ "prefetch", optional_argument, NULL, OPT_PREFETCH }, \
	{ "detached", no_argument, NULL, OPT_DETACHED }, \
	{ "ready-owner", required_argument, NULL, OPT_READY_OWNER }

#define RUNCFG_HELP \
	"Server and measurement options:\n" \
	"      --server TEMPLATE  server command; tokens {model} {port} {max_model_len}\n" \
	"                         {mode} {run_id}; split like a shell line, run without\n" \
	"                         a shell (default: vllm serve {model} --port {port}\n" \
	"                         --max-model-len {max_model_len} when vllm is on the\n" \
	"                         PATH, else 'refserve': coldstart's reference server)\n" \
	"      --shell            run the template with /bin/sh -c (values shell-quoted)\n" \
	"      --ready SPEC       http://127.0.0.1:{port}/health (default: ready on 200),\n" \
	"                         tcp:{port}, or log:REGEX on the server's output\n" \
	"      --ready-owner WHO  tree (default): an http/tcp answer counts only if the\n" \
	"                         listening socket belongs to the server's process tree;\n" \
	"                         any: accept any answer (a server in a container whose\n" \
	"                         port another process publishes); noted ready_owner=any\n" \
	"      --detached         the server command is a launcher that starts the server\n" \
	"                         in the background and exits 0: keep waiting while the\n" \
	"                         processes it left run\n" \
	"      --timeout DUR      give up waiting for ready after DUR (default 10m)\n" \
	"      --stop-timeout DUR SIGTERM grace before SIGKILL (default 30s)\n" \
	"      --cold MODE        files: evict the model's files (default); global:\n" \
	"                         sync + drop_caches (root); none\n" \
	"      --max-model-len N  value of {max_model_len} and the CSV column (default 4096)\n" \
	"      --port N           server port (default: a free one)\n" \
	"      --csv FILE         append a row (header run_id,storage_mode,model,\n" \
	"                         max_model_len,load_s,gpu_mem_used_mb,notes)\n" \
	"      --log FILE         server output, each line stamped with its offset\n" \
	"                         from launch (default: coldstart-logs/ next to the CSV)\n" \
	"      --name NAME        the CSV's model column (default: $MODEL_NAME, else\n" \
	"                         the model directory's name)\n" \
	"      --notes TEXT       added to the row's notes as note=TEXT\n" \
	"      --record-failures  append failed runs too, with status=failed:REASON\n" \
	"      --gpu-release-timeout DUR  wait for GPU memory release (default 60s)\n" \
	"      --prefetch[=JOBS]  at launch, warm the model's files into the page cache\n" \
	"                         with JOBS parallel readers (default 8), overlapping\n" \
	"                         the server's own start-up (imports, CUDA init)\n" \
	"      --json             every field of the run as JSON on stdout\n" \
	"  -q, --quiet            no progress messages\n"

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
/* Handle option c (from RUNCFG_LONGOPTS): 1 handled, 0 not a run option,
 * EXIT_USAGE (2) after reporting a bad value. */
int runcfg_option(struct run_cfg *c, int opt, const char *arg);
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
