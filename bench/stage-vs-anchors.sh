#!/usr/bin/env bash
# Staging a cold multi-shard checkpoint (~4.5 GB, 1 GB shards):
#   local disk -> local disk:  coldstart stage, cp -a, rsync -a, rclone copy
#                              (multi-thread streams); fio read and write floors
#   netsim path -> local disk: the same plus fpsync (parallel rsync)
#   net+prefetch vs net:       time-to-ready of a server that spends
#                              STARTUP_S seconds before it reads weights
# Every copy starts cold (source evicted, destination removed, caches
# dropped) and is timed up to `sync`, so every tool's data is on disk at the
# end (coldstart fsyncs itself). REPEATS rounds in rotating order; medians.
# usage: bench/stage-vs-anchors.sh [DIR] [REPEATS]   (root: drop_caches, FUSE)
# PARTS=local,net,prefetch (default all), PROFILE=nfs-10g|efs-elastic|...
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-stage-bench}
REPEATS=${2:-3}
PROFILE=${PROFILE:-nfs-10g}
STARTUP_S=${STARTUP_S:-3}
JOBS=${JOBS:-8}
PARTS=${PARTS:-local,net,prefetch}
part() { case ",$PARTS," in *",$1,"*) return 0 ;; esac; return 1; }
for t in rsync rclone fpsync fio bc python3; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 1; }; done
[ "$(id -u)" = 0 ] || { echo "run as root (drop_caches, FUSE mounts)" >&2; exit 1; }
S="$DIR/src" NET="$DIR/net" D="$DIR/dst"
mkdir -p "$DIR" "$NET"
cleanup() { "$CS" netsim --unmount "$NET" 2>/dev/null || true; rm -rf "$D" "$DIR/root" "$DIR"/*.fio "$DIR"/times "$DIR/fpsync-tmp" "$DIR/floor"; }
trap cleanup EXIT
"$CS" mkmodel "$S" --preset qwen2.5-7b --layers 5 --shard-size 1GB --force -q >/dev/null
bytes=$(du -sb "$S" | cut -f1)
nfiles=$(ls "$S" | wc -l)

cold() { "$CS" pages evict "$S" -q >/dev/null; [ -n "${1:-}" ] && "$CS" pages evict "$1" -q >/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches; sleep 2; }
timeit() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; sync; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
med() { grep "^$1 $2 " "$DIR/times" | cut -d' ' -f3 | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
copy() { # tool src
	rm -rf "$D" "$DIR/root"
	case $1 in
	coldstart) "$CS" stage "$2" --root "$DIR/root" --name m --jobs "$JOBS" -q ;;
	coldstart-direct) "$CS" stage "$2" --root "$DIR/root" --name m --jobs "$JOBS" --direct -q ;;
	cp) cp -a "$2" "$D" ;;
	rsync) rsync -a "$2/" "$D/" ;;
	rclone) rclone copy --multi-thread-streams "$JOBS" --multi-thread-cutoff 64M --transfers 4 "$2" "$D" ;;
	fpsync) mkdir -p "$D" && fpsync -n "$JOBS" -f 1 -t "$DIR/fpsync-tmp" "$2/" "$D/" ;;
	esac
}

echo "# machine: $(uname -n), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
echo "# $(rsync --version | head -1); $(rclone version | head -1); $(fio --version); fpsync from fpart $(fpart -V 2>&1 | head -1 | awk '{print $2}')"
echo "# checkpoint: $nfiles files, $bytes bytes under $DIR ($(df --output=source,fstype "$DIR" | tail -1 | xargs))"
: > "$DIR/times"

if part local; then
# fio floors on the same disk: parallel reads of the shards, parallel O_DIRECT writes of as many bytes.
{
	echo "[global]"; echo "rw=read"; echo "bs=16M"; echo "ioengine=psync"; echo "direct=1"
	for f in "$S"/*.safetensors; do echo "[$(basename "$f")]"; echo "filename=$f"; done
} > "$DIR/read.fio"
mkdir -p "$DIR/floor"
{
	echo "[global]"; echo "rw=write"; echo "bs=16M"; echo "ioengine=psync"; echo "direct=1"; echo "end_fsync=1"
	i=0; for f in "$S"/*.safetensors; do i=$((i + 1)); echo "[w$i]"; echo "filename=$DIR/floor/w$i"; echo "size=$(stat -c %s "$f")"; done
} > "$DIR/write.fio"
for r in $(seq 1 "$REPEATS"); do
	cold; echo "floor read $(timeit fio "$DIR/read.fio")" >> "$DIR/times"
	rm -f "$DIR/floor"/*; cold; echo "floor write $(timeit fio "$DIR/write.fio")" >> "$DIR/times"
done
rm -rf "$DIR/floor"

echo
echo "## local disk -> local disk"
echo "| round | tool | seconds | GB/s |"
echo "| --- | --- | ---: | ---: |"
tools=(coldstart cp rsync rclone)
for r in $(seq 1 "$REPEATS"); do
	for k in $(seq 0 $(( ${#tools[@]} - 1 ))); do
		tool=${tools[$(( (k + r) % ${#tools[@]} ))]}
		rm -rf "$D" "$DIR/root"; cold
		s=$(timeit copy "$tool" "$S")
		printf '| %d | %s | %.2f | %.2f |\n' "$r" "$tool" "$s" "$(echo "$bytes / $s / 1000000000" | bc -l)"
		echo "local $tool $s" >> "$DIR/times"
	done
done
fr=$(med floor read); fw=$(med floor write)
floor=$(echo "if ($fr > $fw) $fr else $fw" | bc -l)
c=$(med local coldstart)
printf '\nfio floors: read %.2f s (%.2f GB/s), write %.2f s (%.2f GB/s); the slower: %.2f s\n' "$fr" "$(echo "$bytes/$fr/1000000000" | bc -l)" "$fw" "$(echo "$bytes/$fw/1000000000" | bc -l)" "$floor"
printf 'median: coldstart %.2f s = %.2fx the slower floor\n' "$c" "$(echo "$c / $floor" | bc -l)"
for t in cp rsync rclone; do m=$(med local $t); printf 'median: %s %.2f s; coldstart is %.2fx %s\n' "$t" "$m" "$(echo "$m / $c" | bc -l)" "$t"; done
fi

if part net; then
echo
echo "## netsim ($PROFILE) -> local disk"
"$CS" netsim "$S" "$NET" --profile "$PROFILE" >/dev/null
echo "# $("$CS" netsim --stats "$NET" | sed -n 2p | sed 's/^limits: *//')"
bw=$("$CS" netsim --help | awk -v p="$PROFILE" '$1 == p' | head -1)
echo "# profile: $bw"
echo "| round | tool | seconds | GB/s |"
echo "| --- | --- | ---: | ---: |"
tools=(coldstart coldstart-direct cp rsync rclone fpsync)
for r in $(seq 1 "$REPEATS"); do
	for k in $(seq 0 $(( ${#tools[@]} - 1 ))); do
		tool=${tools[$(( (k + r) % ${#tools[@]} ))]}
		rm -rf "$D" "$DIR/root"; cold "$NET"
		s=$(timeit copy "$tool" "$NET")
		printf '| %d | %s | %.2f | %.2f |\n' "$r" "$tool" "$s" "$(echo "$bytes / $s / 1000000000" | bc -l)"
		echo "net $tool $s" >> "$DIR/times"
	done
done
c=$(med net coldstart)
printf '\nmedian: coldstart %.2f s (%.3f GB/s)\n' "$c" "$(echo "$bytes / $c / 1000000000" | bc -l)"
cd_=$(med net coldstart-direct)
printf 'median: coldstart --direct %.2f s (%.3f GB/s)\n' "$cd_" "$(echo "$bytes / $cd_ / 1000000000" | bc -l)"
for t in cp rsync rclone fpsync; do m=$(med net $t); printf 'median: %s %.2f s; coldstart is %.2fx, coldstart --direct %.2fx %s\n' "$t" "$m" "$(echo "$m / $c" | bc -l)" "$(echo "$m / $cd_" | bc -l)" "$t"; done
"$CS" netsim --unmount "$NET" >/dev/null
fi

if part prefetch; then
echo
echo "## time-to-ready: net vs net+prefetch (server sleeps ${STARTUP_S}s before reading weights)"
rm -rf "$D" "$DIR/root"
"$CS" bench --nvme "$S" --net "netsim:$PROFILE" --modes net,net+prefetch --repeat "$REPEATS" --csv "$DIR/prefetch.csv" \
	--shell --server "sleep $STARTUP_S; exec '$CS' refserve {model} --port {port}" 2>&1 | sed -n '/^mode/,$p'
rm -f "$DIR"/prefetch.*; rm -rf "$DIR/coldstart-logs"
fi
