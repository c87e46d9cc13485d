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
#include "execstage.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart exec [--stage SRC] [--root ROOT] [--name NAME] [--model PATH]\n"
	"                      [--port N] [--ready SPEC] [--ready-file FILE]\n"
	"                      [--prefetch[=JOBS] | --no-prefetch] [--prefetch-budget SIZE]\n"
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
	"start warming the model's files unless they are resident, then run the\n"
	"server in the foreground, its output on this process's stdout, with the\n"
	"model's use lock held for its whole life (no 'cache rm' or eviction takes\n"
	"it away). The prefetch reads ahead of the server in the order its engine\n"
	"reads (safetensors: the shards by name, each one's tensors by offset;\n"
	"GGUF: the parts, the tensors by offset), skips what the page cache holds,\n"
	"and reads no more than memory allows beside the server (MemAvailable less\n"
	"a tenth of memory, at least 1 GiB, kept for the server; --prefetch-budget\n"
	"lowers it): a model larger than that warms its first part only, and the\n"
	"phase log says how much, the budget and why (--no-prefetch: none).\n"
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
	"      --ready-file /run/coldstart/ready -- \\\n"
	"      vllm serve {model} --port {port} --max-model-len 8192\n"
	"  coldstart exec --stage /mnt/nfs/qwen-7b --stage-cache /mnt/nfs/caches/qwen-7b \\\n"
	"      --root /mnt/nvme/cache --port 8000 -- vllm serve {model} --port {port}\n"
	"  coldstart exec --stage /mnt/nfs/qwen.gguf --root /mnt/nvme/cache --port 8080 -- \\\n"
	"      llama-server -m {model} --port {port}\n"
	"  coldstart exec --model /mnt/nfs/qwen-72b --prefetch=16 --prefetch-budget 40G \\\n"
	"      --port 8000 -- vllm serve {model} --port {port}\n",
};

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

/* What the options say together, before anything starts; 0 or the exit status. */
static int exec_check(const struct exec_cfg *c)
{
	if (c->stage && c->model)
		return usage_error("--stage and --model both name the model: give one");
	if (c->no_prefetch && (c->prefetch_given || c->prefetch_cap))
		return usage_error("--no-prefetch goes with neither --prefetch nor --prefetch-budget");
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
		.model = model, .prefetch_jobs = c->no_prefetch ? 0 : c->prefetch, .prefetch_cap = c->prefetch_cap,
		.port = (int)c->port, .any_owner = c->any_owner,
		.line = stdout_line_cb, .status = exec_on_status, .warn = warning_cb, .on_ready = on_ready, .arg = (void *)c,
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
		int rc = exec_stage_model(c, &model);
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
	struct cc_private xc = CC_PRIVATE_INIT;
	int rc = c->stage_cache ? exec_stage_caches(c, &xc) : 0;
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
	struct exec_cfg c = { .root = getenv("STAGING_ROOT"), .jobs = WP_JOBS_AUTO, .prefetch = WP_JOBS_DEFAULT,
			      .staged = STRBUF_INIT };
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
			      "the prefetch's readers (default " WP_JOBS_DEFAULT_S "; it runs unless the\nmodel is resident)",
			      .flags = OPTF_OPTIONAL, .seen = &c.prefetch_given),
		OPT_FLAG_(0, "no-prefetch", &c.no_prefetch, "do not warm the model's files while the server starts"),
		OPT_SIZE_(0, "prefetch-budget", &c.prefetch_cap, "SIZE", 1, 0, "e.g. 40G",
			  "read ahead at most SIZE (default: what memory allows)"),
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
			    "a URL to stage: verify TLS against the CA\ncertificates in FILE (PEM), a private CA"
			    CLI_CACERT_DEFAULTS, .flags = OPTF_NONEMPTY),
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
