#!/usr/bin/env bash
# refserve --tp N in host mode: every rank's bytes equal the slice this test
# computes on its own from the files (its own reading of the safetensors
# headers and of the column / kv / row / vocab / replicated rules), for a
# Llama layout (GQA: fewer key/value heads than ranks) and a Qwen2 layout
# (biases, tied embeddings, tensors across several shards); /v1/models
# says how it was split; impossible splits are refused.
. "$(dirname "$0")/lib.sh"
"$COLDSTART" mkmodel llama --preset tiny -q >/dev/null
"$COLDSTART" mkmodel qwen --preset qwen2.5-0.5b --layers 1 --shard-size 100M -q >/dev/null
cat > slices.py <<'PY'
import json, os, struct, sys
model, n, dump = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cfg = json.load(open(os.path.join(model, "config.json")))
kv = cfg.get("num_key_value_heads", cfg["num_attention_heads"])
ES = {"BF16": 2, "F16": 2, "F32": 4}
def kind(name, ndim):
    p = name.split(".")
    if ndim not in (1, 2) or p[-1] not in ("weight", "bias"):
        return "replicated"
    layer, bias = p[-2], p[-1] == "bias"
    if layer in ("q_proj", "gate_proj", "up_proj"): return "column"
    if layer in ("k_proj", "v_proj"): return "kv"
    if layer in ("o_proj", "down_proj"): return "replicated" if bias or ndim != 2 else "row"
    if layer in ("embed_tokens", "lm_head"): return "vocab"
    return "replicated"
def piece(data, shape, es, k, r):
    if k == "replicated" or n == 1:
        return data
    if k == "row":
        d0, d1 = shape; w = d1 // n * es; row = d1 * es
        return b"".join(data[i * row + r * w: i * row + (r + 1) * w] for i in range(d0))
    d0 = shape[0]; rb = len(data) // d0
    if k == "vocab":
        part = -(-d0 // n); a = min(r * part, d0); b = min(a + part, d0)
    elif k == "kv" and kv < n:
        hd = d0 // kv; a = (r * kv // n) * hd; b = a + hd
    else:
        a = d0 // n * r; b = a + d0 // n
    return data[a * rb: b * rb]
want = [bytearray() for _ in range(n)]
kinds = {}
for f in sorted(x for x in os.listdir(model) if x.endswith(".safetensors")):
    raw = open(os.path.join(model, f), "rb").read()
    hl = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + hl]); hdr.pop("__metadata__", None)
    base = 8 + hl
    for name, t in sorted(hdr.items(), key=lambda kv_: kv_[1]["data_offsets"][0]):
        b, e = t["data_offsets"]; data = raw[base + b: base + e]
        k = kind(name, len(t["shape"])); kinds[k] = kinds.get(k, 0) + 1
        for r in range(n):
            want[r] += piece(data, t["shape"], ES[t["dtype"]], k, r)
for r in range(n):
    got = open(os.path.join(dump, "rank-%d.bin" % r), "rb").read()
    assert got == bytes(want[r]), "rank %d: %d bytes loaded, %d expected, first difference at %s" % (
        r, len(got), len(want[r]), next((i for i, (x, y) in enumerate(zip(got, want[r])) if x != y), "the end"))
print(json.dumps(kinds, sort_keys=True))
PY
slices() { python3 slices.py "$@" >/dev/null; }
serve_tp() { # MODEL N DUMP [extra...]: start, wait for /health, keep /v1/models, stop
	local model=$1 n=$2 dump=$3
	shift 3
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	"$COLDSTART" refserve "$model" --device host --tp "$n" --dump-slices "$dump" --port "$port" "$@" >"$dump.log" 2>&1 &
	local pid=$!
	local ok=1
	for _ in $(seq 400); do
		curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && { ok=0; break; }
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	curl -sf "http://127.0.0.1:$port/v1/models" >"$dump.models.json" 2>/dev/null
	kill -TERM $pid 2>/dev/null
	wait $pid
	local st=$?
	[ $ok = 0 ] && [ $st = 0 ]
}
for n in 1 2 4; do
	check "llama layout, TP=$n: ready, exits 0" serve_tp llama $n L$n --verify
	check "... every rank's bytes are the slice computed here" slices llama $n L$n
	contains "... --verify passed" "$(cat L$n.log)" "Verified every rank's slices"
done
check "qwen2 layout (biases, tied embeddings, 3 shards), TP=2" serve_tp qwen 2 Q2
check "... every rank's bytes are the slice computed here" slices qwen 2 Q2
check "... the files were spread over several shards" [ "$(ls qwen/*.safetensors | wc -l)" -gt 1 ]
json_ok "/v1/models says how it was split" "$(python3 slices.py llama 4 L4)" '
m=json.load(open("L4.models.json"))["data"][0]["coldstart"]
k=d
assert m["tp"]==4 and m["device"]=="host" and len(m["ranks"])==4, m
assert m["kv_heads"]==2 and m["tensors"]["kv"]==k["kv"]==8 and m["tensors"]["row"]==k["row"], (m, k)
assert all(r["bytes"]==m["ranks"][0]["bytes"] for r in m["ranks"])'
contains "the log says how it was split" "$(cat L4.log)" "Tensor parallel: TP=4, ranks on host memory"
json_ok "each file byte read once" "$(cat L4.models.json)" '
import os
m=d["data"][0]["coldstart"]
tot=sum(os.path.getsize("llama/"+f)-8-int.from_bytes(open("llama/"+f,"rb").read(8),"little") for f in os.listdir("llama") if f.endswith(".safetensors"))
assert m["read_bytes"]==tot, (m["read_bytes"], tot)'

# probe --gpus in host mode: the TP=N pipeline and its floor.
expect_rc 0 "probe --gpus 2 --device host" "$COLDSTART" probe llama --device host --gpus 2 --json
json_ok "... reads each byte once, writes the ranks' bytes, gives a floor" "$out" '
t=d["tp"]
assert t["tp"]==2 and t["read_bytes"]==d["bytes"] and t["rank_bytes"]>d["bytes"], t  # norms on both ranks
assert t["overlapped_gbps"]>0 and t["host_memory_gbps"]>0 and t["floor_s"]>0 and t["gpus"] is None, t'
expect_rc 1 "TP=8 with 4 attention heads is refused" "$COLDSTART" refserve llama --device host --tp 8
contains "... naming the tensor and the heads" "$err" "4 attention heads do not divide by TP=8"
expect_rc 2 "--gpus that do not match --tp" "$COLDSTART" refserve llama --tp 4 --gpus 0,1
expect_rc 2 "a bad --gpus entry" "$COLDSTART" refserve llama --gpus 0,x
expect_rc 2 "--dump-slices needs host mode" "$COLDSTART" refserve llama --tp 2 --dump-slices x
no_leftovers "no process left"
done_testing
