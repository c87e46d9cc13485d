#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "../opts.h"
#include "core/base/fsutil.h"
#include "core/stage/stagecache.h"
#include "core/base/util.h"
#include "cacheserve.h"
#include "cmds.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart cache ls [--root ROOT] [--json]\n"
	"       coldstart cache verify [NAME...] [--root ROOT] [--jobs N] [--repair]\n"
	"       coldstart cache rm NAME... [--root ROOT]\n"
	"       coldstart cache gc [--root ROOT] [--max-cache SIZE]\n"
	"       coldstart cache serve [--root ROOT] [--listen ADDRESS:PORT] [--max-connections N]\n"
	"                             [--max-per-client N] [--request-timeout DUR]\n"
	"\n"
	"Manage the models `coldstart stage` put under a staging root\n"
	"(default $STAGING_ROOT).\n"
	"\n"
	"  ls      staged models, least recently used first (a `run` or `stage`\n"
	"          of a model marks it used), and partial copies with their progress;\n"
	"          each file checked against the manifest by stat: DAMAGED when one\n"
	"          is missing or its size or mtime changed (a --verify size copy: or\n"
	"          its inode or change time), CHANGED when an xxh3 copy's inode or\n"
	"          change time moved (verify reads its bytes back)\n"
	"  verify  re-check staged models against their manifests: count, sizes,\n"
	"          mtimes, and the XXH3 hashes (read from the device) when staged\n"
	"          with --verify xxh3 (else the inodes as published); all models\n"
	"          when no NAME is given. A model that\n"
	"          fails is marked corrupt: ls shows it, run refuses to serve it,\n"
	"          and stage copies its damaged files again. --repair does that\n"
	"          at once, from the source its manifest records\n"
	"  rm      remove staged models (and their partial copies); refused for a\n"
	"          model a running server uses\n"
	"  gc      remove abandoned partial copies (no stager holds them); with\n"
	"          --max-cache, also evict least recently used models not in use\n"
	"          until the cache fits\n"
	"  serve   the published models over read-only HTTP (byte ranges, ETags),\n"
	"          for peers: coldstart stage http://THIS-NODE:PORT/NAME/ copies one\n"
	"          from here instead of from the shared path or bucket. Partial or\n"
	"          corrupt models are never served, nor a file that no longer\n"
	"          matches the manifest (checked as ls does at every request; one\n"
	"          changed only in its inode is hashed against its xxh3): that is\n"
	"          a 409, and marks the model corrupt. Connections are capped in all\n"
	"          and per client, and a request's headers must be in within\n"
	"          --request-timeout however they trickle. Listens on 127.0.0.1 (any\n"
	"          free port) unless --listen names an address; prints its URL\n",
	.after = "Examples:\n"
	"  coldstart cache ls --root /mnt/nvme0/staged\n"
	"  coldstart cache gc --root /mnt/nvme0/staged --max-cache 500G\n"
	"  coldstart cache serve --root /mnt/nvme0/staged --listen 10.0.0.5:8090\n",
};

