/* libFuzzer target: the safetensors header parser on arbitrary bytes.
 * Build and run with `make fuzz` (clang). Any crash, hang, leak or
 * sanitizer report is a bug; rejections are expected. */
#include <stddef.h>
#include <stdint.h>

#include "core/model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_header h;
	struct cs_err err;
	/* Treat the input as a whole file, and also as a prefix of a larger
	 * one, so both the bounds checks and the coverage checks are reached. */
	if (st_header_parse(data, size, size, &h, &err) == 0)
		st_header_release(&h);
	if (size >= 8 && st_header_parse(data, size, (uint64_t)size + 4096, &h, &err) == 0)
		st_header_release(&h);
	return 0;
}
