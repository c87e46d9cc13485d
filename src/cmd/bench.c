#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../cli.h"
#include "../opts.h"
#include "../core/csvlog.h"
#include "../core/fsutil.h"
#include "../core/netsim.h"
#include "../core/pagecache.h"
#include "../core/report.h"
#include "../core/safetensors.h"
#include "../core/sysinfo.h"
#include "../core/template.h"
#include "../core/util.h"
#include "cmds.h"
#include "runcfg.h"
#include "../core/stagecache.h"
#include "../core/banned.h"

#define MAX_MODES 8

static const struct opts_help help = {
	"usage: coldstart bench [--nvme PATH] [--net PATH] [--modes nvme,net]\n"
	"                       [--repeat N] [--order interleave|grouped|random] [options]\n"
	"\n"
	"The seed's Tier 1 experiment: cold starts of the same model from local NVMe\n"
	"and from a network path, repeated, in interleaved order (nvme, net, nvme,\n"
	"net, ...) so that drift on the machine hits both modes alike. Each run is a\n"
	"`coldstart run` (cache evicted and checked first) appending one row to the\n"
	"CSV. At the end a summary per mode: runs, median / min / max load_s, and\n"
	"the net/nvme ratio and difference of the medians. Every run option below\n"
	"applies; --csv defaults to storage_layout_bench.csv, and --log names the\n"
	"directory of the per-run logs (default coldstart-logs/ next to the CSV).\n",
	"Paths that are missing or not model directories are refused before\n"
	"anything runs. A failed run stops the bench (exit 1); rows of the runs\n"
	"before it stay in the CSV.\n"
	"\n"
	"Examples:\n"
	"  MODEL_PATH_NVME=/mnt/nvme0/qwen-7b MODEL_PATH_NET=/mnt/nfs/qwen-7b coldstart bench\n"
	"  coldstart bench --nvme /mnt/nvme0/m --net /mnt/efs/m --repeat 5 --max-model-len 8192\n",
};

struct mode {
	const char *name;
	const char *path;
	double *loads;
	size_t n;
	double *totals;             /* staged: copy + load */
	int *cold;                  /* per run: 1 cold, 0 warm, -1 not verified */
};

/* The statistics of one class of a mode's runs (as the report computes
 * them): cold runs if there are any, else those not verified cold, else
 * the warm ones. Returns the class. */
static int mode_basis(const struct mode *m, int totals, struct rp_stats *st, size_t *left_out)
{
	int has_cold = 0, has_unverified = 0;
	for (size_t i = 0; i < m->n; i++) {
		has_cold |= m->cold[i] == 1;
		has_unverified |= m->cold[i] == -1;
	}
	int basis = has_cold ? 1 : has_unverified ? -1 : 0;
	double *v = xcalloc(m->n ? m->n : 1, sizeof(double));
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->cold[i] == basis)
			v[n++] = totals ? m->totals[i] : m->loads[i];
	rp_stats_of(v, n, st);
	free(v);
	*left_out = m->n - n;
	return basis;
}

static void summary(struct mode *modes, size_t nm)
{
	fprintf(stderr, "\n%-13s %5s %10s %10s %10s  %s\n", "mode", "runs", "median_s", "min_s", "max_s", "from");
	double med_nvme = -1, med_net = -1;
	for (size_t i = 0; i < nm; i++) {
		struct mode *m = &modes[i];
		if (!m->n) {
			fprintf(stderr, "%-13s %5d %10s %10s %10s\n", m->name, 0, "-", "-", "-");
			continue;
		}
		struct rp_stats st;
		size_t left;
		int basis = mode_basis(m, 0, &st, &left);
		char from[64];
		snprintf(from, sizeof(from), "%s%s", basis == 1 ? "cold runs" : basis == -1 ? "runs NOT verified cold" : "warm runs only (NOT cold)",
			 left ? " (others left out)" : "");
		fprintf(stderr, "%-13s %5zu %10.3f %10.3f %10.3f  %s\n", m->name, st.n, st.median, st.min, st.max, from);
		if (!strcmp(m->name, "nvme"))
			med_nvme = st.median;
		if (!strcmp(m->name, "net"))
			med_net = st.median;
	}
	for (size_t i = 0; i < nm; i++) {
		struct mode *m = &modes[i];
		if (strcmp(m->name, "staged") || !m->n)
			continue;
		struct rp_stats st;
		size_t left;
		mode_basis(m, 1, &st, &left);
		fprintf(stderr, "staged total (copy + load): median %.3f s", st.median);
		if (med_net > 0)
			fprintf(stderr, " = %.2fx net's median load (%+.3f s)", st.median / med_net, st.median - med_net);
		fputc('\n', stderr);
	}
	if (med_nvme > 0 && med_net > 0)
		fprintf(stderr, "\nnet/nvme: %.2fx the median load time (%+.3f s)\n", med_net / med_nvme,
			med_net - med_nvme);
}

