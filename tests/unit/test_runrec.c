/*
 * The run record (core/bench/runrec.c) read back by the report (core/report/report_*.c):
 * the notes written for a run are what the report's parser understands.
 */
#define _GNU_SOURCE
#include "core/bench/runrec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/csvlog.h"
#include "core/base/fsutil.h"
#include "core/run/phases.h"
#include "core/report/report.h"
#include "core/base/schema.h"
#include "tap.h"

static char tmp[] = "/tmp/cs-test-runrec-XXXXXX";

static struct run_result ready_run(double load_s, int cold)
{
	struct run_result r;
	memset(&r, 0, sizeof(r));
	phases_init(&r.phases);
	r.outcome = RUN_READY;
	r.load_s = load_s;
	r.cold = cold;
	r.resident_pct = cold > 0 ? 0.4 : cold == 0 ? 87.5 : -1;
	r.gpu_mem_bytes = -1;
	r.gpu_released = -1;
	r.prefetch_s = -1;
	r.stop.seconds = 0.25;
	return r;
}

/* Append a row of mode with these notes, as rr_run does. */
static void append(const char *csv, const char *mode, double load_s, const char *notes)
{
	struct csv_row row = { 0, mode, "m", 4096, load_s, -1, notes };
	struct cs_err err;
	if (csv_append(csv, &row, &err))
		printf("# append: %s\n", err.msg);
}

static const struct rp_run *run_of(const struct rp_report *r, long long id)
{
	for (size_t i = 0; i < r->nruns; i++)
		if (r->runs[i].run_id == id)
			return &r->runs[i];
	return NULL;
}

static const struct rp_mode *mode_of(const struct rp_report *r, const char *name)
{
	for (size_t i = 0; i < r->nmodes; i++)
		if (!strcmp(r->modes[i].name, name))
			return &r->modes[i];
	return NULL;
}

