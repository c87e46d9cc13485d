#define _GNU_SOURCE
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include "netsim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/io/shaper.h"
#include "core/base/banned.h"

#define MB 1000000ULL
#define MIB (1ULL << 20)

/* Profiles. Link rates are what a client sees after protocol overhead. */
static const struct netsim_profile profiles[] = {
	{ "nfs-1g", 117 * MB, 500000, 16, MIB,
	  "NFSv4 over 1 GbE: ~117 MB/s of payload, ~0.5 ms per request, 16 RPC slots, rsize=1M" },
	{ "nfs-10g", 1170 * MB, 200000, 64, MIB,
	  "NFSv4 over 10 GbE: ~1.17 GB/s of payload, ~0.2 ms per request, 64 slots (nconnect), rsize=1M" },
	{ "efs-elastic", 1500 * MIB, 1000000, 64, MIB,
	  "Amazon EFS Elastic throughput: 1,500 MiB/s per client read, ~1 ms read latency (AWS docs)" },
	{ "efs-bursting", 500 * MIB, 1000000, 64, MIB,
	  "Amazon EFS Bursting/Provisioned: 500 MiB/s per client read, ~1 ms read latency (AWS docs)" },
	/* A general-purpose shared cloud file system: Google Filestore Basic
	 * HDD (1-10 TiB) is documented at 100 MiB/s read and 600 read IOPS
	 * (cloud.google.com/filestore/docs/performance, "Expected
	 * performance"), and Amazon EFS in Bursting mode lets every file
	 * system, whatever its size, burst to 100 MiB/s (AWS knowledge
	 * center, "efs-choosing-correct-throughput-mode"). Neither page gives a per-request latency for
	 * this tier: 2 ms is our assumption for HDD-backed NFS (EFS gives
	 * "as low as 250 us" reads on its SSD-backed storage). 16 slots:
	 * the Linux NFS client's RPC slot table without nconnect. */
	{ "filestore-basic", 100 * MIB, 2000000, 16, MIB,
	  "Google Filestore Basic HDD (1-10 TiB): 100 MiB/s read (Google docs; EFS Bursting's 100 MiB/s too), "
	  "~2 ms per request (assumed), 16 RPC slots, rsize=1M" },
	{ "slow-disk", 160 * MB, 4000000, 4, MIB,
	  "a 7200 rpm SATA disk: ~160 MB/s sequential, ~4 ms per request (seek + rotation), queue of 4" },
	{ "none", 0, 0, 0, MIB, "no limits: the FUSE passthrough alone" },
};

size_t netsim_nprofiles(void)
{
	return sizeof(profiles) / sizeof(profiles[0]);
}

const struct netsim_profile *netsim_profile_at(size_t i)
{
	return i < netsim_nprofiles() ? &profiles[i] : NULL;
}

const struct netsim_profile *netsim_profile(const char *name)
{
	for (size_t i = 0; i < netsim_nprofiles(); i++)
		if (!strcmp(profiles[i].name, name))
			return &profiles[i];
	return NULL;
}

/* ---- the file system ---- */

struct ns {
	char *src;
	const char *profile;
	struct shaper sh;
	uint64_t max_read;
	uint64_t ra_want;      /* readahead asked for, bytes */
	char bdi[64];          /* the mount's backing device info, "" unknown */
	/* The machine's CPU time while requests were in flight, sampled every
	 * 100 ms by the watcher thread (jiffies of /proc/stat): is the
	 * simulator itself, not the simulated link, the limit? */
	pthread_mutex_t cpu_mu;
	uint64_t cpu_busy_total, cpu_busy_idle;
	struct fuse_session *se;
	/* Set by the watcher once the session is ending (SIGTERM, the owner
	 * gone): the shaper's cancel, so a read throttled for long returns and
	 * FUSE's loop, which waits for every request in progress, can end. */
	volatile sig_atomic_t stopping;
};

static struct ns *ctx(void)
{
	return fuse_get_context()->private_data;
}

static char *full(const char *path)
{
	return xasprintf("%s%s", ctx()->src, path);
}

static int ns_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (fi && fi->fh)
		return fstat((int)fi->fh, st) < 0 ? -errno : 0;
	char *p = full(path);
	int r = stat(p, st) < 0 ? -errno : 0; /* follow symlinks: data stays behind the link */
	free(p);
	if (!r)
		st->st_mode &= ~(mode_t)0222;
	return r;
}

