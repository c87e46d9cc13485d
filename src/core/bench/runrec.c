/* runrec: one measured run and its record (see runrec.h). */
#define _GNU_SOURCE
#include "runrec.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/csvlog.h"
#include "core/base/fsutil.h"
#include "core/model/gguf.h"
#include "core/source/httpsrc.h"
#include "core/io/pagecache.h"
#include "core/run/proc.h"
#include "core/model/model.h"
#include "core/base/schema.h"
#include "core/stage/stagecache.h"
#include "core/base/strbuf.h"
#include "core/run/sysinfo.h"
#include "core/base/template.h"
#include "core/base/banned.h"

#define NVARS 6

static const char *cold_mode_name(enum cold_mode c)
{
	return c == COLD_FILES ? "files" : c == COLD_GLOBAL ? "global" : "none";
}

/* ---- checks before the first run ---- */

int rr_check_template(const char *tmpl, int shell, const char *what, struct cs_err *err)
{
	if (!tmpl)
		return 0;
	const struct tmpl_var vars[NVARS] = {
		{ "model", "m" }, { "port", "1" }, { "max_model_len", "1" }, { "mode", "m" }, { "run_id", "1" },
		{ "cache", "c" },
	};
	struct cs_err e;
	const char *t = tmpl;
	while (*t == ' ' || *t == '\t' || *t == '\n')
		t++;
	if (!*t)
		return cs_fail(err, EINVAL, "empty %s template", what);
	if (shell) {
		char *line = tmpl_shell(tmpl, vars, NVARS, &e);
		free(line);
		return line ? 0 : cs_fail(err, EINVAL, "invalid %s template '%s': %s", what, tmpl, e.msg);
	}
	char **argv;
	if (tmpl_argv(tmpl, vars, NVARS, &argv, &e))
		return cs_fail(err, EINVAL, "invalid %s template '%s': %s", what, tmpl, e.msg);
	tmpl_argv_free(argv);
	return 0;
}

int rr_check_csv(const struct rr_opts *o, struct cs_err *err)
{
	if (!o->csv)
		return 0;
	if (csv_check_header(o->csv, err))
		return -1;
	/* One missing directory level is created; a typo is not a tree. */
	char *dir = fs_parent_dir(o->csv);
	int rc = fs_mkdir_last(dir, 0755) ? cs_fail_errno(err, errno, "cannot create directory '%s' for '%s'%s", dir,
							   o->csv, errno == ENOENT ? " (its parent does not exist either)" : "")
					  : 0;
	/* The row must be appendable before a run is spent on it. */
	if (!rc && access(o->csv, F_OK) == 0) {
		int fd = open(o->csv, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0)
			rc = cs_fail_errno(err, errno, "cannot append to '%s'", o->csv);
		else
			close(fd);
	} else if (!rc && faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS) != 0) {
		rc = cs_fail_errno(err, errno, "cannot create '%s' in '%s'", o->csv, dir);
	}
	uint64_t room = 0;
	if (!rc && fs_free_bytes(dir, &room) == 0 && room < RR_CSV_MIN_ROOM) {
		char b[32];
		rc = cs_fail(err, ENOSPC, "no room to append to '%s': its file system has %s free", o->csv,
			     fmt_bytes(b, sizeof(b), room));
	}
	free(dir);
	return rc;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcmp(s + n - k, suffix);
}

/* dir's top level holds weights of a format coldstart reads (safetensors,
 * their index, GGUF). */
static int holds_known_weights(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 1;   /* st_model_open says why */
	int hit = 0;
	for (struct dirent *de; !hit && (de = readdir(d));)
		hit = ends_with(de->d_name, ".safetensors") || ends_with(de->d_name, ".safetensors.index.json") ||
		      gg_is_gguf_name(de->d_name);
	closedir(d);
	return hit;
}

int rr_check_model(const char *model, struct cs_err *err)
{
	struct stat st;
	if (sc_remote_kind(model) || stat(model, &st) < 0)
		return 0;   /* the server's to read; a missing path fails at launch, named */
	struct cs_err e;
	int rc = 0;
	if (S_ISREG(st.st_mode) && !gg_is_gguf_name(model) && gg_has_magic(model) != 1) {
		if (!ends_with(model, ".safetensors"))
			return 0;
		struct st_header h;
		uint64_t size;
		rc = st_file_read(model, &h, &size, &e);
		if (!rc)
			st_header_release(&h);
	} else if (S_ISREG(st.st_mode) || holds_known_weights(model)) {
		struct st_model m;
		rc = st_model_open(model, &m, &e);
		st_model_release(&m);
	}
	return rc ? cs_fail(err, e.code, "model refused: %s", e.msg) : 0;
}

