/* libFuzzer target: the GGUF header parser on arbitrary bytes.
 * Build and run with `make fuzz` (clang). Any crash, hang, leak or
 * sanitizer report is a bug; rejections are expected. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gg_file f;
	struct cs_err err;
	/* The input as a whole file, and as the prefix of a larger one (the
	 * "read more" path the file reader takes). */
	if (gg_parse(data, size, size, &f, &err) == 0)
		gg_file_release(&f);
	if (gg_parse(data, size, (uint64_t)size + 4096, &f, &err) == 0)
		gg_file_release(&f);
	else if (err.code != EAGAIN && err.code != EINVAL)
		__builtin_trap();   /* every refusal is the file's fault or a need for more */
	return 0;
}
