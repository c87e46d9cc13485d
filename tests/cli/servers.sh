# Real servers on loopback for the tests that fetch over HTTP and S3,
# sourced after lib.sh. Each start registers its stop with at_exit.
#
#   free_port            a free TCP port on 127.0.0.1
#   nginx_conf ROOT [LOCATIONS]  writes $SCRATCH/nginx.conf: nginx serving
#                        ROOT on $NG_ADDR (default 127.0.0.1):$PORT (set
#                        here), access log in $SCRATCH/logs/access.log;
#                        over TLS with $TLS's certificate when NG_TLS=1;
#                        $NG_HTTP_EXTRA (more server blocks) in its http block
#   start_nginx / stop_nginx     nginx in the foreground ($NGPID), up when
#                        start returns 0; in network namespace $NG_NETNS
#                        when that is set
#   make_tls_ca          a private CA and a server certificate it signed for
#                        127.0.0.1 (subjectAltName IP:127.0.0.1), made by
#                        openssl in TLS=$SCRATCH/tls: ca.pem, server.pem,
#                        server.key; other.pem, a CA that signed nothing
#   start_s3rver BUCKET  s3rver (npm, make deps) on $P with BUCKET, its data
#                        in $SCRATCH/s3data and its log in $SCRATCH/s3rver.log;
#                        sets EP and SIGN (curl's SIGV4 arguments) and
#                        exports the AWS_* settings coldstart reads
#   s3put DIR PREFIX     uploads every file of DIR under BUCKET/PREFIX
#   start_s3_tls ROOT    nginx serving ROOT over TLS ($TLS's certificate) on
#                        $PORT, and terminating TLS in front of s3rver ($P)
#                        on $S3TLS; exports AWS_ENDPOINT_URL=https://...:$S3TLS
#   start_faultserve NAME HOST:PORT ARGS...  tests/fixtures/faultserve.mjs on
#                        HOST:PORT with ARGS, its request log (every header)
#                        in $SCRATCH/NAME.log, stderr in $SCRATCH/NAME.err;
#                        up when it returns 0, stopped at exit (or by stop_faultserve NAME)
#   start_hubserve NAME HUB_PORT CDN_PORT ARGS...  tests/fixtures/hubserve.mjs,
#                        our stand-in for the Hugging Face Hub, on
#                        127.0.0.1:HUB_PORT with its CDN on 127.0.0.2:CDN_PORT,
#                        request log in $SCRATCH/NAME.log; stopped as a faultserve
#   reqs NAME EXPR       how many lines of server NAME's request log (faultserve,
#                        hubserve) satisfy a Python expression over r (the
#                        line: method, url, status, ...) and h (its headers,
#                        names lowercased)
#   start_faultproxy NAME PORT ARGS...  tests/fixtures/faultproxy.mjs on PORT
#                        in front of $P (s3rver), stderr in $SCRATCH/NAME.err;
#                        stopped as a faultserve
#   start_awscreds CONFIG  tests/fixtures/awscreds.mjs (coldstart's own IMDSv2,
#                        container endpoint and STS) on $ACP, log $SCRATCH/awscreds.log
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
S3RVER=$REPO_ROOT/bench/servers/node_modules/.bin/s3rver

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

nginx_conf() {
	PORT=$(free_port)
	mkdir -p "$SCRATCH/logs" "$SCRATCH/tmp"
	cat > "$SCRATCH/nginx.conf" <<NGINX_EOF
user $(id -un);
worker_processes 1;
pid $SCRATCH/nginx.pid;
error_log $SCRATCH/logs/error.log;
daemon off;
events { worker_connections 256; }
http {
  access_log $SCRATCH/logs/access.log;
  client_body_temp_path $SCRATCH/tmp; proxy_temp_path $SCRATCH/tmp; fastcgi_temp_path $SCRATCH/tmp;
  uwsgi_temp_path $SCRATCH/tmp; scgi_temp_path $SCRATCH/tmp;
  server {
    listen ${NG_ADDR:-127.0.0.1}:$PORT$([ "${NG_TLS:-}" = 1 ] && echo " ssl");
    $([ "${NG_TLS:-}" = 1 ] && echo "ssl_certificate $TLS/server.pem; ssl_certificate_key $TLS/server.key;")
    root $1;
    ${2:-}
  }
  ${NG_HTTP_EXTRA:-}
}
NGINX_EOF
}

make_tls_ca() {
	TLS=$SCRATCH/tls
	mkdir -p "$TLS"
	local o=(-days 2 -nodes -newkey rsa:2048)
	openssl req -x509 "${o[@]}" -keyout "$TLS/ca.key" -out "$TLS/ca.pem" -subj "/CN=coldstart test CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null &&
	openssl req -x509 "${o[@]}" -keyout "$TLS/other.key" -out "$TLS/other.pem" -subj "/CN=another CA" \
		-addext basicConstraints=critical,CA:TRUE 2>/dev/null &&
	openssl req "${o[@]}" -keyout "$TLS/server.key" -out "$TLS/server.csr" -subj /CN=127.0.0.1 2>/dev/null &&
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$TLS/ext" &&
	openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
		-days 2 -extfile "$TLS/ext" -out "$TLS/server.pem" 2>/dev/null
}

