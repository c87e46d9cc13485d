#!/usr/bin/env bash
# coldstart exec: four concurrent callers stage once; the server gets the
# staged path; the use lock holds while it lives (cache rm refused); the
# ready file appears only once the server answers, and goes when it exits;
# signals reach the server; exec exits with the server's status; kill -9
# of exec leaves no server behind. The server gets its command line as
# given, each argument once (the strict stand-ins check it: a fake server
# told exactly what to expect, and the vLLM stand-in, which parses it as
# vLLM's CLI does); the ready file is checked before anything starts.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
. "$REPO_ROOT/tests/cli/strict.sh"
"$COLDSTART" mkmodel src/m --preset tiny --shard-size 10M -q >/dev/null
R=$SCRATCH/root
wait_file() { for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.05; done; return 1; }
wait_gone() { for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done; return 1; }

# Four callers at once, as four pods of a DaemonSet on one node.
expect_argv four.argv --port '{port}' --model "$R/m"
pids=()
for i in 1 2 3 4; do
	port=$(free_port)
	CS_EXPECT_ARGV=$SCRATCH/four.argv "$COLDSTART" exec --stage src/m --root "$R" --port "$port" --ready-file "ready$i" -- \
		"$F" --port {port} --model {model} >"out$i" 2>"err$i" &
	pids+=($!)
