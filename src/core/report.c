#define _GNU_SOURCE
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csvlog.h"
#include "netsim.h"
#include "banned.h"

/* ---- a growing string ---- */

struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *t = xvasprintf(fmt, ap);
	va_end(ap);
	size_t n = strlen(t);
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, t, n + 1);
	b->len += n;
	free(t);
}

/* ---- statistics ---- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void rp_stats_of(const double *v, size_t n, struct rp_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	if (!n) {
		s->median = s->min = s->max = NAN;
		return;
	}
	double *c = xcalloc(n, sizeof(double));
	memcpy(c, v, n * sizeof(double));
	qsort(c, n, sizeof(double), cmp_d);
	s->median = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	s->min = c[0];
	s->max = c[n - 1];
	double mean = 0;
	for (size_t i = 0; i < n; i++)
		mean += c[i];
	mean /= (double)n;
	double ss = 0;
	for (size_t i = 0; i < n; i++)
		ss += (c[i] - mean) * (c[i] - mean);
	s->stddev = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
	free(c);
}

static double median_of(const double *v, size_t n)
{
	struct rp_stats s;
	rp_stats_of(v, n, &s);
	return s.median;
}

/* ---- notes ---- */

static double note_num(const char *notes, const char *key)
{
	char *v = notes_get_lenient(notes, key);
	double d = -1;
	if (v) {
		char *e;
		errno = 0;
		d = strtod(v, &e);
		/* "12.3s" is fine; anything else is not a number */
		if (e == v || errno || (*e && strcmp(e, "s")) || d < 0)
			d = -1;
	}
	free(v);
	return d;
}

/* ---- loading ---- */

static int mode_rank(const char *m)
{
	static const char *order[] = { "nvme", "net", "staged", "net+prefetch", "runtime" };
	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++)
		if (!strcmp(m, order[i]))
			return (int)i;
	return 100;
}

static int cmp_mode(const void *a, const void *b)
{
	const struct rp_mode *x = a, *y = b;
	int rx = mode_rank(x->name), ry = mode_rank(y->name);
	return rx != ry ? rx - ry : strcmp(x->name, y->name);
}

static double parse_num(const char *s)
{
	if (!s || !*s)
		return -1;
	char *e;
	errno = 0;
	double d = strtod(s, &e);
	return e == s || *e || errno || d < 0 ? -1 : d;
}

/* Digits after the decimal point of a number as written ("22.0" -> 1). */
static int decimals(const char *s)
{
	const char *d = s ? strchr(s, '.') : NULL;
	int n = 0;
	while (d && d[1 + n] >= '0' && d[1 + n] <= '9')
		n++;
	return n;
}

/* Half a unit in the last place written: how far a number may be off from
 * the value it was rounded from. */
static double half_ulp(const char *s)
{
	return 0.5 * pow(10, -decimals(s));
}

/* a and b agree within the rounding of the numbers written (strings). */
static int agree(double a, double b, const char *s1, const char *s2, const char *s3)
{
	double tol = half_ulp(s1) + half_ulp(s2) + (s3 ? half_ulp(s3) : 0) + 1e-9;
	return fabs(a - b) <= tol;
}

static double num_str(const char *v)
{
	if (!v)
		return -1;
	char *e;
	errno = 0;
	double d = strtod(v, &e);
	return e == v || errno || (*e && strcmp(e, "s")) || d < 0 ? -1 : d;
}

