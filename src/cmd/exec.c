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
	"http://127.0.0.1:{port}/health. Without either there is no check: the\n"
	"ready file is written as the server starts.\n"
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
	long port, jobs;
	int prefetch, quiet, verify;
	char **argv;                   /* the server's, after -- */
	int argc;
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

/* The server's output, on this process's stdout. */
static void on_output(const char *line, void *arg)
{
	(void)arg;
	fputs(line, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

/* "ready in 5.2 s after launch; stage ...; weights 4.100 s; graphs ..." */
static void on_ready(const struct sv_ready *r, void *arg)
{
	const struct exec_cfg *c = arg;
	struct strbuf b = STRBUF_INIT;
	strbuf_addf(&b, "ready in %.3f s after launch", r->ready_s);
	strbuf_adds(&b, c->staged.buf ? c->staged.buf : "");
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
		.cancel = &cli_signal, .notice = on_stage_notice, .notice_arg = (void *)c,
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
	if (c->ready) {
		struct ready_spec rs;
		if (ready_parse(c->ready, c->port > 0 ? (int)c->port : 1, &rs, &err))
			return usage_error("%s", err.msg);
		ready_release(&rs);
	}
	if (c->ready_file && sv_check_ready_file(c->ready_file, &err))
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
		.argv = argv, .envp = xc->envp, .hold_fd = use_fd, .ready = spec ? &rs : NULL,
		.ready_file = c->ready_file, .model = model, .prefetch_jobs = c->prefetch, .line = on_output,
		.status = on_status, .warn = warning_cb, .on_ready = on_ready, .arg = (void *)c,
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

int cmd_exec(int argc, char **argv)
{
	struct exec_cfg c = { .root = getenv("STAGING_ROOT"), .jobs = WP_JOBS_AUTO };
	const struct opt opts[] = {
		{ .type = OPT_STRING, .long_name = "stage", .argname = "SRC", .value = &c.stage,
		  .help = "stage this model first (a directory, a GGUF file,\nhttps://... or s3://...) unless ROOT has it" },
		{ .type = OPT_STRING, .long_name = "root", .argname = "ROOT", .value = &c.root,
		  .help = "the node's cache (default $STAGING_ROOT)" },
		{ .type = OPT_STRING, .long_name = "name", .argname = "NAME", .value = &c.name,
		  .help = "its name there (default: from SRC, as stage names it)" },
		{ .type = OPT_STRING, .long_name = "model", .argname = "PATH", .value = &c.model,
		  .help = "no staging: the model path for {model} (checked\nas 'run' checks it: a tensor defined twice, or a\nbroken header or index, is refused)" },
		{ .type = OPT_INT, .long_name = "port", .argname = "N", .value = &c.port, .min = 1, .max = 65535,
		  .hint = "1 to 65535", .help = "for {port}, and the default readiness check" },
		{ .type = OPT_STRING, .long_name = "ready", .argname = "SPEC", .value = &c.ready,
		  .help = "readiness check (default http://127.0.0.1:{port}/health)" },
		{ .type = OPT_STRING, .long_name = "ready-file", .argname = "FILE", .value = &c.ready_file, .flags = OPTF_NONEMPTY,
		  .help = "written once the server is ready, removed when it exits\n(checked before anything starts: its directory\nmust exist and be writable)" },
		{ .type = OPT_CALLBACK, .long_name = "prefetch", .argname = "JOBS", .value = &c.prefetch, .cb = opt_prefetch_cb,
		  .flags = OPTF_OPTIONAL,
		  .help = "warm the model's files while the server starts,\nJOBS readers (default " WP_JOBS_DEFAULT_S ")" },
		{ OPT_JOBS_AUTO, .max = WP_JOBS_MAX, .long_name = "jobs", .argname = "N", .value = &c.jobs,
		  .help = "staging concurrency: auto (default) or 1 to " WP_JOBS_MAX_S },
		{ .type = OPT_FLAG, .long_name = "verify", .value = &c.verify, .help = "stage with --verify xxh3" },
		{ .type = OPT_STRING, .long_name = "stage-cache", .argname = "SRC", .value = &c.stage_cache, .flags = OPTF_NONEMPTY,
		  .help = "also stage this compile/kernel cache set (a directory\nwith one subdirectory per --cache-env variable, or a\n"
			  "URL) into ROOT; the server gets a private copy of it\n(VAR=COPY/VAR; {cache} is COPY), removed at exit" },
		{ .type = OPT_STRING, .long_name = "cache-env", .argname = "VARS", .value = &c.cache_env, .flags = OPTF_NONEMPTY,
		  .help = "the variables that place the server's caches (default\n" CC_ENV_DEFAULT ")" },
		{ .type = OPT_STRING, .long_name = "cache-name", .argname = "NAME", .value = &c.cache_name, .flags = OPTF_NONEMPTY,
		  .help = "the cache set's name in ROOT (default: SRC's name,\nwith -caches unless it ends so)" },
		{ .type = OPT_FLAG, .short_name = 'q', .long_name = "quiet", .value = &c.quiet,
		  .help = "no messages of coldstart's own (the server's output\nstill passes through)" },
		OPT_END_(),
	};
	int first = 0;
	int prc = opts_parse_cmd(opts, &help, argc, argv, "the server's command (coldstart exec [options] -- SERVER ARGS...)",
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