/* Is path one of the model's files? */
static int is_model_file(const char *path, const char *model)
{
	struct pc_set set;
	char *paths[1] = { (char *)model };
	struct cs_err e;
	if (pc_collect(paths, 1, &set, &e))
		return 0;
	int hit = 0;
	for (size_t i = 0; i < set.n && !hit; i++)
		hit = fs_same_file(path, set.files[i].path);
	pc_set_release(&set);
	return hit;
}

/* LOG.timeline.EXT beside LOG (its .log replaced). */
static char *timeline_path(const char *log, const char *ext)
{
	size_t n = strlen(log);
	size_t base = n > 4 && !strcmp(log + n - 4, ".log") ? n - 4 : n;
	return xasprintf("%.*s.timeline.%s", (int)base, log, ext);
}

int rr_check_outputs(const struct rr_opts *o, const char *const *models, size_t nmodels, struct cs_err *err)
{
	const char *out[4] = { o->csv, o->log && !o->log_is_dir ? o->log : NULL, NULL, NULL };
	static const char *const what[4] = { "--csv", "--log", "--log's timeline", "--log's timeline" };
	char *tl_csv = out[1] ? timeline_path(out[1], "csv") : NULL, *tl_svg = out[1] ? timeline_path(out[1], "svg") : NULL;
	out[2] = tl_csv;
	out[3] = tl_svg;
	int rc = 0;
	for (int i = 0; i < 4 && !rc; i++) {
		if (!out[i])
			continue;
		for (int k = i + 1; k < 4 && !rc; k++)
			if (out[k] && fs_same_file(out[i], out[k]))
				rc = cs_fail(err, EINVAL, "%s '%s' and %s '%s' are the same file: one would overwrite the other",
					     what[i], out[i], what[k], out[k]);
		for (size_t m = 0; m < nmodels && !rc; m++)
			if (models[m] && is_model_file(out[i], models[m]))
				rc = cs_fail(err, EINVAL, "%s '%s' is one of the model's files ('%s'): it would be overwritten",
					     what[i], out[i], models[m]);
	}
	free(tl_csv);
	free(tl_svg);
	return rc;
}

/* ---- steps 1-3: the command, the log, the lock ---- */

static char **expand(const struct rr_opts *o, const char *model, const char *mode, int port, const char *cache,
		     struct cs_err *err)
{
	long long next_id = o->csv ? csv_peek_next_id(o->csv) : 1;
	char portbuf[16], mlbuf[32], idbuf[32];
	snprintf(portbuf, sizeof(portbuf), "%d", port);
	snprintf(mlbuf, sizeof(mlbuf), "%ld", o->max_model_len);
	snprintf(idbuf, sizeof(idbuf), "%lld", next_id);
	const struct tmpl_var vars[NVARS] = {
		{ "model", model }, { "port", portbuf }, { "max_model_len", mlbuf }, { "mode", mode }, { "run_id", idbuf },
		{ "cache", cache ? cache : "" },
	};
	char **argv = NULL;
	if (o->shell) {
		char *line = tmpl_shell(o->server, vars, NVARS, err);
		if (!line)
			return NULL;
		argv = xcalloc(4, sizeof(char *));
		argv[0] = xstrdup("/bin/sh");
		argv[1] = xstrdup("-c");
		argv[2] = line;
	} else if (tmpl_argv(o->server, vars, NVARS, &argv, err)) {
		return NULL;
	}
	/* coldstart's own additions: whole arguments after the template's. */
	size_t n = 0, k = 0;
	while (argv[n])
		n++;
	while (!o->shell && o->server_args && o->server_args[k])
		k++;
	if (k) {
		argv = xrealloc(argv, (n + k + 1) * sizeof(char *));
		for (size_t i = 0; i < k; i++)
			argv[n + i] = xstrdup(o->server_args[i]);
		argv[n + k] = NULL;
	}
	return argv;
}

