/* report: bootstrap intervals, robust spread, runs needed, outlier fence. */
#define _GNU_SOURCE
#include "report_ci.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/util.h"
#include "core/base/banned.h"

/* The interval's ranks among the sorted resamples: the 2.5 % and 97.5 %
 * points, 0-based (50 and 1949 of 2000). */
#define RANK_LO ((size_t)RCI_RESAMPLES / 40)
#define RANK_HI ((size_t)RCI_RESAMPLES - RCI_RESAMPLES / 40 - 1)

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t draw(uint64_t *s, size_t n)
{
	return (size_t)(splitmix64(s) % n);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of v[0..n), sorting v in place. */
static double median_sorting(double *v, size_t n)
{
	qsort(v, n, sizeof(double), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double rci_median(const double *v, size_t n)
{
	if (!n)
		return NAN;
	double *c = xcalloc(n, sizeof(double));
	memcpy(c, v, n * sizeof(double));
	double m = median_sorting(c, n);
	free(c);
	return m;
}

double rci_mad(const double *v, size_t n)
{
	if (!n)
		return NAN;
	double m = rci_median(v, n);
	double *c = xcalloc(n, sizeof(double));
	for (size_t i = 0; i < n; i++)
		c[i] = fabs(v[i] - m);
	double mad = median_sorting(c, n);
	free(c);
	return RCI_MAD_SCALE * mad;
}

int rci_outlier(double v, double median, double mad, size_t n)
{
	return n >= 3 && mad > 0 && fabs(v - median) > RCI_FENCE_K * mad;
}

int rci_paired(const long long *ida, size_t na, const long long *idb, size_t nb)
{
	if (na != nb || na < 2)
		return 0;
	for (size_t k = 0; k + 1 < na; k++) {
		long long last = ida[k] > idb[k] ? ida[k] : idb[k];
		long long next = ida[k + 1] < idb[k + 1] ? ida[k + 1] : idb[k + 1];
		if (last >= next)
			return 0;
	}
	return 1;
}

/* The spread of one mode: its scaled MAD, or its sample stddev where the
 * MAD is 0 (most runs equal). */
static double spread_of(const double *v, size_t n)
{
	double s = rci_mad(v, n);
	if (s > 0 || n < 2)
		return s;
	double mean = 0, ss = 0;
	for (size_t i = 0; i < n; i++)
		mean += v[i] / (double)n;
	for (size_t i = 0; i < n; i++)
		ss += (v[i] - mean) * (v[i] - mean);
	return sqrt(ss / (double)(n - 1));
}

/* One resample of a (and b): the indexes drawn, then each one's median. */
struct boot {
	uint64_t seed;
	double *sa, *sb;
};

static void boot_draw(struct boot *bt, const double *a, size_t na, const double *b, size_t nb, int paired,
		      const double *a2, double *sa2, double *ma, double *mb, double *ma2)
{
	for (size_t i = 0; i < na; i++) {
		size_t k = draw(&bt->seed, na);
		bt->sa[i] = a[k];
		if (a2)
			sa2[i] = a2[k];
		if (paired)
			bt->sb[i] = b[k];
	}
	for (size_t i = 0; !paired && i < nb; i++)
		bt->sb[i] = b[draw(&bt->seed, nb)];
	*ma = median_sorting(bt->sa, na);
	*mb = median_sorting(bt->sb, nb);
	if (a2)
		*ma2 = median_sorting(sa2, na);
}

static void interval_of(double *v, struct rci_interval *ci)
{
	qsort(v, RCI_RESAMPLES, sizeof(double), cmp_d);
	ci->ok = 1;
	ci->lo = v[RANK_LO];
	ci->hi = v[RANK_HI];
}

void rci_compare(const double *a, size_t na, const double *b, size_t nb, int paired, struct rci_cmp *c)
{
	memset(c, 0, sizeof(*c));
	c->na = na;
	c->nb = nb;
	c->paired = paired = paired && na == nb && na >= 2;
	double ma = rci_median(a, na), mb = rci_median(b, nb);
	c->diff = ma - mb;
	c->ratio = mb > 0 ? ma / mb : NAN;
	c->runs_needed = -1;
	if (na < 2 || nb < 2)
		return;
	struct boot bt = { RCI_SEED, xcalloc(na, sizeof(double)), xcalloc(nb, sizeof(double)) };
	double *dv = xcalloc(RCI_RESAMPLES, sizeof(double)), *rv = xcalloc(RCI_RESAMPLES, sizeof(double));
	int ratio_ok = 1;
	for (size_t r = 0; r < RCI_RESAMPLES; r++) {
		double ra, rb;
		boot_draw(&bt, a, na, b, nb, paired, NULL, NULL, &ra, &rb, NULL);
		dv[r] = ra - rb;
		ratio_ok &= rb > 0;
		rv[r] = rb > 0 ? ra / rb : 0;
	}
	interval_of(dv, &c->diff_ci);
	if (ratio_ok)
		interval_of(rv, &c->ratio_ci);
	free(dv);
	free(rv);
	free(bt.sa);
	free(bt.sb);
	c->noise = c->diff_ci.lo <= 0 && c->diff_ci.hi >= 0;
	double sa = spread_of(a, na), sb = spread_of(b, nb);
	c->spread = sqrt((sa * sa + sb * sb) / 2);
	double d = fabs(c->diff);
	if (c->noise && d > 0 && c->spread > 0) {
		double n = ceil(2 * pow(RCI_Z * c->spread / d, 2));
		size_t have = na > nb ? na : nb;
		c->runs_needed = n > (double)have ? (n < 1e9 ? (long long)n : 1000000000LL) : (long long)have + 1;
	}
}

static double breakeven_of(double copy, double gain)
{
	if (gain <= 0)
		return INFINITY;
	double be = ceil(copy / gain - 1e-9);
	return be < 1 ? 1 : be;
}

static long long starts_of(double be)
{
	return isfinite(be) ? (be < 1e18 ? (long long)be : (long long)1e18) : -1;
}

void rci_breakeven(const double *copy, const double *load, size_t nst, const double *net, size_t nnet, int paired,
		   long long *lo, long long *hi, int *ok)
{
	*ok = 0;
	*lo = *hi = -1;
	if (nst < 2 || nnet < 2)
		return;
	paired = paired && nst == nnet;
	struct boot bt = { RCI_SEED, xcalloc(nst, sizeof(double)), xcalloc(nnet, sizeof(double)) };
	double *sc = xcalloc(nst, sizeof(double)), *bv = xcalloc(RCI_RESAMPLES, sizeof(double));
	for (size_t r = 0; r < RCI_RESAMPLES; r++) {
		double ml, mn, mc;
		boot_draw(&bt, load, nst, net, nnet, paired, copy, sc, &ml, &mn, &mc);
		bv[r] = breakeven_of(mc, mn - ml);
	}
	qsort(bv, RCI_RESAMPLES, sizeof(double), cmp_d);
	*lo = starts_of(bv[RANK_LO]);
	*hi = starts_of(bv[RANK_HI]);
	*ok = 1;
	free(sc);
	free(bv);
	free(bt.sa);
	free(bt.sb);
}

/* Quantile q of v[0..n), sorting v in place: the median as rci_median
 * (unless by_rank), else by nearest rank. */
static double quantile_sorting(double *v, size_t n, double q, int by_rank)
{
	if (q == 0.5 && !by_rank)
		return median_sorting(v, n);
	qsort(v, n, sizeof(double), cmp_d);
	size_t k = (size_t)ceil(q * (double)n);
	return v[k ? k - 1 : 0];
}

static double quantile_ci(const double *v, size_t n, double q, int by_rank, struct rci_interval *ci)
{
	ci->ok = 0;
	ci->lo = ci->hi = NAN;
	if (!n)
		return NAN;
	double *c = xcalloc(n, sizeof(double));
	memcpy(c, v, n * sizeof(double));
	double est = quantile_sorting(c, n, q, by_rank);
	if (n >= 2) {
		double *qv = xcalloc(RCI_RESAMPLES, sizeof(double));
		uint64_t s = RCI_SEED;
		for (size_t r = 0; r < RCI_RESAMPLES; r++) {
			for (size_t i = 0; i < n; i++)
				c[i] = v[draw(&s, n)];
			qv[r] = quantile_sorting(c, n, q, by_rank);
		}
		interval_of(qv, ci);
		free(qv);
	}
	free(c);
	return est;
}

double rci_quantile(const double *v, size_t n, double q, struct rci_interval *ci)
{
	return quantile_ci(v, n, q, 0, ci);
}

double rci_quantile_rank(const double *v, size_t n, double q, struct rci_interval *ci)
{
	return quantile_ci(v, n, q, 1, ci);
}
