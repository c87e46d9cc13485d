/* source: the file records every row fills, and what is done with them
 * (kept or dropped by the filter, freed), apart from the table itself so
 * that the rows call it and it calls none of them. */
#include "source.h"

#include <stdlib.h>

#include "core/base/banned.h"

int source_file_identified(const struct source_file *f)
{
	return (f->etag && *f->etag) || f->mtime_ns;
}

static void file_release(struct source_file *f)
{
	free(f->name);
	free(f->url);
	free(f->etag);
	free(f->checksum);
}

void source_keep_wanted(const struct source *s, struct source_file *f, size_t *n)
{
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		if (!s->o.want || s->o.want(s->o.want_arg, f[i].name))
			f[k++] = f[i];
		else
			file_release(&f[i]);
	}
	*n = k;
}

void source_files_free(struct source_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		file_release(&f[i]);
	free(f);
}
