#!/usr/bin/env bash
# run: what must never be counted or left behind -- kill -9 of coldstart,
# readiness answered by someone else, servers that cannot be executed,
# launchers that background the server, and users who are not root.
. "$(dirname "$0")/lib.sh"
F=${FIXTURES:?FIXTURES must point at the built fixtures}/fakeserver
check "fixture server built" [ -x "$F" ]
"$COLDSTART" mkmodel m --preset tiny -q >/dev/null
SRV="$F --port {port} --model {model}"

# A listener of our own on a free port, outside any server's tree.
listen_on() { # PORTFILE [http]
	python3 -c 'import socket,sys,time,http.server
if len(sys.argv) > 2:
	s=http.server.HTTPServer(("127.0.0.1",0), http.server.SimpleHTTPRequestHandler)
	print(s.server_address[1], flush=True); s.serve_forever()
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(60)' "$@" >"$1" &
	holder=$!
	for _ in $(seq 100); do [ -s "$1" ] && break; sleep 0.05; done
	[ -s "$1" ] || { echo "Bail out! no listener"; exit 1; }
}

# kill -9 of coldstart: the guard stops the whole tree (a server that
# ignores SIGTERM and an orphan in its own session included) within seconds.
"$COLDSTART" run --model m --server "$F --port {port} --hang --orphan --ignore-term" -q >/dev/null 2>&1 &
cs=$!
for _ in $(seq 100); do [ "$(marked_with "--hang" | wc -l)" -ge 2 ] && break; sleep 0.05; done
check "server and its orphan are running" [ "$(marked_with "--hang" | wc -l)" -ge 2 ]
kill -9 $cs
wait $cs 2>/dev/null
no_leftovers "kill -9 of run: nothing it started survives" 3
"$COLDSTART" run --model m --server "$F --port {port} --never-ready --model {model}" -q >/dev/null 2>&1 &
cs=$!
for _ in $(seq 100); do [ -n "$(marked_with "--never-ready")" ] && break; sleep 0.05; done
kill -9 $cs
wait $cs 2>/dev/null
no_leftovers "kill -9 while polling readiness" 3

# The staged model's use lock lasts as long as the server, not just coldstart.
R=$SCRATCH/root
"$COLDSTART" stage m --root "$R" --name tiny -q >/dev/null
"$COLDSTART" run --model "$R/tiny" --server "$F --port {port} --hang --ignore-term" --stop-timeout 30s -q >/dev/null 2>&1 &
cs=$!
for _ in $(seq 100); do [ -n "$(marked_with "--hang")" ] && break; sleep 0.05; done
expect_rc 1 "a model in use cannot be removed" "$COLDSTART" cache rm tiny --root "$R"
kill -9 $cs
wait $cs 2>/dev/null
no_leftovers "kill -9 with a staged model in use" 3
expect_rc 0 "once the tree is gone the model can be removed" "$COLDSTART" cache rm tiny --root "$R"

# Servers that cannot be executed: the errno and the path, not EIO.
expect_rc 1 "no such file" "$COLDSTART" run --model m --server "/nonexistent/server {port}" -q
contains "names the path and says it does not exist" "$err" "cannot run '/nonexistent/server': no such file"
expect_rc 1 "not on PATH" "$COLDSTART" run --model m --server "no-such-server-xyz {port}" -q
contains "says it is not on PATH" "$err" "cannot run 'no-such-server-xyz': not found on PATH"
printf '#!/bin/sh\nexit 0\n' > noexec.sh
chmod 644 noexec.sh
expect_rc 1 "no execute bit (even root needs one)" "$COLDSTART" run --model m --server "./noexec.sh {port}" -q
contains "permission denied, with the path" "$err" "cannot run './noexec.sh': permission denied"
lacks "never 'Input/output error'" "$err" "Input/output error"
expect_rc 1 "a shell that does not find the command" "$COLDSTART" run --model m --shell --server "no-such-server-xyz {port}" -q
contains "explains status 127" "$err" "127: the shell did not find a command"

# HTTP 503 until the timeout: the last status is reported.
expect_rc 1 "503 until the timeout" "$COLDSTART" run --model m --server "$F --port {port} --never-ready" --timeout 1s -q
contains "says HTTP 503" "$err" "last check: HTTP 503"
lacks "not 'no HTTP answer'" "$err" "no HTTP answer"
expect_rc 1 "nothing listening" "$COLDSTART" run --model m --server "$F --port {port} --hang" --timeout 500ms -q
contains "says there was no answer, and why" "$err" "no HTTP answer (Couldn't connect to server)"

