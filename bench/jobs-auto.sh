#!/usr/bin/env bash
# --jobs auto against a sweep of fixed --jobs, per source:
#   pages warm of a cold 3.3 GB model on local disk, on netsim nfs-10g and
#   on netsim efs-elastic; stage of the same model from S3 over loopback
#   (s3rver) and from HTTP over loopback (coldstart cache serve of a root
#   holding it). Cold before every run (evicted, caches dropped); REPEATS
#   rounds per source, each running every setting once in a rotating order.
# usage: bench/jobs-auto.sh [DIR] [REPEATS]      (root: netsim mounts FUSE)
# JOBS="auto 8" limits the sweep to those values; SOURCES="local http" to
# those sources (default: local nfs-10g efs-elastic s3 http; s3 needs
# make deps' s3rver, netsim /dev/fuse). STAGE_ARGS="--buffered" is added to
# every stage (s3, http).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CS=${COLDSTART:-$here/coldstart}
DIR=${1:-/var/tmp/coldstart-bench}
REPEATS=${2:-2}
SOURCES=${SOURCES:-local nfs-10g efs-elastic s3 http}
M="$DIR/jobs-model" MP="$DIR/jobs-mnt" DST="$DIR/jobs-dst" DATA="$DIR/jobs-s3" SRV="$DIR/jobs-srvroot"
S3RVER=$here/bench/servers/node_modules/.bin/s3rver
mkdir -p "$DIR" "$MP"
"$CS" mkmodel "$M" --preset qwen2.5-7b --layers 3 --shard-size 1GB --force -q >/dev/null
spid= hpid=
cleanup() {
	[ -z "$spid" ] || kill "$spid" 2>/dev/null
	[ -z "$hpid" ] || kill "$hpid" 2>/dev/null
	"$CS" netsim --unmount "$MP" 2>/dev/null || umount -l "$MP" 2>/dev/null || true
	rm -rf "$DST" "$DATA" "$SRV"
}
trap cleanup EXIT
case " $SOURCES " in *" s3 "*)
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	rm -rf "$DATA" && mkdir -p "$DATA"
	NODE_OPTIONS=--openssl-legacy-provider "$S3RVER" -d "$DATA" -p "$PORT" -a 127.0.0.1 --configure-bucket models --silent >/dev/null 2>&1 &
	spid=$!
	for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.05; done
	args=()
	for f in "$M"/*; do args+=(-T "$f" "http://127.0.0.1:$PORT/models/m/$(basename "$f")"); done
	curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER -H x-amz-content-sha256:UNSIGNED-PAYLOAD "${args[@]}" -o /dev/null
	unset AWS_CA_BUNDLE
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_REGION=us-east-1
	;;
esac
case " $SOURCES " in *" http "*)
	"$CS" stage "$M" --root "$SRV" --name m -q >/dev/null
	"$CS" cache serve --root "$SRV" -q > "$DIR/jobs-url" &
	hpid=$!
	for _ in $(seq 100); do [ -s "$DIR/jobs-url" ] && break; sleep 0.05; done
	HURL=$(cat "$DIR/jobs-url")m/
	;;
esac
drop() { sync; [ "$(id -u)" = 0 ] && echo 1 > /proc/sys/vm/drop_caches; sleep 0.5; }
# warm SOURCE-PATH JOBS: seconds and the readers used
warm() {
	"$CS" pages evict "$1" -q >/dev/null
	drop
	"$CS" pages warm "$1" --jobs "$2" -q --json |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f %s" % (d["read_bytes"]/d["read_bytes_per_s"], d["jobs"]))'
}
s3stage() {
	rm -rf "$DST"
	cat "$DATA"/models/m/*._S3rver_object >/dev/null
	drop
	"$CS" stage s3://models/m --root "$DST" --jobs "$1" ${STAGE_ARGS:-} -q --json |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f %s" % (d["seconds"], d["jobs"]))'
}
httpstage() {
	rm -rf "$DST"
	cat "$SRV"/m/* >/dev/null
	drop
	"$CS" stage "$HURL" --root "$DST" --jobs "$1" ${STAGE_ARGS:-} -q --json |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f %s" % (d["seconds"], d["jobs"]))'
}
echo "# machine: $(uname -n), $(nproc) cores, kernel $(uname -r); model $(du -sb "$M" | cut -f1) bytes, $(ls "$M" | wc -l) files; $REPEATS runs per cell (median)${STAGE_ARGS:+; stage $STAGE_ARGS}"
echo "| source | jobs | median s | jobs used (auto) |"
echo "| --- | --- | ---: | ---: |"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
one() { # SOURCE JOBS: "seconds used" of one run
	case $1 in
	local) warm "$M" "$2" ;;
	nfs-10g | efs-elastic) warm "$MP" "$2" ;;
	s3) s3stage "$2" ;;
	http) httpstage "$2" ;;
	esac
}
read -r -a jobs <<< "${JOBS:-auto 1 2 4 8 16 32 64}"
for src in $SOURCES; do
	if [ "$src" = nfs-10g ] || [ "$src" = efs-elastic ]; then
		if ! "$CS" netsim "$M" "$MP" --profile "$src" >/dev/null 2>"$DIR/jobs-netsim.err"; then
			echo "| $src | - | not measured: $(head -1 "$DIR/jobs-netsim.err") | - |"
			continue
		fi
	fi
	# Round by round, every setting once in a rotating order, so none is
	# always the first after the set-up (or after a slower neighbour).
	declare -A times=() used=() round=()
	for r in $(seq 1 "$REPEATS"); do
		for k in $(seq 0 $((${#jobs[@]} - 1))); do
			j=${jobs[$(((k + r) % ${#jobs[@]}))]}
			out=$(one "$src" "$j")
			times[$j]="${times[$j]:-} ${out% *}"
			round[$j:$r]=${out% *}
			used[$j]="${used[$j]:-}${used[$j]:+,}${out#* }"
		done
	done
	for j in "${jobs[@]}"; do
		printf '| %s | %s | %.3f | %s |\n' "$src" "$j" "$(printf '%s\n' ${times[$j]} | median)" \
			"$([ "$j" = auto ] && echo "${used[$j]}" || echo -)"
	done
	# auto against each fixed value round by round (the two ran minutes
	# apart at most, in the same conditions): the median of the ratios.
	if [[ " ${jobs[*]} " == *" auto "* ]] && [ "$REPEATS" -gt 1 ]; then
		for j in "${jobs[@]}"; do
			[ "$j" = auto ] && continue
			ratios=$(for r in $(seq 1 "$REPEATS"); do awk -v a="${round[auto:$r]}" -v b="${round[$j:$r]}" 'BEGIN {print a / b}'; done | median)
			printf '# %s: auto / --jobs %s, round by round: median %.3f\n' "$src" "$j" "$ratios"
		done
	fi
	unset times used round
	if [ "$src" = nfs-10g ] || [ "$src" = efs-elastic ]; then
		"$CS" netsim --unmount "$MP" >/dev/null
	fi
done