static char *default_log_path(const struct rr_opts *o, const char *mode)
{
	char *dir;
	if (o->log && o->log_is_dir) {
		dir = xstrdup(o->log);
	} else if (o->csv) {
		char *parent = fs_parent_dir(o->csv);
		dir = path_join(parent, "coldstart-logs");
		free(parent);
	} else {
		dir = xstrdup("coldstart-logs");
	}
	if (fs_mkdir_last(dir, 0755)) {
		cs_say(o->notice, o->cb_arg, "cannot create the log directory '%s': %s; the server's output is not kept", dir,
		    strerror(errno));
		free(dir);
		return NULL;
	}
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	char ts[32];
	strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", &tm);
	static int seq;
	char *safe = xstrdup(mode);
	for (char *p = safe; *p; p++)
		if (*p == '/' || *p == ' ')
			*p = '_';
	char *p = xasprintf("%s/%s-%s-%d-%d.log", dir, safe, ts, (int)getpid(), ++seq);
	free(safe);
	free(dir);
	return p;
}

/* ---- step 5: the record ---- */

/* The server= note: refserve, llama.cpp (coldstart's llama_serve.mjs), or
 * the command's name. */
static const char *server_label(char *const *argv)
{
	if (argv[1] && !strcmp(argv[1], "refserve"))
		return "refserve";
	const char *a1 = argv[1] ? strrchr(argv[1], '/') : NULL;
	a1 = a1 ? a1 + 1 : argv[1];
	if (a1 && !strcmp(a1, "llama_serve.mjs"))
		return "llama.cpp";
	const char *a0 = strrchr(argv[0], '/');
	return a0 ? a0 + 1 : argv[0];
}

char *rr_notes(const struct rr_opts *o, const struct run_result *res, const char *server, const char *extra_notes,
	       const char *timeline)
{
	struct strbuf notes = STRBUF_INIT;
	notes_add(&notes, NOTE_COLD, "%s", res->cold > 0 ? "yes" : res->cold == 0 ? "no" : "unverified");
	if (res->resident_pct >= 0 && isfinite(res->resident_pct))
		notes_add(&notes, NOTE_RESIDENT_PCT, "%.1f", res->resident_pct);
	else
		notes_add(&notes, NOTE_RESIDENT_PCT, "unknown");
	int remote = res->cold_method && !strcmp(res->cold_method, RUN_COLD_REMOTE);
	notes_add(&notes, NOTE_COLD_MODE, "%s", remote ? RUN_COLD_REMOTE : cold_mode_name(o->cold));
	if (res->gpu_method)
		notes_add(&notes, NOTE_GPU_MEM_METHOD, "%s", res->gpu_method);
	notes_add(&notes, NOTE_STOP_S, "%.2f", res->stop.seconds);
	if (res->stop.killed)
		notes_add(&notes, NOTE_SIGKILLED, "%d", res->stop.killed);
	if (res->gpu_released == 0)
		notes_add(&notes, NOTE_GPU_RELEASED, "no");
	notes_add(&notes, NOTE_SERVER, "%s", server);
	if (res->outcome == RUN_READY && strncmp(o->ready, "log:", 4))
		notes_add(&notes, NOTE_READY_OWNER, "%s", o->any_owner ? "any" : "tree");
	if (res->launcher_exited)
		notes_add(&notes, NOTE_DETACHED, "yes");
	/* Phases seen in the server's log (offsets t_* from launch, durations *_s). */
	const struct phases *ph = &res->phases;
	const struct { const char *key; double v; } pk[] = {
		{ NOTE_T_LOAD_START, ph->t_load_start }, { NOTE_T_WEIGHTS_END, ph->t_weights_end },
		{ "weights_s", ph->weights_s }, { "model_load_s", ph->model_load_s },
		{ "dynamo_s", ph->dynamo_s }, { "compile_s", ph->compile_s }, { "graph_s", ph->graph_s },
		{ "engine_init_s", ph->engine_init_s }, { "kv_cache_gib", ph->kv_cache_gib },
		{ "t_startup", ph->t_startup }, { "context_s", ph->context_s }, { "first_eval_s", ph->first_eval_s },
	};
	for (size_t i = 0; i < sizeof(pk) / sizeof(pk[0]); i++)
		if (pk[i].v >= 0 && isfinite(pk[i].v)) /* a row never holds nan or inf */
			notes_add(&notes, pk[i].key, "%.3f", pk[i].v);
	if (ph->ctx_len >= 0) {
		notes_add(&notes, NOTE_SERVER_MAX_MODEL_LEN, "%.0f", ph->ctx_len);
		if (ph->ctx_len != (double)o->max_model_len)
			notes_add(&notes, NOTE_MAX_MODEL_LEN_MISMATCH, "yes");
	}
	if (res->outcome != RUN_READY)
		notes_add(&notes, NOTE_STATUS, "failed:%s", run_outcome_name(res->outcome));
	if (extra_notes && *extra_notes)
		strbuf_addf(&notes, "; %s", extra_notes);
	if (o->staged_copy_s >= 0 && res->outcome == RUN_READY) {
		notes_add(&notes, NOTE_COPY_S, "%.3f", o->staged_copy_s);
		notes_add(&notes, NOTE_LOAD_S, "%.3f", res->load_s);
		notes_add(&notes, NOTE_TOTAL_S, "%.3f", o->staged_copy_s + res->load_s);
	}
	if (o->prefetch) {
		notes_add(&notes, NOTE_PREFETCH, "%d", o->prefetch);
		notes_add(&notes, NOTE_PREFETCH_BYTES, "%llu", (unsigned long long)res->prefetch_bytes);
		if (res->prefetch_s >= 0 && isfinite(res->prefetch_s))
			notes_add(&notes, NOTE_PREFETCH_S, "%.3f", res->prefetch_s);
	}
	if (timeline)
		notes_add(&notes, NOTE_TIMELINE, "%s", timeline);
	char *node = si_node_name();
	notes_add(&notes, NOTE_NODE, "%s", node);
	free(node);
	if (o->notes)
		notes_add(&notes, NOTE_NOTE, "%s", o->notes);
	return strbuf_detach(&notes);
}

