#!/usr/bin/env bash
# A private CA as a directory: $SSL_CERT_DIR (OpenSSL's hashed directory)
# is trusted over HTTPS as curl's own tool takes it -- beside
# $SSL_CERT_FILE, never when --cacert or $CURL_CA_BUNDLE names the one
# bundle -- and a directory that is not there is refused before any
# request. run --caches staged from a URL --cache-src takes --cacert, as
# stage, exec and bench do (s3rver behind nginx's TLS). nginx with a
# certificate a private CA (openssl) signed, on loopback.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
. "$REPO_ROOT/tests/cli/strict.sh"
[ -x "$NGINX" ] || skip_all "nginx is not installed (make deps installs nginx-light)"
command -v openssl >/dev/null || skip_all "openssl is not installed"
unset CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR AWS_CA_BUNDLE HF_TOKEN
make_tls_ca
# hashdir DIR PEM: DIR holds PEM under its subject hash, as openssl rehash names it.
hashdir() { mkdir -p "$1" && cp "$2" "$1/$(openssl x509 -hash -noout -in "$2").0"; }
hashdir "$SCRATCH/cadir" "$TLS/ca.pem"
hashdir "$SCRATCH/otherdir" "$TLS/other.pem"
check "a hashed CA directory OpenSSL reads (openssl verify -CApath)" \
	openssl verify -CApath "$SCRATCH/cadir" "$TLS/server.pem"

mkdir -p www
"$COLDSTART" mkmodel www/m --preset tiny --shard-size 10M -q >/dev/null
NG_TLS=1 nginx_conf "$SCRATCH/www"
at_exit stop_nginx
NG_TLS=1 start_nginx
check "nginx serves https on loopback" curl -sf --cacert "$TLS/ca.pem" -o /dev/null "https://127.0.0.1:$PORT/m/config.json"
U=https://127.0.0.1:$PORT
R=$SCRATCH/root
reqs() { grep -c . "$SCRATCH/logs/access.log"; }

expect_rc 0 "\$SSL_CERT_DIR: trusted" env SSL_CERT_DIR="$SCRATCH/cadir" "$COLDSTART" stage "$U/m/" --root "$R" \
	--name dir --verify xxh3 -q
check "an exact copy" same www/m "$R/dir"
expect_rc 0 "... one of several (':')" env SSL_CERT_DIR="$SCRATCH/otherdir:$SCRATCH/cadir" "$COLDSTART" stage "$U/m/" \
	--root "$R" --name dirs -q
expect_rc 0 "... beside \$SSL_CERT_FILE (the wrong CA there): both are trusted, as curl does" \
	env SSL_CERT_FILE="$TLS/other.pem" SSL_CERT_DIR="$SCRATCH/cadir" "$COLDSTART" stage "$U/m/" --root "$R" --name both -q
expect_rc 1 "a directory of another CA: refused" env SSL_CERT_DIR="$SCRATCH/otherdir" "$COLDSTART" stage "$U/m/" \
	--root "$R" --name other
contains "... naming the certificate problem" "$err" "SSL certificate problem"
contains "... and the directory it was checked against" "$err" "the CA directory '$SCRATCH/otherdir' (\$SSL_CERT_DIR)"
expect_rc 1 "\$CURL_CA_BUNDLE names the one bundle: \$SSL_CERT_DIR is not looked at" \
	env CURL_CA_BUNDLE="$TLS/other.pem" SSL_CERT_DIR="$SCRATCH/cadir" "$COLDSTART" stage "$U/m/" --root "$R" --name p1
lacks "... nor named" "$err" "SSL_CERT_DIR"
expect_rc 1 "... nor with --cacert" env SSL_CERT_DIR="$SCRATCH/cadir" "$COLDSTART" stage "$U/m/" --root "$R" --name p2 \
	--cacert "$TLS/other.pem"
before=$(reqs)
expect_rc 1 "a \$SSL_CERT_DIR that does not exist: refused" env SSL_CERT_DIR="$SCRATCH/nope" "$COLDSTART" stage "$U/m/" \
	--root "$R" --name missing
contains "... naming it and the variable" "$err" "cannot read the CA directory '$SCRATCH/nope' (\$SSL_CERT_DIR)"
expect_rc 1 "a \$SSL_CERT_DIR that is a file: refused" env SSL_CERT_DIR="$TLS/ca.pem" "$COLDSTART" stage "$U/m/" \
	--root "$R" --name missing
contains "... saying what it must be" "$err" "is not a directory"
check "neither sent a request" [ "$(reqs)" = "$before" ]
expect_rc 0 "--insecure: \$SSL_CERT_DIR is not looked at" env SSL_CERT_DIR="$SCRATCH/nope" "$COLDSTART" stage "$U/m/" \
	--root "$R" --name insecure --insecure -q

# ---- run --caches staged from S3 behind TLS (nginx before s3rver): --cacert ----
# (HTTP listings are one level deep; a cache set has folders, which S3 lists.)
T="$F --port {port} --model {model} --cache-var VLLM_CACHE_ROOT"
CD=$SCRATCH/cachedir
if [ -x "$S3RVER" ] && command -v node >/dev/null; then
	expect_rc 0 "a warm cache set (primed by the stand-in server)" "$COLDSTART" run --model www/m --mode nvme --csv w.csv \
		--caches warm --cache-dir "$SCRATCH/primed" --cache-env VLLM_CACHE_ROOT --server "$T"
	stop_nginx
	start_s3rver models
	s3put "$SCRATCH/primed/warm-m-nvme" sets/caches
	start_s3_tls "$SCRATCH/www"
	S3C=s3://models/sets/caches/
	expect_rc 0 "run --caches staged --cache-src s3:// over TLS --cacert" "$COLDSTART" run --model www/m --mode nvme \
		--csv r.csv --caches staged --cache-src "$S3C" --cache-dir "$CD" --cache-env VLLM_CACHE_ROOT --server "$T" \
		--cacert "$TLS/ca.pem"
	check "... the row says caches=staged" grep -q 'caches=staged' r.csv
	expect_rc 1 "... without the CA: refused" "$COLDSTART" run --model www/m --mode nvme --csv r.csv --caches staged \
		--cache-src "$S3C" --cache-dir "$CD" --cache-env VLLM_CACHE_ROOT --server "$T"
	contains "... the certificate problem" "$err" "SSL certificate problem"
	expect_rc 1 "... the wrong CA: refused" "$COLDSTART" run --model www/m --mode nvme --csv r.csv --caches staged \
		--cache-src "$S3C" --cache-dir "$CD" --cache-env VLLM_CACHE_ROOT --server "$T" --cacert "$TLS/other.pem"
	contains "... naming the bundle" "$err" "the CA bundle '$TLS/other.pem', from --cacert"
	unset AWS_ENDPOINT_URL
	stop_s3rver
else
	_t_report 0 "# SKIP run --cache-src over TLS needs s3rver (make deps)"
fi
expect_rc 2 "run --cacert without a URL --cache-src: a usage error" "$COLDSTART" run --model www/m --cacert "$TLS/ca.pem" \
	--server "$T"
contains "... which says why" "$err" "--cacert goes with a URL --cache-src"
no_leftovers "no process left"
done_testing
