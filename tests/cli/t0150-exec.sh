#!/usr/bin/env bash
# coldstart exec: four concurrent callers stage once; the server gets the
# staged path; the use lock holds while it lives (cache rm refused); the
# ready file appears only once the server answers, and goes when it exits;
# signals reach the server; exec exits with the server's status; kill -9
# of exec leaves no server behind.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
F=${FIXTURES:?}/fakeserver
"$COLDSTART" mkmodel src/m --preset tiny --shard-size 10M -q >/dev/null
R=$SCRATCH/root
wait_file() { for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.05; done; return 1; }
wait_gone() { for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done; return 1; }
jfield() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# Four callers at once, as four pods of a DaemonSet on one node.
pids=()
for i in 1 2 3 4; do
	port=$(free_port)
	"$COLDSTART" exec --stage src/m --root "$R" --port "$port" --ready-file "ready$i" -- \
		"$F" --port {port} --model {model} >"out$i" 2>"err$i" &
	pids+=($!)
done
all_ready() { local i; for i in 1 2 3 4; do wait_file "ready$i" || return 1; done; }
check "four concurrent execs: every server becomes ready" all_ready
check "the model was copied once" [ "$(cat err1 err2 err3 err4 | grep -c "exec: staged '")" = 1 ]
check "the others found it staged (or waited for it)" [ "$(cat err1 err2 err3 err4 | grep -c "is already staged")" = 3 ]
spid=$(jfield ready1 pid)
check "the server was given the staged path for {model}" grep -q -- "--model $R/m" <(tr '\0' ' ' < "/proc/$spid/cmdline")
check "the ready file names it" [ "$(jfield ready1 model)" = "$R/m" ]
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
kpid=$(jfield k.ready pid)
kill -9 $epid
wait $epid 2>/dev/null
check "kill -9 of exec: the server goes too" wait_gone "$kpid"

# Usage errors.
expect_rc 2 "no -- before the server" "$COLDSTART" exec --model src/m "$F"
expect_rc 2 "{model} without a model" "$COLDSTART" exec -- "$F" --model {model}
expect_rc 2 "{port} without --port" "$COLDSTART" exec --model src/m -- "$F" --port {port}
expect_rc 2 "--stage without a root" env -u STAGING_ROOT "$COLDSTART" exec --stage src/m -- "$F"
no_leftovers "no process left"
done_testing
