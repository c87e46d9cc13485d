#define _GNU_SOURCE
#include "runcfg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../cli.h"
#include "../opts.h"
#include "../core/csvlog.h"
#include "../core/fsutil.h"
#include "../core/pagecache.h"
#include "../core/proc.h"
#include "../core/ready.h"
#include "../core/stagecache.h"
#include "../core/template.h"
#include "../core/util.h"
#include "../core/banned.h"

#define VLLM_TEMPLATE "vllm serve {model} --port {port} --max-model-len {max_model_len}"

void runcfg_init(struct run_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->ready = "http://127.0.0.1:{port}/health";
	c->timeout_ns = 600ULL * 1000000000ULL;
	c->stop_timeout_ns = 30ULL * 1000000000ULL;
	c->gpu_release_ns = 60ULL * 1000000000ULL;
	c->cold = COLD_FILES;
	c->max_model_len = 4096;
	c->staged_copy_s = -1;
}

static int ready_cb(const struct opt *o, const char *arg)
{
	struct ready_spec rs;
	struct cs_err err;
	if (ready_parse(arg, 1, &rs, &err))
		return usage_error("%s", err.msg);
	ready_free(&rs);
	*(const char **)o->value = arg;
	return 0;
}

static int prefetch_cb(const struct opt *o, const char *arg)
{
	long j = 8;
	if (arg && parse_int_range(arg, 1, 256, &j))
		return usage_error("invalid --prefetch '%s' (1 to 256 reader threads)", arg);
	*(int *)o->value = (int)j;
	return 0;
}

