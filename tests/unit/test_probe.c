#define _GNU_SOURCE
#include "core/load/probe.h"
#include "core/model/ckptwrite.h"
#include "core/base/fsutil.h"
#include "core/load/loader.h"
#include "core/model/safetensors.h"
#include "core/load/tp.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"

/* The data bytes of every .safetensors file in dir, from the files
 * themselves: size - 8 - the header's length. */
static uint64_t data_bytes(const char *dir)
{
	uint64_t sum = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 12 || strcmp(de->d_name + n - 12, ".safetensors"))
			continue;
		char *p = path_join(dir, de->d_name);
		FILE *f = fopen(p, "rb");
		unsigned char h[8] = { 0 };
		struct stat st;
		if (f && fread(h, 1, 8, f) == 8 && stat(p, &st) == 0) {
			uint64_t hl = 0;
			for (int i = 7; i >= 0; i--)
				hl = hl << 8 | h[i];
			sum += (uint64_t)st.st_size - 8 - hl;
		}
		if (f)
			fclose(f);
		free(p);
	}
	if (d)
		closedir(d);
	return sum;
}

static int finite_pos(double v)
{
	return isfinite(v) && v > 0;
}

int main(void)
{
	char tmpl[] = "/tmp/cs-test-probe-XXXXXX";
	char *root = mkdtemp(tmpl);
	char *dir = path_join(root, "m");
	struct ck_plan p;
	struct cs_err e = { 0, "" };
	ok(ck_plan_build("tiny", 2, ST_BF16, 4000000, 5, &p, &e) == 0, "plan a sharded tiny model");
	struct ck_write_opts wo = { .dir = dir };
	ok(ck_write(&p, &wo, &e) == 0, "write it");
	ck_plan_release(&p);
	struct st_model m;
	int rc = st_model_open(dir, &m, &e);
	ok(rc == 0 && m.nshards > 1, "open it (%zu shards)", rc ? 0 : m.nshards);
	uint64_t want = data_bytes(dir);
	ok(want > 0 && want == m.tensor_bytes, "the files hold %llu data bytes", (unsigned long long)want);

	/* The storage read: every data byte of the files, at a rate. */
	uint64_t bytes = 0;
	double gbps = 0;
	struct ld_opts lo = { LD_HOST, 3, 1u << 20, 0, 1, NULL };
	ok(probe_read_rate(&m, &lo, &bytes, &gbps, &e) == 0, "read rate measured (%s)", e.msg);
	is_int(bytes, want, "it read every data byte of the files");
	ok(finite_pos(gbps), "a finite positive rate (%g GB/s)", gbps);

	/* Evicted: the files' pages left the cache (or the kernel will not say). */
	int state = 7;
	rc = probe_evict(dir, &state, &e);
	ok(rc == 0 && (state == 1 || state == -1), "evicted, then cold (%d)", state);

	/* Host mode, no GPU: storage and the floor; nothing copied to a device. */
	struct probe_opts po = { LD_HOST, 2, 1u << 20, 1, NULL, NULL };
	struct probe_result r;
	ok(probe_run(dir, &m, &po, &r, &e) == 0, "probe in host mode (%s)", e.msg);
	is_int(r.bytes, want, "... the model's bytes");
	ok(r.coldness == 1 || r.coldness == -1, "... --cold: evicted first (%d)", r.coldness);
	ok(finite_pos(r.storage_gbps), "... a storage rate (%g)", r.storage_gbps);
	ok(r.h2d_gbps == 0 && r.overlapped_gbps == 0, "... no host -> device copy without a GPU");
	ok(finite_pos(r.floor_s) && fabs(r.floor_s - (double)want / (r.storage_gbps * 1e9)) < 1e-9 * r.floor_s + 1e-15,
	   "... the floor is the bytes at the storage rate (%g s)", r.floor_s);
	ok(r.tp == 0 && !r.each_gbps, "... no TP part without a plan");
	probe_result_release(&r);

	/* TP=2 in host mode: each byte read once, the ranks' bytes, a floor. */
	struct tp_plan tp;
	ok(tp_plan_make(&m, 2, 0, &tp, &e) == 0, "TP=2 plan");
	po.cold = 0;
	po.plan = &tp;
	ok(probe_run(dir, &m, &po, &r, &e) == 0, "probe TP=2 in host mode (%s)", e.msg);
	ok(r.coldness == 1, "... not asked to be cold: coldness 1");
	is_int(r.tp, 2, "... TP=2");
	is_int(r.read_bytes, want, "... every file byte read once");
	is_int(r.rank_bytes, tp.rank_bytes[0] + tp.rank_bytes[1], "... the ranks' bytes");
	ok(r.rank_bytes > want, "... more than the files (norms on both ranks)");
	ok(finite_pos(r.tp_gbps) && finite_pos(r.mem_gbps) && finite_pos(r.tp_floor_s),
	   "... pipeline %g GB/s, host memory %g GB/s, floor %g s", r.tp_gbps, r.mem_gbps, r.tp_floor_s);
	ok(r.each_gbps && r.each_gbps[0] == 0 && r.each_gbps[1] == 0 && r.all_gbps == 0,
	   "... no device rates in host mode");
	double t1 = (double)r.read_bytes / (r.storage_gbps * 1e9),
	       t3 = (double)(r.read_bytes + r.rank_bytes) / (r.mem_gbps * 1e9);
	ok(r.tp_floor_s == (t1 > t3 ? t1 : t3), "... the floor is the slowest of storage and host memory");
	probe_result_release(&r);
	ok(finite_pos(probe_host_mem_gbps(2)), "host memory bandwidth with 2 threads");

	/* Bad inputs give errors, not crashes. */
	double agg = 1;
	ok(probe_h2d_all(2, 1 << 20, 1 << 20, &agg, &e) < 0 && strstr(e.msg, "GPU entry 0") &&
	   strstr(e.msg, "not opened"), "device entries never opened: an error naming the first (%s)", e.msg);
	char *gone = path_join(root, "nothing-here");
	ok(probe_evict(gone, &state, &e) < 0 && strstr(e.msg, "nothing-here"), "evicting a missing path (%s)", e.msg);
	po.plan = NULL;
	po.cold = 1;
	ok(probe_run(gone, &m, &po, &r, &e) < 0 && strstr(e.msg, "nothing-here"), "--cold on a missing path (%s)",
	   e.msg);
	probe_result_release(&r);
	volatile sig_atomic_t stop = 1;
	po.cold = 0;
	po.cancel = &stop;
	ok(probe_run(dir, &m, &po, &r, &e) < 0 && e.code == ECANCELED, "cancelled: ECANCELED (%s)", e.msg);
	probe_result_release(&r);
	po.cancel = NULL;
	char *shard = xstrdup(m.shards[0].path);
	unlink(shard);
	ok(probe_run(dir, &m, &po, &r, &e) < 0 && strstr(e.msg, shard), "a shard gone: the error names it (%s)", e.msg);
	probe_result_release(&r);

	free(shard);
	free(gone);
	tp_plan_release(&tp);
	st_model_release(&m);
	fs_remove_tree(root);
	free(dir);
	return done_testing();
}
