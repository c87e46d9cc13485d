#!/usr/bin/env bash
# contrib/slurm against a real Slurm (Debian's slurmctld, slurmd, munge),
# started here: two nodes, each slurmd in a network namespace of its own
# with its own address, node-local storage of its own
# (tests/fixtures/slurm-cluster.sh). A bench on every node and the fleet
# report of their CSVs (bench.sbatch); the task prolog staging the job's
# model on each node (task-prolog.sh), and stopping the task, with its
# reason in slurmd's log and the job's output, when staging fails; a server
# on every node through coldstart exec (serve.sbatch, and serve.sh on the
# prolog's copy), its command line as the files and the README write it,
# to the strict stand-ins; fan-out staging through sbcast
# (sbcast-stage.sh). Every daemon, namespace and mount goes at the end.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "network namespaces and slurmd need root"
for t in slurmctld slurmd munged mungekey srun sbatch sbcast ip; do
	command -v $t >/dev/null || skip_all "$t is not installed (make deps installs Slurm and munge)"
done
. "$REPO_ROOT/tests/cli/servers.sh"
. "$REPO_ROOT/tests/cli/strict.sh"
SC=$FIXTURES_SRC/slurm-cluster.sh
C=$REPO_ROOT/contrib/slurm
D=$SCRATCH/slurm
down() { "$SC" down "$D"; }
at_exit down
env_line=$("$SC" up "$D" 2 "$C/task-prolog.sh" 2>"$SCRATCH/cluster.err") ||
	skip_all "cannot start a Slurm cluster here: $(tail -3 "$SCRATCH/cluster.err")"
eval "$env_line"
check "two slurmd up, each in its own namespace" [ "$(ip netns exec "$CLIENT_NS" sinfo -h -t idle -o %D)" = 2 ]
in_ns() { ip netns exec "$CLIENT_NS" "$@"; }
check "a task on each node, each with its own address" \
	sh -c '[ "$(ip netns exec "$1" srun -N2 --ntasks-per-node=1 sh -c "ip -4 -o addr show | grep -c 10.216" | sort -u)" = 1 ]' _ "$CLIENT_NS"
export COLDSTART

"$COLDSTART" mkmodel shared/m --preset tiny --shard-size 10M -q >/dev/null
# 1. A bench on every node, the fleet report at the end.
export RESULTS=$SCRATCH/results
export COLDSTART_BENCH_ARGS="--nvme $SCRATCH/shared/m --net $SCRATCH/shared/m --modes nvme,staged --stage-root $D/local/stage --repeat 2 --server '$F --port {port} --model {model}'"
expect_rc 0 "sbatch --wait -N2 bench.sbatch" in_ns sbatch --wait -N2 -o "$SCRATCH/bench-%j.out" "$C/bench.sbatch"
[ "$rc" = 0 ] || cat "$SCRATCH"/bench-*.out >&2
check "one CSV per node, named after it" [ -s "$RESULTS/n1.csv" ] && [ -s "$RESULTS/n2.csv" ]
check "... each with its runs (2 modes x 2)" [ "$(tail -n +2 "$RESULTS/n1.csv" | wc -l)" = 4 ] && [ "$(tail -n +2 "$RESULTS/n2.csv" | wc -l)" = 4 ]
check "the rows say their node" grep -q "node=n2" "$RESULTS/n2.csv"
md=$(cat "$RESULTS/fleet_report.md" 2>/dev/null)
contains "the fleet report of both" "$md" "2 nodes"
contains "... per node" "$md" "| n1 | n1.csv |"
contains "... across nodes" "$md" "| nvme | 2 |"

# 2. The task prolog stages the job's model on each node, once.
out=$(in_ns srun -N2 --ntasks-per-node=1 --export=ALL,COLDSTART_STAGE="$SCRATCH/shared/m",COLDSTART_ROOT="$D/local/cache" \
	sh -c 'echo "$SLURMD_NODENAME $COLDSTART_MODEL"' 2>"$SCRATCH/prolog.err")
