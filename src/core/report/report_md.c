/* report: the Markdown -- the title, the interpretation and the verdicts
 * (the tables after them are report_md_tables.c's). */
#define _GNU_SOURCE
#include "report_internal.h"
#include "report_floor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/strbuf.h"
#include "core/base/banned.h"

/* What a mode's statistics stand on, said wherever its numbers are quoted
 * (nothing for cold runs, the normal case). */
static const char *basis_note(const struct rp_mode *m)
{
	return m->basis == RP_COLD ? "" : m->basis == RP_UNVERIFIED ? " (cold not verified)" : " (warm runs only: not a cold start)";
}

/* The title and what the figures stand on. */
static void md_intro(struct strbuf *b, const struct rp_report *r)
{
	size_t cold = 0, unver = 0, warm = 0, failed = 0, flagged = 0, bad = 0;
	for (size_t i = 0; i < r->nmodes; i++) {
		cold += r->modes[i].cold_runs;
		unver += r->modes[i].unverified_runs;
		warm += r->modes[i].warm_runs;
		failed += r->modes[i].failed;
		flagged += r->modes[i].flagged;
		bad += r->modes[i].unreadable;
	}
	size_t ok = cold + unver + warm;
	strbuf_addf(b, "# Cold start by storage path: ");
	rpi_md_esc(b, r->model);
	strbuf_addf(b, "\n\nFrom ");
	rpi_md_code(b, r->csv);
	strbuf_addf(b, ": %zu measured run%s", ok, ok == 1 ? "" : "s");
	if (ok && cold == ok)
		strbuf_addf(b, ", all cold");
	else if (ok)
		strbuf_addf(b, ": %zu cold, %zu not verified cold, %zu warm", cold, unver, warm);
	if (failed || flagged || bad) {
		strbuf_addf(b, " (and ");
		if (failed)
			strbuf_addf(b, "%zu failed", failed);
		if (flagged)
			strbuf_addf(b, "%s%zu flagged", failed ? ", " : "", flagged);
		if (bad)
			strbuf_addf(b, "%s%zu unreadable", failed || flagged ? ", " : "", bad);
		strbuf_addf(b, ", left out)");
	}
	if (r->nmodels > 1) {
		strbuf_addf(b, "; the CSV holds %zu models, this report covers ", r->nmodels);
		rpi_md_code(b, r->model);
	}
	strbuf_addf(b, ". Time-to-ready (`load_s`) is launch until the server answered its readiness check. A mode's "
		      "statistics come from its cold runs (`cold=yes`: evicted, and the residency check said so); a mode "
		      "without any falls back to its runs not verified cold (`cold=unverified`, or rows without a `cold` "
		      "note), then to warm runs, and says so. Warm runs (`cold=no`) are never mixed into cold figures.\n");
	if (r->caches_basis) {
		strbuf_addf(b, "\nThe server's compile and kernel caches were part of the experiment: the figures by mode "
			      "are of the runs with `caches=%s`", r->caches_basis);
		if (r->caches_other)
			strbuf_addf(b, "; the other %zu run%s (other cache states) are compared in \"Compile and kernel caches\"",
				    r->caches_other, r->caches_other == 1 ? "" : "s");
		strbuf_addf(b, ".\n");
	}
}

/* What the numbers mean for a server that maps its weights (llama.cpp). */
static void md_mmap_loader(struct strbuf *b, const struct rp_mode *nv, const struct rp_mode *net,
			   const struct rp_mode *st, const struct rp_mode *pf, const struct interp *in)
{
	char a[32], c[32];
	strbuf_addf(b, "- **mmap loader (llama.cpp):** the server maps the GGUF file, so the weights are read by page "
		    "faults when its first evaluation touches them: small reads (the kernel's readahead window), "
		    "each waiting on the storage before the next.");
	int have = nv && net && nv->runs && net->runs && nv->load.median > 0;
	if (have) {
		rpi_fmt_s(a, sizeof(a), net->load.median);
		rpi_fmt_s(c, sizeof(c), nv->load.median);
		strbuf_addf(b, " From the network path the start took %s s against %s s from local disk (%.2fx%s).", a, c,
			    net->load.median / nv->load.median, in->net_nvme.noise ? ", within noise" : "");
	}
	double pf_ratio = -1;
	if (have && pf && pf->runs) {
		pf_ratio = pf->load.median / nv->load.median;
		rpi_fmt_s(a, sizeof(a), pf->load.median);
		strbuf_addf(b, " Reading the file ahead in large parallel requests while the engine starts (`--prefetch`) "
			    "took it to %s s, %.2fx local disk.", a, pf_ratio);
	}
	if (st && st->runs && st->load.median > 0) {
		rpi_fmt_s(a, sizeof(a), st->load.median);
		strbuf_addf(b, " A staged copy starts in %s s once copied.", a);
	}
	if (pf_ratio > 0)
		strbuf_addf(b, pf_ratio <= 1.2 ? " For mmap loaders on network storage, read the file ahead of the faults "
						 "(`--prefetch`, or `vmtouch -t` / `cat` before the start): it recovers local-disk "
						 "start-up times without a copy.\n"
					       : " Reading ahead does not close the gap here: stage the model onto local disk, or "
						 "load without mmap (`--no-mmap`), which reads the file in large sequential requests.\n");
	else
		strbuf_addf(b, " Compare with `net+prefetch` and `staged` runs to see what reading ahead or staging recovers.\n");
}

