#!/usr/bin/env bash
# coldstart run: the measured start, the CSV row, every failure path, and
# that no process of a run survives it.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/strict.sh"
check "fixture server built" [ -x "$F" ]


"$COLDSTART" mkmodel m --preset tiny -q >/dev/null
SRV="$F --port {port} --model {model}"

expect_rc 0 "a normal run succeeds" "$COLDSTART" run --model m --mode nvme --server "$SRV" --csv b.csv -q
check "prints load_s on stdout" [ -n "$(printf '%s' "$out" | grep -E '^[0-9]+\.[0-9]{3}$')" ]
check "CSV has the seed's header" [ "$(head -1 b.csv)" = "run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes" ]
row=$(sed -n 2p b.csv)
contains "row: run_id 1, mode, model, max_model_len" "$row" "1,nvme,m,4096,"
contains "row notes say cold" "$row" "cold=yes; resident_pct=0.0"
contains "row notes carry the phases from the server's log" "$row" "weights_s="
contains "and the startup line's offset" "$row" "t_startup="
no_leftovers "normal run"
logf=$(ls coldstart-logs/nvme-*.log | head -1)
check "a per-run log next to the CSV" [ -s "$logf" ]
check "log lines stamped with their offset" grep -qE '^\[ +[0-9]+\.[0-9]{3}s\] INFO .*Starting to load model' "$logf"

# JSON carries every field.
expect_rc 0 "--json run" "$COLDSTART" run --model m --server "$SRV" --json -q
json_ok "json has status, load_s, stop report" "$out" '
assert d["status"]=="ready" and d["load_s"]>0 and d["stop"]["remaining"]==0 and d["cold"] is True, d
p=d["phases"]
assert p["t_load_start"] is not None and p["t_load_start"] <= p["t_weights_end"] <= p["t_startup"] <= d["load_s"], p
assert p["compile_s"] is None, p'

# Eviction really leaves the model cold, and warm brings it back. Some
# machines reclaim page cache on their own (the CI VMs run DAMON's
# proactive pageout), so a residency that a reclaim can undo between two
# commands is given up to five tries: a warm that did not work, or one
# that reads what is resident, fails all five.
tries() { # tries CMD...: CMD succeeds in one of 5 attempts
	local i
	for i in 1 2 3 4 5; do "$@" && return 0; done
	return 1
}
warm_then_status() {
	"$COLDSTART" pages warm m -q >/dev/null 2>&1
	run "$COLDSTART" pages status m --json
	python3 -c 'import json,sys; assert json.loads(sys.argv[1])["resident_pct"]==100.0' "$out"
}
check "after warm: 100% resident" tries warm_then_status
expect_rc 0 "pages evict" "$COLDSTART" pages evict m --json
json_ok "after evict: ~0% resident" "$out" 'd["resident_pct"]<1.0'
expect_rc 0 "pages warm" "$COLDSTART" pages warm m --jobs 4 --json
json_ok "warm read the whole model" "$out" 'd["resident_pct"]==100.0 and d["read_bytes"]>=d["total_bytes"]-4096'
warm_twice() {
	"$COLDSTART" pages warm m --jobs 4 -q >/dev/null 2>&1 || return 1
	run "$COLDSTART" pages warm m --json
	[ "$rc" = 0 ] && python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["read_bytes"]==0 and d["skipped_bytes"]==d["total_bytes"], d' "$out"
}
check "only non-resident chunks are read: warming again reads nothing" tries warm_twice

# Notes with commas, quotes and newlines round-trip through a real CSV reader.
note='has, commas "quotes" and
a newline'
expect_rc 0 "run with awkward notes" "$COLDSTART" run --model m --mode 'we,ird "mode"' --server "$SRV" --csv b.csv --notes "$note" -q
check "python's csv module reads the row back" python3 -c '
import csv,sys
rows=list(csv.reader(open("b.csv", newline="")))
assert rows[0]==["run_id","storage_mode","model","max_model_len","load_s","gpu_mem_used_mb","notes"], rows[0]
r=rows[-1]
assert len(r)==7 and r[0]=="2" and r[1]=="we,ird \"mode\"", r
assert "note=has, commas \"quotes\" and,a newline" in r[6], r[6]'