static int cache_ls(const char *root, int json)
{
	struct sc_entry *e;
	size_t n;
	struct cs_err err;
	if (sc_list(root, &e, &n, &err))
		return error("%s", err.msg), EXIT_FAIL;
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "name", json_string(e[i].name));
			json_object_set_new(o, "state", json_string(sc_entry_state(&e[i])));
			if (e[i].problem)
				json_object_set_new(o, "problem", json_string(e[i].problem));
			json_object_set_new(o, "source", e[i].source ? json_string(e[i].source) : json_null());
			json_object_set_new(o, "bytes", json_integer((json_int_t)e[i].bytes));
			json_object_set_new(o, "done_bytes", json_integer((json_int_t)e[i].done));
			json_object_set_new(o, "files", json_integer((json_int_t)e[i].files));
			json_object_set_new(o, "verify", json_string(e[i].verify == SC_VERIFY_XXH3 ? "xxh3" : "size"));
			if (!e[i].partial)
				json_object_set_new(o, "changed_files", json_integer((json_int_t)e[i].changed));
			json_object_set_new(o, "in_use", json_boolean(e[i].in_use));
			json_object_set_new(o, "staging", json_boolean(e[i].staging));
			if (!e[i].partial) {
				json_object_set_new(o, "staged_at", json_integer(e[i].staged_at));
				json_object_set_new(o, "last_used", json_integer(e[i].last_used));
			}
			json_array_append_new(a, o);
		}
		sc_entries_free(e, n);
		return print_json(a) ? EXIT_FAIL : 0;
	}
	uint64_t total = 0;
	printf("%-32s %10s %6s %-5s %-10s %-20s %s\n", "NAME", "SIZE", "FILES", "CHECK", "LAST USED", "STATE", "SOURCE");
	for (size_t i = 0; i < n; i++) {
		char a[32], b[32], st[48];
		if (e[i].partial)
			snprintf(st, sizeof(st), "partial %.0f%%%s", e[i].bytes ? 100.0 * (double)e[i].done / (double)e[i].bytes : 0.0,
				 e[i].staging ? ", copying" : "");
		else {
			const char *bad = e[i].damaged ? "DAMAGED" : e[i].problem ? "CORRUPT" : e[i].changed ? "CHANGED"
				: "";
			snprintf(st, sizeof(st), "%s%s", bad,
				 e[i].in_use ? (*bad ? ", in use" : "in use")
				 : e[i].staging ? (*bad ? ", staging" : "staging")
				 : *bad ? "" : "ok");
		}
		printf("%-32s %10s %6zu %-5s %-10s %-20s %s\n", e[i].name, fmt_bytes(a, sizeof(a), e[i].bytes), e[i].files,
		       e[i].verify == SC_VERIFY_XXH3 ? "xxh3" : "size", e[i].partial ? "-" : fmt_ago(b, sizeof(b), e[i].last_used),
		       st, e[i].source ? e[i].source : "?");
		total += e[i].bytes;
	}
	char t[32];
	printf("%zu entr%s, %s\n", n, n == 1 ? "y" : "ies", fmt_bytes(t, sizeof(t), total));
	for (size_t i = 0; i < n; i++) {
		if (e[i].damaged || e[i].problem)
			fprintf(stderr, "coldstart: cache: '%s' is %s: %s\n", e[i].name,
				e[i].damaged ? "damaged" : "corrupt", e[i].problem);
		else if (e[i].changed)
			fprintf(stderr, "coldstart: cache: '%s': %zu file%s changed since staged (same size and mtime, "
				"another inode or change time): 'coldstart cache verify %s' checks their bytes\n",
				e[i].name, e[i].changed, e[i].changed == 1 ? "" : "s", e[i].name);
	}
	sc_entries_free(e, n);
	return 0;
}

static void gc_notice(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "coldstart: cache: %s\n", msg);
}

/* verify --repair: the damaged files of NAME copied again from its source. 0, 1 (not repaired) or 130. */
static int repair_one(const char *root, const char *name, int jobs)
{
	struct sc_opts so = { .root = root, .jobs = jobs, .cancel = &cli_signal, .progress = progress_cb };
	struct progress rp;
	progress_init(&rp, "repairing", 0);
	so.progress_arg = &rp;
	struct sc_result sr;
	struct cs_err err;
	int q = sc_repair(&so, name, &sr, &err);
	progress_done(&rp);
	int rc = 0;
	if (q && err.code == ECANCELED) {
		rc = cli_signal_exit();
	} else if (q) {
		rc = error("cannot repair '%s': %s", name, err.msg);
	} else {
		char a[32];
		printf("REPAIRED %s  (copied %s again from its source, kept %zu intact file%s)\n", name,
		       fmt_bytes(a, sizeof(a), sr.copied), sr.linked, sr.linked == 1 ? "" : "s");
	}
	sc_result_release(&sr);
	return rc;
}

/* verify one model; 0 ok, 1 failed (or not repaired), 130 interrupted. */
static int verify_one(const char *root, const char *name, int jobs, int repair)
{
	struct sc_verify_report rep;
	struct progress pg;
	struct cs_err err;
	progress_init(&pg, "verifying", 0);
	int r = sc_verify_model(root, name, jobs, &cli_signal, progress_cb, &pg, &rep, &err);
	progress_done(&pg);
	char a[32];
	int rc = 0;
	if (r && err.code == ECANCELED) {
		rc = cli_signal_exit();
	} else if (r) {
		rc = error("%s", err.msg);
	} else if (rep.ok) {
		printf("ok      %s  (%zu files, %s, %s)\n", name, rep.files, fmt_bytes(a, sizeof(a), rep.bytes),
		       rep.how == SC_VERIFY_XXH3 ? "xxh3 read back from the device" : "sizes only: staged with --verify size");
	} else {
		printf("FAILED  %s: %s%s\n", name, rep.problem,
		       rep.marked ? " (marked corrupt: it will not be served, and stage copies the damaged "
				    "files again)" : "");
		rc = repair ? repair_one(root, name, jobs) : EXIT_FAIL;
	}
	free(rep.problem);
	return rc;
}

