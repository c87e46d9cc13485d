#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../cli.h"
#include "../opts.h"
#include "core/base/fsutil.h"
#include "core/report/report.h"
#include "core/base/util.h"
#include "cmds.h"
#include "core/base/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart report CSV [--md FILE] [--svg FILE] [--json] [options]\n"
	"       coldstart report CSV CSV... | DIR [--md FILE] [--svg FILE]   (a fleet)\n"
	"\n"
	"Turn a bench CSV (header run_id,storage_mode,model,max_model_len,load_s,\n"
	"gpu_mem_used_mb,notes) into a Markdown report and an SVG chart: per mode\n"
	"the runs and median / min / max / stddev of load_s (copy_s and total_s for\n"
	"staged), the ratio to nvme, the start-up phases, and an interpretation\n"
	"computed from the numbers: net/nvme ratio and seconds, what staging saves\n"
	"or costs, its break-even (cold starts from one staged copy after which the\n"
	"copy has paid for itself), verdicts per audience, and how much of\n"
	"time-to-ready is storage vs runtime. `bench` writes the same report next\n"
	"to its CSV after every bench. Rows written by hand with the seed's header\n"
	"(no notes keys) are fine; failed rows are counted, not averaged.\n"
	"Numbers must be finite decimals (12.5, 1e3; \"12.5s\" in the notes), not\n"
	"negative, ids whole: a row with nan, inf, hex (0x10) or blanks in a column\n"
	"or a note is unreadable: counted, listed with its reason, in no statistic.\n"
	"URLs are shown without their user info and query.\n",
	.after = "Several CSVs, or a directory of them, one per node (as a Slurm job or a\n"
	"Kubernetes Job per node leaves them), make one fleet report\n"
	"(fleet_report.md and .svg beside them unless --md/--svg say otherwise): per\n"
	"node the median time to ready per mode; across nodes p50 / p90 / p99 and\n"
	"the max per mode; the slowest node and the outliers (above 1.5x p50); a\n"
	"chart per node; and the environment fields (kernel, CPU, RAM, GPU, file\n"
	"systems, devices) that differ between nodes. A node is named by its\n"
	"bench sidecar, else by the node= note of its rows ($COLDSTART_NODE, else\n"
	"$NODE_NAME, else $SLURMD_NODENAME, else the hostname, when they were\n"
	"written), else by the CSV's file name.\n"
	"\n"
	"Examples:\n"
	"  coldstart report storage_layout_bench.csv\n"
	"  coldstart report runs.csv --md - --threshold user=2,internal=10\n"
	"  coldstart report /shared/bench/job-4242/\n",
};

static int parse_thresholds(const char *s, struct rp_thresholds *th)
{
	char *copy = xstrdup(s), *save = NULL;
	int rc = 0;
	for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		uint64_t ns;
		if (!eq || parse_duration(eq + 1, &ns)) {
			rc = -1;
			break;
		}
		*eq = 0;
		double v = (double)ns / 1e9;
		if (!strcmp(t, "dev"))
			th->dev_s = v;
		else if (!strcmp(t, "internal"))
			th->internal_s = v;
		else if (!strcmp(t, "user"))
			th->user_s = v;
		else
			rc = -1;
	}
	free(copy);
	return rc;
}

static int threshold_cb(const struct opt *o, const char *arg)
{
	if (parse_thresholds(arg, o->value))
		return usage_error("invalid --threshold '%s' (e.g. dev=120,internal=30s,user=5)", arg);
	return 0;
}

static int report_write(const char *csv, const char *md, const char *svg, const char *meta, const char *model,
			const struct rp_thresholds *th, int json, int quiet)
{
	struct rp_output o = { .csv = csv, .md = md, .svg = svg, .meta = meta, .model = model, .th = th, .dash = stdout };
	struct rp_report r;
	struct rp_written w;
	struct cs_err err;
	if (rp_check_outputs(&o, &err))
		return usage_error("%s", err.msg);
	if (rp_write(&o, json ? &r : NULL, &w, &err))
		return error("%s", err.msg);
	int rc = json ? print_json(rp_json(&r)) : 0;
	if (!rc && !quiet && strcmp(w.md, "-"))
		fprintf(stderr, "coldstart: report: %s\ncoldstart: report: %s\n", w.md, w.svg);
	if (json)
		rp_release(&r);
	rp_written_release(&w);
	return rc ? EXIT_FAIL : 0;
}