/* The samples as CSV text. */
static char *timeline_csv(const struct run_result *res, size_t *len)
{
	/* One pass into a growing buffer: a 10-minute start has 6,000 samples. */
	char *text = NULL;
	FILE *mf = open_memstream(&text, len);
	if (!mf)
		cs_oom("the timeline");
	fputs("t_s,read_bytes,rss_bytes,gpu_bytes,model_cached_bytes,prefetch_bytes\n", mf);
	for (size_t i = 0; i < res->ntl; i++) {
		const struct tl_sample *s = &res->tl[i];
		fprintf(mf, "%.3f,%.0f,%.0f,%.0f,%.0f,%.0f\n", s->t, s->read_bytes, s->rss_bytes, s->gpu_bytes,
			s->cached_bytes, s->prefetch_bytes);
	}
	if (fclose(mf))
		cs_oom("the timeline");
	return text;
}

/*
 * The run's timeline next to its log: NAME.timeline.csv (samples) and
 * NAME.timeline.svg (chart with phase markers). Returns the SVG's path as
 * the notes should name it (relative to the CSV's directory when inside it).
 */
static char *write_timeline(const struct rr_opts *o, const struct run_result *res, const char *log, const char *mode)
{
	char *csvp = timeline_path(log, "csv");
	char *svgp = timeline_path(log, "svg");
	size_t tlen = 0;
	char *text = timeline_csv(res, &tlen);
	struct cs_err err;
	int ok = fs_write_file_sync(csvp, text, tlen, &err) == 0;
	free(text);
	struct tl_marker mk[3] = { { "weights start", res->phases.t_load_start },
				   { "weights loaded", res->phases.t_weights_end },
				   { "ready", res->load_s } };
	char *title = xasprintf("%s run: ready in %.3f s", mode, res->load_s);
	char *svg = rp_timeline_svg(title, res->tl, res->ntl, mk, 3);
	ok = ok && fs_write_file_sync(svgp, svg, strlen(svg), &err) == 0;
	free(title);
	free(svg);
	free(csvp);
	if (!ok) {
		cs_say(o->notice, o->cb_arg, "%s", err.msg);
		free(svgp);
		return NULL;
	}
	if (o->csv) {
		char *dir = fs_parent_dir(o->csv);
		size_t dl = strlen(dir);
		if (!strcmp(dir, ".") && strncmp(svgp, "/", 1)) {
			free(dir);
			return svgp;
		}
		if (!strncmp(svgp, dir, dl) && svgp[dl] == '/') {
			char *rel = xstrdup(svgp + dl + 1);
			free(svgp);
			svgp = rel;
		}
		free(dir);
	}
	return svgp;
}

static char *model_column(const struct rr_opts *o, const char *model)
{
	const char *env = getenv("MODEL_NAME");
	return o->name ? xstrdup(o->name) : env && *env ? xstrdup(env) : sc_default_name(model);
}

/* The row appended, or kept as text when it cannot be: the run is
 * measured, it is never lost with the file. */
