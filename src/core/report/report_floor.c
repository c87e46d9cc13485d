/* report: the overlap floor per mode (report_floor.h). */
#define _GNU_SOURCE
#include "report_floor.h"
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/schema.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

void rpf_compute(const struct rpf_inputs *in, struct rpf_floor *f)
{
	memset(f, 0, sizeof(*f));
	f->dominant = RPF_UNKNOWN;
	double rt = in->runtime_s > 0 ? in->runtime_s : 0;
	if (in->bytes < 0) {
		f->why = "the model's size is not known";
		return;
	}
	if (in->bytes > 0 && in->rate <= 0) {
		f->why = "no read rate measured for its path";
		return;
	}
	if (in->bytes > 0 && in->staged && in->copy_rate <= 0) {
		f->why = "no read rate measured for the network path it copies from";
		return;
	}
	f->read_s = in->bytes > 0 ? in->bytes / in->rate : 0;
	f->copy_s = in->bytes > 0 && in->staged ? in->bytes / in->copy_rate : 0;
	f->storage_s = f->copy_s + f->read_s;
	f->runtime_s = rt;
	f->h2d_s = in->bytes > 0 && in->h2d_rate > 0 ? in->bytes / in->h2d_rate : 0;
	f->floor_s = f->copy_s + fmax(rt, f->read_s) + f->h2d_s;
	f->sum_s = rt + f->storage_s + f->h2d_s;
	if (f->floor_s <= 0) {
		f->why = "nothing to wait for: no bytes and no runtime mode";
		return;
	}
	f->ok = 1;
	f->dominant = f->storage_s >= rt ? RPF_STORAGE : RPF_RUNTIME;
}

/* ---- what the bench measured ---- */

static double jnum(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : -1;
}

/* The sidecar's timed read of one path ("nvme" or "net"), if it was cold. */
static json_t *read_rate_of(const struct rp_report *r, const char *path)
{
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(r->meta, RPF_META_READ_RATES), i, p) {
		const char *w = json_string_value(json_object_get(p, "path"));
		if (w && !strcmp(w, path) && !json_is_false(json_object_get(p, "cold")) && jnum(p, "bytes_per_s") > 0)
			return p;
	}
	return NULL;
}

/* The median over a mode's basis runs of bytes / seconds of two of its
 * fields (offsets into struct rp_run); <= 0 when none has both. */
static double runs_rate(const struct rp_report *r, const struct rp_mode *m, size_t boff, size_t soff)
{
	double *v = xcalloc(m->runs ? m->runs : 1, sizeof(double));
	size_t n = 0;
	for (size_t k = 0; k < m->runs; k++) {
		const char *u = (const char *)&r->runs[m->basis_idx[k]];
		double by = *(const double *)(u + boff), s = *(const double *)(u + soff);
		if (by > 0 && s > 0)
			v[n++] = by / s;
	}
	double med = n ? rci_median(v, n) : -1;
	free(v);
	return med;
}

static void take(struct rpf_rate *best, double bps, const char *src)
{
	if (bps > best->bps) {
		best->bps = bps;
		best->src = src;
	}
}

/* The fastest the bench measured a path to deliver (net: the network path). */
static void path_rate(const struct rp_report *r, int net, struct rpf_rate *out)
{
	out->bps = 0;
	out->src = NULL;
	json_t *p = read_rate_of(r, net ? "net" : "nvme");
	if (p)
		take(out, jnum(p, "bytes_per_s"), "bench's timed cold read of the path");
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		const struct storage_mode *sm = storage_mode_find(m->name);
		if (!sm || !m->runs || !(sm->flags & MODE_READS_NET) != !net)
			continue;
		if (sm->flags & MODE_PREFETCH)
			take(out, runs_rate(r, m, offsetof(struct rp_run, prefetch_bytes), offsetof(struct rp_run, prefetch_s)),
			     "its prefetch runs");
		if (net && (sm->flags & MODE_STAGES))
			take(out, runs_rate(r, m, offsetof(struct rp_run, staged_bytes), offsetof(struct rp_run, copy_s)),
			     "the staged copies");
	}
	json_t *ns = json_object_get(r->meta, "netsim_stats");
	if (net && out->bps <= 0 && jnum(ns, "delivered_bytes_per_s") > 0)
		take(out, jnum(ns, "delivered_bytes_per_s"), "netsim's delivered rate while serving");
}

/* The model's bytes: the sidecar's model identity, its timed reads, or
 * the runs' notes (prefetched or staged bytes). */
