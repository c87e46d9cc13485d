#!/usr/bin/env bash
# Day 009, Tier 2 — stage weights network -> NVMe, then start the server on
# the staged copy and record time-to-ready — as two coldstart commands.
#
# Environment (the seed's names):
#   MODEL_PATH_NET   model directory on the network mount (required)
#   STAGING_ROOT     local NVMe directory for staged models (required)
#   MODEL_NAME       name under STAGING_ROOT and the CSV's model column
#                    (default: MODEL_PATH_NET's last component)
#   CSV              default: storage_layout_bench.csv next to this script
# Further arguments go to `coldstart run` (e.g. --server, --max-model-len).
#
# `coldstart stage` copies in parallel chunks, verifies, and publishes
# STAGING_ROOT/MODEL_NAME atomically (an unchanged source is not copied
# again: copy_s is then the milliseconds of the check). The row gets
# storage_mode=staged and notes copy_s=...; load_s=...; total_s=...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CS=${COLDSTART:-coldstart}
: "${MODEL_PATH_NET:?set MODEL_PATH_NET to the model directory on the network mount}"
: "${STAGING_ROOT:?set STAGING_ROOT to a directory on local NVMe}"
name=${MODEL_NAME:-$(basename "$MODEL_PATH_NET")}
json=$("$CS" stage "$MODEL_PATH_NET" --root "$STAGING_ROOT" --name "$name" --json)
read -r path copy_s < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["path"], "%.3f" % d["seconds"])' "$json")
echo "stage_model_to_nvme: staged $path in ${copy_s}s" >&2
exec "$CS" run --model "$path" --mode staged --name "$name" --copy-s "$copy_s" \
	--csv "${CSV:-$here/storage_layout_bench.csv}" "$@"