static int append_row(const struct rr_opts *o, const char *mode, struct rr_record *rec)
{
	const struct run_result *res = &rec->res;
	struct csv_row row = { 0, mode, rec->name, o->max_model_len, res->outcome == RUN_READY ? res->load_s : -1,
			       res->gpu_mem_bytes >= 0 ? res->gpu_mem_bytes >> 20 : -1, rec->notes };
	if (csv_append(o->csv, &row, &rec->record_err) == 0) {
		rec->run_id = row.run_id;
		return 0;
	}
	row.run_id = 0;
	char *text = csv_row_text(&row, "\n");
	rec->unrecorded = xstrdup(text + 2);
	free(text);
	rec->res.record_failed = 1;
	return -1;
}

static int rr_run_(const struct rr_opts *o, const char *model, const char *remote, const char *mode,
		   const char *extra_notes, const struct cc_set *cs, struct rr_record *rec, struct cs_err *err);
static int run_with_caches(const struct rr_opts *o, const char *model, const char *remote, const char *mode,
			   const char *extra_notes, struct rr_record *rec, struct cs_err *err);

int rr_remote_args(const char *tmpl, int shell, const char *model, const char *const **args, struct cs_err *err)
{
	static const char *const streamer[] = { "--load-format", "runai_streamer", NULL };
	*args = NULL;
	const char *kind = sc_remote_kind(model);
	if (!kind)
		return 0;
	const char *local = strstr(tmpl, " refserve ") || !strncmp(tmpl, "refserve ", 9) ? "refserve"
			    : strstr(tmpl, "llama_serve.mjs")			     ? "llama.cpp (node-llama-cpp)"
										     : NULL;
	if (local) {
		char *shown = sc_source_shown(model);
		cs_fail(err, EINVAL, "the model '%s' is a URL (%s), and %s reads local files only: stage it first "
			"(coldstart stage, or bench --modes staged), or give a --server that reads %s URLs itself",
			shown, kind, local, kind);
		free(shown);
		return -1;
	}
	/* vLLM reads s3:// through the Run:ai streamer, not its default loader. */
	if (strncmp(tmpl, "vllm serve ", 11) || strcmp(kind, "s3") || strstr(tmpl, "--load-format"))
		return 0;
	if (shell)
		return cs_fail(err, EINVAL, "vllm serve reads s3:// through --load-format runai_streamer, and under --shell "
			       "coldstart cannot add it to vllm's own arguments (the line may go on after them, as "
			       "'| tee LOG' does): write --load-format runai_streamer into the template");
	*args = streamer;
	return 0;
}

const char **rr_args_join(const char *const *a, const char *const *b)
{
	size_t na = 0, nb = 0;
	while (a && a[na])
		na++;
	while (b && b[nb])
		nb++;
	if (!na && !nb)
		return NULL;
	const char **out = xcalloc(na + nb + 1, sizeof(*out));
	for (size_t i = 0; i < na; i++)
		out[i] = a[i];
	for (size_t i = 0; i < nb; i++)
		out[na + i] = b[i];
	return out;
}

int rr_run(const struct rr_opts *o_in, const char *model, const char *mode, const char *extra_notes,
	   struct rr_record *rec, struct cs_err *err)
{
	memset(rec, 0, sizeof(*rec));
	/* A URL is the server's to read: nothing of it on this node to evict
	 * or to measure (cold_mode=remote), no files to warm, no use lock. */
	const char *remote = sc_remote_kind(model);
	if (remote && o_in->prefetch > 0)
		return cs_fail(err, EINVAL, "--prefetch warms a model's files, and the model is a URL (%s): the server "
			       "reads it itself", remote);
	struct rr_opts ro_ = *o_in;
	const struct rr_opts *o = &ro_;
	const char *const *url_args;
	if (rr_remote_args(o_in->server, o_in->shell, model, &url_args, err))
		return -1;
	const char **args = rr_args_join(o_in->server_args, url_args);
	ro_.server_args = args;
	if (o->shell && args) {
		free(args);
		return cs_fail(err, EINVAL, "under --shell coldstart cannot add '%s' to the server's own arguments: "
			       "write it into the template", o_in->server_args[0]);
	}
	int rc;
	if (o->cache_state != CC_NONE && o->caches)
		rc = run_with_caches(o, model, remote, mode, extra_notes, rec, err);
	else if (strstr(o->server, "{cache}"))
		rc = cs_fail(err, EINVAL, "the server template uses {cache}: give --caches cold|warm|staged");
	else
		rc = rr_run_(o, model, remote, mode, extra_notes, NULL, rec, err);
	free(args);
	return rc;
}

/* The unmeasured start that fills a warm set: no row, no eviction, its
 * own log. */
