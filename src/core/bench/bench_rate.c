/* bench: each path's read rate before the runs (bench_rate.h). */
#define _GNU_SOURCE
#include "bench_rate.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/fsutil.h"
#include "core/io/pagecache.h"
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
	if (meta) {
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
