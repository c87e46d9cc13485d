#!/usr/bin/env bash
# bench and run with a URL as the network path: net runs hand the URL to
# the server as {model} (a server that reads it itself: urlserve.sh, curl
# then the fake server), staged runs stage from it; notes net=s3 /
# net=http and cold_mode=remote; servers that read local files only are
# refused before anything runs; the sidecar and the report name the store.
# Real servers on loopback: nginx for http://, s3rver for s3://.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
[ -x "$NGINX" ] || skip_all "nginx is not installed (make deps installs nginx-light)"
[ -x "$S3RVER" ] || skip_all "s3rver is not installed (make deps: needs Node.js >= 20 and npm)"
command -v node >/dev/null || skip_all "no node on the PATH"
F=${FIXTURES:?}/fakeserver
export URLSERVE_DIR=$SCRATCH/fetched
mkdir -p www "$URLSERVE_DIR"
"$COLDSTART" mkmodel www/m --preset tiny --shard-size 10M -q >/dev/null
nginx_conf "$SCRATCH/www"
at_exit stop_nginx
start_nginx
start_s3rver models
s3put www/m qwen/m
SRV="$FIXTURES_SRC/urlserve.sh $F {model} {port}"
note() { python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1])))[int(sys.argv[2])]
print(dict(kv.split("=",1) for kv in r["notes"].split("; ") if "=" in kv).get(sys.argv[3],""))' "$@"; }

expect_rc 0 "bench --net http://.../m/ --modes net,staged" "$COLDSTART" bench --net "http://127.0.0.1:$PORT/m/" \
	--modes net,staged --stage-root "$SCRATCH/stage" --server "$SRV" --repeat 1 --csv h.csv
check "two rows" [ "$(wc -l < h.csv)" = 3 ]
check "the net run's server was given the URL as {model}" grep -qx "http://127.0.0.1:$PORT/m/" "$URLSERVE_DIR/urls"
check "... and read the model from it" cmp www/m/config.json "$(ls -d "$URLSERVE_DIR"/*/ | head -1)/config.json"
check "net row: net=http" [ "$(note h.csv 0 net)" = http ]
check "net row: cold_mode=remote, cold=unverified" [ "$(note h.csv 0 cold_mode)/$(note h.csv 0 cold)" = remote/unverified ]
check "staged row: staged from the URL (staged_bytes)" [ "$(note h.csv 1 staged_bytes)" = "$(du -cb www/m/* | tail -1 | cut -f1)" ]
check "staged row: a local copy, evicted (cold_mode=files)" [ "$(note h.csv 1 cold_mode)" = files ]
check "the staged copy was removed after its run" [ -z "$(ls "$SCRATCH/stage" | grep -v '^\.')" ]
json_ok "the sidecar names the HTTP server" "$(cat h.meta.json)" '
p=[x for x in d["paths"] if x["mode"]=="net"][0]
assert p["fstype"]=="http" and p["kind"]=="HTTP server" and p["source"]=="http://127.0.0.1:'"$PORT"'", p
assert d["net"]=="http", d["net"]'
contains "the report's environment names it" "$(cat h.md)" "| net | http://127.0.0.1:$PORT/m/ |"
contains "the report explains the remote runs' coldness" "$(cat h.md)" "cold_mode=remote"

: > "$URLSERVE_DIR/urls"
expect_rc 0 "bench --net s3://models/qwen/m" "$COLDSTART" bench --net s3://models/qwen/m --modes staged,net \
	--stage-root "$SCRATCH/stage" --server "$SRV" --repeat 1 --csv s.csv -q
check "the server got the s3:// URL" grep -qx "s3://models/qwen/m" "$URLSERVE_DIR/urls"
check "net=s3 in both rows" [ "$(note s.csv 0 net)/$(note s.csv 1 net)" = s3/s3 ]
json_ok "the sidecar: object store at the endpoint" "$(cat s.meta.json)" '
p=[x for x in d["paths"] if x["mode"]=="net"][0]
assert p["fstype"]=="s3" and p["kind"]=="object store" and p["source"]=="'"$EP"'", p'
check "staged: ranged GETs from the bucket (206 in s3rver's log)" grep -q "qwen/m/model-00001-of-00003.safetensors 206" "$SCRATCH/s3rver.log"
check "net: the server's own whole-object GETs (200)" grep -Eq "qwen/m/model-00001-of-00003.safetensors 200 [0-9]+ms [1-9]" "$SCRATCH/s3rver.log"

