/* report: one run's timeline (read rates, memory, the prefetch's progress, phase markers) as SVG. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/run/timeline.h"
#include "core/base/banned.h"

/* ---- one run's timeline ---- */

static void polyline(struct strbuf *b, const double *x, const double *y, size_t n, const char *color)
{
	strbuf_addf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", color);
	for (size_t i = 0; i < n; i++)
		if (!isnan(y[i]))
			strbuf_addf(b, "%.1f,%.1f ", x[i], y[i]);
	strbuf_addf(b, "\"/>\n");
}

/* The chart's frame and scales: two panels of the same time axis. */
struct layout {
	double W, H, left, pw, ph, top[2];
	double tax, tstep;            /* time axis: maximum and tick step, seconds */
	double ymax[2], ystep[2];     /* read rate (MB/s), memory (GiB) */
};

static void scale(const struct tl_sample *s, size_t n, const struct tl_marker *m, size_t nm, struct layout *L)
{
	*L = (struct layout){ .W = 760, .H = 420, .left = 70, .ph = 130 };
	L->pw = L->W - L->left - 70;
	L->top[0] = 50;
	L->top[1] = L->top[0] + L->ph + 60;
	double tmax = 0, rmax = 0, mmax = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].t > tmax)
			tmax = s[i].t;
		double mem = s[i].rss_bytes > s[i].gpu_bytes ? s[i].rss_bytes : s[i].gpu_bytes;
		if (s[i].cached_bytes > mem)
			mem = s[i].cached_bytes;
		if (s[i].prefetch_bytes > mem)
			mem = s[i].prefetch_bytes;
		if (mem > mmax)
			mmax = mem;
		if (i) {
			double dt = s[i].t - s[i - 1].t;
			double rate = dt > 0 ? (s[i].read_bytes - s[i - 1].read_bytes) / dt : 0;
			double crate = dt > 0 ? (s[i].cached_bytes - s[i - 1].cached_bytes) / dt : 0;
			double prate = dt > 0 && s[i - 1].prefetch_bytes >= 0 ? (s[i].prefetch_bytes - s[i - 1].prefetch_bytes) / dt : 0;
			if (rate > rmax)
				rmax = rate;
			if (crate > rmax)
				rmax = crate;
			if (prate > rmax)
				rmax = prate;
		}
	}
	for (size_t i = 0; i < nm; i++)
		if (m[i].t > tmax)
			tmax = m[i].t;
	rpi_nice_axis(tmax, &L->tax, &L->tstep);
	rpi_nice_axis(rmax / 1e6, &L->ymax[0], &L->ystep[0]);
	rpi_nice_axis(mmax / 1073741824.0, &L->ymax[1], &L->ystep[1]);
}