# Header mismatch: refused before anything runs, file byte-for-byte unchanged.
printf 'run_id,mode,load_s\n1,nvme,3.2\n' > other.csv
cp other.csv other.orig
expect_rc 1 "mismatched CSV header refused" "$COLDSTART" run --model m --server "$SRV" --csv other.csv -q
contains "says which header it expected" "$err" "expected 'run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes'"
check "file unchanged" cmp -s other.csv other.orig

# A CSV in a directory that does not exist yet: created before the run --
# one level, never a whole tree (a typo must not create directories).
expect_rc 0 "CSV directory created up front" "$COLDSTART" run --model m --server "$SRV" --csv new/b.csv --log own.log -q
check "row written there" [ "$(wc -l < new/b.csv)" = 2 ]
expect_rc 1 "two missing levels are refused" "$COLDSTART" run --model m --server "$SRV" --csv new2/dir/b.csv --log own2.log -q
contains "says the parent does not exist" "$err" "its parent does not exist either"
check "and created nothing" [ ! -e new2 ]
touch afile
expect_rc 1 "a CSV path under a file fails before running" "$COLDSTART" run --model m --server "$SRV" --csv afile/b.csv --log never.log -q
contains "names the CSV and the problem" "$err" "'afile/b.csv': Not a directory"
check "and no server was started (no log)" [ ! -e never.log ]

# Failure paths: exit 1, reason, log tail, no row, nothing left running.
rows_before=$(wc -l < b.csv)
expect_rc 1 "crash before ready" "$COLDSTART" run --model m --server "$F --port {port} --crash" --csv b.csv -q
contains "crash: reason" "$err" "exited with status 3 before it was ready"
contains "crash: last lines shown" "$err" "RuntimeError: fakeserver was told to crash"
no_leftovers "crash"
expect_rc 1 "never ready: timeout" "$COLDSTART" run --model m --server "$F --port {port} --never-ready" --timeout 1s --csv b.csv -q
contains "timeout: reason" "$err" "not ready after 1.0s"
no_leftovers "timeout"
expect_rc 1 "hang without listening: timeout" "$COLDSTART" run --model m --server "$F --port {port} --hang" --timeout 500ms -q
no_leftovers "hang"
check "no rows for failed runs" [ "$(wc -l < b.csv)" = "$rows_before" ]
expect_rc 1 "--record-failures records the failure" "$COLDSTART" run --model m --server "$F --port {port} --crash" --csv b.csv --record-failures -q
contains "failure row has status" "$(tail -1 b.csv)" "status=failed:exited"
expect_rc 1 "a server that cannot be executed" "$COLDSTART" run --model m --server "/nonexistent/server {port}" -q
contains "names the program" "$err" "cannot run '/nonexistent/server'"

# Port taken: something already listens there.
python3 -c 'import socket,time,sys
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)' > port.txt &
holder=$!
at_exit "kill $holder 2>/dev/null"
for _ in $(seq 50); do [ -s port.txt ] && break; sleep 0.05; done
expect_rc 1 "port taken" "$COLDSTART" run --model m --server "$SRV" --port "$(cat port.txt)" -q
contains "port taken: reason" "$err" "already in use"
kill $holder

# SIGTERM ignored: SIGKILL after --stop-timeout; orphaned grandchild in its
# own session is found and stopped too.
expect_rc 0 "server ignoring SIGTERM" "$COLDSTART" run --model m --server "$F --port {port} --ignore-term" --stop-timeout 500ms --json -q
json_ok "it needed SIGKILL" "$out" 'd["stop"]["killed"]>=1 and d["stop"]["remaining"]==0'
no_leftovers "SIGTERM-ignoring server"
expect_rc 0 "server leaving an orphan in another session" "$COLDSTART" run --model m --server "$F --port {port} --orphan" --json -q
no_leftovers "orphaned grandchild"
expect_rc 0 "orphan + SIGTERM ignored" "$COLDSTART" run --model m --server "$F --port {port} --orphan --ignore-term" --stop-timeout 300ms -q
no_leftovers "orphan + ignore-term"

