/* bench's printing side: each run's lines, the summary, the report's paths. */
#define _GNU_SOURCE
#include "benchout.h"

#include <stdio.h>
#include <stdlib.h>

#include "../cli.h"
#include "core/report/report.h"
#include "core/report/report_floor.h"
#include "core/base/util.h"
#include "core/base/banned.h"


void bench_on_progress(const char *msg, void *arg)
{
	const struct bench_cli *c = arg;
	char *shown = redact_urls(msg);
	if (!c->quiet)
		fprintf(stderr, "coldstart: bench: %s\n", shown);
	free(shown);
}

void bench_on_notice(const char *msg, void *arg)
{
	(void)arg;
	warning("%s", msg);
}

void bench_on_run_start(const struct bench *b, size_t k, const struct bench_arm *a, const char *path, void *arg)
{
	const struct bench_cli *c = arg;
	if (!c->quiet)
		fprintf(stderr, "coldstart: bench: run %zu/%zu: %s (%s) ...\n", k + 1, b->total, a->label,
			bench_arm_shown(b, a));
	(void)path;
}

int bench_on_run_done(const struct bench *b, size_t k, const struct bench_arm *a, const char *path,
		       struct rr_record *rec, int rc, const struct cs_err *err, void *arg)
{
	struct bench_cli *c = arg;
	json_t *j = NULL;
	int status = runcfg_finish(c->cfg, path, a->mode->name, rec, rc, err, c->all ? &j : NULL);
	if (j)
		json_array_append_new(c->all, j);
	const struct run_result *res = &rec->res;
	if (!status && !c->quiet)
		fprintf(stderr, "coldstart: bench: run %zu/%zu: %s ready in %.3fs%s\n", k + 1, b->total, a->label,
			res->load_s, res->cold > 0 ? "" : res->cold < 0 ? " (cold unverified)" : " (NOT cold)");
	return status;
}

/* After the runs: the summary, the JSON, the sidecar's netsim figures, the report. */
int bench_finish(struct bench *b, struct bench_cli *c, const struct bench_netsim *ns, int rc)
{
	char *t = !c->quiet || rc == 0 ? bench_summary_text(b) : NULL; /* per mode; the comparisons */
	if (t)
		fputs(t, stderr);
	free(t);
	if (c->all)
		print_json(c->all);
	if (!c->quiet && rc == 0)
		fprintf(stderr, "\ncoldstart: bench: %zu rows appended to '%s'\n", b->total, b->run.csv);
	struct cs_err err;
	if (bench_record_rounds(b, &err))
		warning("%s", err.msg);
	if (ns->mountpoint) {
		int cpu_bound = 0;
		char *note = bench_record_netsim(b, ns->mountpoint, &cpu_bound, &err);
		if (note && cpu_bound && !c->quiet)
			warning("net path (netsim): %s", note);
		free(note);
	}
	if (rc)
		return rc;
	struct rp_output o = { .csv = b->run.csv, .model = b->run.name };
	struct rp_written w;
	struct rp_report r;
	if (rp_write(&o, &r, &w, &err))
		return error("%s", err.msg);
	char *fl = c->quiet ? NULL : rpf_text(&r); /* per mode: the overlap floor */
	if (fl)
		fputs(fl, stderr);
	free(fl);
	rp_release(&r);
	if (!c->quiet)
		fprintf(stderr, "coldstart: report: %s\ncoldstart: report: %s\n", w.md, w.svg);
	rp_written_release(&w);
	return 0;
}

