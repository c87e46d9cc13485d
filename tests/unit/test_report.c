#define _GNU_SOURCE
#include "core/report/report.h"
#include "core/run/timeline.h"
#include "core/run/sysinfo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures/report"
#endif

static int near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

/* A CSV with these rows (after the header) in a temporary file. */
static char *csv_file(const char *rows)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/test_report.XXXXXX");
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes\n%s", rows);
	fclose(f);
	return path;
}

static const struct rp_mode *mode(const struct rp_report *r, const char *name)
{
	for (size_t i = 0; i < r->nmodes; i++)
		if (!strcmp(r->modes[i].name, name))
			return &r->modes[i];
	return NULL;
}

static const struct rp_run *run_of(const struct rp_report *r, long long id)
{
	for (size_t i = 0; i < r->nruns; i++)
		if (r->runs[i].run_id == id)
			return &r->runs[i];
	return NULL;
}

/* A mode's entry in rp_json's "modes". */
static json_t *jmode(json_t *j, const char *name)
{
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(j, "modes"), i, m)
		if (!strcmp(json_string_value(json_object_get(m, "mode")), name))
			return m;
	return NULL;
}

/* [lo, hi] of an interval in the JSON: 1 and both set, 0 for null. */
static int jci(json_t *ci, double *lo, double *hi)
{
	if (!json_is_array(ci))
		return 0;
	*lo = json_number_value(json_array_get(ci, 0));
	*hi = json_number_value(json_array_get(ci, 1));
	return 1;
}

static json_t *json_of(const char *rows, struct rp_report *r)
{
	struct cs_err e;
	char *p = csv_file(rows);
	json_t *j = rp_load(p, NULL, NULL, NULL, r, &e) ? NULL : rp_json(r);
	unlink(p);
	return j;
}

/* The Results' ratio to nvme, the cache states' intervals and the
 * outliers' effect on the conclusions, on inputs with known answers. */
