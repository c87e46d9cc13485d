#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cli.h"
#include "../opts.h"
#include "core/bench/bench.h"
#include "core/bench/bench_rate.h"
#include "core/bench/bench_netsim.h"
#include "core/report/report.h"
#include "core/stage/stagecache.h"
#include "core/base/util.h"
#include "cmds.h"
#include "benchout.h"
#include "runcfg.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart bench [--nvme PATH] [--net PATH] [--modes nvme,net]\n"
	"                       [--repeat N] [--order interleave|grouped|random]\n"
	"                       [--until-confident [--max-repeat N]] [options]\n"
	"\n"
	"The seed's Tier 1 experiment: cold starts of the same model from local NVMe\n"
	"and from a network path, repeated, in interleaved order (nvme, net, nvme,\n"
	"net, ...) so that drift on the machine hits both modes alike. Each run is a\n"
	"`coldstart run` (cache evicted and checked first) appending one row to the\n"
	"CSV. At the end a summary per mode: runs, median / min / max load_s, and\n"
	"the net/nvme ratio and difference of the medians with their 95 %\n"
	"bootstrap interval (as the report's). Every run option below applies;\n"
	"--csv defaults to storage_layout_bench.csv, and --log names the directory\n"
	"of the per-run logs (default coldstart-logs/ next to the CSV).\n",
	.after = "Paths that are missing or not model directories are refused before\n"
	"anything runs, and so are an --nvme and a --net that do not hold the same\n"
	"model: the same file names and sizes, and for two paths the same bytes by\n"
	"a sampled XXH3 of each file (8 x 64 KiB from its start to its end); a URL\n"
	"--net is compared by its listing (names, sizes). The sidecar records what\n"
	"was compared. A failed run stops the bench (exit 1); rows of the runs\n"
	"before it stay in the CSV.\n"
	"\n"
	"Credentials: a URL's user info and query (passwords, tokens, presigned\n"
	"signatures) appear in no output, row, sidecar, report or log, and not on\n"
	"the server's command line: a net run's {model} is the URL without them,\n"
	"the whole URL is in the server's environment as $COLDSTART_MODEL_URL.\n"
	"\n"
	"Examples:\n"
	"  MODEL_PATH_NVME=/mnt/nvme0/qwen-7b MODEL_PATH_NET=/mnt/nfs/qwen-7b coldstart bench\n"
	"  coldstart bench --nvme /mnt/nvme0/m --net /mnt/efs/m --repeat 5 --max-model-len 8192\n",
};

/* Everything checked before the first run; the simulated path mounted. */
static int setup(struct bench *b, struct run_cfg *cfg, const char *modes_arg, const char *ns_profile,
		 struct bench_netsim *ns, char **net_note)
{
	struct cs_err err;
	if (bench_add_modes(b, modes_arg, &err))
		return usage_error("%s", err.msg);
	int rc0 = runcfg_caches(cfg, CC_MAX_STATES);
	if (rc0)
		return rc0;
	b->run.caches = cfg->o.caches;
	bench_add_caches(b, cfg->states, cfg->nstates);
	const char *models[2] = { b->nvme, b->net_pending || b->net_remote ? NULL : b->net };
	int rc = runcfg_check_outputs(cfg, models, 2);
	if (rc)
		return rc;
	if (bench_check_paths(b, &err))
		return error("%s", err.msg);
	if (runcfg_check_csv(cfg))
		return EXIT_FAIL;
	cfg->model = b->nvme ? b->nvme : b->net;
	b->run.server = runcfg_server(cfg);
	if (!b->run.server)
		return EXIT_FAIL;
	if (bench_prepare(b, &err))
		return err.code == EINVAL ? usage_error("%s", err.msg) : error("%s", err.msg);
	/* Mounted before the first server starts: the daemon must not become
	 * a descendant of this process once it is a child subreaper. */
	if (b->net_pending && bench_uses_net(b)) {
		if (bench_netsim_mount(ns, "/proc/self/exe", b->nvme, ns_profile, &err))
			return error("%s", err.msg);
		if (!cfg->quiet)
			fprintf(stderr, "coldstart: bench: net path: netsim:%s over '%s' at '%s'\n", ns_profile, ns->src,
				ns->mountpoint);
		if (bench_use_netsim(b, ns, net_note, &err))
			return error("%s", err.msg);
	}
	/* Before anything is measured: one model behind every mode. */
	if (bench_check_models(b, &err))
		return error("%s", err.msg);
	return 0;
}

/* --nvme and --net: paths, netsim (mounted later) or a URL. 0 or a usage error. */
static int set_paths(struct bench *b, const char *nvme, const char *net, const char **ns_profile, char **net_note)
{
	struct cs_err err;
	if (bench_set_paths(b, nvme, net, ns_profile, net_note, &err))
		return usage_error("%s", err.msg);
	if (b->net_remote)
		b->stage_bearer = getenv("HF_TOKEN");
	return 0;
}

