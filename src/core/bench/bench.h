#ifndef CS_BENCH_H
#define CS_BENCH_H
/*
 * bench: the seed's experiment -- cold starts of one model in each storage
 * mode of schema.h's table (nvme, net, staged, ...), repeated, in an order
 * that spreads the machine's drift over every mode alike; each run one
 * recorded run (runrec.h) appending a row to the CSV.
 *
 *   bench_add_modes    the modes of a comma list, each needing its path
 *   bench_check_paths  every path a model directory, before anything runs
 *   bench_check_models the model behind --nvme and --net the same one
 *   bench_prepare      the stage root (outside the models, created, copies
 *                      left by killed benches removed: those whose hold's
 *                      lock is free, see bench.c) and the server
 *                      template of the no-weights mode
 *   bench_write_meta   the sidecar the report reads (host, paths, server)
 *   bench_run          the runs, in schedule order: a staged run evicts
 *                      the source, stages it into a fresh name (timed:
 *                      copy_s), starts the server on the copy (evicted
 *                      first unless staged_warm) and removes the copy;
 *                      per mode the load times and coldness of its runs
 *   bench_arm_stats    a mode's statistics, through the report's one
 *                      implementation and its basis (cold runs only ...)
 *
 * The report itself is rp_write (report.h) on the CSV. Nothing prints:
 * progress and notices go to the callbacks, each run's record to
 * run_done, which decides whether the bench goes on.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/report/report.h"
#include "runrec.h"
#include "core/base/schema.h"
#include "core/base/workpool.h"

#define BENCH_MAX_MODES 8
#define BENCH_MAX_ARMS (BENCH_MAX_MODES * CC_MAX_STATES)
#define BENCH_REPEAT_DEFAULT 3
#define BENCH_STAGE_JOBS_DEFAULT WP_JOBS_DEFAULT
#define BENCH_MAX_REPEAT_DEFAULT 10     /* --until-confident: rounds at most */
#define BENCH_CONFIDENCE_PCT_DEFAULT 5  /* --until-confident: interval half-width, % of the median */

enum bench_order { BENCH_INTERLEAVE, BENCH_GROUPED, BENCH_RANDOM };

/* Why the runs ended: all --repeat rounds (no --until-confident), or with
 * it the headline intervals narrow enough, the round cap, no headline
 * comparison (net vs nvme, staged vs net) to narrow, or a run that failed
 * (or was cancelled) first. */
enum bench_stop { BENCH_STOP_REPEAT, BENCH_STOP_WIDTH, BENCH_STOP_CAP, BENCH_STOP_NONE, BENCH_STOP_FAILED };

/* One mode of this bench (in one cache state, with --caches) and what its
 * runs measured. */
struct bench_arm {
	const struct storage_mode *mode;
	enum cc_state caches;          /* CC_NONE: the server's environment as it is */
	char label[48];                /* "nvme", or "nvme caches=cold" */
	size_t n;                      /* measured runs */
	double *loads;                 /* per run: load_s */
	double *totals;                /* per run: copy + load (staged), else load */
	int *cold;                     /* per run: 1 cold, 0 warm, -1 not verified */
};

struct bench;
struct fs_temp;
struct bench_cb {
	cs_msg_fn progress;                               /* what a quiet bench does not say */
	cs_msg_fn notice;                                 /* warnings */
	void (*run_start)(const struct bench *b, size_t k, const struct bench_arm *a, const char *path, void *arg);
	/* The k-th run (0-based) ended: rc and err are rr_run's. Returns 0 to
	 * go on, else the bench stops and bench_run returns that. */
	int (*run_done)(const struct bench *b, size_t k, const struct bench_arm *a, const char *path,
			struct rr_record *rec, int rc, const struct cs_err *err, void *arg);
	void *arg;
};

