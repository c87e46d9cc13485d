#!/usr/bin/env bash
# On a GPU machine: a start with its compile and kernel caches cold, warm
# and staged (issue 16's validation). The server is bench/servers/hf_serve.py
# --compile: transformers loads a synthetic checkpoint (default Qwen2.5-7B's
# shape) onto the GPU, torch.compile wraps its forward, and one warm-up
# forward runs before /health answers, so each start pays for Dynamo and
# inductor/Triton compilation unless their caches (TORCHINDUCTOR_CACHE_DIR,
# TRITON_CACHE_DIR, set by --caches) already hold the result.
#   1. one `run --caches warm`: its priming start fills the warm set;
#   2. the warm set copied aside: the "network" copy staged runs stage from;
#   3. bench --modes nvme --caches cold,warm,staged --repeat N, and its report.
# usage: bench/gpu/caches-bench.sh [PRESET] [REPEAT]   (qwen2.5-7b, 1)
# Results under $OUT/caches (CSV, Markdown, SVG, sidecar, logs).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
CS=${COLDSTART:-$here/coldstart}
OUT=${OUT:-/tmp/cs-out}
W=${WORK:-/tmp/cs-gpu}
PRESET=${1:-qwen2.5-7b}
REPEAT=${2:-1}
R="$OUT/caches"
mkdir -p "$R" "$W"
M="$W/$PRESET"
CD="$W/caches"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB RAM; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
python3 -c 'import torch, transformers; print("== torch", torch.__version__, "transformers", transformers.__version__)'
[ -d "$M" ] || "$CS" mkmodel "$M" --preset "$PRESET" -q >/dev/null
T="python3 $here/bench/servers/hf_serve.py --model {model} --port {port} --compile"
"$CS" run --model "$M" --mode nvme --name "$PRESET" --caches warm --cache-dir "$CD" --server "$T" --timeout 15m \
	--csv "$R/prime.csv"
rm -rf "$W/net-caches"
cp -a "$CD/warm-$PRESET-nvme" "$W/net-caches"
du -sh "$W/net-caches"
"$CS" bench --nvme "$M" --modes nvme --caches cold,warm,staged --cache-src "$W/net-caches" --cache-dir "$CD" \
	--repeat "$REPEAT" --csv "$R/caches.csv" --name "$PRESET" --server "$T" --timeout 15m
grep -h -e "fx graph cache" -e "torch.compile takes" "$R"/coldstart-logs/*.log | sed 's/^/  /'
