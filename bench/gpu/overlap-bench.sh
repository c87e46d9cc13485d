#!/usr/bin/env bash
# On a GPU machine: the overlap experiment (issue 27). One server on a
# 7B-shaped checkpoint, modes nvme, nvme+prefetch, net (netsim nfs-10g over
# the NVMe copy), net+prefetch, staged and runtime, REPEAT interleaved
# rounds, and the report with each mode's overlap floor.
#   SERVER hf        bench/servers/hf_serve.py: transformers'
#                    from_pretrained(device_map="cuda"), /health after one
#                    forward pass; runtime mode is its --dummy (no weights)
#   SERVER refserve  coldstart's own reference server on the GPU
# usage: bench/gpu/overlap-bench.sh SERVER [PRESET] [REPEAT]
#        (qwen2.5-7b, 3). Results under $OUT/overlap-SERVER.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
CS=${COLDSTART:-$here/coldstart}
OUT=${OUT:-/tmp/cs-out}
W=${WORK:-/tmp/cs-gpu}
SERVER=${1:?usage: overlap-bench.sh hf|refserve [PRESET] [REPEAT]}
PRESET=${2:-qwen2.5-7b}
REPEAT=${3:-3}
R="$OUT/overlap-$SERVER"
mkdir -p "$R" "$W"
M="$W/$PRESET"
case $SERVER in
hf)
	HF="python3 $here/bench/servers/hf_serve.py --model {model} --port {port}"
	set -- --server "$HF" --runtime-server "$HF --dummy" ;;
refserve)
	set -- --server refserve ;;
*)
	echo "overlap-bench.sh: unknown server '$SERVER' (hf or refserve)" >&2; exit 2 ;;
esac
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB RAM;" \
	"$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo no GPU)"
[ "$SERVER" = hf ] && python3 -c 'import torch, transformers; print("== torch", torch.__version__, "transformers", transformers.__version__)'
[ -d "$M" ] || "$CS" mkmodel "$M" --preset "$PRESET" -q >/dev/null
"$CS" inspect "$M" | tail -2
"$CS" bench --nvme "$M" --net netsim:nfs-10g --modes nvme,nvme+prefetch,net,net+prefetch,staged,runtime \
	--repeat "$REPEAT" --stage-root "$W/staged-$SERVER" --csv "$R/storage_layout_bench.csv" --name "$PRESET" \
	--timeout 10m "$@"
rm -rf "$W/staged-$SERVER"
