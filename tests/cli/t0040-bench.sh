#!/usr/bin/env bash
# coldstart bench: order, rows, summary, refusals, concurrent benches on one CSV.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/strict.sh"
SRV="$F --port {port} --model {model}"
"$COLDSTART" mkmodel nvme/qwen --preset tiny -q >/dev/null
cp -r nvme net

expect_rc 0 "bench nvme vs net, 2 repeats" "$COLDSTART" bench --nvme nvme/qwen --net net/qwen --server "$SRV" --repeat 2
check "default CSV name" [ -f storage_layout_bench.csv ]
check "header + 4 rows" [ "$(wc -l < storage_layout_bench.csv)" = 5 ]
check "interleaved: nvme, net, nvme, net" [ "$(cut -d, -f2 storage_layout_bench.csv | tail -4 | tr '\n' ' ')" = "nvme net nvme net " ]
check "one model name in every row" [ "$(cut -d, -f3 storage_layout_bench.csv | tail -4 | sort -u)" = qwen ]
contains "summary table" "$err" "median_s"
contains "ratio of medians" "$err" "net/nvme:"
no_leftovers "no server left"

# --cold none: warm runs, never summarized as cold ones. (A machine that
# reclaims page cache on its own, as the CI VMs' DAMON pageout does, can
# make a run cold after all: up to three tries, each with its own CSV.)
warm_bench() {
	local i
	for i in 1 2 3; do
		"$COLDSTART" pages warm nvme/qwen -q >/dev/null
		run "$COLDSTART" bench --nvme nvme/qwen --modes nvme --repeat 2 --cold none --server "$SRV" --csv "w$i.csv"
		[ "$rc" = 0 ] || return 1
		wmd=w$i.md
		case $err in *"warm runs only (NOT cold)"*) return 0 ;; esac
	done
	return 0
}
check "bench with --cold none" warm_bench
contains "the summary says the figures are warm" "$err" "warm runs only (NOT cold)"
contains "the report says so too" "$(cat "$wmd")" "- **nvme:** no cold run"

expect_rc 0 "grouped order" "$COLDSTART" bench --nvme nvme/qwen --net net/qwen --server "$SRV" --repeat 2 --order grouped --csv g.csv -q
check "grouped: nvme, nvme, net, net" [ "$(cut -d, -f2 g.csv | tail -4 | tr '\n' ' ')" = "nvme nvme net net " ]
expect_rc 0 "random order with a seed" "$COLDSTART" bench --nvme nvme/qwen --net net/qwen --server "$SRV" --repeat 3 --order random --seed 7 --csv r.csv -q
check "random: 3 of each" [ "$(cut -d, -f2 r.csv | tail -6 | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" = "3 3 " ]

# Environment variables of the seed.
MODEL_PATH_NVME=nvme/qwen MODEL_PATH_NET=net/qwen MODEL_NAME=Qwen2.5-tiny \
	expect_rc 0 "paths and name from the environment" "$COLDSTART" bench --server "$SRV" --repeat 1 --csv e.csv -q
check "MODEL_NAME used" [ "$(cut -d, -f3 e.csv | tail -2 | sort -u)" = Qwen2.5-tiny ]

# Refused before anything runs.
expect_rc 1 "a missing net path" "$COLDSTART" bench --nvme nvme/qwen --net nowhere --server "$SRV" --csv x.csv
contains "names the path" "$err" "net path refused: cannot open model 'nowhere'"
check "nothing written" [ ! -e x.csv ]
mkdir notamodel
expect_rc 1 "not a model directory" "$COLDSTART" bench --nvme notamodel --modes nvme --server "$SRV" --csv x.csv
check "still nothing written" [ ! -e x.csv ]
# Without a net path the NVMe copy is served through netsim (t0050); with
# neither path, the net mode has nothing to read.
expect_rc 2 "net mode with no path at all" env -u MODEL_PATH_NET -u MODEL_PATH_NVME "$COLDSTART" bench --modes net --server "$SRV"
contains "says what it needs" "$err" "mode 'net' needs a path"
expect_rc 2 "unknown mode" "$COLDSTART" bench --nvme nvme/qwen --modes nvme,tape --server "$SRV"
expect_rc 2 "bad order" "$COLDSTART" bench --nvme nvme/qwen --order sideways --server "$SRV"

