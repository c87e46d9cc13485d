#!/bin/sh
# make check-layers: the engine (src/core, built as libcoldstart.a) reports
# through struct cs_err and callbacks, never to the terminal itself, never
# exits the process, and never reaches into the command side (src/cmd,
# cli.h). Checked on what the compiler produced -- the undefined symbols of
# every engine object -- and on the sources' includes. The engine's folders
# are layered: the table between "<!-- layers: begin -->" and
# "<!-- layers: end -->" in TABLE.md gives each folder its layer (1 = top);
# a folder includes only folders on a larger layer number.
# usage: check-layers.sh TABLE.md LIBCOLDSTART.a SOURCE...
set -u
table=$1
lib=$2
shift 2
fail=0
# Printing to the terminal, exiting, and the command side's reporting.
forbidden='printf|vprintf|puts|putchar|perror|exit|stdout|stderr|__printf_chk|__vprintf_chk|error|error_errno|warning|die|die_errno|usage_error|cli_signal|cs_cmdname'
bad=$(nm -A -u "$lib" 2>/dev/null | awk '{print $1, $NF}' | grep -E " (${forbidden})(@.*)?$" || true)
if [ -n "$bad" ]; then
	echo "check-layers: engine objects use what only the command side may:" >&2
	echo "$bad" | sed 's/^/  /' >&2
	fail=1
fi
inc=$(grep -nE '#include +"(\.\./)*(cmd/|cli\.h|opts\.h)' "$@" 2>/dev/null || true)
if [ -n "$inc" ]; then
	echo "check-layers: engine sources include the command side:" >&2
	echo "$inc" | sed 's/^/  /' >&2
	fail=1
fi

# The layer table: "| N | `folder/` | ..." rows between the markers.
layers=$(awk '/<!-- layers: begin -->/ { on = 1; next }
	/<!-- layers: end -->/ { on = 0 }
	on && /^\| *[0-9]+ *\|/ {
		split($0, c, "|"); n = c[2]; f = c[3]
		gsub(/[ `\/]/, "", n); gsub(/[ `\/]/, "", f); print f, n
	}' "$table")
if [ -z "$layers" ]; then
	echo "check-layers: $table: no layer table between <!-- layers: begin --> and <!-- layers: end -->" >&2
	exit 1
fi
for d in src/core/*/; do
	d=$(basename "$d")
	echo "$layers" | grep -q "^$d " || {
		echo "check-layers: src/core/$d/ is not in the layer table of $table" >&2
		fail=1
	}
done
for f in $(echo "$layers" | awk '{print $1}'); do
	[ -d "src/core/$f" ] || {
		echo "check-layers: $table names src/core/$f/, which does not exist" >&2
		fail=1
	}
done
[ -z "$(ls src/core/*.[ch] 2>/dev/null)" ] || {
	echo "check-layers: files directly under src/core/ belong in a folder:" $(ls src/core/*.[ch]) >&2
	fail=1
}
# Every include of another folder's header must go down the table.
climb=$(for src in "$@"; do
	from=$(echo "$src" | sed -n 's|^src/core/\([^/]*\)/.*|\1|p')
	[ -n "$from" ] || continue
	grep -nE '#include +"' "$src" | sed -n 's|^\([0-9]*\):#include *"\(core/\)\{0,1\}\([a-z_]*\)/[^"]*".*|\1 \3|p' |
	while read -r line to; do
		echo "$src $line $from $to"
	done
done | awk -v L="$layers" '
	BEGIN { n = split(L, rows, "\n"); for (i = 1; i <= n; i++) { split(rows[i], r, " "); lv[r[1]] = r[2] } }
	{
		src = $1; line = $2; from = $3; to = $4
		if (!(to in lv)) { print src ":" line ": includes from an unknown folder " to "/"; next }
		if (to == from) next
		if (to ~ /_internal/) next
		if (lv[to] <= lv[from]) print src ":" line ": " from "/ (layer " lv[from] ") includes " to "/ (layer " lv[to] ")"
	}')
if [ -n "$climb" ]; then
	echo "check-layers: an include climbs or crosses the layer table ($table):" >&2
	echo "$climb" | sed 's/^/  /' >&2
	fail=1
fi
# Another folder's _internal.h is private to it.
priv=$(for src in "$@"; do
	from=$(echo "$src" | sed -n 's|^src/core/\([^/]*\)/.*|\1|p')
	grep -nE '#include +"core/[a-z_]+/[a-z_]+_internal\.h"' "$src" | while IFS= read -r l; do
		to=$(echo "$l" | sed 's|.*"core/\([a-z_]*\)/.*|\1|')
		[ "$to" = "$from" ] || echo "$src:$l"
	done
done)
if [ -n "$priv" ]; then
	echo "check-layers: another folder's _internal.h is included:" >&2
	echo "$priv" | sed 's/^/  /' >&2
	fail=1
fi
# No circle of calls between the engine's files: from each object's
# defined and undefined symbols, the files each file calls; a strongly
# connected set of more than one file is a circle (a table that names its
# rows is a call too: the rows then must not call back into the table's
# file).
circles=$(nm -A "$lib" 2>/dev/null | python3 -c '
import sys, collections
defs, uses = {}, collections.defaultdict(set)
for line in sys.stdin:
    head, _, rest = line.rstrip("\n").rpartition(":")
    obj = head.split(":")[-1] if ":" in head else head
    f = rest.split()
    if len(f) == 3 and f[1] in "TDRBC":
        defs[f[2]] = obj
    elif len(f) == 2 and f[0] == "U":
        uses[obj].add(f[1])
calls = {o: {defs[s] for s in u if s in defs and defs[s] != o} for o, u in uses.items()}
index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in sorted(calls.get(v, ())):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            out.append(" <-> ".join(sorted(comp)))
sys.setrecursionlimit(100000)
for v in sorted(calls):
    if v not in index:
        visit(v)
print("\n".join(out))
')
if [ -n "$circles" ]; then
	echo "check-layers: engine files call each other in a circle (objects of $lib):" >&2
	echo "$circles" | sed 's/^/  /' >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "check-layers: src/core neither prints, exits nor uses src/cmd ($(ar t "$lib" | wc -l) objects, no circle of calls); $(echo "$layers" | wc -l) folders in the order of $table"
exit $fail