const struct opt *runcfg_options(struct run_cfg *c)
{
	static const char *const colds[] = { "files", "global", "none", NULL };
	static const char *const owners[] = { "tree", "any", NULL };
	static struct opt t[24];
	const struct opt table[] = {
		{ .type = OPT_STRING, .long_name = "server", .argname = "TEMPLATE", .value = &c->server,
		  .help = "server command; tokens {model} {port} {max_model_len}\n{mode} {run_id}; split like a shell line, run without\n"
			  "a shell (default: vllm serve {model} --port {port}\n--max-model-len {max_model_len} when vllm is on the\n"
			  "PATH, else 'refserve': coldstart's reference server)" },
		{ .type = OPT_FLAG, .long_name = "shell", .value = &c->shell,
		  .help = "run the template with /bin/sh -c (values shell-quoted)" },
		{ .type = OPT_CALLBACK, .long_name = "ready", .argname = "SPEC", .value = &c->ready, .cb = ready_cb,
		  .help = "http://127.0.0.1:{port}/health (default: ready on 200),\ntcp:{port}, or log:REGEX on the server's output" },
		{ .type = OPT_ENUM, .long_name = "ready-owner", .argname = "WHO", .value = &c->any_owner, .choices = owners,
		  .hint = "tree or any",
		  .help = "tree (default): an http/tcp answer counts only if the\nlistening socket belongs to the server's process tree;\n"
			  "any: accept any answer (a server in a container whose\nport another process publishes); noted ready_owner=any" },
		{ .type = OPT_FLAG, .long_name = "detached", .value = &c->detached,
		  .help = "the server command is a launcher that starts the server\nin the background and exits 0: keep waiting while the\n"
			  "processes it left run" },
		{ .type = OPT_DURATION, .long_name = "timeout", .argname = "DUR", .value = &c->timeout_ns, .flags = OPTF_NONZERO,
		  .hint = "e.g. 90s, 10m", .help = "give up waiting for ready after DUR (default 10m; a\nbare number is seconds)" },
		{ .type = OPT_DURATION, .long_name = "stop-timeout", .argname = "DUR", .value = &c->stop_timeout_ns,
		  .hint = "e.g. 30s", .help = "SIGTERM grace before SIGKILL (default 30s)" },
		{ .type = OPT_ENUM, .long_name = "cold", .argname = "MODE", .value = &c->cold, .choices = colds,
		  .hint = "files, global or none",
		  .help = "files: evict the model's files (default); global:\nsync + drop_caches (root); none" },
		{ .type = OPT_INT, .long_name = "max-model-len", .argname = "N", .value = &c->max_model_len, .min = 1,
		  .max = 100000000, .help = "value of {max_model_len} and the CSV column (default 4096)" },
		{ .type = OPT_INT, .long_name = "port", .argname = "N", .value = &c->port, .min = 1, .max = 65535,
		  .hint = "1 to 65535", .help = "server port (default: a free one)" },
		{ .type = OPT_STRING, .long_name = "csv", .argname = "FILE", .value = &c->csv,
		  .help = "append a row (header run_id,storage_mode,model,\nmax_model_len,load_s,gpu_mem_used_mb,notes)" },
		{ .type = OPT_STRING, .long_name = "log", .argname = "FILE", .value = &c->log,
		  .help = "server output, each line stamped with its offset\nfrom launch (default: coldstart-logs/ next to the CSV)" },
		{ .type = OPT_STRING, .long_name = "name", .argname = "NAME", .value = &c->name, .flags = OPTF_NONEMPTY,
		  .help = "the CSV's model column (default: $MODEL_NAME, else\nthe model directory's name)" },
		{ .type = OPT_STRING, .long_name = "notes", .argname = "TEXT", .value = &c->notes,
		  .help = "added to the row's notes as note=TEXT" },
		{ .type = OPT_FLAG, .long_name = "record-failures", .value = &c->record_failures,
		  .help = "append failed runs too, with status=failed:REASON" },
		{ .type = OPT_DURATION, .long_name = "gpu-release-timeout", .argname = "DUR", .value = &c->gpu_release_ns,
		  .hint = "e.g. 60s", .help = "wait for GPU memory release (default 60s)" },
		{ .type = OPT_CALLBACK, .long_name = "prefetch", .argname = "JOBS", .value = &c->prefetch, .cb = prefetch_cb,
		  .flags = OPTF_OPTIONAL,
		  .help = "at launch, warm the model's files into the page cache\nwith JOBS parallel readers (default 8), overlapping\n"
			  "the server's own start-up (imports, CUDA init)" },
		{ .type = OPT_FLAG, .long_name = "json", .value = &c->json, .help = "every field of the run as JSON on stdout" },
		{ .type = OPT_FLAG, .short_name = 'q', .long_name = "quiet", .value = &c->quiet, .help = "no progress messages" },
		OPT_END_(),
	};
	memcpy(t, table, sizeof(table));
	return t;
}

static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path)
		return 0;
	char *copy = xstrdup(path), *save = NULL;
	int found = 0;
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *full = path_join(*d ? d : ".", prog);
		found = access(full, X_OK) == 0;
		free(full);
	}
	free(copy);
	return found;
}

/* This binary's refserve as a server template (path quoted for tmpl_argv). */
static char *refserve_template(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return xstrdup("coldstart refserve {model} --port {port}");
	exe[n] = '\0';
	char *q = shell_quote(exe);
	char *t = xasprintf("%s refserve {model} --port {port}", q);
	free(q);
	return t;
}

const char *runcfg_server(struct run_cfg *c)
{
	static char *refserve;
	if (c->server && strcmp(c->server, "refserve"))
		return c->server;
	if (!c->server && on_path("vllm")) {
		c->server = VLLM_TEMPLATE;
		return c->server;
	}
	if (!refserve) {
		refserve = refserve_template();
		if (!c->server && !c->quiet)
			fprintf(stderr, "coldstart: %s: vllm is not on the PATH: using coldstart's reference server (refserve)\n",
				cs_cmdname ? cs_cmdname : "run");
	}
	c->server = refserve;
	return c->server;
}

