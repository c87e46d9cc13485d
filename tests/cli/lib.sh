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

# Run a command at exit (before the scratch directory is removed).
at_exit() { _t_cleanups+=("$*"); }

_t_cleanup() {
	local i
	for ((i = ${#_t_cleanups[@]} - 1; i >= 0; i--)); do eval "${_t_cleanups[$i]}" || true; done
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

# skip_all REASON: the whole file does not apply here.
skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

done_testing() {
	echo "1..$_t_n"
	[ "$_t_fail" = 0 ]
}
