#!/usr/bin/env bash
# stage from Ceph's radosgw, an S3 server that checks SigV4 signatures
# (s3rver checks only the access key id): a single-node cluster of the
# test's own (tests/fixtures/rgw.sh: one monitor, one OSD on memstore) on
# loopback. Signed listing and ranged GETs, an exact copy checked by xxh3
# and the store's MD5 ETags, a no-op, and a wrong secret refused with the
# S3 code, nothing published, the secret in no output.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
command -v radosgw >/dev/null && command -v ceph-osd >/dev/null ||
	skip_all "Ceph's radosgw, ceph-mon and ceph-osd are not installed (make deps installs them)"
RGW=$FIXTURES_SRC/rgw.sh
P=$(free_port)
MP=$(free_port)
KEY=CSTESTKEY SECRET=cs-SECRET-rgw-1
stop_rgw() { "$RGW" stop "$SCRATCH/ceph"; }
at_exit stop_rgw
check "a single-node Ceph cluster with radosgw starts" "$RGW" start "$SCRATCH/ceph" "$P" "$MP" "$KEY" "$SECRET"
EP=http://127.0.0.1:$P
SIGN=(--aws-sigv4 aws:amz:us-east-1:s3 --user "$KEY:$SECRET" -H x-amz-content-sha256:UNSIGNED-PAYLOAD)
export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_ENDPOINT_URL=$EP AWS_REGION=us-east-1 HOME=$SCRATCH
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_DEFAULT_REGION

check "a bucket (curl's SigV4)" curl -sf "${SIGN[@]}" -X PUT "$EP/models" -o /dev/null
check "radosgw checks the signature: a wrong secret is refused" \
	sh -c '[ "$(curl -s -o /dev/null -w "%{http_code}" --aws-sigv4 aws:amz:us-east-1:s3 --user "$1:wrong" -H x-amz-content-sha256:UNSIGNED-PAYLOAD "$2/models")" = 403 ]' _ "$KEY" "$EP"
"$COLDSTART" mkmodel m --preset tiny --shard-size 10M -q >/dev/null
args=()
for f in $(cd m && ls); do args+=(-T "m/$f" "$EP/models/qwen/m/$f"); done
check "the model uploaded" curl -sf "${SIGN[@]}" "${args[@]}" -o /dev/null
R=$SCRATCH/root

expect_rc 0 "stage s3://models/qwen/m from radosgw, signed" "$COLDSTART" stage s3://models/qwen/m --root "$R" --verify xxh3 --json
check "an exact copy" same m "$R/m"
json_is "every object checked against its MD5 ETag too" "$out" 'd["store_checked_files"]' "$(ls m | wc -l)"
check "with ranged GETs (radosgw's log)" grep -q "GET /models/qwen/m/model-00001-of-" "$SCRATCH"/ceph/log/client.rgw.t.log
expect_rc 0 "unchanged: a no-op" "$COLDSTART" stage s3://models/qwen/m --root "$R"
contains "says so" "$err" "already staged from the unchanged source"

AWS_SECRET_ACCESS_KEY=not-the-secret expect_rc 1 "a wrong secret key" "$COLDSTART" stage s3://models/qwen/m --root "$R" --name bad
contains "names the prefix and the S3 code" "$err" "s3://models/qwen/m/: listing failed: HTTP 403 SignatureDoesNotMatch"
lacks "no empty message in parentheses" "$err" "()"
check "nothing published" [ ! -e "$R/bad" ]
check "the secret is in no output, manifest or journal" \
	[ "$( { echo "$out$err"; cat "$R"/*/.coldstart-manifest.json; cat "$R"/.partial/* 2>/dev/null; } | grep -c "$SECRET")" = 0 ]
stop_rgw
no_leftovers "no Ceph daemon left"
done_testing
