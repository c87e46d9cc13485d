#ifndef CS_RUNREC_H
#define CS_RUNREC_H
/*
 * runrec: one measured run and its record -- what `run` does, and what
 * `bench` does for each of its runs.
 *
 *  1. the server template expanded ({model} {port} {max_model_len} {mode}
 *     {run_id}, the last the id the CSV will likely give, and {cache}, the
 *     cache set's root, with --caches), split without a
 *     shell (or quoted for /bin/sh -c), on a free port unless one is given;
 *  2. the server's log named (the given file, else a new file in the log
 *     directory: coldstart-logs/ next to the CSV);
 *  3. a staged copy held by its use lock while the server runs (never
 *     evicted or replaced under it; a copy that failed verification is
 *     refused: never the wrong weights);
 *  4. the run (runner.h);
 *  5. the record: the notes (keys in schema.h, read back by the report),
 *     the timeline files next to the log, the CSV row appended (a measured
 *     run whose row cannot be written keeps the row's text), and on demand
 *     the run as one JSON object.
 *
 * Credentials: a model URL with user info or a query (a password, a token,
 * a presigned signature) is never put on the server's command line, which
 * every user of the node reads in ps: {model} is the URL without them, the
 * whole URL is in the server's environment as $COLDSTART_MODEL_URL (a
 * notice says so). A template that holds credentials itself is run as
 * given, with a notice. The command shown, the notes, the row and the JSON
 * hold URLs without credentials (redact_urls); no NaN or inf is written.
 *
 * Nothing prints: progress (the command line before launch, the runner's
 * steps) goes to status, problems that do not stop the run (no log
 * directory, a timeline that could not be written) to notice; both may be
 * NULL. Not thread-safe (the runner is not).
 */
#include <jansson.h>
#include <signal.h>
#include <stdint.h>

#include "caches.h"
#include "core/run/runner.h"
#include "core/base/util.h"
#include "core/base/workpool.h"

struct rr_opts {
	const char *server;           /* the template */
	/* Arguments coldstart adds to the server's own (NULL-terminated, may be
	 * NULL): appended to the split template, each one argument of the
	 * server, never text glued to the template's last word. Refused with
	 * shell (EINVAL): a shell line's end is not the server's arguments
	 * (it may end in '| tee log'). */
	const char *const *server_args;
	int shell;                    /* run it with /bin/sh -c, values shell-quoted */
	const char *ready;            /* readiness spec (ready.h), {port} inside */
	uint64_t timeout_ns, stop_timeout_ns, gpu_release_ns;
	enum cold_mode cold;
	long max_model_len;
	long port;                    /* 0: a free one on 127.0.0.1 */
	const char *csv;              /* NULL: no row */
	const char *log;              /* NULL: a new file in the log directory */
	int log_is_dir;               /* log names the directory of the per-run logs */
	const char *notes;            /* note=TEXT */
	const char *name;             /* the model column; NULL: $MODEL_NAME, else the model's directory name */
	int record_failures;          /* failed runs get a row too, with status=failed:REASON */
	int prefetch;                 /* reader threads warming the model at launch; 0: off */
	int detached, any_owner;      /* see runner.h */
	double staged_copy_s;         /* >= 0: a staged run; notes get copy_s, load_s, total_s */
	/* Compile and kernel caches (caches.h): the state the server starts in
	 * (CC_NONE: its environment as it is) and where the sets are. A warm
	 * set not primed for this server and model gets one unmeasured start
	 * first (no row; its log beside the others, "prime-MODE-..."). */
	enum cc_state cache_state;
	const struct cc_opts *caches;
	volatile sig_atomic_t *cancel;
	cs_msg_fn status;
	cs_msg_fn notice;
	void *cb_arg;
};

/* The defaults, defined once: ready on 200 from /health, 10 minutes to be
 * ready, 30 s to stop, 60 s for the GPU memory to be released, the model's
 * files evicted, max_model_len 4096. */
