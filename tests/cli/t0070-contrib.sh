#!/usr/bin/env bash
# contrib/day-009: the seed's Tier 1 script as a wrapper over coldstart bench.
. "$(dirname "$0")/lib.sh"
F=${FIXTURES:?}/fakeserver
W="$REPO_ROOT/contrib/day-009/compare_storage_paths.sh"
at_exit "pkill -9 -f '$F' 2>/dev/null"
"$COLDSTART" mkmodel nvme/qwen --preset tiny -q >/dev/null
cp -r nvme net
expect_rc 0 "compare_storage_paths.sh with both paths" env COLDSTART="$COLDSTART" MODEL_PATH_NVME=nvme/qwen MODEL_PATH_NET=net/qwen \
	MODEL_NAME=Qwen-tiny CSV=out.csv bash "$W" --server "$F --port {port} --model {model}" -q
check "seed header" [ "$(head -1 out.csv)" = "run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes" ]
check "2 repeats x 2 modes, interleaved" [ "$(cut -d, -f2 out.csv | tail -4 | tr '\n' ' ')" = "nvme net nvme net " ]
check "MODEL_NAME used" [ "$(cut -d, -f3 out.csv | tail -4 | sort -u)" = Qwen-tiny ]
expect_rc 1 "without MODEL_PATH_NVME it says what to set" env -u MODEL_PATH_NVME COLDSTART="$COLDSTART" bash "$W"
contains "names the variable" "$err" "MODEL_PATH_NVME"
done_testing