/* --cacert: with a URL to fetch, not with --insecure; the cache set's
 * fetch trusts it too. 0 or a usage error. */
static int check_cacert(struct bench *b, struct run_cfg *cfg)
{
	if (!b->stage_cacert)
		return 0;
	if (!b->net_remote && !(cfg->cc.src && sc_remote_kind(cfg->cc.src)))
		return usage_error("--cacert goes with a URL --net or --cache-src (http://, https:// or s3://)");
	if (b->stage_insecure)
		return usage_error("--cacert and --insecure: one or the other");
	cfg->cc.cacert = b->stage_cacert;
	return 0;
}

/* --no-sign-request: with an s3:// --net or --cache-src. */
static int check_no_sign(struct bench *b, struct run_cfg *cfg)
{
	if (!b->stage_no_sign)
		return 0;
	int net = b->net && !strncmp(b->net, "s3://", 5), cache = cfg->cc.src && !strncmp(cfg->cc.src, "s3://", 5);
	if (!net && !cache)
		return usage_error("--no-sign-request goes with an s3:// --net or --cache-src");
	cfg->cc.no_sign = cache;
	return 0;
}

/* The checks, the sidecar, the runs and what follows them. */
static int run_bench(struct bench *b, struct run_cfg *cfg, struct bench_cli *c, const char *modes_arg,
		     const char *ns_profile, struct bench_netsim *ns, char **net_note, int argc, char **argv)
{
	char *name = NULL;
	int rc = setup(b, cfg, modes_arg, ns_profile, ns, net_note);
	if (rc)
		return rc;
	/* One model, one name in every row, whichever path a mode reads. */
	if (!b->run.name && !(getenv("MODEL_NAME") && *getenv("MODEL_NAME")))
		b->run.name = name = sc_default_name(b->nvme ? b->nvme : bench_arm_path(b, &b->arms[0]));
	struct cs_err err;
	int meta_rc = bench_write_meta(b, argc, argv, &err);
	if (meta_rc)
		warning("%s", err.msg);
	cli_catch_signals();
	if (!meta_rc && bench_record_rates(b, &err)) /* each path's cold read rate, for the report's floor */
		return err.code == ECANCELED ? cli_signal_exit() : error("%s", err.msg);
	c->all = cfg->json ? json_array() : NULL;
	cfg->quiet = 1; /* per-run chatter off; one line per run here instead */
	rc = bench_run_until(b, &err);
	if (rc < 0)
		rc = err.code == ECANCELED ? cli_signal_exit() : error("%s", err.msg);
	rc = bench_finish(b, c, ns, rc);
	free(name);
	return rc;
}