static void flag(struct rp_run *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void flag(struct rp_run *u, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	u->flag = xvasprintf(fmt, ap);
	va_end(ap);
	u->read_as = RP_READ_FLAGGED;
}

/*
 * The start (load_s), copy and total of one row. A row with copy_s in its
 * notes is a staged run: its load_s column holds either the start after
 * staging (the seed's convention and coldstart's own) or copy + start, as
 * people also write it; the notes' load_s or total_s decide which. Where
 * column and notes disagree beyond the rounding of what was written, the
 * row is flagged, not guessed.
 */
static void read_times(const char *col_s, const char *notes, struct rp_run *u)
{
	char *cs = notes_get_lenient(notes, "copy_s"), *ls = notes_get_lenient(notes, "load_s"),
	     *ts = notes_get_lenient(notes, "total_s");
	double col = parse_num(col_s), copy = num_str(cs), nl = num_str(ls), nt = num_str(ts);
	u->copy_s = copy;
	u->load_s = col;
	u->total_s = col;
	u->read_as = RP_READ_PLAIN;
	if (copy < 0) {
		u->copy_s = -1;
	} else if (nl >= 0) {
		u->load_s = nl;
		u->total_s = copy + nl;
		if (col < 0)
			u->read_as = RP_READ_NOTES;
		else if (agree(col, nl, col_s, ls, NULL))
			u->read_as = RP_READ_LOAD;
		else if (agree(col, copy + nl, col_s, cs, ls))
			u->read_as = RP_READ_TOTAL;
		else
			flag(u, "its load_s column %s matches neither the notes' load_s=%s nor copy_s + load_s = %.3f",
			     col_s, ls, copy + nl);
		if (u->read_as != RP_READ_FLAGGED && nt >= 0 && !agree(nt, copy + nl, ts, cs, ls))
			flag(u, "its notes' total_s=%s is not copy_s + load_s = %.3f", ts, copy + nl);
	} else if (nt >= 0) {
		u->total_s = nt;
		if (col < 0) {
			u->read_as = RP_READ_NOTES;
			u->load_s = nt - copy;
		} else if (agree(col, nt, col_s, ts, NULL)) {
			u->read_as = RP_READ_TOTAL;
			u->load_s = nt - copy;
		} else if (agree(col + copy, nt, col_s, cs, ts)) {
			u->read_as = RP_READ_LOAD;
		} else {
			flag(u, "its load_s column %s matches neither the notes' total_s=%s nor total_s - copy_s = %.3f",
			     col_s, ts, nt - copy);
		}
		if (u->read_as != RP_READ_FLAGGED && u->load_s < 0)
			flag(u, "its notes' total_s=%s is less than copy_s=%s", ts, cs);
	} else if (col >= 0) {
		/* Only copy_s: nothing tells; the seed's own convention. */
		u->read_as = RP_READ_LOAD_ASSUMED;
		u->total_s = col + copy;
	}
	free(cs);
	free(ls);
	free(ts);
}

int rp_load(const char *csv_path, const char *meta_path, const char *model, const struct rp_thresholds *th,
	    struct rp_report *r, struct cs_err *err)
{
	memset(r, 0, sizeof(*r));
	struct rp_thresholds def = RP_DEFAULT_THRESHOLDS;
	r->th = th ? *th : def;
	r->max_model_len = -1;
	r->csv = xstrdup(csv_path);
	struct csv_table t;
	int rc = csv_load(csv_path, &t, err);
	if (rc)
		return rc;
	if (!t.nrows) {
		csv_table_free(&t);
		return cs_fail(err, EINVAL, "'%s' is empty", csv_path);
	}
	char *hdr = NULL;
	for (size_t c = 0; c < t.ncols[0]; c++) {
		char *h = xasprintf("%s%s%s", hdr ? hdr : "", c ? "," : "", t.cells[0][c]);
		free(hdr);
		hdr = h;
	}
	if (strcmp(hdr, CSV_HEADER)) {
		char shown[400];
		csv_show(hdr, strlen(hdr), shown, sizeof(shown));
		rc = cs_fail(err, EINVAL, "'%s' does not start with the header %s (found: %s)", csv_path, CSV_HEADER, shown);
		free(hdr);
		csv_table_free(&t);
		return rc;
	}
	free(hdr);
	/* Which model: the one asked for, else the last row's. */
	const char *want = model;
	for (size_t i = t.nrows; !want && i-- > 1;)
		if (t.ncols[i] == CSV_NCOLS && *t.cells[i][2])
			want = t.cells[i][2];
	char **seen = NULL;
	size_t nseen = 0, aseen = 0;
	for (size_t i = 1; i < t.nrows; i++) {
		if (t.ncols[i] != CSV_NCOLS) {
			rc = cs_fail(err, EINVAL, "'%s': record %zu has %zu fields, not %d", csv_path, i + 1, t.ncols[i],
				     CSV_NCOLS);
			break;
		}
		int known = 0;
		for (size_t k = 0; k < nseen; k++)
			known |= !strcmp(seen[k], t.cells[i][2]);
		if (!known) {
			seen = xgrow(seen, &aseen, nseen + 1, sizeof(char *));
			seen[nseen++] = t.cells[i][2];
		}
	}
	r->nmodels = nseen;
	int known = 0;
	for (size_t k = 0; want && k < nseen; k++)
		known |= !strcmp(seen[k], want);
	if (!rc && !want)
		rc = cs_fail(err, EINVAL, "'%s' has no rows", csv_path);
	else if (!rc && !known) {
		/* A report about nothing would read as a report. */
		char *list = xstrdup("");
		for (size_t k = 0; k < nseen; k++) {
			char *grown = xasprintf("%s%s'%s'", list, k ? ", " : "", seen[k]);
			free(list);
			list = grown;
		}
		rc = cs_fail(err, ENOENT, "'%s' has no rows of model '%s' (it has %s)", csv_path, want, list);
		free(list);
	}
	free(seen);
	if (rc) {
		csv_table_free(&t);
		return rc;
	}
	r->model = xstrdup(want);
	/* The runs of this model, and its modes in order of appearance. */
	size_t amodes = 0, aruns = 0;
	for (size_t i = 1; i < t.nrows; i++) {
		char **c = t.cells[i];
		if (strcmp(c[2], want))
			continue;
		size_t m;
		for (m = 0; m < r->nmodes && strcmp(r->modes[m].name, c[1]); m++)
			;
		if (m == r->nmodes) {
			r->modes = xgrow(r->modes, &amodes, r->nmodes + 1, sizeof(*r->modes));
			memset(&r->modes[m], 0, sizeof(r->modes[m]));
			r->modes[m].name = xstrdup(c[1]);
			r->nmodes++;
		}
		const char *notes = c[6];
		char *status = notes_get_lenient(notes, "status");
		r->runs = xgrow(r->runs, &aruns, r->nruns + 1, sizeof(*r->runs));
		struct rp_run *run = &r->runs[r->nruns++];
		memset(run, 0, sizeof(*run));
		run->run_id = strtoll(c[0], NULL, 10);
		run->mode = xstrdup(c[1]);
		run->gpu_mib = parse_num(c[5]);
		run->cold = notes_get_lenient(notes, "cold");
		run->coldness = !run->cold || !strcmp(run->cold, "unverified") ? RP_UNVERIFIED
				: !strcmp(run->cold, "yes")			  ? RP_COLD
				: !strcmp(run->cold, "no")			  ? RP_WARM
										  : RP_UNVERIFIED;
		run->timeline = notes_get_lenient(notes, "timeline");
		run->status = status;
		if (status) {
			run->load_s = -1;
			continue;
		}
		read_times(c[4], notes, run);
		if (run->load_s < 0 || run->read_as == RP_READ_FLAGGED)
			continue;
		if (r->max_model_len < 0 && *c[3])
			r->max_model_len = strtoll(c[3], NULL, 10);
		double ls = note_num(notes, "t_load_start"), we = note_num(notes, "t_weights_end");
		run->has_phases = ls >= 0 && we >= ls && run->load_s >= we;
		if (run->has_phases) {
			run->ph_before = ls;
			run->ph_weights = we - ls;
			run->ph_after = run->load_s - we;
		}
	}
	/* Per mode, the statistics of its basis: one class of runs. */
	enum { V_LOAD, V_COPY, V_TOTAL, V_BEFORE, V_WEIGHTS, V_AFTER, V_GPU, V_WARM, NV };
	double *v[NV];
	for (int k = 0; k < NV; k++)
		v[k] = xcalloc(r->nruns ? r->nruns : 1, sizeof(double));
	for (size_t m = 0; m < r->nmodes; m++) {
		struct rp_mode *md = &r->modes[m];
		for (size_t i = 0; i < r->nruns; i++) {
			const struct rp_run *u = &r->runs[i];
			if (strcmp(u->mode, md->name))
				continue;
			if (u->read_as == RP_READ_FLAGGED)
				md->flagged++;
			else if (u->load_s < 0)
				md->failed++;
			else if (u->coldness == RP_COLD)
				md->cold_runs++;
			else if (u->coldness == RP_WARM)
				md->warm_runs++;
			else
				md->unverified_runs++;
		}
		md->basis = md->cold_runs ? RP_COLD : md->unverified_runs ? RP_UNVERIFIED : RP_WARM;
		size_t n = 0, np = 0, ng = 0, nw = 0;
		for (size_t i = 0; i < r->nruns; i++) {
			const struct rp_run *u = &r->runs[i];
			if (u->load_s < 0 || u->read_as == RP_READ_FLAGGED || strcmp(u->mode, md->name))
				continue;
			if (u->coldness == RP_WARM && md->basis != RP_WARM)
				v[V_WARM][nw++] = u->load_s;
			if (u->coldness != md->basis)
				continue;
			md->has_copy |= u->copy_s >= 0;
			v[V_LOAD][n] = u->load_s;
			v[V_COPY][n] = u->copy_s >= 0 ? u->copy_s : 0;
			v[V_TOTAL][n++] = u->total_s;
			if (u->has_phases) {
				v[V_BEFORE][np] = u->ph_before;
				v[V_WEIGHTS][np] = u->ph_weights;
				v[V_AFTER][np++] = u->ph_after;
			}
			if (u->gpu_mib >= 0)
				v[V_GPU][ng++] = u->gpu_mib;
		}
		md->runs = n;
		rp_stats_of(v[V_LOAD], n, &md->load);
		rp_stats_of(v[V_COPY], n, &md->copy);
		rp_stats_of(v[V_TOTAL], n, &md->total);
		rp_stats_of(v[V_WARM], nw, &md->warm);
		md->has_phases = np > 0;
		md->ph_before = median_of(v[V_BEFORE], np);
		md->ph_weights = median_of(v[V_WEIGHTS], np);
		md->ph_after = median_of(v[V_AFTER], np);
		md->gpu_mib = ng ? median_of(v[V_GPU], ng) : -1;
	}
	for (int k = 0; k < NV; k++)
		free(v[k]);
	qsort(r->modes, r->nmodes, sizeof(*r->modes), cmp_mode);
	csv_table_free(&t);
	if (meta_path) {
		struct stat sb;
		if (stat(meta_path, &sb) == 0) {
			json_error_t je;
			r->meta = json_load_file(meta_path, 0, &je);
			if (!r->meta)
				return cs_fail(err, EINVAL, "'%s': line %d: %s", meta_path, je.line, je.text);
		}
	}
	return 0;
}

void rp_free(struct rp_report *r)
{
	for (size_t i = 0; i < r->nmodes; i++)
		free(r->modes[i].name);
	for (size_t i = 0; i < r->nruns; i++) {
		free(r->runs[i].mode);
		free(r->runs[i].cold);
		free(r->runs[i].timeline);
		free(r->runs[i].status);
		free(r->runs[i].flag);
	}
	free(r->runs);
	free(r->modes);
	free(r->model);
	free(r->csv);
	json_decref(r->meta);
	memset(r, 0, sizeof(*r));
}

/* ---- interpretation ---- */

static const struct rp_mode *mode_get(const struct rp_report *r, const char *name)
{
	for (size_t i = 0; i < r->nmodes; i++)
		if (!strcmp(r->modes[i].name, name) && r->modes[i].runs)
			return &r->modes[i];
	return NULL;
}

/* Time-to-ready of a mode as a user sees it: staged includes the copy. */
static double ttr(const struct rp_mode *m)
{
	return m->has_copy ? m->total.median : m->load.median;
}

struct interp {
	int has_ratio;
	double ratio, diff;
	int has_staged;
	double staged_total, staged_vs_net;  /* > 0: staging costs more */
	int has_breakeven;
	long long breakeven;                 /* cold starts; -1: never */
	int has_runtime;
	double runtime_s;
};

static void interpret(const struct rp_report *r, struct interp *in)
{
	memset(in, 0, sizeof(*in));
	const struct rp_mode *nv = mode_get(r, "nvme"), *net = mode_get(r, "net"), *st = mode_get(r, "staged"),
			     *rt = mode_get(r, "runtime");
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

static const char *verdict(double added, double limit)
{
	return added <= limit ? "acceptable" : "too slow";
}

/* ---- Markdown ---- */

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

/* Text from a CSV or a sidecar, safe inside Markdown (also inside a table
 * cell): Markdown punctuation escaped, HTML neutralized, lines flattened. */
static void md_esc(struct sbuf *b, const char *s)
{
	for (const char *p = s ? s : "-"; *p; p++) {
		if (*p == '<')
			sb_printf(b, "&lt;");
		else if (*p == '>')
			sb_printf(b, "&gt;");
		else if (*p == '&')
			sb_printf(b, "&amp;");
		else if (*p == '\n' || *p == '\r')
			sb_printf(b, " ");
		else if (strchr("\\`*_[]|~#!", *p))
			sb_printf(b, "\\%c", *p);
		else
			sb_printf(b, "%c", *p);
	}
}

/* A code span that holds any text: a fence longer than its backtick runs. */
static void md_code(struct sbuf *b, const char *s)
{
	size_t run = 0, longest = 0;
	for (const char *p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	for (size_t i = 0; i <= longest; i++)
		sb_printf(b, "`");
	sb_printf(b, longest ? " " : "");
	for (const char *p = s; *p; p++)
		sb_printf(b, "%s", *p == '|' ? "\\|" : *p == '\n' || *p == '\r' ? " " : (char[]){ *p, 0 });
	sb_printf(b, longest ? " " : "");
	for (size_t i = 0; i <= longest; i++)
		sb_printf(b, "`");
}

/* A link target: anything but plain path characters percent-encoded. */
static void md_url(struct sbuf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/:+@=,", *p))
			sb_printf(b, "%c", *p);
		else
			sb_printf(b, "%%%02X", *p);
	}
}

static void md_cell(struct sbuf *b, const char *s)
{
	sb_printf(b, " ");
	md_esc(b, s);
	sb_printf(b, " |");
}

static void md_environment(struct sbuf *b, const struct rp_report *r)
{
	json_t *host = json_object_get(r->meta, "host");
	sb_printf(b, "\n## Environment\n\n");
	if (!host) {
		sb_printf(b, "Not recorded: this CSV has no sidecar `.meta.json` (bench writes one).\n");
		return;
	}
	char ram[32];
	bytes_h(ram, sizeof(ram), json_object_get(host, "ram_bytes"));
	sb_printf(b, "| | |\n| --- | --- |\n");
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
			sb_printf(b, "|");
			md_cell(b, k);
			md_cell(b, v);
			sb_printf(b, "\n");
			free(k);
			free(v);
		}
	} else {
		sb_printf(b, "| GPU | none seen (NVML not available) |\n");
	}
	sb_printf(b, "| OS |");
	md_cell(b, js(host, "os"));
	sb_printf(b, "\n| kernel |");
	md_cell(b, js(host, "kernel"));
	char *cpu = xasprintf("%s, %lld cores", js(host, "cpu") ? js(host, "cpu") : "?",
			      (long long)json_integer_value(json_object_get(host, "cores")));
	sb_printf(b, "\n| CPU |");
	md_cell(b, cpu);
	free(cpu);
	sb_printf(b, "\n| RAM | %s |\n", ram);
	json_t *ns = json_object_get(r->meta, "netsim_stats");
	if (json_is_object(ns)) {
		char got[32], bw[32];
		fmt_bytes(got, sizeof(got), (uint64_t)json_number_value(json_object_get(ns, "delivered_bytes_per_s")));
		json_int_t link = json_integer_value(json_object_get(ns, "bw_bytes_per_s"));
		fmt_bytes(bw, sizeof(bw), (uint64_t)link);
		sb_printf(b, "| simulated network path | netsim ");
		md_esc(b, js(ns, "profile"));
		sb_printf(b, ": delivered %s/s while serving", got);
		if (link)
			sb_printf(b, ", against the profile's %s/s", bw);
		json_t *busy = json_object_get(ns, "machine_cpu_busy_pct");
		if (json_is_number(busy))
			sb_printf(b, "; the machine's CPUs were %.0f%% busy meanwhile", json_number_value(busy));
		sb_printf(b, " |\n");
		int cpu_bound = 0;
		char *note = netsim_limit_note(ns, &cpu_bound);
		if (note) {
			sb_printf(b, "\n%s", cpu_bound ? "**Warning, simulated network path:** " : "Simulated network path: ");
			md_esc(b, note);
			sb_printf(b, ".\n");
		}
		free(note);
	}
	json_t *paths = json_object_get(r->meta, "paths");
	if (json_array_size(paths)) {
		sb_printf(b, "\n| mode | path | mount | file system | device | device model | kind | size | free |\n");
		sb_printf(b, "| --- | --- | --- | --- | --- | --- | --- | ---: | ---: |\n");
		size_t i;
		json_t *p;
		json_array_foreach(paths, i, p) {
			char sz[32], fr[32];
			bytes_h(sz, sizeof(sz), json_object_get(p, "fs_size_bytes"));
			bytes_h(fr, sizeof(fr), json_object_get(p, "fs_free_bytes"));
			sb_printf(b, "|");
			md_cell(b, js(p, "mode"));
			md_cell(b, js(p, "path"));
			md_cell(b, js(p, "mount"));
			md_cell(b, js(p, "fstype"));
			md_cell(b, js(p, "device") ? js(p, "device") : js(p, "source"));
			md_cell(b, js(p, "device_model"));
			md_cell(b, js(p, "kind"));
			sb_printf(b, " %s | %s |\n", sz, fr);
		}
	}
}