static void test_noise(void)
{
	struct rp_report r;
	double lo, hi;
	/* one run per mode: the ratio, no interval */
	json_t *j = json_of("1,nvme,m,1,10,,cold=yes; caches=cold\n2,net,m,1,20,,cold=yes; caches=cold\n", &r);
	json_t *c = json_object_get(jmode(j, "net"), "load_vs_nvme");
	ok(near(json_number_value(json_object_get(c, "ratio")), 2) && !jci(json_object_get(c, "ratio_ci"), &lo, &hi),
	   "one run: vs nvme 2.00x, no interval");
	ok(!jci(json_object_get(json_array_get(json_object_get(j, "caches"), 0), "ready_s_ci"), &lo, &hi),
	   "one run: a cache state's ready, no interval");
	json_t *oc = json_object_get(j, "outliers_change");
	ok(json_array_size(json_object_get(oc, "runs_left_out")) == 0 && json_array_size(json_object_get(oc, "changes")) == 0,
	   "no outlier: nothing left out, nothing changes");
	json_decref(j);
	rp_release(&r);

	/* all equal: zero-width intervals */
	j = json_of("1,nvme,m,1,10,,cold=yes; caches=cold\n2,net,m,1,15,,cold=yes; caches=cold\n"
		    "3,nvme,m,1,10,,cold=yes; caches=cold\n4,net,m,1,15,,cold=yes; caches=cold\n"
		    "5,nvme,m,1,10,,cold=yes; caches=cold\n6,net,m,1,15,,cold=yes; caches=cold\n", &r);
	c = json_object_get(jmode(j, "net"), "load_vs_nvme");
	ok(jci(json_object_get(c, "ratio_ci"), &lo, &hi) && near(lo, 1.5) && near(hi, 1.5) &&
		   json_is_false(json_object_get(c, "within_noise")) && json_is_true(json_object_get(c, "paired")),
	   "all equal: vs nvme 1.50x, [1.5, 1.5], paired, a finding");
	ok(jci(json_object_get(json_array_get(json_object_get(j, "caches"), 0), "ready_s_ci"), &lo, &hi) && near(lo, 10) &&
		   near(hi, 10), "all equal: a cache state's ready [10, 10]");
	json_decref(j);
	rp_release(&r);

	/* two identical modes: 1.00x, within noise; warm caches the same as cold */
	j = json_of("1,nvme,m,1,10,,cold=yes; caches=cold\n2,net,m,1,10,,cold=yes; caches=cold\n"
		    "3,nvme,m,1,12,,cold=yes; caches=warm\n4,net,m,1,12,,cold=yes; caches=warm\n"
		    "5,nvme,m,1,11,,cold=yes; caches=cold\n6,net,m,1,11,,cold=yes; caches=cold\n"
		    "7,nvme,m,1,11,,cold=yes; caches=warm\n8,net,m,1,11,,cold=yes; caches=warm\n"
		    "9,nvme,m,1,12,,cold=yes; caches=cold\n10,net,m,1,12,,cold=yes; caches=cold\n"
		    "11,nvme,m,1,10,,cold=yes; caches=warm\n12,net,m,1,10,,cold=yes; caches=warm\n", &r);
	c = json_object_get(jmode(j, "net"), "load_vs_nvme");
	ok(near(json_number_value(json_object_get(c, "ratio")), 1) && jci(json_object_get(c, "ratio_ci"), &lo, &hi) &&
		   near(lo, 1) && near(hi, 1) && json_is_true(json_object_get(c, "within_noise")),
	   "identical modes, paired: 1.00x, [1, 1], within noise");
	json_t *w = NULL, *g;
	size_t i;
	json_array_foreach(json_object_get(j, "caches"), i, g)
		if (!strcmp(json_string_value(json_object_get(g, "mode")), "nvme") &&
		    !strcmp(json_string_value(json_object_get(g, "caches")), "warm"))
			w = json_object_get(g, "saves_vs_cold");
	ok(w && near(json_number_value(json_object_get(w, "diff_s")), 0) && json_is_true(json_object_get(w, "within_noise")) &&
		   json_is_true(json_object_get(w, "paired")), "warm caches with the same runs as cold: saves 0 s, within noise, paired");
	json_decref(j);
	rp_release(&r);

	/* an outlier that turns a finding into noise: net's 2.0 s */
	j = json_of("1,nvme,m,1,10.0,,cold=yes\n2,net,m,1,10.5,,cold=yes\n3,nvme,m,1,10.1,,cold=yes\n4,net,m,1,10.6,,cold=yes\n"
		    "5,nvme,m,1,10.2,,cold=yes\n6,net,m,1,10.5,,cold=yes\n7,nvme,m,1,10.1,,cold=yes\n8,net,m,1,10.6,,cold=yes\n"
		    "9,nvme,m,1,10.0,,cold=yes\n10,net,m,1,2.0,,cold=yes\n", &r);
	oc = json_object_get(j, "outliers_change");
	json_t *x = json_array_get(json_object_get(oc, "changes"), 0);
	ok(json_array_size(json_object_get(oc, "runs_left_out")) == 1 &&
		   json_integer_value(json_array_get(json_object_get(oc, "runs_left_out"), 0)) == 10,
	   "the outlier left out: run 10");
	ok(json_array_size(json_object_get(oc, "changes")) == 1 &&
		   !strcmp(json_string_value(json_object_get(x, "conclusion")), "net vs nvme") &&
		   !strcmp(json_string_value(json_object_get(x, "with")), "within noise") &&
		   !strcmp(json_string_value(json_object_get(x, "without")), "a finding"),
	   "net vs nvme: within noise with it, a finding without (and nothing else changes)");
	/* without: net 10.5 10.6 10.5 10.6 (median 10.55), nvme 10.0 10.1 10.2 10.1 10.0 (10.1), unpaired */
	json_t *wo = json_object_get(x, "without_cmp");
	ok(near(json_number_value(json_object_get(wo, "diff_s")), 0.45) && json_is_false(json_object_get(wo, "paired")) &&
		   jci(json_object_get(wo, "diff_s_ci"), &lo, &hi) && near(lo, 0.35) && near(hi, 0.6),
	   "without it: +0.45 s, seeded interval [0.35, 0.6], unpaired");
	json_decref(j);
	rp_release(&r);
}

