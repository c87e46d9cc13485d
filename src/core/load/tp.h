#ifndef CS_TP_H
#define CS_TP_H
/*
 * tp: tensor-parallel slicing of a safetensors checkpoint over N ranks, the
 * way vLLM splits a Llama-family model (Llama, Qwen2, Mistral: Hugging Face
 * tensor names):
 *
 *   column  q_proj, gate_proj, up_proj (weight and bias): dim 0 cut in N
 *           equal parts, rank r the r-th;
 *   kv      k_proj, v_proj: by key/value heads -- as column when there are
 *           at least N heads; with fewer (N a multiple of them) each rank
 *           holds the one head it attends with, head r * kv / N (replicated
 *           across the N / kv ranks that share it);
 *   row     o_proj, down_proj weights: dim 1 cut in N equal parts (their
 *           biases replicated);
 *   vocab   embed_tokens, lm_head: dim 0 in parts of ceil(V / N) rows (the
 *           last rank's shorter), as vLLM's vocab-parallel embedding before
 *           its padding;
 *   replicated  everything else (norms, ...): whole on every rank.
 *
 * A dimension that does not divide as these rules need, or attention heads
 * (config.json) that do not divide by N, is an error naming the tensor (vLLM
 * refuses such a TP size too). Tensors of more than two
 * dimensions and sub-byte dtypes are replicated.
 *
 * A rank's slice of one tensor is a strided run (tp_slice): nseg segments
 * of seg bytes, stride bytes apart in the file's data region, packed one
 * after another in the rank's arena at dst. Each rank's arena holds its
 * slices in file order (shards in name order, tensors by offset). Pure
 * computation: nothing here reads a tensor byte.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/model/model.h"
#include "core/base/util.h"

#define TP_MAX 64

enum tp_kind { TP_REPLICATED, TP_COLUMN, TP_KV, TP_ROW, TP_VOCAB, TP_NKINDS };

struct tp_slice {
	uint64_t src;                 /* data-region offset of the first segment */
	uint64_t stride;              /* bytes from one segment to the next in the file */
	uint64_t seg;                 /* bytes per segment */
	uint64_t nseg;
	uint64_t dst;                 /* offset in the rank's arena */
};

struct tp_tensor {
	size_t shard, index;          /* m->shards[shard].h.tensors[index] */
	enum tp_kind kind;
	struct tp_slice *r;           /* per rank */
};

struct tp_plan {
	int n;
	int kv_heads;                 /* from config.json (num_key_value_heads), -1: not given */
	int heads;                    /* num_attention_heads: q_proj splits by heads; -1: not given */
	size_t nt;
	struct tp_tensor *t;          /* every tensor, file order */
	uint64_t *rank_bytes;         /* each rank's arena */
	size_t counts[TP_NKINDS];     /* tensors of each kind */
};

enum tp_kind tp_kind_of(const char *name, int ndim);
const char *tp_kind_name(enum tp_kind k);
/* The plan for n ranks (1..TP_MAX); kv_heads <= 0: read from the model's
 * config.json (num_key_value_heads, else num_attention_heads), needed only
 * when there are k/v projections. EINVAL with the tensor named. */
int tp_plan_make(const struct st_model *m, int n, int kv_heads, struct tp_plan *p, struct cs_err *err);
void tp_plan_release(struct tp_plan *p);

#endif
