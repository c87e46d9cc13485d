#ifndef CS_STRBUF_H
#define CS_STRBUF_H
/*
 * strbuf: the one growing string (after git's strbuf).
 *
 * buf is never NULL and always NUL-terminated; len excludes the NUL. An
 * initialised strbuf that was never grown (alloc == 0) points at
 * strbuf_slopbuf, one shared static "": callers read sb.buf as a string
 * without testing it, and never write into it (every strbuf function
 * grows first; write through buf only below len, or at len after
 * strbuf_grow). Growth doubles, so adding is amortized O(1): no quadratic
 * re-copying of a string built piece by piece.
 *
 * Ownership: the strbuf owns buf (when alloc > 0) until strbuf_detach hands
 * it over; strbuf_release frees it and points buf back at the slop. Never
 * free(sb.buf) yourself. Allocation dies on out-of-memory, as xmalloc.
 * Not thread-safe per strbuf (the slop is only read).
 */
#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len, alloc;
};

extern char strbuf_slopbuf[];
#define STRBUF_INIT { strbuf_slopbuf, 0, 0 }

/* Makes sb empty, owning nothing (as STRBUF_INIT). */
void strbuf_init(struct strbuf *sb);

void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_add(struct strbuf *sb, const void *data, size_t n);
void strbuf_adds(struct strbuf *sb, const char *s);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* c, or its entity when it is one of < > & (text safe inside HTML, SVG
 * and Markdown). Returns 1 when it was escaped. */
int strbuf_add_entity(struct strbuf *sb, char c);
/* Empties sb (len 0, buf ""), keeping its allocation for reuse. */
void strbuf_reset(struct strbuf *sb);
/* The string, now the caller's to free (never NULL, never the slop: a
 * fresh "" when empty); sb is empty and owns nothing, as after init. */
char *strbuf_detach(struct strbuf *sb);
/* Frees what sb owns; sb is empty and reusable, as after init. */
void strbuf_release(struct strbuf *sb);

#endif