# Ctrl-C mid-run: the server tree is stopped, no row, exit 130.
rows_before=$(wc -l < b.csv)
"$COLDSTART" run --model m --server "$F --port {port} --hang --orphan" --csv b.csv -q >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -n "$(marked_with "--hang")" ] && break; sleep 0.02; done
sleep 0.2
kill -INT $pid
wait $pid
check "Ctrl-C exits 130" [ "$?" = 130 ]
no_leftovers "Ctrl-C"
check "Ctrl-C appends nothing" [ "$(wc -l < b.csv)" = "$rows_before" ]
"$COLDSTART" run --model m --server "$F --port {port} --hang" -q >/dev/null 2>&1 &
pid=$!
sleep 0.3
kill -TERM $pid
wait $pid
check "SIGTERM to coldstart exits 143" [ "$?" = 143 ]
no_leftovers "SIGTERM to coldstart"

# A model path with spaces and $(touch x) is passed literally, no shell.
mkdir -p 'we ird $(touch x)'
"$COLDSTART" mkmodel 'we ird $(touch x)/m' --preset tiny -q >/dev/null
expect_rc 0 "awkward model path" "$COLDSTART" run --model 'we ird $(touch x)/m' --server "$SRV" --log lit.log -q
check "nothing was executed by a shell" [ ! -e x ]
check "the server saw the path literally" grep -qF 'Starting to load model we ird $(touch x)/m...' lit.log
expect_rc 0 "--shell quotes values" "$COLDSTART" run --model 'we ird $(touch x)/m' --shell --server "$SRV 2>&1" --log sh.log -q
check "still nothing executed" [ ! -e x ]
expect_argv sq.argv --port '{port}' --model 'we ird $(touch x)/m' --tag 'in "..."' --tag "mode dq"
expect_rc 0 "--shell: a token inside \"...\" and '...' is quoted for where it stands" \
	env CS_EXPECT_ARGV=$SCRATCH/sq.argv "$COLDSTART" run --model 'we ird $(touch x)/m' --mode dq --shell \
	--server "exec $F --port '{port}' --model \"{model}\" --tag 'in \"...\"' --tag \"mode {mode}\"" -q
check "... and runs nothing of the model's path" [ ! -e x ]

# The template: split once, every argument once, as written.
expect_argv t.argv --port '{port}' --model "$SCRATCH/m" --tag 'two words' --tag '' --tag=-- \
	--tag 'id {run_id}' --tag '{"a": {"b": 1}}' --max-model-len 1024
expect_rc 0 "quotes, an empty word, a literal --, braces, line continuations: the server gets exactly those" \
	env CS_EXPECT_ARGV=$SCRATCH/t.argv "$COLDSTART" run --model "$SCRATCH/m" --max-model-len 1024 -q --server "$F \\
	--port {port} --model {model} --tag 'two words' --tag '' --tag=-- \\
	--tag 'id {{run_id}}' --tag '{{\"a\": {{\"b\": 1}}}}' --max-model-len {max_model_len}"
expect_rc 2 "a JSON argument's braces must be doubled: refused, saying how" \
	"$COLDSTART" run --model m --server "$F --port {port} --tag '{\"a\": 1}'" -q
contains "... {{ and }}" "$err" "a literal brace is written {{ or }}"

# The context the server used: every built-in template passes
# {max_model_len}; what the server's log says it used is in the row, and a
# disagreement is flagged.
expect_rc 0 "refserve is told --max-model-len" "$COLDSTART" run --model m --server refserve --max-model-len 1024 --csv ctx.csv -q
contains "... and the row says what it used" "$(tail -1 ctx.csv)" "server_max_model_len=1024"
lacks "... the same as the row's" "$(tail -1 ctx.csv)" "max_model_len_mismatch"
expect_rc 0 "a template that sets its own context" "$COLDSTART" run --model m --server "$F --port {port} --max-model-len 512" --csv ctx.csv
contains "... the row says what the server used" "$(tail -1 ctx.csv)" "server_max_model_len=512; max_model_len_mismatch=yes"
contains "... and a warning says so" "$err" "used a context of 512 tokens, not the row's max_model_len 4096"
contains "... naming the cause" "$err" "the server template does not pass {max_model_len}"
VB=$(vllm_bin)
PATH=$VB:$PATH expect_rc 0 "vllm on the PATH: the default template, parsed as vLLM's CLI parses it" \
	"$COLDSTART" run --model m --max-model-len 2048 --csv ctx.csv --json
