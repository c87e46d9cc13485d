#!/usr/bin/env bash
# netsim: mount, read back, stats, unmount, refusals, dead daemons, bench.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "netsim tests mount FUSE file systems: run as root"
[ -c /dev/fuse ] || skip_all "no /dev/fuse here"
F=${FIXTURES:?}/fakeserver
mounted() { grep -q " $(realpath -m "$1") fuse.coldstart-netsim " /proc/self/mounts; }
# bench mounts its own netsim under $TMPDIR: this test's, so that it counts
# and cleans up only its own mounts, never another test's.
export TMPDIR=$SCRATCH/tmp
mkdir -p "$TMPDIR"
at_exit 'for m in $(awk "\$3==\"fuse.coldstart-netsim\" {print \$2}" /proc/self/mounts | grep "^$SCRATCH/"); do umount -l "$m"; done'

"$COLDSTART" mkmodel src --preset tiny -q >/dev/null
mkdir -p src/sub && echo nested > src/sub/file.txt
mkdir mp
expect_rc 0 "mount" "$COLDSTART" netsim src mp --profile nfs-10g
check "prints the mount point" [ "$out" = "$SCRATCH/mp" ]
check "mounted as fuse.coldstart-netsim" mounted mp
check "listing passes through" [ "$(ls mp | tr '\n' ' ')" = "config.json generation_config.json model.safetensors sub " ]
check "nested file" [ "$(cat mp/sub/file.txt)" = nested ]
check "read back byte for byte" cmp -s src/model.safetensors mp/model.safetensors
check "sizes pass through" [ "$(stat -c %s mp/model.safetensors)" = "$(stat -c %s src/model.safetensors)" ]
check_not "read-only" sh -c "touch mp/newfile 2>/dev/null"
expect_rc 0 "inspect through the mount" "$COLDSTART" inspect mp
"$COLDSTART" pages evict mp -q >/dev/null
run "$COLDSTART" pages status mp --json
json_ok "evicting works on the mount (0% resident)" "$out" 'd["resident_pct"]<1'
find mp -type f -exec cat {} + > /dev/null
run "$COLDSTART" pages status mp --json
json_ok "reading fills the kernel cache (100% resident)" "$out" 'd["resident_pct"]==100'
expect_rc 0 "stats" "$COLDSTART" netsim --stats mp --json
json_ok "stats count the bytes served and the request sizes" "$out" '
assert d["profile"]=="nfs-10g" and d["bytes"]>=38576800 and d["reads"]>0, d
assert sum(b["reads"] for b in d["size_histogram"])==d["reads"], d'
json_ok "default readahead: 128 KiB, as Linux NFS clients since 5.4" "$out" '
assert d["readahead"]==131072, d'
json_ok "stats: busy time and the rate delivered while busy" "$out" '
assert d["busy_s"]>0 and d["delivered_bytes_per_s"]>0 and d["ncpu"]>=1, d'
expect_rc 0 "human stats" "$COLDSTART" netsim --stats mp
contains "human stats show request sizes" "$out" "request sizes:"
contains "human stats: delivered next to the profile's rate" "$out" "while busy"
contains "... and the profile's link" "$out" "; profile 1.1 GiB/s"

# Refusals.
expect_rc 1 "already mounted" "$COLDSTART" netsim src mp
contains "says so" "$err" "already a mount point"
mkdir full && touch full/x
expect_rc 1 "mount point not empty" "$COLDSTART" netsim src full
contains "says so" "$err" "is not empty"
expect_rc 1 "mount point missing" "$COLDSTART" netsim src nowhere
contains "says so" "$err" "mount point 'nowhere' does not exist"
expect_rc 1 "source missing" "$COLDSTART" netsim nosrc full
contains "says so" "$err" "cannot access source 'nosrc'"
expect_rc 2 "unknown profile" "$COLDSTART" netsim src full --profile carrier-pigeon
expect_rc 2 "a latency without a unit is refused" "$COLDSTART" netsim src full --latency 5
contains "asks for a unit" "$err" "give a unit"
mkdir -p src/inner
expect_rc 1 "a mount point inside the source is refused" "$COLDSTART" netsim src src/inner
contains "says it would contain itself" "$err" "is inside the source"
rmdir src/inner
mkdir mp3
if command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
	expect_rc 1 "no FUSE device" unshare -m sh -c "mount --bind /dev/null /dev/fuse && exec '$COLDSTART' netsim src mp3"
	contains "says FUSE is not available" "$err" "FUSE is not available"
fi
expect_rc 1 "--unmount of something else" "$COLDSTART" netsim --unmount src
contains "refuses" "$err" "is not a mount point"

mkdir mp4
"$COLDSTART" netsim src mp4 --profile none --latency 0 >/dev/null
run "$COLDSTART" netsim --stats mp4
contains "no in-flight limit reads as unlimited, not 0" "$out" "unlimited in flight"
"$COLDSTART" netsim --unmount mp4

# Unmount.
expect_rc 0 "unmount" "$COLDSTART" netsim --unmount mp
check_not "gone from the mount table" mounted mp
check "mount point empty again" [ -z "$(ls -A mp)" ]

