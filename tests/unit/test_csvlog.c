#define _GNU_SOURCE
#include "core/base/csvlog.h"
#include "core/base/strbuf.h"
#include "core/base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

static char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	fstat(fd, &st);
	char *b = xmalloc((size_t)st.st_size + 1);
	fs_pread_full(fd, b, (size_t)st.st_size, 0);
	b[st.st_size] = 0;
	close(fd);
	return b;
}

int main(void)
{
	char tmpl[] = "/tmp/cs-test-csv-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char *path = path_join(dir, "bench.csv");
	struct cs_err e;
	struct csv_row r = { 0, "nvme", "/models/a b", 4096, 12.3456, 15000, "cold=yes; resident_pct=0.0" };
	ok(csv_append(path, &r, &e) == 0, "append to a new file");
	is_int(r.run_id, 1, "first run_id is 1");
	char *b = slurp(path);
	is_str(b, CSV_HEADER "\n1,nvme,/models/a b,4096,12.346,15000,cold=yes; resident_pct=0.0\n", "header and row");
	free(b);

	struct csv_row r2 = { 0, "net", "m,\"q\"\nx", -1, -1, -1, "note, with \"quotes\"\nand a newline" };
	ok(csv_append(path, &r2, &e) == 0, "append a row that needs quoting");
	is_int(r2.run_id, 2, "run_id continues");
	b = slurp(path);
	struct csv_table t;
	ok(csv_parse(b, strlen(b), &t, &e) == 0, "file parses");
	is_int(t.nrows, 3, "header + 2 rows");
	is_int(t.ncols[2], 7, "7 fields in the quoted row");
	is_str(t.cells[2][2], "m,\"q\"\nx", "model round-trips");
	is_str(t.cells[2][6], "note, with \"quotes\"\nand a newline", "notes round-trip");
	is_str(t.cells[2][3], "", "empty max_model_len");
	csv_table_release(&t);
	free(b);

	/* Header mismatch: refused, file byte-for-byte unchanged. */
	char *other = path_join(dir, "other.csv");
	int fd = open(other, O_CREAT | O_WRONLY, 0644);
	const char *content = "run_id,mode,load_s\n1,nvme,3.2\n";
	fs_pwrite_full(fd, content, strlen(content), 0);
	close(fd);
	struct csv_row r3 = { 0, "nvme", "m", 1, 1, 1, "" };
	ok(csv_append(other, &r3, &e) < 0 && strstr(e.msg, "expected 'run_id,storage_mode"), "mismatched header refused");
	b = slurp(other);
	is_str(b, content, "mismatched file unchanged");
	free(b);
	ok(csv_check_header(other, &e) < 0, "csv_check_header refuses it too");
	ok(csv_check_header(path, &e) == 0, "csv_check_header accepts ours");

	/* Hand-written file without a trailing newline, timestamps as run_id. */
	char *hand = path_join(dir, "hand.csv");
	fd = open(hand, O_CREAT | O_WRONLY, 0644);
	content = CSV_HEADER "\r\n7,nvme,m,2048,3.1,,\n20250101T1200,net,m,2048,9.9,,";
	fs_pwrite_full(fd, content, strlen(content), 0);
	close(fd);
	ok(csv_append(hand, &r3, &e) == 0, "append to a CRLF file without final newline");
	is_int(r3.run_id, 8, "run_id continues from the largest integer");
	b = slurp(hand);
	ok(csv_parse(b, strlen(b), &t, &e) == 0 && t.nrows == 4 && t.ncols[3] == 7, "file still has 4 good records");
	csv_table_release(&t);
	free(b);

	/* Ids that are not whole decimal numbers are not ids (strtoll took
	 * " 40", "+50" and the digits of "0x60"); one at LLONG_MAX leaves no
	 * next id: refused before and at the append, the file untouched. */
	char *ids = path_join(dir, "ids.csv");
	fd = open(ids, O_CREAT | O_WRONLY, 0644);
	content = CSV_HEADER "\n3,nvme,m,1,1.0,,\n 40,nvme,m,1,1.0,,\n+50,nvme,m,1,1.0,,\n90x,nvme,m,1,1.0,,\n";
	fs_pwrite_full(fd, content, strlen(content), 0);
	close(fd);
	struct csv_row r4 = { 0, "nvme", "m", 1, 1, 1, "" };
	ok(csv_append(ids, &r4, &e) == 0 && r4.run_id == 4, "blanks, signs and suffixes are not run_ids: next is 4 (%lld)",
	   r4.run_id);
	is_int(csv_peek_next_id(ids), 5, "csv_peek_next_id agrees");
	char *huge = path_join(dir, "huge.csv");
	fd = open(huge, O_CREAT | O_WRONLY, 0644);
	content = CSV_HEADER "\n9223372036854775807,nvme,m,1,1.0,,\n";
	fs_pwrite_full(fd, content, strlen(content), 0);
	close(fd);
	ok(csv_check_header(huge, &e) < 0 && e.code == ERANGE && strstr(e.msg, "9223372036854775807"),
	   "csv_check_header: a run_id at LLONG_MAX leaves no next one (%s)", e.msg);
	ok(csv_append(huge, &r4, &e) < 0 && e.code == ERANGE, "csv_append refuses it too, no wrapped id");
	b = slurp(huge);
	is_str(b, content, "... the file untouched");
	free(b);
	fd = open(huge, O_WRONLY | O_TRUNC);
	content = CSV_HEADER "\n99999999999999999999,nvme,m,1,1.0,,\n";
	fs_pwrite_full(fd, content, strlen(content), 0);
	close(fd);
	ok(csv_append(huge, &r4, &e) < 0 && e.code == ERANGE, "an id past 64 bits: refused, not read as LLONG_MAX");

	/* A load_s that is not finite is never written; credentials in a URL
	 * never reach a row. */
	struct csv_row r5 = { 0, "net", "https://u:pw@h/m?sig=S3CRET", 1, INFINITY, -1,
			      "note=https://tok@h/x?X-Amz-Signature=S3CRET" };
	char *text = csv_row_text(&r5, "\n");
	is_str(text, "0,net,https://REDACTED@h/m?REDACTED,1,,,note=https://REDACTED@h/x?REDACTED\n",
	       "csv_row_text: inf load_s empty, URLs redacted");
	free(text);
	r5.load_s = NAN;
	text = csv_row_text(&r5, "\n");
	ok(strstr(text, ",1,,,") != NULL, "NaN load_s empty too");
	free(text);

	/* Concurrent appenders: no interleaving, no duplicate run_id. */
	char *conc = path_join(dir, "conc.csv");
	fflush(stdout); /* children must not inherit (and repeat) buffered TAP lines */
	for (int p = 0; p < 4; p++) {
		if (fork() == 0) {
			for (int k = 0; k < 25; k++) {
				struct csv_row rr = { 0, "nvme", "m", 1, 1.5, 2, "pid row" };
				if (csv_append(conc, &rr, &e))
					_exit(1);
			}
			_exit(0);
		}
	}
	int st, failed = 0;
	while (wait(&st) > 0)
		failed += !WIFEXITED(st) || WEXITSTATUS(st);
	is_int(failed, 0, "4 concurrent appenders succeeded");
	b = slurp(conc);
	ok(csv_parse(b, strlen(b), &t, &e) == 0, "concurrent file parses");
	is_int(t.nrows, 101, "100 rows + header");
	int seen[101] = { 0 }, dup = 0, bad = 0;
	for (size_t i = 1; i < t.nrows; i++) {
		int id = atoi(t.cells[i][0]);
		if (t.ncols[i] != 7 || id < 1 || id > 100)
			bad++;
		else if (seen[id]++)
			dup++;
	}
	is_int(bad, 0, "every row whole");
	is_int(dup, 0, "run_ids unique");
	csv_table_release(&t);
	free(b);

	ok(csv_parse("a,\"b", 4, &t, &e) < 0 && strstr(e.msg, "unterminated"), "unterminated quote rejected");
	ok(csv_parse("a,\"b\"c\n", 7, &t, &e) < 0, "text after closing quote rejected");

	struct strbuf nb = STRBUF_INIT;
	notes_add(&nb, "load_s", "%.2f", 3.14159);
	notes_add(&nb, "server", "vllm; evil\nvalue");
	char *notes = strbuf_detach(&nb);
	is_str(notes, "load_s=3.14; server=vllm, evil,value", "notes_add joins and sanitizes");
	char *v = notes_get(notes, "server");
	is_str(v, "vllm, evil,value", "notes_get");
	free(v);
	ok(notes_get(notes, "load") == NULL, "notes_get needs the whole key");
	free(notes);
	notes_add(&nb, "note", "see https://user:pw@host/p?token=T0K; then");
	notes_add(&nb, "x", "%d", 1);
	notes = strbuf_detach(&nb);
	is_str(notes, "note=see https://REDACTED@host/p?REDACTED then; x=1", "notes_add redacts a URL's credentials");
	free(notes);

	fs_remove_tree(dir);
	free(path);
	free(other);
	free(hand);
	free(conc);
	free(ids);
	free(huge);
	return done_testing();
}
