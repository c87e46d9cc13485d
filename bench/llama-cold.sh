#!/usr/bin/env bash
# Cold time-to-ready of a real engine (llama.cpp, through
# bench/servers/llama_serve.mjs) on a GGUF of >= 1 GB, from local disk and
# from netsim nfs-10g and efs-elastic: mmap (llama.cpp's default), --no-mmap
# and direct I/O, each without and with coldstart's --prefetch, and staged.
# The anchor is what people do by hand today: `cat` or `vmtouch -t` the
# file, then start the server (timed together, as one cold start).
# Every run is a `coldstart bench` run: evicted and checked cold first.
# usage: bench/llama-cold.sh [DIR] [REPEATS]      (root: netsim mounts FUSE)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-bench}
REPEATS=${2:-3}
SRV="$here/bench/servers/llama_serve.mjs"
[ -d "$here/bench/servers/node_modules/node-llama-cpp" ] || { echo "llama.cpp is not installed: run 'make deps'" >&2; exit 1; }
command -v vmtouch >/dev/null || { echo "vmtouch is required (apt-get install vmtouch)" >&2; exit 1; }
OUT="$DIR/llama-cold"
M="$DIR/llama-3.2-1b-q8_0.gguf"
mkdir -p "$OUT"
rm -f "$OUT"/*.csv "$OUT"/*.meta.json
trap 'rm -rf "$OUT/staged"' EXIT
# Llama-3.2-1B in Q8_0: 1.3 GB, one file, what llama.cpp users run.
[ -f "$M" ] || "$CS" mkmodel "$M" --preset llama-3.2-1b --format gguf --dtype q8_0 -q >/dev/null
bytes=$(stat -c %s "$M")
echo "# machine: $(uname -n), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
echo "# model: $M, $bytes bytes ($(df --output=source,fstype "$DIR" | tail -1 | tr -s ' '))"
echo "# engine: llama.cpp from node-llama-cpp $(node -p "require('$here/bench/servers/node_modules/node-llama-cpp/package.json').version"), $REPEATS runs per cell"
b() { # CSV ARGS...: one bench, rows into $OUT/CSV
	local csv=$1
	shift
	"$CS" bench --nvme "$M" -n "$REPEATS" --csv "$OUT/$csv" --stage-root "$OUT/staged" -q "$@" >/dev/null 2>"$OUT/${csv%.csv}.err" ||
		{ echo "bench $csv failed:" >&2; tail -5 "$OUT/${csv%.csv}.err" >&2; exit 1; }
}
for load in mmap no-mmap direct-io; do
	flag=""
	[ "$load" = mmap ] || flag="--$load"
	b "$load-nfs-10g.csv" --net netsim:nfs-10g --modes nvme,net,net+prefetch,staged --server "node $SRV {model} --port {port} $flag"
	b "$load-efs-elastic.csv" --net netsim:efs-elastic --modes net,net+prefetch --server "node $SRV {model} --port {port} $flag"
done
for p in nfs-10g efs-elastic; do
	b "cat-$p.csv" --net "netsim:$p" --modes net --shell --server "cat {model} > /dev/null && exec node $SRV {model} --port {port}"
	b "vmtouch-$p.csv" --net "netsim:$p" --modes net --shell --server "vmtouch -qt {model} && exec node $SRV {model} --port {port}"
done
python3 - "$OUT" <<'EOF'
import csv, glob, os, statistics, sys
out = sys.argv[1]
cells = {}
for path in sorted(glob.glob(os.path.join(out, "*.csv"))):
    name = os.path.basename(path)[:-4]
    load = next(p for p in ("no-mmap", "direct-io", "mmap", "cat", "vmtouch") if name.startswith(p + "-"))
    storage = name[len(load) + 1:]
    for row in csv.DictReader(open(path)):
        notes = dict(kv.split("=", 1) for kv in row["notes"].split("; ") if "=" in kv)
        if notes.get("cold") != "yes" or "status" in notes:
            continue
        mode = row["storage_mode"]
        where = "local disk" if mode == "nvme" else storage
        key = (load, where, mode)
        t = float(notes.get("total_s", row["load_s"]))
        cells.setdefault(key, []).append(t)
base = statistics.median(cells[("mmap", "local disk", "nvme")])
print(f"\n| loader | storage | mode | median time-to-ready (s) | runs | vs mmap from local disk |")
print("| --- | --- | --- | ---: | ---: | ---: |")
order = {"nvme": 0, "net": 1, "net+prefetch": 2, "staged": 3}
def k(x):
    load, where, mode = x
    return ({"mmap": 0, "no-mmap": 1, "direct-io": 2, "cat": 3, "vmtouch": 4}[load], where != "local disk", where, order.get(mode, 9))
for key in sorted(cells, key=k):
    load, where, mode = key
    v = cells[key]
    m = statistics.median(v)
    label = {"cat": "mmap, after `cat FILE > /dev/null`", "vmtouch": "mmap, after `vmtouch -t FILE`",
             "direct-io": "direct I/O"}.get(load, load)
    shown = mode if load not in ("cat", "vmtouch") else "net (anchor)"
    if mode == "staged":
        shown = "staged (copy + start)"
    print(f"| {label} | {where} | {shown} | {m:.3f} | {len(v)} | {m / base:.2f}x |")
EOF
