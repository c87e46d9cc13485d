#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "../cli.h"
#include "../opts.h"
#include "core/load/cuda.h"
#include "core/load/loader.h"
#include "core/load/probe.h"
#include "core/model/model.h"
#include "core/load/tp.h"
#include "core/base/workpool.h"
#include "core/base/util.h"
#include "cmds.h"
#include "loadcfg.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart probe MODEL_DIR [--device auto|host|cuda] [--jobs N] [--chunk SIZE]\n"
	"                       [--cold] [--json] [--gpus N|LIST]\n"
	"\n"
	"The hardware floor for loading this model here, measured in one go:\n"
	"  storage -> host   every tensor byte read by N threads into reused buffers\n"
	"                    (cold with --cold: the files are evicted first)\n"
	"  host -> GPU       pinned host memory copied to the device, several streams\n"
	"  overlapped        the refserve pipeline: reads and copies overlapped\n"
	"                    (evicted again first with --cold)\n"
	"  floor             bytes / min(storage, host->GPU): no server can load the\n"
	"                    weights faster from this storage\n"
	"\n"
	"With --gpus N (devices 0..N-1) or a LIST (e.g. 0,2,4,6) it also measures\n"
	"what a TP=N load has together:\n"
	"  host -> each GPU  alone, one after another, and all at once\n"
	"  host memory       memcpy by --jobs threads (a TP load writes what it\n"
	"                    reads into host memory and the GPUs' DMA reads it back)\n"
	"  TP=N overlapped   refserve --tp N's pipeline: each byte read once, each\n"
	"                    rank's slices copied to its GPU\n"
	"  TP=N floor        the slowest of: the bytes read / storage, the ranks'\n"
	"                    bytes / all GPUs at once, both / host memory\n"
	"With --device host the ranks are host memory (the CPU machine's view).\n",
	.after = "Example:\n"
	"  coldstart probe /mnt/nvme0/qwen-7b --cold\n"
	"  coldstart probe /mnt/nvme0/llama-70b --cold --gpus 8\n",
};

static void print_probe_json(const char *dir, const struct probe_result *r, int cold, long jobs, int gpu,
			     const int *gpus)
{
	json_t *j = json_object();
	json_object_set_new(j, "model", json_string(dir));
	json_object_set_new(j, "bytes", json_integer((json_int_t)r->bytes));
	json_object_set_new(j, "cold", cold && r->coldness < 0 ? json_null() : json_boolean(cold && r->coldness > 0));
	json_object_set_new(j, "jobs", json_integer(jobs));
	json_object_set_new(j, "device", gpu ? json_string(cuda_device_name()) : json_null());
	json_object_set_new(j, "storage_to_host_gbps", json_real(r->storage_gbps));
	json_object_set_new(j, "host_to_device_gbps", gpu ? json_real(r->h2d_gbps) : json_null());
	json_object_set_new(j, "overlapped_gbps", gpu ? json_real(r->overlapped_gbps) : json_null());
	json_object_set_new(j, "floor_s", json_real(r->floor_s));
	if (r->tp) {
		json_t *t = json_object(), *g = json_array(), *e = json_array();
		for (int i = 0; i < r->tp; i++) {
			json_array_append_new(g, json_integer(gpus[i]));
			json_array_append_new(e, gpu ? json_real(r->each_gbps[i]) : json_null());
		}
		json_object_set_new(t, "tp", json_integer(r->tp));
		json_object_set_new(t, "gpus", gpu ? g : (json_decref(g), json_null()));
		json_object_set_new(t, "host_to_each_gpu_gbps", e);
		json_object_set_new(t, "host_to_all_gpus_gbps", gpu ? json_real(r->all_gbps) : json_null());
		json_object_set_new(t, "host_memory_gbps", json_real(r->mem_gbps));
		json_object_set_new(t, "read_bytes", json_integer((json_int_t)r->read_bytes));
		json_object_set_new(t, "rank_bytes", json_integer((json_int_t)r->rank_bytes));
		json_object_set_new(t, "overlapped_gbps", json_real(r->tp_gbps));
		json_object_set_new(t, "floor_s", json_real(r->tp_floor_s));
		json_object_set_new(j, "tp", t);
	}
	print_json(j);
}