/* Several CSVs (or one directory of them): the fleet report. */
static int fleet_write(char **args, int nargs, const char *md, const char *svg, const char *model, int quiet)
{
	char **csvs = NULL;
	size_t n = 0;
	struct cs_err err;
	struct stat sb;
	const char *dir = NULL;
	if (nargs == 1 && stat(args[0], &sb) == 0 && S_ISDIR(sb.st_mode)) {
		if (rp_fleet_dir(args[0], &csvs, &n, &err))
			return error("%s", err.msg);
		dir = args[0];
	} else {
		csvs = xcalloc((size_t)nargs, sizeof(char *));
		for (int i = 0; i < nargs; i++)
			csvs[n++] = xstrdup(args[i]);
	}
	char *where = dir ? xstrdup(dir) : fs_parent_dir(csvs[0]);
	char *mdp = md ? xstrdup(md) : path_join(where, "fleet_report.md");
	char *svgp = svg ? xstrdup(svg) : path_join(where, "fleet_report.svg");
	int rc = 0;
	if (!strcmp(mdp, "-") || !strcmp(svgp, "-"))
		rc = usage_error("a fleet report is written to files: give --md FILE and --svg FILE");
	else if (rp_fleet_write(csvs, n, model, mdp, svgp, &err))
		rc = err.code == EEXIST ? usage_error("%s", err.msg) : error("%s", err.msg);
	else if (!quiet)
		fprintf(stderr, "coldstart: report: fleet of %zu nodes\ncoldstart: report: %s\ncoldstart: report: %s\n", n,
			mdp, svgp);
	free_strv(csvs, n);
	free(where);
	free(mdp);
	free(svgp);
	return rc;
}

int cmd_report(int argc, char **argv)
{
	const char *md = NULL, *svg = NULL, *meta = NULL, *model = NULL;
	struct rp_thresholds th = RP_DEFAULT_THRESHOLDS;
	int json = 0, quiet = 0;
	const struct opt opts[] = {
		OPT_STRING_(0, "md", &md, "FILE", "Markdown output (default: CSV with .md; '-': stdout)"),
		OPT_STRING_(0, "svg", &svg, "FILE", "chart (default: CSV with .svg)"),
		OPT_STRING_(0, "meta", &meta, "FILE",
			"environment and server config recorded by bench\n(default: CSV with .meta.json, if it exists)"),
		OPT_STRING_(0, "model", &model, "NAME", "report this model's rows (default: the last row's model)"),
		OPT_CALLBACK_(0, "threshold", &th, "K=S[,K=S...]", threshold_cb,
			"acceptable seconds a path may add to a cold\nstart over nvme, per audience: dev (notebooks,\n"
			"default 120), internal (services, 30), user\n(user-facing endpoints, 5)"),
		OPT_FLAG_(0, "json", &json, "the numbers and interpretation as JSON on stdout"),
		OPT_FLAG_('q', "quiet", &quiet, "do not say where the files went"),
		OPT_END_(),
	};
	int first = 0;
	int prc = opts_parse(opts, &help, argc, argv, &first);
	if (prc)
		return opts_exit(prc);
	if (first >= argc)
		return usage_error("missing CSV (a bench CSV, several, or a directory of them)");
	struct stat sb;
	if (argc - first > 1 || (stat(argv[first], &sb) == 0 && S_ISDIR(sb.st_mode))) {
		if (json || meta)
			return usage_error("--json and --meta are for one CSV; a fleet report reads each CSV's own sidecar");
		return fleet_write(argv + first, argc - first, md, svg, model, quiet);
	}
	const char *csv = argv[first];
	if (json && md && !strcmp(md, "-"))
		return usage_error("--json and --md - both want stdout");
	return report_write(csv, md, svg, meta, model, &th, json, quiet);
}
