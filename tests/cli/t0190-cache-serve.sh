#!/usr/bin/env bash
# cache serve: a node's published models over read-only HTTP for peers.
# A peer stages from it (exact, xxh3); byte ranges, ETag and If-Match as
# stage needs them; never a partial, corrupt or unknown model, nor the
# manifest, nor a path outside the model, nor a file that changed after
# publishing (409, and the model is marked); listings in parallel each get
# their own; connections capped in all and per client, with a deadline for
# headers that trickling does not reset; loopback unless told otherwise;
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
for _ in $(seq 100); do grep -q "published models of" serve.err && break; sleep 0.05; done
lacks "its start says nothing of libmicrohttpd's own (its logger is the first option)" "$(cat serve.err)" "HD_OPTION_EXTERNAL_LOGGER"

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
# Only digits either side of one '-': "%llu" read "1--5" as 1 to 2^64 - 5.
for r in 1--5 +1-5 1-+5 -0 - 1-5,7-9 ' 1-5' 0x1-5 18446744073709551616-; do
	check "not a range a server may satisfy: bytes=$r is 416" [ "$(code -H "Range: bytes=$r" "${U}m/config.json")" = 416 ]
done
etag=$(curl -sI "${U}m/config.json" | sed -n 's/^[Ee][Tt]ag: *//p' | tr -d '\r')
check "HEAD: the size and an ETag" sh -c 'curl -sI "$1" | grep -qi "^content-length: $2"' _ "${U}m/config.json" "$size" && [ -n "$etag" ]
check "If-Match on that ETag: served" [ "$(code -H "If-Match: $etag" "${U}m/config.json")" = 200 ]
check "If-Match on another: 412" [ "$(code -H 'If-Match: "other"' "${U}m/config.json")" = 412 ]

# ---- A copy whose files changed after publishing is never handed out ----
# Each damage on its own model: the peer's stage fails with nothing
# published, `cache ls` says so, and the model is marked (404 from then).
for n in tx ts tt tr tq tc; do   # a fresh copy for each kind of damage
	v=xxh3
	[ $n = ts ] && v=size
	"$COLDSTART" stage m --root "$A" --name $n --verify $v -q >/dev/null
done
shard() { ls "$A/$1"/model-*.safetensors | head -1; }
# flip_keep FILE: one byte changed in place, the mtime put back (touch -r):
# size and mtime as staged; only the inode's change time moved.
flip_keep() {
	touch -r "$1" "$SCRATCH/ref"
	python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(-1, 2); b=f.read(1); f.seek(-1, 2); f.write(bytes([b[0]^1]))' "$1"
	touch -r "$SCRATCH/ref" "$1"
}
ls_state() { "$COLDSTART" cache ls --root "$A" --json 2>/dev/null |
	python3 -c 'import json,sys; print(next(e["state"] for e in json.load(sys.stdin) if e["name"]==sys.argv[1]))' "$1"; }
peer_fails() { # NAME DESC
	expect_rc 1 "$2: the peer's stage fails" "$COLDSTART" stage "${U}$1/" --root "$B" --verify xxh3 -q
	check "... and publishes nothing" [ ! -e "$B/$1" ]
}
flip_keep "$(shard tx)"
check "same size, mtime put back (xxh3 copy): ls says changed, not ok" [ "$(ls_state tx)" = changed ]
peer_fails tx "same size, mtime put back (xxh3 copy)"
contains "... the server said the copy is damaged (409)" "$err" "409"
contains "... and why, in the server's own words" "$err" "HTTP 409: '$A/tx/"
contains "... (the changed bytes)" "$err" "changed after it was staged: its bytes no longer hash as staged"
check "... it is marked corrupt now" [ "$(ls_state tx)" = corrupt ]
contains "... ls names the file and who found it" "$("$COLDSTART" cache ls --root "$A" 2>&1 >/dev/null)" "found by cache serve"
check "... and nothing of it is served any more (404)" [ "$(code "${U}tx/config.json")" = 404 ]
expect_rc 0 "a stage on the serving node repairs it" "$COLDSTART" stage m --root "$A" --name tx --verify xxh3
contains "... saying the copy was damaged" "$err" "damaged"
expect_rc 0 "... and the peer stages it again" "$COLDSTART" stage "${U}tx/" --root "$B" --verify xxh3 -q
check "... an exact copy" diff -r -x .coldstart-manifest.json m "$B/tx"

