#ifndef CS_STRBUF_H
#define CS_STRBUF_H
/*
 * strbuf: the one growing string (after git's strbuf). buf is always
 * NUL-terminated once anything was added (NULL while empty and never
 * grown); len excludes the NUL. Growth doubles, so adding is amortized
 * O(1): no quadratic re-copying of a string built piece by piece.
 *
 * Ownership: the strbuf owns buf until strbuf_detach hands it over
 * (strbuf_release frees it). Allocation dies on out-of-memory, as xmalloc.
 * Not thread-safe per strbuf.
 */
#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len, alloc;
};

#define STRBUF_INIT { NULL, 0, 0 }

void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_add(struct strbuf *sb, const void *data, size_t n);
void strbuf_adds(struct strbuf *sb, const char *s);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* c, or its entity when it is one of < > & (text safe inside HTML, SVG
 * and Markdown). Returns 1 when it was escaped. */
int strbuf_add_entity(struct strbuf *sb, char c);
/* The string (never NULL: "" when empty), now the caller's; sb is empty. */
char *strbuf_detach(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);

#endif