static void md_server(struct sbuf *b, const struct rp_report *r)
{
	sb_printf(b, "\n## Server config\n\n| | |\n| --- | --- |\n");
	sb_printf(b, "| model |");
	md_cell(b, r->model);
	sb_printf(b, "\n");
	if (r->max_model_len >= 0)
		sb_printf(b, "| max_model_len | %lld |\n", r->max_model_len);
	const char *keys[][2] = { { "server_template", "server template" }, { "server_command", "resolved command" },
				  { "net", "network path" }, { "coldstart_version", "coldstart version" },
				  { "command_line", "bench command" }, { "started", "bench started" } };
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		const char *v = r->meta ? js(r->meta, keys[i][0]) : NULL;
		if (!v)
			continue;
		sb_printf(b, "| %s | ", keys[i][1]);
		md_code(b, v);
		sb_printf(b, " |\n");
	}
}

static void fmt_s(char *buf, size_t n, double v)
{
	if (isnan(v) || v < 0)
		snprintf(buf, n, "-");
	else if (v < 10)
		snprintf(buf, n, "%.3f", v);
	else
		snprintf(buf, n, "%.2f", v);
}

static void fmt_signed(char *buf, size_t n, double v)
{
	if (n < 2)
		return;
	buf[0] = v < 0 ? '-' : '+';
	fmt_s(buf + 1, n - 1, fabs(v));
}

