/* report: the SVG charts (per mode, and one run's timeline). */
#define _GNU_SOURCE
#include "report_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csvlog.h"
#include "strbuf.h"
#include "netsim.h"
#include "banned.h"

/* ---- SVG ---- */

static void svg_text(struct strbuf *b, double x, double y, const char *anchor, int size, const char *fill,
		     const char *s)
{
	strbuf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" fill=\"%s\">", x, y, anchor,
		  size, fill);
	for (const char *p = s; *p; p++) {
		if (*p == '<')
			strbuf_addf(b, "&lt;");
		else if (*p == '>')
			strbuf_addf(b, "&gt;");
		else if (*p == '&')
			strbuf_addf(b, "&amp;");
		else
			strbuf_addf(b, "%c", *p);
	}
	strbuf_addf(b, "</text>\n");
}

/* A round axis maximum and tick step for values up to v. */
static void nice_axis(double v, double *max, double *step)
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
	nice_axis(vmax, &axmax, &step);
	const double W = 760, left = 120, right = 30, top = 56, row = 38, barh = 20;
	double H = top + row * (double)(n ? n : 1) + 70;
	double pw = W - left - right;
	strbuf_addf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
		  W, H, W, H);
	strbuf_addf(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	char *title = xasprintf("Time-to-ready by storage mode: %s (median, whiskers min-max)", r->model);
	svg_text(&b, W / 2, 24, "middle", 15, "#222", title);
	free(title);
	/* grid and axis */
	for (double t = 0; t <= axmax + 1e-9; t += step) {
		double x = left + pw * t / axmax;
		strbuf_addf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, top - 8, x,
			  top + row * (double)n);
		char lab[32];
		snprintf(lab, sizeof(lab), step < 0.01 ? "%.3f" : step < 0.1 ? "%.2f" : step < 1 ? "%.1f" : "%.0f", t);
		svg_text(&b, x, top + row * (double)n + 16, "middle", 11, "#444", lab);
	}
	svg_text(&b, left + pw / 2, top + row * (double)n + 34, "middle", 12, "#222", "seconds from launch to ready");
	size_t k = 0;
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs)
			continue;
		double y = top + row * (double)k + (row - barh) / 2;
		char *label = xasprintf("%s%s", m->name, m->basis == RP_COLD ? "" : m->basis == RP_UNVERIFIED ? " (unverified)" : " (warm)");
		svg_text(&b, left - 8, y + barh / 2 + 4, "end", 12, "#222", label);
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
		svg_text(&b, (x > x1 ? x : x1) + 6, ym + 4, "start", 11, "#222", lab);
		k++;
	}
	/* legend */
	double lx = left, ly = H - 22;
	for (int s = 0; s < 4; s++) {
		strbuf_addf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", lx, ly - 10, seg_color[s]);
		svg_text(&b, lx + 16, ly, "start", 11, "#222", seg_name[s]);
		lx += 16 + 7.0 * (double)strlen(seg_name[s]) + 18;
	}
	strbuf_addf(&b, "</svg>\n");
	return strbuf_detach(&b);
}

/* ---- one run's timeline ---- */

static void polyline(struct strbuf *b, const double *x, const double *y, size_t n, const char *color)
{
	strbuf_addf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", color);
	for (size_t i = 0; i < n; i++)
		if (!isnan(y[i]))
			strbuf_addf(b, "%.1f,%.1f ", x[i], y[i]);
	strbuf_addf(b, "\"/>\n");
}

