/* report: several nodes' CSVs in one fleet report (see report.h). */
#define _GNU_SOURCE
#include "report_internal.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/fsutil.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

#define OUTLIER_RATIO 1.5

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int rp_fleet_dir(const char *dir, char ***csvs, size_t *n, struct cs_err *err)
{
	*csvs = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return cs_fail_errno(err, errno, "cannot read directory '%s'", dir);
	size_t alloc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".csv"))
			continue;
		*csvs = xgrow(*csvs, &alloc, *n + 1, sizeof(char *));
		(*csvs)[(*n)++] = path_join(dir, e->d_name);
	}
	closedir(d);
	if (!*n)
		return cs_fail(err, ENOENT, "no *.csv in '%s'", dir);
	qsort(*csvs, *n, sizeof(char *), cmp_str);
	return 0;
}

static const char *js(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The node's name: its sidecar's (the node bench ran on, else the
 * hostname), a node= note, the file's name. */
static char *node_name(const struct rp_report *r, const char *csv)
{
	const char *h = js(r->meta, "node") ? js(r->meta, "node") : js(json_object_get(r->meta, "host"), "hostname");
	if (h && *h)
		return xstrdup(h);
	if (r->node && *r->node)
		return xstrdup(r->node);
	char *base = fs_basename(csv);
	size_t l = strlen(base);
	if (l > 4 && !strcmp(base + l - 4, ".csv"))
		base[l - 4] = 0;
	return base;
}

int rp_fleet_load(char *const *csvs, size_t n, const char *model, struct rp_fleet *f, struct cs_err *err)
{
	memset(f, 0, sizeof(*f));
	f->nodes = xcalloc(n ? n : 1, sizeof(*f->nodes));
	size_t amodes = 0;
	for (size_t i = 0; i < n; i++) {
		char *meta = rp_sibling(csvs[i], ".meta.json");
		struct rp_node *nd = &f->nodes[f->n];
		int rc = rp_load(csvs[i], meta, model ? model : f->model, NULL, &nd->r, err);
		free(meta);
		if (rc) {
			rp_fleet_release(f);
			return rc;
		}
		f->n++;
		if (!f->model)
			f->model = xstrdup(nd->r.model);
		nd->name = node_name(&nd->r, csvs[i]);
		for (size_t k = 0; k + 1 < f->n; k++)
			if (!strcmp(f->nodes[k].name, nd->name)) {
				/* two CSVs of one host: tell them apart by file */
				char *base = fs_basename(csvs[i]);
				char *both = xasprintf("%s (%s)", nd->name, base);
				free(base);
				free(nd->name);
				nd->name = both;
				break;
			}
		for (size_t m = 0; m < nd->r.nmodes; m++) {
			size_t k;
			for (k = 0; k < f->nmodes && strcmp(f->modes[k], nd->r.modes[m].name); k++)
				;
			if (k == f->nmodes) {
				f->modes = xgrow(f->modes, &amodes, f->nmodes + 1, sizeof(char *));
				f->modes[f->nmodes++] = xstrdup(nd->r.modes[m].name);
			}
		}
	}
	/* report order: the modes table's, then unknown ones by name */
	for (size_t a = 1; a < f->nmodes; a++)
		for (size_t b = a; b > 0; b--) {
			int ra = storage_mode_rank(f->modes[b - 1]), rb = storage_mode_rank(f->modes[b]);
			if (ra < rb || (ra == rb && strcmp(f->modes[b - 1], f->modes[b]) <= 0))
				break;
			char *t = f->modes[b - 1];
			f->modes[b - 1] = f->modes[b];
			f->modes[b] = t;
		}
	return 0;
}

void rp_fleet_release(struct rp_fleet *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->nodes[i].name);
		rp_release(&f->nodes[i].r);
	}
	free_strv(f->modes, f->nmodes);
	free(f->nodes);
	free(f->model);
	memset(f, 0, sizeof(*f));
}

