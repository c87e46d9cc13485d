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
inc=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]*/)?(cmd/[^">]*|cli\.h|opts\.h)[">]' "$@" 2>/dev/null || true)
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
dups=$(echo "$layers" | awk '{print $1}' | sort | uniq -d)
if [ -n "$dups" ]; then
	echo "check-layers: $table: a folder has more than one row in the layer table:" $dups >&2
	fail=1
fi
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
# Every include of another folder's header must go down the table, and
# another folder's _internal.h is private to it. An include is read however
# it is spelt ("core/F/x.h", <core/F/x.h>, "../F/x.h", "# include"), and
# resolved to the folder it names.
incs=$(printf '%s\n' "$@" | LAYERS="$layers" python3 -c '
import os, re, sys
lv = dict(l.split() for l in os.environ["LAYERS"].splitlines() if l.strip())
inc = re.compile(r"^\s*#\s*include\s*[<\"]([^\">]+)[\">]")
for src in sys.stdin.read().split():
    m = re.match(r"src/core/([^/]+)/", src)
    if not m:
        continue
    frm = m.group(1)
    for n, line in enumerate(open(src, errors="replace"), 1):
        i = inc.match(line)
        if not i:
            continue
        name = i.group(1)
        cands = [os.path.normpath(os.path.join(os.path.dirname(src), name)), os.path.normpath(os.path.join("src", name))]
        hit = next((c for c in cands if c.startswith("src/core/") and os.path.exists(c)), None)
        if not hit:
            if name.startswith("core/") or "../" in name:
                print(f"{src}:{n}: includes {name}, which is no engine header")
            continue
        parts = hit.split("/")
        to = parts[2] if len(parts) > 3 else None
        if to is None:
            print(f"{src}:{n}: includes {name}, directly under src/core/")
        elif to not in lv:
            print(f"{src}:{n}: includes from an unknown folder {to}/")
        elif to != frm and hit.endswith("_internal.h"):
            print(f"{src}:{n}: includes {to}/ (layer {lv[to]})'"'"'s {parts[-1]}: another folder'"'"'s _internal.h is included")
        elif to != frm and int(lv[to]) <= int(lv[frm]):
            print(f"{src}:{n}: {frm}/ (layer {lv[frm]}) includes {to}/ (layer {lv[to]})")
')
if [ -n "$incs" ]; then
	echo "check-layers: an include climbs or crosses the layer table ($table):" >&2
	echo "$incs" | sed 's/^/  /' >&2
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
