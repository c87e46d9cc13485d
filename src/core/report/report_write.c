/* report: the report's files -- outputs checked against inputs, written. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/fsutil.h"
#include "core/base/banned.h"

char *rp_sibling(const char *csv, const char *ext)
{
	size_t n = strlen(csv);
	if (n > 4 && !strcmp(csv + n - 4, ".csv"))
		n -= 4;
	return xasprintf("%.*s%s", (int)n, csv, ext);
}

void rp_written_release(struct rp_written *w)
{
	free(w->md);
	free(w->svg);
	w->md = w->svg = NULL;
}

/* Nothing written over an input, or over the other output. */
static int check_outputs(const char *const outs[2], const char *const ins[2], FILE *dash, struct cs_err *err)
{
	static const char *const out_what[2] = { "--md", "--svg" }, *const in_what[2] = { "the CSV", "the sidecar" };
	for (int o = 0; o < 2; o++) {
		if (!strcmp(outs[o], "-")) {
			if (!dash)
				return cs_fail(err, EINVAL, "%s '-': no stream to write to", out_what[o]);
			continue;
		}
		for (int i = 0; i < 2; i++)
			if (fs_same_file(outs[o], ins[i]))
				return cs_fail(err, EINVAL, "%s '%s' is %s '%s': it would be overwritten", out_what[o],
					       outs[o], in_what[i], ins[i]);
	}
	if (strcmp(outs[0], "-") && fs_same_file(outs[0], outs[1]))
		return cs_fail(err, EINVAL, "--md '%s' and --svg '%s' are the same file", outs[0], outs[1]);
	return 0;
}

struct paths {
	char *md, *svg, *meta;
};

static void resolve(const struct rp_output *o, struct paths *p)
{
	p->md = o->md ? xstrdup(o->md) : rp_sibling(o->csv, ".md");
	p->svg = o->svg ? xstrdup(o->svg) : rp_sibling(o->csv, ".svg");
	p->meta = o->meta ? xstrdup(o->meta) : rp_sibling(o->csv, ".meta.json");
}

static int check(const struct rp_output *o, const struct paths *p, struct cs_err *err)
{
	const char *const outs[2] = { p->md, p->svg }, *const ins[2] = { o->csv, p->meta };
	return check_outputs(outs, ins, o->dash, err);
}

int rp_check_outputs(const struct rp_output *o, struct cs_err *err)
{
	struct paths p;
	resolve(o, &p);
	int rc = check(o, &p, err);
	free(p.md);
	free(p.svg);
	free(p.meta);
	return rc;
}

static int write_text(const char *path, const char *text, FILE *dash, struct cs_err *err)
{
	if (!strcmp(path, "-"))
		return fputs(text, dash) < 0 || fflush(dash) ? cs_fail_errno(err, errno, "cannot write the report") : 0;
	return fs_write_file_sync(path, text, strlen(text), err);
}

/* How the Markdown links the chart: by name when they share a directory. */
static char *chart_link(const char *md, const char *svg)
{
	if (!strcmp(svg, "-"))
		return NULL;
	char *name = fs_basename(svg), *mdir = fs_parent_dir(md), *sdir = fs_parent_dir(svg);
	char *link = strcmp(mdir, sdir) ? xstrdup(svg) : xstrdup(name);
	free(name);
	free(mdir);
	free(sdir);
	return link;
}

int rp_write(const struct rp_output *o, struct rp_report *r, struct rp_written *w, struct cs_err *err)
{
	static const struct rp_thresholds defaults = RP_DEFAULT_THRESHOLDS;
	struct paths p;
	resolve(o, &p);
	char *md = p.md, *svg = p.svg, *meta = p.meta;
	struct rp_report own, *rep = r ? r : &own;
	memset(rep, 0, sizeof(*rep));
	int rc = check(o, &p, err);
	if (!rc)
		rc = rp_load(o->csv, meta, o->model, o->th ? o->th : &defaults, rep, err);
	if (!rc) {
		char *link = chart_link(md, svg);
		char *text = rp_markdown(rep, link);
		char *chart = rp_svg(rep);
		rc = write_text(md, text, o->dash, err) || write_text(svg, chart, o->dash, err) ? -1 : 0;
		free(text);
		free(chart);
		free(link);
	}
	if (rc || !r)
		rp_release(rep);
	if (!rc && w) {
		w->md = md;
		w->svg = svg;
	} else {
		free(md);
		free(svg);
	}
	free(meta);
	return rc;
}
