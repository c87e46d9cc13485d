/* report: the Markdown's tables -- results, staged runs, reads, phases,
 * caches, the environment and every run (after report_md.c's title,
 * interpretation and verdicts). */
#define _GNU_SOURCE
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/csvlog.h"
#include "core/base/strbuf.h"
#include "core/netsim/netsim.h"
#include "core/base/banned.h"

static const char *js(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void bytes_h(char *buf, size_t n, json_t *v)
{
	if (json_is_integer(v))
		fmt_bytes(buf, n, (uint64_t)json_integer_value(v));
	else
		snprintf(buf, n, "-");
}

static void md_environment(struct strbuf *b, const struct rp_report *r)
{
	json_t *host = json_object_get(r->meta, "host");
	strbuf_addf(b, "\n## Environment\n\n");
	if (!host) {
		strbuf_addf(b, "Not recorded: this CSV has no sidecar `.meta.json` (bench writes one).\n");
		return;
	}
	char ram[32];
	bytes_h(ram, sizeof(ram), json_object_get(host, "ram_bytes"));
	strbuf_addf(b, "| | |\n| --- | --- |\n");
	json_t *gpus = json_object_get(host, "gpus");
	if (json_array_size(gpus)) {
		size_t i;
		json_t *g;
		json_array_foreach(gpus, i, g) {
			char mem[32];
			bytes_h(mem, sizeof(mem), json_object_get(g, "memory_bytes"));
			char *v = xasprintf("%s, %s, driver %s", js(g, "name") ? js(g, "name") : "?", mem,
					    js(host, "gpu_driver") ? js(host, "gpu_driver") : "?");
			char *k = xasprintf("GPU %zu", i);
			strbuf_addf(b, "|");
			rpi_md_cell(b, k);
			rpi_md_cell(b, v);
			strbuf_addf(b, "\n");
			free(k);
			free(v);
		}
	} else {
		strbuf_addf(b, "| GPU | none seen (NVML not available) |\n");
	}
	strbuf_addf(b, "| OS |");
	rpi_md_cell(b, js(host, "os"));
	strbuf_addf(b, "\n| kernel |");
	rpi_md_cell(b, js(host, "kernel"));
	char *cpu = xasprintf("%s, %lld cores", js(host, "cpu") ? js(host, "cpu") : "?",
			      (long long)json_integer_value(json_object_get(host, "cores")));
	strbuf_addf(b, "\n| CPU |");
	rpi_md_cell(b, cpu);
	free(cpu);
	strbuf_addf(b, "\n| RAM | %s |\n", ram);
	json_t *ns = json_object_get(r->meta, "netsim_stats");
	if (json_is_object(ns)) {
		char got[32], bw[32];
		fmt_bytes(got, sizeof(got), (uint64_t)json_number_value(json_object_get(ns, "delivered_bytes_per_s")));
		json_int_t link = json_integer_value(json_object_get(ns, "bw_bytes_per_s"));
		fmt_bytes(bw, sizeof(bw), (uint64_t)link);
		strbuf_addf(b, "| simulated network path | netsim ");
		rpi_md_esc(b, js(ns, "profile"));
		strbuf_addf(b, ": delivered %s/s while serving", got);
		if (link)
			strbuf_addf(b, ", against the profile's %s/s", bw);
		json_t *busy = json_object_get(ns, "machine_cpu_busy_pct");
		if (json_is_number(busy))
			strbuf_addf(b, "; the machine's CPUs were %.0f%% busy meanwhile", json_number_value(busy));
		strbuf_addf(b, " |\n");
		int cpu_bound = 0;
		char *note = netsim_limit_note(ns, &cpu_bound);
		if (note) {
			strbuf_addf(b, "\n%s", cpu_bound ? "**Warning, simulated network path:** " : "Simulated network path: ");
			rpi_md_esc(b, note);
			strbuf_addf(b, ".\n");
		}
		free(note);
	}
	json_t *paths = json_object_get(r->meta, "paths");
	if (json_array_size(paths)) {
		strbuf_addf(b, "\n| mode | path | mount | file system | device | device model | kind | size | free |\n");
		strbuf_addf(b, "| --- | --- | --- | --- | --- | --- | --- | ---: | ---: |\n");
		size_t i;
		json_t *p;
		json_array_foreach(paths, i, p) {
			char sz[32], fr[32];
			bytes_h(sz, sizeof(sz), json_object_get(p, "fs_size_bytes"));
			bytes_h(fr, sizeof(fr), json_object_get(p, "fs_free_bytes"));
			strbuf_addf(b, "|");
			rpi_md_cell(b, js(p, "mode"));
			rpi_md_cell(b, js(p, "path"));
			rpi_md_cell(b, js(p, "mount"));
			rpi_md_cell(b, js(p, "fstype"));
			rpi_md_cell(b, js(p, "device") ? js(p, "device") : js(p, "source"));
			rpi_md_cell(b, js(p, "device_model"));
			rpi_md_cell(b, js(p, "kind"));
			strbuf_addf(b, " %s | %s |\n", sz, fr);
		}
	}
}

/* What bench found of the model behind each mode (its sidecar's
 * model_identity): the same files, or which differ. */
static void md_model_identity(struct strbuf *b, const struct rp_report *r)
{
	json_t *id = json_object_get(r->meta, "model_identity"), *paths = json_object_get(id, "paths");
	if (!json_array_size(paths))
		return;
	strbuf_addf(b, "\n| model behind | files | size | sampled XXH3 |\n| --- | ---: | ---: | --- |\n");
	size_t i;
	json_t *p;
	json_array_foreach(paths, i, p) {
		char sz[32];
		bytes_h(sz, sizeof(sz), json_object_get(p, "bytes"));
		strbuf_addf(b, "|");
		rpi_md_cell(b, js(p, "mode"));
		strbuf_addf(b, " %zu | %s |", json_array_size(json_object_get(p, "files")), sz);
		rpi_md_cell(b, js(p, "sampled_xxh3") ? js(p, "sampled_xxh3") : "- (a URL: names and sizes)");
		strbuf_addf(b, "\n");
	}
	if (js(id, "net")) {
		strbuf_addf(b, "\nnet: ");
		rpi_md_esc(b, js(id, "net"));
		strbuf_addf(b, ".\n");
	}
	json_t *same = json_object_get(id, "same"), *diffs = json_object_get(id, "differences");
	if (json_is_true(same)) {
		strbuf_addf(b, "\nThe same model behind every mode: the same file names and sizes%s.\n",
			    js(id, "net") ? "" : ", and the same sampled bytes where both are paths");
	} else if (json_is_false(same)) {
		strbuf_addf(b, "\n**Warning: the modes did not load the same model** (bench ran with "
			      "`--allow-different-models`): ");
		json_t *d;
		json_array_foreach(diffs, i, d) {
			strbuf_addf(b, "%s", i ? "; " : "");
			rpi_md_esc(b, json_string_value(d));
		}
		strbuf_addf(b, ". Their figures compare different files, not storage paths.\n");
	}
}

static void md_server(struct strbuf *b, const struct rp_report *r)
{
	strbuf_addf(b, "\n## Server config\n\n| | |\n| --- | --- |\n");
	strbuf_addf(b, "| model |");
	rpi_md_cell(b, r->model);
	strbuf_addf(b, "\n");
	if (r->max_model_len >= 0)
		strbuf_addf(b, "| max_model_len | %lld |\n", r->max_model_len);
	const char *keys[][2] = { { "server_template", "server template" }, { "server_command", "resolved command" },
				  { "net", "network path" }, { "coldstart_version", "coldstart version" },
				  { "command_line", "bench command" }, { "started", "bench started" } };
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		const char *v = r->meta ? js(r->meta, keys[i][0]) : NULL;
		if (!v)
			continue;
		strbuf_addf(b, "| %s | ", keys[i][1]);
		rpi_md_code(b, v);
		strbuf_addf(b, " |\n");
	}
}

