#ifndef CS_TEMPLATE_H
#define CS_TEMPLATE_H
/*
 * template: the server command template, e.g.
 *   vllm serve {model} --port {port} --max-model-len {max_model_len}
 *
 * tmpl_argv splits the template into words with shell-like quoting ('...',
 * "..." with \" \\ \$ \` escapes, backslash outside quotes; a backslash
 * before a newline continues the line, as in sh: no character, no word)
 * BEFORE substituting tokens, so a value is never split or interpreted: a
 * model path with spaces, quotes or $(...) stays one literal argument, and
 * an empty value or '' is one empty argument.
 * tmpl_shell substitutes shell-quoted values into the raw template, for
 * `sh -c` (the --shell option), quoted for where each token stands
 * (outside quotes, or inside '...' or "...", whose quote is closed around
 * the value), so that sh reads every value back literally.
 *
 * Tokens are {name}; an unknown token is an error; "{{" and "}}" are
 * literal braces. Ownership: results are malloc'd (tmpl_argv_free).
 */
#include <stddef.h>

#include "util.h"

struct tmpl_var {
	const char *name;
	const char *value;
};

int tmpl_argv(const char *tmpl, const struct tmpl_var *vars, size_t nvars, char ***argv_out,
	      struct cs_err *err);
void tmpl_argv_free(char **argv);
char *tmpl_shell(const char *tmpl, const struct tmpl_var *vars, size_t nvars, struct cs_err *err);
/* A command line given word by word (exec's "-- SERVER ARGS..."): each of
 * argv's n words with {name} replaced by its value wherever vars give one;
 * nothing else is read into a word -- no quotes, no "{{", a token without
 * a value (NULL) or unknown stays as written. malloc'd, NULL-ended
 * (tmpl_argv_free). */
char **tmpl_replace_argv(char *const *argv, size_t n, const struct tmpl_var *vars, size_t nvars);
/* 1 when one of argv's n words holds {name}. */
int tmpl_argv_has(char *const *argv, size_t n, const char *name);
/* 'it'\''s' style quoting. */
char *shell_quote(const char *s);
/* The argv as one line, each word shell-quoted where needed (for display). */
char *argv_display(char *const *argv);

#endif
