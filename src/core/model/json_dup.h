#ifndef CS_JSON_DUP_H
#define CS_JSON_DUP_H
/*
 * json_dup: a JSON text that defines a key twice -- which key, and both
 * places.
 *
 * jansson's JSON_REJECT_DUPLICATES says only that an object defines a key
 * twice, and where the second definition ends (its error position). To
 * name both places, the text is scanned again: the object holding that
 * key, the earlier definition in it, and both values where they are
 * strings. Used for safetensors headers, indexes and config.json.
 *
 * Ownership: json_find_dup fills a struct json_dup that owns its strings;
 * json_dup_release releases them. Nothing here prints; no shared state.
 */
#include <stddef.h>

struct json_dup {
	char *key, *parent;        /* decoded; parent: the key of the object holding it, NULL at the top */
	size_t at[2];              /* byte offsets of the two definitions */
	char *val[2];              /* their values when strings, else NULL */
};

/* Fill d for the key whose second definition ends at byte end_at of the
 * text s[0, n): 0, or -1 (nothing to free) when the text has no such key. */
int json_find_dup(const char *s, size_t n, size_t end_at, struct json_dup *d);
void json_dup_release(struct json_dup *d);

#endif
