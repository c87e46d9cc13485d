#define _GNU_SOURCE
#include "core/model/ckptwrite.h"
#include "core/base/fsutil.h"
#include "core/load/loader.h"
#include "core/model/model.h"
#include "core/load/tp.h"

#include <string.h>

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
	ck_plan_release(&p);
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
	ld_release(&L);

	o.dummy = 1;
	ok(ld_load(&m, &o, &L, &e) == 0 && L.bytes == m.tensor_bytes, "dummy allocates the same bytes");
	ld_release(&L);

	/* Tensor parallel, host mode: every rank's slices loaded and checked,
	 * every file byte read once, a changed byte found on its rank. */
	ok(tp_kind_of("model.layers.3.self_attn.q_proj.weight", 2) == TP_COLUMN &&
	   tp_kind_of("model.layers.3.self_attn.k_proj.bias", 1) == TP_KV &&
	   tp_kind_of("model.layers.3.mlp.down_proj.weight", 2) == TP_ROW &&
	   tp_kind_of("model.layers.3.self_attn.o_proj.bias", 1) == TP_REPLICATED &&
	   tp_kind_of("lm_head.weight", 2) == TP_VOCAB && tp_kind_of("model.norm.weight", 1) == TP_REPLICATED,
	   "the kinds of Llama-family tensor names");
	for (int n = 1; n <= 4; n *= 2) {
		struct tp_plan tp;
		ok(tp_plan_make(&m, n, 0, &tp, &e) == 0 && tp.kv_heads == 2, "TP=%d plan (kv heads from config.json)", n);
		uint64_t sum = 0;
		for (int r = 0; r < n; r++)
			sum += tp.rank_bytes[r];
		ok(n == 1 ? sum == m.tensor_bytes : sum > m.tensor_bytes / (uint64_t)n * (uint64_t)n / 2,
		   "TP=%d: the ranks' bytes add up", n);
		struct ld_tp T;
		struct ld_opts to = { LD_HOST, 3, 65536, 0, 0, NULL };
		ok(ld_load_tp(&m, &tp, &to, &T, &e) == 0, "TP=%d host load, 64 KiB chunks (%s)", n, e.msg);
		is_int(T.read_bytes, m.tensor_bytes, "TP=%d: each file byte read once", n);
		ok(ld_verify_tp(&m, &tp, &T, &e) == 0, "TP=%d: every rank identical to its slices (%s)", n, e.msg);
		T.host[n - 1][T.bytes[n - 1] / 2] ^= 0x40;
		ok(ld_verify_tp(&m, &tp, &T, &e) < 0 && strstr(e.msg, n == 1 ? "rank 0" : n == 2 ? "rank 1" : "rank 3"),
		   "TP=%d: a changed byte is found on its rank (%s)", n, e.msg);
		ld_tp_release(&T);
		tp_plan_release(&tp);
	}
	struct tp_plan bad;
	ok(tp_plan_make(&m, 8, 0, &bad, &e) < 0 && strstr(e.msg, "attention heads"), "TP=8 over 4 heads refused (%s)",
	   e.msg);

	st_model_release(&m);
	fs_remove_tree(root);
	free(dir);
	return done_testing();
}
