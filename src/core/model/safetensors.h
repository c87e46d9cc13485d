#ifndef CS_SAFETENSORS_H
#define CS_SAFETENSORS_H
/*
 * safetensors: parse and validate safetensors headers and Hugging Face model
 * directories (single file or sharded with model.safetensors.index.json).
 *
 * File layout: u64 little-endian N | N bytes of UTF-8 JSON | data.
 * Validation rules (each failure names the file, the tensor and the rule):
 *  - 8 <= file size, N <= ST_MAX_HEADER (100 MB) and 8 + N <= file size;
 *  - the header is valid UTF-8 JSON, an object, no duplicate keys;
 *  - "__metadata__", if present, maps strings to strings;
 *  - each tensor has a known dtype, a shape of non-negative integers and
 *    data_offsets [begin, end] with begin <= end;
 *  - (end - begin) * 8 == product(shape) * dtype bits;
 *  - sorted by offset, tensors start at 0, never overlap, leave no gap and end
 *    exactly at the end of the file;
 *  - a model directory (st_model_fill): no tensor name in two files (with an index or
 *    without one, when every *.safetensors is the model's), no key twice in
 *    the index or config.json; a name defined twice is refused naming both
 *    places (two byte offsets, two files, two weight_map lines).
 *
 * The format-neutral model (struct st_model, st_model_open) is model.h's.
 *
 * Ownership: every struct is filled by its *_read/parse function and released
 * by the matching *_free; all strings inside are owned by the struct.
 * Nothing here prints. Not thread-safe per struct; distinct structs are
 * independent.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/base/util.h"

#define ST_MAX_HEADER (100u * 1000u * 1000u)
#define ST_MAX_DIMS 32

enum st_dtype {
	ST_BOOL, ST_U8, ST_I8, ST_F8_E4M3, ST_F8_E5M2, ST_F8_E8M0, ST_I16, ST_U16,
	ST_F16, ST_BF16, ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64, ST_C64,
	ST_F4, ST_F6_E2M3, ST_F6_E3M2,
	ST_NDTYPES
};

const char *st_dtype_name(int dtype);
unsigned st_dtype_bits(int dtype);
/* Returns the dtype for a name like "BF16", or -1. */
int st_dtype_parse(const char *name);

struct st_tensor {
	char *name;
	int dtype;
	int ndim;
	uint64_t shape[ST_MAX_DIMS];
	uint64_t nelem;
	uint64_t begin, end;      /* relative to the start of the data region */
};

struct st_header {
	uint64_t header_len;      /* N */
	uint64_t data_start;      /* 8 + N: absolute offset of the data region */
	uint64_t data_len;
	size_t ntensors;
	struct st_tensor *tensors; /* sorted by begin offset (file order) */
	size_t nmeta;
	char **meta_keys, **meta_vals;
};

/*
 * Parse a whole safetensors prefix. buf holds the first len bytes of a file
 * whose total size is file_size (len may equal file_size, or be just 8 + N).
 * On error returns -1 with err filled (message without the file name).
 */
int st_header_parse(const unsigned char *buf, size_t len, uint64_t file_size,
		    struct st_header *h, struct cs_err *err);
void st_header_release(struct st_header *h);

/* Read and validate one file's header. The message names the path. */
int st_file_read(const char *path, struct st_header *h, uint64_t *file_size,
		 struct cs_err *err);

struct st_model;

/*
 * The safetensors half of st_model_open / st_model_open_files (model.h):
 * fills m from the model directory dir -- its index, if any, against the
 * shards, every shard's header, config.json if present. set (nset relative
 * names) limits the model to those files, as st_model_open_files says;
 * NULL: every file of dir. On failure m holds what was read so far (the
 * caller releases it with st_model_release).
 */
int st_model_fill(const char *dir, char *const *set, size_t nset, struct st_model *m, struct cs_err *err);

/* The distinct file names an index's weight_map maps tensors to, sorted
 * (*files: malloc'd array of malloc'd strings). The index is read and its
 * entries checked as st_model_open does; -1 with err when it is unusable. */
int st_index_files(const char *path, char ***files, size_t *n, struct cs_err *err);

/* True when the name is a plain file name (no '/', not "." or ".."). */
int st_safe_name(const char *name);

#endif
