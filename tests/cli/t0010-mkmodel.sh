#!/usr/bin/env bash
# mkmodel: layouts, parameter counts, determinism, refusals, atomicity.
. "$(dirname "$0")/lib.sh"


# Full-size parameter counts from the shapes, without writing data.
for p in "qwen2.5-0.5b 494032768" "llama-3.2-1b 1235814400" "qwen2.5-7b 7615616512" "llama-3.1-8b 8030261248"; do
	set -- $p
	run "$COLDSTART" mkmodel "x-$1" --preset "$1" --dry-run --json
	check "$1 dry run exits 0" [ "$rc" = 0 ]
	json_is "$1 has $2 parameters" "$out" 'd["parameters"]' "$2"
	check "dry run wrote nothing for $1" [ ! -e "x-$1" ]
done

# Real presets written with few layers, then inspected.
expect_rc 0 "write qwen2.5-7b with 1 layer, 300M shards" "$COLDSTART" mkmodel q7 --preset qwen2.5-7b --layers 1 --shard-size 300M -q
check "prints the directory on stdout" [ "$out" = q7 ]
check "index written" [ -f q7/model.safetensors.index.json ]
check "config written" [ -f q7/config.json ]
check "generation config written" [ -f q7/generation_config.json ]
# embed 1.09 GB | attention + gate 194 MB | up + down + norms 271 MB | lm_head 1.09 GB
check "4 shards, named as transformers names them" [ "$(ls q7 | grep -c '^model-0000[1-4]-of-00004.safetensors$')" = 4 ]
expect_rc 0 "inspect validates it" "$COLDSTART" inspect q7 --json
# embed + lm_head 544,997,376 each, one layer 233,057,792, norm 3,584
json_is "1-layer qwen2.5-7b parameter count" "$out" 'd["parameters"]' 1323056128

expect_rc 0 "write llama-3.2-1b with 2 layers in fp16" "$COLDSTART" mkmodel l1 --preset llama-3.2-1b --layers 2 --dtype fp16 -q
run "$COLDSTART" inspect l1 --json
# embed 262,668,288 (tied, no lm_head), 2 layers x 60,821,504, norm 2,048
json_is "2-layer llama-3.2-1b parameter count" "$out" 'd["parameters"]' 384313344
contains "fp16 in config" "$(cat l1/config.json)" '"torch_dtype": "float16"'
check "single file when under the shard size" [ -f l1/model.safetensors ] && check "no index for one file" [ ! -e l1/model.safetensors.index.json ]

# Same seed, same bytes; another seed, other bytes.
"$COLDSTART" mkmodel t1 --preset tiny -q >/dev/null
"$COLDSTART" mkmodel t2 --preset tiny -q >/dev/null
"$COLDSTART" mkmodel t3 --preset tiny --seed 9 -q >/dev/null
check "same seed gives identical files" cmp -s t1/model.safetensors t2/model.safetensors
check_not "another seed gives other data" cmp -s t1/model.safetensors t3/model.safetensors
# Incompressible: gzip saves little.
sz=$(stat -c %s t1/model.safetensors)
gz=$(gzip -1 -c t1/model.safetensors | wc -c)
check "data is nearly incompressible (gzip keeps > 70%: $gz / $sz)" [ $((gz * 100 / sz)) -gt 70 ]

# Refusals.
expect_rc 1 "refuses a non-empty directory" "$COLDSTART" mkmodel t1 --preset tiny --layers 1
contains "says to use --force" "$err" "--force"
check "the old model is untouched" cmp -s t1/model.safetensors t2/model.safetensors
expect_rc 0 "--force replaces it" "$COLDSTART" mkmodel t1 --preset tiny --layers 1 --force -q
check_not "replaced content differs" cmp -s t1/model.safetensors t2/model.safetensors
mkdir empty
expect_rc 0 "an existing empty directory is fine" "$COLDSTART" mkmodel empty --preset tiny -q
check "model written into it" [ -f empty/model.safetensors ]
expect_rc 0 "missing parent directories are created" "$COLDSTART" mkmodel deep/er/m --preset tiny -q
expect_rc 2 "missing --preset" "$COLDSTART" mkmodel m
expect_rc 2 "unknown preset lists the help" "$COLDSTART" mkmodel m --preset gpt-17
contains "names the preset" "$err" "unknown preset 'gpt-17'"
expect_rc 2 "bad dtype" "$COLDSTART" mkmodel m --preset tiny --dtype int4
expect_rc 2 "bad layers" "$COLDSTART" mkmodel m --preset tiny --layers 0

# Free space is checked first: a 4 MiB tmpfs cannot hold 37 MB (needs root for mount).
if [ "$(id -u)" = 0 ] && mkdir small && mount -t tmpfs -o size=4m tmpfs small 2>/dev/null; then
	at_exit "umount '$SCRATCH/small'"
	expect_rc 1 "not enough space is refused before writing" "$COLDSTART" mkmodel small/m --preset tiny
	contains "says how much is needed" "$err" "not enough space"
	check "nothing left on the small file system" [ -z "$(ls -A small)" ]
	expect_rc 1 "a non-empty mount point is refused even with --force" "$COLDSTART" mkmodel small --preset tiny --force --layers 1
	umount small
	mount -t tmpfs -o size=64m tmpfs small
	expect_rc 0 "an empty mount point receives the files" "$COLDSTART" mkmodel small --preset tiny -q
	expect_rc 0 "and they validate" "$COLDSTART" inspect small
	check "no partial directory left in the mount" [ -z "$(ls -A small | grep partial)" ]
