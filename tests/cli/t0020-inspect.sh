#!/usr/bin/env bash
# inspect: summaries, and every malformed fixture refused with its own message.
. "$(dirname "$0")/lib.sh"
M="$FIXTURES_SRC/malformed"

expect_rc 0 "good single-file fixture" "$COLDSTART" inspect "$M/good"
contains "architecture shown" "$out" "LlamaForCausalLM"
contains "parameter count shown" "$out" "parameters:   12"
expect_rc 0 "good sharded fixture" "$COLDSTART" inspect "$M/good-sharded"
contains "indexed" "$out" "(indexed)"
expect_rc 0 "--tensors lists tensors" "$COLDSTART" inspect "$M/good" --tensors
contains "tensor listed with shape" "$out" "[2, 4]"
expect_rc 0 "--json" "$COLDSTART" inspect "$M/good-sharded" --json
json_is "--json is valid JSON with the totals" "$out" 'd["tensor_bytes"], d["tensors"]' "(32, 2)"

bad() { # fixture expected-message-part
	expect_rc 1 "$1 refused" "$COLDSTART" inspect "$M/$1"
	contains "$1: names the problem" "$err" "$2"
	check "$1: one line, prefixed" [ "$(printf '%s\n' "$err" | grep -c '^coldstart: inspect: ')" = 1 ]
}
bad truncated "'b.weight' ends at data offset 32, past the end of the data"
bad lying-length "exceeds the 100000000-byte limit"
bad overlap "tensor 'b.weight' [8, 24) overlaps tensor 'a.weight'"
bad wrong-span "shape [2, 5] of BF16 needs 20"
bad unknown-dtype "unknown dtype 'BF17'"
bad bad-json "header is not valid JSON"
bad not-safetensors "not safetensors?"
bad empty-dir "not a safetensors model directory"
bad bad-config "config.json': invalid JSON"
bad index-wrong-shard "maps tensor 'b.weight' to 'model-00001-of-00002.safetensors', but it is in 'model-00002-of-00002.safetensors'"
bad index-missing-tensor "tensor 'b.weight' of 'model-00002-of-00002.safetensors' is missing from the weight_map"
bad index-total-size "total_size is 33 but the tensors hold 32 bytes"
bad index-missing-shard "cannot open '$M/index-missing-shard/model-00002-of-00002.safetensors'"
bad index-path-escape "not a plain file name"
bad index-bad-json "model.safetensors.index.json': invalid JSON"
bad index-duplicate-tensor "tensor 'a.weight' is in two shards"

# One tensor name defined twice: refused with both places named, in one
# header, across files with or without an index, in the weight_map, and in
# GGUF (tensor infos, KV keys, the parts of a split set).
bad header-duplicate-tensor "tensor 'a.weight' is defined twice in the header: at bytes 9 and 73"
bad header-duplicate-key "tensor 'a.weight': key 'dtype' is given twice in the header, at bytes 21 and 36"
bad unindexed-duplicate-tensor "tensor 'b.weight' is in two shards: 'extra.safetensors' and 'model.safetensors'"
bad index-duplicate-key "tensor 'a.weight' is mapped twice in \"weight_map\": to 'model-00001-of-00002.safetensors' (line 2) and to 'model-00002-of-00002.safetensors' (line 4)"
bad config-duplicate-key "config.json': key 'num_hidden_layers' is given twice: lines 2 and 3"
bad gguf-duplicate-tensor "tensor 'a.weight' is defined twice: tensor infos 0 and 1"
bad gguf-duplicate-key "key 'general.architecture' is defined twice: KVs 0 and 1"
bad gguf-split-duplicate-tensor "tensor 'a.weight' is in two parts: 'm-00001-of-00002.gguf' and 'm-00002-of-00002.gguf'"
# Every command that reads a checkpoint refuses them the same way.
R=$SCRATCH/root
for fx in header-duplicate-tensor unindexed-duplicate-tensor index-duplicate-key index-duplicate-tensor \
	gguf-duplicate-tensor gguf-split-duplicate-tensor; do
	expect_rc 1 "stage refuses $fx" "$COLDSTART" stage "$M/$fx" --root "$R" --name "$fx"
	contains "stage: says it is no usable model" "$err" "is not a usable"
	check "stage: nothing of $fx published or left" [ ! -e "$R/$fx" ] && [ -z "$(ls -A "$R/.partial" 2>/dev/null)" ]
	case $fx in gguf-*) continue ;; esac
	expect_rc 1 "probe refuses $fx" "$COLDSTART" probe "$M/$fx" --device host
	contains "probe: names the tensor" "$err" "tensor '"
	expect_rc 1 "refserve refuses $fx" timeout 20 "$COLDSTART" refserve "$M/$fx" --device host --port 1
	contains "refserve: names the tensor" "$err" "tensor '"
	expect_rc 1 "bench refuses $fx" "$COLDSTART" bench --nvme "$M/$fx" --net "$M/good" --server "true {port}" -q
	contains "bench: names the tensor" "$err" "tensor '"
done

# The file name is in the message.
expect_rc 1 "message names the file" "$COLDSTART" inspect "$M/wrong-span"
contains "file named" "$err" "wrong-span/model.safetensors'"

expect_rc 1 "a file, not a directory" "$COLDSTART" inspect "$M/good/model.safetensors"
contains "says so" "$err" "is not a directory"

# Hugging Face cache snapshots are symlinks into blobs/.
mkdir -p hub/blobs hub/snap
cp "$M/good/model.safetensors" hub/blobs/abc
cp "$M/good/config.json" hub/blobs/cfg
ln -s ../blobs/abc hub/snap/model.safetensors
ln -s ../blobs/cfg hub/snap/config.json
expect_rc 0 "symlinked snapshot layout" "$COLDSTART" inspect hub/snap

done_testing
