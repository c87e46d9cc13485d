/* coldstart exec: the production form of a cold start -- stage, then run the server in the foreground. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../cli.h"
#include "../opts.h"
#include "core/base/strbuf.h"
#include "core/base/template.h"
#include "core/base/util.h"
#include "core/bench/caches.h"
#include "core/bench/runrec.h"
#include "core/run/supervise.h"
#include "core/stage/stagecache.h"
#include "cmds.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart exec [--stage SRC] [--root ROOT] [--name NAME] [--model PATH]\n"
	"                      [--port N] [--ready SPEC] [--ready-file FILE] [--prefetch[=JOBS]]\n"
	"                      [--stage-cache SRC [--cache-env VARS] [--cache-name NAME]]\n"
	"                      [--cacert FILE] [--no-sign-request]\n"
	"                      -- SERVER ARGS...\n"
	"\n"
	"The production form of a cold start, as a container's entrypoint or a\n"
	"Slurm task: stage the model into the node's cache if it lacks it (from a\n"
	"mount, https:// or s3://, as 'coldstart stage' does; callers on one node\n"
	"wait for each other and stage once), put the staged path where the\n"
	"server's arguments say {model} (and --port where they say {port}; every\n"
	"other word reaches the server as written, each argument once),\n"
	"start warming the model's files (--prefetch), then run the server in the\n"
	"foreground, its output on this process's stdout, with the model's use\n"
	"lock held for its whole life (no 'cache rm' or eviction takes it away).\n"
	"SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are passed on to the\n"
	"server. When it first answers its readiness check, --ready-file is\n"
	"written (for a Kubernetes startup or readiness probe: test -f FILE) and\n"
	"the cold start's phases are logged on stderr: stage, prefetch, time to\n"
	"ready and what the server's log says of its own (weights, compile,\n"
	"graphs). coldstart exits with the server's status (128+N if a signal\n"
	"ended it) and removes the ready file; it never stops a healthy server,\n"
	"and if coldstart itself is killed (even with kill -9) the server's whole\n"
	"process tree is stopped.\n"
	"\n"
	"With --stage-cache the server's compile and kernel caches travel too: the\n"
	"cache set (one subdirectory per variable: VLLM_CACHE_ROOT,\n"
	"TORCHINDUCTOR_CACHE_DIR, ...) is staged into ROOT like a model and held\n"
	"there by its use lock; the server gets a private copy (what it adds never\n"
	"changes the staged set other servers share) through VAR=COPY/VAR, and\n"
	"{cache} names the copy. The copy is removed when the server exits.\n",
	.after = "Readiness: --ready SPEC as for 'run' (http://HOST:PORT/PATH, tcp:PORT,\n"
	"log:REGEX; {port} is --port); with --port and no --ready,\n"
	"http://127.0.0.1:{port}/health, answered from the server's own process\n"
	"tree (--ready-owner). Without either there is no check: the ready file\n"
	"is written as the server starts.\n"
	"\n"
	"Examples:\n"
	"  coldstart exec --stage s3://models/qwen2.5-7b --root /mnt/nvme/cache --port 8000 \\\n"
	"      --ready-file /run/coldstart/ready --prefetch -- \\\n"
	"      vllm serve {model} --port {port} --max-model-len 8192\n"
	"  coldstart exec --stage /mnt/nfs/qwen-7b --stage-cache /mnt/nfs/caches/qwen-7b \\\n"
	"      --root /mnt/nvme/cache --port 8000 -- vllm serve {model} --port {port}\n"
	"  coldstart exec --stage /mnt/nfs/qwen.gguf --root /mnt/nvme/cache --port 8080 -- \\\n"
	"      llama-server -m {model} --port {port}\n",
};

struct exec_cfg {
	const char *stage, *root, *name, *model, *ready, *ready_file;
	const char *stage_cache, *cache_env, *cache_name;
	const char *cacert;            /* a URL to stage: the CA bundle, or NULL: the environment's */
	long port, jobs;
	int prefetch, quiet, verify, any_owner, no_sign;
	char **argv; int argc;         /* the server's, after -- */
	struct strbuf staged;          /* "; stage 1.2 s; caches ...", for the ready line */
};

/* exec's own messages on stderr, unless --quiet. */
static void on_status(const char *msg, void *arg)
{
	const struct exec_cfg *c = arg;
	if (!c->quiet)
		fprintf(stderr, "coldstart: exec: %s\n", msg);
}
#define say(c, ...) cs_say(on_status, (void *)(c), __VA_ARGS__)

