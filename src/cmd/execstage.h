#ifndef CS_EXECSTAGE_H
#define CS_EXECSTAGE_H
/* exec's staging side: the model and the cache set staged into ROOT, and
 * exec's own messages, apart from cmd/exec.c's options and the server. */
#include <stdint.h>

#include "core/base/strbuf.h"
#include "core/bench/caches.h"

struct exec_cfg {
	const char *stage, *root, *name, *model, *ready, *ready_file;
	const char *stage_cache, *cache_env, *cache_name;
	const char *cacert;            /* a URL to stage: the CA bundle, or NULL: the environment's */
	long port, jobs;
	uint64_t prefetch_cap;
	int prefetch, prefetch_given, no_prefetch, quiet, verify, any_owner, no_sign;
	char **argv;                   /* the server's, after -- */
	int argc;
	struct strbuf staged;          /* "; stage 1.2 s; caches ...", for the ready line */
};

/* exec's own message on stderr, unless --quiet (arg: the struct exec_cfg). */
void exec_on_status(const char *msg, void *arg);
#define say(c, ...) cs_say(exec_on_status, (void *)(c), __VA_ARGS__)

/* Stage --stage into ROOT (once per node: concurrent callers wait for the
 * one copying); the path to serve in *path (malloc'd). 0 or the exit status. */
int exec_stage_model(struct exec_cfg *c, char **path);
/* --stage-cache: the cache set staged, and the server's private copy in
 * *xc (the caller closes it). 0 or the exit status. */
int exec_stage_caches(struct exec_cfg *c, struct cc_private *xc);

#endif
