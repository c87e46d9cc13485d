#!/usr/bin/env bash
# stage --include/--exclude: what the filters leave must still be a model
# -- weights, config.json, every file its index maps, every part of a split
# set, its headers valid -- or nothing is copied, and the error names the
# file left out and the pattern that left it out; --kind dir copies files
# as they are. The same from a directory, a GGUF set and a peer's cache
# serve (a URL: the listing, filtered).
. "$(dirname "$0")/lib.sh"
R=$SCRATCH/root
"$COLDSTART" mkmodel sh --preset tiny --shard-size 10M -q >/dev/null
check "a sharded model: 3 shards and an index" [ "$(ls sh | grep -c '^model-0000[1-3]-of-00003.safetensors$')" = 3 ]

# refused NAME MESSAGE STAGE-ARGS...: exit 1, the message, and nothing
# published or copied (refused before the copy).
refused() {
	local name=$1 msg=$2
	shift 2
	expect_rc 1 "$name: refused" "$COLDSTART" stage "$@" --root "$R" --name "$name"
	contains "$name: says why" "$err" "$msg"
	check "$name: nothing published" [ ! -e "$R/$name" ]
	check "$name: nothing copied" [ -z "$(ls -A "$R/.partial" 2>/dev/null)" ]
}
refused shard "--exclude 'model-00002*' leaves out 'model-00002-of-00003.safetensors', which 'model.safetensors.index.json' maps tensors to" sh --exclude 'model-00002*'
refused first "no --include matches 'model-00002-of-00003.safetensors', which 'model.safetensors.index.json' maps tensors to" sh --include 'model-00001*' --include '*.json'
refused noweights "--include/--exclude leave no weights of 'sh' to stage: no --include matches 'model-00001-of-00003.safetensors'" sh --include '*.json'
refused noweights2 "leave no weights of 'sh' to stage: --exclude '*.safetensors' leaves out" sh --exclude '*.safetensors'
contains "... and says how to copy files that are not a model" "$err" "--kind dir"
refused noconfig "--exclude 'config.json' leaves out 'config.json': the staged weights need it" sh --exclude config.json
refused noindex "--exclude '*.index.json' leaves out 'model.safetensors.index.json', but 'model-00001-of-00003.safetensors' and the others that it maps tensors to are staged" sh --exclude '*.index.json'
refused noindex2 "no --include matches 'model.safetensors.index.json'" sh --include '*.safetensors' --include config.json

# What stays a model is staged, and loads.
expect_rc 0 "leaving out generation_config.json is fine" "$COLDSTART" stage sh --root "$R" --name nogen --exclude generation_config.json -q
expect_rc 0 "... and the copy validates" "$COLDSTART" inspect "$R/nogen"
check "... without the file left out" [ ! -e "$R/nogen/generation_config.json" ]
expect_rc 0 "--kind dir copies the files as they are" "$COLDSTART" stage sh --root "$R" --name jsons --include '*.json' --kind dir -q
check "... only them" [ "$(ls "$R/jsons" | wc -l)" = 3 ]

# Without an index: a PREFIX-0000K-of-0000N series is one model.
cp -r sh noidx && rm noidx/model.safetensors.index.json
refused series "--exclude 'model-00003*' leaves out 'model-00003-of-00003.safetensors', but 'model-00001-of-00003.safetensors' of the same set is staged: the model would lack part 3 of 3" noidx --exclude 'model-00003*'
# Duplicates in what is kept are found as in a whole directory.
mkdir dup && cp "$FIXTURES_SRC/malformed/unindexed-duplicate-tensor/"* dup/ && echo x >dup/notes.bin
refused dup "tensor 'b.weight' is in two shards: 'extra.safetensors' and 'model.safetensors'" dup --exclude notes.bin
# An index of another format whose files all went stays harmless.
mkdir both && cp sh/* both/ && echo '{"metadata":{},"weight_map":{"a":"pytorch_model-00001-of-00001.bin"}}' >both/pytorch_model.bin.index.json
echo x >both/pytorch_model-00001-of-00001.bin
expect_rc 0 "--exclude '*.bin' beside safetensors (the .bin index stays)" "$COLDSTART" stage both --root "$R" --name both --exclude '*.bin' -q

# GGUF: every part of a split set.
"$COLDSTART" mkmodel gs --format gguf --preset tiny --shard-size 10M -q >/dev/null
refused gpart "--exclude '*-00002-of-*' leaves out 'model-00002-of-00003.gguf', but 'model-00001-of-00003.gguf' of the same set is staged: the model would lack part 2 of 3" gs --exclude '*-00002-of-*'
refused gfirst "no --include matches 'model-00001-of-00003.gguf', but 'model-00002-of-00003.gguf' of the same set is staged: the model would lack part 1 of 3" gs --include '*-00002-of-*' --include '*-00003-of-*'
expect_rc 0 "the whole set with a filter that keeps it" "$COLDSTART" stage gs --root "$R" --name gwhole --include '*.gguf' -q

# From a peer (cache serve): the listing, filtered, before anything is fetched.
expect_rc 0 "stage the sharded model to serve it" "$COLDSTART" stage sh --root "$R" --name peer -q
"$COLDSTART" cache serve --root "$R" -q >url &
spid=$!
stop_serve() { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
at_exit stop_serve
for _ in $(seq 100); do [ -s url ] && break; sleep 0.05; done
P=$SCRATCH/peer
refused_url() {
	local name=$1 msg=$2
	shift 2
	expect_rc 1 "peer $name: refused" "$COLDSTART" stage "$(cat url)peer/" --root "$P" --name "$name" "$@"
	contains "peer $name: says why" "$err" "$msg"
	check "peer $name: nothing published or fetched" [ ! -e "$P/$name" ] && [ -z "$(ls -A "$P/.partial" 2>/dev/null)" ]
}
refused_url shard "--exclude 'model-00002*' leaves out 'model-00002-of-00003.safetensors', which 'model.safetensors.index.json' maps tensors to" --exclude 'model-00002*'
refused_url noweights "leave no weights of" --include '*.json'
refused_url noindex "leaves out 'model.safetensors.index.json', but" --exclude model.safetensors.index.json
expect_rc 0 "peer: a filter that keeps a model" "$COLDSTART" stage "$(cat url)peer/" --root "$P" --name ok --exclude generation_config.json -q
expect_rc 0 "... which validates" "$COLDSTART" inspect "$P/ok"
stop_serve
no_leftovers "no process left"
done_testing
