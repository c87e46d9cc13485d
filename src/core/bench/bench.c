/* bench: the experiment (see bench.h). */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/netsim/netsim.h"
#include "core/io/pagecache.h"
#include "core/model/model.h"
#include "core/stage/stagecache.h"
#include "core/base/strbuf.h"
#include "core/run/sysinfo.h"
#include "core/base/template.h"
#include "core/base/banned.h"

/* ---- the modes ---- */

const char *bench_arm_path(const struct bench *b, const struct bench_arm *a)
{
	return a->mode->flags & MODE_READS_NET ? b->net : b->nvme;
}

const char *bench_arm_shown(const struct bench *b, const struct bench_arm *a)
{
	return a->mode->flags & MODE_READS_NET && b->net_shown ? b->net_shown : bench_arm_path(b, a);
}

static int add_mode(struct bench *b, const char *name, struct cs_err *err)
{
	if (b->narms == BENCH_MAX_MODES)
		return cs_fail(err, EINVAL, "too many modes (at most %d)", BENCH_MAX_MODES);
	const struct storage_mode *m = storage_mode_find(name);
	if (!m)
		return cs_fail(err, EINVAL, "unknown mode '%s' (%s)", name, storage_mode_list());
	for (size_t k = 0; k < b->narms; k++)
		if (b->arms[k].mode == m)
			return cs_fail(err, EINVAL, "mode '%s' given twice", name);
	int on_net = !!(m->flags & MODE_READS_NET);
	if (!(on_net ? b->net : b->nvme))
		return cs_fail(err, EINVAL, "mode '%s' needs a path: --%s PATH or $MODEL_PATH_%s", name,
			       on_net ? "net" : "nvme", on_net ? "NET" : "NVME");
	size_t n = b->repeat ? b->repeat : 1;
	struct bench_arm *a = &b->arms[b->narms++];
	*a = (struct bench_arm){ .mode = m, .loads = xcalloc(n, sizeof(double)), .totals = xcalloc(n, sizeof(double)),
				 .cold = xcalloc(n, sizeof(int)) };
	snprintf(a->label, sizeof(a->label), "%s", m->name);
	return 0;
}

void bench_add_caches(struct bench *b, const enum cc_state *states, size_t n)
{
	if (!n)
		return;
	size_t nm = b->narms, reps = b->repeat ? b->repeat : 1;
	const struct storage_mode *modes[BENCH_MAX_MODES];
	for (size_t i = 0; i < nm; i++) {
		modes[i] = b->arms[i].mode;
		free(b->arms[i].loads);
		free(b->arms[i].totals);
		free(b->arms[i].cold);
	}
	b->narms = 0;
	for (size_t i = 0; i < nm; i++)
		for (size_t k = 0; k < n; k++) {
			struct bench_arm *a = &b->arms[b->narms++];
			*a = (struct bench_arm){ .mode = modes[i], .caches = states[k],
						 .loads = xcalloc(reps, sizeof(double)),
						 .totals = xcalloc(reps, sizeof(double)), .cold = xcalloc(reps, sizeof(int)) };
			snprintf(a->label, sizeof(a->label), "%s caches=%s", modes[i]->name, cc_state_name(states[k]));
		}
	b->total = b->narms * b->repeat;
}

int bench_add_modes(struct bench *b, const char *list, struct cs_err *err)
{
	const char *dflt = b->nvme && b->net ? MODE_NVME "," MODE_NET : b->nvme ? MODE_NVME : b->net ? MODE_NET
											       : MODE_NVME "," MODE_NET;
	char *copy = xstrdup(list ? list : dflt), *save = NULL;
	int rc = 0;
	for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save))
		rc = add_mode(b, t, err);
	free(copy);
	if (!rc && !b->narms)
		rc = cs_fail(err, EINVAL, "--modes '%s' names no mode (%s)", list ? list : "", storage_mode_list());
	b->total = b->narms * b->repeat;
	return rc;
}

/* A remote net: listed as stage would list it (its index, or one LIST). */
static int check_remote(const struct bench *b, struct cs_err *err)
{
	const struct sc_opts o = { .src = b->net, .bearer = b->stage_bearer, .insecure = b->stage_insecure,
				   .cacert = b->stage_cacert, .no_sign = b->stage_no_sign };
	uint64_t bytes;
	size_t files;
	struct cs_err e;
	if (sc_source_probe(&o, &bytes, &files, &e))
		return cs_fail(err, e.code, "net source refused: %s", e.msg);
	cs_say(b->cb.progress, b->cb.arg, "net: %s (%s): %zu files, %.2f GB", b->net_shown ? b->net_shown : b->net,
	       b->net_remote, files, (double)bytes / 1e9);
	return 0;
}

