#define _GNU_SOURCE
#include "template.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

struct buf {
	char *s;
	size_t len, alloc;
};

static void bput(struct buf *b, char c)
{
	b->s = xgrow(b->s, &b->alloc, b->len + 2, 1);
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
}

static void bputs(struct buf *b, const char *s)
{
	while (*s)
		bput(b, *s++);
}

/* Substitute {tokens} of text into b; quote values with shell_quote if asked. */
static int subst(struct buf *b, const char *text, size_t len, const struct tmpl_var *vars, size_t nvars,
		 int quote, struct cs_err *err)
{
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '{' && i + 1 < len && text[i + 1] == '{') {
			bput(b, '{');
			i++;
			continue;
		}
		if (text[i] == '}' && i + 1 < len && text[i + 1] == '}') {
			bput(b, '}');
			i++;
			continue;
		}
		if (text[i] != '{') {
			bput(b, text[i]);
			continue;
		}
		const char *close = memchr(text + i, '}', len - i);
		if (!close)
			return cs_fail(err, EINVAL, "unclosed '{' in server template");
		size_t nl = (size_t)(close - (text + i + 1));
		const struct tmpl_var *v = NULL;
		for (size_t k = 0; k < nvars; k++)
			if (strlen(vars[k].name) == nl && !strncmp(vars[k].name, text + i + 1, nl))
				v = &vars[k];
		if (!v)
			return cs_fail(err, EINVAL, "unknown token '{%.*s}' in server template", (int)nl, text + i + 1);
		if (quote) {
			char *q = shell_quote(v->value);
			bputs(b, q);
			free(q);
		} else {
			bputs(b, v->value);
		}
		i += nl + 1;
	}
	return 0;
}

void tmpl_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

int tmpl_argv(const char *tmpl, const struct tmpl_var *vars, size_t nvars, char ***argv_out,
	      struct cs_err *err)
{
	char **argv = NULL;
	size_t n = 0, alloc = 0;
	const char *p = tmpl;
	*argv_out = NULL;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		/* One word: unquote into raw, then substitute. Quoted text is
		 * still substituted: "{model}" is the usual way to write it. */
		struct buf raw = { 0 };
		bput(&raw, 0);
		raw.len = 0;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
			if (*p == '\'') {
				const char *e = strchr(p + 1, '\'');
				if (!e) {
					free(raw.s);
					tmpl_argv_free(argv);
					return cs_fail(err, EINVAL, "unterminated ' in server template");
				}
				for (const char *q = p + 1; q < e; q++)
					bput(&raw, *q);
				p = e + 1;
			} else if (*p == '"') {
				p++;
				while (*p && *p != '"') {
					if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
						p++;
					bput(&raw, *p++);
				}
				if (*p != '"') {
					free(raw.s);
					tmpl_argv_free(argv);
					return cs_fail(err, EINVAL, "unterminated \" in server template");
				}
				p++;
			} else if (*p == '\\' && p[1]) {
				bput(&raw, p[1]);
				p += 2;
			} else {
				bput(&raw, *p++);
			}
		}
		struct buf word = { 0 };
		bput(&word, 0);
		word.len = 0;
		if (subst(&word, raw.s, raw.len, vars, nvars, 0, err)) {
			free(raw.s);
			free(word.s);
			tmpl_argv_free(argv);
			return -1;
		}
		free(raw.s);
		argv = xgrow(argv, &alloc, n + 2, sizeof(char *));
		argv[n++] = word.s;
		argv[n] = NULL;
	}
	if (!n)
		return cs_fail(err, EINVAL, "empty server template");
	*argv_out = argv;
	return 0;
}

char *tmpl_shell(const char *tmpl, const struct tmpl_var *vars, size_t nvars, struct cs_err *err)
{
	struct buf b = { 0 };
	bput(&b, 0);
	b.len = 0;
	if (subst(&b, tmpl, strlen(tmpl), vars, nvars, 1, err)) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

char *shell_quote(const char *s)
{
	int plain = *s != '\0';
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%", *p))
			plain = 0;
	if (plain)
		return xstrdup(s);
	struct buf b = { 0 };
	bput(&b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			bputs(&b, "'\\''");
		else
			bput(&b, *p);
	}
	bput(&b, '\'');
	return b.s;
}

char *argv_display(char *const *argv)
{
	struct buf b = { 0 };
	bput(&b, 0);
	b.len = 0;
	for (size_t i = 0; argv[i]; i++) {
		char *q = shell_quote(argv[i]);
		if (i)
			bput(&b, ' ');
		bputs(&b, q);
		free(q);
	}
	return b.s;
}