flip_keep "$(shard ts)"
check "the same (a --verify size copy): ls says damaged (its change time moved; nothing vouches for its bytes)" \
	[ "$(ls_state ts)" = damaged ]
peer_fails ts "the same, a --verify size copy"
expect_rc 1 "... cache verify fails it too (sizes alone cannot clear it)" "$COLDSTART" cache verify ts --root "$A"
contains "... saying why" "$out" "nothing can vouch for its bytes"

truncate -s -1 "$(shard tt)"
check "truncated: ls says damaged" [ "$(ls_state tt)" = damaged ]
peer_fails tt "truncated"
contains "... refused at the listing already (409)" "$err" "409"
contains "... its reason shown, though a HEAD carries no body" "$err" "the manifest says"

f=$(shard tr)
cp -p "$f" "$SCRATCH/new" && flip_keep "$SCRATCH/new" && mv "$SCRATCH/new" "$f"
peer_fails tr "replaced by another file of the same size and mtime"

f=$(shard tq)
cp -p "$f" "$SCRATCH/same" && mv "$SCRATCH/same" "$f"
check "replaced by a copy of the same bytes (xxh3): ls says changed" [ "$(ls_state tq)" = changed ]
expect_rc 0 "... its bytes hash as staged: the peer gets it" "$COLDSTART" stage "${U}tq/" --root "$B" --verify xxh3 -q
check "... and the manifest remembers (ls: ok again)" [ "$(ls_state tq)" = staged ]

chmod 600 "$(shard tc)"
expect_rc 0 "chmod only (the change time moved, the bytes did not): served" \
	"$COLDSTART" stage "${U}tc/" --root "$B" --verify xxh3 -q
"$COLDSTART" stage m --root "$A" --name tv --verify xxh3 -q >/dev/null
chmod 600 "$(shard tv)"
check "chmod only, not served yet: ls says changed" [ "$(ls_state tv)" = changed ]
expect_rc 0 "... cache verify reads its bytes back: ok" "$COLDSTART" cache verify tv --root "$A"
check "... and records it (ls: ok)" [ "$(ls_state tv)" = staged ]

# A stage that takes files over from the copy it replaces (hard links:
# their link count and change time move) leaves a copy that is intact.
cp -r m m2
"$COLDSTART" stage m2 --root "$A" --name tl -q >/dev/null
echo '{"changed": true}' > m2/generation_config.json
"$COLDSTART" stage m2 --root "$A" --name tl -q >/dev/null
check "a re-stage that linked unchanged files: ls says ok (a --verify size copy)" [ "$(ls_state tl)" = staged ]
expect_rc 0 "... and it is served" "$COLDSTART" stage "${U}tl/" --root "$B" -q

# ---- Listings in parallel: one walk's state is not another's ----
mkdir -p many1 many2
for i in $(seq 300); do echo "$i" > many1/a$i; echo "$i" > many2/b$i; done
"$COLDSTART" stage many1 --root "$A" --kind dir -q >/dev/null
"$COLDSTART" stage many2 --root "$A" --kind dir -q >/dev/null
lists() { # N: N listings of each, in parallel; each must be its own model's 300 files
	local i pids=()
	for i in $(seq "$1"); do
		curl -s "${U}many1/" > "l1.$i" &
		pids+=($!)
		curl -s "${U}many2/" > "l2.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in $(seq "$1"); do
		python3 -c '
import json,sys
for f, p in ((sys.argv[1], "a"), (sys.argv[2], "b")):
    names = [e["name"] for e in json.load(open(f))]
    assert len(names) == 300 and all(n.startswith(p) for n in names), (f, len(names))' "l1.$i" "l2.$i" || return 1
	done
}
check "16 listings of two models at once: each lists its own files, all of them" lists 8

