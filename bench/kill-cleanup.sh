#!/usr/bin/env bash
# How long the server's process tree outlives a kill -9 of coldstart: from
# the SIGKILL to the moment none of its processes is alive, over N runs
# (default 20). The server is the hardest case the fixture offers: it
# ignores SIGTERM and leaves an orphan in its own session. Processes are
# found by an environment marker unique to this script's run.
# usage: bench/kill-cleanup.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
F=${FAKESERVER:-$here/build/default/tests/fixtures/fakeserver}
N=${1:-20}
w=$(mktemp -d)
export KILLBENCH_MARK="kill-cleanup-$$-$RANDOM"
# marked: fills PIDS with the live processes carrying the marker (no
# subshell, no pipeline: nothing of the scan itself is counted).
marked() {
	local p v
	PIDS=()
	for p in /proc/[0-9]*; do
		if [ "${p#/proc/}" = "$$" ] || [ ! -r "$p/environ" ]; then continue; fi
		{ while IFS= read -r -d '' v; do
			if [ "$v" = "KILLBENCH_MARK=$KILLBENCH_MARK" ]; then PIDS+=("${p#/proc/}"); break; fi
		done <"$p/environ"; } 2>/dev/null || true
	done
	return 0
}
kill_all() { marked; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; return 0; }
cleanup() { kill_all; rm -rf "$w"; }
trap cleanup EXIT
"$CS" mkmodel "$w/m" --preset tiny -q >/dev/null
ms=() left=0
for i in $(seq 1 "$N"); do
	"$CS" run --model "$w/m" --cold none --server "$F --port {port} --hang --orphan --ignore-term" --log "$w/log" -q >/dev/null 2>&1 &
	cs=$!
	for _ in $(seq 300); do marked; [ "${#PIDS[@]}" -ge 3 ] && break; sleep 0.01; done # coldstart, (guard,) server, orphan
	sleep 0.3
	t0=${EPOCHREALTIME/./}
	kill -9 "$cs" 2>/dev/null || true
	wait "$cs" 2>/dev/null || true
	gone=0
	for _ in $(seq 1000); do
		marked
		[ "${#PIDS[@]}" = 0 ] && { gone=1; break; }
		sleep 0.005
	done
	t1=${EPOCHREALTIME/./}
	if [ "$gone" = 1 ]; then ms+=("$(( (t1 - t0) / 1000 ))"); else left=$((left + 1)); kill_all; fi
done
echo "# machine: $(uname -n), $(nproc) cores, kernel $(uname -r); $N kills; coldstart: $("$CS" --version)"
if [ "${#ms[@]}" = 0 ]; then
	echo "tree gone after kill -9: in none of $N runs; still alive after 5 s: $left"
	exit 0
fi
printf '%s\n' "${ms[@]}" | sort -n | awk -v left="$left" '{a[NR]=$1} END {
	med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
	printf "tree gone after kill -9: median %d ms, max %d ms, min %d ms (%d of %d runs); still alive after 5 s: %d\n", med, a[NR], a[1], NR, NR + left, left }'
