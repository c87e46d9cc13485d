#define _GNU_SOURCE
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../cli.h"
#include "../opts.h"
#include "core/load/cuda.h"
#include "core/base/fsutil.h"
#include "core/load/loader.h"
#include "core/model/safetensors.h"
#include "core/stage/stagecache.h"
#include "core/load/tp.h"
#include "core/base/strbuf.h"
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

static char *models_json;

/* --dump-slices DIR (host mode, for tests): each rank's arena as
 * DIR/rank-R.bin. */
static int dump_slices(const char *dir, const struct ld_tp *T)
{
	struct cs_err err;
	if (fs_mkdir_last(dir, 0755) < 0)
		return error_errno("cannot create '%s'", dir);
	for (int r = 0; r < T->n; r++) {
		char *p = xasprintf("%s/rank-%d.bin", dir, r);
		int rc = fs_write_file_sync(p, T->host[r], (size_t)T->bytes[r], &err);
		free(p);
		if (rc)
			return error("%s", err.msg);
	}
	return 0;
}

/* The "coldstart" object of /v1/models: how the model was split. */
static json_t *split_json(const struct tp_plan *p, const struct ld_tp *T, const int *gpus, enum ld_device dev)
{
	json_t *o = json_object(), *ranks = json_array(), *kinds = json_object();
	json_object_set_new(o, "tp", json_integer(p->n));
	json_object_set_new(o, "device", json_string(dev == LD_CUDA ? "cuda" : "host"));
	for (int r = 0; r < p->n; r++) {
		json_t *rk = json_pack("{s:i, s:I}", "rank", r, "bytes", (json_int_t)T->bytes[r]);
		if (dev == LD_CUDA)
			json_object_set_new(rk, "gpu", json_integer(gpus[r]));
		json_array_append_new(ranks, rk);
	}
	for (int k = 0; k < TP_NKINDS; k++)
		json_object_set_new(kinds, tp_kind_name((enum tp_kind)k), json_integer((json_int_t)p->counts[k]));
	json_object_set_new(o, "ranks", ranks);
	json_object_set_new(o, "tensors", kinds);
	json_object_set_new(o, "kv_heads", p->kv_heads > 0 ? json_integer(p->kv_heads) : json_null());
	json_object_set_new(o, "read_bytes", json_integer((json_int_t)T->read_bytes));
	return o;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)cls;
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	unsigned code = 404;
	const char *body = "{\"error\":\"not found\"}";
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		code = 405;
		body = "{\"error\":\"method not allowed\"}";
	} else if (!strcmp(url, "/health")) {
		code = 200;
		body = "";
	} else if (!strcmp(url, "/v1/models")) {
		code = 200;
		body = models_json;
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (*body)
		MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static int listen_on(const char *host, long port)
{
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	char ps[16];
	snprintf(ps, sizeof(ps), "%ld", port);
	int g = getaddrinfo(host, ps, &hints, &ai);
	if (g)
		return error("cannot resolve '%s': %s", host, gai_strerror(g));
	int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (s >= 0)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, ai->ai_addr, ai->ai_addrlen) < 0 || listen(s, 128) < 0) {
		int e = errno;
		if (s >= 0)
			close(s);
		freeaddrinfo(ai);
		errno = e;
		return error_errno("cannot listen on %s:%ld", host, port);
	}
	freeaddrinfo(ai);
	return s;
}

/* Answer /health and /v1/models (models_json) until SIGTERM or SIGINT. */
static int serve(const char *host, long port)
{
	int rc = 0;
	int s = cli_signal ? -1 : listen_on(host, port);
	struct MHD_Daemon *d = NULL;
	if (s >= 0) {
		d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handler, NULL,
				     MHD_OPTION_LISTEN_SOCKET, s, MHD_OPTION_END);
		if (!d)
			rc = error("cannot start the HTTP server on %s:%ld", host, port);
	} else if (!cli_signal) {
		rc = EXIT_FAIL;
	}
	if (d) {
		srvlogf("Starting API server on http://%s:%ld", host, port);
		printf("INFO:     Application startup complete.\n");
		fflush(stdout);
		while (!cli_signal) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		printf("INFO:     Shutting down\n");
		fflush(stdout);
		MHD_stop_daemon(d);
	}
	return rc;
}

/* /v1/models: the model's id (and, tensor-parallel, how it was split). */
static void set_models_json(const char *dir, const char *name, json_t *split)
{
	char *id = name ? xstrdup(name) : fs_basename(dir);
	json_t *list = json_object(), *data = json_array(), *mo = json_object();
	json_object_set_new(mo, "id", json_string(id));
	json_object_set_new(mo, "object", json_string("model"));
	json_object_set_new(mo, "created", json_integer((json_int_t)time(NULL)));
	json_object_set_new(mo, "owned_by", json_string("coldstart"));
	if (split)
		json_object_set_new(mo, "coldstart", split);
	json_array_append_new(data, mo);
	json_object_set_new(list, "object", json_string("list"));
	json_object_set_new(list, "data", data);
	models_json = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	free(id);
}