fi

# Ctrl-C mid-write leaves nothing that looks like a model (and exits 130).
"$COLDSTART" mkmodel big --preset qwen2.5-0.5b -q 2>/dev/null &
pid=$!
for _ in $(seq 1 200); do
	ls -a | grep -q 'big.mkmodel-partial' && break
	sleep 0.01
done
kill -INT "$pid"
wait "$pid"
rc=$?
if [ -e big ]; then
	# It finished before the signal: then it must be complete.
	expect_rc 0 "finished before the signal: complete" "$COLDSTART" inspect big
else
	check "interrupted mkmodel exits 130" [ "$rc" = 130 ]
	check "no target directory after interrupt" [ ! -e big ]
fi
check "no partial directory after interrupt" [ -z "$(ls -a | grep partial)" ]

# kill -9 mid-write leaves a hidden partial; the next mkmodel removes it.
rm -rf big
"$COLDSTART" mkmodel big --preset qwen2.5-0.5b -q 2>/dev/null &
pid=$!
for _ in $(seq 1 200); do
	ls -a | grep -q 'big.mkmodel-partial' && break
	sleep 0.01
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
if [ ! -e big ]; then
	check "kill -9: no target directory" [ ! -e big ]
	expect_rc 0 "the next mkmodel" "$COLDSTART" mkmodel big --preset tiny -q
	check "removed the killed writer's partial" [ -z "$(ls -a | grep partial)" ]
fi
rm -rf big

# wait_for GLOB: bounded (4 s) wait until a name matching GLOB is in the
# current directory (hidden names included).
wait_for() {
	local _ f
	for _ in $(seq 1 400); do
		for f in $1; do [ -e "$f" ] && return 0; done
		sleep 0.01
	done
	return 1
}
left() { ls -a | grep -c -- "$1"; }

# kill -9 of a writer in its own PID namespace (a container): the PID in
# its partial's name means nothing here -- 1 is alive -- so only the lock
# it held can show it is dead.
if [ "$(id -u)" = 0 ] && unshare --pid --fork true 2>/dev/null; then
	unshare --pid --fork "$COLDSTART" mkmodel ns --preset llama-3.2-1b --layers 2 -q 2>/dev/null &
	up=$!
	wait_for '.ns.mkmodel-partial-*'
	check "the namespaced writer started (its partial appeared)" [ "$(left '^\.ns\.mkmodel-partial-')" = 1 ]
	kill -9 "$(cat /proc/$up/task/$up/children 2>/dev/null)" 2>/dev/null
	wait "$up" 2>/dev/null
	if [ ! -e ns ]; then
		expect_rc 0 "the next mkmodel of ns" "$COLDSTART" mkmodel ns --preset tiny -q
		check "removed the killed namespaced writer's partial" [ "$(left 'ns.mkmodel-partial')" = 0 ]
		expect_rc 0 "and wrote a valid model" "$COLDSTART" inspect ns
	fi
	rm -rf ns
fi

# GGUF: kill -9 mid-write; the next write of the same file removes the part.
"$COLDSTART" mkmodel g.gguf --format gguf --preset llama-3.2-1b --layers 2 -q 2>/dev/null &
pid=$!
wait_for '.g.gguf.tmp-*'
check "the gguf writer started (its temporary appeared)" [ "$(left '^\.g\.gguf\.tmp-')" = 1 ]
kill -9 "$pid"
wait "$pid" 2>/dev/null
if [ ! -e g.gguf ]; then
	expect_rc 0 "the next mkmodel of g.gguf" "$COLDSTART" mkmodel g.gguf --format gguf --preset tiny -q
	check "removed the killed gguf writer's temporary" [ "$(left 'g.gguf.tmp')" = 0 ]
	expect_rc 0 "and wrote a valid model" "$COLDSTART" inspect g.gguf
fi
rm -f g.gguf

# A live writer's temporaries are never removed by a concurrent run: the
# writer is stopped (alive, lock held) while another writes the same target.
for fmt in safetensors gguf; do
	if [ $fmt = gguf ]; then t=lg.gguf; pat='.lg.gguf.tmp-*'; re='lg.gguf.tmp'; else t=lv; pat='.lv.mkmodel-partial-*'; re='lv.mkmodel-partial'; fi
	"$COLDSTART" mkmodel "$t" --format $fmt --preset llama-3.2-1b --layers 2 -q 2>/dev/null &
	pid=$!
	wait_for "$pat"
	kill -STOP "$pid"
	if [ "$(left "$re")" = 1 ]; then
		expect_rc 0 "$fmt: another mkmodel of the same target meanwhile" "$COLDSTART" mkmodel "$t" --format $fmt --preset tiny --force -q
		check "$fmt: the stopped (live) writer's temporary is still there" [ "$(left "$re")" = 1 ]
	fi
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	expect_rc 0 "$fmt: once it is dead, the next mkmodel" "$COLDSTART" mkmodel "$t" --format $fmt --preset tiny --force -q
	check "$fmt: removes its temporary" [ "$(left "$re")" = 0 ]
	expect_rc 0 "$fmt: and the model is valid" "$COLDSTART" inspect "$t"
	rm -rf "$t"
done

done_testing
