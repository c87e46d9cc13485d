#!/usr/bin/env bash
# Conformance: for each way of giving S3 credentials, the AWS SDK for
# JavaScript's own chain (fromNodeProviderChain of
# @aws-sdk/credential-providers, pinned in bench/servers/package-lock.json,
# run by tests/fixtures/sdk-chain.mjs) and coldstart, in the same
# environment against the same local endpoints, resolve the same access
# key id -- and both find none when nothing is set. The IMDS, container
# and STS endpoints are coldstart's own protocol servers
# (tests/fixtures/awscreds.mjs), not AWS's; coldstart's key id is read
# from the notice stage prints ("s3 credentials: access key id ...").
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
[ -x "$S3RVER" ] || skip_all "s3rver is not installed (make deps: needs Node.js >= 20 and npm)"
command -v node >/dev/null || skip_all "no node on the PATH"
[ -d "$REPO_ROOT/bench/servers/node_modules/@aws-sdk/credential-providers" ] ||
	skip_all "@aws-sdk/credential-providers is not installed (npm install in bench/servers)"

start_s3rver models
"$COLDSTART" mkmodel m --preset tiny -q >/dev/null
s3put m m
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE \
	AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_ENDPOINT_URL_STS AWS_CONFIG_FILE \
	AWS_SHARED_CREDENTIALS_FILE
export HOME=$SCRATCH/home AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
mkdir -p "$HOME/.aws" "$SCRATCH/bin"

cat > "$SCRATCH/creds.json" <<'EOF'
{ "ttl": 3600,
  "imds": { "role": "node-role", "key": "AKIMDS", "secret": "SKIMDS", "token": "TKIMDS" },
  "container": { "path": "/v1/credentials", "auth": "pod-auth-token", "key": "AKCONTAINER", "secret": "SK",
                 "token": "TK" },
  "sts": { "signers": { "AKSOURCE": { "secret": "SKSOURCE", "token": null } },
           "roles": { "arn:aws:iam::000000000000:role/web": { "key": "AKWEB", "secret": "SKWEB" },
                      "arn:aws:iam::000000000000:role/one": { "key": "AKROLEONE", "secret": "SK1" },
                      "arn:aws:iam::000000000000:role/two": { "key": "AKROLETWO", "secret": "SK2" } },
           "web_token": "jwt-web" } }
EOF
start_awscreds "$SCRATCH/creds.json" || { echo "Bail out! awscreds did not start"; exit 1; }
STS=http://127.0.0.1:$ACP

printf '#!/bin/sh\necho '"'"'{"Version": 1, "AccessKeyId": "AKPROCESS", "SecretAccessKey": "SK", "Expiration": "2099-01-01T00:00:00Z"}'"'"'\n' \
	> "$SCRATCH/bin/cred"
chmod +x "$SCRATCH/bin/cred"
printf 'jwt-web' > "$SCRATCH/web-token"
printf 'pod-auth-token' > "$SCRATCH/pod-token"
cat > "$HOME/.aws/credentials" <<'EOF'
[static]
aws_access_key_id = AKSTATIC
aws_secret_access_key = SKSTATIC
[base]
aws_access_key_id = AKSOURCE
aws_secret_access_key = SKSOURCE
EOF
cat > "$HOME/.aws/config" <<EOF
[profile one]
role_arn = arn:aws:iam::000000000000:role/one
source_profile = base
[profile two]
role_arn = arn:aws:iam::000000000000:role/two
source_profile = one
[profile proc]
credential_process = $SCRATCH/bin/cred
[profile webfile]
role_arn = arn:aws:iam::000000000000:role/web
web_identity_token_file = $SCRATCH/web-token
EOF

# both DESC ENV...: the key id each resolves ("none" when it finds none).
both() {
	local desc=$1
	shift
	sdk=$(env "$@" node "$FIXTURES_SRC/sdk-chain.mjs" "$REPO_ROOT" 2>>"$SCRATCH/sdk.err")
	sdk=${sdk#key }
	case $sdk in none*) sdk=none ;; esac
	cs=$(env "$@" "$COLDSTART" stage s3://models/m --root "$SCRATCH/root" --name m 2>&1 >/dev/null)
	cs_key=$(printf '%s\n' "$cs" | sed -n 's/.*s3 credentials: access key id \([^,]*\),.*/\1/p')
	case $cs in *"no S3 credentials found"*) cs_key=none ;; esac
	check "$desc: the SDK and coldstart agree ($sdk = ${cs_key:-?})" [ -n "$cs_key" ] && [ "$sdk" = "$cs_key" ]
	check "... on the expected one" [ "$sdk" = "$want" ]
}

want=AKENV both "the environment" AWS_ACCESS_KEY_ID=AKENV AWS_SECRET_ACCESS_KEY=SKENV
want=AKWEB both "web identity (IRSA)" AWS_ROLE_ARN=arn:aws:iam::000000000000:role/web \
	AWS_WEB_IDENTITY_TOKEN_FILE="$SCRATCH/web-token" AWS_ENDPOINT_URL_STS=$STS
want=AKSTATIC both "a profile's static keys" AWS_PROFILE=static
want=AKROLEONE both "role_arn + source_profile" AWS_PROFILE=one AWS_ENDPOINT_URL_STS=$STS
want=AKROLETWO both "a role chained through another" AWS_PROFILE=two AWS_ENDPOINT_URL_STS=$STS
want=AKWEB both "role_arn + web_identity_token_file" AWS_PROFILE=webfile AWS_ENDPOINT_URL_STS=$STS
want=AKPROCESS both "credential_process" AWS_PROFILE=proc
want=AKCONTAINER both "the container endpoint, _FULL_URI and a token file" \
	AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$ACP/v1/credentials \
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$SCRATCH/pod-token"
want=AKIMDS both "IMDSv2" -u AWS_EC2_METADATA_DISABLED AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$ACP
want=AKENV both "the environment comes before the container endpoint and IMDS" -u AWS_EC2_METADATA_DISABLED \
	AWS_ACCESS_KEY_ID=AKENV AWS_SECRET_ACCESS_KEY=SKENV AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$ACP \
	AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$ACP/v1/credentials \
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$SCRATCH/pod-token"
want=AKCONTAINER both "the container endpoint comes before IMDS" -u AWS_EC2_METADATA_DISABLED \
	AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$ACP \
	AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$ACP/v1/credentials \
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$SCRATCH/pod-token"
want=none both "nothing set"
check "IMDSv2 was asked for a token (by both)" [ "$(grep -c '^PUT /latest/api/token 200' "$SCRATCH/awscreds.log")" -ge 2 ]
stop_faultserve awscreds
stop_s3rver
no_leftovers "no process left" 3
done_testing
