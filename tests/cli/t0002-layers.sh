#!/usr/bin/env bash
# make check-layers reads the folders' order from docs/ARCHITECTURE.md and
# refuses an include that climbs it, a folder missing from the table, a row
# for a folder that does not exist, another folder's _internal.h, and a file
# left directly under src/core/. Run on a copy of the sources, so the checks
# can be made to fail.
. "$(dirname "$0")/lib.sh"

tree="$SCRATCH/tree"
mkdir -p "$tree"
cp -r "$REPO_ROOT/src" "$REPO_ROOT/scripts" "$tree/"
mkdir -p "$tree/docs"
cp "$REPO_ROOT/docs/ARCHITECTURE.md" "$tree/docs/"
# An engine library with nothing undefined: only the include rules are tested.
printf 'int cs_layers_probe(void);\nint cs_layers_probe(void) { return 0; }\n' >"$tree/probe.c"
cc -c -o "$tree/probe.o" "$tree/probe.c" && ar rcs "$tree/lib.a" "$tree/probe.o"

layers() {
	(cd "$tree" && sh scripts/check-layers.sh docs/ARCHITECTURE.md lib.a \
		$(ls src/core/*/*.c src/core/*/*.h 2>/dev/null) $(ls src/core/*.[ch] 2>/dev/null))
}

expect_rc 0 "the tree as committed passes" layers
contains "and names the table" "$out" "folders in the order of docs/ARCHITECTURE.md"

sed -i '1i #include "core/bench/bench.h"' "$tree/src/core/io/shaper.c"
expect_rc 1 "io/ including bench/ (a folder above it) fails" layers
contains "naming the file, the line and both layers" "$err" "src/core/io/shaper.c:1: io/ (layer 4) includes bench/ (layer 1)"
sed -i '1d' "$tree/src/core/io/shaper.c"

sed -i '1i #include "core/source/httpsrc.h"' "$tree/src/core/run/proc.c"
expect_rc 1 "run/ including source/ (the same layer) fails" layers
contains "crossing the same layer is named" "$err" "run/ (layer 3) includes source/ (layer 3)"
sed -i '1d' "$tree/src/core/run/proc.c"

for spelling in '#include "../bench/bench.h"' '#include <core/bench/bench.h>' '#  include "core/bench/bench.h"' \
	'#include	"core/bench/bench.h"'; do
	printf '%b\n' "$spelling" | cat - "$tree/src/core/io/shaper.c" >"$tree/x" && mv "$tree/x" "$tree/src/core/io/shaper.c"
	expect_rc 1 "the climb spelt $spelling fails too" layers
	contains "... named" "$err" "src/core/io/shaper.c:1: io/ (layer 4) includes bench/ (layer 1)"
	sed -i '1d' "$tree/src/core/io/shaper.c"
done

sed -i '1i #include "core/stage/stagecache_internal.h"' "$tree/src/core/bench/bench.c"
expect_rc 1 "another folder's _internal.h fails" layers
contains "and is named" "$err" "another folder's _internal.h is included"
sed -i '1d' "$tree/src/core/bench/bench.c"

mkdir "$tree/src/core/extra"
expect_rc 1 "a folder missing from the table fails" layers
contains "it is named" "$err" "src/core/extra/ is not in the layer table"
rmdir "$tree/src/core/extra"

sed -i 's/^| 3 | `netsim\/` |/| 3 | `netsimx\/` |/' "$tree/docs/ARCHITECTURE.md"
expect_rc 1 "a row for a folder that does not exist fails" layers
contains "the row is named" "$err" "names src/core/netsimx/, which does not exist"
cp "$REPO_ROOT/docs/ARCHITECTURE.md" "$tree/docs/"

: >"$tree/src/core/loose.c"
expect_rc 1 "a file directly under src/core/ fails" layers
contains "it is named" "$err" "src/core/loose.c"
rm "$tree/src/core/loose.c"

sed -i 's/^| 6 | `base\/` |\(.*\)$/| 6 | `base\/` |\1\n| 0 | `base\/` | again |/' "$tree/docs/ARCHITECTURE.md"
expect_rc 1 "a folder with two rows in the table fails" layers
contains "it is named" "$err" "more than one row in the layer table: base"
cp "$REPO_ROOT/docs/ARCHITECTURE.md" "$tree/docs/"

sed -i '/<!-- layers: begin -->/d' "$tree/docs/ARCHITECTURE.md"
expect_rc 1 "no table at all fails" layers
contains "and says where it looked" "$err" "no layer table"

cp "$REPO_ROOT/docs/ARCHITECTURE.md" "$tree/docs/"
expect_rc 0 "the tree restored passes again" layers

# Two engine files that call each other: a circle, however the headers
# are layered. A third that only calls one of them is not in it.
printf 'int cs_pong(int);\nint cs_ping(int n);\nint cs_ping(int n) { return n ? cs_pong(n - 1) : 0; }\n' >"$tree/ping.c"
printf 'int cs_ping(int);\nint cs_pong(int n);\nint cs_pong(int n) { return n ? cs_ping(n - 1) : 1; }\n' >"$tree/pong.c"
printf 'int cs_ping(int);\nint cs_user(void);\nint cs_user(void) { return cs_ping(3); }\n' >"$tree/user.c"
for f in ping pong user; do cc -c -o "$tree/$f.o" "$tree/$f.c"; done
circle() {
	(cd "$tree" && sh scripts/check-layers.sh docs/ARCHITECTURE.md "$1" $(ls src/core/*/*.c src/core/*/*.h))
}
ar rcs "$tree/calls.a" "$tree/user.o" "$tree/ping.o"
expect_rc 0 "files that call in one direction pass" circle calls.a
ar rcs "$tree/circle.a" "$tree/ping.o" "$tree/pong.o" "$tree/user.o"
expect_rc 1 "two files that call each other fail" circle circle.a
contains "the circle is named" "$err" "ping.o <-> pong.o"
lacks "a file that only calls into it is not" "$err" "user.o <->"

done_testing
