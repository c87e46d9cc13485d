/* report: what the noise and the outliers do to the figures -- the
 * Results table's ratio to nvme with its interval, the cache states'
 * intervals, and the conclusions that the flagged outliers change. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/strbuf.h"
#include "core/base/banned.h"

/* ---- the Results table's "vs nvme" ---- */

void rpi_vs_nvme(const struct rp_report *r, const struct rp_mode *m, const struct rp_mode *nv, struct rci_cmp *c)
{
	rpi_compare(r, m, RPI_LOAD, nv, RPI_LOAD, c);
}

void rpi_md_vs_nvme(struct strbuf *b, const struct rp_report *r, const struct rp_mode *m, const struct rp_mode *nv)
{
	if (!nv || !m->runs || !(nv->load.median > 0)) {
		strbuf_addf(b, " - |");
		return;
	}
	if (m == nv) {
		strbuf_addf(b, " 1.00x |");
		return;
	}
	struct rci_cmp c;
	rpi_vs_nvme(r, m, nv, &c);
	strbuf_addf(b, " %.2fx", c.ratio);
	if (!c.diff_ci.ok) {
		size_t n = c.na < c.nb ? c.na : c.nb;
		strbuf_addf(b, " (n/a, %zu run%s)", n, n == 1 ? "" : "s");
	} else if (c.ratio_ci.ok) {
		strbuf_addf(b, " (%.2fx to %.2fx%s)", c.ratio_ci.lo, c.ratio_ci.hi, c.noise ? ", within noise" : "");
	}
	strbuf_addf(b, " |");
}

void rpi_md_vs_nvme_note(struct strbuf *b, const struct rp_report *r, const struct rp_mode *nv)
{
	if (!nv || !(nv->load.median > 0))
		return;
	struct strbuf paired = STRBUF_INIT, apart = STRBUF_INIT;
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		struct rci_cmp c;
		if (m == nv || !m->runs)
			continue;
		rpi_vs_nvme(r, m, nv, &c);
		if (!c.diff_ci.ok)
			continue;
		struct strbuf *to = c.paired ? &paired : &apart;
		strbuf_addf(to, "%s", to->len ? ", " : "");
		rpi_md_mode(to, m);
	}
	if (paired.len || apart.len) {
		strbuf_addf(b, "\nvs nvme: each mode's median `load_s` over nvme's, with the 95 %% bootstrap interval of the "
			      "ratio (");
		if (paired.len)
			strbuf_addf(b, "paired by round: %s%s", paired.buf, apart.len ? "; " : "");
		if (apart.len)
			strbuf_addf(b, "modes resampled independently: %s", apart.buf);
		strbuf_addf(b, "); \"within noise\": the interval includes 1.0x, so the runs do not tell that mode from "
			      "nvme.\n");
	}
	strbuf_release(&paired);
	strbuf_release(&apart);
}

/* ---- the cache states ---- */

double rpi_cg_ready(const struct rp_cachegrp *g, struct rci_interval *ci)
{
	return rci_quantile(g->ready_v, g->runs, 0.5, ci);
}

void rpi_cg_compare(const struct rp_cachegrp *a, const struct rp_cachegrp *b, struct rci_cmp *c)
{
	rci_compare(a->ready_v, a->runs, b->ready_v, b->runs, rci_paired(a->ready_id, a->runs, b->ready_id, b->runs),
		    c);
}

void rpi_md_cg_ready(struct strbuf *b, const struct rp_cachegrp *g)
{
	struct rci_interval ci;
	char m[32], lo[32], hi[32];
	rpi_fmt_s(m, sizeof(m), g->runs ? rpi_cg_ready(g, &ci) : -1);
	if (!g->runs)
		strbuf_addf(b, " %s |", m);
	else if (!ci.ok)
		strbuf_addf(b, " %s (n/a, 1 run) |", m);
	else {
		rpi_fmt_s(lo, sizeof(lo), ci.lo);
		rpi_fmt_s(hi, sizeof(hi), ci.hi);
		strbuf_addf(b, " %s (%s to %s) |", m, lo, hi);
	}
}

