#define _GNU_SOURCE
#include "core/ckptwrite.h"
#include "core/fsutil.h"
#include "core/loader.h"
#include "core/safetensors.h"

#include "tap.h"

int main(void)
{
	char tmpl[] = "/tmp/cs-test-loader-XXXXXX";
	char *root = mkdtemp(tmpl);
	char *dir = path_join(root, "m");
	struct ck_plan p;
	struct cs_err e;
	ok(ck_plan_build("tiny", 2, ST_BF16, 4000000, 3, &p, &e) == 0, "plan a sharded tiny model");
	struct ck_write_opts wo = { .dir = dir };
	ok(ck_write(&p, &wo, &e) == 0, "write it");
	ck_plan_free(&p);
	struct st_model m;
	ok(st_model_open(dir, &m, &e) == 0 && m.nshards > 1, "open it (%zu shards)", m.nshards);

	struct loader L;
	struct ld_opts o = { LD_HOST, 3, 1u << 20, 0, 0, NULL };
	ok(ld_load(&m, &o, &L, &e) == 0, "host load with 3 threads and 1 MiB chunks");
	is_int(L.bytes, m.tensor_bytes, "every tensor byte loaded");
	ok(ld_verify(&m, &L, &e) == 0, "verify: identical to the files (%s)", e.msg);
	/* One flipped byte inside a known tensor is found and named. */
	const struct st_shard *s = &m.shards[0];
	const struct st_tensor *t = &s->h.tensors[s->h.ntensors / 2];
	L.host[0][t->begin + 5] ^= 0xff;
	ok(ld_verify(&m, &L, &e) < 0 && strstr(e.msg, t->name), "a changed byte is reported with its tensor (%s)", e.msg);
	ld_free(&L);

	o.dummy = 1;
	ok(ld_load(&m, &o, &L, &e) == 0 && L.bytes == m.tensor_bytes, "dummy allocates the same bytes");
	ld_free(&L);

	st_model_free(&m);
	fs_remove_tree(root);
	free(dir);
	return done_testing();
}
