#!/usr/bin/env bash
# On a GPU machine: refserve --tp N against probe's TP floor and against
# PyTorch/safetensors slicing each rank (tp_anchor.py), warm (page cache)
# and cold (evicted), on a 70B-shaped synthetic checkpoint with its layers
# cut to fit the disk. With fewer GPUs than ranks, ranks share the GPUs
# round-robin (--gpus 0,0,... on a one-GPU machine): the code paths are the
# multi-GPU ones, the figures are not a multi-GPU machine's.
# usage: bench/gpu/tp-bench.sh [LAYERS] [TP...]     (6; 1 2 4 8)
# Results under $OUT/tp.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
CS=${COLDSTART:-$here/coldstart}
OUT=${OUT:-/tmp/cs-out}
W=${WORK:-/tmp/cs-gpu}
LAYERS=${1:-6}
shift || true
TPS=${*:-1 2 4 8}
R="$OUT/tp"
mkdir -p "$R" "$W"
M="$W/llama-3.1-70b-L$LAYERS"
NG=$(nvidia-smi -L | wc -l)
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB RAM; $NG x $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)"
[ -d "$M" ] || "$CS" mkmodel "$M" --preset llama-3.1-70b --layers "$LAYERS" -q >/dev/null
"$CS" inspect "$M" | tail -2
gpus_for() { local n=$1 i l=""; for i in $(seq 0 $((n - 1))); do l="$l${l:+,}$((i % NG))"; done; echo "$l"; }
for n in $TPS; do
	g=$(gpus_for "$n")
	echo "== TP=$n on GPUs $g"
	"$CS" probe "$M" --cold --gpus "$g" --json > "$R/probe-tp$n.json"
	python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tp"]; print("probe: floor %.3f s, overlapped %.2f GB/s, all GPUs %.2f GB/s, host memory %.2f GB/s" % (t["floor_s"], t["overlapped_gbps"], t["host_to_all_gpus_gbps"] or 0, t["host_memory_gbps"]))' "$R/probe-tp$n.json"
	for cold in files none; do
		if [ $cold = none ]; then "$CS" pages warm "$M" -q >/dev/null 2>&1; fi
		"$CS" run --model "$M" --mode "tp$n-$cold" --cold $cold --csv "$R/tp.csv" --log "$R/tp$n-$cold.log" \
			--server "$CS refserve {model} --port {port} --tp $n --gpus $g" --json -q > "$R/run-tp$n-$cold.json"
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("refserve cold=%s: ready %.3f s, weights %.3f s" % (sys.argv[2], d["load_s"], d["phases"]["weights_s"]))' "$R/run-tp$n-$cold.json" $cold
		if [ $cold = files ]; then "$CS" pages evict "$M" -q >/dev/null 2>&1; fi
		if [ $cold = none ]; then "$CS" pages warm "$M" -q >/dev/null 2>&1; fi
		python3 "$here/bench/gpu/tp_anchor.py" "$M" "$n" "$g" | tee "$R/anchor-tp$n-$cold.json"
	done
done
"$CS" refserve "$M" --tp 2 --gpus "$(gpus_for 2)" --verify --port 18999 > "$R/verify-tp2.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q -e "startup complete" -e "failed" "$R/verify-tp2.log" && break; sleep 0.1; done
kill $pid; wait $pid || true
grep -e Verified -e failed "$R/verify-tp2.log"
