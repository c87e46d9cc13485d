#ifndef CS_BENCH_NETSIM_H
#define CS_BENCH_NETSIM_H
/*
 * bench_netsim: the parts of a bench around its runs -- the simulated
 * network path it mounts for itself, and the summary of its modes.
 *
 * The simulated path is this program's own `netsim` command (exe, e.g.
 * "/proc/self/exe") mounted over the NVMe copy on a fresh
 * $TMPDIR/coldstart-netsim-XXXXXX (an absolute $TMPDIR, else /tmp): it
 * daemonizes (its stdout to /dev/null) and watches the bench's process (--exit-with), so a bench killed
 * without unmounting leaves no mount behind. Mount it before the first
 * server starts: the daemon must not become a descendant of a child
 * subreaper.
 *
 * Nothing prints; errors are -1 with err filled. Not thread-safe (it
 * forks).
 */
#include <stddef.h>

#include "bench.h"
#include "core/report/report.h"
#include "core/report/report_ci.h"

/* --net netsim[:PROFILE], or no net path at all beside an NVMe one (then
 * netsim over the NVMe copy): 1 with *profile (default nfs-10g) set, else 0. */
int bench_want_netsim(const char *net, const char *nvme, const char **profile);

/* --nvme and --net (NULL or "" for none) into b: a path, a simulated
 * path to mount later (b->net_pending, *profile set), or a URL (b->net_remote,
 * b->net_shown; *note "net=s3" etc., the caller frees it after b). EINVAL
 * for an unknown profile, netsim without an NVMe copy, stage_insecure
 * without a URL. */
int bench_set_paths(struct bench *b, const char *nvme, const char *net, const char **profile, char **note,
		    struct cs_err *err);

struct bench_netsim {
	char *mountpoint;
	char *profile;
	char *src;         /* the directory simulated */
	char *model;       /* the model's path under the mount point (a one-file model), else NULL */
};

/* Mount netsim PROFILE over nvme (a directory, or the directory a
 * one-file model lies in). */
int bench_netsim_mount(struct bench_netsim *ns, const char *exe, const char *nvme, const char *profile,
		       struct cs_err *err);
/* Unmount (retried for a moment while a killed server's files are still
 * open), remove the mount point, free ns (also when unmounting failed:
 * -1, err says why). Nothing mounted: 0. */
int bench_netsim_unmount(struct bench_netsim *ns, struct cs_err *err);

/* After bench_netsim_mount: the bench's net is the simulated path (the
 * same files as nvme), noted "net=netsim:PROFILE" (*note, the caller
 * frees it after b), checked as bench_check_paths does. */
int bench_use_netsim(struct bench *b, const struct bench_netsim *ns, char **note, struct cs_err *err);
/* 1 when some arm's mode reads the net path. */
int bench_uses_net(const struct bench *b);

/* The summary bench prints: per arm its statistics on the report's basis,
 * the staged totals and the net / nvme ratio of the first cache state,
 * each comparison with report_ci's 95 % interval (paired by round when
 * the order interleaves and no run of either mode is left out). */
struct bench_summary_arm {
	const struct bench_arm *arm;
	struct rp_stats st;           /* n 0: no runs */
	int basis;                    /* bench_arm_stats' class */
	size_t left;                  /* runs of the other classes left out */
	int staged;                   /* a staging mode of the first cache state: total set */
	struct rp_stats total;        /* copy + load */
};

struct bench_summary {
	size_t n;
	struct bench_summary_arm arms[BENCH_MAX_ARMS];
	double med_nvme, med_net;     /* the first cache state's medians; -1: none */
	int has_net_nvme, has_staged_net;
	struct rci_cmp net_nvme;      /* net's load against nvme's */
	struct rci_cmp staged_net;    /* staged_arm's copy + load against net's load */
	const struct bench_arm *staged_arm; /* the first cache state's first staging arm, or NULL */
};

void bench_summarize(const struct bench *b, struct bench_summary *s);
/* The headline comparisons of s (net vs nvme, staged vs net) narrow
 * enough: each has an interval whose half-width is at most pct % of its
 * baseline's median (nvme's, net's): 1; one is wider or has no interval
 * yet: 0; s has neither comparison: -1. */
int bench_confident(const struct bench_summary *s, double pct);

/* bench_run, then with b->until_confident bench_run_round while
 * bench_confident says 0 and fewer than bench_max_repeat rounds have run
 * (each announced through cb.progress); b->stop says why it ended. As
 * bench_run returns. */
int bench_run_until(struct bench *b, struct cs_err *err);
/* bench_summarize as the table bench prints (lines ending in '\n', the
 * first one blank); malloc'd. */
char *bench_summary_text(const struct bench *b);

#endif