static int ns_access(const char *path, int mask)
{
	if (mask & W_OK)
		return -EROFS;
	char *p = full(path);
	int r = access(p, mask) < 0 ? -errno : 0;
	free(p);
	return r;
}

static int ns_opendir(const char *path, struct fuse_file_info *fi)
{
	char *p = full(path);
	DIR *d = opendir(p);
	free(p);
	if (!d)
		return -errno;
	fi->fh = (uint64_t)(uintptr_t)d;
	return 0;
}

static int ns_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	(void)off;
	(void)flags;
	DIR *d = (DIR *)(uintptr_t)fi->fh;
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		memset(&st, 0, sizeof(st));
		st.st_ino = de->d_ino;
		st.st_mode = (mode_t)DTTOIF(de->d_type);
		if (de->d_type == DT_LNK) {
			/* Present what the link points to. */
			char *p = xasprintf("%s%s/%s", ctx()->src, strcmp(path, "/") ? path : "", de->d_name);
			struct stat t;
			if (stat(p, &t) == 0)
				st.st_mode = t.st_mode & S_IFMT;
			free(p);
		}
		if (fill(buf, de->d_name, &st, 0, 0))
			break;
	}
	return 0;
}

static int ns_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	closedir((DIR *)(uintptr_t)fi->fh);
	return 0;
}

static int ns_open(const char *path, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	char *p = full(path);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1; /* like NFS: cached data survives reopening */
	return 0;
}

static int ns_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	struct ns *n = ctx();
	uint64_t done = shaper_begin(&n->sh, size);
	ssize_t got = 0;
	while ((size_t)got < size) {
		ssize_t r = pread((int)fi->fh, buf + got, size - (size_t)got, off + got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			shaper_end(&n->sh, 0);
			return -e;
		}
		if (r == 0)
			break;
		got += r;
	}
	shaper_end(&n->sh, done);
	return (int)got;
}

static int ns_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	close((int)fi->fh);
	return 0;
}

static int ns_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return statvfs(ctx()->src, sv) < 0 ? -errno : 0;
}

/* The mount's readahead as the kernel has it now (bytes; 0 unknown). */
static uint64_t effective_readahead(const struct ns *n)
{
	if (!n->bdi[0])
		return 0;
	char *p = xasprintf("/sys/class/bdi/%s/read_ahead_kb", n->bdi);
	FILE *f = fopen(p, "re");
	free(p);
	unsigned long long kb = 0;
	if (f) {
		if (fscanf(f, "%llu", &kb) != 1)
			kb = 0;
		fclose(f);
	}
	return (uint64_t)kb * 1024;
}

