#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/fsutil.h"
#include "gguf.h"
#include "model.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

/* The first parts of the GGUF models at the top of dir (a file that is
 * not part 1 of a split set, or part 1). */
static char **top_models(const struct st_model *m, size_t *n, int *any_gguf, int *any_safetensors)
{
	char **out = NULL;
	size_t alloc = 0;
	*n = 0;
	*any_gguf = *any_safetensors = 0;
	for (size_t i = 0; i < m->nfiles; i++) {
		const char *f = m->files[i];
		size_t l = strlen(f);
		if (strchr(f, '/'))
			continue;
		if (l > 12 && !strcmp(f + l - 12, ".safetensors"))
			*any_safetensors = 1;
		if (!gg_is_gguf_name(f))
			continue;
		*any_gguf = 1;
		int no;
		if (gg_split_parse(f, NULL, &no, NULL) && no != 1)
			continue;
		out = xgrow(out, &alloc, *n + 1, sizeof(char *));
		out[(*n)++] = m->files[i];
	}
	return out;
}

static int open_part(struct st_model *m, const char *path, struct cs_err *err)
{
	m->shards = xrealloc(m->shards, (m->nshards + 1) * sizeof(*m->shards));
	struct st_shard *s = &m->shards[m->nshards];
	memset(s, 0, sizeof(*s));
	s->path = xstrdup(path);
	s->name = fs_basename(path);
	m->nshards++;
	if (gg_file_read(path, &s->g, err))
		return -1;
	s->file_size = s->g.file_size;
	return 0;
}

/* Every part of the set entry begins, with the split keys checked. */
static int open_parts(struct st_model *m, struct cs_err *err)
{
	char *prefix = NULL;
	int no = 1, count = 1;
	int named = gg_split_parse(m->entry, &prefix, &no, &count);
	if (named && no != 1) {
		char *first = gg_split_path(prefix, 1, count);
		int rc = cs_fail(err, EINVAL, "'%s' is part %d of %d of a split GGUF model: name part 1, '%s'", m->entry,
				 no, count, first);
		free(first);
		free(prefix);
		return rc;
	}
	int rc = open_part(m, m->entry, err);
	const struct gg_file *g0 = rc ? NULL : &m->shards[0].g;
	if (!rc && !named && g0->split_count > 1)
		rc = cs_fail(err, EINVAL, "'%s': split.count is %d but the name lacks -00001-of-%05d.gguf", m->entry,
			     g0->split_count, g0->split_count);
	if (!rc && named && g0->split_count != count)
		rc = cs_fail(err, EINVAL, "'%s': split.count is %d, the name says %d parts", m->entry, g0->split_count, count);
	for (int k = 2; !rc && k <= count; k++) {
		char *p = gg_split_path(prefix, k, count);
		struct stat st;
		if (stat(p, &st) < 0)
			rc = cs_fail_errno(err, errno, "part %d of %d of '%s' is missing ('%s')", k, count, m->entry, p);
		else
			rc = open_part(m, p, err);
		if (!rc && m->shards[k - 1].g.split_no != k - 1)
			rc = cs_fail(err, EINVAL, "'%s': split.no is %d, expected %d", p, m->shards[k - 1].g.split_no, k - 1);
		free(p);
	}
	free(prefix);
	return rc;
}

/* Each tensor name in one part only: llama.cpp's loader keeps a name once
 * (the first part's), so a second definition is weights nobody asked for,
 * or the ones that win. A part's own duplicates were refused reading it. */
static int check_unique(const struct st_model *m, struct cs_err *err)
{
	size_t k;
	struct st_name_ref *r = st_model_names(m, &k);
	size_t i = st_names_dup(r, k);
	int rc = i ? cs_fail(err, EINVAL, "'%s': tensor '%s' is in two parts: '%s' and '%s'", m->entry, r[i].name,
			     m->shards[r[i - 1].shard].name, m->shards[r[i].shard].name) : 0;
	free(r);
	return rc;
}

static void totals(struct st_model *m)
{
	const struct gg_file *g0 = &m->shards[0].g;
	for (size_t s = 0; s < m->nshards; s++) {
		const struct gg_file *g = &m->shards[s].g;
		m->ntensors += g->ntensors;
		m->nparams += g->nparams;
		m->tensor_bytes += g->tensor_bytes;
		m->file_bytes += g->file_size;
		for (int t = 0; t < GG_NTYPES; t++) {
			m->params_by_ggtype[t] += g->params_by_type[t];
			m->bytes_by_ggtype[t] += g->bytes_by_type[t];
		}
	}
	m->architecture = g0->arch ? xstrdup(g0->arch) : NULL;
	m->model_type = g0->arch ? xstrdup(g0->arch) : NULL;
	m->num_layers = g0->block_count;
	m->hidden_size = g0->embedding_length;
	m->vocab_size = g0->tokenizer ? (int64_t)g0->vocab : -1;
}

int gg_model_fill(const char *path, struct st_model *m, struct cs_err *err)
{
	memset(m, 0, sizeof(*m));
	m->format = ST_FORMAT_GGUF;
	m->num_layers = m->hidden_size = m->vocab_size = -1;
	m->dir = xstrdup(path);
	struct stat st;
	if (stat(path, &st) < 0)
		return 1;   /* st_model_open says why */
	if (S_ISREG(st.st_mode)) {
		if (!gg_is_gguf_name(path) && gg_has_magic(path) != 1)
			return 1;
		m->entry = xstrdup(path);
	} else if (S_ISDIR(st.st_mode)) {
		fs_list_files(path, &m->files, &m->nfiles);
		size_t n;
		int any, safet;
		char **firsts = top_models(m, &n, &any, &safet);
		int rc = !any || safet ? 1 : 0;
		if (!rc && n == 0)
			rc = cs_fail(err, EINVAL, "'%s' holds parts of a split GGUF model but not part 1", path);
		if (!rc && n > 1) {
			struct strbuf sb = STRBUF_INIT;
			for (size_t i = 0; i < n && i < 4; i++)
				strbuf_addf(&sb, "%s'%s'", i ? ", " : "", firsts[i]);
			rc = cs_fail(err, EINVAL, "'%s' holds %zu GGUF models (%s%s): name the file", path, n, sb.buf,
				     n > 4 ? ", ..." : "");
			strbuf_release(&sb);
		}
		if (!rc)
			m->entry = path_join(path, firsts[0]);
		free(firsts);
		if (rc)
			return rc;
	} else {
		return cs_fail(err, EINVAL, "'%s' is not a file or directory", path);
	}
	int rc = open_parts(m, err);
	if (!rc && m->nshards > 1)
		rc = check_unique(m, err);
	if (rc)
		return rc;
	const struct gg_file *g0 = &m->shards[0].g;
	totals(m);
	if (m->nshards > 1 && g0->split_tensors >= 0 && (uint64_t)g0->split_tensors != m->ntensors)
		return cs_fail(err, EINVAL, "'%s': split.tensors.count is %" PRId64 " but the %zu parts hold %" PRIu64 " tensors",
			       m->entry, g0->split_tensors, m->nshards, m->ntensors);
	if (!m->files) {
		m->files = xcalloc(m->nshards, sizeof(char *));
		for (size_t s = 0; s < m->nshards; s++)
			m->files[s] = xstrdup(m->shards[s].name);
		m->nfiles = m->nshards;
	}
	return 0;
}