static void md_outliers(struct strbuf *b, const struct rp_report *r);

static void md_interpretation(struct strbuf *b, const struct rp_report *r, const struct interp *in)
{
	const struct rp_mode *nv = rpi_mode_get(r, MODE_NVME), *net = rpi_mode_get(r, MODE_NET), *st = rpi_mode_get(r, MODE_STAGED),
			     *pf = rpi_mode_get(r, MODE_NET_PREFETCH);
	strbuf_addf(b, "\n## Interpretation\n\n");
	if (in->has_ratio || in->has_staged || in->has_prefetch)
		strbuf_addf(b, "Each comparison carries the 95 %% bootstrap interval of its difference (and ratio) of medians; one whose interval includes 0 s (1.0x) is within noise and is not a finding (the method: the guide's report section).\n\n");
	char a[32], c[32], d[32];
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs && (m->failed || m->flagged || m->unreadable)) {
			strbuf_addf(b, "- **");
			rpi_md_mode(b, m);
			strbuf_addf(b, ":** no measured run (%zu failed, %zu flagged", m->failed, m->flagged);
			if (m->unreadable)
				strbuf_addf(b, ", %zu unreadable", m->unreadable);
			strbuf_addf(b, "): no figures for this mode.\n");
		} else if (m->basis == RP_UNVERIFIED && m->remote_runs == m->runs) {
			strbuf_addf(b, "- **");
			rpi_md_mode(b, m);
			strbuf_addf(b, ":** %s %zu run%s read the model from a URL (`cold_mode=remote`): nothing of it was in "
				  "this node's page cache, but what the store itself had cached is beyond coldstart's reach, "
				  "so %s counted as not verified cold.\n", m->runs == 1 ? "its" : "all", m->runs,
				  m->runs == 1 ? "" : "s", m->runs == 1 ? "it is" : "they are");
		} else if (m->basis != RP_COLD) {
			strbuf_addf(b, "- **");
			rpi_md_mode(b, m);
			strbuf_addf(b, m->basis == RP_UNVERIFIED
					      ? ":** no run verified cold: its figures come from %zu run%s whose page-cache "
						"residency could not be checked (`cold=unverified` or no `cold` note).\n"
					      : ":** no cold run: its figures come from %zu warm run%s (`cold=no`), which "
						"measure%s a start from the page cache, not a cold start.\n",
				  m->runs, m->runs == 1 ? "" : "s", m->basis == RP_WARM && m->runs == 1 ? "s" : "");
		}
	}
	if (in->has_ratio) {
		const struct rci_cmp *k = &in->net_nvme;
		rpi_fmt_s(a, sizeof(a), net->load.median);
		rpi_fmt_s(c, sizeof(c), nv->load.median);
		rpi_fmt_s(d, sizeof(d), fabs(in->diff));
		strbuf_addf(b, "- **Network vs NVMe:** a cold start from the network path takes %s s (median%s) against %s s from NVMe%s: %s%.2fx%s, %s%s s per cold start",
			  a, basis_note(net), c, basis_note(nv), k->noise ? "" : "**", in->ratio, k->noise ? "" : "**",
			  in->diff >= 0 ? "+" : "-", d);
		rpi_md_ci(b, k, 1);
		strbuf_addf(b, ".");
		rpi_md_noise(b, k, "the network path and NVMe");
		strbuf_addf(b, "\n");
	}
	if (in->has_staged) {
		rpi_fmt_s(a, sizeof(a), st->copy.median);
		rpi_fmt_s(c, sizeof(c), st->load.median);
		rpi_fmt_s(d, sizeof(d), in->staged_total);
		char e[32];
		rpi_fmt_s(e, sizeof(e), fabs(in->staged_vs_net));
		strbuf_addf(b, "- **Staging:** copy %s s + start from the staged copy %s s = %s s%s, which %s %s s against starting from the network path directly",
			  a, c, d, basis_note(st), in->staged_vs_net <= 0 ? "saves" : "costs", e);
		rpi_md_ci(b, &in->staged_net, 0);
		strbuf_addf(b, ".");
		rpi_md_noise(b, &in->staged_net, "staging and starting from the network path");
		strbuf_addf(b, "\n");
	}
	if (in->has_breakeven) {
		const struct rci_cmp *k = &in->saving;
		rpi_fmt_signed(c, sizeof(c), k->diff);
		if (in->breakeven_noise) {
			strbuf_addf(b, "- **Break-even:** not computed — a start from the staged copy saves %s s over the network path", c);
			rpi_md_ci(b, k, 0);
			strbuf_addf(b, ", within noise: a pay-back computed from a saving that may be zero would be noise too.");
			rpi_md_noise(b, k, "a start from the staged copy and one from the network path");
			strbuf_addf(b, "\n");
		} else if (in->breakeven < 0) {
			strbuf_addf(b, "- **Break-even:** never — a start from the staged copy is not faster than from the network path, so the copy never pays back (staging may still buy predictability). Seconds saved per start: %s", c);
			rpi_md_ci(b, k, 0);
			strbuf_addf(b, ".\n");
		} else {
			rpi_fmt_s(a, sizeof(a), st->copy.median);
			rpi_fmt_s(c, sizeof(c), net->load.median - st->load.median);
			strbuf_addf(b, "- **Break-even:** one staged copy has paid for itself after **%lld cold start%s** (copy time / seconds saved per start: %s / %s",
				  in->breakeven, in->breakeven == 1 ? "" : "s", a, c);
			if (!in->breakeven_ci_ok)
				strbuf_addf(b, "; no interval: n/a, 1 run");
			else if (in->breakeven_hi < 0)
				strbuf_addf(b, "; 95 %% interval: %lld cold starts to never", in->breakeven_lo);
			else
				strbuf_addf(b, "; 95 %% interval: %lld to %lld cold starts", in->breakeven_lo, in->breakeven_hi);
			strbuf_addf(b, ").\n");
		}
	}
	if (pf && net) {
		double sv = net->load.median - pf->load.median;
		rpi_fmt_s(a, sizeof(a), fabs(sv));
		strbuf_addf(b, "- **Prefetch:** warming the files in parallel during the server's start-up %s %s s (%.0f%%) of a cold start from the network path%s",
			  sv >= 0 ? "saves" : "costs", a, net->load.median > 0 ? 100.0 * fabs(sv) / net->load.median : 0.0,
			  basis_note(pf));
		rpi_md_ci(b, &in->prefetch, 0);
		strbuf_addf(b, ".");
		rpi_md_noise(b, &in->prefetch, "prefetching and not");
		strbuf_addf(b, "\n");
	}
	if (r->mmap_loader)
		md_mmap_loader(b, nv, net, st, pf, in);
	md_outliers(b, r);
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs || !strcmp(m->name, MODE_RUNTIME))
			continue;
		double total = rpi_ttr(m);
		if (in->has_runtime && total > 0) {
			double storage = total - in->runtime_s;
			rpi_fmt_s(a, sizeof(a), storage > 0 ? storage : 0);
			rpi_fmt_s(c, sizeof(c), in->runtime_s);
			strbuf_addf(b, "- **Storage vs runtime (");
			rpi_md_mode(b, m);
			strbuf_addf(b, "):** %.0f%% of time-to-ready is pulling weights from storage (%s s), %.0f%% is the server's own start-up without weights (runtime mode: %s s).\n",
				  100.0 * (storage > 0 ? storage : 0) / total, a,
				  100.0 * (in->runtime_s < total ? in->runtime_s : total) / total, c);
		} else if (m->has_phases && m->load.median > 0) {
			rpi_fmt_s(a, sizeof(a), m->ph_weights);
			rpi_fmt_s(c, sizeof(c), m->load.median);
			strbuf_addf(b, "- **Storage vs runtime (");
			rpi_md_mode(b, m);
			strbuf_addf(b, "):** the weights phase is %.0f%% of time-to-ready (%s s of %s s, from the server's log).\n",
				  100.0 * m->ph_weights / m->load.median, a, c);
		}
	}
	rpf_md_interp(b, r);
}

