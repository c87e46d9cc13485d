/* The bench's schedule, modes and statistics (core/bench/bench.c, core/base/schema.c). */
#define _GNU_SOURCE
#include "core/bench/bench.h"
#include "core/bench/bench_netsim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/fsutil.h"

#include "tap.h"

static void plan_text(size_t narms, size_t repeat, enum bench_order order, uint64_t seed, char *out, size_t outlen)
{
	size_t *plan = calloc(narms * repeat, sizeof(size_t));
	bench_schedule(narms, repeat, order, seed, plan);
	size_t n = 0;
	out[0] = '\0';
	for (size_t k = 0; k < narms * repeat && n + 2 < outlen; k++)
		out[n++] = (char)('a' + plan[k]), out[n] = '\0';
	free(plan);
}

/* How many times each arm appears in a plan text. */
static int counts_even(const char *p, size_t narms, size_t repeat)
{
	for (size_t a = 0; a < narms; a++) {
		size_t c = 0;
		for (const char *q = p; *q; q++)
			c += (size_t)(*q - 'a') == a;
		if (c != repeat)
			return 0;
	}
	return strlen(p) == narms * repeat;
}

static void test_schedule(void)
{
	char p[64], q[64];
	plan_text(3, 2, BENCH_INTERLEAVE, 0, p, sizeof(p));
	is_str(p, "abcabc", "interleave: a b c a b c (drift hits every mode alike)");
	plan_text(3, 2, BENCH_GROUPED, 0, p, sizeof(p));
	is_str(p, "aabbcc", "grouped: each mode's runs together");
	plan_text(1, 4, BENCH_INTERLEAVE, 0, p, sizeof(p));
	is_str(p, "aaaa", "one mode: its runs");
	plan_text(4, 5, BENCH_RANDOM, 42, p, sizeof(p));
	ok(counts_even(p, 4, 5), "random: a permutation (each of 4 modes 5 times): %s", p);
	plan_text(4, 5, BENCH_RANDOM, 42, q, sizeof(q));
	is_str(q, p, "random: the same seed gives the same order");
	plan_text(4, 5, BENCH_RANDOM, 43, q, sizeof(q));
	ok(strcmp(q, p) != 0, "random: another seed, another order (%s vs %s)", q, p);
	plan_text(4, 5, BENCH_INTERLEAVE, 0, q, sizeof(q));
	ok(strcmp(q, p) != 0, "random: not the interleaved order");
	plan_text(3, 3, BENCH_RANDOM, 0, p, sizeof(p));
	plan_text(3, 3, BENCH_RANDOM, 1, q, sizeof(q));
	is_str(p, q, "random: seed 0 counts as 1 (xorshift has no zero state)");
}

static void round_text(size_t narms, size_t round, enum bench_order order, uint64_t seed, char *out)
{
	size_t plan[BENCH_MAX_ARMS];
	bench_round_schedule(narms, round, order, seed, plan);
	for (size_t k = 0; k < narms; k++)
		out[k] = (char)('a' + plan[k]);
	out[narms] = '\0';
}

/* --until-confident's extra rounds: the order rule of the first ones. */
static void test_round_schedule(void)
{
	char p[16], q[16];
	round_text(3, 2, BENCH_INTERLEAVE, 7, p);
	is_str(p, "abc", "an extra round, interleave: arm order (paired by round)");
	round_text(3, 2, BENCH_GROUPED, 7, p);
	is_str(p, "abc", "an extra round, grouped: every arm once, arm order");
	round_text(1, 5, BENCH_RANDOM, 7, p);
	is_str(p, "a", "an extra round of one arm: that arm");
	int shuffled = 0, all_perm = 1;
	for (size_t r = 2; r < 12; r++) {
		round_text(4, r, BENCH_RANDOM, 7, p);
		shuffled |= strcmp(p, "abcd") != 0;
		all_perm &= counts_even(p, 4, 1);
		round_text(4, r, BENCH_RANDOM, 7, q);
		if (strcmp(p, q))
			all_perm = 0;
	}
	ok(all_perm, "random: every extra round a permutation of the arms, the same for the same seed");
	ok(shuffled, "random: the extra rounds are shuffled too, not in arm order");
	/* Known answers (the documented xorshift, computed apart). */
	char r3[16];
	round_text(3, 2, BENCH_RANDOM, 7, p);
	round_text(3, 3, BENCH_RANDOM, 7, q);
	round_text(3, 4, BENCH_RANDOM, 7, r3);
	is_str(p, "cba", "random, seed 7, round 3: a known order");
	is_str(q, "cba", "... round 4");
	is_str(r3, "bac", "... round 5: each round its own draw");
	round_text(4, 3, BENCH_RANDOM, 7, p);
	is_str(p, "acbd", "random, seed 7, 4 arms, round 4: a known order");
	round_text(3, 2, BENCH_RANDOM, 0, p);
	round_text(3, 2, BENCH_RANDOM, 1, q);
	is_str(p, q, "random: seed 0 counts as 1, as in bench_schedule");
}

