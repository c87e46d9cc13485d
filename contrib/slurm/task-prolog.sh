#!/bin/bash
# Slurm TaskProlog (slurm.conf: TaskProlog=/path/to/task-prolog.sh): before
# a task starts, stage the job's model into the node-local cache, once per
# node however many tasks ask (coldstart's locks), and hand the task its
# path. The job asks with two variables:
#   sbatch --export=ALL,COLDSTART_STAGE=s3://weights/qwen2.5-7b,COLDSTART_ROOT=/local/coldstart ...
# and the task finds the staged copy in $COLDSTART_MODEL. Without
# COLDSTART_STAGE it does nothing. What it prints as "export NAME=VALUE"
# Slurm adds to the task's environment; its errors go to the slurmd log.
[ -n "${COLDSTART_STAGE:-}" ] || exit 0
CS=${COLDSTART:-coldstart}
root=${COLDSTART_ROOT:-/local/coldstart}
if path=$("$CS" stage "$COLDSTART_STAGE" --root "$root" -q); then
	echo "export COLDSTART_MODEL=$path"
else
	echo "print coldstart: task prolog: staging '$COLDSTART_STAGE' into '$root' failed on $(hostname)"
fi
