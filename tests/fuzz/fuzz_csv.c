/* libFuzzer target: the RFC 4180 CSV parser and the notes key lookup. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/csvlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csv_table t;
	struct cs_err err;
	if (csv_parse((const char *)data, size, &t, &err) == 0) {
		for (size_t r = 0; r < t.nrows; r++)
			if (t.ncols[r] == 7)
				free(notes_get(t.cells[r][6], "load_s"));
		csv_table_release(&t);
	}
	return 0;
}