start_nginx() {
	local in=()
	[ -z "${NG_NETNS:-}" ] || in=(ip netns exec "$NG_NETNS")
	"${in[@]}" "$NGINX" -c "$SCRATCH/nginx.conf" -p "$SCRATCH" 2>>"$SCRATCH/logs/nginx.err" &
	NGPID=$!
	for _ in $(seq 100); do
		if [ "${NG_TLS:-}" = 1 ]; then
			"${in[@]}" curl -s -o /dev/null --cacert "$TLS/ca.pem" "https://${NG_ADDR:-127.0.0.1}:$PORT/" && return 0
		else
			"${in[@]}" curl -s -o /dev/null "http://${NG_ADDR:-127.0.0.1}:$PORT/" && return 0
		fi
		sleep 0.05
	done
	return 1
}
stop_nginx() { kill "$NGPID" 2>/dev/null; wait "$NGPID" 2>/dev/null; }

start_s3rver() {
	P=$(free_port)
	mkdir -p "$SCRATCH/s3data"
	# s3rver's continuation tokens use a cipher OpenSSL 3 keeps in its legacy provider.
	NODE_OPTIONS=--openssl-legacy-provider "$S3RVER" -d "$SCRATCH/s3data" -p "$P" -a 127.0.0.1 \
		--configure-bucket "$1" >"$SCRATCH/s3rver.log" 2>&1 &
	S3PID=$!
	S3BUCKET=$1
	at_exit stop_s3rver
	for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$P/" && break; sleep 0.05; done
	EP=http://127.0.0.1:$P
	SIGN=(--aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER -H x-amz-content-sha256:UNSIGNED-PAYLOAD)
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_ENDPOINT_URL=$EP AWS_REGION=us-east-1
	unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_DEFAULT_REGION
}
stop_s3rver() { kill "$S3PID" 2>/dev/null; wait "$S3PID" 2>/dev/null; }

s3put() {
	local args=() f
	while IFS= read -r f; do args+=(-T "$1/$f" "$EP/$S3BUCKET/$2/$f"); done < <(cd "$1" && find . -type f -printf '%P\n')
	curl -sf "${SIGN[@]}" "${args[@]}" -o /dev/null
}

start_s3_tls() {
	S3TLS=$(free_port)
	NG_TLS=1 NG_HTTP_EXTRA="server {
    listen 127.0.0.1:$S3TLS ssl;
    ssl_certificate $TLS/server.pem; ssl_certificate_key $TLS/server.key;
    location / { proxy_pass http://127.0.0.1:$P; proxy_set_header Host \$http_host; proxy_buffering off; }
  }" nginx_conf "$1"
	NG_TLS=1 start_nginx || return 1
	export AWS_ENDPOINT_URL=https://127.0.0.1:$S3TLS
}

declare -A _FSPID
# _fs_up NAME WORD: wait (bounded, 10 s) until server NAME says "WORD on".
_fs_up() {
	local _
	at_exit stop_faultserve "$1"
	for _ in $(seq 200); do
		grep -q "^$2 on" "$SCRATCH/$1.err" 2>/dev/null && return 0
		kill -0 "${_FSPID[$1]}" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
start_faultserve() {
	local name=$1 listen=$2
	shift 2
	: > "$SCRATCH/$name.log"
	node "$FIXTURES_SRC/faultserve.mjs" --listen "$listen" --log "$SCRATCH/$name.log" "$@" 2>"$SCRATCH/$name.err" &
	_FSPID[$name]=$!
	_fs_up "$name" faultserve
}
stop_faultserve() { [ -n "${_FSPID[$1]:-}" ] && { kill "${_FSPID[$1]}" 2>/dev/null; wait "${_FSPID[$1]}" 2>/dev/null; }; _FSPID[$1]=; }

# start_awscreds CONFIG: coldstart's own stand-ins for IMDSv2, the container
# endpoint and STS (tests/fixtures/awscreds.mjs, CONFIG its JSON) on
# 127.0.0.1:$ACP; one line per request in $SCRATCH/awscreds.log.
start_awscreds() {
	: > "$SCRATCH/awscreds.log"
	node "$FIXTURES_SRC/awscreds.mjs" --config "$1" --log "$SCRATCH/awscreds.log" 2>"$SCRATCH/awscreds.err" &
	_FSPID[awscreds]=$!
	_fs_up awscreds awscreds || return 1
	ACP=$(sed -n 's/^awscreds on //p' "$SCRATCH/awscreds.err")
}

reqs() {
	python3 -c '
import json,sys
n=0
for l in open(sys.argv[1]):
    r=json.loads(l); hs=r["headers"]; h={hs[i].lower():hs[i+1] for i in range(0,len(hs),2)}
    n+=bool(eval(sys.argv[2]))
print(n)' "$SCRATCH/$1.log" "$2"
}

start_hubserve() {
	local name=$1 hp=$2 cp=$3
	shift 3
	: > "$SCRATCH/$name.log"
	node "$FIXTURES_SRC/hubserve.mjs" --listen 127.0.0.1:"$hp" --cdn 127.0.0.2:"$cp" --log "$SCRATCH/$name.log" "$@" \
		2>"$SCRATCH/$name.err" &
	_FSPID[$name]=$!
	_fs_up "$name" hubserve
}

start_faultproxy() {
	local name=$1 port=$2
	shift 2
	node "$FIXTURES_SRC/faultproxy.mjs" "$port" "$P" "$@" 2>"$SCRATCH/$name.err" &
	_FSPID[$name]=$!
	_fs_up "$name" faultproxy
}