/* A netsim mounted for the bench: unmounted on every way out. */
struct bench_netsim {
	char *mountpoint;
	char *profile;
};

static int netsim_spec(const char *net, const char **profile)
{
	if (!net || strncmp(net, "netsim", 6) || (net[6] && net[6] != ':'))
		return 0;
	*profile = net[6] == ':' ? net + 7 : "nfs-10g";
	return 1;
}

static int mount_netsim(struct bench_netsim *ns, const char *src, const char *profile, int quiet)
{
	if (!netsim_profile(profile))
		return usage_error("unknown netsim profile '%s' (see 'coldstart netsim --help')", profile);
	char tmpl[] = "/tmp/coldstart-netsim-XXXXXX";
	if (!mkdtemp(tmpl))
		return error_errno("cannot create a mount point under /tmp");
	struct cs_err err;
	if (netsim_check(src, tmpl, &err)) {
		rmdir(tmpl);
		return error("cannot simulate the network path: %s", err.msg);
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		if (nul >= 0)
			dup2(nul, 1);
		/* The daemon unmounts itself if this bench dies without doing it. */
		char owner[32];
		snprintf(owner, sizeof(owner), "%ld", (long)getppid());
		execl("/proc/self/exe", "coldstart", "netsim", src, tmpl, "--profile", profile, "--exit-with", owner,
		      (char *)NULL);
		_exit(127);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		rmdir(tmpl);
		return error("cannot mount the simulated network path (netsim %s) on '%s'", profile, tmpl);
	}
	ns->mountpoint = xstrdup(tmpl);
	ns->profile = xstrdup(profile);
	if (!quiet)
		fprintf(stderr, "coldstart: bench: net path: netsim:%s over '%s' at '%s'\n", profile, src, tmpl);
	return 0;
}

static void unmount_netsim(struct bench_netsim *ns)
{
	if (!ns->mountpoint)
		return;
	struct cs_err err;
	int rc = -1;
	/* A server that was just killed may hold files open for a moment. */
	for (int i = 0; i < 50 && (rc = netsim_unmount(ns->mountpoint, &err)) && err.code == EBUSY; i++)
		usleep(100000);
	if (rc)
		warning("%s", err.msg);
	else
		rmdir(ns->mountpoint);
	free(ns->mountpoint);
	free(ns->profile);
	ns->mountpoint = ns->profile = NULL;
}

static void stage_notice(const char *msg, void *arg)
{
	if (!*(int *)arg)
		fprintf(stderr, "coldstart: bench: stage: %s\n", msg);
}

/* Staged copies (or partial copies) of earlier benches that were killed
 * before they could remove them: NAME-bench-PID-N whose PID is gone. */