kill -TERM $spid
wait $spid
check "SIGTERM stops it, exit 0" [ $? = 0 ]

# ---- Connections: capped in all and per client, a deadline for headers ----
"$COLDSTART" cache serve --root "$A" --max-connections 48 --max-per-client 16 --request-timeout 2s \
	>url2 2>serve2.err &
spid=$!
for _ in $(seq 100); do [ -s url2 ] && break; sleep 0.05; done
U=$(cat url2)
P=${U##*:}
P=${P%/}
TR=$FIXTURES_SRC/trickle.py
field() { sed -n "s/.* $1 \([0-9]*\).*/\1/p; s/^$1 \([0-9]*\).*/\1/p" "$2" | head -1; }
# wait_status FILE EXPR: (bounded, 20 s) until EXPR holds over the status fields.
wait_status() {
	local _
	for _ in $(seq 400); do
		if [ -s "$1" ]; then
			set -- "$1" "$2" "$(cat "$1")"
			python3 -c 'import sys; d=dict(zip(*[iter(sys.argv[2].split())]*2)); d={k:int(v) for k,v in d.items()}; sys.exit(0 if eval(sys.argv[1], {}, d) else 1)' "$2" "$3" && return 0
		fi
		sleep 0.05
	done
	return 1
}
python3 "$TR" 127.0.0.1 "$P" 1100 127.0.0.2 flood1 0.5 &
fpid=$!
check "1,100 connections from one address that trickle their headers: all but 16 are refused" \
	wait_status flood1 'opened == 1100 and refused >= 1100 - 16 and open <= 16 and answered == 0'
expect_rc 0 "... while they hold, a peer stages from the server" \
	timeout 60 "$COLDSTART" stage "${U}m/" --root "$B" --name flooded --verify xxh3 -q
check "... an exact copy" diff -r -x .coldstart-manifest.json m "$B/flooded"
check "... the 16 let in are closed at the request deadline, trickling or not" \
	wait_status flood1 'refused + closed == 1100 and open == 0 and answered == 0'
kill $fpid; wait $fpid 2>/dev/null
python3 "$TR" 127.0.0.1 "$P" 300 "$(echo 127.0.0.{10..39} | tr ' ' ,)" flood2 0.5 &
fpid=$!
check "300 from 30 addresses (10 each, under the per-client cap): no more than 48 at once" \
	wait_status flood2 'opened == 300 and open <= 48 and refused >= 300 - 48'
sockets() { find /proc/$spid/fd -lname 'socket:*' 2>/dev/null | wc -l; }
check "... the server holds no more sockets than that ($(sockets))" [ "$(sockets)" -le 52 ]
expect_rc 0 "... a peer still stages (once the deadline frees the slots)" \
	timeout 60 "$COLDSTART" stage "${U}m/" --root "$B" --name flooded2 -q
kill $fpid; wait $fpid 2>/dev/null
kill -TERM $spid
wait $spid
check "SIGTERM stops it, exit 0" [ $? = 0 ]
contains "it counts what the deadline ended" "$(cat serve2.err)" "ended at the request deadline"
expect_rc 2 "--listen goes with serve" "$COLDSTART" cache ls --root "$A" --listen 127.0.0.1:1
expect_rc 2 "a bad --listen" "$COLDSTART" cache serve --root "$A" --listen nowhere:xx
expect_rc 1 "a root that is not there" "$COLDSTART" cache serve --root "$SCRATCH/none"
no_leftovers "no process left"
done_testing
