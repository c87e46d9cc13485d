/* model: the byte ranges of a model in the order its engine reads them (st_model_read_order). */
#include "model.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/banned.h"

int st_natural_cmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			/* A run of digits against a run of digits: by value. */
			while (*a == '0' && isdigit((unsigned char)a[1]))
				a++;
			while (*b == '0' && isdigit((unsigned char)b[1]))
				b++;
			size_t la = 0, lb = 0;
			while (isdigit((unsigned char)a[la]))
				la++;
			while (isdigit((unsigned char)b[lb]))
				lb++;
			if (la != lb)
				return la < lb ? -1 : 1;
			int c = strncmp(a, b, la);
			if (c)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return *a ? 1 : *b ? -1 : 0;
}

static const struct st_model *sort_model;   /* qsort's context (st_model is not thread-safe anyway) */

static int cmp_shard_name(const void *pa, const void *pb)
{
	const struct st_shard *s = sort_model->shards;
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	int c = st_natural_cmp(s[a].name, s[b].name);
	return c ? c : strcmp(s[a].name, s[b].name);
}

struct ofs {
	uint64_t off, len;
};

static int cmp_ofs(const void *pa, const void *pb)
{
	const struct ofs *a = pa, *b = pb;
	return a->off < b->off ? -1 : a->off > b->off;
}

static void add(struct st_range **r, size_t *n, size_t *alloc, size_t shard, uint64_t off, uint64_t len)
{
	if (!len)
		return;
	*r = xgrow(*r, alloc, *n + 1, sizeof(**r));
	(*r)[(*n)++] = (struct st_range){ shard, off, len };
}

/* One shard: its header, then its tensors by offset. */
static void shard_ranges(const struct st_model *m, size_t s, struct st_range **r, size_t *n, size_t *alloc)
{
	const struct st_shard *sh = &m->shards[s];
	int gg = m->format == ST_FORMAT_GGUF;
	size_t nt = gg ? sh->g.ntensors : sh->h.ntensors;
	uint64_t base = gg ? sh->g.data_start : sh->h.data_start;
	struct ofs *t = xcalloc(nt ? nt : 1, sizeof(*t));
	for (size_t i = 0; i < nt; i++) {
		if (gg)
			t[i] = (struct ofs){ sh->g.tensors[i].offset, sh->g.tensors[i].nbytes };
		else
			t[i] = (struct ofs){ sh->h.tensors[i].begin, sh->h.tensors[i].end - sh->h.tensors[i].begin };
	}
	qsort(t, nt, sizeof(*t), cmp_ofs);
	add(r, n, alloc, s, 0, base);
	for (size_t i = 0; i < nt; i++)
		add(r, n, alloc, s, base + t[i].off, t[i].len);
	free(t);
}

struct st_range *st_model_read_order(const struct st_model *m, size_t *n)
{
	struct st_range *r = NULL;
	size_t alloc = 0;
	*n = 0;
	size_t *ord = xcalloc(m->nshards ? m->nshards : 1, sizeof(*ord));
	for (size_t i = 0; i < m->nshards; i++)
		ord[i] = i;
	/* GGUF: the parts as they are, in split order. */
	if (m->format == ST_FORMAT_SAFETENSORS) {
		sort_model = m;
		qsort(ord, m->nshards, sizeof(*ord), cmp_shard_name);
		sort_model = NULL;
	}
	for (size_t i = 0; i < m->nshards; i++)
		shard_ranges(m, ord[i], &r, n, &alloc);
	free(ord);
	return r;
}
