/* prefetch: the plan -- the model's bytes in the engine's read order, what is resident skipped, cut at the memory budget. */
#define _GNU_SOURCE
#include "prefetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/model/model.h"
#include "core/base/banned.h"

static int meminfo_kb(const char *path, const char *key, uint64_t *out)
{
	char *v = fs_file_value(path, key, ':');
	char *end = NULL;
	errno = 0;
	unsigned long long kb = v ? strtoull(v, &end, 10) : 0;
	int ok = v && end != v && !errno;
	free(v);
	if (ok)
		*out = (uint64_t)kb * 1024;
	return ok ? 0 : -1;
}

int pf_mem_read(const char *meminfo, struct pf_mem *m, struct cs_err *err)
{
	const char *path = meminfo ? meminfo : "/proc/meminfo";
	memset(m, 0, sizeof(*m));
	if (meminfo_kb(path, "MemTotal", &m->total) || meminfo_kb(path, "MemAvailable", &m->available))
		return cs_fail(err, ENOENT, "cannot read MemTotal and MemAvailable from '%s'", path);
	m->reserve = m->total / 10 > PF_RESERVE_MIN ? m->total / 10 : PF_RESERVE_MIN;
	m->known = 1;
	return 0;
}

/* The set's file that is path (the same inode), or -1. */
static long file_of(const struct pc_set *set, const struct stat *ids, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	for (size_t i = 0; i < set->n; i++)
		if (ids[i].st_dev == st.st_dev && ids[i].st_ino == st.st_ino)
			return (long)i;
	return -1;
}

static void push(struct pc_range **r, size_t *n, size_t *alloc, size_t file, uint64_t off, uint64_t len)
{
	if (!len)
		return;
	if (*n && (*r)[*n - 1].file == file && (*r)[*n - 1].off + (*r)[*n - 1].len == off) {
		(*r)[*n - 1].len += len;   /* the next bytes of the same file: one range */
		return;
	}
	*r = xgrow(*r, alloc, *n + 1, sizeof(**r));
	(*r)[(*n)++] = (struct pc_range){ file, off, len };
}

static int cmp_range(const void *pa, const void *pb)
{
	const struct pc_range *a = pa, *b = pb;
	if (a->file != b->file)
		return a->file < b->file ? -1 : 1;
	return a->off < b->off ? -1 : a->off > b->off;
}

/* After the engine's ranges, what they leave out: every other byte, by file and offset. */
static void add_rest(const struct pc_set *set, struct pc_range **r, size_t *n, size_t *alloc)
{
	size_t k = *n;
	struct pc_range *seen = xcalloc(k ? k : 1, sizeof(*seen));
	if (k)
		memcpy(seen, *r, k * sizeof(*seen));
	qsort(seen, k, sizeof(*seen), cmp_range);
	size_t j = 0;
	for (size_t f = 0; f < set->n; f++) {
		uint64_t pos = 0;
		for (; j < k && seen[j].file == f; j++) {
			if (seen[j].off > pos)
				push(r, n, alloc, f, pos, seen[j].off - pos);
			if (seen[j].off + seen[j].len > pos)
				pos = seen[j].off + seen[j].len;
		}
		if (set->files[f].size > pos)
			push(r, n, alloc, f, pos, set->files[f].size - pos);
	}
	free(seen);
}

/* Step 1: set.order, the engine's ranges first where the model parses. */
static void build_order(struct pf_plan *p, const char *model)
{
	struct pc_set *set = &p->set;
	struct pc_range *r = NULL;
	size_t n = 0, alloc = 0;
	struct st_model m;
	struct cs_err e;
	p->order = "files";
	if (st_model_open(model, &m, &e) == 0) {
		struct stat *ids = xcalloc(set->n ? set->n : 1, sizeof(*ids));
		for (size_t i = 0; i < set->n; i++)
			if (stat(set->files[i].path, &ids[i]) < 0)
				ids[i].st_ino = 0;
		size_t nr;
		struct st_range *sr = st_model_read_order(&m, &nr);
		long *fo = xcalloc(m.nshards ? m.nshards : 1, sizeof(*fo));
		for (size_t s = 0; s < m.nshards; s++)
			fo[s] = file_of(set, ids, m.shards[s].path);
		for (size_t i = 0; i < nr; i++)
			if (fo[sr[i].shard] >= 0)
				push(&r, &n, &alloc, (size_t)fo[sr[i].shard], sr[i].off, sr[i].len);
		p->order = m.format == ST_FORMAT_GGUF ? "gguf" : "safetensors";
		free(fo);
		free(sr);
		free(ids);
		st_model_release(&m);
	}
	add_rest(set, &r, &n, &alloc);
	set->order = r;
	set->norder = n;
}

/* The resident bytes of [off, off + len) of fd; -1 when the kernel will not say. */
static int resident(int fd, uint64_t off, uint64_t len, uint64_t *res)
{
	enum pc_method m;
	return fd >= 0 && pc_fd_resident(fd, off, len, res, &m) == 0 ? 0 : -1;
}

/* Step 4 (with step 2 per range: the headers the parsers read are resident
 * now): the order cut at the budget. */
