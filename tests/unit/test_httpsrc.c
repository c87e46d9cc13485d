#define _GNU_SOURCE
#include "core/httpsrc.h"

#include <stdlib.h>

#include "tap.h"

static void redacts(const char *url, const char *want)
{
	char *r = hs_redact(url);
	is_str(r, want, "redact %s", want);
	free(r);
}

static void names(const char *url, const char *want)
{
	char *n = hs_default_name(url);
	is_str(n, want, "default name of %s", url);
	free(n);
}

int main(void)
{
	ok(hs_is_url("http://h/x") && hs_is_url("HTTPS://h/") && !hs_is_url("s3://b/k") && !hs_is_url("/mnt/x") &&
	   !hs_is_url(NULL), "http and https only");
	redacts("https://user:pw@host:8443/a/b/?sig=1&x=2#frag", "https://host:8443/a/b/");
	redacts("http://host/a?token=abc", "http://host/a");
	redacts("http://u@host/", "http://host/");
	redacts("http://host/p@th/x", "http://host/p@th/x");     /* an '@' in the path is no user info */
	redacts("https://h/m/model.gguf", "https://h/m/model.gguf");
	names("https://huggingface.co/Qwen/Qwen2.5-0.5B/resolve/main/", "main");
	names("http://h/models/qwen-7b/", "qwen-7b");
	names("http://u:p@h/models/qwen-q8_0.gguf?sig=1", "qwen-q8_0");
	return done_testing();
}