static void on_stage_notice(const char *msg, void *arg)
{
	say(arg, "stage: %s", msg);
}

/* "ready in 5.2 s after launch; stage ...; weights 4.100 s; graphs ..." */
static void on_ready(const struct sv_ready *r, void *arg)
{
	const struct exec_cfg *c = arg;
	struct strbuf b = STRBUF_INIT;
	strbuf_addf(&b, "ready in %.3f s after launch", r->ready_s);
	strbuf_adds(&b, c->staged.buf);
	if (r->prefetch)
		strbuf_addf(&b, "; prefetch %s", r->prefetch == 1 ? "done" : "still warming");
	phases_summary(&r->phases, &b);
	say(c, "%s", b.buf);
	strbuf_release(&b);
}

/* How exec stages SRC into ROOT as NAME (the model, or the caches). */
static struct sc_opts stage_opts(const struct exec_cfg *c, const char *src, const char *name)
{
	return (struct sc_opts){
		.root = c->root, .src = src, .name = name, .jobs = (int)c->jobs,
		.verify = c->verify ? SC_VERIFY_XXH3 : SC_VERIFY_SIZE, .bearer = getenv("HF_TOKEN"),
		.cacert = c->cacert, .no_sign = c->no_sign, .cancel = &cli_signal, .notice = on_stage_notice, .notice_arg = (void *)c,
	};
}

/* Stage SRC into ROOT (once per node: concurrent callers wait for the one
 * copying); the path to serve in *path. */
static int stage_model(struct exec_cfg *c, char **path)
{
	char *name = c->name ? xstrdup(c->name) : sc_default_name(c->stage);
	if (!name)
		return error("cannot name the model of '%s': give --name NAME", c->stage);
	struct sc_opts o = stage_opts(c, c->stage, name);
	struct sc_result r;
	struct cs_err err;
	int rc = sc_stage(&o, &r, &err);
	free(name);
	if (rc) {
		sc_result_release(&r);
		return err.code == ECANCELED ? cli_signal_exit() : error("%s", err.msg);
	}
	strbuf_addf(&c->staged, "; stage %.3f s%s", r.seconds, r.noop ? " (already staged)" : "");
	if (r.noop)
		say(c, "'%s' is already staged%s", r.path, r.waited ? " (by the process it waited for)" : "");
	else
		say(c, "staged '%s' in %.2fs (%.2f GB, %zu files)", r.path, r.seconds, (double)r.bytes / 1e9, r.files);
	*path = r.path;
	r.path = NULL;
	sc_result_release(&r);
	return 0;
}

/* What the options say together, before anything starts; 0 or the exit status. */
static int exec_check(const struct exec_cfg *c)
{
	if (c->stage && c->model)
		return usage_error("--stage and --model both name the model: give one");
	if (c->stage && (!c->root || !*c->root))
		return usage_error("--stage needs --root ROOT (or $STAGING_ROOT): the node's cache");
	if (c->stage_cache && (!c->root || !*c->root))
		return usage_error("--stage-cache needs --root ROOT (or $STAGING_ROOT): the node's cache");
	if ((c->cache_env || c->cache_name) && !c->stage_cache)
		return usage_error("--cache-env and --cache-name go with --stage-cache SRC");
	if (c->cacert && !(c->stage && sc_remote_kind(c->stage)) && !(c->stage_cache && sc_remote_kind(c->stage_cache)))
		return usage_error("--cacert goes with a URL --stage or --stage-cache (http://, https:// or s3://)");
	if (c->cache_name && !sc_valid_name(c->cache_name))
		return usage_error("--cache-name '%s': a name, not a path (no '/', not starting with '.')", c->cache_name);
	struct cs_err err;
	if (c->stage_cache && cc_private_check(c->stage_cache, c->cache_env, &err))
		return err.code == EINVAL ? usage_error("%s", err.msg) : error("%s", err.msg);
	if (tmpl_argv_has(c->argv, (size_t)c->argc, "cache") && !c->stage_cache)
		return usage_error("the server's arguments say {cache}: give --stage-cache SRC");
	if (tmpl_argv_has(c->argv, (size_t)c->argc, "model") && !c->stage && !c->model)
		return usage_error("the server's arguments say {model}: give --stage SRC or --model PATH");
	if (tmpl_argv_has(c->argv, (size_t)c->argc, "port") && c->port <= 0)
		return usage_error("the server's arguments say {port}: give --port N");
	struct ready_spec rs = { 0 };
	if (c->ready && ready_parse(c->ready, c->port > 0 ? (int)c->port : 1, &rs, &err))
		return usage_error("%s", err.msg);
	int rc = sv_check_port((int)c->port, c->ready ? &rs : NULL, &err);
	ready_release(&rs);
	if (rc)
		return error("%s", err.msg);
	const char *inside[] = { c->model, c->stage, c->root, c->stage_cache };
	if (c->ready_file && sv_check_ready_file(c->ready_file, inside, sizeof(inside) / sizeof(*inside), &err))
		return error("%s", err.msg);
	/* A staged model was checked by stage; one given by path is checked
	 * here, before the server spends its start on it. */
	if (c->model && rr_check_model(c->model, &err))
		return error("%s", err.msg);
	return 0;
}

