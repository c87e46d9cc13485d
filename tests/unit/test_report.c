#define _GNU_SOURCE
#include "core/report.h"
#include "core/sysinfo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures/report"
#endif

static int near(double a, double b)
{
	return fabs(a - b) < 1e-9;
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
	rp_free(&r);

	ok(rp_load(FIXTURE_DIR "/nosuch.csv", NULL, NULL, NULL, &r, &e) < 0 && strstr(e.msg, "cannot open"),
	   "missing CSV named");
	rp_free(&r);

	struct tl_sample tl[3] = { { 0, 0, 1e6, -1, 0 }, { 0.1, 5e7, 2e8, -1, 5e7 }, { 0.2, 1e8, 3e8, -1, 1e8 } };
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
	return done_testing();
}