static double model_bytes(const struct rp_report *r, const char **src)
{
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(json_object_get(r->meta, "model_identity"), "paths"), i, p) {
		if (jnum(p, "bytes") >= 0) {
			*src = "the sidecar's model identity";
			return jnum(p, "bytes");
		}
	}
	if ((p = read_rate_of(r, "nvme")) || (p = read_rate_of(r, "net"))) {
		*src = "bench's timed read";
		return jnum(p, "bytes");
	}
	for (size_t k = 0; k < r->nruns; k++) {
		const struct rp_run *u = &r->runs[k];
		double by = u->prefetch_bytes >= 0 ? u->prefetch_bytes : u->staged_bytes;
		if (u->load_s >= 0 && !u->unreadable && by >= 0) {
			*src = "the runs' notes: prefetch_bytes, staged_bytes";
			return by;
		}
	}
	*src = NULL;
	return -1;
}

static void mode_floor(const struct rp_report *r, const struct rpf_report *f, struct rpf_mode *fm)
{
	const struct rp_mode *m = fm->m;
	const struct storage_mode *sm = storage_mode_find(m->name);
	unsigned flags = sm ? sm->flags : 0;
	const struct rpf_rate *path = (flags & MODE_READS_NET) && !(flags & MODE_STAGES) ? &f->net : &f->nvme;
	fm->in = (struct rpf_inputs){ f->runtime_s, f->bytes, path->bps, !!(flags & MODE_STAGES), f->net.bps, f->h2d_rate };
	fm->rate_src = path->src;
	rpf_compute(&fm->in, &fm->f);
	if (!sm) {
		fm->f.ok = 0;
		fm->f.why = "not a mode of the bench: which path it read is not known";
	}
	fm->median_s = m->has_copy ? m->total.median : m->load.median; /* as a user waits: staged with its copy */
	fm->ratio = fm->left_s = NAN;
	if (!fm->f.ok)
		return;
	double *v = xcalloc(m->runs, sizeof(double));
	for (size_t k = 0; k < m->runs; k++) {
		const struct rp_run *u = &r->runs[m->basis_idx[k]];
		v[k] = m->has_copy ? u->total_s : u->load_s;
	}
	rci_quantile(v, m->runs, 0.5, &fm->ratio_ci);
	free(v);
	fm->ratio = fm->median_s / fm->f.floor_s;
	fm->left_s = fm->median_s - fm->f.floor_s;
	fm->ratio_ci.lo /= fm->f.floor_s;
	fm->ratio_ci.hi /= fm->f.floor_s;
}

void rpf_of(const struct rp_report *r, struct rpf_report *f)
{
	memset(f, 0, sizeof(*f));
	f->bytes = model_bytes(r, &f->bytes_src);
	path_rate(r, 0, &f->nvme);
	path_rate(r, 1, &f->net);
	f->runtime_s = -1;
	for (size_t i = 0; i < r->nmodes; i++) /* report_interp.o calls this file: no call back into it */
		if (!strcmp(r->modes[i].name, MODE_RUNTIME) && r->modes[i].runs)
			f->runtime_s = r->modes[i].load.median;
	f->h2d_rate = jnum(r->meta, RPF_META_H2D);
	json_t *ns = json_object_get(r->meta, "netsim_stats");
	f->netsim_profile = json_string_value(json_object_get(ns, "profile"));
	f->netsim_bw = jnum(ns, "bw_bytes_per_s");
	f->netsim_delivered = jnum(ns, "delivered_bytes_per_s");
	f->modes = xcalloc(r->nmodes ? r->nmodes : 1, sizeof(*f->modes));
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		f->gpu |= m->gpu_mib > 0;
		if (!m->runs || !strcmp(m->name, MODE_RUNTIME))
			continue;
		f->modes[f->n].m = m;
		mode_floor(r, f, &f->modes[f->n++]);
	}
}

void rpf_release(struct rpf_report *f)
{
	free(f->modes);
	memset(f, 0, sizeof(*f));
}

static size_t nfloors(const struct rpf_report *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++)
		n += f->modes[i].f.ok;
	return n;
}

static const char *term_name(enum rpf_term t)
{
	return t == RPF_STORAGE ? "storage pull" : t == RPF_RUNTIME ? "runtime warm-up" : "-";
}

static void rate_h(char *buf, size_t n, double bps)
{
	if (bps <= 0) {
		snprintf(buf, n, "-");
		return;
	}
	fmt_bytes(buf, n > 2 ? n - 2 : n, (uint64_t)bps);
	size_t l = strlen(buf);
	snprintf(buf + l, n - l, "/s");
}

/* ---- bench's summary ---- */

