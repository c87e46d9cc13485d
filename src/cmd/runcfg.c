#define _GNU_SOURCE
#include "runcfg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../cli.h"
#include "../opts.h"
#include "core/run/ready.h"
#include "core/run/servers.h"
#include "core/source/source.h"
#include "core/base/util.h"
#include "core/base/banned.h"

static void on_status(const char *msg, void *arg)
{
	const struct run_cfg *c = arg;
	if (!c->quiet)
		fprintf(stderr, "coldstart: %s: %s\n", cs_cmdname ? cs_cmdname : "run", msg);
}

static void on_notice(const char *msg, void *arg)
{
	(void)arg;
	warning("%s", msg);
}

void runcfg_init(struct run_cfg *c)
{
	*c = (struct run_cfg){ .o = RR_OPTS_INIT };
	c->o.cancel = &cli_signal;
	c->o.status = on_status;
	c->o.notice = on_notice;
	c->o.cb_arg = c;
}

static int ready_cb(const struct opt *o, const char *arg)
{
	struct ready_spec rs;
	struct cs_err err;
	if (ready_parse(arg, 1, &rs, &err))
		return usage_error("%s", err.msg);
	ready_release(&rs);
	*(const char **)o->value = arg;
	return 0;
}

const struct opt *runcfg_options(struct run_cfg *c)
{
	static const char *const colds[] = { "files", "global", "none", NULL };
	static const char *const owners[] = { "tree", "any", NULL };
	static struct opt t[32];
	const struct opt table[] = {
		OPT_STRING_(0, "server", &c->o.server, "TEMPLATE",
			"server command; tokens {model} {port} {max_model_len}\n{mode} {run_id}; split like a shell line, run without\n"
			"a shell (default: vllm serve {model} --port {port}\n--max-model-len {max_model_len} when vllm is on the\n"
			"PATH, else 'refserve': coldstart's reference server;\n'llama.cpp': llama-server -m {model} if on the PATH,\n"
			"else llama.cpp through node-llama-cpp; each given\n{max_model_len}: --max-model-len, --ctx-size). The\n"
			"context the server's log says it used is recorded:\nserver_max_model_len=N, and max_model_len_mismatch=yes\n"
			"when it is not --max-model-len"),
		OPT_FLAG_(0, "shell", &c->o.shell,
			"run the template with /bin/sh -c (values shell-quoted);\nwhat coldstart adds to a server's arguments (bench's\n"
			"runtime mode, vllm's s3:// loader) must then be in\nthe template"),
		OPT_CALLBACK_(0, "ready", &c->o.ready, "SPEC", ready_cb,
			"http://127.0.0.1:{port}/health (default: ready on 200),\ntcp:{port}, or log:REGEX on the server's output"),
		OPT_ENUM_(0, "ready-owner", &c->o.any_owner, "WHO", owners, "tree or any",
			"tree (default): an http/tcp answer counts only if the\nlistening socket belongs to the server's process tree;\n"
			"any: accept any answer (a server in a container whose\nport another process publishes); noted ready_owner=any"),
		OPT_FLAG_(0, "detached", &c->o.detached,
			"the server command is a launcher that starts the server\nin the background and exits 0: keep waiting while the\n"
			"processes it left run"),
		OPT_DURATION_(0, "timeout", &c->o.timeout_ns, "DUR", "e.g. 90s, 10m",
			"give up waiting for ready after DUR (default 10m; a\nbare number is seconds)", .flags = OPTF_NONZERO),
		OPT_DURATION_(0, "stop-timeout", &c->o.stop_timeout_ns, "DUR", "e.g. 30s",
			"SIGTERM grace before SIGKILL (default 30s); once\ncoldstart is interrupted (SIGINT, SIGTERM), the server\n"
			"gets at most 1s after SIGTERM"),
		OPT_ENUM_(0, "cold", &c->o.cold, "MODE", colds, "files, global or none",
			"files: evict the model's files (default); global:\nsync + drop_caches (root); none"),
		OPT_INT_(0, "max-model-len", &c->o.max_model_len, "N", 1, 100000000, NULL,
			"value of {max_model_len} and the CSV column (default 4096)"),
		OPT_INT_(0, "port", &c->o.port, "N", 1, 65535, "1 to 65535", "server port (default: a free one)"),
		OPT_STRING_(0, "csv", &c->o.csv, "FILE",
			"append a row (header run_id,storage_mode,model,\nmax_model_len,load_s,gpu_mem_used_mb,notes)"),
		OPT_STRING_(0, "log", &c->o.log, "FILE",
			"server output, each line stamped with its offset\nfrom launch (default: coldstart-logs/ next to the CSV)"),
		OPT_STRING_(0, "name", &c->o.name, "NAME",
			"the CSV's model column (default: $MODEL_NAME, else\nthe model directory's name)", .flags = OPTF_NONEMPTY),
		OPT_STRING_(0, "notes", &c->o.notes, "TEXT", "added to the row's notes as note=TEXT"),
		OPT_FLAG_(0, "record-failures", &c->o.record_failures,
			"append failed runs too, with status=failed:REASON"),
		OPT_DURATION_(0, "gpu-release-timeout", &c->o.gpu_release_ns, "DUR", "e.g. 60s",
			"wait for GPU memory release (default 60s)"),
		OPT_CALLBACK_(0, "prefetch", &c->o.prefetch, "JOBS", opt_prefetch_cb,
			"at launch, warm the model's files into the page cache\nwith JOBS parallel readers (default "
			WP_JOBS_DEFAULT_S "), overlapping\nthe server's own start-up (imports, CUDA init)",
			.flags = OPTF_OPTIONAL),
		OPT_STRING_(0, "caches", &c->caches, "STATE",
			"compile and kernel caches the server starts with:\ncold (fresh empty directories), warm (a kept set,\n"
			"primed by one unmeasured start) or staged (copied\nfrom --cache-src first, timed); bench takes a list.\n"
			"The server gets VAR=SET/VAR for each --cache-env\nvariable, and {cache} is SET (default: its own\n"
			"environment, caches untouched)", .flags = OPTF_NONEMPTY),
		OPT_STRING_(0, "cache-env", &c->cc.env, "VARS",
			"the variables that place the server's caches (default\n" CC_ENV_DEFAULT ")", .flags = OPTF_NONEMPTY),
		OPT_STRING_(0, "cache-dir", &c->cc.dir, "DIR",
			"where the cache sets are kept: cold-*, warm-NAME-MODE,\nstaged/ (default: coldstart-caches/ next to the CSV;\n"
			"put it where the node keeps its caches)", .flags = OPTF_NONEMPTY),
		OPT_STRING_(0, "cache-src", &c->cc.src, "SRC",
			"--caches staged: the cache set to stage, a directory\non the network storage or a URL (e.g. a warm set\n"
			"copied there)", .flags = OPTF_NONEMPTY),
		OPT_FLAG_(0, "json", &c->json, "every field of the run as JSON on stdout"),
		OPT_FLAG_('q', "quiet", &c->quiet, "no progress messages"),
		OPT_END_(),
	};
	memcpy(t, table, sizeof(table));
	return t;
}

