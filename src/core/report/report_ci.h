#ifndef CS_REPORT_CI_H
#define CS_REPORT_CI_H
/*
 * report_ci: is a difference between two modes' run times real? A 95 %
 * bootstrap interval for the ratio and the difference of their medians,
 * the robust spread, the runs it would take, and the outlier fence.
 *
 * The bootstrap draws RCI_RESAMPLES resamples (with replacement) of each
 * mode's runs from a fixed-seed PRNG (splitmix64 from RCI_SEED, restarted
 * for every comparison), so the same runs always give the same interval.
 * Paired (see rci_paired): one draw of a round index takes both modes' runs
 * of that round, which removes the drift between rounds; unpaired, each
 * mode is drawn on its own. The interval is the 51st and 1950th of the
 * 2000 sorted resampled values (percentile bootstrap).
 *
 * Pure functions: nothing is kept, nothing allocated survives a call
 * (scratch memory is freed before return), thread-safe.
 */
#include <stddef.h>

#define RCI_RESAMPLES 2000
#define RCI_SEED 0x636f6c6473746172ULL  /* "coldstar" */
#define RCI_Z 1.959963984540054         /* the normal's 97.5 % point */
#define RCI_MAD_SCALE 1.4826            /* MAD -> sigma for normal data */
#define RCI_FENCE_K 3.0                 /* outliers: beyond median +- k * scaled MAD */

struct rci_interval {
	int ok;           /* 0: no interval (a mode with fewer than 2 runs) */
	double lo, hi;
};

/* Mode a against mode b. */
struct rci_cmp {
	size_t na, nb;
	int paired;
	double ratio, diff;              /* med(a) / med(b) (NAN when med(b) <= 0), med(a) - med(b) */
	struct rci_interval ratio_ci, diff_ci;
	int noise;                       /* diff_ci includes 0 (so ratio_ci includes 1.0x) */
	double spread;                   /* pooled robust spread: sqrt((s_a^2 + s_b^2) / 2) */
	long long runs_needed;           /* when noise: per mode; -1: none (no difference, or no spread) */
};

/*
 * Compare a[0..na) with b[0..nb); paired requires na == nb (else ignored).
 * Fewer than 2 values in either: medians only, no interval (ok = 0,
 * noise = 0). runs_needed = max(ceil(2 * (RCI_Z * s / |d|)^2), n + 1)
 * with s the spread and d the difference of medians, n the larger count;
 * s is the scaled MAD of each mode, or its sample standard deviation where
 * the MAD is 0.
 */
void rci_compare(const double *a, size_t na, const double *b, size_t nb, int paired, struct rci_cmp *c);

/*
 * Break-even of a staged copy: ceil(copy / (net - load)) over medians
 * (copy[i] and load[i] from one staged run, resampled together; net paired
 * with them by index when paired and nnet == nst). lo/hi as cold starts;
 * hi = -1 when some resample's saving is <= 0 at the upper percentile
 * ("never"). ok = 0 as rci_compare's.
 */
void rci_breakeven(const double *copy, const double *load, size_t nst, const double *net, size_t nnet, int paired,
		   long long *lo, long long *hi, int *ok);

/* Were two modes interleaved round by round? Run ids in CSV order; yes
 * when both have the same count n >= 2 and every run of round k of either
 * precedes every run of round k + 1 of either. */
int rci_paired(const long long *ida, size_t na, const long long *idb, size_t nb);

/*
 * One mode's quantile q (0 < q < 1) of v[0..n) and its 95 % percentile
 * bootstrap interval (RCI_RESAMPLES resamples of v, seeded as above): the
 * median (q 0.5) as rci_median takes it, any other q by nearest rank (the
 * smallest value with at least q of them at or below it). n == 0: NAN, no
 * interval; n == 1: the value, no interval (ci->ok 0). A high quantile of
 * few runs is their maximum, and so is its interval's upper end.
 */
double rci_quantile(const double *v, size_t n, double q, struct rci_interval *ci);
/* The same by nearest rank for every q, 0.5 too (the fleet report's p50
 * over the nodes' figures: one of them, never a mean of two). */
double rci_quantile_rank(const double *v, size_t n, double q, struct rci_interval *ci);

/* Median and scaled MAD (RCI_MAD_SCALE * median |v - median|); n == 0: NAN. */
double rci_median(const double *v, size_t n);
double rci_mad(const double *v, size_t n);

/* v outside median +- RCI_FENCE_K * mad (never when mad is 0 or n < 3). */
int rci_outlier(double v, double median, double mad, size_t n);

#endif
