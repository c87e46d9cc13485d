#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "core/base/banned.h"

int gg_model_open(const char *path, struct st_model *m, struct cs_err *err)
{
	int rc = gg_model_fill(path, m, err);
	if (rc)
		st_model_release(m);
	return rc;
}

int st_model_open(const char *dir, struct st_model *m, struct cs_err *err)
{
	int rc = gg_model_open(dir, m, err);
	if (rc <= 0)
		return rc;
	return st_model_open_files(dir, NULL, 0, m, err);
}

int st_model_open_files(const char *dir, char *const *files, size_t n, struct st_model *m, struct cs_err *err)
{
	int rc = st_model_fill(dir, files, n, m, err);
	if (rc)
		st_model_release(m);
	return rc;
}

void st_model_release(struct st_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nshards; i++) {
		free(m->shards[i].name);
		free(m->shards[i].path);
		st_header_release(&m->shards[i].h);
		gg_file_release(&m->shards[i].g);
	}
	free(m->shards);
	free_strv(m->files, m->nfiles);
	free(m->dir);
	free(m->entry);
	free(m->architecture);
	free(m->model_type);
	free(m->torch_dtype);
	memset(m, 0, sizeof(*m));
}