char *rpf_text(const struct rp_report *r)
{
	struct rpf_report f;
	rpf_of(r, &f);
	if (!nfloors(&f)) {
		rpf_release(&f);
		return NULL;
	}
	struct strbuf sb = STRBUF_INIT;
	char by[32], a[32], c[32];
	fmt_bytes(by, sizeof(by), (uint64_t)(f.bytes > 0 ? f.bytes : 0));
	rate_h(a, sizeof(a), f.nvme.bps);
	rate_h(c, sizeof(c), f.net.bps);
	strbuf_addf(&sb, "\noverlap floor: max(runtime, storage) + host->GPU; %s of model, nvme %s, net %s, ", by, a, c);
	if (f.runtime_s >= 0)
		strbuf_addf(&sb, "runtime %.3f s", f.runtime_s);
	else
		strbuf_addf(&sb, "no runtime mode (storage only)");
	strbuf_addf(&sb, f.h2d_rate > 0 ? "\n" : f.gpu ? ", host->GPU not counted (no rate recorded)\n" : ", no GPU\n");
	strbuf_addf(&sb, "%-20s %10s %10s %10s  %-16s %10s\n", "mode", "median_s", "floor_s", "vs_floor", "dominated by",
		    "left_s");
	for (size_t i = 0; i < f.n; i++) {
		const struct rpf_mode *fm = &f.modes[i];
		if (!fm->f.ok) {
			strbuf_addf(&sb, "%-20s %10.3f  no floor: %s\n", fm->m->name, fm->median_s, fm->f.why);
			continue;
		}
		strbuf_addf(&sb, "%-20s %10.3f %10.3f %9.2fx  %-16s %+10.3f\n", fm->m->name, fm->median_s, fm->f.floor_s,
			    fm->ratio, term_name(fm->f.dominant), fm->left_s);
	}
	rpf_release(&f);
	return strbuf_detach(&sb);
}

/* ---- Markdown ---- */

static const struct rpf_mode *floor_get(const struct rpf_report *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->modes[i].m->name, name) && f->modes[i].f.ok)
			return &f->modes[i];
	return NULL;
}

/* "from NVMe the pull takes S s (at X/s): the runtime warm-up dominates" */
static void md_path(struct strbuf *b, const struct rpf_mode *fm, const char *where)
{
	char s[32], t[32], x[32];
	rpi_fmt_s(s, sizeof(s), fm->f.read_s);
	rpi_fmt_s(t, sizeof(t), fm->f.sum_s);
	rate_h(x, sizeof(x), fm->in.rate);
	strbuf_addf(b, " %s the pull takes %s s (at %s): the **%s** dominates, and the two cost their sum, %s s, "
		    "unless they overlap", where, s, x, term_name(fm->f.dominant), t);
}

static void md_vs(struct strbuf *b, const struct rpf_mode *fm)
{
	char a[32], c[32], l[32];
	rpi_fmt_s(a, sizeof(a), fm->median_s);
	rpi_fmt_s(c, sizeof(c), fm->f.floor_s);
	rpi_fmt_signed(l, sizeof(l), fm->left_s);
	strbuf_addf(b, "%s s against its floor of %s s", a, c);
	if (fm->ratio_ci.ok)
		strbuf_addf(b, ", 95 %% interval %.2fx to %.2fx", fm->ratio_ci.lo, fm->ratio_ci.hi);
	strbuf_addf(b, "; %s s left on the table", l);
	if (fm->left_s < 0)
		strbuf_addf(b, ": below its floor, so the terms measured apart (the runtime, the path's rate) "
			      "overstate what this start waited for");
}