static char *stats_json(struct ns *n)
{
	struct shaper_stats st;
	shaper_snapshot(&n->sh, &st);
	json_t *j = json_object();
	json_object_set_new(j, "src", json_string(n->src));
	json_object_set_new(j, "pid", json_integer(getpid()));
	json_object_set_new(j, "profile", json_string(n->profile ? n->profile : "custom"));
	json_object_set_new(j, "bw_bytes_per_s", json_integer((json_int_t)n->sh.bw));
	json_object_set_new(j, "latency_ns", json_integer((json_int_t)n->sh.latency_ns));
	json_object_set_new(j, "max_inflight", json_integer(n->sh.max_inflight));
	json_object_set_new(j, "max_read", json_integer((json_int_t)n->max_read));
	json_object_set_new(j, "readahead", json_integer((json_int_t)effective_readahead(n)));
	json_object_set_new(j, "seconds", json_real((double)(now_ns() - st.since_ns) / 1e9));
	json_object_set_new(j, "reads", json_integer((json_int_t)st.reads));
	json_object_set_new(j, "bytes", json_integer((json_int_t)st.bytes));
	json_object_set_new(j, "inflight", json_integer(st.inflight));
	json_object_set_new(j, "peak_inflight", json_integer(st.peak_inflight));
	json_object_set_new(j, "throttled_s", json_real((double)st.throttled_ns / 1e9));
	json_object_set_new(j, "slot_wait_s", json_real((double)st.slot_wait_ns / 1e9));
	json_object_set_new(j, "busy_s", json_real((double)st.busy_ns / 1e9));
	json_object_set_new(j, "delivered_bytes_per_s",
			    json_real(st.busy_ns ? (double)st.bytes * 1e9 / (double)st.busy_ns : 0));
	json_object_set_new(j, "late_s", json_real((double)st.late_ns / 1e9));
	struct rusage ru;
	double cpu = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		      (double)ru.ru_stime.tv_usec / 1e6;
	json_object_set_new(j, "daemon_cpu_s", json_real(cpu));
	json_object_set_new(j, "ncpu", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	pthread_mutex_lock(&n->cpu_mu);
	uint64_t tot = n->cpu_busy_total, idle = n->cpu_busy_idle;
	pthread_mutex_unlock(&n->cpu_mu);
	json_object_set_new(j, "machine_cpu_busy_pct",
			    tot ? json_real(100.0 * (double)(tot - idle) / (double)tot) : json_null());
	json_t *h = json_array();
	for (unsigned i = 0; i < SHAPER_HIST; i++) {
		json_t *b = json_object();
		json_object_set_new(b, "min_bytes", json_integer((json_int_t)shaper_bucket_min(i)));
		json_object_set_new(b, "reads", json_integer((json_int_t)st.hist[i]));
		json_array_append_new(h, b);
	}
	json_object_set_new(j, "size_histogram", h);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static int ns_getxattr(const char *path, const char *name, char *value, size_t size)
{
	if (strcmp(path, "/") || strcmp(name, NETSIM_XATTR))
		return -ENODATA;
	char *s = stats_json(ctx());
	size_t len = strlen(s);
	int r = (int)len;
	if (size) {
		if (size < len)
			r = -ERANGE;
		else
			memcpy(value, s, len);
	}
	free(s);
	return r;
}

static int ns_listxattr(const char *path, char *list, size_t size)
{
	(void)path;
	(void)list;
	(void)size;
	return 0;
}

static void *ns_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct ns *n = ctx();
	cfg->kernel_cache = 1;
	cfg->use_ino = 1;
	cfg->entry_timeout = 10;
	cfg->attr_timeout = 10;
	cfg->negative_timeout = 1;
	conn->max_read = (unsigned)n->max_read;   /* must equal the max_read mount option */
	/* The kernel lowers the mount's readahead to this when INIT is
	 * answered, after set_readahead wrote it: let it stand. */
	conn->max_readahead = (unsigned)n->ra_want;
	/* Readahead runs as background requests: let as many be in flight
	 * as the profile allows (the kernel's default is 12). */
	unsigned bg = n->sh.max_inflight ? n->sh.max_inflight : 64;
	conn->max_background = bg < 12 ? 12 : bg;
	conn->congestion_threshold = conn->max_background * 3 / 4;
	return n;
}

static const struct fuse_operations ops = {
	.init = ns_init,
	.getattr = ns_getattr,
	.access = ns_access,
	.opendir = ns_opendir,
	.readdir = ns_readdir,
	.releasedir = ns_releasedir,
	.open = ns_open,
	.read = ns_read,
	.release = ns_release,
	.statfs = ns_statfs,
	.getxattr = ns_getxattr,
	.listxattr = ns_listxattr,
};

/* ---- mount management ---- */

/* Readahead of the mount. Linux NFS clients used 15 x rsize until kernel
 * 5.4 (commit c128e575, "NFS: Optimise the default readahead size"); since
 * then they use the VM default, 128 KiB, unless an admin raises it: that is
 * the default here too, set explicitly so the host's own default does not
 * leak in. Best effort (root). */
static void set_readahead(struct ns *ns, const char *mountpoint, uint64_t bytes)
{
	struct fs_mount m;
	if (!bytes || fs_mount_of(mountpoint, 1, &m))
		return;
	snprintf(ns->bdi, sizeof(ns->bdi), "%s", m.dev);
	char *p = xasprintf("/sys/class/bdi/%s/read_ahead_kb", m.dev);
	char val[32];
	int n = snprintf(val, sizeof(val), "%llu", (unsigned long long)(bytes / 1024));
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	int ok = fd >= 0 && write(fd, val, (size_t)n) == n;
	if (fd >= 0)
		close(fd);
	free(p);
	(void)ok; /* what counts is what the kernel reports: effective_readahead */
}

/* The fstype of the mount whose mount point is exactly path, or NULL. */
static char *mount_fstype(const char *path)
{
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		/* A dead FUSE mount fails realpath with ENOTCONN: match the text. */
		size_t n = strlen(path);
		if (n >= sizeof(real))
			return NULL;
		memcpy(real, path, n + 1);
	}
	struct fs_mount m;
	return fs_mount_of(real, 1, &m) ? NULL : xstrdup(m.fstype);
}

