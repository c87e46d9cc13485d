#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli.h"
#include "../opts.h"
#include "../core/fsutil.h"
#include "../core/report.h"
#include "../core/util.h"
#include "cmds.h"
#include "../core/banned.h"

static const struct opts_help help = {
	.usage = "usage: coldstart report CSV [--md FILE] [--svg FILE] [--json] [options]\n"
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
	"(no notes keys) are fine; failed rows are counted, not averaged.\n",
	.after = "Examples:\n"
	"  coldstart report storage_layout_bench.csv\n"
	"  coldstart report runs.csv --md - --threshold user=2,internal=10\n",
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
		rp_free(&r);
	rp_written_free(&w);
	return rc ? EXIT_FAIL : 0;
}

int cmd_report(int argc, char **argv)
{
	const char *md = NULL, *svg = NULL, *meta = NULL, *model = NULL;
	struct rp_thresholds th = RP_DEFAULT_THRESHOLDS;
	int json = 0, quiet = 0;
	const struct opt opts[] = {
		{ .type = OPT_STRING, .long_name = "md", .argname = "FILE", .value = &md,
		  .help = "Markdown output (default: CSV with .md; '-': stdout)" },
		{ .type = OPT_STRING, .long_name = "svg", .argname = "FILE", .value = &svg,
		  .help = "chart (default: CSV with .svg)" },
		{ .type = OPT_STRING, .long_name = "meta", .argname = "FILE", .value = &meta,
		  .help = "environment and server config recorded by bench\n(default: CSV with .meta.json, if it exists)" },
		{ .type = OPT_STRING, .long_name = "model", .argname = "NAME", .value = &model,
		  .help = "report this model's rows (default: the last row's model)" },
		{ .type = OPT_CALLBACK, .long_name = "threshold", .argname = "K=S[,K=S...]", .value = &th, .cb = threshold_cb,
		  .help = "acceptable seconds a path may add to a cold\nstart over nvme, per audience: dev (notebooks,\n"
			  "default 120), internal (services, 30), user\n(user-facing endpoints, 5)" },
		{ .type = OPT_FLAG, .long_name = "json", .value = &json, .help = "the numbers and interpretation as JSON on stdout" },
		{ .type = OPT_FLAG, .short_name = 'q', .long_name = "quiet", .value = &quiet,
		  .help = "do not say where the files went" },
		OPT_END_(),
	};
	const char *csv;
	int prc = opts_parse_one(opts, &help, argc, argv, "CSV", &csv);
	if (prc >= 0)
		return prc;
	if (json && md && !strcmp(md, "-"))
		return usage_error("--json and --md - both want stdout");
	return report_write(csv, md, svg, meta, model, &th, json, quiet);
}
