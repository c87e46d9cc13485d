#!/usr/bin/env bash
# On a GPU machine: the whole experiment with refserve on the GPU — modes
# nvme, net (netsim nfs-10g over the NVMe copy), staged (net -> local disk,
# then load), net+prefetch and runtime, 3 interleaved repeats — and its
# report. usage: bench/gpu/report-bench.sh [PRESET]   (default qwen2.5-7b)
# Results (CSV, Markdown, SVG, sidecar, run timelines) under $OUT/report.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
CS=${COLDSTART:-$here/coldstart}
OUT=${OUT:-/tmp/cs-out}
W=${WORK:-/tmp/cs-gpu}
PRESET=${1:-qwen2.5-7b}
R="$OUT/report"
mkdir -p "$R" "$W"
M="$W/$PRESET"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB RAM; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
"$CS" mkmodel "$M" --preset "$PRESET" --force -q >/dev/null
"$CS" inspect "$M" | tail -2
"$CS" bench --nvme "$M" --net netsim:nfs-10g --modes nvme,net,staged,net+prefetch,runtime --repeat 3 \
	--stage-root "$W/staged" --csv "$R/storage_layout_bench.csv" --name "$PRESET" --server refserve
rm -rf "$W/staged"