static void remove_stale_copies(const char *root, int quiet)
{
	struct sc_entry *e;
	size_t n;
	struct cs_err err;
	if (sc_list(root, &e, &n, &err))
		return;
	for (size_t i = 0; i < n; i++) {
		const char *b = strstr(e[i].name, "-bench-");
		long pid = 0, k = 0;
		char tail;
		while (b && strstr(b + 1, "-bench-"))
			b = strstr(b + 1, "-bench-");
		if (!b || sscanf(b, "-bench-%ld-%ld%c", &pid, &k, &tail) != 2 || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (sc_remove(root, e[i].name, &err) == 0 && !quiet)
			fprintf(stderr, "coldstart: bench: removed '%s', left by a bench that was killed (pid %ld)\n",
				e[i].name, pid);
	}
	sc_entries_free(e, n);
}

/* The copy half of a staged run: net -> ROOT/NAME, timed, verified by size. */
static int stage_for_run(const char *root, const char *src, const char *name, int jobs, int direct, int quiet,
			 struct sc_result *r)
{
	struct sc_opts o;
	memset(&o, 0, sizeof(o));
	o.root = root;
	o.src = src;
	o.name = name;
	o.jobs = jobs;
	o.direct = direct;
	o.cancel = &cli_signal;
	o.notice = stage_notice;
	o.notice_arg = &quiet;
	struct cs_err err;
	/* The copy starts cold too: nothing of the source in the page cache. */
	struct pc_set set;
	char *paths[1] = { (char *)src };
	if (pc_collect(paths, 1, &set, &err) || pc_evict(&set, &err) || pc_residency(&set, &err))
		return error("cannot evict '%s' before staging: %s", src, err.msg), EXIT_FAIL;
	if (set.total && set.resident * 100 > set.total)
		warning("%.1f%% of '%s' is still cached before staging: the copy is not cold",
			100.0 * (double)set.resident / (double)set.total, src);
	pc_set_free(&set);
	if (sc_stage(&o, r, &err)) {
		if (err.code == ECANCELED)
			return cli_signal_exit();
		return error("staging '%s' into '%s' failed: %s", src, root, err.msg), EXIT_FAIL;
	}
	if (!quiet)
		fprintf(stderr, "coldstart: bench: staged %.2f GB in %.3fs (%.2f GB/s)\n", (double)r->bytes / 1e9,
			r->seconds, r->seconds > 0 ? (double)r->bytes / r->seconds / 1e9 : 0);
	return 0;
}

/* The sidecar report.c reads: environment, server config, command line. */
static void write_meta(const char *csv, int argc, char **argv, const char *tmpl, const char *model_path,
		       const struct run_cfg *cfg, const struct mode *modes, size_t nm, const char *net_note,
		       const char *stage_root)
{
	char *cl = xstrdup("coldstart");
	for (int i = 0; i < argc; i++) {
		char *q = shell_quote(argv[i]);
		char *t = xasprintf("%s %s", cl, q);
		free(q);
		free(cl);
		cl = t;
	}
	time_t now = time(NULL);
	struct tm tm;
	char when[64];
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "coldstart_version", CS_VERSION, "started", when,
			      "command_line", cl, "server_template", tmpl, "max_model_len",
			      (json_int_t)cfg->max_model_len, "host", si_host_json());
	free(cl);
	if (cfg->name)
		json_object_set_new(j, "model", json_string(cfg->name));
	if (net_note)
		json_object_set_new(j, "net", json_string(net_note + (strncmp(net_note, "net=", 4) ? 0 : 4)));
	char **av = NULL;
	struct cs_err err;
	struct tmpl_var vars[] = { { "model", model_path }, { "port", "{port}" }, { "max_model_len", "{max_model_len}" },
				   { "mode", "{mode}" }, { "run_id", "{run_id}" } };
	char mlbuf[32];
	snprintf(mlbuf, sizeof(mlbuf), "%ld", cfg->max_model_len);
	vars[2].value = mlbuf;
	if (!cfg->shell && tmpl_argv(tmpl, vars, 5, &av, &err) == 0) {
		char *d = argv_display(av);
		json_object_set_new(j, "server_command", json_string(d));
		free(d);
		tmpl_argv_free(av);
	}
	json_t *paths = json_array();
	for (size_t i = 0; i < nm; i++) {
		json_t *p = si_path_json(modes[i].path);
		json_object_set_new(p, "mode", json_string(modes[i].name));
		json_array_append_new(paths, p);
		if (!strcmp(modes[i].name, "staged") && stage_root) {
			json_t *sp = si_path_json(stage_root);
			json_object_set_new(sp, "mode", json_string("staged (copy)"));
			json_array_append_new(paths, sp);
		}
	}
	json_object_set_new(j, "paths", paths);
	char *path = report_sibling(csv, ".meta.json");
	char *text = json_dumps(j, JSON_INDENT(2));
	if (fs_write_file_sync(path, text, strlen(text), &err))
		warning("%s", err.msg);
	free(text);
	free(path);
	json_decref(j);
}

/* What the simulated network path delivered, into the sidecar: the report
 * puts it next to the profile's rate (and says when the CPU was the limit). */
