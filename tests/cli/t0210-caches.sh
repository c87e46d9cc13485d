#!/usr/bin/env bash
# --caches cold|warm|staged: the server's compile and kernel caches as a
# dimension of run and bench, and exec --stage-cache. The server is a
# compile-heavy stand-in (fakeserver --cache-var: slow work when its cache
# directory is empty, a check of what it wrote otherwise; never a result).
# Cold really starts empty, warm reuses after one priming start, staged
# copies the set from its source, and the user's own ~/.cache is neither
# read nor written. Then the report's split per cache state (golden).
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/strict.sh"
"$COLDSTART" mkmodel m --preset tiny -q >/dev/null
export HOME=$SCRATCH/home
mkdir -p "$HOME/.cache/vllm" "$HOME/.cache/fakeserver/VLLM_CACHE_ROOT"
echo "the user's own" > "$HOME/.cache/vllm/keep"
echo "the user's own" > "$HOME/.cache/fakeserver/VLLM_CACHE_ROOT/kernel-0.bin"
home_before=$(cd "$HOME" && find . -printf '%p %s %T@\n' | sort)
T="$F --port {port} --model {model} --cache-var VLLM_CACHE_ROOT --cache-var TRITON_CACHE_DIR --compile 300ms --seen seen"
CD=$SCRATCH/caches
note() { python3 -c 'import sys; n=dict(kv.split("=",1) for kv in sys.argv[1].split("; ") if "=" in kv); print(n.get(sys.argv[2],""))' "$1" "$2"; }
last_notes() { tail -n 1 "$1" | cut -d, -f7-; }
# The same regular files with the same bytes (stage keeps no empty directory).
same_files() { diff <(cd "$1" && find . -type f ! -name .coldstart-manifest.json -exec md5sum {} + | sort -k2) \
	<(cd "$2" && find . -type f ! -name .coldstart-manifest.json -exec md5sum {} + | sort -k2) >/dev/null; }

# ---- cold: fresh empty directories, every time ----
expect_argv r.argv --port '{port}' --model m --cache-var VLLM_CACHE_ROOT --cache-var TRITON_CACHE_DIR --compile 300ms \
	--seen seen
expect_env r.env VLLM_CACHE_ROOT TORCHINDUCTOR_CACHE_DIR TRITON_CACHE_DIR CUDA_CACHE_PATH
expect_rc 0 "run --caches cold" env CS_EXPECT_ARGV=$SCRATCH/r.argv CS_EXPECT_ENV=$SCRATCH/r.env \
	"$COLDSTART" run --model m --mode nvme --csv r.csv --caches cold --cache-dir "$CD" --server "$T"
check "the server saw both variables' directories empty" [ "$(grep -c ' empty 0$' seen)" = 2 ]
check "... inside the cache directory, not the user's ~/.cache" [ "$(grep -c " $CD/cold-" seen)" = 2 ]
n=$(last_notes r.csv)
check "the row says caches=cold" [ "$(note "$n" caches)" = cold ]
check "... the set held nothing at launch" [ "$(note "$n" cache_files)" = 0 ]
check "... and what the server wrote into it" [ "$(note "$n" cache_bytes_after)" = $((8 * 65536)) ]
check "... and the compile phase from the server's log" [ -n "$(note "$n" compile_s)" ]
check "the cold set is removed after the run" [ -z "$(ls "$CD" | grep '^cold-')" ]
: > seen
expect_rc 0 "a second cold run" "$COLDSTART" run --model m --mode nvme --csv r.csv --caches cold --cache-dir "$CD" --server "$T"
check "... starts empty again" [ "$(grep -c ' empty 0$' seen)" = 2 ]

