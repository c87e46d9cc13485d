#!/usr/bin/env bash
# How faithfully netsim imposes its limits, with fio as the reader.
#  1. --bw B with 16 parallel readers: measured throughput vs B (200 MB/s, 1 GB/s)
#  2. one reader, no bandwidth limit: throughput vs max_read / latency
#     for three latencies (and the request size the kernel actually sent)
#  3. no limits at all: netsim vs reading SRC directly (overhead)
# Every read starts cold (SRC and mount evicted). usage: bench/netsim-accuracy.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-bench}/netsim-acc
for t in fio bc; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 1; }; done
mkdir -p "$DIR/src" "$DIR/mp"
cleanup() { "$CS" netsim --unmount "$DIR/mp" 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
NF=16 SZ=256   # 16 files x 256 MiB = 4 GiB
for i in $(seq 1 $NF); do head -c $((SZ << 20)) /dev/urandom > "$DIR/src/f$i"; done
total=$((NF * SZ * 1048576))
cold() { "$CS" pages evict "$DIR/src" -q >/dev/null; mountpoint -q "$DIR/mp" && "$CS" pages evict "$DIR/mp" -q >/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches; }
# fio_read DIR NJOBS SIZE_PER_JOB_MiB: buffered sequential reads, one file per job; prints MB/s
fio_read() {
	local d=$1 n=$2 sz=$3 files=""
	for i in $(seq 1 "$n"); do files="$files --name=r$i --filename=$d/f$i"; done
	# shellcheck disable=SC2086
	fio --rw=read --bs=1M --ioengine=psync --direct=0 --invalidate=0 --size=${sz}M --group_reporting \
		--output-format=json $files | python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["read"]; print("%.1f" % (j["io_bytes"]/(j["runtime"]/1000.0)/1e6))'
}
mount_ns() { "$CS" netsim "$DIR/src" "$DIR/mp" "$@" >/dev/null; }
umount_ns() { "$CS" netsim --unmount "$DIR/mp"; }
stat_field() { "$CS" netsim --stats "$DIR/mp" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo "# machine: $(uname -n), $(nproc) cores, kernel $(uname -r); $NF files x $SZ MiB of random data"
echo
echo "## bandwidth, 16 parallel readers"
echo "| --bw | MB read | measured MB/s | error |"
echo "| ---: | ---: | ---: | ---: |"
for bw in 200 1000; do
	mount_ns --bw ${bw}MB/s --max-inflight 64
	per=$(( bw == 200 ? 64 : 256 ))   # MiB per reader: ~5 s and ~4 s of transfer
	cold
	r=$(fio_read "$DIR/mp" 16 $per)
	printf '| %d MB/s | %d | %.1f | %+.1f%% |\n' $bw $((16 * per * 1048576 / 1000000)) "$r" "$(echo "($r - $bw) * 100 / $bw" | bc -l)"
	umount_ns
done
echo
echo "## one reader, latency only (max_read 1 MiB)"
echo "| --latency | max_read/latency MB/s | measured MB/s | mean request KiB | peak in flight |"
echo "| ---: | ---: | ---: | ---: | ---: |"
for lat in 1 5 20; do
	mount_ns --latency ${lat}ms --max-read 1M
	cold
	per=$(( lat == 20 ? 128 : 256 ))
	r=$(fio_read "$DIR/mp" 1 $per)
	mean=$(stat_field 'd["bytes"]/max(d["reads"],1)/1024')
	peak=$(stat_field 'd["peak_inflight"]')
	printf '| %d ms | %.1f | %.1f | %.0f | %s |\n' $lat "$(echo "1.048576 / ($lat / 1000)" | bc -l)" "$r" "$mean" "$peak"
	umount_ns
done
echo
echo "## no limits: overhead of the FUSE passthrough (16 readers, 4 GiB, 3 rounds alternating)"
echo "| round | SRC directly MB/s | through netsim MB/s | ratio |"
echo "| ---: | ---: | ---: | ---: |"
mount_ns --profile none
ds=() vs=()
for r in 1 2 3; do
	cold
	d=$(fio_read "$DIR/src" 16 $SZ)
	cold
	v=$(fio_read "$DIR/mp" 16 $SZ)
	ds+=("$d"); vs+=("$v")
	printf '| %d | %.0f | %.0f | %.2f |\n' $r "$d" "$v" "$(echo "$v / $d" | bc -l)"
done
reqs=$(stat_field 'd["reads"]')
bytes=$(stat_field 'd["bytes"]')
umount_ns
med() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
printf 'median: direct %.0f MB/s, netsim %.0f MB/s, netsim / direct = %.2f (%.0f KiB per request on average)\n' \
	"$(med "${ds[@]}")" "$(med "${vs[@]}")" "$(echo "$(med "${vs[@]}") / $(med "${ds[@]}")" | bc -l)" "$(echo "$bytes / $reqs / 1024" | bc -l)"
