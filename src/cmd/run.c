#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "../opts.h"
#include "core/base/csvlog.h"
#include "core/stage/stagecache.h"
#include "core/base/util.h"
#include "cmds.h"
#include "runcfg.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart run --model PATH|URL [--mode LABEL] [options]\n"
	"\n"
	"One measured cold start: evict the model's pages (checked afterwards),\n"
	"launch the server in its own process group, poll readiness every 5 ms,\n"
	"record load_s (from just before exec to the first successful check) and\n"
	"the GPU memory of the server's processes, then stop the whole process\n"
	"tree and wait until its GPU memory is released. Prints load_s on stdout\n"
	"(or every field with --json); appends a CSV row with --csv.\n",
	.after = "A server that exits before ready, is not ready within --timeout, or whose\n"
	"port is taken fails the run (exit 1, the last 20 lines of its output\n"
	"shown, no row unless --record-failures). Ctrl-C stops the server tree and\n"
	"exits 130 without a row; so does a kill -9 of coldstart (a guard process\n"
	"stops the tree). The CSV is checked before launch (header, appendable,\n"
	"room); if the row still cannot be written, load_s is printed all the same\n"
	"and the row shown, exit 1. No output may name an input or another output\n"
	"(--csv, --log and the model's files).\n"
	"\n"
	"The model is checked before anything starts, as 'inspect' checks it: a\n"
	"safetensors directory or file, or a GGUF model, whose headers or index\n"
	"disagree, or that defines one tensor twice, is refused (exit 1, naming\n"
	"the file and both places). A model in another format is the server's.\n"
	"\n"
	"A URL model (s3://BUCKET/PREFIX, https://HOST/PATH/) is handed to the\n"
	"server as {model}, for servers that read it themselves (vllm serve gets\n"
	"--load-format runai_streamer for s3://); refserve and llama.cpp, which\n"
	"read local files only, are refused. Nothing of it is on this node to\n"
	"evict: the row says cold=unverified, cold_mode=remote. The URL is shown\n"
	"without its user info and query.\n"
	"\n"
	"With --caches the server's compile and kernel caches are part of the\n"
	"experiment: cold gives it fresh empty directories, warm a kept set\n"
	"(primed once, unmeasured), staged a set staged from --cache-src first;\n"
	"the row's notes say caches=STATE and what the set held (cache_files,\n"
	"cache_bytes, cache_bytes_after, cache_copy_s), and the compile and\n"
	"graph-capture phases where the server's log shows them.\n"
	"\n"
	"Examples:\n"
	"  coldstart run --model /mnt/nvme0/qwen-7b --mode nvme --csv bench.csv\n"
	"  coldstart run --model /mnt/nfs/qwen-7b --mode net --csv bench.csv \\\n"
	"      --server 'vllm serve {model} --port {port} --max-model-len {max_model_len} --enforce-eager'\n"
	"  coldstart run --model m --server './my_server --weights {model} --listen {port}' --ready tcp:{port}\n"
	"  coldstart run --model /mnt/nvme0/qwen-7b --mode nvme --caches cold --csv bench.csv\n"
	"  coldstart run --model /mnt/nvme0/qwen-7b --mode nvme --caches staged \\\n"
	"      --cache-src /mnt/nfs/caches/qwen-7b --cache-dir /mnt/nvme0/caches --csv bench.csv\n",
};

static int copy_s_cb(const struct opt *o, const char *arg)
{
	double v;
	if (parse_finite(arg, &v) || v < 0) /* never nan, inf or 0x10 into a row */
		return usage_error("invalid --copy-s '%s' (seconds, e.g. 12.5)", arg);
	*(double *)o->value = v;
	return 0;
}

int cmd_run(int argc, char **argv)
{
	struct run_cfg cfg;
	runcfg_init(&cfg);
	const char *model = NULL, *mode = "run", *cacert = NULL;
	const struct opt opts[] = {
		OPT_STRING_('m', "model", &model, "PATH",
			"model directory (or file) the server loads, or a URL\nthe server reads itself"),
		OPT_STRING_(0, "mode", &mode, "LABEL",
			"storage_mode in the CSV (default: run)", .flags = OPTF_NONEMPTY),
		OPT_CALLBACK_(0, "copy-s", &cfg.o.staged_copy_s, "SECONDS", copy_s_cb,
			"the model was staged first, taking SECONDS: the row's\nnotes get copy_s, load_s and total_s, as bench's\n"
			"staged runs do (for scripts that stage themselves)"),
		OPT_STRING_(0, "cacert", &cacert, "FILE",
			"a URL --cache-src: verify TLS against the CA\ncertificates in FILE (PEM), a private CA"
			CLI_CACERT_DEFAULTS, .flags = OPTF_NONEMPTY),
		OPT_GROUP_(runcfg_options(&cfg)),
		OPT_END_(),
	};
	int rc0 = opts_parse_none(opts, &help, argc, argv);
	if (rc0 >= 0)
		return rc0;
	if (!model)
		return usage_error("missing --model PATH");
	if (cacert && !(cfg.cc.src && sc_remote_kind(cfg.cc.src)))
		return usage_error("--cacert goes with a URL --cache-src (http://, https:// or s3://)");
	cfg.cc.cacert = cacert;
	cfg.model = model;
	if (sc_remote_kind(model) && cfg.o.prefetch > 0)
		return usage_error("--prefetch warms a model's files, and '%s' is a URL: the server reads it itself",
				   model);
	int r = runcfg_validate(&cfg, cfg.o.server && strcmp(cfg.o.server, "refserve") && strcmp(cfg.o.server, "llama.cpp")
					      ? cfg.o.server : NULL, "--server");
	const char *models[1] = { model };
	if (!r)
		r = runcfg_check_outputs(&cfg, models, 1);
	if (!r)
		r = runcfg_caches(&cfg, 1);
	if (r)
		return r;
	struct cs_err merr;
	if (rr_check_model(model, &merr))
		return error("%s", merr.msg);
	if (runcfg_check_csv(&cfg))
		return EXIT_FAIL;
	if (sc_remote_kind(model)) {
		/* A server that cannot read the URL is refused before it starts. */
		const char *const *args;
		struct cs_err e;
		if (!runcfg_server(&cfg))
			return EXIT_FAIL;
		if (rr_remote_args(cfg.o.server, cfg.o.shell, model, &args, &e))
			return usage_error("%s", e.msg);
	}
	cli_catch_signals();
	struct rr_record rec;
	json_t *j = NULL;
	int rc = runcfg_execute(&cfg, model, mode, &rec, cfg.json ? &j : NULL);
	if (cfg.json && j)
		print_json(j);
	else if (rc == 0 || (rec.res.outcome == RUN_READY && rec.res.record_failed))
		printf("%.3f\n", rec.res.load_s); /* a measurement the CSV could not take is still printed */
	rr_record_release(&rec);
	return rc;
}
