/* report: the Markdown's pieces both its files use -- escaped text, cells,
 * code spans, link targets, seconds -- so neither calls the other's. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/strbuf.h"
#include "core/base/banned.h"

/* Text from a CSV or a sidecar, safe inside Markdown (also inside a table
 * cell): Markdown punctuation escaped, HTML neutralized, lines flattened. */
void rpi_md_esc(struct strbuf *b, const char *s)
{
	char *shown = redact_urls(s ? s : "-"); /* a sidecar or a row may hold a URL's credentials */
	for (const char *p = shown; *p; p++) {
		if (*p == '\n' || *p == '\r')
			strbuf_addch(b, ' ');
		else if (strchr("\\`*_[]|~#!", *p))
			strbuf_addf(b, "\\%c", *p);
		else
			strbuf_add_entity(b, *p);
	}
	free(shown);
}

/* A code span that holds any text: a fence longer than its backtick runs;
 * URLs without their credentials (an older sidecar's command line). */
static void md_code_(struct strbuf *b, const char *s);
void rpi_md_code(struct strbuf *b, const char *text)
{
	char *s = redact_urls(text);
	md_code_(b, s);
	free(s);
}

static void md_code_(struct strbuf *b, const char *s)
{
	size_t run = 0, longest = 0;
	for (const char *p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	for (size_t i = 0; i <= longest; i++)
		strbuf_addf(b, "`");
	strbuf_addf(b, longest ? " " : "");
	for (const char *p = s; *p; p++)
		strbuf_addf(b, "%s", *p == '|' ? "\\|" : *p == '\n' || *p == '\r' ? " " : (char[]){ *p, 0 });
	strbuf_addf(b, longest ? " " : "");
	for (size_t i = 0; i <= longest; i++)
		strbuf_addf(b, "`");
}

/* A link target: anything but plain path characters percent-encoded. */
void rpi_md_url(struct strbuf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/:+@=,", *p))
			strbuf_addf(b, "%c", *p);
		else
			strbuf_addf(b, "%%%02X", *p);
	}
}

void rpi_md_cell(struct strbuf *b, const char *s)
{
	strbuf_addf(b, " ");
	rpi_md_esc(b, s);
	strbuf_addf(b, " |");
}

void rpi_fmt_s(char *buf, size_t n, double v)
{
	if (!isfinite(v) || v < 0)
		snprintf(buf, n, "-");
	else if (v < 10)
		snprintf(buf, n, "%.3f", v);
	else
		snprintf(buf, n, "%.2f", v);
}

void rpi_fmt_signed(char *buf, size_t n, double v)
{
	if (n < 2)
		return;
	buf[0] = v < 0 ? '-' : '+';
	rpi_fmt_s(buf + 1, n - 1, fabs(v));
}

void rpi_md_ci(struct strbuf *b, const struct rci_cmp *c, int ratio)
{
	char lo[32], hi[32];
	if (!c->diff_ci.ok) {
		strbuf_addf(b, " (no interval: n/a, %zu run%s)", c->na < c->nb ? c->na : c->nb,
			    (c->na < c->nb ? c->na : c->nb) == 1 ? "" : "s");
		return;
	}
	strbuf_addf(b, " (95 %% interval: ");
	if (ratio && c->ratio_ci.ok)
		strbuf_addf(b, "%.2fx to %.2fx, ", c->ratio_ci.lo, c->ratio_ci.hi);
	rpi_fmt_signed(lo, sizeof(lo), c->diff_ci.lo);
	rpi_fmt_signed(hi, sizeof(hi), c->diff_ci.hi);
	strbuf_addf(b, "%s to %s s; %s)", lo, hi, c->paired ? "paired by round" : "modes resampled independently");
}

void rpi_md_noise(struct strbuf *b, const struct rci_cmp *c, const char *what)
{
	if (!c->noise)
		return;
	strbuf_addf(b, " **Within noise:** the interval includes 0 s (1.0x), so these runs do not tell %s apart", what);
	if (c->runs_needed > 0)
		strbuf_addf(b, "; about %lld rounds per mode would resolve a difference of this size at this spread (%zu now)",
			    c->runs_needed, c->na > c->nb ? c->na : c->nb);
	else if (c->diff == 0)
		strbuf_addf(b, "; their medians are equal");
	strbuf_addf(b, ".");
}

void rpi_md_mode(struct strbuf *b, const struct rp_mode *m)
{
	rpi_md_esc(b, m->name);
}
