#!/usr/bin/env bash
# Readiness detection latency: from the fixture server's listen() to the
# moment coldstart declares it ready, over N runs (default 50). Anchor, in
# the same run: the shell loop people write, `until curl -sf URL; do sleep
# 0.01; done` (a 10 ms poll, the tightest such loop gets).
# usage: bench/ready-latency.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
F=${FAKESERVER:-$here/build/default/tests/fixtures/fakeserver}
N=${1:-50}
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
w=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$w"' EXIT
"$CS" mkmodel "$w/m" --preset tiny -q >/dev/null

cs=() an=()
for i in $(seq 1 "$N"); do
	# coldstart: ready_ns (monotonic) - LISTEN_NS (monotonic)
	j=$("$CS" run --model "$w/m" --cold none --server "$F --port {port} --delay 200ms" --log "$w/log" --json -q)
	ready=$(printf '%s' "$j" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ready_ns"])')
	listen=$(sed -n 's/.*LISTEN_NS=\([0-9]*\).*/\1/p' "$w/log")
	cs+=("$(( (ready - listen) ))")
	# anchor: curl loop, timed on the realtime clock against LISTEN_REAL_NS
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	"$F" --port "$port" --delay 200ms > "$w/alog" 2>&1 &
	pid=$!
	until curl -sf -o /dev/null "http://127.0.0.1:$port/health"; do sleep 0.01; done
	t=${EPOCHREALTIME/./}
	kill "$pid"; wait "$pid" 2>/dev/null || true
	lr=$(sed -n 's/.*LISTEN_REAL_NS=\([0-9]*\).*/\1/p' "$w/alog")
	an+=("$(( t * 1000 - lr ))")
done
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {
	p99 = a[int((NR * 99 + 99) / 100)]; med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
	printf "%.2f %.2f %.2f %.2f\n", med / 1e6, p99 / 1e6, a[1] / 1e6, a[NR] / 1e6 }'; }
read -r cm cp cmin cmax < <(stats "${cs[@]}")
read -r am ap amin amax < <(stats "${an[@]}")
echo "# machine: $(uname -n), $(nproc) cores, kernel $(uname -r); $N runs each"
echo "| detector | median ms | p99 ms | min ms | max ms |"
echo "| --- | ---: | ---: | ---: | ---: |"
echo "| coldstart run (HTTP /health, 5 ms poll) | $cm | $cp | $cmin | $cmax |"
echo "| shell: until curl -sf; do sleep 0.01 | $am | $ap | $amin | $amax |"
echo "median ratio anchor/coldstart: $(echo "$am / $cm" | bc -l | xargs printf '%.1f')x"
