#define _GNU_SOURCE
#include "core/model/ckptwrite.h"
#include "core/base/fsutil.h"
#include "core/model/model.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	struct stat st;
	fstat(fd, &st);
	char *b = xmalloc((size_t)st.st_size);
	fs_pread_full(fd, b, (size_t)st.st_size, 0);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static float bf16_to_float(uint16_t v)
{
	uint32_t u = (uint32_t)v << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static int write_model(const char *dir, const char *preset, int layers, uint64_t shard, uint64_t seed,
		       int force, struct cs_err *e)
{
	struct ck_plan p;
	if (ck_plan_build(preset, layers, ST_BF16, shard, seed, &p, e))
		return -1;
	struct ck_write_opts o = { .dir = dir, .force = force };
	int r = ck_write(&p, &o, e);
	ck_plan_release(&p);
	return r;
}

int main(void)
{
	char tmpl[] = "/tmp/cs-test-ckpt-XXXXXX";
	char *root = mkdtemp(tmpl);
	ok(root != NULL, "scratch dir");
	char *d1 = path_join(root, "a"), *d2 = path_join(root, "b"), *d3 = path_join(root, "c"),
	     *d4 = path_join(root, "single");
	struct cs_err e;

	int r = write_model(d1, "tiny", 0, 10000000, 7, 0, &e);
	ok(r == 0, "write tiny sharded at 10MB (%s)", r ? e.msg : "ok");
	struct st_model m;
	r = st_model_open(d1, &m, &e);
	ok(r == 0, "written model validates (%s)", r ? e.msg : "ok");
	is_int(m.nparams, 19286272, "parameter count read back");
	ok(m.has_index, "sharded model has an index");
	ok(m.nshards > 1, "more than one shard (%zu)", m.nshards);
	/* embedding 16.4 MB | 4 layers + norm 5.8 MB | lm_head 16.4 MB */
	is_int(m.nshards, 3, "tiny at 10MB: 3 shards");
	is_str(m.shards[0].name, "model-00001-of-00003.safetensors", "shard naming");
	is_str(m.architecture, "LlamaForCausalLM", "architecture from config.json");
	for (size_t s = 0; s < m.nshards; s++)
		ok(m.shards[s].h.data_start % 8 == 0, "shard %zu data region 8-byte aligned", s);

	/* Every value of every tensor: finite, non-zero, small. */
	size_t bad = 0, n = 0, zeros = 0;
	for (size_t s = 0; s < m.nshards; s++) {
		size_t len;
		char *b = slurp(m.shards[s].path, &len);
		ok(b && len == m.shards[s].file_size, "read shard %zu", s);
		const uint16_t *v = (const uint16_t *)(b + m.shards[s].h.data_start);
		size_t cnt = (len - m.shards[s].h.data_start) / 2;
		for (size_t i = 0; i < cnt; i++) {
			float f = bf16_to_float(v[i]);
			if (f == 0)
				zeros++;
			if (!isfinite(f) || fabsf(f) >= 0.25f || fabsf(f) < 0.0009f)
				bad++;
			n++;
		}
		free(b);
	}
	is_int(n, 19286272, "all values visited");
	is_int(zeros, 0, "no zeros");
	is_int(bad, 0, "all values finite with 2^-10 <= |x| < 2^-2");

	/* Same seed, different sharding: same tensor bytes. */
	r = write_model(d4, "tiny", 0, 0, 7, 0, &e);
	ok(r == 0, "write tiny as one file");
	struct st_model m4;
	ok(st_model_open(d4, &m4, &e) == 0 && m4.nshards == 1 && !m4.has_index, "single-file layout");
	size_t l1, l4;
	char *b1 = slurp(m.shards[0].path, &l1), *b4 = slurp(m4.shards[0].path, &l4);
	const struct st_tensor *t1 = NULL, *t4 = NULL;
	for (size_t i = 0; i < m.shards[0].h.ntensors; i++)
		if (!strcmp(m.shards[0].h.tensors[i].name, "model.embed_tokens.weight"))
			t1 = &m.shards[0].h.tensors[i];
	for (size_t i = 0; i < m4.shards[0].h.ntensors; i++)
		if (!strcmp(m4.shards[0].h.tensors[i].name, "model.embed_tokens.weight"))
			t4 = &m4.shards[0].h.tensors[i];
	ok(t1 && t4 && !memcmp(b1 + m.shards[0].h.data_start + t1->begin, b4 + m4.shards[0].h.data_start + t4->begin,
			       t1->end - t1->begin),
	   "embedding bytes independent of sharding");
	free(b1);
	free(b4);
	st_model_release(&m4);

	/* Determinism and seed sensitivity. */
	ok(write_model(d2, "tiny", 0, 10000000, 7, 0, &e) == 0, "write again, same seed");
	ok(write_model(d3, "tiny", 0, 10000000, 8, 0, &e) == 0, "write again, other seed");
	char *p1 = path_join(d1, "model-00002-of-00003.safetensors");
	char *p2 = path_join(d2, "model-00002-of-00003.safetensors");
	char *p3 = path_join(d3, "model-00002-of-00003.safetensors");
	size_t a, b, c;
	char *x1 = slurp(p1, &a), *x2 = slurp(p2, &b), *x3 = slurp(p3, &c);
	ok(a == b && !memcmp(x1, x2, a), "same seed, same bytes");
	ok(a == c && memcmp(x1, x3, a), "other seed, other bytes");
	free(x1);
	free(x2);
	free(x3);
	free(p1);
	free(p2);
	free(p3);

	/* Refusals: non-empty DIR without force; a file in the way. */
	r = write_model(d1, "tiny", 1, 0, 0, 0, &e);
	ok(r < 0 && strstr(e.msg, "is not empty"), "non-empty dir refused (%s)", e.msg);
	struct st_model again;
	ok(st_model_open(d1, &again, &e) == 0 && again.nparams == 19286272, "refused write left the model intact");
	st_model_release(&again);
	r = write_model(d1, "tiny", 1, 0, 0, 1, &e);
	ok(r == 0, "--force replaces");
	ok(st_model_open(d1, &again, &e) == 0 && again.nshards == 1 && again.nparams < 19286272,
	   "replaced model has 1 layer");
	st_model_release(&again);
	char *f = path_join(root, "file");
	close(open(f, O_CREAT | O_WRONLY, 0644));
	r = write_model(f, "tiny", 1, 0, 0, 1, &e);
	ok(r < 0 && strstr(e.msg, "not a directory"), "a file in the way is refused");
	free(f);

	/* Nothing left behind: no temporary directories beside the models. */
	int partials = 0;
	DIR *dd = opendir(root);
	struct dirent *de;
	while ((de = readdir(dd)))
		if (strstr(de->d_name, "partial"))
			partials++;
	closedir(dd);
	is_int(partials, 0, "no partial directories left");

	/* Plans for the big presets without writing: 7B in 4 shards of <= 5GB. */
	struct ck_plan p;
	ok(ck_plan_build("qwen2.5-7b", 0, ST_BF16, 0, 0, &p, &e) == 0, "plan qwen2.5-7b");
	is_int(p.nshards, 4, "qwen2.5-7b: 4 shards at 5GB");
	is_int(p.tensor_bytes, 7615616512ULL * 2, "qwen2.5-7b tensor bytes");
	for (size_t s = 0; s < p.nshards; s++)
		ok(p.shards[s].data_bytes <= CK_DEFAULT_SHARD_SIZE, "shard %zu within 5GB", s);
	ck_plan_release(&p);
	ok(ck_plan_build("llama-3.1-8b", 0, ST_BF16, 0, 0, &p, &e) == 0 && p.nparams == 8030261248ULL,
	   "plan llama-3.1-8b parameter count");
	ck_plan_release(&p);

	st_model_release(&m);
	fs_remove_tree(root);
	free(d1);
	free(d2);
	free(d3);
	free(d4);
	return done_testing();
}