/* A node's time to ready in a mode; < 0 when it has no measured run. */
static double node_ttr(const struct rp_node *nd, const char *mode, const struct rp_mode **out)
{
	const struct rp_mode *m = rpi_mode_get(&nd->r, mode);
	if (out)
		*out = m;
	return m && m->runs ? rpi_ttr(m) : -1;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least q of them at or below it. */
static double pct(const double *sorted, size_t n, double q)
{
	size_t k = (size_t)ceil(q * (double)n);
	return sorted[k ? k - 1 : 0];
}

struct across {
	size_t n;
	double p50, p90, p99, max;
	struct rci_interval p50_ci;  /* bootstrap over the nodes' figures */
	size_t slowest;   /* node index */
};

static int across_nodes(const struct rp_fleet *f, const char *mode, struct across *a)
{
	memset(a, 0, sizeof(*a));
	double *v = xcalloc(f->n ? f->n : 1, sizeof(double));
	for (size_t i = 0; i < f->n; i++) {
		double t = node_ttr(&f->nodes[i], mode, NULL);
		if (t < 0)
			continue;
		if (!a->n || t > a->max) {
			a->max = t;
			a->slowest = i;
		}
		v[a->n++] = t;
	}
	if (a->n) {
		rci_quantile_rank(v, a->n, 0.50, &a->p50_ci);
		qsort(v, a->n, sizeof(double), cmp_dbl);
		a->p50 = pct(v, a->n, 0.50);
		a->p90 = pct(v, a->n, 0.90);
		a->p99 = pct(v, a->n, 0.99);
	}
	free(v);
	return a->n ? 0 : -1;
}

static void fmt_s(char *buf, size_t n, double v)
{
	snprintf(buf, n, v < 0 ? "-" : v < 10 ? "%.3f" : "%.1f", v);
}

/* A quantile and its interval, "12.0 (11.5 to 13.0)", or "12.0 (no interval)". */
static void add_quantile(struct strbuf *b, const double *v, size_t n, double q)
{
	struct rci_interval ci;
	char s1[32], s2[32], s3[32];
	fmt_s(s1, sizeof(s1), rci_quantile(v, n, q, &ci));
	if (!ci.ok) {
		strbuf_addf(b, " %s (no interval) |", s1);
		return;
	}
	fmt_s(s2, sizeof(s2), ci.lo);
	fmt_s(s3, sizeof(s3), ci.hi);
	strbuf_addf(b, " %s (%s to %s) |", s1, s2, s3);
}

/* The across-nodes p50 and its interval: " 12.0 (11.5 to 13.0) |", or
 * " 12.0 (n/a, 1 node) |". */
static void md_p50_ci(struct strbuf *b, const char *p50, const struct rci_interval *ci)
{
	char lo[32], hi[32];
	if (!ci->ok) {
		strbuf_addf(b, " %s (n/a, 1 node) |", p50);
		return;
	}
	fmt_s(lo, sizeof(lo), ci->lo);
	fmt_s(hi, sizeof(hi), ci->hi);
	strbuf_addf(b, " %s (%s to %s) |", p50, lo, hi);
}

/* Per node and mode: p50 and p99 of its runs, each with its 95 % bootstrap interval. */
static void md_node_quantiles(struct strbuf *b, const struct rp_fleet *f)
{
	strbuf_addf(b, "\n## Per node: p50 and p99 with their intervals\n\nOver the runs each node's figure comes "
		    "from, with the 95 %% bootstrap interval of each (%d seeded resamples of the node's runs; p99 by "
		    "nearest rank, so with fewer than 100 runs it is their maximum and its interval ends there too).\n\n"
		    "| node | mode | runs | p50 s (95 %% interval) | p99 s (95 %% interval) |\n| --- | --- | ---: | ---: | ---: |\n",
		    RCI_RESAMPLES);
	for (size_t n = 0; n < f->n; n++) {
		const struct rp_node *nd = &f->nodes[n];
		for (size_t m = 0; m < f->nmodes; m++) {
			const struct rp_mode *md = rpi_mode_get(&nd->r, f->modes[m]);
			if (!md || !md->runs)
				continue;
			double *v = xcalloc(md->runs, sizeof(double));
			for (size_t k = 0; k < md->runs; k++) {
				const struct rp_run *u = &nd->r.runs[md->basis_idx[k]];
				v[k] = md->has_copy ? u->total_s : u->load_s;
			}
			strbuf_addf(b, "|");
			rpi_md_cell(b, nd->name);
			rpi_md_cell(b, f->modes[m]);
			strbuf_addf(b, " %zu |", md->runs);
			add_quantile(b, v, md->runs, 0.50);
			add_quantile(b, v, md->runs, 0.99);
			strbuf_addf(b, "\n");
			free(v);
		}
	}
}

/* ---- the environment fields that differ ---- */

/* One field's value on one node (malloc'd; "-" when not recorded). */
static char *env_value(const struct rp_node *nd, const char *field)
{
	json_t *meta = nd->r.meta, *host = json_object_get(meta, "host");
	if (!meta)
		return xstrdup("-");
	if (!strcmp(field, "RAM")) {
		json_t *b = json_object_get(host, "ram_bytes");
		return json_is_integer(b) ? xasprintf("%.0f GiB", (double)json_integer_value(b) / (1u << 30)) : xstrdup("-");
	}
	if (!strcmp(field, "cores")) {
		json_t *c = json_object_get(host, "cores");
		return json_is_integer(c) ? xasprintf("%lld", (long long)json_integer_value(c)) : xstrdup("-");
	}
	if (!strcmp(field, "GPU")) {
		json_t *g = json_object_get(host, "gpus");
		const char *name = js(json_array_get(g, 0), "name");
		return name ? xasprintf("%zux %s", json_array_size(g), name) : xstrdup("none");
	}
	const char *hk = !strcmp(field, "kernel") ? "kernel" : !strcmp(field, "OS") ? "os" : !strcmp(field, "CPU") ? "cpu"
				: !strcmp(field, "GPU driver") ? "gpu_driver" : NULL;
	if (hk)
		return xstrdup(js(host, hk) ? js(host, hk) : "-");
	/* "MODE file system" / "MODE device" / "MODE mount": the sidecar's paths */
	char mode[64], what[32];
	if (sscanf(field, "%63s %31s", mode, what) != 2)
		return xstrdup("-");
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(meta, "paths"), i, p) {
		const char *m = js(p, "mode");
		if (!m || strcmp(m, mode))
			continue;
		const char *v = !strcmp(what, "file") ? js(p, "fstype") : !strcmp(what, "mount") ? js(p, "mount")
				: js(p, "device_model") ? js(p, "device_model") : js(p, "device") ? js(p, "device") : js(p, "source");
		return xstrdup(v ? v : "-");
	}
	return xstrdup("-");
}