static const char *basis_name(const struct rp_mode *m)
{
	return m->basis == RP_COLD ? "cold runs" : m->basis == RP_UNVERIFIED ? "**cold not verified**" : "**warm runs only**";
}

static int read_as_is(const struct rp_run *u, int how)
{
	return u->copy_s >= 0 && u->load_s >= 0 && !u->status && (int)u->read_as == how;
}

static size_t count_read_as(const struct rp_report *r, enum rp_read how)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nruns; i++)
		n += read_as_is(&r->runs[i], (int)how);
	return n;
}

/* "runs 3, 7, 11" of the runs that satisfy pick. */
static void md_run_list(struct strbuf *b, const struct rp_report *r, int (*pick)(const struct rp_run *, int), int arg)
{
	size_t k = 0;
	for (size_t i = 0; i < r->nruns; i++)
		if (pick(&r->runs[i], arg))
			strbuf_addf(b, "%s%lld", k++ ? ", " : "", r->runs[i].run_id);
}

static void md_results(struct strbuf *b, const struct rp_report *r, const struct rp_mode *nv)
{
	strbuf_addf(b, "\n## Results\n\n");
	strbuf_addf(b, "| mode | runs | median load_s | min | max | stddev | vs nvme | statistics from | GPU MiB |\n");
	strbuf_addf(b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n");
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		char med[32], mn[32], mx[32], sd[32], g[32];
		rpi_fmt_s(med, sizeof(med), m->load.median);
		rpi_fmt_s(mn, sizeof(mn), m->load.min);
		rpi_fmt_s(mx, sizeof(mx), m->load.max);
		rpi_fmt_s(sd, sizeof(sd), m->runs ? m->load.stddev : -1);
		if (m->gpu_mib >= 0)
			snprintf(g, sizeof(g), "%.0f", m->gpu_mib);
		else
			snprintf(g, sizeof(g), "-");
		char extra[128] = "";
		size_t el = 0;
		/* The runs of other classes, left out of these figures. */
		if (m->basis != RP_UNVERIFIED && m->unverified_runs)
			el += (size_t)snprintf(extra + el, sizeof(extra) - el, " (+%zu not verified cold)", m->unverified_runs);
		if (m->basis != RP_WARM && m->warm_runs && el < sizeof(extra))
			el += (size_t)snprintf(extra + el, sizeof(extra) - el, " (+%zu warm)", m->warm_runs);
		if (m->failed && el < sizeof(extra))
			el += (size_t)snprintf(extra + el, sizeof(extra) - el, " (+%zu failed)", m->failed);
		if (m->flagged && el < sizeof(extra))
			el += (size_t)snprintf(extra + el, sizeof(extra) - el, " (+%zu flagged)", m->flagged);
		if (m->unreadable && el < sizeof(extra))
			snprintf(extra + el, sizeof(extra) - el, " (+%zu unreadable)", m->unreadable);
		strbuf_addf(b, "| ");
		rpi_md_mode(b, m);
		strbuf_addf(b, " | %zu%s | %s | %s | %s | %s |", m->runs, extra, med, mn, mx, sd);
		rpi_md_vs_nvme(b, r, m, nv);
		strbuf_addf(b, " %s | %s |\n", m->runs ? basis_name(m) : "-", g);
	}
	rpi_md_vs_nvme_note(b, r, nv);
}

