#!/usr/bin/env bash
# stage from a Hugging Face Hub resolve URL, against hubserve
# (tests/fixtures/hubserve.mjs): a stand-in of our own for the Hub, not the
# Hub -- its tree API, resolve/ answering 302 to signed URLs on a CDN at
# another loopback host (127.0.0.2) that refuses a token and whose
# signatures can be made to expire mid-stage. One redirect per file: the
# resolve URL is asked once per file (plus once per expiry), the files come
# from the Hub's listing, nothing probed; no credential reaches the CDN.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
command -v node >/dev/null || skip_all "no node on the PATH"
# Per LFS file of server NAME: the resolve requests (302s), and the
# distinct signatures the CDN refused; prints the files where resolves is
# not 1 + refused (nothing: every file resolved once, and once per expiry).
resolves_off() {
	python3 -c '
import json,sys,collections
res=collections.Counter(); ref=collections.defaultdict(set)
for l in open(sys.argv[1]):
    r=json.loads(l)
    if r["host"]=="hub" and r.get("kind")=="resolve" and r["status"]==302: res[r["path"]]+=1
    if r["host"]=="cdn" and r["status"]==403: ref[r["path"]].add(r["sig"])
for p in sorted(set(res)|set(ref)):
    if res[p]!=1+len(ref[p]): print(p, res[p], len(ref[p]))' "$SCRATCH/$1.log"
}
# The most resolve requests (302s) one LFS file of server NAME had.
most_resolves() {
	python3 -c '
import json,sys,collections
res=collections.Counter()
for l in open(sys.argv[1]):
    r=json.loads(l)
    if r["host"]=="hub" and r.get("kind")=="resolve" and r["status"]==302: res[r["path"]]+=1
print(max(res.values()))' "$SCRATCH/$1.log"
}
LFS='r["host"]=="hub" and r.get("kind")=="resolve" and r["status"]==302'
SECRETS='"authorization" in h or "x-api-key" in h or any("SECRET" in v for v in h.values())'

