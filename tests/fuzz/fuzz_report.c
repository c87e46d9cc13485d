/* libFuzzer target: a bench CSV through the whole report (parse, lenient
 * notes, statistics, interpretation, Markdown, SVG, JSON). */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/report/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-report", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct rp_report r;
	struct cs_err err;
	if (rp_load(path, NULL, NULL, NULL, &r, &err) == 0) {
		free(rp_markdown(&r, "x.svg"));
		free(rp_svg(&r));
		json_decref(rp_json(&r));
	}
	rp_release(&r);
	close(fd);
	return 0;
}
