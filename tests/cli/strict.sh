# The strict stand-ins (tests/fixtures/fakeserver.c), sourced after lib.sh
# by the tests that pass a server its arguments.
#
#   F                      the fake server: refuses an unknown option, a
#                          stray operand, an option given twice (exit 2)
#   vllm_bin               a directory holding `vllm`, the stand-in that
#                          parses its command line as vLLM's CLI does
#                          ($VLLM_BIN, made once; put it on PATH)
#   expect_argv FILE ARG...  FILE lists the arguments a server must get,
#                          after argv[0], exactly ("{port}": any port, "{*}":
#                          any one argument); run the server with
#                          CS_EXPECT_ARGV=FILE: any difference is exit 99
#                          with both lists on its stderr
#   expect_env FILE LINE...  NAME=VALUE, NAME (set) or -NAME (unset), for
#                          CS_EXPECT_ENV=FILE
F=${FIXTURES:?FIXTURES must point at the built fixtures}/fakeserver
export F
EXIT_EXPECT=99

vllm_bin() {
	VLLM_BIN=$SCRATCH/vllm-bin
	if [ ! -e "$VLLM_BIN/vllm" ]; then
		mkdir -p "$VLLM_BIN"
		ln -s "$F" "$VLLM_BIN/vllm"
	fi
	echo "$VLLM_BIN"
}

expect_argv() {
	local file=$1
	shift
	: > "$file"
	[ $# = 0 ] || printf '%s\n' "$@" > "$file"
}

expect_env() {
	local file=$1
	shift
	printf '%s\n' "$@" > "$file"
}
