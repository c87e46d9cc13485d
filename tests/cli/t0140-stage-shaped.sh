#!/usr/bin/env bash
# stage over a shaped link: nginx and coldstart in two network namespaces
# of the test's own, joined by a veth pair whose server end has a tbf
# (token bucket) qdisc -- the bandwidth cap of a real network path. The
# kernel here has tbf but no netem, so no added latency or loss: the
# retries are tested through faultproxy in t0110/t0120 instead. Checks the
# copy is exact and that the bytes really crossed the shaper; the rate
# achieved against the cap is measured in bench/stage-tbf.sh.
. "$(dirname "$0")/lib.sh"
. "$REPO_ROOT/tests/cli/servers.sh"
[ "$(id -u)" = 0 ] || skip_all "network namespaces need root"
command -v ip >/dev/null && command -v tc >/dev/null || skip_all "no ip/tc (iproute2)"
[ -x "$NGINX" ] || skip_all "nginx is not installed (make deps installs nginx-light)"
NSA=cs-srv-$$ NSB=cs-cli-$$ VA=csa$$ VB=csb$$
NET=10.213.$(($$ % 250)).
VP=$FIXTURES_SRC/vethpair.sh
cleanup_ns() { "$VP" down "$NSA" "$NSB"; }
at_exit cleanup_ns
"$VP" up "$NSA" "$NSB" "$VA" "$VB" "$NET" 2>"$SCRATCH/veth.err" ||
	skip_all "cannot create network namespaces and a veth pair here: $(cat "$SCRATCH/veth.err")"
check "a tbf cap of 200 Mbit/s on the server's end" tc -n "$NSA" qdisc add dev "$VA" root tbf rate 200mbit burst 256kb latency 50ms
contains "... in place" "$(tc -n "$NSA" qdisc show dev "$VA")" "tbf"

mkdir -p www
"$COLDSTART" mkmodel www/m --preset tiny --shard-size 10M -q >/dev/null
NG_ADDR=${NET}1 NG_NETNS=$NSA
nginx_conf "$SCRATCH/www"
at_exit stop_nginx
check "nginx in the server's namespace" start_nginx
U=http://${NET}1:$PORT
check "not reachable from the host's own namespace (nothing beyond loopback there)" \
	sh -c '! curl -s -m 2 -o /dev/null "$1/m/config.json"' _ "$U"
sent0=$(tc -s -n "$NSA" qdisc show dev "$VA" | sed -n 's/.*Sent \([0-9]*\) bytes.*/\1/p' | head -1)
R=$SCRATCH/root
expect_rc 0 "stage from the other namespace, through the capped link" \
	ip netns exec "$NSB" "$COLDSTART" stage "$U/m/" --root "$R" --verify xxh3 --json
check "an exact copy" diff -r -x .coldstart-manifest.json www/m "$R/m"
sent1=$(tc -s -n "$NSA" qdisc show dev "$VA" | sed -n 's/.*Sent \([0-9]*\) bytes.*/\1/p' | head -1)
model=$(du -cb www/m/* | tail -1 | cut -f1)
check "the model's bytes went through the tbf qdisc ($((sent1 - sent0)) sent, $model in the model)" \
	[ "$((sent1 - sent0))" -ge "$model" ]
stop_nginx
cleanup_ns
check "the namespaces are gone" sh -c '! ip netns list | grep -q "$1"' _ "$NSA"
no_leftovers "no process left"
done_testing