struct bench {
	struct rr_opts run;            /* every run's options; run.server: the template */
	const char *runtime_server;    /* no-weights mode's template; NULL: derived from run.server */
	const char *nvme, *net;        /* the model on each side (net: where a simulated path is mounted) */
	int net_pending;               /* net is simulated and not mounted yet: no path to check */
	const char *net_note;          /* e.g. net=netsim:nfs-10g, into the notes of runs reading net */
	/* A net "path" that is a URL (s3://, https://, http://): net runs hand
	 * it to the server as {model} (vllm: --load-format runai_streamer for
	 * s3), staged runs stage from it. */
	const char *net_remote;        /* sc_remote_kind(net), NULL for a path */
	const char *stage_bearer;      /* HTTP(S) source: $HF_TOKEN, never shown */
	int stage_insecure;
	int stage_no_sign;             /* s3:// --net or --cache-src: unsigned requests (--no-sign-request) */
	const char *stage_cacert;      /* URL --net: the CA bundle (--cacert), or NULL: the environment's */
	size_t repeat;
	enum bench_order order;
	uint64_t seed;                 /* BENCH_RANDOM */
	const char *stage_root;        /* NULL: coldstart-staged/ next to the NVMe model */
	int stage_jobs, stage_direct;
	int staged_warm;               /* start staged runs on the pages the copy left cached */
	int allow_model_mismatch;      /* --allow-different-models: a mismatch is a notice */
	int net_is_nvme;               /* net is netsim over the NVMe copy: the same files */
	/* --until-confident: after the repeat rounds, whole rounds (every arm
	 * once, ordered by bench_round_schedule) until bench_confident or
	 * bench_max_repeat rounds in all. */
	int until_confident;
	size_t max_repeat;
	double confidence_pct;         /* 0: BENCH_CONFIDENCE_PCT_DEFAULT */
	struct bench_cb cb;
	/* set by the steps */
	struct bench_arm arms[BENCH_MAX_ARMS];
	size_t narms;
	size_t total;                  /* runs: narms * rounds planned so far */
	size_t rounds;                 /* rounds begun (bench_run) */
	enum bench_stop stop;          /* bench_run: why the runs ended */
	char *own_root, *own_rt_server;
	const char *const *rt_args;    /* added to own_rt_server's arguments (static), or NULL */
	char *net_shown;               /* net without user info or query */
	struct fs_temp *hold;          /* ROOT/.bench/hold-TAG, locked while the bench lives */
	char *copy_tag;                /* TAG: its staged copies are NAME-bench-TAG-N */
	json_t *model_json;            /* bench_check_models' findings, for the sidecar */
};

#define BENCH_INIT                                                                                    \
	{                                                                                             \
		.run = RR_OPTS_INIT, .repeat = BENCH_REPEAT_DEFAULT, .stage_jobs = BENCH_STAGE_JOBS_DEFAULT, \
	}

/* The modes of a comma list (NULL: nvme,net of the paths there are): known,
 * once each, at most BENCH_MAX_MODES, each with its path. EINVAL. */
int bench_add_modes(struct bench *b, const char *list, struct cs_err *err);
/* Each mode in each cache state (in the order given): arms mode x state,
 * the runs' caches options being b->run.caches. Once, after
 * bench_add_modes. */
void bench_add_caches(struct bench *b, const enum cc_state *states, size_t n);
/* The path (or URL) a mode's runs read; _shown: as it may be printed. */
const char *bench_arm_path(const struct bench *b, const struct bench_arm *a);
const char *bench_arm_shown(const struct bench *b, const struct bench_arm *a);
/* Every mode's path opens as a model (not net while net_pending); a
 * remote net is listed (sc_source_probe). */
