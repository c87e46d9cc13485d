/* report: the interpretation (ratios, staging, break-even) and the JSON. */
#define _GNU_SOURCE
#include "report_internal.h"
#include "report_floor.h"

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

/* A mode's figure and run id per basis run (malloc'd, m->runs each). */
static double *figures_of(const struct rp_report *r, const struct rp_mode *m, enum rpi_fig f, long long **ids)
{
	double *v = xcalloc(m->runs ? m->runs : 1, sizeof(double));
	*ids = xcalloc(m->runs ? m->runs : 1, sizeof(long long));
	for (size_t k = 0; k < m->runs; k++) {
		const struct rp_run *u = &r->runs[m->basis_idx[k]];
		v[k] = f == RPI_TTR && m->has_copy ? u->total_s : u->load_s;
		(*ids)[k] = u->run_id;
	}
	return v;
}

void rpi_compare(const struct rp_report *r, const struct rp_mode *a, enum rpi_fig fa, const struct rp_mode *b,
		 enum rpi_fig fb, struct rci_cmp *c)
{
	long long *ia, *ib;
	double *va = figures_of(r, a, fa, &ia), *vb = figures_of(r, b, fb, &ib);
	rci_compare(va, a->runs, vb, b->runs, rci_paired(ia, a->runs, ib, b->runs), c);
	free(va);
	free(vb);
	free(ia);
	free(ib);
}

void rpi_outliers(const struct rp_report *r,
		  void (*fn)(const struct rp_run *u, const char *fig, double v, double lo, double hi, void *arg),
		  void *arg)
{
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		for (int f = RPI_LOAD; f <= (m->has_copy ? RPI_TTR : RPI_LOAD); f++) {
			long long *ids;
			double *v = figures_of(r, m, (enum rpi_fig)f, &ids);
			double med = rci_median(v, m->runs), mad = rci_mad(v, m->runs);
			for (size_t k = 0; k < m->runs; k++)
				if (rci_outlier(v[k], med, mad, m->runs))
					fn(&r->runs[m->basis_idx[k]], f == RPI_TTR ? "total_s" : "load_s", v[k],
					   med - RCI_FENCE_K * mad, med + RCI_FENCE_K * mad, arg);
			free(v);
			free(ids);
		}
	}
}

/* The break-even's interval: the staged runs' copy and start resampled
 * together, against the net runs. */
static void breakeven_ci(const struct rp_report *r, const struct rp_mode *st, const struct rp_mode *net,
			 struct interp *in)
{
	long long *is, *ib;
	double *load = figures_of(r, st, RPI_LOAD, &is), *nv = figures_of(r, net, RPI_LOAD, &ib);
	double *copy = xcalloc(st->runs ? st->runs : 1, sizeof(double));
	for (size_t k = 0; k < st->runs; k++)
		copy[k] = r->runs[st->basis_idx[k]].copy_s;
	rci_breakeven(copy, load, st->runs, nv, net->runs, rci_paired(is, st->runs, ib, net->runs), &in->breakeven_lo,
		      &in->breakeven_hi, &in->breakeven_ci_ok);
	free(copy);
	free(load);
	free(nv);
	free(is);
	free(ib);
}

void rpi_interpret(const struct rp_report *r, struct interp *in)
{
	memset(in, 0, sizeof(*in));
	const struct rp_mode *nv = rpi_mode_get(r, MODE_NVME), *net = rpi_mode_get(r, MODE_NET), *st = rpi_mode_get(r, MODE_STAGED),
			     *rt = rpi_mode_get(r, MODE_RUNTIME), *pf = rpi_mode_get(r, MODE_NET_PREFETCH);
	if (nv && net && nv->load.median > 0) {
		in->has_ratio = 1;
		in->ratio = net->load.median / nv->load.median;
		in->diff = net->load.median - nv->load.median;
		rpi_compare(r, net, RPI_LOAD, nv, RPI_LOAD, &in->net_nvme);
	}
	if (st && net && st->has_copy) {
		in->has_staged = 1;
		in->staged_total = st->total.median;
		in->staged_vs_net = st->total.median - net->load.median;
		rpi_compare(r, st, RPI_TTR, net, RPI_LOAD, &in->staged_net);
		rpi_compare(r, net, RPI_LOAD, st, RPI_LOAD, &in->saving);
		double gain = net->load.median - st->load.median;
		in->has_breakeven = 1;
		in->breakeven_noise = in->saving.noise;
		in->breakeven = gain > 0 ? (long long)ceil(st->copy.median / gain - 1e-9) : -1;
		if (in->breakeven == 0)
			in->breakeven = 1;
		if (!in->breakeven_noise && gain > 0)
			breakeven_ci(r, st, net, in);
	}
	if (pf && net) {
		in->has_prefetch = 1;
		rpi_compare(r, net, RPI_LOAD, pf, RPI_LOAD, &in->prefetch);
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

const char *rpi_verdict_ci(double added, const struct rci_cmp *c, double limit)
{
	if (!c->diff_ci.ok || c->diff_ci.lo > limit || c->diff_ci.hi <= limit)
		return rpi_verdict(added, limit);
	return added <= limit ? "acceptable (within noise)" : "too slow (within noise)";
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

static json_t *ci_json(const struct rci_interval *ci)
{
	return ci->ok ? json_pack("[o, o]", num(ci->lo), num(ci->hi)) : json_null();
}

/* A comparison: medians' difference and ratio, their 95 % intervals (null
 * with fewer than 2 runs in a mode), the pairing, noise and runs needed. */
static json_t *cmp_json(const struct rci_cmp *c)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:b, s:[I, I], s:b, s:o}", "diff_s", num(c->diff), "diff_s_ci",
			 ci_json(&c->diff_ci), "ratio", num(c->ratio), "ratio_ci", ci_json(&c->ratio_ci), "paired",
			 c->paired, "runs", (json_int_t)c->na, (json_int_t)c->nb, "within_noise", c->noise,
			 "runs_needed", c->runs_needed > 0 ? json_integer(c->runs_needed) : json_null());
}