static void test_notes_round_trip(void)
{
	char *csv = path_join(tmp, "round.csv");
	struct rr_opts o = RR_OPTS_INIT;

	/* 1: a cold nvme run with phases in its log */
	struct run_result r = ready_run(3.0, 1);
	r.phases.t_load_start = 0.5;
	r.phases.t_weights_end = 2.0;
	char *n = rr_notes(&o, &r, "vllm", NULL, "coldstart-logs/x.timeline.svg");
	ok(strstr(n, NOTE_COLD "=yes") && strstr(n, NOTE_T_LOAD_START "=0.500"), "notes: %s", n);
	append(csv, MODE_NVME, r.load_s, n);
	free(n);

	/* 2: a staged run: copy_s, load_s and total_s in the notes */
	r = ready_run(1.0, 1);
	o.staged_copy_s = 10;
	n = rr_notes(&o, &r, "vllm", NOTE_STAGED_BYTES "=123", NULL);
	ok(strstr(n, NOTE_COPY_S "=10.000; " NOTE_LOAD_S "=1.000; " NOTE_TOTAL_S "=11.000") != NULL,
	   "staged notes: %s", n);
	append(csv, MODE_STAGED, r.load_s, n);
	free(n);
	o.staged_copy_s = -1;

	/* 3: a warm run, 4: one whose residency could not be read */
	r = ready_run(0.5, 0);
	n = rr_notes(&o, &r, "vllm", NULL, NULL);
	append(csv, MODE_NVME, r.load_s, n);
	free(n);
	r = ready_run(4.0, -1);
	n = rr_notes(&o, &r, "vllm", NULL, NULL);
	ok(strstr(n, NOTE_RESIDENT_PCT "=unknown") != NULL, "unknown residency is said: %s", n);
	append(csv, MODE_NET, r.load_s, n);
	free(n);

	/* 5: a failed run (--record-failures) */
	r = ready_run(0, 1);
	r.outcome = RUN_EXITED;
	n = rr_notes(&o, &r, "vllm", NULL, NULL);
	ok(strstr(n, NOTE_STATUS "=failed:") != NULL && !strstr(n, NOTE_READY_OWNER), "failed notes: %s", n);
	append(csv, MODE_NET, -1, n);
	free(n);

	struct rp_report rep;
	struct cs_err err;
	if (!ok(rp_load(csv, NULL, NULL, NULL, &rep, &err) == 0, "the report loads what the record wrote"))
		printf("# %s\n", err.msg);
	const struct rp_run *u = run_of(&rep, 1);
	ok(u && u->coldness == RP_COLD && u->has_phases && u->ph_before == 0.5 && u->ph_weights == 1.5 &&
		   u->ph_after == 1.0,
	   "cold=yes and the phases read back (0.5 s before weights, 1.5 s weights, 1.0 s after)");
	ok(u && u->timeline && !strcmp(u->timeline, "coldstart-logs/x.timeline.svg"), "the timeline read back");
	u = run_of(&rep, 2);
	ok(u && u->copy_s == 10 && u->load_s == 1 && u->total_s == 11 && u->read_as == RP_READ_LOAD,
	   "staged: copy 10 s + start 1 s = 11 s, the column read as the start");
	ok(run_of(&rep, 3) && run_of(&rep, 3)->coldness == RP_WARM, "cold=no reads as warm");
	ok(run_of(&rep, 4) && run_of(&rep, 4)->coldness == RP_UNVERIFIED, "cold=unverified reads as unverified");
	u = run_of(&rep, 5);
	ok(u && u->status && !strncmp(u->status, "failed:", 7), "the failed run's status read back: %s",
	   u && u->status ? u->status : "(none)");
	const struct rp_mode *nv = mode_of(&rep, MODE_NVME), *net = mode_of(&rep, MODE_NET);
	ok(nv && nv->basis == RP_COLD && nv->runs == 1 && nv->warm_runs == 1 && nv->load.median == 3.0,
	   "nvme: the cold run is the basis, the warm one apart");
	ok(net && net->failed == 1 && net->basis == RP_UNVERIFIED && net->runs == 1,
	   "net: one failed (counted, not averaged), one unverified as the basis");
	ok(rep.nmodes >= 3 && !strcmp(rep.modes[0].name, MODE_NVME) && !strcmp(rep.modes[1].name, MODE_NET) &&
		   !strcmp(rep.modes[2].name, MODE_STAGED),
	   "modes in the table's order, whatever the rows' order");
	rp_release(&rep);
	free(csv);
}

/* Options for a server that says READY on its output, not evicted. */
static struct rr_opts log_ready_opts(const char *server, const char *csv)
{
	struct rr_opts o = RR_OPTS_INIT;
	o.server = server;
	o.ready = "log:READY";
	o.cold = COLD_NONE;
	o.csv = csv;
	o.timeout_ns = 20ULL * 1000000000ULL;
	o.stop_timeout_ns = 5ULL * 1000000000ULL;
	o.gpu_release_ns = 1000000000ULL;
	return o;
}