static void test_modes(void)
{
	ok(storage_mode_find(MODE_NVME) == &storage_modes[0], "nvme is the first mode (every ratio is to it)");
	const struct storage_mode *st = storage_mode_find(MODE_STAGED);
	ok(st && st->flags & MODE_READS_NET && st->flags & MODE_STAGES, "staged reads the net copy and stages it");
	const struct storage_mode *rt = storage_mode_find(MODE_RUNTIME);
	ok(rt && rt->flags & MODE_NO_WEIGHTS && !(rt->flags & MODE_READS_NET), "runtime: no weights, on the NVMe side");
	ok(storage_mode_find("nfs") == NULL, "a label the bench does not know is no mode");
	ok(storage_mode_rank(MODE_NVME) < storage_mode_rank(MODE_NET) &&
		   storage_mode_rank(MODE_NET) < storage_mode_rank(MODE_STAGED) &&
		   storage_mode_rank(MODE_RUNTIME) < storage_mode_rank("zzz-custom"),
	   "report order: the table's, unknown labels last");
	is_str(storage_mode_list(), "nvme, nvme+prefetch, net, staged, net+prefetch or runtime", "the list in messages");

	struct bench b = BENCH_INIT;
	struct cs_err err;
	b.nvme = "/m/nvme";
	b.net = "/m/net";
	ok(bench_add_modes(&b, NULL, &err) == 0 && b.narms == 2 && b.arms[0].mode == storage_mode_find(MODE_NVME) &&
		   b.arms[1].mode == storage_mode_find(MODE_NET),
	   "no --modes with both paths: nvme,net");
	is_int(b.total, 2 * BENCH_REPEAT_DEFAULT, "total runs: modes x repeat");
	is_str(bench_arm_path(&b, &b.arms[1]), "/m/net", "net reads the net path");
	bench_release(&b);

	b = (struct bench)BENCH_INIT;
	b.nvme = "/m/nvme";
	b.net = "/m/net";
	ok(bench_add_modes(&b, "staged,runtime", &err) == 0 && !strcmp(bench_arm_path(&b, &b.arms[0]), "/m/net") &&
		   !strcmp(bench_arm_path(&b, &b.arms[1]), "/m/nvme"),
	   "staged copies from net, runtime starts on nvme");
	bench_release(&b);

	const struct {
		const char *list, *nvme, *net, *msg;
	} bad[] = {
		{ "nvme,nvme", "/n", "/x", "mode 'nvme' given twice" },
		{ "nvme,disk", "/n", "/x", "unknown mode 'disk' (nvme, nvme+prefetch, net, staged, net+prefetch or runtime)" },
		{ "staged", "/n", NULL, "mode 'staged' needs a path: --net PATH or $MODEL_PATH_NET" },
		{ "runtime", NULL, "/x", "mode 'runtime' needs a path: --nvme PATH or $MODEL_PATH_NVME" },
		{ ",", "/n", "/x", "--modes ',' names no mode (nvme, nvme+prefetch, net, staged, net+prefetch or runtime)" },
		{ "nvme,net,nvme,net,nvme,net,nvme,net,nvme", "/n", "/x", "mode 'nvme' given twice" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = (struct bench)BENCH_INIT;
		b.nvme = bad[i].nvme;
		b.net = bad[i].net;
		memset(&err, 0, sizeof(err));
		int rc = bench_add_modes(&b, bad[i].list, &err);
		ok(rc == -1 && err.code == EINVAL && !strcmp(err.msg, bad[i].msg), "--modes '%s' refused: %s", bad[i].list,
		   err.msg);
		bench_release(&b);
	}
}

static void test_stats(void)
{
	double loads[] = { 5, 1, 3, 100, 2 }, totals[] = { 15, 11, 13, 110, 12 };
	int cold[] = { 1, 1, 1, 0, -1 };
	struct bench_arm a = { .mode = storage_mode_find(MODE_STAGED), .n = 5, .loads = loads, .totals = totals,
			       .cold = cold };
	struct rp_stats st;
	size_t left;
	is_int(bench_arm_stats(&a, 0, &st, &left), 1, "a mode with cold runs: its basis is the cold runs");
	ok(st.n == 3 && st.median == 3 && st.min == 1 && st.max == 5 && left == 2,
	   "median 3 of the cold runs {5,1,3}; the warm 100 and the unverified 2 left out");
	bench_arm_stats(&a, 1, &st, &left);
	ok(st.median == 13, "totals: copy + load of the same runs (median 13)");
	int unverified[] = { 0, -1, 0, -1, 0 };
	a.cold = unverified;
	is_int(bench_arm_stats(&a, 0, &st, &left), -1, "no cold runs: the runs not verified cold");
	ok(st.n == 2 && st.median == 50.5 && left == 3, "median of the unverified {1, 100}: 50.5; the warm left out");
	int warm[] = { 0, 0, 0, 0, 0 };
	a.cold = warm;
	is_int(bench_arm_stats(&a, 0, &st, &left), 0, "only warm runs: they are the basis, and said so");
	ok(st.n == 5 && left == 0, "all five");
	struct bench_arm none = { .mode = a.mode };
	bench_arm_stats(&none, 0, &st, &left);
	ok(st.n == 0 && left == 0, "a mode with no measured run: nothing");
}

/* The table bench prints after its runs. */
static void test_summary_text(void)
{
	double nv[] = { 1, 2, 3 }, ne[] = { 4, 5, 6 };
	int cold[] = { 1, 1, 1 };
	struct bench b = BENCH_INIT;
	b.nvme = "/n", b.net = "/m";
	struct cs_err e;
	ok(bench_add_modes(&b, "nvme,net", &e) == 0, "two modes");
	for (size_t i = 0; i < 2; i++) { /* repeat 3: room for three runs each */
		b.arms[i].n = 3;
		memcpy(b.arms[i].loads, i ? ne : nv, sizeof(nv));
		memcpy(b.arms[i].totals, i ? ne : nv, sizeof(nv));
		memcpy(b.arms[i].cold, cold, sizeof(cold));
	}
	char *t = bench_summary_text(&b);
	is_str(t, "\nmode                  runs   median_s      min_s      max_s  from\n"
	       "nvme                     3      2.000      1.000      3.000  cold runs\n"
	       "net                      3      5.000      4.000      6.000  cold runs\n"
	       "\nnet/nvme: 2.50x the median load time (+3.000 s)\n"
	       "  95 % interval: 2.00x to 4.00x, +3.000 to +3.000 s (paired by round)\n",
	       "per mode, then the ratio of the medians with its interval, paired by round");
	free(t);
	struct bench_summary s;
	bench_summarize(&b, &s);
	ok(s.has_net_nvme && !s.has_staged_net && !s.net_nvme.noise, "net vs nvme compared, no staged mode");
	is_int(bench_confident(&s, 5), 1, "a difference of exactly 3 s every round: an interval of width 0");
	b.order = BENCH_GROUPED;
	t = bench_summary_text(&b);
	ok(strstr(t, "(modes resampled independently)") != NULL, "grouped: not paired by round");
	free(t);
	bench_summarize(&b, &s);
	is_int(bench_confident(&s, 5), 0, "resampled on their own: wider than 5 %% of nvme's median");
	ok(bench_confident(&s, 100) == 1, "but within 100 %%");
	double close[] = { 2.1, 0.9, 3.2 };
	memcpy(b.arms[1].loads, close, sizeof(close));
	t = bench_summary_text(&b);
	ok(strstr(t, "\n  within noise: the interval includes 0 s (1.0x), so these runs do not tell the network path and NVMe apart") != NULL,
	   "an interval that includes 0 s: within noise, the report's words");
	free(t);
	b.until_confident = 1, b.rounds = 3, b.stop = BENCH_STOP_CAP, b.max_repeat = 3;
	t = bench_summary_text(&b);
	ok(strstr(t, "\nuntil confident: 3 rounds (3 planned): stopped by the cap of 3 rounds (--max-repeat)") != NULL,
	   "--until-confident: the rounds and why they stopped");
	free(t);
	b.stop = BENCH_STOP_WIDTH;
	t = bench_summary_text(&b);
	ok(strstr(t, "stopped by width, every interval within 5 % of its median") != NULL, "or by width");
	free(t);
	b.stop = BENCH_STOP_FAILED;
	t = bench_summary_text(&b);
	ok(strstr(t, "stopped: a run failed or the bench was cancelled") != NULL, "or by a failed run");
	free(t);
	b.max_repeat = 0;
	ok(bench_max_repeat(&b) == BENCH_MAX_REPEAT_DEFAULT, "the cap: 10 by default");
	b.repeat = 20;
	ok(bench_max_repeat(&b) == 20, "never below --repeat");
	b.repeat = 3, b.order = BENCH_INTERLEAVE, b.until_confident = 0;
	b.arms[1].n = 0;
	t = bench_summary_text(&b);
	ok(strstr(t, "\nnet                      0          -          -          -\n") && !strstr(t, "net/nvme"),
	   "a mode without runs: dashes, and no ratio");
	free(t);
	bench_release(&b);
}

/* --nvme and --net into the bench: a path, netsim, a URL. */
static void test_set_paths(void)
{
	struct bench b = BENCH_INIT;
	const char *prof = NULL;
	char *note = NULL;
	struct cs_err e;
	ok(bench_set_paths(&b, "/n", "", &prof, &note, &e) == 0 && b.net_pending && !strcmp(prof, "nfs-10g") &&
		   !strcmp(b.net, "netsim") && !b.net_remote, "no net path: netsim over the NVMe copy");
	ok(bench_set_paths(&b, "", "netsim:nope", &prof, &note, &e) == -1 && e.code == EINVAL &&
		   strstr(e.msg, "unknown netsim profile 'nope'"), "an unknown profile: EINVAL");
	ok(bench_set_paths(&b, NULL, "netsim", &prof, &note, &e) == -1 && strstr(e.msg, "needs the NVMe copy"),
	   "netsim without an NVMe copy: EINVAL");
	b.stage_insecure = 1;
	ok(bench_set_paths(&b, "/n", "/m", &prof, &note, &e) == -1 && strstr(e.msg, "--insecure"),
	   "--insecure with a path: EINVAL");
	ok(bench_set_paths(&b, "/n", "https://u:p@h/m?t=1", &prof, &note, &e) == 0 && !b.net_pending &&
		   !strcmp(b.net_remote, "https") && !strstr(b.net_shown, "u:p") && !strcmp(note, "net=https"),
	   "a URL: remote, shown without credentials, noted");
	free(note);
	bench_release(&b);
}

static void put(const char *dir, const char *name, size_t size, unsigned char fill)
{
	char *p = path_join(dir, name);
	FILE *f = fopen(p, "w");
	for (size_t i = 0; i < size; i++)
		fputc((int)(fill + i * 7) & 0xff, f);
	fclose(f);
	free(p);
}

/* Overwrite one byte of dir/name at off. */
static void poke(const char *dir, const char *name, long off)
{
	char *p = path_join(dir, name);
	FILE *f = fopen(p, "r+");
	fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
	int c = fgetc(f);
	fseek(f, off, off < 0 ? SEEK_END : SEEK_SET);
	fputc(c ^ 0x55, f);
	fclose(f);
	free(p);
}

/* A model on each side; check them as bench does. */
static int check(const char *nv, const char *net, int allow, struct cs_err *err, json_t **id)
{
	struct bench b = BENCH_INIT;
	b.nvme = nv;
	b.net = net;
	b.allow_model_mismatch = allow;
	if (bench_add_modes(&b, "nvme,net", err))
		return -2;
	int rc = bench_check_models(&b, err);
	*id = json_incref(b.model_json);
	bench_release(&b);
	return rc;
}

static void test_models(void)
{
	char tmpl[] = "/tmp/cs-test-bench-XXXXXX";
	char *root = mkdtemp(tmpl);
	char *a = path_join(root, "a"), *b = path_join(root, "b");
	mkdir(a, 0755);
	mkdir(b, 0755);
	const size_t big = 3u << 20;
	put(a, "model.safetensors", big, 1);
	put(b, "model.safetensors", big, 1);
	put(a, "config.json", 100, 2);
	put(b, "config.json", 100, 2);
	char *ha = path_join(a, ".cache"), *hb = path_join(b, ".coldstart-manifest.json");
	mkdir(ha, 0755);
	put(ha, "x", 10, 3);
	put(b, ".coldstart-manifest.json", 50, 4);
	struct cs_err err;
	json_t *id = NULL;
	ok(check(a, b, 0, &err, &id) == 0, "the same files (hidden ones apart): the same model");
	json_t *p0 = json_array_get(json_object_get(id, "paths"), 0), *p1 = json_array_get(json_object_get(id, "paths"), 1);
	ok(json_is_true(json_object_get(id, "same")) && json_array_size(json_object_get(p0, "files")) == 2 &&
		   !strcmp(json_string_value(json_object_get(p0, "sampled_xxh3")),
			   json_string_value(json_object_get(p1, "sampled_xxh3"))),
	   "recorded: same, 2 files each, one digest");
	json_decref(id);

	/* A byte at the end, the start, the middle of a sample: caught. */
	const long offs[] = { -1, 0, (long)(big / 7 * 3 + 100) };
	for (size_t i = 0; i < 3; i++) {
		poke(b, "model.safetensors", offs[i]);
		ok(check(a, b, 0, &err, &id) == -1 && err.code == EINVAL &&
			   strstr(err.msg, "'model.safetensors' has other bytes under --nvme than under --net"),
		   "one byte changed at %ld: refused (%s)", offs[i], err.msg);
		json_decref(id);
		poke(b, "model.safetensors", offs[i]);
	}
	ok(check(a, b, 0, &err, &id) == 0, "changed back: the same again");
	json_decref(id);

	put(b, "config.json", 101, 2);
	put(b, "tokenizer.json", 5, 2);
	ok(check(a, b, 0, &err, &id) == -1 &&
		   strstr(err.msg, "'config.json' is 100 bytes under --nvme and 101 under --net; 'tokenizer.json' is under --net only"),
	   "sizes and names: each named (%s)", err.msg);
	json_decref(id);
	ok(check(a, b, 1, &err, &id) == 0 && json_is_false(json_object_get(id, "same")) &&
		   json_array_size(json_object_get(id, "differences")) == 2,
	   "allowed: no error, the differences recorded");
	json_decref(id);

	for (int i = 0; i < 5; i++) {
		char n[32];
		snprintf(n, sizeof(n), "extra-%d.bin", i);
		put(a, n, 1, 0);
	}
	ok(check(a, b, 0, &err, &id) == -1 && strstr(err.msg, "; and 4 more"), "at most 3 named, then a count (%s)",
	   err.msg);
	json_decref(id);

	/* A GGUF file on each side. */
	put(a, "m.gguf", 1000, 9);
	put(b, "m.gguf", 1000, 9);
	char *ga = path_join(a, "m.gguf"), *gb = path_join(b, "m.gguf");
	ok(check(ga, gb, 0, &err, &id) == 0, "two GGUF files alike: the same");
	json_decref(id);
	poke(b, "m.gguf", 500);
	ok(check(ga, gb, 0, &err, &id) == -1 && strstr(err.msg, "'m.gguf' has other bytes"), "a GGUF file that differs");
	json_decref(id);

	/* One side only: nothing to compare, its identity recorded. */
	struct bench one = BENCH_INIT;
	one.nvme = a;
	ok(bench_add_modes(&one, "nvme", &err) == 0 && bench_check_models(&one, &err) == 0 &&
		   json_object_get(one.model_json, "same") == NULL &&
		   json_array_size(json_object_get(one.model_json, "paths")) == 1,
	   "one mode: recorded, not compared");
	bench_release(&one);
	ok(check(a, "/nonexistent/m", 0, &err, &id) == -1 && strstr(err.msg, "--net: cannot open model '/nonexistent/m'"),
	   "a missing side named (%s)", err.msg);
	json_decref(id);
	free(ga);
	free(gb);
	free(ha);
	free(hb);
	fs_remove_tree(root);
	free(a);
	free(b);
}

int main(void)
{
	test_schedule();
	test_round_schedule();
	test_modes();
	test_stats();
	test_models();
	test_summary_text();
	test_set_paths();
	return done_testing();
}
