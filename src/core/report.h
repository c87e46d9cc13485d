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
 * Notes are read leniently: "k=v" items separated by ';' or ','.
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

#include "util.h"

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
	struct rp_stats load, copy, total;
	struct rp_stats warm;                   /* load_s of warm runs (when not the basis) */
	int has_copy;
	int has_phases;
	double ph_before, ph_weights, ph_after;  /* medians, seconds */
	double gpu_mib;                         /* median, < 0 when none */
};

struct rp_run {
	long long run_id;
	char *mode;
	double load_s;        /* the start; < 0: failed or empty */
	double gpu_mib;       /* < 0: empty */
	char *cold;           /* the notes' cold= value, NULL */
	enum rp_cold coldness;
	char *timeline;       /* notes' timeline=..., NULL */
	char *status;         /* NULL when ok */
	enum rp_read read_as;
	char *flag;           /* why a row was left out (RP_READ_FLAGGED) */
	/* measured runs only: */
	double copy_s;        /* < 0: none in the notes */
	double total_s;       /* copy + start for staged rows, else the start */
	int has_phases;
	double ph_before, ph_weights, ph_after;
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
	struct rp_thresholds th;
	json_t *meta;         /* sidecar, or NULL */
};

/* model: only rows of this model (NULL: the model of the last row). */
int rp_load(const char *csv_path, const char *meta_path, const char *model, const struct rp_thresholds *th,
	    struct rp_report *r, struct cs_err *err);
void rp_free(struct rp_report *r);

/* The Markdown report; svg_name is how it links the chart (may be NULL). */
char *rp_markdown(const struct rp_report *r, const char *svg_name);
/* The chart: one stacked horizontal bar per mode (copy, start-up before
 * weights, weights, after weights) with min-max whiskers of the total. */
char *rp_svg(const struct rp_report *r);
/* Numbers and interpretation as JSON. */
json_t *rp_json(const struct rp_report *r);

/* Small statistics, exposed for tests. */
void rp_stats_of(const double *v, size_t n, struct rp_stats *s);

/* One run's timeline: samples every ~100 ms. */
struct tl_sample {
	double t;             /* seconds from launch */
	double read_bytes;    /* cumulative bytes read by the server's tree */
	double rss_bytes;     /* resident memory of the tree */
	double gpu_bytes;     /* GPU memory of the tree, < 0 when none */
	double cached_bytes;  /* model bytes in the page cache */
};
struct tl_marker {
	const char *label;
	double t;
};
char *rp_timeline_svg(const char *title, const struct tl_sample *s, size_t n, const struct tl_marker *m,
		      size_t nm);

#endif