/* A real run through rr_run: a server that says READY on its output. */
static void test_rr_run(void)
{
	char *model = path_join(tmp, "model"), *csv = path_join(tmp, "runs.csv");
	mkdir(model, 0755);
	char *w = path_join(model, "w.bin");
	FILE *f = fopen(w, "w");
	fputs("weights", f);
	fclose(f);
	struct rr_opts o = log_ready_opts("sh -c 'echo READY {mode} {run_id}; exec sleep 30'", csv);
	o.notes = "unit";
	struct rr_record rec;
	struct cs_err err;
	int rc = rr_run(&o, model, "nvme", "extra=1", &rec, &err);
	if (!ok(rc == 0 && rec.ran && rec.res.outcome == RUN_READY, "a server ready on its log line is a run"))
		printf("# %s\n", err.msg);
	is_int(rec.run_id, 1, "its row is the CSV's first");
	ok(rec.command && strstr(rec.command, "READY nvme 1") != NULL, "{mode} and {run_id} expanded: %s",
	   rec.command ? rec.command : "");
	ok(rec.log && strstr(rec.log, "/coldstart-logs/nvme-") != NULL, "log named in coldstart-logs/ next to the CSV: %s",
	   rec.log ? rec.log : "(none)");
	ok(rec.notes && strstr(rec.notes, NOTE_SERVER "=sh") && strstr(rec.notes, "extra=1") &&
		   strstr(rec.notes, NOTE_NOTE "=unit") && strstr(rec.notes, NOTE_COLD_MODE "=none"),
	   "notes: %s", rec.notes ? rec.notes : "");
	json_t *j = rr_json(&o, &rec, model, "nvme");
	ok(json_integer_value(json_object_get(j, "run_id")) == 1 &&
		   !strcmp(json_string_value(json_object_get(j, "storage_mode")), "nvme") &&
		   json_is_real(json_object_get(j, "load_s")) && json_is_object(json_object_get(j, "stop")),
	   "the JSON object has the row's fields and the stop");
	json_decref(j);
	rr_record_release(&rec);

	/* A server that exits first: no row, unless failures are recorded. */
	o.server = "sh -c 'exit 3'";
	rc = rr_run(&o, model, "net", NULL, &rec, &err);
	ok(rc == -1 && rec.ran && rec.res.outcome == RUN_EXITED && rec.run_id == 0, "an exited server: failed, no row");
	rr_record_release(&rec);
	o.record_failures = 1;
	rc = rr_run(&o, model, "net", NULL, &rec, &err);
	ok(rc == -1 && rec.run_id == 2, "--record-failures: its row is written (run_id 2)");
	rr_record_release(&rec);

	/* Nothing launched: a template that does not expand. */
	o.server = "srv {nope}";
	rc = rr_run(&o, model, "net", NULL, &rec, &err);
	ok(rc == -1 && !rec.ran && strstr(err.msg, "nope"), "an unknown token: nothing launched (%s)", err.msg);
	rr_record_release(&rec);

	struct rp_report rep;
	ok(rp_load(csv, NULL, NULL, NULL, &rep, &err) == 0 && rep.nruns == 2 && run_of(&rep, 2) &&
		   run_of(&rep, 2)->status,
	   "the report reads both rows, the second as failed");
	rp_release(&rep);
	free(w);
	free(model);
	free(csv);
}

static void test_checks(void)
{
	struct cs_err err;
	ok(rr_check_template("vllm serve {model} --port {port}", 0, "--server", &err) == 0, "a good template");
	ok(rr_check_template("  ", 0, "--server", &err) == -1 && err.code == EINVAL &&
		   !strcmp(err.msg, "empty --server template"),
	   "an empty template: %s", err.msg);
	ok(rr_check_template("srv '{model}", 0, "--server", &err) == -1 && err.code == EINVAL,
	   "an open quote: %s", err.msg);
	ok(rr_check_template("srv {modle}", 1, "--runtime-server", &err) == -1 && strstr(err.msg, "--runtime-server"),
	   "an unknown token, with --shell too: %s", err.msg);

	char *csv = path_join(tmp, "o.csv");
	struct rr_opts o = RR_OPTS_INIT;
	o.csv = csv;
	o.log = csv;
	ok(rr_check_outputs(&o, NULL, 0, &err) == -1 && err.code == EINVAL && strstr(err.msg, "same file"),
	   "--csv and --log the same: %s", err.msg);
	char *model = path_join(tmp, "model"), *w = path_join(model, "w.bin");
	o.log = w;
	const char *models[] = { model };
	ok(rr_check_outputs(&o, models, 1, &err) == -1 && strstr(err.msg, "one of the model's files"),
	   "a log over the weights: %s", err.msg);
	o.log = NULL;
	ok(rr_check_outputs(&o, models, 1, &err) == 0, "distinct outputs pass");
	char *bad = path_join(tmp, "bad.csv");
	FILE *f = fopen(bad, "w");
	fputs("a,b,c\n1,2,3\n", f);
	fclose(f);
	o.csv = bad;
	ok(rr_check_csv(&o, &err) == -1 && strstr(err.msg, "bad.csv"), "a CSV with another header: %s", err.msg);
	free(bad);
	free(w);
	free(model);
	free(csv);
}

/* A URL model: which servers can take it, and vllm's loader for s3://,
 * as arguments of vllm's own (never text after the template). */
