#include "core/template.h"

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
	char *q = shell_quote("");
	is_str(q, "''", "empty string quoted");
	free(q);
	char *argv2[] = { (char *)"vllm", (char *)"a b", NULL };
	char *d = argv_display(argv2);
	is_str(d, "vllm 'a b'", "argv_display");
	free(d);
	return done_testing();
}
