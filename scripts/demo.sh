#!/bin/sh
# `make demo`: the experiment on this machine, end to end.
#  1. write a synthetic Qwen2.5-0.5B checkpoint (988 MB) and validate it;
#  2. bench cold starts from it ("nvme") against the same files behind a
#     simulated 10 GbE NFS path ("net", netsim), 3 interleaved repeats.
# Until the reference server lands (refserve), the server is the test
# fixture: it reads every file of the model, then answers /health.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
CS="$here/coldstart"
OUT=${OUT:-$here/out}
FAKE="$here/build/default/tests/fixtures/fakeserver"
mkdir -p "$OUT"
model="$OUT/demo-model"
echo "coldstart demo: writing a synthetic qwen2.5-0.5b checkpoint to $model" >&2
"$CS" mkmodel "$model" --preset qwen2.5-0.5b --force >/dev/null
"$CS" inspect "$model"
csv="$OUT/storage_layout_bench.csv"
rm -f "$csv"
rm -rf "$OUT/coldstart-logs"
net="--net netsim:nfs-10g"
if [ ! -c /dev/fuse ]; then
	echo "coldstart demo: no /dev/fuse here: benchmarking the nvme path only" >&2
	net="--modes nvme"
fi
echo "coldstart demo: bench, nvme vs a simulated NFS path (fixture server)" >&2
# shellcheck disable=SC2086
"$CS" bench --nvme "$model" $net --repeat 3 --csv "$csv" --name qwen2.5-0.5b \
	--server "$FAKE --port {port} --model {model}"
echo "coldstart demo: done; rows in $csv, server logs in $OUT/coldstart-logs" >&2
