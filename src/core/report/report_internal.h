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
/* The Markdown after the verdicts: every table of the report, in order. */
void rpi_md_tables(struct strbuf *b, const struct rp_report *r);

#endif