static void test_remote_args(void)
{
	struct cs_err err;
	const char *const *a = (const char *const *)1;
	ok(rr_remote_args("vllm serve {model} --port {port}", 0, "/mnt/nvme/m", &a, &err) == 0 && !a,
	   "a path: nothing added");
	int rc = rr_remote_args("vllm serve {model} --port {port}", 0, "s3://b/m", &a, &err);
	ok(rc == 0 && a && !strcmp(a[0], "--load-format") && !strcmp(a[1], "runai_streamer") && !a[2],
	   "vllm + s3://: the Run:ai streamer, as two arguments");
	ok(rr_remote_args("vllm serve {model} --port {port} 2>&1 | tee log", 1, "s3://b/m", &a, &err) == -1 &&
		   err.code == EINVAL && strstr(err.msg, "--shell") && !a,
	   "... under --shell refused, never appended after '| tee log': %s", err.msg);
	ok(rr_remote_args("vllm serve {model} --load-format runai_streamer_sharded", 1, "s3://b/m", &a, &err) == 0 && !a,
	   "a --load-format of the user's own is kept (shell or not)");
	ok(rr_remote_args("vllm serve {model}", 0, "https://h/m/", &a, &err) == 0 && !a, "vllm + https://: nothing added");
	ok(rr_remote_args("'/usr/bin/coldstart' refserve {model} --port {port}", 0, "s3://b/m", &a, &err) == -1 &&
		   err.code == EINVAL && strstr(err.msg, "refserve reads local files only") && !a,
	   "refserve refused: %s", err.msg);
	ok(rr_remote_args("node /x/llama_serve.mjs {model} {port}", 0, "http://u:pw-SECRET@h/m/?sig=SECRET", &a, &err) ==
			   -1 && strstr(err.msg, "llama.cpp") && !strstr(err.msg, "SECRET"),
	   "llama.cpp refused, the URL shown without credentials: %s", err.msg);
	static const char *const x[] = { "--dummy", NULL }, *const y[] = { "--a", "b", NULL };
	const char **j = rr_args_join(x, y);
	ok(j && !strcmp(j[0], "--dummy") && !strcmp(j[1], "--a") && !strcmp(j[2], "b") && !j[3], "rr_args_join");
	free(j);
	ok(!rr_args_join(NULL, NULL), "... NULL when there are none");
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[4096] = "";
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	return xstrdup(buf);
}

/* Numbers from server logs and into rows: finite decimals only. */
static void test_numbers(void)
{
	struct phases ph;
	phases_init(&ph);
	phases_line(&ph, "INFO Loading weights took inf seconds", 1.0);
	phases_line(&ph, "INFO Loading weights took nan seconds", 1.0);
	phases_line(&ph, "INFO Loading weights took 0x10 seconds", 1.0);
	phases_line(&ph, "INFO Graph capturing finished in 1e999 secs, took 0.5 GiB", 1.0);
	phases_line(&ph, "INFO torch.compile takes 12abc s in total", 1.0);
	ok(ph.weights_s < 0 && ph.graph_s < 0 && ph.compile_s < 0,
	   "a server log's inf, nan, 0x10, 1e999 and 12abc are not numbers (weights_s %g, graph_s %g, compile_s %g)",
	   ph.weights_s, ph.graph_s, ph.compile_s);
	phases_line(&ph, "INFO Loading weights took 1.50 seconds", 2.0);
	phases_line(&ph, "llama_serve: model loaded in 0.512s (mmap)", 2.0);
	ok(ph.weights_s == 1.5 && ph.model_load_s == 0.512, "... and real ones still are (%g, %g)", ph.weights_s,
	   ph.model_load_s);

	struct rr_opts o = RR_OPTS_INIT;
	o.notes = "see https://user:pw@host/x?token=T0KEN";
	struct run_result r = ready_run(2.0, 1);
	r.phases.weights_s = INFINITY;
	r.phases.graph_s = NAN;
	r.resident_pct = NAN;
	char *n = rr_notes(&o, &r, "vllm", NULL, NULL);
	ok(!strstr(n, "inf") && !strstr(n, "nan") && !strstr(n, "weights_s") && !strstr(n, "graph_s"),
	   "no inf or nan into the notes: %s", n);
	ok(!strstr(n, "T0KEN") && !strstr(n, "pw@") && strstr(n, "note=see https://REDACTED@host/x?REDACTED"),
	   "the user's note without the URL's credentials: %s", n);
	free(n);

	struct rr_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.res = ready_run(NAN, 1);
	rec.res.phases.weights_s = INFINITY;
	rec.res.gpu_release_s = NAN;
	rec.name = xstrdup("m");
	rec.command = xstrdup("srv https://u:p@h/x?sig=S1G");
	json_t *j = rr_json(&o, &rec, "/m", "nvme");
	json_t *ph2 = json_object_get(j, "phases");
	ok(json_is_null(json_object_get(j, "load_s")) && json_is_null(json_object_get(ph2, "weights_s")) &&
		   json_is_null(json_object_get(j, "gpu_release_s")),
	   "rr_json: NaN and inf are null, the keys are there");
	char *d = json_dumps(j, 0);
	ok(d && !strstr(d, "S1G") && !strstr(d, "u:p@"), "rr_json: no credentials");
	free(d);
	json_decref(j);
	free(rec.name);
	free(rec.command);
	run_result_release(&rec.res);
}

