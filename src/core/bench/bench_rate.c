/* bench: each path's read rate before the runs (bench_rate.h). */
#define _GNU_SOURCE
#include "bench_rate.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/io/pagecache.h"
#include "core/load/cuda.h"
#include "core/load/probe.h"
#include "core/report/report.h"
#include "core/report/report_floor.h"
#include "core/base/banned.h"

/* Which paths some mode reads: bit 0 nvme, bit 1 net. */
static unsigned paths_read(const struct bench *b)
{
	unsigned which = 0;
	for (size_t i = 0; i < b->narms; i++) {
		unsigned f = b->arms[i].mode->flags;
		if (f & MODE_NO_WEIGHTS)
			continue;
		if (!(f & MODE_READS_NET) || (f & MODE_STAGES))
			which |= 1;
		if (f & MODE_READS_NET)
			which |= 2;
	}
	if (!b->nvme)
		which &= ~1u;
	if (!b->net || b->net_remote || b->net_pending)
		which &= ~2u;
	return which;
}

/* One path: evict, read it all with the prefetch's readers, evict. */
static json_t *measure(const struct bench *b, const char *name, const char *path, struct cs_err *err)
{
	struct pc_set set;
	char *paths[1] = { (char *)path };
	if (pc_collect(paths, 1, &set, err))
		return NULL;
	json_t *o = NULL;
	struct pc_warm_stats st;
	if (!pc_evict(&set, err) && !pc_residency(&set, err) &&
	    !pc_warm(&set, RR_PREFETCH_JOBS, 0, NULL, NULL, b->run.cancel, &st, err)) {
		int cold = set.resident * 100 <= set.total;
		double bps = st.seconds > 0 ? (double)st.read_bytes / st.seconds : 0;
		o = json_pack("{s:s, s:I, s:f, s:f, s:i, s:b}", "path", name, "bytes", (json_int_t)st.read_bytes, "seconds",
			      st.seconds, "bytes_per_s", bps, "jobs", st.jobs, "cold", cold);
		cs_say(b->cb.progress, b->cb.arg, "%s: read %.1f MB in %.3f s cold (%.1f MB/s), for the report's floor", name,
		       (double)st.read_bytes / 1e6, st.seconds, bps / 1e6);
	}
	struct cs_err e2;
	pc_evict(&set, &e2);
	pc_set_release(&set);
	return o;
}

/* Pinned host -> GPU 0, measured in a child of its own, so that the
 * bench keeps no CUDA context (nor its memory) while its servers run:
 * bytes per second, or 0 without a usable GPU (no driver: no message). */
static double h2d_rate(const struct bench *b)
{
	int fd[2];
	if (pipe(fd))
		return 0;
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		struct cs_err e;
		double gbps = 0;
		if (!cuda_open(0, &e) && !probe_h2d_rate(BENCH_H2D_BYTES, 4u << 20, &gbps, &e))
			(void)!write(fd[1], &gbps, sizeof(gbps));
		_exit(0);
	}
	close(fd[1]);
	double gbps = 0;
	if (pid < 0 || read(fd[0], &gbps, sizeof(gbps)) != (ssize_t)sizeof(gbps) || !(gbps > 0))
		gbps = 0;
	close(fd[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (gbps > 0)
		cs_say(b->cb.progress, b->cb.arg, "host->GPU: %.1f GB/s pinned, for the report's floor", gbps);
	return gbps * 1e9;
}

int bench_record_rates(const struct bench *b, struct cs_err *err)
{
	unsigned which = paths_read(b);
	if (!which || b->run.cold == COLD_NONE)
		return 0; /* --cold none: the runs start on what is cached, left as it is */
	json_t *rates = json_array();
	for (int k = 0; k < 2; k++) {
		if (!(which & (1u << k)))
			continue;
		const char *name = k ? "net" : "nvme", *path = k ? b->net : b->nvme;
		struct cs_err e;
		json_t *o = measure(b, name, path, &e);
		if (o) {
			json_array_append_new(rates, o);
		} else if (e.code == ECANCELED) {
			json_decref(rates);
			return cs_fail(err, ECANCELED, "%s", e.msg);
		} else {
			cs_say(b->cb.notice, b->cb.arg, "could not time a read of the %s path for the report's floor: %s", name,
			       e.msg);
		}
	}
	char *mp = rp_sibling(b->run.csv, ".meta.json");
	json_t *meta = json_load_file(mp, 0, NULL);
	int rc = 0;
	double h2d = b->run.cancel && *b->run.cancel ? 0 : h2d_rate(b);
	if (meta) {
		if (h2d > 0)
			json_object_set_new(meta, RPF_META_H2D, json_real(h2d));
		json_object_set_new(meta, RPF_META_READ_RATES, rates);
		rates = NULL;
		char *s = json_dumps(meta, JSON_INDENT(2));
		rc = fs_write_file_sync(mp, s, strlen(s), err);
		free(s);
		json_decref(meta);
	}
	json_decref(rates);
	free(mp);
	return rc;
}
