#ifndef CS_REPORT_H
#define CS_REPORT_H
/*
 * report: a bench CSV (the seed's header) -> numbers, Markdown and SVG.
 *
 * rp_load reads every row (failed runs counted apart), groups them by
 * storage_mode and computes per mode, over its basis (cold runs only, or
 * failing those the runs not verified cold, or failing those the warm runs:
 * never mixed, and said): runs, median / min / max / stddev (sample) of
 * load_s; for staged rows also copy_s and total_s (either convention of the
 * load_s column, see enum rp_read; rows whose column and notes disagree
 * beyond the rounding of the numbers written are flagged and left out);
 * the medians of the start-up phases (before weights, weights, after
 * weights) where the notes hold t_load_start/t_weights_end.
 * Notes are read leniently: "k=v" items separated by ';' or ','. Numbers
 * are not: every number read (the columns, the notes' times and sizes)
 * must be a finite decimal (parse_finite; a trailing "s" allowed in the
 * notes), not negative, ids whole and within 63 bits. A row with any
 * other value is unreadable: counted per mode, listed with its reason,
 * in no statistic (never NaN, inf or hex "0x10" read as 16).
 * Then the interpretation: net/nvme ratio and difference of medians, staged
 * total vs net, the break-even (cold starts from one staged copy after which
 * staging has paid: copy_s / (net load - staged load), rounded up), verdicts
 * per audience against thresholds on the time a mode adds to a cold start
 * over nvme, and the share of time-to-ready that is storage vs runtime
 * (runtime mode, else the weights phase).
 *
 * An optional sidecar JSON (what bench records: environment, server
 * config, command line) fills the Environment and Server sections.
 * Output is deterministic for given inputs (no clock is read), so it can
 * be compared with golden files. Nothing prints.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "core/base/util.h"

struct rp_thresholds {
	double dev_s;       /* dev / notebooks: acceptable added seconds per cold start */
	double internal_s;  /* internal services */
	double user_s;      /* user-facing endpoints */
};

#define RP_DEFAULT_THRESHOLDS { 120.0, 30.0, 5.0 }

struct rp_stats {
	size_t n;
	double median, min, max, stddev;
};

/* How cold a run was, from its notes: cold=yes; cold=unverified or no
 * cold key at all (hand-written rows); cold=no. */
enum rp_cold { RP_COLD, RP_UNVERIFIED, RP_WARM };

/* How a row's load_s column was read. Rows with copy_s in the notes are
 * staged runs, written by two conventions: the column holds the start after
 * staging (the seed's, and coldstart's), or copy + start. */
enum rp_read {
	RP_READ_PLAIN,       /* no copy_s: the column is the start */
	RP_READ_LOAD,        /* column = start after staging, matches the notes' load_s / total_s */
	RP_READ_LOAD_ASSUMED,/* column = start (only copy_s in the notes: nothing to tell) */
	RP_READ_TOTAL,       /* column = copy + start */
	RP_READ_NOTES,       /* column empty, both values in the notes */
	RP_READ_FLAGGED,     /* column and notes disagree beyond rounding: left out */
};

struct rp_mode {
	char *name;
	/* Statistics come from one class of runs, the basis: the cold runs if
	 * there are any, else the runs not verified cold, else the warm runs --
	 * never a mix. Warm runs beside cold ones get their own figures. */
	enum rp_cold basis;
	size_t runs;                            /* runs in the basis */
	size_t cold_runs, unverified_runs, warm_runs, failed, flagged;
	size_t unreadable;    /* rows with a number that is not a finite decimal */
	size_t remote_runs;   /* of the unverified: the server read a URL (cold_mode=remote) */
	struct rp_stats load, copy, total;
	struct rp_stats warm;                   /* load_s of warm runs (when not the basis) */
	int has_copy;
	int has_phases;
	double ph_before, ph_weights, ph_after;  /* medians, seconds */
	double gpu_mib;                         /* median, < 0 when none */
	size_t *basis_idx;                      /* runs[] of the basis (runs of them), in CSV order */
};

struct rp_run {
	size_t record;        /* the CSV record it came from (the header is 1) */
	long long run_id;     /* -1: unreadable */
	char *unreadable;     /* why the row was left out, NULL when it was read */
	char *mode;
	double load_s;        /* the start; < 0: failed or empty */
	double gpu_mib;       /* < 0: empty */
	char *cold;           /* the notes' cold= value, NULL */
	enum rp_cold coldness;
	int remote;           /* cold_mode=remote: the server read the model from a URL */
	char *timeline;       /* notes' timeline=..., NULL */
	char *status;         /* NULL when ok */
	enum rp_read read_as;
	char *flag;           /* why a row was left out (RP_READ_FLAGGED) */
	/* measured runs only: */
	double copy_s;        /* < 0: none in the notes */
	double total_s;       /* copy + start for staged rows, else the start */
	int has_phases;
	double ph_before, ph_weights, ph_after;
	/* compile and kernel caches (caches.h); NULL / < 0 when not noted */
	char *caches;         /* caches=cold|warm|staged */
	double weights_s, compile_s, graph_s, cache_copy_s, cache_bytes, cache_bytes_after;
	/* what the run read, for the overlap floor (report_floor.h); < 0 when not noted */
	double prefetch_bytes, prefetch_s, staged_bytes;
};

/* One mode in one cache state: time to ready and its parts, medians over
 * the group's basis (cold runs, else not verified, else warm). */
