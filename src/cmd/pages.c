#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "../opts.h"
#include "core/io/pagecache.h"
#include "core/base/util.h"
#include "cmds.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart pages status PATH... [--json]\n"
	"       coldstart pages evict PATH... [--global] [--json]\n"
	"       coldstart pages warm PATH... [--jobs auto|N] [--chunk SIZE] [--json]\n"
	"\n"
	"Page-cache control for files and directories (searched recursively,\n"
	"symlinks followed).\n"
	"\n"
	"  status  how much of each file is in the page cache, and the total\n"
	"          (cachestat(2) where the kernel has it, else mincore(2))\n"
	"  evict   flush and drop each file's pages (posix_fadvise DONTNEED; no\n"
	"          root needed), then report the residency left. --global: sync\n"
	"          and drop the whole page cache instead (root)\n"
	"  warm    read every chunk that is not already resident, N threads at\n"
	"          once, so a server's first read finds the data in memory; a\n"
	"          chunk the kernel reclaimed meanwhile is read once more\n"
	"          (reread_bytes in --json)\n",
	.after = "Examples:\n"
	"  coldstart pages status /mnt/nvme0/models/qwen-7b\n"
	"  coldstart pages evict /mnt/nvme0/models/qwen-7b\n"
	"  coldstart pages warm --jobs 16 /mnt/nfs/models/qwen-7b\n",
};

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 100.0;
}

static int report(const struct pc_set *set, const char *action, const struct pc_warm_stats *ws,
		  int json, int quiet)
{
	char a[32], b[32];
	if (json) {
		json_t *j = json_object();
		json_object_set_new(j, "action", json_string(action));
		json_object_set_new(j, "method", json_string(pc_method_name(set->method)));
		json_object_set_new(j, "total_bytes", json_integer((json_int_t)set->total));
		json_object_set_new(j, "resident_bytes", set->nunknown ? json_null() : json_integer((json_int_t)set->resident));
		json_object_set_new(j, "resident_pct", set->nunknown ? json_null() : json_real(pct(set->resident, set->total)));
		json_object_set_new(j, "known_resident_bytes", json_integer((json_int_t)set->resident));
		json_object_set_new(j, "unknown_bytes", json_integer((json_int_t)set->unknown_bytes));
		json_object_set_new(j, "unknown_files", json_integer((json_int_t)set->nunknown));
		if (ws) {
			json_object_set_new(j, "read_bytes", json_integer((json_int_t)ws->read_bytes));
			json_object_set_new(j, "skipped_bytes", json_integer((json_int_t)ws->skipped_bytes));
			json_object_set_new(j, "reread_bytes", json_integer((json_int_t)ws->reread_bytes));
			json_object_set_new(j, "jobs", ws->jobs ? json_integer(ws->jobs) : json_null());
			json_object_set_new(j, "seconds", json_real(ws->seconds));
			json_object_set_new(j, "read_bytes_per_s",
					    json_real(ws->seconds > 0 ? (double)ws->read_bytes / ws->seconds : 0));
		}
		json_t *files = json_array();
		for (size_t i = 0; i < set->n; i++) {
			json_t *o = json_object();
			json_object_set_new(o, "path", json_string(set->files[i].path));
			json_object_set_new(o, "bytes", json_integer((json_int_t)set->files[i].size));
			json_object_set_new(o, "resident_bytes", set->files[i].unknown ? json_null()
									  : json_integer((json_int_t)set->files[i].resident));
			json_array_append_new(files, o);
		}
		json_object_set_new(j, "files", files);
		return print_json(j);
	}
	if (!quiet)
		for (size_t i = 0; i < set->n; i++) {
			if (set->files[i].unknown)
				printf("%7s  %10s / %-10s  %s\n", "unknown", "?", fmt_bytes(b, sizeof(b), set->files[i].size),
				       set->files[i].path);
			else
				printf("%6.1f%%  %10s / %-10s  %s\n", pct(set->files[i].resident, set->files[i].size),
				       fmt_bytes(a, sizeof(a), set->files[i].resident),
				       fmt_bytes(b, sizeof(b), set->files[i].size), set->files[i].path);
		}
	if (set->nunknown == set->n && set->n)
		printf("%7s  %10s / %-10s  total, %zu file%s\n", "unknown", "?", fmt_bytes(b, sizeof(b), set->total),
		       set->n, set->n == 1 ? "" : "s");
	else
		printf("%6.1f%%  %10s / %-10s  total, %zu file%s (%s)%s\n", pct(set->resident, set->total),
		       fmt_bytes(a, sizeof(a), set->resident), fmt_bytes(b, sizeof(b), set->total), set->n,
		       set->n == 1 ? "" : "s", pc_method_name(set->method),
		       set->nunknown ? " -- at least: some files' residency is unknown" : "");
	if (set->nunknown)
		warning("the kernel shows page-cache residency only to a user who may write the file: %zu of %zu file%s "
			"(%s) cannot be measured by this user%s", set->nunknown, set->n, set->n == 1 ? "" : "s",
			fmt_bytes(a, sizeof(a), set->unknown_bytes),
			!strcmp(action, "evict") ? "; they were evicted all the same" : "");
	if (ws) {
		char r[32];
		fprintf(stderr, "coldstart: pages: warmed %s in %.2fs (%s/s), %s already resident",
			fmt_bytes(a, sizeof(a), ws->read_bytes), ws->seconds,
			fmt_bytes(r, sizeof(r), ws->seconds > 0 ? (uint64_t)((double)ws->read_bytes / ws->seconds) : 0),
			fmt_bytes(b, sizeof(b), ws->skipped_bytes));
		if (ws->jobs)
			fprintf(stderr, "; %d reader%s", ws->jobs, ws->jobs == 1 ? "" : "s");
		fputc('\n', stderr);
	}
	return 0;
}