void rpi_md_cg_saving(struct strbuf *b, const struct rp_cachegrp *cold, const struct rp_cachegrp *g)
{
	struct rci_cmp c;
	char lo[32], hi[32];
	rpi_cg_compare(cold, g, &c);
	if (!c.diff_ci.ok) {
		strbuf_addf(b, ", no interval (n/a, 1 run)");
		return;
	}
	rpi_fmt_signed(lo, sizeof(lo), c.diff_ci.lo);
	rpi_fmt_signed(hi, sizeof(hi), c.diff_ci.hi);
	strbuf_addf(b, ", the saving's 95 %% interval %s to %s s (%s%s)", lo, hi,
		    c.paired ? "paired by round" : "modes resampled independently", c.noise ? ", within noise" : "");
}

void rpi_md_cg_noise(struct strbuf *b, const struct rp_cachegrp *cold, const struct rp_cachegrp *st,
		     const struct rp_cachegrp *warm)
{
	struct rci_cmp c;
	if (st) {
		rpi_cg_compare(cold, st, &c);
		rpi_md_noise(b, &c, "cold and staged caches");
	}
	if (warm) {
		rpi_cg_compare(cold, warm, &c);
		rpi_md_noise(b, &c, "cold and warm caches");
	}
}

/* ---- the conclusions the outliers change ---- */

#define MAX_CONCL 256 /* 4 comparisons and 6 verdicts per mode: more modes are left unexamined */

/* One conclusion of the report: what it is about, what it says, and the
 * comparison it rests on. */
struct concl {
	char what[128];
	char says[64];
	struct rci_cmp c;
	long long breakeven;  /* break-even: the cold starts, -1 never */
};

static const char *finding(const struct rci_cmp *c)
{
	return !c->diff_ci.ok ? "no interval" : c->noise ? "within noise" : "a finding";
}

static void concl_add(struct concl *l, size_t *n, const char *what, const char *says, const struct rci_cmp *c)
{
	if (*n >= MAX_CONCL)
		return;
	struct concl *k = &l[(*n)++];
	snprintf(k->what, sizeof(k->what), "%s", what);
	snprintf(k->says, sizeof(k->says), "%s", says);
	k->c = *c;
	k->breakeven = -1;
}

/* The verdict rows' conclusions: a mode's added seconds against each
 * audience's threshold (as md_verdicts states them). */
static void verdict_concls(const struct rp_report *r, struct concl *l, size_t *n)
{
	const struct rp_mode *nv = rpi_mode_get(r, MODE_NVME);
	static const char *aud[] = { "dev / notebooks", "internal services", "user-facing endpoints" };
	const double lim[] = { r->th.dev_s, r->th.internal_s, r->th.user_s };
	for (size_t i = 0; nv && i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs || !strcmp(m->name, MODE_RUNTIME) || m == nv)
			continue;
		for (int reused = 0; reused <= m->has_copy; reused++) {
			struct rci_cmp k;
			rpi_compare(r, m, reused ? RPI_LOAD : RPI_TTR, nv, RPI_LOAD, &k);
			for (int a = 0; a < 3; a++) {
				char what[128];
				snprintf(what, sizeof(what), "the verdict for %s%s (%s)", m->name, reused ? ", copy reused" : "",
					 aud[a]);
				concl_add(l, n, what, rpi_verdict_ci(k.diff, &k, lim[a]), &k);
			}
		}
	}
}

static size_t concls_of(const struct rp_report *r, struct concl *l)
{
	struct interp in;
	size_t n = 0;
	rpi_interpret(r, &in);
	if (in.has_ratio)
		concl_add(l, &n, "net vs nvme", finding(&in.net_nvme), &in.net_nvme);
	if (in.has_staged)
		concl_add(l, &n, "the staged total vs net", finding(&in.staged_net), &in.staged_net);
	if (in.has_breakeven) {
		concl_add(l, &n, "the break-even",
			  in.breakeven_noise ? "not computed (within noise)" : in.breakeven < 0 ? "never" : "computed",
			  &in.saving);
		l[n - 1].breakeven = in.breakeven_noise ? -1 : in.breakeven;
	}
	if (in.has_prefetch)
		concl_add(l, &n, "prefetch's saving", finding(&in.prefetch), &in.prefetch);
	verdict_concls(r, l, &n);
	return n;
}

/* The runs rpi_outliers flags: a mark per run of r, and their count. */
struct marks {
	const struct rp_report *r;
	unsigned char *out;
	size_t n;
};

