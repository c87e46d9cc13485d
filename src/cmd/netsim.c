#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cli.h"
#include "../opts.h"
#include "core/netsim/netsim.h"
#include "core/base/util.h"
#include "cmds.h"
#include "core/base/banned.h"

static const char usage_text[] =
	"usage: coldstart netsim SRC MOUNTPOINT [--profile NAME] [--bw RATE] [--latency DUR]\n"
	"                        [--max-inflight N] [--max-read SIZE] [--foreground]\n"
	"       coldstart netsim --unmount MOUNTPOINT\n"
	"       coldstart netsim --stats MOUNTPOINT [--json]\n"
	"\n"
	"Mount a read-only FUSE view of SRC at MOUNTPOINT that behaves like a\n"
	"network file system: reads share one link of --bw bytes/s, each read\n"
	"request pays --latency (concurrently with the others), at most\n"
	"--max-inflight requests are served at once, and the kernel asks for at\n"
	"most --max-read bytes per request. The kernel caches file data as an NFS\n"
	"client does, so 'coldstart pages evict' makes it cold again. Returns once\n"
	"the mount is ready; the daemon serves until unmounted or sent SIGTERM.\n";

static const char *profile_name(size_t i)
{
	return netsim_profile_at(i)->name;
}

static const char *profile_source(size_t i)
{
	return netsim_profile_at(i)->source;
}

static const struct opts_list profiles = { "Profiles", netsim_nprofiles, profile_name, profile_source, 13 };
static const struct opts_help help = {
	usage_text,
	"Examples:\n"
	"  coldstart netsim ./m ./net --profile nfs-10g\n"
	"  coldstart netsim ./m ./net --bw 500MB/s --latency 2ms --max-inflight 8\n"
	"  coldstart netsim --stats /mnt/fake-nfs\n"
	"  coldstart netsim --unmount /mnt/fake-nfs\n",
	&profiles,
};

static int profile_cb(const struct opt *o, const char *arg)
{
	if (!netsim_profile(arg))
		return usage_error("unknown profile '%s' (see 'coldstart netsim --help')", arg);
	*(const char **)o->value = arg;
	return 0;
}

static int owner_cb(const struct opt *o, const char *arg)
{
	long pid;
	if (parse_int_range(arg, 1, 0x7fffffff, &pid) || kill((pid_t)pid, 0) < 0)
		return usage_error("invalid --exit-with '%s' (the pid of a running process)", arg);
	*(long *)o->value = pid;
	return 0;
}