int cmd_pages(int argc, char **argv)
{
	long jobs = WP_JOBS_AUTO;
	uint64_t chunk = PC_WARM_CHUNK_DEFAULT;
	int global = 0, json = 0, quiet = 0;
	const struct opt opts[] = {
		OPT_JOBS_AUTO_('j', "jobs", &jobs, "N", 1024,
			"reader threads for warm: auto (default: doubled from\n1 while the rate grows) or 1 to 1024"),
		OPT_SIZE_(0, "chunk", &chunk, "SIZE", 4096, 1LL << 30, "4K to 1G", "read size for warm (default 4M)"),
		OPT_FLAG_(0, "global", &global, "evict: drop the whole page cache (root)"),
		OPT_FLAG_(0, "json", &json, "machine-readable output on stdout"),
		OPT_FLAG_('q', "quiet", &quiet, "no per-file lines or progress"),
		OPT_END_(),
	};
	static const char *const actions[] = { "status", "evict", "warm", NULL };
	const char *action;
	int prc = opts_parse_action(opts, &help, argc, argv, actions, &action);
	if (prc >= 0)
		return prc;
	if (optind >= argc)
		return usage_error("missing PATH");
	if (global && strcmp(action, "evict"))
		return usage_error("--global goes with evict");

	struct pc_set set;
	struct cs_err err;
	if (pc_collect(argv + optind, (size_t)(argc - optind), &set, &err))
		return error("%s", err.msg);
	int rc = 0;
	struct pc_warm_stats ws, *wsp = NULL;
	if (!strcmp(action, "evict")) {
		rc = global ? pc_drop_global(&err) : pc_evict(&set, &err);
	} else if (!strcmp(action, "warm")) {
		cli_catch_signals();
		cli_signal_deadline(CLI_SIGNAL_DEADLINE_S);   /* it only reads */
		struct progress pg;
		progress_init(&pg, "warming", quiet || json);
		rc = pc_warm(&set, (int)jobs, chunk, progress_cb, &pg, &cli_signal, &ws, &err);
		progress_done(&pg);
		wsp = &ws;
		if (rc && err.code == ECANCELED) {
			pc_set_release(&set);
			error("interrupted");
			return cli_signal_exit();
		}
	}
	if (!rc)
		rc = pc_residency(&set, &err);
	if (rc) {
		pc_set_release(&set);
		return error("%s", err.msg);
	}
	rc = report(&set, action, wsp, json, quiet);
	if (!strcmp(action, "evict") && !json && set.total && set.resident * 100 > set.total)
		warning("%.1f%% is still resident after eviction (mapped or locked by a running process?)",
			pct(set.resident, set.total));
	pc_set_release(&set);
	return rc ? EXIT_FAIL : 0;
}
