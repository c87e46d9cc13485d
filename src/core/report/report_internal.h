#ifndef CS_REPORT_INTERNAL_H
#define CS_REPORT_INTERNAL_H
/*
 * What the parts of the report share (not for use outside report_*.c):
 *
 *   report_load.c    the CSV read into runs and per-mode statistics
 *   report_ci.c      bootstrap intervals, noise, runs needed, outliers (report_ci.h)
 *   report_interp.c  the interpretation and the JSON
 *   report_md.c      the Markdown: title, interpretation, verdicts
 *   report_md_tables.c  the Markdown's tables, after the verdicts
 *   report_svg.c     the SVG chart per mode
 *   report_timeline.c  one run's timeline chart (timeline.h)
 *   report_fleet.c   several nodes' CSVs in one report
 *   report_noise.c   the Results' ratios to nvme and the cache states with
 *                    their intervals; the conclusions the outliers change
 */
#include "report.h"
#include "report_ci.h"
#include "core/base/schema.h"
#include "core/base/strbuf.h"

/* Which figure of a mode's runs a comparison takes. */
enum rpi_fig { RPI_LOAD, RPI_TTR /* staged: copy + start */ };

/* Every comparison the interpretation states, each with its interval
 * (report_ci.h): a is the first mode named, b the one it is set against. */
struct interp {
	int has_ratio;
	double ratio, diff;
	struct rci_cmp net_nvme;             /* net load vs nvme load */
	int has_staged;
	double staged_total, staged_vs_net;  /* > 0: staging costs more */
	struct rci_cmp staged_net;           /* staged total vs net load */
	struct rci_cmp saving;               /* net load vs staged load: what a start from the copy saves */
	int has_breakeven;
	long long breakeven;                 /* cold starts; -1: never */
	int breakeven_noise;                 /* the saving is within noise: not computed */
	int breakeven_ci_ok;
	long long breakeven_lo, breakeven_hi;/* hi -1: never */
	int has_prefetch;
	struct rci_cmp prefetch;             /* net load vs net+prefetch load: > 0 saves */
	int has_runtime;
	double runtime_s;
};

/* a's figure against b's over their basis runs, paired by round when the
 * run ids show them interleaved (rci_paired). */
void rpi_compare(const struct rp_report *r, const struct rp_mode *a, enum rpi_fig fa, const struct rp_mode *b,
		 enum rpi_fig fb, struct rci_cmp *c);
/* A run of a mode outside its fence (rci_outlier), on the start or, for
 * staged runs, copy + start; calls fn per one, by mode, each mode's in CSV
 * order. */
void rpi_outliers(const struct rp_report *r,
		  void (*fn)(const struct rp_run *u, const char *fig, double v, double lo, double hi, void *arg),
		  void *arg);

const struct rp_mode *rpi_mode_get(const struct rp_report *r, const char *name);
double rpi_ttr(const struct rp_mode *m);
void rpi_interpret(const struct rp_report *r, struct interp *in);
const char *rpi_verdict(double added, double limit);
/* Its verdict, with " (within noise)" when c's interval of the added
 * seconds holds the limit. */
const char *rpi_verdict_ci(double added, const struct rci_cmp *c, double limit);
/* SVG: text (escaped) and a round axis maximum and tick step for values up to v. */
void rpi_svg_text(struct strbuf *b, double x, double y, const char *anchor, int size, const char *fill,
		  const char *s);
void rpi_nice_axis(double v, double *max, double *step);
/* Markdown: text escaped for a table cell or a line; " TEXT |". */
void rpi_md_esc(struct strbuf *b, const char *s);
void rpi_md_cell(struct strbuf *b, const char *s);
/* Markdown: any text as a code span (URLs without credentials); a link
 * target percent-encoded; a mode's name escaped. */