static int print_stats(const char *mp, int json)
{
	struct cs_err err;
	char *s = netsim_stats(mp, &err);
	if (!s)
		return error("%s", err.msg);
	if (json) {
		printf("%s\n", s);
		free(s);
		return 0;
	}
	json_error_t je;
	json_t *j = json_loads(s, 0, &je);
	free(s);
	if (!j)
		return error("cannot parse the statistics of '%s'", mp);
	char a[32], b[32], c[32];
	double secs = json_real_value(json_object_get(j, "seconds"));
	uint64_t bytes = (uint64_t)json_integer_value(json_object_get(j, "bytes"));
	uint64_t bw = (uint64_t)json_integer_value(json_object_get(j, "bw_bytes_per_s"));
	printf("netsim %s over %s (pid %lld)\n", json_string_value(json_object_get(j, "profile")),
	       json_string_value(json_object_get(j, "src")), (long long)json_integer_value(json_object_get(j, "pid")));
	char bwtxt[48] = "unlimited";
	if (bw)
		snprintf(bwtxt, sizeof(bwtxt), "%s/s", fmt_bytes(a, sizeof(a), bw));
	long long mi = (long long)json_integer_value(json_object_get(j, "max_inflight"));
	char inflight[32] = "unlimited";
	if (mi)
		snprintf(inflight, sizeof(inflight), "%lld", mi);
	printf("limits:        bw %s, latency %.3f ms, %s in flight, max read %s, readahead %s\n",
	       bwtxt,
	       (double)json_integer_value(json_object_get(j, "latency_ns")) / 1e6, inflight,
	       fmt_bytes(b, sizeof(b), (uint64_t)json_integer_value(json_object_get(j, "max_read"))),
	       json_integer_value(json_object_get(j, "readahead"))
		       ? fmt_bytes(c, sizeof(c), (uint64_t)json_integer_value(json_object_get(j, "readahead")))
		       : "kernel default");
	printf("served:        %s in %lld read requests over %.1fs\n", fmt_bytes(a, sizeof(a), bytes),
	       (long long)json_integer_value(json_object_get(j, "reads")), secs);
	double busy = json_number_value(json_object_get(j, "busy_s"));
	double got = json_number_value(json_object_get(j, "delivered_bytes_per_s"));
	json_t *cpu = json_object_get(j, "machine_cpu_busy_pct");
	char cpubuf[64] = "";
	if (json_is_number(cpu))
		snprintf(cpubuf, sizeof(cpubuf), ", CPUs %.0f%% busy meanwhile", json_number_value(cpu));
	printf("delivered:     %s/s while busy (%.1fs with requests in flight)%s%s%s\n",
	       fmt_bytes(a, sizeof(a), (uint64_t)got), busy, bw ? "; profile " : "",
	       bw ? fmt_bytes(b, sizeof(b), bw) : "", bw ? "/s" : "");
	if (*cpubuf)
		printf("               %s\n", cpubuf + 2);
	printf("peak in flight: %lld\n", (long long)json_integer_value(json_object_get(j, "peak_inflight")));
	printf("throttled:     %.2fs queued for bandwidth, %.2fs waiting for a slot\n",
	       json_real_value(json_object_get(j, "throttled_s")), json_real_value(json_object_get(j, "slot_wait_s")));
	printf("request sizes:\n");
	json_t *h = json_object_get(j, "size_histogram");
	for (size_t i = 0; i < json_array_size(h); i++) {
		json_t *e = json_array_get(h, i);
		long long n = (long long)json_integer_value(json_object_get(e, "reads"));
		if (!n)
			continue;
		uint64_t lo = (uint64_t)json_integer_value(json_object_get(e, "min_bytes"));
		printf("  >= %-10s %lld\n", fmt_bytes(a, sizeof(a), lo), n);
	}
	int cpu_bound = 0;
	char *note = netsim_limit_note(j, &cpu_bound);
	if (note && cpu_bound)
		warning("%s", note);
	else if (note)
		printf("note:          %s\n", note);
	free(note);
	json_decref(j);
	return 0;
}

/* Wait for the daemon's "mounted" byte (or its error), bounded. */
static int wait_ready(int fd, const char *mp)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[1100];
	ssize_t n = 0;
	if (poll(&p, 1, 15000) == 1)
		n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return error("the netsim daemon for '%s' exited or hung before mounting", mp);
	buf[n] = '\0';
	if (buf[0] != 'R')
		return error("%s", buf + 1);
	return 0;
}

/* Run the mount as a daemon (detached, its output to /dev/null); print
 * the mount point once it is ready. */
static int daemonize(struct netsim_opts *o, const char *mp)
{
	struct cs_err err;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return error_errno("cannot create a pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return error_errno("cannot fork");
	if (pid == 0) {
		close(p[0]);
		setsid();
		/* A second fork: the daemon is not a session leader and its
		 * parent exits at once, so it belongs to init, not to us. */
		pid_t d = fork();
		if (d != 0)
			_exit(d < 0 ? 1 : 0);
		if (chdir("/") < 0) {
		}
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			if (nul > 2)
				close(nul);
		}
		o->ready_fd = p[1];
		_exit(netsim_run(o, &err) ? 1 : 0);
	}
	close(p[1]);
	int rc = wait_ready(p[0], mp);
	waitpid(pid, NULL, 0);
	if (rc)
		return rc;
	printf("%s\n", o->mountpoint);
	return 0;
}