/* --server llama.cpp: the template, saying which it is when it is not
 * llama-server. */
static char *llama_template(const struct run_cfg *c)
{
	char *js;
	struct cs_err err;
	char *t = srv_llama_template(&js, &err);
	if (!t) {
		error("%s", err.msg);
		return NULL;
	}
	if (js && !c->quiet)
		fprintf(stderr, "coldstart: %s: llama-server is not on the PATH: using llama.cpp through node-llama-cpp (%s)\n",
			cs_cmdname ? cs_cmdname : "run", js);
	free(js);
	return t;
}

const char *runcfg_server(struct run_cfg *c)
{
	static char *refserve, *llama;
	int gguf = srv_gguf_file(c->model);
	if (gguf && c->o.server && !strcmp(c->o.server, "refserve")) {
		error("'%s' is a GGUF model, which refserve does not read: use --server llama.cpp", c->model);
		return NULL;
	}
	if (gguf && !c->o.server) {
		if (!c->quiet)
			fprintf(stderr, "coldstart: %s: '%s' is a GGUF model: the server is llama.cpp\n",
				cs_cmdname ? cs_cmdname : "run", c->model);
		c->o.server = "llama.cpp";
	}
	if (c->o.server && !strcmp(c->o.server, "llama.cpp")) {
		if (!llama && !(llama = llama_template(c)))
			return NULL;
		c->o.server = llama;
		return c->o.server;
	}
	if (c->o.server && strcmp(c->o.server, "refserve"))
		return c->o.server;
	if (!c->o.server && srv_on_path("vllm")) {
		c->o.server = SRV_VLLM_TEMPLATE;
		return c->o.server;
	}
	if (!refserve) {
		refserve = srv_refserve_template();
		if (!c->o.server && !c->quiet)
			fprintf(stderr, "coldstart: %s: vllm is not on the PATH: using coldstart's reference server (refserve)\n",
				cs_cmdname ? cs_cmdname : "run");
	}
	c->o.server = refserve;
	return c->o.server;
}

int runcfg_check_csv(const struct run_cfg *c)
{
	struct cs_err err;
	return rr_check_csv(&c->o, &err) ? error("%s", err.msg) : 0;
}

int runcfg_check_outputs(const struct run_cfg *c, const char *const *models, size_t nmodels)
{
	struct cs_err err;
	return rr_check_outputs(&c->o, models, nmodels, &err) ? usage_error("%s", err.msg) : 0;
}

int runcfg_validate(const struct run_cfg *c, const char *tmpl, const char *what)
{
	struct cs_err err;
	return rr_check_template(tmpl, c->o.shell, what, &err) ? usage_error("%s", err.msg) : 0;
}

