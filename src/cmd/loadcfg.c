#define _GNU_SOURCE
#include "loadcfg.h"

#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "../opts.h"
#include "core/load/cuda.h"
#include "core/model/model.h"
#include "core/base/util.h"
#include "core/base/workpool.h"
#include "core/base/banned.h"

void loadcfg_init(struct load_cfg *c)
{
	c->device = "auto";
	c->jobs = WP_JOBS_DEFAULT;
	c->chunk = LD_CHUNK_DEFAULT;
}

const struct opt *loadcfg_options(struct load_cfg *c, const char *jobs_help, const char *chunk_help)
{
	static const char *const devices[] = { "auto", "cuda", "host", NULL };
	static struct opt t[4];
	const struct opt table[] = {
		OPT_ENUM_STR_(0, "device", &c->device, "DEV", devices, "auto, cuda or host",
			"auto (default: cuda when a GPU is usable), cuda, host"),
		OPT_JOBS_('j', "jobs", &c->jobs, "N", jobs_help),
		OPT_SIZE_(0, "chunk", &c->chunk, "SIZE", 65536, 1LL << 30, "64K to 1G", chunk_help),
		OPT_END_(),
	};
	memcpy(t, table, sizeof(table));
	return t;
}

int loadcfg_device(const struct load_cfg *c, enum ld_device *dev, struct cs_err *err)
{
	const int zero = 0;
	return loadcfg_devices(c, &zero, 1, dev, err);
}

int loadcfg_parse_gpus(const char *list, int *gpus, int max, int *n)
{
	*n = 0;
	char *copy = xstrdup(list), *save = NULL;
	int rc = 0;
	for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
		long v;
		if (parse_int_range(t, 0, CUDA_MAX_DEVICES - 1, &v))
			rc = usage_error("--gpus '%s': '%s' is not a device number", list, t);
		else if (*n == max)
			rc = usage_error("--gpus '%s': more than %d devices", list, max);
		else
			gpus[(*n)++] = (int)v;
	}
	free(copy);
	if (!rc && !*n)
		rc = usage_error("--gpus '%s' names no device", list);
	return rc;
}

int loadcfg_devices(const struct load_cfg *c, const int *gpus, int n, enum ld_device *dev, struct cs_err *err)
{
	*dev = LD_HOST;
	err->msg[0] = '\0';
	if (!strcmp(c->device, "host"))
		return 0;
	if (cuda_open_devices(gpus, n, err) == 0) {
		*dev = LD_CUDA;
		return 0;
	}
	return strcmp(c->device, "cuda") ? 0 : -1;
}

int loadcfg_open_model(const char *dir, struct st_model *m, const char *cmd)
{
	struct cs_err err;
	if (st_model_open(dir, m, &err))
		return error("%s", err.msg);
	if (m->format == ST_FORMAT_GGUF) {
		st_model_release(m);
		return error("'%s' is a GGUF model: %s reads safetensors checkpoints (GGUF is llama.cpp's: "
			     "--server llama.cpp)", dir, cmd);
	}
	return 0;
}
