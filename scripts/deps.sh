#!/bin/sh
# Install the Debian packages coldstart needs to build and test, if missing.
# Idempotent and quiet when everything is there.
set -eu
PKGS="gcc make libc6-dev perl libjansson-dev libxxhash-dev libcurl4-openssl-dev libssl-dev cmark-gfm librsvg2-bin
libmicrohttpd-dev libfuse3-dev fuse3 python3 nginx-light curl zsh
ceph-mon ceph-osd radosgw ceph-common uuid-runtime slurmctld slurmd slurm-client munge"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
if ! command -v apt-get >/dev/null 2>&1; then
	echo "coldstart: deps: missing packages:$missing (no apt-get here: install them with your package manager)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "coldstart: deps: missing packages:$missing" >&2
	echo "coldstart: deps: run 'sudo make deps' or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "coldstart: deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# Packages that ship a service (nginx, Ceph, Slurm, munge: the tests start their own, on
# loopback or in network namespaces of their own) must not start it:
# nothing may listen beyond loopback.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
fi
# shellcheck disable=SC2086
rc=0
apt-get install -y -qq --no-install-recommends $missing >/dev/null || rc=$?
[ -z "$own_policy" ] || rm -f "$policy"
[ "$rc" = 0 ] || exit "$rc"
fi

# The llama.cpp server's npm packages (bench/servers: node-llama-cpp and its
# prebuilt llama.cpp for linux-x64 only), from the committed lock file.
# Installed once; nothing is fetched again while the lock file is unchanged.
srv=bench/servers
if [ -f "$srv/package-lock.json" ]; then
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		echo "coldstart: deps: Node.js >= 20 and npm are not installed: the llama.cpp server ($srv) is left out" >&2
		exit 0
	fi
	major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
	if [ "$major" -lt 20 ]; then
		echo "coldstart: deps: Node.js $(node --version) is older than 20: the llama.cpp server ($srv) is left out" >&2
		exit 0
	fi
	if ! cmp -s "$srv/package-lock.json" "$srv/node_modules/.coldstart-lock" 2>/dev/null; then
		echo "coldstart: deps: installing the llama.cpp server's npm packages (npm ci in $srv)" >&2
		(cd "$srv" && npm ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
		cp "$srv/package-lock.json" "$srv/node_modules/.coldstart-lock"
	fi
fi
