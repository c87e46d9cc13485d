#ifndef CS_GGUFWRITE_H
#define CS_GGUFWRITE_H
/*
 * ggufwrite: plan and write a synthetic GGUF model for a modelspec preset,
 * the way llama.cpp's convert_hf_to_gguf.py lays one out.
 *
 * Names and shapes: llama.cpp's for the preset's architecture ("llama" or
 * "qwen2"): token_embd, blk.N.attn_{norm,q,k,v,output} (qwen2: the q/k/v
 * biases), blk.N.ffn_{norm,gate,up,down}, output_norm, output (unless the
 * embeddings are tied); ne[] is the Hugging Face shape reversed. The tensors
 * are the safetensors preset's, so the parameter counts are equal.
 *
 * Types: 2-D weights in the chosen type (F16, BF16, F32 or Q8_0: 34-byte
 * blocks of an f16 scale and 32 int8); 1-D tensors (norms, biases) in F32,
 * as the converter writes them. A Q8_0 weight whose rows are not a multiple
 * of 32 is written in F16 (as llama-quantize falls back).
 *
 * Metadata: general.*, ARCH.* hyperparameters, and a synthetic SentencePiece
 * vocabulary (tokenizer.ggml.model "llama") of the preset's vocab size:
 * <unk>, <s>/</s> at the preset's BOS/EOS ids, the 256 byte tokens, then
 * word pieces; llama.cpp tokenizes any text with it.
 *
 * Data: a pure function of (seed, tensor name): finite, small, never zero.
 * Split layout: with split_size, PREFIX-0000K-of-0000N.gguf parts as
 * gguf-split writes them (all metadata in the first, split.* in each).
 *
 * Atomicity: each file is written under a temporary name in its directory
 * (.NAME.tmp-PID-XXXXXXXX, locked while the writer lives: fsutil.h's
 * fs_temp_create), fsynced, and renamed into place, the first part last; on
 * failure or cancellation the temporary files are removed, and those of a
 * writer that was killed are removed by the next gw_write of the same
 * files. Nothing prints.
 */
#include <signal.h>
#include <stdint.h>

#include "ckptwrite.h"
#include "modelspec.h"
#include "core/base/strbuf.h"
#include "core/base/util.h"

struct gw_tensor {
	char *name;
	uint32_t ndim, type;
	uint64_t ne[2];
	uint64_t nelem, nbytes;
	uint64_t offset;           /* inside its part's data section */
	size_t part;
};

struct gw_part {
	char *path;                /* final name */
	struct strbuf header;      /* everything before the data, padded */
	size_t first, ntensors;
	uint64_t file_bytes;
};

struct gw_plan {
	struct ms_model model;
	uint32_t type;             /* GG_F16, GG_BF16, GG_F32 or GG_Q8_0 */
	uint64_t seed;
	uint32_t alignment;
	size_t ntensors;
	struct gw_tensor *tensors; /* file order */
	size_t nparts;
	struct gw_part *parts;
	char *dir;                 /* where the parts go */
	uint64_t tensor_bytes, file_bytes, nparams;
	size_t nfallback;          /* Q8_0 weights written as F16 */
};

/*
 * path: a name ending in ".gguf" is the file (with split_size, the parts
 * are PATH-without-.gguf-0000K-of-0000N.gguf); any other path is a
 * directory that gets model.gguf (or model-0000K-of-0000N.gguf).
 * split_size 0: one file.
 */
int gw_plan_build(const char *preset, int layers, uint32_t type, uint64_t split_size, uint64_t seed,
		  const char *path, struct gw_plan *p, struct cs_err *err);
void gw_plan_release(struct gw_plan *p);

/* Refuses to replace an existing part unless force; checks free space
 * before writing. ECANCELED in err->code when cancelled. */
int gw_write(const struct gw_plan *p, const struct ck_write_opts *o, struct cs_err *err);

/* len bytes of tensor t's data from byte off (Q8_0: whole blocks). */
void gw_fill(const struct gw_plan *p, size_t t, uint64_t off, unsigned char *buf, size_t len);

#endif
