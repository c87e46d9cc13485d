#!/usr/bin/env bash
# run, bench, report: no output over an input, no measured run lost when the
# CSV cannot take it, CSVs from spreadsheets (BOM, CRLF), usage errors that
# are usage errors, and messages that name the real cause.
. "$(dirname "$0")/lib.sh"
F=${FIXTURES:?}/fakeserver
SRV="$F --port {port} --model {model}"
"$COLDSTART" mkmodel m --preset tiny -q >/dev/null
"$COLDSTART" run --model m --server "$SRV" --csv x.csv -q >/dev/null
cp x.csv x.orig

# Output over input: refused before anything is opened for writing.
expect_rc 2 "run --csv x.csv --log x.csv" "$COLDSTART" run --model m --server "$SRV" --csv x.csv --log x.csv -q
contains "says they are the same file" "$err" "are the same file"
check "the CSV is untouched" cmp -s x.csv x.orig
ln -s x.csv alias.csv
expect_rc 2 "... also through a symlink" "$COLDSTART" run --model m --server "$SRV" --csv x.csv --log alias.csv -q
check "still untouched" cmp -s x.csv x.orig
cp m/config.json config.orig
expect_rc 2 "--log onto one of the model's files" "$COLDSTART" run --model m --server "$SRV" --log m/config.json -q
contains "says so" "$err" "one of the model's files"
check "the model file is untouched" cmp -s m/config.json config.orig
expect_rc 2 "report x.csv --md x.csv" "$COLDSTART" report x.csv --md x.csv
check "the CSV is untouched by report" cmp -s x.csv x.orig
expect_rc 2 "report --svg over the sidecar" "$COLDSTART" report x.csv --svg x.meta.json
expect_rc 2 "report --md and --svg the same" "$COLDSTART" report x.csv --md r.out --svg r.out
check "nothing written" [ ! -e r.out ]

# The CSV is checked before launch: not writable, no room.
if [ "$(id -u)" = 0 ]; then
	mkdir ro full
	mount -t tmpfs -o size=1m tmpfs ro && at_exit "umount -l '$SCRATCH/ro'"
	cp x.csv ro/x.csv
	mount -o remount,ro "$SCRATCH/ro"
	expect_rc 1 "a read-only CSV" "$COLDSTART" run --model m --server "$SRV" --csv ro/x.csv --log ro.log -q
	contains "says it cannot be appended" "$err" "cannot append to 'ro/x.csv'"
	check "refused before launch (no server log)" [ ! -e ro.log ]
	mount -t tmpfs -o size=1m tmpfs full && at_exit "umount -l '$SCRATCH/full'"
	dd if=/dev/zero of=full/fill bs=64k 2>/dev/null
	expect_rc 1 "a full file system" "$COLDSTART" run --model m --server "$SRV" --csv full/x.csv --log full.log -q
	contains "says there is no room" "$err" "no room to append to 'full/x.csv'"
	check "refused before launch" [ ! -e full.log ]
	rm full/fill
	# ... and when the disk fills during the run: the measurement is printed
	# all the same, with the row that could not be written.
	expect_rc 1 "the disk fills during the run" "$COLDSTART" run --model m --shell --server "dd if=/dev/zero of=$SCRATCH/full/fill bs=64k 2>/dev/null; exec $F --port {port}" --csv full/x.csv --log late.log -q
	check "load_s still printed on stdout" [ -n "$(printf '%s' "$out" | grep -E '^[0-9]+\.[0-9]{3}$')" ]
	contains "the row is shown, not lost" "$err" "NOT recorded; its row"
	contains "... with its notes" "$err" "cold=yes"
	rm -f full/fill full/x.csv
	dd if=/dev/zero of=full/fill bs=64k 2>/dev/null
	expect_rc 0 "a log on a full disk does not fail the run" "$COLDSTART" run --model m --server "$SRV" --log full/srv.log -q
	contains "but says the log is incomplete" "$err" "is incomplete"
