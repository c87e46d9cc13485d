#!/usr/bin/env bash
# stage --kind dir: a directory that is not a model (a compile or kernel
# cache: nested directories, many small files, an empty one, one large
# one) with every guarantee stage gives a model: exact and verified, a
# no-op when unchanged, resumed after kill -9, repaired from its source,
# and fetched from a peer's cache serve. Without --kind dir it is refused.
. "$(dirname "$0")/lib.sh"
mkdir -p cache/inductor/ab/cd cache/triton/x/y
for i in $(seq 1 60); do head -c $((i * 700)) /dev/urandom > "cache/inductor/ab/cd/k$i.py"; done
: > cache/triton/x/empty.lock
head -c 25000000 /dev/urandom > cache/triton/x/y/kernel.cubin
R=$SCRATCH/root

expect_rc 1 "a directory that is not a model is refused by default" "$COLDSTART" stage cache --root "$R"
contains "... saying how to stage it" "$err" "stages with --kind dir"
expect_rc 0 "stage --kind dir --verify xxh3" "$COLDSTART" stage cache --root "$R" --kind dir --verify xxh3 --json
check "an exact copy, nested directories and the empty file included" same cache "$R/cache"
json_is "62 files" "$out" 'd["files"]' 62
check "the manifest says kind dir" grep -q '"kind": "dir"' "$R/cache/.coldstart-manifest.json"
expect_rc 0 "unchanged: a no-op" "$COLDSTART" stage cache --root "$R" --kind dir
contains "says so" "$err" "already staged from the unchanged source"

# kill -9 mid-copy, then resume.
"$COLDSTART" stage cache --root "$R" --name c2 --kind dir --chunk 1M --bwlimit 10M -q >/dev/null 2>&1 &
pid=$!
journal_has "$R" c2 4
kill -9 $pid
wait $pid 2>/dev/null
expect_rc 0 "resume after kill -9" "$COLDSTART" stage cache --root "$R" --name c2 --kind dir --chunk 1M --json
check "... with what was on disk" [ "$(jget "$out" 'd["resumed_bytes"]')" -gt 0 ]
check "... exact" same cache "$R/c2"

# Damaged, found and repaired from its source (the kind comes from the manifest).
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[0]^=1; open(p,"wb").write(b)' "$R/cache/inductor/ab/cd/k9.py"
expect_rc 0 "cache verify --repair" "$COLDSTART" cache verify cache --root "$R" --repair
contains "... repaired" "$out$err" "REPAIRED"
check "... exact again" same cache "$R/cache"

# From a peer: cache serve of this root, stage http://PEER/NAME/ --kind dir.
"$COLDSTART" cache serve --root "$R" -q >url &
spid=$!
stop_serve() { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
at_exit stop_serve
for _ in $(seq 100); do [ -s url ] && break; sleep 0.05; done
expect_rc 0 "a peer stages the directory over HTTP" "$COLDSTART" stage "$(cat url)cache/" --root "$SCRATCH/peer" --kind dir --verify xxh3
check "... exact" same cache "$SCRATCH/peer/cache"
stop_serve
no_leftovers "no process left"
done_testing
