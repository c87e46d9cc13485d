#!/bin/sh
# `make demo`: the experiment on this machine, end to end.
#  1. write a synthetic Qwen2.5-0.5B checkpoint (988 MB) and validate it;
#  2. bench cold starts from it ("nvme") against the same files behind a
#     simulated 10 GbE NFS path ("net", netsim), staged from that path onto
#     local disk first ("staged": copy + load), and the server with no
#     weight loading at all ("runtime"), 3 interleaved repeats;
#  3. leave out/storage_layout_bench.{csv,md,svg}, the sidecar .meta.json
#     and one timeline per run under out/coldstart-logs/.
# bench mounts the netsim path and unmounts it on every exit path; staged
# copies are removed after each run.
# The server is coldstart's reference server (refserve): it loads every
# tensor into GPU memory (host memory without a GPU), then answers /health.
# It is named explicitly: vLLM, where installed, would need tokenizer files
# that a synthetic checkpoint does not have.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
CS="$here/coldstart"
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
model="$OUT/demo-model"
# A preset sized for the machine: 988 MB where there is room, else 37 MB.
preset=qwen2.5-0.5b
free_kb=$(df -Pk "$OUT" | awk 'NR == 2 {print $4}')
mem_kb=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
if [ "${free_kb:-0}" -lt 6000000 ] || [ "${mem_kb:-0}" -lt 4000000 ]; then preset=tiny; fi
echo "coldstart demo: writing a synthetic $preset checkpoint to $model" >&2
"$CS" mkmodel "$model" --preset "$preset" --force >/dev/null
"$CS" inspect "$model"
csv="$OUT/storage_layout_bench.csv"
rm -f "$csv"
rm -rf "$OUT/coldstart-logs" "$OUT/staged"
net="--net netsim:nfs-10g --modes nvme,net,staged,runtime --stage-root $OUT/staged"
if [ ! -c /dev/fuse ]; then
	echo "coldstart demo: no /dev/fuse here: benchmarking the nvme path only" >&2
	net="--modes nvme,runtime"
fi
echo "coldstart demo: bench, nvme vs a simulated NFS path (refserve)" >&2
# shellcheck disable=SC2086
"$CS" bench --nvme "$model" $net --repeat 3 --csv "$csv" --name "$preset" \
	--server refserve
rm -rf "$OUT/staged"
echo "coldstart demo: done. The report: $OUT/storage_layout_bench.md (chart: storage_layout_bench.svg);" >&2
echo "coldstart demo: rows in $csv; server logs and run timelines in $OUT/coldstart-logs" >&2