static void mark_outlier(const struct rp_run *u, const char *fig, double v, double lo, double hi, void *arg)
{
	(void)fig, (void)v, (void)lo, (void)hi;
	struct marks *m = arg;
	size_t i = (size_t)(u - m->r->runs);
	m->n += !m->out[i];
	m->out[i] = 1;
}

/* r without the marked runs: a shallow copy whose modes leave them out of
 * their basis, their statistics recomputed (trimmed_release frees). */
static void trimmed(const struct rp_report *r, const unsigned char *out, struct rp_report *t)
{
	*t = *r;
	t->modes = xcalloc(r->nmodes ? r->nmodes : 1, sizeof(*t->modes));
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		struct rp_mode *k = &t->modes[i];
		*k = *m;
		k->basis_idx = xcalloc(m->runs ? m->runs : 1, sizeof(size_t));
		double *v[3];
		for (int f = 0; f < 3; f++)
			v[f] = xcalloc(m->runs ? m->runs : 1, sizeof(double));
		size_t n = 0;
		for (size_t j = 0; j < m->runs; j++) {
			const struct rp_run *u = &r->runs[m->basis_idx[j]];
			if (out[m->basis_idx[j]])
				continue;
			v[0][n] = u->load_s;
			v[1][n] = u->copy_s >= 0 ? u->copy_s : 0;
			v[2][n] = u->total_s;
			k->basis_idx[n++] = m->basis_idx[j];
		}
		k->runs = n;
		rp_stats_of(v[0], n, &k->load);
		rp_stats_of(v[1], n, &k->copy);
		rp_stats_of(v[2], n, &k->total);
		for (int f = 0; f < 3; f++)
			free(v[f]);
	}
}

static void trimmed_release(struct rp_report *t)
{
	for (size_t i = 0; i < t->nmodes; i++)
		free(t->modes[i].basis_idx);
	free(t->modes);
}

void rpi_outlier_effects(const struct rp_report *r, struct rpi_effects *e)
{
	memset(e, 0, sizeof(*e));
	unsigned char *out = xcalloc(r->nruns ? r->nruns : 1, 1);
	struct marks mk = { r, out, 0 };
	rpi_outliers(r, mark_outlier, &mk);
	if (mk.n) {
		struct rp_report t;
		trimmed(r, out, &t);
		struct concl *with = xcalloc(MAX_CONCL, sizeof(*with)), *without = xcalloc(MAX_CONCL, sizeof(*without));
		size_t nw = concls_of(r, with), nwo = concls_of(&t, without);
		for (size_t i = 0; i < nw; i++)
			for (size_t j = 0; j < nwo; j++)
				if (!strcmp(with[i].what, without[j].what) && strcmp(with[i].says, without[j].says) &&
				    e->n < RPI_MAX_EFFECTS) {
					struct rpi_effect *x = &e->v[e->n++];
					snprintf(x->what, sizeof(x->what), "%s", with[i].what);
					snprintf(x->with, sizeof(x->with), "%s", with[i].says);
					snprintf(x->without, sizeof(x->without), "%s", without[j].says);
					x->c_with = with[i].c;
					x->c_without = without[j].c;
					x->be_with = with[i].breakeven;
					x->be_without = without[j].breakeven;
				}
		free(with);
		free(without);
		trimmed_release(&t);
	}
	for (size_t i = 0; i < r->nruns; i++)
		if (out[i] && e->nruns < RPI_MAX_EFFECTS)
			e->runs[e->nruns++] = i;
	free(out);
}

/* "3.97x, +31.05 s (95 % interval: ...)", or the break-even's cold starts. */
static void md_effect_figure(struct strbuf *b, const struct rpi_effect *x, const struct rci_cmp *c, const char *says,
			     long long be)
{
	char d[32];
	int be_row = !strcmp(x->what, "the break-even"), ratio = !be_row && isfinite(c->ratio);
	rpi_fmt_signed(d, sizeof(d), c->diff);
	if (be_row)
		strbuf_addf(b, "%s", says);
	if (be_row && be > 0)
		strbuf_addf(b, ", after %lld cold start%s", be, be == 1 ? "" : "s");
	if (be_row)
		strbuf_addf(b, ": a start from the staged copy saves %s s", d);
	else if (ratio)
		strbuf_addf(b, "%s: %.2fx, %s s", says, c->ratio, d);
	else
		strbuf_addf(b, "%s: %s s", says, d);
	rpi_md_ci(b, c, ratio);
}