/* Warm runs beside cold ones: shown apart, never in the figures. */
static void md_warm(struct strbuf *b, const struct rp_report *r)
{
	int any_warm = 0;
	for (size_t i = 0; i < r->nmodes; i++)
		any_warm |= r->modes[i].basis != RP_WARM && r->modes[i].warm_runs > 0;
	if (any_warm) {
		strbuf_addf(b, "\nWarm runs (`cold=no`: the model was still in the page cache), left out of the figures above:\n\n");
		strbuf_addf(b, "| mode | warm runs | median load_s | min | max |\n| --- | ---: | ---: | ---: | ---: |\n");
		for (size_t i = 0; i < r->nmodes; i++) {
			const struct rp_mode *m = &r->modes[i];
			if (m->basis == RP_WARM || !m->warm_runs)
				continue;
			char med[32], mn[32], mx[32];
			rpi_fmt_s(med, sizeof(med), m->warm.median);
			rpi_fmt_s(mn, sizeof(mn), m->warm.min);
			rpi_fmt_s(mx, sizeof(mx), m->warm.max);
			strbuf_addf(b, "| ");
			rpi_md_mode(b, m);
			strbuf_addf(b, " | %zu | %s | %s | %s |\n", m->warm_runs, med, mn, mx);
		}
	}
}