/* One row of the verdicts: what a figure adds over nvme, its interval,
 * and each audience's verdict. */
static void md_verdict_row(struct strbuf *b, const struct rp_report *r, const struct rp_mode *m, const char *label,
			   double ttr, const struct rci_cmp *k)
{
	char a[32], lo[32], hi[32], c[32];
	rpi_fmt_s(a, sizeof(a), ttr);
	rpi_fmt_signed(c, sizeof(c), k->diff);
	strbuf_addf(b, "| ");
	rpi_md_mode(b, m);
	strbuf_addf(b, "%s%s | %s | %s", label, basis_note(m), a, c);
	if (k->diff_ci.ok) {
		rpi_fmt_signed(lo, sizeof(lo), k->diff_ci.lo);
		rpi_fmt_signed(hi, sizeof(hi), k->diff_ci.hi);
		strbuf_addf(b, " (%s to %s)%s", lo, hi, k->noise ? ", within noise" : "");
	} else {
		strbuf_addf(b, " (n/a, %zu run%s)", k->na < k->nb ? k->na : k->nb, (k->na < k->nb ? k->na : k->nb) == 1 ? "" : "s");
	}
	strbuf_addf(b, " | %s | %s | %s |\n", rpi_verdict_ci(k->diff, k, r->th.dev_s),
		    rpi_verdict_ci(k->diff, k, r->th.internal_s), rpi_verdict_ci(k->diff, k, r->th.user_s));
}