void rpi_md_code(struct strbuf *b, const char *text);
void rpi_md_url(struct strbuf *b, const char *s);
void rpi_md_mode(struct strbuf *b, const struct rp_mode *m);
/* Seconds as the tables show them: "-" when unknown or negative. */
void rpi_fmt_s(char *buf, size_t n, double v);
/* Seconds with their sign: "+1.000", "-31.00". */
void rpi_fmt_signed(char *buf, size_t n, double v);
/* " (95 % interval: RATIO, DIFF; pairing)" after a comparison's median
 * figure (the ratio when ratio is set), or " (no interval: n/a, 1 run)". */
void rpi_md_ci(struct strbuf *b, const struct rci_cmp *c, int ratio);
/* For a comparison within noise, " **Within noise:** ..." saying that the
 * runs do not tell WHAT apart and how many rounds would; else nothing. */
void rpi_md_noise(struct strbuf *b, const struct rci_cmp *c, const char *what);
/* A comparison as --json has it (diff, ratio, intervals, pairing, noise);
 * an interval ([lo, hi], null when none). */
json_t *rpi_cmp_json(const struct rci_cmp *c);
json_t *rpi_ci_json(const struct rci_interval *ci);
/* rp_json's numbers but for report_noise.c's (which rp_json adds). */
json_t *rpi_json(const struct rp_report *r);

/* ---- report_noise.c ---- */
/* m's median load_s against nvme's (the Results table's "vs nvme"). */
void rpi_vs_nvme(const struct rp_report *r, const struct rp_mode *m, const struct rp_mode *nv, struct rci_cmp *c);
/* The Results table's cell: " 3.82x (3.64x to 4.00x) |", ", within noise"
 * in the parentheses when the interval holds 1.0x; and the line after the
 * table saying what the column is and which modes were paired. */
void rpi_md_vs_nvme(struct strbuf *b, const struct rp_report *r, const struct rp_mode *m, const struct rp_mode *nv);
void rpi_md_vs_nvme_note(struct strbuf *b, const struct rp_report *r, const struct rp_mode *nv);
/* A cache state's median time to ready and its interval; a's ready
 * against b's (paired by round where the run ids interleave). */
double rpi_cg_ready(const struct rp_cachegrp *g, struct rci_interval *ci);
void rpi_cg_compare(const struct rp_cachegrp *a, const struct rp_cachegrp *b, struct rci_cmp *c);
/* The cache table's ready cell, " 48.00 (46.00 to 50.00) |"; after a
 * saving over cold caches, ", the saving's 95 % interval ..."; and,
 * for a saving within noise, rpi_md_noise's sentence. */
void rpi_md_cg_ready(struct strbuf *b, const struct rp_cachegrp *g);
void rpi_md_cg_saving(struct strbuf *b, const struct rp_cachegrp *cold, const struct rp_cachegrp *g);
void rpi_md_cg_noise(struct strbuf *b, const struct rp_cachegrp *cold, const struct rp_cachegrp *st,
		     const struct rp_cachegrp *warm);

/* The conclusions (each comparison's finding or noise, the break-even,
 * each verdict) that differ when the flagged outliers (rpi_outliers) are
 * left out of their modes: what, what it says with them and without, on
 * which comparison. runs: r->runs[] indexes of the outliers. */
#define RPI_MAX_EFFECTS 32
struct rpi_effect {
	char what[128], with[64], without[64];
	struct rci_cmp c_with, c_without;
	long long be_with, be_without;   /* the break-even's: cold starts, -1 none */
};
struct rpi_effects {
	struct rpi_effect v[RPI_MAX_EFFECTS];
	size_t n;
	size_t runs[RPI_MAX_EFFECTS];
	size_t nruns;
};
void rpi_outlier_effects(const struct rp_report *r, struct rpi_effects *e);
/* The Interpretation's line on them (nothing when no conclusion changes). */
void rpi_md_outlier_effects(struct strbuf *b, const struct rp_report *r);
/* {"runs_left_out": [ids], "changes": [{conclusion, with, without, with_cmp, without_cmp}]} */
json_t *rpi_outlier_effects_json(const struct rp_report *r);

/* The Markdown after the verdicts: every table of the report, in order. */
void rpi_md_tables(struct strbuf *b, const struct rp_report *r);

#endif
