#!/usr/bin/env bash
# contrib/day-009: the seed's two scripts as wrappers over coldstart.
. "$(dirname "$0")/lib.sh"
F=${FIXTURES:?}/fakeserver
W="$REPO_ROOT/contrib/day-009/compare_storage_paths.sh"
"$COLDSTART" mkmodel nvme/qwen --preset tiny -q >/dev/null
cp -r nvme net
expect_rc 0 "compare_storage_paths.sh with both paths" env COLDSTART="$COLDSTART" MODEL_PATH_NVME=nvme/qwen MODEL_PATH_NET=net/qwen \
	MODEL_NAME=Qwen-tiny CSV=out.csv bash "$W" --server "$F --port {port} --model {model}" -q
check "seed header" [ "$(head -1 out.csv)" = "run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes" ]
check "2 repeats x 2 modes, interleaved" [ "$(cut -d, -f2 out.csv | tail -4 | tr '\n' ' ')" = "nvme net nvme net " ]
check "MODEL_NAME used" [ "$(cut -d, -f3 out.csv | tail -4 | sort -u)" = Qwen-tiny ]
expect_rc 1 "without MODEL_PATH_NVME it says what to set" env -u MODEL_PATH_NVME COLDSTART="$COLDSTART" bash "$W"
contains "names the variable" "$err" "MODEL_PATH_NVME"

# Tier 2: stage_model_to_nvme.sh.
S="$REPO_ROOT/contrib/day-009/stage_model_to_nvme.sh"
expect_rc 0 "stage_model_to_nvme.sh" env COLDSTART="$COLDSTART" MODEL_PATH_NET="$SCRATCH/net/qwen" STAGING_ROOT="$SCRATCH/staged" \
	MODEL_NAME=Qwen-tiny CSV=t2.csv bash "$S" --server "$F --port {port} --model {model}" -q
check "staged copy published under STAGING_ROOT/MODEL_NAME" diff -r --exclude=.coldstart-manifest.json net/qwen staged/Qwen-tiny
check "a staged row with copy_s, load_s, total_s" python3 -c '
import csv
r=list(csv.DictReader(open("t2.csv")))[-1]
n=dict(kv.split("=",1) for kv in r["notes"].split("; "))
assert r["storage_mode"]=="staged" and r["model"]=="Qwen-tiny" and float(n["load_s"])==float(r["load_s"]), r
assert abs(float(n["copy_s"])+float(n["load_s"])-float(n["total_s"]))<0.002, n'
expect_rc 0 "the report reads it" "$COLDSTART" report t2.csv --json -q
expect_rc 1 "without STAGING_ROOT it says what to set" env -u STAGING_ROOT COLDSTART="$COLDSTART" MODEL_PATH_NET=net/qwen bash "$S"
contains "names the variable" "$err" "STAGING_ROOT"
done_testing