/* A model URL with credentials: not on the server's command line; the
 * whole URL in its environment; not in the command shown, the notes, the
 * row or the JSON. */
static void test_secret_url(void)
{
	char *csv = path_join(tmp, "secret.csv"), *argf = path_join(tmp, "arg"), *envf = path_join(tmp, "env"),
	     *cmdf = path_join(tmp, "cmdline");
	char *srv = xasprintf("sh -c 'echo \"$0\" > %s; echo \"$" RR_MODEL_URL_ENV "\" > %s; tr \"\\\\0\" \" \" "
			      "< /proc/$$/cmdline > %s; echo READY; exec sleep 30' {model}", argf, envf, cmdf);
	struct rr_opts o = log_ready_opts(srv, csv);
	const char *url = "http://user:pw-S3CRET@127.0.0.1:9/m/?X-Amz-Signature=S3CRET";
	struct rr_record rec;
	struct cs_err err;
	int rc = rr_run(&o, url, "net", NULL, &rec, &err);
	if (!ok(rc == 0 && rec.res.outcome == RUN_READY, "a run on a URL with credentials"))
		printf("# %s\n", err.msg);
	char *a = slurp(argf), *e = slurp(envf), *c = slurp(cmdf), *row = slurp(csv);
	is_str(a, "http://127.0.0.1:9/m/\n", "{model}: the URL without user info or query");
	ok(!strcmp(e, "http://user:pw-S3CRET@127.0.0.1:9/m/?X-Amz-Signature=S3CRET\n"),
	   "the whole URL in $" RR_MODEL_URL_ENV);
	ok(*c && !strstr(c, "S3CRET"), "the server's /proc/PID/cmdline holds no credential: %s", c);
	ok(rec.command && !strstr(rec.command, "S3CRET"), "nor the command shown: %s", rec.command ? rec.command : "");
	ok(rec.notes && !strstr(rec.notes, "S3CRET"), "nor the notes");
	ok(*row && !strstr(row, "S3CRET"), "nor the CSV");
	json_t *j = rr_json(&o, &rec, url, "net");
	char *d = json_dumps(j, 0);
	ok(d && !strstr(d, "S3CRET"), "nor the JSON");
	free(d);
	json_decref(j);
	rr_record_release(&rec);
	free(a);
	free(e);
	free(c);
	free(row);
	free(srv);
	free(csv);
	free(argf);
	free(envf);
	free(cmdf);
}

int main(void)
{
	if (!mkdtemp(tmp))
		return 1;
	test_notes_round_trip();
	test_rr_run();
	test_checks();
	test_remote_args();
	test_numbers();
	test_secret_url();
	if (fs_remove_tree(tmp))
		printf("# cannot remove %s\n", tmp);
	return done_testing();
}
