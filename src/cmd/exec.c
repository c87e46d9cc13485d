/* coldstart exec: the production form of a cold start -- stage, then run the server in the foreground. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../cli.h"
#include "../opts.h"
#include "core/bench/caches.h"
#include "core/base/fsutil.h"
#include "core/io/pagecache.h"
#include "core/run/phases.h"
#include "core/run/proc.h"
#include "core/run/ready.h"
#include "core/bench/runrec.h"
#include "core/run/srvlog.h"
#include "core/stage/stagecache.h"
#include "core/base/strbuf.h"
#include "core/base/util.h"
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

/* Signals for the server, taken from the handler to the main loop. */
static volatile sig_atomic_t pending[65];
static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void on_signal(int sig)
{
	if (sig > 0 && sig < 65)
		pending[sig] = 1;
}

struct exec_cfg {
	const char *stage, *root, *name, *model, *ready, *ready_file;
	const char *stage_cache, *cache_env, *cache_name;
	long port, jobs;
	int prefetch, quiet, verify;
	char **argv;                   /* the server's, after -- */
	int argc;
};

static void say(const struct exec_cfg *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct exec_cfg *c, const char *fmt, ...)
{
	if (c->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("coldstart: exec: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void on_stage_notice(const char *msg, void *arg)
{
	say(arg, "stage: %s", msg);
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
static int stage_model(const struct exec_cfg *c, char **path, double *seconds, int *copied)
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
		sc_result_free(&r);
		return err.code == ECANCELED ? cli_signal_exit() : error("%s", err.msg);
	}
	*seconds = r.seconds;
	*copied = !r.noop;
	if (r.noop)
		say(c, "'%s' is already staged%s", r.path, r.waited ? " (by the process it waited for)" : "");
	else
		say(c, "staged '%s' in %.2fs (%.2f GB, %zu files)", r.path, r.seconds, (double)r.bytes / 1e9, r.files);
	*path = r.path;
	r.path = NULL;
	sc_result_free(&r);
	return 0;
}

/* Each argument with {model}, {cache} and {port} replaced. */
static char **server_argv(const struct exec_cfg *c, const char *model, const char *cache)
{
	char port[32];
	snprintf(port, sizeof(port), "%ld", c->port);
	char **av = xcalloc((size_t)c->argc + 1, sizeof(char *));
	for (int i = 0; i < c->argc; i++) {
		struct strbuf b = STRBUF_INIT;
		for (const char *s = c->argv[i]; *s;) {
			if (!strncmp(s, "{model}", 7) && model) {
				strbuf_adds(&b, model);
				s += 7;
			} else if (!strncmp(s, "{cache}", 7) && cache) {
				strbuf_adds(&b, cache);
				s += 7;
			} else if (!strncmp(s, "{port}", 6) && c->port > 0) {
				strbuf_adds(&b, port);
				s += 6;
			} else {
				strbuf_addch(&b, *s++);
			}
		}
		av[i] = strbuf_detach(&b);
	}
	return av;
}

/* The server's output, passed through; its phases read on the way. */
struct relay {
	struct phases ph;
	uint64_t t0;
	pthread_mutex_t mu;
};

static void on_line(const char *line, uint64_t t_ns, void *arg)
{
	struct relay *r = arg;
	fputs(line, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_lock(&r->mu);
	phases_line(&r->ph, line, t_ns >= r->t0 ? (double)(t_ns - r->t0) / 1e9 : 0);
	pthread_mutex_unlock(&r->mu);
}

static int write_ready_file(const char *path, double ready_s, const char *model, pid_t pid)
{
	json_t *j = json_pack("{s:f, s:s?, s:I}", "ready_s", ready_s, "model", model, "pid", (json_int_t)pid);
	char *dump = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	char *text = xasprintf("%s\n", dump);
	free(dump);
	/* Atomic, and a temporary left by a kill is swept by the next exec. */
	struct cs_err err;
	int rc = fs_write_file_sync(path, text, strlen(text), &err);
	if (rc)
		warning("cannot write the ready file: %s", err.msg);
	free(text);
	return rc;
}

/* "; weights 4.100 s; graphs 2.000 s" from what the server's log said. */
static void phase_summary(struct strbuf *b, const struct phases *ph)
{
	const struct { const char *name; double v; } parts[] = {
		{ "weights", ph->weights_s }, { "model load", ph->model_load_s }, { "compile", ph->compile_s },
		{ "graphs", ph->graph_s },     { "engine init", ph->engine_init_s },
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++)
		if (parts[i].v >= 0)
			strbuf_addf(b, "; %s %.3f s", parts[i].name, parts[i].v);
	if (ph->ctx_len >= 0)
		strbuf_addf(b, "; context %.0f tokens", ph->ctx_len);
}

/* The ready file can be written where it is asked for: checked before
 * anything is staged or started, since a startup probe that waits for a
 * file that can never appear waits forever. 0, or exit 1 after saying so. */
static int check_ready_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return error("cannot write the ready file '%s': it is a directory", path);
	if (fs_probe_write(path) == 0)
		return 0;
	int e = errno;
	return error("cannot write the ready file '%s': %s%s", path, strerror(e),
		     e == ENOENT ? " (its directory does not exist)" : "");
}

/* Run the server until it exits; its exit status, as a shell reports it. */
struct exec_caches {
	char *staged;                  /* ROOT/NAME, the staged set (locked) */
	char *work;                    /* ROOT/.work/NAME-XXXXXX: the server's copy */
	char **envp;
	int use_fd, lock_fd;           /* the staged set's use lock; the copy's flock */
	double stage_s, copy_s;
	int copied;
	size_t files;
	uint64_t bytes;
};

static int supervise(const struct exec_cfg *c, char **argv, const char *model, int use_fd, double stage_s,
		     int copied, const struct exec_caches *xc)
{
	struct ready_spec rs;
	int have_rs = 0;
	struct cs_err err;
	const char *spec = c->ready ? c->ready : c->port > 0 ? "http://127.0.0.1:{port}/health" : NULL;
	if (spec) {
		if (ready_parse(spec, (int)c->port, &rs, &err))
			return usage_error("%s", err.msg);
		have_rs = 1;
	}
	if (c->ready_file)
		unlink(c->ready_file);   /* a file left by an earlier life is not this server's readiness */
	struct pc_set set;
	int want_prefetch = 0;
	if (c->prefetch > 0 && model) {
		char *paths[1] = { (char *)model };
		want_prefetch = pc_collect(paths, 1, &set, &err) == 0;
		if (!want_prefetch)
			warning("no prefetch: %s", err.msg);
	}
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++) {
		struct sigaction sa = { .sa_handler = on_signal };
		sigemptyset(&sa.sa_mask);
		sigaction(forwarded[i], &sa, NULL);
	}
	fflush(NULL);
	struct proc p;
	if (proc_spawn_env(&p, argv, xc->envp, use_fd, &err)) {
		if (want_prefetch)
			pc_set_free(&set);
		if (have_rs)
			ready_free(&rs);
		return error("%s", err.msg);
	}
	struct pc_prefetch pf;
	memset(&pf, 0, sizeof(pf));
	if (want_prefetch)
		pc_prefetch_start(&pf, &set, c->prefetch);
	struct relay rl = { .t0 = p.exec_ns, .mu = PTHREAD_MUTEX_INITIALIZER };
	phases_init(&rl.ph);
	struct srvlog log;
	int have_log = srvlog_start(&log, p.out_fd, NULL, p.exec_ns, have_rs && rs.kind == READY_LOG ? &rs.re : NULL,
				    on_line, &rl, &err) == 0;
	p.out_fd = -1;
	if (!have_log)
		warning("cannot read the server's output: %s", err.msg);
	say(c, "started pid %ld: %s", (long)p.pid, argv[0]);
	int ready = 0;
	if (!have_rs) {
		ready = 1;
		if (c->ready_file)
			write_ready_file(c->ready_file, 0, model, p.pid);
	}
	while (!proc_reap(&p)) {
		for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++) {
			int sig = forwarded[i];
			if (pending[sig]) {
				pending[sig] = 0;
				kill(-p.pid, sig);
				say(c, "passed signal %d (%s) to the server", sig, strsignal(sig));
			}
		}
		if (!ready) {
			int ok = rs.kind == READY_LOG ? have_log && srvlog_match_ns(&log) != 0 : ready_check(&rs, 1000000000ull);
			if (ok) {
				ready = 1;
				double t = (double)(now_ns() - p.exec_ns) / 1e9;
				if (c->ready_file)
					write_ready_file(c->ready_file, t, model, p.pid);
				struct strbuf b = STRBUF_INIT;
				strbuf_addf(&b, "ready in %.3f s after launch", t);
				if (c->stage)
					strbuf_addf(&b, "; stage %.3f s%s", stage_s, copied ? "" : " (already staged)");
				if (xc->work)
					strbuf_addf(&b, "; caches %.3f s%s (%zu files, %.1f MB)", xc->stage_s + xc->copy_s,
						    xc->copied ? "" : ", already staged", xc->files, (double)xc->bytes / 1e6);
				if (pf.started)
					strbuf_addf(&b, "; prefetch %s", pf.done_ns ? "done" : "still warming");
				pthread_mutex_lock(&rl.mu);
				phase_summary(&b, &rl.ph);
				pthread_mutex_unlock(&rl.mu);
				say(c, "%s", b.buf);
				strbuf_release(&b);
				continue;
			}
		}
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	int st = p.leader_status;
	if (c->ready_file)
		unlink(c->ready_file);
	pc_prefetch_stop(&pf);
	if (have_log) {
		srvlog_stop(&log, 2000000000ull);
		srvlog_free(&log);
	}
	proc_free(&p);   /* what the server left behind goes with it */
	if (have_rs)
		ready_free(&rs);
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
	say(c, "the server exited %s %d%s", WIFSIGNALED(st) ? "on signal" : "with status",
	    WIFSIGNALED(st) ? WTERMSIG(st) : code, ready ? "" : ", before it was ready");
	return code;
}

/* --stage-cache: the cache set staged into ROOT like a model (kind dir),
 * held by its use lock, and a private copy of it for the server under
 * ROOT/.work (locked while used, removed at exit; copies nobody holds --
 * left by an exec that was killed -- are removed first). */
static int stage_caches(const struct exec_cfg *c, struct exec_caches *xc)
{
	char *base = sc_default_name(c->stage_cache);
	size_t bl = base ? strlen(base) : 0;
	char *name = c->cache_name		      ? xstrdup(c->cache_name)
		     : bl >= 6 && !strcmp(base + bl - 6, "caches") ? xstrdup(base)
								   : xasprintf("%s-caches", base ? base : "model");
	free(base);
	struct sc_opts o = stage_opts(c, c->stage_cache, name);
	o.kind_dir = 1;
	struct sc_result r;
	struct cs_err err;
	int rc = sc_stage(&o, &r, &err);
	if (rc) {
		free(name);
		sc_result_free(&r);
		return err.code == ECANCELED ? cli_signal_exit() : error("staging the caches: %s", err.msg);
	}
	xc->staged = r.path;
	r.path = NULL;
	xc->stage_s = r.seconds;
	xc->copied = !r.noop;
	sc_result_free(&r);
	xc->use_fd = sc_use(xc->staged, &err);
	if (xc->use_fd == -2) {
		free(name);
		if (err.code == EBADMSG)
			return error("%s", err.msg);
		warning("%s", err.msg);
		xc->use_fd = -1;
	}
	/* Absolute: the server may change its directory. */
	char *aroot = fs_canonical(c->root);
	char *wroot = path_join(aroot ? aroot : c->root, ".work");
	free(aroot);
	if (fs_mkdir_last(wroot, 0755) < 0) {
		int e = errno;
		free(name);
		error("cannot create '%s': %s", wroot, strerror(e));
		free(wroot);
		return EXIT_FAIL;
	}
	cc_remove_unlocked(wroot, name, NULL, NULL);
	xc->work = cc_private_dir(wroot, name, &xc->lock_fd, &err);
	free(wroot);
	free(name);
	if (!xc->work)
		return error("%s", err.msg);
	uint64_t t0 = now_ns();
	if (cc_copy_tree(xc->staged, xc->work, &xc->bytes, &xc->files, &err) ||
	    cc_make_dirs(c->cache_env, xc->work, &err))
		return error("the server's copy of the caches: %s", err.msg);
	xc->copy_s = (double)(now_ns() - t0) / 1e9;
	xc->envp = cc_envp(c->cache_env, xc->work);
	say(c, "caches: '%s' %s; the server's copy '%s' (%zu files, %.1f MB) in %.3f s", xc->staged,
	    xc->copied ? "staged" : "already staged", xc->work, xc->files, (double)xc->bytes / 1e6, xc->copy_s);
	return 0;
}

static void caches_done(struct exec_caches *xc)
{
	if (xc->work && fs_remove_tree(xc->work))
		warning("cannot remove the server's copy of the caches '%s': %s", xc->work, strerror(errno));
	if (xc->lock_fd >= 0)
		close(xc->lock_fd);
	sc_release(xc->use_fd);
	cc_envp_free(xc->envp);
	free(xc->staged);
	free(xc->work);
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
		{ .type = OPT_FLAG, .long_name = "verify", .value = &c.verify,
		  .help = "stage with --verify xxh3" },
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
	if (c.stage && c.model)
		return usage_error("--stage and --model both name the model: give one");
	if (c.stage && (!c.root || !*c.root))
		return usage_error("--stage needs --root ROOT (or $STAGING_ROOT): the node's cache");
	if (c.stage_cache && (!c.root || !*c.root))
		return usage_error("--stage-cache needs --root ROOT (or $STAGING_ROOT): the node's cache");
	if ((c.cache_env || c.cache_name) && !c.stage_cache)
		return usage_error("--cache-env and --cache-name go with --stage-cache SRC");
	if (c.cache_name && !sc_valid_name(c.cache_name))
		return usage_error("--cache-name '%s': a name, not a path (no '/', not starting with '.')", c.cache_name);
	struct cs_err cerr;
	if (c.stage_cache) {
		enum cc_state stg = CC_STAGED;
		struct cc_opts co = { .env = c.cache_env, .src = c.stage_cache };
		if (cc_check(&co, &stg, 1, &cerr))
			return cerr.code == EINVAL ? usage_error("%s", cerr.msg) : error("%s", cerr.msg);
	}
	int uses_model = 0, uses_port = 0, uses_cache = 0;
	for (int i = 0; i < c.argc; i++) {
		uses_model |= strstr(c.argv[i], "{model}") != NULL;
		uses_port |= strstr(c.argv[i], "{port}") != NULL;
		uses_cache |= strstr(c.argv[i], "{cache}") != NULL;
	}
	if (uses_cache && !c.stage_cache)
		return usage_error("the server's arguments say {cache}: give --stage-cache SRC");
	if (uses_model && !c.stage && !c.model)
		return usage_error("the server's arguments say {model}: give --stage SRC or --model PATH");
	if (uses_port && c.port <= 0)
		return usage_error("the server's arguments say {port}: give --port N");
	if (c.ready) {
		struct ready_spec rs;
		struct cs_err err;
		if (ready_parse(c.ready, c.port > 0 ? (int)c.port : 1, &rs, &err))
			return usage_error("%s", err.msg);
		ready_free(&rs);
	}
	if (c.ready_file && check_ready_file(c.ready_file))
		return EXIT_FAIL;
	/* A staged model was checked by stage; one given by path is checked
	 * here, before the server spends its start on it. */
	if (c.model && rr_check_model(c.model, &cerr))
		return error("%s", cerr.msg);
	cli_catch_signals();   /* Ctrl-C while staging: the partial copy stays, resumable */
	char *model = NULL;
	double stage_s = 0;
	int copied = 0;
	if (c.stage) {
		int rc = stage_model(&c, &model, &stage_s, &copied);
		if (rc)
			return rc;
	} else if (c.model) {
		model = xstrdup(c.model);
	}
	/* The model stays put while the server lives: the guard holds the lock
	 * until the server's last process is gone, even if exec is killed. */
	struct cs_err err;
	int use_fd = model ? sc_use(model, &err) : -1;
	if (use_fd == -2) {
		int rc = err.code == EBADMSG ? error("%s", err.msg) : (warning("%s", err.msg), 0);
		if (rc) {
			free(model);
			return rc;
		}
		use_fd = -1;
	}
	struct exec_caches xc = { .use_fd = -1, .lock_fd = -1 };
	if (c.stage_cache) {
		int rc = stage_caches(&c, &xc);
		if (rc) {
			caches_done(&xc);
			sc_release(use_fd);
			free(model);
			return rc;
		}
	}
	char **sargv = server_argv(&c, model, xc.work);
	int rc = supervise(&c, sargv, model, use_fd, stage_s, copied, &xc);
	caches_done(&xc);
	for (int i = 0; i < c.argc; i++)
		free(sargv[i]);
	free(sargv);
	sc_release(use_fd);
	free(model);
	return rc;
}