/* What a mode's statistics stand on, said wherever its numbers are quoted
 * (nothing for cold runs, the normal case). */
static const char *basis_note(const struct rp_mode *m)
{
	return m->basis == RP_COLD ? "" : m->basis == RP_UNVERIFIED ? " (cold not verified)" : " (warm runs only: not a cold start)";
}

static const char *basis_name(const struct rp_mode *m)
{
	return m->basis == RP_COLD ? "cold runs" : m->basis == RP_UNVERIFIED ? "**cold not verified**" : "**warm runs only**";
}

static void md_mode(struct sbuf *b, const struct rp_mode *m)
{
	md_esc(b, m->name);
}

/* "runs 3, 7, 11" of the runs that satisfy pick. */
static void md_run_list(struct sbuf *b, const struct rp_report *r, int (*pick)(const struct rp_run *, int), int arg)
{
	size_t k = 0;
	for (size_t i = 0; i < r->nruns; i++)
		if (pick(&r->runs[i], arg))
			sb_printf(b, "%s%lld", k++ ? ", " : "", r->runs[i].run_id);
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

char *rp_markdown(const struct rp_report *r, const char *svg_name)
{
	struct sbuf b = { 0 };
	struct interp in;
	interpret(r, &in);
	const struct rp_mode *nv = mode_get(r, "nvme"), *net = mode_get(r, "net"), *st = mode_get(r, "staged"),
			     *pf = mode_get(r, "net+prefetch");
	size_t cold = 0, unver = 0, warm = 0, failed = 0, flagged = 0;
	for (size_t i = 0; i < r->nmodes; i++) {
		cold += r->modes[i].cold_runs;
		unver += r->modes[i].unverified_runs;
		warm += r->modes[i].warm_runs;
		failed += r->modes[i].failed;
		flagged += r->modes[i].flagged;
	}
	size_t ok = cold + unver + warm;
	sb_printf(&b, "# Cold start by storage path: ");
	md_esc(&b, r->model);
	sb_printf(&b, "\n\nFrom ");
	md_code(&b, r->csv);
	sb_printf(&b, ": %zu measured run%s", ok, ok == 1 ? "" : "s");
	if (ok && cold == ok)
		sb_printf(&b, ", all cold");
	else if (ok)
		sb_printf(&b, ": %zu cold, %zu not verified cold, %zu warm", cold, unver, warm);
	if (failed || flagged) {
		sb_printf(&b, " (and ");
		if (failed)
			sb_printf(&b, "%zu failed", failed);
		if (flagged)
			sb_printf(&b, "%s%zu flagged", failed ? ", " : "", flagged);
		sb_printf(&b, ", left out)");
	}
	if (r->nmodels > 1) {
		sb_printf(&b, "; the CSV holds %zu models, this report covers ", r->nmodels);
		md_code(&b, r->model);
	}
	sb_printf(&b, ". Time-to-ready (`load_s`) is launch until the server answered its readiness check. A mode's "
		      "statistics come from its cold runs (`cold=yes`: evicted, and the residency check said so); a mode "
		      "without any falls back to its runs not verified cold (`cold=unverified`, or rows without a `cold` "
		      "note), then to warm runs, and says so. Warm runs (`cold=no`) are never mixed into cold figures.\n");

	sb_printf(&b, "\n## Interpretation\n\n");
	char a[32], c[32], d[32];
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs && (m->failed || m->flagged)) {
			sb_printf(&b, "- **");
			md_mode(&b, m);
			sb_printf(&b, ":** no measured run (%zu failed, %zu flagged): no figures for this mode.\n", m->failed,
				  m->flagged);
		} else if (m->basis != RP_COLD) {
			sb_printf(&b, "- **");
			md_mode(&b, m);
			sb_printf(&b, m->basis == RP_UNVERIFIED
					      ? ":** no run verified cold: its figures come from %zu run%s whose page-cache "
						"residency could not be checked (`cold=unverified` or no `cold` note).\n"
					      : ":** no cold run: its figures come from %zu warm run%s (`cold=no`), which "
						"measure%s a start from the page cache, not a cold start.\n",
				  m->runs, m->runs == 1 ? "" : "s", m->basis == RP_WARM && m->runs == 1 ? "s" : "");
		}
	}
	if (in.has_ratio) {
		fmt_s(a, sizeof(a), net->load.median);
		fmt_s(c, sizeof(c), nv->load.median);
		fmt_s(d, sizeof(d), fabs(in.diff));
		sb_printf(&b, "- **Network vs NVMe:** a cold start from the network path takes %s s (median%s) against %s s from NVMe%s: **%.2fx**, %s%s s per cold start.\n",
			  a, basis_note(net), c, basis_note(nv), in.ratio, in.diff >= 0 ? "+" : "-", d);
	}
	if (in.has_staged) {
		fmt_s(a, sizeof(a), st->copy.median);
		fmt_s(c, sizeof(c), st->load.median);
		fmt_s(d, sizeof(d), in.staged_total);
		char e[32];
		fmt_s(e, sizeof(e), fabs(in.staged_vs_net));
		sb_printf(&b, "- **Staging:** copy %s s + start from the staged copy %s s = %s s%s, which %s %s s against starting from the network path directly.\n",
			  a, c, d, basis_note(st), in.staged_vs_net <= 0 ? "saves" : "costs", e);
	}
	if (in.has_breakeven) {
		if (in.breakeven < 0)
			sb_printf(&b, "- **Break-even:** never — a start from the staged copy is not faster than from the network path, so the copy never pays back (staging may still buy predictability).\n");
		else
		{
			fmt_s(a, sizeof(a), st->copy.median);
			fmt_s(c, sizeof(c), net->load.median - st->load.median);
			sb_printf(&b, "- **Break-even:** one staged copy has paid for itself after **%lld cold start%s** (copy time / seconds saved per start: %s / %s).\n",
				  in.breakeven, in.breakeven == 1 ? "" : "s", a, c);
		}
	}
	if (pf && net) {
		double sv = net->load.median - pf->load.median;
		fmt_s(a, sizeof(a), fabs(sv));
		sb_printf(&b, "- **Prefetch:** warming the files in parallel during the server's start-up %s %s s (%.0f%%) of a cold start from the network path%s.\n",
			  sv >= 0 ? "saves" : "costs", a, net->load.median > 0 ? 100.0 * fabs(sv) / net->load.median : 0.0,
			  basis_note(pf));
	}
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs || !strcmp(m->name, "runtime"))
			continue;
		double total = ttr(m);
		if (in.has_runtime && total > 0) {
			double storage = total - in.runtime_s;
			fmt_s(a, sizeof(a), storage > 0 ? storage : 0);
			fmt_s(c, sizeof(c), in.runtime_s);
			sb_printf(&b, "- **Storage vs runtime (");
			md_mode(&b, m);
			sb_printf(&b, "):** %.0f%% of time-to-ready is pulling weights from storage (%s s), %.0f%% is the server's own start-up without weights (runtime mode: %s s).\n",
				  100.0 * (storage > 0 ? storage : 0) / total, a,
				  100.0 * (in.runtime_s < total ? in.runtime_s : total) / total, c);
		} else if (m->has_phases && m->load.median > 0) {
			fmt_s(a, sizeof(a), m->ph_weights);
			fmt_s(c, sizeof(c), m->load.median);
			sb_printf(&b, "- **Storage vs runtime (");
			md_mode(&b, m);
			sb_printf(&b, "):** the weights phase is %.0f%% of time-to-ready (%s s of %s s, from the server's log).\n",
				  100.0 * m->ph_weights / m->load.median, a, c);
		}
	}
	if (nv) {
		sb_printf(&b, "\n### Verdicts\n\nWhat each path adds to a cold start over NVMe, against what an audience tolerates (thresholds: dev/notebooks %.0f s, internal services %.0f s, user-facing endpoints %.0f s; change them with `--threshold`).\n\n",
			  r->th.dev_s, r->th.internal_s, r->th.user_s);
		sb_printf(&b, "| mode | time-to-ready (s) | added vs nvme (s) | dev / notebooks | internal services | user-facing endpoints |\n");
		sb_printf(&b, "| --- | ---: | ---: | --- | --- | --- |\n");
		for (size_t i = 0; i < r->nmodes; i++) {
			const struct rp_mode *m = &r->modes[i];
			if (!m->runs || !strcmp(m->name, "runtime") || m == nv)
				continue;
			double added = ttr(m) - nv->load.median;
			fmt_s(a, sizeof(a), ttr(m));
			fmt_signed(c, sizeof(c), added);
			sb_printf(&b, "| ");
			md_mode(&b, m);
			sb_printf(&b, "%s | %s | %s | %s | %s | %s |\n", basis_note(m), a, c, verdict(added, r->th.dev_s),
				  verdict(added, r->th.internal_s), verdict(added, r->th.user_s));
			if (m->has_copy) { /* later starts reuse the staged copy */
				added = m->load.median - nv->load.median;
				fmt_s(a, sizeof(a), m->load.median);
				fmt_signed(c, sizeof(c), added);
				sb_printf(&b, "| ");
				md_mode(&b, m);
				sb_printf(&b, ", copy reused%s | %s | %s | %s | %s | %s |\n", basis_note(m), a, c,
					  verdict(added, r->th.dev_s), verdict(added, r->th.internal_s),
					  verdict(added, r->th.user_s));
			}
		}
	}

	if (svg_name) {
		sb_printf(&b, "\n![time-to-ready per mode: copy, start-up before weights, weights, after weights](");
		md_url(&b, svg_name);
		sb_printf(&b, ")\n");
	}

	sb_printf(&b, "\n## Results\n\n");
	sb_printf(&b, "| mode | runs | median load_s | min | max | stddev | vs nvme | statistics from | GPU MiB |\n");
	sb_printf(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n");
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		char med[32], mn[32], mx[32], sd[32], g[32];
		fmt_s(med, sizeof(med), m->load.median);
		fmt_s(mn, sizeof(mn), m->load.min);
		fmt_s(mx, sizeof(mx), m->load.max);
		fmt_s(sd, sizeof(sd), m->runs ? m->load.stddev : -1);
		if (m->gpu_mib >= 0)
			snprintf(g, sizeof(g), "%.0f", m->gpu_mib);
		else
			snprintf(g, sizeof(g), "-");
		char ratio[32] = "-";
		if (nv && m->runs && nv->load.median > 0)
			snprintf(ratio, sizeof(ratio), "%.2fx", m->load.median / nv->load.median);
		char extra[96] = "";
		size_t el = 0;
		/* The runs of other classes, left out of these figures. */
		if (m->basis != RP_UNVERIFIED && m->unverified_runs)
			el += (size_t)snprintf(extra + el, sizeof(extra) - el, " (+%zu not verified cold)", m->unverified_runs);
		if (m->basis != RP_WARM && m->warm_runs && el < sizeof(extra))
			el += (size_t)snprintf(extra + el, sizeof(extra) - el, " (+%zu warm)", m->warm_runs);
		if (m->failed && el < sizeof(extra))
			el += (size_t)snprintf(extra + el, sizeof(extra) - el, " (+%zu failed)", m->failed);
		if (m->flagged && el < sizeof(extra))
			snprintf(extra + el, sizeof(extra) - el, " (+%zu flagged)", m->flagged);
		sb_printf(&b, "| ");
		md_mode(&b, m);
		sb_printf(&b, " | %zu%s | %s | %s | %s | %s | %s | %s | %s |\n", m->runs, extra, med, mn, mx, sd, ratio,
			  m->runs ? basis_name(m) : "-", g);
	}
	int any_warm = 0;
	for (size_t i = 0; i < r->nmodes; i++)
		any_warm |= r->modes[i].basis != RP_WARM && r->modes[i].warm_runs > 0;
	if (any_warm) {
		sb_printf(&b, "\nWarm runs (`cold=no`: the model was still in the page cache), left out of the figures above:\n\n");
		sb_printf(&b, "| mode | warm runs | median load_s | min | max |\n| --- | ---: | ---: | ---: | ---: |\n");
		for (size_t i = 0; i < r->nmodes; i++) {
			const struct rp_mode *m = &r->modes[i];
			if (m->basis == RP_WARM || !m->warm_runs)
				continue;
			char med[32], mn[32], mx[32];
			fmt_s(med, sizeof(med), m->warm.median);
			fmt_s(mn, sizeof(mn), m->warm.min);
			fmt_s(mx, sizeof(mx), m->warm.max);
			sb_printf(&b, "| ");
			md_mode(&b, m);
			sb_printf(&b, " | %zu | %s | %s | %s |\n", m->warm_runs, med, mn, mx);
		}
	}
	if (st) {
		sb_printf(&b, "\nStaged runs, copy + load (`total_s` is what a cold start with staging costs):\n\n");
		sb_printf(&b, "| mode | runs | median copy_s | median load_s | median total_s | min total | max total | stddev total | total vs nvme | total vs net |\n");
		sb_printf(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
		char v[8][32];
		fmt_s(v[0], 32, st->copy.median);
		fmt_s(v[1], 32, st->load.median);
		fmt_s(v[2], 32, st->total.median);
		fmt_s(v[3], 32, st->total.min);
		fmt_s(v[4], 32, st->total.max);
		fmt_s(v[5], 32, st->total.stddev);
		snprintf(v[6], 32, "%s", "-");
		snprintf(v[7], 32, "%s", "-");
		if (nv && nv->load.median > 0)
			snprintf(v[6], 32, "%.2fx", st->total.median / nv->load.median);
		if (net && net->load.median > 0)
			snprintf(v[7], 32, "%.2fx", st->total.median / net->load.median);
		sb_printf(&b, "| staged | %zu | %s | %s | %s | %s | %s | %s | %s | %s |\n", st->runs, v[0], v[1], v[2], v[3],
			  v[4], v[5], v[6], v[7]);
	}
	/* How each row with a copy was read: the two conventions of load_s. */
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
		sb_printf(&b, "\nHow the rows with a copy were read:\n\n");
		for (size_t k = 0; k < sizeof(reads) / sizeof(*reads); k++) {
			size_t n = count_read_as(r, reads[k].how);
			if (!n)
				continue;
			sb_printf(&b, "- run%s ", n == 1 ? "" : "s");
			md_run_list(&b, r, read_as_is, (int)reads[k].how);
			sb_printf(&b, ": %s.\n", reads[k].what);
		}
	}
	if (flagged) {
		sb_printf(&b, "\nRows flagged and left out (their column and notes disagree beyond rounding, so neither is taken):\n\n");
		for (size_t i = 0; i < r->nruns; i++) {
			const struct rp_run *u = &r->runs[i];
			if (u->read_as != RP_READ_FLAGGED)
				continue;
			sb_printf(&b, "- run %lld (", u->run_id);
			md_esc(&b, u->mode);
			sb_printf(&b, "): ");
			md_esc(&b, u->flag);
			sb_printf(&b, ".\n");
		}
	}
	int any_phase = 0;
	for (size_t i = 0; i < r->nmodes; i++)
		any_phase |= r->modes[i].has_phases;
	if (any_phase) {
		sb_printf(&b, "\n### Phases (medians, seconds, from the server's log)\n\n");
		sb_printf(&b, "| mode | copy | start-up before weights | weights | after weights (warm-up) | weights share |\n");
		sb_printf(&b, "| --- | ---: | ---: | ---: | ---: | ---: |\n");
		for (size_t i = 0; i < r->nmodes; i++) {
			const struct rp_mode *m = &r->modes[i];
			if (!m->has_phases)
				continue;
			char cp[32];
			fmt_s(cp, sizeof(cp), m->has_copy ? m->copy.median : -1);
			sb_printf(&b, "| ");
			md_mode(&b, m);
			sb_printf(&b, " | %s | %.3f | %.3f | %.3f | %.0f%% |\n", cp, m->ph_before, m->ph_weights,
				  m->ph_after, m->load.median > 0 ? 100.0 * m->ph_weights / m->load.median : 0.0);
		}
	}
	md_environment(&b, r);
	md_server(&b, r);
	sb_printf(&b, "\n## Runs\n\n| run_id | mode | load_s | GPU MiB | cold | status | timeline |\n| ---: | --- | ---: | ---: | --- | --- | --- |\n");
	for (size_t i = 0; i < r->nruns; i++) {
		const struct rp_run *u = &r->runs[i];
		char l[32], g[32];
		fmt_s(l, sizeof(l), u->read_as == RP_READ_FLAGGED ? -1 : u->load_s);
		if (u->gpu_mib >= 0)
			snprintf(g, sizeof(g), "%.0f", u->gpu_mib);
		else
			snprintf(g, sizeof(g), "-");
		sb_printf(&b, "| %lld | ", u->run_id);
		md_esc(&b, u->mode);
		sb_printf(&b, " | %s | %s | ", l, g);
		md_esc(&b, u->cold ? u->cold : "-");
		sb_printf(&b, " | ");
		md_esc(&b, u->status ? u->status : u->read_as == RP_READ_FLAGGED ? "flagged" : "ok");
		if (u->timeline) {
			sb_printf(&b, " | [svg](");
			md_url(&b, u->timeline);
			sb_printf(&b, ") |\n");
		} else {
			sb_printf(&b, " | - |\n");
		}
	}
	return b.s;
}

