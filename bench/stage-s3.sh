#!/usr/bin/env bash
# Staging a 4.5 GB multi-shard model from S3 over loopback onto local disk,
# cold destination each time. The server: SERVER=s3rver (default; the
# tests' S3 API server, one Node.js process) or SERVER=rgw (Ceph's radosgw
# on a single-node cluster, its OSD on memstore in RAM: tests/fixtures/rgw.sh).
# Tools:
#   coldstart stage s3://...            (default --jobs auto, O_DIRECT writes;
#                                       --buffered; --jobs 8, 32)
#   rclone copy (S3 backend, its defaults; and tuned: --transfers 16
#               --multi-thread-streams 16)
#   aws s3 cp --recursive, s3cmd get --recursive
#   the server's ceiling: 16 parallel curl range readers to /dev/null
# Each timed until the files are on disk (sync); REPEATS rounds in rotating
# order (TOOLS="coldstart rclone ..." picks some). usage: bench/stage-s3.sh [DIR] [REPEATS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-bench}
REPEATS=${2:-2}
SERVER=${SERVER:-s3rver}
S3RVER=$here/bench/servers/node_modules/.bin/s3rver
[ "$SERVER" = rgw ] || [ -x "$S3RVER" ] || { echo "s3rver is not installed: run 'make deps'" >&2; exit 1; }
[ "$SERVER" != rgw ] || command -v radosgw >/dev/null || { echo "radosgw is not installed: run 'make deps'" >&2; exit 1; }
for t in rclone s3cmd aws curl bc; do command -v $t >/dev/null || { echo "$t is required" >&2; exit 1; }; done
M="$DIR/s3-model" DATA="$DIR/s3rver-data" DST="$DIR/s3-dst"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EP=http://127.0.0.1:$PORT
mkdir -p "$DIR"
rm -rf "$DATA" "$DST"
mkdir -p "$DATA"
KEY=S3RVER SECRET=S3RVER
if [ "$SERVER" = rgw ]; then
	KEY=CSBENCHKEY SECRET=csbenchsecret
	MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	trap '"$here/tests/fixtures/rgw.sh" stop "$DATA"; rm -rf "$DATA" "$DST" "$M"' EXIT
	RGW_MEMSTORE_BYTES=$((7 << 30)) "$here/tests/fixtures/rgw.sh" start "$DATA" "$PORT" "$MPORT" "$KEY" "$SECRET"
	curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user "$KEY:$SECRET" -H x-amz-content-sha256:UNSIGNED-PAYLOAD \
		-X PUT "$EP/models" -o /dev/null
else
	NODE_OPTIONS=--openssl-legacy-provider "$S3RVER" -d "$DATA" -p "$PORT" -a 127.0.0.1 --configure-bucket models \
		--silent >/dev/null 2>&1 &
	spid=$!
	trap 'kill $spid 2>/dev/null; rm -rf "$DATA" "$DST" "$M"' EXIT
	for _ in $(seq 200); do curl -s -o /dev/null "$EP/" && break; sleep 0.05; done
