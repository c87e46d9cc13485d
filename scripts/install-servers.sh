#!/bin/sh
# install-servers.sh SRC DEST: make install's part for --server llama.cpp.
# Installs llama_serve.mjs (with its package.json and lock file) into DEST,
# where an installed coldstart looks (BINDIR/../share/coldstart/servers),
# and, when `make deps` installed node-llama-cpp into SRC/node_modules,
# node-llama-cpp and the packages it depends on (not the tests' packages).
# Without them it says how to get them; llama-server on the PATH is the
# other way.
set -eu
src=$1 dest=$2
install -d "$dest"
install -m 644 "$src/llama_serve.mjs" "$src/package.json" "$src/package-lock.json" "$dest/"
rm -rf "$dest/node_modules"
if [ -d "$src/node_modules/node-llama-cpp" ] && command -v node >/dev/null 2>&1; then
	here=$(cd "$(dirname "$0")" && pwd)
	list=$(cd "$src" && node "$here/server-files.mjs" . node-llama-cpp)
	# shellcheck disable=SC2086
	(cd "$src" && tar -cf - $list) | (cd "$dest" && tar --no-same-owner -xf -)
	echo "coldstart: install: llama.cpp's engine (node-llama-cpp) into $dest/node_modules" >&2
else
	echo "coldstart: install: node-llama-cpp is not installed in $src (make deps: needs Node.js >= 20):" \
		"for --server llama.cpp, put llama-server on the PATH or run" \
		"'npm ci --omit=optional --ignore-scripts' in $dest" >&2
fi
