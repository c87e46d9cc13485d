#define _GNU_SOURCE
#include "bench_netsim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/base/strbuf.h"
#include "core/source/httpsrc.h"
#include "core/netsim/netsim.h"
#include "core/base/schema.h"
#include "core/stage/stagecache.h"
#include "core/base/banned.h"

int bench_want_netsim(const char *net, const char *nvme, const char **profile)
{
	if (net && !strncmp(net, "netsim", 6) && (!net[6] || net[6] == ':')) {
		*profile = net[6] == ':' ? net + 7 : "nfs-10g";
		return 1;
	}
	if (!net && nvme) {
		/* No network path at hand: simulate one over the NVMe copy. */
		*profile = "nfs-10g";
		return 1;
	}
	return 0;
}

int bench_set_paths(struct bench *b, const char *nvme, const char *net, const char **profile, char **note,
		    struct cs_err *err)
{
	if (nvme && !*nvme)
		nvme = NULL;
	if (net && !*net)
		net = NULL;
	b->net_pending = bench_want_netsim(net, nvme, profile);
	if (b->net_pending) {
		if (!netsim_profile(*profile))
			return cs_fail(err, EINVAL, "unknown netsim profile '%s' (see 'coldstart netsim --help')", *profile);
		if (!nvme)
			return cs_fail(err, EINVAL,
				       "--net netsim needs the NVMe copy to simulate: --nvme PATH or $MODEL_PATH_NVME");
		net = "netsim";
	}
	b->nvme = nvme;
	b->net = net;
	b->net_remote = sc_remote_kind(net);
	if (b->net_remote) {
		b->net_shown = hs_redact(net); /* s3:// too: no user info or query shown */
		b->net_note = *note = xasprintf(NOTE_NET "=%s", b->net_remote);
	} else if (b->stage_insecure) {
		return cs_fail(err, EINVAL, "--insecure goes with a URL --net (http://, https:// or s3://)");
	}
	return 0;
}

/* exe netsim SRC MP --profile P --exit-with PARENT, daemonized: 0 once mounted. */
static int spawn(const char *exe, const char *src, const char *mp, const char *profile)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		if (nul >= 0)
			dup2(nul, 1);
		/* The daemon unmounts itself if this bench dies without doing it. */
		char owner[32];
		snprintf(owner, sizeof(owner), "%ld", (long)getppid());
		execl(exe, "coldstart", "netsim", src, mp, "--profile", profile, "--exit-with", owner, (char *)NULL);
		_exit(127);
	}
	int st = 0;
	return pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) ? -1 : 0;
}

int bench_netsim_mount(struct bench_netsim *ns, const char *exe, const char *nvme, const char *profile,
		       struct cs_err *err)
{
	struct stat sb;
	int file = stat(nvme, &sb) == 0 && S_ISREG(sb.st_mode);
	char *src = file ? fs_parent_dir(nvme) : xstrdup(nvme);
	const char *td = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/coldstart-netsim-XXXXXX", td && td[0] == '/' ? td : "/tmp");
	int rc = 0;
	if (!mkdtemp(tmpl)) {
		rc = cs_fail_errno(err, errno, "cannot create a mount point in '%s'", td && td[0] == '/' ? td : "/tmp");
		free(tmpl);
		free(src);
		return rc;
	}
	struct cs_err e;
	if (netsim_check(src, tmpl, &e))
		rc = cs_fail(err, e.code, "cannot simulate the network path: %s", e.msg);
	else if (spawn(exe, src, tmpl, profile))
		rc = cs_fail(err, EIO, "cannot mount the simulated network path (netsim %s) on '%s'", profile, tmpl);
	if (rc) {
		rmdir(tmpl);
		free(tmpl);
		free(src);
		return -1;
	}
	ns->mountpoint = tmpl;
	ns->profile = xstrdup(profile);
	ns->src = src;
	ns->model = NULL;
	if (file) {
		char *base = fs_basename(nvme);
		ns->model = path_join(ns->mountpoint, base);
		free(base);
	}
	return 0;
}

int bench_netsim_unmount(struct bench_netsim *ns, struct cs_err *err)
{
	if (!ns->mountpoint)
		return 0;
	int rc = -1;
	/* A server that was just killed may hold files open for a moment. */
	for (int i = 0; i < 50 && (rc = netsim_unmount(ns->mountpoint, err)) && err->code == EBUSY; i++)
		usleep(100000);
	if (!rc)
		rmdir(ns->mountpoint);
	free(ns->mountpoint);
	free(ns->profile);
	free(ns->src);
	free(ns->model);
	ns->mountpoint = ns->profile = ns->src = ns->model = NULL;
	return rc;
}

