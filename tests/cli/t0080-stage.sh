#!/usr/bin/env bash
# stage and cache: publish, no-op, change, verify, kill -9, resume, concurrency,
# space, LRU, in-use protection, bad input, gc; bench's staged and net+prefetch.
. "$(dirname "$0")/lib.sh"
F=${FIXTURES:?}/fakeserver

"$COLDSTART" mkmodel src --preset tiny -q >/dev/null
mkdir -p src/tok && echo '{"tokenizer": 1}' > src/tok/tokenizer.json
R=$SCRATCH/root

# Publish.
expect_rc 0 "stage" "$COLDSTART" stage src --root "$R" --name m
check "prints the staged path" [ "$out" = "$R/m" ]
check "the copy equals the source, subdirectories too" same src "$R/m"
check "a manifest is published with it" [ -f "$R/m/.coldstart-manifest.json" ]
check "nothing left in .partial" [ -z "$(ls -A "$R/.partial")" ]
contains "summary: bytes, seconds, rate, files, how verified" "$err" "files, verified by file count and sizes"
check "modification times kept" [ "$(stat -c %Y src/model.safetensors)" = "$(stat -c %Y "$R/m/model.safetensors")" ]
STAGING_ROOT=$R MODEL_NAME=envname MODEL_PATH_NET=$SCRATCH/src run "$COLDSTART" stage
check "defaults from MODEL_PATH_NET, STAGING_ROOT, MODEL_NAME" [ "$rc:$out" = "0:$R/envname" ]
STAGING_ROOT=$R run "$COLDSTART" stage src
check "NAME defaults to SRC's last component" [ "$out" = "$R/src" ]

# Unchanged: a no-op.
expect_rc 0 "stage again" "$COLDSTART" stage src --root "$R" --name m --json
json_is "unchanged source: no-op, nothing copied" "$out" 'd["noop"], d["copied_bytes"]' "(True, 0)"

# Changed: detected, re-staged, swapped in; unchanged files are not copied again.
ino_before=$(stat -c %i "$R/m/model.safetensors")
echo '{"changed": true}' > src/tok/tokenizer.json
expect_rc 0 "stage a changed source" "$COLDSTART" stage src --root "$R" --name m --json
json_is "changed source: replaced" "$out" 'd["replaced"], d["noop"]' "(True, False)"
json_is "only the changed file copied" "$out" 'd["copied_bytes"]' "$(stat -c %s src/tok/tokenizer.json)"
check "the new copy equals the new source" same src "$R/m"
check "unchanged shard taken over from the old copy" [ "$(stat -c %i "$R/m/model.safetensors")" = "$ino_before" ]
check "no old copy left in .trash" [ -z "$(ls -A "$R/.trash")" ]

# xxh3.
expect_rc 0 "stage --verify xxh3" "$COLDSTART" stage src --root "$R" --name h --verify xxh3
contains "says how it verified" "$err" "xxh3 (source vs copy read back)"
json_ok "manifest holds a hash per file" "$(cat "$R/h/.coldstart-manifest.json")" '
assert d["verify"]=="xxh3" and all(len(f["xxh3"])==16 for f in d["files"]), d'
expect_rc 0 "cache verify: all ok" "$COLDSTART" cache verify --root "$R"
contains "xxh3 read back" "$out" "ok      h  (4 files"
printf 'X' | dd of="$R/h/model.safetensors" bs=1 seek=1000000 conv=notrunc status=none
expect_rc 1 "cache verify finds a corrupted byte" "$COLDSTART" cache verify h --root "$R"
contains "names the file" "$out" "FAILED  h: '$R/h/model.safetensors' does not match its hash"
echo extra >> "$R/m/config.json"
expect_rc 1 "cache verify finds a wrong size (size-verified model)" "$COLDSTART" cache verify m --root "$R"
contains "says the size is wrong" "$out" "config.json' has"
expect_rc 0 "a damaged staged copy is not a no-op: staged again" "$COLDSTART" stage src --root "$R" --name m --json
json_is "re-staged" "$out" 'd["noop"]' False
check "and whole again" same src "$R/m"
"$COLDSTART" cache rm h m envname src --root "$R" 2>/dev/null