int main(void)
{
	struct rp_stats s;
	double v[] = { 4, 1, 3, 2 };
	rp_stats_of(v, 4, &s);
	ok(near(s.median, 2.5) && near(s.min, 1) && near(s.max, 4), "even count: median between the middle two");
	ok(near(s.stddev, sqrt(5.0 / 3.0)), "sample standard deviation");
	rp_stats_of(v, 1, &s);
	ok(near(s.median, 4) && near(s.stddev, 0), "one value");
	rp_stats_of(v, 0, &s);
	ok(isnan(s.median) && s.n == 0, "no values: NaN, not a number made up");

	struct rp_report r;
	struct cs_err e;
	ok(rp_load(FIXTURE_DIR "/bench.csv", FIXTURE_DIR "/bench.meta.json", "qwen2.5-7b", NULL, &r, &e) == 0,
	   "load the fixture");
	is_int(r.nmodes, 4, "four modes");
	is_str(r.modes[2].name, "staged", "modes in nvme, net, staged, ..., runtime order");
	ok(r.modes[2].has_copy && near(r.modes[2].copy.median, 60) && near(r.modes[2].total.median, 72),
	   "copy_s and total_s from the notes");
	is_int(r.modes[1].failed, 1, "a failed run is counted apart");
	char *md = rp_markdown(&r, "x.svg");
	ok(md && strstr(md, "after **2 cold starts**"), "break-even in the Markdown");
	char *svg = rp_svg(&r);
	ok(svg && strstr(svg, "<svg") && strstr(svg, "</svg>"), "an SVG document");
	json_t *j = rp_json(&r);
	ok(json_integer_value(json_object_get(j, "breakeven_cold_starts")) == 2, "break-even in the JSON");
	json_decref(j);
	free(md);
	free(svg);
	rp_release(&r);

	/* Warm runs never enter cold statistics. */
	char *p1 = csv_file("1,nvme,m,1,20.0,,cold=yes\n2,nvme,m,1,2.0,,cold=no\n3,nvme,m,1,2.1,,cold=no\n"
			    "4,net,m,1,61,,cold=yes\n5,net,m,1,60,,cold=yes\n6,net,m,1,62,,cold=yes\n"
			    "7,runtime,m,1,3,,cold=no\n8,net+prefetch,m,1,30,,cold=unverified\n");
	ok(rp_load(p1, NULL, NULL, NULL, &r, &e) == 0, "load cold and warm rows");
	const struct rp_mode *nm = mode(&r, "nvme");
	ok(nm && nm->basis == RP_COLD && nm->runs == 1 && near(nm->load.median, 20), "nvme: the cold run only");
	ok(nm && nm->warm_runs == 2 && near(nm->warm.median, 2.05), "nvme: the warm runs apart");
	j = rp_json(&r);
	ok(near(json_real_value(json_object_get(j, "net_nvme_ratio")), 61.0 / 20.0), "ratio from cold medians: 61/20");
	json_decref(j);
	ok(mode(&r, "runtime")->basis == RP_WARM && mode(&r, "net+prefetch")->basis == RP_UNVERIFIED,
	   "a mode without cold runs has another basis");
	md = rp_markdown(&r, NULL);
	ok(md && strstr(md, "**3.05x**") && !strstr(md, "**29."), "the Markdown quotes 3.05x, not 29x");
	ok(md && strstr(md, "- **runtime:** no cold run") && strstr(md, "- **net+prefetch:** no run verified cold"),
	   "and says which modes have no cold run");
	ok(md && strstr(md, "| nvme | 2 | 2.050 |"), "warm runs in their own table");
	free(md);
	rp_release(&r);
	unlink(p1);

	/* Staged rows: the column holds the start, or copy + start. */
	p1 = csv_file("1,staged,m,1,52.1,,\"copy_s=30.1, load_s=22.0\"\n"
		      "2,staged,m,1,,,\"copy_s=30.0, load_s=21.0\"\n"
		      "3,staged,m,1,40.0,,\"copy_s=30.1, load_s=22.0\"\n"
		      "4,staged,m,1,21.5,,copy_s=30.5\n"
		      "5,staged,m,1,22.000,,cold=yes; copy_s=30.000; load_s=22.000; total_s=52.000\n"
		      "6,staged,m,1,22.0,,copy_s=30.0; total_s=60.0\n");
	ok(rp_load(p1, NULL, NULL, NULL, &r, &e) == 0, "load staged rows");
	ok(run_of(&r, 1)->read_as == RP_READ_TOTAL && near(run_of(&r, 1)->load_s, 22) &&
		   near(run_of(&r, 1)->total_s, 52.1), "column = copy + load: not counted twice");
	ok(run_of(&r, 2)->read_as == RP_READ_NOTES && near(run_of(&r, 2)->load_s, 21), "empty column: from the notes");
	ok(run_of(&r, 3)->read_as == RP_READ_FLAGGED && run_of(&r, 3)->flag, "disagreeing row flagged");
	ok(run_of(&r, 4)->read_as == RP_READ_LOAD_ASSUMED && near(run_of(&r, 4)->total_s, 52), "copy only: the seed's way");
	ok(run_of(&r, 5)->read_as == RP_READ_LOAD, "coldstart's own row: column = load");
	ok(run_of(&r, 6)->read_as == RP_READ_FLAGGED, "total_s that is neither column nor column + copy: flagged");
	const struct rp_mode *sm = mode(&r, "staged");
	ok(sm && sm->flagged == 2 && sm->failed == 0, "flagged rows are neither failed nor measured");
	ok(sm && sm->basis == RP_COLD && sm->runs == 1 && sm->unverified_runs == 3,
	   "the one verified cold row is the basis; the hand-written ones are counted apart");
	md = rp_markdown(&r, NULL);
	ok(md && strstr(md, "run 3 (staged): its load\\_s column 40.0 matches neither"), "flagged rows listed with the reason");
	ok(md && strstr(md, "- run 1: `load_s` is copy + start"), "the report says how each row was read");
	free(md);
	rp_release(&r);
	unlink(p1);

	/* Numbers that are not finite decimals: the row is unreadable, listed,
	 * in no statistic (NaN, inf and hex 0x10 were read by strtod before). */
	p1 = csv_file("1,nvme,m,1,10.0,,cold=yes\n"
		      "2,nvme,m,1,nan,,cold=yes\n"
		      "3,nvme,m,1,inf,,cold=yes\n"
		      "4,nvme,m,1,0x10,,cold=yes\n"
		      "5,nvme,m,1, 12.0,,cold=yes\n"
		      "6,net,m,1,40.0,,cold=yes\n"
		      "7,net,m,1,41.0,,cold=yes; weights_s=inf\n"
		      "8,staged,m,1,20.0,,cold=yes; copy_s=nan; load_s=20.0\n"
		      "9,staged,m,1,20.0,,cold=yes; copy_s=30.0; load_s=20.0; total_s=0x32\n"
		      "99999999999999999999,net,m,1,42.0,,cold=yes\n"
		      "11,net,m,1e3,43.0,,cold=yes\n"
		      "12,net,m,1,44.0,NaN,cold=yes\n"
		      "13,net,m,1,-1,,cold=yes\n"
		      "14,net,m,1,1e300,,cold=yes\n");
	ok(rp_load(p1, NULL, NULL, NULL, &r, &e) == 0, "load rows with NaN, inf and hex");
	nm = mode(&r, "nvme");
	ok(nm && nm->runs == 1 && near(nm->load.median, 10) && near(nm->load.max, 10) && nm->unreadable == 4,
	   "nvme: its one valid run is its statistics; nan, inf, 0x10 and ' 12.0' are unreadable (%zu)",
	   nm ? nm->unreadable : 0);
	const struct rp_mode *netm = mode(&r, "net");
	ok(netm && netm->runs == 1 && near(netm->load.median, 40) && netm->unreadable == 6,
	   "net: weights_s=inf, an overflowing run_id, max_model_len 1e3, gpu NaN, -1, 1e300 left out (%zu)",
	   netm ? netm->unreadable : 0);
	sm = mode(&r, "staged");
	ok(sm && sm->runs == 0 && sm->unreadable == 2 && sm->failed == 0, "staged: copy_s=nan and total_s=0x32 unreadable");
	is_int(r.nunreadable, 12, "12 unreadable rows in all");
	ok(run_of(&r, 4) && run_of(&r, 4)->unreadable && strstr(run_of(&r, 4)->unreadable, "load_s '0x10' is not a finite decimal"),
	   "the reason names the column and the value");
	ok(run_of(&r, 8) && strstr(run_of(&r, 8)->unreadable, "the notes' copy_s 'nan'"), "... or the note");
	const struct rp_run *big = NULL;
	for (size_t i = 0; i < r.nruns; i++)
		if (r.runs[i].record == 11)
			big = &r.runs[i];
	ok(big && big->run_id == -1 && strstr(big->unreadable, "run_id '99999999999999999999' is not a whole number"),
	   "an overflowing run_id: unreadable, not LLONG_MAX");
	j = rp_json(&r);
	json_t *jm = json_object_get(j, "modes");
	ok(json_array_size(jm) == 3, "every mode is in the JSON (%zu)", json_array_size(jm));
	ok(json_array_size(json_object_get(j, "unreadable_rows")) == 12, "the unreadable rows listed in the JSON");
	ok(near(json_real_value(json_object_get(j, "net_nvme_ratio")), 4.0), "the ratio of the valid runs: 40/10");
	size_t mi;
	json_t *mo;
	int all_finite = 1;
	json_array_foreach(jm, mi, mo) {
		json_t *med = json_object_get(json_object_get(mo, "load_s"), "median");
		int runs = (int)json_integer_value(json_object_get(mo, "runs"));
		all_finite &= runs ? json_is_real(med) && isfinite(json_real_value(med)) : json_is_null(med);
	}
	ok(all_finite, "every mode's median is a finite number, or null without runs");
	json_decref(j);
	md = rp_markdown(&r, NULL);
	ok(md && strstr(md, "(and 12 unreadable, left out)"), "the Markdown counts them");
	ok(md && strstr(md, "- record 5 (run 4, nvme): load\\_s '0x10' is not a finite decimal number."),
	   "and lists each with its reason");
	ok(md && strstr(md, "| - | net | - | - | yes | unreadable |"), "the runs table says unreadable, no made-up id");
	ok(md && !strstr(md, " nan |") && !strstr(md, " inf |") && !strstr(md, "16.000"), "no nan, inf or 16 in the Markdown's figures");
	free(md);
	rp_release(&r);
	unlink(p1);

	/* A mode whose runs are all unreadable: said, no figures. */
	p1 = csv_file("1,nvme,m,1,inf,,cold=yes\n2,net,m,1,3.0,,cold=yes\n");
	ok(rp_load(p1, NULL, NULL, NULL, &r, &e) == 0, "load a mode with only an unreadable row");
	j = rp_json(&r);
	ok(json_array_size(json_object_get(j, "modes")) == 2, "the mode is still in the JSON");
	json_decref(j);
	md = rp_markdown(&r, NULL);
	ok(md && strstr(md, "- **nvme:** no measured run (0 failed, 0 flagged, 1 unreadable)"), "no figures, and why");
	free(md);
	rp_release(&r);
	unlink(p1);

	/* What goes into Markdown is escaped. */
	p1 = csv_file("1,a|b,<b>bold</b>,1,1.0,,cold=yes\n");
	ok(rp_load(p1, NULL, NULL, NULL, &r, &e) == 0, "load odd names");
	md = rp_markdown(&r, "c (1).svg");
	ok(md && strstr(md, "| a\\|b | 1 |") && !strstr(md, "| a|b |"), "a '|' in a mode does not break tables");
	ok(md && strstr(md, "# Cold start by storage path: &lt;b&gt;bold&lt;/b&gt;") && !strstr(md, "<b>"),
	   "HTML in the name is not HTML");
	ok(md && strstr(md, "](c%20%281%29.svg)"), "link targets are percent-encoded");
	free(md);
	rp_release(&r);
	unlink(p1);

	ok(rp_load(FIXTURE_DIR "/nosuch.csv", NULL, NULL, NULL, &r, &e) < 0 && strstr(e.msg, "cannot open"),
	   "missing CSV named");
	rp_release(&r);

	struct tl_sample tl[3] = { { 0, 0, 1e6, -1, 0, -1 }, { 0.1, 5e7, 2e8, -1, 5e7, -1 }, { 0.2, 1e8, 3e8, -1, 1e8, -1 } };
	struct tl_marker mk[2] = { { "weights start", 0.05 }, { "ready", 0.2 } };
	char *t = rp_timeline_svg("t", tl, 3, mk, 2);
	ok(t && strstr(t, "polyline") && strstr(t, "ready"), "timeline SVG with lines and markers");
	free(t);
	t = rp_timeline_svg("empty", NULL, 0, NULL, 0);
	ok(t && strstr(t, "</svg>"), "an empty timeline is still a valid SVG");
	free(t);

	is_str(si_kind("nfs4", NULL, -1), "network", "nfs4 is network");
	is_str(si_kind("fuse.coldstart-netsim", NULL, -1), "FUSE", "FUSE");
	is_str(si_kind("xfs", "nvme0n1", 0), "NVMe SSD", "NVMe");
	is_str(si_kind("ext4", "sda", 1), "HDD", "rotational disk");
	is_str(si_kind("ext4", "sdb", 0), "SSD", "SSD");
	is_str(si_kind("ext4", "vda", 1), "virtual disk", "virtio disk");
	json_t *p = si_path_json("/");
	ok(json_object_get(p, "mount") && json_object_get(p, "fstype") && json_object_get(p, "kind"),
	   "the root's mount, file system and kind");
	json_decref(p);
	json_t *h = si_host_json();
	ok(json_integer_value(json_object_get(h, "cores")) >= 1 && json_object_get(h, "kernel"), "host: cores, kernel");
	json_decref(h);
	test_noise();
	return done_testing();
}
