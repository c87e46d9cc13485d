#ifndef CS_NETSIM_H
#define CS_NETSIM_H
/*
 * netsim: a read-only FUSE passthrough over a local directory that behaves
 * like a network file system: a shared bandwidth limit, a per-request
 * latency, a limit on requests in flight (see shaper.h), and a maximum read
 * request size, with NFS-like readahead (15 x max_read). File data is cached by the kernel as an NFS client caches it
 * (kept across opens, dropped by posix_fadvise DONTNEED or drop_caches).
 * Symlinks are followed inside the daemon, so every byte read through the
 * mount crosses the simulated link (Hugging Face cache snapshots are
 * symlinks into ../../blobs).
 *
 * Statistics are read through the extended attribute NETSIM_XATTR of the
 * mount's root: a JSON object (no file is added to the tree).
 *
 * netsim_run mounts and serves until unmounted or signalled (SIGTERM,
 * SIGINT, SIGHUP: clean unmount), or, with owner_pid, until that process is
 * gone (bench passes its own pid, so a bench killed with SIGKILL leaves no
 * mount behind). The statistics also say how busy the machine's CPUs were
 * while requests were in flight, so a simulator starved of CPU is told
 * apart from the simulated link (netsim_limit_note). With ready_fd >= 0 it writes one byte (0
 * = mounted) or an errno-sized code and message to it once the mount is
 * visible or has failed, so a parent can wait for "mounted".
 */
/* Mount readahead by default: what Linux NFS clients use since kernel 5.4. */
#define NETSIM_DEFAULT_READAHEAD (128u << 10)

#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "core/base/util.h"

#define NETSIM_XATTR "user.coldstart.netsim.stats"
#define NETSIM_FSTYPE "fuse.coldstart-netsim"

struct netsim_profile {
	const char *name;
	uint64_t bw;            /* bytes/s, 0 = unlimited */
	uint64_t latency_ns;
	unsigned max_inflight;
	uint64_t max_read;      /* bytes per read request */
	const char *source;     /* where the numbers come from */
};

size_t netsim_nprofiles(void);
const struct netsim_profile *netsim_profile_at(size_t i);
const struct netsim_profile *netsim_profile(const char *name);

struct netsim_opts {
	const char *src;
	const char *mountpoint;
	const char *profile;    /* name, for stats and fsname */
	uint64_t bw, latency_ns, max_read;
	uint64_t readahead;     /* bytes; 0 = 15 x max_read, as an NFS client */
	unsigned max_inflight;
	int ready_fd;
	pid_t owner_pid;        /* > 0: unmount and exit once this process is gone */
	int rmdir_when_owner_gone; /* and then remove the (empty) mount point */
};

/* Check SRC and MOUNTPOINT (exist, directory, empty, not mounted, FUSE
 * available) before anything else. */
int netsim_check(const char *src, const char *mountpoint, struct cs_err *err);
int netsim_run(const struct netsim_opts *o, struct cs_err *err);

/* Unmount (also a mount whose daemon died). */
int netsim_unmount(const char *mountpoint, struct cs_err *err);
/* The stats JSON text of a mounted netsim (malloc'd). */
char *netsim_stats(const char *mountpoint, struct cs_err *err);

/* From a stats object: when the mount delivered clearly less than its
 * profile's link while busy (enough data to tell), a sentence that says so
 * and why -- the machine's CPUs (*cpu_bound = 1: the simulator is the
 * limit), the storage under the mount, or readers that keep too few
 * requests in flight; NULL otherwise. malloc'd. */
char *netsim_limit_note(json_t *stats, int *cpu_bound);

#endif
