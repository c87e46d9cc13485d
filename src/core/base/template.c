#define _GNU_SOURCE
#include "template.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "banned.h"

/*
 * Substitute {tokens} of text into b. With quote (a line for sh -c), each
 * value is shell-quoted for where it stands: outside quotes as it is,
 * inside '...' or "..." with the quote closed around it ('a {model}'
 * becomes 'a ''/my dir''' -- one word, the value literal), so no value is
 * split, expanded, or given quote characters of its own.
 */
static int subst(struct strbuf *b, const char *text, size_t len, const struct tmpl_var *vars, size_t nvars,
		 int quote, struct cs_err *err)
{
	char q = 0; /* with quote: the quote the template is in (a ' or a "), 0 outside */
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '{' && i + 1 < len && text[i + 1] == '{') {
			strbuf_addch(b, '{');
			i++;
			continue;
		}
		if (text[i] == '}' && i + 1 < len && text[i + 1] == '}') {
			strbuf_addch(b, '}');
			i++;
			continue;
		}
		if (text[i] != '{') {
			char ch = text[i];
			strbuf_addch(b, ch);
			if (!quote)
				continue;
			if (ch == '\\' && q != '\'' && i + 1 < len && text[i + 1] != '{' && text[i + 1] != '}')
				strbuf_addch(b, text[++i]); /* an escaped quote opens or closes nothing */
			else if (!q && (ch == '\'' || ch == '"'))
				q = ch;
			else if (ch == q)
				q = 0;
			continue;
		}
		const char *close = memchr(text + i, '}', len - i);
		if (!close)
			return cs_fail(err, EINVAL, "unclosed '{' in server template (a literal brace is written {{ or }})");
		size_t nl = (size_t)(close - (text + i + 1));
		const struct tmpl_var *v = NULL;
		for (size_t k = 0; k < nvars; k++)
			if (strlen(vars[k].name) == nl && !strncmp(vars[k].name, text + i + 1, nl))
				v = &vars[k];
		if (!v)
			return cs_fail(err, EINVAL, "unknown token '{%.*s}' in server template (a literal brace is written {{ or }})",
				       (int)nl, text + i + 1);
		if (quote) {
			char *qv = shell_quote(v->value);
			if (q)
				strbuf_addch(b, q);
			strbuf_adds(b, qv);
			if (q)
				strbuf_addch(b, q);
			free(qv);
		} else {
			strbuf_adds(b, v->value);
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
		while (*p == ' ' || *p == '\t' || *p == '\n' || (*p == '\\' && p[1] == '\n'))
			p += *p == '\\' ? 2 : 1;
		if (!*p)
			break;
		/* One word: unquote into raw, then substitute. Quoted text is
		 * still substituted: "{model}" is the usual way to write it. */
		struct strbuf raw = STRBUF_INIT;
		strbuf_grow(&raw, 1);
		while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
			if (*p == '\'') {
				const char *e = strchr(p + 1, '\'');
				if (!e) {
					strbuf_release(&raw);
					tmpl_argv_free(argv);
					return cs_fail(err, EINVAL, "unterminated ' in server template");
				}
				for (const char *q = p + 1; q < e; q++)
					strbuf_addch(&raw, *q);
				p = e + 1;
			} else if (*p == '"') {
				p++;
				while (*p && *p != '"') {
					if (*p == '\\' && p[1] == '\n') {
						p += 2; /* a line continued, as sh reads it */
						continue;
					}
					if (*p == '\\' && p[1] && strchr("\"\\$`", p[1]))
						p++;
					strbuf_addch(&raw, *p++);
				}
				if (*p != '"') {
					strbuf_release(&raw);
					tmpl_argv_free(argv);
					return cs_fail(err, EINVAL, "unterminated \" in server template");
				}
				p++;
			} else if (*p == '\\' && p[1] == '\n') {
				p += 2; /* a line continued: no character, no word break */
			} else if (*p == '\\' && p[1]) {
				strbuf_addch(&raw, p[1]);
				p += 2;
			} else {
				strbuf_addch(&raw, *p++);
			}
		}
		struct strbuf word = STRBUF_INIT;
		if (subst(&word, raw.buf, raw.len, vars, nvars, 0, err)) {
			strbuf_release(&raw);
			strbuf_release(&word);
			tmpl_argv_free(argv);
			return -1;
		}
		strbuf_release(&raw);
		argv = xgrow(argv, &alloc, n + 2, sizeof(char *));
		argv[n++] = strbuf_detach(&word);
		argv[n] = NULL;
	}
	if (!n)
		return cs_fail(err, EINVAL, "empty server template");
	*argv_out = argv;
	return 0;
}

char *tmpl_shell(const char *tmpl, const struct tmpl_var *vars, size_t nvars, struct cs_err *err)
{
	struct strbuf b = STRBUF_INIT;
	if (subst(&b, tmpl, strlen(tmpl), vars, nvars, 1, err)) {
		strbuf_release(&b);
		return NULL;
	}
	return strbuf_detach(&b);
}

char *shell_quote(const char *s)
{
	int plain = *s != '\0';
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%", *p))
			plain = 0;
	if (plain)
		return xstrdup(s);
	struct strbuf b = STRBUF_INIT;
	strbuf_addch(&b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			strbuf_adds(&b, "'\\''");
		else
			strbuf_addch(&b, *p);
	}
	strbuf_addch(&b, '\'');
	return strbuf_detach(&b);
}

char *argv_display(char *const *argv)
{
	struct strbuf b = STRBUF_INIT;
	for (size_t i = 0; argv[i]; i++) {
		char *q = shell_quote(argv[i]);
		if (i)
			strbuf_addch(&b, ' ');
		strbuf_adds(&b, q);
		free(q);
	}
	return strbuf_detach(&b);
}

char **tmpl_replace_argv(char *const *argv, size_t n, const struct tmpl_var *vars, size_t nvars)
{
	char **av = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		struct strbuf b = STRBUF_INIT;
		for (const char *s = argv[i]; *s;) {
			size_t k = 0, len = 0;
			for (; *s == '{' && k < nvars; k++) {
				len = strlen(vars[k].name);
				if (vars[k].value && !strncmp(s + 1, vars[k].name, len) && s[len + 1] == '}')
					break;
			}
			if (*s == '{' && k < nvars) {
				strbuf_adds(&b, vars[k].value);
				s += len + 2;
			} else {
				strbuf_addch(&b, *s++);
			}
		}
		av[i] = strbuf_detach(&b);
	}
	return av;
}

int tmpl_argv_has(char *const *argv, size_t n, const char *name)
{
	char *tok = xasprintf("{%s}", name);
	size_t i = 0;
	while (i < n && !strstr(argv[i], tok))
		i++;
	free(tok);
	return i < n;
}