/* Panel p: frame, grid, axis labels, the markers (named in the first). */
static void panel(struct strbuf *b, const struct layout *L, int p, const char *ylab, const struct tl_marker *m,
		  size_t nm)
{
	double t0 = L->top[p], left = L->left, pw = L->pw, ph = L->ph;
	strbuf_addf(b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#999\"/>\n", left, t0,
		    pw, ph);
	for (double v = 0; v <= L->ymax[p] + 1e-9; v += L->ystep[p]) {
		double y = t0 + ph - ph * v / L->ymax[p];
		strbuf_addf(b, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", left, y, left + pw, y);
		char lab[32];
		snprintf(lab, sizeof(lab), L->ystep[p] < 1 ? "%.2f" : "%.0f", v);
		rpi_svg_text(b, left - 6, y + 4, "end", 10, "#444", lab);
	}
	rpi_svg_text(b, left, t0 - 6, "start", 11, "#222", ylab);
	for (double t = 0; t <= L->tax + 1e-9; t += L->tstep) {
		char lab[32];
		snprintf(lab, sizeof(lab), L->tstep < 0.1 ? "%.2f" : L->tstep < 1 ? "%.1f" : "%.0f", t);
		rpi_svg_text(b, left + pw * t / L->tax, t0 + ph + 14, "middle", 10, "#444", lab);
	}
	for (size_t i = 0; i < nm; i++) {
		if (m[i].t < 0)
			continue;
		double x = left + pw * m[i].t / L->tax;
		strbuf_addf(b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#c00\" stroke-dasharray=\"4,3\"/>\n",
			    x, t0, x, t0 + ph);
		if (p == 0)
			rpi_svg_text(b, x + 3, t0 + 12 + 12.0 * (double)(i % 3), "start", 10, "#c00", m[i].label);
	}
}

/* One line and its legend entry at lx above the panel at top; where the
 * next entry goes (the legend flows: about 6 px a character at 10 px). */
static double series(struct strbuf *b, const double *x, const double *y, size_t n, const char *color, double lx,
		     double top, const char *name)
{
	polyline(b, x, y, n, color);
	strbuf_addf(b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"3\" fill=\"%s\"/>\n", lx, top - 11, color);
	rpi_svg_text(b, lx + 16, top - 6, "start", 10, "#222", name);
	return lx + 16 + 6.0 * (double)strlen(name) + 14;
}

/* The read rates above, the memory below. */
static void lines(struct strbuf *b, const struct layout *L, const struct tl_sample *s, size_t n)
{
	double *x = xcalloc(n, sizeof(double)), *y = xcalloc(n, sizeof(double));
	const double top1 = L->top[0], top2 = L->top[1], ph = L->ph;
	for (size_t i = 0; i < n; i++)
		x[i] = L->left + L->pw * s[i].t / L->tax;
	/* Two views of the same reads: block I/O charged to the server's
	 * processes (none for FUSE/NFS, whose reads happen elsewhere) and
	 * the model's bytes arriving in the page cache; and the prefetch's
	 * own reads, to set against the weights phase (its markers). */
	const char *rc[3] = { "#3182bd", "#756bb1", "#d62728" };
	const char *rn[3] = { "block reads of the server's processes", "model arriving in the page cache",
			      "prefetch reads" };
	double lx = L->left + 105;
	for (int k = 0; k < 3; k++) {
		int any = 0;
		y[0] = top1 + ph;
		for (size_t i = 1; i < n; i++) {
			double dt = s[i].t - s[i - 1].t;
			double d = k == 0 ? s[i].read_bytes - s[i - 1].read_bytes
				   : k == 1 ? s[i].cached_bytes - s[i - 1].cached_bytes
					    : s[i - 1].prefetch_bytes < 0 ? 0 : s[i].prefetch_bytes - s[i - 1].prefetch_bytes;
			double rate = dt > 0 && d > 0 ? d / dt / 1e6 : 0;
			any |= rate > 0;
			y[i] = top1 + ph - ph * rate / L->ymax[0];
		}
		if (any)
			lx = series(b, x, y, n, rc[k], lx, top1, rn[k]);
	}
	const char *mc[4] = { "#31a354", "#e6550d", "#756bb1", "#d62728" };
	const char *mn[4] = { "resident memory (RSS)", "GPU memory", "model in page cache", "prefetched so far" };
	lx = L->left + 90;
	for (int k = 0; k < 4; k++) {
		int any = 0;
		for (size_t i = 0; i < n; i++) {
			double v = k == 0 ? s[i].rss_bytes : k == 1 ? s[i].gpu_bytes : k == 2 ? s[i].cached_bytes : s[i].prefetch_bytes;
			y[i] = v < 0 ? NAN : top2 + ph - ph * (v / 1073741824.0) / L->ymax[1];
			any |= v > 0;
		}
		if (any)
			lx = series(b, x, y, n, mc[k], lx, top2, mn[k]);
	}
	free(x);
	free(y);
}

char *rp_timeline_svg(const char *title, const struct tl_sample *s, size_t n, const struct tl_marker *m,
		      size_t nm)
{
	struct strbuf b = STRBUF_INIT;
	struct layout L;
	scale(s, n, m, nm, &L);
	strbuf_addf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		    L.W, L.H, L.W, L.H);
	rpi_svg_text(&b, L.W / 2, 22, "middle", 14, "#222", title);
	panel(&b, &L, 0, "read rate (MB/s)", m, nm);
	panel(&b, &L, 1, "memory (GiB)", m, nm);
	rpi_svg_text(&b, L.left + L.pw / 2, L.H - 8, "middle", 11, "#222", "seconds from launch");
	if (n > 1)
		lines(&b, &L, s, n);
	strbuf_addf(&b, "</svg>\n");
	return strbuf_detach(&b);
}