static void md_staged(struct strbuf *b, const struct rp_mode *nv, const struct rp_mode *net, const struct rp_mode *st)
{
	if (st) {
		strbuf_addf(b, "\nStaged runs, copy + load (`total_s` is what a cold start with staging costs):\n\n");
		strbuf_addf(b, "| mode | runs | median copy_s | median load_s | median total_s | min total | max total | stddev total | total vs nvme | total vs net |\n");
		strbuf_addf(b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
		char v[8][32];
		rpi_fmt_s(v[0], 32, st->copy.median);
		rpi_fmt_s(v[1], 32, st->load.median);
		rpi_fmt_s(v[2], 32, st->total.median);
		rpi_fmt_s(v[3], 32, st->total.min);
		rpi_fmt_s(v[4], 32, st->total.max);
		rpi_fmt_s(v[5], 32, st->total.stddev);
		snprintf(v[6], 32, "%s", "-");
		snprintf(v[7], 32, "%s", "-");
		if (nv && nv->load.median > 0)
			snprintf(v[6], 32, "%.2fx", st->total.median / nv->load.median);
		if (net && net->load.median > 0)
			snprintf(v[7], 32, "%.2fx", st->total.median / net->load.median);
		strbuf_addf(b, "| staged | %zu | %s | %s | %s | %s | %s | %s | %s | %s |\n", st->runs, v[0], v[1], v[2], v[3],
			  v[4], v[5], v[6], v[7]);
	}
	/* How each row with a copy was read: the two conventions of load_s. */
}

/* How each row with a copy was read: the two conventions of load_s. */
static void md_reads(struct strbuf *b, const struct rp_report *r)
{
	static const struct { enum rp_read how; const char *what; } reads[] = {
		{ RP_READ_LOAD, "`load_s` is the start after staging; the copy comes from the notes' `copy_s` (the notes' `load_s` / `total_s` agree)" },
		{ RP_READ_TOTAL, "`load_s` is copy + start (the notes' `load_s` / `total_s` say so): the start is `load_s` - `copy_s`" },
		{ RP_READ_NOTES, "`load_s` is empty: copy and start come from the notes" },
		{ RP_READ_LOAD_ASSUMED, "`load_s` read as the start after staging, as the seed writes it (only `copy_s` in the notes, nothing to tell otherwise)" },
	};
	int any_read = 0;
	for (size_t k = 0; k < sizeof(reads) / sizeof(*reads); k++)
		any_read |= count_read_as(r, reads[k].how) > 0;
	if (any_read) {
		strbuf_addf(b, "\nHow the rows with a copy were read:\n\n");
		for (size_t k = 0; k < sizeof(reads) / sizeof(*reads); k++) {
			size_t n = count_read_as(r, reads[k].how);
			if (!n)
				continue;
			strbuf_addf(b, "- run%s ", n == 1 ? "" : "s");
			md_run_list(b, r, read_as_is, (int)reads[k].how);
			strbuf_addf(b, ": %s.\n", reads[k].what);
		}
	}
}

static void md_flagged(struct strbuf *b, const struct rp_report *r)
{
	size_t flagged = 0;
	for (size_t i = 0; i < r->nmodes; i++)
		flagged += r->modes[i].flagged;
	if (flagged) {
		strbuf_addf(b, "\nRows flagged and left out (their column and notes disagree beyond rounding, so neither is taken):\n\n");
		for (size_t i = 0; i < r->nruns; i++) {
			const struct rp_run *u = &r->runs[i];
			if (u->read_as != RP_READ_FLAGGED)
				continue;
			strbuf_addf(b, "- run %lld (", u->run_id);
			rpi_md_esc(b, u->mode);
			strbuf_addf(b, "): ");
			rpi_md_esc(b, u->flag);
			strbuf_addf(b, ".\n");
		}
	}
}

/* Rows left out because a number in them is not one: each with its reason. */
static void md_unreadable(struct strbuf *b, const struct rp_report *r)
{
	if (!r->nunreadable)
		return;
	strbuf_addf(b, "\nRows unreadable and left out (a number that is not a finite decimal, or an id that does not "
		      "fit: in no statistic):\n\n");
	for (size_t i = 0; i < r->nruns; i++) {
		const struct rp_run *u = &r->runs[i];
		if (!u->unreadable)
			continue;
		strbuf_addf(b, "- record %zu", u->record);
		if (u->run_id >= 0)
			strbuf_addf(b, " (run %lld, ", u->run_id);
		else
			strbuf_addf(b, " (");
		rpi_md_esc(b, u->mode);
		strbuf_addf(b, "): ");
		rpi_md_esc(b, u->unreadable);
		strbuf_addf(b, ".\n");
	}
}

static void md_phases(struct strbuf *b, const struct rp_report *r)
{
	int any_phase = 0;
	for (size_t i = 0; i < r->nmodes; i++)
		any_phase |= r->modes[i].has_phases;
	if (any_phase) {
		strbuf_addf(b, "\n### Phases (medians, seconds, from the server's log)\n\n");
		strbuf_addf(b, "| mode | copy | start-up before weights | weights | after weights (warm-up) | weights share |\n");
		strbuf_addf(b, "| --- | ---: | ---: | ---: | ---: | ---: |\n");
		for (size_t i = 0; i < r->nmodes; i++) {
			const struct rp_mode *m = &r->modes[i];
			if (!m->has_phases)
				continue;
			char cp[32];
			rpi_fmt_s(cp, sizeof(cp), m->has_copy ? m->copy.median : -1);
			strbuf_addf(b, "| ");
			rpi_md_mode(b, m);
			strbuf_addf(b, " | %s | %.3f | %.3f | %.3f | %.0f%% |\n", cp, m->ph_before, m->ph_weights,
				  m->ph_after, m->load.median > 0 ? 100.0 * m->ph_weights / m->load.median : 0.0);
		}
	}
}

static const struct rp_cachegrp *cg_get(const struct rp_report *r, const char *mode, const char *caches)
{
	for (size_t k = 0; k < r->ncg; k++)
		if (!strcmp(r->cgroups[k].mode, mode) && !strcmp(r->cgroups[k].caches, caches) && r->cgroups[k].runs)
			return &r->cgroups[k];
	return NULL;
}

static void fmt_mb(char *buf, size_t n, double v)
{
	if (v < 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.1f", v);
}

/* What caching the compile and kernel caches is worth, per mode. */
static void md_cache_savings(struct strbuf *b, const struct rp_report *r)
{
	for (size_t k = 0; k < r->ncg; k++) {
		const struct rp_cachegrp *g = &r->cgroups[k];
		if (k && !strcmp(g->mode, r->cgroups[k - 1].mode))
			continue;
		const struct rp_cachegrp *cold = cg_get(r, g->mode, "cold"), *st = cg_get(r, g->mode, "staged"),
					 *warm = cg_get(r, g->mode, "warm");
		if (!cold || (!st && !warm))
			continue;
		char a[32], c[32], d[32], mb[32];
		rpi_fmt_s(a, sizeof(a), cold->ready);
		strbuf_addf(b, "- **");
		rpi_md_esc(b, g->mode);
		strbuf_addf(b, "**: ");
		if (st) {
			double save = cold->ready - st->ready;
			rpi_fmt_s(c, sizeof(c), st->ready);
			rpi_fmt_s(d, sizeof(d), fabs(save));
			strbuf_addf(b, "staging the caches %s %s s per cold start (%s s with cold caches, %s s with staged ones, "
				      "their copy", save >= 0 ? "saves" : "costs", d, a, c);
			rpi_fmt_s(d, sizeof(d), st->cache_copy);
			strbuf_addf(b, " of %s s included", d);
			if (cold->ready > 0)
				strbuf_addf(b, ": %.0f%% of the cold-cache start", 100.0 * save / cold->ready);
			strbuf_addf(b, ")");
			rpi_md_cg_saving(b, cold, st);
		}
		if (warm) {
			double save = cold->ready - warm->ready;
			rpi_fmt_s(c, sizeof(c), warm->ready);
			rpi_fmt_s(d, sizeof(d), fabs(save));
			strbuf_addf(b, "%swarm caches start %s s %s than cold ones (%s s to %s s)", st ? "; " : "", d,
				    save >= 0 ? "faster" : "slower", a, c);
			rpi_md_cg_saving(b, cold, warm);
			if (!st) {
				fmt_mb(mb, sizeof(mb), warm->cache_mb);
				strbuf_addf(b, ": staging the caches (a %s MB set, `coldstart stage --kind dir`) would save up to "
					      "that, less the set's copy", mb);
			}
		}
		if (cold->compile >= 0 && (st ? st->compile : warm->compile) >= 0) {
			rpi_fmt_s(c, sizeof(c), cold->compile);
			rpi_fmt_s(d, sizeof(d), st ? st->compile : warm->compile);
			strbuf_addf(b, "; compile %s s with cold caches, %s s with %s ones", c, d, st ? "staged" : "warm");
		}
		strbuf_addf(b, ".");
		rpi_md_cg_noise(b, cold, st, warm);
		strbuf_addf(b, "\n");
	}
}

static void md_caches(struct strbuf *b, const struct rp_report *r)
{
	if (!r->caches_basis)
		return;
	strbuf_addf(b, "\n## Compile and kernel caches\n\n");
	strbuf_addf(b, "Time to ready per mode and cache state (`caches=`: cold, fresh empty cache directories; warm, a set "
		      "kept from an earlier start; staged, a set staged from the network first), split into storage (the "
		      "copy and the weights phase), compile (torch.compile, Dynamo), graph capture (CUDA graphs) and the "
		      "rest. Medians over each group's cold runs, seconds; ready includes the copies, and its 95 %% "
		      "bootstrap interval follows it.\n\n");
	strbuf_addf(b, "| mode | caches | runs | ready (95 %% interval) | storage | compile | graph capture | rest | cache copy | cache set MB (after) |\n");
	strbuf_addf(b, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (size_t k = 0; k < r->ncg; k++) {
		const struct rp_cachegrp *g = &r->cgroups[k];
		char f[6][32], m1[32], m2[32];
		const double vals[6] = { g->ready, g->storage, g->compile, g->graph, g->rest, g->cache_copy };
		for (int i = 0; i < 6; i++)
			rpi_fmt_s(f[i], sizeof(f[i]), g->runs ? vals[i] : -1);
		fmt_mb(m1, sizeof(m1), g->cache_mb);
		fmt_mb(m2, sizeof(m2), g->cache_after_mb);
		strbuf_addf(b, "| ");
		rpi_md_esc(b, g->mode);
		strbuf_addf(b, " | ");
		rpi_md_esc(b, strcmp(g->caches, "-") ? g->caches : "not set");
		strbuf_addf(b, " | %zu%s |", g->runs,
			    g->basis == RP_COLD ? "" : g->basis == RP_UNVERIFIED ? " (cold not verified)" : " (warm only)");
		rpi_md_cg_ready(b, g);
		strbuf_addf(b, " %s | %s | %s | %s | %s | %s (%s) |\n", f[1], f[2], f[3], f[4], f[5], m1, m2);
	}
	strbuf_addf(b, "\n");
	md_cache_savings(b, r);
}

static void md_runs(struct strbuf *b, const struct rp_report *r)
{
	int cc = r->caches_basis != NULL;
	strbuf_addf(b, "\n## Runs\n\n| run_id | mode | load_s | GPU MiB | cold |%s status | timeline |\n| ---: | --- | ---: | ---: | --- |%s --- | --- |\n",
		    cc ? " caches |" : "", cc ? " --- |" : "");
	for (size_t i = 0; i < r->nruns; i++) {
		const struct rp_run *u = &r->runs[i];
		char l[32], g[32];
		rpi_fmt_s(l, sizeof(l), u->read_as == RP_READ_FLAGGED || u->unreadable ? -1 : u->load_s);
		if (u->gpu_mib >= 0)
			snprintf(g, sizeof(g), "%.0f", u->gpu_mib);
		else
			snprintf(g, sizeof(g), "-");
		if (u->run_id >= 0)
			strbuf_addf(b, "| %lld | ", u->run_id);
		else
			strbuf_addf(b, "| - | ");
		rpi_md_esc(b, u->mode);
		strbuf_addf(b, " | %s | %s | ", l, g);
		rpi_md_esc(b, u->cold ? u->cold : "-");
		strbuf_addf(b, " | ");
		if (cc) {
			rpi_md_esc(b, u->caches ? u->caches : "-");
			strbuf_addf(b, " | ");
		}
		rpi_md_esc(b, u->unreadable ? "unreadable" : u->status ? u->status : u->read_as == RP_READ_FLAGGED ? "flagged" : "ok");
		if (u->timeline) {
			strbuf_addf(b, " | [svg](");
			rpi_md_url(b, u->timeline);
			strbuf_addf(b, ") |\n");
		} else {
			strbuf_addf(b, " | - |\n");
		}
	}
}

void rpi_md_tables(struct strbuf *b, const struct rp_report *r)
{
	const struct rp_mode *nv = rpi_mode_get(r, MODE_NVME), *net = rpi_mode_get(r, MODE_NET), *st = rpi_mode_get(r, MODE_STAGED);
	md_results(b, r, nv);
	md_warm(b, r);
	md_staged(b, nv, net, st);
	md_reads(b, r);
	md_flagged(b, r);
	md_unreadable(b, r);
	md_phases(b, r);
	md_caches(b, r);
	md_environment(b, r);
	md_model_identity(b, r);
	md_server(b, r);
	md_runs(b, r);
}