/* cache verify [NAME...]: every published model when none is named. */
static int cache_verify(const char *root, char **args, int nargs, int jobs, int repair)
{
	char **names = args;
	size_t n = (size_t)nargs;
	struct sc_entry *e = NULL;
	size_t ne = 0;
	struct cs_err err;
	if (!nargs) {
		if (sc_list(root, &e, &ne, &err))
			return error("%s", err.msg);
		names = xcalloc(ne ? ne : 1, sizeof(char *));
		for (size_t i = 0; i < ne; i++)
			if (!e[i].partial)
				names[n++] = e[i].name;
	}
	cli_catch_signals();
	cli_signal_deadline(CLI_SIGNAL_DEADLINE_S);   /* a verify reads only; a repair is a stage */
	int bad = 0, rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		int r = verify_one(root, names[i], jobs, repair);
		if (r > EXIT_USAGE)
			rc = r;
		bad += r == EXIT_FAIL;
	}
	if (!nargs) {
		free(names);
		sc_entries_free(e, ne);
		if (!n)
			fprintf(stderr, "coldstart: cache: nothing staged in '%s'\n", root);
	}
	if (rc)
		return error("interrupted"), cli_signal_exit();
	return bad ? EXIT_FAIL : 0;
}

int cmd_cache(int argc, char **argv)
{
	const char *root = getenv("STAGING_ROOT");
	uint64_t max_cache = 0;
	long jobs = WP_JOBS_DEFAULT;
	int json = 0, repair = 0;
	struct serve_cfg sc = SERVE_CFG_INIT;
	const struct opt opts[] = {
		{ .type = OPT_STRING, .long_name = "root", .argname = "DIR", .value = &root,
		  .help = "staging root (default $STAGING_ROOT)" },
		{ .type = OPT_INT, .short_name = 'j', .long_name = "jobs", .argname = "N", .value = &jobs, OPT_JOBS_RANGE,
		  .help = "hashing threads for verify (default " WP_JOBS_DEFAULT_S ")" },
		{ .type = OPT_SIZE, .long_name = "max-cache", .argname = "SIZE", .value = &max_cache, .flags = OPTF_NONZERO,
		  .hint = "a size such as 200G", .help = "gc: cap on everything staged" },
		{ .type = OPT_FLAG, .long_name = "repair", .value = &repair,
		  .help = "verify: re-stage what failed from its recorded source" },
		{ .type = OPT_FLAG, .long_name = "json", .value = &json, .help = "ls: JSON on stdout" },
		{ .type = OPT_GROUP, .group = serve_options(&sc) },
		OPT_END_(),
	};
	static const char *const actions[] = { "ls", "verify", "rm", "gc", "serve", NULL };
	const char *action;
	int prc = opts_parse_action(opts, &help, argc, argv, actions, &action);
	if (prc >= 0)
		return prc;
	if (!root || !*root)
		return usage_error("missing --root (or set STAGING_ROOT)");
	int nargs = argc - optind;
	if ((sc.seen || sc.quiet) && strcmp(action, "serve"))
		return usage_error("--listen, --max-connections, --max-per-client, --request-timeout and --quiet go "
				   "with serve");
	if (!strcmp(action, "ls")) {
		if (nargs)
			return usage_error("ls takes no NAME");
		return cache_ls(root, json);
	}
	if (json)
		return usage_error("--json goes with ls");
	if (!strcmp(action, "serve")) {
		if (nargs)
			return usage_error("serve takes no NAME");
		if (sc.ps.max_per_client > sc.ps.max_connections)
			sc.ps.max_per_client = sc.ps.max_connections;
		return cache_serve(&sc, root);
	}
	if (max_cache && strcmp(action, "gc"))
		return usage_error("--max-cache goes with gc");
	if (repair && strcmp(action, "verify"))
		return usage_error("--repair goes with verify");
	struct cs_err err;
	if (!strcmp(action, "rm")) {
		if (!nargs)
			return usage_error("rm needs at least one NAME");
		int rc = 0;
		for (int i = optind; i < argc; i++) {
			if (sc_remove(root, argv[i], &err))
				rc = error("%s", err.msg);
			else
				fprintf(stderr, "coldstart: cache: removed '%s'\n", argv[i]);
		}
		return rc ? EXIT_FAIL : 0;
	}
	if (!strcmp(action, "gc")) {
		if (nargs)
			return usage_error("gc takes no NAME");
		uint64_t freed;
		int rc = sc_gc(root, max_cache, gc_notice, NULL, &freed, &err);
		char a[32];
		fprintf(stderr, "coldstart: cache: gc freed %s\n", fmt_bytes(a, sizeof(a), freed));
		return rc ? (error("%s", err.msg), EXIT_FAIL) : 0;
	}
	return cache_verify(root, argv + optind, nargs, (int)jobs, repair); /* verify */
}