json_t *rpi_cmp_json(const struct rci_cmp *c)
{
	return cmp_json(c);
}

json_t *rpi_ci_json(const struct rci_interval *ci)
{
	return ci_json(ci);
}

static void outlier_json(const struct rp_run *u, const char *fig, double v, double lo, double hi, void *arg)
{
	json_array_append_new(arg, json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:o}", "run_id", (json_int_t)u->run_id,
					     "mode", u->mode, "figure", fig, "value_s", num(v), "fence_lo_s", num(lo),
					     "fence_hi_s", num(hi),
					     "timeline", u->timeline ? json_string(u->timeline) : json_null()));
}

json_t *rpi_json(const struct rp_report *r)
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
		const struct rp_mode *nv = rpi_mode_get(r, MODE_NVME);
		if (nv && m != nv && m->runs) {
			struct rci_cmp k;
			rpi_compare(r, m, RPI_TTR, nv, RPI_LOAD, &k);
			json_object_set_new(o, "added_vs_nvme", cmp_json(&k));
			if (m->has_copy) {
				rpi_compare(r, m, RPI_LOAD, nv, RPI_LOAD, &k);
				json_object_set_new(o, "reused_added_vs_nvme", cmp_json(&k));
			}
		}
		json_array_append_new(modes, o);
	}
	char *model = redact_urls(r->model);
	json_t *j = json_pack("{s:s, s:s, s:o, s:{s:f, s:f, s:f}}", "csv", r->csv, "model", model, "modes", modes,
			      "thresholds", "dev_s", r->th.dev_s, "internal_s", r->th.internal_s, "user_s",
			      r->th.user_s);
	free(model);
	json_t *cmps = json_object();
	if (in.has_ratio) {
		json_object_set_new(j, "net_nvme_ratio", num(in.ratio));
		json_object_set_new(j, "net_nvme_diff_s", num(in.diff));
		json_object_set_new(j, "net_nvme_ratio_ci", ci_json(&in.net_nvme.ratio_ci));
		json_object_set_new(j, "net_nvme_diff_s_ci", ci_json(&in.net_nvme.diff_ci));
		json_object_set_new(j, "net_nvme_within_noise", json_boolean(in.net_nvme.noise));
		json_object_set_new(cmps, "net_vs_nvme", cmp_json(&in.net_nvme));
	}
	if (in.has_staged) {
		json_object_set_new(j, "staged_total_s", num(in.staged_total));
		json_object_set_new(j, "staged_minus_net_s", num(in.staged_vs_net));
		json_object_set_new(j, "staged_minus_net_s_ci", ci_json(&in.staged_net.diff_ci));
		json_object_set_new(j, "staged_minus_net_within_noise", json_boolean(in.staged_net.noise));
		json_object_set_new(cmps, "staged_total_vs_net", cmp_json(&in.staged_net));
		json_object_set_new(cmps, "net_vs_staged_start", cmp_json(&in.saving));
	}
	/* A break-even from a saving within noise is not computed: no
	 * breakeven_cold_starts (null keeps meaning "never"). */
	if (in.has_breakeven) {
		if (!in.breakeven_noise)
			json_object_set_new(j, "breakeven_cold_starts",
					    in.breakeven < 0 ? json_null() : json_integer(in.breakeven));
		json_object_set_new(j, "breakeven_within_noise", json_boolean(in.breakeven_noise));
		if (in.breakeven_ci_ok)
			json_object_set_new(j, "breakeven_ci", json_pack("[I, o]", (json_int_t)in.breakeven_lo,
							 in.breakeven_hi < 0 ? json_null() : json_integer(in.breakeven_hi)));
	}
	if (in.has_prefetch)
		json_object_set_new(cmps, "net_vs_prefetch", cmp_json(&in.prefetch));
	json_object_set_new(j, "comparisons", cmps);
	json_t *outl = json_array();
	rpi_outliers(r, outlier_json, outl);
	json_object_set_new(j, "outliers", outl);
	if (in.has_runtime)
		json_object_set_new(j, "runtime_s", num(in.runtime_s));
	json_object_set_new(j, "floor", rpf_json(r));
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