int bench_check_paths(const struct bench *b, struct cs_err *err)
{
	int remote_checked = 0;
	for (size_t i = 0; i < b->narms; i++) {
		const struct bench_arm *a = &b->arms[i];
		if (b->net_pending && a->mode->flags & MODE_READS_NET)
			continue;
		if (b->net_remote && a->mode->flags & MODE_READS_NET) {
			if (!remote_checked++ && check_remote(b, err))
				return -1;
			continue;
		}
		struct st_model m;
		struct cs_err e;
		int rc = st_model_open(bench_arm_path(b, a), &m, &e);
		st_model_release(&m);
		if (rc)
			return cs_fail(err, e.code, "%s path refused: %s", a->mode->name, e.msg);
	}
	return 0;
}

static int any_arm(const struct bench *b, unsigned flag)
{
	for (size_t i = 0; i < b->narms; i++)
		if (b->arms[i].mode->flags & flag)
			return 1;
	return 0;
}

/* ---- before the first run ---- */

/*
 * The staged copies' owner. A bench that stages holds ROOT/.bench/hold-TAG
 * (fs_temp_create: flock held until it ends, however it ends) and names
 * its copies NAME-bench-TAG-N. A copy is an earlier bench's leftover when
 * the lock of its hold is free (or the hold is gone): never judged by the
 * PID in the name, which means nothing across PID namespaces (containers
 * sharing the root), where a live bench may have any PID here and a dead
 * one a PID that is alive.
 */
#define BENCH_HOLDS ".bench"
#define BENCH_HOLD_PREFIX "hold-"

/* NAME-bench-PID-HEX8-N: the hold's path (ROOT/.bench/hold-PID-HEX8), else NULL. */
static char *copy_hold(const char *root, const char *name)
{
	const char *p = strstr(name, "-bench-");
	while (p && strstr(p + 1, "-bench-"))
		p = strstr(p + 1, "-bench-");
	if (!p)
		return NULL;
	const char *tag = p + 7, *q = tag;
	size_t d = strspn(q, "0123456789");
	if (!d || q[d] != '-')
		return NULL;
	q += d + 1;
	long k;
	if (strspn(q, "0123456789abcdef") != 8 || q[8] != '-' || parse_int_range(q + 9, 1, LONG_MAX, &k))
		return NULL;
	return xasprintf("%s/" BENCH_HOLDS "/" BENCH_HOLD_PREFIX "%.*s", root, (int)(q + 8 - tag), tag);
}

/* Copies (or partial copies) of earlier benches that were killed before
 * they could remove them, then their holds. */
static void remove_stale_copies(const struct bench *b)
{
	struct sc_entry *e;
	size_t n;
	struct cs_err err;
	if (sc_list(b->stage_root, &e, &n, &err))
		return;
	for (size_t i = 0; i < n; i++) {
		char *hold = copy_hold(b->stage_root, e[i].name);
		if (hold && fs_temp_abandoned(hold) == 1 && sc_remove(b->stage_root, e[i].name, &err) == 0)
			cs_say(b->cb.progress, b->cb.arg, "removed '%s', left by a bench that was killed", e[i].name);
		free(hold);
	}
	sc_entries_free(e, n);
	char *holds = path_join(b->stage_root, BENCH_HOLDS);
	fs_temp_sweep(holds, BENCH_HOLD_PREFIX);
	free(holds);
}

/* This bench's hold, and the tag of its copies' names. */
static int take_hold(struct bench *b, struct cs_err *err)
{
	char *holds = path_join(b->stage_root, BENCH_HOLDS);
	int rc = fs_mkdir_last(holds, 0755) < 0 && errno != EEXIST ? -1 : 0;
	if (!rc) {
		b->hold = xcalloc(1, sizeof(*b->hold));
		rc = fs_temp_create(holds, BENCH_HOLD_PREFIX, 0, b->hold);
		if (rc) {
			free(b->hold);
			b->hold = NULL;
		}
	}
	if (rc)
		cs_fail_errno(err, errno, "cannot create the bench's hold in '%s'", holds);
	else
		b->copy_tag = xstrdup(strrchr(b->hold->path, '/') + 1 + strlen(BENCH_HOLD_PREFIX));
	free(holds);
	return rc;
}