char *rp_timeline_svg(const char *title, const struct tl_sample *s, size_t n, const struct tl_marker *m,
		      size_t nm)
{
	struct strbuf b = STRBUF_INIT;
	const double W = 760, H = 420, left = 70, right = 70, ph = 130;
	const double top1 = 50, top2 = top1 + ph + 60;
	double tmax = 0, rmax = 0, mmax = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].t > tmax)
			tmax = s[i].t;
		double mem = s[i].rss_bytes > s[i].gpu_bytes ? s[i].rss_bytes : s[i].gpu_bytes;
		if (s[i].cached_bytes > mem)
			mem = s[i].cached_bytes;
		if (mem > mmax)
			mmax = mem;
		if (i) {
			double dt = s[i].t - s[i - 1].t;
			double rate = dt > 0 ? (s[i].read_bytes - s[i - 1].read_bytes) / dt : 0;
			double crate = dt > 0 ? (s[i].cached_bytes - s[i - 1].cached_bytes) / dt : 0;
			if (rate > rmax)
				rmax = rate;
			if (crate > rmax)
				rmax = crate;
		}
	}
	for (size_t i = 0; i < nm; i++)
		if (m[i].t > tmax)
			tmax = m[i].t;
	double tax, tstep, rax, rstep, max_, mstep;
	nice_axis(tmax, &tax, &tstep);
	nice_axis(rmax / 1e6, &rax, &rstep);
	nice_axis(mmax / 1073741824.0, &max_, &mstep);
	double pw = W - left - right;
	strbuf_addf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		  W, H, W, H);
	svg_text(&b, W / 2, 22, "middle", 14, "#222", title);
	const double tops[2] = { top1, top2 };
	const char *ylab[2] = { "read rate (MB/s)", "memory (GiB)" };
	const double ymax[2] = { rax, max_ }, ystep[2] = { rstep, mstep };
	for (int p = 0; p < 2; p++) {
		double t0 = tops[p];
		strbuf_addf(&b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#999\"/>\n", left, t0,
			  pw, ph);
		for (double v = 0; v <= ymax[p] + 1e-9; v += ystep[p]) {
			double y = t0 + ph - ph * v / ymax[p];
			strbuf_addf(&b, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", left, y, left + pw, y);
			char lab[32];
			snprintf(lab, sizeof(lab), ystep[p] < 1 ? "%.2f" : "%.0f", v);
			svg_text(&b, left - 6, y + 4, "end", 10, "#444", lab);
		}
		svg_text(&b, left, t0 - 6, "start", 11, "#222", ylab[p]);
		for (double t = 0; t <= tax + 1e-9; t += tstep) {
			double x = left + pw * t / tax;
			char lab[32];
			snprintf(lab, sizeof(lab), tstep < 0.1 ? "%.2f" : tstep < 1 ? "%.1f" : "%.0f", t);
			svg_text(&b, x, t0 + ph + 14, "middle", 10, "#444", lab);
		}
		for (size_t i = 0; i < nm; i++) {
			if (m[i].t < 0)
				continue;
			double x = left + pw * m[i].t / tax;
			strbuf_addf(&b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#c00\" stroke-dasharray=\"4,3\"/>\n",
				  x, t0, x, t0 + ph);
			if (p == 0)
				svg_text(&b, x + 3, t0 + 12 + 12.0 * (double)(i % 3), "start", 10, "#c00", m[i].label);
		}
	}
	svg_text(&b, left + pw / 2, H - 8, "middle", 11, "#222", "seconds from launch");
	if (n > 1) {
		double *x = xcalloc(n, sizeof(double)), *y = xcalloc(n, sizeof(double));
		for (size_t i = 0; i < n; i++)
			x[i] = left + pw * s[i].t / tax;
		/* Two views of the same reads: block I/O charged to the server's
		 * processes (none for FUSE/NFS, whose reads happen elsewhere) and
		 * the model's bytes arriving in the page cache. */
		const char *rc[2] = { "#3182bd", "#756bb1" };
		const char *rn[2] = { "block reads of the server's processes", "model arriving in the page cache" };
		for (int k = 0; k < 2; k++) {
			int any = 0;
			y[0] = top1 + ph;
			for (size_t i = 1; i < n; i++) {
				double dt = s[i].t - s[i - 1].t;
				double d = k == 0 ? s[i].read_bytes - s[i - 1].read_bytes : s[i].cached_bytes - s[i - 1].cached_bytes;
				double rate = dt > 0 && d > 0 ? d / dt / 1e6 : 0;
				any |= rate > 0;
				y[i] = top1 + ph - ph * rate / rax;
			}
			if (!any)
				continue;
			polyline(&b, x, y, n, rc[k]);
			double lx = left + 170 + 250.0 * k;
			strbuf_addf(&b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"3\" fill=\"%s\"/>\n", lx, top1 - 11, rc[k]);
			svg_text(&b, lx + 16, top1 - 6, "start", 10, "#222", rn[k]);
		}
		const char *mc[3] = { "#31a354", "#e6550d", "#756bb1" };
		const char *mn[3] = { "resident memory (RSS)", "GPU memory", "model in page cache" };
		for (int k = 0; k < 3; k++) {
			int any = 0;
			for (size_t i = 0; i < n; i++) {
				double v = k == 0 ? s[i].rss_bytes : k == 1 ? s[i].gpu_bytes : s[i].cached_bytes;
				y[i] = v < 0 ? NAN : top2 + ph - ph * (v / 1073741824.0) / max_;
				any |= v > 0;
			}
			if (!any)
				continue;
			polyline(&b, x, y, n, mc[k]);
			double lx = left + 170 + 170.0 * k;
			strbuf_addf(&b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"3\" fill=\"%s\"/>\n", lx, top2 - 11, mc[k]);
			svg_text(&b, lx + 16, top2 - 6, "start", 10, "#222", mn[k]);
		}
		free(x);
		free(y);
	}
	strbuf_addf(&b, "</svg>\n");
	return strbuf_detach(&b);
}
