#!/usr/bin/env bash
# exec's prefetch (issue 27): on by default for a model that is not
# resident, off with --no-prefetch, none for a resident model; within a
# budget, the first part in the engine's read order and no more (here:
# shards without an index, in natural order, part-2 before part-10 though
# part-10 sorts first by name, and a file that is not the model's after
# them), each said on exec's stderr.
. "$(dirname "$0")/lib.sh"
"$COLDSTART" mkmodel m --preset tiny --shard-size 10M -q >/dev/null
evict() { "$COLDSTART" pages evict "$1" >/dev/null; }
resident() { # PATH: its resident bytes
	"$COLDSTART" pages status "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["resident_bytes"])'
}
evict m
if [ "$(resident m)" != 0 ]; then
	skip_all "the page cache keeps these files (tmpfs?): residency cannot be tested here"
fi

expect_rc 0 "exec with a model not resident" "$COLDSTART" exec --model m -- /bin/true
contains "prefetches by default, and says what, in which order and within which budget" "$err" \
	"exec: prefetch: warming "
contains "... in the engine's read order" "$err" "in the engine's read order (safetensors: shards by name, tensors by offset)"
contains "... and the memory budget" "$err" "memory allows "
evict m
expect_rc 0 "exec --no-prefetch" "$COLDSTART" exec --no-prefetch --model m -- /bin/true
lacks "... no prefetch" "$err" "prefetch"
"$COLDSTART" pages warm m >/dev/null 2>&1
expect_rc 0 "exec with a resident model" "$COLDSTART" exec --model m -- /bin/true
contains "... is not prefetched, and says why" "$err" "exec: prefetch: none: the model is resident"
expect_rc 2 "--no-prefetch with --prefetch-budget: refused" "$COLDSTART" exec --no-prefetch --prefetch-budget 1M \
	--model m -- /bin/true
expect_rc 2 "--no-prefetch with --prefetch (its default readers too): refused" "$COLDSTART" exec --no-prefetch \
	--prefetch=8 --model m -- /bin/true

# The order, seen in what is resident after a cut prefetch.
mkdir o
python3 - <<'PY'
import json, struct
def shard(path, name, nbytes):
    h = json.dumps({name: {"dtype": "F32", "shape": [nbytes // 4], "data_offsets": [0, nbytes]}}).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        f.write(bytes(range(256)) * (nbytes // 256))
shard("o/part-10.safetensors", "ten.weight", 8 << 20)
shard("o/part-2.safetensors", "two.weight", 8 << 20)
with open("o/a-extra.bin", "wb") as f:
    f.write(b"x" * (8 << 20))
PY
evict o
# The "server" waits (bounded) for the prefetch to have warmed its budget,
# and reads nothing of the model itself.
waiter="for i in \$(seq 300); do [ \$(\"$COLDSTART\" pages status o/part-2.safetensors --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"resident_bytes\"])') -ge 4194304 ] && exit 0; sleep 0.05; done; exit 1"
expect_rc 0 "exec --prefetch-budget 4M on a 24 MiB directory: the prefetch reaches its budget" \
	"$COLDSTART" exec --model o --prefetch-budget 4M -- sh -c "$waiter"
contains "... says it warms only the first part, where it stops, and the budget" "$err" \
	"only the first part in the engine's read order (safetensors: shards by name, tensors by offset), up to 'part-2.safetensors': the budget asked is 4.0 MiB"
check "part-2 (first in the engine's order) is resident" [ "$(resident o/part-2.safetensors)" -ge 4194304 ]
check "part-10 (after it, though first by name) is not" [ "$(resident o/part-10.safetensors)" -lt 1048576 ]
check "nor the file that is not the model's (first by name, read last)" [ "$(resident o/a-extra.bin)" -lt 1048576 ]
done_testing
