#ifndef CS_GGUF_H
#define CS_GGUF_H
/*
 * gguf: parse and validate GGUF files (ggml's model format, read by
 * llama.cpp), and the names of the split layout.
 *
 * File layout (little-endian): "GGUF" | u32 version (2 or 3) | u64 tensor
 * count | u64 KV count | KVs (string key, u32 type, value) | tensor infos
 * (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset) |
 * padding to general.alignment (default 32) | data. A string is u64 length +
 * bytes (no NUL); an array is u32 element type + u64 count + elements, and
 * may hold arrays.
 *
 * Validation rules (each failure names the key or tensor and the rule; the
 * file-level functions add the path):
 *  - magic, version 2 or 3, counts that fit in the file;
 *  - every KV of a known type, keys unique (a key twice: both KVs named)
 *    and non-empty, strings and arrays
 *    inside the file, arrays nested at most GG_MAX_DEPTH deep;
 *  - general.alignment, if present, a u32 power of two; general.architecture
 *    a string (required unless the file is a later part of a split set);
 *  - tensor names unique (a name twice: both tensor infos named), 1..63 bytes; 0..4 dims, each at least 1, an element
 *    count that does not overflow; a known ggml type whose block size divides
 *    ne[0]; offsets multiples of the alignment; each tensor inside the file;
 *    no two overlapping.
 *
 * Ownership: gg_parse / gg_file_read fill a struct gg_file that owns every
 * string in it; release it with gg_file_release (harmless on a failed parse).
 * Nothing here prints; not thread-safe per struct.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/base/util.h"

#define GG_MAGIC "GGUF"
#define GG_MAX_DIMS 4
#define GG_MAX_NAME 63          /* ggml's GGML_MAX_NAME (64) less the NUL */
#define GG_MAX_DEPTH 8
#define GG_DEFAULT_ALIGNMENT 32
#define GG_NTYPES 42            /* ggml types known (ids 0..41; some retired) */

enum gg_type { GG_F32 = 0, GG_F16 = 1, GG_Q8_0 = 8, GG_BF16 = 30 };
enum gg_kv_type {
	GGKV_U8, GGKV_I8, GGKV_U16, GGKV_I16, GGKV_U32, GGKV_I32, GGKV_F32, GGKV_BOOL,
	GGKV_STRING, GGKV_ARRAY, GGKV_U64, GGKV_I64, GGKV_F64, GGKV_NTYPES
};

/* "q8_0" etc., or NULL for an unknown or retired type. */
const char *gg_type_name(uint32_t type);
/* Elements per block and bytes per block; 0 when unknown or retired. */
uint32_t gg_type_block(uint32_t type);
uint32_t gg_type_size(uint32_t type);
/* Type for a name like "q8_0" or "F16" (any case), or -1. */
int gg_type_parse(const char *name);
/* Size in bytes of ne[0..ndim) elements of type, 0 on overflow or when
 * ne[0] is not a multiple of the block. */
uint64_t gg_nbytes(uint32_t type, const uint64_t *ne, uint32_t ndim);

struct gg_tensor {
	char *name;
	uint32_t ndim, type;
	uint64_t ne[GG_MAX_DIMS];  /* ne[0] is the innermost (contiguous) dim */
	uint64_t offset;           /* relative to data_start */
	uint64_t nelem, nbytes;
};

struct gg_file {
	uint32_t version;
	uint64_t nkv;
	size_t ntensors;
	struct gg_tensor *tensors;      /* in the order of the tensor infos */
	uint32_t alignment;
	uint64_t header_end;            /* end of the tensor infos */
	uint64_t data_start;            /* header_end rounded up to alignment */
	uint64_t file_size;
	char *arch, *name;              /* general.architecture / general.name, or NULL */
	char *tokenizer;                /* tokenizer.ggml.model, or NULL */
	uint64_t vocab;                 /* entries in tokenizer.ggml.tokens */
	int64_t block_count, embedding_length, context_length;  /* ARCH.*; -1 if absent */
	int64_t file_type;              /* general.file_type, -1 if absent */
	int split_no, split_count;      /* split.no / split.count; -1 if absent */
	int64_t split_tensors;          /* split.tensors.count, -1 if absent */
	uint64_t nparams, tensor_bytes;
	uint64_t params_by_type[GG_NTYPES], bytes_by_type[GG_NTYPES];
};

/*
 * Parse a GGUF prefix: buf holds the first len bytes of a file of
 * file_size bytes. When the header runs past len but len < file_size,
 * returns -1 with err->code EAGAIN (read more and call again); any other
 * failure is the file's fault (EINVAL) and err says which rule it broke.
 */
int gg_parse(const unsigned char *buf, size_t len, uint64_t file_size, struct gg_file *f,
	     struct cs_err *err);
/* Read and validate one file's header (a growing prefix); the message
 * names the path. */
int gg_file_read(const char *path, struct gg_file *f, struct cs_err *err);
void gg_file_release(struct gg_file *f);

/* The file starts with the GGUF magic (1), does not (0), or cannot be
 * read (-1, errno set). */
int gg_has_magic(const char *path);
/* NAME ends in ".gguf". */
int gg_is_gguf_name(const char *name);
/*
 * Split layout: "PREFIX-0000K-of-0000N.gguf" (K from 1). gg_split_parse
 * returns 1 with *prefix (malloc'd, may include a directory), *no (1-based)
 * and *count when path has that form, else 0. gg_split_path builds the name
 * of part no of count.
 */
int gg_split_parse(const char *path, char **prefix, int *no, int *count);
char *gg_split_path(const char *prefix, int no, int count);

#endif