fi
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$SCRATCH"
	mkdir -p nb && chown 65534 nb && cp x.csv nb/root-owned.csv
	run setpriv --reuid 65534 --regid 65534 --clear-groups "$COLDSTART" run --model m --server "$SRV" --csv nb/root-owned.csv --log nb/ro.log -q
	check "a CSV this user may not write: exit 1" [ "$rc" = 1 ]
	contains "says so" "$err" "cannot append to 'nb/root-owned.csv': Permission denied"
	check "before launch" [ ! -e nb/ro.log ]
	cp -r m unreadable && chmod 000 unreadable/config.json
	run setpriv --reuid 65534 --regid 65534 --clear-groups "$COLDSTART" inspect unreadable
	contains "an unreadable config.json: says it cannot be read, and why" "$err" "cannot read 'unreadable/config.json': Permission denied"
	lacks "not 'invalid JSON'" "$err" "invalid JSON"
fi

# CSVs from spreadsheets: a byte order mark, CRLF line endings.
printf '\xef\xbb\xbfrun_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes\n1,nvme,m,4096,2.0,,cold=yes\n' > bom.csv
expect_rc 0 "append to a CSV with a UTF-8 BOM" "$COLDSTART" run --model m --server "$SRV" --csv bom.csv -q
check "row 2 appended" [ "$(tail -1 bom.csv | cut -d, -f1)" = 2 ]
check "the BOM and header kept" [ "$(head -c 3 bom.csv | od -An -tx1 | tr -d ' ')" = efbbbf ]
expect_rc 0 "report reads it" "$COLDSTART" report bom.csv --md - -q
printf 'run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes\r\n1,nvme,m,4096,2.0,,cold=yes\r\n' > crlf.csv
expect_rc 0 "append to a CRLF CSV" "$COLDSTART" run --model m --server "$SRV" --csv crlf.csv -q
check "the new row ends in CRLF too" [ "$(tail -1 crlf.csv | od -An -c | tr -s ' ' | grep -c '\\r \\n')" = 1 ]
check "python's csv module reads 2 rows" python3 -c '
import csv; r=list(csv.reader(open("crlf.csv", newline=""))); assert len(r)==3 and r[2][0]=="2", r'
printf 'run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes \n' > space.csv
expect_rc 1 "a header with a trailing space is refused" "$COLDSTART" run --model m --server "$SRV" --csv space.csv -q
contains "and the message shows the difference" "$err" "has header 'run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes '"
printf 'run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,\xc2\xa0notes\n' > nbsp.csv
expect_rc 1 "a header with a no-break space" "$COLDSTART" run --model m --server "$SRV" --csv nbsp.csv -q
contains "shows the bytes that do not print" "$err" '\xc2\xa0notes'

# Usage errors are usage errors.
expect_rc 2 "an empty --server" "$COLDSTART" run --model m --server '' -q
contains "with a hint" "$err" "Try 'coldstart run --help'"
expect_rc 2 "an unknown {token}" "$COLDSTART" run --model m --server "srv {nosuch}" -q
contains "names the token" "$err" "unknown token '{nosuch}'"
expect_rc 2 "an unterminated quote" "$COLDSTART" run --model m --server "srv 'x" -q
expect_rc 2 "bench too" "$COLDSTART" bench --nvme m --modes nvme --server "srv {nosuch}" -q
expect_rc 2 "bench --runtime-server too" "$COLDSTART" bench --nvme m --modes runtime --server "$SRV" --runtime-server "x {nope}" -q
expect_rc 2 "bench --modes ''" "$COLDSTART" bench --nvme m --modes '' --server "$SRV" --csv e.csv -q
expect_rc 2 "bench --modes ','" "$COLDSTART" bench --nvme m --modes ',' --server "$SRV" --csv e.csv -q
check "no CSV or report written" test ! -e e.csv -a ! -e e.md
no_leftovers "no server left"
done_testing
