#!/usr/bin/env bash
# The documentation cannot drift from what it documents: the man page and
# docs/commands.md are what `coldstart help --all` generates from the option
# tables today, every option of every `coldstart CMD --help` is in the man
# page, the README's and the guide's links lead to files, and the file map
# of docs/ARCHITECTURE.md names exactly the files under src/core/<folder>/.
# Each check also runs on a broken copy, to show it can fail.
. "$(dirname "$0")/lib.sh"

# docs_fresh MAN MD: both are what the binary generates now.
docs_fresh() {
	local fmt f ok=0
	for fmt in man markdown; do
		f=$1
		[ "$fmt" = markdown ] && f=$2
		"$COLDSTART" help --all --format=$fmt >"$SCRATCH/gen.$fmt" || return 1
		if ! cmp -s "$SCRATCH/gen.$fmt" "$f"; then
			echo "$f is not what 'coldstart help --all --format=$fmt' generates: run make docs" >&2
			diff -u "$f" "$SCRATCH/gen.$fmt" | head -20 >&2
			ok=1
		fi
	done
	return $ok
}

# commands: the names in `coldstart --help`'s command list.
commands() {
	"$COLDSTART" --help | awk '/^Commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }'
}

# options CMD: the long options of CMD's --help (its Options: list).
options() {
	"$COLDSTART" "$1" --help | awk '/^Options:$/ { on = 1; next } /^$/ { on = 0 } on' |
		grep -oE '^ {2}(-[A-Za-z0-9], | {4})--[a-z0-9][a-z0-9-]*' | sed 's/.*--/--/'
}

# man_has_options MAN: every long option of every command is an entry of
# that command's section of the man page (\fB\-\-NAME\fR, as troff spells it).
man_has_options() {
	local c o tag section ok=0
	for c in $(commands); do
		section=$(awk -v h=".SS \"coldstart $c\"" '$0 == h { on = 1; next } /^\.S[SH] / { on = 0 } on' "$1")
		[ -n "$section" ] || {
			echo "$1 has no section for $c" >&2
			ok=1
			continue
		}
		for o in $(options "$c"); do
			tag="\\fB${o//-/\\-}\\fR"
			case "$section" in *"$tag"*) ;; *)
				echo "$1 lacks $c's $o" >&2
				ok=1
				;;
			esac
		done
	done
	return $ok
}