contains "each task gets the staged path" "$out" "n1 $D/local/cache/m"
contains "... on both nodes" "$out" "n2 $D/local/cache/m"
check "node 1's own storage has the copy" same shared/m "$D/node-1/cache/m"
check "node 2's too (its own, not node 1's)" same shared/m "$D/node-2/cache/m"
check "and the host's view of DIR/local has neither" [ ! -e "$D/local/cache" ]

# A stage that fails stops the task: it does not run without its model,
# the job fails, and coldstart's reason is where the operator and the user
# look -- slurmd's log and the job's error output.
out=$(in_ns srun -N2 --ntasks-per-node=1 --export=ALL,COLDSTART_STAGE="$SCRATCH/shared/nope",COLDSTART_ROOT="$D/local/cache" \
	sh -c 'echo "TASK RAN on $SLURMD_NODENAME with model [$COLDSTART_MODEL]"' 2>"$SCRATCH/fail.err")
st=$?
check "staging fails: the job step fails" [ "$st" != 0 ]
lacks "... and no task ran without its model" "$out" "TASK RAN"
contains "... the reason in the job's error output" "$(cat "$SCRATCH/fail.err")" \
	"coldstart: task prolog: staging '$SCRATCH/shared/nope' into '$D/local/cache' failed on"
contains "... coldstart's own words" "$(cat "$SCRATCH/fail.err")" "cannot open source '$SCRATCH/shared/nope'"
check "... and in slurmd's log, on each node" sh -c 'grep -q "cannot open source .$1" "$2" && grep -q "cannot open source .$1" "$3"' \
	_ "$SCRATCH/shared/nope" "$D/log/slurmd-n1.log" "$D/log/slurmd-n2.log"
expect_rc 1 "a batch job whose model cannot be staged exits 1 (not 0)" in_ns sbatch --wait -N1 -o "$SCRATCH/failjob.out" \
	--export=ALL,COLDSTART_STAGE="$SCRATCH/shared/nope",COLDSTART_ROOT="$D/local/cache" --wrap "echo BATCH RAN"
check "... and its script did not run" sh -c '! grep -q "BATCH RAN" "$1"' _ "$SCRATCH/failjob.out"
COLDSTART_STAGE=x expect_rc 1 "serve.sh refuses a task without a staged model (a Slurm that ran it anyway)" \
	env -u COLDSTART_MODEL bash "$C/serve.sh" -- "$F" --port 1
contains "... saying where the reason is" "$err" "the task prolog did not stage COLDSTART_STAGE"
check "... and started nothing" [ -z "$out" ]

# A server on every node through coldstart exec, its command line as
# contrib/slurm writes it, to the strict stand-ins. bin/ holds coldstart and
# vllm (the stand-in that parses its command line as vLLM's CLI does).
mkdir -p bin && ln -sf "$COLDSTART" bin/coldstart && ln -sf "$F" bin/vllm
"$COLDSTART" mkmodel shared/q --preset tiny -q >/dev/null
python3 -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); c["max_position_embeddings"]=32768; json.dump(c,open(p,"w"),indent=2)' \
	shared/q/config.json
# serve_job SRC ROOT JOB_OUT PORT READY EXPECT SBATCH_ARGS...: a serving job
# (COLDSTART_STAGE=SRC, COLDSTART_ROOT=ROOT, COLDSTART_PORT, COLDSTART_READY
# on each node's own storage, CS_EXPECT_ARGV=EXPECT for the stand-ins), ready
# on both nodes (bounded wait), then cancelled: 0 if both were ready.
serve_job() {
	local src=$1 root=$2 o=$3 port=$4 ready=$5 expect=$6 id i up
	shift 6
	rm -f "$D/node-1/$ready" "$D/node-2/$ready"
	id=$(PATH=$SCRATCH/bin:$PATH CS_EXPECT_ARGV=$expect COLDSTART_STAGE=$src COLDSTART_ROOT=$root \
		COLDSTART_PORT=$port COLDSTART_READY=$D/local/$ready in_ns sbatch --parsable -N2 -o "$o" "$@") || return 1
	for i in $(seq 600); do
		[ -e "$D/node-1/$ready" ] && [ -e "$D/node-2/$ready" ] && break
		[ -n "$(in_ns squeue -h -j "$id" 2>/dev/null)" ] || break
		sleep 0.1
	done
	[ -e "$D/node-1/$ready" ] && [ -e "$D/node-2/$ready" ]
	up=$?
	in_ns scancel "$id"
	for i in $(seq 300); do [ -z "$(in_ns squeue -h -j "$id" 2>/dev/null)" ] && break; sleep 0.1; done
	[ $up = 0 ] || cat "$o" >&2
	return $up
}
port=$(free_port)
expect_argv serve.argv serve "$D/local/serve/q" --port "$port"
check "serve.sbatch as written (vllm serve {model} --port {port}): a server ready on each node" \
	serve_job "$SCRATCH/shared/q" "$D/local/serve" "$SCRATCH/serve.out" "$port" sready "$SCRATCH/serve.argv" "$C/serve.sbatch"
