#include "core/base/template.h"

#include <stdio.h>
#include <unistd.h>

#include "tap.h"

int main(void)
{
	struct tmpl_var v[] = {
		{ "model", "/models/my model $(touch x) 'q'" }, { "port", "8123" }, { "max_model_len", "4096" },
	};
	char **a;
	struct cs_err e;
	ok(tmpl_argv("vllm serve {model} --port {port} --max-model-len {max_model_len}", v, 3, &a, &e) == 0, "default template");
	is_str(a[0], "vllm", "argv0");
	is_str(a[2], "/models/my model $(touch x) 'q'", "model is one literal argument");
	is_str(a[4], "8123", "port substituted");
	ok(a[7] == NULL, "7 words");
	tmpl_argv_free(a);

	ok(tmpl_argv("srv --name 'a b' \"c {port}\" d\\ e --x={port}", v, 3, &a, &e) == 0, "quoting");
	is_str(a[2], "a b", "single quotes");
	is_str(a[3], "c 8123", "double quotes with a token");
	is_str(a[4], "d e", "backslash-space");
	is_str(a[5], "--x=8123", "token inside a word");
	tmpl_argv_free(a);

	ok(tmpl_argv("srv {nope}", v, 3, &a, &e) < 0 && strstr(e.msg, "unknown token '{nope}'"), "unknown token");
	ok(tmpl_argv("srv 'open", v, 3, &a, &e) < 0 && strstr(e.msg, "unterminated"), "unterminated quote");
	ok(tmpl_argv("   ", v, 3, &a, &e) < 0, "empty template");
	ok(tmpl_argv("echo {{literal}}", v, 3, &a, &e) == 0, "escaped braces");
	is_str(a[1], "{literal}", "{{ }} are literal");
	tmpl_argv_free(a);

	char *s = tmpl_shell("srv {model} --port {port}", v, 3, &e);
	is_str(s, "srv '/models/my model $(touch x) '\\''q'\\''' --port 8123", "shell mode quotes values");
	free(s);
	/* Every value back literally from sh, wherever its token stands. */
	char *line = tmpl_shell("printf '<%s>\\n' {model} \"dq {model} {port}\" 'sq {model}' x{model}y \\\"{port}", v, 3, &e);
	ok(line != NULL, "shell mode: tokens inside quotes");
	FILE *sh = line ? popen(line, "r") : NULL;
	char got[1024] = "";
	size_t gl = sh ? fread(got, 1, sizeof(got) - 1, sh) : 0;
	got[gl] = '\0';
	if (sh)
		pclose(sh);
	is_str(got,
	       "</models/my model $(touch x) 'q'>\n<dq /models/my model $(touch x) 'q' 8123>\n"
	       "<sq /models/my model $(touch x) 'q'>\n<x/models/my model $(touch x) 'q'y>\n<\"8123>\n",
	       "sh reads each value back literally: outside quotes, in \"...\", in '...', inside a word");
	ok(access("x", F_OK) != 0, "and runs nothing of a value");
	free(line);

	struct tmpl_var w[] = { { "model", "/m" }, { "port", "8123" }, { "empty", "" } };
	ok(tmpl_argv("srv \\\n    --port {port} \\\n  --model={model}/sub\\\nx", w, 3, &a, &e) == 0, "line continuations");
	ok(a[1] && !strcmp(a[1], "--port") && a[2] && !strcmp(a[2], "8123") && a[3] && !strcmp(a[3], "--model=/m/subx") &&
		   !a[4],
	   "a backslash-newline is no character and no word (4 words, not a stray newline argument)");
	tmpl_argv_free(a);
	ok(tmpl_argv("srv \"a\\\nb\" '' {empty} -- {model}", w, 3, &a, &e) == 0, "empty words, a literal --");
	ok(a[1] && !strcmp(a[1], "ab") && a[2] && !strcmp(a[2], "") && a[3] && !strcmp(a[3], "") && a[4] &&
		   !strcmp(a[4], "--") && a[5] && !strcmp(a[5], "/m") && !a[6],
	   "continued inside \"...\", '' and an empty value are one empty argument each, -- stays");
	tmpl_argv_free(a);
	ok(tmpl_argv("srv '{\"level\": 3}'", w, 3, &a, &e) < 0 && strstr(e.msg, "{{"), "a JSON argument: the error says how to write braces");
	ok(tmpl_argv("srv '{{\"level\": {{\"x\": 3}}}}'", w, 3, &a, &e) == 0 && !strcmp(a[1], "{\"level\": {\"x\": 3}}"),
	   "... doubled, it passes as written");
	tmpl_argv_free(a);

	char *q = shell_quote("");
	is_str(q, "''", "empty string quoted");
	free(q);
	char *argv2[] = { (char *)"vllm", (char *)"a b", NULL };
	char *d = argv_display(argv2);
	is_str(d, "vllm 'a b'", "argv_display");
	free(d);

	/* exec's command line: words as given, only the tokens with a value replaced. */
	char *words[] = { (char *)"srv", (char *)"--model={model}", (char *)"x{port}y{port}", (char *)"{cache}",
			  (char *)"'{\"a\": {model}}'", (char *)"{{model}}", (char *)"{mode", (char *)"{other}", (char *)"" };
	const struct tmpl_var xv[] = { { "model", "/m 1" }, { "cache", NULL }, { "port", "80" } };
	char **r = tmpl_replace_argv(words, 9, xv, 3);
	is_str(r[1], "--model=/m 1", "a token inside a word: replaced, the value kept whole");
	is_str(r[2], "x80y80", "every occurrence");
	is_str(r[3], "{cache}", "a token without a value stays as written");
	is_str(r[4], "'{\"a\": /m 1}'", "quotes and braces are not read");
	is_str(r[5], "{/m 1}", "no {{ escape: the braces around a token stay");
	is_str(r[6], "{mode", "an unclosed token stays");
	is_str(r[7], "{other}", "an unknown token stays");
	is_str(r[8], "", "an empty word stays one empty word");
	ok(r[9] == NULL, "NULL-ended");
	tmpl_argv_free(r);
	ok(tmpl_argv_has(words, 9, "port") && tmpl_argv_has(words, 9, "cache"), "tmpl_argv_has finds a token inside a word");
	ok(!tmpl_argv_has(words, 9, "mode") && !tmpl_argv_has(words, 1, "model"), "... not a prefix, not past n");
	return done_testing();
}