static void md_env(struct strbuf *b, const struct rp_fleet *f)
{
	static const char *host_fields[] = { "kernel", "OS", "CPU", "cores", "RAM", "GPU", "GPU driver" };
	size_t nf = sizeof(host_fields) / sizeof(*host_fields);
	char **fields = xcalloc(nf + 3 * f->nmodes, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < nf; i++)
		fields[k++] = xstrdup(host_fields[i]);
	for (size_t m = 0; m < f->nmodes; m++) {
		fields[k++] = xasprintf("%s file system", f->modes[m]);
		fields[k++] = xasprintf("%s mount", f->modes[m]);
		fields[k++] = xasprintf("%s device", f->modes[m]);
	}
	struct strbuf same = STRBUF_INIT, diff = STRBUF_INIT;
	size_t ndiff = 0;
	for (size_t i = 0; i < k; i++) {
		char **v = xcalloc(f->n, sizeof(char *));
		/* Differs: two recorded values that are not the same ("-": not recorded). */
		int differs = 0, any = 0;
		const char *first = NULL;
		for (size_t n = 0; n < f->n; n++) {
			v[n] = env_value(&f->nodes[n], fields[i]);
			if (!strcmp(v[n], "-"))
				continue;
			any = 1;
			differs |= first && strcmp(v[n], first);
			if (!first)
				first = v[n];
		}
		if (differs) {
			ndiff++;
			strbuf_addf(&diff, "|");
			rpi_md_cell(&diff, fields[i]);
			for (size_t n = 0; n < f->n; n++)
				rpi_md_cell(&diff, v[n]);
			strbuf_addf(&diff, "\n");
		} else if (any) {
			strbuf_addf(&same, "%s%s", same.len ? ", " : "", fields[i]);
		}
		free_strv(v, f->n);
	}
	strbuf_addf(b, "\n## Environment: what differs between nodes\n\n");
	if (ndiff) {
		strbuf_addf(b, "|  |");
		for (size_t n = 0; n < f->n; n++)
			rpi_md_cell(b, f->nodes[n].name);
		strbuf_addf(b, "\n| --- |");
		for (size_t n = 0; n < f->n; n++)
			strbuf_addf(b, " --- |");
		strbuf_addf(b, "\n%s", diff.buf);
	} else {
		strbuf_addf(b, "Nothing recorded differs between the nodes.\n");
	}
	if (same.len) {
		strbuf_addf(b, "\nThe same on every node that recorded it: ");
		rpi_md_esc(b, same.buf);
		strbuf_addf(b, ".\n");
	}
	size_t without = 0;
	for (size_t n = 0; n < f->n; n++)
		without += !f->nodes[n].r.meta;
	if (without)
		strbuf_addf(b, "\n%zu node%s without a sidecar (`.meta.json`): %s environment is not known.\n", without,
			    without == 1 ? "" : "s", without == 1 ? "its" : "their");
	strbuf_release(&same);
	strbuf_release(&diff);
	free_strv(fields, k);
}