/* A root on the local side, outside both models. */
static int prepare_stage_root(struct bench *b, struct cs_err *err)
{
	if (!b->stage_root || !*b->stage_root) {
		if (!b->nvme)
			return cs_fail(err, EINVAL, "mode 'staged' needs --stage-root DIR (or $STAGING_ROOT)");
		char *parent = fs_parent_dir(b->nvme);
		b->stage_root = b->own_root = path_join(parent, "coldstart-staged");
		free(parent);
	}
	char *rroot = fs_canonical(b->stage_root);
	int rc = 0;
	for (int k = 0; k < 2 && rroot && !rc; k++) {
		const char *mp = k ? (b->net_pending ? NULL : b->net) : b->nvme;
		char *rm = mp ? realpath(mp, NULL) : NULL;
		size_t l = rm ? strlen(rm) : 0;
		if (rm && !strncmp(rroot, rm, l) && (rroot[l] == '/' || !rroot[l]))
			rc = cs_fail(err, EINVAL, "--stage-root '%s' is inside the model directory '%s': the staged copies would "
				     "become part of the model", b->stage_root, mp);
		free(rm);
	}
	free(rroot);
	if (rc)
		return rc;
	if (fs_mkdir_last(b->stage_root, 0755) < 0)
		return cs_fail_errno(err, errno, "cannot create staging root '%s'%s", b->stage_root,
				     errno == ENOENT ? " (its parent directory does not exist)" : "");
	remove_stale_copies(b);
	return take_hold(b, err);
}

/* The same server without weight I/O: --runtime-server, or the built-in
 * server's template with the arguments that turn its loading off, added
 * as its own arguments (never under --shell, where the line may go on
 * after them). */
static int runtime_template(struct bench *b, struct cs_err *err)
{
	static const char *const dummy[] = { "--dummy", NULL }, *const vocab[] = { "--vocab-only", NULL },
				 *const vdummy[] = { "--load-format", "dummy", NULL };
	const char *base = b->run.server;
	const char *const *args = NULL;
	if (b->runtime_server)
		b->own_rt_server = xstrdup(b->runtime_server);
	else if (strstr(base, " refserve "))
		args = dummy;
	else if (strstr(base, "llama_serve.mjs"))
		args = vocab;
	else if (!strncmp(base, "vllm serve ", 11))
		args = vdummy;
	else
		return cs_fail(err, EINVAL,
			       "mode 'runtime' needs --runtime-server TEMPLATE: how to start this server without loading weights");
	if (args && b->run.shell)
		return cs_fail(err, EINVAL, "mode 'runtime' under --shell: coldstart cannot add '%s' to the server's own "
			       "arguments in a shell line (it may go on after them, as '| tee LOG' does); give "
			       "--runtime-server TEMPLATE", args[0]);
	if (args) {
		b->own_rt_server = xstrdup(base);
		b->rt_args = args;
	}
	return 0;
}

/* A remote net read by the server itself: a server that can. */
static int net_template(struct bench *b, struct cs_err *err)
{
	for (size_t i = 0; i < b->narms; i++) {
		const struct storage_mode *m = b->arms[i].mode;
		if (!(m->flags & MODE_READS_NET) || m->flags & MODE_STAGES)
			continue;
		if (m->flags & MODE_PREFETCH)
			return cs_fail(err, EINVAL, "mode '%s' warms the files of a mounted path; '%s' is a URL (%s)", m->name,
				       b->net_shown, b->net_remote);
		const char *const *args;
		struct cs_err e;
		int rc = rr_remote_args(b->run.server, b->run.shell, b->net, &args, &e);
		if (rc)
			return cs_fail(err, e.code, "mode '%s': %s", m->name, e.msg);
	}
	return 0;
}

int bench_prepare(struct bench *b, struct cs_err *err)
{
	if (any_arm(b, MODE_STAGES) && prepare_stage_root(b, err))
		return -1;
	if (any_arm(b, MODE_NO_WEIGHTS) && runtime_template(b, err))
		return -1;
	if (b->net_remote && any_arm(b, MODE_READS_NET) && net_template(b, err))
		return -1;
	return 0;
}

/* ---- the sidecar ---- */