# links_resolve FILE...: every relative link of each Markdown file names a
# file or directory (relative to the file; anchors and URLs aside).
links_resolve() {
	local f t ok=0
	for f in "$@"; do
		while IFS= read -r t; do
			case "$t" in http://* | https://* | mailto:* | "#"*) continue ;; esac
			t=${t%%#*}
			[ -e "$(dirname "$f")/$t" ] || {
				echo "$f links to $t, which does not exist" >&2
				ok=1
			}
		done < <(grep -oE '\]\([^) ]+\)' "$f" | sed 's/^](//; s/)$//')
	done
	return $ok
}

# map_complete ARCH ROOT: the file map of ARCH (rows "| `folder/` | `a.c`
# `a.h` | ... |" between the files markers) names every .c and .h under
# ROOT/src/core/<folder>/, and nothing else.
map_complete() {
	local named real ok=0 p
	named=$(awk '/<!-- files: begin -->/ { on = 1; next } /<!-- files: end -->/ { on = 0 }
		on && /^\| *`[a-z0-9_]+\/` *\|/ {
			split($0, c, "|"); d = c[2]; gsub(/[ `\/]/, "", d); s = c[3]
			while (match(s, /[A-Za-z0-9_]+\.[ch]/)) {
				print d "/" substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
			}
		}' "$1" | sort -u)
	real=$(cd "$2/src/core" && ls */*.[ch] | sort -u)
	[ -n "$named" ] || {
		echo "$1: no file map between <!-- files: begin --> and <!-- files: end -->" >&2
		return 1
	}
	for p in $(comm -13 <(echo "$named") <(echo "$real")); do
		echo "src/core/$p is not in the file map of $1" >&2
		ok=1
	done
	for p in $(comm -23 <(echo "$named") <(echo "$real")); do
		echo "$1's file map names src/core/$p, which does not exist" >&2
		ok=1
	done
	return $ok
}

D=$REPO_ROOT/docs

# The reference, generated.
expect_rc 0 "help --all exits 0" "$COLDSTART" help --all
contains "it is a man page" "$out" ".TH COLDSTART 1"
expect_rc 0 "help --all --format=markdown exits 0" "$COLDSTART" help --all --format=markdown
contains "it is Markdown, a section per command" "$out" "## coldstart exec"
expect_rc 2 "an unknown format is a usage error" "$COLDSTART" help --all --format=html
contains "and names it" "$err" "invalid --format 'html'"
expect_rc 0 "help --all is not listed in --help" "$COLDSTART" --help
lacks "no --all in --help" "$out" "--all"
"$COLDSTART" help --all >"$SCRATCH/plain.1"
env STAGING_ROOT=/x MODEL_PATH_NET=/y MODEL_PATH_NVME=/z MODEL_NAME=n "$COLDSTART" help --all --format=man >"$SCRATCH/env.1"
check "the man page is the same whatever the environment" cmp "$SCRATCH/plain.1" "$SCRATCH/env.1"
expect_rc 0 "docs/coldstart.1 and docs/commands.md are up to date" docs_fresh "$D/coldstart.1" "$D/commands.md"
sed '/--ready-file/d' "$D/commands.md" >"$SCRATCH/stale.md"
expect_rc 1 "a stale copy is found" docs_fresh "$D/coldstart.1" "$SCRATCH/stale.md"
contains "and the message says what to do" "$err" "run make docs"

# Every option, in the man page.
check "every command has options" [ "$(options exec | wc -l)" -gt 5 ]
expect_rc 0 "every long option of every command is in the man page" man_has_options "$D/coldstart.1"
grep -vF '\fB\-\-ready\-file\fR' "$D/coldstart.1" >"$SCRATCH/short.1"
expect_rc 1 "a man page without exec's --ready-file fails" man_has_options "$SCRATCH/short.1"
contains "naming the option" "$err" "lacks exec's --ready-file"
awk '/^\.SS "coldstart cache"/ { on = 1 } /^\.SS "coldstart exec"/ { on = 0 } !on || !/\\-\\-jobs/' "$D/coldstart.1" >"$SCRATCH/nojobs.1"
expect_rc 1 "cache's --jobs is looked for in cache's section, not another's" man_has_options "$SCRATCH/nojobs.1"
contains "and named" "$err" "lacks cache's --jobs"

# The README and the guide lead to files.
expect_rc 0 "the README's links resolve" links_resolve "$REPO_ROOT/README.md"
expect_rc 0 "the generated reference's and the guide's links resolve" links_resolve "$D/commands.md" "$D/guide.md"
printf 'see [the map](docs/NOPE.md) and [a section](#x)\n' >"$SCRATCH/README.md"
expect_rc 1 "a link to a missing file fails" links_resolve "$SCRATCH/README.md"
contains "and is named" "$err" "links to docs/NOPE.md, which does not exist"
check "the README is a front page (at most 250 lines)" [ "$(wc -l <"$REPO_ROOT/README.md")" -le 250 ]
contains "the README says how to run the demo" "$(cat "$REPO_ROOT/README.md")" "make demo"
contains "and the tests" "$(cat "$REPO_ROOT/README.md")" "make test"

# The map of src/core/ names what is there.
expect_rc 0 "ARCHITECTURE.md's file map names every file under src/core/<folder>/" map_complete "$D/ARCHITECTURE.md" "$REPO_ROOT"
mkdir -p "$SCRATCH/tree/src/core/io"
cp -r "$REPO_ROOT/src/core" "$SCRATCH/tree/src/"
: >"$SCRATCH/tree/src/core/io/newpart.c"
expect_rc 1 "a file missing from the map fails" map_complete "$D/ARCHITECTURE.md" "$SCRATCH/tree"
contains "and is named" "$err" "src/core/io/newpart.c is not in the file map"
rm "$SCRATCH/tree/src/core/io/newpart.c" "$SCRATCH/tree/src/core/io/shaper.c"
expect_rc 1 "a map naming a file that is gone fails" map_complete "$D/ARCHITECTURE.md" "$SCRATCH/tree"
contains "and is named" "$err" "names src/core/io/shaper.c, which does not exist"

done_testing
