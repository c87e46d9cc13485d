#!/bin/sh
# `make demo`: the experiment on this machine, end to end, with a real
# engine (llama.cpp) where `make deps` could install it.
#  1. write a synthetic Qwen2.5-0.5B model and validate it: a GGUF in Q8_0
#     (529 MB) for llama.cpp, or a safetensors checkpoint (988 MB) for
#     refserve; the tiny preset on a machine short of disk or memory;
#  2. bench cold starts from it ("nvme") against the same file behind a
#     simulated shared cloud file system ("net", netsim's filestore-basic:
#     100 MiB/s and 2 ms per request, a general-purpose tier such as
#     Filestore Basic HDD or EFS Bursting), staged from that path onto
#     local disk first ("staged": copy + load), read ahead in parallel while
#     the server starts ("net+prefetch"), and the server with no weights
#     ("runtime"), 3 interleaved repeats;
#  3. leave out/storage_layout_bench.{csv,md,svg}, the sidecar .meta.json
#     and one timeline per run under out/coldstart-logs/.
# bench mounts the netsim path and unmounts it on every exit path; staged
# copies are removed after each run.
# The server is llama.cpp (node-llama-cpp's prebuilt build, through
# bench/servers/llama_serve.mjs): it maps the GGUF file, evaluates one token
# (which faults the weights in) and answers /health. Without Node.js >= 20,
# or with DEMO_SERVER=refserve, it is coldstart's reference server, which
# reads every tensor into GPU memory (host memory without a GPU).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
CS="$here/coldstart"
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
server=${DEMO_SERVER:-llama.cpp}
if [ "$server" = llama.cpp ] && { [ ! -d "$here/bench/servers/node_modules/node-llama-cpp" ] || ! command -v node >/dev/null 2>&1; }; then
	echo "coldstart demo: llama.cpp is not installed (make deps needs Node.js >= 20 and npm): using refserve" >&2
	server=refserve
fi
# A preset sized for the machine: Qwen2.5-0.5B where there is room, else tiny.
preset=qwen2.5-0.5b
free_kb=$(df -Pk "$OUT" | awk 'NR == 2 {print $4}')
mem_kb=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
if [ "${free_kb:-0}" -lt 6000000 ] || [ "${mem_kb:-0}" -lt 4000000 ]; then preset=tiny; fi
rm -rf "$OUT/demo-model" "$OUT/demo-model.gguf"
if [ "$server" = llama.cpp ]; then
	model="$OUT/demo-model.gguf"
	echo "coldstart demo: writing a synthetic $preset GGUF (q8_0) to $model" >&2
	"$CS" mkmodel "$model" --preset "$preset" --format gguf --dtype q8_0 -q >/dev/null
	modes=nvme,net,staged,net+prefetch,runtime
else
	model="$OUT/demo-model"
	echo "coldstart demo: writing a synthetic $preset checkpoint to $model" >&2
	"$CS" mkmodel "$model" --preset "$preset" -q >/dev/null
	modes=nvme,net,staged,runtime
fi
"$CS" inspect "$model"
csv="$OUT/storage_layout_bench.csv"
rm -f "$csv"
rm -rf "$OUT/coldstart-logs" "$OUT/staged"
net="--net netsim:${DEMO_NET:-filestore-basic} --modes $modes --stage-root $OUT/staged"
if [ ! -c /dev/fuse ]; then
	echo "coldstart demo: no /dev/fuse here: benchmarking the nvme path only" >&2
	net="--modes nvme,runtime"
fi
echo "coldstart demo: bench, nvme vs a simulated cloud file system ($server)" >&2
# shellcheck disable=SC2086
"$CS" bench --nvme "$model" $net --repeat 3 --csv "$csv" --name "$preset" --server "$server"
rm -rf "$OUT/staged"
echo "coldstart demo: done. The report: $OUT/storage_layout_bench.md (chart: storage_layout_bench.svg);" >&2
echo "coldstart demo: rows in $csv; server logs and run timelines in $OUT/coldstart-logs" >&2