# A cold set left by a coldstart killed with -9 (nobody holds its lock) is
# removed at the next start; one held by a live process stays.
mkdir -p "$CD/cold-deadbeef/VLLM_CACHE_ROOT" "$CD/cold-live00"
( exec 9<"$CD/cold-live00"; flock 9; sleep 30 ) &
holder=$!
at_exit "kill $holder 2>/dev/null"
for _ in $(seq 100); do flock -n "$CD/cold-live00" true 2>/dev/null || break; sleep 0.05; done
expect_rc 0 "a run after a killed one" "$COLDSTART" run --model m --mode nvme --caches cold --cache-dir "$CD" --server "$T" --csv r.csv
check "the abandoned cold set is removed" [ ! -e "$CD/cold-deadbeef" ]
check "the one a live process holds stays" [ -d "$CD/cold-live00" ]
kill $holder 2>/dev/null; wait $holder 2>/dev/null

# ---- warm: one priming start, then reuse ----
: > seen
expect_rc 0 "run --caches warm" "$COLDSTART" run --model m --mode nvme --csv r.csv --caches warm --cache-dir "$CD" --server "$T"
contains "says it primes first" "$err" "priming the warm caches"
check "priming saw the set empty, the measured start found it filled" \
	[ "$(sed -n 1,2p seen | grep -c ' empty 0$')" = 2 -a "$(sed -n 3,4p seen | grep -c ' hit 4$')" = 2 ]
n=$(last_notes r.csv)
check "the row: caches=warm, the set's 8 files at launch" [ "$(note "$n" caches)" = warm -a "$(note "$n" cache_files)" = 8 ]
rows=$(wc -l < r.csv)
: > seen
expect_rc 0 "a second warm run" "$COLDSTART" run --model m --mode nvme --csv r.csv --caches warm --cache-dir "$CD" --server "$T"
lacks "... does not prime again" "$err" "priming"
check "... one start, a hit for each variable" [ "$(wc -l < seen)" = 2 -a "$(grep -c ' hit 4$' seen)" = 2 ]
check "priming added no row" [ "$(wc -l < r.csv)" = $((rows + 1)) ]
W=$CD/warm-m-nvme
check "the warm set is kept, marked primed" [ -f "$W/.coldstart-primed" -a -f "$W/VLLM_CACHE_ROOT/kernel-3.bin" ]
expect_rc 0 "another server template primes again" "$COLDSTART" run --model m --mode nvme --csv r.csv --caches warm --cache-dir "$CD" --server "$T --delay 1ms"
contains "... says so" "$err" "priming the warm caches"

# ---- staged: copied from the network copy of the set, timed ----
mkdir net
cp -a "$W" net/qwen-caches
: > seen
expect_rc 0 "run --caches staged" "$COLDSTART" run --model m --mode nvme --csv r.csv --caches staged --cache-src net/qwen-caches --cache-dir "$CD" --server "$T"
check "the server found the staged set filled" [ "$(grep -c ' hit 4$' seen)" = 2 ]
check "... in the caches' stage root" [ "$(grep -c " $CD/staged/caches-" seen)" = 2 ]
n=$(last_notes r.csv)
check "the row: caches=staged with the copy's time" [ "$(note "$n" caches)" = staged -a -n "$(note "$n" cache_copy_s)" ]
check "the staged copy is removed after the run" [ -z "$(ls "$CD/staged")" ]
check "the source set is unchanged" diff -r "$W" net/qwen-caches
# A damaged artifact in the source reaches the server, which refuses it.
cp -a net/qwen-caches net/bad-caches
printf 'XXXX' | dd of=net/bad-caches/TRITON_CACHE_DIR/kernel-2.bin conv=notrunc status=none
rows=$(wc -l < r.csv)
expect_rc 1 "a damaged staged set fails the run" "$COLDSTART" run --model m --mode nvme --csv r.csv --caches staged --cache-src net/bad-caches --cache-dir "$CD" --server "$T"
contains "... with the server's own words" "$err" "damaged cache artifact"
check "... and no row" [ "$(wc -l < r.csv)" = "$rows" ]