int runcfg_caches(struct run_cfg *c, size_t max)
{
	struct cs_err err;
	if (!c->caches) {
		if (c->cc.env || c->cc.dir || c->cc.src)
			return usage_error("--cache-env, --cache-dir and --cache-src need --caches cold|warm|staged");
		return 0;
	}
	if (cc_parse_states(c->caches, c->states, &c->nstates, &err))
		return usage_error("%s", err.msg);
	if (c->nstates > max)
		return usage_error("--caches '%s': one state per run (bench compares several)", c->caches);
	if (cc_check(&c->cc, c->states, c->nstates, &err))
		return err.code == EINVAL ? usage_error("%s", err.msg) : error("%s", err.msg);
	if (!c->cc.dir) {
		static char *own;
		free(own);
		c->cc.dir = own = cc_default_dir(c->o.csv);
	}
	const char *tok = getenv("HF_TOKEN");
	if (c->cc.src && (source_for(c->cc.src)->flags & SOURCE_HEADERS) && tok && *tok)
		c->cc.bearer = tok;
	c->cc.cancel = &cli_signal;
	c->cc.notice = on_notice;
	c->cc.cb_arg = c;
	cc_remove_stale(&c->cc);
	c->o.caches = &c->cc;
	c->o.cache_state = c->states[0];
	return 0;
}

/* The notices of a run that only the reader of the terminal needs. */
static void warn_coldness(const struct run_cfg *c, const struct run_result *res)
{
	if (res->outcome == RUN_READY && !res->cold && !c->quiet && c->o.cold != COLD_NONE)
		warning("the model was %.1f%% resident after eviction: this run is NOT cold (cold=no in the row)",
			res->resident_pct);
	static int said_unverified;
	if (res->unknown_files && !said_unverified++)
		warning("cannot read the page-cache residency of %zu file%s of the model (e.g. '%s'): the kernel "
			"shows it only to a user who may write the file. They were evicted all the same, but the run "
			"is recorded as cold=unverified%s", res->unknown_files, res->unknown_files == 1 ? "" : "s",
			res->unknown_path, geteuid() ? "; as root, --cold global drops the whole page cache" : "");
}

/* The context the server's log says it used, when it is not the row's. */
static void warn_context(const struct run_cfg *c, const struct run_result *res)
{
	double used = res->phases.ctx_len;
	if (used < 0 || used == (double)c->o.max_model_len)
		return;
	int passed = !c->o.server || strstr(c->o.server, "{max_model_len}");
	warning("the server's log says it used a context of %.0f tokens, not the row's max_model_len %ld (noted: "
		"server_max_model_len=%.0f, max_model_len_mismatch=yes)%s", used, c->o.max_model_len, used,
		passed ? "" : "; the server template does not pass {max_model_len}");
}

static void say_ready(const char *mode, const struct run_result *res)
{
	char gm[64] = "";
	if (res->gpu_mem_bytes >= 0)
		snprintf(gm, sizeof(gm), ", GPU %lld MiB (%s)", (long long)(res->gpu_mem_bytes >> 20), res->gpu_method);
	char resid[48] = "residency before launch unknown";
	if (res->resident_pct >= 0)
		snprintf(resid, sizeof(resid), "%.1f%% resident before launch", res->resident_pct);
	fprintf(stderr, "coldstart: %s: [%s] ready in %.3fs (%s%s); stopped in %.2fs%s\n", cs_cmdname, mode,
		res->load_s, resid, gm, res->stop.seconds, res->stop.killed ? " (SIGKILL needed)" : "");
}

int runcfg_finish(const struct run_cfg *c, const char *model, const char *mode, struct rr_record *rec, int rc,
		  const struct cs_err *err, json_t **json_out)
{
	if (json_out)
		*json_out = NULL;
	if (!rec->ran)
		return error("%s", err->msg);
	const struct run_result *res = &rec->res;
	int cancelled = res->outcome == RUN_CANCELLED;
	warn_coldness(c, res);
	warn_context(c, res);
	if (rec->unrecorded)
		error("%s: the run was measured but NOT recorded; its row (run_id left out):\n%s", rec->record_err.msg,
		      rec->unrecorded);
	if (res->log_errno)
		warning("the server's log '%s' is incomplete: %s", rec->log ? rec->log : "?", strerror(res->log_errno));
	if (res->outcome == RUN_READY && (rc == 0 || res->record_failed)) {
		if (!c->quiet)
			say_ready(mode, res);
	} else if (!cancelled) {
		error("%s", err->msg);
		if (res->tail && *res->tail)
			fprintf(stderr, "last lines of the server's output (%s):\n%s", rec->log ? rec->log : "no log",
				res->tail);
	}
	if (json_out)
		*json_out = rr_json(&c->o, rec, model, mode);
	if (cancelled)
		return cli_signal_exit();
	return rc ? EXIT_FAIL : 0;
}

int runcfg_execute(struct run_cfg *c, const char *model, const char *mode, struct rr_record *rec, json_t **json_out)
{
	struct cs_err err;
	memset(rec, 0, sizeof(*rec));
	if (!runcfg_server(c))
		return EXIT_FAIL;
	int rc = rr_run(&c->o, model, mode, NULL, rec, &err);
	return runcfg_finish(c, model, mode, rec, rc, &err, json_out);
}