/* --tp: every rank's slices, then the same serving. */
static int serve_tp(const char *dir, struct st_model *m, const struct load_cfg *lc, int tp, const int *gpus, int dummy,
		    int verify, const char *dump, const char *host, long port, const char *name, int use_fd, uint64_t t0)
{
	(void)use_fd; /* held by the caller for this process's life */
	struct cs_err err;
	struct tp_plan p;
	if (tp_plan_make(m, tp, 0, &p, &err)) {
		st_model_free(m);
		return error("cannot split '%s' for TP=%d: %s", dir, tp, err.msg);
	}
	enum ld_device dev;
	if (loadcfg_devices(lc, gpus, tp, &dev, &err)) {
		tp_plan_free(&p);
		st_model_free(m);
		return error("%s", err.msg);
	}
	if (dev == LD_HOST && err.msg[0])
		srvlogf("No usable GPU (%s): loading into host memory", err.msg);
	struct strbuf on = STRBUF_INIT;
	for (int r = 0; r < tp; r++)
		strbuf_addf(&on, "%s%d", r ? "," : "", gpus[r]);
	srvlogf("Tensor parallel: TP=%d, ranks on %s%s; %zu column, %zu kv, %zu row, %zu vocab, %zu replicated tensors; "
		"kv heads %d", tp, dev == LD_CUDA ? "GPUs " : "host memory", dev == LD_CUDA ? on.buf : "",
		p.counts[TP_COLUMN], p.counts[TP_KV], p.counts[TP_ROW], p.counts[TP_VOCAB], p.counts[TP_REPLICATED],
		p.kv_heads);
	strbuf_release(&on);
	for (int r = 0; r < tp; r++) {
		char b[32];
		srvlogf("Rank %d: %s%s%s", r, fmt_bytes(b, sizeof(b), p.rank_bytes[r]), dev == LD_CUDA ? " on " : "",
			dev == LD_CUDA ? cuda_device_name_of(r) : "");
	}
	struct ld_opts lo = { dev, (int)lc->jobs, lc->chunk, dummy, 0, &cli_signal };
	struct ld_tp T;
	int rc = 0;
	if (ld_load_tp(m, &p, &lo, &T, &err)) {
		tp_plan_free(&p);
		st_model_free(m);
		cuda_close();
		return err.code == ECANCELED ? cli_signal_exit() : error("%s", err.msg);
	}
	uint64_t total = 0;
	for (int r = 0; r < tp; r++)
		total += T.bytes[r];
	srvlogf("Loading weights took %.2f seconds", T.seconds);
	if (T.seconds > 0 && !dummy) {
		char rb[32], wb[32];
		srvlogf("Read %llu bytes at %s/s, wrote %llu bytes to %d ranks at %s/s", (unsigned long long)T.read_bytes,
			fmt_bytes(rb, sizeof(rb), (uint64_t)((double)T.read_bytes / T.seconds)), (unsigned long long)total,
			tp, fmt_bytes(wb, sizeof(wb), (uint64_t)((double)total / T.seconds)));
	}
	if (verify) {
		if (ld_verify_tp(m, &p, &T, &err))
			rc = error("verification failed: %s", err.msg);
		else
			srvlogf("Verified every rank's slices: identical to the files");
	}
	if (!rc && dump)
		rc = dump_slices(dump, &T);
	if (!rc) {
		srvlogf("Model loading took %.4f GiB memory and %.6f seconds", (double)total / (double)(1ULL << 30),
			(double)(now_ns() - t0) / 1e9);
		set_models_json(dir, name, split_json(&p, &T, gpus, dev));
		rc = serve(host, port);
	}
	ld_tp_free(&T);
	cuda_close();
	tp_plan_free(&p);
	st_model_free(m);
	free(models_json);
	models_json = NULL;
	return rc;
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
		OPT_GROUP_(loadcfg_options(&lc, "reader threads (default " WP_JOBS_DEFAULT_S ")", "read and copy size (default 4M)")),
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
	if (st_model_open(dir, &m, &err))
		return error("%s", err.msg);
	if (m.format == ST_FORMAT_GGUF) {
		st_model_free(&m);
		return error("'%s' is a GGUF model: %s reads safetensors checkpoints (GGUF is llama.cpp's: "
			     "--server llama.cpp)", dir, "refserve");
	}
	if (tp_mode)
		return serve_tp(dir, &m, &lc, (int)tp, gpus, dummy, verify, dump, host, port, name, use_fd, t0);
	enum ld_device dev;
	if (loadcfg_device(&lc, &dev, &err)) {
		st_model_free(&m);
		return error("%s", err.msg);
	}
	if (dev == LD_HOST && err.msg[0])
		srvlogf("No usable GPU (%s): loading into host memory", err.msg);
	srvlogf("Loading %s%s of %zu shard(s) into %s%s%s with %ld threads", dummy ? "nothing (dummy) instead " : "",
	     "the tensors", m.nshards, dev == LD_CUDA ? "GPU " : "host memory", dev == LD_CUDA ? cuda_device_name() : "",
	     "", lc.jobs);
	struct ld_opts lo = { dev, (int)lc.jobs, lc.chunk, dummy, 0, &cli_signal };
	struct loader L;
	if (ld_load(&m, &lo, &L, &err)) {
		st_model_free(&m);
		cuda_close();
		if (err.code == ECANCELED)
			return cli_signal_exit();
		return error("%s", err.msg);
	}
	srvlogf("Loading weights took %.2f seconds", L.seconds);
	if (L.seconds > 0 && !dummy) {
		char r[32];
		srvlogf("Read %llu bytes at %s/s", (unsigned long long)L.bytes, fmt_bytes(r, sizeof(r), (uint64_t)((double)L.bytes / L.seconds)));
	}
	if (verify) {
		if (ld_verify(&m, &L, &err)) {
			ld_free(&L);
			st_model_free(&m);
			cuda_close();
			return error("verification failed: %s", err.msg);
		}
		srvlogf("Verified %llu bytes: every tensor identical to the files", (unsigned long long)L.bytes);
	}
	srvlogf("Model loading took %.4f GiB memory and %.6f seconds", (double)L.bytes / (double)(1ULL << 30),
	     (double)(now_ns() - t0) / 1e9);
	set_models_json(dir, name, NULL);

	int rc = serve(host, port);
	ld_free(&L);
	cuda_close();
	st_model_free(&m);
	free(models_json);
	models_json = NULL;
	return rc;
}
