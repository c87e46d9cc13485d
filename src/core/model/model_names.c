#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/banned.h"

int st_name_ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct st_name_ref *)a)->name, ((const struct st_name_ref *)b)->name);
}

static int cmp_name_shard(const void *a, const void *b)
{
	const struct st_name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : x->shard < y->shard ? -1 : x->shard > y->shard;
}

struct st_name_ref *st_model_names(const struct st_model *m, size_t *n)
{
	int gguf = m->format == ST_FORMAT_GGUF;
	size_t total = 0, k = 0;
	for (size_t s = 0; s < m->nshards; s++)
		total += gguf ? m->shards[s].g.ntensors : m->shards[s].h.ntensors;
	struct st_name_ref *r = xcalloc(total ? total : 1, sizeof(*r));
	for (size_t s = 0; s < m->nshards; s++) {
		const struct st_shard *sh = &m->shards[s];
		size_t nt = gguf ? sh->g.ntensors : sh->h.ntensors;
		for (size_t t = 0; t < nt; t++)
			r[k++] = (struct st_name_ref){ gguf ? sh->g.tensors[t].name : sh->h.tensors[t].name, s, 0 };
	}
	qsort(r, k, sizeof(*r), cmp_name_shard);
	*n = k;
	return r;
}

size_t st_names_dup(const struct st_name_ref *names, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (!strcmp(names[i - 1].name, names[i].name))
			return i;
	return 0;
}
