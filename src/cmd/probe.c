#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include "../cli.h"
#include "../opts.h"
#include "core/load/cuda.h"
#include "core/base/fsutil.h"
#include "core/load/loader.h"
#include "core/io/pagecache.h"
#include "core/model/safetensors.h"
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

/* Evict the model and check what is left: *state 1 cold, 0 still cached
 * (> 1 %), -1 unverified (the kernel will not show this user). */
static int evict(const char *dir, int *state, struct cs_err *err)
{
	struct pc_set set;
	char *p[] = { (char *)dir };
	if (pc_collect(p, 1, &set, err))
		return -1;
	int rc = pc_evict(&set, err);
	if (!rc)
		rc = pc_residency(&set, err);
	if (!rc)
		*state = set.resident * 100 > set.total ? 0 : set.nunknown ? -1 : 1;
	pc_set_free(&set);
	return rc;
}

/* Pinned host -> device copies, 4 streams, about `total` bytes. */
static int h2d_rate(uint64_t total, uint64_t chunk, double *gbps, struct cs_err *err)
{
	enum { NS = 4 };
	void *h = NULL;
	cuda_ptr d = 0;
	cuda_stream st[NS] = { NULL };
	int rc = 0;
	if (cuda_host_alloc(&h, (size_t)chunk * NS, err) || cuda_malloc(&d, (size_t)chunk * NS, err))
		rc = -1;
	memset(h, 0x5a, h ? (size_t)chunk * NS : 0);
	for (int i = 0; i < NS && !rc; i++)
		rc = cuda_stream_create(&st[i], err);
	uint64_t done = 0, t0 = now_ns();
	for (unsigned k = 0; !rc && done < total; k++) {
		unsigned s = k % NS;
		rc = cuda_htod_async(d + (cuda_ptr)s * chunk, (char *)h + (size_t)s * chunk, (size_t)chunk, st[s], err);
		done += chunk;
	}
	for (int i = 0; i < NS; i++) {
		if (!rc && st[i])
			rc = cuda_stream_sync(st[i], err);
		cuda_stream_destroy(st[i]);
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	*gbps = secs > 0 ? (double)done / secs / 1e9 : 0;
	cuda_free(d);
	cuda_host_free(h);
	return rc;
}

struct h2d_arg {
	int entry;
	uint64_t total, chunk;
	double gbps;
	int rc;
	struct cs_err err;
};

static void *h2d_thread(void *p)
{
	struct h2d_arg *a = p;
	a->rc = cuda_bind_device(a->entry, &a->err) || h2d_rate(a->total, a->chunk, &a->gbps, &a->err) ? -1 : 0;
	return NULL;
}

/* Every entry at once: the aggregate rate (bytes of all / the slowest's time). */
static int h2d_all(int n, uint64_t total, uint64_t chunk, double *agg, struct cs_err *err)
{
	struct h2d_arg *a = xcalloc((size_t)n, sizeof(*a));
	pthread_t *th = xcalloc((size_t)n, sizeof(pthread_t));
	int *started = xcalloc((size_t)n, sizeof(int));
	uint64_t t0 = now_ns();
	for (int i = 0; i < n; i++) {
		a[i] = (struct h2d_arg){ .entry = i, .total = total, .chunk = chunk };
		started[i] = pthread_create(&th[i], NULL, h2d_thread, &a[i]) == 0;
		if (!started[i])
			a[i].rc = cs_fail(&a[i].err, EAGAIN, "cannot start a thread");
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		if (a[i].rc && !rc)
			rc = cs_fail(err, a[i].err.code, "GPU entry %d: %s", i, a[i].err.msg);
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	*agg = secs > 0 ? (double)total * n / secs / 1e9 : 0;
	free(a);
	free(th);
	free(started);
	return rc;
}

struct mem_arg {
	struct wp_queue q;
	size_t len;
};

static void *mem_worker(void *p)
{
	struct mem_arg *a = p;
	char *src = fs_alloc_aligned(a->len), *dst = fs_alloc_aligned(a->len);
	memset(src, 0x33, a->len);
	memset(dst, 0, a->len);
	size_t item;
	while (wp_take(&a->q, &item))
		memcpy(dst, src, a->len);
	free(src);
	free(dst);
	return NULL;
}

/* Host memory bandwidth, read + write bytes per second, jobs threads. */
static double host_mem_gbps(int jobs)
{
	struct mem_arg a = { .len = 64u << 20 };
	size_t n = 64;
	wp_init(&a.q, n, NULL);
	struct cs_err e;
	uint64_t t0 = now_ns();
	int rc = wp_run(&a.q, jobs, mem_worker, &a, NULL, NULL, 0, "memcpy", &e);
	double secs = (double)(now_ns() - t0) / 1e9;
	wp_destroy(&a.q);
	return rc || secs <= 0 ? 0 : 2.0 * (double)n * (double)a.len / secs / 1e9;
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
		OPT_GROUP_(loadcfg_options(&lc, "reader threads (default " WP_JOBS_DEFAULT_S ")", "read and copy size (default 4M)")),
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
	if (st_model_open(dir, &m, &err))
		return error("%s", err.msg);
	if (m.format == ST_FORMAT_GGUF) {
		st_model_free(&m);
		return error("'%s' is a GGUF model: %s reads safetensors checkpoints (GGUF is llama.cpp's: "
			     "--server llama.cpp)", dir, "probe");
	}
	int gpus[TP_MAX], ngpus = 0;
	/* A number is a count, except 0: the list of GPU 0 alone. */
	if (gpus_arg && !strchr(gpus_arg, ',') && strcmp(gpus_arg, "0")) {
		long nv;
		if (parse_int_range(gpus_arg, 1, TP_MAX, &nv)) {
			st_model_free(&m);
			return usage_error("--gpus '%s': a count (1 to %d) or a list such as 0,1,2,3", gpus_arg, TP_MAX);
		}
		ngpus = (int)nv;
		for (int i = 0; i < ngpus; i++)
			gpus[i] = i;
	} else if (gpus_arg && loadcfg_parse_gpus(gpus_arg, gpus, TP_MAX, &ngpus)) {
		st_model_free(&m);
		return EXIT_USAGE;
	}
	struct tp_plan plan;
	memset(&plan, 0, sizeof(plan));
	if (ngpus && tp_plan_make(&m, ngpus, 0, &plan, &err)) {
		st_model_free(&m);
		return error("cannot split '%s' for TP=%d: %s", dir, ngpus, err.msg);
	}
	cli_catch_signals();
	cli_signal_deadline(CLI_SIGNAL_DEADLINE_S);   /* it only reads; the GPU is freed at exit */
	enum ld_device dev;
	if (ngpus ? loadcfg_devices(&lc, gpus, ngpus, &dev, &err) : loadcfg_device(&lc, &dev, &err)) {
		tp_plan_free(&plan);
		st_model_free(&m);
		return error("%s", err.msg);
	}
	int gpu = dev == LD_CUDA;
	int rc = 0;
	double storage = 0, h2d = 0, e2e = 0;
	struct loader L;
	struct ld_opts lo = { LD_HOST, (int)lc.jobs, lc.chunk, 0, 1, &cli_signal };
	int coldness = 1;
	if (cold && evict(dir, &coldness, &err))
		rc = error("%s", err.msg);
	if (!rc && ld_load(&m, &lo, &L, &err) == 0) {
		storage = (double)L.bytes / L.seconds / 1e9;
		ld_free(&L);
	} else if (!rc) {
		rc = error("%s", err.msg);
	}
	uint64_t bytes = m.tensor_bytes;
	if (!rc && gpu) {
		uint64_t total = bytes > (8ULL << 30) ? bytes : (8ULL << 30);
		if (h2d_rate(total, lc.chunk, &h2d, &err))
			rc = error("%s", err.msg);
		int again = 1;
		if (!rc && cold && evict(dir, &again, &err))
			rc = error("%s", err.msg);
		lo.device = LD_CUDA;
		lo.sink = 0;
		if (!rc && ld_load(&m, &lo, &L, &err) == 0) {
			e2e = (double)L.bytes / L.seconds / 1e9;
			ld_free(&L);
		} else if (!rc) {
			rc = error("%s", err.msg);
		}
	}
	/* TP=N: each GPU alone and all at once, host memory, the pipeline. */
	double *each = ngpus ? xcalloc((size_t)ngpus, sizeof(double)) : NULL, all = 0, mem = 0, tp_rate = 0, tp_floor = 0;
	uint64_t rank_bytes = 0, read_bytes = 0;
	for (int i = 0; i < ngpus; i++)
		rank_bytes += plan.rank_bytes[i];
	if (!rc && ngpus) {
		uint64_t per = 2ULL << 30;
		for (int i = 0; i < ngpus && !rc && gpu; i++)
			if (cuda_bind_device(i, &err) || h2d_rate(per, lc.chunk, &each[i], &err))
				rc = error("%s", err.msg);
		if (!rc && gpu && h2d_all(ngpus, per, lc.chunk, &all, &err))
			rc = error("%s", err.msg);
		mem = host_mem_gbps((int)lc.jobs);
		int again = 1;
		if (!rc && cold && evict(dir, &again, &err))
			rc = error("%s", err.msg);
		struct ld_opts to = { gpu ? LD_CUDA : LD_HOST, (int)lc.jobs, lc.chunk, 0, 0, &cli_signal };
		struct ld_tp T;
		if (!rc && ld_load_tp(&m, &plan, &to, &T, &err) == 0) {
			read_bytes = T.read_bytes;
			tp_rate = T.seconds > 0 ? (double)T.read_bytes / T.seconds / 1e9 : 0;
			ld_tp_free(&T);
		} else if (!rc) {
			rc = error("%s", err.msg);
		}
		double terms[3] = { storage > 0 ? (double)read_bytes / (storage * 1e9) : 0,
				    gpu && all > 0 ? (double)rank_bytes / (all * 1e9) : 0,
				    mem > 0 ? (double)(read_bytes + rank_bytes) / (mem * 1e9) : 0 };
		for (int k = 0; k < 3; k++)
			tp_floor = terms[k] > tp_floor ? terms[k] : tp_floor;
	}
	if (rc) {
		free(each);
		tp_plan_free(&plan);
		cuda_close();
		st_model_free(&m);
		return cs_cancelled(&cli_signal) ? cli_signal_exit() : EXIT_FAIL;
	}
	double lim = gpu && h2d < storage ? h2d : storage;
	double floor_s = lim > 0 ? (double)bytes / (lim * 1e9) : 0;
	if (json) {
		json_t *j = json_object();
		json_object_set_new(j, "model", json_string(dir));
		json_object_set_new(j, "bytes", json_integer((json_int_t)bytes));
		json_object_set_new(j, "cold", cold && coldness < 0 ? json_null() : json_boolean(cold && coldness > 0));
		json_object_set_new(j, "jobs", json_integer(lc.jobs));
		json_object_set_new(j, "device", gpu ? json_string(cuda_device_name()) : json_null());
		json_object_set_new(j, "storage_to_host_gbps", json_real(storage));
		json_object_set_new(j, "host_to_device_gbps", gpu ? json_real(h2d) : json_null());
		json_object_set_new(j, "overlapped_gbps", gpu ? json_real(e2e) : json_null());
		json_object_set_new(j, "floor_s", json_real(floor_s));
		if (ngpus) {
			json_t *t = json_object(), *g = json_array(), *e = json_array();
			for (int i = 0; i < ngpus; i++) {
				json_array_append_new(g, json_integer(gpus[i]));
				json_array_append_new(e, gpu ? json_real(each[i]) : json_null());
			}
			json_object_set_new(t, "tp", json_integer(ngpus));
			json_object_set_new(t, "gpus", gpu ? g : (json_decref(g), json_null()));
			json_object_set_new(t, "host_to_each_gpu_gbps", e);
			json_object_set_new(t, "host_to_all_gpus_gbps", gpu ? json_real(all) : json_null());
			json_object_set_new(t, "host_memory_gbps", json_real(mem));
			json_object_set_new(t, "read_bytes", json_integer((json_int_t)read_bytes));
			json_object_set_new(t, "rank_bytes", json_integer((json_int_t)rank_bytes));
			json_object_set_new(t, "overlapped_gbps", json_real(tp_rate));
			json_object_set_new(t, "floor_s", json_real(tp_floor));
			json_object_set_new(j, "tp", t);
		}
		print_json(j);
	} else {
		char b[32];
		printf("model:            %s (%s of tensors)\n", dir, fmt_bytes(b, sizeof(b), bytes));
		printf("storage -> host:  %6.2f GB/s%s, %ld threads\n", storage,
		       !cold ? "" : coldness > 0 ? " (cold)" : coldness < 0 ? " (evicted; residency not visible to this user)"
							    : " (NOT cold: still cached after eviction)", lc.jobs);
		if (gpu) {
			printf("host -> GPU:      %6.2f GB/s (pinned, %s)\n", h2d, cuda_device_name());
			printf("overlapped:       %6.2f GB/s (read + copy, as refserve loads)\n", e2e);
		} else {
			printf("host -> GPU:      n/a (no usable GPU)\n");
		}
		printf("floor:            %.3f s to load the weights (bytes / min(storage%s))\n", floor_s,
		       gpu ? ", host->GPU" : "");
		if (ngpus) {
			char rb[32];
			printf("TP=%d:             %s to the ranks (replicated tensors on each)\n", ngpus,
			       fmt_bytes(rb, sizeof(rb), rank_bytes));
			for (int i = 0; i < ngpus && gpu; i++)
				printf("  host -> GPU %d:   %6.2f GB/s alone\n", gpus[i], each[i]);
			if (gpu)
				printf("  host -> all:     %6.2f GB/s at once\n", all);
			printf("  host memory:     %6.2f GB/s (memcpy, read + write, %ld threads)\n", mem, lc.jobs);
			printf("  overlapped:      %6.2f GB/s of the files (refserve --tp %d)\n", tp_rate, ngpus);
			printf("  floor:           %.3f s for a TP=%d load\n", tp_floor, ngpus);
		}
	}
	free(each);
	tp_plan_free(&plan);
	cuda_close();
	st_model_free(&m);
	return 0;
}