/* ---- SVG ---- */

static void svg_text(struct sbuf *b, double x, double y, const char *anchor, int size, const char *fill,
		     const char *s)
{
	sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" fill=\"%s\">", x, y, anchor,
		  size, fill);
	for (const char *p = s; *p; p++) {
		if (*p == '<')
			sb_printf(b, "&lt;");
		else if (*p == '>')
			sb_printf(b, "&gt;");
		else if (*p == '&')
			sb_printf(b, "&amp;");
		else
			sb_printf(b, "%c", *p);
	}
	sb_printf(b, "</text>\n");
}

/* A round axis maximum and tick step for values up to v. */
static void nice_axis(double v, double *max, double *step)
{
	if (!(v > 0))
		v = 1;
	double e = pow(10, floor(log10(v)));
	double f = v / e;
	double s = f <= 1.5 ? 0.25 : f <= 3 ? 0.5 : f <= 6 ? 1 : 2;
	*step = s * e;
	*max = ceil(v / *step - 1e-9) * *step;
}

static const char *seg_color[] = { "#8c6bb1", "#9ecae1", "#3182bd", "#fdae6b" };
static const char *seg_name[] = { "copy (staging)", "start-up before weights", "weights", "after weights / no phases" };

char *rp_svg(const struct rp_report *r)
{
	struct sbuf b = { 0 };
	size_t n = 0;
	double vmax = 0;
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs)
			continue;
		n++;
		double hi = m->has_copy ? m->total.max : m->load.max;
		if (hi > vmax)
			vmax = hi;
	}
	double axmax, step;
	nice_axis(vmax, &axmax, &step);
	const double W = 760, left = 120, right = 30, top = 56, row = 38, barh = 20;
	double H = top + row * (double)(n ? n : 1) + 70;
	double pw = W - left - right;
	sb_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
		  W, H, W, H);
	sb_printf(&b, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	char *title = xasprintf("Time-to-ready by storage mode: %s (median, whiskers min-max)", r->model);
	svg_text(&b, W / 2, 24, "middle", 15, "#222", title);
	free(title);
	/* grid and axis */
	for (double t = 0; t <= axmax + 1e-9; t += step) {
		double x = left + pw * t / axmax;
		sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, top - 8, x,
			  top + row * (double)n);
		char lab[32];
		snprintf(lab, sizeof(lab), step < 0.01 ? "%.3f" : step < 0.1 ? "%.2f" : step < 1 ? "%.1f" : "%.0f", t);
		svg_text(&b, x, top + row * (double)n + 16, "middle", 11, "#444", lab);
	}
	svg_text(&b, left + pw / 2, top + row * (double)n + 34, "middle", 12, "#222", "seconds from launch to ready");
	size_t k = 0;
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		if (!m->runs)
			continue;
		double y = top + row * (double)k + (row - barh) / 2;
		char *label = xasprintf("%s%s", m->name, m->basis == RP_COLD ? "" : m->basis == RP_UNVERIFIED ? " (unverified)" : " (warm)");
		svg_text(&b, left - 8, y + barh / 2 + 4, "end", 12, "#222", label);
		free(label);
		double seg[4] = { m->has_copy ? m->copy.median : 0, 0, 0, 0 };
		if (m->has_phases) {
			seg[1] = m->ph_before;
			seg[2] = m->ph_weights;
			seg[3] = m->ph_after;
			/* phases are medians of parts: scale them to the median load */
			double sum = seg[1] + seg[2] + seg[3];
			if (sum > 0)
				for (int s = 1; s < 4; s++)
					seg[s] *= m->load.median / sum;
		} else {
			seg[3] = m->load.median;
		}
		double x = left;
		for (int s = 0; s < 4; s++) {
			if (seg[s] <= 0)
				continue;
			double w = pw * seg[s] / axmax;
			sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"%s\"><title>%s: %.3f s</title></rect>\n",
				  x, y, w, barh, seg_color[s], seg_name[s], seg[s]);
			x += w;
		}
		const struct rp_stats *st = m->has_copy ? &m->total : &m->load;
		double x0 = left + pw * st->min / axmax, x1 = left + pw * st->max / axmax, ym = y + barh / 2;
		sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" stroke-width=\"1.2\"/>\n", x0, ym,
			  x1, ym);
		sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>\n", x0, ym - 5, x0, ym + 5);
		sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>\n", x1, ym - 5, x1, ym + 5);
		char lab[48];
		snprintf(lab, sizeof(lab), "%.3g s", st->median);
		svg_text(&b, (x > x1 ? x : x1) + 6, ym + 4, "start", 11, "#222", lab);
		k++;
	}
	/* legend */
	double lx = left, ly = H - 22;
	for (int s = 0; s < 4; s++) {
		sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", lx, ly - 10, seg_color[s]);
		svg_text(&b, lx + 16, ly, "start", 11, "#222", seg_name[s]);
		lx += 16 + 7.0 * (double)strlen(seg_name[s]) + 18;
	}
	sb_printf(&b, "</svg>\n");
	return b.s;
}

