#!/usr/bin/env bash
# A writer killed while writing a name that no later run writes again still
# leaves nothing behind: a split GGUF set rewritten with another number of
# parts (its parts have other names), and a safetensors checkpoint whose
# directory is never written again (a later mkmodel of another directory
# beside it sweeps the dead partial). A live writer's partial stays.
. "$(dirname "$0")/lib.sh"
killed_at() { # KiB CMD...: run CMD under a file-size limit; 0 when SIGXFSZ killed it
	local rc
	{ (ulimit -c 0; ulimit -f "$1"; shift; exec "$@") >/dev/null 2>&1; rc=$?; } 2>/dev/null
	[ "$rc" = $((128 + 25)) ]
}
temps() { ls -a "$1" | grep -c -- "$2"; }

check "mkmodel of a split GGUF set killed mid-part" killed_at 2000 "$COLDSTART" mkmodel sp --preset tiny \
	--format gguf --shard-size 10M -q
n=$(ls -a sp | grep -c '\.gguf\.tmp-')
check "... left a part's temporary" [ "$n" -ge 1 ]
expect_rc 0 "the set written again with another number of parts" "$COLDSTART" mkmodel sp --preset tiny \
	--format gguf --shard-size 20M -q -f
check "removed the killed writer's temporary, though no part has its name" [ "$(temps sp 'tmp-')" = 0 ]
expect_rc 0 "and the new set is a model" "$COLDSTART" inspect sp

check "mkmodel of a safetensors checkpoint killed mid-write" killed_at 2000 "$COLDSTART" mkmodel big --preset tiny -q
check "... left its partial beside the directory" [ "$(temps . '^\.big\.mkmodel-partial-')" = 1 ]
expect_rc 0 "a checkpoint into another directory beside it" "$COLDSTART" mkmodel other --preset tiny -q
check "removed the dead writer's partial of 'big'" [ "$(temps . 'mkmodel-partial-')" = 0 ]

# A live writer's partial is not touched: one whose lock is held (by this
# shell, as fs_temp_create holds it) survives the sweep.
mkdir .live.mkmodel-partial-123-0123abcd
exec {lockfd}<.live.mkmodel-partial-123-0123abcd
flock -x "$lockfd"
expect_rc 0 "another mkmodel beside a live writer's partial" "$COLDSTART" mkmodel third --preset tiny -q
check "leaves the live writer's partial" [ -d .live.mkmodel-partial-123-0123abcd ]
exec {lockfd}<&-
expect_rc 0 "once its writer is gone, the next mkmodel" "$COLDSTART" mkmodel fourth --preset tiny -q
check "removes it" [ ! -e .live.mkmodel-partial-123-0123abcd ]
done_testing