# No credentials: an error naming what was tried, never unsigned requests;
# --no-sign-request asks for those (s3rver serves a public read).
nocreds() { env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_EC2_METADATA_DISABLED=true \
	AWS_SHARED_CREDENTIALS_FILE="$SCRATCH/none" AWS_CONFIG_FILE="$SCRATCH/none" "$@"; }
expect_rc 1 "bench --net s3:// with no credentials" nocreds "$COLDSTART" bench --net s3://models/qwen/m --modes staged \
	--stage-root "$SCRATCH/stage" --server "$SRV" --repeat 1 --csv n.csv -q
contains "... an error naming what was tried" "$err" "no S3 credentials found; tried, in order"
expect_rc 0 "bench --net s3:// --no-sign-request" nocreds "$COLDSTART" bench --net s3://models/qwen/m --modes staged \
	--no-sign-request --stage-root "$SCRATCH/stage" --server "$SRV" --repeat 1 --csv n.csv -q
check "... staged it unsigned" [ "$(note n.csv 0 staged_bytes)" = "$(du -cb www/m/* | tail -1 | cut -f1)" ]
expect_rc 2 "--no-sign-request with an http:// --net: a usage error" "$COLDSTART" bench --net "http://127.0.0.1:$PORT/m/" \
	--no-sign-request --modes net --server "$SRV" -q --csv r.csv
contains "... which says why" "$err" "--no-sign-request goes with an s3:// --net or --cache-src"

# Refusals, before anything runs.
expect_rc 2 "refserve cannot read a URL" "$COLDSTART" bench --net s3://models/qwen/m --modes net --server refserve -q --csv r.csv
contains "says why and what to do" "$err" "reads local files only"
check "no row" [ ! -s r.csv ]
expect_rc 2 "net+prefetch of a URL" "$COLDSTART" bench --net "http://127.0.0.1:$PORT/m/" --modes net+prefetch --server "$SRV" -q --csv r.csv
contains "says why" "$err" "warms the files of a mounted path"
expect_rc 1 "a missing prefix" "$COLDSTART" bench --net s3://models/nothing/here --modes staged --stage-root "$SCRATCH/stage" --server "$SRV" -q --csv r.csv
contains "names it" "$err" "net source refused"
expect_rc 2 "--insecure with a path" "$COLDSTART" bench --net www/m --insecure --server "$SRV" -q --csv r.csv

# run --model URL: the same hand-over, and the URL's credentials never shown
# nor on the server's command line (every user reads it in ps): {model} is
# the URL without them, the whole URL is in $COLDSTART_MODEL_URL.
: > "$URLSERVE_DIR/urls"
: > "$URLSERVE_DIR/env-urls"
expect_rc 0 "run --model URL?token" "$COLDSTART" run --model "http://127.0.0.1:$PORT/m/?sig=q-SECRET-1" --server "$SRV" --csv u.csv --json
check "the server's command line got the URL without its query" grep -qx "http://127.0.0.1:$PORT/m/" "$URLSERVE_DIR/urls"
check "... and its environment the whole URL" grep -qx "http://127.0.0.1:$PORT/m/?sig=q-SECRET-1" "$URLSERVE_DIR/env-urls"
contains "a warning says so" "$err" "in the server's environment as \$COLDSTART_MODEL_URL"
check "cold_mode=remote" [ "$(note u.csv 0 cold_mode)" = remote ]
check "the token is in no output, row or log" [ "$( { echo "$out$err"; cat u.csv; cat coldstart-logs/* 2>/dev/null; } | grep -c SECRET)" = 0 ]