static void measure_and_cut(struct pf_plan *p, const char *model)
{
	struct pc_set *set = &p->set;
	int *fds = xcalloc(set->n ? set->n : 1, sizeof(int));
	for (size_t i = 0; i < set->n; i++)
		fds[i] = open(set->files[i].path, O_RDONLY | O_CLOEXEC);
	uint64_t *nonres = xcalloc(set->norder ? set->norder : 1, sizeof(uint64_t));
	for (size_t k = 0; k < set->norder; k++) {
		const struct pc_range *r = &set->order[k];
		uint64_t res = 0;
		if (resident(fds[r->file], r->off, r->len, &res))
			res = 0;
		nonres[k] = r->len - (res < r->len ? res : r->len);
	}
	uint64_t kept = p->mem.known ? p->mem.reserve + p->resident : 0;
	p->budget = !p->mem.known ? PF_NO_LIMIT : p->mem.available > kept ? p->mem.available - kept : 0;
	if (p->cap && p->cap < p->budget) {
		p->budget = p->cap;
		p->capped = 1;
	}
	for (size_t k = 0; k < set->norder; k++) {
		struct pc_range *r = &set->order[k];
		if (p->warm + nonres[k] <= p->budget) {
			p->warm += nonres[k];
			continue;
		}
		/* The budget runs out in this range: its first part, then stop. */
		p->cut = 1;
		r->len = p->budget - p->warm;
		uint64_t res = 0;
		resident(fds[r->file], r->off, r->len, &res);
		p->warm += r->len - (res < r->len ? res : r->len);
		set->norder = r->len ? k + 1 : k;
		const char *path = set->files[r->file].path;
		size_t ml = strlen(model);
		p->stop_at = xstrdup(!strncmp(path, model, ml) && path[ml] == '/' ? path + ml + 1 : path);
		break;
	}
	for (size_t i = 0; i < set->n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	free(nonres);
}

int pf_plan_make(const char *model, uint64_t cap, const char *meminfo, struct pf_plan *p, struct cs_err *err)
{
	memset(p, 0, sizeof(*p));
	p->cap = cap;
	p->order = "files";
	char *paths[1] = { (char *)model };
	if (pc_collect(paths, 1, &p->set, err))
		return -1;
	p->total = p->set.total;
	/* Residency before the parsers read anything: what the page cache held. */
	if (pc_residency(&p->set, err)) {
		pf_plan_release(p);
		return -1;
	}
	p->resident = p->set.resident;
	p->unknown = p->set.unknown_bytes;
	p->need = p->total - p->resident;
	struct cs_err e;
	pf_mem_read(meminfo, &p->mem, &e);   /* unreadable: no memory limit known */
	if (!p->need)
		return 0;
	build_order(p, model);
	measure_and_cut(p, model);
	return 0;
}

/* "memory allows 3.2 GiB (MemAvailable 5.4 GiB less ...)", or the cap. */
static void describe_budget(const struct pf_plan *p, struct strbuf *b)
{
	char bu[32], av[32], rs[32], mr[32];
	fmt_bytes(bu, sizeof(bu), p->budget);
	if (p->capped) {
		strbuf_addf(b, "the budget asked is %s", bu);
		return;
	}
	if (p->budget == PF_NO_LIMIT) {
		strbuf_addf(b, "no memory budget (MemAvailable unreadable)");
		return;
	}
	strbuf_addf(b, "memory allows %s (MemAvailable %s less %s kept for the server", bu,
		    fmt_bytes(av, sizeof(av), p->mem.available), fmt_bytes(rs, sizeof(rs), p->mem.reserve));
	if (p->resident)
		strbuf_addf(b, " and the %s of the model resident", fmt_bytes(mr, sizeof(mr), p->resident));
	strbuf_addf(b, ")%s", p->cut ? ": reading more would evict the model's first pages before the engine reads them" : "");
}

void pf_plan_describe(const struct pf_plan *p, struct strbuf *b)
{
	char w[32], t[32], n[32], u[32];
	fmt_bytes(w, sizeof(w), p->warm);
	fmt_bytes(t, sizeof(t), p->total);
	fmt_bytes(n, sizeof(n), p->need);
	const char *order = !strcmp(p->order, "files") ? "file by file (not a model the parsers read)"
			    : !strcmp(p->order, "gguf") ? "in the engine's read order (GGUF: the parts in order, tensors by offset)"
							 : "in the engine's read order (safetensors: shards by name, tensors by offset)";
	if (!p->need) {
		strbuf_addf(b, "none: the model is resident (%s, all of it in the page cache)", t);
		return;
	}
	if (!p->warm && !p->cut) {
		strbuf_addf(b, "none: the %s that was not resident is now, read with the model's headers", n);
		return;
	}
	if (!p->warm)
		strbuf_addf(b, "none of the %s not resident: ", n);
	else if (p->cut)
		strbuf_addf(b, "warming %s of the %s not resident, only the first part %s, up to '%s': ", w, n, order,
			    p->stop_at ? p->stop_at : "?");
	else
		strbuf_addf(b, "warming %s of %s %s%s; ", w, t, order, p->resident ? " (the rest is resident)" : "");
	describe_budget(p, b);
	if (p->unknown)
		strbuf_addf(b, "; %s whose residency the kernel would not show counted as not resident",
			    fmt_bytes(u, sizeof(u), p->unknown));
}

void pf_plan_release(struct pf_plan *p)
{
	if (!p)
		return;
	pc_set_release(&p->set);
	free(p->stop_at);
	p->stop_at = NULL;
}

int pf_prepare(const char *model, uint64_t cap, struct pc_set *set, struct strbuf *line, struct pf_plan *p,
	       struct cs_err *err)
{
	memset(set, 0, sizeof(*set));
	if (pf_plan_make(model, cap, NULL, p, err))
		return -1;
	pf_plan_describe(p, line);
	int go = p->warm > 0;
	if (go) {
		*set = p->set;
		memset(&p->set, 0, sizeof(p->set));
	}
	pf_plan_release(p);
	return go;
}