# ---- refused before anything runs ----
expect_rc 2 "an unknown state" "$COLDSTART" run --model m --caches tepid --server "$T"
contains "... names the states" "$err" "cold, warm, staged"
expect_rc 2 "run takes one state" "$COLDSTART" run --model m --caches cold,warm --server "$T"
expect_rc 2 "staged needs --cache-src" "$COLDSTART" run --model m --caches staged --server "$T"
contains "... and says what it is" "$err" "a cache set on the network"
expect_rc 2 "a --cache-src that is not a cache set" "$COLDSTART" run --model m --caches staged --cache-src m --server "$T"
contains "... names it and what it lacks" "$err" "'m' is not a cache set"
expect_rc 1 "a --cache-src that does not exist" "$COLDSTART" run --model m --caches staged --cache-src nowhere --server "$T"
contains "... names it" "$err" "nowhere"
expect_rc 2 "a bad variable name" "$COLDSTART" run --model m --caches cold --cache-env 'VLLM_CACHE_ROOT,1BAD' --server "$T"
contains "... names it" "$err" "'1BAD'"
expect_rc 2 "--cache-dir without --caches" "$COLDSTART" run --model m --cache-dir "$CD" --server "$T"
expect_rc 1 "{cache} in the template without --caches" "$COLDSTART" run --model m --server "$T --seen {cache}/x"
contains "... says what is missing" "$err" "give --caches"
: > seen
expect_rc 0 "{cache} names the set" "$COLDSTART" run --model m --caches cold --cache-dir "$CD" \
	--server "$F --port {port} --model {model} --cache-var VLLM_CACHE_ROOT --compile 1ms --seen {cache}/../seen-{mode}"
check "... the server wrote beside it" [ -s "$CD/seen-run" ]

# ---- bench: every mode in every cache state ----
expect_rc 0 "bench --caches cold,warm,staged" "$COLDSTART" bench --nvme m --modes nvme,staged --caches cold,warm,staged \
	--cache-src net/qwen-caches --cache-dir "$CD" --repeat 2 --csv b.csv --server "$T"
check "12 rows" [ "$(($(wc -l < b.csv) - 1))" = 12 ]
for s in cold warm staged; do
	check "... 4 of them caches=$s" [ "$(grep -c "caches=$s;" b.csv)" = 4 ]
done
contains "the summary names each mode in each state" "$err" "staged caches=warm"
contains "the report compares the cache states" "$(cat b.md)" "## Compile and kernel caches"
contains "... and says what staging the caches saves" "$(cat b.md)" "staging the caches saves"
check "no cold set or staged copy is left" [ -z "$(ls "$CD" | grep -v -e '^warm-' -e '^staged$' -e '^seen-run$')" -a -z "$(ls "$CD/staged")" ]

# stage detects a cache set (a subdirectory per variable) without --kind dir.
expect_rc 0 "stage of a cache set without --kind" "$COLDSTART" stage net/qwen-caches --root "$SCRATCH/sroot"
contains "... detected as one" "$err" "staged as --kind dir"
check "... an exact copy" same_files net/qwen-caches "$SCRATCH/sroot/qwen-caches"

# ---- exec --stage-cache: staged into the node's cache, a private copy for the server ----
R=$SCRATCH/root
: > seen
# The server, strict, told exactly what it gets: its arguments once each,
# and every cache variable set (to its private copy; the values: below).
expect_argv x.argv --port '{port}' --model "$R/m" --cache-var VLLM_CACHE_ROOT --cache-var TRITON_CACHE_DIR \
	--compile 300ms --seen seen
expect_env x.env VLLM_CACHE_ROOT TORCHINDUCTOR_CACHE_DIR TRITON_CACHE_DIR CUDA_CACHE_PATH
CS_EXPECT_ARGV=$SCRATCH/x.argv CS_EXPECT_ENV=$SCRATCH/x.env "$COLDSTART" exec --stage m --stage-cache net/qwen-caches \
	--root "$R" --port "$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')" \
	--ready-file ready -- $T >exec.out 2>exec.err &