/* The server run with the model held; its exit status, as a shell reports it. */
static int exec_serve(const struct exec_cfg *c, const char *model, int use_fd, const struct cc_private *xc)
{
	struct ready_spec rs;
	struct cs_err err;
	const char *spec = c->ready ? c->ready : c->port > 0 ? "http://127.0.0.1:{port}/health" : NULL;
	if (spec && ready_parse(spec, (int)c->port, &rs, &err))
		return usage_error("%s", err.msg);
	char port[32];
	snprintf(port, sizeof(port), "%ld", c->port);
	const struct tmpl_var vars[] = { { "model", model }, { "cache", xc->work }, { "port", c->port > 0 ? port : NULL } };
	char **argv = tmpl_replace_argv(c->argv, (size_t)c->argc, vars, sizeof(vars) / sizeof(*vars));
	struct sv_opts so = {
		.argv = argv, .envp = xc->envp, .hold_fd = use_fd, .ready = spec ? &rs : NULL, .ready_file = c->ready_file,
		.model = model, .prefetch_jobs = c->prefetch, .port = (int)c->port, .any_owner = c->any_owner,
		.line = stdout_line_cb, .status = on_status, .warn = warning_cb, .on_ready = on_ready, .arg = (void *)c,
	};
	struct sv_result r;
	int rc = sv_run(&so, &r, &err) ? error("%s", err.msg) : r.code;
	tmpl_argv_free(argv);
	if (spec)
		ready_release(&rs);
	return rc;
}

static int exec_run(struct exec_cfg *c)
{
	cli_catch_signals();   /* Ctrl-C while staging: the partial copy stays, resumable */
	char *model = NULL;
	if (c->stage) {
		int rc = stage_model(c, &model);
		if (rc)
			return rc;
	} else if (c->model) {
		model = xstrdup(c->model);
	}
	/* The model stays put while the server lives: the guard holds the lock
	 * until the server's last process is gone, even if exec is killed. */
	struct cs_err err;
	int use_fd = -1;
	if (model && sc_use_checked(model, warning_cb, NULL, &use_fd, &err)) {
		free(model);
		return error("%s", err.msg);
	}
	/* --stage-cache: the cache set staged, and the server's private copy. */
	struct cc_private xc = CC_PRIVATE_INIT;
	struct sc_opts co = stage_opts(c, c->stage_cache, c->cache_name);
	int rc = 0;
	if (c->stage_cache && cc_private_open(&co, c->cache_env, &xc, warning_cb, NULL, &err))
		rc = err.code == ECANCELED ? cli_signal_exit() : error("%s", err.msg);
	else if (c->stage_cache) {
		say(c, "caches: '%s' %s; the server's copy '%s' (%zu files, %.1f MB) in %.3f s", xc.staged,
		    xc.copied ? "staged" : "already staged", xc.work, xc.files, (double)xc.bytes / 1e6, xc.copy_s);
		strbuf_addf(&c->staged, "; caches %.3f s%s (%zu files, %.1f MB)", xc.stage_s + xc.copy_s,
			    xc.copied ? "" : ", already staged", xc.files, (double)xc.bytes / 1e6);
	}
	if (!rc)
		rc = exec_serve(c, model, use_fd, &xc);
	cc_private_close(&xc, warning_cb, NULL);
	sc_release(use_fd);
	free(model);
	return rc;
}

