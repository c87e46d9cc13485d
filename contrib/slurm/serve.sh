#!/bin/bash
# The job step that serves the model task-prolog.sh staged: coldstart exec
# on $COLDSTART_MODEL -- {model} in the server's arguments is the staged
# path, the copy's use lock is held while the server lives, signals reach
# the server, --ready-file appears once it answers. Its arguments are exec's
# options, then -- and the server's command line, passed on as they are:
#
#   sbatch --export=ALL,COLDSTART_STAGE=s3://weights/qwen2.5-7b,COLDSTART_ROOT=/local/coldstart \
#       --wrap "srun contrib/slurm/serve.sh --port 8000 -- vllm serve {model} --port {port} --max-model-len 8192"
#
# A task that has no staged model refuses to start (exit 1, on the job's
# error output), whatever the Slurm in use did with a failed prolog.
# COLDSTART is the coldstart binary (default: the one on the PATH).
CS=${COLDSTART:-coldstart}
if [ -z "${COLDSTART_MODEL:-}" ]; then
	if [ -n "${COLDSTART_STAGE:-}" ]; then
		echo "coldstart: serve: no staged model on $(hostname): the task prolog did not stage COLDSTART_STAGE" \
			"(its reason is in slurmd's log and the job's error output)" >&2
	else
		echo "coldstart: serve: no model: COLDSTART_MODEL is not set (submit the job with" \
			"--export=ALL,COLDSTART_STAGE=SRC and the TaskProlog task-prolog.sh)" >&2
	fi
	exit 1
fi
exec "$CS" exec --model "$COLDSTART_MODEL" "$@"
