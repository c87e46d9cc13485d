/* report: the SVG chart per mode. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/csvlog.h"
#include "core/base/strbuf.h"
#include "core/netsim/netsim.h"
#include "core/base/banned.h"

/* ---- SVG ---- */

void rpi_svg_text(struct strbuf *b, double x, double y, const char *anchor, int size, const char *fill,
		     const char *s)
{
	strbuf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" fill=\"%s\">", x, y, anchor,
		  size, fill);
	char *shown = redact_urls(s);
	for (const char *p = shown; *p; p++)
		strbuf_add_entity(b, *p);
	free(shown);
	strbuf_addf(b, "</text>\n");
}

/* A round axis maximum and tick step for values up to v. */
void rpi_nice_axis(double v, double *max, double *step)
{
	if (!(v > 0))
		v = 1;
	double e = pow(10, floor(log10(v)));
	double f = v / e;
	double s = f <= 1.5 ? 0.25 : f <= 3 ? 0.5 : f <= 6 ? 1 : 2;
	*step = s * e;
	*max = ceil(v / *step - 1e-9) * *step;
}

static const char *seg_color[] = { "#8c6bb1", "#9ecae1", "#3182bd", "#fdae6b" };
static const char *seg_name[] = { "copy (staging)", "start-up before weights", "weights", "after weights / no phases" };

char *rp_svg(const struct rp_report *r)
{
	struct strbuf b = STRBUF_INIT;
	size_t n = 0;
	double vmax = 0;
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs)
			continue;
		n++;
		double hi = m->has_copy ? m->total.max : m->load.max;
		if (hi > vmax)
			vmax = hi;
	}
	double axmax, step;
	rpi_nice_axis(vmax, &axmax, &step);
	const double W = 760, left = 120, right = 30, top = 56, row = 38, barh = 20;
	double H = top + row * (double)(n ? n : 1) + 70;
	double pw = W - left - right;
	strbuf_addf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
		  W, H, W, H);
	strbuf_addf(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	char *title = xasprintf("Time-to-ready by storage mode: %s (median, whiskers min-max)", r->model);
	rpi_svg_text(&b, W / 2, 24, "middle", 15, "#222", title);
	free(title);
	/* grid and axis */
	for (double t = 0; t <= axmax + 1e-9; t += step) {
		double x = left + pw * t / axmax;
		strbuf_addf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, top - 8, x,
			  top + row * (double)n);
		char lab[32];
		snprintf(lab, sizeof(lab), step < 0.01 ? "%.3f" : step < 0.1 ? "%.2f" : step < 1 ? "%.1f" : "%.0f", t);
		rpi_svg_text(&b, x, top + row * (double)n + 16, "middle", 11, "#444", lab);
	}
	rpi_svg_text(&b, left + pw / 2, top + row * (double)n + 34, "middle", 12, "#222", "seconds from launch to ready");
	size_t k = 0;
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs)
			continue;
		double y = top + row * (double)k + (row - barh) / 2;
		char *label = xasprintf("%s%s", m->name, m->basis == RP_COLD ? "" : m->basis == RP_UNVERIFIED ? " (unverified)" : " (warm)");
		rpi_svg_text(&b, left - 8, y + barh / 2 + 4, "end", 12, "#222", label);
		free(label);
		double seg[4] = { m->has_copy ? m->copy.median : 0, 0, 0, 0 };
		if (m->has_phases) {
			seg[1] = m->ph_before;
			seg[2] = m->ph_weights;
			seg[3] = m->ph_after;
			/* phases are medians of parts: scale them to the median load */
			double sum = seg[1] + seg[2] + seg[3];
			if (sum > 0)
				for (int s = 1; s < 4; s++)
					seg[s] *= m->load.median / sum;
		} else {
			seg[3] = m->load.median;
		}
		double x = left;
		for (int s = 0; s < 4; s++) {
			if (seg[s] <= 0)
				continue;
			double w = pw * seg[s] / axmax;
			strbuf_addf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"%s\"><title>%s: %.3f s</title></rect>\n",
				  x, y, w, barh, seg_color[s], seg_name[s], seg[s]);
			x += w;
		}
		const struct rp_stats *st = m->has_copy ? &m->total : &m->load;
		double x0 = left + pw * st->min / axmax, x1 = left + pw * st->max / axmax, ym = y + barh / 2;
		strbuf_addf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" stroke-width=\"1.2\"/>\n", x0, ym,
			  x1, ym);
		strbuf_addf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>\n", x0, ym - 5, x0, ym + 5);
		strbuf_addf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>\n", x1, ym - 5, x1, ym + 5);
		char lab[48];
		snprintf(lab, sizeof(lab), "%.3g s", st->median);
		rpi_svg_text(&b, (x > x1 ? x : x1) + 6, ym + 4, "start", 11, "#222", lab);
		k++;
	}
	/* legend */
	double lx = left, ly = H - 22;
	for (int s = 0; s < 4; s++) {
		strbuf_addf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", lx, ly - 10, seg_color[s]);
		rpi_svg_text(&b, lx + 16, ly, "start", 11, "#222", seg_name[s]);
		lx += 16 + 7.0 * (double)strlen(seg_name[s]) + 18;
	}
	strbuf_addf(&b, "</svg>\n");
	return strbuf_detach(&b);
}
