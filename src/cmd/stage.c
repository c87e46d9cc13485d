#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cli.h"
#include "../core/fsutil.h"
#include "../core/stagecache.h"
#include "../core/util.h"
#include "cmds.h"
#include "../core/banned.h"

static void stage_usage(FILE *f)
{
	fprintf(f,
		"usage: coldstart stage [SRC] [--root STAGING_ROOT] [--name NAME] [options]\n"
		"\n"
		"Copy a model directory (typically on a network mount) onto local storage,\n"
		"and print the staged path on stdout:\n"
		"\n"
		"    MODEL=$(coldstart stage /mnt/nfs/models/qwen-7b --root /mnt/nvme0/staged)\n"
		"\n"
		"Every file is cut into chunks spread over N threads, so one 5 GB shard uses\n"
		"them all. The copy is written under ROOT/.partial/, fsynced, verified, and\n"
		"appears as ROOT/NAME by one rename: ROOT/NAME is never incomplete. A\n"
		"manifest records each file's size and mtime (and hash). Staging an\n"
		"unchanged source again is a no-op; a changed one is re-staged and swapped\n"
		"in atomically. After a crash or Ctrl-C, the next stage resumes from the\n"
		"chunks already on disk. Concurrent stagers of one model: one copies, the\n"
		"others wait and print the same path (locks live under ROOT, never on the\n"
		"network side). A name belongs to one source: staging another source\n"
		"under a name already staged (or half staged) is refused unless --replace.\n"
		"A copy that 'cache verify' found damaged, or whose files no longer have\n"
		"the size and mtime of its manifest, is never answered as staged: stage\n"
		"copies what is damaged again. With --max-cache or when free space is\n"
		"short, the least recently used staged models that no server is using are\n"
		"evicted first; the root keeps 64 MiB free beyond the model. Without\n"
		"enough room it fails before writing anything.\n"
		"\n"
		"Arguments and defaults:\n"
		"  SRC                 model directory (default $MODEL_PATH_NET)\n"
		"      --root DIR      staging root on local NVMe (default $STAGING_ROOT;\n"
		"                      created if its parent exists)\n"
		"      --name NAME     name under ROOT (default $MODEL_NAME, else SRC's\n"
		"                      last component; for a Hugging Face cache snapshot,\n"
		"                      .../models--ORG--NAME/snapshots/REV, it is ORG--NAME;\n"
		"                      its links into the cache's blobs/ are followed)\n"
		"Options:\n"
		"  -j, --jobs N        copy threads (default 8)\n"
		"      --chunk SIZE    copy unit (default 16M)\n"
		"      --verify HOW    size (default: file count and sizes) or xxh3 (hash\n"
		"                      the source bytes as read and the copy read back\n"
		"                      from the device, and compare)\n"
		"      --include GLOB  stage only matching files (relative path or base\n"
		"                      name; repeatable)\n"
		"      --exclude GLOB  leave matching files out (repeatable)\n"
		"      --max-cache SIZE  cap on everything staged under ROOT\n"
		"      --replace       NAME may hold a copy of another source: replace it\n"
		"      --direct        O_DIRECT writes: the copy does not fill the page cache\n"
		"      --bwlimit RATE  at most RATE from the source: 500M = 500 MiB/s,\n"
		"                      500MB = 500 MB/s (sizes: K/M/G powers of 1024,\n"
		"                      KB/MB/GB powers of 1000)\n"
		"      --follow-symlinks  copy what symlinks leaving SRC point to (refused\n"
		"                      otherwise)\n"
		"      --keep-src-cache  leave the source's pages in the page cache\n"
		"      --wait-timeout DURATION  how long to wait for another stager (1h)\n"
		"      --json          result as JSON on stdout instead of the path\n"
		"  -q, --quiet         no progress or summary\n"
		"  -h, --help          this help\n"
		"\n"
		"Exit status: 0 staged (or already staged), 1 failure, 2 usage error,\n"
		"130 interrupted (the partial copy is kept for resuming).\n"
		"See also: coldstart cache --help.\n");
}

struct ui {
	struct progress pg;
	int quiet;
};

static void on_notice(const char *msg, void *arg)
{
	struct ui *u = arg;
	if (u->quiet)
		return;
	progress_done(&u->pg);
	fprintf(stderr, "coldstart: stage: %s\n", msg);
}

static int add_glob(char ***v, size_t *n, const char *g)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(char *));
	(*v)[(*n)++] = (char *)g;
	return 0;
}

