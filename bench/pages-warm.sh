#!/usr/bin/env bash
# Warming a cold multi-shard checkpoint into the page cache:
#   coldstart pages warm (parallel chunked reads of non-resident chunks)
#   vmtouch -t           (touches one byte per page, one thread)
#   fio                  (buffered sequential reads, one job per shard, 4 MiB)
# Same files, evicted before each run (outside the timing), REPEATS rounds
# in rotating order. usage: bench/pages-warm.sh [DIR] [REPEATS]
# READAHEAD_KB=N sets the disk's read_ahead_kb for the run (root; restored
# on exit): Linux's default is 128, some virtual disks ship 8192.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-bench}
REPEATS=${2:-3}
for t in vmtouch bc; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 1; }; done
tools=(coldstart vmtouch fio)
command -v fio >/dev/null || { echo "# fio not installed here: comparing with vmtouch only"; tools=(coldstart vmtouch); }
M="$DIR/warm-model"
mkdir -p "$DIR"
dev=$(basename "$(df --output=source "$DIR" | tail -1)")
ra_file=/sys/block/$dev/queue/read_ahead_kb
ra_old=$(cat "$ra_file" 2>/dev/null || echo "")
trap 'rm -rf "$M" "$DIR/warm.fio"; [ -n "${READAHEAD_KB:-}" ] && [ -n "$ra_old" ] && echo "$ra_old" > "$ra_file"' EXIT
[ -n "${READAHEAD_KB:-}" ] && echo "$READAHEAD_KB" > "$ra_file"
# ~4.5 GB in 1 GB shards: qwen2.5-7b layout cut to 5 layers.
"$CS" mkmodel "$M" --preset qwen2.5-7b --layers 5 --shard-size 1GB --force -q >/dev/null
bytes=$(du -sb "$M" | cut -f1)
{
	echo "[global]"; echo "rw=read"; echo "bs=4M"; echo "ioengine=psync"; echo "direct=0"; echo "invalidate=0"
	for f in "$M"/*.safetensors; do echo "[$(basename "$f")]"; echo "filename=$f"; done
} > "$DIR/warm.fio"
cold() { "$CS" pages evict "$M" -q >/dev/null; sync; [ "$(id -u)" = 0 ] && echo 3 > /proc/sys/vm/drop_caches; sleep 2; }
timeit() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
echo "# machine: $(uname -n), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
echo "# read_ahead_kb of $dev: $(cat "$ra_file" 2>/dev/null || echo unknown)"
echo "# files: $(ls "$M" | wc -l) files, $bytes bytes under $DIR ($(df --output=source,fstype "$DIR" | tail -1))"
echo "| round | tool | seconds | MB/s | resident after |"
echo "| --- | --- | ---: | ---: | ---: |"
for r in $(seq 1 "$REPEATS"); do
	for k in $(seq 0 $(( ${#tools[@]} - 1 ))); do
		tool=${tools[$(( (k + r) % ${#tools[@]} ))]}
		cold
		case $tool in
		coldstart) s=$(timeit "$CS" pages warm "$M" -q) ;;
		vmtouch) s=$(timeit vmtouch -t -q "$M") ;;
		fio) s=$(timeit fio "$DIR/warm.fio") ;;
		esac
		res=$("$CS" pages status "$M" --json | python3 -c 'import json,sys; print("%.1f%%" % json.load(sys.stdin)["resident_pct"])')
		printf '| %d | %s | %.2f | %.0f | %s |\n' "$r" "$tool" "$s" "$(echo "$bytes / $s / 1000000" | bc -l)" "$res"
		echo "$tool $s" >> "$DIR/warm.times"
	done
done
med() { grep "^$1 " "$DIR/warm.times" | cut -d' ' -f2 | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
c=$(med coldstart); v=$(med vmtouch)
printf 'median seconds: coldstart %.2f, vmtouch %.2f; coldstart is %.2fx vmtouch\n' "$c" "$v" "$(echo "$v / $c" | bc -l)"
if command -v fio >/dev/null; then
	f=$(med fio)
	printf 'median seconds: fio %.2f; coldstart is %.2fx fio\n' "$f" "$(echo "$f / $c" | bc -l)"
fi
rm -f "$DIR/warm.times"
