#define _GNU_SOURCE
#include "loadcfg.h"

#include <string.h>

#include "../cli.h"
#include "../core/cuda.h"
#include "../core/util.h"
#include "../core/banned.h"

void loadcfg_init(struct load_cfg *c)
{
	c->device = "auto";
	c->jobs = 8;
	c->chunk = 4u << 20;
}

int loadcfg_option(struct load_cfg *c, int opt, const char *arg)
{
	switch (opt) {
	case OPT_LOAD_DEVICE:
		if (strcmp(arg, "auto") && strcmp(arg, "cuda") && strcmp(arg, "host"))
			return usage_error("invalid --device '%s' (auto, cuda or host)", arg);
		c->device = arg;
		return 1;
	case 'j':
		if (parse_int_range(arg, 1, 256, &c->jobs))
			return usage_error("invalid --jobs '%s' (1 to 256)", arg);
		return 1;
	case OPT_LOAD_CHUNK:
		if (parse_size(arg, &c->chunk) || c->chunk < 65536 || c->chunk > (1ULL << 30))
			return usage_error("invalid --chunk '%s' (64K to 1G)", arg);
		return 1;
	}
	return 0;
}

int loadcfg_device(const struct load_cfg *c, enum ld_device *dev, struct cs_err *err)
{
	*dev = LD_HOST;
	err->msg[0] = '\0';
	if (!strcmp(c->device, "host"))
		return 0;
	if (cuda_open(0, err) == 0) {
		*dev = LD_CUDA;
		return 0;
	}
	return strcmp(c->device, "cuda") ? 0 : -1;
}