int netsim_check(const char *src, const char *mountpoint, struct cs_err *err)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return cs_fail_errno(err, errno, "cannot access source '%s'", src);
	if (!S_ISDIR(st.st_mode))
		return cs_fail(err, ENOTDIR, "source '%s' is not a directory", src);
	char *fst = mount_fstype(mountpoint);
	if (fst) {
		int rc = cs_fail(err, EBUSY, "'%s' is already a mount point (%s)%s", mountpoint, fst,
				 !strcmp(fst, NETSIM_FSTYPE) ? "; unmount it with 'coldstart netsim --unmount'" : "");
		free(fst);
		return rc;
	}
	if (stat(mountpoint, &st) < 0)
		return cs_fail_errno(err, errno, "mount point '%s' does not exist", mountpoint);
	if (!S_ISDIR(st.st_mode))
		return cs_fail(err, ENOTDIR, "mount point '%s' is not a directory", mountpoint);
	int e = fs_dir_is_empty(mountpoint);
	if (e < 0)
		return cs_fail_errno(err, errno, "cannot read mount point '%s'", mountpoint);
	if (!e)
		return cs_fail(err, ENOTEMPTY, "mount point '%s' is not empty", mountpoint);
	char rs[PATH_MAX], rm[PATH_MAX];
	if (realpath(src, rs) && realpath(mountpoint, rm)) {
		size_t l = strlen(rs);
		if (!strncmp(rs, rm, l) && (rm[l] == '/' || !rm[l] || !strcmp(rs, "/")))
			return cs_fail(err, EINVAL, "mount point '%s' is inside the source '%s': the mount would "
				       "contain itself", mountpoint, src);
	}
	struct stat fst_;
	if (stat("/dev/fuse", &fst_) < 0)
		return cs_fail_errno(err, errno, "FUSE is not available (/dev/fuse)");
	if (!S_ISCHR(fst_.st_mode) || major(fst_.st_rdev) != 10 || minor(fst_.st_rdev) != 229)
		return cs_fail(err, ENODEV, "FUSE is not available (/dev/fuse is not the FUSE device)");
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return cs_fail_errno(err, errno, "FUSE is not available (/dev/fuse)");
	close(fd);
	return 0;
}

static void report_ready(int fd, int code, const char *msg)
{
	if (fd < 0)
		return;
	char buf[1100];
	int n = snprintf(buf, sizeof(buf), "%c%s", code ? 'E' : 'R', msg ? msg : "");
	if (write(fd, buf, (size_t)n) < 0) {
	}
	close(fd);
}

/* Total and idle (idle + iowait) jiffies of all CPUs, from /proc/stat. */
static int cpu_jiffies(uint64_t *total, uint64_t *idle)
{
	FILE *f = fopen("/proc/stat", "re");
	if (!f)
		return -1;
	unsigned long long v[10] = { 0 };
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
		       &v[5], &v[6], &v[7], &v[8], &v[9]);
	fclose(f);
	if (n < 5)
		return -1;
	*total = 0;
	for (int i = 0; i < 8; i++) /* guest time is already in user */
		*total += v[i];
	*idle = v[3] + v[4];
	return 0;
}

struct watch {
	struct ns *n;
	pid_t owner;
	volatile int stop;
	int owner_gone;
};

/*
 * Every 100 ms: sample the machine's CPU time if requests were in flight;
 * with an owner, watch it (pidfd where the kernel has one, else kill(pid, 0))
 * and, once it is gone, stop the daemon as SIGTERM does: unmount, exit.
 */
static void *watcher(void *arg)
{
	struct watch *w = arg;
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, NULL); /* our SIGTERM must reach the FUSE threads */
	int pfd = -1;
#ifdef SYS_pidfd_open
	if (w->owner > 0)
		pfd = (int)syscall(SYS_pidfd_open, w->owner, 0);
