#ifndef CS_CSVLOG_H
#define CS_CSVLOG_H
/*
 * csvlog: the benchmark CSV with the seed's exact header
 *   run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes
 * RFC 4180: fields with a comma, quote, CR or LF are quoted, quotes doubled.
 * Extra measurements go into `notes` as "key=value" pairs joined by "; "
 * (keys are [a-z0-9_]+; a value never contains ';').
 *
 * Appending: the file is created with the header when missing or empty; an
 * existing file is appended to only if its first line is exactly the
 * header (else -1, file untouched) -- after an optional UTF-8 byte order
 * mark, ending in LF or CRLF; rows are appended with the file's own line
 * ending. Readers skip the mark too. run_id continues from the largest
 * run_id in the file that is a whole decimal number (an id that leaves no
 * room for the next, LLONG_MAX, is ERANGE: nothing appended). The whole row goes out in one write under an
 * exclusive flock held from reading the file to writing the row, so
 * concurrent writers never interleave or reuse a run_id.
 *
 * Ownership: csv_table owns all its strings (csv_table_release). Nothing prints.
 */
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define CSV_HEADER "run_id,storage_mode,model,max_model_len,load_s,gpu_mem_used_mb,notes"
#define CSV_NCOLS 7

struct csv_table {
	size_t nrows;            /* records, header included */
	size_t *ncols;           /* fields per record */
	char ***cells;
};

/* Parse a whole CSV text. Errors name the line of the problem. */
int csv_parse(const char *buf, size_t len, struct csv_table *t, struct cs_err *err);
void csv_table_release(struct csv_table *t);
/* Read a whole file (any kind: pipes too) and csv_parse it; messages name
 * the file. */
int csv_load(const char *path, struct csv_table *t, struct cs_err *err);

/* Append the field to a growing line, quoted if it needs to be. */
struct strbuf;
void csv_quote(struct strbuf *line, const char *field);

struct csv_row {
	long long run_id;        /* out: assigned by csv_append */
	const char *storage_mode;
	const char *model;
	long long max_model_len; /* < 0: empty */
	double load_s;           /* < 0: empty */
	long long gpu_mem_used_mb; /* < 0: empty */
	const char *notes;
};

int csv_append(const char *path, struct csv_row *row, struct cs_err *err);
/* One row as csv_append writes it, ending in eol (malloc'd): what to show
 * when it could not be written. */
char *csv_row_text(const struct csv_row *row, const char *eol);
/* The first line of s with what does not print shown as \r, \t, \xHH, so
 * two headers that differ never print the same. */
void csv_show(const char *s, size_t len, char *out, size_t outlen);
/* The run_id the next csv_append would likely assign (1 for a missing or
 * unreadable file): a hint for {run_id} before the run, not a reservation. */
long long csv_peek_next_id(const char *path);
/* Check that path, if it exists and is non-empty, starts with the header
 * and its run_ids leave room for another (csv_append's refusals, before a
 * run is spent on a row). */
int csv_check_header(const char *path, struct cs_err *err);

/* notes: "k=v; k=v". Adding (to a growing string) replaces ';' and newlines
 * in values with ','. A URL in a value, and in any row's model or notes
 * csv_row_text writes, loses its user info and query (redact_urls): rows
 * never hold credentials. A load_s that is not finite is written empty. */
void notes_add(struct strbuf *notes, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Value of key in notes (malloc'd), or NULL. */
char *notes_get(const char *notes, const char *key);
/* The same, also taking ',' as a separator, as in notes written by hand
 * ("copy_s=30.0, load_s=22.0"); values then end at a comma. */
char *notes_get_lenient(const char *notes, const char *key);

#endif
