#!/usr/bin/env bash
# The thundering herd: N stagers, each a "node" with a root of its own,
# pulling one model from one server through one shared link at once: nginx
# (standing for the NFS server or the bucket) in one network namespace, the
# N stagers in another, the veth pair between them capped by tbf at RATE
# (the kernel here has no netem: no added latency). For N = 1, 2, 4, 8,
# beside the arithmetic: every node needs the whole model, so N nodes
# through one link take N x size / link. Then the cuts, at N = 8:
#   bwlimit   each stager --bwlimit link/8: the same total, shared fairly
#   peers     a tree: node 1 stages through the link, then every node that
#             has the model serves it (coldstart cache serve) and one more
#             node stages from each server per round: 1 + log2(8) = 4
#             rounds, one transfer over the shared link
# The peers talk over loopback in the stagers' namespace, not through the
# capped link: they stand for node-to-node bandwidth, which a fleet has far
# more of than the one shared path. All "nodes" share this machine's CPUs
# and disk. usage (root): bench/herd.sh [DIR] [RATE]   (default 2gbit)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-bench}
RATE=${2:-2gbit}
[ "$(id -u)" = 0 ] || { echo "network namespaces need root" >&2; exit 1; }
NSA=csh-srv-$$ NSB=csh-cli-$$ VA=cha$$ VB=chb$$ NET=10.217.$(($$ % 250)).
M=$DIR/herd-www/m W=$DIR/herd-nodes NG=$DIR/herd-nginx
mkdir -p "$DIR/herd-www" "$NG/logs" "$NG/tmp"
[ -d "$M" ] || "$CS" mkmodel "$M" --preset qwen2.5-0.5b --layers 8 -q >/dev/null
bytes=$(du -cb "$M"/* | tail -1 | cut -f1)
spids=()
ngpid=
cleanup() {
	for p in "${spids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -z "$ngpid" ] || kill "$ngpid" 2>/dev/null || true
	"$here/tests/fixtures/vethpair.sh" down "$NSA" "$NSB"
	rm -rf "$W" "$NG"
}
trap cleanup EXIT
"$here/tests/fixtures/vethpair.sh" up "$NSA" "$NSB" "$VA" "$VB" "$NET"
tc -n "$NSA" qdisc add dev "$VA" root tbf rate "$RATE" burst 2mb latency 50ms
cat > "$NG/nginx.conf" <<NGC
user root; worker_processes 2; pid $NG/nginx.pid; error_log $NG/logs/error.log; daemon off;
events { worker_connections 1024; }
http { access_log off; sendfile on; client_body_temp_path $NG/tmp; proxy_temp_path $NG/tmp;
  fastcgi_temp_path $NG/tmp; uwsgi_temp_path $NG/tmp; scgi_temp_path $NG/tmp;
  server { listen ${NET}1:8080; root $DIR/herd-www; } }
NGC
ip netns exec "$NSA" nginx -c "$NG/nginx.conf" -p "$NG" &
ngpid=$!
U=http://${NET}1:8080/m/
for _ in $(seq 100); do ip netns exec "$NSB" curl -s -o /dev/null "${U}config.json" && break; sleep 0.05; done
link_bps=$(echo "$RATE" | sed 's/gbit/*125000000/; s/mbit/*125000/; s/kbit/*125/' | bc)
in_b() { ip netns exec "$NSB" "$@"; }
now() { date +%s.%N; }
cold() { rm -rf "$W"; mkdir -p "$W"; sync; echo 1 > /proc/sys/vm/drop_caches; cat "$M"/* >/dev/null; sleep 1; }
# stage_nodes N [ARGS]: N stagers from the link at once; per-node seconds into $W/tN
stage_nodes() {
	local n=$1 i pids=()
	shift
	for i in $(seq 1 "$n"); do
		( t0=$(now); in_b "$CS" stage "$U" --root "$W/node$i" --name m -q "$@" >/dev/null; t1=$(now)
		  echo "$t1 - $t0" | bc -l > "$W/t$i" ) &
		pids+=($!)
	done
	wait "${pids[@]}"
}
row() { # LABEL N TOTAL_S
	local per max min
	per=$(cat "$W"/t* | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}')
	max=$(cat "$W"/t* | sort -n | tail -1)
	min=$(cat "$W"/t* | sort -n | head -1)
	printf '| %s | %d | %.2f | %.2f | %.2f-%.2f | %.2f | %.2f |\n' "$1" "$2" "$3" "$per" "$min" "$max" \
		"$(echo "$2 * $bytes / $link_bps" | bc -l)" "$(echo "$3 / ($2 * $bytes / $link_bps)" | bc -l)"
}
echo "# machine: $(uname -n), $(nproc) cores, kernel $(uname -r); link: veth between two network namespaces, tbf $RATE; nginx $(nginx -v 2>&1 | cut -d/ -f2); model $bytes bytes (the server's page cache holds it)"
echo "| case | nodes | total s | per node s (median) | per node min-max | arithmetic s (N x size / link) | total / arithmetic |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in 1 2 4 8; do
	cold
	t0=$(now); stage_nodes "$n"; t1=$(now)
	row herd "$n" "$(echo "$t1 - $t0" | bc -l)"
done
cold
share=$(python3 -c "print(int($link_bps / 8))")
t0=$(now); stage_nodes 8 --bwlimit "$share"; t1=$(now)
row "bwlimit link/8" 8 "$(echo "$t1 - $t0" | bc -l)"

# The peer tree: round 0 from the link, then every node with the model serves one more.
cold
t0=$(now)
stage_nodes 1
have=1
while [ $have -lt 8 ]; do
	urls=()
	for i in $(seq 1 $have); do
		ip netns exec "$NSB" "$CS" cache serve --root "$W/node$i" -q > "$W/url$i" &   # $! is the server itself (ip execs it)
		spids+=($!)
	done
	for i in $(seq 1 $have); do
		for _ in $(seq 100); do [ -s "$W/url$i" ] && break; sleep 0.02; done
		urls+=("$(cat "$W/url$i")")
	done
	pids=()
	for i in $(seq 1 $have); do
		k=$((have + i))
		[ $k -le 8 ] || break
		( s0=$(now); in_b "$CS" stage "${urls[$((i - 1))]}m/" --root "$W/node$k" --name m -q >/dev/null; s1=$(now)
		  echo "$s1 - $s0" | bc -l > "$W/t$k" ) &
		pids+=($!)
	done
	wait "${pids[@]}"
	for p in "${spids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait "${spids[@]}" 2>/dev/null || true
	spids=()
	have=$((have * 2))
done
t1=$(now)
for i in $(seq 1 8); do
	diff -rq -x .coldstart-manifest.json "$M" "$W/node$i/m" >/dev/null || { echo "node$i: the copy differs" >&2; exit 1; }
done
row "peers (tree, 4 rounds)" 8 "$(echo "$t1 - $t0" | bc -l)"
echo "# bytes through the capped link (tc): $(tc -s -n "$NSA" qdisc show dev "$VA" | sed -n 's/.*Sent \([0-9]*\) bytes.*/\1/p' | head -1)"