/* As typed, less any URL's credentials. */
static char *command_line(int argc, char *const *argv)
{
	struct strbuf cl = STRBUF_INIT;
	strbuf_adds(&cl, "coldstart");
	for (int i = 0; i < argc; i++) {
		char *q = shell_quote(argv[i]);
		strbuf_addf(&cl, " %s", q);
		free(q);
	}
	char *line = redact_urls(cl.buf);
	strbuf_release(&cl);
	return line;
}

/* The server command as it runs, {port} and the rest left as tokens. */
static char *server_command(const struct bench *b, const char *model_path)
{
	char mlbuf[32];
	snprintf(mlbuf, sizeof(mlbuf), "%ld", b->run.max_model_len);
	const struct tmpl_var vars[] = { { "model", model_path }, { "port", "{port}" }, { "max_model_len", mlbuf },
					 { "mode", "{mode}" }, { "run_id", "{run_id}" } };
	char **av = NULL;
	struct cs_err err;
	if (b->run.shell || tmpl_argv(b->run.server, vars, 5, &av, &err))
		return NULL;
	char *d = argv_display(av);
	tmpl_argv_free(av);
	char *r = redact_urls(d);
	free(d);
	return r;
}

/* The sidecar's entry for a remote net: the URL shown, what serves it. */
static json_t *remote_json(const struct bench *b)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "path", b->net_shown, "fstype", b->net_remote, "kind",
			      strcmp(b->net_remote, "s3") ? "HTTP server" : "object store");
	const char *ep = getenv("AWS_ENDPOINT_URL_S3");
	if (!ep || !*ep)
		ep = getenv("AWS_ENDPOINT_URL");
	char *shown = NULL;
	if (!strcmp(b->net_remote, "s3"))
		shown = xstrdup(ep && *ep ? ep : "AWS S3");
	else {
		/* scheme://host[:port] of the URL */
		const char *h = strstr(b->net_shown, "://");
		size_t n = h ? (size_t)(h + 3 - b->net_shown) + strcspn(h + 3, "/") : strlen(b->net_shown);
		shown = xstrndup(b->net_shown, n);
	}
	char *red = sc_source_shown(shown);
	json_object_set_new(o, "source", json_string(red));
	free(red);
	free(shown);
	return o;
}

int bench_write_meta(const struct bench *b, int argc, char *const *argv, struct cs_err *err)
{
	char *cl = command_line(argc, argv), *tmpl = redact_urls(b->run.server);
	time_t now = time(NULL);
	struct tm tm;
	char when[64];
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "coldstart_version", CS_VERSION, "started", when,
			      "command_line", cl, "server_template", tmpl, "max_model_len",
			      (json_int_t)b->run.max_model_len, "host", si_host_json());
	free(cl);
	free(tmpl);
	if (b->run.name) {
		char *name = redact_urls(b->run.name);
		json_object_set_new(j, "model", json_string(name));
		free(name);
	}
	char *node = si_node_name();
	json_object_set_new(j, "node", json_string(node));
	free(node);
	if (b->net_note)
		json_object_set_new(j, "net", json_string(b->net_note + (strncmp(b->net_note, "net=", 4) ? 0 : 4)));
	char *sc = server_command(b, b->nvme ? b->nvme : bench_arm_shown(b, &b->arms[0]));
	if (sc)
		json_object_set_new(j, "server_command", json_string(sc));
	free(sc);
	json_t *paths = json_array();
	for (size_t i = 0; i < b->narms; i++) {
		if (i && b->arms[i].mode == b->arms[i - 1].mode)
			continue; /* the same mode in another cache state */
		json_t *p = b->net_remote && b->arms[i].mode->flags & MODE_READS_NET ? remote_json(b)
										       : si_path_json(bench_arm_path(b, &b->arms[i]));
		json_object_set_new(p, "mode", json_string(b->arms[i].mode->name));
		json_array_append_new(paths, p);
		if (b->arms[i].mode->flags & MODE_STAGES && b->stage_root) {
			json_t *sp = si_path_json(b->stage_root);
			json_object_set_new(sp, "mode", json_string("staged (copy)"));
			json_array_append_new(paths, sp);
		}
	}
	json_object_set_new(j, "paths", paths);
	if (b->model_json)
		json_object_set(j, "model_identity", b->model_json);
	char *path = rp_sibling(b->run.csv, ".meta.json");
	char *text = json_dumps(j, JSON_INDENT(2));
	int rc = fs_write_file_sync(path, text, strlen(text), err);
	free(text);
	free(path);
	json_decref(j);
	return rc;
}