void rpf_md_interp(struct strbuf *b, const struct rp_report *r)
{
	struct rpf_report f;
	rpf_of(r, &f);
	const struct rpf_mode *nv = floor_get(&f, MODE_NVME), *net = floor_get(&f, MODE_NET);
	if (!nfloors(&f) || (!nv && !net)) {
		rpf_release(&f);
		return;
	}
	char a[32], by[32];
	fmt_bytes(by, sizeof(by), (uint64_t)f.bytes);
	strbuf_addf(b, "- **Storage pull or runtime warm-up?** ");
	if (f.runtime_s >= 0) {
		rpi_fmt_s(a, sizeof(a), f.runtime_s);
		strbuf_addf(b, "The server's own start-up without weights takes %s s (`runtime` mode); the model is %s.", a, by);
	} else {
		strbuf_addf(b, "No `runtime` mode ran, so the server's own start-up is not measured and the floors count "
			      "the storage pull alone (lower bounds); the model is %s.", by);
	}
	if (nv)
		md_path(b, nv, "From NVMe");
	if (nv && net)
		strbuf_addf(b, ";");
	if (net)
		md_path(b, net, nv ? "from the network path" : "From the network path");
	strbuf_addf(b, ". The overlap floor of a mode is max(runtime, storage) + host→GPU%s:",
		    f.h2d_rate > 0 ? "" : f.gpu ? " (host→GPU not counted: no rate recorded)" : " (no GPU: host→GPU 0 s)");
	for (size_t i = 0, k = 0; i < f.n; i++) {
		const struct rpf_mode *fm = &f.modes[i];
		if (!fm->f.ok)
			continue;
		strbuf_addf(b, "%s ", k++ ? ";" : "");
		const struct storage_mode *sm = storage_mode_find(fm->m->name);
		if (sm && (sm->flags & MODE_PREFETCH))
			strbuf_addf(b, "prefetch gets %s to **%.2fx of the floor** (", fm->m->name, fm->ratio);
		else
			strbuf_addf(b, "%s is at %.2fx of the floor (", fm->m->name, fm->ratio);
		md_vs(b, fm);
		strbuf_addf(b, ")");
	}
	strbuf_addf(b, ".\n");
	rpf_release(&f);
}

/* What the floors stand on: rates, their sources, the simulated path. */
static void md_sources(struct strbuf *b, const struct rpf_report *f)
{
	char by[32], x[32], y[32];
	fmt_bytes(by, sizeof(by), (uint64_t)(f->bytes > 0 ? f->bytes : 0));
	strbuf_addf(b, "The model: %s (from %s).", f->bytes >= 0 ? by : "size not known",
		    f->bytes_src ? f->bytes_src : "nothing recorded");
	rate_h(x, sizeof(x), f->nvme.bps);
	rate_h(y, sizeof(y), f->net.bps);
	strbuf_addf(b, " Read rates, the fastest measured: NVMe %s%s%s%s; network path %s%s%s%s.", x,
		    f->nvme.src ? " (" : " (not measured", f->nvme.src ? f->nvme.src : "", ")", y,
		    f->net.src ? " (" : " (not measured", f->net.src ? f->net.src : "", ")");
	if (f->netsim_profile) {
		rate_h(x, sizeof(x), f->netsim_bw);
		rate_h(y, sizeof(y), f->netsim_delivered);
		strbuf_addf(b, " The network path was simulated: netsim `");
		rpi_md_esc(b, f->netsim_profile);
		strbuf_addf(b, "`, a link of %s, delivered %s while serving the bench.", x, y);
	}
	if (f->h2d_rate > 0) {
		rate_h(x, sizeof(x), f->h2d_rate);
		strbuf_addf(b, " Host→GPU: %s (recorded).", x);
	} else {
		strbuf_addf(b, " Host→GPU: %s.", f->gpu ? "the runs used a GPU but no host→GPU rate was recorded "
						       "(`coldstart probe` measures one), so that term counts 0 s and "
						       "the floors are lower than the real ones"
						     : "no GPU in these runs, the term is 0 s");
	}
	if (f->runtime_s < 0)
		strbuf_addf(b, " No `runtime` mode: the runtime term counts 0 s.");
	strbuf_addf(b, "\n\n");
}

