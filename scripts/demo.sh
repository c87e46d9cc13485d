#!/bin/sh
# `make demo`: the experiment on this machine, end to end.
#  1. write a synthetic Qwen2.5-0.5B checkpoint (988 MB) and validate it;
#  2. bench cold starts from it ("nvme") against the same files behind a
#     simulated 10 GbE NFS path ("net", netsim) and against the server with
#     no weight loading at all ("runtime"), 3 interleaved repeats.
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
echo "coldstart demo: writing a synthetic qwen2.5-0.5b checkpoint to $model" >&2
"$CS" mkmodel "$model" --preset qwen2.5-0.5b --force >/dev/null
"$CS" inspect "$model"
csv="$OUT/storage_layout_bench.csv"
rm -f "$csv"
rm -rf "$OUT/coldstart-logs"
net="--net netsim:nfs-10g --modes nvme,net,runtime"
if [ ! -c /dev/fuse ]; then
	echo "coldstart demo: no /dev/fuse here: benchmarking the nvme path only" >&2
	net="--modes nvme,runtime"
fi
echo "coldstart demo: bench, nvme vs a simulated NFS path (refserve)" >&2
# shellcheck disable=SC2086
"$CS" bench --nvme "$model" $net --repeat 3 --csv "$csv" --name qwen2.5-0.5b \
	--server refserve
echo "coldstart demo: done; rows in $csv, server logs in $OUT/coldstart-logs" >&2
