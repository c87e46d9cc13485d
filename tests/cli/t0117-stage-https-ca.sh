#!/usr/bin/env bash
# stage over HTTPS from a server whose certificate a private CA signed
# (made here by openssl; nginx on loopback): refused without the CA, with a
# message that names the certificate problem and the store it was checked
# against; trusted through --cacert, $CURL_CA_BUNDLE or $SSL_CERT_FILE, in
# that order; a CA file that cannot be read refused, naming it, before any
# request; --insecure the only way without the CA, and never implied. A
# redirect from https to http:// is refused, and nothing -- no request, no
# $HF_TOKEN, no --header -- reaches the plain server (its own access log
# records every Authorization). S3 through nginx TLS in front of s3rver:
# $AWS_CA_BUNDLE, before $CURL_CA_BUNDLE, after --cacert. exec --stage and
# bench (a staged run from an https --net) take --cacert too.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
[ -x "$NGINX" ] || skip_all "nginx is not installed (make deps installs nginx-light)"
command -v openssl >/dev/null || skip_all "openssl is not installed"
unset CURL_CA_BUNDLE SSL_CERT_FILE AWS_CA_BUNDLE HF_TOKEN
make_tls_ca
check "a private CA and a certificate for 127.0.0.1 (openssl)" openssl verify -CAfile "$TLS/ca.pem" "$TLS/server.pem"

