#!/usr/bin/env bash
# stage from HTTP: a real server (nginx, on loopback, started and stopped
# here) serving models; exact copies, discovery, no-op, change, kill -9 and
# resume (the server's own log counts the requests), the server dying
# mid-transfer, refusals, and credentials kept out of every output.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
[ -x "$NGINX" ] || skip_all "nginx is not installed (make deps installs nginx-light)"
gets() { grep -c "\"GET /$1" "$SCRATCH/logs/access.log"; }

mkdir -p www
"$COLDSTART" mkmodel www/m --preset tiny --shard-size 10M -q >/dev/null
"$COLDSTART" mkmodel www/one --preset tiny --layers 1 -q >/dev/null
"$COLDSTART" mkmodel www/m.gguf --preset tiny --format gguf -q >/dev/null
mkdir -p www/bare && cp www/one/model.safetensors www/bare/weights.safetensors && echo '{}' > www/bare/config.json
mkdir -p www/evil && cp www/one/config.json www/evil/ &&
	echo '{"metadata":{"total_size":1},"weight_map":{"a":"../one/model.safetensors"}}' > www/evil/model.safetensors.index.json
nginx_conf "$SCRATCH/www" "location /json/ { alias $SCRATCH/www/bare/; autoindex on; autoindex_format json; }
    location /html/ { alias $SCRATCH/www/bare/; autoindex on; }"
at_exit stop_nginx
start_nginx
check "nginx serves on loopback" curl -sf -o /dev/null "http://127.0.0.1:$PORT/m/config.json"
U=http://127.0.0.1:$PORT
R=$SCRATCH/root

