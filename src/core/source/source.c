/* source: the table of sources, and a source opened through its row. */
#include "source.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/banned.h"

/*
 * The rows, asked in this order (source.h): a new source is its own file
 * with `const struct source_ops source_NAME` and one ROW(NAME) here,
 * before local, which takes every string.
 */
#define SOURCE_ROWS(ROW) \
	ROW(s3)          \
	ROW(http)        \
	ROW(local)

#define DECLARE(name) extern const struct source_ops source_##name;
SOURCE_ROWS(DECLARE)
#define ENTRY(name) &source_##name,
static const struct source_ops *const table[] = { SOURCE_ROWS(ENTRY) };

const struct source_ops *source_for(const char *src)
{
	size_t n = sizeof(table) / sizeof(*table);
	for (size_t i = 0; i < n; i++)
		if (table[i]->recognise(src))
			return table[i];
	return table[n - 1];   /* local, whose recognise takes every string */
}

int source_open(const char *src, const struct source_opts *o, struct source **out, struct cs_err *err)
{
	struct source *s = xcalloc(1, sizeof(*s));
	s->ops = source_for(src);
	s->given = xstrdup(src);
	s->o = *o;
	*out = NULL;
	if (s->ops->open(s, err)) {
		source_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

void source_close(struct source *s)
{
	if (!s)
		return;
	if (s->ops->close)
		s->ops->close(s);
	free(s->given);
	free(s->canon);
	free(s);
}
