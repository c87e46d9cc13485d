#!/usr/bin/env bash
# The command-line skeleton: help, version, unknown commands, exit codes,
# stdout write errors.
. "$(dirname "$0")/lib.sh"

expect_rc 0 "--help exits 0" "$COLDSTART" --help
contains "--help lists mkmodel" "$out" "mkmodel"
contains "--help lists inspect" "$out" "inspect"
expect_rc 0 "--version exits 0" "$COLDSTART" --version
contains "--version prints the name" "$out" "coldstart "
expect_rc 2 "no arguments is a usage error" "$COLDSTART"
contains "no arguments prints usage" "$err" "usage: coldstart"

expect_rc 2 "unknown command exits 2" "$COLDSTART" mkmdoel
contains "unknown command suggests the nearest" "$err" "mkmodel"
expect_rc 2 "misspelled inspect" "$COLDSTART" inspekt
contains "suggests inspect" "$err" "inspect"
expect_rc 2 "unknown global option" "$COLDSTART" --frobnicate

for c in mkmodel inspect; do
	expect_rc 0 "$c --help exits 0" "$COLDSTART" "$c" --help
	contains "$c --help shows usage" "$out" "usage: coldstart $c"
	expect_rc 0 "help $c exits 0" "$COLDSTART" help "$c"
	contains "help $c shows the same usage" "$out" "usage: coldstart $c"
	expect_rc 2 "$c with an unknown option exits 2" "$COLDSTART" "$c" --no-such-option
	contains "$c names the bad option" "$err" "coldstart: $c: unknown option '--no-such-option'"
done
expect_rc 2 "help for an unknown command" "$COLDSTART" help nosuch

# Errors follow "coldstart: CMD: what failed: 'subject'".
expect_rc 1 "inspect of a missing path fails" "$COLDSTART" inspect "$SCRATCH/nope"
contains "error names command and subject" "$err" "coldstart: inspect: cannot open model '$SCRATCH/nope'"

# A write error on stdout is reported, not silent (/dev/full returns ENOSPC).
if [ -w /dev/full ]; then
	run "$COLDSTART" --help
	"$COLDSTART" --help >/dev/full 2>"$SCRATCH/e"
	rc=$?
	check "stdout to a full device exits 1" [ "$rc" = 1 ]
	contains "and says why" "$(cat "$SCRATCH/e")" "write failure on standard output"
	"$COLDSTART" mkmodel x --preset tiny --dry-run >/dev/full 2>"$SCRATCH/e"
	check "a command's stdout error exits 1" [ "$?" = 1 ]
fi

# Sizes and durations are parsed one way everywhere.
expect_rc 0 "shard size in MiB" "$COLDSTART" mkmodel m --preset tiny --shard-size 8MiB --dry-run
expect_rc 0 "shard size with a fraction" "$COLDSTART" mkmodel m --preset tiny --shard-size 0.5GB --dry-run
expect_rc 2 "bad size is a usage error" "$COLDSTART" mkmodel m --preset tiny --shard-size 12parsecs --dry-run
contains "bad size is named" "$err" "invalid --shard-size '12parsecs'"

done_testing