int cmd_netsim(int argc, char **argv)
{
	const char *profile = NULL;
	uint64_t bw = 0, lat = 0, maxread = 0, ra = 0;
	long inflight = -1, owner = 0;
	int have_bw = 0, have_lat = 0, have_mr = 0, fg = 0, unmount = 0, stats = 0, json = 0, first;
	const struct opt opts[] = {
		OPT_CALLBACK_('p', "profile", &profile, "NAME", profile_cb,
			"a preset (below); explicit flags override it"),
		OPT_RATE_(0, "bw", &bw, "RATE", 0, 0, "e.g. 200MB/s, 1GiB",
			"link bandwidth, e.g. 200MB/s, 1GiB (0: unlimited)", .seen = &have_bw),
		OPT_LATENCY_(0, "latency", &lat, "DUR", "give a unit, e.g. 500us, 2ms",
			"added to every read request, with a unit: 500us,\n1ms (a bare number is refused, except 0)", .seen = &have_lat),
		OPT_INT_(0, "max-inflight", &inflight, "N", 0, 4096, "0 to 4096",
			"requests served at once (0: unlimited)"),
		OPT_SIZE_(0, "max-read", &maxread, "SIZE", 4096, 16LL << 20, "4K to 16M",
			"largest read request (default 1M)", .seen = &have_mr),
		OPT_SIZE_(0, "readahead", &ra, "SIZE", 4096, 1LL << 30, "4K to 1G",
			"kernel readahead of the mount (default 128K, what\nLinux NFS clients use since kernel 5.4; 15M models\n"
			"older clients and mounts tuned up; needs root)"),
		OPT_FLAG_('f', "foreground", &fg, "do not daemonize"),
		OPT_FLAG_(0, "unmount", &unmount, "unmount MOUNTPOINT (also one whose daemon died)"),
		OPT_FLAG_(0, "stats", &stats,
			"bytes, requests, request sizes, peak in flight, time\nthrottled, and the rate the mount delivered while\n"
			"busy next to the profile's (with a warning when\nthe CPUs, not the simulated link, were the limit)"),
		OPT_CALLBACK_(0, "exit-with", &owner, "PID", owner_cb,
			"unmount, remove the mount point and exit once\nprocess PID is gone (bench uses it, so a killed\n"
			"bench leaves no mount behind)"),
		OPT_FLAG_(0, "json", &json, "with --stats: JSON"),
		OPT_END_(),
	};
	int prc = opts_parse(opts, &help, argc, argv, &first);
	if (prc)
		return opts_exit(prc);
	int nargs = argc - optind;
	struct cs_err err;
	if (unmount || stats) {
		if (unmount && stats)
			return usage_error("--unmount and --stats do not go together");
		if (nargs != 1)
			return usage_error("%s takes one MOUNTPOINT", unmount ? "--unmount" : "--stats");
		if (stats)
			return print_stats(argv[optind], json);
		if (netsim_unmount(argv[optind], &err))
			return error("%s", err.msg);
		return 0;
	}
	if (nargs != 2)
		return usage_error(nargs < 2 ? "missing SRC and MOUNTPOINT" : "unexpected argument '%s'", argv[optind + 2]);
	const char *src = argv[optind], *mp = argv[optind + 1];
	const struct netsim_profile *pr = netsim_profile(profile ? profile : "none");
	struct netsim_opts o = {
		.src = src, .profile = profile ? profile : (have_bw || have_lat || inflight >= 0 ? "custom" : "none"),
		.bw = have_bw ? bw : pr->bw, .latency_ns = have_lat ? lat : pr->latency_ns,
		.max_inflight = inflight >= 0 ? (unsigned)inflight : pr->max_inflight,
		.max_read = have_mr ? maxread : pr->max_read, .readahead = ra, .ready_fd = -1,
		.owner_pid = (pid_t)owner, .rmdir_when_owner_gone = owner > 0,
	};
	if (netsim_check(src, mp, &err))
		return error("%s", err.msg);
	char mpabs[PATH_MAX], srcabs[PATH_MAX];
	if (!realpath(mp, mpabs))
		return error_errno("cannot resolve '%s'", mp);
	if (!realpath(src, srcabs))
		return error_errno("cannot resolve '%s'", src);
	o.mountpoint = mpabs;
	o.src = srcabs;
	if (fg)
		return netsim_run(&o, &err) ? error("%s", err.msg) : 0;
	return daemonize(&o, mp);
}
