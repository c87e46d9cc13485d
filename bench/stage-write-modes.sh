#!/usr/bin/env bash
# A URL source written O_DIRECT (stage's default) against --buffered, at
# --jobs auto and a fixed --jobs 16: stage of a cold 3.6 GB model from
# `coldstart cache serve` over loopback, the served files in the page
# cache, the destination removed and caches dropped before every run; and
# the disk's own write floors (dd of 3.4 GB, O_DIRECT and buffered + fsync).
# Seconds are stage's own (--json), which include its fsyncs.
# usage: bench/stage-write-modes.sh [DIR] [REPEATS]     (root: drop_caches)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-bench}
REPEATS=${2:-3}
M=$DIR/wm-model SRV=$DIR/wm-srvroot DST=$DIR/wm-dst
mkdir -p "$DIR"
"$CS" mkmodel "$M" --preset qwen2.5-7b --layers 3 --shard-size 1GB --force -q >/dev/null
rm -rf "$SRV"
"$CS" stage "$M" --root "$SRV" --name m -q >/dev/null
"$CS" cache serve --root "$SRV" -q > "$DIR/wm-url" &
hp=$!
trap 'kill $hp 2>/dev/null; rm -rf "$SRV" "$DST" "$DIR/wm-z"' EXIT
for _ in $(seq 100); do [ -s "$DIR/wm-url" ] && break; sleep 0.05; done
U=$(cat "$DIR/wm-url")m/
drop() { sync; [ "$(id -u)" = 0 ] && echo 1 > /proc/sys/vm/drop_caches; sleep 0.5; }
echo "# machine: $(uname -n), $(nproc) cores, kernel $(uname -r); model $(du -sb "$M" | cut -f1) bytes, $(ls "$M" | wc -l) files"
drop; echo "# dd O_DIRECT: $(dd if=/dev/zero of="$DIR/wm-z" bs=16M count=200 oflag=direct 2>&1 | tail -1)"; rm -f "$DIR/wm-z"
drop; echo "# dd buffered + fsync: $(dd if=/dev/zero of="$DIR/wm-z" bs=16M count=200 conv=fsync 2>&1 | tail -1)"; rm -f "$DIR/wm-z"
one() { # LABEL ARGS...
	local l=$1
	shift
	rm -rf "$DST"
	cat "$SRV"/m/* >/dev/null
	drop
	"$CS" stage "$U" --root "$DST" -q --json "$@" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print("| %s | %s | %.3f | %s |" % (sys.argv[1], sys.argv[2], d["seconds"], d["jobs"]))' "$r" "$l"
}
echo "| round | stage | seconds | jobs used |"
echo "| --- | --- | ---: | ---: |"
for r in $(seq 1 "$REPEATS"); do
	one "auto (O_DIRECT)"
	one "auto --buffered" --buffered
	one "--jobs 16 (O_DIRECT)" --jobs 16
	one "--jobs 16 --buffered" --jobs 16 --buffered
done