/* ---- JSON ---- */

static json_t *num(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *stats_json(const struct rp_stats *s)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o}", "n", (json_int_t)s->n, "median", num(s->median), "min",
			 num(s->min), "max", num(s->max), "stddev", num(s->n ? s->stddev : NAN));
}

json_t *rp_json(const struct rp_report *r)
{
	struct interp in;
	interpret(r, &in);
	json_t *modes = json_array();
	for (size_t i = 0; i < r->nmodes; i++) {
		const struct rp_mode *m = &r->modes[i];
		static const char *bases[] = { "cold", "unverified", "warm" };
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "mode", m->name, "basis",
				      bases[m->basis], "runs", (json_int_t)m->runs, "failed", (json_int_t)m->failed,
				      "flagged", (json_int_t)m->flagged, "cold_runs", (json_int_t)m->cold_runs,
				      "unverified_runs", (json_int_t)m->unverified_runs, "warm_runs",
				      (json_int_t)m->warm_runs, "load_s", stats_json(&m->load));
		if (m->warm.n && m->basis != RP_WARM)
			json_object_set_new(o, "warm_load_s", stats_json(&m->warm));
		if (m->has_copy) {
			json_object_set_new(o, "copy_s", stats_json(&m->copy));
			json_object_set_new(o, "total_s", stats_json(&m->total));
		}
		if (m->has_phases)
			json_object_set_new(o, "phases", json_pack("{s:f, s:f, s:f}", "before_weights_s", m->ph_before,
								   "weights_s", m->ph_weights, "after_weights_s",
								   m->ph_after));
		if (m->gpu_mib >= 0)
			json_object_set_new(o, "gpu_mem_used_mb", json_real(m->gpu_mib));
		json_array_append_new(modes, o);
	}
	json_t *j = json_pack("{s:s, s:s, s:o, s:{s:f, s:f, s:f}}", "csv", r->csv, "model", r->model, "modes", modes,
			      "thresholds", "dev_s", r->th.dev_s, "internal_s", r->th.internal_s, "user_s",
			      r->th.user_s);
	if (in.has_ratio) {
		json_object_set_new(j, "net_nvme_ratio", json_real(in.ratio));
		json_object_set_new(j, "net_nvme_diff_s", json_real(in.diff));
	}
	if (in.has_staged) {
		json_object_set_new(j, "staged_total_s", json_real(in.staged_total));
		json_object_set_new(j, "staged_minus_net_s", json_real(in.staged_vs_net));
	}
	if (in.has_breakeven)
		json_object_set_new(j, "breakeven_cold_starts", in.breakeven < 0 ? json_null() : json_integer(in.breakeven));
	if (in.has_runtime)
		json_object_set_new(j, "runtime_s", json_real(in.runtime_s));
	static const char *reads[] = { "plain", "load", "load-assumed", "total", "notes", "flagged" };
	json_t *runs = json_array();
	for (size_t i = 0; i < r->nruns; i++) {
		const struct rp_run *u = &r->runs[i];
		if (u->copy_s < 0 && u->read_as != RP_READ_FLAGGED)
			continue;
		json_t *o = json_pack("{s:I, s:s, s:s}", "run_id", (json_int_t)u->run_id, "mode", u->mode, "read_as",
				      reads[u->read_as]);
		if (u->flag)
			json_object_set_new(o, "flag", json_string(u->flag));
		json_array_append_new(runs, o);
	}
	json_object_set_new(j, "staged_rows", runs);
	return j;
}