# kill -9 at random moments: ROOT/NAME is never incomplete, the next stage finishes.
bad=0 resumed=0 withrec=0 kills=0
for i in $(seq 1 20); do
	"$COLDSTART" stage src --root "$R" --name k --chunk 1M --bwlimit 60M -q >/dev/null 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 60 + 5))"
	kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
	wait "$pid" 2>/dev/null
	if [ -e "$R/k" ] && ! same src "$R/k"; then bad=$((bad + 1)); fi
	if [ -e "$R/k" ]; then "$COLDSTART" cache rm k --root "$R" 2>/dev/null; fi
	# Every few kills, resume and check that it picks up the chunks on disk.
	if [ $((i % 4)) = 0 ] && [ -e "$R/.partial/k.journal" ]; then
		recs=$(grep -c '^c ' "$R/.partial/k.journal")
		j=$("$COLDSTART" stage src --root "$R" --name k --chunk 1M --json -q 2>/dev/null)
		if [ "$recs" -gt 0 ]; then
			withrec=$((withrec + 1))
			[ "$(jget "$j" 'd["resumed_bytes"] > 0')" = True ] && resumed=$((resumed + 1))
		fi
		same src "$R/k" || bad=$((bad + 1))
		"$COLDSTART" cache rm k --root "$R" 2>/dev/null
	fi
