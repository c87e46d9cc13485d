#!/usr/bin/env bash
# Writers killed mid-write leave temporaries that the next run removes:
# report's files, stage's journal and exec's ready file (the atomic file
# write under all three), and removed copies a killed stager left in .trash.
# (mkmodel's, kill -9 in and out of a PID namespace, and a live writer's
# left alone: t0010.)
#
# The kill is deterministic: a file-size limit (ulimit -f, KiB) makes the
# kernel send SIGXFSZ, which coldstart does not catch, the moment a write
# passes it -- mid-write, as a kill -9 would land, with the temporary open.
. "$(dirname "$0")/lib.sh"
killed_at() { # KiB CMD...: run CMD under the limit; 0 when SIGXFSZ killed it
	local rc
	{ (ulimit -c 0; ulimit -f "$1"; shift; exec "$@") >/dev/null 2>&1; rc=$?; } 2>/dev/null
	[ "$rc" = $((128 + 25)) ]
}
temps() { ls -a "$1" | grep -c -- "$2"; }

# report: its Markdown written to .bench.md.tmp-PID-XXXXXXXX, then renamed.
cp "$FIXTURES_SRC/report/bench.csv" "$FIXTURES_SRC/report/bench.meta.json" .
check "report killed while writing its Markdown" killed_at 1 "$COLDSTART" report bench.csv -q
check "... left its temporary, recognisable by the target's name" [ "$(temps . '^\.bench\.md\.tmp-')" = 1 ]
check "... and no bench.md" [ ! -e bench.md ]
expect_rc 0 "the next report" "$COLDSTART" report bench.csv -q
check "removed the killed report's temporary" [ "$(temps . 'bench.md.tmp')" = 0 ]
mkdir ref && cp bench.csv bench.meta.json ref/ && (cd ref && "$COLDSTART" report bench.csv -q)
check "and wrote the whole report" cmp -s bench.md ref/bench.md
check "the chart too" cmp -s bench.svg ref/bench.svg

# stage: its journal, written the same way, under ROOT/.partial.
mkdir -p kc
for i in $(seq 1 30); do echo "kernel $i" >"kc/a-kernel-file-with-a-long-name-$i.py"; done
R=$SCRATCH/root
check "stage killed while writing its journal" killed_at 1 "$COLDSTART" stage kc --root "$R" --kind dir -q
check "... left the journal's temporary" [ "$(temps "$R/.partial" '^\.kc\.journal\.tmp-')" = 1 ]
expect_rc 0 "the next stage" "$COLDSTART" stage kc --root "$R" --kind dir -q
check "removed it" [ "$(temps "$R/.partial" 'tmp')" = 0 ]
check "and staged the directory" diff -r -x .coldstart-manifest.json kc "$R/kc"

# A removed copy that a killed stager did not finish deleting (.trash/NAME.PID.NS):
# garbage by definition, removed by the next stage of NAME, even a no-op.
mkdir -p "$R/.trash/kc.999999.123456789" "$R/.trash/kc2.999999.123456789"
head -c 100000 /dev/urandom >"$R/.trash/kc.999999.123456789/model.safetensors"
expect_rc 0 "the next stage of kc (a no-op)" "$COLDSTART" stage kc --root "$R" --kind dir
contains "a no-op" "$err" "already staged"
check "removed kc's leftover in .trash" [ ! -e "$R/.trash/kc.999999.123456789" ]
check "but not another name's" [ -e "$R/.trash/kc2.999999.123456789" ]
# exec: its ready file, written through the same temporary (a model path of
# over 1 KiB makes the small file pass the limit). The guard stops the server.
long=$SCRATCH
for i in 1 2 3 4 5; do long=$long/$(printf 'd%.0s' $(seq 230)); done
mkdir -p "$long" && "$COLDSTART" mkmodel "$long/m" --preset tiny -q >/dev/null
check "exec killed while writing its ready file" killed_at 1 "$COLDSTART" exec --model "$long/m" \
	--ready-file exec.ready -- /bin/sleep 30
check "... left its temporary, recognisable by the ready file's name" [ "$(temps . '^\.exec\.ready\.tmp-')" = 1 ]
check "... and no ready file" [ ! -e exec.ready ]
expect_rc 0 "the next exec" "$COLDSTART" exec -q --model "$long/m" --ready-file exec.ready -- /bin/true
check "removed the killed exec's temporary" [ "$(temps . 'exec.ready')" = 0 ]
no_leftovers "the killed exec's server went with it"
done_testing