/* ---- one run's timeline ---- */

static void polyline(struct sbuf *b, const double *x, const double *y, size_t n, const char *color)
{
	sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", color);
	for (size_t i = 0; i < n; i++)
		if (!isnan(y[i]))
			sb_printf(b, "%.1f,%.1f ", x[i], y[i]);
	sb_printf(b, "\"/>\n");
}

char *rp_timeline_svg(const char *title, const struct tl_sample *s, size_t n, const struct tl_marker *m,
		      size_t nm)
{
	struct sbuf b = { 0 };
	const double W = 760, H = 420, left = 70, right = 70, ph = 130;
	const double top1 = 50, top2 = top1 + ph + 60;
	double tmax = 0, rmax = 0, mmax = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].t > tmax)
			tmax = s[i].t;
		double mem = s[i].rss_bytes > s[i].gpu_bytes ? s[i].rss_bytes : s[i].gpu_bytes;
		if (s[i].cached_bytes > mem)
			mem = s[i].cached_bytes;
		if (mem > mmax)
			mmax = mem;
		if (i) {
			double dt = s[i].t - s[i - 1].t;
			double rate = dt > 0 ? (s[i].read_bytes - s[i - 1].read_bytes) / dt : 0;
			double crate = dt > 0 ? (s[i].cached_bytes - s[i - 1].cached_bytes) / dt : 0;
			if (rate > rmax)
				rmax = rate;
			if (crate > rmax)
				rmax = crate;
		}
	}
	for (size_t i = 0; i < nm; i++)
		if (m[i].t > tmax)
			tmax = m[i].t;
	double tax, tstep, rax, rstep, max_, mstep;
	nice_axis(tmax, &tax, &tstep);
	nice_axis(rmax / 1e6, &rax, &rstep);
	nice_axis(mmax / 1073741824.0, &max_, &mstep);
	double pw = W - left - right;
	sb_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		  W, H, W, H);
	svg_text(&b, W / 2, 22, "middle", 14, "#222", title);
	const double tops[2] = { top1, top2 };
	const char *ylab[2] = { "read rate (MB/s)", "memory (GiB)" };
	const double ymax[2] = { rax, max_ }, ystep[2] = { rstep, mstep };
	for (int p = 0; p < 2; p++) {
		double t0 = tops[p];
		sb_printf(&b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#999\"/>\n", left, t0,
			  pw, ph);
		for (double v = 0; v <= ymax[p] + 1e-9; v += ystep[p]) {
			double y = t0 + ph - ph * v / ymax[p];
			sb_printf(&b, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", left, y, left + pw, y);
			char lab[32];
			snprintf(lab, sizeof(lab), ystep[p] < 1 ? "%.2f" : "%.0f", v);
			svg_text(&b, left - 6, y + 4, "end", 10, "#444", lab);
		}
		svg_text(&b, left, t0 - 6, "start", 11, "#222", ylab[p]);
		for (double t = 0; t <= tax + 1e-9; t += tstep) {
			double x = left + pw * t / tax;
			char lab[32];
			snprintf(lab, sizeof(lab), tstep < 0.1 ? "%.2f" : tstep < 1 ? "%.1f" : "%.0f", t);
			svg_text(&b, x, t0 + ph + 14, "middle", 10, "#444", lab);
		}
		for (size_t i = 0; i < nm; i++) {
			if (m[i].t < 0)
				continue;
			double x = left + pw * m[i].t / tax;
			sb_printf(&b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#c00\" stroke-dasharray=\"4,3\"/>\n",
				  x, t0, x, t0 + ph);
			if (p == 0)
				svg_text(&b, x + 3, t0 + 12 + 12.0 * (double)(i % 3), "start", 10, "#c00", m[i].label);
		}
	}
	svg_text(&b, left + pw / 2, H - 8, "middle", 11, "#222", "seconds from launch");
	if (n > 1) {
		double *x = xcalloc(n, sizeof(double)), *y = xcalloc(n, sizeof(double));
		for (size_t i = 0; i < n; i++)
			x[i] = left + pw * s[i].t / tax;
		/* Two views of the same reads: block I/O charged to the server's
		 * processes (none for FUSE/NFS, whose reads happen elsewhere) and
		 * the model's bytes arriving in the page cache. */
		const char *rc[2] = { "#3182bd", "#756bb1" };
		const char *rn[2] = { "block reads of the server's processes", "model arriving in the page cache" };
		for (int k = 0; k < 2; k++) {
			int any = 0;
			y[0] = top1 + ph;
			for (size_t i = 1; i < n; i++) {
				double dt = s[i].t - s[i - 1].t;
				double d = k == 0 ? s[i].read_bytes - s[i - 1].read_bytes : s[i].cached_bytes - s[i - 1].cached_bytes;
				double rate = dt > 0 && d > 0 ? d / dt / 1e6 : 0;
				any |= rate > 0;
				y[i] = top1 + ph - ph * rate / rax;
			}
			if (!any)
				continue;
			polyline(&b, x, y, n, rc[k]);
			double lx = left + 170 + 250.0 * k;
			sb_printf(&b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"3\" fill=\"%s\"/>\n", lx, top1 - 11, rc[k]);
			svg_text(&b, lx + 16, top1 - 6, "start", 10, "#222", rn[k]);
		}
		const char *mc[3] = { "#31a354", "#e6550d", "#756bb1" };
		const char *mn[3] = { "resident memory (RSS)", "GPU memory", "model in page cache" };
		for (int k = 0; k < 3; k++) {
			int any = 0;
			for (size_t i = 0; i < n; i++) {
				double v = k == 0 ? s[i].rss_bytes : k == 1 ? s[i].gpu_bytes : s[i].cached_bytes;
				y[i] = v < 0 ? NAN : top2 + ph - ph * (v / 1073741824.0) / max_;
				any |= v > 0;
			}
			if (!any)
				continue;
			polyline(&b, x, y, n, mc[k]);
			double lx = left + 170 + 170.0 * k;
			sb_printf(&b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"3\" fill=\"%s\"/>\n", lx, top2 - 11, mc[k]);
			svg_text(&b, lx + 16, top2 - 6, "start", 10, "#222", mn[k]);
		}
		free(x);
		free(y);
	}
	sb_printf(&b, "</svg>\n");
	return b.s;
}