char *bench_record_netsim(const struct bench *b, const char *mountpoint, int *cpu_bound, struct cs_err *err)
{
	*cpu_bound = 0;
	char *text = netsim_stats(mountpoint, err);
	json_t *st = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	char *path = rp_sibling(b->run.csv, ".meta.json");
	json_t *meta = st ? json_load_file(path, 0, NULL) : NULL;
	char *note = NULL;
	if (meta) {
		note = netsim_limit_note(st, cpu_bound);
		json_object_set(meta, "netsim_stats", st);
		char *s = json_dumps(meta, JSON_INDENT(2));
		if (fs_write_file_sync(path, s, strlen(s), err))
			cs_say(b->cb.notice, b->cb.arg, "%s", err->msg);
		free(s);
	}
	json_decref(meta);
	json_decref(st);
	free(path);
	return note;
}

/* ---- the runs ---- */

/* Fisher-Yates over plan[0..n) with xorshift64 from *s (never 0). */
static void shuffle(size_t *plan, size_t n, uint64_t *s)
{
	for (size_t k = n; k > 1; k--) {
		*s ^= *s << 13;
		*s ^= *s >> 7;
		*s ^= *s << 17;
		size_t j = (size_t)(*s % k);
		size_t tmp = plan[k - 1];
		plan[k - 1] = plan[j];
		plan[j] = tmp;
	}
}

void bench_schedule(size_t narms, size_t repeat, enum bench_order order, uint64_t seed, size_t *plan)
{
	size_t total = narms * repeat;
	for (size_t k = 0; k < total; k++)
		plan[k] = order == BENCH_GROUPED ? k / repeat : k % narms;
	if (order != BENCH_RANDOM)
		return;
	uint64_t s = seed ? seed : 1;
	shuffle(plan, total, &s);
}

void bench_round_schedule(size_t narms, size_t round, enum bench_order order, uint64_t seed, size_t *plan)
{
	for (size_t k = 0; k < narms; k++)
		plan[k] = k;
	if (order != BENCH_RANDOM)
		return;
	/* A stream of its own per round, from the seed: the same seed gives
	 * the same rounds, whichever round the bench stops after. */
	uint64_t s = (seed ? seed : 1) ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(round + 1));
	if (!s)
		s = 1;
	shuffle(plan, narms, &s);
}

static void stage_notice(const char *msg, void *arg)
{
	const struct bench *b = arg;
	cs_say(b->cb.progress, b->cb.arg, "stage: %s", msg);
}

static int stage_copy(const struct bench *b, const struct sc_opts *o, struct sc_result *r, struct cs_err *err)
{
	struct cs_err e;
	if (sc_stage(o, r, &e)) {
		if (e.code == ECANCELED)
			return cs_fail(err, ECANCELED, "%s", e.msg);
		char *shown = sc_source_shown(o->src);
		cs_fail(err, e.code, "staging '%s' into '%s' failed: %s", shown, b->stage_root, e.msg);
		free(shown);
		return -1;
	}
	cs_say(b->cb.progress, b->cb.arg, "staged %.2f GB in %.3fs (%.2f GB/s)", (double)r->bytes / 1e9, r->seconds,
	    r->seconds > 0 ? (double)r->bytes / r->seconds / 1e9 : 0);
	return 0;
}

/* The copy half of a staged run: net -> ROOT/NAME, timed, from a cold
 * source (a URL: nothing of it on this node to evict). */
static int stage_for_run(const struct bench *b, const char *src, const char *name, struct sc_result *r,
			 struct cs_err *err)
{
	struct sc_opts o = {
		.root = b->stage_root, .src = src, .name = name, .jobs = b->stage_jobs, .direct = b->stage_direct,
		.cancel = b->run.cancel, .notice = stage_notice, .notice_arg = (void *)b,
	};
	struct cs_err e;
	if (b->net_remote) {
		o.bearer = b->stage_bearer;
		o.insecure = b->stage_insecure;
		o.cacert = b->stage_cacert;
		o.no_sign = b->stage_no_sign;
		return stage_copy(b, &o, r, err);
	}
	/* The copy starts cold too: nothing of the source in the page cache. */
	struct pc_set set;
	char *paths[1] = { (char *)src };
	if (pc_collect(paths, 1, &set, &e) || pc_evict(&set, &e) || pc_residency(&set, &e))
		return cs_fail(err, e.code, "cannot evict '%s' before staging: %s", src, e.msg);
	if (set.total && set.resident * 100 > set.total)
		cs_say(b->cb.notice, b->cb.arg, "%.1f%% of '%s' is still cached before staging: the copy is not cold",
		    100.0 * (double)set.resident / (double)set.total, src);
	pc_set_release(&set);
	return stage_copy(b, &o, r, err);
}