void rpf_md_table(struct strbuf *b, const struct rp_report *r)
{
	struct rpf_report f;
	rpf_of(r, &f);
	if (!f.n) {
		rpf_release(&f);
		return;
	}
	if (!nfloors(&f)) {
		strbuf_addf(b, "\n### Overlap floor\n\nNot computed: %s (bench records the model's size and each "
			      "path's read rate in the sidecar).\n", f.modes[0].f.why);
		rpf_release(&f);
		return;
	}
	strbuf_addf(b, "\n### Overlap floor\n\nThe fastest each start could be from what was measured here: the server's "
		      "own start-up (the `runtime` mode) and the storage pull (the model's bytes over the path's measured "
		      "read rate) overlapped, then the copy to the GPU: floor = max(runtime, storage) + host→GPU; a staged "
		      "start copies first, then starts from the copy on NVMe. Without overlap they add up (the sum). "
		      "\"vs floor\" is the median time to ready over the floor (with the median's 95 %% bootstrap "
		      "interval); what is above the floor is left on the table.\n\n");
	md_sources(b, &f);
	strbuf_addf(b, "| mode | time-to-ready (s) | storage (s) | runtime (s) | host→GPU (s) | floor (s) | sum, no overlap (s) | vs floor | dominated by | left on the table (s) |\n");
	strbuf_addf(b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n");
	for (size_t i = 0; i < f.n; i++) {
		const struct rpf_mode *fm = &f.modes[i];
		char v[7][32];
		rpi_fmt_s(v[0], 32, fm->median_s);
		strbuf_addf(b, "| ");
		rpi_md_mode(b, fm->m);
		if (!fm->f.ok) {
			strbuf_addf(b, " | %s | - | - | - | - | - | - | no floor: %s | - |\n", v[0], fm->f.why);
			continue;
		}
		rpi_fmt_s(v[1], 32, fm->f.storage_s);
		rpi_fmt_s(v[2], 32, fm->f.runtime_s);
		rpi_fmt_s(v[3], 32, fm->f.h2d_s);
		rpi_fmt_s(v[4], 32, fm->f.floor_s);
		rpi_fmt_s(v[5], 32, fm->f.sum_s);
		rpi_fmt_signed(v[6], 32, fm->left_s);
		strbuf_addf(b, " | %s | %s%s | %s | %s | %s | %s | %.2fx", v[0], v[1], fm->in.staged ? " (copy first)" : "",
			    v[2], v[3], v[4], v[5], fm->ratio);
		if (fm->ratio_ci.ok)
			strbuf_addf(b, " (%.2fx to %.2fx)", fm->ratio_ci.lo, fm->ratio_ci.hi);
		strbuf_addf(b, " | %s | %s |\n", term_name(fm->f.dominant), v[6]);
	}
	rpf_release(&f);
}

/* ---- JSON ---- */

static json_t *jnonneg(double v)
{
	return isfinite(v) && v >= 0 ? json_real(v) : json_null();
}

static json_t *rate_json(const struct rpf_rate *rt)
{
	return json_pack("{s:o, s:o}", "bytes_per_s", rt->bps > 0 ? json_real(rt->bps) : json_null(), "source",
			 rt->src ? json_string(rt->src) : json_null());
}

json_t *rpf_json(const struct rp_report *r)
{
	struct rpf_report f;
	rpf_of(r, &f);
	json_t *modes = json_array();
	for (size_t i = 0; i < f.n; i++) {
		const struct rpf_mode *fm = &f.modes[i];
		json_t *o = json_pack("{s:s, s:b, s:o}", "mode", fm->m->name, "ok", fm->f.ok, "time_s", jnonneg(fm->median_s));
		if (!fm->f.ok) {
			json_object_set_new(o, "why", json_string(fm->f.why));
		} else {
			const struct { const char *k; double v; } v[] = {
				{ "storage_s", fm->f.storage_s }, { "copy_s", fm->f.copy_s }, { "read_s", fm->f.read_s },
				{ "runtime_s", fm->f.runtime_s }, { "h2d_s", fm->f.h2d_s }, { "floor_s", fm->f.floor_s },
				{ "sum_s", fm->f.sum_s }, { "ratio", fm->ratio },
			};
			for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
				json_object_set_new(o, v[k].k, jnonneg(v[k].v));
			json_object_set_new(o, "ratio_ci", fm->ratio_ci.ok ? json_pack("[f, f]", fm->ratio_ci.lo, fm->ratio_ci.hi)
									   : json_null());
			json_object_set_new(o, "left_s", isfinite(fm->left_s) ? json_real(fm->left_s) : json_null());
			json_object_set_new(o, "dominant", json_string(fm->f.dominant == RPF_STORAGE ? "storage" : "runtime"));
			json_object_set_new(o, "rate_bytes_per_s", fm->in.rate > 0 ? json_real(fm->in.rate) : json_null());
			json_object_set_new(o, "rate_source", fm->rate_src ? json_string(fm->rate_src) : json_null());
		}
		json_array_append_new(modes, o);
	}
	json_t *j = json_pack("{s:o, s:o, s:{s:o, s:o}, s:o, s:o, s:b, s:o}", "bytes", jnonneg(f.bytes), "bytes_source",
			      f.bytes_src ? json_string(f.bytes_src) : json_null(), "rates", "nvme", rate_json(&f.nvme),
			      "net", rate_json(&f.net), "runtime_s", jnonneg(f.runtime_s), "h2d_bytes_per_s",
			      f.h2d_rate > 0 ? json_real(f.h2d_rate) : json_null(), "h2d_counted", f.h2d_rate > 0, "modes",
			      modes);
	if (f.netsim_profile)
		json_object_set_new(j, "netsim", json_pack("{s:s, s:o, s:o}", "profile", f.netsim_profile, "bw_bytes_per_s",
							   f.netsim_bw > 0 ? json_real(f.netsim_bw) : json_null(),
							   "delivered_bytes_per_s",
							   f.netsim_delivered > 0 ? json_real(f.netsim_delivered) : json_null()));
	rpf_release(&f);
	return j;
}