#endif
	uint64_t t0 = 0, i0 = 0, busy0 = 0;
	int have = cpu_jiffies(&t0, &i0) == 0;
	while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		int gone = 0;
		if (pfd >= 0) {
			struct pollfd p = { pfd, POLLIN, 0 };
			gone = poll(&p, 1, 100) == 1;
		} else {
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			gone = w->owner > 0 && kill(w->owner, 0) < 0 && errno == ESRCH;
		}
		if (gone) {
			w->owner_gone = 1;
			__atomic_store_n(&w->n->stopping, 1, __ATOMIC_RELAXED);
			kill(getpid(), SIGTERM);
			break;
		}
		if (w->n->se && fuse_session_exited(w->n->se))
			__atomic_store_n(&w->n->stopping, 1, __ATOMIC_RELAXED);
		struct shaper_stats st;
		shaper_snapshot(&w->n->sh, &st);
		uint64_t t1, i1;
		if (have && cpu_jiffies(&t1, &i1) == 0) {
			if (st.busy_ns > busy0 && t1 > t0) {
				pthread_mutex_lock(&w->n->cpu_mu);
				w->n->cpu_busy_total += t1 - t0;
				w->n->cpu_busy_idle += i1 > i0 ? i1 - i0 : 0;
				pthread_mutex_unlock(&w->n->cpu_mu);
			}
			t0 = t1;
			i0 = i1;
		}
		busy0 = st.busy_ns;
	}
	if (pfd >= 0)
		close(pfd);
	return NULL;
}