# The same model behind every mode, checked before anything is measured:
# names, sizes and sampled bytes (the sidecar records what was compared).
json_ok "the sidecar records the model's identity: the same on both sides" "$(cat storage_layout_bench.meta.json)" '
m=d["model_identity"]
a,b=m["paths"]; assert m["same"] is True and (a["mode"],b["mode"])==("nvme","net"), m
assert a["sampled_xxh3"]==b["sampled_xxh3"] and a["files"]==b["files"] and a["bytes"]>0, m'
contains "the report says so" "$(cat storage_layout_bench.md)" "The same model behind every mode"
cp -r net other
shard=$(cd other/qwen && ls *.safetensors | head -1)
size=$(stat -c %s "other/qwen/$shard")
last=$(tail -c 1 "other/qwen/$shard" | od -An -tu1 | tr -d ' ')
printf "\\$(printf %o $(( (last + 1) % 256 )))" | dd of="other/qwen/$shard" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
expect_rc 1 "one byte changed at the end of a shard: refused" "$COLDSTART" bench --nvme nvme/qwen --net other/qwen --server "$SRV" --csv mm.csv
contains "names the file" "$err" "'$shard' has other bytes under --nvme than under --net (the same size, $size bytes"
contains "and what to do" "$err" "--allow-different-models"
check "nothing measured, nothing written" [ ! -e mm.csv ] && [ ! -e mm.meta.json ]
no_leftovers "no server started"
rm other/qwen/config.json
echo extra > other/qwen/notes.txt
expect_rc 1 "a file missing, another extra" "$COLDSTART" bench --nvme nvme/qwen --net other/qwen --server "$SRV" --csv mm.csv -q
contains "names both" "$err" "'config.json' is under --nvme only; "
contains "... and the extra one" "$err" "'notes.txt' is under --net only"
rm -r other && cp -r net other && : > other/qwen/generation_config.json
expect_rc 1 "a size differs" "$COLDSTART" bench --nvme nvme/qwen --net other/qwen --server "$SRV" --csv mm.csv -q
contains "names the sizes" "$err" "'generation_config.json' is $(stat -c %s nvme/qwen/generation_config.json) bytes under --nvme and 0 under --net"
expect_rc 0 "--allow-different-models runs anyway" "$COLDSTART" bench --nvme nvme/qwen --net other/qwen --server "$SRV" --csv mm.csv \
	--repeat 1 --allow-different-models
contains "with a warning" "$err" "warning: the models behind --nvme 'nvme/qwen' and --net 'other/qwen' differ"
json_ok "the sidecar records the difference" "$(cat mm.meta.json)" '
m=d["model_identity"]
assert m["same"] is False and "generation_config.json" in m["differences"][0], m'
contains "the report warns" "$(cat mm.md)" "Warning: the modes did not load the same model"
expect_rc 0 "one mode only: nothing to compare" "$COLDSTART" bench --nvme nvme/qwen --net other/qwen --modes net --server "$SRV" --csv one.csv --repeat 1 -q
rm -r other

# Every run's server gets its arguments exactly, once each (the strict
# stand-in: the model path differs by mode, the rest is the template).
expect_argv b.argv --port '{port}' --model '{*}' --tag '{*}' --tag 'two words' --max-model-len 2048
expect_rc 0 "bench nvme, net, staged: each server started with exactly its template's arguments" \
	env CS_EXPECT_ARGV=$SCRATCH/b.argv "$COLDSTART" bench --nvme nvme/qwen --net net/qwen --modes nvme,net,staged \
	--stage-root "$SCRATCH/st" --repeat 1 --max-model-len 2048 --csv s.csv -q \
	--server "$F --port {port} --model {model} --tag {mode} --tag 'two words' --max-model-len {max_model_len}"
check "... every row says the server used the row's context" [ "$(grep -c 'server_max_model_len=2048' s.csv)" = 3 ]
check "... and none is flagged" [ "$(grep -c max_model_len_mismatch s.csv)" = 0 ]
VB=$(vllm_bin)
PATH=$VB:$PATH expect_rc 0 "bench with vllm on the PATH: the default template, parsed as vLLM's CLI parses it, runtime mode too" \
	"$COLDSTART" bench --nvme nvme/qwen --net net/qwen --modes nvme,net,runtime --repeat 1 --max-model-len 2048 --csv v.csv -q
check "... three rows, each with the context vLLM's stand-in used" [ "$(grep -c 'server=vllm;.*server_max_model_len=2048' v.csv)" = 3 ]
# What coldstart adds to a server's arguments (runtime mode's
# --load-format dummy) is arguments of the server's own, never text after
# the template: not glued to a last word ending in a backslash, not after
# a shell line's '| cat'.
expect_argv rt.argv serve '{*}' --port '{port}' --max-model-len 2048 '\' --load-format dummy
PATH=$VB:$PATH expect_rc 1 "runtime mode, a template ending in a backslash: the additions stay separate arguments" \
	env CS_EXPECT_ARGV=$SCRATCH/rt.argv "$COLDSTART" bench --nvme nvme/qwen --modes runtime --repeat 1 --max-model-len 2048 --csv rt.csv -q \
	--server 'vllm serve {model} --port {port} --max-model-len {max_model_len} \'
