#!/bin/bash
# Fan-out staging with Slurm's own broadcast: the shared path is read once
# (here, on the batch node), sbcast sends every file along a tree of the
# allocation's nodes into node-local scratch, and each node then stages
# from its local copy into its cache (atomic, verified, locked) and removes
# the scratch copy. Against every node reading the shared path itself, the
# shared path serves the model once instead of once per node.
#
#   (inside an allocation: sbatch -N 64 --wrap "contrib/slurm/sbcast-stage.sh /nfs/m /local/coldstart")
#   sbcast-stage.sh SRC_DIR ROOT [NAME]
set -euo pipefail
src=${1:?usage: sbcast-stage.sh SRC_DIR ROOT [NAME]} root=${2:?usage: sbcast-stage.sh SRC_DIR ROOT [NAME]}
name=${3:-$(basename "$src")}
CS=${COLDSTART:-coldstart}
: "${SLURM_JOB_ID:?not inside a Slurm allocation}"
# node-local scratch ($COLDSTART_SBCAST_TMP, default /tmp): one directory per job
job_tmp=${COLDSTART_SBCAST_TMP:-/tmp}/coldstart-sbcast-$SLURM_JOB_ID
tmp=$job_tmp/$name
[ -d "$src" ] || { echo "sbcast-stage: '$src' is not a directory" >&2; exit 1; }
export job_tmp tmp root name CS
# sbcast copies files, not trees: the directories first, on every node
# (the list in the environment: srun gives stdin to one task only).
DIRS=$(cd "$src" && find . -mindepth 1 -type d -printf '%P\n')
export DIRS
# shellcheck disable=SC2016  # expanded by each task, on its node
srun --ntasks-per-node=1 bash -c 'mkdir -p "$tmp" && while IFS= read -r d; do [ -z "$d" ] || mkdir -p "$tmp/$d"; done <<< "$DIRS"'
(cd "$src" && find . -type f -printf '%P\n') | while IFS= read -r f; do
	sbcast --force --preserve "$src/$f" "$tmp/$f"
done
# shellcheck disable=SC2016  # expanded by each task, on its node
srun --ntasks-per-node=1 bash -c '"$CS" stage "$tmp" --root "$root" --name "$name" -q >/dev/null; rc=$?; rm -rf "$job_tmp"; exit $rc'
