#!/usr/bin/env bash
# cache serve: a node's published models over read-only HTTP for peers.
# A peer stages from it (exact, xxh3); byte ranges, ETag and If-Match as
# stage needs them; never a partial, corrupt or unknown model, nor the
# manifest, nor a path outside the model; loopback unless told otherwise;
# SIGTERM stops it cleanly.
. "$(dirname "$0")/lib.sh"
"$COLDSTART" mkmodel m --preset tiny --shard-size 10M -q >/dev/null
"$COLDSTART" mkmodel big --preset tiny --shard-size 5M -q >/dev/null
A=$SCRATCH/A B=$SCRATCH/B
"$COLDSTART" stage m --root "$A" --verify xxh3 -q >/dev/null
"$COLDSTART" stage m --root "$A" --name bad --verify xxh3 -q >/dev/null
# A partial copy: a stage killed midway.
"$COLDSTART" stage big --root "$A" --chunk 1M --bwlimit 5M -q >/dev/null 2>&1 &
pid=$!
journal_has "$A" big 2
kill -9 $pid
wait $pid 2>/dev/null
check "a partial copy of 'big' is in the root" [ -d "$A/.partial/big" ]
# A corrupt one: a byte changed, found by cache verify.
f=$(ls "$A"/bad/model-*.safetensors | head -1)
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-1]^=1; open(p,"wb").write(b)' "$f"
"$COLDSTART" cache verify bad --root "$A" >/dev/null 2>&1
check "'bad' is marked corrupt" sh -c '"$1" cache ls --root "$2" | grep "^bad " | grep -qi corrupt' _ "$COLDSTART" "$A"

"$COLDSTART" cache serve --root "$A" >url 2>serve.err &
spid=$!
stop_serve() { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
at_exit stop_serve
for _ in $(seq 100); do [ -s url ] && break; sleep 0.05; done
U=$(cat url)
check "it says where, on loopback by default" sh -c 'case "$1" in http://127.0.0.1:*/) exit 0;; esac; exit 1' _ "$U"

expect_rc 0 "a peer stages from it" "$COLDSTART" stage "${U}m/" --root "$B" --verify xxh3
check "an exact copy" diff -r -x .coldstart-manifest.json m "$B/m"
list=$(curl -s "$U")
contains "GET / lists the published model" "$list" '"name":"m"'
lacks "... not the partial one" "$list" '"big"'
lacks "... not the corrupt one" "$list" '"bad"'
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "a partial model is not served (404)" [ "$(code "${U}big/")" = 404 ] && [ "$(code "${U}big/config.json")" = 404 ]
check "a corrupt model is not served (404)" [ "$(code "${U}bad/config.json")" = 404 ]
check "nor an unknown one" [ "$(code "${U}nope/config.json")" = 404 ]
check "nor the manifest" [ "$(code "${U}m/.coldstart-manifest.json")" = 404 ]
check "nor a path out of the model" [ "$(code --path-as-is "${U}m/../bad/config.json")" = 404 ]
check "read-only: POST is 405" [ "$(code -X POST "${U}m/config.json")" = 405 ]
cmp_range() { # RANGE SKIP COUNT
	curl -s -r "$1" "${U}m/config.json" > got
	dd if=m/config.json bs=1 skip="$2" count="$3" status=none > want
	cmp got want
}
size=$(stat -c %s m/config.json)
check "bytes=10-19" cmp_range 10-19 10 10
check "bytes=100- (to the end)" cmp_range 100- 100 $((size - 100))
check "bytes=-5 (the last five)" cmp_range -5 $((size - 5)) 5
check "206 with Content-Range" sh -c 'curl -s -D - -o /dev/null -r 0-0 "$1" | grep -qi "^content-range: bytes 0-0/$2"' _ "${U}m/config.json" "$size"
check "a range past the end: 416" [ "$(code -r $((size + 10))-$((size + 20)) "${U}m/config.json")" = 416 ]
etag=$(curl -sI "${U}m/config.json" | sed -n 's/^[Ee][Tt]ag: *//p' | tr -d '\r')
check "HEAD: the size and an ETag" sh -c 'curl -sI "$1" | grep -qi "^content-length: $2"' _ "${U}m/config.json" "$size" && [ -n "$etag" ]
check "If-Match on that ETag: served" [ "$(code -H "If-Match: $etag" "${U}m/config.json")" = 200 ]
check "If-Match on another: 412" [ "$(code -H 'If-Match: "other"' "${U}m/config.json")" = 412 ]

kill -TERM $spid
wait $spid
check "SIGTERM stops it, exit 0" [ $? = 0 ]
expect_rc 2 "--listen goes with serve" "$COLDSTART" cache ls --root "$A" --listen 127.0.0.1:1
expect_rc 2 "a bad --listen" "$COLDSTART" cache serve --root "$A" --listen nowhere:xx
expect_rc 1 "a root that is not there" "$COLDSTART" cache serve --root "$SCRATCH/none"
no_leftovers "no process left"
done_testing