/* What each path adds over NVMe, against each audience's threshold (none
 * without an nvme mode). */
static void md_verdicts(struct strbuf *b, const struct rp_report *r, const struct rp_mode *nv)
{
	if (!nv)
		return;
	strbuf_addf(b, "\n### Verdicts\n\nWhat each path adds to a cold start over NVMe, against what an audience tolerates (thresholds: dev/notebooks %.0f s, internal services %.0f s, user-facing endpoints %.0f s; change them with `--threshold`). The added seconds carry their 95 %% interval; \"within noise\" after it: the interval includes 0 s, so the runs do not show that the path adds anything; after a verdict: the interval holds the threshold, so the runs do not settle the verdict.\n\n",
		  r->th.dev_s, r->th.internal_s, r->th.user_s);
	strbuf_addf(b, "| mode | time-to-ready (s) | added vs nvme (s) | dev / notebooks | internal services | user-facing endpoints |\n");
	strbuf_addf(b, "| --- | ---: | ---: | --- | --- | --- |\n");
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs || !strcmp(m->name, MODE_RUNTIME) || m == nv)
			continue;
		struct rci_cmp k;
		rpi_compare(r, m, RPI_TTR, nv, RPI_LOAD, &k);
		md_verdict_row(b, r, m, "", rpi_ttr(m), &k);
		if (m->has_copy) { /* later starts reuse the staged copy */
			rpi_compare(r, m, RPI_LOAD, nv, RPI_LOAD, &k);
			md_verdict_row(b, r, m, ", copy reused", m->load.median, &k);
		}
	}
}

/* Runs outside their mode's fence: named, never dropped. */
struct outl {
	struct strbuf *b;
	size_t n;
};

static void md_outlier(const struct rp_run *u, const char *fig, double v, double lo, double hi, void *arg)
{
	struct outl *o = arg;
	char a[32], l[32], h[32];
	rpi_fmt_s(a, sizeof(a), v);
	rpi_fmt_s(l, sizeof(l), lo > 0 ? lo : 0);
	rpi_fmt_s(h, sizeof(h), hi);
	strbuf_addf(o->b, "%s run %lld (", o->n++ ? ";" : "", u->run_id);
	rpi_md_esc(o->b, u->mode);
	strbuf_addf(o->b, ", `%s` %s s, outside %s to %s s", fig, a, l, h);
	if (u->timeline) {
		strbuf_addf(o->b, ", [timeline](");
		rpi_md_url(o->b, u->timeline);
		strbuf_addf(o->b, ")");
	}
	strbuf_addf(o->b, ")");
}

static void md_outliers(struct strbuf *b, const struct rp_report *r)
{
	struct strbuf list = STRBUF_INIT;
	struct outl o = { &list, 0 };
	rpi_outliers(r, md_outlier, &o);
	if (o.n)
		strbuf_addf(b, "- **Outliers (flagged, not dropped):**%s. The fence is each mode's median ± 3 × 1.4826 × MAD; the figures above include %s.\n",
			    list.buf, o.n == 1 ? "it" : "them");
	strbuf_release(&list);
	if (o.n)
		rpi_md_outlier_effects(b, r);
}

char *rp_markdown(const struct rp_report *r, const char *svg_name)
{
	struct strbuf b = STRBUF_INIT;
	struct interp in;
	rpi_interpret(r, &in);
	const struct rp_mode *nv = rpi_mode_get(r, MODE_NVME);
	md_intro(&b, r);
	md_interpretation(&b, r, &in);
	md_verdicts(&b, r, nv);
	rpf_md_table(&b, r);
	if (svg_name) {
		strbuf_addf(&b, "\n![time-to-ready per mode: copy, start-up before weights, weights, after weights](");
		rpi_md_url(&b, svg_name);
		strbuf_addf(&b, ")\n");
	}

	rpi_md_tables(&b, r);
	return strbuf_detach(&b);
}
