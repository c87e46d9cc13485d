/* report: the CSV read into runs and per-mode statistics. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/csvlog.h"
#include "core/base/schema.h"
#include "core/base/strbuf.h"
#include "core/netsim/netsim.h"
#include "core/base/banned.h"

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

/* ---- numbers: finite decimals only (util.h's parse_finite) ---- */

static void unreadable(struct rp_run *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void unreadable(struct rp_run *u, const char *fmt, ...)
{
	if (u->unreadable)
		return; /* the first reason is the one shown */
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	u->unreadable = redact_urls(m);
	free(m);
}

/* Seconds, MiB and bytes alike: far above any real one, low enough that
 * sums and means of them stay finite. */
#define RP_NUM_MAX 1e15

/* A non-negative finite decimal, "12.3s" too in the notes; empty or
 * absent: -1. Anything else makes the row unreadable (and -1). */
static double num_of(struct rp_run *u, const char *what, const char *v, int unit_ok)
{
	if (!v || !*v)
		return -1;
	size_t n = strlen(v);
	char *t = xstrndup(v, unit_ok && n > 1 && v[n - 1] == 's' ? n - 1 : n);
	double d;
	int bad = parse_finite(t, &d);
	free(t);
	if (bad)
		unreadable(u, "%s '%s' is not a finite decimal number", what, v);
	else if (d < 0)
		unreadable(u, "%s '%s' is negative", what, v);
	else if (d > RP_NUM_MAX)
		unreadable(u, "%s '%s' is out of range (above %g)", what, v, RP_NUM_MAX);
	return bad || d < 0 || d > RP_NUM_MAX ? -1 : d;
}

static double note_num(struct rp_run *u, const char *notes, const char *key)
{
	char *v = notes_get_lenient(notes, key);
	char *what = xasprintf("the notes' %s", key);
	double d = num_of(u, what, v, 1);
	free(what);
	free(v);
	return d;
}

/* A whole number of the CSV's own columns: empty (allowed when may_empty)
 * -1; else one that fits a long long, or the row is unreadable. */
static long long whole_of(struct rp_run *u, const char *what, const char *v, int may_empty)
{
	uint64_t x;
	if (may_empty && !*v)
		return -1;
	if (parse_u64(v, &x) || x > (uint64_t)LLONG_MAX) {
		unreadable(u, "%s '%s' is not a whole number that fits 63 bits", what, v);
		return -1;
	}
	return (long long)x;
}

/* ---- loading ---- */

static int cmp_mode(const void *a, const void *b)
{
	const struct rp_mode *x = a, *y = b;
	int rx = storage_mode_rank(x->name), ry = storage_mode_rank(y->name);
	return rx != ry ? rx - ry : strcmp(x->name, y->name);
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
	char *cs = notes_get_lenient(notes, NOTE_COPY_S), *ls = notes_get_lenient(notes, NOTE_LOAD_S),
	     *ts = notes_get_lenient(notes, NOTE_TOTAL_S);
	double col = num_of(u, "load_s", col_s, 0), copy = num_of(u, "the notes' " NOTE_COPY_S, cs, 1),
	       nl = num_of(u, "the notes' " NOTE_LOAD_S, ls, 1), nt = num_of(u, "the notes' " NOTE_TOTAL_S, ts, 1);
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

/* The header, exactly (what differs shown byte by byte). */
static int check_header(const char *csv_path, const struct csv_table *t, struct cs_err *err)
{
	if (!t->nrows)
		return cs_fail(err, EINVAL, "'%s' is empty", csv_path);
	struct strbuf hdr = STRBUF_INIT;
	for (size_t c = 0; c < t->ncols[0]; c++)
		strbuf_addf(&hdr, "%s%s", c ? "," : "", t->cells[0][c]);
	char *h = strbuf_detach(&hdr);
	int rc = 0;
	if (strcmp(h, CSV_HEADER)) {
		char shown[400];
		csv_show(h, strlen(h), shown, sizeof(shown));
		rc = cs_fail(err, EINVAL, "'%s' does not start with the header %s (found: %s)", csv_path, CSV_HEADER, shown);
	}
	free(h);
	return rc;
}

/* Which model to report: the one asked for, else the last row's; every
 * record has the seed's 7 fields. */
static int pick_model(const char *csv_path, const struct csv_table *t, const char *model, struct rp_report *r,
		      struct cs_err *err)
{
	const char *want = model;
	for (size_t i = t->nrows; !want && i-- > 1;)
		if (t->ncols[i] == CSV_NCOLS && *t->cells[i][2])
			want = t->cells[i][2];
	char **seen = NULL;
	size_t nseen = 0, aseen = 0;
	int rc = 0;
	for (size_t i = 1; i < t->nrows && !rc; i++) {
		if (t->ncols[i] != CSV_NCOLS) {
			rc = cs_fail(err, EINVAL, "'%s': record %zu has %zu fields, not %d", csv_path, i + 1, t->ncols[i],
				     CSV_NCOLS);
			break;
		}
		int known = 0;
		for (size_t k = 0; k < nseen; k++)
			known |= !strcmp(seen[k], t->cells[i][2]);
		if (!known) {
			seen = xgrow(seen, &aseen, nseen + 1, sizeof(char *));
			seen[nseen++] = t->cells[i][2];
		}
	}
	r->nmodels = nseen;
	int known = 0;
	for (size_t k = 0; want && k < nseen; k++)
		known |= !strcmp(seen[k], want);
	if (!rc && !want) {
		rc = cs_fail(err, EINVAL, "'%s' has no rows", csv_path);
	} else if (!rc && !known) {
		/* A report about nothing would read as a report. */
		struct strbuf list = STRBUF_INIT;
		for (size_t k = 0; k < nseen; k++)
			strbuf_addf(&list, "%s'%s'", k ? ", " : "", seen[k]);
		rc = cs_fail(err, ENOENT, "'%s' has no rows of model '%s' (it has %s)", csv_path, want,
			     list.len ? list.buf : "none");
		strbuf_release(&list);
	}
	free(seen);
	if (!rc)
		r->model = xstrdup(want);
	return rc;
}

/* One row of the model: its mode (new modes in order of appearance), and
 * the run with what its notes say. A number that is not a finite decimal
 * (or an id that does not fit) makes the row unreadable: counted and
 * listed, in no statistic. */
static void read_row(char **c, size_t record, struct rp_report *r, size_t *amodes, size_t *aruns)
{
	size_t m;
	for (m = 0; m < r->nmodes && strcmp(r->modes[m].name, c[1]); m++)
		;
	if (m == r->nmodes) {
		r->modes = xgrow(r->modes, amodes, r->nmodes + 1, sizeof(*r->modes));
		memset(&r->modes[m], 0, sizeof(r->modes[m]));
		r->modes[m].name = xstrdup(c[1]);
		r->nmodes++;
	}
	const char *notes = c[6];
	if (!r->node)
		r->node = notes_get_lenient(notes, NOTE_NODE);
	char *server = notes_get_lenient(notes, NOTE_SERVER);
	int llama = server && (!strcmp(server, "llama.cpp") || !strcmp(server, "llama-server"));
	r->mmap_loader = (r->nruns == 0 || r->mmap_loader) && llama;
	free(server);
	r->runs = xgrow(r->runs, aruns, r->nruns + 1, sizeof(*r->runs));
	struct rp_run *run = &r->runs[r->nruns++];
	memset(run, 0, sizeof(*run));
	run->record = record;
	run->run_id = whole_of(run, "run_id", c[0], 0);
	long long mml = whole_of(run, "max_model_len", c[3], 1);
	run->mode = xstrdup(c[1]);
	run->gpu_mib = num_of(run, "gpu_mem_used_mb", c[5], 0);
	run->cold = notes_get_lenient(notes, NOTE_COLD);
	run->coldness = !run->cold || !strcmp(run->cold, "unverified") ? RP_UNVERIFIED
			: !strcmp(run->cold, "yes")			  ? RP_COLD
			: !strcmp(run->cold, "no")			  ? RP_WARM
									  : RP_UNVERIFIED;
	char *cm = notes_get_lenient(notes, NOTE_COLD_MODE);
	run->remote = cm && !strcmp(cm, NOTE_COLD_MODE_REMOTE);
	free(cm);
	run->timeline = notes_get_lenient(notes, NOTE_TIMELINE);
	run->caches = notes_get_lenient(notes, NOTE_CACHES);
	run->weights_s = note_num(run, notes, "weights_s");
	double mls = note_num(run, notes, "model_load_s");
	if (run->weights_s < 0)
		run->weights_s = mls;
	double dyn = note_num(run, notes, "dynamo_s");
	run->compile_s = note_num(run, notes, "compile_s");
	if (run->compile_s < 0)
		run->compile_s = dyn; /* vLLM's torch.compile total includes Dynamo's transform */
	run->graph_s = note_num(run, notes, "graph_s");
	run->cache_copy_s = note_num(run, notes, NOTE_CACHE_COPY_S);
	run->cache_bytes = note_num(run, notes, NOTE_CACHE_BYTES);
	run->cache_bytes_after = note_num(run, notes, NOTE_CACHE_BYTES_AFTER);
	run->prefetch_bytes = note_num(run, notes, NOTE_PREFETCH_BYTES);
	run->prefetch_s = note_num(run, notes, NOTE_PREFETCH_S);
	run->staged_bytes = note_num(run, notes, NOTE_STAGED_BYTES);
	double ls = note_num(run, notes, NOTE_T_LOAD_START), we = note_num(run, notes, NOTE_T_WEIGHTS_END);
	run->status = notes_get_lenient(notes, NOTE_STATUS);
	if (!run->status)
		read_times(c[4], notes, run);
	if (run->unreadable) {
		free(run->flag);
		run->flag = NULL;
		run->read_as = RP_READ_PLAIN;
		r->nunreadable++;
	}
	if (run->status || run->unreadable) {
		run->load_s = -1;
		return;
	}
	if (run->load_s < 0 || run->read_as == RP_READ_FLAGGED)
		return;
	if (r->max_model_len < 0 && mml >= 0)
		r->max_model_len = mml;
	run->has_phases = ls >= 0 && we >= ls && run->load_s >= we;
	if (run->has_phases) {
		run->ph_before = ls;
		run->ph_weights = we - ls;
		run->ph_after = run->load_s - we;
	}
}

/* ---- compile and kernel caches ---- */

static const char *caches_of(const struct rp_run *u)
{
	return u->caches ? u->caches : "-";
}

/* The per-mode figures stand on one cache state. */
static int in_basis(const struct rp_report *r, const struct rp_run *u)
{
	return !r->caches_basis || !strcmp(caches_of(u), r->caches_basis);
}

static int caches_rank(const char *c)
{
	static const char *const order[] = { "cold", "staged", "warm", "-" };
	for (int k = 0; k < 4; k++)
		if (!strcmp(c, order[k]))
			return k;
	return 4;
}

static void pick_caches_basis(struct rp_report *r)
{
	const char *best = NULL;
	for (size_t i = 0; i < r->nruns; i++)
		if (r->runs[i].caches && (!best || caches_rank(r->runs[i].caches) < caches_rank(best)))
			best = r->runs[i].caches;
	r->caches_basis = best ? xstrdup(best) : NULL;
	for (size_t i = 0; best && i < r->nruns; i++)
		r->caches_other += r->runs[i].load_s >= 0 && r->runs[i].read_as != RP_READ_FLAGGED &&
				   strcmp(caches_of(&r->runs[i]), best);
}

static int measured(const struct rp_run *u)
{
	return u->load_s >= 0 && u->read_as != RP_READ_FLAGGED;
}

/* One group's medians over its basis (as a mode's: never mixed). */
static void cache_group(const struct rp_report *r, struct rp_cachegrp *g)
{
	int has_cold = 0, has_unv = 0;
	for (size_t i = 0; i < r->nruns; i++) {
		const struct rp_run *u = &r->runs[i];
		if (!measured(u) || strcmp(u->mode, g->mode) || strcmp(caches_of(u), g->caches))
			continue;
		has_cold |= u->coldness == RP_COLD;
		has_unv |= u->coldness == RP_UNVERIFIED;
	}
	g->basis = has_cold ? RP_COLD : has_unv ? RP_UNVERIFIED : RP_WARM;
	enum { READY, STOR, COMP, GRAPH, REST, CCOPY, CMB, CAMB, NV };
	double *v[NV];
	size_t n[NV] = { 0 };
	for (int k = 0; k < NV; k++)
		v[k] = xcalloc(r->nruns ? r->nruns : 1, sizeof(double));
	g->ready_id = xcalloc(r->nruns ? r->nruns : 1, sizeof(long long));
	for (size_t i = 0; i < r->nruns; i++) {
		const struct rp_run *u = &r->runs[i];
		if (!measured(u) || strcmp(u->mode, g->mode) || strcmp(caches_of(u), g->caches) || u->coldness != g->basis)
			continue;
		g->ready_id[n[READY]] = u->run_id;
		double copy = u->copy_s >= 0 ? u->copy_s : 0, ccopy = u->cache_copy_s >= 0 ? u->cache_copy_s : 0;
		v[READY][n[READY]++] = copy + ccopy + u->load_s;
		double w = u->has_phases ? u->ph_weights : u->weights_s;
		double rest = u->load_s;
		if (w >= 0) {
			v[STOR][n[STOR]++] = copy + w;
			rest -= w;
		}
		if (u->compile_s >= 0) {
			v[COMP][n[COMP]++] = u->compile_s;
			rest -= u->compile_s;
		}
		if (u->graph_s >= 0) {
			v[GRAPH][n[GRAPH]++] = u->graph_s;
			rest -= u->graph_s;
		}
		v[REST][n[REST]++] = rest > 0 ? rest : 0;
		if (u->cache_copy_s >= 0)
			v[CCOPY][n[CCOPY]++] = u->cache_copy_s;
		if (u->cache_bytes >= 0)
			v[CMB][n[CMB]++] = u->cache_bytes / 1e6;
		if (u->cache_bytes_after >= 0)
			v[CAMB][n[CAMB]++] = u->cache_bytes_after / 1e6;
	}
	g->runs = n[READY];
	double *out[NV] = { &g->ready, &g->storage, &g->compile, &g->graph, &g->rest, &g->cache_copy, &g->cache_mb,
			    &g->cache_after_mb };
	for (int k = 0; k < NV; k++) {
		*out[k] = n[k] ? median_of(v[k], n[k]) : -1;
		if (k != READY)
			free(v[k]);
	}
	g->ready_v = v[READY]; /* kept: the intervals of report_noise.c */
}

static int cmp_cg(const void *a, const void *b)
{
	const struct rp_cachegrp *x = a, *y = b;
	int rx = storage_mode_rank(x->mode), ry = storage_mode_rank(y->mode);
	if (rx != ry)
		return rx - ry;
	int m = strcmp(x->mode, y->mode);
	return m ? m : caches_rank(x->caches) - caches_rank(y->caches);
}

static void cache_groups(struct rp_report *r)
{
	pick_caches_basis(r);
	if (!r->caches_basis)
		return;
	size_t cap = 0;
	for (size_t i = 0; i < r->nruns; i++) {
		const struct rp_run *u = &r->runs[i];
		if (!measured(u))
			continue;
		size_t k;
		for (k = 0; k < r->ncg && (strcmp(r->cgroups[k].mode, u->mode) || strcmp(r->cgroups[k].caches, caches_of(u)));
		     k++)
			;
		if (k == r->ncg) {
			r->cgroups = xgrow(r->cgroups, &cap, r->ncg + 1, sizeof(*r->cgroups));
			memset(&r->cgroups[k], 0, sizeof(r->cgroups[k]));
			r->cgroups[k].mode = xstrdup(u->mode);
			r->cgroups[k].caches = xstrdup(caches_of(u));
			r->ncg++;
		}
	}
	for (size_t k = 0; k < r->ncg; k++)
		cache_group(r, &r->cgroups[k]);
	qsort(r->cgroups, r->ncg, sizeof(*r->cgroups), cmp_cg);
}

/* Per mode, the statistics of its basis: one class of runs. */
static void mode_stats(struct rp_report *r)
{
	enum { V_LOAD, V_COPY, V_TOTAL, V_BEFORE, V_WEIGHTS, V_AFTER, V_GPU, V_WARM, NV };
	double *v[NV];
	for (int k = 0; k < NV; k++)
		v[k] = xcalloc(r->nruns ? r->nruns : 1, sizeof(double));
	for (size_t m = 0; m < r->nmodes; m++) {
		struct rp_mode *md = &r->modes[m];
		for (size_t i = 0; i < r->nruns; i++) {
			const struct rp_run *u = &r->runs[i];
			if (strcmp(u->mode, md->name) || !in_basis(r, u))
				continue;
			if (u->unreadable)
				md->unreadable++;
			else if (u->read_as == RP_READ_FLAGGED)
				md->flagged++;
			else if (u->load_s < 0)
				md->failed++;
			else if (u->coldness == RP_COLD)
				md->cold_runs++;
			else if (u->coldness == RP_WARM)
				md->warm_runs++;
			else {
				md->unverified_runs++;
				md->remote_runs += u->remote;
			}
		}
		md->basis = md->cold_runs ? RP_COLD : md->unverified_runs ? RP_UNVERIFIED : RP_WARM;
		md->basis_idx = xcalloc(r->nruns ? r->nruns : 1, sizeof(size_t));
		size_t n = 0, np = 0, ng = 0, nw = 0;
		for (size_t i = 0; i < r->nruns; i++) {
			const struct rp_run *u = &r->runs[i];
			if (u->load_s < 0 || u->read_as == RP_READ_FLAGGED || strcmp(u->mode, md->name) || !in_basis(r, u))
				continue;
			if (u->coldness == RP_WARM && md->basis != RP_WARM)
				v[V_WARM][nw++] = u->load_s;
			if (u->coldness != md->basis)
				continue;
			md->has_copy |= u->copy_s >= 0;
			md->basis_idx[n] = i;
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
	if (rc) {
		rp_release(r);
		return rc;
	}
	rc = check_header(csv_path, &t, err);
	if (!rc)
		rc = pick_model(csv_path, &t, model, r, err);
	size_t amodes = 0, aruns = 0;
	for (size_t i = 1; i < t.nrows && !rc; i++)
		if (!strcmp(t.cells[i][2], r->model))
			read_row(t.cells[i], i + 1, r, &amodes, &aruns);
	csv_table_release(&t);
	if (!rc) {
		cache_groups(r);
		mode_stats(r);
		qsort(r->modes, r->nmodes, sizeof(*r->modes), cmp_mode);
	}
	struct stat sb;
	if (!rc && meta_path && stat(meta_path, &sb) == 0) {
		json_error_t je;
		r->meta = json_load_file(meta_path, 0, &je);
		if (!r->meta)
			rc = cs_fail(err, EINVAL, "'%s': line %d: %s", meta_path, je.line, je.text);
	}
	if (rc)
		rp_release(r);
	return rc;
}

void rp_release(struct rp_report *r)
{
	for (size_t i = 0; i < r->nmodes; i++)
		free(r->modes[i].basis_idx);
	FREE_MEMBERS(r->modes, r->nmodes, name);
	for (size_t i = 0; i < r->nruns; i++) {
		free(r->runs[i].mode);
		free(r->runs[i].cold);
		free(r->runs[i].timeline);
		free(r->runs[i].status);
		free(r->runs[i].flag);
		free(r->runs[i].caches);
		free(r->runs[i].unreadable);
	}
	for (size_t k = 0; k < r->ncg; k++) {
		free(r->cgroups[k].mode);
		free(r->cgroups[k].caches);
		free(r->cgroups[k].ready_v);
		free(r->cgroups[k].ready_id);
	}
	free(r->cgroups);
	free(r->caches_basis);
	free(r->runs);
	free(r->model);
	free(r->csv);
	free(r->node);
	json_decref(r->meta);
	memset(r, 0, sizeof(*r));
}