mkdir -p www
"$COLDSTART" mkmodel www/m --preset tiny --shard-size 10M -q >/dev/null
PLAIN=$(free_port)
NG_TLS=1 NG_HTTP_EXTRA="log_format auth '\$request auth=[\$http_authorization] key=[\$http_x_api_key]';
  server {
    listen 127.0.0.1:$PLAIN;
    root $SCRATCH/www;
    access_log $SCRATCH/logs/plain.log auth;
  }" nginx_conf "$SCRATCH/www" "location ~ ^/down/(.*)\$ { return 302 http://127.0.0.1:$PLAIN/m/\$1; }"
at_exit stop_nginx
NG_TLS=1 start_nginx
check "nginx serves https on loopback" curl -sf --cacert "$TLS/ca.pem" -o /dev/null "https://127.0.0.1:$PORT/m/config.json"
U=https://127.0.0.1:$PORT
R=$SCRATCH/root
reqs() { grep -c . "$SCRATCH/logs/access.log"; }

# No CA: refused, saying why, and not by suggesting --insecure.
expect_rc 1 "https with a private CA's certificate, no CA given: refused" "$COLDSTART" stage "$U/m/" --root "$R" --name none
contains "the message names the certificate problem" "$err" "SSL certificate problem"
contains "... and the store it was checked against" "$err" "the system's CA store"
contains "... and suggests --cacert" "$err" "--cacert FILE"
lacks "... never --insecure" "$err" "insecure"
check "nothing was staged" [ ! -e "$R/none" ]

expect_rc 0 "--cacert: trusted" "$COLDSTART" stage "$U/m/" --root "$R" --name cacert --cacert "$TLS/ca.pem" --verify xxh3 -q
check "an exact copy" same www/m "$R/cacert"
expect_rc 0 "\$CURL_CA_BUNDLE: trusted" env CURL_CA_BUNDLE="$TLS/ca.pem" "$COLDSTART" stage "$U/m/" --root "$R" --name curl -q
check "an exact copy" same www/m "$R/curl"
expect_rc 0 "\$SSL_CERT_FILE: trusted" env SSL_CERT_FILE="$TLS/ca.pem" "$COLDSTART" stage "$U/m/" --root "$R" --name ssl -q
check "an exact copy" same www/m "$R/ssl"

# Precedence: --cacert, then $CURL_CA_BUNDLE, then $SSL_CERT_FILE.
expect_rc 1 "--cacert comes before \$CURL_CA_BUNDLE (the wrong CA given)" env CURL_CA_BUNDLE="$TLS/ca.pem" \
	"$COLDSTART" stage "$U/m/" --root "$R" --name p1 --cacert "$TLS/other.pem"
contains "the message names the bundle and what named it" "$err" "the CA bundle '$TLS/other.pem', from --cacert"
expect_rc 1 "\$CURL_CA_BUNDLE comes before \$SSL_CERT_FILE" env CURL_CA_BUNDLE="$TLS/other.pem" SSL_CERT_FILE="$TLS/ca.pem" \
	"$COLDSTART" stage "$U/m/" --root "$R" --name p2
contains "the message says \$CURL_CA_BUNDLE named it" "$err" "the CA bundle '$TLS/other.pem', from \$CURL_CA_BUNDLE"
expect_rc 0 "an empty \$CURL_CA_BUNDLE is unset: \$SSL_CERT_FILE decides" env CURL_CA_BUNDLE= SSL_CERT_FILE="$TLS/ca.pem" \
	"$COLDSTART" stage "$U/m/" --root "$R" --name p3 -q

# A CA file that cannot be read: refused before any request, naming it.
before=$(reqs)
expect_rc 1 "a --cacert file that does not exist: refused" "$COLDSTART" stage "$U/m/" --root "$R" --name missing --cacert "$SCRATCH/nope.pem"
contains "... naming it" "$err" "cannot read the CA bundle '$SCRATCH/nope.pem' (--cacert)"
expect_rc 1 "a --cacert directory: refused" "$COLDSTART" stage "$U/m/" --root "$R" --name missing --cacert "$TLS"
contains "... naming it" "$err" "the CA bundle '$TLS' (--cacert) is not a file"
expect_rc 1 "a \$CURL_CA_BUNDLE that does not exist: refused" env CURL_CA_BUNDLE="$SCRATCH/nope.pem" \
	"$COLDSTART" stage "$U/m/" --root "$R" --name missing
contains "... naming it and the variable" "$err" "'$SCRATCH/nope.pem' (\$CURL_CA_BUNDLE)"
check "none of them sent a request" [ "$(reqs)" = "$before" ]
expect_rc 2 "--cacert with a directory source: a usage error" "$COLDSTART" stage www/m --root "$R" --name x --cacert "$TLS/ca.pem"
contains "... which says why" "$err" "--cacert goes with a URL source"
expect_rc 2 "--cacert with --insecure: a usage error" "$COLDSTART" stage "$U/m/" --root "$R" --name x --cacert "$TLS/ca.pem" --insecure

# --insecure: the only way without the CA.
expect_rc 0 "--insecure stages without the CA" "$COLDSTART" stage "$U/m/" --root "$R" --name insecure --insecure -q
check "an exact copy" same www/m "$R/insecure"

# exec --stage and bench take --cacert.
expect_rc 0 "exec --stage https --cacert" "$COLDSTART" exec --stage "$U/m/" --root "$R" --name exec --cacert "$TLS/ca.pem" -q -- true
check "an exact copy" same www/m "$R/exec"
expect_rc 1 "exec --stage https without the CA: refused" "$COLDSTART" exec --stage "$U/m/" --root "$R" --name exec2 -q -- true
contains "... the certificate problem" "$err" "SSL certificate problem"
expect_rc 2 "exec --cacert with a directory --stage: a usage error" "$COLDSTART" exec --stage www/m --root "$R" --cacert "$TLS/ca.pem" -- true
F=${FIXTURES:?}/fakeserver
export URLSERVE_DIR=$SCRATCH/fetched
mkdir -p "$URLSERVE_DIR"
expect_rc 0 "bench --net https --cacert: the staged run stages over TLS" "$COLDSTART" bench --net "$U/m/" --modes staged \
	--stage-root "$SCRATCH/bstage" --server "$FIXTURES_SRC/urlserve.sh $F {model} {port}" --repeat 1 --csv b.csv \
	--cacert "$TLS/ca.pem"
check "... one row" [ "$(wc -l < b.csv)" = 2 ]
expect_rc 1 "bench --net https without the CA: refused" "$COLDSTART" bench --net "$U/m/" --modes staged \
	--stage-root "$SCRATCH/bstage" --server "$FIXTURES_SRC/urlserve.sh $F {model} {port}" --repeat 1 --csv b2.csv
contains "... the certificate problem" "$err" "SSL certificate problem"
expect_rc 2 "bench --cacert without a URL: a usage error" "$COLDSTART" bench --nvme www/m --net www/m --cacert "$TLS/ca.pem"
contains "... which says why" "$err" "--cacert goes with a URL --net"

# A redirect from https to plain http: refused; the plain server hears nothing.
# nginx logs a request once it has answered it: wait (bounded) for a line.
logged() { for _ in $(seq 100); do grep -q "$2" "logs/$1" && return 0; sleep 0.05; done; return 1; }
check "the plain server logs every Authorization" curl -sf -o /dev/null -H "Authorization: Bearer probe-token" \
	"http://127.0.0.1:$PLAIN/m/config.json"
check "... (its log shows it)" logged plain.log "auth=\[Bearer probe-token\]"
: > logs/plain.log
expect_rc 1 "a redirect from https to http:// is refused" env HF_TOKEN=hf-SECRET-token "$COLDSTART" stage "$U/down/" \
	--root "$R" --name down --cacert "$TLS/ca.pem" --header "X-Api-Key: key-SECRET"
contains "... saying why" "$err" "from https to plain http"
contains "... naming where it led" "$err" "http://127.0.0.1:$PLAIN/m/"
check "the https server sent the redirect" logged access.log '"[A-Z]* /down/[^ ]* HTTP/[0-9.]*" 302'
curl -sf -o /dev/null "http://127.0.0.1:$PLAIN/m/config.json?marker"
check "the plain server received no request (only the marker sent after)" \
	eval 'logged plain.log "GET /m/config.json?marker" && [ "$(wc -l < logs/plain.log)" = 1 ]'
lacks "no token or key in the plain server's log" "$(cat logs/plain.log)" "SECRET"
lacks "... nor in the messages" "$out$err" "SECRET"

# S3 behind TLS: s3rver with nginx terminating TLS in front of it.
if [ -x "$S3RVER" ] && command -v node >/dev/null; then
	stop_nginx
	start_s3rver models
	"$COLDSTART" mkmodel s3m --preset tiny -q >/dev/null
	s3put s3m qwen/s3m
	start_s3_tls "$SCRATCH/www"
	check "s3rver answers through nginx's TLS" curl -sf --cacert "$TLS/ca.pem" "${SIGN[@]}" -o /dev/null \
		"$AWS_ENDPOINT_URL/models/qwen/s3m/config.json"
	expect_rc 1 "s3:// over TLS without the CA: refused" "$COLDSTART" stage s3://models/qwen/s3m --root "$R" --name s0
	contains "... naming the certificate problem" "$err" "SSL certificate problem"
	contains "... and \$AWS_CA_BUNDLE" "$err" "--cacert FILE, or \$AWS_CA_BUNDLE"
	expect_rc 0 "\$AWS_CA_BUNDLE: trusted" env AWS_CA_BUNDLE="$TLS/ca.pem" "$COLDSTART" stage s3://models/qwen/s3m \
		--root "$R" --name s1 --verify xxh3 -q
	check "an exact copy" same s3m "$R/s1"
	expect_rc 1 "\$AWS_CA_BUNDLE comes before \$CURL_CA_BUNDLE" env AWS_CA_BUNDLE="$TLS/other.pem" \
		CURL_CA_BUNDLE="$TLS/ca.pem" "$COLDSTART" stage s3://models/qwen/s3m --root "$R" --name s2
	contains "... naming it" "$err" "the CA bundle '$TLS/other.pem', from \$AWS_CA_BUNDLE"
	expect_rc 0 "\$CURL_CA_BUNDLE serves S3 where \$AWS_CA_BUNDLE is unset" env CURL_CA_BUNDLE="$TLS/ca.pem" \
		"$COLDSTART" stage s3://models/qwen/s3m --root "$R" --name s3 -q
	expect_rc 0 "--cacert comes before \$AWS_CA_BUNDLE" env AWS_CA_BUNDLE="$TLS/other.pem" \
		"$COLDSTART" stage s3://models/qwen/s3m --root "$R" --name s4 --cacert "$TLS/ca.pem" -q
	check "an exact copy" same s3m "$R/s4"
	expect_rc 1 "an \$AWS_CA_BUNDLE that does not exist: refused" env AWS_CA_BUNDLE="$SCRATCH/nope.pem" \
		"$COLDSTART" stage s3://models/qwen/s3m --root "$R" --name s5
	contains "... naming it and the variable" "$err" "'$SCRATCH/nope.pem' (\$AWS_CA_BUNDLE)"
else
	_t_report 0 "# SKIP: s3rver is not installed (make deps): S3 over TLS untested"
fi

done_testing