/* What every run of the arm adds to its notes. */
static char *arm_notes(const struct bench *b, const struct bench_arm *a)
{
	if (a->mode->flags & MODE_READS_NET && b->net_note)
		return xstrdup(b->net_note);
	if (a->mode->flags & MODE_NO_WEIGHTS)
		return xstrdup(NOTE_WEIGHTS "=dummy");
	return NULL;
}

/* One run of arm a: staged first if it stages, recorded, handed to run_done. */
static int run_one(struct bench *b, size_t k, struct bench_arm *a, struct cs_err *err)
{
	const char *path = bench_arm_path(b, a);
	struct rr_opts o = b->run;
	o.cache_state = a->caches;
	if (a->mode->flags & MODE_NO_WEIGHTS) {
		o.server = b->own_rt_server;
		o.server_args = b->rt_args;
	}
	if (a->mode->flags & MODE_PREFETCH && !o.prefetch)
		o.prefetch = RR_PREFETCH_JOBS;
	char *extra = arm_notes(b, a);
	struct sc_result sr = { 0 };
	char *sname = NULL;
	if (a->mode->flags & MODE_STAGES) {
		/* A fresh name each run: the copy is timed from scratch. */
		sname = xasprintf("%s-bench-%s-%zu", b->run.name ? b->run.name : "model", b->copy_tag, k + 1);
		if (stage_for_run(b, path, sname, &sr, err)) {
			free(sname);
			free(extra);
			sc_result_release(&sr);
			return -1;
		}
		path = sr.path;
		o.staged_copy_s = sr.seconds;
		if (b->staged_warm)
			o.cold = COLD_NONE;
		char *e = xasprintf("%s%s" NOTE_STAGED_BYTES "=%llu; " NOTE_STAGED_CACHE "=%s; " NOTE_STAGE_JOBS "=%d%s",
				    extra ? extra : "", extra ? "; " : "", (unsigned long long)sr.bytes,
				    b->staged_warm ? "warm" : "cold", b->stage_jobs,
				    b->stage_direct ? "; " NOTE_STAGE_DIRECT "=yes" : "");
		free(extra);
		extra = e;
	}
	struct rr_record rec;
	struct cs_err re;
	int rc = rr_run(&o, path, a->mode->name, extra, &rec, &re);
	if (sname) {
		struct cs_err se;
		if (sr.path && sc_remove(b->stage_root, sname, &se))
			cs_say(b->cb.notice, b->cb.arg, "cannot remove the staged copy: %s", se.msg);
		free(sname);
	}
	free(extra);
	int status = b->cb.run_done ? b->cb.run_done(b, k, a, path, &rec, rc, &re, b->cb.arg) : rc ? 1 : 0;
	if (!status) {
		a->totals[a->n] = o.staged_copy_s >= 0 ? o.staged_copy_s + rec.res.load_s : rec.res.load_s;
		a->cold[a->n] = rec.res.cold;
		a->loads[a->n++] = rec.res.load_s;
	}
	rr_record_release(&rec);
	sc_result_release(&sr);
	return status;
}

/* Room for one more run per arm. */
static void grow_arms(struct bench *b, size_t rounds)
{
	for (size_t i = 0; i < b->narms; i++) {
		struct bench_arm *a = &b->arms[i];
		a->loads = xrealloc(a->loads, rounds * sizeof(double));
		a->totals = xrealloc(a->totals, rounds * sizeof(double));
		a->cold = xrealloc(a->cold, rounds * sizeof(int));
	}
}

