#!/usr/bin/env bash
# SIGINT and SIGTERM (what Kubernetes and Slurm send) end every command that
# works -- throttled, waiting on a slow server, stuck in a read of a slow
# mount -- with 130 or 143, its state intact: a second run resumes.
# No timing is asserted: each wait for an exit is bounded (10 s), and a
# command still alive then fails the test.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"

# ends PID: wait (bounded) for PID to exit; 0 with its status in $st, or 1
# (still alive: killed).
ends() {
	local _
	for _ in $(seq 200); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		st=killed
		return 1
	fi
	wait "$1" 2>/dev/null   # (not a child: the status is not ours to see)
	st=$?
	return 0
}
# copying PID DIR: wait (bounded, 10 s) until PID has a file under DIR open
# -- its copy is under way.
copying() {
	local _
	for _ in $(seq 200); do
		ls -l "/proc/$1/fd" 2>/dev/null | grep -q " -> $2/" && return 0
		sleep 0.05
	done
	return 1
}
# sig_ends DESC SIGNAL WANT PID: SIGNAL to PID, which ends with WANT.
sig_ends() {
	kill -"$2" "$4"
	if ends "$4" && [ "$st" = "$3" ]; then _t_report 0 "$1"; else
		_t_report 1 "$1" "exit status $st, expected $3 (killed: still running 10 s after SIG$2)"
	fi
}

"$COLDSTART" mkmodel m --preset tiny --shard-size 10M -q >/dev/null
R=$SCRATCH/root

# --bwlimit 1: every chunk is throttled for days.
for sig in TERM:143 INT:130; do
	"$COLDSTART" stage m --root "$R" --bwlimit 1 -q 2>stage.err &
	pid=$!
	copying $pid "$R/.partial/m"
	sig_ends "stage --bwlimit 1, throttled: SIG${sig%:*} ends it with ${sig#*:}" "${sig%:*}" "${sig#*:}" $pid
	contains "... it says the partial copy is kept" "$(cat stage.err)" "partial copy is kept"
	check "... and the journal with it" grep -q '^coldstart-journal 1$' "$R/.partial/m.journal"
done
expect_rc 0 "a second stage resumes" "$COLDSTART" stage m --root "$R"
contains "... from the journal" "$err" "resuming:"
check "... an exact copy" diff -r -x .coldstart-manifest.json m "$R/m"

# run and bench, while a server that ignores SIGTERM starts: it gets its
# SIGTERM and a second, not the whole --stop-timeout (30 s), then SIGKILL.
F=${FIXTURES:?}/fakeserver
SRV="$F --port {port} --model {model} --never-ready --ignore-term"
# server_up: (bounded, 10 s) a fake server of this test runs -- its own
# command line, not one that names it in an argument.
server_up() {
	local _ p
	for _ in $(seq 200); do
		for p in $(marked_pids); do
			case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in "$F "*) return 0 ;; esac
		done
		sleep 0.05
	done
	return 1
}
"$COLDSTART" run --model m --server "$SRV" -q >/dev/null 2>&1 &
pid=$!
server_up
sig_ends "run, a server starting that ignores SIGTERM: SIGTERM ends it with 143" TERM 143 $pid
"$COLDSTART" bench --nvme m --modes nvme --repeat 2 --server "$SRV" --csv b.csv -q >/dev/null 2>&1 &
pid=$!
server_up
sig_ends "bench, the same: SIGINT ends it with 130" INT 130 $pid
check "... and no row claims a run" sh -c '[ ! -s b.csv ] || [ "$(wc -l < b.csv)" = 1 ]'
no_leftovers "... the servers are gone"

