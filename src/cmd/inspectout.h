#ifndef CS_CMD_INSPECTOUT_H
#define CS_CMD_INSPECTOUT_H
/*
 * inspectout: inspect --json, one set of keys for both formats (the same
 * key means the same thing for safetensors and GGUF; INSPECT_JSON_KEYS is
 * what the help says of them), and each format's own keys beside them.
 * Returns a new reference (the caller prints or frees it); m is only read.
 */
#include <jansson.h>

#include "core/model/model.h"

json_t *inspect_json(const struct st_model *m, int tensors);

#define INSPECT_JSON_KEYS \
	"JSON (--json), the same keys for both formats:\n" \
	"  format          \"safetensors\" or \"gguf\"\n" \
	"  path            the model as given; file: the file a server opens\n" \
	"                  (GGUF: part 1; safetensors: null)\n" \
	"  architecture    layers, hidden_size, vocab_size, context_length:\n" \
	"                  from config.json or the GGUF keys (null: unknown)\n" \
	"  dtype           the dtype holding the most bytes; dtypes: each\n" \
	"                  dtype's {\"parameters\", \"bytes\"} (the format's names)\n" \
	"  tensors         parameters, tensor_bytes, file_bytes: the totals\n" \
	"  shards          per file of tensors: name, file_bytes, header_bytes,\n" \
	"                  tensors, parameters; files: every file (relative)\n" \
	"  tensor_list     with --tensors: name, dtype, shape (outermost first),\n" \
	"                  shard, offset, bytes\n" \
	"safetensors adds model_type, torch_dtype, indexed; GGUF adds version,\n" \
	"name, alignment, tokenizer, keys, and ne (ggml's order) per tensor.\n"

#endif