static void print_probe(const char *dir, const struct probe_result *r, int cold, long jobs, int gpu, const int *gpus)
{
	char b[32];
	printf("model:            %s (%s of tensors)\n", dir, fmt_bytes(b, sizeof(b), r->bytes));
	printf("storage -> host:  %6.2f GB/s%s, %ld threads\n", r->storage_gbps,
	       !cold ? "" : r->coldness > 0 ? " (cold)" : r->coldness < 0 ? " (evicted; residency not visible to this user)"
									: " (NOT cold: still cached after eviction)", jobs);
	if (gpu) {
		printf("host -> GPU:      %6.2f GB/s (pinned, %s)\n", r->h2d_gbps, cuda_device_name());
		printf("overlapped:       %6.2f GB/s (read + copy, as refserve loads)\n", r->overlapped_gbps);
	} else {
		printf("host -> GPU:      n/a (no usable GPU)\n");
	}
	printf("floor:            %.3f s to load the weights (bytes / min(storage%s))\n", r->floor_s,
	       gpu ? ", host->GPU" : "");
	if (!r->tp)
		return;
	printf("TP=%d:             %s to the ranks (replicated tensors on each)\n", r->tp,
	       fmt_bytes(b, sizeof(b), r->rank_bytes));
	for (int i = 0; i < r->tp && gpu; i++)
		printf("  host -> GPU %d:   %6.2f GB/s alone\n", gpus[i], r->each_gbps[i]);
	if (gpu)
		printf("  host -> all:     %6.2f GB/s at once\n", r->all_gbps);
	printf("  host memory:     %6.2f GB/s (memcpy, read + write, %ld threads)\n", r->mem_gbps, jobs);
	printf("  overlapped:      %6.2f GB/s of the files (refserve --tp %d)\n", r->tp_gbps, r->tp);
	printf("  floor:           %.3f s for a TP=%d load\n", r->tp_floor_s, r->tp);
}

/* --gpus N|LIST: a number is a count, except 0: the list of GPU 0 alone. */
static int parse_gpus(const char *arg, int *gpus, int *n)
{
	*n = 0;
	if (!arg)
		return 0;
	if (strchr(arg, ',') || !strcmp(arg, "0"))
		return loadcfg_parse_gpus(arg, gpus, TP_MAX, n);
	long nv;
	if (parse_int_range(arg, 1, TP_MAX, &nv))
		return usage_error("--gpus '%s': a count (1 to %d) or a list such as 0,1,2,3", arg, TP_MAX);
	*n = (int)nv;
	for (int i = 0; i < *n; i++)
		gpus[i] = i;
	return 0;
}

int cmd_probe(int argc, char **argv)
{
	struct load_cfg lc;
	loadcfg_init(&lc);
	int cold = 0, json = 0;
	const char *gpus_arg = NULL;
	const struct opt opts[] = {
		OPT_STRING_(0, "gpus", &gpus_arg, "N|LIST",
			"also measure a TP=N load: N devices (0..N-1) or a\nlist of them", .flags = OPTF_NONEMPTY),
		OPT_GROUP_(loadcfg_options(&lc, "reader threads (default " WP_JOBS_DEFAULT_S ")",
					   "read and copy size (default 4M)")),
		OPT_FLAG_(0, "cold", &cold, "evict the model's pages before each read measurement"),
		OPT_FLAG_(0, "json", &json, "results as JSON on stdout"),
		OPT_END_(),
	};
	const char *dir;
	int prc = opts_parse_one(opts, &help, argc, argv, "MODEL_DIR", &dir);
	if (prc >= 0)
		return prc;
	struct st_model m;
	struct cs_err err;
	if (loadcfg_open_model(dir, &m, "probe"))
		return EXIT_FAIL;
	int gpus[TP_MAX], ngpus = 0;
	int rc = parse_gpus(gpus_arg, gpus, &ngpus);
	if (rc) {
		st_model_release(&m);
		return rc;
	}
	struct tp_plan plan;
	memset(&plan, 0, sizeof(plan));
	if (ngpus && tp_plan_make(&m, ngpus, 0, &plan, &err)) {
		st_model_release(&m);
		return error("cannot split '%s' for TP=%d: %s", dir, ngpus, err.msg);
	}
	cli_catch_signals();
	cli_signal_deadline(CLI_SIGNAL_DEADLINE_S);   /* it only reads; the GPU is freed at exit */
	enum ld_device dev;
	struct probe_result r = { 0 };
	if (ngpus ? loadcfg_devices(&lc, gpus, ngpus, &dev, &err) : loadcfg_device(&lc, &dev, &err)) {
		rc = error("%s", err.msg);
	} else {
		struct probe_opts po = { dev, (int)lc.jobs, lc.chunk, cold, ngpus ? &plan : NULL, &cli_signal };
		if (probe_run(dir, &m, &po, &r, &err)) {
			error("%s", err.msg);
			rc = cs_cancelled(&cli_signal) ? cli_signal_exit() : EXIT_FAIL;
		} else if (json) {
			print_probe_json(dir, &r, cold, lc.jobs, dev == LD_CUDA, gpus);
		} else {
			print_probe(dir, &r, cold, lc.jobs, dev == LD_CUDA, gpus);
		}
		cuda_close();
	}
	probe_result_release(&r);
	tp_plan_release(&plan);
	st_model_release(&m);
	return rc;
}
