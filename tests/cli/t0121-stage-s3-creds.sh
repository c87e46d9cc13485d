#!/usr/bin/env bash
# S3 credentials from each source of the chain, end to end: stage from
# s3rver (a real S3 API server; it checks the access key id, not the
# signature) with the keys coming from credential_process, IMDSv2, the
# container endpoint (token file), web identity and role_arn +
# source_profile through STS. The IMDS, container and STS endpoints are
# coldstart's OWN protocol servers (tests/fixtures/awscreds.mjs, strict:
# method, path, IMDSv2's token, the container's Authorization, STS's SigV4
# checked against the signing key's secret, the web identity token) -- not
# AWS's, and not Ceph's STS (see docs/credentials.md). Then the error that
# lists what was tried when nothing is set, a failing credential_process
# (its output never shown), --no-sign-request (unsigned requests, seen by a
# server that logs every header), and no secret anywhere.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
[ -x "$S3RVER" ] || skip_all "s3rver is not installed (make deps: needs Node.js >= 20 and npm)"
command -v node >/dev/null || skip_all "no node on the PATH"

start_s3rver models
"$COLDSTART" mkmodel m --preset tiny --shard-size 10M -q >/dev/null
s3put m qwen/m
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE \
	AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_ENDPOINT_URL_STS
export HOME=$SCRATCH/home AWS_EC2_METADATA_DISABLED=true
mkdir -p "$HOME/.aws" "$SCRATCH/bin"
R=$SCRATCH/root

cat > "$SCRATCH/creds.json" <<'EOF'
{ "ttl": 3600,
  "imds": { "role": "node-role", "key": "S3RVER", "secret": "S3RVER", "token": "tok-SECRET-imds" },
  "container": { "path": "/v1/credentials", "auth": "pod-SECRET-auth", "key": "S3RVER", "secret": "S3RVER",
                 "token": "tok-SECRET-cont" },
  "sts": { "signers": { "AKSOURCE": { "secret": "src-SECRET-key", "token": null } },
           "roles": { "arn:aws:iam::000000000000:role/models": { "key": "S3RVER", "secret": "S3RVER" } },
           "web_token": "jwt-SECRET-web" } }
EOF
start_awscreds "$SCRATCH/creds.json"
ok_up=$?
check "the credential endpoints' stand-in is up" [ "$ok_up" = 0 ] && [ -n "$ACP" ]

stage_ok() { # DESC NAME WANT-SOURCE [ENV...] -- a stage with these credentials
	local desc=$1 name=$2 src=$3
	shift 3
	expect_rc 0 "$desc" env "$@" "$COLDSTART" stage s3://models/qwen/m --root "$R" --name "$name"
	check "... an exact copy" same m "$R/$name"
	contains "... names the key id and where it came from" "$err" "s3 credentials: access key id S3RVER, from $src"
}

# Nothing set: an error listing each source, and no request to the store.
before=$(wc -l < "$SCRATCH/s3rver.log")
expect_rc 1 "no credentials anywhere: an error" "$COLDSTART" stage s3://models/qwen/m --root "$R" --name none
for what in "1. the environment: AWS_ACCESS_KEY_ID is not set" \
	"2. web identity: AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE are not set" \
	"3. the shared files: no profile 'default'" "4. the container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" \
	"5. IMDS: AWS_EC2_METADATA_DISABLED=true" "--no-sign-request"; do
	contains "... it names: $what" "$err" "$what"
done
check "... and nothing was asked of the store" [ "$(wc -l < "$SCRATCH/s3rver.log")" = "$before" ]
check "... nothing staged" [ ! -e "$R/none" ]
CLOSED=$(free_port)
expect_rc 1 "IMDS enabled but not there: the error says what it got" env -u AWS_EC2_METADATA_DISABLED \
	AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$CLOSED "$COLDSTART" stage s3://models/qwen/m --root "$R" --name none
contains "... IMDS at that endpoint" "$err" "5. IMDS at 'http://127.0.0.1:$CLOSED'"

# credential_process: run without a shell (a quoted path with a space), its JSON read.
cat > "$SCRATCH/bin/cred helper" <<'EOF'
#!/bin/sh
[ "$1" = --key ] && [ "$2" = "S3RVER" ] || { echo "bad args: $*" >&2; exit 9; }
printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "S3RVER", "SessionToken": "tok-SECRET-proc", "Expiration": "2099-01-01T00:00:00Z"}\n' "$2"
EOF
printf '#!/bin/sh\necho "{\\"leak\\": \\"proc-SECRET-out\\"}"\nexit 3\n' > "$SCRATCH/bin/cred-fail"
printf '#!/bin/sh\necho "not json proc-SECRET-out"\n' > "$SCRATCH/bin/cred-junk"
chmod +x "$SCRATCH/bin/"*
cat > "$HOME/.aws/config" <<EOF
[profile proc]
credential_process = "$SCRATCH/bin/cred helper" --key 'S3RVER'
endpoint_url = $EP
[profile procfail]
credential_process = $SCRATCH/bin/cred-fail
[profile procjunk]
credential_process = $SCRATCH/bin/cred-junk
[profile inject]
credential_process = $SCRATCH/bin/cred-fail; touch $SCRATCH/injected
[profile role]
role_arn = arn:aws:iam::000000000000:role/models
source_profile = base
[profile base]
aws_access_key_id = AKSOURCE
aws_secret_access_key = src-SECRET-key
[profile denied]
role_arn = arn:aws:iam::000000000000:role/other
source_profile = base
EOF
stage_ok "credential_process" proc "credential_process of profile 'proc'" -u AWS_ENDPOINT_URL AWS_PROFILE=proc
for p in procfail procjunk; do
	expect_rc 1 "a credential_process that fails ($p): an error" env AWS_PROFILE=$p "$COLDSTART" stage \
		s3://models/qwen/m --root "$R" --name $p
	contains "... naming the profile" "$err" "profile '$p': credential_process"
	lacks "... its output never shown" "$out$err" "proc-SECRET-out"