int bench_check_paths(const struct bench *b, struct cs_err *err);
/*
 * The same model behind every mode, checked before anything is measured
 * (when some mode reads --nvme and some --net): the same file names and
 * sizes (hidden files left out), and for two local paths the same bytes
 * by a sampled XXH3-64 per file: 8 ranges of 64 KiB spread from its start
 * to its end (the whole file when smaller; the pages read are dropped).
 * Sampled, not whole: reading every byte of a network copy first would
 * cost a cold read of its own per bench; any other version of a model
 * (fine-tuned, requantized, another revision, a truncated or half-copied
 * shard) differs at the sampled offsets, where a single flipped byte
 * elsewhere would not (that is `cache verify`'s job). A URL --net: the
 * names and sizes of its listing (one listing, as stage makes it; its
 * ETags recorded): each listed file under --nvme with that size, each
 * weight file, index and config.json of --nvme listed. A difference is
 * EINVAL naming the files (at most 3, then a count), unless
 * b->allow_model_mismatch (a notice). Either way b->model_json holds what
 * was found (files, sizes, digests, differences) for the sidecar's
 * "model_identity".
 */
int bench_check_models(struct bench *b, struct cs_err *err);
/* The stage root if a mode stages, the no-weights template if one has
 * none, the net runs' template of a remote net. EINVAL for what the user
 * must say or change (a server that cannot read a URL, prefetch of one). */
int bench_prepare(struct bench *b, struct cs_err *err);
/* The sidecar next to the CSV: version, start, command line (argv),
 * server template and command, host, each mode's path and its mount, the
 * model's identity (bench_check_models). URLs in it lose their user info
 * and query (redact_urls): it never holds a credential. */
int bench_write_meta(const struct bench *b, int argc, char *const *argv, struct cs_err *err);
/* The runs. 0, the first non-zero run_done result, or -1 with err (a
 * staging that failed; ECANCELED when cancelled). */
int bench_run(struct bench *b, struct cs_err *err);
/* One more round after bench_run's: every arm once, in the order
 * bench_round_schedule gives for it (interleave and grouped: arm order,
 * so each comparison stays paired by round; random: a seeded shuffle of
 * the arms, as random as the first rounds); b->rounds and b->total grow.
 * As bench_run returns. */
int bench_run_round(struct bench *b, struct cs_err *err);
/* The statistics of one class of a mode's runs, as the report computes
 * them: cold runs if there are any, else those not verified cold, else
 * the warm ones (1, -1, 0: the class). totals: of copy + load. */
int bench_arm_stats(const struct bench_arm *a, int totals, struct rp_stats *st, size_t *left_out);
/* The values bench_arm_stats summarizes, in run order, into v (room for
 * a->n); their count. *basis: the class. */
size_t bench_arm_values(const struct bench_arm *a, int totals, double *v, int *basis);
/* The rounds into the sidecar (with until_confident only): planned,
 * run, why they stopped, the width and the cap. */
int bench_record_rounds(const struct bench *b, struct cs_err *err);
/* The round cap: max_repeat (0: BENCH_MAX_REPEAT_DEFAULT), or repeat if more. */
size_t bench_max_repeat(const struct bench *b);
/* What bench_stop says, as the summary and the sidecar say it. */
const char *bench_stop_name(enum bench_stop stop);
/* What the simulated network path delivered, into the sidecar; returns the
 * note on its limit (malloc'd, NULL when none), *cpu_bound when the CPU
 * and not the simulated link set the pace. */
char *bench_record_netsim(const struct bench *b, const char *mountpoint, int *cpu_bound, struct cs_err *err);
void bench_release(struct bench *b);

/* The schedule: plan[k] is the arm of run k of narms * repeat. interleave
 * a b c a b c ..., grouped a a b b c c, random a seeded shuffle of the
 * interleaved plan (xorshift64; seed 0 counts as 1). */
void bench_schedule(size_t narms, size_t repeat, enum bench_order order, uint64_t seed, size_t *plan);
/* The arms of round `round` (0-based, one added after bench_run's
 * repeat rounds) in the order they run: plan[0..narms). interleave and
 * grouped: arm order (a round is every arm once); random: a seeded
 * shuffle of the arms (xorshift64 from the seed and the round: the same
 * seed, the same rounds). */
void bench_round_schedule(size_t narms, size_t round, enum bench_order order, uint64_t seed, size_t *plan);

#endif
