#include "json_dup.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/util.h"
#include "core/base/banned.h"

void json_dup_release(struct json_dup *d)
{
	free(d->key);
	free(d->parent);
	free(d->val[0]);
	free(d->val[1]);
}

/* The index after the string token that starts at s[i] ('"'). */
static size_t skip_string(const char *s, size_t n, size_t i)
{
	for (i++; i < n && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i < n ? i + 1 : n;
}

/* The string token s[a, b) decoded, or NULL. */
static char *decode_string(const char *s, size_t a, size_t b)
{
	json_t *j = json_loadb(s + a, b - a, JSON_DECODE_ANY, NULL);
	char *out = json_is_string(j) ? xstrdup(json_string_value(j)) : NULL;
	json_decref(j);
	return out;
}

/* The string value after the key token ending at b, decoded, or NULL. */
static char *value_after(const char *s, size_t n, size_t b)
{
	while (b < n && strchr(" \t\r\n:", s[b]))
		b++;
	return b < n && s[b] == '"' ? decode_string(s, b, skip_string(s, n, b)) : NULL;
}

struct jframe {
	int obj, expect_key;
	size_t self[2];            /* the key this container is the value of ({0, 0}: none) */
	size_t (*keys)[2];         /* an object's keys so far: token [start, end) */
	size_t nkeys, alloc;
};

static int same_key(const char *s, const size_t a[2], const size_t b[2], const char *bkey)
{
	if (a[1] - a[0] == b[1] - b[0] && !memcmp(s + a[0], s + b[0], a[1] - a[0]))
		return 1;
	if (!memchr(s + a[0], '\\', a[1] - a[0]) && !memchr(s + b[0], '\\', b[1] - b[0]))
		return 0;
	char *k = decode_string(s, a[0], a[1]);
	int same = k && bkey && !strcmp(k, bkey);
	free(k);
	return same;
}

int json_find_dup(const char *s, size_t n, size_t end_at, struct json_dup *d)
{
	memset(d, 0, sizeof(*d));
	struct jframe *st = NULL;
	size_t depth = 0, alloc = 0, i = 0;
	int found = 0;
	while (i < n && !found) {
		char c = s[i];
		struct jframe *top = depth ? &st[depth - 1] : NULL;
		if (c == '{' || c == '[') {
			st = xgrow(st, &alloc, depth + 1, sizeof(*st));
			top = depth ? &st[depth - 1] : NULL;
			struct jframe *f = &st[depth++];
			memset(f, 0, sizeof(*f));
			f->obj = c == '{';
			f->expect_key = 1;
			if (top && top->obj && top->nkeys)
				memcpy(f->self, top->keys[top->nkeys - 1], sizeof(f->self));
			else if (top)
				memcpy(f->self, top->self, sizeof(f->self));
		} else if ((c == '}' || c == ']') && depth) {
			free(st[--depth].keys);
		} else if (c == ',' && top) {
			top->expect_key = 1;
		} else if (c == '"') {
			size_t b = skip_string(s, n, i);
			if (top && top->obj && top->expect_key) {
				top->expect_key = 0;
				size_t k[2] = { i, b };
				if (b == end_at) {
					d->key = decode_string(s, i, b);
					for (size_t x = 0; x < top->nkeys && !found && d->key; x++) {
						if (!same_key(s, top->keys[x], k, d->key))
							continue;
						found = 1;
						d->at[0] = top->keys[x][0];
						d->at[1] = i;
						d->val[0] = value_after(s, n, top->keys[x][1]);
						d->val[1] = value_after(s, n, b);
						d->parent = top->self[1] ? decode_string(s, top->self[0], top->self[1]) : NULL;
					}
				}
				top->keys = xgrow(top->keys, &top->alloc, top->nkeys + 1, sizeof(*top->keys));
				memcpy(top->keys[top->nkeys++], k, sizeof(k));
			}
			i = b;
			continue;
		}
		i++;
	}
	while (depth)
		free(st[--depth].keys);
	free(st);
	if (!found)
		json_dup_release(d);
	return found ? 0 : -1;
}
