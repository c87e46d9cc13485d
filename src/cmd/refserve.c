#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../cli.h"
#include "../opts.h"
#include "core/load/cuda.h"
#include "core/load/loader.h"
#include "core/load/refserve.h"
#include "core/model/model.h"
#include "core/stage/stagecache.h"
#include "core/load/tp.h"
#include "core/base/util.h"
#include "cmds.h"
#include "loadcfg.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart refserve MODEL_DIR [--port N] [--host ADDR] [--device auto|cuda|host]\n"
	"                          [--jobs N] [--chunk SIZE] [--dummy] [--verify]\n"
	"                          [--served-model-name NAME] [--max-model-len N] [--tp N [--gpus LIST]]\n"
	"\n"
	"The reference server: validates a safetensors checkpoint (as 'inspect'),\n"
	"loads every tensor byte into GPU memory (or host memory) as fast as the\n"
	"hardware allows, then answers GET /health (200) and GET /v1/models until\n"
	"SIGTERM or SIGINT (exit 0, memory freed). Its time to ready is the floor\n"
	"any inference server can reach from this storage; `run` and `bench` use\n"
	"it when no --server is given and vLLM is not installed. It logs the lines\n"
	"vLLM logs ('Starting to load model', 'Loading weights took', 'Model\n"
	"loading took', 'Application startup complete.'), and the context a server\n"
	"would be started with, --max-model-len, as vLLM logs the one it uses\n"
	"('Using max model len N'): run and bench record it.\n"
	"\n"
	"--tp N loads it tensor-parallel over N ranks, as vLLM splits a\n"
	"Llama-family model: q/gate/up projections by rows, k/v by key/value\n"
	"heads (replicated when there are fewer heads than ranks), o/down\n"
	"projections by columns, the embedding and lm_head by vocabulary rows,\n"
	"norms whole on every rank. Rank r's slices go to GPU r (or --gpus'\n"
	"r-th entry; a device may be named twice), or into host memory with\n"
	"--device host. The files are read once: each chunk read is copied to\n"
	"every rank that holds part of it. /health answers once every rank has\n"
	"loaded; --verify checks every rank's slices against the files; the log\n"
	"and /v1/models say how the model was split.\n",
	.after = "Example:\n"
	"  coldstart refserve /mnt/nvme0/qwen-7b --port 8000 &\n"
	"  curl -s localhost:8000/v1/models\n"
	"  coldstart refserve /mnt/nvme0/llama-70b --tp 8 --port 8000\n",
};