expect_rc 0 "stage a sharded model over HTTP (index + config files)" "$COLDSTART" stage "$U/m/" --root "$R" --verify xxh3
check "prints ROOT/NAME (name from the URL)" [ "$out" = "$R/m" ]
check "an exact copy" same www/m "$R/m"
contains "verified by xxh3" "$err" "verified by xxh3"
json_ok "the manifest records the URL, ETags and Last-Modified" "$(cat "$R/m/.coldstart-manifest.json")" '
assert d["source"]=="'"$U/m/"'", d["source"]
assert all(f.get("etag") and f["mtime_ns"]>0 for f in d["files"]), d["files"]'
check "several ranged GETs per shard (chunks of 16 MiB, parallel)" [ "$(grep -c '"GET /m/model-00001-of-0000[0-9].safetensors' logs/access.log)" -ge 1 ]
before=$(gets m/)
expect_rc 0 "an unchanged model is a no-op" "$COLDSTART" stage "$U/m/" --root "$R"
contains "says so" "$err" "already staged from the unchanged source"
check "... without fetching any shard again (HEADs only)" [ "$(gets m/model-)" = "$(grep -c '"GET /m/model-' logs/access.log)" ] && [ "$(gets m/)" -le "$((before + 1))" ]

expect_rc 0 "a single-file model (model.safetensors, no index)" "$COLDSTART" stage "$U/one" --root "$R" -q
check "exact copy" same www/one "$R/one"
expect_rc 0 "a GGUF URL" "$COLDSTART" stage "$U/m.gguf" --root "$R" --name m-gguf -q
check "prints the staged file" [ "$out" = "$R/m-gguf/m.gguf" ]
expect_rc 0 "nginx's JSON listing" "$COLDSTART" stage "$U/json/" --root "$R" --name json -q
check "every listed file" same www/bare "$R/json"
expect_rc 0 "an HTML listing" "$COLDSTART" stage "$U/html/" --root "$R" --name html -q
check "every linked file" same www/bare "$R/html"
expect_rc 0 "--files names them" "$COLDSTART" stage "$U/bare/" --root "$R" --name files --files config.json --files weights.safetensors -q
check "exactly those" same www/bare "$R/files"

# A changed object is staged again; unchanged files are kept.
LAST=$(ls www/m/model-*-of-*.safetensors | tail -1)
sleep 1.1   # a new Last-Modified second, as well as a new ETag
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-1]^=1; open(p,"wb").write(b)' "$LAST"
expect_rc 0 "a changed shard is detected (ETag, Last-Modified)" "$COLDSTART" stage "$U/m/" --root "$R" --json
json_is "only it is copied" "$out" 'd["copied_bytes"]' "$(stat -c %s "$LAST")"
check "the copy matches again" same www/m "$R/m"

# kill -9 mid-transfer, then resume: chunks on disk are not fetched again.
"$COLDSTART" mkmodel www/big --preset tiny --shard-size 5M -q >/dev/null
"$COLDSTART" stage "$U/big/" --root "$R" --chunk 1M --bwlimit 10M -q >/dev/null 2>&1 &
pid=$!
journal_has "$R" big 4
kill -9 $pid
wait $pid 2>/dev/null
recs=$(grep -c '^c ' "$R/.partial/big.journal")
# Chunk records of the shards (the journal's header lists the files).
shard_recs=$(python3 -c '
import json,sys
lines=open(sys.argv[1]).read().split("\n"); names=[f[0] for f in json.loads(lines[1])["files"]]
print(len({l for l in lines[2:] if l.startswith("c ") and l.count(" ")==3 and names[int(l.split()[1])].startswith("model-")}))' "$R/.partial/big.journal")
: > logs/access.log
expect_rc 0 "resume after kill -9 ($recs chunks recorded)" "$COLDSTART" stage "$U/big/" --root "$R" --chunk 1M --json
total_chunks=$(python3 -c '
import glob,os,sys; print(sum((os.path.getsize(f)+(1<<20)-1)>>20 for f in glob.glob(sys.argv[1]+"/*.safetensors")))' www/big)
fetched=$(grep -c '"GET /big/model-' logs/access.log)
check "resumed bytes reported" [ "$(jget "$out" 'd["resumed_bytes"]')" -gt 0 ]
check "the server saw $fetched shard GETs: $total_chunks chunks less the $shard_recs on disk" [ "$fetched" -le "$((total_chunks - shard_recs))" ] && [ "$shard_recs" -gt 0 ]
check "exact copy after the resume" same www/big "$R/big"

# The server dies mid-transfer and comes back: retried, not failed.
check "cache rm big (a fresh start)" "$COLDSTART" cache rm big --root "$R"
"$COLDSTART" stage "$U/big/" --root "$R" --chunk 1M --bwlimit 10M -q >"$SCRATCH/retry.out" 2>"$SCRATCH/retry.err" &
pid=$!
sleep 0.5
stop_nginx
sleep 1
start_nginx
wait $pid
check "a server restart mid-transfer is retried through" [ $? = 0 ]
check "exact copy" same www/big "$R/big"

# A shard replaced on the server mid-transfer: If-Match fails (412), that
# file is fetched again in the same run, the chunks of the others kept.
check "cache rm big (a fresh start)" "$COLDSTART" cache rm big --root "$R"
FIRST=$(ls www/big/model-*-of-*.safetensors | tail -1)
"$COLDSTART" stage "$U/big/" --root "$R" --chunk 1M --bwlimit 10M --json >"$SCRATCH/chg.out" 2>"$SCRATCH/chg.err" &
pid=$!
journal_has "$R" big 8
: > logs/access.log
python3 -c 'import os,sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[-1]^=1; open(p+".new","wb").write(b); os.rename(p+".new",p)' "$FIRST"
wait $pid
check "a shard changed mid-transfer: the stage still succeeds" [ $? = 0 ]
contains "says it fetched it again" "$(cat "$SCRATCH/chg.err")" "changed on the server while it was being staged"
contains "... keeping what was on disk" "$(cat "$SCRATCH/chg.err")" "files changed since are fetched again"
check "412 from nginx (If-Match)" grep -q '"GET /big/model-[^"]*" 412 ' logs/access.log
check "the copy is the new version, whole" same www/big "$R/big"
refetched=$(grep '"GET /big/model-[^"]*" 206 ' logs/access.log | grep -vc "$(basename "$FIRST")")
check "the other shards' chunks on disk were kept ($refetched GETs of them after the change)" \
	[ "$refetched" -lt "$(python3 -c 'import glob,os,sys; print(sum((os.path.getsize(f)+(1<<20)-1)>>20 for f in glob.glob(sys.argv[1]+"/*.safetensors") if os.path.basename(f)!=sys.argv[2]))' www/big "$(basename "$FIRST")")" ]

# Refusals: nothing published.
expect_rc 1 "a missing model" "$COLDSTART" stage "$U/nothing/" --root "$R"
contains "names the URL" "$err" "no model at '$U/nothing/'"
expect_rc 1 "a missing --files entry" "$COLDSTART" stage "$U/bare/" --root "$R" --name miss --files nope.safetensors
contains "names it and the status" "$err" "'$U/bare/nope.safetensors': not found (HTTP 404)"
check "nothing published" [ ! -e "$R/miss" ]
expect_rc 1 "an index naming a file outside the model" "$COLDSTART" stage "$U/evil/" --root "$R"
contains "is refused" "$err" "not a file under the model"
check "nothing published" [ ! -e "$R/evil" ]
expect_rc 2 "--files is for URLs" "$COLDSTART" stage www/m --root "$R" --files x
expect_rc 1 "no server there" "$COLDSTART" stage "http://127.0.0.1:1/m/" --root "$R" --name down
contains "names the URL and the error" "$err" "'http://127.0.0.1:1/m/model.safetensors.index.json'"

# Credentials: in the URL and $HF_TOKEN, never in any output.
HF_TOKEN=tok-SECRET-123 expect_rc 0 "a URL with user info and a query token" "$COLDSTART" stage "http://user:pw-SECRET-456@127.0.0.1:$PORT/one/?sig=q-SECRET-789" --root "$R" --name cred --json
leak=$( { echo "$out$err"; cat "$R"/cred/.coldstart-manifest.json; cat "$R"/.partial/*.journal 2>/dev/null; "$COLDSTART" cache ls --root "$R" --json; } | grep -c SECRET)
check "no secret in stdout, stderr, the manifest, journals or cache ls" [ "$leak" = 0 ]
check "the query still reached the server" grep -q 'sig=q-SECRET-789' logs/access.log
no_leftovers "no process left" 3
done_testing
