#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "../opts.h"
#include "core/bench/caches.h"
#include "core/stage/stagecache.h"
#include "core/base/util.h"
#include "cmds.h"
#include "core/source/source.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart stage [SRC] [--root STAGING_ROOT] [--name NAME] [options]\n"
	"\n"
	"Copy a model onto local storage and print the staged path on stdout. SRC\n"
	"is a model directory or GGUF file (typically on a network mount), an\n"
	"https:// (or http://) URL, or an s3:// bucket and prefix:\n"
	"\n"
	"    MODEL=$(coldstart stage /mnt/nfs/models/qwen-7b --root /mnt/nvme0/staged)\n"
	"    MODEL=$(coldstart stage s3://models/qwen-7b/ --root /mnt/nvme0/staged)\n"
	"    MODEL=$(coldstart stage https://host/models/qwen-7b/ --root /mnt/nvme0/staged)\n"
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
	"Permissions: each file gets its source's permission bits masked by the\n"
	"umask, as cp without -p gives a new file (a private 0600/0700 source\n"
	"stays private; umask 077 makes every copy private); a URL source's\n"
	"files 0644 and directories 0755, masked. Directories keep their owner's\n"
	"rwx, so the cache can replace and evict them. --chmod sets the bits\n"
	"instead, exactly. Staging again after the source's bits (or --chmod)\n"
	"changed sets them in place, copying nothing.\n"
	"\n"
	"\n"
	"SRC may be a GGUF file (or part 1 of a split set): ROOT/NAME/ gets its\n"
	"file(s), and the staged file is printed. SRC may be an http:// or https://\n"
	"URL of a model: its files are the model's own index and config files\n"
	"(model.safetensors.index.json, else model.safetensors), --files, or the\n"
	"server's directory listing (a URL ending in .gguf is that file); a Hugging\n"
	"Face .../resolve/REV/ URL's files are the Hub's own list (its API). They are\n"
	"fetched with parallel ranged GETs over kept-alive connections and written\n"
	"O_DIRECT as they arrive (--buffered: through the page cache); failures are\n"
	"retried with backoff. Each response is checked against the file's ETag,\n"
	"Last-Modified and size as listed (servers and CDNs that ignore If-Match\n"
	"are common): a file that changed is fetched again, and one that keeps\n"
	"changing fails the stage, nothing published. A file the server gives\n"
	"neither ETag nor Last-Modified is fetched in one request and never resumed.\n"
	"The manifest records size, ETag and Last-Modified, so an unchanged model is\n"
	"a no-op (one HEAD per file). $HF_TOKEN, when set, is sent as a bearer\n"
	"token, and --header's headers, to the source's own host only, never to a\n"
	"redirect's; they are never stored or shown, and URLs are shown without\n"
	"user info or query. A file's redirect is followed once: its chunks go\n"
	"where it led (resolved again once when that URL expires). An s3:// source\n"
	"follows no redirect: a bucket in another region is listed again signed\n"
	"for it.\n"
	"\n"
	"Arguments and defaults:\n"
	"  SRC                 model directory, GGUF file or URL (default\n"
	"                      $MODEL_PATH_NET)\n",
	.after = "Exit status: 0 staged (or already staged), 1 failure, 2 usage error,\n"
	"130/143 interrupted by SIGINT/SIGTERM, within about a second even when\n"
	"throttled or stuck in a read of a hung mount (the partial copy and its\n"
	"journal are kept for resuming).\n"
	"See also: coldstart cache --help.\n",
};

static int chmod_cb(const struct opt *o, const char *arg)
{
	if (sc_chmod_parse(arg, o->value))
		return usage_error("invalid --chmod '%s': [D|F]OCTAL, comma-separated, each at most 777 (e.g. "
				   "D755,F644 or F640)", arg);
	return 0;
}

/* A repeatable option's argument appended to its list. */
static int push_arg(const struct opt *o, const char *arg)
{
	char ***v = o->value;
	*v = xrealloc(*v, (*o->count + 1) * sizeof(char *));
	(*v)[(*o->count)++] = (char *)arg;
	return 0;
}

/* --header 'Name: value': a field name (RFC 9110 token) and no line break. */
static int header_cb(const struct opt *o, const char *arg)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	size_t n = strcspn(arg, ":");
	if (!n || !arg[n] || strspn(arg, tchar) != n || strpbrk(arg, "\r\n"))
		return usage_error("invalid --%s: 'Name: value', a header name and no line break", o->long_name);
	return push_arg(o, arg);
}

static int glob_cb(const struct opt *o, const char *arg)
{
	if (!sc_valid_glob(arg))
		return usage_error("invalid glob '%s' in --%s: a '[' is not closed, or it ends in '\\'", arg, o->long_name);
	return push_arg(o, arg);
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

/* A line of the result's summary, on stderr. */
static void say(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "coldstart: stage: %s\n", msg);
}