mkdir -p want repo
"$COLDSTART" mkmodel want/m --preset tiny --shard-size 5M -q >/dev/null
cp -a want/m repo/m
echo "# a model card" > repo/m/README.md
printf '*.safetensors filter=lfs diff=lfs merge=lfs -text\n' > repo/m/.gitattributes
NLFS=$(ls want/m/*.safetensors | wc -l)
NPAGES=$(( ($(ls -A repo/m | wc -l) + 2) / 3 ))
R=$SCRATCH/root
n=0
fresh() { n=$((n + 1)); HP=$(free_port); CP=$(free_port); U=http://127.0.0.1:$HP/acme/tiny/resolve/main; }
hub() { start_hubserve h$n "$HP" "$CP" --repo acme/tiny --rev main --root repo/m "$@"; }

# --- one redirect per file, the files from the Hub's tree ---

fresh
check "a Hub (our stand-in) whose LFS files redirect to a CDN on 127.0.0.2" hub
HF_TOKEN=hf-SECRET-1 expect_rc 0 "stage its resolve URL with \$HF_TOKEN and --header, 1 MiB chunks" \
	"$COLDSTART" stage "$U/" --root "$R" --name h1 --chunk 1M --header 'X-Api-Key: key-SECRET-2' --json
check "... an exact copy of the model's files (not README.md or .gitattributes)" same want/m "$R/h1"
check "... many chunks went to the CDN" [ "$(reqs h$n 'r["host"]=="cdn" and r["method"]=="GET"')" -gt $((NLFS * 3)) ]
check "... the resolve URL of each LFS file was asked once" [ "$(reqs h$n "$LFS")" = "$NLFS" ]
check "... once per file, each" [ -z "$(resolves_off h$n)" ]
check "... the files came from the Hub's tree, one API request" [ "$(reqs h$n 'r.get("kind")=="api"')" = 1 ]
check "... nothing probed: no 404" [ "$(reqs h$n 'r["status"]==404')" = 0 ]
IDX='r["host"]=="hub" and r.get("path")=="model.safetensors.index.json"'
check "... the index: one GET in the listing (its identity too)" \
	[ "$(reqs h$n "$IDX"' and r["method"]=="GET" and r["status"]==200')" = 1 ]
check "... and no HEAD of it but the one after the copy" [ "$(reqs h$n "$IDX"' and r["method"]=="HEAD"')" = 1 ]
check "... the CDN got no Authorization, no X-Api-Key, no token" [ "$(reqs h$n 'r["host"]=="cdn" and ('"$SECRETS"')')" = 0 ]
check "... and refused none" [ "$(reqs h$n 'r["host"]=="cdn" and r["status"]>=400')" = 0 ]
check "... the Hub got them, on the API and on resolve" \
	[ "$(reqs h$n 'r["host"]=="hub" and h.get("authorization")=="Bearer hf-SECRET-1" and h.get("x-api-key")=="key-SECRET-2"')" = \
	  "$(reqs h$n 'r["host"]=="hub"')" ]
lacks "... no secret in the output" "$out$err" "SECRET"
lacks "... nor the CDN's signature" "$out$err" "X-Amz-Signature"
expect_rc 0 "stage again: unchanged, a no-op" "$COLDSTART" stage "$U/" --root "$R" --name h1 --json
json_is "... noop" "$out" 'd["noop"]' True
stop_faultserve h$n

fresh
check "a Hub whose tree comes in pages of 3 entries (Link: rel=\"next\")" hub --page 3
HF_TOKEN=hf-SECRET-1 expect_rc 0 "stage" "$COLDSTART" stage "$U/" --root "$R" --name hp --chunk 1M
check "... an exact copy" same want/m "$R/hp"
check "... every page asked, with the token" \
	[ "$(reqs h$n 'r.get("kind")=="api" and r["status"]==200 and h.get("authorization")=="Bearer hf-SECRET-1"')" = "$NPAGES" ]
stop_faultserve h$n

# --- signed URLs that expire mid-stage ---

fresh
check "a Hub whose signed URLs all expire once the CDN has had 12 requests" hub --expire-at 12
HF_TOKEN=hf-SECRET-1 expect_rc 0 "stage: the expired ones resolved again" \
	"$COLDSTART" stage "$U/" --root "$R" --name he --chunk 1M
check "... an exact copy" same want/m "$R/he"
check "... signatures did expire" [ "$(reqs h$n 'r["host"]=="cdn" and r["status"]==403')" -gt 0 ]
check "... each file resolved once, and once more per signature that expired (not per chunk)" [ -z "$(resolves_off h$n)" ]
check "... more resolves than files: they were resolved again" [ "$(reqs h$n "$LFS")" -gt "$NLFS" ]
check "... still no token at the CDN" [ "$(reqs h$n 'r["host"]=="cdn" and ('"$SECRETS"')')" = 0 ]
expect_rc 0 "the published copy verifies" "$COLDSTART" cache verify --root "$R" he
stop_faultserve h$n

fresh
check "a Hub whose signatures expire at the CDN's 12th request, and whose new ones are refused" \
	hub --expire-at 12 --good-sigs "$NLFS"
HF_TOKEN=hf-SECRET-1 expect_rc 1 "stage fails" "$COLDSTART" stage "$U/" --root "$R" --name hx --chunk 1M
contains "... naming the file" "$err" "'$U/model-0000"
contains "... and the CDN's reason" "$err" "AccessDenied: Request has expired"
contains "... and that it was resolved anew" "$err" "again after resolving it anew"
lacks "... without the signature" "$err" "X-Amz"
check "... nothing published" [ ! -e "$R/hx" ]
check "... each file resolved at most twice: once, and once again" [ "$(most_resolves h$n)" -le 2 ]
stop_faultserve h$n

# --- the CDN refuses a file ---

JSONLFS='\.(safetensors|json)$'
IDXRES='r["host"]=="hub" and r.get("path")=="model.safetensors.index.json" and r["status"]==302'
fresh
check "a Hub whose index is in LFS too, and whose CDN refuses it (403)" hub --lfs "$JSONLFS" \
	--refuse model.safetensors.index.json
HF_TOKEN=hf-SECRET-1 expect_rc 1 "stage fails" "$COLDSTART" stage "$U/" --root "$R" --name hr --chunk 1M
contains "... naming the index and the CDN's 403" "$err" "'$U/model.safetensors.index.json': HTTP 403 AccessDenied: Access Denied"
contains "... after resolving it anew" "$err" "again after resolving it anew"
lacks "... not that it is no model" "$err" "not a model"
lacks "... no token hint: the token went to the Hub, not the CDN" "$err" "token"
check "... the index resolved twice: once, and once again" [ "$(reqs h$n "$IDXRES")" = 2 ]
check "... nothing published" [ ! -e "$R/hr" ]
stop_faultserve h$n

fresh
check "the same Hub, every signature expired from the start" hub --lfs "$JSONLFS" --good-sigs 0
HF_TOKEN=hf-SECRET-1 expect_rc 1 "stage fails" "$COLDSTART" stage "$U/" --root "$R" --name hr --chunk 1M
contains "... naming the index" "$err" "'$U/model.safetensors.index.json': HTTP 403 AccessDenied: Request has expired"
lacks "... no file it never asks for" "$err" ".gitattributes"
lacks "... no token hint" "$err" "token"
check "... the index resolved twice" [ "$(reqs h$n "$IDXRES")" = 2 ]
stop_faultserve h$n

fresh
check "a Hub whose CDN refuses one shard (403)" hub --refuse model-00002-of-00004.safetensors
HF_TOKEN=hf-SECRET-1 expect_rc 1 "stage fails" "$COLDSTART" stage "$U/" --root "$R" --name hr --chunk 1M
contains "... naming the shard and the 403" "$err" "'$U/model-00002-of-00004.safetensors': HTTP 403"
lacks "... no token hint: the CDN refused, not the Hub" "$err" "token"
stop_faultserve h$n

# --- a private repository, a dataset's directory, a server without the API ---

fresh
check "a private repository (the Hub wants the token)" hub --token hf-SECRET-9
expect_rc 1 "without \$HF_TOKEN: fails" env -u HF_TOKEN "$COLDSTART" stage "$U/" --root "$R" --name hq
contains "... access denied, naming the API URL and the token" "$err" "/api/models/acme/tiny/tree/main': HTTP 401"
contains "... with the Hub's reason" "$err" "Invalid credentials"
contains "... and that a token may help" "$err" "access denied (a token? \$HF_TOKEN)"
lacks "... no secret" "$err" "SECRET"
HF_TOKEN=hf-SECRET-8 expect_rc 1 "with another token: fails" "$COLDSTART" stage "$U/" --root "$R" --name hq
contains "... saying the token was refused" "$err" "Invalid credentials in Authorization header\"}: access denied (the token was refused)"
lacks "... not asking for one" "$err" "a token?"
lacks "... no secret" "$err" "SECRET"
HF_TOKEN=hf-SECRET-9 expect_rc 0 "with it: staged" "$COLDSTART" stage "$U/" --root "$R" --name hq --chunk 1M
check "... an exact copy" same want/m "$R/hq"
stop_faultserve h$n

fresh
mkdir -p ds
cp -a repo/m ds/m
echo "a dataset card" > ds/README.md
check "a dataset repository with the model in its directory m/" \
	start_hubserve h$n "$HP" "$CP" --repo acme/data --rev v1.0 --type datasets --root ds
expect_rc 0 "stage .../datasets/acme/data/resolve/v1.0/m/" \
	"$COLDSTART" stage "http://127.0.0.1:$HP/datasets/acme/data/resolve/v1.0/m/" --root "$R" --name hd --chunk 1M
check "... an exact copy of m/" same want/m "$R/hd"
check "... nothing probed" [ "$(reqs h$n 'r["status"]==404')" = 0 ]
stop_faultserve h$n

fresh
mkdir -p gg
cp want/m/config.json gg/
"$COLDSTART" mkmodel gg/model.gguf --preset tiny --format gguf -q >/dev/null
check "a repository with no index and no model.safetensors: config.json and a GGUF file" \
	start_hubserve h$n "$HP" "$CP" --repo acme/tiny --rev main --root gg
expect_rc 0 "stage: every file at the top" "$COLDSTART" stage "$U/" --root "$R" --name hg --chunk 1M
check "... all of them, not the first alone" same gg "$R/hg"
stop_faultserve h$n

fresh
mkdir -p www/acme/tiny/resolve
cp -a want/m www/acme/tiny/resolve/main
check "a plain server with the same paths, no API (404)" start_faultserve f$n 127.0.0.1:$HP --root www
expect_rc 0 "stage: its names probed, as any server's" "$COLDSTART" stage "$U/" --root "$R" --name hf --chunk 1M
check "... an exact copy" same want/m "$R/hf"
check "... the API was asked once" [ "$(reqs f$n 'r["url"].startswith("/api/")')" = 1 ]
stop_faultserve f$n

no_leftovers "no process left" 3
done_testing