int bench_run(struct bench *b, struct cs_err *err)
{
	size_t *plan = xcalloc(b->total ? b->total : 1, sizeof(size_t));
	bench_schedule(b->narms, b->repeat, b->order, b->seed, plan);
	b->stop = BENCH_STOP_REPEAT;
	b->rounds = b->repeat;
	int rc = 0;
	for (size_t k = 0; k < b->total && !rc; k++) {
		struct bench_arm *a = &b->arms[plan[k]];
		if (b->cb.run_start)
			b->cb.run_start(b, k, a, bench_arm_path(b, a), b->cb.arg);
		rc = run_one(b, k, a, err);
	}
	free(plan);
	return rc;
}

int bench_run_round(struct bench *b, struct cs_err *err)
{
	grow_arms(b, ++b->rounds);
	size_t k0 = b->total;
	b->total += b->narms;
	size_t plan[BENCH_MAX_ARMS];
	bench_round_schedule(b->narms, b->rounds - 1, b->order, b->seed, plan);
	int rc = 0;
	for (size_t i = 0; i < b->narms && !rc; i++) {
		struct bench_arm *a = &b->arms[plan[i]];
		if (b->cb.run_start)
			b->cb.run_start(b, k0 + i, a, bench_arm_path(b, a), b->cb.arg);
		rc = run_one(b, k0 + i, a, err);
	}
	return rc;
}

size_t bench_max_repeat(const struct bench *b)
{
	size_t cap = b->max_repeat ? b->max_repeat : BENCH_MAX_REPEAT_DEFAULT;
	return b->repeat > cap ? b->repeat : cap;
}

const char *bench_stop_name(enum bench_stop stop)
{
	switch (stop) {
	case BENCH_STOP_WIDTH:
		return "width";
	case BENCH_STOP_CAP:
		return "cap";
	case BENCH_STOP_NONE:
		return "no comparison";
	case BENCH_STOP_FAILED:
		return "failed";
	default:
		return "repeat";
	}
}

int bench_record_rounds(const struct bench *b, struct cs_err *err)
{
	if (!b->until_confident)
		return 0;
	char *path = rp_sibling(b->run.csv, ".meta.json");
	json_t *meta = json_load_file(path, 0, NULL);
	int rc = 0;
	if (meta) {
		json_t *r = json_pack("{s:I, s:I, s:s, s:f, s:I}", "planned", (json_int_t)b->repeat, "run",
				      (json_int_t)b->rounds, "stopped", bench_stop_name(b->stop), "confidence_width_pct",
				      b->confidence_pct ? b->confidence_pct : BENCH_CONFIDENCE_PCT_DEFAULT, "max_repeat",
				      (json_int_t)bench_max_repeat(b));
		json_object_set_new(meta, "until_confident", r);
		char *s = json_dumps(meta, JSON_INDENT(2));
		rc = fs_write_file_sync(path, s, strlen(s), err);
		free(s);
		json_decref(meta);
	}
	free(path);
	return rc;
}

size_t bench_arm_values(const struct bench_arm *a, int totals, double *v, int *basis)
{
	int has_cold = 0, has_unverified = 0;
	for (size_t i = 0; i < a->n; i++) {
		has_cold |= a->cold[i] == 1;
		has_unverified |= a->cold[i] == -1;
	}
	*basis = has_cold ? 1 : has_unverified ? -1 : 0;
	size_t n = 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->cold[i] == *basis)
			v[n++] = totals ? a->totals[i] : a->loads[i];
	return n;
}

int bench_arm_stats(const struct bench_arm *a, int totals, struct rp_stats *st, size_t *left_out)
{
	int basis;
	double *v = xcalloc(a->n ? a->n : 1, sizeof(double));
	size_t n = bench_arm_values(a, totals, v, &basis);
	rp_stats_of(v, n, st);
	free(v);
	*left_out = a->n - n;
	return basis;
}

void bench_release(struct bench *b)
{
	for (size_t i = 0; i < b->narms; i++) {
		free(b->arms[i].loads);
		free(b->arms[i].totals);
		free(b->arms[i].cold);
	}
	b->narms = 0;
	free(b->own_root);
	free(b->own_rt_server);
	free(b->net_shown);
	if (b->hold) {
		unlink(b->hold->path);   /* its copies are removed: nothing left to own */
		fs_temp_done(b->hold);
		free(b->hold);
		b->hold = NULL;
	}
	free(b->copy_tag);
	b->copy_tag = NULL;
	json_decref(b->model_json);
	b->model_json = NULL;
	b->own_root = b->own_rt_server = b->net_shown = NULL;
	b->rt_args = NULL;
}