static const char *const owners[] = { "tree", "any", NULL };

int cmd_exec(int argc, char **argv)
{
	struct exec_cfg c = { .root = getenv("STAGING_ROOT"), .jobs = WP_JOBS_AUTO, .staged = STRBUF_INIT };
	const struct opt opts[] = {
		OPT_STRING_(0, "stage", &c.stage, "SRC",
			    "stage this model first (a directory, a GGUF file,\nhttps://... or s3://...) unless ROOT has it"),
		OPT_STRING_(0, "root", &c.root, "ROOT", "the node's cache (default $STAGING_ROOT)"),
		OPT_STRING_(0, "name", &c.name, "NAME", "its name there (default: from SRC, as stage names it)"),
		OPT_STRING_(0, "model", &c.model, "PATH",
			    "no staging: the model path for {model} (checked\nas 'run' checks it: a tensor defined twice, or a\n"
			    "broken header or index, is refused)"),
		OPT_INT_(0, "port", &c.port, "N", 1, 65535, "1 to 65535",
			 "for {port}, and the default readiness check (nothing\nmay listen there before the server starts)"),
		OPT_STRING_(0, "ready", &c.ready, "SPEC", "readiness check (default http://127.0.0.1:{port}/health)"),
		OPT_ENUM_(0, "ready-owner", &c.any_owner, "WHO", owners, "tree or any",
			  "tree (default): an http/tcp answer counts only if the\nlistening socket belongs to the server's process tree;\n"
			  "any: accept any answer (a server in a container whose\nport another process publishes)"),
		OPT_STRING_(0, "ready-file", &c.ready_file, "FILE",
			    "written once the server is ready, removed when it exits\n(checked before anything starts: its directory\n"
			    "must exist and be writable, and it may not be a file\nof another's nor lie in the model, the source or ROOT)",
			    .flags = OPTF_NONEMPTY),
		OPT_CALLBACK_(0, "prefetch", &c.prefetch, "JOBS", opt_prefetch_cb,
			      "warm the model's files while the server starts,\nJOBS readers (default " WP_JOBS_DEFAULT_S ")",
			      .flags = OPTF_OPTIONAL),
		OPT_JOBS_AUTO_(0, "jobs", &c.jobs, "N", WP_JOBS_MAX, "staging concurrency: auto (default) or 1 to " WP_JOBS_MAX_S),
		OPT_FLAG_(0, "verify", &c.verify, "stage with --verify xxh3"),
		OPT_STRING_(0, "stage-cache", &c.stage_cache, "SRC",
			    "also stage this compile/kernel cache set (a directory\nwith one subdirectory per --cache-env variable, or a\n"
			    "URL) into ROOT; the server gets a private copy of it\n(VAR=COPY/VAR; {cache} is COPY), removed at exit", .flags = OPTF_NONEMPTY),
		OPT_STRING_(0, "cache-env", &c.cache_env, "VARS",
			    "the variables that place the server's caches (default\n" CC_ENV_DEFAULT ")", .flags = OPTF_NONEMPTY),
		OPT_STRING_(0, "cache-name", &c.cache_name, "NAME",
			    "the cache set's name in ROOT (default: SRC's name,\nwith -caches unless it ends so)", .flags = OPTF_NONEMPTY),
		OPT_STRING_(0, "cacert", &c.cacert, "FILE",
			    "a URL to stage: verify TLS against the CA\ncertificates in FILE (PEM), a private CA (default\n"
			    "$AWS_CA_BUNDLE for s3://, then $CURL_CA_BUNDLE,\nthen $SSL_CERT_FILE, else the system's store)", .flags = OPTF_NONEMPTY),
		OPT_FLAG_(0, "no-sign-request", &c.no_sign, "an s3:// --stage or --stage-cache: requests unsigned (public)"),
		OPT_FLAG_('q', "quiet", &c.quiet, "no messages of coldstart's own (the server's output\nstill passes through)"),
		OPT_END_(),
	};
	int first = 0, prc = opts_parse_cmd(opts, &help, argc, argv, "the server's command (coldstart exec [options] -- SERVER ARGS...)",
				 &first);
	if (prc >= 0)
		return prc;
	c.argv = argv + first;
	c.argc = argc - first;
	int rc = exec_check(&c);
	if (!rc)
		rc = exec_run(&c);
	strbuf_release(&c.staged);
	return rc;
}
