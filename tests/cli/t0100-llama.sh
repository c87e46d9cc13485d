#!/usr/bin/env bash
# A real engine: GGUF models written by mkmodel and by llama.cpp itself,
# inspected, loaded by llama.cpp (node-llama-cpp's prebuilt build, installed
# by `make deps`), and measured by run and bench in every mode.
. "$(dirname "$0")/lib.sh"
SRV=$REPO_ROOT/bench/servers
[ -d "$SRV/node_modules/node-llama-cpp" ] || skip_all "llama.cpp is not installed (make deps: needs Node.js >= 20 and npm)"
command -v node >/dev/null || skip_all "no node on the PATH"
LIBLLAMA=$(ls "$SRV"/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama*.so 2>/dev/null | head -1)
Q=${FIXTURES:?}/llama_quantize
mkdir w && cd w || exit 1

# ---- mkmodel --format gguf ----
expect_rc 0 "mkmodel writes a GGUF (tiny, f16)" "$COLDSTART" mkmodel tiny.gguf --preset tiny --format gguf -q
check "prints the file llama.cpp opens" [ "$out" = tiny.gguf ]
check "no temporary file is left" [ "$(ls -A)" = tiny.gguf ]
st_params=$(jget "$("$COLDSTART" mkmodel x --preset tiny --dry-run --json)" 'd["parameters"]')
expect_rc 0 "inspect reads it" "$COLDSTART" inspect tiny.gguf --json
json_ok "same parameter count as the safetensors preset ($st_params)" "$out" "assert d['parameters']==$st_params, d['parameters']"
json_ok "llama architecture, f16 weights and f32 norms, 32000 tokens" "$out" "
assert d['format']=='gguf' and d['architecture']=='llama' and d['vocab_size']==32000, d
assert set(d['dtypes'])=={'f16','f32'} and d['dtype']=='f16', d['dtypes']"
expect_rc 0 "qwen2.5-0.5b in q8_0 (2 layers)" "$COLDSTART" mkmodel qwen-q8.gguf --preset qwen2.5-0.5b --format gguf --dtype q8_0 --layers 2 -q
expect_rc 0 "inspect it" "$COLDSTART" inspect qwen-q8.gguf --json
json_ok "qwen2, q8_0 blocks of 34 bytes for 32 weights, 1-D tensors in f32" "$out" "
b={k: v['bytes'] for k, v in d['dtypes'].items()}
assert d['architecture']=='qwen2' and set(b)=={'q8_0','f32'}, d
assert b['q8_0']*32 == 34*(d['parameters']-b['f32']//4), b"
for dt in bf16 f32; do
	expect_rc 0 "tiny in $dt" "$COLDSTART" mkmodel "tiny-$dt.gguf" --preset tiny --layers 1 --format gguf --dtype "$dt" -q
done
expect_rc 0 "the same seed writes the same bytes" "$COLDSTART" mkmodel again.gguf --preset tiny --format gguf -q
check "... byte for byte" cmp -s tiny.gguf again.gguf
expect_rc 1 "an existing file is not replaced" "$COLDSTART" mkmodel again.gguf --preset tiny --format gguf -q
contains "says how" "$err" "use --force"
expect_rc 2 "q8_0 is a GGUF type only" "$COLDSTART" mkmodel d --preset tiny --dtype q8_0
expect_rc 0 "the split layout" "$COLDSTART" mkmodel split/m.gguf --preset tiny --format gguf --shard-size 8M -q
SPLIT=$out
NPARTS=$(ls split | grep -c '^m-0000[0-9]-of-0000[0-9].gguf$')
check "prints part 1 of $NPARTS" [ "$SPLIT" = "split/m-00001-of-0000$NPARTS.gguf" ] && [ "$NPARTS" -ge 3 ]
expect_rc 0 "inspect the split set by part 1" "$COLDSTART" inspect "$SPLIT" --json
json_ok "every part, one model" "$out" "assert len(d['shards'])==$NPARTS and d['parameters']==$st_params, d"
expect_rc 0 "... or by its directory" "$COLDSTART" inspect split
expect_rc 1 "part 2 is not a model" "$COLDSTART" inspect "split/m-00002-of-0000$NPARTS.gguf"
contains "names part 1" "$err" "name part 1, '$SPLIT'"

# ---- malformed files: each its own error, naming the file ----
python3 - <<'EOF'
import struct
d = open("tiny.gguf", "rb").read()
open("bad-magic.gguf", "wb").write(b"GGML" + d[4:])
open("v1.gguf", "wb").write(d[:4] + struct.pack("<I", 1) + d[8:])
open("truncated.gguf", "wb").write(d[:100000])
open("short-data.gguf", "wb").write(d[:-4096])
EOF
expect_rc 1 "bad magic" "$COLDSTART" inspect bad-magic.gguf
contains "says so, with the file" "$err" "'bad-magic.gguf': not a GGUF file (no 'GGUF' magic)"
expect_rc 1 "version 1" "$COLDSTART" inspect v1.gguf
contains "says so" "$err" "GGUF version 1 (only 2 and 3 are read)"
expect_rc 1 "cut in the vocabulary" "$COLDSTART" inspect truncated.gguf
contains "names the key" "$err" "key 'tokenizer.ggml.tokens'"
expect_rc 1 "data cut short" "$COLDSTART" inspect short-data.gguf
contains "names the tensor" "$err" "tensor 'output.weight': bytes"
contains "and the rule" "$err" "lie past the end of the file"

# ---- llama.cpp's own writer ----
if [ -n "$LIBLLAMA" ]; then
	expect_rc 0 "llama.cpp's quantizer rewrites the model (Q4_0)" "$Q" "$LIBLLAMA" tiny.gguf tiny-q4_0.gguf 2
	expect_rc 0 "inspect reads what llama.cpp wrote" "$COLDSTART" inspect tiny-q4_0.gguf --json
	json_ok "q4_0 and llama.cpp's fallback types, same parameters" "$out" "
assert 'q4_0' in d['dtypes'] and d['parameters']==$st_params, d['dtypes']"
else
	_t_report 1 "libllama found in node-llama-cpp's package"
fi

# ---- the engine loads them and generates tokens ----
serve() { # MODEL [ARGS]: start llama_serve.mjs, wait for /health (60 s)
	local m=$1
	shift
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	node "$SRV/llama_serve.mjs" "$m" --port "$port" "$@" 2>"$SCRATCH/serve.log" &
	spid=$!
	for _ in $(seq 1 600); do
		curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
		kill -0 "$spid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
stop_serve() { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
generates() { # MODEL [ARGS]
	if ! serve "$@"; then
		_t_report 1 "llama.cpp serves $1" "$(tail -5 "$SCRATCH/serve.log")"
		stop_serve
		return
	fi
	out=$(curl -s -m 60 -X POST "http://127.0.0.1:$port/v1/completions" -d '{"prompt":"Hello world","max_tokens":4}')
	json_ok "llama.cpp generates tokens from $1 $*" "$out" "assert len(d['choices'][0]['token_ids'])==4, d"
	stop_serve
}
generates tiny.gguf
generates qwen-q8.gguf --no-mmap
generates tiny-bf16.gguf --direct-io
generates "$SPLIT"
[ -f tiny-q4_0.gguf ] && generates tiny-q4_0.gguf
serve tiny.gguf --vocab-only && out=$(curl -s -X POST "http://127.0.0.1:$port/v1/completions" -d '{}')
contains "vocab-only: the runtime baseline answers, without weights" "$out" "vocab-only"
stop_serve
grep -q "loaded meta data" "$SCRATCH/serve.log"
check "llama.cpp's own load lines are logged" [ $? = 0 ]

# ---- run and bench with --server llama.cpp ----
expect_rc 0 "run --server llama.cpp" "$COLDSTART" run -m tiny.gguf --server llama.cpp --csv runs.csv --json
json_ok "a cold run, with llama.cpp's phases in the notes" "$out" "
n=d['notes']
for k in ('cold=yes','server=llama.cpp','t_load_start=','model_load_s=','context_s=','first_eval_s=','t_weights_end='):
    assert k in n, (k, n)
assert d['status']=='ready' and d['model']=='tiny', d"
json_ok "... run with the row's context (4096), as llama.cpp's log says" "$out" "
assert d['max_model_len']==4096 and d['server_max_model_len']==4096, d
assert 'server_max_model_len=4096' in d['notes'] and 'mismatch' not in d['notes'], d['notes']"
expect_rc 0 "run --server llama.cpp --max-model-len 512" "$COLDSTART" run -m tiny.gguf --server llama.cpp --max-model-len 512 --json
json_ok "... llama.cpp used 512" "$out" "assert d['server_max_model_len']==512 and 'mismatch' not in d['notes'], d"
expect_rc 0 "a llama.cpp template that does not pass the context" "$COLDSTART" run -m tiny.gguf \
	--server "node $SRV/llama_serve.mjs {model} --port {port}" --json
json_ok "... the context llama.cpp used (its default) is recorded and flagged" "$out" "
assert d['server_max_model_len']==256 and 'max_model_len_mismatch=yes' in d['notes'], d"
contains "... with a warning" "$err" "used a context of 256 tokens, not the row's max_model_len 4096"
# A llama-server on the PATH is preferred: this one, as strict as the real
# one, takes exactly -m MODEL --port P --host H --ctx-size N and hands them
# to llama_serve.mjs.
mkdir -p bin
cat > bin/llama-server <<EOF
#!/bin/sh
[ \$# = 8 ] && [ "\$1" = -m ] && [ "\$3" = --port ] && [ "\$5" = --host ] && [ "\$7" = --ctx-size ] ||
	{ echo "unexpected arguments: \$*" >&2; exit 2; }
exec node "$SRV/llama_serve.mjs" "\$2" --port "\$4" --host "\$6" --ctx-size "\$8"
EOF
chmod +x bin/llama-server
PATH="$PWD/bin:$PATH" expect_rc 0 "run --server llama.cpp uses llama-server when it is on the PATH" "$COLDSTART" run -m tiny.gguf --server llama.cpp --json
json_ok "... as llama-server -m {model} --port {port} --host 127.0.0.1 --ctx-size {max_model_len}" "$out" "
import re
assert re.fullmatch(r'llama-server -m tiny.gguf --port [0-9]+ --host 127.0.0.1 --ctx-size 4096', d['command']), d['command']
assert d['server_max_model_len']==4096, d"
expect_rc 0 "a GGUF model without --server gets llama.cpp" "$COLDSTART" run -m tiny.gguf --json
contains "says so" "$err" "is a GGUF model: the server is llama.cpp"
expect_rc 1 "refserve refuses a GGUF model" "$COLDSTART" run -m tiny.gguf --server refserve
contains "and says what to use" "$err" "use --server llama.cpp"
expect_rc 1 "refserve itself refuses it" "$COLDSTART" refserve tiny.gguf --port 1
contains "says why" "$err" "is a GGUF model: refserve reads safetensors checkpoints"
expect_rc 0 "stage the GGUF file" "$COLDSTART" stage tiny.gguf --root "$SCRATCH/staged" -q
check "the staged path is the file llama.cpp opens" [ "$out" = "$SCRATCH/staged/tiny/tiny.gguf" ]
check "only the model's file is staged" [ "$(ls "$SCRATCH/staged/tiny")" = tiny.gguf ]
expect_rc 0 "stage the split set by part 1" "$COLDSTART" stage "$SPLIT" --root "$SCRATCH/staged" -q
check "every part staged" [ "$(ls "$SCRATCH/staged/m" | grep -c gguf)" = "$NPARTS" ]
expect_rc 0 "run on the staged file (its use lock held)" "$COLDSTART" run -m "$SCRATCH/staged/tiny/tiny.gguf" --server llama.cpp --json
json_ok "... a cold llama.cpp start" "$out" "assert 'cold=yes' in d['notes'] and d['status']=='ready', d"
expect_rc 0 "pages status of a split set counts every part" "$COLDSTART" pages status "$SPLIT" --json
json_ok "... $NPARTS files" "$out" "assert len(d['files'])==$NPARTS, d"

if [ "$(id -u)" = 0 ] && [ -c /dev/fuse ]; then
	expect_rc 0 "bench every mode with llama.cpp (netsim nfs-10g)" "$COLDSTART" bench --nvme qwen-q8.gguf --server llama.cpp \
		--modes nvme,net,staged,net+prefetch,runtime -n 1 --csv bench.csv -q
	rows=$(tail -n +2 bench.csv)
	check "five rows" [ "$(echo "$rows" | wc -l)" = 5 ]
	check "every row cold, from llama.cpp" [ "$(echo "$rows" | grep -c 'cold=yes.*server=llama.cpp')" = 5 ]
	check "weight modes record the first evaluation" [ "$(echo "$rows" | grep -c 'first_eval_s=')" = 4 ]
	check "runtime loads no weights" sh -c "grep '^[0-9]*,runtime,' bench.csv | grep -q 'weights=dummy' && ! grep '^[0-9]*,runtime,' bench.csv | grep -q first_eval_s"
	check "staged row has copy_s" sh -c "grep '^[0-9]*,staged,' bench.csv | grep -q 'copy_s='"
	check "net rows say netsim" [ "$(echo "$rows" | grep -c 'net=netsim:nfs-10g')" -ge 3 ]
else
	_t_report 0 "# SKIP bench with netsim needs root and /dev/fuse"
fi

# ---- a corrupt model fails cleanly ----
expect_rc 1 "bench refuses a corrupt GGUF before starting anything" "$COLDSTART" bench --nvme short-data.gguf --net short-data.gguf --server llama.cpp -n 1 --csv never.csv
contains "names the tensor" "$err" "tensor 'output.weight'"
check "no CSV written" [ ! -e never.csv ]
expect_rc 1 "run refuses a corrupt GGUF before starting anything, as bench does" "$COLDSTART" run -m truncated.gguf \
	--server llama.cpp --csv runs0.csv --record-failures
contains "names the key" "$err" "model refused: 'truncated.gguf': key 'tokenizer.ggml.tokens'"
check "no row: nothing was run" [ "$(tail -n +2 runs0.csv 2>/dev/null | wc -l)" = 0 ]
# The engine's own refusal, of a file coldstart was not asked to check.
expect_rc 1 "run: the engine refuses its file and the run fails" "$COLDSTART" run -m tiny.gguf --csv runs.csv --record-failures \
	--server "node '$REPO_ROOT/bench/servers/llama_serve.mjs' truncated.gguf --port {port} --ctx-size {max_model_len}"
contains "the engine's own error is shown" "$err" "gguf_init_from_reader: failed to read key-value pairs"
check "the failure is recorded" sh -c "tail -1 runs.csv | grep -q 'status=failed:exited'"
no_leftovers "no process left"
done_testing