contains "... so vLLM's parser names the stray backslash, and nothing else" "$err" "unrecognized arguments: \\"
expect_argv rts.argv serve '{*}' --port '{port}' --max-model-len 2048 --load-format dummy
PATH=$VB:$PATH expect_rc 2 "runtime mode under --shell: refused, not appended after the shell line" \
	env CS_EXPECT_ARGV=$SCRATCH/rts.argv "$COLDSTART" bench --nvme nvme/qwen --modes runtime --repeat 1 --max-model-len 2048 --csv rts.csv -q \
	--shell --server 'vllm serve {model} --port {port} --max-model-len {max_model_len} 2>&1 | cat'
contains "... saying what to give instead" "$err" "give --runtime-server TEMPLATE"
PATH=$VB:$PATH expect_rc 0 "... --runtime-server under --shell is the user's own line" \
	env CS_EXPECT_ARGV=$SCRATCH/rts.argv "$COLDSTART" bench --nvme nvme/qwen --modes runtime --repeat 1 --max-model-len 2048 --csv rts.csv -q \
	--shell --server 'vllm serve {model} --port {port} --max-model-len {max_model_len} 2>&1 | cat' \
	--runtime-server 'vllm serve {model} --port {port} --max-model-len {max_model_len} --load-format dummy 2>&1 | cat'
no_leftovers "no server left after the runtime runs"

# A failing run stops the bench with exit 1.
expect_rc 1 "a failing server fails the bench" "$COLDSTART" bench --nvme nvme/qwen --modes nvme --server "$F --port {port} --crash" --csv f.csv -q
no_leftovers "no server left after the failure"

# kill -9 of bench mid-run: nothing it started survives, no row appears.
"$COLDSTART" bench --nvme nvme/qwen --modes nvme --server "$F --port {port} --hang --orphan" --csv k.csv -q >/dev/null 2>&1 &
b=$!
for _ in $(seq 100); do [ -n "$(marked_with "--hang")" ] && break; sleep 0.05; done
kill -9 $b
wait $b 2>/dev/null
no_leftovers "kill -9 of bench during a run: no process left" 3
check "and no row" [ "$(tail -n +2 k.csv 2>/dev/null | wc -l)" = 0 ]

# Two benches at once on one CSV: every row whole, run_ids unique.
"$COLDSTART" bench --nvme nvme/qwen --net net/qwen --server "$SRV" --repeat 4 --csv c.csv -q 2>/dev/null &
a=$!
"$COLDSTART" bench --nvme nvme/qwen --net net/qwen --server "$SRV" --repeat 4 --csv c.csv -q 2>/dev/null &
b=$!
wait $a; ra=$?
wait $b; rb=$?
check "both benches succeeded" [ "$ra$rb" = 00 ]
check "16 rows, whole and unique" python3 -c '
import csv
rows=list(csv.reader(open("c.csv", newline="")))[1:]
assert len(rows)==16, len(rows)
assert all(len(r)==7 for r in rows)
ids=[int(r[0]) for r in rows]
assert sorted(ids)==list(range(1,17)), ids'
no_leftovers "no server left"

# A staged copy belongs to the bench that holds its lock, not to a PID: a
# bench in its own PID namespace (a container sharing the stage root) is
# PID 1 there, alive here whatever becomes of it. Killed with kill -9 while
# its server runs, it leaves its copy; the next bench removes it.
if [ "$(id -u)" = 0 ] && unshare --pid --fork true 2>/dev/null; then
	NR=$SCRATCH/ns-root
	unshare --pid --fork "$COLDSTART" bench --net net/qwen --modes staged --repeat 1 --stage-root "$NR" \
		--server "$SRV --never-ready" --timeout 60s --csv ns.csv -q >/dev/null 2>&1 &
	up=$!
	for _ in $(seq 200); do ls "$NR" 2>/dev/null | grep -q -- '-bench-' && break; sleep 0.05; done
	check "the namespaced bench published its copy" [ -n "$(ls "$NR" | grep -- '-bench-')" ]
	expect_rc 0 "another bench meanwhile" "$COLDSTART" bench --net net/qwen --modes staged --repeat 1 \
		--stage-root "$NR" --server "$SRV" --csv ns-live.csv
	lacks "... leaves the live bench's copy alone" "$err" "left by a bench that was killed"
	kill -9 "$(cat /proc/$up/task/$up/children 2>/dev/null)" 2>/dev/null
	wait "$up" 2>/dev/null
	no_leftovers "kill -9 of the namespaced bench: its server goes too" 3
	check "... its copy is left" [ -n "$(ls "$NR" | grep -- '-bench-')" ]
	expect_rc 0 "the next bench" "$COLDSTART" bench --net net/qwen --modes staged --repeat 1 --stage-root "$NR" \
		--server "$SRV" --csv ns-next.csv
	contains "... removes the killed bench's copy" "$err" "left by a bench that was killed"
	check "... nothing of it is left" [ -z "$(ls "$NR" "$NR/.partial" | grep -- '-bench-')" ]
	check "... nor its hold" [ -z "$(ls "$NR/.bench")" ]
fi
done_testing
