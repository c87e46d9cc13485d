#!/usr/bin/env bash
# make install (DESTDIR, PREFIX) puts everything where the installed binary
# looks: the binary, the man page, bash and zsh completion generated from
# the option tables, and what --server llama.cpp needs; the installed
# binary, run from another directory, finds llama.cpp's engine; the
# completion offers every option each command's --help lists; uninstall
# removes it all.
. "$(dirname "$0")/lib.sh"
[ -x "$REPO_ROOT/coldstart" ] || skip_all "no $REPO_ROOT/coldstart (make all)"
DEST=$SCRATCH/dest
P=$DEST/usr/local
CS=$P/bin/coldstart
SHARE=$P/share/coldstart/servers
BASHC=$P/share/bash-completion/completions/coldstart
ZSHC=$P/share/zsh/site-functions/_coldstart

# The binary as built (make all), and the completion generated from it.
expect_rc 0 "make install DESTDIR=... PREFIX=/usr/local" make -C "$REPO_ROOT" --no-print-directory \
	install DESTDIR="$DEST" PREFIX=/usr/local
check "the binary, executable" [ -x "$CS" ]
check "... the one built" cmp -s "$CS" "$REPO_ROOT/coldstart"
check "the man page" cmp -s "$P/share/man/man1/coldstart.1" "$REPO_ROOT/docs/coldstart.1"
check "bash completion where bash-completion looks" [ -s "$BASHC" ]
check "zsh completion in site-functions" [ -s "$ZSHC" ]
"$COLDSTART" help --all --format=bash >gen.bash
"$COLDSTART" help --all --format=zsh >gen.zsh
check "the bash completion is what the option tables generate" cmp -s "$BASHC" gen.bash
check "the zsh completion too" cmp -s "$ZSHC" gen.zsh
check "llama.cpp's server script where the installed binary looks" [ -f "$SHARE/llama_serve.mjs" ]
check "... with its package files" [ -f "$SHARE/package.json" ] && [ -f "$SHARE/package-lock.json" ]
HAVE_LLAMA=
if [ -d "$REPO_ROOT/bench/servers/node_modules/node-llama-cpp" ] && command -v node >/dev/null; then
	HAVE_LLAMA=1
	check "node-llama-cpp and llama.cpp's prebuilt engine installed beside it" \
		[ -f "$SHARE/node_modules/node-llama-cpp/package.json" ] && [ -d "$SHARE/node_modules/@node-llama-cpp/linux-x64" ]
	check "... not the tests' packages (s3rver)" [ ! -e "$SHARE/node_modules/s3rver" ]
fi

# ---- the installed binary, elsewhere, finds the engine ----
mkdir -p elsewhere && cd elsewhere || exit 1
expect_rc 0 "mkmodel a GGUF model" "$CS" mkmodel tiny.gguf --preset tiny --format gguf -q
if [ -n "$HAVE_LLAMA" ] && ! command -v llama-server >/dev/null; then
	expect_rc 0 "run --server llama.cpp from another directory" env -u COLDSTART_LLAMA_SERVE "$CS" run -m tiny.gguf \
		--server llama.cpp --json
	json_ok "... served by the installed llama_serve.mjs, ready" "$out" "
assert d['status']=='ready', d
assert d['command'].startswith('node $SHARE/llama_serve.mjs tiny.gguf --port '), d['command']"
	mv "$SHARE/node_modules" "$SCRATCH/nm"
	expect_rc 1 "without node-llama-cpp beside it, run fails" env -u COLDSTART_LLAMA_SERVE "$CS" run -m tiny.gguf \
		--server llama.cpp
	contains "... saying what is missing and how to get it" "$err" \
		"node-llama-cpp (llama.cpp's engine) is not installed next to '$SHARE/llama_serve.mjs'"
	contains "... (npm ci there)" "$err" "run 'npm ci --omit=optional --ignore-scripts' in '$SHARE'"
	mv "$SCRATCH/nm" "$SHARE/node_modules"
else
	_t_report 0 "# SKIP the installed llama.cpp run needs node-llama-cpp (make deps) and no llama-server on the PATH"
fi
cd "$SCRATCH" || exit 1

