#!/usr/bin/env bash
# exec's ready file and readiness belong to its own server. A ready file
# that names a file of another's (a staged model's weights, the source's
# config.json, anything that exists and is not a ready file) or lies in the
# model, the source or the node's cache is refused before anything starts,
# and nothing is overwritten or deleted. A port another process already
# listens on -- the server's, or the one its readiness check looks at --
# is refused, naming the holder: its answers would look like readiness.
# The server's own answer still counts (a positive control).
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
"$COLDSTART" mkmodel src/m --preset tiny -q >/dev/null
R=$SCRATCH/root
expect_rc 0 "a model staged" "$COLDSTART" stage src/m --root "$R" --name m -q
sum() { (cd "$1" && find . -type f ! -name .coldstart-manifest.json -exec sha256sum {} + | sort); }
before_staged=$(sum "$R/m") before_src=$(sum src/m)
started=$SCRATCH/started

expect_rc 1 "--ready-file naming the staged model's weights: refused" "$COLDSTART" exec --stage src/m --root "$R" \
	--name m --ready-file "$R/m/model.safetensors" -- /bin/sh -c "touch $started"
contains "... naming it" "$err" "'$R/m/model.safetensors'"
check "... the server never started" [ ! -e "$started" ]
check "... the weights are there, unchanged" [ "$(sum "$R/m")" = "$before_staged" ]
expect_rc 0 "... and the copy verifies" "$COLDSTART" cache verify --root "$R" m

expect_rc 1 "--ready-file naming the source's config.json (--model): refused" "$COLDSTART" exec --model src/m \
	--ready-file src/m/config.json -- /bin/sh -c "touch $started"
contains "... as a file of another's" "$err" "exists and is not a ready file"
check "... the source unchanged" [ "$(sum src/m)" = "$before_src" ]
check "... the server never started" [ ! -e "$started" ]

expect_rc 1 "--ready-file that would be a new file inside the model: refused" "$COLDSTART" exec --model src/m \
	--ready-file src/m/ready -- /bin/sh -c "touch $started"
contains "... saying where" "$err" "would be inside"
check "... nothing written there" [ ! -e src/m/ready ]
expect_rc 1 "... or inside the node's cache" "$COLDSTART" exec --stage src/m --root "$R" --name m \
	--ready-file "$R/ready" -- /bin/sh -c "touch $started"
echo "notes of mine" >notes.txt
expect_rc 1 "--ready-file naming any other existing file: refused" "$COLDSTART" exec --model src/m \
	--ready-file notes.txt -- /bin/true
check "... the file is intact" [ "$(cat notes.txt)" = "notes of mine" ]

# A port another process holds: a python HTTP server answering /health 200.
P=$(free_port)
python3 -c '
import http.server,sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(s): s.send_response(200); s.end_headers(); s.wfile.write(b"ok")
    def log_message(s,*a): pass
http.server.HTTPServer(("127.0.0.1",int(sys.argv[1])),H).serve_forever()' "$P" &
other=$!
at_exit "kill $other 2>/dev/null; wait $other 2>/dev/null"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$P") 2>/dev/null && break; sleep 0.05; done
expect_rc 1 "--port that another process listens on: refused" "$COLDSTART" exec --model src/m --port "$P" \
	--ready-file ready1 -- /bin/sh -c "touch $started; sleep 5"
contains "... naming the port and its holder" "$err" "port $P is already in use on 127.0.0.1 by pid $other"
check "... the server never started" [ ! -e "$started" ]
check "... no ready file" [ ! -e ready1 ]
Q=$(free_port)
expect_rc 1 "a readiness check on a port another process holds: refused" "$COLDSTART" exec --model src/m --port "$Q" \
	--ready "http://127.0.0.1:$P/health" --ready-file ready2 -- /bin/sh -c "touch $started; sleep 5"
contains "... saying the answer could not be told apart" "$err" "could not be told apart"
check "... the server never started" [ ! -e "$started" ]
kill "$other" 2>/dev/null; wait "$other" 2>/dev/null

# The server's own answer counts: it listens on --port itself, and a
# moment after its first answer notes whether the ready file is there.
P2=$(free_port)
expect_rc 0 "the server's own answer: ready" "$COLDSTART" exec --model src/m --port "$P2" --ready-file ready3 -- \
	python3 -c '
import http.server,sys,threading,os,time
def later():
    time.sleep(0.7); open(sys.argv[2],"w").write(str(os.path.exists(sys.argv[3]))); os._exit(0)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(s):
        s.send_response(200); s.end_headers(); s.wfile.write(b"ok")
        if not threading.active_count() > 1: threading.Thread(target=later).start()
    def log_message(s,*a): pass
http.server.HTTPServer(("127.0.0.1",int(sys.argv[1])),H).serve_forever()' "{port}" "$SCRATCH/seen" "$SCRATCH/ready3"
contains "... said so" "$err" "ready in"
check "... the ready file was there once it answered" [ "$(cat seen)" = True ]
check "... and removed when it exited" [ ! -e ready3 ]
no_leftovers "no process left"
done_testing
