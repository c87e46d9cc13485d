#!/usr/bin/env bash
# On a GPU machine: (1) `coldstart run` against a real GPU server records a
# gpu_mem_used_mb that matches nvidia-smi at ready; (2) how page-cache
# control behaves on this machine's storage; (3) bench/pages-warm.sh here.
# Writes its results under $OUT (default /tmp/cs-out).
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
CS=${COLDSTART:-$here/coldstart}
OUT=${OUT:-/tmp/cs-out}
W=${WORK:-/tmp/cs-gpu}
mkdir -p "$OUT" "$W"
echo "== machine"; uname -srm; nvidia-smi -L; nproc; free -g | head -2; df -h "$W" | tail -1
grep -E " / | /tmp " /proc/mounts
"$CS" mkmodel "$W/q05" --preset qwen2.5-0.5b -q --force >/dev/null

echo "== run with a real GPU server"
"$CS" run --model "$W/q05" --mode nvme --timeout 5m --csv "$OUT/gpu.csv" --log "$OUT/gpu-run.log" --json \
	--server "python3 $here/bench/servers/hf_serve.py --model {model} --port {port} --report-nvidia-smi" > "$OUT/gpu-run.json"
echo "coldstart exit $?"
grep NVIDIA_SMI_AT_READY "$OUT/gpu-run.log"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("coldstart: load_s=%s gpu_mem_used_mb=%s method=%s released=%s after %.2fs, stop=%s" % (d["load_s"], d["gpu_mem_used_mb"], d["gpu_mem_method"], d["gpu_released"], d["gpu_release_s"], d["stop"]))' "$OUT/gpu-run.json"
cat "$OUT/gpu.csv"
nvidia-smi --query-gpu=memory.used --format=csv

echo "== page cache control here"
"$CS" pages warm "$W/q05" -q; "$CS" pages evict "$W/q05" -q; "$CS" pages status "$W/q05" -q
"$CS" pages warm "$W/q05" -q 2>&1 | tail -1; "$CS" pages status "$W/q05" -q
echo "== pages warm bench"
PATH=$here/.carry/bin:$PATH COLDSTART=$CS bash "$here/bench/pages-warm.sh" "$W/bench" 3
