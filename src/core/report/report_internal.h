#ifndef CS_REPORT_INTERNAL_H
#define CS_REPORT_INTERNAL_H
/*
 * What the parts of the report share (not for use outside report_*.c):
 *
 *   report_load.c    the CSV read into runs and per-mode statistics
 *   report_interp.c  the interpretation and the JSON
 *   report_md.c      the Markdown: title, interpretation, verdicts
 *   report_md_tables.c  the Markdown's tables, after the verdicts
 *   report_svg.c     the SVG chart per mode
 *   report_timeline.c  one run's timeline chart (timeline.h)
 *   report_fleet.c   several nodes' CSVs in one report
 */
#include "report.h"
#include "core/base/schema.h"
#include "core/base/strbuf.h"

struct interp {
	int has_ratio;
	double ratio, diff;
	int has_staged;
	double staged_total, staged_vs_net;  /* > 0: staging costs more */
	int has_breakeven;
	long long breakeven;                 /* cold starts; -1: never */
	int has_runtime;
	double runtime_s;
};

const struct rp_mode *rpi_mode_get(const struct rp_report *r, const char *name);
double rpi_ttr(const struct rp_mode *m);
void rpi_interpret(const struct rp_report *r, struct interp *in);
const char *rpi_verdict(double added, double limit);
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
/* The Markdown after the verdicts: every table of the report, in order. */
void rpi_md_tables(struct strbuf *b, const struct rp_report *r);

#endif
