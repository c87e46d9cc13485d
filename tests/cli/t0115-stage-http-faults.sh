#!/usr/bin/env bash
# stage from HTTP servers that misbehave the way real ones do
# (tests/fixtures/faultserve.mjs, on loopback): servers that ignore
# If-Match / If-Range and change the object mid-transfer -- with a new ETag
# and Last-Modified, with only Last-Modified, with neither but a new size,
# with nothing but the bytes -- a weak ETag, a journal from an earlier run
# against a changed object, redirects to a second host (127.0.0.2) that
# records every header it is sent, and a server that trickles its headers.
# No published copy may mix two versions of a file; no credential may reach
# another host.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
command -v node >/dev/null || skip_all "no node on the PATH"
# Every staged file is one version whole: the first's or the second's.
one_version() {
	python3 -c '
import os,sys
st,a,b=sys.argv[1:4]
for f in sorted(os.listdir(st)):
    if f.startswith("."): continue
    d=open(os.path.join(st,f),"rb").read()
    if d!=open(os.path.join(a,f),"rb").read() and d!=open(os.path.join(b,f),"rb").read():
        sys.exit(f+" mixes two versions")' "$@"
}
# Version 2 of DIR's files matching GLOB into DIR2: bytes flipped every
# 256 KiB from 64 KiB on (tensor data, not the header), mtime an hour later;
# with grow, 4 KiB longer too.
mkv2() {
	python3 -c '
import glob,os,shutil,sys
src,dst,pat,grow=sys.argv[1:5]
shutil.copytree(src,dst,copy_function=shutil.copy2)
for p in glob.glob(os.path.join(dst,pat)):
    b=bytearray(open(p,"rb").read())
    for i in range(65536,len(b),262144): b[i]^=0xff
    if grow=="1": b+=b"\0"*4096
    st=os.stat(p); open(p,"wb").write(b); os.utime(p,(st.st_atime,st.st_mtime+3600))' "$@"
}

