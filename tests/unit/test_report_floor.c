/* The overlap floor: its arithmetic on known inputs, and what a loaded
 * report's floor stands on (report_floor.h). */
#define _GNU_SOURCE
#include "core/report/report.h"
#include "core/report/report_floor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

static int near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

static char *write_tmp(const char *suffix, const char *text)
{
	char *path = NULL;
	if (asprintf(&path, "/tmp/test_report_floor.%d%s", (int)getpid(), suffix) < 0)
		return NULL;
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static const struct rpf_mode *fmode(const struct rpf_report *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->modes[i].m->name, name))
			return &f->modes[i];
	return NULL;
}

static void arithmetic(void)
{
	struct rpf_floor f;
	/* 10 GB at 1 GB/s against a 4 s runtime: storage dominates. */
	struct rpf_inputs in = { .runtime_s = 4, .bytes = 10e9, .rate = 1e9, .copy_rate = 0, .h2d_rate = 0 };
	rpf_compute(&in, &f);
	ok(f.ok && near(f.floor_s, 10) && near(f.sum_s, 14) && f.dominant == RPF_STORAGE,
	   "max(runtime 4, storage 10) = 10 s; their sum 14 s; storage dominates");
	in.h2d_rate = 20e9;
	rpf_compute(&in, &f);
	ok(f.ok && near(f.h2d_s, 0.5) && near(f.floor_s, 10.5) && near(f.sum_s, 14.5),
	   "host->GPU adds after the overlap: 10 + 0.5");
	in.rate = 5e9;
	in.h2d_rate = 0;
	rpf_compute(&in, &f);
	ok(f.ok && near(f.floor_s, 4) && f.dominant == RPF_RUNTIME && near(f.h2d_s, 0),
	   "a fast path: the runtime's 4 s is the floor; no host->GPU rate counts 0");
	in.staged = 1;
	in.copy_rate = 1e9;
	rpf_compute(&in, &f);
	ok(f.ok && near(f.copy_s, 10) && near(f.floor_s, 14) && near(f.storage_s, 12) && f.dominant == RPF_STORAGE,
	   "staged: the copy (10 s) first, then max(runtime 4, local read 2)");
	in.copy_rate = 0;
	rpf_compute(&in, &f);
	ok(!f.ok && f.why && strstr(f.why, "network path"), "staged without the network path's rate: no floor");
	in = (struct rpf_inputs){ .runtime_s = -1, .bytes = 10e9, .rate = 2e9 };
	rpf_compute(&in, &f);
	ok(f.ok && near(f.floor_s, 5) && near(f.runtime_s, 0), "no runtime mode: storage alone (a lower bound)");
	in = (struct rpf_inputs){ .runtime_s = 3, .bytes = 10e9, .rate = 0 };
	rpf_compute(&in, &f);
	ok(!f.ok && strstr(f.why, "read rate"), "no measured rate: no floor, and why");
	in = (struct rpf_inputs){ .runtime_s = 3, .bytes = 0, .rate = 0 };
	rpf_compute(&in, &f);
	ok(f.ok && near(f.floor_s, 3) && near(f.storage_s, 0) && f.dominant == RPF_RUNTIME,
	   "zero bytes: nothing to read, the runtime is the floor (no rate needed)");
	in = (struct rpf_inputs){ .runtime_s = -1, .bytes = 0, .rate = 0 };
	rpf_compute(&in, &f);
	ok(!f.ok && f.why, "zero bytes and no runtime mode: no floor of 0 s");
	in = (struct rpf_inputs){ .runtime_s = 3, .bytes = -1, .rate = 1e9 };
	rpf_compute(&in, &f);
	ok(!f.ok && strstr(f.why, "size"), "unknown size: no floor");
}

/* A CSV of runtime 2 s, nvme 4 s, net 12 s, net+prefetch 6 s, staged; a
 * sidecar with a 1 GB model and read rates nvme 1 GB/s, net 0.1 GB/s. */