static int prime(const struct rr_opts *o, const char *model, const char *remote, const char *mode,
		 const struct cc_set *cs, const char *key, struct cs_err *err)
{
	struct rr_opts p = *o;
	char *pmode = xasprintf("prime-%s", mode);
	char *log = o->log && !o->log_is_dir ? xasprintf("%s.priming.log", o->log) : default_log_path(o, pmode);
	p.csv = NULL;
	p.log = log;
	p.log_is_dir = 0;
	p.staged_copy_s = -1;
	p.record_failures = 0;
	p.cold = COLD_NONE;
	p.prefetch = 0;
	cs_say(o->status, o->cb_arg, "[%s] priming the warm caches '%s': one start, not measured", mode, cs->root);
	struct rr_record pr;
	memset(&pr, 0, sizeof(pr));
	struct cs_err e;
	int rc = rr_run_(&p, model, remote, mode, NULL, cs, &pr, &e);
	if (rc)
		cs_fail(err, e.code, "priming the warm caches '%s' failed: %s%s%s%s", cs->root, e.msg,
			log ? " (its log: " : "", log ? log : "", log ? ")" : "");
	else if (cc_mark_primed(cs, key, &e))
		rc = cs_fail(err, e.code, "%s", e.msg);
	else
		cs_say(o->status, o->cb_arg, "[%s] primed in %.3f s", mode, pr.res.load_s);
	rr_record_release(&pr);
	free(log);
	free(pmode);
	return rc;
}

static int run_with_caches(const struct rr_opts *o, const char *model, const char *remote, const char *mode,
			   const char *extra_notes, struct rr_record *rec, struct cs_err *err)
{
	char *col = model_column(o, model);
	char *name = xasprintf("%s-%s", col, mode);
	free(col);
	struct cc_set cs;
	int rc = cc_set_open(o->caches, o->cache_state, name, &cs, err);
	if (rc) {
		free(name);
		return -1;
	}
	if (cs.state == CC_STAGED)
		cs_say(o->status, o->cb_arg, "[%s] staged the caches in %.3f s: %zu files, %.1f MB", mode, cs.copy_s,
		       cs.files, (double)cs.bytes / 1e6);
	if (cs.state == CC_WARM) {
		/* The set is primed for this server template and this model (by
		 * name: a staged copy's path changes from run to run). */
		struct strbuf kb = STRBUF_INIT;
		strbuf_addf(&kb, "server=%s", o->server);
		for (size_t i = 0; o->server_args && o->server_args[i]; i++)
			strbuf_addf(&kb, " %s", o->server_args[i]);
		strbuf_addf(&kb, "\nmodel=%s\n", name);
		char *key = strbuf_detach(&kb);
		if (!cc_primed(&cs, key)) {
			rc = prime(o, model, remote, mode, &cs, key, err);
			/* Measured: the set as priming left it. */
			cc_set_measure(&cs);
		}
		free(key);
	}
	free(name);
	if (rc) {
		cc_set_close(&cs, o->caches);
		return -1;
	}
	rc = rr_run_(o, model, remote, mode, extra_notes, &cs, rec, err);
	cc_set_close(&cs, o->caches);
	return rc;
}

