#!/usr/bin/env bash
# stage and cache: never the wrong weights -- one name, one source; the use
# lock by every name of a model; damaged copies marked, never served, repaired;
# refusals that name the real problem; kill -9 of bench during a staged copy.
. "$(dirname "$0")/lib.sh"
F=${FIXTURES:?}/fakeserver
R=$SCRATCH/root

"$COLDSTART" mkmodel srcA/model --preset tiny --seed 1 -q >/dev/null
"$COLDSTART" mkmodel srcB/model --preset tiny --seed 2 -q >/dev/null
check "the two sources differ" test -n "$(cmp srcA/model/model.safetensors srcB/model/model.safetensors 2>&1)"

# One name, two sources: the second is refused, the first stays.
expect_rc 0 "stage srcA/model" "$COLDSTART" stage srcA/model --root "$R" -q
expect_rc 1 "stage srcB/model under the same name: refused" "$COLDSTART" stage srcB/model --root "$R"
contains "names both sources" "$err" "is staged from '$SCRATCH/srcA/model', not from '$SCRATCH/srcB/model'"
contains "and the way out" "$err" "--replace"
check "R/model still holds srcA's weights" same srcA/model "$R/model"
MODEL_NAME=shared run "$COLDSTART" stage srcA/model --root "$R" -q
MODEL_NAME=shared run "$COLDSTART" stage srcB/model --root "$R" -q
check "MODEL_NAME exported: the second model does not overwrite the first" [ "$rc" = 1 ]
check "shared still holds srcA's weights" same srcA/model "$R/shared"
expect_rc 0 "--replace replaces it" "$COLDSTART" stage srcB/model --root "$R" --replace
contains "and says whose copy it replaced" "$err" "replaced the copy of '$SCRATCH/srcA/model'"
check "R/model now holds srcB's weights" same srcB/model "$R/model"
expect_rc 0 "the same source with new contents is a change, not a conflict" sh -c "cp srcA/model/config.json srcB/model/config.json && '$COLDSTART' stage srcB/model --root '$R' -q"
"$COLDSTART" cache rm model shared --root "$R" 2>/dev/null
# Concurrently: exactly one wins, and the copy is that one's.
"$COLDSTART" stage srcA/model --root "$R" --name race --bwlimit 40M -q >/dev/null 2>a.err &
a=$!
"$COLDSTART" stage srcB/model --root "$R" --name race --bwlimit 40M -q >/dev/null 2>b.err &
b=$!
wait $a; ra=$?
wait $b; rb=$?
check "concurrently: one succeeds, one is refused" test "$ra$rb" = 01 -o "$ra$rb" = 10
if [ "$ra" = 0 ]; then winner=srcA; else winner=srcB; fi
check "the published copy is the winner's" same "$winner/model" "$R/race"
contains "the loser is told the name belongs to one source" "$(cat a.err b.err)" "a staged name belongs to one source"
# A Hugging Face cache snapshot: a new revision is the same source.
mkdir -p hf/models--org--tiny/snapshots/rev1 hf/models--org--tiny/snapshots/rev2
cp srcA/model/* hf/models--org--tiny/snapshots/rev1/
cp srcB/model/* hf/models--org--tiny/snapshots/rev2/
expect_rc 0 "stage an HF snapshot" "$COLDSTART" stage hf/models--org--tiny/snapshots/rev1 --root "$R" -q
check "named after the repository" [ "$out" = "$R/org--tiny" ]
expect_rc 0 "a new revision of the same repository replaces it" "$COLDSTART" stage hf/models--org--tiny/snapshots/rev2 --root "$R" -q
check "now the new revision" same hf/models--org--tiny/snapshots/rev2 "$R/org--tiny"
"$COLDSTART" mkmodel hfm/models--org--tiny/snapshots/abc123 --preset tiny -q >/dev/null
expect_rc 0 "run on an HF snapshot" "$COLDSTART" run --model hfm/models--org--tiny/snapshots/abc123 --server "$F --port {port} --model {model}" --csv hf.csv -q
check "the model column is the repository's name, as stage names it" [ "$(cut -d, -f3 hf.csv | tail -1)" = org--tiny ]

# The use lock, whichever way the model is named.
expect_rc 0 "stage tiny" "$COLDSTART" stage srcA/model --root "$R" --name tiny -q
ln -s "$R/tiny" link-to-tiny
for path in "$R/tiny/model.safetensors" link-to-tiny "root/../root/tiny/." "./root/tiny/config.json"; do
	"$COLDSTART" run --model "$path" --server "$F --port {port} --hang" -q >/dev/null 2>&1 &
	rp=$!
	for _ in $(seq 100); do [ -n "$(marked_with "--hang")" ] && break; sleep 0.05; done
	run "$COLDSTART" cache rm tiny --root "$R"
	check "run --model $path holds the use lock: cache rm refused" [ "$rc" = 1 ]
	check "... and the files are still there" [ -f "$R/tiny/model.safetensors" ]
	kill -TERM $rp
	wait $rp 2>/dev/null
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$COLDSTART" refserve "$R/tiny" --port "$port" >/dev/null 2>&1 &
rs=$!
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.05; done
expect_rc 1 "refserve run by hand holds the use lock too" "$COLDSTART" cache rm tiny --root "$R"
kill -TERM $rs
wait $rs 2>/dev/null
no_leftovers "no server left"

# A copy changed after publishing, never verified: `cache ls` says damaged
# and run refuses it -- a --verify size copy written in place and touched
# back to its mtime too (only the inode's change time shows it).
expect_rc 0 "stage --verify size" "$COLDSTART" stage srcA/model --root "$R" --name d -q
printf 'X' | dd of="$R/d/model.safetensors" bs=1 seek=1000000 conv=notrunc status=none
touch -r srcA/model/model.safetensors "$R/d/model.safetensors"
run "$COLDSTART" cache ls --root "$R" --json
json_ok "cache ls --json: state damaged, naming the file" "$out" '
e={x["name"]:x for x in d}["d"]
assert e["state"]=="damaged" and "model.safetensors" in e["problem"], e'
expect_rc 1 "run refuses a damaged copy" "$COLDSTART" run --model "$R/d" --server "$F --port {port} --model {model}" -q
contains "and says why" "$err" "is damaged"
expect_rc 0 "stage copies it again" "$COLDSTART" stage srcA/model --root "$R" --name d -q
check "the copy is whole again" same srcA/model "$R/d"
expect_rc 0 "and run takes it" "$COLDSTART" run --model "$R/d" --server "$F --port {port} --model {model}" -q

# A copy that failed verification is never served.
expect_rc 0 "stage --verify xxh3" "$COLDSTART" stage srcA/model --root "$R" --name v --verify xxh3 -q
printf 'X' | dd of="$R/v/model.safetensors" bs=1 seek=1000000 conv=notrunc status=none
touch -r srcA/model/model.safetensors "$R/v/model.safetensors"   # size and mtime as staged: only the hash tells
expect_rc 1 "cache verify: FAILED" "$COLDSTART" cache verify v --root "$R"
contains "says it was marked" "$out" "marked corrupt"
run "$COLDSTART" cache ls --root "$R"
contains "cache ls shows the state" "$(grep '^v ' <<<"$out")" "CORRUPT"
run "$COLDSTART" cache ls --root "$R" --json
json_ok "cache ls --json: state corrupt, with the problem" "$out" '
e={x["name"]:x for x in d}["v"]
assert e["state"]=="corrupt" and "does not match its hash" in e["problem"], e'
expect_rc 1 "run refuses a corrupt copy" "$COLDSTART" run --model "$R/v" --server "$F --port {port} --model {model}" -q
contains "and says why and what to do" "$err" "failed verification"
expect_rc 1 "refserve refuses it too" "$COLDSTART" refserve "$R/v" --port 1
contains "saying why" "$err" "failed verification"
expect_rc 0 "stage re-stages what is damaged" "$COLDSTART" stage srcA/model --root "$R" --name v --verify xxh3 --json
json_is "not 'already staged'" "$out" 'd["noop"], d["repaired"]' "(False, True)"
check "the copy is whole again" same srcA/model "$R/v"
lacks "not reported as a source change" "$err" "the source had changed"
contains "reported as damage" "$err" "the staged copy was damaged"
expect_rc 0 "and now verify passes" "$COLDSTART" cache verify v --root "$R"
expect_rc 0 "and the staged copy is a no-op again" "$COLDSTART" stage srcA/model --root "$R" --name v --verify xxh3 --json
json_is "noop" "$out" 'd["noop"]' True
# cache verify --repair.
printf 'Y' | dd of="$R/v/config.json" bs=1 seek=3 conv=notrunc status=none
touch -r srcA/model/config.json "$R/v/config.json"
expect_rc 0 "cache verify --repair re-stages it" "$COLDSTART" cache verify v --root "$R" --repair
contains "says it repaired it" "$out" "REPAIRED v"
check "whole again" same srcA/model "$R/v"
# The cheap no-op check catches a size or an mtime that no longer match.
expect_rc 0 "stage m (size check)" "$COLDSTART" stage srcA/model --root "$R" --name m -q
truncate -s -1 "$R/m/config.json"
expect_rc 0 "a truncated file: staged again" "$COLDSTART" stage srcA/model --root "$R" --name m --json
json_is "not a no-op" "$out" 'd["noop"]' False
check "whole" same srcA/model "$R/m"
echo '{}' > "$R/m/generation_config.json.tmp" && cat srcB/model/generation_config.json > "$R/m/generation_config.json"; rm -f "$R/m/generation_config.json.tmp"
expect_rc 0 "a rewritten file (new mtime): staged again" "$COLDSTART" stage srcA/model --root "$R" --name m --json
json_is "not a no-op either" "$out" 'd["noop"]' False
check "whole again" same srcA/model "$R/m"

# Names, globs, roots: refusals that say what is wrong.
(cd srcA/model && "$COLDSTART" stage . --root "$R" -q) >dot.out 2>dot.err
check "stage . names the directory" [ "$(cat dot.out)" = "$R/model" ]
lacks "not 'invalid name'" "$(cat dot.err)" "invalid name '.'"
expect_rc 2 "--name '' refused" "$COLDSTART" stage srcA/model --root "$R" --name ''
expect_rc 2 "an invalid glob is refused" "$COLDSTART" stage srcA/model --root "$R" --name g --include '['
contains "says the glob is invalid" "$err" "invalid glob '['"
run "$COLDSTART" stage --help
contains "the free-space reserve is in the help" "$out" "64 MiB"
contains "--bwlimit: 500M is MiB/s" "$out" "500M = 500 MiB/s"
expect_rc 1 "a root whose parent does not exist" "$COLDSTART" stage srcA/model --root "$SCRATCH/no/such/root"
contains "says so" "$err" "its parent directory does not exist"
check "and created nothing" [ ! -e "$SCRATCH/no" ]
expect_rc 1 "a root inside the source" "$COLDSTART" stage srcA/model --root srcA/model/staged --name x
contains "says the copy would contain itself" "$err" "inside the source"
expect_rc 1 "the source is the staged copy itself" "$COLDSTART" stage "$R/m" --root "$R" --name m
contains "says so" "$err" "is the staged copy"

"$COLDSTART" mkmodel nv --preset tiny -q >/dev/null
expect_rc 2 "bench --stage-root inside the model directory" "$COLDSTART" bench --nvme nv --net nv --modes staged --stage-root nv/staged --server "$F --port {port}" -q
contains "says the copies would become part of the model" "$err" "inside the model directory"
check "and nothing was created there" [ ! -e nv/staged ]

# A source truncated mid-copy: said so, not "Input/output error".
"$COLDSTART" mkmodel big --preset tiny --shard-size 10M -q >/dev/null
"$COLDSTART" stage big --root "$R" --name shrink --bwlimit 8M --chunk 1M -q >/dev/null 2>shrink.err &
sp=$!
sleep 0.6
truncate -s 1M "$(ls big/model-*.safetensors | tail -1)"
wait $sp
check "truncated source: exit 1" [ $? = 1 ]
contains "says the source changed size" "$(cat shrink.err)" "changed size"
lacks "not an I/O error" "$(cat shrink.err)" "Input/output error"
check "nothing published" [ ! -e "$R/shrink" ]

# gc counts what it freed; removed entries leave no lock files.
run "$COLDSTART" cache gc --root "$R"
check "gc freed the partial copy's bytes" python3 -c 'import re,sys; m=re.search(r"gc freed ([0-9.]+) (\w+)", sys.argv[1]); assert m and float(m.group(1))>0, sys.argv[1]' "$err"
expect_rc 0 "cache rm" "$COLDSTART" cache rm m v tiny race model org--tiny --root "$R"
check "no lock files of removed models" [ -z "$(ls "$R/.locks" | grep -v '^cache$' | grep -E '^(m|v|tiny|race|shrink)\.')" ]

# kill -9 of bench during a staged copy: nothing left running or mounted,
# nothing published; the next bench removes what was left.
if [ "$(id -u)" = 0 ] && [ -c /dev/fuse ]; then
	nm() { grep -c ' fuse.coldstart-netsim ' /proc/self/mounts; }
	before=$(nm)
	"$COLDSTART" mkmodel big2 --preset tiny --shard-size 10M -q >/dev/null
	"$COLDSTART" bench --nvme big2 --net netsim:nfs-1g --modes staged --stage-root "$R" --stage-jobs 1 --server "$F --port {port} --model {model}" --csv k.csv -q >/dev/null 2>&1 &
	bp=$!
	for _ in $(seq 200); do ls "$R/.partial" 2>/dev/null | grep -q -- '-bench-' && break; sleep 0.02; done
	sleep 0.1
	kill -9 $bp
	wait $bp 2>/dev/null
	no_leftovers "kill -9 of bench mid-copy: no process left" 3
	check "no mount left" [ "$(nm)" = "$before" ]
	check "nothing published" [ -z "$(ls "$R" | grep -- '-bench-')" ]
	check "a partial copy was left" [ -n "$(ls "$R/.partial" | grep -- '-bench-')" ]
	expect_rc 0 "the next bench runs" "$COLDSTART" bench --nvme big2 --net netsim:nfs-1g --modes staged --repeat 1 --stage-root "$R" --server "$F --port {port} --model {model}" --csv k2.csv
	contains "and removes the killed bench's leftovers" "$err" "left by a bench that was killed"
	check "nothing of it is left" [ -z "$(ls "$R" "$R/.partial" | grep -- '-bench-')" ]
fi
done_testing
