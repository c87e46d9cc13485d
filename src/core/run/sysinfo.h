#ifndef CS_SYSINFO_H
#define CS_SYSINFO_H
/*
 * sysinfo: what a measurement ran on, for reports.
 *
 * si_host_json: GPU (name, memory, driver via NVML; absent when none), OS,
 * kernel, CPU model and cores, RAM.
 * si_path_json: for a path, the mount it lives on (mount point, file system
 * type, source), the block device behind it and its model, a kind
 * ("NVMe SSD", "SSD", "HDD", "virtual disk", "network (nfs4)",
 * "FUSE (fuse.sshfs)", "RAM (tmpfs)", ...), and the file system's size and
 * free space.
 *
 * Both return new JSON objects (caller owns); fields that cannot be found
 * are left out. Nothing prints; not thread-safe (NVML).
 */
#include <jansson.h>

json_t *si_host_json(void);
/* The node this runs on, as a fleet names it: $COLDSTART_NODE, else
 * Kubernetes' $NODE_NAME (the downward API's spec.nodeName, by convention),
 * else Slurm's $SLURMD_NODENAME, else the hostname. malloc'd. */
char *si_node_name(void);
json_t *si_path_json(const char *path);

/* The storage kind of a file system type and block device name (exposed
 * for tests): rotational < 0 when unknown. Returns a static string. */
const char *si_kind(const char *fstype, const char *disk, int rotational);

#endif
