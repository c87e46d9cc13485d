#define _GNU_SOURCE
#include "core/report/report_ci.h"

#include <math.h>
#include <string.h>

#include "tap.h"

static int near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

int main(void)
{
	struct rci_cmp c, c2;

	/* medians and the robust spread, by hand */
	double out[] = { 1, 2, 3, 4, 100 };
	ok(near(rci_median(out, 5), 3), "median of 5");
	ok(near(rci_mad(out, 5), 1.4826), "scaled MAD: 1.4826 * median |v - 3| = 1.4826 * 1");
	ok(rci_outlier(100, 3, rci_mad(out, 5), 5), "100 is beyond 3 +- 3 * 1.4826");
	ok(!rci_outlier(4, 3, rci_mad(out, 5), 5), "4 is within the fence");
	double same[] = { 5, 5, 5, 7 };
	ok(!rci_outlier(7, 5, rci_mad(same, 4), 4), "MAD 0: no fence, nothing flagged");

	/* one run per mode: medians, no interval */
	double one_a[] = { 4 }, one_b[] = { 2 };
	rci_compare(one_a, 1, one_b, 1, 1, &c);
	ok(!c.diff_ci.ok && !c.ratio_ci.ok && !c.noise, "one run: no interval, not called noise");
	ok(near(c.ratio, 2) && near(c.diff, 2) && c.runs_needed == -1, "one run: the medians still compared");

	/* all equal: a zero-width interval */
	double eq_a[] = { 5, 5, 5 }, eq_b[] = { 3, 3, 3 };
	rci_compare(eq_a, 3, eq_b, 3, 0, &c);
	ok(c.diff_ci.ok && near(c.diff_ci.lo, 2) && near(c.diff_ci.hi, 2), "all equal: the difference is [2, 2]");
	ok(near(c.ratio_ci.lo, 5.0 / 3) && near(c.ratio_ci.hi, 5.0 / 3) && !c.noise, "all equal: zero width, a finding");

	/* identical modes: the interval includes 1.0x */
	double id[] = { 10, 12, 11, 13, 9 };
	rci_compare(id, 5, id, 5, 0, &c);
	ok(c.ratio_ci.lo <= 1 && c.ratio_ci.hi >= 1 && c.noise, "identical modes, unpaired: includes 1.0x, noise");
	rci_compare(id, 5, id, 5, 1, &c);
	ok(near(c.diff_ci.lo, 0) && near(c.diff_ci.hi, 0) && c.noise, "identical modes, paired: [0, 0], noise");

	/* far apart: excludes 1 */
	double net[] = { 40, 44, 42 }, nvme[] = { 10, 12, 11 };
	rci_compare(net, 3, nvme, 3, 1, &c);
	ok(c.ratio_ci.ok && c.ratio_ci.lo > 1 && !c.noise, "far apart: the ratio's interval excludes 1.0x");
	ok(c.diff_ci.lo >= 28 && c.diff_ci.hi <= 34 && c.diff_ci.lo <= 31 && c.diff_ci.hi >= 31,
	   "far apart: the interval is around the difference of medians, within the extremes");
	ok(near(c.ratio, 42.0 / 11) && c.runs_needed == -1 && c.paired, "far apart: no runs needed");

	/* fixed seed: the same runs give the same interval */
	rci_compare(net, 3, nvme, 3, 1, &c2);
	ok(!memcmp(&c.diff_ci, &c2.diff_ci, sizeof(c.diff_ci)) && !memcmp(&c.ratio_ci, &c2.ratio_ci, sizeof(c.ratio_ci)),
	   "deterministic: a second call gives the same interval");

	/* fixed seed, pinned: a change of seed, resample count or ranks shows here */
	double f_a[] = { 40, 44, 42, 41, 47 }, f_b[] = { 10, 12, 11, 13, 10 };
	rci_compare(f_a, 5, f_b, 5, 0, &c);
	ok(near(c.diff_ci.lo, 28) && near(c.diff_ci.hi, 36), "seeded, unpaired: difference [28, 36]");
	ok(near(c.ratio_ci.lo, 42.0 / 13) && near(c.ratio_ci.hi, 44.0 / 10), "seeded, unpaired: ratio [42/13, 44/10]");
	rci_compare(f_a, 5, f_b, 5, 1, &c);
	ok(near(c.diff_ci.lo, 28) && near(c.diff_ci.hi, 37), "seeded, paired: difference [28, 37]");

	/* overlapping: includes 1, and the runs it would take */
	double ov_a[] = { 10, 12, 14 }, ov_b[] = { 11, 13, 15 };
	rci_compare(ov_a, 3, ov_b, 3, 0, &c);
	ok(c.noise && c.ratio_ci.lo < 1 && c.ratio_ci.hi > 1, "overlapping: includes 1.0x, within noise");
	/* s = 1.4826 * 2 per mode, d = 1: ceil(2 * (1.96 * 2.9652)^2) = 68 */
	ok(near(c.spread, 2 * 1.4826), "pooled spread of two MADs of 2");
	is_int(c.runs_needed, 68, "runs needed: ceil(2 * (z * s / d)^2)");

	/* pairing by round removes the drift between rounds */
	double drift_a[] = { 11, 21, 31, 41, 51 }, drift_b[] = { 10, 20, 30, 40, 50 };
	rci_compare(drift_a, 5, drift_b, 5, 1, &c);
	ok(near(c.diff_ci.lo, 1) && near(c.diff_ci.hi, 1) && !c.noise, "paired: a constant 1 s apart is [1, 1]");
	rci_compare(drift_a, 5, drift_b, 5, 0, &c);
	ok(c.noise, "unpaired: the drift hides the 1 s");

	long long il_a[] = { 1, 4, 7 }, il_b[] = { 2, 5, 8 }, gr_a[] = { 1, 2, 3 }, gr_b[] = { 4, 5, 6 };
	ok(rci_paired(il_a, 3, il_b, 3), "interleaved run ids: paired");
	ok(!rci_paired(gr_a, 3, gr_b, 3), "grouped run ids: not paired");
	ok(!rci_paired(il_a, 3, il_b, 2), "unequal counts: not paired");

	/* break-even */
	double copy[] = { 58, 62, 60 }, load[] = { 11, 13, 12 };
	long long lo, hi;
	int bok;
	rci_breakeven(copy, load, 3, net, 3, 1, &lo, &hi, &bok);
	ok(bok && lo >= 1 && lo <= 2 && hi >= 2 && hi <= 3, "break-even of 60 / 30: an interval around 2 starts");
	double slow[] = { 40, 45, 50 };
	rci_breakeven(copy, slow, 3, net, 3, 0, &lo, &hi, &bok);
	ok(bok && hi == -1, "a saving that can be <= 0: the upper end is never");
	rci_breakeven(copy, load, 1, net, 3, 0, &lo, &hi, &bok);
	ok(!bok, "one staged run: no interval");

	/* a quantile of one mode and its interval */
	struct rci_interval qi;
	double qv[] = { 12, 10, 11, 14, 13 };
	ok(near(rci_quantile(qv, 5, 0.5, &qi), 12) && qi.ok, "p50: the median, with an interval");
	ok(qi.lo >= 10 && qi.hi <= 14 && qi.lo < 12 && qi.hi > 12, "p50's interval: around 12, within the runs");
	ok(near(rci_quantile(qv, 5, 0.99, &qi), 14) && qi.ok && near(qi.hi, 14) && qi.lo < 14,
	   "p99 of 5 runs: their maximum, the interval ending there");
	double even[] = { 1, 2, 3, 4 };
	ok(near(rci_quantile(even, 4, 0.5, &qi), 2.5), "p50 of an even count: the mean of the middle two, as rci_median");
	ok(near(rci_quantile(even, 4, 0.75, &qi), 3), "p75 by nearest rank: ceil(0.75 * 4) = 3rd");
	struct rci_interval qj;
	rci_quantile(qv, 5, 0.5, &qi);
	rci_quantile(qv, 5, 0.5, &qj);
	ok(qi.ok && qj.ok && qi.lo == qj.lo && qi.hi == qj.hi, "seeded: the same interval twice");
	ok(near(rci_quantile(qv, 1, 0.99, &qi), 12) && !qi.ok, "one run: the value, no interval");
	ok(isnan(rci_quantile(qv, 0, 0.5, &qi)) && !qi.ok, "no run: NAN, no interval");

	/* nearest rank for the median too (the fleet's p50 over nodes) */
	ok(near(rci_quantile_rank(even, 4, 0.5, &qi), 2) && qi.ok, "p50 by rank of 1..4: the 2nd, never 2.5");
	ok(qi.lo >= 1 && qi.hi <= 4 && qi.lo == floor(qi.lo) && qi.hi == floor(qi.hi),
	   "... its interval's ends are values of the set, not means of two");
	double two[] = { 10, 12 };
	ok(near(rci_quantile_rank(two, 2, 0.5, &qi), 10) && near(qi.lo, 10) && near(qi.hi, 12),
	   "two nodes, 10 and 12: p50 10, interval [10, 12]");
	double eq4[] = { 7, 7, 7, 7 };
	ok(near(rci_quantile_rank(eq4, 4, 0.5, &qi), 7) && qi.ok && near(qi.lo, 7) && near(qi.hi, 7),
	   "all equal: zero width");
	ok(near(rci_quantile_rank(two, 1, 0.5, &qi), 10) && !qi.ok, "one node: its figure, no interval");
	ok(near(rci_quantile_rank(qv, 5, 0.5, &qi), rci_quantile(qv, 5, 0.5, &qj)) && qi.lo == qj.lo && qi.hi == qj.hi,
	   "an odd count: the same as rci_quantile (the middle value, the same seeded draws)");

	return done_testing();
}