int netsim_run(const struct netsim_opts *o, struct cs_err *err)
{
	struct ns n;
	memset(&n, 0, sizeof(n));
	char real[PATH_MAX];
	if (!realpath(o->src, real)) {
		int rc = cs_fail_errno(err, errno, "cannot resolve '%s'", o->src);
		report_ready(o->ready_fd, 1, err->msg);
		return rc;
	}
	n.src = xstrdup(real);
	n.profile = o->profile;
	n.max_read = o->max_read ? o->max_read : MIB;
	n.ra_want = o->readahead ? o->readahead : NETSIM_DEFAULT_READAHEAD;
	shaper_init(&n.sh, o->bw, o->latency_ns, o->max_inflight);
	shaper_set_cancel(&n.sh, &n.stopping);
	pthread_mutex_init(&n.cpu_mu, NULL);

	char *optstr = xasprintf("ro,fsname=netsim:%s,subtype=coldstart-netsim,max_read=%llu,default_permissions%s",
				 real, (unsigned long long)n.max_read, geteuid() == 0 ? ",allow_other" : "");
	/* fsname may not contain commas: replace them. */
	for (char *p = optstr + strlen("ro,fsname=netsim:"); *p && strncmp(p, ",subtype", 8); p++)
		if (*p == ',')
			*p = '_';
	char *argv[] = { (char *)"coldstart-netsim", (char *)"-o", optstr, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	int rc = 0;
	struct fuse *f = fuse_new(&args, &ops, sizeof(ops), &n);
	if (!f) {
		rc = cs_fail(err, EINVAL, "cannot set up FUSE (options '%s')", optstr);
		report_ready(o->ready_fd, 1, err->msg);
		goto out;
	}
	if (fuse_mount(f, o->mountpoint) != 0) {
		rc = cs_fail(err, EIO, "cannot mount FUSE on '%s' (see the messages above; as non-root, fusermount3 must be installed)",
			     o->mountpoint);
		report_ready(o->ready_fd, 1, err->msg);
		fuse_destroy(f);
		goto out;
	}
	struct fuse_session *se = fuse_get_session(f);
	n.se = se;
	if (fuse_set_signal_handlers(se) != 0) {
		rc = cs_fail(err, EIO, "cannot install signal handlers");
		report_ready(o->ready_fd, 1, err->msg);
		fuse_unmount(f);
		fuse_destroy(f);
		goto out;
	}
	set_readahead(&n, o->mountpoint, n.ra_want);
	struct watch w = { &n, o->owner_pid, 0, 0 };
	pthread_t wt;
	int have_watch = pthread_create(&wt, NULL, watcher, &w) == 0;
	report_ready(o->ready_fd, 0, NULL);
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	unsigned threads = o->max_inflight ? o->max_inflight + 4 : 68;
	fuse_loop_cfg_set_max_threads(cfg, threads < 16 ? 16 : threads);
	fuse_loop_cfg_set_idle_threads(cfg, threads < 16 ? 16 : threads);
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	int lr = fuse_loop_mt(f, cfg);
	fuse_loop_cfg_destroy(cfg);
	if (have_watch) {
		__atomic_store_n(&w.stop, 1, __ATOMIC_RELAXED);
		pthread_join(wt, NULL);
	}
	fuse_remove_signal_handlers(se);
	fuse_unmount(f);
	fuse_destroy(f);
	/* Mounted for a process that is gone (bench killed): leave no trace. */
	if (w.owner_gone && o->rmdir_when_owner_gone)
		rmdir(o->mountpoint);
	if (lr < 0 && !w.owner_gone)
		rc = cs_fail(err, -lr, "FUSE loop ended with an error");
out:
	fuse_opt_free_args(&args);
	free(optstr);
	shaper_destroy(&n.sh);
	pthread_mutex_destroy(&n.cpu_mu);
	free(n.src);
	return rc;
}

int netsim_unmount(const char *mountpoint, struct cs_err *err)
{
	char *fst = mount_fstype(mountpoint);
	if (!fst)
		return cs_fail(err, EINVAL, "'%s' is not a mount point", mountpoint);
	int ours = !strcmp(fst, NETSIM_FSTYPE);
	free(fst);
	if (!ours)
		return cs_fail(err, EINVAL, "'%s' is not a netsim mount; not touching it", mountpoint);
	if (umount2(mountpoint, 0) == 0)
		return 0;
	int e = errno;
	if (e == EBUSY)
		return cs_fail(err, e, "'%s' is busy: a process still uses it (see: fuser -vm '%s')", mountpoint, mountpoint);
	if (e == EPERM) {
		/* Not root: the setuid helper unmounts our own FUSE mounts. */
		pid_t pid = fork();
		if (pid == 0) {
			execlp("fusermount3", "fusermount3", "-u", "-z", mountpoint, (char *)NULL);
			_exit(127);
		}
		int st = 0;
		if (pid > 0)
			waitpid(pid, &st, 0);
		if (pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			return 0;
		return cs_fail(err, e, "cannot unmount '%s' (not root, and 'fusermount3 -u' failed)", mountpoint);
	}
	/* A dead daemon leaves ENOTCONN; a detached unmount always clears it. */
	if (umount2(mountpoint, MNT_DETACH) == 0)
		return 0;
	return cs_fail_errno(err, errno, "cannot unmount '%s'", mountpoint);
}

char *netsim_stats(const char *mountpoint, struct cs_err *err)
{
	ssize_t n = getxattr(mountpoint, NETSIM_XATTR, NULL, 0);
	if (n < 0) {
		cs_fail_errno(err, errno, "'%s' is not a running netsim mount (no %s)", mountpoint, NETSIM_XATTR);
		return NULL;
	}
	char *buf = xmalloc((size_t)n + 1024);
	n = getxattr(mountpoint, NETSIM_XATTR, buf, (size_t)n + 1023);
	if (n < 0) {
		cs_fail_errno(err, errno, "cannot read the statistics of '%s'", mountpoint);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

char *netsim_limit_note(json_t *st, int *cpu_bound)
{
	*cpu_bound = 0;
	double bw = (double)json_integer_value(json_object_get(st, "bw_bytes_per_s"));
	double got = json_number_value(json_object_get(st, "delivered_bytes_per_s"));
	double busy = json_number_value(json_object_get(st, "busy_s"));
	double late = json_number_value(json_object_get(st, "late_s"));
	double bytes = (double)json_integer_value(json_object_get(st, "bytes"));
	json_t *cpuv = json_object_get(st, "machine_cpu_busy_pct");
	long long ncpu = json_integer_value(json_object_get(st, "ncpu"));
	if (bw <= 0 || busy < 0.2 || bytes < 16.0 * (1 << 20) || got >= 0.8 * bw)
		return NULL;
	char a[32], b[32];
	fmt_bytes(a, sizeof(a), (uint64_t)got);
	fmt_bytes(b, sizeof(b), (uint64_t)bw);
	double pct = 100.0 * got / bw;
	if (json_is_number(cpuv) && json_number_value(cpuv) >= 85.0) {
		*cpu_bound = 1;
		return xasprintf("while serving it delivered %s/s, %.0f%% of the profile's %s/s, with the machine's %lld "
				 "CPU%s %.0f%% busy: the simulator (FUSE, sharing the CPUs with the reader) is the "
				 "limit here, not the simulated network, so net timings are slower than the profile "
				 "alone would make them", a, pct, b, ncpu, ncpu == 1 ? "" : "s", json_number_value(cpuv));
	}
	if (late > 0.25 * busy)
		return xasprintf("while serving it delivered %s/s, %.0f%% of the profile's %s/s: the storage under the "
				 "mount answered later than the profile allows (%.1f s late in %.1f s busy), so it, "
				 "not the simulated network, is the limit", a, pct, b, late, busy);
	return xasprintf("while serving it delivered %s/s, %.0f%% of the profile's %s/s: the readers kept too few "
			 "requests in flight to fill the link (each request pays the profile's latency), as a "
			 "client of a real mount with this readahead would", a, pct, b);
}
