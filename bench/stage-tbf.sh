#!/usr/bin/env bash
# Staging over a link with a bandwidth cap: nginx in one network namespace,
# the stagers in another, joined by a veth pair with a tbf qdisc on the
# server's end (RATE, default 1gbit). The kernel here has tbf but no netem:
# a cap, no added latency. Cold destination each time; the model's files
# stay in the server's page cache. Tools:
#   coldstart stage http://...   (default --jobs auto; and --jobs 1)
#   curl, one file after another (one stream)
#   rclone copy --http-url       (its defaults)
# Reported against the cap (RATE / 8 bytes per second, less nothing: the
# cap counts IP payload plus headers, so ~0.95 of it is the most a TCP
# stream carries).
# usage (root): bench/stage-tbf.sh [DIR] [REPEATS] [RATE]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-bench}
REPEATS=${2:-2}
RATE=${3:-1gbit}
[ "$(id -u)" = 0 ] || { echo "network namespaces need root" >&2; exit 1; }
for t in rclone curl bc ip tc nginx; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 1; }; done
NSA=csb-srv-$$ NSB=csb-cli-$$ VA=cba$$ VB=cbb$$ NET=10.214.$(($$ % 250)).
M="$DIR/tbf-www/m" DST="$DIR/tbf-dst"
ngpid=
cleanup() {
	[ -z "$ngpid" ] || kill "$ngpid" 2>/dev/null || true
	"$here/tests/fixtures/vethpair.sh" down "$NSA" "$NSB"
	rm -rf "$DST" "$DIR/tbf-nginx"
}
trap cleanup EXIT
"$here/tests/fixtures/vethpair.sh" up "$NSA" "$NSB" "$VA" "$VB" "$NET"
tc -n "$NSA" qdisc add dev "$VA" root tbf rate "$RATE" burst 1mb latency 50ms
mkdir -p "$DIR/tbf-nginx/logs" "$DIR/tbf-nginx/tmp"
[ -d "$M" ] || "$CS" mkmodel "$M" --preset qwen2.5-0.5b -q >/dev/null
cat > "$DIR/tbf-nginx/nginx.conf" <<NG
user root; worker_processes 2; pid $DIR/tbf-nginx/nginx.pid; error_log $DIR/tbf-nginx/logs/error.log; daemon off;
events { worker_connections 512; }
http { access_log off; sendfile on; client_body_temp_path $DIR/tbf-nginx/tmp; proxy_temp_path $DIR/tbf-nginx/tmp;
  fastcgi_temp_path $DIR/tbf-nginx/tmp; uwsgi_temp_path $DIR/tbf-nginx/tmp; scgi_temp_path $DIR/tbf-nginx/tmp;
  server { listen ${NET}1:8080; root $DIR/tbf-www; autoindex on; } }
NG
ip netns exec "$NSA" nginx -c "$DIR/tbf-nginx/nginx.conf" -p "$DIR/tbf-nginx" &
ngpid=$!
U=http://${NET}1:8080/m/
for _ in $(seq 100); do ip netns exec "$NSB" curl -s -o /dev/null "$U" && break; sleep 0.05; done
bytes=$(du -cb "$M"/* | tail -1 | cut -f1)
in_b() { ip netns exec "$NSB" "$@"; }
run_tool() {
	case $1 in
	coldstart) in_b "$CS" stage "$U" --root "$DST" -q >/dev/null ;;
	coldstart-j1) in_b "$CS" stage "$U" --root "$DST" --jobs 1 -q >/dev/null ;;
	curl) mkdir -p "$DST/m" && for f in $(cd "$M" && ls); do in_b curl -sf -o "$DST/m/$f" "$U$f"; done ;;
	rclone) in_b rclone copy --http-url "$U" :http: "$DST/m" ;;
	esac
	sync
}
cold() { rm -rf "$DST"; mkdir -p "$DST"; sync; echo 1 > /proc/sys/vm/drop_caches; cat "$M"/* >/dev/null; sleep 1; }
timeit() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
cap=$(tc -n "$NSA" qdisc show dev "$VA" | sed -n 's/.*rate \([0-9.]*[KMG]*bit\).*/\1/p')
capbps=$(echo "$RATE" | sed 's/gbit/*1000000000/; s/mbit/*1000000/; s/kbit/*1000/' | bc)
echo "# machine: $(uname -n), $(nproc) cores, kernel $(uname -r); link: veth between two network namespaces, tbf $cap on the server's end"
echo "# model: $bytes bytes in $(ls "$M" | wc -l) files, nginx $(nginx -v 2>&1 | cut -d/ -f2); $(rclone version | head -1), $(curl --version | head -1 | cut -d' ' -f1-2)"
echo "| round | tool | seconds | MB/s | of the cap |"
echo "| --- | --- | ---: | ---: | ---: |"
tools=(coldstart coldstart-j1 curl rclone)
for r in $(seq 1 "$REPEATS"); do
	for k in $(seq 0 $((${#tools[@]} - 1))); do
		t=${tools[$(((k + r) % ${#tools[@]}))]}
		cold
		s=$(timeit run_tool "$t")
		if ! diff -rq -x .coldstart-manifest.json "$M" "$DST/m" >/dev/null; then
			echo "$t: the copy differs from the model" >&2
			exit 1
		fi
		printf '| %d | %s | %.2f | %.1f | %.2f |\n' "$r" "$t" "$s" "$(echo "$bytes / $s / 1000000" | bc -l)" \
			"$(echo "$bytes * 8 / $s / $capbps" | bc -l)"
	done
done