# ---- bash completion, through bash's own machinery ----
# complete_words WORD...: what _coldstart offers for the command line
# WORD... (the last one being completed), one a line.
complete_words() {
	bash -c '. "$1" || exit 1
shift
[ "$(complete -p coldstart)" = "complete -o default -F _coldstart coldstart" ] || { echo "not registered" >&2; exit 1; }
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
_coldstart coldstart "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf "%s\n" "${COMPREPLY[@]}"' _ "$BASHC" "$@"
}
same_set() { [ "$(printf '%s\n' $1 | sort -u)" = "$(printf '%s\n' $2 | sort -u)" ]; }
# options CMD: the long options of CMD's --help (as t0003 reads them).
options() {
	"$COLDSTART" "$1" --help | awk '/^Options:$/ { on = 1; next } /^$/ { on = 0 } on' |
		grep -oE '^ {2}(-[A-Za-z0-9], | {4})--[a-z0-9][a-z0-9-]*' | sed 's/.*--/--/'
}
commands=$("$COLDSTART" --help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
out=$(complete_words coldstart st)
check "a subcommand: 'st' completes to stage" [ "$out" = stage ]
out=$(complete_words coldstart '')
check "every command is offered" same_set "$out" "$commands help --help --version"
bad=
for c in $commands; do
	got=$(complete_words coldstart "$c" -- | grep -- '^--')
	same_set "$got" "$(options "$c") --help" || bad="$bad $c"
done
check "each command completes exactly the long options of its --help" [ -z "$bad" ] || echo "# differ:$bad"
out=$(complete_words coldstart inspect --j)
check "an option: inspect --j completes to --json" [ "$out" = --json ]
out=$(complete_words coldstart bench --order '')
check "an option's choices: bench --order" same_set "$out" "interleave grouped random"
out=$(complete_words coldstart bench --order = gr)
check "... also after '=' (--order=gr)" [ "$out" = grouped ]
out=$(complete_words coldstart cache --root /tmp '')
check "an action: cache's, after an option and its value" same_set "$out" "ls verify rm gc serve"
out=$(complete_words coldstart cache ls '')
check "... only as the first operand (then files)" [ -z "$out" ]
out=$(complete_words coldstart help pa)
check "help COMMAND" [ "$out" = pages ]

# ---- zsh ----
if command -v zsh >/dev/null; then
	check "the zsh completion parses (zsh -n)" zsh -n "$ZSHC"
	check "... is a #compdef file for coldstart" [ "$(head -1 "$ZSHC")" = "#compdef coldstart" ]
	bad=
	for c in $commands; do
		body=$(awk -v h="_coldstart_$c()" '$0 == h { on = 1; next } on && /^}/ { exit } on' "$ZSHC")
		got=$(printf '%s\n' "$body" | grep -oE -- "(\{-.[+-]?,|')--[a-z0-9][a-z0-9-]*" | sed 's/.*--/--/')
		same_set "$got" "$(options "$c") --help" || bad="$bad $c"
	done
	check "... each command's spec names exactly the long options of its --help" [ -z "$bad" ] || echo "# differ:$bad"
	# zsh_complete LINE: what an interactive zsh (zpty, compinit with the
	# installed site-functions) shows after LINE and a Tab, escapes removed.
	zsh_complete() {
		timeout 30 zsh -f -c '
zmodload zsh/zpty || exit 1
zpty -b z "zsh -f -i"
zpty -w z "PS1=\"> \"; fpath=($1 \$fpath); autoload -U compinit; compinit -u -d $2; LISTMAX=1000; PATH=$3:\$PATH"
zpty -w -n z "$4"$'"'"'\t'"'"'
sleep 2
out=
while zpty -r -t z chunk; do out+=$chunk; done
zpty -d z
print -r -- "$out"' _ "$(dirname "$ZSHC")" "$SCRATCH/zcompdump" "$(dirname "$CS")" "$1" |
			sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | tr '\r' '\n'
	}
	out=$(zsh_complete "coldstart st")
	contains "zsh, interactively: 'st' completes to stage" "$out" "coldstart stage "
	out=$(zsh_complete "coldstart cache ")
	check "... cache's actions" grep -qE '^gc +ls +rm +serve +verify *$' <<<"$out"
	out=$(zsh_complete "coldstart bench --order ")
	check "... an option's choices" grep -qE '^grouped +interleave +random *$' <<<"$out"
else
	_t_report 0 "# SKIP no zsh (make deps installs it)"
fi

# ---- uninstall ----
expect_rc 0 "make uninstall" make -C "$REPO_ROOT" --no-print-directory uninstall DESTDIR="$DEST" PREFIX=/usr/local
check "removes every file it installed" [ -z "$(find "$DEST" ! -type d)" ]
check "... and coldstart's own share folder" [ ! -e "$P/share/coldstart" ]
no_leftovers "no process left"
done_testing
