#!/usr/bin/env bash
# Staging a small checkpoint, where fixed costs show: the tiny preset
# (~39 MB, 3 files) from local disk to local disk with --verify xxh3 (the
# copy pool, then the hashing pool reading the copy back), N runs (default
# 20) of each in turn, against `cp -a` + sync as the anchor, and against
# BASELINE (another coldstart binary) when given. Medians.
# usage: BASELINE=/path/to/old/coldstart bench/stage-small.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
BASE=${BASELINE:-}
N=${1:-20}
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
"$CS" mkmodel "$w/m" --preset tiny -q >/dev/null
ms() { local t0 t1; t0=${EPOCHREALTIME/./}; "$@" >/dev/null 2>&1; t1=${EPOCHREALTIME/./}; echo $(( (t1 - t0) / 1000 )); }
run_cs() { rm -rf "$w/root"; ms "$1" stage "$w/m" --root "$w/root" --name m --verify xxh3 -q; }
run_cp() { rm -rf "$w/dst"; ms sh -c "cp -a '$w/m' '$w/dst' && sync"; }
: > "$w/times"
for i in $(seq 1 "$N"); do
	echo "coldstart $(run_cs "$CS")" >> "$w/times"
	[ -n "$BASE" ] && echo "baseline $(run_cs "$BASE")" >> "$w/times"
	echo "cp $(run_cp)" >> "$w/times"
done
med() { grep "^$1 " "$w/times" | cut -d' ' -f2 | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "# machine: $(uname -n), $(nproc) cores, kernel $(uname -r); $N runs each; coldstart: $("$CS" --version)"
c=$(med coldstart) p=$(med cp)
echo "coldstart stage --verify xxh3: median $c ms"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
[ -n "$BASE" ] && echo "baseline ($("$BASE" --version)): median $(med baseline) ms, coldstart/baseline $(ratio "$c" "$(med baseline)")"
echo "cp -a + sync: median $p ms, coldstart/cp $(ratio "$c" "$p")"