/* SRC and the options that go with some sources only: 0 or a usage error. */
static int check_args(struct sc_opts *o, int kind, int quiet, int argc, char **argv)
{
	if (argc - optind > 1)
		return usage_error("too many arguments: one SRC directory");
	o->src = optind < argc ? argv[optind] : getenv("MODEL_PATH_NET");
	if (!o->src || !*o->src)
		return usage_error("missing SRC (or set MODEL_PATH_NET)");
	int url = sc_remote_kind(o->src) != NULL;
	if (kind < 0 && !url && cc_is_cache_set(o->src, NULL)) {
		o->kind_dir = 1;
		if (!quiet)
			fprintf(stderr, "coldstart: stage: '%s' is a compile/kernel cache set: staged as --kind dir\n", o->src);
	}
	if (!o->root || !*o->root)
		return usage_error("missing --root (or set STAGING_ROOT)");
	struct cs_err err;
	if (!sc_check_source_opts(o, &err))
		return 0;
	free(o->headers);
	o->headers = NULL;
	return usage_error("%s", err.msg);
}

/* Stage with a progress bar, then the result: the path (or JSON) on
 * stdout, the summary on stderr. */
static int run_stage(struct sc_opts *o, struct ui *u, int json)
{
	cli_catch_signals();
	cli_signal_deadline(CLI_SIGNAL_DEADLINE_S);   /* the journal survives kill -9 */
	o->cancel = &cli_signal;
	progress_init(&u->pg, "staging", u->quiet);
	o->progress = progress_cb;
	o->progress_arg = &u->pg;
	o->notice = on_notice;
	o->notice_arg = u;
	struct sc_result r;
	struct cs_err err;
	int rc = sc_stage(o, &r, &err);
	progress_done(&u->pg);
	free(o->include);
	free(o->exclude);
	free(o->files);
	free(o->headers);
	if (rc) {
		sc_result_release(&r);
		if (err.code == ECANCELED) {
			error("interrupted; the partial copy is kept: stage again to resume");
			return cli_signal_exit();
		}
		return error("%s", err.msg), EXIT_FAIL;
	}
	if (json)
		print_json(sc_result_json(o->name, &r));
	else
		printf("%s\n", r.path);
	if (!u->quiet)
		sc_result_describe(o->name, &r, say, NULL);
	sc_result_release(&r);
	return 0;
}