struct rp_cachegrp {
	char *mode;
	char *caches;         /* the state; "-" for rows without caches= */
	enum rp_cold basis;
	size_t runs;
	double ready;         /* copy_s + cache_copy_s + start */
	double storage;       /* copy_s + the weights phase; < 0: not in the log */
	double compile, graph;/* < 0: not in the log */
	double rest;          /* the start less storage (without copy), compile and graph */
	double cache_copy;    /* < 0: none */
	double cache_mb, cache_after_mb; /* < 0: not noted */
	double *ready_v;      /* ready per run of the basis, in CSV order (runs of them; owned) */
	long long *ready_id;  /* their run ids (owned) */
};

struct rp_report {
	char *csv;
	char *model;
	size_t nmodels;       /* distinct models in the CSV */
	long long max_model_len;
	struct rp_mode *modes;
	size_t nmodes;
	struct rp_run *runs;
	size_t nruns;
	size_t nunreadable;   /* runs[] with unreadable set */
	struct rp_thresholds th;
	json_t *meta;         /* sidecar, or NULL */
	int mmap_loader;      /* every run's server= is llama.cpp or llama-server */
	char *node;           /* the first node= note, or NULL */
	/* Rows with caches=: the per-mode figures above are of one state only,
	 * caches_basis (cold if any row is, else the first seen); every state
	 * is in cgroups, by mode then state (cold, staged, warm, unset). */
	char *caches_basis;
	size_t caches_other;  /* measured rows left out of the per-mode figures for it */
	struct rp_cachegrp *cgroups;
	size_t ncg;
};

/* model: only rows of this model (NULL: the model of the last row). On
 * failure r is left empty (rp_release is harmless). */
int rp_load(const char *csv_path, const char *meta_path, const char *model, const struct rp_thresholds *th,
	    struct rp_report *r, struct cs_err *err);
void rp_release(struct rp_report *r);

/* The Markdown report; svg_name is how it links the chart (may be NULL). */
char *rp_markdown(const struct rp_report *r, const char *svg_name);
/* The chart: one stacked horizontal bar per mode (copy, start-up before
 * weights, weights, after weights) with min-max whiskers of the total. */
char *rp_svg(const struct rp_report *r);
/* Numbers and interpretation as JSON. */
json_t *rp_json(const struct rp_report *r);

/* The statistics of n values (the one implementation: the bench's summary
 * uses it too). n == 0 gives zeros. */
void rp_stats_of(const double *v, size_t n, struct rp_stats *s);

/*
 * ---- several nodes: the fleet report ----
 * One CSV per node (each loaded as rp_load does, its sidecar beside it).
 * A node is named by its sidecar's node (si_node_name) or host.hostname,
 * else the node= note of its rows, else the CSV's file name. Per node the time to ready per mode (the
 * median over its basis; staged: copy + start); across nodes, per mode,
 * p50 (with its bootstrap interval, rci_quantile_rank) / p90 / p99
 * (nearest rank over the nodes' medians) and the max; the
 * slowest node per mode and the outliers (above 1.5x the fleet's p50); the
 * environment fields (kernel, OS, CPU, RAM, GPU, each mode's file system and
 * device) whose values differ between nodes. Deterministic, as rp_load.
 */
struct rp_node {
	char *name;
	struct rp_report r;
};

struct rp_fleet {
	struct rp_node *nodes;
	size_t n;
	char *model;
	char **modes;         /* every mode some node has, in report order */
	size_t nmodes;
};

/* The CSVs of a directory (*.csv), sorted; *csvs malloc'd (each path too). */
int rp_fleet_dir(const char *dir, char ***csvs, size_t *n, struct cs_err *err);
int rp_fleet_load(char *const *csvs, size_t n, const char *model, struct rp_fleet *f, struct cs_err *err);
void rp_fleet_release(struct rp_fleet *f);
char *rp_fleet_markdown(const struct rp_fleet *f, const char *svg_name);
/* One group of bars per node, one bar per mode, on one scale. */
char *rp_fleet_svg(const struct rp_fleet *f);
/* Load and write both (md, svg: paths; synced, atomic); EEXIST when an
 * output is one of the inputs (a CSV or its sidecar). */
int rp_fleet_write(char *const *csvs, size_t n, const char *model, const char *md, const char *svg,
		   struct cs_err *err);

/* ---- the report's files ---- */

/* The file beside a CSV with its ".csv" replaced by ext (".md", ".meta.json"). */
char *rp_sibling(const char *csv, const char *ext);

struct rp_output {
	const char *csv;
	const char *md, *svg;             /* NULL: next to the CSV (.md, .svg); "-": to dash */
	const char *meta;                 /* NULL: the CSV's .meta.json, if it exists */
	const char *model;                /* see rp_load */
	const struct rp_thresholds *th;   /* NULL: RP_DEFAULT_THRESHOLDS */
	FILE *dash;                       /* the stream "-" names (NULL: "-" is refused) */
};

/* Where rp_write put them (malloc'd). */
struct rp_written {
	char *md, *svg;
};

/*
 * Load o->csv and write its Markdown (linking the chart relative to it when
 * they share a directory) and its chart, each file replaced atomically and
 * synced. An output that is an input (the CSV, the sidecar) or the other
 * output is refused before anything is read (err->code EINVAL: a usage
 * error, the message names the options). With r non-NULL the loaded report
 * is kept there (rp_release) for rp_json; w (may be NULL) gets the paths.
 */
int rp_write(const struct rp_output *o, struct rp_report *r, struct rp_written *w, struct cs_err *err);
/* rp_write's first step alone: the outputs checked against the inputs. */
int rp_check_outputs(const struct rp_output *o, struct cs_err *err);
void rp_written_release(struct rp_written *w);

#endif