static void loaded(void)
{
	const char *rows =
		"run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes\n"
		"1,nvme,m,,4.0,,cold=yes\n"
		"2,net,m,,12.0,,cold=yes\n"
		"3,net+prefetch,m,,6.0,,cold=yes; prefetch=8; prefetch_bytes=1000000000; prefetch_s=8\n"
		"4,staged,m,,3.0,,cold=yes; staged_bytes=1000000000; copy_s=10; load_s=3.0; total_s=13.0\n"
		"5,runtime,m,,2.0,,cold=yes; weights=dummy\n"
		"6,nvme,m,,4.2,,cold=yes\n"
		"7,net,m,,12.4,,cold=yes\n"
		"8,net+prefetch,m,,6.2,,cold=yes; prefetch=8; prefetch_bytes=1000000000; prefetch_s=8\n"
		"9,staged,m,,3.2,,cold=yes; staged_bytes=1000000000; copy_s=10; load_s=3.2; total_s=13.2\n"
		"10,runtime,m,,2.2,,cold=yes; weights=dummy\n";
	const char *meta = "{\"model_identity\": {\"paths\": [{\"mode\": \"nvme\", \"bytes\": 1000000000}]},"
			   " \"read_rates\": [{\"path\": \"nvme\", \"bytes\": 1000000000, \"seconds\": 1, \"bytes_per_s\": 1e9, \"cold\": true},"
			   " {\"path\": \"net\", \"bytes\": 1000000000, \"seconds\": 10, \"bytes_per_s\": 1e8, \"cold\": true}],"
			   " \"netsim_stats\": {\"profile\": \"filestore-basic\", \"bw_bytes_per_s\": 104857600,"
			   " \"delivered_bytes_per_s\": 9.5e7}}";
	char *csv = write_tmp(".csv", rows), *mp = write_tmp(".meta.json", meta);
	struct rp_report r;
	struct cs_err e;
	ok(rp_load(csv, mp, NULL, NULL, &r, &e) == 0, "load a CSV and its sidecar");
	struct rpf_report f;
	rpf_of(&r, &f);
	ok(near(f.bytes, 1e9) && near(f.runtime_s, 2.1), "the model's bytes and the runtime's median");
	ok(near(f.nvme.bps, 1e9) && near(f.net.bps, 1.25e8) && strstr(f.net.src, "prefetch"),
	   "the net rate: the fastest measured (prefetch's 125 MB/s over the timed read's 100 MB/s)");
	const struct rpf_mode *net = fmode(&f, "net"), *pf = fmode(&f, "net+prefetch"), *nv = fmode(&f, "nvme"),
			      *st = fmode(&f, "staged");
	ok(net && net->f.ok && near(net->f.floor_s, 8) && near(net->ratio, 12.2 / 8) && near(net->left_s, 4.2),
	   "net: floor 8 s, 1.53x, 4.2 s left on the table");
	ok(pf && near(pf->ratio, 6.1 / 8) && pf->f.dominant == RPF_STORAGE, "net+prefetch against the same floor");
	ok(nv && near(nv->f.floor_s, 2.1) && nv->f.dominant == RPF_RUNTIME, "nvme: the runtime dominates");
	ok(st && near(st->f.floor_s, 8 + 2.1) && near(st->median_s, 13.1), "staged: the copy first, then its start");
	ok(!fmode(&f, "runtime"), "no floor for the runtime mode itself");
	rpf_release(&f);
	char *md = rp_markdown(&r, NULL);
	ok(md && strstr(md, "### Overlap floor") && strstr(md, "**Storage pull or runtime warm-up?**"),
	   "the Markdown has the floor's table and the Interpretation's answer");
	ok(md && strstr(md, "prefetch gets net+prefetch to **0.76x of the floor**"), "prefetch's share of the floor");
	ok(md && strstr(md, "netsim `filestore-basic`"), "the simulated profile and its delivered rate");
	free(md);
	json_t *j = rp_json(&r), *fl = json_object_get(j, "floor");
	ok(fl && near(json_number_value(json_object_get(fl, "runtime_s")), 2.1) && json_is_false(json_object_get(fl, "h2d_counted")),
	   "JSON: floor.runtime_s, h2d not counted");
	json_t *m0 = json_array_get(json_object_get(fl, "modes"), 1);
	ok(!strcmp(json_string_value(json_object_get(m0, "mode")), "net") &&
		   near(json_number_value(json_object_get(m0, "floor_s")), 8) &&
		   !strcmp(json_string_value(json_object_get(m0, "dominant")), "storage"),
	   "JSON: net's floor and its dominant term");
	json_decref(j);
	char *t = rpf_text(&r);
	ok(t && strstr(t, "overlap floor") && strstr(t, "net+prefetch") && strstr(t, "0.76x"), "bench's summary lines");
	free(t);
	rp_release(&r);

	/* No runtime mode, no sidecar: rates from the runs, storage alone. */
	char *csv2 = write_tmp(".2.csv", "run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes\n"
				       "1,nvme,m,,4.0,,cold=yes\n"
				       "2,net+prefetch,m,,6.0,,cold=yes; prefetch_bytes=1000000000; prefetch_s=5\n");
	ok(rp_load(csv2, NULL, NULL, NULL, &r, &e) == 0, "load a CSV without a sidecar");
	rpf_of(&r, &f);
	nv = fmode(&f, "nvme");
	pf = fmode(&f, "net+prefetch");
	ok(f.runtime_s < 0 && near(f.bytes, 1e9) && strstr(f.bytes_src, "notes"), "bytes from the notes, no runtime");
	ok(nv && !nv->f.ok && strstr(nv->f.why, "read rate"), "nvme: no rate measured, no floor");
	ok(pf && pf->f.ok && near(pf->f.floor_s, 5) && near(pf->ratio, 1.2), "net+prefetch: 5 s of storage alone");
	rpf_release(&f);
	md = rp_markdown(&r, NULL);
	ok(md && strstr(md, "No `runtime` mode") && strstr(md, "no floor: no read rate measured"),
	   "the Markdown says what is missing");
	free(md);
	rp_release(&r);
	unlink(csv);
	unlink(mp);
	unlink(csv2);
	free(csv);
	free(mp);
	free(csv2);
}

int main(void)
{
	arithmetic();
	loaded();
	return done_testing();
}