# bench --net with a password and a signature: in no output, row, sidecar,
# report, log, --json, nor any command line of coldstart's processes while
# they run (coldstart itself, the process guard it forks, the server).
printf '%s\n' '#!/bin/sh' \
	'# The command lines of this server, its parent (the guard) and the' \
	"# guard's parent (coldstart), while they run; then the server." \
	'g=$PPID' \
	'c=$(awk "{print \$4}" "/proc/$g/stat")' \
	'for p in $$ $g $c; do tr "\0" " " < "/proc/$p/cmdline"; echo; done >> "$SPY"' \
	'exec "$@"' > spy.sh
chmod +x spy.sh
export SPY=$SCRATCH/cmdlines
: > "$SPY"
: > "$URLSERVE_DIR/env-urls"
SURL="http://user:pw-SECRET-2@127.0.0.1:$PORT/m/?X-Amz-Signature=SECRET-3"
expect_rc 0 "bench --net URL with user info and a signature" "$COLDSTART" bench --net "$SURL" --nvme www/m --modes nvme,net \
	--server "$SCRATCH/spy.sh $SRV" --repeat 1 --csv p.csv --json
check "the server read the model through \$COLDSTART_MODEL_URL" grep -qx "$SURL" "$URLSERVE_DIR/env-urls"
check "the command lines were recorded, 3 per run" [ "$(wc -l < "$SPY")" = 6 ]
stars() { printf '%*s' "${#1}" '' | tr ' ' '*'; }
contains "coldstart's own command line shows the URL, its secrets overwritten" "$(cat "$SPY")" \
	"--net http://$(stars user:pw-SECRET-2)@127.0.0.1:$PORT/m/?$(stars X-Amz-Signature=SECRET-3) --nvme"
check "no credential on any command line: the server's, the guard's, coldstart's" [ "$(grep -c SECRET "$SPY")" = 0 ]
json_ok "the sidecar names the model's identity by the URL's listing" "$(cat p.meta.json)" '
m=d["model_identity"]
assert m["same"] is True and [p["mode"] for p in m["paths"]]==["nvme","net"], m'
contains "the sidecar's command line, redacted" "$(cat p.meta.json)" "--net 'http://REDACTED@127.0.0.1:$PORT/m/?REDACTED'"
contains "the report's bench command, redacted" "$(cat p.md)" "http://REDACTED@127.0.0.1:$PORT/m/?REDACTED"
check "the password and signature are in no output, row, sidecar, report or log" \
	[ "$( { echo "$out$err"; cat p.csv p.meta.json p.md p.svg coldstart-logs/* 2>/dev/null; } | grep -c SECRET)" = 0 ]
# A report from an older sidecar that still holds them: not shown either.
python3 -c 'import json,sys; m=json.load(open("p.meta.json")); m["command_line"]="coldstart bench --net "+sys.argv[1]
m["server_template"]="srv --token-url "+sys.argv[1]; json.dump(m, open("p.meta.json","w"))' "$SURL"
expect_rc 0 "report on a sidecar that holds credentials" "$COLDSTART" report p.csv --json
check "... the report does not show them" [ "$( { echo "$out$err"; cat p.md p.svg; } | grep -c SECRET)" = 0 ]
# A --net whose listing differs from --nvme: refused before anything runs.
mkdir -p other && cp -r www/m other/m && printf '\n\n' >> other/m/generation_config.json
expect_rc 1 "a URL --net that is another model than --nvme" "$COLDSTART" bench --net "http://127.0.0.1:$PORT/m/" --nvme other/m \
	--modes nvme,net --server "$SRV" --repeat 1 --csv q.csv -q
contains "names the file and the sizes" "$err" \
	"'generation_config.json' is $(stat -c %s other/m/generation_config.json) bytes under --nvme and $(stat -c %s www/m/generation_config.json) under --net"
check "nothing written" [ ! -e q.csv ]
expect_rc 2 "run --model URL --server refserve" "$COLDSTART" run --model s3://models/qwen/m --server refserve
expect_rc 2 "run --model URL --prefetch" "$COLDSTART" run --model s3://models/qwen/m --server "$SRV" --prefetch
stop_nginx
stop_s3rver
no_leftovers "no server left"
done_testing