done
expect_rc 1 "credential_process is not a shell command line" env AWS_PROFILE=inject "$COLDSTART" stage \
	s3://models/qwen/m --root "$R" --name inject
check "... ';' and what follows are its arguments, not another command" [ ! -e "$SCRATCH/injected" ]

# IMDSv2: a token first, then the role's credentials.
stage_ok "IMDSv2" imds "IMDS at 'http://127.0.0.1:$ACP'" -u AWS_EC2_METADATA_DISABLED \
	AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$ACP
check "... PUT /latest/api/token, then the role, with the token" grep -qx "PUT /latest/api/token 200" "$SCRATCH/awscreds.log"
check "... the role's credentials" grep -qx "GET /latest/meta-data/iam/security-credentials/node-role 200" "$SCRATCH/awscreds.log"

# The container endpoint (ECS, EKS Pod Identity): _FULL_URI and a token file.
printf 'pod-SECRET-auth\n' > "$SCRATCH/pod-token"
stage_ok "the container endpoint with a token file" cont "the container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI)" \
	AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$ACP/v1/credentials \
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$SCRATCH/pod-token"
expect_rc 1 "a token the endpoint refuses: an error" env AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$ACP/v1/credentials \
	AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong-token "$COLDSTART" stage s3://models/qwen/m --root "$R" --name cont2
contains "... which says so" "$err" "HTTP 403 (the authorization token was refused)"

# Web identity (EKS IRSA) and role_arn + source_profile, through the STS stand-in.
printf 'jwt-SECRET-web' > "$SCRATCH/web-token"
stage_ok "web identity: AssumeRoleWithWebIdentity" web "web identity (AWS_WEB_IDENTITY_TOKEN_FILE" \
	AWS_ROLE_ARN=arn:aws:iam::000000000000:role/models AWS_WEB_IDENTITY_TOKEN_FILE="$SCRATCH/web-token" \
	AWS_ENDPOINT_URL_STS=http://127.0.0.1:$ACP
check "... STS saw it unsigned" grep -qx "POST / 200 AssumeRoleWithWebIdentity" "$SCRATCH/awscreds.log"
stage_ok "role_arn + source_profile: AssumeRole" role "profile 'role' (role 'arn:aws:iam::000000000000:role/models'" \
	AWS_PROFILE=role AWS_ENDPOINT_URL_STS=http://127.0.0.1:$ACP
check "... signed (SigV4 checked) with the source profile's key" grep -qx "POST / 200 AssumeRole key=AKSOURCE" \
	"$SCRATCH/awscreds.log"
expect_rc 1 "a role STS refuses: an error" env AWS_PROFILE=denied AWS_ENDPOINT_URL_STS=http://127.0.0.1:$ACP \
	"$COLDSTART" stage s3://models/qwen/m --root "$R" --name denied
contains "... naming the role and STS's answer" "$err" "STS AssumeRole for role 'arn:aws:iam::000000000000:role/other'"
contains "... its code" "$err" "HTTP 403 AccessDenied"

# --no-sign-request: s3rver serves a public read; a server that logs every
# header shows the requests carry no Authorization.
expect_rc 0 "--no-sign-request" "$COLDSTART" stage s3://models/qwen/m --root "$R" --name anon --no-sign-request
check "... an exact copy" same m "$R/anon"
contains "... says so" "$err" "s3 requests unsigned (--no-sign-request)"
mkdir -p "$SCRATCH/empty"
FSP=$(free_port)
start_faultserve unsigned "127.0.0.1:$FSP" --root "$SCRATCH/empty"
AWS_ENDPOINT_URL=http://127.0.0.1:$FSP expect_rc 1 "unsigned requests (to a server that logs headers)" \
	"$COLDSTART" stage s3://models/qwen/m --root "$R" --name anon2 --no-sign-request
check "... it heard the listing" grep -q 'list-type=2' "$SCRATCH/unsigned.log"
lacks "... without an Authorization header" "$(cat "$SCRATCH/unsigned.log")" "AWS4-HMAC-SHA256"
AWS_ENDPOINT_URL=http://127.0.0.1:$FSP expect_rc 1 "signed requests, for comparison" env AWS_PROFILE=base \
	"$COLDSTART" stage s3://models/qwen/m --root "$R" --name anon2
contains "... carry one" "$(cat "$SCRATCH/unsigned.log")" "AWS4-HMAC-SHA256"
stop_faultserve unsigned
expect_rc 2 "--no-sign-request with a directory source: a usage error" "$COLDSTART" stage m --root "$R" --name x \
	--no-sign-request
contains "... which says why" "$err" "--no-sign-request goes with an s3:// source"

leak=$( { cat "$R"/*/.coldstart-manifest.json; "$COLDSTART" cache ls --root "$R" --json; } | grep -c 'SECRET')
check "no secret in manifests or cache ls" [ "$leak" = 0 ]
stop_faultserve awscreds
stop_s3rver
no_leftovers "no process left" 3
done_testing