void rpi_md_outlier_effects(struct strbuf *b, const struct rp_report *r)
{
	struct rpi_effects e;
	rpi_outlier_effects(r, &e);
	if (!e.n)
		return;
	strbuf_addf(b, "- **The outliers change a conclusion:** without run%s", e.nruns == 1 ? "" : "s");
	for (size_t i = 0; i < e.nruns; i++) {
		const struct rp_run *u = &r->runs[e.runs[i]];
		strbuf_addf(b, "%s %lld (", i ? (i + 1 == e.nruns ? " and" : ",") : "", u->run_id);
		rpi_md_esc(b, u->mode);
		if (u->timeline) {
			strbuf_addf(b, ", [timeline](");
			rpi_md_url(b, u->timeline);
			strbuf_addf(b, ")");
		}
		strbuf_addf(b, ")");
	}
	strbuf_addf(b, ":");
	for (size_t i = 0; i < e.n; i++) {
		const struct rpi_effect *x = &e.v[i];
		strbuf_addf(b, "%s %s is ", i ? ";" : "", x->what);
		md_effect_figure(b, x, &x->c_without, x->without, x->be_without);
		strbuf_addf(b, ", where, with %s, it is ", e.nruns == 1 ? "it" : "them");
		md_effect_figure(b, x, &x->c_with, x->with, x->be_with);
	}
	strbuf_addf(b, ". Every other figure includes %s; more rounds (`bench --until-confident`) would tell whether "
		      "%s the machine's noise or the path's.\n", e.nruns == 1 ? "it" : "them",
		    e.nruns == 1 ? "it is" : "they are");
}

json_t *rpi_outlier_effects_json(const struct rp_report *r)
{
	struct rpi_effects e;
	rpi_outlier_effects(r, &e);
	json_t *runs = json_array(), *ch = json_array();
	for (size_t i = 0; i < e.nruns; i++)
		json_array_append_new(runs, json_integer(r->runs[e.runs[i]].run_id));
	for (size_t i = 0; i < e.n; i++) {
		const struct rpi_effect *x = &e.v[i];
		json_array_append_new(ch, json_pack("{s:s, s:s, s:s, s:o, s:o}", "conclusion", x->what, "with", x->with,
						    "without", x->without, "with_cmp", rpi_cmp_json(&x->c_with),
						    "without_cmp", rpi_cmp_json(&x->c_without)));
	}
	return json_pack("{s:o, s:o}", "runs_left_out", runs, "changes", ch);
}

/* ---- the JSON: rpi_json's, with the figures above ---- */

/* Each mode's load_vs_nvme (the Results' column) and each cache state's
 * ready_s_ci and, beside cold caches, saves_vs_cold. */
static void noise_json(const struct rp_report *r, json_t *j)
{
	const struct rp_mode *nv = rpi_mode_get(r, MODE_NVME);
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(j, "modes"), i, o) {
		const struct rp_mode *m = &r->modes[i];
		struct rci_cmp k;
		if (!nv || m == nv || !m->runs)
			continue;
		rpi_vs_nvme(r, m, nv, &k);
		json_object_set_new(o, "load_vs_nvme", rpi_cmp_json(&k));
	}
	json_array_foreach(json_object_get(j, "caches"), i, o) {
		const struct rp_cachegrp *g = &r->cgroups[i];
		struct rci_interval ci;
		rpi_cg_ready(g, &ci);
		json_object_set_new(o, "ready_s_ci", rpi_ci_json(&ci));
		for (size_t k = 0; strcmp(g->caches, "cold") && k < r->ncg; k++) {
			const struct rp_cachegrp *c = &r->cgroups[k];
			struct rci_cmp cmp;
			if (!c->runs || strcmp(c->mode, g->mode) || strcmp(c->caches, "cold"))
				continue;
			rpi_cg_compare(c, g, &cmp);
			json_object_set_new(o, "saves_vs_cold", rpi_cmp_json(&cmp));
		}
	}
	json_object_set_new(j, "outliers_change", rpi_outlier_effects_json(r));
}

json_t *rp_json(const struct rp_report *r)
{
	json_t *j = rpi_json(r);
	noise_json(r, j);
	return j;
}