int bench_use_netsim(struct bench *b, const struct bench_netsim *ns, char **note, struct cs_err *err)
{
	b->net = ns->model ? ns->model : ns->mountpoint;
	b->net_pending = 0;
	b->net_note = *note = xasprintf("net=netsim:%s", ns->profile);
	b->net_is_nvme = 1;
	return bench_check_paths(b, err);
}

int bench_uses_net(const struct bench *b)
{
	int uses = 0;
	for (size_t i = 0; i < b->narms; i++)
		uses |= !!(b->arms[i].mode->flags & MODE_READS_NET);
	return uses;
}

/* Arm a's figures (totals or loads) against arm b's loads. */
static void compare_arms(const struct bench *bn, const struct bench_arm *a, int totals, const struct bench_arm *b,
			 struct rci_cmp *c)
{
	double *va = xcalloc(a->n ? a->n : 1, sizeof(double)), *vb = xcalloc(b->n ? b->n : 1, sizeof(double));
	int ba, bb;
	size_t na = bench_arm_values(a, totals, va, &ba), nb = bench_arm_values(b, 0, vb, &bb);
	int paired = bn->order == BENCH_INTERLEAVE && na == a->n && nb == b->n && na == nb;
	rci_compare(va, na, vb, nb, paired, c);
	free(va);
	free(vb);
}

void bench_summarize(const struct bench *b, struct bench_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->med_nvme = s->med_net = -1;
	s->n = b->narms;
	const struct bench_arm *nvme = NULL, *net = NULL, *staged = NULL;
	for (size_t i = 0; i < b->narms; i++) {
		const struct bench_arm *a = &b->arms[i];
		struct bench_summary_arm *r = &s->arms[i];
		r->arm = a;
		if (!a->n)
			continue;
		r->basis = bench_arm_stats(a, 0, &r->st, &r->left);
		/* The storage ratio within one cache state: the first given. */
		if (a->caches != b->arms[0].caches)
			continue;
		if (!strcmp(a->mode->name, MODE_NVME)) {
			s->med_nvme = r->st.median;
			nvme = a;
		}
		if (!strcmp(a->mode->name, MODE_NET)) {
			s->med_net = r->st.median;
			net = a;
		}
		if (a->mode->flags & MODE_STAGES) {
			size_t left;
			r->staged = 1;
			bench_arm_stats(a, 1, &r->total, &left);
			if (!staged)
				staged = a;
		}
	}
	if ((s->has_net_nvme = s->med_nvme > 0 && s->med_net > 0))
		compare_arms(b, net, 0, nvme, &s->net_nvme);
	s->staged_arm = staged;
	if ((s->has_staged_net = staged && s->med_net > 0))
		compare_arms(b, staged, 1, net, &s->staged_net);
}

static int narrow(const struct rci_cmp *c, double base, double pct)
{
	return c->diff_ci.ok && (c->diff_ci.hi - c->diff_ci.lo) / 2 <= pct / 100 * base;
}

int bench_confident(const struct bench_summary *s, double pct)
{
	if (!s->has_net_nvme && !s->has_staged_net)
		return -1;
	return (!s->has_net_nvme || narrow(&s->net_nvme, s->med_nvme, pct)) &&
	       (!s->has_staged_net || narrow(&s->staged_net, s->med_net, pct));
}

/* --until-confident: is another round wanted? Sets b->stop when not. */
static int want_round(struct bench *b, double pct)
{
	size_t cap = bench_max_repeat(b);
	struct bench_summary s;
	bench_summarize(b, &s);
	int c = bench_confident(&s, pct);
	if (c)
		b->stop = c < 0 ? BENCH_STOP_NONE : BENCH_STOP_WIDTH;
	else if (b->rounds >= cap)
		b->stop = BENCH_STOP_CAP;
	return !c && b->rounds < cap;
}

int bench_run_until(struct bench *b, struct cs_err *err)
{
	double pct = b->confidence_pct ? b->confidence_pct : BENCH_CONFIDENCE_PCT_DEFAULT;
	int rc = bench_run(b, err);
	while (!rc && b->until_confident && want_round(b, pct)) {
		cs_say(b->cb.progress, b->cb.arg, "round %zu: an interval is still wider than %g %% of its median",
		       b->rounds + 1, pct);
		rc = bench_run_round(b, err);
	}
	if (rc && b->until_confident)
		b->stop = BENCH_STOP_FAILED;
	return rc;
}