#define RR_MODEL_URL_ENV "COLDSTART_MODEL_URL"
#define RR_READY_DEFAULT "http://127.0.0.1:{port}/health"
#define RR_PREFETCH_JOBS WP_JOBS_DEFAULT
#define RR_OPTS_INIT                                                                                      \
	{                                                                                                 \
		.ready = RR_READY_DEFAULT, .timeout_ns = 600ULL * 1000000000ULL,                          \
		.stop_timeout_ns = 30ULL * 1000000000ULL, .gpu_release_ns = 60ULL * 1000000000ULL,        \
		.cold = COLD_FILES, .max_model_len = 4096, .staged_copy_s = -1,                           \
	}

struct rr_record {
	struct run_result res;
	int ran;                      /* the server was launched: res is a real run */
	int port;
	char *command;                /* as run, for display */
	char *log;                    /* NULL: not kept */
	char *name;                   /* the model column */
	char *notes;                  /* the row's notes */
	long long run_id;             /* > 0: the row is in the CSV */
	char *unrecorded;             /* measured, but the row could not be appended: its text
				       * (run_id left out); record_err says why */
	struct cs_err record_err;
};

/*
 * One run of o->server on model, recorded as storage mode `mode`;
 * extra_notes (may be NULL) go into the notes after the run's own keys.
 * Returns 0 when the server was ready and its row (if any) written, else
 * -1 with err set: nothing launched (rec->ran == 0: a template that does
 * not expand, no free port, a staged copy that failed verification), a
 * run that failed (rec->res.outcome, .reason, .tail), or a row not
 * recorded (rec->unrecorded). rr_record_release in every case.
 */
int rr_run(const struct rr_opts *o, const char *model, const char *mode, const char *extra_notes,
	   struct rr_record *rec, struct cs_err *err);
void rr_record_release(struct rr_record *rec);

/* What a model URL (s3://, https://) asks of the server's template:
 * refused (EINVAL) for a server that reads local files only (refserve,
 * llama.cpp's node-llama-cpp); vllm serve, for s3://, the arguments
 * --load-format runai_streamer (*args: a static NULL-terminated array, to
 * go into rr_opts.server_args), unless the template names a
 * --load-format; refused (EINVAL) under shell, where they cannot be
 * added as the server's own. A path, or nothing to add: 0, *args NULL.
 * rr_run applies it. */
int rr_remote_args(const char *tmpl, int shell, const char *model, const char *const **args, struct cs_err *err);
/* The server's arguments after the split template: o's, then extra
 * (either may be NULL); malloc'd array of borrowed strings, or NULL when
 * there are none. */
const char **rr_args_join(const char *const *a, const char *const *b);

/* Every field of the run as one JSON object (new reference). */
json_t *rr_json(const struct rr_opts *o, const struct rr_record *rec, const char *model, const char *mode);

/* The notes of a run, in the order rows have them: what the run measured,
 * then extra_notes, the staged times, the prefetch, the timeline (may be
 * NULL) and the user's note. server: the program the template ran. */
char *rr_notes(const struct rr_opts *o, const struct run_result *res, const char *server, const char *extra_notes,
	       const char *timeline);

/* Checks before the first run, so that no run is spent on a record that
 * cannot be kept. err->code EINVAL marks a usage error. */
/* The template expands (not empty, tokens known, quotes closed); what names it. */
int rr_check_template(const char *tmpl, int shell, const char *what, struct cs_err *err);
/* The CSV, if any, can take a row: right header, appendable, room on its
 * file system; its directory exists (the last level is created, no more). */
#define RR_CSV_MIN_ROOM (64u << 10)
int rr_check_csv(const struct rr_opts *o, struct cs_err *err);
/* A local model in a format coldstart reads is checked as bench checks
 * its paths (st_model_open: a safetensors directory whose index and shard
 * headers agree and define each tensor once, a GGUF file or split set; a
 * .safetensors file: its header): a checkpoint the server would load
 * wrongly, or refuse after the start was spent, is refused first, naming
 * the file and the problem (a tensor defined twice: both places). A URL,
 * a directory holding no safetensors or GGUF file, or another file is the
 * server's to read: 0. */
int rr_check_model(const char *model, struct cs_err *err);
/* No output is (or resolves to) an input or another output: the CSV, the
 * log and its timeline files against each other and the models' files
 * (NULL entries are skipped). EINVAL. */
int rr_check_outputs(const struct rr_opts *o, const char *const *models, size_t nmodels, struct cs_err *err);

#endif