mkdir -p www www2 www3
"$COLDSTART" mkmodel www/m --preset tiny --shard-size 5M -q >/dev/null
mkdir -p www/d
head -c 3145728 /dev/urandom > www/d/blob1.bin
head -c 3145728 /dev/urandom > www/d/blob2.bin
mkv2 www/m www2/m 'model-*' 0
mkv2 www/d www2/d '*.bin' 0
mkv2 www/d www3/d '*.bin' 1
R=$SCRATCH/root
D=(--kind dir --files blob1.bin --files blob2.bin)
n=0
fresh() { n=$((n + 1)); FP=$(free_port); U=http://127.0.0.1:$FP; }

# --- servers that ignore the preconditions, objects that change ---

fresh
check "a server that ignores If-Match and If-Range, shards changing after 4 GETs (new ETag and Last-Modified)" \
	start_faultserve s$n 127.0.0.1:$FP --root www --v2 www2 --match '^/m/model-' --after 4 --ignore-validators
expect_rc 0 "stage: the change is seen in the responses, the shards fetched again" \
	"$COLDSTART" stage "$U/m/" --root "$R" --name e1 --chunk 1M
check "... the server did send the new version's bytes to ranged GETs (206)" \
	[ "$(reqs s$n 'r["method"]=="GET" and r.get("version")==2 and r["status"]==206')" -gt 0 ]
check "... the copy is the new version, whole (no file mixes the two)" same www2/m "$R/e1"
contains "... and says why it fetched again" "$err" "changed on the server while it was being staged"
stop_faultserve s$n

fresh
check "the same with Last-Modified only (no ETag)" \
	start_faultserve s$n 127.0.0.1:$FP --root www --v2 www2 --match '^/m/model-' --after 4 --ignore-validators --validators lm
expect_rc 0 "stage: the new Last-Modified is seen" "$COLDSTART" stage "$U/m/" --root "$R" --name e2 --chunk 1M
check "... the copy is the new version, whole" same www2/m "$R/e2"
check "... If-Unmodified-Since and If-Range carried the date" \
	[ "$(reqs s$n 'r["method"]=="GET" and "if-unmodified-since" in h and h.get("if-range","").endswith("GMT")')" -gt 0 ]
stop_faultserve s$n

fresh
check "a cache that ignores If-Match but honours If-Range" \
	start_faultserve s$n 127.0.0.1:$FP --root www --v2 www2 --match '^/m/model-' --after 4 --ignore-if-match
expect_rc 0 "stage: a 200 to a ranged GET (If-Range: changed) restarts the file" \
	"$COLDSTART" stage "$U/m/" --root "$R" --name e3 --chunk 1M
check "... the server answered a ranged GET with the whole object" \
	[ "$(reqs s$n '"range" in h and r["status"]==200')" -gt 0 ]
check "... the copy is the new version, whole" same www2/m "$R/e3"
stop_faultserve s$n

fresh
check "a server that keeps ETag and Last-Modified while the object grows" \
	start_faultserve s$n 127.0.0.1:$FP --root www --v2 www3 --match '^/d/' --after 2 --ignore-validators --lie
expect_rc 0 "stage: Content-Range's total gives it away" "$COLDSTART" stage "$U/d/" --root "$R" --name e4 --chunk 1M "${D[@]}"
check "... the copy is the new version, whole" same www3/d "$R/e4"
stop_faultserve s$n

fresh
check "a server with neither ETag nor Last-Modified, the objects changing (same size) after 1 GET" \
	start_faultserve s$n 127.0.0.1:$FP --root www --v2 www2 --match '^/d/' --after 1 --validators none
expect_rc 0 "stage: nothing to tell the versions apart" "$COLDSTART" stage "$U/d/" --root "$R" --name e5 --chunk 1M "${D[@]}"
check "... each file came in one request (one response: one version)" \
	[ "$(reqs s$n 'r["method"]=="GET" and r["url"]=="/d/blob1.bin"')" = 1 ] && [ "$(reqs s$n 'r["method"]=="GET" and r["url"]=="/d/blob2.bin"')" = 1 ]
check "... so each file is one version whole" one_version "$R/e5" www/d www2/d
contains "... and it says why" "$err" "neither an ETag nor a Last-Modified"
stop_faultserve s$n

fresh
check "neither ETag nor Last-Modified, the objects growing after 1 GET" \
	start_faultserve s$n 127.0.0.1:$FP --root www --v2 www3 --match '^/d/' --after 1 --validators none
expect_rc 0 "stage: the new size (Content-Range) restarts it" "$COLDSTART" stage "$U/d/" --root "$R" --name e6 --chunk 1M "${D[@]}"
check "... the copy is the new version, whole" same www3/d "$R/e6"
contains "... said" "$err" "changed on the server"
stop_faultserve s$n

fresh
check "an object that keeps changing (every 3 GETs)" \
	start_faultserve s$n 127.0.0.1:$FP --root www --v2 www2 --match '^/m/model-' --every 3 --ignore-validators
expect_rc 1 "stage fails" "$COLDSTART" stage "$U/m/?sig=q-SECRET-1" --root "$R" --name e7 --chunk 1M
contains "... naming the URL" "$err" "'$U/m/model-0000"
contains "... and that it kept changing" "$err" "times in a row"
lacks "... without its query" "$err" "SECRET"
check "... nothing published" [ ! -e "$R/e7" ]
stop_faultserve s$n

fresh
check "a strict server with weak ETags (W/\"...\", never matched by If-Match or If-Range)" \
	start_faultserve s$n 127.0.0.1:$FP --root www --validators weak,lm
expect_rc 0 "stage: Last-Modified stands in for the weak ETag" "$COLDSTART" stage "$U/m/" --root "$R" --name e8 --chunk 1M
check "... an exact copy" same www/m "$R/e8"
check "... no If-Match with a weak ETag was sent" [ "$(reqs s$n '"if-match" in h')" = 0 ]
stop_faultserve s$n

# --- a journal from an earlier run, the object changed since ---

mkdir -p www/j
for i in 1 2 3 4; do head -c 2097152 /dev/urandom > www/j/blob$i.bin; done
mkv2 www/j www2/j '*.bin' 0
J=(--kind dir --files blob1.bin --files blob2.bin --files blob3.bin --files blob4.bin)
fresh
start_faultserve s$n 127.0.0.1:$FP --root www --validators none
# (--bwlimit 1M: a file's request every 2 s, the first at once)
"$COLDSTART" stage "$U/j/" --root "$R" --name e9 --chunk 1M --bwlimit 1M -q "${J[@]}" >/dev/null 2>&1 &
pid=$!
journal_has "$R" e9 1
kill -9 $pid
wait $pid 2>/dev/null
stop_faultserve s$n
check "killed with chunks in its journal" [ "$(grep -c '^c ' "$R/.partial/e9.journal")" -gt 0 ]
check "the server comes back with other bytes of the same size, still no validators" \
	start_faultserve s$n 127.0.0.1:$FP --root www2 --validators none
expect_rc 0 "stage again" "$COLDSTART" stage "$U/j/" --root "$R" --name e9 --chunk 1M --json "${J[@]}"
json_is "... nothing taken from the journal: it cannot say which version its chunks were" "$out" 'd["resumed_bytes"]' 0
check "... the copy is the server's version, whole" same www2/j "$R/e9"
stop_faultserve s$n
start_faultserve s$n 127.0.0.1:$FP --root www --validators none
expect_rc 0 "the same size, no validators, other bytes again: stage" \
	"$COLDSTART" stage "$U/j/" --root "$R" --name e9 --chunk 1M --json "${J[@]}"
json_is "... not a no-op: a copy known by its sizes alone is never called unchanged" "$out" 'd["noop"]' False
check "... the copy is the server's version, whole" same www/j "$R/e9"
stop_faultserve s$n

# --- redirects: credentials go to the first host only ---

for code in 302 307; do
	fresh
	FB=$(free_port)
	start_faultserve b$n 127.0.0.2:$FB --root www
	check "a server whose shards redirect ($code) to another host, 127.0.0.2 (as Hugging Face's to its CDN)" \
		start_faultserve s$n 127.0.0.1:$FP --root www --redirect $code:127.0.0.2:$FB --match '^/m/model-'
	HF_TOKEN=hf-SECRET-1 expect_rc 0 "stage with \$HF_TOKEN, --header, user info and a query" \
		"$COLDSTART" stage "http://user:pw-SECRET-3@127.0.0.1:$FP/m/?sig=q-SECRET-4" --root "$R" --name r$code --chunk 1M \
		--header 'X-Api-Key: key-SECRET-2'
	check "... an exact copy" same www/m "$R/r$code"
	check "... the other host was asked for the shards" [ "$(reqs b$n 'r["method"]=="GET"')" -gt 0 ]
	check "... and got no Authorization, no X-Api-Key, no token" \
		[ "$(reqs b$n '"authorization" in h or "x-api-key" in h or "x-amz-security-token" in h or any("SECRET" in v for v in h.values())')" = 0 ]
	check "... the first host got them" \
		[ "$(reqs s$n 'h.get("authorization")=="Bearer hf-SECRET-1" and h.get("x-api-key")=="key-SECRET-2"')" -gt 0 ]
	lacks "... no secret in the output" "$out$err" "SECRET"
	stop_faultserve s$n
	stop_faultserve b$n
done

fresh
check "a redirect on the same host" \
	start_faultserve s$n 127.0.0.1:$FP --root www --redirect-same 302 --match '^/m/model-'
HF_TOKEN=hf-SECRET-1 expect_rc 0 "stage" "$COLDSTART" stage "$U/m/" --root "$R" --name rsame --chunk 1M --header 'X-Api-Key: k'
check "... an exact copy" same www/m "$R/rsame"
check "... the token and the header went along (same host)" \
	[ "$(reqs s$n 'r["url"].startswith("/_same/") and h.get("authorization")=="Bearer hf-SECRET-1" and h.get("x-api-key")=="k"')" -gt 0 ]
stop_faultserve s$n

fresh
check "a shard that redirects to itself" start_faultserve s$n 127.0.0.1:$FP --root www --redirect-loop --match '^/m/model-00002'
expect_rc 1 "stage fails" "$COLDSTART" stage "$U/m/?sig=q-SECRET-5" --root "$R" --name rloop
contains "... after 10 redirects, naming the URL" "$err" "'$U/m/model-00002-of-00004.safetensors' redirects to"
contains "... and why" "$err" "(one redirect too many): not followed"
lacks "... without the query" "$err" "SECRET"
check "... nothing published" [ ! -e "$R/rloop" ]
stop_faultserve s$n

expect_rc 2 "--header without a colon: a usage error" "$COLDSTART" stage "$U/m/" --root "$R" --header nocolon
expect_rc 2 "--header with a directory source: a usage error" "$COLDSTART" stage www/m --root "$R" --header 'A: b'

# --- headers that trickle in ---
# (A guard, not a fix: libcurl's stall check counts body bytes only, so
# headers that trickle in already trip --stall-timeout.)

fresh
check "a server that trickles the headers of the first shard request, a byte every 200 ms, forever" \
	start_faultserve s$n 127.0.0.1:$FP --root www --trickle 1 --match '^/m/model-'
expect_rc 0 "stage with --stall-timeout 2s: the request is given up and retried (bounded here by timeout 60)" \
	timeout 60 "$COLDSTART" stage "$U/m/" --root "$R" --name t1 --chunk 1M --stall-timeout 2s
check "... an exact copy" same www/m "$R/t1"
check "... the server did trickle" [ "$(reqs s$n 'r["status"]=="trickle"')" = 1 ]
stop_faultserve s$n

no_leftovers "no process left" 3
# --- an object replaced while a response is sent: the old headers, the new bytes ---

fresh
check "a server whose shards are replaced while it sends them (version 1's validators on version 2's bytes)" \
	start_faultserve s$n 127.0.0.1:$FP --root www --v2 www2 --match '^/m/model-' --after 3 --mid-headers
expect_rc 0 "stage: asked again once fetched, the shards changed: fetched again" \
	"$COLDSTART" stage "$U/m/" --root "$R" --name mid --chunk 1M
check "... the server did answer with version 1's headers over version 2's bytes" \
	[ "$(reqs s$n 'r.get("mid") is True and r["status"]==206')" -gt 0 ]
check "... the copy is one version, whole" same www2/m "$R/mid"
contains "... and says why" "$err" "changed on the server"
contains "... once it was fetched" "$err" "after it was fetched"
expect_rc 0 "the published copy verifies" "$COLDSTART" cache verify --root "$R" mid
stop_faultserve s$n

done_testing