/* Rows of any node with a number that is not one: in no figure, listed. */
static void md_unreadable(struct strbuf *b, const struct rp_fleet *f)
{
	size_t total = 0;
	for (size_t n = 0; n < f->n; n++)
		total += f->nodes[n].r.nunreadable;
	if (!total)
		return;
	strbuf_addf(b, "\n%zu row%s unreadable and left out of every figure (a number that is not a finite decimal, or "
		    "an id that does not fit):\n\n", total, total == 1 ? "" : "s");
	for (size_t n = 0; n < f->n; n++) {
		const struct rp_report *r = &f->nodes[n].r;
		for (size_t i = 0; i < r->nruns; i++) {
			const struct rp_run *u = &r->runs[i];
			if (!u->unreadable)
				continue;
			char *base = fs_basename(r->csv);
			strbuf_addf(b, "- ");
			rpi_md_esc(b, f->nodes[n].name);
			strbuf_addf(b, ", ");
			rpi_md_esc(b, base);
			strbuf_addf(b, " record %zu: ", u->record);
			rpi_md_esc(b, u->unreadable);
			strbuf_addf(b, ".\n");
			free(base);
		}
	}
}

/* Across nodes, per mode: p50 (with its interval), p90, p99, the max and
 * the slowest node. */
static void md_across(struct strbuf *b, const struct rp_fleet *f)
{
	char s1[32], s2[32], s3[32], s4[32];
	strbuf_addf(b, "\n## Across nodes\n\nThe p50 carries its 95 %% bootstrap interval (%d seeded resamples of the "
			"nodes' figures, each resample's p50 by nearest rank too): how far the fleet's typical node could "
			"move with other nodes of the same kind.\n\n| mode | nodes | p50 s (95 %% interval) | p90 s | p99 s "
			"| max s | slowest node |\n", RCI_RESAMPLES);
	strbuf_addf(b, "| --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
	for (size_t m = 0; m < f->nmodes; m++) {
		struct across a;
		if (across_nodes(f, f->modes[m], &a))
			continue;
		fmt_s(s1, sizeof(s1), a.p50);
		fmt_s(s2, sizeof(s2), a.p90);
		fmt_s(s3, sizeof(s3), a.p99);
		fmt_s(s4, sizeof(s4), a.max);
		strbuf_addf(b, "|");
		rpi_md_cell(b, f->modes[m]);
		strbuf_addf(b, " %zu |", a.n);
		md_p50_ci(b, s1, &a.p50_ci);
		strbuf_addf(b, " %s | %s | %s |", s2, s3, s4);
		rpi_md_cell(b, f->nodes[a.slowest].name);
		strbuf_addf(b, "\n");
	}
}

char *rp_fleet_markdown(const struct rp_fleet *f, const char *svg_name)
{
	struct strbuf b = STRBUF_INIT;
	char s1[32], s2[32], s3[32];
	strbuf_addf(&b, "# Cold starts across a fleet: ");
	rpi_md_esc(&b, f->model);
	strbuf_addf(&b, ", %zu node%s\n\n", f->n, f->n == 1 ? "" : "s");
	strbuf_addf(&b, "From one CSV per node. A node's figure for a mode is its median time to ready over the "
			"runs the single-node report uses (cold runs, else those not verified cold, else warm ones; "
			"staged: copy + start). Across nodes: p50, p90 and p99 by nearest rank over the nodes' "
			"figures, and the slowest node, which sets how long a rollout to all of them takes.\n");
	if (svg_name)
		strbuf_addf(&b, "\n![time to ready per node](%s)\n", svg_name);

	md_across(&b, f);

	strbuf_addf(&b, "\n## Per node\n\n| node | csv |");
	for (size_t m = 0; m < f->nmodes; m++)
		rpi_md_cell(&b, f->modes[m]);
	strbuf_addf(&b, "\n| --- | --- |");
	for (size_t m = 0; m < f->nmodes; m++)
		strbuf_addf(&b, " ---: |");
	strbuf_addf(&b, "\n");
	for (size_t n = 0; n < f->n; n++) {
		const struct rp_node *nd = &f->nodes[n];
		char *base = fs_basename(nd->r.csv);
		strbuf_addf(&b, "|");
		rpi_md_cell(&b, nd->name);
		rpi_md_cell(&b, base);
		free(base);
		for (size_t m = 0; m < f->nmodes; m++) {
			const struct rp_mode *md;
			double t = node_ttr(nd, f->modes[m], &md);
			fmt_s(s1, sizeof(s1), t);
			if (t >= 0)
				strbuf_addf(&b, " %s (%zu%s) |", s1, md->runs,
					    md->basis == RP_COLD ? "" : md->basis == RP_UNVERIFIED ? ", unverified" : ", warm");
			else
				strbuf_addf(&b, " - |");
		}
		strbuf_addf(&b, "\n");
	}
	strbuf_addf(&b, "\nIn parentheses: the runs each figure comes from (and their class, when not cold).\n");
	md_node_quantiles(&b, f);
	md_unreadable(&b, f);

	strbuf_addf(&b, "\n## Slowest nodes and outliers\n\n");
	size_t said = 0;
	for (size_t m = 0; m < f->nmodes; m++) {
		struct across a;
		if (across_nodes(f, f->modes[m], &a) || a.n < 2)
			continue;
		const struct rp_node *slow = &f->nodes[a.slowest];
		fmt_s(s1, sizeof(s1), a.max);
		fmt_s(s2, sizeof(s2), a.p50);
		strbuf_addf(&b, "- **");
		rpi_md_esc(&b, f->modes[m]);
		strbuf_addf(&b, ":** slowest ");
		rpi_md_esc(&b, slow->name);
		strbuf_addf(&b, ", %s s, %.2fx the p50 of %s s.", s1, a.p50 > 0 ? a.max / a.p50 : 0, s2);
		size_t nout = 0;
		for (size_t n = 0; n < f->n; n++) {
			double t = node_ttr(&f->nodes[n], f->modes[m], NULL);
			if (a.n >= 3 && t > a.p50 * OUTLIER_RATIO) {
				strbuf_addf(&b, "%s", nout++ ? ", " : " Outliers (above 1.5x p50): ");
				rpi_md_esc(&b, f->nodes[n].name);
				fmt_s(s3, sizeof(s3), t);
				strbuf_addf(&b, " %s s", s3);
			}
		}
		if (nout)
			strbuf_addf(&b, ".");
		else if (a.n >= 3)
			strbuf_addf(&b, " No outlier above 1.5x p50.");
		strbuf_addf(&b, "\n");
		said++;
	}
	if (!said)
		strbuf_addf(&b, "Fewer than two nodes measured any one mode: nothing to compare.\n");
	md_env(&b, f);
	return strbuf_detach(&b);
}

static const char *mode_color[] = { "#3182bd", "#e6550d", "#31a354", "#756bb1", "#969696", "#e7ba52", "#ce6dbd",
				    "#17becf" };

char *rp_fleet_svg(const struct rp_fleet *f)
{
	struct strbuf b = STRBUF_INIT;
	double vmax = 0;
	for (size_t n = 0; n < f->n; n++)
		for (size_t m = 0; m < f->nmodes; m++) {
			double t = node_ttr(&f->nodes[n], f->modes[m], NULL);
			if (t > vmax)
				vmax = t;
		}
	double axmax, step;
	rpi_nice_axis(vmax, &axmax, &step);
	const double left = 170, width = 560, bar = 12, gap = 10, top = 56;
	double group = (double)f->nmodes * bar + gap;
	double h = top + (double)f->n * group + 40;
	strbuf_addf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
			"font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		    left + width + 40, h);
	char *title = xasprintf("Time to ready per node: %s (%zu nodes)", f->model, f->n);
	rpi_svg_text(&b, 10, 20, "start", 14, "#000", title);
	free(title);
	for (size_t m = 0; m < f->nmodes; m++) {
		double x = left + (double)m * 110;
		strbuf_addf(&b, "<rect x=\"%.1f\" y=\"30\" width=\"10\" height=\"10\" fill=\"%s\"/>\n", x,
			    mode_color[m % 8]);
		rpi_svg_text(&b, x + 14, 39, "start", 11, "#333", f->modes[m]);
	}
	for (double t = 0; t <= axmax + 1e-9; t += step) {
		double x = left + width * t / axmax;
		char lab[32];
		snprintf(lab, sizeof(lab), "%g s", t);
		strbuf_addf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, top - 4, x,
			    h - 34);
		rpi_svg_text(&b, x, h - 20, "middle", 10, "#555", lab);
	}
	for (size_t n = 0; n < f->n; n++) {
		double y = top + (double)n * group;
		rpi_svg_text(&b, left - 8, y + (double)f->nmodes * bar / 2 + 4, "end", 11, "#000", f->nodes[n].name);
		for (size_t m = 0; m < f->nmodes; m++) {
			double t = node_ttr(&f->nodes[n], f->modes[m], NULL);
			if (t < 0)
				continue;
			strbuf_addf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", left,
				    y + (double)m * bar, width * t / axmax, bar - 2, mode_color[m % 8]);
		}
	}
	strbuf_addf(&b, "</svg>\n");
	return strbuf_detach(&b);
}

int rp_fleet_write(char *const *csvs, size_t n, const char *model, const char *md, const char *svg,
		   struct cs_err *err)
{
	for (size_t i = 0; i < n; i++) {
		char *meta = rp_sibling(csvs[i], ".meta.json");
		int clash = fs_same_file(md, csvs[i]) || fs_same_file(svg, csvs[i]) || fs_same_file(md, meta) ||
			    fs_same_file(svg, meta);
		free(meta);
		if (clash)
			return cs_fail(err, EEXIST, "the fleet report would overwrite its input '%s'", csvs[i]);
	}
	struct rp_fleet f;
	if (rp_fleet_load(csvs, n, model, &f, err))
		return -1;
	char *name = fs_basename(svg), *mdir = fs_parent_dir(md), *sdir = fs_parent_dir(svg);
	char *text = rp_fleet_markdown(&f, strcmp(mdir, sdir) ? svg : name);
	char *chart = rp_fleet_svg(&f);
	int rc = fs_write_file_sync(md, text, strlen(text), err);
	if (!rc)
		rc = fs_write_file_sync(svg, chart, strlen(chart), err);
	free(text);
	free(chart);
	free(name);
	free(mdir);
	free(sdir);
	rp_fleet_release(&f);
	return rc;
}
