#!/usr/bin/env bash
# Requests to the Hub for one stage from a Hugging Face resolve URL, against
# tests/fixtures/hubserve.mjs (our stand-in for the Hub: its tree API,
# resolve/ with 302 to signed URLs on a CDN at 127.0.0.2): a 7-file model
# (tiny preset, 56 layers, 4 shards of up to 30 MB: 109 MiB), staged with
# coldstart, and with BASELINE (another coldstart binary) when given, at
# each chunk size given (default: 16M, the default, and 4M). Counts: every
# request to the Hub's host, the redirects among them (302), the probes for
# names the repository does not have (404), the API's, and the CDN's.
# usage: BASELINE=/path/to/old/coldstart bench/hub-requests.sh [CHUNK...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
BASE=${BASELINE:-}
[ $# -gt 0 ] || set -- 16M 4M
w=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$w"' EXIT
"$CS" mkmodel "$w/m" --preset tiny --layers 56 --shard-size 30M -q >/dev/null
echo "# a model card" > "$w/m/README.md"
port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }
count() {
	python3 -c '
import json,sys,collections
c=collections.Counter()
for l in open(sys.argv[1]):
    r=json.loads(l)
    c[r["host"]]+=1
    if r["host"]=="hub": c["302"]+=r["status"]==302; c["404"]+=r["status"]==404; c["api"]+=r.get("kind")=="api"
print("hub %d (redirects %d, probes 404 %d, API %d), cdn %d" % (c["hub"],c["302"],c["404"],c["api"],c["cdn"]))' "$1"
}
run() {
	local bin=$1 chunk=$2 hp cp
	hp=$(port 127.0.0.1) cp=$(port 127.0.0.2)
	: > "$w/log"
	node "$here/tests/fixtures/hubserve.mjs" --listen 127.0.0.1:"$hp" --cdn 127.0.0.2:"$cp" --repo acme/m --rev main \
		--root "$w/m" --log "$w/log" 2>"$w/err" &
	pid=$!
	for _ in $(seq 200); do grep -q "^hubserve on" "$w/err" && break; sleep 0.05; done
	rm -rf "$w/root"
	HF_TOKEN=hf-bench "$bin" stage "http://127.0.0.1:$hp/acme/m/resolve/main/" --root "$w/root" --name m --chunk "$chunk" -q \
		>/dev/null
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
	echo "$3 --chunk $chunk: $(count "$w/log")"
}
echo "# machine: $(uname -n), $(nproc) cores; coldstart: $("$CS" --version)"
echo "# model: $(ls "$w/m" | grep -vc README) files, $(du -sm --exclude README.md "$w/m" | cut -f1) MiB"
for chunk in "$@"; do
	[ -n "$BASE" ] && run "$BASE" "$chunk" "baseline ($("$BASE" --version))"
	run "$CS" "$chunk" coldstart
done