int cmd_stage(int argc, char **argv)
{
	enum { O_ROOT = 256, O_NAME, O_CHUNK, O_VERIFY, O_INCLUDE, O_EXCLUDE, O_MAXCACHE, O_DIRECT, O_BWLIMIT,
	       O_FOLLOW, O_KEEPSRC, O_WAIT, O_JSON, O_REPLACE };
	static const struct option opts[] = {
		{ "root", required_argument, NULL, O_ROOT },
		{ "name", required_argument, NULL, O_NAME },
		{ "jobs", required_argument, NULL, 'j' },
		{ "chunk", required_argument, NULL, O_CHUNK },
		{ "verify", required_argument, NULL, O_VERIFY },
		{ "include", required_argument, NULL, O_INCLUDE },
		{ "exclude", required_argument, NULL, O_EXCLUDE },
		{ "max-cache", required_argument, NULL, O_MAXCACHE },
		{ "direct", no_argument, NULL, O_DIRECT },
		{ "bwlimit", required_argument, NULL, O_BWLIMIT },
		{ "follow-symlinks", no_argument, NULL, O_FOLLOW },
		{ "keep-src-cache", no_argument, NULL, O_KEEPSRC },
		{ "wait-timeout", required_argument, NULL, O_WAIT },
		{ "replace", no_argument, NULL, O_REPLACE },
		{ "json", no_argument, NULL, O_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sc_opts o;
	memset(&o, 0, sizeof(o));
	o.root = getenv("STAGING_ROOT");
	o.name = getenv("MODEL_NAME");
	o.jobs = 8;
	int json = 0, c;
	long jobs;
	struct ui u;
	memset(&u, 0, sizeof(u));
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":j:qh", opts, NULL)) != -1) {
		switch (c) {
		case O_ROOT:
			o.root = optarg;
			break;
		case O_NAME:
			if (!*optarg)
				return usage_error("empty --name");
			o.name = optarg;
			break;
		case O_REPLACE:
			o.replace = 1;
			break;
		case 'j':
			if (parse_int_range(optarg, 1, 256, &jobs))
				return usage_error("invalid --jobs '%s' (1 to 256)", optarg);
			o.jobs = (int)jobs;
			break;
		case O_CHUNK:
			if (parse_size(optarg, &o.chunk) || o.chunk < 65536 || o.chunk > (1ULL << 30))
				return usage_error("invalid --chunk '%s' (64K to 1G)", optarg);
			break;
		case O_VERIFY:
			if (!strcmp(optarg, "size"))
				o.verify = SC_VERIFY_SIZE;
			else if (!strcmp(optarg, "xxh3"))
				o.verify = SC_VERIFY_XXH3;
			else
				return usage_error("invalid --verify '%s' (size or xxh3)", optarg);
			break;
		case O_INCLUDE:
		case O_EXCLUDE:
			if (!sc_valid_glob(optarg))
				return usage_error("invalid glob '%s' in --%s: a '[' is not closed, or it ends in '\\'", optarg,
						   c == O_INCLUDE ? "include" : "exclude");
			if (c == O_INCLUDE)
				add_glob(&o.include, &o.ninclude, optarg);
			else
				add_glob(&o.exclude, &o.nexclude, optarg);
			break;
		case O_MAXCACHE:
			if (parse_size(optarg, &o.max_cache) || !o.max_cache)
				return usage_error("invalid --max-cache '%s' (a size such as 200G)", optarg);
			break;
		case O_DIRECT:
			o.direct = 1;
			break;
		case O_BWLIMIT:
			if (parse_rate(optarg, &o.bwlimit) || !o.bwlimit)
				return usage_error("invalid --bwlimit '%s' (a rate such as 500M)", optarg);
			break;
		case O_FOLLOW:
			o.follow_symlinks = 1;
			break;
		case O_KEEPSRC:
			o.keep_src_cache = 1;
			break;
		case O_WAIT:
			if (parse_duration(optarg, &o.wait_timeout_ns) || !o.wait_timeout_ns)
				return usage_error("invalid --wait-timeout '%s' (e.g. 10m)", optarg);
			break;
		case O_JSON:
			json = 1;
			break;
		case 'q':
			u.quiet = 1;
			break;
		case 'h':
			stage_usage(stdout);
			return 0;
		default:
			return bad_option(c, argv);
		}
	}
	if (argc - optind > 1)
		return usage_error("too many arguments: one SRC directory");
	o.src = optind < argc ? argv[optind] : getenv("MODEL_PATH_NET");
	if (!o.src || !*o.src)
		return usage_error("missing SRC (or set MODEL_PATH_NET)");
	if (!o.root || !*o.root)
		return usage_error("missing --root (or set STAGING_ROOT)");
	char *base = NULL;
	if (!o.name || !*o.name) {
		base = sc_default_name(o.src);
		o.name = base;
	}
	if (!sc_valid_name(o.name)) {
		int r = usage_error("invalid name '%s': one directory name, no '/', not starting with '.'", o.name);
		free(base);
		return r;
	}
	cli_catch_signals();
	o.cancel = &cli_signal;
	progress_init(&u.pg, "staging", u.quiet);
	o.progress = progress_cb;
	o.progress_arg = &u.pg;
	o.notice = on_notice;
	o.notice_arg = &u;
	struct sc_result r;
	struct cs_err err;
	int rc = sc_stage(&o, &r, &err);
	progress_done(&u.pg);
	free(o.include);
	free(o.exclude);
	if (rc) {
		sc_result_free(&r);
		free(base);
		if (err.code == ECANCELED) {
			error("interrupted; the partial copy is kept: stage again to resume");
			return cli_signal_exit();
		}
		return error("%s", err.msg), EXIT_FAIL;
	}
	char a[32], b[32];
	if (json) {
		json_t *j = json_object();
		json_object_set_new(j, "path", json_string(r.path));
		json_object_set_new(j, "name", json_string(o.name));
		json_object_set_new(j, "noop", json_boolean(r.noop));
		json_object_set_new(j, "waited", json_boolean(r.waited));
		json_object_set_new(j, "replaced", json_boolean(r.replaced));
		json_object_set_new(j, "repaired", json_boolean(r.repaired));
		json_object_set_new(j, "replaced_source", r.replaced_source ? json_string(r.replaced_source) : json_null());
		json_object_set_new(j, "files", json_integer((json_int_t)r.files));
		json_object_set_new(j, "bytes", json_integer((json_int_t)r.bytes));
		json_object_set_new(j, "copied_bytes", json_integer((json_int_t)r.copied));
		json_object_set_new(j, "resumed_bytes", json_integer((json_int_t)r.resumed));
		json_object_set_new(j, "linked_files", json_integer((json_int_t)r.linked));
		json_object_set_new(j, "seconds", json_real(r.seconds));
		json_object_set_new(j, "copy_s", json_real(r.copy_s));
		json_object_set_new(j, "verify_s", json_real(r.verify_s));
		json_object_set_new(j, "verify", json_string(r.verify == SC_VERIFY_XXH3 ? "xxh3" : "size"));
		json_object_set_new(j, "kernel_copy", json_boolean(r.kernel_copy));
		json_t *ev = json_array();
		for (size_t i = 0; i < r.nevicted; i++)
			json_array_append_new(ev, json_string(r.evicted[i]));
		json_object_set_new(j, "evicted", ev);
		print_json(j);
	} else {
		printf("%s\n", r.path);
	}
	if (!u.quiet) {
		if (r.noop)
			fprintf(stderr, "coldstart: stage: '%s' is already staged from the unchanged source%s (%s, %zu files)\n",
				o.name, r.waited ? " (by the process it waited for)" : "",
				fmt_bytes(a, sizeof(a), r.bytes), r.files);
		else
			fprintf(stderr,
				"coldstart: stage: staged %s in %.2fs (%.2f GB/s), %zu files, verified by %s%s%s%s\n",
				fmt_bytes(a, sizeof(a), r.bytes), r.seconds,
				r.seconds > 0 ? (double)r.bytes / r.seconds / 1e9 : 0, r.files,
				r.verify == SC_VERIFY_XXH3 ? "xxh3 (source vs copy read back)" : "file count and sizes",
				r.resumed ? "; resumed with " : "", r.resumed ? fmt_bytes(b, sizeof(b), r.resumed) : "",
				r.resumed ? " already there" : "");
		if (r.replaced && r.replaced_source)
			fprintf(stderr, "coldstart: stage: replaced the copy of '%s' (--replace) with this source's\n",
				r.replaced_source);
		else if (r.replaced && r.repaired)
			fprintf(stderr, "coldstart: stage: the staged copy was damaged (the source had not changed): "
				"copied %s again, kept %zu intact file%s, and swapped the repaired copy in\n",
				fmt_bytes(b, sizeof(b), r.copied), r.linked, r.linked == 1 ? "" : "s");
		else if (r.replaced)
			fprintf(stderr, "coldstart: stage: the source had changed: copied %s, took %zu unchanged file%s "
				"from the old copy, and swapped the new copy in\n", fmt_bytes(b, sizeof(b), r.copied),
				r.linked, r.linked == 1 ? "" : "s");
	}
	sc_result_free(&r);
	free(base);
	return 0;
}
