#!/usr/bin/env bash
# Write rate of `coldstart mkmodel` for a 7B/8B-sized checkpoint against the
# disk's sequential write rate as fio measures it, in the same run.
#
# usage: bench/mkmodel-write.sh [DIR] [PRESET] [REPEATS]
#   DIR      scratch directory on the disk under test (default /var/tmp/coldstart-bench)
#   PRESET   default qwen2.5-7b (15.2 GB)
#   REPEATS  default 2; fio and mkmodel alternate
# fio writes 16 MiB blocks sequentially with O_DIRECT, synchronously (the
# pattern mkmodel uses) and with libaio at queue depth 8; the faster of the
# two medians is taken as the disk's rate. fio buffered is shown for context; every figure ends
# with fsync, so it includes getting the data onto the disk. mkmodel's time
# is the whole command (process start to exit). Caches are dropped before
# each measurement (root). Prints a Markdown table row per measurement and
# the ratio of medians.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-bench}
PRESET=${2:-qwen2.5-7b}
REPEATS=${3:-2}
command -v fio >/dev/null || { echo "fio is required (apt-get install fio)" >&2; exit 1; }
mkdir -p "$DIR"
cleanup() { rm -rf "$DIR/model" "$DIR/fio.dat"; }
trap cleanup EXIT

bytes=$("$CS" mkmodel "$DIR/model" --preset "$PRESET" --dry-run --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["file_bytes"])')
free=$(df -B1 --output=avail "$DIR" | tail -1)
if [ "$free" -lt $((bytes + bytes / 10)) ]; then
	echo "need $bytes bytes free in $DIR, have $free" >&2
	exit 1
fi
drop() { sync; [ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches || true; }

echo "# machine: $(uname -n), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
echo "# disk: $(df --output=source,fstype "$DIR" | tail -1) under $DIR"
echo "# checkpoint: $PRESET, $bytes bytes"
echo
echo "| run | tool | seconds | MB/s |"
echo "| --- | --- | ---: | ---: |"
fio_rates=() aio_rates=() buf_rates=() cs_rates=()
fio_run() { # extra fio args; prints "seconds MB/s"
	fio --name=seqwrite --filename="$DIR/fio.dat" --rw=write --bs=16M --size="$bytes" \
		--ioengine=psync --end_fsync=1 --numjobs=1 --output-format=json "$@" |
		python3 -c '
import json,sys
j=json.load(sys.stdin)["jobs"][0]
t=j["job_runtime"]/1000.0   # covers the writes and the final fsync
print("%.2f %.0f" % (t, j["write"]["io_bytes"]/t/1e6))'
	rm -f "$DIR/fio.dat"
}
# Each measurement starts from the same state: previous file deleted, sync,
# caches dropped, and a pause so that the host side of a virtual disk has
# drained what the previous run wrote (without it, whatever runs after the
# buffered fio pays for its write-back). The buffered fio goes last.
settle() { drop; sleep "${SETTLE:-10}"; }
for i in $(seq 1 "$REPEATS"); do
	settle
	read -r s r < <(fio_run --direct=1)
	echo "| $i | fio O_DIRECT, psync | $s | $r |"
	fio_rates+=("$r")
	settle
	read -r s r < <(fio_run --direct=1 --ioengine=libaio --iodepth=8)
	echo "| $i | fio O_DIRECT, libaio iodepth 8 | $s | $r |"
	aio_rates+=("$r")
	settle
	t0=$(date +%s.%N)
	"$CS" mkmodel "$DIR/model" --preset "$PRESET" -q >/dev/null
	t1=$(date +%s.%N)
	s=$(echo "$t1 - $t0" | bc -l)
	r=$(echo "$bytes / $s / 1000000" | bc -l)
	printf '| %s | coldstart mkmodel | %.2f | %.0f |\n' "$i" "$s" "$r"
	cs_rates+=("$r")
	rm -rf "$DIR/model"
	settle
	read -r s r < <(fio_run --direct=0)
	echo "| $i | fio buffered | $s | $r |"
	buf_rates+=("$r")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
fm=$(median "${fio_rates[@]}")
am=$(median "${aio_rates[@]}")
bm=$(median "${buf_rates[@]}")
cm=$(median "${cs_rates[@]}")
best=$(printf '%s\n%s\n' "$fm" "$am" | sort -g | tail -1)
echo
printf 'median MB/s: fio O_DIRECT psync %.0f, fio O_DIRECT libaio QD8 %.0f, fio buffered %.0f, mkmodel %.0f\n' \
	"$fm" "$am" "$bm" "$cm"
printf "mkmodel / the disk's rate (the faster fio O_DIRECT median) = %.2f\n" "$(echo "$cm / $best" | bc -l)"