done
check "20 kill -9s: never an incomplete or wrong ROOT/NAME" [ "$bad" = 0 ]
check "most kills hit a running copy ($kills)" [ "$kills" -ge 10 ]
check "every resume after a kill that left chunk records used them ($resumed of $withrec)" [ "$resumed" = "$withrec" ]
no_leftovers "20 kill -9s of stage: no process of it left"
# And once for certain: kill -9 after the journal holds chunk records (bounded wait).
"$COLDSTART" cache rm k --root "$R" 2>/dev/null
"$COLDSTART" stage src --root "$R" --name k --chunk 1M --bwlimit 20M -q >/dev/null 2>&1 &
pid=$!
journal_has "$R" k 3
kill -9 $pid
wait $pid 2>/dev/null
recs=$(grep -c '^c ' "$R/.partial/k.journal")
recorded=$(python3 -c '
import json,sys
lines=open(sys.argv[1]).read().split("\n")
h=json.loads(lines[1]); ch=h["chunk"]; sizes=[f[1] for f in h["files"]]
print(sum(min(ch, sizes[int(l.split()[1])]-int(l.split()[2])*ch) for l in lines[2:] if l.startswith("c ")))' "$R/.partial/k.journal")
# A temporary file of an attempt killed mid-write must not be published.
echo junk > "$R/.partial/k/.coldstart-manifest.json.tmp-99999"
expect_rc 0 "resume after kill -9 with $recs chunks recorded" "$COLDSTART" stage src --root "$R" --name k --chunk 1M --json
json_is "resumed exactly the recorded chunks ($recorded bytes)" "$out" 'd["resumed_bytes"]' "$recorded"
check "and completed, with no leftover file published" same src "$R/k"
check "in particular no temporary manifest" [ ! -e "$R/k/.coldstart-manifest.json.tmp-99999" ]
"$COLDSTART" stage src --root "$R" --name k --chunk 1M --bwlimit 60M -q >/dev/null 2>&1 &
pid=$!
sleep 0.3
kill -9 $pid
wait $pid 2>/dev/null
expect_rc 0 "the stage after a kill completes and verifies" "$COLDSTART" stage src --root "$R" --name k --chunk 1M
check "complete and equal" same src "$R/k"
expect_rc 0 "and cache verify agrees" "$COLDSTART" cache verify k --root "$R"
"$COLDSTART" cache rm k --root "$R" 2>/dev/null
"$COLDSTART" stage src --root "$R" --name k --verify xxh3 --chunk 1M --bwlimit 60M -q >/dev/null 2>&1 &
pid=$!
sleep 0.4
kill -9 $pid
wait $pid 2>/dev/null
expect_rc 0 "xxh3: resumed after kill -9, hashes of both halves compared" "$COLDSTART" stage src --root "$R" --name k --verify xxh3 --chunk 1M --json
json_is "resumed" "$out" 'd["resumed_bytes"] > 0' True
expect_rc 0 "cache verify re-hashes it" "$COLDSTART" cache verify k --root "$R"
contains "by xxh3" "$out" "xxh3 read back"

# Interrupted with Ctrl-C: exit 130, partial kept, then resumed.
"$COLDSTART" cache rm k --root "$R" 2>/dev/null
"$COLDSTART" stage src --root "$R" --name c --bwlimit 100M -q >"$SCRATCH/c.out" 2>"$SCRATCH/c.err" &
pid=$!
sleep 0.2
kill -INT $pid
wait $pid
check "SIGINT: exit 130" [ $? = 130 ]
check "SIGINT: nothing published" [ ! -e "$R/c" ]
check "SIGINT: partial copy kept for resuming" [ -d "$R/.partial/c" ]
expect_rc 0 "gc leaves no abandoned partial copy" "$COLDSTART" cache gc --root "$R"
contains "gc says what it removed" "$err" "removed abandoned partial copy"
check "gc removed it" [ ! -e "$R/.partial/c" ]
check "and its journal" [ ! -e "$R/.partial/c.journal" ]

# Four concurrent stagers: one copies, the others wait and print the same path.
for i in 1 2 3 4; do
	"$COLDSTART" stage src --root "$R" --name conc --bwlimit 100M --json >"$SCRATCH/s$i.out" 2>"$SCRATCH/s$i.err" &
	eval "p$i=$!"
done
st=0
for i in 1 2 3 4; do eval "wait \$p$i" || st=1; done
check "4 concurrent stagers all succeed" [ "$st" = 0 ]
check "all print the same path" [ "$(cat "$SCRATCH"/s?.out | python3 -c 'import json,sys; t=sys.stdin.read().replace("}\n{","}\x00{").split("\x00"); print(len({json.loads(x)["path"] for x in t}), len(t))')" = "1 4" ]
check "exactly one copied" [ "$(cat "$SCRATCH"/s?.out | python3 -c 'import json,sys; t=sys.stdin.read().replace("}\n{","}\x00{").split("\x00"); print(sum(json.loads(x)["copied_bytes"]>0 for x in t))')" = 1 ]
contains "the others said that they wait" "$(cat "$SCRATCH"/s?.err)" "waiting: process"
check "the result is the source" same src "$R/conc"
"$COLDSTART" cache rm conc --root "$R" 2>/dev/null

# Space: too little free space fails before writing anything.
if [ "$(id -u)" = 0 ]; then
	mkdir small && mount -t tmpfs -o size=30m tmpfs small && at_exit "umount -l '$SCRATCH/small'"
	expect_rc 1 "too little space: exit 1" "$COLDSTART" stage src --root "$SCRATCH/small/r" --name m
	contains "says how much is needed" "$err" "not enough space in '$SCRATCH/small/r' for 'm': needs 36.8 MiB"
	check "nothing written" [ "$(find "$SCRATCH/small" -path '*/.locks' -prune -o -type f -size +0 -print | wc -l)" = 0 ]
	check "nothing published" [ ! -e "$SCRATCH/small/r/m" ]
else
	_t_report 0 "# SKIP tmpfs needs root"
fi

# LRU with --max-cache; a model in use is never evicted.
size=$(du -sb --exclude=.coldstart-manifest.json src | cut -f1)
for n in a b c; do "$COLDSTART" stage src --root "$R" --name $n -q >/dev/null; done
"$COLDSTART" stage src --root "$R" --name a -q >/dev/null   # a used again: b is now the oldest
expect_rc 0 "stage d under --max-cache of 3 models" "$COLDSTART" stage src --root "$R" --name d --max-cache $((size * 3 + 4096)) --json
json_is "the least recently used one (b) was evicted" "$out" 'd["evicted"]' "['b']"
check "b gone, a (used again) kept" [ "$(ls "$R" | tr '\n' ' ')" = "a c d " ]
run "$COLDSTART" cache ls --root "$R" --json
json_is "cache ls: least recently used first" "$out" '[e["name"] for e in d]' "['c', 'a', 'd']"
# c is in use by a running server (coldstart run holds it for the server's life).
"$COLDSTART" run --model "$R/c" --server "$F --port {port} --model {model} --never-ready" --timeout 6s -q >/dev/null 2>&1 &
rpid=$!
for _ in $(seq 50); do [ -n "$(marked_with "$F --port")" ] && break; sleep 0.1; done
sleep 0.3
run "$COLDSTART" cache ls --root "$R"
contains "cache ls shows it in use" "$out" "in use"
expect_rc 1 "cache rm refuses a model in use" "$COLDSTART" cache rm c --root "$R"
contains "says why" "$err" "in use by a running server"
expect_rc 0 "stage e under --max-cache of 3" "$COLDSTART" stage src --root "$R" --name e --max-cache $((size * 3 + 4096)) --json
json_is "c (oldest, in use) kept, a (next) evicted" "$out" 'd["evicted"]' "['a']"
check "c is still there" [ -e "$R/c/model.safetensors" ]
expect_rc 1 "a cap that only in-use models could satisfy: refused" "$COLDSTART" stage src --root "$R" --name f --max-cache $((size + 4096))
contains "says the rest is in use" "$err" "held by models in use"
check "refused before writing anything" [ ! -e "$R/.partial/f" ]
wait $rpid
expect_rc 0 "after the server stopped, rm works" "$COLDSTART" cache rm c --root "$R"
expect_rc 0 "gc --max-cache evicts down to the cap" "$COLDSTART" cache gc --root "$R" --max-cache $((size + 4096))
check "one model left" [ "$(ls "$R" | wc -l)" = 1 ]

# Bad input: clear error, nothing published.
mkdir empty notmodel && echo hi > notmodel/README.md
expect_rc 1 "SRC missing" "$COLDSTART" stage nosuch --root "$R"
contains "names it" "$err" "cannot open source 'nosuch'"
expect_rc 1 "SRC empty" "$COLDSTART" stage empty --root "$R"
contains "says empty" "$err" "source 'empty' is empty"
expect_rc 1 "SRC not a model" "$COLDSTART" stage notmodel --root "$R"
contains "says not a model" "$err" "is not a model"
cp -r src broken && truncate -s 1000 broken/model.safetensors
expect_rc 1 "truncated shard refused" "$COLDSTART" stage broken --root "$R"
contains "says why" "$err" "not a usable model"
cp -r src esc && ln -s /etc/passwd esc/outside
expect_rc 1 "symlink out of SRC refused" "$COLDSTART" stage esc --root "$R"
contains "names the link and target" "$err" "symlink 'outside' points outside 'esc' (to '/etc/passwd')"
expect_rc 0 "--follow-symlinks copies it" "$COLDSTART" stage esc --root "$R" --follow-symlinks
check "as a regular file" [ "$(stat -c %F "$R/esc/outside")" = "regular file" ]
# A Hugging Face cache snapshot: files are links into REPO/blobs, which is fine.
mkdir -p hf/models--org--m/blobs hf/models--org--m/snapshots/abc123
for f in config.json model.safetensors generation_config.json; do
	h=$(sha256sum "src/$f" | cut -c1-40); cp "src/$f" "hf/models--org--m/blobs/$h"
	ln -s "../../blobs/$h" "hf/models--org--m/snapshots/abc123/$f"
done
expect_rc 0 "HF cache snapshot: links into REPO/blobs are followed" "$COLDSTART" stage hf/models--org--m/snapshots/abc123 --root "$R" --name hf
check "staged as regular files with the blobs' bytes" cmp -s src/model.safetensors "$R/hf/model.safetensors"
check "not as links" [ "$(stat -c %F "$R/hf/config.json")" = "regular file" ]
expect_rc 0 "a snapshot's default name is the repository's" "$COLDSTART" stage hf/models--org--m/snapshots/abc123 --root "$R"
check "ORG--NAME" [ "$out" = "$R/org--m" ]
expect_rc 2 "NAME with /" "$COLDSTART" stage src --root "$R" --name a/b
expect_rc 2 "NAME .." "$COLDSTART" stage src --root "$R" --name ..
expect_rc 2 "no root" env -u STAGING_ROOT "$COLDSTART" stage src
for n in nosuch empty notmodel broken; do check "nothing published for $n" [ ! -e "$R/$n" ]; done
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$SCRATCH" && mkdir -p unr && cp -r src unr/m && chmod 000 unr/m/config.json && chmod 777 unr && mkdir -p unr/root && chmod 777 unr/root
	run setpriv --reuid 65534 --regid 65534 --clear-groups "$COLDSTART" stage unr/m --root unr/root
	check "unreadable file: exit 1" [ "$rc" = 1 ]
	contains "names the file" "$err" "cannot read '$SCRATCH/unr/m/config.json': Permission denied"
fi

# EIO mid-copy: the network mount dies under the copy.
if [ "$(id -u)" = 0 ] && [ -c /dev/fuse ]; then
	mkdir nmp
	at_exit "'$COLDSTART' netsim --unmount '$SCRATCH/nmp' 2>/dev/null"
	"$COLDSTART" netsim src nmp --profile none >/dev/null
	"$COLDSTART" stage nmp --root "$R" --name eio --chunk 1M --bwlimit 40M -q >/dev/null 2>"$SCRATCH/eio.err" &
	spid=$!
	sleep 0.3
	for p in $(marked_with " netsim src nmp"); do kill -9 "$p"; done
	wait $spid
	check "mount died mid-copy: exit 1" [ $? = 1 ]
	contains "clear error, partial kept" "$(cat "$SCRATCH/eio.err")" "the partial copy stays in '$R/.partial/eio'"
	check "nothing published" [ ! -e "$R/eio" ]
	"$COLDSTART" netsim --unmount nmp 2>/dev/null
	"$COLDSTART" netsim src nmp --profile none >/dev/null
	expect_rc 0 "remounted: the next stage resumes and completes" "$COLDSTART" stage nmp --root "$R" --name eio --chunk 1M --json
	json_is "resumed" "$out" 'd["resumed_bytes"] > 0' True
	check "complete and equal" same src "$R/eio"
	"$COLDSTART" netsim --unmount nmp 2>/dev/null
fi

# A journal's records are read strictly. A stage killed mid-copy leaves a
# partial copy and its journal; each crafted record below claims chunk 1 of
# the file, whose bytes are zeroed: read as a wrapped or lenient number, it
# would be taken for done and the zeros published. Refused, the record (and
# what follows it) is not trusted: the chunk is copied again.
mkdir jsrc && head -c 3145728 /dev/urandom >jsrc/blob
"$COLDSTART" stage jsrc --root "$R" --name j --kind dir --chunk 1M --bwlimit 1M -q >/dev/null 2>&1 &
pid=$!
journal_has "$R" j 1
kill -9 $pid
wait $pid 2>/dev/null
check "a killed stage left a partial copy and its journal" [ -e "$R/.partial/j.journal" ] && [ -e "$R/.partial/j/blob" ]
mkdir jsave && cp -a "$R/.partial/j" "$R/.partial/j.journal" jsave/
for rec in "c 0 -18446744073709551615 0000000000000000" "c 0 +1 0000000000000000" "c 0 1 0x00000000000000" \
	"c 0 1 -000000000000001" "c 0 18446744073709551617 0000000000000000" "c 0 01 0000000000000000x"; do
	rm -rf "$R/.partial/j" "$R/.partial/j.journal"
	cp -a jsave/j jsave/j.journal "$R/.partial/"
	head -2 jsave/j.journal >"$R/.partial/j.journal"
	printf '%s\n' "$rec" >>"$R/.partial/j.journal"
	dd if=/dev/zero of="$R/.partial/j/blob" bs=1M seek=1 count=1 conv=notrunc status=none
	expect_rc 0 "a journal record '$rec': the stage completes" "$COLDSTART" stage jsrc --root "$R" --name j --kind dir \
		--chunk 1M --json
	json_is "... copying chunk 1 again: nothing resumed" "$out" 'd["resumed_bytes"]' 0
	check "... the copy is the source's bytes" cmp -s jsrc/blob "$R/j/blob"
	"$COLDSTART" cache rm j --root "$R" 2>/dev/null
done
# And the stage lock's PID, shown while waiting, only when it is one.
mkdir -p "$R/.locks"
for holder in 99999999999999999999 -5 4294967297; do
	printf '%s\n' "$holder" >"$R/.locks/j.stage"
	( exec 9<>"$R/.locks/j.stage"; flock 9; sleep 1.5 ) &
	lp=$!
	for _ in $(seq 100); do flock -n "$R/.locks/j.stage" true 2>/dev/null || break; sleep 0.02; done
	expect_rc 0 "a stage waiting on a lock that names '$holder'" "$COLDSTART" stage jsrc --root "$R" --name j --kind dir
	contains "... says another process, naming no PID" "$err" "waiting: another process is staging 'j'"
	wait $lp
	"$COLDSTART" cache rm j --root "$R" 2>/dev/null
done

# bench: staged and net+prefetch modes.
if [ "$(id -u)" = 0 ] && [ -c /dev/fuse ]; then
	expect_rc 0 "bench with staged and net+prefetch" "$COLDSTART" bench --nvme src --modes nvme,staged,net+prefetch --repeat 1 \
		--stage-root "$SCRATCH/broot" --csv b.csv --server "$F --port {port} --model {model}"
	check "staged row: copy_s, load_s and total_s in the notes" python3 -c '
import csv,sys
rows=list(csv.DictReader(open("b.csv")))
st=[r for r in rows if r["storage_mode"]=="staged"][0]
n=dict(kv.split("=",1) for kv in st["notes"].split("; "))
assert abs(float(n["copy_s"])+float(n["load_s"])-float(n["total_s"]))<0.002, n
assert float(n["load_s"])==float(st["load_s"]) and n["cold"]=="yes", n
pf=[r for r in rows if r["storage_mode"]=="net+prefetch"][0]
assert "prefetch=8" in pf["notes"] and "net=netsim:nfs-10g" in pf["notes"], pf'
	check "the bench's staged copies are removed after each run" [ -z "$(ls "$SCRATCH/broot")" ]
fi
done_testing