int cmd_stage(int argc, char **argv)
{
	struct sc_opts o;
	memset(&o, 0, sizeof(o));
	o.root = getenv("STAGING_ROOT");
	o.name = getenv("MODEL_NAME");
	long jobs = WP_JOBS_AUTO;
	uint64_t stall_ns = 0;
	int json = 0, verify = SC_VERIFY_SIZE, kind = -1, first;
	struct ui u;
	memset(&u, 0, sizeof(u));
	static const char *const verifies[] = { "size", "xxh3", NULL };
	static const char *const kinds[] = { "model", "dir", NULL };
	const struct opt opts[] = {
		OPT_STRING_(0, "root", &o.root, "DIR",
			"staging root on local NVMe (default $STAGING_ROOT;\ncreated if its parent exists)"),
		OPT_STRING_(0, "name", &o.name, "NAME",
			"name under ROOT (default $MODEL_NAME, else SRC's\ndirectory name; for a Hugging Face cache snapshot,\n"
			".../models--ORG--NAME/snapshots/REV, it is ORG--NAME;\nits links into the cache's blobs/ are followed)",
			.flags = OPTF_NONEMPTY),
		OPT_JOBS_AUTO_('j', "jobs", &jobs, "N", WP_JOBS_MAX,
			"copy threads: auto (default: from 1 on a local disk,\n8 on a network mount, 16 for a URL, doubled while\n"
			"the rate grows, up to 64) or 1 to " WP_JOBS_MAX_S),
		OPT_SIZE_(0, "chunk", &o.chunk, "SIZE", 65536, 1LL << 30, "64K to 1G", "copy unit (default 16M)"),
		OPT_ENUM_(0, "verify", &verify, "HOW", verifies, "size or xxh3",
			"size (default: file count and sizes) or xxh3 (hash\nthe source bytes as read and the copy read back\n"
			"from the device, and compare; an S3 source: each\nobject also against the store's own checksum where\n"
			"it keeps one -- x-amz-checksum-*, or the MD5 ETag of\na one-part upload)"),
		OPT_CALLBACK_(0, "include", &o.include, "GLOB", glob_cb,
			"stage only matching files (relative path or base\nname; repeatable); what is left must be a model\n"
			"(weights, config, every file its index maps,\nevery part of a split set) unless --kind dir", .count = &o.ninclude),
		OPT_CALLBACK_(0, "exclude", &o.exclude, "GLOB", glob_cb,
			"leave matching files out (repeatable)", .count = &o.nexclude),
		OPT_SIZE_(0, "max-cache", &o.max_cache, "SIZE", 0, 0, "a size such as 200G",
			"cap on everything staged under ROOT", .flags = OPTF_NONZERO),
		OPT_FLAG_(0, "replace", &o.replace, "NAME may hold a copy of another source: replace it"),
		OPT_FLAG_(0, "direct", &o.direct,
			"O_DIRECT writes: the copy does not fill the page cache\n(the default for a URL source)"),
		OPT_FLAG_(0, "buffered", &o.buffered,
			"a URL source: write through the page cache, which\nthen holds the copy (a warm first start, at the\n"
			"cost of a memory copy and writeback per byte)"),
		OPT_RATE_(0, "bwlimit", &o.bwlimit, "RATE", 0, 0, "a rate such as 500M",
			"at most RATE from the source: 500M = 500 MiB/s,\n500MB = 500 MB/s (sizes: K/M/G powers of 1024,\n"
			"KB/MB/GB powers of 1000)", .flags = OPTF_NONZERO),
		OPT_FLAG_(0, "follow-symlinks", &o.follow_symlinks,
			"copy what symlinks leaving SRC point to (refused\notherwise)"),
		OPT_ENUM_(0, "kind", &kind, "K", kinds, "model or dir",
			"model (default: a checkpoint, checked to be one) or\ndir: any directory -- a compile or kernel cache\n"
			"(VLLM_CACHE_ROOT, TORCHINDUCTOR_CACHE_DIR,\nTRITON_CACHE_DIR) -- with every other guarantee; a\n"
			"cache set (--caches: a subdirectory per variable)\nis detected as dir"),
		OPT_CALLBACK_(0, "chmod", &o.chmod, "MODES", chmod_cb,
			"permission bits of the copy, exactly (not masked):\nD755,F644 (directories, files), F640, or "
			"750\nfor both (rsync's octal form); default: the\nsource's bits masked by the umask (a URL:\n"
			"0644, directories 0755, masked)"),
		OPT_FLAG_(0, "keep-src-cache", &o.keep_src_cache, "leave the source's pages in the page cache"),
		OPT_DURATION_(0, "wait-timeout", &o.wait_timeout_ns, "DUR", "e.g. 10m",
			"how long to wait for another stager (1h)", .flags = OPTF_NONZERO),
		OPT_LIST_(0, "files", &o.files, &o.nfiles, "NAME",
			"a URL source: stage these files (relative to the\nURL; repeatable) instead of finding them"),
		OPT_DURATION_(0, "stall-timeout", &stall_ns, "DUR", "e.g. 30s",
			"a URL source: a request that receives nothing for\nDUR is retried (default 30s)", .flags = OPTF_NONZERO),
		OPT_CALLBACK_(0, "header", &o.headers, "'NAME: VALUE'", header_cb,
			"an http(s) source: send this header too (an API\nkey; repeatable); like $HF_TOKEN it goes to the\n"
			"source's own host only, never to a redirect's, and\nis never stored or shown", .count = &o.nheaders),
		OPT_STRING_(0, "cacert", &o.cacert, "FILE",
			"a URL source: verify the server's TLS certificate\nagainst the CA certificates in FILE (PEM), a private CA"
			CLI_CACERT_DEFAULTS "; a FILE\nthat cannot be read is refused before any transfer", .flags = OPTF_NONEMPTY),
		OPT_FLAG_(0, "insecure", &o.insecure, "a URL source: do not verify the server's TLS\ncertificate"),
		OPT_FLAG_(0, "no-sign-request", &o.no_sign, "an s3:// source: send requests unsigned, looking\n"
			  "for no credentials (a public bucket; without it,\nno credentials found is an error)"),
		OPT_FLAG_(0, "json", &json, "result as JSON on stdout instead of the path"),
		OPT_FLAG_('q', "quiet", &u.quiet, "no progress or summary"),
		OPT_END_(),
	};
	int prc = opts_parse(opts, &help, argc, argv, &first);
	if (prc)
		return opts_exit(prc);
	o.jobs = (int)jobs;
	o.verify = (enum sc_verify)verify;
	o.kind_dir = kind == 1;
	int vr = check_args(&o, kind, u.quiet, argc, argv);
	if (vr)
		return vr;
	o.bearer = getenv("HF_TOKEN");
	o.stall_s = stall_ns ? (long)((stall_ns + 999999999) / 1000000000) : 0;
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
	int rc = run_stage(&o, &u, json);
	free(base);
	return rc;
}
