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
check "--json is valid JSON with the totals" [ "$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["tensor_bytes"], d["tensors"])')" = "32 2" ]

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
