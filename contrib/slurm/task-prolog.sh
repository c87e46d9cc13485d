#!/bin/bash
# Slurm TaskProlog (slurm.conf: TaskProlog=/path/to/task-prolog.sh): before
# a task starts, stage the job's model into the node-local cache, once per
# node however many tasks ask (coldstart's locks), and hand the task its
# path. The job asks with two variables:
#   sbatch --export=ALL,COLDSTART_STAGE=s3://weights/qwen2.5-7b,COLDSTART_ROOT=/local/coldstart ...
# and the task finds the staged copy in $COLDSTART_MODEL (serve.sh runs a
# server on it). Without COLDSTART_STAGE it does nothing.
#
# What it prints as "export NAME=VALUE" Slurm adds to the task's
# environment. When staging fails the task must not start without its
# model: Slurm starts no task whose TaskProlog fails, and this one fails by
# ending on a signal, because then slurmstepd writes everything it printed
# -- coldstart's own reason -- to slurmd's log and to the job's error output
# ("slurm task_prolog did not exit normally. reason: ..."); a plain exit
# status would leave only "TaskProlog failed status=N" there. (The task
# gets exit status 1; srun reports it.) Where a Slurm starts the task
# anyway, COLDSTART_MODEL is not set and serve.sh refuses to run.
[ -n "${COLDSTART_STAGE:-}" ] || exit 0
CS=${COLDSTART:-coldstart}
root=${COLDSTART_ROOT:-/local/coldstart}
errf=$(mktemp "${TMPDIR:-/tmp}/coldstart-prolog.XXXXXX") || { echo "coldstart: task prolog: cannot create a temporary file"; kill -TERM $$; }
path=$("$CS" stage "$COLDSTART_STAGE" --root "$root" -q 2>"$errf")
rc=$?
reason=$(tr '\n' ' ' <"$errf")
rm -f "$errf"
if [ $rc = 0 ] && [ -n "$path" ]; then
	echo "export COLDSTART_MODEL=$path"
	exit 0
fi
# The source as coldstart shows it: no user info, no query (a presigned
# URL's signature, a token).
shown=$(printf '%s' "$COLDSTART_STAGE" | sed -E 's#^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@#\1#; s#[?#].*##')
echo "coldstart: task prolog: staging '$shown' into '$root' failed on $(hostname) (exit $rc): ${reason:-no message}"
echo "coldstart: task prolog: the task is not started: it would have no model"
kill -TERM $$
exit 1
