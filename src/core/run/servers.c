#define _GNU_SOURCE
#include "servers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/model/gguf.h"
#include "core/base/template.h"
#include "core/base/banned.h"

int srv_on_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path)
		return 0;
	char *copy = xstrdup(path), *save = NULL;
	int found = 0;
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *full = path_join(*d ? d : ".", prog);
		found = access(full, X_OK) == 0;
		free(full);
	}
	free(copy);
	return found;
}

char *srv_refserve_template(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return xstrdup("coldstart refserve {model} --port {port} --max-model-len {max_model_len}");
	exe[n] = '\0';
	char *q = shell_quote(exe);
	char *t = xasprintf("%s refserve {model} --port {port} --max-model-len {max_model_len}", q);
	free(q);
	return t;
}

/* coldstart's llama.cpp server: $COLDSTART_LLAMA_SERVE, else beside this binary. */
static char *llama_serve_path(void)
{
	const char *env = getenv("COLDSTART_LLAMA_SERVE");
	if (env && *env)
		return access(env, R_OK) == 0 ? xstrdup(env) : NULL;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *dir = fs_parent_dir(exe);
	const char *rel[] = { "bench/servers/llama_serve.mjs", "../share/coldstart/servers/llama_serve.mjs",
			      "../bench/servers/llama_serve.mjs" };
	char *found = NULL;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]) && !found; i++) {
		char *p = path_join(dir, rel[i]);
		if (access(p, R_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(dir);
	char *canon = found ? realpath(found, NULL) : NULL;   /* ".../bin/../share/..." shown as it is */
	if (canon) {
		free(found);
		found = canon;
	}
	return found;
}

char *srv_llama_template(char **js_out, struct cs_err *err)
{
	*js_out = NULL;
	if (srv_on_path("llama-server"))
		return xstrdup("llama-server -m {model} --port {port} --host 127.0.0.1 --ctx-size {max_model_len}");
	char *js = llama_serve_path();
	if (!js) {
		cs_fail(err, ENOENT, "--server llama.cpp: no llama-server on the PATH, and coldstart's llama.cpp server "
			"(llama_serve.mjs) is neither in bench/servers/ beside this binary (a checkout) nor in "
			"../share/coldstart/servers/ (make install puts it there); or set COLDSTART_LLAMA_SERVE");
		return NULL;
	}
	char *dir = fs_parent_dir(js), *mods = path_join(dir, "node_modules/node-llama-cpp");
	int have = access(mods, R_OK) == 0, node = have && srv_on_path("node");
	free(mods);
	if (!have)
		cs_fail(err, ENOENT, "--server llama.cpp: node-llama-cpp (llama.cpp's engine) is not installed next to '%s': "
			"in a checkout run 'make deps'; where it is installed, run 'npm ci --omit=optional --ignore-scripts' "
			"in '%s' (either needs Node.js >= 20 and npm), or put llama-server on the PATH", js, dir);
	else if (!node)
		cs_fail(err, ENOENT, "--server llama.cpp: node (Node.js >= 20) is not on the PATH, which '%s' needs; "
			"or put llama-server on the PATH", js);
	free(dir);
	if (!node) {
		free(js);
		return NULL;
	}
	char *q = shell_quote(js);
	char *t = xasprintf("node %s {model} --port {port} --ctx-size {max_model_len}", q);
	free(q);
	*js_out = js;
	return t;
}

int srv_gguf_file(const char *path)
{
	struct stat sb;
	return path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (gg_is_gguf_name(path) || gg_has_magic(path) == 1);
}