int cmd_bench(int argc, char **argv)
{
	struct run_cfg cfg;
	runcfg_init(&cfg);
	cfg.o.csv = "storage_layout_bench.csv";
	struct bench b = BENCH_INIT;
	const char *nvme = getenv("MODEL_PATH_NVME"), *net = getenv("MODEL_PATH_NET"), *modes_arg = NULL;
	b.stage_root = getenv("STAGING_ROOT");
	b.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	int order_i = 0;
	long stage_jobs = BENCH_STAGE_JOBS_DEFAULT, repeat = BENCH_REPEAT_DEFAULT, max_repeat = 0, width = 0;
	static const char *const orders[] = { "interleave", "grouped", "random", NULL };
	static const char *const caches[] = { "cold", "warm", NULL };
	const struct opt opts[] = {
		OPT_STRING_(0, "nvme", &nvme, "PATH", "model directory on local NVMe (default $MODEL_PATH_NVME)"),
		OPT_STRING_(0, "net", &net, "PATH",
			"the same model on a network path (default $MODEL_PATH_NET);\nnetsim[:PROFILE] mounts a simulated "
			"network path over\nthe NVMe copy for the bench (the default when no net\npath is given; PROFILE "
			"defaults to nfs-10g); or a URL,\ns3://BUCKET/PREFIX or https://HOST/PATH/: net runs hand\nit to "
			"the server as {model} (vllm: --load-format\nrunai_streamer for s3), staged runs stage from it\n"
			"(the settings of 'coldstart stage'; notes: net=s3)"),
		OPT_FLAG_(0, "allow-different-models", &b.allow_model_mismatch,
			"run even when the files behind --nvme and --net differ\n(names, sizes, sampled bytes): a "
			"warning, and the\nsidecar records the differences"),
		OPT_FLAG_(0, "insecure", &b.stage_insecure, "a URL --net: no TLS certificate verification"),
		OPT_FLAG_(0, "no-sign-request", &b.stage_no_sign, "an s3:// --net or --cache-src: requests unsigned\n(a public bucket), no credentials looked for"),
		OPT_STRING_(0, "cacert", &b.stage_cacert, "FILE",
			"a URL --net or --cache-src: verify TLS against the\nCA certificates in FILE (PEM), a private CA"
			CLI_CACERT_DEFAULTS,
			.flags = OPTF_NONEMPTY),
		OPT_STRING_(0, "modes", &modes_arg, "LIST", "which modes to run, comma-separated (default nvme,net):\n"
			"  nvme     the model on local NVMe\n"
			"  nvme+prefetch  nvme, with --prefetch's parallel warm\n"
			"           overlapping the server's start-up\n"
			"  net      the model on the network path\n"
			"  staged   stage net -> --stage-root (timed: copy_s),\n"
			"           then start from the staged copy (load_s);\n"
			"           notes: copy_s, load_s, total_s\n"
			"  net+prefetch  net, with --prefetch's parallel warm\n"
			"           overlapping the server's start-up\n"
			"  runtime  the server with no weight loading"),
		OPT_STRING_(0, "stage-root", &b.stage_root, "DIR",
			"where staged runs copy to (default $STAGING_ROOT, else\ncoldstart-staged/ next to the NVMe model); "
			"each run\nstages into a fresh name, removed after the run"),
		OPT_JOBS_(0, "stage-jobs", &stage_jobs, "N",
			"copy threads of staged runs (default " WP_JOBS_DEFAULT_S ")"),
		OPT_FLAG_(0, "stage-direct", &b.stage_direct, "staged runs copy with O_DIRECT (stage --direct)"),
		OPT_ENUM_(0, "staged-cache", &b.staged_warm, "C", caches, "cold or warm",
			"cold (default): evict the staged copy before the\nserver starts; warm: start on the pages the copy\n"
			"left in the cache (no eviction)"),
		OPT_STRING_(0, "runtime-server", &b.runtime_server, "T",
			"the server template for mode 'runtime': the server\nwithout weight loading (default: refserve "
			"--dummy,\nor vllm --load-format dummy)"),
		OPT_INT_('n', "repeat", &repeat, "N", 1, 10000, "1 to 10000", "runs per mode (default 3)"),
		OPT_FLAG_(0, "until-confident", &b.until_confident, "after the --repeat rounds, whole rounds until the 95 %\n"
			"intervals of net vs nvme and staged vs net are within\n--confidence-width of the median"),
		OPT_INT_(0, "max-repeat", &max_repeat, "N", 1, 10000, "1 to 10000",
			"--until-confident: rounds at most (default 10; never\nfewer than --repeat)"),
		OPT_INT_(0, "confidence-width", &width, "PCT", 1, 100, "1 to 100",
			"--until-confident: the interval's half-width, % of\nthe baseline's median (default 5)"),
		OPT_ENUM_(0, "order", &order_i, "ORDER", orders, "interleave, grouped or random",
			"interleave (default), grouped, or random"),
		OPT_U64_(0, "seed", &b.seed, "N", "a non-negative integer", "seed for --order random (default: time)"),
		OPT_GROUP_(runcfg_options(&cfg)),
		OPT_END_(),
	};
	int prc = opts_parse_none(opts, &help, argc, argv);
	if (prc >= 0)
		return prc;
	cfg.o.log_is_dir = 1; /* one log per run: --log names their directory */
	int rc = runcfg_validate(&cfg, cfg.o.server && strcmp(cfg.o.server, "refserve") && strcmp(cfg.o.server, "llama.cpp")
						 ? cfg.o.server : NULL, "--server");
	if (!rc)
		rc = runcfg_validate(&cfg, b.runtime_server, "--runtime-server");
	if (rc)
		return rc;
	b.run = cfg.o;
	const char *ns_profile = NULL;
	char *net_note = NULL;
	struct bench_netsim ns = { NULL, NULL, NULL, NULL };
	rc = set_paths(&b, nvme, net, &ns_profile, &net_note);
	if (!rc)
		rc = check_cacert(&b, &cfg);
	if (!rc)
		rc = check_no_sign(&b, &cfg);
	if (rc) {
		free(b.net_shown);
		return rc;
	}
	b.repeat = (size_t)repeat;
	b.max_repeat = (size_t)max_repeat, b.confidence_pct = (double)width; /* 0: the defaults */
	b.order = (enum bench_order)order_i;
	b.stage_jobs = (int)stage_jobs;
	struct bench_cli c = { &cfg, cfg.quiet, NULL };
	b.cb = (struct bench_cb){ bench_on_progress, bench_on_notice, bench_on_run_start, bench_on_run_done, &c };
	rc = run_bench(&b, &cfg, &c, modes_arg, ns_profile, &ns, &net_note, argc, argv);
	struct cs_err uerr;
	if (bench_netsim_unmount(&ns, &uerr))
		warning("%s", uerr.msg);
	bench_release(&b);
	free(net_note);
	return rc;
}