# Readiness answered by another process: refused, no row.
listen_on p1
P=$(cat p1)
expect_rc 1 "an unrelated server already on the readiness port" "$COLDSTART" run --model m --server "$F --port {port} --never-ready" --ready "tcp:$P" --csv r.csv -q
contains "names the port and the other process" "$err" "port $P, where the readiness check (tcp:$P) looks, is already in use by pid $holder (python3)"
check "no row written" [ ! -s r.csv ]
kill $holder; wait $holder 2>/dev/null
# ... or one that starts listening after the launch.
( sleep 0.4; exec python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(30)' "$P" ) &
late=$!
expect_rc 1 "a foreign listener appearing after launch" "$COLDSTART" run --model m --server "$F --port {port} --never-ready" --ready "tcp:$P" --timeout 10s --csv r.csv -q
contains "says who answered" "$err" "not part of the server's process tree"
check "still no row" [ ! -s r.csv ]
kill $late 2>/dev/null; wait $late 2>/dev/null
rm -f p1
listen_on p2 http
P=$(cat p2)
expect_rc 1 "HTTP readiness answered by a foreign server" "$COLDSTART" run --model m --server "$F --port {port} --never-ready" --ready "http://127.0.0.1:$P/" --csv r.csv -q
contains "HTTP: port already in use" "$err" "already in use by pid $holder"
expect_rc 0 "--ready-owner any accepts it (a container's published port)" "$COLDSTART" run --model m --server "$F --port {port} --never-ready" --ready "http://127.0.0.1:$P/" --ready-owner any --csv r.csv -q
contains "and the row says the check was off" "$(tail -1 r.csv)" "ready_owner=any"
kill $holder; wait $holder 2>/dev/null
expect_rc 0 "the server's own answer is accepted" "$COLDSTART" run --model m --server "$SRV" --csv r.csv -q
contains "and recorded as checked" "$(tail -1 r.csv)" "ready_owner=tree"
expect_rc 2 "bad --ready-owner" "$COLDSTART" run --model m --ready-owner nobody

# A launcher that backgrounds the server and exits 0.
expect_rc 1 "without --detached a launcher's exit fails the run" "$COLDSTART" run --model m --server "$F --port {port} --detach --delay 300ms" -q
contains "and says what to do" "$err" "needs --detached"
no_leftovers "the backgrounded server was stopped"
expect_rc 0 "--detached follows the processes it left" "$COLDSTART" run --model m --server "$F --port {port} --detach --delay 300ms" --detached --csv d.csv -q
contains "the row says so" "$(tail -1 d.csv)" "detached=yes"
no_leftovers "the backgrounded server was stopped after the run"
expect_rc 1 "--detached: a launcher that leaves nothing running fails" "$COLDSTART" run --model m --server "/bin/true {port}" --detached -q
contains "says nothing is left" "$err" "no process it started is left"

# Users who are not root: root-owned model files, residency unknown.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$SCRATCH"
	mkdir -p shared && cp -r m shared/m && chmod -R a+rX shared
	mkdir -p nb && chown 65534 nb
	AS_NOBODY="setpriv --reuid 65534 --regid 65534 --clear-groups"
	run $AS_NOBODY "$COLDSTART" pages status shared/m
	check "pages status as nobody: exit 0" [ "$rc" = 0 ]
	contains "residency shown as unknown" "$out" "unknown"
	contains "says why, once" "$err" "only to a user who may write the file"
	run $AS_NOBODY "$COLDSTART" pages status shared/m --json
	json_ok "JSON: resident_pct null, unknown files counted" "$out" 'd["resident_pct"] is None and d["unknown_files"]==3'
	"$COLDSTART" pages warm shared/m -q
	run $AS_NOBODY "$COLDSTART" pages evict shared/m
	check "pages evict as nobody: exit 0" [ "$rc" = 0 ]
	contains "says they were evicted anyway" "$err" "they were evicted all the same"
	run "$COLDSTART" pages status shared/m --json
	json_ok "and they really were (as root: ~0% resident)" "$out" 'd["resident_pct"] < 1'
	run $AS_NOBODY "$COLDSTART" run --model shared/m --server "$SRV" --csv nb/r.csv
	check "run as nobody: exit 0" [ "$rc" = 0 ]
	contains "row: cold=unverified, residency unknown" "$(tail -1 nb/r.csv)" "cold=unverified; resident_pct=unknown"
	contains "the warning suggests --cold global as root" "$err" "as root, --cold global drops the whole page cache"
	run $AS_NOBODY "$COLDSTART" bench --nvme shared/m --modes nvme --repeat 2 --server "$SRV" --csv nb/b.csv
	check "bench as nobody: exit 0" [ "$rc" = 0 ]
	check "two unverified rows" [ "$(grep -c 'cold=unverified' nb/b.csv)" = 2 ]
	contains "the report counts them apart, and says so" "$(cat nb/b.md)" "- **nvme:** no run verified cold"
	check "said once" [ "$(printf '%s\n' "$err" | grep -c 'cannot read the page-cache residency')" = 1 ]
	run $AS_NOBODY "$COLDSTART" probe shared/m --cold --device host
	contains "probe --cold does not call it cold either" "$out" "(evicted; residency not visible to this user)"
fi
done_testing