# kill -9 of the daemon leaves ENOTCONN; --unmount clears it.
expect_rc 0 "mount again" "$COLDSTART" netsim src mp --profile none
pid=$(jget "$("$COLDSTART" netsim --stats mp --json)" 'd["pid"]')
kill -9 "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check_not "dead daemon: the path is broken" sh -c "ls mp 2>/dev/null"
expect_rc 0 "--unmount clears a dead mount" "$COLDSTART" netsim --unmount mp
check "clean directory afterwards" [ -d mp ] && check "and empty" [ -z "$(ls -A mp)" ]

# A mount point with a space: found in mountinfo (\040) to set its readahead.
mkdir "mp space"
expect_rc 0 "mount on a path with a space, --readahead 15M" "$COLDSTART" netsim src "mp space" --readahead 15M
check "readahead set there (15 MiB, as pre-5.4 NFS clients)" python3 -c '
import json,subprocess,sys
d=json.loads(subprocess.check_output([sys.argv[1],"netsim","--stats","mp space","--json"]))
assert d["readahead"]==15*1048576, d
dev=[l.split()[2] for l in open("/proc/self/mountinfo") if l.split()[4]=="%s/mp\\040space" % sys.argv[2]][0]
assert open("/sys/class/bdi/%s/read_ahead_kb" % dev).read().strip()=="15360", dev' "$COLDSTART" "$SCRATCH"
expect_rc 0 "and unmounted" "$COLDSTART" netsim --unmount "mp space"

# SIGTERM to the daemon unmounts cleanly.
"$COLDSTART" netsim src mp >/dev/null
pid=$(jget "$("$COLDSTART" netsim --stats mp --json)" 'd["pid"]')
kill -TERM "$pid"
for _ in $(seq 100); do mounted mp || break; sleep 0.05; done
check_not "SIGTERM unmounts" mounted mp

# bench mounts netsim by default and unmounts on every way out.
nmounts() { awk -v d="$SCRATCH/" '$3=="fuse.coldstart-netsim" && index($2, d)==1' /proc/self/mounts | wc -l; }
before=$(nmounts)
expect_rc 0 "bench with the default netsim" "$COLDSTART" bench --nvme src --server "$F --port {port} --model {model}" --repeat 1 --csv b.csv -q
check "net rows say which netsim" grep -q 'net=netsim:nfs-10g' b.csv
json_ok "the sidecar records what the mount delivered" "$(cat b.meta.json)" '
s=d["netsim_stats"]
assert s["profile"]=="nfs-10g" and s["bytes"]>0 and s["delivered_bytes_per_s"]>0, s'
contains "the report states it next to the profile" "$(cat b.md)" "| simulated network path | netsim nfs-10g: delivered"
check "unmounted after success" [ "$(nmounts)" = "$before" ]
expect_rc 0 "bench --net netsim:slow-disk" "$COLDSTART" bench --nvme src --net netsim:slow-disk --server "$F --port {port} --model {model}" --repeat 1 --csv b.csv -q
check "profile recorded" grep -q 'net=netsim:slow-disk' b.csv
check "unmounted" [ "$(nmounts)" = "$before" ]
expect_rc 1 "bench with a failing server" "$COLDSTART" bench --nvme src --net netsim --server "$F --port {port} --crash" --csv f.csv -q
check "unmounted after a failing run" [ "$(nmounts)" = "$before" ]
"$COLDSTART" bench --nvme src --net netsim:nfs-1g --modes net --server "$F --port {port} --hang" --csv c.csv -q >/dev/null 2>&1 &
bpid=$!
for _ in $(seq 100); do [ "$(nmounts)" != "$before" ] && [ -n "$(marked_with "--hang")" ] && break; sleep 0.05; done
sleep 0.2
kill -INT $bpid
wait $bpid
check "Ctrl-C: bench exits 130" [ "$?" = 130 ]
check "unmounted after Ctrl-C" [ "$(nmounts)" = "$before" ]
check "no mount points left in \$TMPDIR" [ -z "$(ls -d "$TMPDIR"/coldstart-netsim-* 2>/dev/null | while read -r d; do grep -q " $d " /proc/self/mounts && echo "$d"; done)" ]
no_leftovers "no server left"

# kill -9 of bench: the daemon sees its owner gone, unmounts, removes the
# mount point; the guard stops the server.
"$COLDSTART" bench --nvme src --net netsim:nfs-1g --modes net --server "$F --port {port} --hang" --csv k.csv -q >/dev/null 2>&1 &
bpid=$!
for _ in $(seq 100); do [ "$(nmounts)" != "$before" ] && [ -n "$(marked_with "--hang")" ] && break; sleep 0.05; done
mp=$(awk '$3=="fuse.coldstart-netsim" {print $2}' /proc/self/mounts | grep "^$TMPDIR/coldstart-netsim-" | head -1)
check "bench mounted its netsim" [ -n "$mp" ]
kill -9 $bpid
wait $bpid 2>/dev/null
no_leftovers "kill -9 of bench: no process left" 3
check "kill -9 of bench: no mount left" [ "$(nmounts)" = "$before" ]
check "kill -9 of bench: its mount point is gone too" [ ! -e "$mp" ]
done_testing