json_ok "... vllm serve {model} --port {port} --max-model-len 2048" "$out" '
assert d["command"].startswith("vllm serve m --port ") and d["command"].endswith(" --max-model-len 2048"), d["command"]
assert d["server_max_model_len"]==2048 and "server_max_model_len=2048" in d["notes"], d'
PATH=$VB:$PATH expect_rc 1 "a max_model_len longer than the model's: vLLM's stand-in refuses, as vLLM does" \
	"$COLDSTART" run --model m --csv ctx.csv -q
contains "... its reason shown" "$err" "User-specified max_model_len (4096) is greater than the derived max_model_len"

# A checkpoint the server would load wrongly is refused before anything
# starts, as bench refuses it: a tensor defined twice names both places.
M="$FIXTURES_SRC/malformed"
expect_rc 1 "a tensor in two shards (no index): refused" "$COLDSTART" run --model "$M/unindexed-duplicate-tensor" \
	--shell --server "touch started; exec $SRV" -q
contains "... naming the tensor and both shards" "$err" "tensor 'b.weight' is in two shards: 'extra.safetensors' and 'model.safetensors'"
check "... and no server was started" [ ! -e started ]
expect_rc 1 "an index that maps a tensor twice: refused" "$COLDSTART" run --model "$M/index-duplicate-key" \
	--shell --server "touch started; exec $SRV" -q
contains "... naming the tensor and both lines" "$err" "tensor 'a.weight' is mapped twice"
expect_rc 1 "a GGUF file defining a tensor twice: refused" "$COLDSTART" run --model "$M/gguf-duplicate-tensor/model.gguf" \
	--shell --server "touch started; exec $SRV" -q
contains "... naming it" "$err" "tensor 'a.weight' is defined twice"
expect_rc 1 "a .safetensors file defining a tensor twice: refused" "$COLDSTART" run \
	--model "$M/header-duplicate-tensor/model.safetensors" --shell --server "touch started; exec $SRV" -q
contains "... naming both offsets" "$err" "tensor 'a.weight' is defined twice in the header: at bytes 9 and 73"
check "... no server started for any of them" [ ! -e started ]
mkdir bin-model && echo weights >bin-model/pytorch_model.bin
expect_rc 0 "a directory in a format coldstart does not read is the server's to judge" \
	"$COLDSTART" run --model bin-model --server "$SRV" -q
no_leftovers "refused models"

# vLLM reads s3:// with --load-format runai_streamer, added as its own
# arguments: under --shell that cannot be done, so it is refused.
PATH=$VB:$PATH expect_rc 2 "run --model s3:// --shell with vllm serve: refused, not appended after '| cat'" \
	"$COLDSTART" run --model s3://models/qwen/m --shell --server 'vllm serve {model} --port {port} 2>&1 | cat' -q
contains "... saying what to write" "$err" "write --load-format runai_streamer into the template"

expect_rc 0 "run --help" "$COLDSTART" run --help
contains "... says an interrupted run gives the server at most 1s after SIGTERM" "$(echo $out)" \
	"once coldstart is interrupted (SIGINT, SIGTERM), the server gets at most 1s after SIGTERM"

# Usage errors.
expect_rc 2 "missing --model" "$COLDSTART" run --server "$SRV"
expect_rc 2 "bad --cold" "$COLDSTART" run --model m --cold lukewarm
expect_rc 2 "bad --timeout" "$COLDSTART" run --model m --timeout soon
expect_rc 2 "bad ready spec is a failure" "$COLDSTART" run --model m --server "$SRV" --ready 'ftp://x' -q
done_testing