/* The server's environment with NAME=VALUE set (base NULL: ours). */
static char **env_with(char *const *base, const char *name, const char *value)
{
	char *const *e = base ? base : environ;
	size_t n = 0, nl = strlen(name), k = 0;
	while (e[n])
		n++;
	char **out = xcalloc(n + 2, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		if (strncmp(e[i], name, nl) || e[i][nl] != '=')
			out[k++] = xstrdup(e[i]);
	out[k] = xasprintf("%s=%s", name, value);
	return out;
}

/* Said once per process: the template itself puts credentials on the
 * server's command line (the user's to change, not coldstart's). */
static void warn_template_secret(const struct rr_opts *o)
{
	static int said;
	if (said || !url_has_secret(o->server))
		return;
	said = 1;
	char *t = redact_urls(o->server);
	cs_say(o->notice, o->cb_arg, "the server template holds a URL with credentials (user info or a query: '%s'): "
	       "they are on the server's command line, which every user of this node can read (ps, /proc/PID/cmdline); "
	       "coldstart runs the template as given", t);
	free(t);
}

static int rr_run_(const struct rr_opts *o, const char *model, const char *remote, const char *mode,
		   const char *extra_notes, const struct cc_set *cs, struct rr_record *rec, struct cs_err *err)
{
	rec->port = o->port > 0 ? (int)o->port : proc_free_port();
	if (rec->port <= 0)
		return cs_fail(err, EADDRNOTAVAIL, "cannot find a free port on 127.0.0.1");
	const char *croot = cs ? cs->root : NULL;
	/* A model URL's credentials never go on a command line, where every
	 * user reads them: {model} is the URL without them, the whole URL is
	 * in the server's environment ($COLDSTART_MODEL_URL). */
	int secret = remote && url_has_secret(model);
	char *model_arg = secret ? hs_redact(model) : xstrdup(model);
	char **argv = expand(o, model_arg, mode, rec->port, croot, err);
	char **envp = secret ? env_with(cs ? cs->envp : NULL, RR_MODEL_URL_ENV, model) : NULL;
	static int said;
	if (secret && !said++)
		cs_say(o->notice, o->cb_arg, "the model URL holds credentials (user info or a query): {model} is '%s' without "
		       "them, and the whole URL is in the server's environment as $" RR_MODEL_URL_ENV, model_arg);
	free(model_arg);
	warn_template_secret(o);
	if (!argv) {
		cc_envp_free(envp);
		return -1;
	}
	char *disp = o->shell ? xstrdup(argv[2]) : argv_display(argv);
	rec->command = redact_urls(disp);
	free(disp);
	rec->log = o->log && !o->log_is_dir ? xstrdup(o->log) : default_log_path(o, mode);
	cs_say(o->status, o->cb_arg, "[%s] %s", mode, rec->command);
	/* A staged model stays put (not evicted, not replaced) while it serves:
	 * the guard keeps the lock until the server's last process is gone. */
	int use_fd = remote ? -1 : sc_use(model, err);
	if (use_fd == -2 && err->code == EBADMSG) {
		/* Never the wrong weights: a copy that failed verification. */
		tmpl_argv_free(argv);
		cc_envp_free(envp);
		return -1;
	}
	if (use_fd == -2)
		cs_say(o->notice, o->cb_arg, "%s", err->msg);

	const struct run_opts ro = {
		.argv = argv, .model = remote ? NULL : model, .ready_spec = o->ready, .port = rec->port,
		.timeout_ns = o->timeout_ns, .stop_timeout_ns = o->stop_timeout_ns, .cold = o->cold,
		.log_path = rec->log, .gpu_release_timeout_ns = o->gpu_release_ns, .cancel = o->cancel,
		.status = o->status, .status_arg = o->cb_arg, .prefetch_jobs = o->prefetch, .timeline = rec->log != NULL,
		.detached = o->detached, .any_owner = o->any_owner, .hold_fd = use_fd,
		.envp = envp ? envp : cs ? cs->envp : NULL, .also_evict = cs && cs->state != CC_COLD ? cs->root : NULL,
	};
	rec->ran = 1;
	int rc = runner_run(&ro, &rec->res, err);
	sc_release(use_fd);
	cc_envp_free(envp);
	if (remote) {
		rec->res.cold = -1;
		rec->res.resident_pct = -1;
		rec->res.cold_method = RUN_COLD_REMOTE;
	}
	if (rc && rec->res.reason[0])
		cs_fail(err, err->code, "%s", rec->res.reason);

	const struct run_result *res = &rec->res;
	char *tl = res->ntl && rec->log ? write_timeline(o, res, rec->log, mode) : NULL;
	struct strbuf xn = STRBUF_INIT;
	if (extra_notes && *extra_notes)
		strbuf_adds(&xn, extra_notes);
	if (cs)
		cc_set_notes(cs, &xn);
	rec->notes = rr_notes(o, res, server_label(argv), xn.buf, tl);
	strbuf_release(&xn);
	free(tl);
	tmpl_argv_free(argv);
	rec->name = model_column(o, model);
	int record = res->outcome != RUN_CANCELLED && (res->outcome == RUN_READY || o->record_failures) &&
		     res->outcome != RUN_COLD_FAILED;
	if (o->csv && record && append_row(o, mode, rec)) {
		if (!rc)
			cs_fail(err, rec->record_err.code, "%s", rec->record_err.msg);
		rc = -1;
	}
	return rc;
}

void rr_record_release(struct rr_record *rec)
{
	run_result_release(&rec->res);
	char *owned[] = { rec->command, rec->log, rec->name, rec->notes, rec->unrecorded };
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		free(owned[i]);
	memset(rec, 0, sizeof(*rec));
}

/* JSON has no NaN or infinity: such a value is null, never a missing key. */
static json_t *jreal(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* A string with any URL's credentials hidden. */
static json_t *jtext(const char *s)
{
	char *r = redact_urls(s ? s : "");
	json_t *j = json_string(r);
	free(r);
	return j;
}

json_t *rr_json(const struct rr_opts *o, const struct rr_record *rec, const char *model, const char *mode)
{
	const struct run_result *r = &rec->res;
	json_t *j = json_object();
	json_object_set_new(j, "run_id", rec->run_id > 0 ? json_integer(rec->run_id) : json_null());
	json_object_set_new(j, "storage_mode", json_string(mode));
	json_object_set_new(j, "model", jtext(rec->name));
	char *shown = sc_source_shown(model);
	json_object_set_new(j, "model_path", jtext(shown));
	free(shown);
	json_object_set_new(j, "max_model_len", json_integer(o->max_model_len));
	json_object_set_new(j, "server_max_model_len",
			    r->phases.ctx_len >= 0 ? json_integer((json_int_t)r->phases.ctx_len) : json_null());
	json_object_set_new(j, "load_s", r->outcome == RUN_READY ? jreal(r->load_s) : json_null());
	json_object_set_new(j, "gpu_mem_used_mb",
			    r->gpu_mem_bytes >= 0 ? json_integer(r->gpu_mem_bytes >> 20) : json_null());
	json_object_set_new(j, "notes", jtext(rec->notes));
	json_object_set_new(j, "status", json_string(run_outcome_name(r->outcome)));
	json_object_set_new(j, "reason", jtext(r->reason));
	json_object_set_new(j, "command", jtext(rec->command));
	json_object_set_new(j, "port", json_integer(rec->port));
	json_object_set_new(j, "log", rec->log ? json_string(rec->log) : json_null());
	json_object_set_new(j, "exec_ns", json_integer((json_int_t)r->exec_ns));
	json_object_set_new(j, "ready_ns", r->ready_ns ? json_integer((json_int_t)r->ready_ns) : json_null());
	json_object_set_new(j, "cold_mode", json_string(cold_mode_name(o->cold)));
	json_object_set_new(j, "cold", r->cold < 0 ? json_null() : json_boolean(r->cold));
	json_object_set_new(j, "cold_verified", json_boolean(r->cold >= 0));
	json_object_set_new(j, "resident_pct", r->resident_pct < 0 ? json_null() : jreal(r->resident_pct));
	json_object_set_new(j, "residency_method", r->cold_method ? json_string(r->cold_method) : json_null());
	json_object_set_new(j, "model_bytes", json_integer((json_int_t)r->model_bytes));
	json_object_set_new(j, "gpu_mem_bytes", r->gpu_mem_bytes >= 0 ? json_integer(r->gpu_mem_bytes) : json_null());
	json_object_set_new(j, "gpu_mem_method", r->gpu_method ? json_string(r->gpu_method) : json_null());
	json_object_set_new(j, "gpu_released", r->gpu_released < 0 ? json_null() : json_boolean(r->gpu_released));
	json_object_set_new(j, "gpu_release_s", jreal(r->gpu_release_s));
	json_t *ph = json_object();
	const struct phases *q = &r->phases;
	const struct { const char *k; double v; } pv[] = {
		{ "t_load_start", q->t_load_start }, { "t_weights_end", q->t_weights_end }, { "weights_s", q->weights_s },
		{ "model_load_s", q->model_load_s }, { "model_gib", q->model_gib }, { "dynamo_s", q->dynamo_s },
		{ "compile_s", q->compile_s }, { "graph_s", q->graph_s }, { "engine_init_s", q->engine_init_s },
		{ "kv_cache_gib", q->kv_cache_gib }, { "t_startup", q->t_startup }, { "context_s", q->context_s },
		{ "first_eval_s", q->first_eval_s },
	};
	for (size_t i = 0; i < sizeof(pv) / sizeof(pv[0]); i++)
		json_object_set_new(ph, pv[i].k, pv[i].v >= 0 ? jreal(pv[i].v) : json_null());
	json_object_set_new(j, "phases", ph);
	json_t *st = json_object();
	json_object_set_new(st, "signalled", json_integer(r->stop.signalled));
	json_object_set_new(st, "killed", json_integer(r->stop.killed));
	json_object_set_new(st, "remaining", json_integer(r->stop.remaining));
	json_object_set_new(st, "seconds", jreal(r->stop.seconds));
	json_object_set_new(j, "stop", st);
	return j;
}