done
all_ready() { local i; for i in 1 2 3 4; do wait_file "ready$i" || return 1; done; }
check "four concurrent execs: every server becomes ready" all_ready
check "the model was copied once" [ "$(cat err1 err2 err3 err4 | grep -c "exec: staged '")" = 1 ]
check "the others found it staged (or waited for it)" [ "$(cat err1 err2 err3 err4 | grep -c "is already staged")" = 3 ]
spid=$(jget "$(cat ready1)" 'd["pid"]')
check "the server was given the staged path for {model}" grep -q -- "--model $R/m" <(tr '\0' ' ' < "/proc/$spid/cmdline")
json_is "the ready file names it" "$(cat ready1)" 'd["model"]' "$R/m"
check "the server's output passes through exec's stdout" grep -q "Application startup complete" out1
contains "the phases are logged" "$(cat err1)" "ready in"
expect_rc 1 "cache rm while the servers live: refused" "$COLDSTART" cache rm m --root "$R"
contains "... in use" "$err" "in use"
for p in "${pids[@]}"; do kill -TERM "$p"; done
st=0
for p in "${pids[@]}"; do wait "$p" || st=$?; done
check "SIGTERM passed on: the servers shut down cleanly, exec exits 0" [ "$st" = 0 ]
check "... the server said so" grep -q "Shutting down" out1
check "the ready files are gone" [ ! -e ready1 ] && [ ! -e ready4 ]
expect_rc 0 "now cache rm works" "$COLDSTART" cache rm m --root "$R"

# The ready file only after readiness: sampled while a slow server starts.
port=$(free_port)
"$COLDSTART" exec --stage src/m --root "$R" --port "$port" --ready-file slow.ready -- \
	"$F" --port {port} --model {model} --delay 1.5s >slow.out 2>slow.err &
epid=$!
never_early() {
	local seen_absent=0
	for _ in $(seq 400); do
		if [ -e slow.ready ]; then
			curl -sf -o /dev/null "http://127.0.0.1:$port/health" || return 1
			[ $seen_absent = 1 ]
			return
		fi
		seen_absent=1
		sleep 0.02
	done
	return 1
}
check "the ready file appears only once /health answers" never_early
kill -USR1 $epid
wait $epid
check "another signal (SIGUSR1) reaches the server too: exec exits 128+10, as the server did" [ $? = 138 ]

# The server's own status.
expect_rc 3 "a server that fails: exec exits with its status" "$COLDSTART" exec --model src/m --port "$(free_port)" -- \
	"$F" --port {port} --model {model} --crash
contains "says it was before ready" "$err" "before it was ready"

# kill -9 of exec: its guard stops the server's tree.
port=$(free_port)
"$COLDSTART" exec --model src/m --port "$port" --ready-file k.ready -- "$F" --port {port} --model {model} --orphan \
	>/dev/null 2>&1 &
epid=$!
wait_file k.ready
kpid=$(jget "$(cat k.ready)" 'd["pid"]')
kill -9 $epid
wait $epid 2>/dev/null
check "kill -9 of exec: the server goes too" wait_gone "$kpid"

# The server's command line: every argument once, in order, as given.
expect_rc 0 "exec -- /bin/echo a b c" "$COLDSTART" exec -q -- /bin/echo a b c
check "... prints 'a b c': the last argument once" [ "$out" = "a b c" ]
json='{"rope_scaling":{"type":"yarn","factor":4}}'
expect_rc 0 "awkward arguments after --" "$COLDSTART" exec -q --model src/m --port 8123 -- \
	printf '<%s>\n' '' 'two words' -- --model={model} 'x{port}y' "$json" "it's" -q --port
want=$(printf '<%s>\n' '' 'two words' -- --model=src/m x8123y "$json" "it's" -q --port)
check "... each arrives once: empty, spaces, a literal --, tokens inside words, JSON braces, exec's own option names" \
	[ "$out" = "$want" ]
[ "$out" = "$want" ] || printf '# got:\n%s\n# want:\n%s\n' "$out" "$want"
wait_ready() { # FILE PID: the file appears, or the process ends first (bounded)
	for _ in $(seq 400); do
		[ -e "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
expect_argv strict.argv --port '{port}' --model src/m --max-model-len 4096 --delay 10ms
CS_EXPECT_ARGV=$SCRATCH/strict.argv "$COLDSTART" exec --model src/m --port "$(free_port)" --ready-file s.ready -- \
	"$F" --port {port} --model {model} --max-model-len 4096 --delay 10ms >s.out 2>s.err &
epid=$!
check "the strict fake server, told what to expect, gets exactly that" wait_ready s.ready $epid
kill -TERM $epid
wait $epid
check "... and stops cleanly" [ $? = 0 ]
expect_rc $EXIT_EXPECT "... and refuses one argument more (a check of the check)" \
	env CS_EXPECT_ARGV=$SCRATCH/strict.argv "$COLDSTART" exec -q --model src/m --port "$(free_port)" -- \
	"$F" --port {port} --model {model} --max-model-len 4096 --delay 10ms 4096
contains "... naming the argument (the server's stderr, on exec's stdout)" "$out" "'4096', expected nothing more"

# vLLM's own command line, to a stand-in that parses it as vLLM's CLI does.
VB=$(vllm_bin)
expect_argv v.argv serve "$R/m" --port '{port}' --max-model-len 2048
PATH=$VB:$PATH CS_EXPECT_ARGV=$SCRATCH/v.argv "$COLDSTART" exec --stage src/m --root "$R" --port "$(free_port)" \
	--ready-file v.ready -- vllm serve {model} --port {port} --max-model-len 2048 >v.out 2>v.err &
epid=$!
check "exec -- vllm serve {model} --port {port} --max-model-len 2048: vLLM's parser takes it, the server gets ready" \
	wait_ready v.ready $epid
wait_ready v.ready $epid || cat v.err >&2
contains "... the context the server's log says it used, logged" "$(cat v.err)" "context 2048 tokens"
kill -TERM $epid
wait $epid
check "... and stops cleanly" [ $? = 0 ]
PATH=$VB:$PATH expect_rc 2 "the stand-in refuses what vLLM refuses: the last argument once more" \
	"$COLDSTART" exec -q --model "$R/m" --port "$(free_port)" -- vllm serve {model} --port {port} --max-model-len 2048 2048
contains "... as argparse says it" "$out" "vllm: error: unrecognized arguments: 2048"

# The ready file must be writable before anything starts: a startup probe
# (test -f FILE) would otherwise wait for ever on a server that is up.
expect_rc 1 "--ready-file in a directory that does not exist: refused before anything starts" \
	timeout 30 "$COLDSTART" exec --stage src/m --root "$SCRATCH/r2" --port "$(free_port)" \
	--ready-file "$SCRATCH/no/such/ready" -- "$F" --port {port} --model {model}
contains "... naming the path" "$err" "cannot write the ready file '$SCRATCH/no/such/ready'"
check "... nothing staged" [ ! -e "$SCRATCH/r2" ]
mkdir ro && chmod 555 ro
if ! touch ro/x 2>/dev/null; then
	expect_rc 1 "--ready-file in a directory it may not write: refused" \
		timeout 30 "$COLDSTART" exec --model src/m --ready-file ro/ready -- "$F" --port 1
	contains "... naming it" "$err" "ro/ready"
fi
expect_rc 1 "--ready-file naming a directory: refused" timeout 30 "$COLDSTART" exec --model src/m --ready-file ro -- "$F" --port 1

# --model PATH (no staging) is checked as stage checks what it publishes:
# a checkpoint with a tensor defined twice never reaches the server.
M="$FIXTURES_SRC/malformed"
expect_rc 1 "--model with a tensor in two shards: refused" timeout 30 "$COLDSTART" exec \
	--model "$M/unindexed-duplicate-tensor" -- /bin/touch started
contains "... naming the tensor and both shards" "$err" "tensor 'b.weight' is in two shards: 'extra.safetensors' and 'model.safetensors'"
expect_rc 1 "--model with an index mapping a tensor twice: refused" timeout 30 "$COLDSTART" exec \
	--model "$M/index-duplicate-key" -- /bin/touch started
contains "... naming the tensor" "$err" "tensor 'a.weight' is mapped twice"
check "... the server never started" [ ! -e started ]
expect_rc 0 "--model with a good checkpoint runs" timeout 30 "$COLDSTART" exec -q --model "$M/good" -- /bin/echo {model}
check "... given its path" [ "$out" = "$M/good" ]

# Usage errors.
expect_rc 2 "no -- before the server" "$COLDSTART" exec --model src/m "$F"
expect_rc 2 "a word before -- (it would become the server's command)" "$COLDSTART" exec --model src/m stray -- "$F" --port 1
contains "... named" "$err" "unexpected argument 'stray' before --"
expect_rc 2 "{model} without a model" "$COLDSTART" exec -- "$F" --model {model}
expect_rc 2 "{port} without --port" "$COLDSTART" exec --model src/m -- "$F" --port {port}
expect_rc 2 "--stage without a root" env -u STAGING_ROOT "$COLDSTART" exec --stage src/m -- "$F"
no_leftovers "no process left"
done_testing
