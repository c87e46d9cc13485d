#!/usr/bin/env bash
# Day 009, Tier 1 — NVMe vs network-path cold load — as one coldstart bench.
#
# Environment (the seed's names):
#   MODEL_PATH_NVME  model directory on local NVMe (required)
#   MODEL_PATH_NET   the same model on a network mount; when unset, coldstart
#                    simulates one over the NVMe copy (netsim, nfs-10g)
#   MODEL_NAME       the CSV's model column (default: the directory's name)
#   REPEAT           cold starts per mode (default 2)
#   CSV              default: storage_layout_bench.csv next to this script
# Further arguments go to `coldstart bench` (e.g. --server, --max-model-len).
# Each run evicts the model from the page cache first and appends one row
# with the seed's header: run_id,storage_mode,model,max_model_len,load_s,
# gpu_mem_used_mb,notes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CS=${COLDSTART:-coldstart}
: "${MODEL_PATH_NVME:?set MODEL_PATH_NVME to the model directory on local NVMe}"
exec "$CS" bench --modes nvme,net --repeat "${REPEAT:-2}" --csv "${CSV:-$here/storage_layout_bench.csv}" "$@"