fi
# ~4.5 GB in 1 GB shards: the qwen2.5-7b layout cut to 5 layers.
"$CS" mkmodel "$M" --preset qwen2.5-7b --layers 5 --shard-size 1GB --force -q >/dev/null
SIGN=(--aws-sigv4 aws:amz:us-east-1:s3 --user "$KEY:$SECRET" -H x-amz-content-sha256:UNSIGNED-PAYLOAD)
args=()
for f in "$M"/*; do args+=(-T "$f" "$EP/models/m/$(basename "$f")"); done
curl -sf "${SIGN[@]}" "${args[@]}" -o /dev/null
bytes=$(du -sb "$M" | cut -f1)
# A CA bundle set for the AWS SDKs breaks rclone on a plain-HTTP endpoint.
unset AWS_CA_BUNDLE
export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_ENDPOINT_URL=$EP AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export RCLONE_CONFIG_S3_TYPE=s3 RCLONE_CONFIG_S3_PROVIDER=Other RCLONE_CONFIG_S3_ENDPOINT=$EP \
	RCLONE_CONFIG_S3_ACCESS_KEY_ID=$KEY RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=$SECRET RCLONE_CONFIG_S3_REGION=us-east-1
S3CFG="$DIR/s3cfg"
printf '[default]\naccess_key = %s\nsecret_key = %s\nhost_base = 127.0.0.1:%s\nhost_bucket = 127.0.0.1:%s\nuse_https = False\nsignature_v2 = False\n' \
	"$KEY" "$SECRET" "$PORT" "$PORT" > "$S3CFG"
E=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
ceiling() { # 16 curl range readers per shard, concurrently, to /dev/null
	local pids=() f size n=16 k a b
	for f in "$M"/*.safetensors; do
		size=$(stat -c %s "$f")
		for k in $(seq 0 $((n - 1))); do
			a=$((size * k / n)) b=$((size * (k + 1) / n - 1))
			curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user "$KEY:$SECRET" -H "x-amz-content-sha256: $E" \
				-r "$a-$b" "$EP/models/m/$(basename "$f")" -o /dev/null &
			pids+=($!)
		done
	done
	wait "${pids[@]}"
}
run_tool() {
	case $1 in
	coldstart) "$CS" stage s3://models/m --root "$DST" -q --json | python3 -c 'import json,sys; print("# coldstart --jobs auto used", json.load(sys.stdin)["jobs"], file=sys.stderr)' ;;
	coldstart-buffered) "$CS" stage s3://models/m --root "$DST" --buffered -q >/dev/null ;;
	coldstart-j8) "$CS" stage s3://models/m --root "$DST" --jobs 8 -q >/dev/null ;;
	coldstart-j32) "$CS" stage s3://models/m --root "$DST" --jobs 32 -q >/dev/null ;;
	rclone) rclone copy s3:models/m "$DST/m" ;;
	rclone-tuned) rclone copy s3:models/m "$DST/m" --transfers 16 --multi-thread-streams 16 --multi-thread-cutoff 64M ;;
	aws) aws s3 cp --recursive --only-show-errors --endpoint-url "$EP" s3://models/m "$DST/m" ;;
	s3cmd) mkdir -p "$DST/m" && s3cmd -c "$S3CFG" get --recursive --quiet s3://models/m/ "$DST/m/" ;;
	ceiling) ceiling ;;
	esac
	sync
}
cold() {
	rm -rf "$DST"; mkdir -p "$DST"; sync
	[ "$(id -u)" = 0 ] && echo 1 > /proc/sys/vm/drop_caches
	[ "$SERVER" = rgw ] || cat "$DATA"/models/m/*._S3rver_object >/dev/null   # radosgw's OSD is in RAM
	sleep 1
}
timeit() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
echo "# machine: $(uname -n), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
if [ "$SERVER" = rgw ]; then srv="radosgw $(radosgw --version | cut -d' ' -f3) (single-node Ceph, memstore OSD)"
else srv="s3rver $(node -p "require('$here/bench/servers/node_modules/s3rver/package.json').version") (its data in the page cache)"; fi
echo "# model: $bytes bytes in $(ls "$M" | wc -l) objects, $srv on loopback; destination $(df --output=source,fstype "$DIR" | tail -1 | tr -s ' ')"
echo "# $(rclone version | head -1), $(aws --version 2>&1 | cut -d' ' -f1), s3cmd $(s3cmd --version | cut -d' ' -f3)"
echo "| round | tool | seconds | MB/s |"
echo "| --- | --- | ---: | ---: |"
read -r -a tools <<< "${TOOLS:-coldstart coldstart-buffered coldstart-j8 coldstart-j32 rclone rclone-tuned aws s3cmd ceiling}"
for r in $(seq 1 "$REPEATS"); do
	for k in $(seq 0 $((${#tools[@]} - 1))); do
		t=${tools[$(((k + r) % ${#tools[@]}))]}
		cold
		s=$(timeit run_tool "$t")
		if [ "$t" != ceiling ] && ! diff -rq -x .coldstart-manifest.json "$M" "$DST/m" >/dev/null; then
			echo "$t: the copy differs from the model" >&2
			exit 1
		fi
		printf '| %d | %s | %.2f | %.0f |\n' "$r" "$t" "$s" "$(echo "$bytes / $s / 1000000" | bc -l)"
	done
done
