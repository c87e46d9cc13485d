#define _GNU_SOURCE
#include "sysinfo.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "gpu.h"
#include "core/base/util.h"
#include "core/base/banned.h"

/* First line of a small file, trailing space trimmed; NULL if unreadable. */
static char *read_line(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char buf[512];
	char *r = fgets(buf, sizeof(buf), f) ? xstrdup(buf) : NULL;
	fclose(f);
	if (r) {
		size_t n = strlen(r);
		while (n && isspace((unsigned char)r[n - 1]))
			r[--n] = 0;
		if (!n) {
			free(r);
			r = NULL;
		}
	}
	return r;
}

static void set_str(json_t *o, const char *k, char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
	free(v);
}

json_t *si_host_json(void)
{
	json_t *h = json_object();
	set_str(h, "os", fs_file_value("/etc/os-release", "PRETTY_NAME", '='));
	struct utsname u;
	if (uname(&u) == 0) {
		json_object_set_new(h, "kernel", json_string(u.release));
		json_object_set_new(h, "arch", json_string(u.machine));
		json_object_set_new(h, "hostname", json_string(u.nodename));
	}
	set_str(h, "cpu", fs_file_value("/proc/cpuinfo", "model name", ':'));
	json_object_set_new(h, "cores", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	char *mem = fs_file_value("/proc/meminfo", "MemTotal", ':');
	if (mem)
		json_object_set_new(h, "ram_bytes", json_integer((json_int_t)strtoull(mem, NULL, 10) * 1024));
	free(mem);
	if (gpu_available() && gpu_count() > 0) {
		json_t *gs = json_array();
		for (unsigned i = 0; i < gpu_count(); i++) {
			struct gpu_info g;
			if (gpu_device(i, &g) == 0)
				json_array_append_new(gs, json_pack("{s:s, s:I}", "name", g.name, "memory_bytes",
								    (json_int_t)g.total));
		}
		json_object_set_new(h, "gpus", gs);
		const char *d = gpu_driver_version();
		if (d)
			json_object_set_new(h, "gpu_driver", json_string(d));
	}
	return h;
}

const char *si_kind(const char *fstype, const char *disk, int rotational)
{
	static const char *net[] = { "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre",
				     "beegfs", "gpfs", "wekafs", "9p", "afs", "ocfs2", "gfs2", "orangefs" };
	if (!fstype)
		return "unknown";
	for (size_t i = 0; i < sizeof(net) / sizeof(*net); i++)
		if (!strcmp(fstype, net[i]))
			return "network";
	if (!strncmp(fstype, "fuse", 4))
		return "FUSE";
	if (!strcmp(fstype, "tmpfs") || !strcmp(fstype, "ramfs"))
		return "RAM";
	if (!strcmp(fstype, "overlay"))
		return "overlay";
	if (!strcmp(fstype, "virtiofs"))
		return "host share (virtiofs)";
	if (!disk)
		return "unknown";
	if (!strncmp(disk, "nvme", 4))
		return "NVMe SSD";
	if (!strncmp(disk, "vd", 2) || !strncmp(disk, "xvd", 3))
		return "virtual disk";
	if (!strncmp(disk, "md", 2) || !strncmp(disk, "dm-", 3))
		return rotational == 1 ? "RAID/LVM on HDD" : rotational == 0 ? "RAID/LVM on SSD" : "RAID/LVM";
	if (!strncmp(disk, "loop", 4))
		return "loop device";
	if (rotational == 1)
		return "HDD";
	if (rotational == 0)
		return "SSD";
	return "unknown";
}

json_t *si_path_json(const char *path)
{
	json_t *o = json_object();
	json_object_set_new(o, "path", json_string(path));
	char *real = realpath(path, NULL);
	if (!real)
		return o;
	json_object_set_new(o, "realpath", json_string(real));
	struct fs_mount mnt;
	const char *fstype = NULL;
	if (fs_mount_of(real, 0, &mnt) == 0) {
		fstype = mnt.fstype;
		json_object_set_new(o, "mount", json_string(mnt.mountpoint));
		json_object_set_new(o, "fstype", json_string(mnt.fstype));
		if (mnt.source[0])
			json_object_set_new(o, "source", json_string(mnt.source));
	}
	/* The block device, the whole disk it is part of, its model. */
	struct stat sb;
	char *disk = NULL;
	int rot = -1;
	if (stat(real, &sb) == 0 && major(sb.st_dev) != 0) {
		char sys[PATH_MAX];
		snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", major(sb.st_dev), minor(sb.st_dev));
		char *dev = realpath(sys, NULL);
		if (dev) {
			char *p = xasprintf("%s/partition", dev);
			struct stat ps;
			if (stat(p, &ps) == 0) { /* a partition: the disk is its parent */
				char *slash = strrchr(dev, '/');
				if (slash)
					*slash = 0;
			}
			free(p);
			const char *name = strrchr(dev, '/');
			disk = xstrdup(name ? name + 1 : dev);
			json_object_set_new(o, "device", json_string(disk));
			p = xasprintf("%s/device/model", dev);
			set_str(o, "device_model", read_line(p));
			free(p);
			p = xasprintf("%s/queue/rotational", dev);
			char *r = read_line(p);
			free(p);
			if (r)
				rot = atoi(r);
			free(r);
			free(dev);
		}
	}
	const char *kind = si_kind(fstype, disk, rot);
	char *k = fstype && (!strcmp(kind, "network") || !strcmp(kind, "FUSE") || !strcmp(kind, "RAM"))
			  ? xasprintf("%s (%s)", kind, fstype)
			  : xstrdup(kind);
	json_object_set_new(o, "kind", json_string(k));
	free(k);
	struct statvfs vs;
	if (statvfs(real, &vs) == 0) {
		json_object_set_new(o, "fs_size_bytes", json_integer((json_int_t)((uint64_t)vs.f_blocks * vs.f_frsize)));
		json_object_set_new(o, "fs_free_bytes", json_integer((json_int_t)((uint64_t)vs.f_bavail * vs.f_frsize)));
	}
	free(disk);
	free(real);
	return o;
}

char *si_node_name(void)
{
	static const char *vars[] = { "COLDSTART_NODE", "NODE_NAME", "SLURMD_NODENAME" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return xstrdup(v);
	}
	struct utsname u;
	return xstrdup(uname(&u) == 0 ? u.nodename : "unknown");
}
