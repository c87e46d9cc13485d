#!/bin/sh
# `make demo`: the main job. For now: write a synthetic Qwen2.5-0.5B
# checkpoint and inspect it. Later steps of the experiment (bench over
# nvme / net / staged, the report) are added here as they land.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
CS="$here/coldstart"
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
model="$OUT/demo-model"
echo "coldstart demo: writing a synthetic qwen2.5-0.5b checkpoint to $model" >&2
"$CS" mkmodel "$model" --preset qwen2.5-0.5b --force >/dev/null
"$CS" inspect "$model"
echo "coldstart demo: done; the checkpoint is in $model" >&2
