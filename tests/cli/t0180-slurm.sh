#!/usr/bin/env bash
# contrib/slurm against a real Slurm (Debian's slurmctld, slurmd, munge),
# started here: two nodes, each slurmd in a network namespace of its own
# with its own address, node-local storage of its own
# (tests/fixtures/slurm-cluster.sh). A bench on every node and the fleet
# report of their CSVs (bench.sbatch); the task prolog staging the job's
# model on each node (task-prolog.sh); fan-out staging through sbcast
# (sbcast-stage.sh). Every daemon, namespace and mount goes at the end.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "network namespaces and slurmd need root"
for t in slurmctld slurmd munged mungekey srun sbatch sbcast ip; do
	command -v $t >/dev/null || skip_all "$t is not installed (make deps installs Slurm and munge)"
done
F=${FIXTURES:?}/fakeserver
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
same() { diff -r -x .coldstart-manifest.json "$1" "$2" >/dev/null; }
check "node 1's own storage has the copy" same shared/m "$D/node-1/cache/m"
check "node 2's too (its own, not node 1's)" same shared/m "$D/node-2/cache/m"
check "and the host's view of DIR/local has neither" [ ! -e "$D/local/cache" ]

# 3. Fan-out through sbcast: the shared copy read once, broadcast, staged locally.
expect_rc 0 "sbcast-stage.sh in a 2-node job" in_ns sbatch --wait -N2 -o "$SCRATCH/sbcast-%j.out" \
	--export=ALL,COLDSTART="$COLDSTART",COLDSTART_SBCAST_TMP="$D/local" --wrap "$C/sbcast-stage.sh $SCRATCH/shared/m $D/local/fan m"
[ "$rc" = 0 ] || cat "$SCRATCH"/sbcast-*.out >&2
check "node 1 staged it from the broadcast" same shared/m "$D/node-1/fan/m"
check "node 2 too" same shared/m "$D/node-2/fan/m"
check "the scratch copies are gone" [ -z "$(ls "$D/node-1" "$D/node-2" | grep coldstart-sbcast)" ]
check "sbcast did the copying (its own log lines in slurmd's)" grep -qi "sbcast\|file_bcast" "$D"/log/slurmd-n2.log

down
check "every namespace of the cluster is gone" sh -c '! ip netns list | grep -q "$1"' _ "${CLIENT_NS%-*}"
no_leftovers "no daemon left"
done_testing
