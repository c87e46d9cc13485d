#!/usr/bin/env bash
# stage from S3: a real S3 API server (s3rver from npm, installed by make
# deps, on loopback) with objects uploaded by curl's own SigV4; exact copy,
# pagination past 1,000 keys, no-op, changed object, kill -9 and resume
# (the server's log counts the GETs), 503 SlowDown, resets and stalls
# through a fault-injecting proxy, the store's own checksums (MD5 ETags,
# x-amz-checksum-sha256 added by the proxy), objects rewritten mid-transfer
# (s3rver ignores If-Match: the GETs' ETags are checked), a bucket in another
# region (301 / 307 with x-amz-bucket-region: re-signed, and a 307 to a
# second host, 127.0.0.2, that must receive nothing), the usual AWS settings
# and files, and the errors (wrong key, missing bucket or key, keys escaping
# the prefix).
# s3rver checks the access key id, not the signature itself: say so.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
[ -x "$S3RVER" ] || skip_all "s3rver is not installed (make deps: needs Node.js >= 20 and npm)"
command -v node >/dev/null || skip_all "no node on the PATH"
port() { free_port; }

start_s3rver models
put() { s3put "$@"; }
export HOME=$SCRATCH/home AWS_SHARED_CREDENTIALS_FILE=$SCRATCH/home/.aws/credentials AWS_CONFIG_FILE=$SCRATCH/home/.aws/config
mkdir -p "$HOME/.aws"

"$COLDSTART" mkmodel m --preset tiny --shard-size 10M -q >/dev/null
put m qwen/m
check "the model is in the bucket (curl's SigV4 upload)" curl -sf "${SIGN[@]}" -o /dev/null "$EP/models/qwen/m/config.json"
R=$SCRATCH/root

expect_rc 0 "stage s3://models/qwen/m" "$COLDSTART" stage s3://models/qwen/m --root "$R" --verify xxh3
check "prints ROOT/m" [ "$out" = "$R/m" ]
check "an exact copy" same m "$R/m"
json_ok "the manifest: the s3:// source, each object's ETag and LastModified" "$(cat "$R/m/.coldstart-manifest.json")" '
assert d["source"]=="s3://models/qwen/m", d["source"]
assert all(f.get("etag","").startswith("\"") and f["mtime_ns"]>0 for f in d["files"]), d["files"]'
gets_before=$(grep -c 'GET /models/qwen/m/model-' s3rver.log)
expect_rc 0 "an unchanged prefix is a no-op (one listing)" "$COLDSTART" stage s3://models/qwen/m --root "$R"
contains "says so" "$err" "already staged from the unchanged source"
check "no object was read again" [ "$(grep -c 'GET /models/qwen/m/model-' s3rver.log)" = "$gets_before" ]

# A URL source is written O_DIRECT by default: the copy is on the device, not
# in the page cache. --buffered leaves it there (a warm first start).
resident() { jget "$("$COLDSTART" pages status "$1" --json)" 'd["resident_pct"]'; }
if dd if=/dev/zero of="$SCRATCH/dio-probe" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
	# (a root of their own: under $R the files would be linked from its copy)
	expect_rc 0 "stage writes O_DIRECT by default" "$COLDSTART" stage s3://models/qwen/m --root "$R-dio" -q
	pct=$(resident "$R-dio/m")
	check "... not in the page cache ($pct% resident)" python3 -c "assert $pct < 10"
	check "... an exact copy" same m "$R-dio/m"
	expect_rc 0 "stage --buffered" "$COLDSTART" stage s3://models/qwen/m --root "$R-buf" --buffered -q
	pct=$(resident "$R-buf/m")
	check "... in the page cache ($pct% resident)" python3 -c "assert $pct > 90"
	check "... an exact copy" same m "$R-buf/m"
else
	_t_report 0 "# SKIP: $SCRATCH does not take O_DIRECT writes (the copy falls back to buffered)"
fi
expect_rc 2 "--buffered with --direct: a usage error" "$COLDSTART" stage s3://models/qwen/m --root "$R" --name x --buffered --direct
expect_rc 2 "--buffered with a directory source: a usage error" "$COLDSTART" stage m --root "$R" --name x --buffered
contains "... which says why" "$err" "--buffered goes with a URL source"

