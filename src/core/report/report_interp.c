/* report: the interpretation (ratios, staging, break-even) and the JSON. */
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

/* ---- interpretation ---- */

const struct rp_mode *rpi_mode_get(const struct rp_report *r, const char *name)
{
	for (size_t i = 0; i < r->nmodes; i++)
		if (!strcmp(r->modes[i].name, name) && r->modes[i].runs)
			return &r->modes[i];
	return NULL;
}

/* Time-to-ready of a mode as a user sees it: staged includes the copy. */
double rpi_ttr(const struct rp_mode *m)
{
	return m->has_copy ? m->total.median : m->load.median;
}

void rpi_interpret(const struct rp_report *r, struct interp *in)
{
	memset(in, 0, sizeof(*in));
	const struct rp_mode *nv = rpi_mode_get(r, MODE_NVME), *net = rpi_mode_get(r, MODE_NET), *st = rpi_mode_get(r, MODE_STAGED),
			     *rt = rpi_mode_get(r, MODE_RUNTIME);
	if (nv && net && nv->load.median > 0) {
		in->has_ratio = 1;
		in->ratio = net->load.median / nv->load.median;
		in->diff = net->load.median - nv->load.median;
	}
	if (st && net && st->has_copy) {
		in->has_staged = 1;
		in->staged_total = st->total.median;
		in->staged_vs_net = st->total.median - net->load.median;
		double gain = net->load.median - st->load.median;
		in->has_breakeven = 1;
		in->breakeven = gain > 0 ? (long long)ceil(st->copy.median / gain - 1e-9) : -1;
		if (in->breakeven == 0)
			in->breakeven = 1;
	}
	if (rt) {
		in->has_runtime = 1;
		in->runtime_s = rt->load.median;
	}
}

const char *rpi_verdict(double added, double limit)
{
	return added <= limit ? "acceptable" : "too slow";
}

/* ---- JSON ---- */

/* JSON has no NaN or infinity: such a value is null, never a missing key. */
static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *stats_json(const struct rp_stats *s)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o}", "n", (json_int_t)s->n, "median", num(s->median), "min",
			 num(s->min), "max", num(s->max), "stddev", num(s->n ? s->stddev : NAN));
}

json_t *rp_json(const struct rp_report *r)
{
	struct interp in;
	rpi_interpret(r, &in);
	json_t *modes = json_array();
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		static const char *bases[] = { "cold", "unverified", "warm" };
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "mode", m->name, "basis",
				      bases[m->basis], "runs", (json_int_t)m->runs, "failed", (json_int_t)m->failed,
				      "flagged", (json_int_t)m->flagged, "unreadable", (json_int_t)m->unreadable, "cold_runs", (json_int_t)m->cold_runs,
				      "unverified_runs", (json_int_t)m->unverified_runs, "warm_runs",
				      (json_int_t)m->warm_runs, "load_s", stats_json(&m->load));
		if (m->warm.n && m->basis != RP_WARM)
			json_object_set_new(o, "warm_load_s", stats_json(&m->warm));
		if (m->has_copy) {
			json_object_set_new(o, "copy_s", stats_json(&m->copy));
			json_object_set_new(o, "total_s", stats_json(&m->total));
		}
		if (m->has_phases)
			json_object_set_new(o, "phases", json_pack("{s:o, s:o, s:o}", "before_weights_s", num(m->ph_before),
								   "weights_s", num(m->ph_weights), "after_weights_s",
								   num(m->ph_after)));
		if (m->gpu_mib >= 0)
			json_object_set_new(o, "gpu_mem_used_mb", num(m->gpu_mib));
		json_array_append_new(modes, o);
	}
	char *model = redact_urls(r->model);
	json_t *j = json_pack("{s:s, s:s, s:o, s:{s:f, s:f, s:f}}", "csv", r->csv, "model", model, "modes", modes,
			      "thresholds", "dev_s", r->th.dev_s, "internal_s", r->th.internal_s, "user_s",
			      r->th.user_s);
	free(model);
	if (in.has_ratio) {
		json_object_set_new(j, "net_nvme_ratio", num(in.ratio));
		json_object_set_new(j, "net_nvme_diff_s", num(in.diff));
	}
	if (in.has_staged) {
		json_object_set_new(j, "staged_total_s", num(in.staged_total));
		json_object_set_new(j, "staged_minus_net_s", num(in.staged_vs_net));
	}
	if (in.has_breakeven)
		json_object_set_new(j, "breakeven_cold_starts", in.breakeven < 0 ? json_null() : json_integer(in.breakeven));
	if (in.has_runtime)
		json_object_set_new(j, "runtime_s", num(in.runtime_s));
	static const char *reads[] = { "plain", "load", "load-assumed", "total", "notes", "flagged" };
	json_t *runs = json_array();
	for (size_t i = 0; i < r->nruns; i++) {
		const struct rp_run *u = &r->runs[i];
		if (u->unreadable || (u->copy_s < 0 && u->read_as != RP_READ_FLAGGED))
			continue;
		json_t *o = json_pack("{s:I, s:s, s:s}", "run_id", (json_int_t)u->run_id, "mode", u->mode, "read_as",
				      reads[u->read_as]);
		if (u->flag)
			json_object_set_new(o, "flag", json_string(u->flag));
		json_array_append_new(runs, o);
	}
	json_object_set_new(j, "staged_rows", runs);
	json_t *bad = json_array();
	for (size_t i = 0; i < r->nruns; i++) {
		const struct rp_run *u = &r->runs[i];
		if (u->unreadable)
			json_array_append_new(bad, json_pack("{s:I, s:o, s:s, s:s}", "record", (json_int_t)u->record, "run_id",
							     u->run_id < 0 ? json_null() : json_integer(u->run_id), "mode",
							     u->mode, "why", u->unreadable));
	}
	json_object_set_new(j, "unreadable_rows", bad);
	if (r->caches_basis) {
		static const char *bases[] = { "cold", "unverified", "warm" };
		json_t *cg = json_array();
		for (size_t k = 0; k < r->ncg; k++) {
			const struct rp_cachegrp *g = &r->cgroups[k];
			json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "mode", g->mode, "caches", g->caches, "basis",
					      bases[g->basis], "runs", (json_int_t)g->runs);
			const struct { const char *k; double v; } f[] = {
				{ "ready_s", g->ready }, { "storage_s", g->storage }, { "compile_s", g->compile },
				{ "graph_s", g->graph }, { "rest_s", g->rest }, { "cache_copy_s", g->cache_copy },
				{ "cache_mb", g->cache_mb }, { "cache_after_mb", g->cache_after_mb },
			};
			for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
				json_object_set_new(o, f[i].k, f[i].v >= 0 ? num(f[i].v) : json_null());
			json_array_append_new(cg, o);
		}
		json_object_set_new(j, "caches_basis", json_string(r->caches_basis));
		json_object_set_new(j, "caches", cg);
	}
	return j;
}
