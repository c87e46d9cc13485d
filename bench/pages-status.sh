#!/usr/bin/env bash
# Residency report time on 32 GiB of files (32 x 1 GiB): `coldstart pages
# status` (cachestat, O(1) per file) vs `vmtouch` (mmap + mincore, one byte
# per page), timed by hyperfine in the same run. Half of the data is made
# resident first so both have something to count.
# usage: bench/pages-status.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-bench}/status-set
for t in hyperfine vmtouch; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 1; }; done
mkdir -p "$DIR"
trap 'rm -rf "$DIR"' EXIT
for i in $(seq -w 1 32); do
	# Real blocks, so cached pages are data pages (not the shared zero page of a hole).
	fallocate -l 1G "$DIR/f$i"
done
for i in $(seq -w 1 16); do dd if="$DIR/f$i" of=/dev/null bs=16M status=none; done
echo "# machine: $(uname -n), $(nproc) cores, kernel $(uname -r); 32 files x 1 GiB, 16 GiB resident"
"$CS" pages status "$DIR" -q
vmtouch "$DIR" | grep -E 'Resident'
hyperfine -N --warmup 3 --runs 20 --export-markdown "$DIR/../status.md" \
	"$CS pages status $DIR -q" "vmtouch $DIR" >/dev/null
cat "$DIR/../status.md"
rm -f "$DIR/../status.md"
