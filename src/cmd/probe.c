#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "../opts.h"
#include "../core/cuda.h"
#include "../core/loader.h"
#include "../core/pagecache.h"
#include "../core/safetensors.h"
#include "../core/util.h"
#include "cmds.h"
#include "loadcfg.h"
#include "../core/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart probe MODEL_DIR [--device auto|host|cuda] [--jobs N] [--chunk SIZE]\n"
	"                       [--cold] [--json]\n"
	"\n"
	"The hardware floor for loading this model here, measured in one go:\n"
	"  storage -> host   every tensor byte read by N threads into reused buffers\n"
	"                    (cold with --cold: the files are evicted first)\n"
	"  host -> GPU       pinned host memory copied to the device, several streams\n"
	"  overlapped        the refserve pipeline: reads and copies overlapped\n"
	"                    (evicted again first with --cold)\n"
	"  floor             bytes / min(storage, host->GPU): no server can load the\n"
	"                    weights faster from this storage\n",
	.after = "Example:\n"
	"  coldstart probe /mnt/nvme0/qwen-7b --cold\n",
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

int cmd_probe(int argc, char **argv)
{
	struct load_cfg lc;
	loadcfg_init(&lc);
	int cold = 0, json = 0;
	const struct opt opts[] = {
		{ .type = OPT_GROUP, .group = loadcfg_options(&lc, "reader threads (default " WP_JOBS_DEFAULT_S ")", "read and copy size (default 4M)") },
		{ .type = OPT_FLAG, .long_name = "cold", .value = &cold,
		  .help = "evict the model's pages before each read measurement" },
		{ .type = OPT_FLAG, .long_name = "json", .value = &json, .help = "results as JSON on stdout" },
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
	cli_catch_signals();
	enum ld_device dev;
	if (loadcfg_device(&lc, &dev, &err)) {
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
	if (rc) {
		cuda_close();
		st_model_free(&m);
		return cli_signal ? cli_signal_exit() : EXIT_FAIL;
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
	}
	cuda_close();
	st_model_free(&m);
	return 0;
}