int runcfg_check_csv(const struct run_cfg *c)
{
	struct cs_err err;
	if (!c->csv)
		return 0;
	if (csv_check_header(c->csv, &err))
		return error("%s", err.msg);
	/* One missing directory level is created; a typo is not a tree. */
	char *dir = fs_parent_dir(c->csv);
	int rc = fs_mkdir_last(dir, 0755) ? error_errno("cannot create directory '%s' for '%s'%s", dir, c->csv,
						       errno == ENOENT ? " (its parent does not exist either)" : "")
					  : 0;
	/* The row must be appendable before a run is spent on it. */
	if (!rc && access(c->csv, F_OK) == 0) {
		int fd = open(c->csv, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0)
			rc = error_errno("cannot append to '%s'", c->csv);
		else
			close(fd);
	} else if (!rc && faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS) != 0) {
		rc = error_errno("cannot create '%s' in '%s'", c->csv, dir);
	}
	uint64_t room = 0;
	if (!rc && fs_free_bytes(dir, &room) == 0 && room < CSV_MIN_ROOM) {
		char b[32];
		rc = error("no room to append to '%s': its file system has %s free", c->csv, fmt_bytes(b, sizeof(b), room));
	}
	free(dir);
	return rc ? EXIT_FAIL : 0;
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
	pc_set_free(&set);
	return hit;
}

static char *timeline_path(const char *log, const char *ext)
{
	size_t n = strlen(log);
	size_t base = n > 4 && !strcmp(log + n - 4, ".log") ? n - 4 : n;
	return xasprintf("%.*s.timeline.%s", (int)base, log, ext);
}

int runcfg_check_outputs(const struct run_cfg *c, const char *const *models, size_t nmodels)
{
	const char *out[4] = { c->csv, c->log && !c->log_is_dir ? c->log : NULL, NULL, NULL };
	const char *what[4] = { "--csv", "--log", "--log's timeline", "--log's timeline" };
	char *tl_csv = out[1] ? timeline_path(out[1], "csv") : NULL, *tl_svg = out[1] ? timeline_path(out[1], "svg") : NULL;
	out[2] = tl_csv;
	out[3] = tl_svg;
	int rc = 0;
	for (int i = 0; i < 4 && !rc; i++) {
		if (!out[i])
			continue;
		for (int k = i + 1; k < 4 && !rc; k++)
			if (out[k] && fs_same_file(out[i], out[k]))
				rc = usage_error("%s '%s' and %s '%s' are the same file: one would overwrite the other", what[i],
						 out[i], what[k], out[k]);
		for (size_t m = 0; m < nmodels && !rc; m++)
			if (models[m] && is_model_file(out[i], models[m]))
				rc = usage_error("%s '%s' is one of the model's files ('%s'): it would be overwritten",
						 what[i], out[i], models[m]);
	}
	free(tl_csv);
	free(tl_svg);
	return rc;
}

int runcfg_validate(const struct run_cfg *c, const char *tmpl, const char *what)
{
	if (!tmpl)
		return 0;
	struct tmpl_var vars[] = {
		{ "model", "m" }, { "port", "1" }, { "max_model_len", "1" }, { "mode", "m" }, { "run_id", "1" },
	};
	struct cs_err err;
	const char *t = tmpl;
	while (*t == ' ' || *t == '\t' || *t == '\n')
		t++;
	if (!*t)
		return usage_error("empty %s template", what);
	if (c->shell) {
		char *line = tmpl_shell(tmpl, vars, 5, &err);
		free(line);
		if (!line)
			return usage_error("invalid %s template '%s': %s", what, tmpl, err.msg);
		return 0;
	}
	char **argv;
	if (tmpl_argv(tmpl, vars, 5, &argv, &err))
		return usage_error("invalid %s template '%s': %s", what, tmpl, err.msg);
	tmpl_argv_free(argv);
	return 0;
}

static void on_status(const char *msg, void *arg)
{
	const struct run_cfg *c = arg;
	if (!c->quiet)
		fprintf(stderr, "coldstart: %s: %s\n", cs_cmdname ? cs_cmdname : "run", msg);
}