# A changed object (a new ETag) is fetched again, alone.
LAST=$(ls m/model-*-of-*.safetensors | tail -1)
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-1]^=1; open(p,"wb").write(b)' "$LAST"
curl -sf "${SIGN[@]}" -T "$LAST" "$EP/models/qwen/m/$(basename "$LAST")" -o /dev/null
expect_rc 0 "a changed object is detected" "$COLDSTART" stage s3://models/qwen/m --root "$R" --json
json_is "only it is copied" "$out" 'd["copied_bytes"]' "$(stat -c %s "$LAST")"
check "the copy matches again" same m "$R/m"

# More than one page of ListObjectsV2 (1,000 keys a page).
mkdir -p many/extra
cp m/config.json m/generation_config.json many/
for i in $(seq -w 1 1050); do echo "$i" > "many/extra/f$i.txt"; done
put many many
expect_rc 0 "1,052 objects: the listing is paged" "$COLDSTART" stage s3://models/many/ --root "$R" -q
check "every object staged" [ "$(find "$R/many" -type f ! -name .coldstart-manifest.json | wc -l)" = 1052 ]
check "exact copy" same many "$R/many"

# kill -9 mid-transfer, then resume: the chunks on disk are not read again.
"$COLDSTART" mkmodel big --preset tiny --shard-size 5M -q >/dev/null
put big big
"$COLDSTART" stage s3://models/big --root "$R" --chunk 1M --bwlimit 10M -q >/dev/null 2>&1 &
pid=$!
journal_has "$R" big 5
kill -9 $pid
wait $pid 2>/dev/null
shard_recs=$(python3 -c '
import json,sys
lines=open(sys.argv[1]).read().split("\n"); names=[f[0] for f in json.loads(lines[1])["files"]]
print(len({l for l in lines[2:] if l.startswith("c ") and l.count(" ")==3 and names[int(l.split()[1])].startswith("model-")}))' "$R/.partial/big.journal")
before=$(grep -c '<-- GET /models/big/model-' s3rver.log)
expect_rc 0 "resume after kill -9" "$COLDSTART" stage s3://models/big --root "$R" --chunk 1M --json
after=$(grep -c '<-- GET /models/big/model-' s3rver.log)
total=$(python3 -c 'import glob,os,sys; print(sum((os.path.getsize(f)+(1<<20)-1)>>20 for f in glob.glob(sys.argv[1]+"/*.safetensors")))' big)
check "resumed from the journal" [ "$(jget "$out" 'd["resumed_bytes"]')" -gt 0 ] && [ "$shard_recs" -gt 0 ]
check "the resume read $((after - before)) chunks: $total less the $shard_recs on disk at most" [ "$((after - before))" -le "$((total - shard_recs))" ]
check "exact copy" same big "$R/big"

# Faults between coldstart and the server: 503 SlowDown, resets, stalls.
for mode in 503 reset stall; do
	FP=$(port)
	node "$FIXTURES_SRC/faultproxy.mjs" "$FP" "$P" "$mode" 4 2>"$SCRATCH/proxy-$mode.log" &
	fpid=$!
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$FP/" && break; sleep 0.05; done
	AWS_ENDPOINT_URL=http://127.0.0.1:$FP expect_rc 0 "every 4th GET fails ($mode): retried through" \
		"$COLDSTART" stage s3://models/big --root "$R" --name "big-$mode" --chunk 1M --stall-timeout 2s -q
	check "... exact copy" same big "$R/big-$mode"
	check "... and the proxy did inject faults" grep -q "^fault 1:" "$SCRATCH/proxy-$mode.log"
	kill $fpid
	wait $fpid 2>/dev/null
done

# --verify xxh3 adds the store's own checksum: s3rver's ETags are the MD5
# of one-part objects. A byte changed on the way (after the store, before
# coldstart) passes xxh3 -- what arrived is what was written -- and is
# caught by the MD5; nothing is published.
expect_rc 0 "--verify xxh3 checks the MD5 ETags too" "$COLDSTART" stage s3://models/big --root "$R" --name big-md5 --verify xxh3 --json
json_is "... every object (store_checked_files)" "$out" 'd["store_checked_files"]' "$(ls big | wc -l)"
json_is "... by MD5" "$out" 'd["store_checksum"]' MD5
contains "... and says so" "$err" "by the store's own MD5"
FP=$(port)
node "$FIXTURES_SRC/faultproxy.mjs" "$FP" "$P" flip 3 2>"$SCRATCH/proxy-flip.log" &
fpid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$FP/" && break; sleep 0.05; done
AWS_ENDPOINT_URL=http://127.0.0.1:$FP expect_rc 1 "a byte changed in transit: caught by the MD5" \
	"$COLDSTART" stage s3://models/big --root "$R" --name big-flip --chunk 1M --verify xxh3
contains "... named, with both values" "$err" "does not match the store's MD5 of the object"
check "... the proxy did change bytes" grep -q "^fault 1: flip" "$SCRATCH/proxy-flip.log"
check "... nothing published" [ ! -e "$R/big-flip" ]
AWS_ENDPOINT_URL=http://127.0.0.1:$FP expect_rc 0 "without --verify xxh3 the same transfer is not checked" \
	"$COLDSTART" stage s3://models/big --root "$R" --name big-flip --chunk 1M -q
differs() { [ -d "$1" ] && ! same big "$1"; }
check "... and differs: why the checksum matters" differs "$R/big-flip"
kill $fpid
wait $fpid 2>/dev/null

# A store that keeps x-amz-checksum-sha256 and answers it to a HEAD with
# x-amz-checksum-mode: ENABLED (s3rver keeps none: the proxy adds it, from
# the object's bytes). Shards are checked by it, the small files by MD5.
nshards=$(ls big/model-* | wc -l)
for mode in sha256 badsha256; do
	FP=$(port)
	node "$FIXTURES_SRC/faultproxy.mjs" "$FP" "$P" "$mode" 1 2>"$SCRATCH/proxy-$mode.log" &
	fpid=$!
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$FP/" && break; sleep 0.05; done
	if [ "$mode" = sha256 ]; then
		AWS_ENDPOINT_URL=http://127.0.0.1:$FP expect_rc 0 "x-amz-checksum-sha256 from the store: checked" \
			"$COLDSTART" stage s3://models/big --root "$R" --name big-sha --verify xxh3 --json
		json_is "... every object (store_checked_files)" "$out" 'd["store_checked_files"]' "$(ls big | wc -l)"
		json_is "... by MD5 and SHA-256" "$out" 'd["store_checksum"]' "MD5+SHA-256"
		check "... the store answered $nshards checksums" [ "$(grep -c "^fault [0-9]*: sha256" "$SCRATCH/proxy-$mode.log")" = "$nshards" ]
		check "... an exact copy" same big "$R/big-sha"
	else
		AWS_ENDPOINT_URL=http://127.0.0.1:$FP expect_rc 1 "a store checksum that does not match: refused" \
			"$COLDSTART" stage s3://models/big --root "$R" --name big-badsha --verify xxh3
		contains "... named, as the store's SHA-256" "$err" "does not match the store's SHA-256"
		check "... nothing published" [ ! -e "$R/big-badsha" ]
	fi
	kill $fpid
	wait $fpid 2>/dev/null
done

# Objects that change under the transfer: s3rver, like many stores and CDNs,
# never evaluates If-Match; each GET's ETag is checked against the listing's.
put big chg
FP=$(port)
start_faultproxy pchg "$FP" change 4
AWS_ENDPOINT_URL=http://127.0.0.1:$FP expect_rc 0 "an object rewritten upstream before its 4th GET: fetched again" \
	"$COLDSTART" stage s3://models/chg --root "$R" --name chg --chunk 1M
check "... the proxy did rewrite it (a new ETag)" grep -q "^fault 1: change .*rewritten: HTTP 200" "$SCRATCH/pchg.err"
contains "... and it says why" "$err" "changed on the server while it was being staged (its ETag is now"
mkdir -p now
for f in $(ls big); do curl -sf "${SIGN[@]}" -o "now/$f" "$EP/models/chg/$f"; done
check "... the copy is the store's object as it is now, whole (no file mixes two versions)" same now "$R/chg"
stop_faultserve pchg
start_faultproxy pchanging "$FP" changing 3
AWS_ENDPOINT_URL=http://127.0.0.1:$FP expect_rc 1 "an object that keeps changing (every 3rd GET)" \
	"$COLDSTART" stage s3://models/chg --root "$R" --name chg2 --chunk 1M
contains "... fails naming the object" "$err" "'http://127.0.0.1:$FP/models/chg/model-"
contains "... that kept changing" "$err" "times in a row"
check "... nothing published" [ ! -e "$R/chg2" ]
stop_faultserve pchanging

# The bucket in another region: S3 answers 301 PermanentRedirect (or 307)
# with x-amz-bucket-region. Re-signed for it, once; never followed.
start_faultproxy preg "$FP" region 1 eu-west-1
AWS_ENDPOINT_URL=http://127.0.0.1:$FP expect_rc 0 "a bucket in eu-west-1 asked signed for us-east-1: 301, re-signed" \
	"$COLDSTART" stage s3://models/qwen/m --root "$R" --name reg --verify xxh3
check "... an exact copy" same m "$R/reg"
contains "... says so" "$err" "is in region 'eu-west-1', not 'us-east-1': signed for it"
check "... one redirect: every later request (listing, HEADs, GETs) signed for eu-west-1" \
	[ "$(grep -c '^fault [0-9]' "$SCRATCH/preg.err")" = 1 ]
stop_faultserve preg
start_faultproxy pregx "$FP" region-always 1 eu-west-1
AWS_ENDPOINT_URL=http://127.0.0.1:$FP expect_rc 1 "still redirected once signed for it" \
	"$COLDSTART" stage s3://models/qwen/m --root "$R" --name regx
contains "... fails naming the region" "$err" "the bucket is in region 'eu-west-1'"
check "... nothing published" [ ! -e "$R/regx" ]
stop_faultserve pregx
FB=$(port)
start_faultserve host2 "127.0.0.2:$FB" --root "$SCRATCH/now"
for mode in redirect307 region307; do
	start_faultproxy "p$mode" "$FP" "$mode" 1 eu-west-1 "$FB"
	want=0
	[ "$mode" = redirect307 ] && want=1
	AWS_SESSION_TOKEN=tok-SECRET-307 AWS_ENDPOINT_URL=http://127.0.0.1:$FP expect_rc $want \
		"$mode: a 307 to another host (127.0.0.2)$([ $want = 1 ] && echo ', naming no region: refused' || echo ' with x-amz-bucket-region: re-signed')" \
		"$COLDSTART" stage s3://models/qwen/m --root "$R" --name "r$mode"
	if [ $want = 1 ]; then
		contains "... names where it pointed" "$err" "to 'http://127.0.0.2:$FB/models'"
		check "... nothing published" [ ! -e "$R/r$mode" ]
	else
		check "... an exact copy" same m "$R/r$mode"
	fi
	check "... the other host was sent nothing: no signature, no session token" [ ! -s "$SCRATCH/host2.log" ]
	lacks "... no secret in the output" "$out$err" "SECRET"
	stop_faultserve "p$mode"
done
stop_faultserve host2

# The usual AWS settings: a profile in the shared files instead of the environment.
printf '[coldstart-test]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' > "$HOME/.aws/credentials"
printf '[profile coldstart-test]\nregion = eu-west-1\nendpoint_url = %s\n' "$EP" > "$HOME/.aws/config"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_ENDPOINT_URL -u AWS_REGION AWS_PROFILE=coldstart-test \
	"$COLDSTART" stage s3://models/qwen/m --root "$R" --name prof -q >/dev/null 2>"$SCRATCH/prof.err"
check "AWS_PROFILE: keys and endpoint from ~/.aws" same m "$R/prof"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_PROFILE=nope \
	"$COLDSTART" stage s3://models/qwen/m --root "$R" --name noprof -q >/dev/null 2>"$SCRATCH/noprof.err"
contains "an unknown profile is named" "$(cat "$SCRATCH/noprof.err")" "AWS_PROFILE 'nope' is in neither"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_EC2_METADATA_DISABLED=true \
	"$COLDSTART" stage s3://models/qwen/m --root "$R" --name anon -q >/dev/null 2>"$SCRATCH/anon.err"
check "no credentials: an error, nothing staged (t0121 has the list of what was tried)" [ ! -e "$R/anon" ]
contains "... which says so" "$(cat "$SCRATCH/anon.err")" "no S3 credentials found"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_EC2_METADATA_DISABLED=true \
	"$COLDSTART" stage s3://models/qwen/m --root "$R" --name anon --no-sign-request -q >/dev/null 2>&1
check "--no-sign-request: anonymous (unsigned) access, as for a public bucket" same m "$R/anon"

# Errors: exit 1, the bucket/key and the S3 error code, nothing published.
AWS_ACCESS_KEY_ID=WRONGKEY expect_rc 1 "a wrong access key" "$COLDSTART" stage s3://models/qwen/m --root "$R" --name w1
contains "names the prefix and the S3 code" "$err" "s3://models/qwen/m/: listing failed: HTTP 403 InvalidAccessKeyId"
expect_rc 1 "a missing bucket" "$COLDSTART" stage s3://no-such-bucket/m --root "$R" --name w2
contains "NoSuchBucket" "$err" "s3://no-such-bucket/m/: listing failed: HTTP 404 NoSuchBucket"
# A store's error text reaches the terminal as one printable line: an
# escape sequence or a line break in <Message> or x-amz-request-id is not
# passed through (a hostile or broken endpoint writes to the user's tty).
EVILP=$(free_port)
python3 - "$EVILP" >/dev/null 2>&1 <<'PYEOF' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = b"<Error><Code>Access\x1b[2JDenied</Code><Message>no\nFAKE: line \x1b]0;title\x07</Message></Error>"
        self.send_response(403); self.send_header("Content-Type", "application/xml")
        self.send_header("x-amz-request-id", "id\x1b[31m"); self.send_header("Content-Length", str(len(b)))
        self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PYEOF
EVILPID=$!
at_exit "kill $EVILPID 2>/dev/null"
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$EVILP/" && break; sleep 0.05; done
AWS_ENDPOINT_URL=http://127.0.0.1:$EVILP expect_rc 1 "a store whose error text holds control characters" \
	"$COLDSTART" stage s3://models/qwen/m --root "$R" --name w5
contains "the error still names the status" "$err" "listing failed: HTTP 403"
check "no escape character reaches stderr" sh -c '! printf %s "$1" | grep -q "$(printf "\033")"' _ "$err"
check "nor a line the store made up" [ "$(printf '%s\n' "$err" | grep -c '^FAKE')" = 0 ]
kill $EVILPID 2>/dev/null; wait $EVILPID 2>/dev/null
expect_rc 1 "a missing key" "$COLDSTART" stage s3://models/qwen/m/nope.gguf --root "$R" --name w3
contains "names the key" "$err" "s3://models/qwen/m/nope.gguf: no such object"
expect_rc 1 "an empty prefix" "$COLDSTART" stage s3://models/nothing/here --root "$R" --name w4
contains "says so" "$err" "no objects under this prefix"
# (Keys that leave the prefix -- "..", a leading '/' -- are refused by the
# listing parser, tested in test_s3src: s3rver stores objects as files and
# normalizes such keys away, so it cannot serve one.)
check "nothing published for any of them" [ ! -e "$R/w1" ] && [ ! -e "$R/w2" ] && [ ! -e "$R/w3" ] && [ ! -e "$R/w4" ]

# The secret key never appears in any output.
AWS_SECRET_ACCESS_KEY=S3RVER AWS_SESSION_TOKEN=tok-SECRET-1 expect_rc 0 "a session token is sent" "$COLDSTART" stage s3://models/qwen/m --root "$R" --name tok --json
leak=$( { echo "$out$err"; cat "$R"/*/.coldstart-manifest.json "$SCRATCH"/*.err; "$COLDSTART" cache ls --root "$R" --json; } | grep -c 'SECRET\|S3RVER:S3RVER')
check "no secret in stdout, stderr, manifests or cache ls" [ "$leak" = 0 ]
stop_s3rver
no_leftovers "no process left" 3
done_testing