# An HTTP source that sends 100 bytes a second (nginx limit_rate): a
# ranged GET of a 10 MB shard never ends by itself, and never stalls.
if [ -x "$NGINX" ]; then
	mkdir -p www && cp -r m www/m
	nginx_conf "$SCRATCH/www" 'location ~ \.safetensors$ { limit_rate 100; }'
	at_exit stop_nginx
	start_nginx
	U=http://127.0.0.1:$PORT/m/
	"$COLDSTART" stage "$U" --root "$R" --name hm -q 2>stage.err &
	pid=$!
	copying $pid "$R/.partial/hm"
	sig_ends "stage of a slow URL: SIGTERM ends it with 143" TERM 143 $pid
	contains "... the partial copy is kept" "$(cat stage.err)" "partial copy is kept"
	"$COLDSTART" exec --stage "$U" --root "$R" --name hx -- /bin/true 2>exec.err &
	pid=$!
	copying $pid "$R/.partial/hx"
	sig_ends "exec while staging a slow URL: SIGTERM ends it with 143" TERM 143 $pid
	stop_nginx
	sed -i 's/limit_rate 100;//' "$SCRATCH/nginx.conf"   # the same port, full speed
	start_nginx
	expect_rc 0 "the same URL at full speed: stage resumes" "$COLDSTART" stage "$U" --root "$R" --name hm
	check "... an exact copy" diff -r -x .coldstart-manifest.json m "$R/hm"
	expect_rc 0 "... and so does exec's stage" "$COLDSTART" exec --stage "$U" --root "$R" --name hx -- /bin/true
	stop_nginx
else
	_t_report 0 "# SKIP nginx is not installed: no slow-URL checks"
fi

# A mount that delivers 1 KB/s (netsim): reads wait in the kernel, where a
# handled signal does not reach them.
if [ "$(id -u)" = 0 ] && [ -c /dev/fuse ]; then
	at_exit 'for m in $(awk "\$3==\"fuse.coldstart-netsim\" {print \$2}" /proc/self/mounts | grep "^$SCRATCH"); do umount -l "$m"; done'
	mkdir mp
	"$COLDSTART" netsim m mp --bw 1KB/s >/dev/null
	"$COLDSTART" pages evict mp -q >/dev/null 2>&1
	"$COLDSTART" stage mp --root "$R" --name slow -q 2>stage.err &
	pid=$!
	sleep 1
	sig_ends "stage from a slow mount, stuck in a read: SIGTERM ends it with 143" TERM 143 $pid
	"$COLDSTART" pages warm mp -q 2>/dev/null &
	pid=$!
	sleep 1
	sig_ends "pages warm of a slow mount: SIGINT ends it with 130" INT 130 $pid
	"$COLDSTART" probe mp --device host >/dev/null 2>&1 &
	pid=$!
	sleep 1
	sig_ends "probe of a slow mount: SIGTERM ends it with 143" TERM 143 $pid
	# cache verify reading a root back through the slow mount.
	"$COLDSTART" stage m --root "$SCRATCH/vroot" --name v --verify xxh3 -q >/dev/null
	mkdir vmp
	"$COLDSTART" netsim "$SCRATCH/vroot" vmp --bw 1KB/s >/dev/null
	"$COLDSTART" cache verify v --root vmp >/dev/null 2>&1 &
	pid=$!
	sleep 1
	sig_ends "cache verify of a root on a slow mount: SIGTERM ends it with 143" TERM 143 $pid
	"$COLDSTART" netsim --unmount vmp >/dev/null
	# The daemon itself, with reads throttled in it.
	cat mp/model-00001-of-00004.safetensors >/dev/null 2>&1 &
	cpid=$!
	sleep 0.5
	npid=$(marked_with "netsim m mp")
	check "the netsim daemon is found" [ -n "$npid" ]
	kill -TERM $npid
	ends $npid
	check "netsim, reads throttled in it: SIGTERM ends it (and unmounts)" sh -c '! grep -q " $1 fuse.coldstart-netsim " /proc/self/mounts' _ "$SCRATCH/mp"
	ends $cpid || true
	"$COLDSTART" netsim m mp >/dev/null
	expect_rc 0 "the same mount at full speed: stage resumes" "$COLDSTART" stage mp --root "$R" --name slow
	check "... an exact copy" diff -r -x .coldstart-manifest.json m "$R/slow"
	"$COLDSTART" netsim --unmount mp >/dev/null
else
	_t_report 0 "# SKIP no FUSE here (root and /dev/fuse): no slow-mount checks"
fi
no_leftovers "no process left"
done_testing
