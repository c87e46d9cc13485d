#!/bin/sh
# Install the Debian packages coldstart needs to build and test, if missing.
# Idempotent and quiet when everything is there.
set -eu
PKGS="gcc make libc6-dev perl libjansson-dev libxxhash-dev libcurl4-openssl-dev cmark-gfm librsvg2-bin
libmicrohttpd-dev libfuse3-dev fuse3 python3"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
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
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