epid=$!
at_exit "kill $epid 2>/dev/null"
for _ in $(seq 200); do [ -f ready ] && break; sleep 0.05; done
check "exec: the server is ready" [ -f ready ]
[ -f ready ] || cat exec.out exec.err >&2
check "... it found the caches filled" [ "$(grep -c ' hit 4$' seen)" = 2 ]
check "... in its private copy under ROOT/.work" [ "$(grep -c " $R/.work/qwen-caches-" seen)" = 2 ]
check "... the staged set is in ROOT, as stage --kind dir makes it" grep -q '"kind": "dir"' "$R/qwen-caches/.coldstart-manifest.json"
expect_rc 1 "... and held: cache rm refuses it while the server runs" "$COLDSTART" cache rm qwen-caches --root "$R"
kill -TERM $epid
wait $epid
check "exec exits 0 with the server" [ $? = 0 ]
contains "exec logs the caches' phase" "$(cat exec.err)" "; caches "
check "the private copy is removed" [ -z "$(ls "$R/.work")" ]
check "the staged set is unchanged by the server" same_files net/qwen-caches "$R/qwen-caches"
expect_rc 2 "exec: {cache} without --stage-cache" "$COLDSTART" exec --model m -- $F --seen {cache}/x
expect_rc 2 "exec: --cache-env without --stage-cache" "$COLDSTART" exec --model m --cache-env X -- $F

# ---- the user's own ~/.cache ----
home_after=$(cd "$HOME" && find . -printf '%p %s %T@\n' | sort)
check "nothing of the user's ~/.cache was touched, read or deleted" [ "$home_before" = "$home_after" ]
# The controls: without --caches the same server reads the user's
# ~/.cache (and refuses the file planted there), so the check above can fail;
# with an empty home it writes there, and the row has no caches note.
expect_rc 1 "without --caches the server reads ~/.cache" "$COLDSTART" run --model m --server "$T" --csv r.csv
contains "... the file planted there" "$err" "damaged cache artifact $HOME/.cache/fakeserver/VLLM_CACHE_ROOT/kernel-0.bin"
HOME=$SCRATCH/home2 expect_rc 0 "without --caches, an empty home" "$COLDSTART" run --model m --server "$T" --csv r.csv
check "... the server wrote its caches there" [ -f "$SCRATCH/home2/.cache/fakeserver/TRITON_CACHE_DIR/kernel-3.bin" ]
lacks "... and the row has no caches note" "$(last_notes r.csv)" "caches="

# ---- the report's split per cache state ----
cp "$FIXTURES_SRC/report/caches.csv" .
expect_rc 0 "report on rows with cache states" "$COLDSTART" report caches.csv --json -q
json_ok "exact figures per cache state" "$out" '
g={(x["mode"],x["caches"]):x for x in d["caches"]}
close=lambda a,b: abs(a-b)<1e-6
assert d["caches_basis"]=="cold" and [x["runs"] for x in d["modes"]]==[3,2], d["modes"]
assert close(d["modes"][0]["load_s"]["median"],100)          # nvme: the cold-cache runs only
c=g[("nvme","cold")]; assert close(c["ready_s"],100) and close(c["compile_s"],60) and close(c["graph_s"],20), c
assert close(c["storage_s"],10) and close(c["rest_s"],10), c
s=g[("nvme","staged")]; assert close(s["ready_s"],48) and close(s["cache_copy_s"],3) and close(s["cache_mb"],412), s
assert close(g[("nvme","warm")]["ready_s"],44) and close(g[("net","cold")]["ready_s"],135)'
expect_rc 0 "report Markdown" "$COLDSTART" report caches.csv -q
check "Markdown equals the golden file" diff -u "$FIXTURES_SRC/report/caches.md.golden" caches.md
no_leftovers "no process left"
done_testing
