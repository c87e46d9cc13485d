# Shared helpers for tests/cli/tNNNN-*.sh: TAP output, a scratch directory
# per test file (removed on exit), and assertions on exit status and output.
# Each test script: `. "$(dirname "$0")/lib.sh"`, then assertions, then `done_testing`.
set -u

: "${COLDSTART:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/coldstart}"
export COLDSTART
FIXTURES_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures" && pwd)
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export FIXTURES_SRC REPO_ROOT

_t_n=0
_t_fail=0
_t_cleanups=()

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/coldstart-test.XXXXXX")
export SCRATCH
cd "$SCRATCH" || exit 1

# Every process this test starts (coldstart, its guard, servers, their
# orphans, netsim daemons) inherits this marker in its environment: tests
# find their own processes by it, never by a command name.
CS_TEST_MARK="coldstart-test-$$-$RANDOM$RANDOM"
export CS_TEST_MARK

# marked_pids: live processes carrying this test's marker, except this shell
# and the subshell running the function (pure bash: the scan starts nothing).
marked_pids() {
	local p pid v
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
		while IFS= read -r -d '' v; do
			if [ "$v" = "CS_TEST_MARK=$CS_TEST_MARK" ]; then
				echo "$pid"
				break
			fi
		done 2>/dev/null <"$p/environ"
	done
}

# marked_with TEXT: this test's processes whose command line contains TEXT.
marked_with() {
	local pid c
	for pid in $(marked_pids); do
		c=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
		case "$c" in *"$1"*) echo "$pid" ;; esac
	done
}

# kill_marked: SIGKILL every process of this test (cleanup).
kill_marked() {
	local pid
	for pid in $(marked_pids); do kill -9 "$pid" 2>/dev/null; done
	return 0
}

# no_leftovers DESC [GRACE_S]: after at most GRACE_S seconds (default 2), no
# process of this test is alive; the stragglers are listed and killed.
no_leftovers() {
	local desc=$1 grace=${2:-2} left i
	for ((i = 0; i < grace * 20; i++)); do
		left=$(marked_pids)
		[ -z "$left" ] && break
		sleep 0.05
	done
	left=$(marked_pids)
	if [ -z "$left" ]; then _t_report 0 "$desc"; else
		_t_report 1 "$desc" "still alive: $(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null; echo " [$p]"; done)"
		kill_marked
	fi
}

# journal_has ROOT NAME N: wait (bounded, 10 s) until NAME's staging journal
# under ROOT holds N chunk records -- the moment to kill -9 a stage mid-copy.
journal_has() {
	local _
	for _ in $(seq 200); do
		[ "$(grep -c '^c ' "$1/.partial/$2.journal" 2>/dev/null)" -ge "$3" ] 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# Run a command at exit (before the scratch directory is removed).
at_exit() { _t_cleanups+=("$*"); }

_t_cleanup() {
	local i
	for ((i = ${#_t_cleanups[@]} - 1; i >= 0; i--)); do eval "${_t_cleanups[$i]}" || true; done
	kill_marked
	cd / && rm -rf "$SCRATCH"
}
trap _t_cleanup EXIT

_t_report() { # status description [diagnostic...]
	local st=$1 desc=$2
	shift 2
	_t_n=$((_t_n + 1))
	if [ "$st" = 0 ]; then
		echo "ok $_t_n - $desc"
	else
		_t_fail=$((_t_fail + 1))
		echo "not ok $_t_n - $desc"
		local line
		for line in "$@"; do printf '%s\n' "$line" | sed 's/^/#   /'; done
	fi
}

# run CMD...: runs it, keeping exit status in $rc, stdout in $out, stderr in $err.
run() {
	"$@" >"$SCRATCH/.out" 2>"$SCRATCH/.err"
	rc=$?
	out=$(cat "$SCRATCH/.out")
	err=$(cat "$SCRATCH/.err")
}

# expect_rc N DESC CMD...
expect_rc() {
	local want=$1 desc=$2
	shift 2
	run "$@"
	if [ "$rc" = "$want" ]; then _t_report 0 "$desc"; else
		_t_report 1 "$desc" "command: $*" "exit status $rc, expected $want" "stdout: $out" "stderr: $err"
	fi
}

# ok_cond DESC TEST-EXPRESSION...   (as for `test`)
check() {
	local desc=$1
	shift
	if "$@"; then _t_report 0 "$desc"; else _t_report 1 "$desc" "failed: $*"; fi
}

# check_not DESC CMD...: passes when CMD fails
check_not() {
	local desc=$1
	shift
	if "$@"; then _t_report 1 "$desc" "succeeded, expected failure: $*"; else _t_report 0 "$desc"; fi
}

# contains DESC HAYSTACK NEEDLE
contains() {
	case "$2" in
	*"$3"*) _t_report 0 "$1" ;;
	*) _t_report 1 "$1" "expected to find: $3" "in: $2" ;;
	esac
}

# lacks DESC HAYSTACK NEEDLE
lacks() {
	case "$2" in
	*"$3"*) _t_report 1 "$1" "expected not to find: $3" "in: $2" ;;
	*) _t_report 0 "$1" ;;
	esac
}

# same DIR1 DIR2: the two trees hold the same files, byte for byte (a
# staged copy's .coldstart-manifest.json left out).
same() { diff -r -x .coldstart-manifest.json "$1" "$2" >/dev/null; }

# jget JSON EXPR: prints Python's str() of the expression EXPR, in which d is
# the JSON text parsed (e.g. jget "$out" 'd["noop"], d["copied_bytes"]'
# prints "(True, 0)"); fails when the JSON or EXPR does.
jget() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# json_is DESC JSON EXPR EXPECTED: passes when jget JSON EXPR succeeds and
# prints exactly EXPECTED.
json_is() {
	local got
	if got=$(jget "$2" "$3" 2>&1) && [ "$got" = "$4" ]; then _t_report 0 "$1"; else
		_t_report 1 "$1" "expression: $3" "got: $got" "expected: $4"
	fi
}

# json_ok DESC JSON CODE: passes when the Python CODE holds, d being the JSON
# text parsed (json, sys and re imported): an expression must be true, and
# statements (asserts) must run without raising.
json_ok() {
	local msg
	if msg=$(python3 -c '
import json,re,sys
d=json.loads(sys.argv[1])
try:
	c=compile(sys.argv[2],"<check>","eval")
except SyntaxError:
	c=None
if c is None:
	exec(compile(sys.argv[2],"<check>","exec"))
else:
	assert eval(c), d
' "$2" "$3" 2>&1); then _t_report 0 "$1"; else
		_t_report 1 "$1" "check: $3" "$msg"
	fi
}

# skip_all REASON: the whole file does not apply here.
skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

done_testing() {
	echo "1..$_t_n"
	[ "$_t_fail" = 0 ]
}