check "... each on its own node's copy" [ -f "$D/node-1/serve/q/config.json" ] && [ -f "$D/node-2/serve/q/config.json" ]
check "... stopped by scancel: SIGTERM passed on" [ "$(grep -c "Shutting down" "$SCRATCH/serve.out")" = 2 ]
check "serve.sbatch coldstart refserve {model} --port {port}: refserve takes its arguments, ready on each node" \
	serve_job "$SCRATCH/shared/q" "$D/local/serve" "$SCRATCH/refserve.out" "$(free_port)" rready "" \
	"$C/serve.sbatch" coldstart refserve {model} --port {port}
# The README's job step for the prolog's copy, as it is written there (the
# site's values swapped: the source, the cache, the port; a ready file
# added to exec's options).
step=$(python3 -c '
import re,sys
m=re.search(r"--wrap \"(srun contrib/slurm/serve\.sh [^\"]*)\"", open(sys.argv[1]).read())
print(m.group(1) if m else "")' "$C/README.md")
check "the README shows serve.sh's job step" [ -n "$step" ]
port=$(free_port)
python3 -c '
import shlex,sys
w=shlex.split(sys.argv[1]); i=w.index("--")
print("\n".join(a.replace("{model}", sys.argv[2]).replace("{port}", sys.argv[3]) for a in w[i+2:]))' \
	"$step" "$D/local/cache/q" "$port" > step.argv
step=$(python3 -c '
import shlex,sys
w=shlex.split(sys.argv[1]); w[1]=sys.argv[2]
i=w.index("--port"); w[i+1]=sys.argv[3]
i=w.index("--"); w[i:i]=["--ready-file", sys.argv[4]]
print(shlex.join(w))' "$step" "$C/serve.sh" "$port" "$D/local/pready")
check "serve.sh on the prolog's copy, the README's job step (vllm serve ...): ready on each node" \
	serve_job "$SCRATCH/shared/q" "$D/local/cache" "$SCRATCH/pserve.out" "$port" pready "$SCRATCH/step.argv" --wrap "$step"
check "... the prolog staged it, on each node" [ -f "$D/node-1/cache/q/config.json" ] && [ -f "$D/node-2/cache/q/config.json" ]

# 3. Fan-out through sbcast: the shared copy read once, broadcast, staged locally.
expect_rc 0 "sbcast-stage.sh in a 2-node job" in_ns sbatch --wait -N2 -o "$SCRATCH/sbcast-%j.out" \
	--export=ALL,COLDSTART="$COLDSTART",COLDSTART_SBCAST_TMP="$D/local" --wrap "$C/sbcast-stage.sh $SCRATCH/shared/m $D/local/fan m"
[ "$rc" = 0 ] || cat "$SCRATCH"/sbcast-*.out >&2
check "node 1 staged it from the broadcast" same shared/m "$D/node-1/fan/m"
check "node 2 too" same shared/m "$D/node-2/fan/m"
check "the scratch copies are gone" [ -z "$(ls "$D/node-1" "$D/node-2" | grep coldstart-sbcast)" ]
check "sbcast did the copying (its own log lines in slurmd's)" grep -qi "sbcast\|file_bcast" "$D"/log/slurmd-n2.log

down
# (by their own names: another test's cluster may be up on this machine)
check "every namespace of the cluster is gone" sh -c 'for ns in $(cat "$1"); do ip netns list | grep -qw "$ns" && exit 1; done; exit 0' \
	_ "$D/names"
no_leftovers "no daemon left"
done_testing
