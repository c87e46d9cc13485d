#!/usr/bin/env bash
# The permission bits of a staged copy: each file gets its source's bits
# masked by the umask (a URL source: 0644 masked), each directory its
# source directory's masked plus the owner's rwx, the manifest the copy's
# directory bits less x -- or --chmod's bits exactly. Every publish path: a
# model, --kind dir, a cache set, a GGUF file, a URL (nginx, a peer's cache
# serve), exec's stage and --stage-cache's private copy; a change of the
# source's bits, or of --chmod, is applied in place by the next stage.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
mode() { stat -c %a "$1"; }
# modes_are DESC DIR "REL=MODE ..."
modes_are() {
	local desc=$1 dir=$2 want got="" rel
	for want in $3; do
		rel=${want%=*}
		got="$got $rel=$(mode "$dir/$rel" 2>/dev/null || echo missing)"
	done
	if [ "$got" = " $3" ]; then _t_report 0 "$desc"; else _t_report 1 "$desc" "want: $3" "got: ${got# }"; fi
}

"$COLDSTART" mkmodel s --preset tiny -q >/dev/null
mkdir -p s/sub && echo '#!/bin/sh' > s/sub/run.sh
chmod 644 s/config.json
chmod 600 s/model.safetensors
chmod 755 s/generation_config.json
chmod 700 s/sub s/sub/run.sh
chmod 750 s
R=$SCRATCH/root
umask 022   # the test's own; 077 and 027 in subshells

"$COLDSTART" stage s --root "$R" -q >/dev/null
modes_are "umask 022: each file keeps its source's bits (600, 644, 755, 700)" "$R/s" \
	"config.json=644 model.safetensors=600 generation_config.json=755 sub/run.sh=700"
modes_are "... each directory too (750, 700)" "$R" "s=750 s/sub=700"
modes_are "... the manifest: the directory's bits less x" "$R/s" ".coldstart-manifest.json=640"
modes_are "... the cache's own files: 644" "$R/.locks" "s.stage=644 s.use=644"
(umask 077 && "$COLDSTART" stage s --root "$R" --name s77 -q >/dev/null)
modes_are "umask 077: masked (600, 600, 700, 700)" "$R/s77" \
	"config.json=600 model.safetensors=600 generation_config.json=700 sub/run.sh=700"
modes_are "... directories 700, the manifest 600" "$R" "s77=700 s77/sub=700 s77/.coldstart-manifest.json=600"
expect_rc 0 "an unchanged source is a no-op" "$COLDSTART" stage s --root "$R" --json -q
json_ok "... noop" "$out" 'd["noop"]'

# The source's bits change: the next stage sets them in place, copying nothing.
chmod 640 s/config.json
run "$COLDSTART" stage s --root "$R" --json
json_ok "source chmod 640: the next stage is still a no-op" "$out" 'd["noop"]'
contains "... that says it set the bits" "$err" "permission bits"
modes_are "... and did" "$R/s" "config.json=640"
run "$COLDSTART" cache ls --root "$R" --json
json_ok "... the copy is intact for ls (its identity recorded anew)" "$out" '
e={x["name"]:x for x in d}["s"]; assert e["state"]=="staged", e'
chmod 644 s/config.json

# --chmod: exactly those bits, whatever the umask.
(umask 077 && "$COLDSTART" stage s --root "$R" --name sc --chmod D750,F640 -q >/dev/null)
modes_are "--chmod D750,F640 under umask 077: files 640" "$R/sc" \
	"config.json=640 model.safetensors=640 sub/run.sh=640"
modes_are "... directories 750" "$R" "sc=750 sc/sub=750"
"$COLDSTART" stage s --root "$R" --name sc --chmod F600 -q >/dev/null
modes_are "another --chmod on the same copy: set in place" "$R/sc" "config.json=600 model.safetensors=600"
"$COLDSTART" stage s --root "$R" --name s5 --chmod 0700 -q >/dev/null
modes_are "--chmod 0700: files and directories" "$R" "s5/config.json=700 s5/sub=700"
for bad in D999 F1777 x644 D755, '' F; do
	expect_rc 2 "--chmod '$bad' is refused" "$COLDSTART" stage s --root "$R" --name bad --chmod "$bad"
