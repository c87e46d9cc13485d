#!/usr/bin/env bash
# On a GPU machine: refserve's correctness and speed against the hardware
# floor (probe) and against safetensors / transformers, one call, same files.
# usage: bench/gpu/refserve-bench.sh [PRESET]   (default qwen2.5-7b); results under $OUT
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
CS=${COLDSTART:-$here/coldstart}
OUT=${OUT:-/tmp/cs-out}
W=${WORK:-/tmp/cs-rs}
PRESET=${1:-qwen2.5-7b}
mkdir -p "$OUT" "$W"
M=$W/$PRESET
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB RAM; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
"$CS" mkmodel "$M" --preset "$PRESET" --force -q >/dev/null
"$CS" inspect "$M" | tail -3
bytes=$("$CS" inspect "$M" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tensor_bytes"])')
evict() { "$CS" pages evict "$M" -q >/dev/null; }
warm() { "$CS" pages warm "$M" -q >/dev/null 2>&1; }
# refserve load: run it under `coldstart run` and read "Loading weights took"
rs_load() { # cold|warm [extra refserve args]
	local state=$1; shift
	[ "$state" = cold ] && evict || warm
	"$CS" run --model "$M" --cold none -q --log "$W/rs.log" --server "$CS refserve {model} --port {port} $*" > /dev/null || return 1
	sed -n 's/.*Loading weights took \([0-9.]*\) seconds.*/\1/p' "$W/rs.log"
}
hf() { # cold|warm safetensors|transformers
	[ "$1" = cold ] && evict || warm
	python3 "$here/bench/gpu/hf_load_time.py" "$M" "$2" 2>/dev/null | sed -n 's/seconds=\([0-9.]*\).*/\1/p'
}
gbs() { echo "$bytes / $1 / 1000000000" | bc -l | xargs printf '%.2f'; }

echo "== 1. --verify"
warm
"$CS" run --model "$M" --cold none -q --log "$W/verify.log" --server "$CS refserve {model} --port {port} --verify" >/dev/null && grep -E 'Verified|Loading weights' "$W/verify.log"

echo "== 2. warm page cache: refserve vs probe's separate rates"
warm
"$CS" probe "$M" --json > "$OUT/probe-warm.json"; cat "$OUT/probe-warm.json"
for i in 1 2 3; do s=$(rs_load warm); echo "refserve warm load: ${s}s = $(gbs "$s") GB/s"; done

echo "== 3. cold: refserve vs probe --device host --cold (storage read rate)"
"$CS" probe "$M" --device host --cold --json > "$OUT/probe-cold.json"; cat "$OUT/probe-cold.json"
for i in 1 2 3; do s=$(rs_load cold); echo "refserve cold load: ${s}s = $(gbs "$s") GB/s"; done

echo "== 4. refserve vs safetensors.torch.load_file and transformers from_pretrained"
for state in warm cold; do
	r=$(rs_load $state); s=$(hf $state safetensors); t=$(hf $state transformers)
	echo "$state: refserve ${r}s, safetensors ${s}s, transformers ${t}s; refserve is $(echo "$s / $r" | bc -l | xargs printf '%.1f')x safetensors, $(echo "$t / $r" | bc -l | xargs printf '%.1f')x transformers"
done

echo "== 5. bench: hf_serve vs refserve, nvme mode, time to ready"
"$CS" bench --nvme "$M" --modes nvme --repeat 2 --csv "$OUT/servers.csv" --name "$PRESET-hf_serve" -q \
	--server "python3 $here/bench/servers/hf_serve.py --model {model} --port {port}" 2>&1 | tail -4
"$CS" bench --nvme "$M" --modes nvme --repeat 2 --csv "$OUT/servers.csv" --name "$PRESET-refserve" -q --server refserve 2>&1 | tail -4
cat "$OUT/servers.csv"
for f in $(ls -t "$OUT"/coldstart-logs/*.log | head -4); do echo "-- $f"; grep -E 'Starting to load|Loading weights took|startup complete' "$f"; done