static char *default_log_path(const struct run_cfg *c, const char *mode)
{
	char *dir;
	if (c->log && c->log_is_dir) {
		dir = xstrdup(c->log);
	} else if (c->csv) {
		char *parent = fs_parent_dir(c->csv);
		dir = path_join(parent, "coldstart-logs");
		free(parent);
	} else {
		dir = xstrdup("coldstart-logs");
	}
	if (fs_mkdir_last(dir, 0755)) {
		warning("cannot create the log directory '%s': %s; the server's output is not kept", dir, strerror(errno));
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

static json_t *result_json(const struct run_cfg *c, const struct run_result *r, const char *mode,
			   const char *name, const char *model, const char *command, int port, const char *log,
			   long long run_id, const char *notes)
{
	json_t *j = json_object();
	json_object_set_new(j, "run_id", run_id > 0 ? json_integer(run_id) : json_null());
	json_object_set_new(j, "storage_mode", json_string(mode));
	json_object_set_new(j, "model", json_string(name));
	json_object_set_new(j, "model_path", json_string(model));
	json_object_set_new(j, "max_model_len", json_integer(c->max_model_len));
	json_object_set_new(j, "load_s", r->outcome == RUN_READY ? json_real(r->load_s) : json_null());
	json_object_set_new(j, "gpu_mem_used_mb",
			    r->gpu_mem_bytes >= 0 ? json_integer(r->gpu_mem_bytes >> 20) : json_null());
	json_object_set_new(j, "notes", json_string(notes ? notes : ""));
	json_object_set_new(j, "status", json_string(run_outcome_name(r->outcome)));
	json_object_set_new(j, "reason", json_string(r->reason));
	json_object_set_new(j, "command", json_string(command));
	json_object_set_new(j, "port", json_integer(port));
	json_object_set_new(j, "log", log ? json_string(log) : json_null());
	json_object_set_new(j, "exec_ns", json_integer((json_int_t)r->exec_ns));
	json_object_set_new(j, "ready_ns", r->ready_ns ? json_integer((json_int_t)r->ready_ns) : json_null());
	json_object_set_new(j, "cold_mode", json_string(c->cold == COLD_FILES ? "files" : c->cold == COLD_GLOBAL ? "global" : "none"));
	json_object_set_new(j, "cold", r->cold < 0 ? json_null() : json_boolean(r->cold));
	json_object_set_new(j, "cold_verified", json_boolean(r->cold >= 0));
	json_object_set_new(j, "resident_pct", r->resident_pct < 0 ? json_null() : json_real(r->resident_pct));
	json_object_set_new(j, "residency_method", r->cold_method ? json_string(r->cold_method) : json_null());
	json_object_set_new(j, "model_bytes", json_integer((json_int_t)r->model_bytes));
	json_object_set_new(j, "gpu_mem_bytes", r->gpu_mem_bytes >= 0 ? json_integer(r->gpu_mem_bytes) : json_null());
	json_object_set_new(j, "gpu_mem_method", r->gpu_method ? json_string(r->gpu_method) : json_null());
	json_object_set_new(j, "gpu_released", r->gpu_released < 0 ? json_null() : json_boolean(r->gpu_released));
	json_object_set_new(j, "gpu_release_s", json_real(r->gpu_release_s));
	json_t *ph = json_object();
	const struct phases *q = &r->phases;
	const struct { const char *k; double v; } pv[] = {
		{ "t_load_start", q->t_load_start }, { "t_weights_end", q->t_weights_end }, { "weights_s", q->weights_s },
		{ "model_load_s", q->model_load_s }, { "model_gib", q->model_gib }, { "dynamo_s", q->dynamo_s },
		{ "compile_s", q->compile_s }, { "graph_s", q->graph_s }, { "engine_init_s", q->engine_init_s },
		{ "kv_cache_gib", q->kv_cache_gib }, { "t_startup", q->t_startup },
	};
	for (size_t i = 0; i < sizeof(pv) / sizeof(pv[0]); i++)
		json_object_set_new(ph, pv[i].k, pv[i].v >= 0 ? json_real(pv[i].v) : json_null());
	json_object_set_new(j, "phases", ph);
	json_t *st = json_object();
	json_object_set_new(st, "signalled", json_integer(r->stop.signalled));
	json_object_set_new(st, "killed", json_integer(r->stop.killed));
	json_object_set_new(st, "remaining", json_integer(r->stop.remaining));
	json_object_set_new(st, "seconds", json_real(r->stop.seconds));
	json_object_set_new(j, "stop", st);
	return j;
}

/*
 * The run's timeline next to its log: NAME.timeline.csv (samples) and
 * NAME.timeline.svg (chart with phase markers). Returns the SVG's path as
 * the notes should name it (relative to the CSV's directory when inside it).
 */
static char *write_timeline(const struct run_cfg *c, const struct run_result *res, const char *log, const char *mode)
{
	char *csvp = timeline_path(log, "csv");
	char *svgp = timeline_path(log, "svg");
	/* One pass into a growing buffer: a 10-minute start has 6,000 samples. */
	char *text = NULL;
	size_t tlen = 0;
	FILE *mf = open_memstream(&text, &tlen);
	if (!mf)
		die_errno("cannot allocate the timeline");
	fputs("t_s,read_bytes,rss_bytes,gpu_bytes,model_cached_bytes\n", mf);
	for (size_t i = 0; i < res->ntl; i++) {
		const struct tl_sample *s = &res->tl[i];
		fprintf(mf, "%.3f,%.0f,%.0f,%.0f,%.0f\n", s->t, s->read_bytes, s->rss_bytes, s->gpu_bytes,
			s->cached_bytes);
	}
	if (fclose(mf))
		die_errno("cannot allocate the timeline");
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
		warning("%s", err.msg);
		free(svgp);
		return NULL;
	}
	if (c->csv) {
		char *dir = fs_parent_dir(c->csv);
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

int runcfg_execute(struct run_cfg *c, const char *model, const char *mode, const char *extra_notes,
		   struct run_result *res, json_t **json_out)
{
	struct cs_err err;
	memset(res, 0, sizeof(*res));
	if (json_out)
		*json_out = NULL;
	const char *tmpl = runcfg_server(c);
	if (!tmpl)
		return EXIT_FAIL;
	int port = c->port > 0 ? (int)c->port : proc_free_port();
	if (port <= 0)
		return error("cannot find a free port on 127.0.0.1");
	long long next_id = c->csv ? csv_peek_next_id(c->csv) : 1;
	char portbuf[16], mlbuf[32], idbuf[32];
	snprintf(portbuf, sizeof(portbuf), "%d", port);
	snprintf(mlbuf, sizeof(mlbuf), "%ld", c->max_model_len);
	snprintf(idbuf, sizeof(idbuf), "%lld", next_id);
	struct tmpl_var vars[] = {
		{ "model", model }, { "port", portbuf }, { "max_model_len", mlbuf }, { "mode", mode }, { "run_id", idbuf },
	};
	char **argv = NULL;
	if (c->shell) {
		char *line = tmpl_shell(tmpl, vars, 5, &err);
		if (!line)
			return error("%s", err.msg);
		argv = xcalloc(4, sizeof(char *));
		argv[0] = xstrdup("/bin/sh");
		argv[1] = xstrdup("-c");
		argv[2] = line;
	} else if (tmpl_argv(tmpl, vars, 5, &argv, &err)) {
		return error("%s", err.msg);
	}
	char *command = c->shell ? xstrdup(argv[2]) : argv_display(argv);
	char *log = c->log && !c->log_is_dir ? xstrdup(c->log) : default_log_path(c, mode);
	if (!c->quiet)
		fprintf(stderr, "coldstart: %s: [%s] %s\n", cs_cmdname, mode, command);

	struct run_opts o = {
		.argv = argv, .model = model, .ready_spec = c->ready, .port = port,
		.timeout_ns = c->timeout_ns, .stop_timeout_ns = c->stop_timeout_ns, .cold = c->cold,
		.log_path = log, .gpu_release_timeout_ns = c->gpu_release_ns, .cancel = &cli_signal,
		.status = on_status, .status_arg = c, .prefetch_jobs = c->prefetch, .timeline = log != NULL,
		.detached = c->detached, .any_owner = c->any_owner,
	};
	/* A staged model stays put (not evicted, not replaced) while it serves:
	 * the guard keeps the lock until the server's last process is gone. */
	int use_fd = sc_use(model, &err);
	if (use_fd == -2 && err.code == EBADMSG) {
		/* Never the wrong weights: a copy that failed verification. */
		error("%s", err.msg);
		free(command);
		free(log);
		tmpl_argv_free(argv);
		return EXIT_FAIL;
	}
	if (use_fd == -2)
		warning("%s", err.msg);
	o.hold_fd = use_fd;
	int rc = runner_run(&o, res, &err);
	sc_release(use_fd);

	char *notes = NULL;
	notes_add(&notes, "cold", "%s", res->cold > 0 ? "yes" : res->cold == 0 ? "no" : "unverified");
	if (res->resident_pct >= 0)
		notes_add(&notes, "resident_pct", "%.1f", res->resident_pct);
	else
		notes_add(&notes, "resident_pct", "unknown");
	notes_add(&notes, "cold_mode", "%s", c->cold == COLD_FILES ? "files" : c->cold == COLD_GLOBAL ? "global" : "none");
	if (res->gpu_method)
		notes_add(&notes, "gpu_mem_method", "%s", res->gpu_method);
	notes_add(&notes, "stop_s", "%.2f", res->stop.seconds);
	if (res->stop.killed)
		notes_add(&notes, "sigkilled", "%d", res->stop.killed);
	if (res->gpu_released == 0)
		notes_add(&notes, "gpu_released", "no");
	notes_add(&notes, "server", "%s", argv[1] && !strcmp(argv[1], "refserve") ? "refserve" : argv[0]);
	if (res->outcome == RUN_READY && strncmp(c->ready, "log:", 4))
		notes_add(&notes, "ready_owner", "%s", c->any_owner ? "any" : "tree");
	if (res->launcher_exited)
		notes_add(&notes, "detached", "yes");
	/* Phases seen in the server's log (offsets t_* from launch, durations *_s). */
	const struct phases *ph = &res->phases;
	const struct { const char *key; double v; } pk[] = {
		{ "t_load_start", ph->t_load_start }, { "t_weights_end", ph->t_weights_end },
		{ "weights_s", ph->weights_s }, { "model_load_s", ph->model_load_s },
		{ "dynamo_s", ph->dynamo_s }, { "compile_s", ph->compile_s }, { "graph_s", ph->graph_s },
		{ "engine_init_s", ph->engine_init_s }, { "kv_cache_gib", ph->kv_cache_gib },
		{ "t_startup", ph->t_startup },
	};
	for (size_t i = 0; i < sizeof(pk) / sizeof(pk[0]); i++)
		if (pk[i].v >= 0)
			notes_add(&notes, pk[i].key, "%.3f", pk[i].v);
	if (res->outcome != RUN_READY)
		notes_add(&notes, "status", "failed:%s", run_outcome_name(res->outcome));
	if (extra_notes && *extra_notes) {
		char *n = xasprintf("%s; %s", notes, extra_notes);
		free(notes);
		notes = n;
	}
	if (c->staged_copy_s >= 0 && res->outcome == RUN_READY) {
		notes_add(&notes, "copy_s", "%.3f", c->staged_copy_s);
		notes_add(&notes, "load_s", "%.3f", res->load_s);
		notes_add(&notes, "total_s", "%.3f", c->staged_copy_s + res->load_s);
	}
	if (c->prefetch) {
		notes_add(&notes, "prefetch", "%d", c->prefetch);
		notes_add(&notes, "prefetch_bytes", "%llu", (unsigned long long)res->prefetch_bytes);
		if (res->prefetch_s >= 0)
			notes_add(&notes, "prefetch_s", "%.3f", res->prefetch_s);
	}
	if (res->ntl && log) {
		char *tl = write_timeline(c, res, log, mode);
		if (tl)
			notes_add(&notes, "timeline", "%s", tl);
		free(tl);
	}
	if (c->notes)
		notes_add(&notes, "note", "%s", c->notes);

	char *model_name = c->name ? xstrdup(c->name)
				   : getenv("MODEL_NAME") && *getenv("MODEL_NAME") ? xstrdup(getenv("MODEL_NAME"))
									    : sc_default_name(model);
	long long run_id = 0;
	int cancelled = res->outcome == RUN_CANCELLED;
	if (res->outcome == RUN_READY && !res->cold && !c->quiet && c->cold != COLD_NONE)
		warning("the model was %.1f%% resident after eviction: this run is NOT cold (cold=no in the row)",
			res->resident_pct);
	static int said_unverified;
	if (res->unknown_files && !said_unverified++)
		warning("cannot read the page-cache residency of %zu file%s of the model (e.g. '%s'): the kernel "
			"shows it only to a user who may write the file. They were evicted all the same, but the run "
			"is recorded as cold=unverified%s", res->unknown_files, res->unknown_files == 1 ? "" : "s",
			res->unknown_path, geteuid() ? "; as root, --cold global drops the whole page cache" : "");
	int record = !cancelled && (res->outcome == RUN_READY || c->record_failures) &&
		     res->outcome != RUN_COLD_FAILED;
	if (c->csv && record) {
		struct csv_row row = { 0, mode, model_name, c->max_model_len,
				       res->outcome == RUN_READY ? res->load_s : -1,
				       res->gpu_mem_bytes >= 0 ? res->gpu_mem_bytes >> 20 : -1, notes };
		if (csv_append(c->csv, &row, &err)) {
			/* The run is measured: never lose it with the file. */
			row.run_id = 0;
			char *text = csv_row_text(&row, "\n");
			error("%s: the run was measured but NOT recorded; its row (run_id left out):\n%s", err.msg,
			      text + 2);
			free(text);
			res->record_failed = 1;
			if (!rc)
				rc = -1;
		} else {
			run_id = row.run_id;
		}
	}
	if (res->log_errno)
		warning("the server's log '%s' is incomplete: %s", log ? log : "?", strerror(res->log_errno));
	if (res->outcome == RUN_READY && (rc == 0 || res->record_failed)) {
		if (!c->quiet) {
			char gm[64] = "";
			if (res->gpu_mem_bytes >= 0)
				snprintf(gm, sizeof(gm), ", GPU %lld MiB (%s)", (long long)(res->gpu_mem_bytes >> 20), res->gpu_method);
			char resid[48];
			if (res->resident_pct >= 0)
				snprintf(resid, sizeof(resid), "%.1f%% resident before launch", res->resident_pct);
			else
				snprintf(resid, sizeof(resid), "residency before launch unknown");
			fprintf(stderr, "coldstart: %s: [%s] ready in %.3fs (%s%s); stopped in %.2fs%s\n",
				cs_cmdname, mode, res->load_s, resid, gm, res->stop.seconds,
				res->stop.killed ? " (SIGKILL needed)" : "");
		}
	} else if (!cancelled) {
		error("%s", res->reason[0] ? res->reason : err.msg);
		if (res->tail && *res->tail)
			fprintf(stderr, "last lines of the server's output (%s):\n%s", log ? log : "no log", res->tail);
	}
	if (json_out)
		*json_out = result_json(c, res, mode, model_name, model, command, port, log, run_id, notes);
	free(model_name);
	free(notes);
	free(command);
	free(log);
	tmpl_argv_free(argv);
	if (cancelled)
		return cli_signal_exit();
	return rc ? EXIT_FAIL : 0;
}