static void record_netsim(const char *csv, const char *mountpoint, int quiet)
{
	struct cs_err err;
	char *text = netsim_stats(mountpoint, &err);
	json_t *st = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	char *path = report_sibling(csv, ".meta.json");
	json_t *meta = st ? json_load_file(path, 0, NULL) : NULL;
	if (meta) {
		int cpu_bound = 0;
		char *note = netsim_limit_note(st, &cpu_bound);
		if (note && cpu_bound && !quiet)
			warning("net path (netsim): %s", note);
		free(note);
		json_object_set(meta, "netsim_stats", st);
		char *s = json_dumps(meta, JSON_INDENT(2));
		if (fs_write_file_sync(path, s, strlen(s), &err))
			warning("%s", err.msg);
		free(s);
	}
	json_decref(meta);
	json_decref(st);
	free(path);
}

static int validate_model(const char *mode, const char *path)
{
	struct st_model m;
	struct cs_err err;
	int rc = st_model_open(path, &m, &err);
	st_model_free(&m);
	if (rc)
		return error("%s path refused: %s", mode, err.msg);
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	struct run_cfg cfg;
	runcfg_init(&cfg);
	cfg.csv = "storage_layout_bench.csv";
	const char *nvme = getenv("MODEL_PATH_NVME"), *net = getenv("MODEL_PATH_NET"), *modes_arg = NULL;
	const char *runtime_server = NULL;
	const char *stage_root = getenv("STAGING_ROOT");
	int staged_warm = 0, stage_direct = 0, order_i = 0, first;
	long stage_jobs = 8;
	long repeat = 3;
	uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	static const char *const orders[] = { "interleave", "grouped", "random", NULL };
	static const char *const caches[] = { "cold", "warm", NULL };
	const struct opt opts[] = {
		{ .type = OPT_STRING, .long_name = "nvme", .argname = "PATH", .value = &nvme,
		  .help = "model directory on local NVMe (default $MODEL_PATH_NVME)" },
		{ .type = OPT_STRING, .long_name = "net", .argname = "PATH", .value = &net,
		  .help = "the same model on a network path (default $MODEL_PATH_NET);\nnetsim[:PROFILE] mounts a simulated "
			  "network path over\nthe NVMe copy for the bench (the default when no net\npath is given; PROFILE "
			  "defaults to nfs-10g)" },
		{ .type = OPT_STRING, .long_name = "modes", .argname = "LIST", .value = &modes_arg,
		  .help = "which modes to run, comma-separated (default nvme,net):\n"
			  "  nvme     the model on local NVMe\n"
			  "  net      the model on the network path\n"
			  "  staged   stage net -> --stage-root (timed: copy_s),\n"
			  "           then start from the staged copy (load_s);\n"
			  "           notes: copy_s, load_s, total_s\n"
			  "  net+prefetch  net, with --prefetch's parallel warm\n"
			  "           overlapping the server's start-up\n"
			  "  runtime  the server with no weight loading" },
		{ .type = OPT_STRING, .long_name = "stage-root", .argname = "DIR", .value = &stage_root,
		  .help = "where staged runs copy to (default $STAGING_ROOT, else\ncoldstart-staged/ next to the NVMe model); "
			  "each run\nstages into a fresh name, removed after the run" },
		{ .type = OPT_INT, .long_name = "stage-jobs", .argname = "N", .value = &stage_jobs, .min = 1, .max = 256,
		  .hint = "1 to 256", .help = "copy threads of staged runs (default 8)" },
		{ .type = OPT_FLAG, .long_name = "stage-direct", .value = &stage_direct,
		  .help = "staged runs copy with O_DIRECT (stage --direct)" },
		{ .type = OPT_ENUM, .long_name = "staged-cache", .argname = "C", .value = &staged_warm, .choices = caches,
		  .hint = "cold or warm",
		  .help = "cold (default): evict the staged copy before the\nserver starts; warm: start on the pages the copy\n"
			  "left in the cache (no eviction)" },
		{ .type = OPT_STRING, .long_name = "runtime-server", .argname = "T", .value = &runtime_server,
		  .help = "the server template for mode 'runtime': the server\nwithout weight loading (default: refserve "
			  "--dummy,\nor vllm --load-format dummy)" },
		{ .type = OPT_INT, .short_name = 'n', .long_name = "repeat", .argname = "N", .value = &repeat, .min = 1,
		  .max = 10000, .hint = "1 to 10000", .help = "runs per mode (default 3)" },
		{ .type = OPT_ENUM, .long_name = "order", .argname = "ORDER", .value = &order_i, .choices = orders,
		  .hint = "interleave, grouped or random", .help = "interleave (default), grouped, or random" },
		{ .type = OPT_U64, .long_name = "seed", .argname = "N", .value = &seed, .hint = "a non-negative integer",
		  .help = "seed for --order random (default: time)" },
		{ .type = OPT_GROUP, .group = runcfg_options(&cfg) },
		OPT_END_(),
	};
	int prc = opts_parse(opts, &help, argc, argv, &first);
	if (prc)
		return opts_exit(prc);
	const char *order = orders[order_i];
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	cfg.log_is_dir = 1; /* one log per run: --log names their directory */
	int vr = runcfg_validate(&cfg, cfg.server && strcmp(cfg.server, "refserve") ? cfg.server : NULL, "--server");
	if (!vr)
		vr = runcfg_validate(&cfg, runtime_server, "--runtime-server");
	if (vr)
		return vr;
	if (nvme && !*nvme)
		nvme = NULL;
	if (net && !*net)
		net = NULL;
	const char *ns_profile = NULL;
	int want_netsim = netsim_spec(net, &ns_profile);
	if (!net && nvme) {
		/* No network path at hand: simulate one over the NVMe copy. */
		want_netsim = 1;
		ns_profile = "nfs-10g";
	}
	if (want_netsim) {
		if (!netsim_profile(ns_profile))
			return usage_error("unknown netsim profile '%s' (see 'coldstart netsim --help')", ns_profile);
		if (!nvme)
			return usage_error("--net netsim needs the NVMe copy to simulate: --nvme PATH or $MODEL_PATH_NVME");
		net = "netsim";
	}

	struct mode modes[MAX_MODES];
	size_t nm = 0;
	char *list = xstrdup(modes_arg ? modes_arg : nvme && net ? "nvme,net" : nvme ? "nvme" : net ? "net" : "nvme,net");
	char *save = NULL;
	int rc = 0;
	for (char *t = strtok_r(list, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
		if (nm == MAX_MODES) {
			rc = usage_error("too many modes (at most %d)", MAX_MODES);
			break;
		}
		const char *path = NULL;
		if (!strcmp(t, "nvme") || !strcmp(t, "runtime"))
			path = nvme;
		else if (!strcmp(t, "net") || !strcmp(t, "staged") || !strcmp(t, "net+prefetch"))
			path = net;
		else {
			rc = usage_error("unknown mode '%s' (nvme, net, staged, net+prefetch or runtime)", t);
			break;
		}
		for (size_t k = 0; k < nm; k++)
			if (!strcmp(modes[k].name, t))
				rc = usage_error("mode '%s' given twice", t);
		if (rc)
			break;
		int on_net = path == net;
		if (!path) {
			rc = usage_error("mode '%s' needs a path: --%s PATH or $MODEL_PATH_%s", t,
					 on_net ? "net" : "nvme", on_net ? "NET" : "NVME");
			break;
		}
		modes[nm++] = (struct mode){ t, path, xcalloc((size_t)repeat, sizeof(double)), 0,
					     xcalloc((size_t)repeat, sizeof(double)), xcalloc((size_t)repeat, sizeof(int)) };
	}
	if (!rc && !nm)
		rc = usage_error("--modes '%s' names no mode (nvme, net, staged, net+prefetch or runtime)",
				 modes_arg ? modes_arg : "");
	if (!rc) {
		const char *models[2] = { nvme, want_netsim ? NULL : net };
		rc = runcfg_check_outputs(&cfg, models, 2);
	}
	/* Everything checked before the first run. */
	for (size_t i = 0; i < nm && !rc; i++)
		if (!(want_netsim && modes[i].path == net) && validate_model(modes[i].name, modes[i].path))
			rc = EXIT_FAIL;
	/* staged: a root on the local side, checked before anything runs. */
	char *stage_root_own = NULL;
	for (size_t i = 0; i < nm && !rc; i++) {
		if (strcmp(modes[i].name, "staged"))
			continue;
		if (!stage_root || !*stage_root) {
			if (!nvme) {
				rc = usage_error("mode 'staged' needs --stage-root DIR (or $STAGING_ROOT)");
				break;
			}
			char *parent = fs_parent_dir(nvme);
			stage_root = stage_root_own = path_join(parent, "coldstart-staged");
			free(parent);
		}
		char *rroot = fs_canonical(stage_root);
		for (int k = 0; k < 2 && rroot && !rc; k++) {
			const char *mp = k ? (want_netsim ? NULL : net) : nvme;
			char *rm = mp ? realpath(mp, NULL) : NULL;
			size_t l = rm ? strlen(rm) : 0;
			if (rm && !strncmp(rroot, rm, l) && (rroot[l] == '/' || !rroot[l]))
				rc = usage_error("--stage-root '%s' is inside the model directory '%s': the staged copies would "
						 "become part of the model", stage_root, mp);
			free(rm);
		}
		free(rroot);
		if (rc)
			break;
		if (fs_mkdir_last(stage_root, 0755) < 0) {
			error_errno("cannot create staging root '%s'%s", stage_root,
				    errno == ENOENT ? " (its parent directory does not exist)" : "");
			rc = EXIT_FAIL;
		} else {
			remove_stale_copies(stage_root, cfg.quiet);
		}
	}
	if (!rc && runcfg_check_csv(&cfg))
		rc = EXIT_FAIL;
	const char *base_server = rc ? NULL : runcfg_server(&cfg);
	if (!rc && !base_server)
		rc = EXIT_FAIL;
	/* runtime: the same server without weight I/O. */
	char *rt_server = NULL;
	for (size_t i = 0; i < nm && !rc; i++) {
		if (strcmp(modes[i].name, "runtime"))
			continue;
		if (runtime_server)
			rt_server = xstrdup(runtime_server);
		else if (strstr(base_server, " refserve "))
			rt_server = xasprintf("%s --dummy", base_server);
		else if (!strncmp(base_server, "vllm serve ", 11))
			rt_server = xasprintf("%s --load-format dummy", base_server);
		else
			rc = usage_error("mode 'runtime' needs --runtime-server TEMPLATE: how to start this server without loading weights");
	}
	/* Mounted before the first server starts: the daemon must not become
	 * a descendant of this process once it is a child subreaper. */
	struct bench_netsim ns = { NULL, NULL };
	char *net_note = NULL;
	int uses_net = 0;
	for (size_t i = 0; i < nm; i++)
		uses_net |= modes[i].path == net;
	if (!rc && want_netsim && uses_net) {
		rc = mount_netsim(&ns, nvme, ns_profile, cfg.quiet);
		for (size_t i = 0; i < nm && !rc; i++)
			if (modes[i].path == net)
				modes[i].path = ns.mountpoint;
		if (!rc) {
			net_note = xasprintf("net=netsim:%s", ns_profile);
			if (validate_model("net", ns.mountpoint))
				rc = EXIT_FAIL;
		}
	}
	if (rc) {
		unmount_netsim(&ns);
		free(net_note);
		free(rt_server);
		free(stage_root_own);
		for (size_t i = 0; i < nm; i++) {
			free(modes[i].loads);
			free(modes[i].totals);
			free(modes[i].cold);
		}
		free(list);
		return rc;
	}

	/* The schedule: indices into modes. */
	size_t total = nm * (size_t)repeat;
	size_t *plan = xcalloc(total, sizeof(size_t));
	for (size_t k = 0; k < total; k++)
		plan[k] = !strcmp(order, "grouped") ? k / (size_t)repeat : k % nm;
	if (!strcmp(order, "random")) {
		uint64_t s = seed ? seed : 1;
		for (size_t k = total; k > 1; k--) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			size_t j = (size_t)(s % k);
			size_t tmp = plan[k - 1];
			plan[k - 1] = plan[j];
			plan[j] = tmp;
		}
	}
	/* One model, one name in every row, whichever path a mode reads. */
	char *name = NULL;
	if (!cfg.name && !(getenv("MODEL_NAME") && *getenv("MODEL_NAME"))) {
		name = sc_default_name(nvme ? nvme : modes[0].path);
		cfg.name = name;
	}
	write_meta(cfg.csv, argc, argv, base_server, nvme ? nvme : modes[0].path, &cfg, modes, nm, net_note, stage_root);
	cli_catch_signals();
	json_t *all = cfg.json ? json_array() : NULL;
	int quiet = cfg.quiet;
	cfg.quiet = 1; /* per-run chatter off; one line per run here instead */
	for (size_t k = 0; k < total && !rc; k++) {
		struct mode *m = &modes[plan[k]];
		if (!quiet)
			fprintf(stderr, "coldstart: bench: run %zu/%zu: %s (%s) ...\n", k + 1, total, m->name, m->path);
		struct run_result res;
		json_t *j = NULL;
		int runtime = !strcmp(m->name, "runtime");
		int staged = !strcmp(m->name, "staged");
		int prefetch = !strcmp(m->name, "net+prefetch");
		cfg.server = runtime ? rt_server : base_server;
		const char *path = m->path;
		char *extra = m->path == ns.mountpoint && net_note ? xstrdup(net_note)
			      : runtime ? xstrdup("weights=dummy") : NULL;
		struct sc_result sr;
		memset(&sr, 0, sizeof(sr));
		char *sname = NULL;
		cfg.staged_copy_s = -1;
		int r = 0;
		if (staged) {
			/* A fresh name each run: the copy is timed from scratch. */
			sname = xasprintf("%s-bench-%ld-%zu", cfg.name ? cfg.name : "model", (long)getpid(), k + 1);
			r = stage_for_run(stage_root, m->path, sname, (int)stage_jobs, stage_direct, quiet, &sr);
			if (!r) {
				path = sr.path;
				cfg.staged_copy_s = sr.seconds;
				char *e = xasprintf("%s%sstaged_bytes=%llu; staged_cache=%s; stage_jobs=%ld%s", extra ? extra : "",
						    extra ? "; " : "", (unsigned long long)sr.bytes,
						    staged_warm ? "warm" : "cold", stage_jobs, stage_direct ? "; stage_direct=yes" : "");
				free(extra);
				extra = e;
			}
		}
		enum cold_mode saved_cold = cfg.cold;
		if (staged && staged_warm)
			cfg.cold = COLD_NONE;
		int saved_prefetch = cfg.prefetch;
		if (prefetch && !cfg.prefetch)
			cfg.prefetch = 8;
		if (!r)
			r = runcfg_execute(&cfg, path, m->name, extra, &res, all ? &j : NULL);
		else
			memset(&res, 0, sizeof(res));
		cfg.cold = saved_cold;
		cfg.prefetch = saved_prefetch;
		if (sname) {
			struct cs_err se;
			if (sr.path && sc_remove(stage_root, sname, &se))
				warning("cannot remove the staged copy: %s", se.msg);
			free(sname);
		}
		free(extra);
		if (all && j)
			json_array_append_new(all, j);
		if (r == 0) {
			m->totals[m->n] = cfg.staged_copy_s >= 0 ? cfg.staged_copy_s + res.load_s : res.load_s;
			m->cold[m->n] = res.cold;
			m->loads[m->n++] = res.load_s;
			if (!quiet)
				fprintf(stderr, "coldstart: bench: run %zu/%zu: %s ready in %.3fs%s\n", k + 1, total,
					m->name, res.load_s, res.cold > 0 ? "" : res.cold < 0 ? " (cold unverified)" : " (NOT cold)");
		} else {
			rc = r;
		}
		run_result_free(&res);
		sc_result_free(&sr);
	}
	if (!quiet || rc == 0)
		summary(modes, nm);
	if (all)
		print_json(all);
	if (!quiet && rc == 0)
		fprintf(stderr, "\ncoldstart: bench: %zu rows appended to '%s'\n", total, cfg.csv);
	if (ns.mountpoint)
		record_netsim(cfg.csv, ns.mountpoint, quiet);
	if (rc == 0 && report_write(cfg.csv, NULL, NULL, NULL, cfg.name, NULL, 0, quiet))
		rc = EXIT_FAIL;
	for (size_t i = 0; i < nm; i++) {
		free(modes[i].loads);
		free(modes[i].totals);
		free(modes[i].cold);
	}
	free(stage_root_own);
	unmount_netsim(&ns);
	free(net_note);
	free(rt_server);
	free(plan);
	free(list);
	free(name);
	return rc;
}