done
check "... nothing staged for them" [ ! -e "$R/bad" ]

# --kind dir and a cache set (a directory per variable) go the same way.
mkdir -p cs/VLLM_CACHE_ROOT/sub cs/TRITON_CACHE_DIR
echo a > cs/VLLM_CACHE_ROOT/sub/a.bin && chmod 600 cs/VLLM_CACHE_ROOT/sub/a.bin
echo b > cs/TRITON_CACHE_DIR/b.so && chmod 755 cs/TRITON_CACHE_DIR/b.so
chmod 700 cs/VLLM_CACHE_ROOT
"$COLDSTART" stage cs --root "$R" -q >/dev/null 2>&1
modes_are "a cache set: its bits kept" "$R/cs" "VLLM_CACHE_ROOT=700 VLLM_CACHE_ROOT/sub/a.bin=600 TRITON_CACHE_DIR/b.so=755"
# exec --stage-cache: the staged set, and the server's private copy of it.
(umask 077 && "$COLDSTART" exec --stage s --root "$SCRATCH/er" --stage-cache cs -- \
	/bin/sh -c 'stat -c "%a %n" "$VLLM_CACHE_ROOT/sub/a.bin" "$TRITON_CACHE_DIR/b.so"' >priv 2>/dev/null)
contains "exec --stage-cache, umask 077: the private copy's files masked (600)" "$(cat priv)" "600 $SCRATCH/er/.work/"
check "... (755 -> 700)" grep -q "^700 .*/TRITON_CACHE_DIR/b.so" priv
modes_are "... exec's own stage too" "$SCRATCH/er/s" "model.safetensors=600 config.json=600"

# A GGUF file: its own bits.
"$COLDSTART" mkmodel g --preset tiny --format gguf -q >/dev/null
gf=$(ls g/*.gguf | head -1)
chmod 600 "$gf"
"$COLDSTART" stage "$gf" --root "$R" --name g -q >/dev/null
check "a GGUF file: 600 kept" [ "$(mode "$R/g/$(basename "$gf")")" = 600 ]

# A URL source has no bits to keep: 0644 and 0755, masked.
if [ -x "$NGINX" ]; then
	mkdir -p www && cp -a s www/m && chmod -R a+rX www
	nginx_conf "$SCRATCH/www"
	at_exit stop_nginx
	start_nginx
	"$COLDSTART" stage "http://127.0.0.1:$PORT/m/" --root "$R" --name u -q >/dev/null
	modes_are "a URL source, umask 022: files 644" "$R/u" "config.json=644 model.safetensors=644"
	modes_are "... its directory 755" "$R" "u=755"
	(umask 077 && "$COLDSTART" stage "http://127.0.0.1:$PORT/m/" --root "$R" --name u77 -q >/dev/null)
	modes_are "... umask 077: 600, 700" "$R" "u77/config.json=600 u77/model.safetensors=600 u77=700"
	stop_nginx
else
	_t_report 0 "# SKIP nginx is not installed: no URL checks"
fi
"$COLDSTART" cache serve --root "$R" >url 2>/dev/null &
spid=$!
at_exit "kill $spid 2>/dev/null"
for _ in $(seq 100); do [ -s url ] && break; sleep 0.05; done
(umask 027 && "$COLDSTART" stage "$(cat url)s/" --root "$SCRATCH/peer" --name s -q >/dev/null)
modes_are "a peer's copy (cache serve), umask 027: 640, directory 750" "$SCRATCH/peer" "s/config.json=640 s=750"
kill $spid
wait $spid 2>/dev/null
no_leftovers "no process left"
done_testing
