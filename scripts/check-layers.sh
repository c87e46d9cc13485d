#!/bin/sh
# make check-layers: the engine (src/core, built as libcoldstart.a) reports
# through struct cs_err and callbacks, never to the terminal itself, never
# exits the process, and never reaches into the command side (src/cmd,
# cli.h). Checked on what the compiler produced -- the undefined symbols of
# every engine object -- and on the sources' includes.
# usage: check-layers.sh LIBCOLDSTART.a SOURCE...
set -u
lib=$1
shift
fail=0
# Printing to the terminal, exiting, and the command side's reporting.
forbidden='printf|vprintf|puts|putchar|perror|exit|stdout|stderr|__printf_chk|__vprintf_chk|error|error_errno|warning|die|die_errno|usage_error|cli_signal|cs_cmdname'
bad=$(nm -A -u "$lib" 2>/dev/null | awk '{print $1, $NF}' | grep -E " (${forbidden})(@.*)?$" || true)
if [ -n "$bad" ]; then
	echo "check-layers: engine objects use what only the command side may:" >&2
	echo "$bad" | sed 's/^/  /' >&2
	fail=1
fi
inc=$(grep -nE '#include +"(\.\./)?(cmd/|cli\.h|\.\./cli\.h)' "$@" 2>/dev/null || true)
if [ -n "$inc" ]; then
	echo "check-layers: engine sources include the command side:" >&2
	echo "$inc" | sed 's/^/  /' >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "check-layers: src/core neither prints, exits nor uses src/cmd ($(ar t "$lib" | wc -l) objects)"
exit $fail