static void srvlogf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void srvlogf(const char *fmt, ...)
{
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	char ts[32];
	strftime(ts, sizeof(ts), "%m-%d %H:%M:%S", &tm);
	printf("INFO %s [refserve] ", ts);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void on_log(const char *msg, void *arg)
{
	(void)arg;
	srvlogf("%s", msg);
}

/* uvicorn's lines, as vLLM's server prints them. */
static void on_event(const char *msg, void *arg)
{
	(void)arg;
	printf("INFO:     %s\n", msg);
	fflush(stdout);
}

/* Open the devices of o->gpus (or not), say so when there is none, and
 * load and serve: tensor-parallel over plan, or the whole model. */
static int load_and_serve(const struct load_cfg *lc, const struct st_model *m, const struct tp_plan *plan,
			  struct rs_opts *o)
{
	struct cs_err err;
	if (plan ? loadcfg_devices(lc, o->gpus, plan->n, &o->device, &err) : loadcfg_device(lc, &o->device, &err))
		return error("%s", err.msg);
	if (o->device == LD_HOST && err.msg[0])
		srvlogf("No usable GPU (%s): loading into host memory", err.msg);
	int rc = plan ? rs_serve_tp(m, plan, o, &err) : rs_serve(m, o, &err);
	cuda_close();
	if (rc)
		return err.code == ECANCELED ? cli_signal_exit() : error("%s", err.msg);
	return 0;
}

int cmd_refserve(int argc, char **argv)
{
	long port = 8000;
	const char *host = "127.0.0.1", *name = NULL;
	struct load_cfg lc;
	loadcfg_init(&lc);
	int dummy = 0, verify = 0;
	long tp = 0, max_len = 0;
	const char *gpus_arg = NULL, *dump = NULL;
	const struct opt opts[] = {
		OPT_INT_('p', "port", &port, "N", 1, 65535, "1 to 65535", "port (default 8000)"),
		OPT_STRING_(0, "host", &host, "ADDR", "address to bind (default 127.0.0.1)"),
		OPT_GROUP_(loadcfg_options(&lc, "reader threads (default " WP_JOBS_DEFAULT_S ")",
					   "read and copy size (default 4M)")),
		OPT_FLAG_(0, "dummy", &dummy, "allocate the memory but read nothing (runtime baseline)"),
		OPT_FLAG_(0, "verify", &verify, "compare every loaded byte with the files before serving"),
		OPT_STRING_(0, "served-model-name", &name, "NAME", "model id in /v1/models (default: directory name)"),
		OPT_INT_(0, "max-model-len", &max_len, "N", 1, 100000000, "1 to 100000000",
			"the context length (tokens) to say it serves with; it\nloads the weights only"),
		OPT_INT_(0, "tp", &tp, "N", 1, TP_MAX, "1 to 64",
			"tensor-parallel ranks (default 1: the whole model on\none device)"),
		OPT_STRING_(0, "gpus", &gpus_arg, "LIST",
			"the GPU of each rank, e.g. 0,1,2,3 (default 0..N-1)", .flags = OPTF_NONEMPTY),
		OPT_STRING_(0, "dump-slices", &dump, "DIR",
			"with --device host: write each rank's memory to\nDIR/rank-R.bin (for tests)", .flags = OPTF_NONEMPTY),
		OPT_END_(),
	};
	const char *dir;
	int prc = opts_parse_one(opts, &help, argc, argv, "MODEL_DIR", &dir);
	if (prc >= 0)
		return prc;
	if (dummy && verify)
		return usage_error("--verify reads the files; --dummy does not");
	int gpus[TP_MAX], ngpus = 0;
	if (gpus_arg && loadcfg_parse_gpus(gpus_arg, gpus, TP_MAX, &ngpus))
		return EXIT_USAGE;
	/* --tp 1 or --gpus: the tensor-parallel path with that many ranks. */
	int tp_mode = tp > 0 || ngpus;
	if (!tp)
		tp = ngpus ? ngpus : 1;
	if (ngpus && ngpus != tp)
		return usage_error("--gpus names %d device%s for --tp %ld: one per rank", ngpus, ngpus == 1 ? "" : "s", tp);
	for (int r = ngpus; r < tp; r++)
		gpus[r] = r;
	if (dump && (!tp_mode || strcmp(lc.device, "host")))
		return usage_error("--dump-slices goes with --tp and --device host");
	cli_catch_signals();
	uint64_t t0 = now_ns();
	struct cs_err err;
	/* A staged model stays put while it is served (the lock lasts as long
	 * as this process), and one that failed verification is not served. */
	int use_fd = sc_use(dir, &err);
	if (use_fd == -2 && err.code == EBADMSG)
		return error("%s", err.msg);
	if (use_fd == -2)
		warning("%s", err.msg);
	srvlogf("Starting to load model %s...", dir);
	if (max_len)
		srvlogf("Using max model len %ld", max_len);
	struct st_model m;
	if (loadcfg_open_model(dir, &m, "refserve"))
		return EXIT_FAIL;
	struct rs_opts o = { .dir = dir, .name = name, .host = host, .port = port, .jobs = (int)lc.jobs,
			     .chunk = lc.chunk, .dummy = dummy, .verify = verify, .gpus = gpus, .dump = dump, .t0 = t0,
			     .log = on_log, .event = on_event, .cancel = &cli_signal };
	struct tp_plan plan;
	int rc;
	if (!tp_mode) {
		rc = load_and_serve(&lc, &m, NULL, &o);
	} else if (tp_plan_make(&m, (int)tp, 0, &plan, &err)) {
		rc = error("cannot split '%s' for TP=%ld: %s", dir, tp, err.msg);
	} else {
		rc = load_and_serve(&lc, &m, &plan, &o);
		tp_plan_release(&plan);
	}
	st_model_release(&m);
	return rc;
}