/* A comparison's interval and, within noise, what that means (the
 * report's words, as plain text). */
static void add_ci(struct strbuf *sb, const struct rci_cmp *c, int ratio, const char *what)
{
	size_t n = c->na < c->nb ? c->na : c->nb;
	if (!c->diff_ci.ok) {
		strbuf_addf(sb, "\n  no interval: n/a, %zu run%s", n, n == 1 ? "" : "s");
		return;
	}
	strbuf_addf(sb, "\n  95 %% interval: ");
	if (ratio && c->ratio_ci.ok)
		strbuf_addf(sb, "%.2fx to %.2fx, ", c->ratio_ci.lo, c->ratio_ci.hi);
	strbuf_addf(sb, "%+.3f to %+.3f s (%s)", c->diff_ci.lo, c->diff_ci.hi,
		    c->paired ? "paired by round" : "modes resampled independently");
	if (!c->noise)
		return;
	strbuf_addf(sb, "\n  within noise: the interval includes 0 s (1.0x), so these runs do not tell %s apart", what);
	if (c->runs_needed > 0)
		strbuf_addf(sb, "; about %lld rounds per mode would resolve a difference of this size at this spread (%zu now)",
			    c->runs_needed, c->na > c->nb ? c->na : c->nb);
	else if (c->diff == 0)
		strbuf_addf(sb, "; their medians are equal");
}

/* --until-confident: how many rounds, and why no more. */
static void add_rounds(struct strbuf *sb, const struct bench *b)
{
	double pct = b->confidence_pct ? b->confidence_pct : BENCH_CONFIDENCE_PCT_DEFAULT;
	strbuf_addf(sb, "\nuntil confident: %zu round%s (%zu planned): ", b->rounds, b->rounds == 1 ? "" : "s",
		    b->repeat);
	if (b->stop == BENCH_STOP_WIDTH)
		strbuf_addf(sb, "stopped by width, every interval within %g %% of its median\n", pct);
	else if (b->stop == BENCH_STOP_CAP)
		strbuf_addf(sb, "stopped by the cap of %zu rounds (--max-repeat), an interval still wider than %g %% of its median\n",
			    bench_max_repeat(b), pct);
	else if (b->stop == BENCH_STOP_FAILED)
		strbuf_addf(sb, "stopped: a run failed or the bench was cancelled\n");
	else
		strbuf_addf(sb, "stopped: no comparison of net vs nvme or staged vs net to narrow\n");
}

char *bench_summary_text(const struct bench *b)
{
	struct bench_summary s;
	struct strbuf sb = STRBUF_INIT;
	bench_summarize(b, &s);
	strbuf_addf(&sb, "\n%-20s %5s %10s %10s %10s  %s\n", "mode", "runs", "median_s", "min_s", "max_s", "from");
	for (size_t i = 0; i < s.n; i++) {
		const struct bench_summary_arm *r = &s.arms[i];
		if (!r->arm->n) {
			strbuf_addf(&sb, "%-20s %5d %10s %10s %10s\n", r->arm->label, 0, "-", "-", "-");
			continue;
		}
		strbuf_addf(&sb, "%-20s %5zu %10.3f %10.3f %10.3f  %s%s\n", r->arm->label, r->st.n, r->st.median,
			    r->st.min, r->st.max, r->basis == 1 ? "cold runs" : r->basis == -1 ? "runs NOT verified cold"
								: "warm runs only (NOT cold)", r->left ? " (others left out)" : "");
	}
	for (size_t i = 0; i < s.n; i++) {
		if (!s.arms[i].staged)
			continue;
		double med = s.arms[i].total.median;
		strbuf_addf(&sb, "staged total (copy + load): median %.3f s", med);
		if (s.med_net > 0)
			strbuf_addf(&sb, " = %.2fx net's median load (%+.3f s)", med / s.med_net, med - s.med_net);
		if (s.has_staged_net && s.arms[i].arm == s.staged_arm)
			add_ci(&sb, &s.staged_net, 0, "staging and starting from the network path");
		strbuf_addch(&sb, '\n');
	}
	if (s.has_net_nvme) {
		strbuf_addf(&sb, "\nnet/nvme: %.2fx the median load time (%+.3f s)", s.med_net / s.med_nvme,
			    s.med_net - s.med_nvme);
		add_ci(&sb, &s.net_nvme, 1, "the network path and NVMe");
		strbuf_addch(&sb, '\n');
	}
	if (b->until_confident && b->rounds)
		add_rounds(&sb, b);
	return strbuf_detach(&sb);
}
