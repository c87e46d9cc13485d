/* coldstart exec's staging side: the model and the cache set staged into ROOT; exec's messages. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../cli.h"
#include "core/stage/stagecache.h"
#include "execstage.h"
#include "core/base/banned.h"

void exec_on_status(const char *msg, void *arg)
{
	const struct exec_cfg *c = arg;
	if (!c->quiet)
		fprintf(stderr, "coldstart: exec: %s\n", msg);
}

static void on_stage_notice(const char *msg, void *arg)
{
	say(arg, "stage: %s", msg);
}

/* How exec stages SRC into ROOT as NAME (the model, or the caches). */
static struct sc_opts stage_opts(const struct exec_cfg *c, const char *src, const char *name)
{
	return (struct sc_opts){
		.root = c->root, .src = src, .name = name, .jobs = (int)c->jobs,
		.verify = c->verify ? SC_VERIFY_XXH3 : SC_VERIFY_SIZE, .bearer = getenv("HF_TOKEN"),
		.cacert = c->cacert, .no_sign = c->no_sign, .cancel = &cli_signal, .notice = on_stage_notice, .notice_arg = (void *)c,
	};
}

int exec_stage_model(struct exec_cfg *c, char **path)
{
	char *name = c->name ? xstrdup(c->name) : sc_default_name(c->stage);
	if (!name)
		return error("cannot name the model of '%s': give --name NAME", c->stage);
	struct sc_opts o = stage_opts(c, c->stage, name);
	struct sc_result r;
	struct cs_err err;
	int rc = sc_stage(&o, &r, &err);
	free(name);
	if (rc) {
		sc_result_release(&r);
		return err.code == ECANCELED ? cli_signal_exit() : error("%s", err.msg);
	}
	strbuf_addf(&c->staged, "; stage %.3f s%s", r.seconds, r.noop ? " (already staged)" : "");
	if (r.noop)
		say(c, "'%s' is already staged%s", r.path, r.waited ? " (by the process it waited for)" : "");
	else
		say(c, "staged '%s' in %.2fs (%.2f GB, %zu files)", r.path, r.seconds, (double)r.bytes / 1e9, r.files);
	*path = r.path;
	r.path = NULL;
	sc_result_release(&r);
	return 0;
}

int exec_stage_caches(struct exec_cfg *c, struct cc_private *xc)
{
	struct sc_opts co = stage_opts(c, c->stage_cache, c->cache_name);
	struct cs_err err;
	if (cc_private_open(&co, c->cache_env, xc, warning_cb, NULL, &err))
		return err.code == ECANCELED ? cli_signal_exit() : error("%s", err.msg);
	say(c, "caches: '%s' %s; the server's copy '%s' (%zu files, %.1f MB) in %.3f s", xc->staged,
	    xc->copied ? "staged" : "already staged", xc->work, xc->files, (double)xc->bytes / 1e6, xc->copy_s);
	strbuf_addf(&c->staged, "; caches %.3f s%s (%zu files, %.1f MB)", xc->stage_s + xc->copy_s,
		    xc->copied ? "" : ", already staged", xc->files, (double)xc->bytes / 1e6);
	return 0;
}
