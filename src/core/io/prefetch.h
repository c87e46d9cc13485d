#ifndef CS_PREFETCH_H
#define CS_PREFETCH_H
/*
 * prefetch: what a prefetch beside a starting server reads, in which order,
 * and how much of it memory allows (the plan); pc_prefetch (pagecache.h)
 * runs it.
 *
 * pf_plan_make(model, cap, meminfo, plan):
 *  1. the order: the model's files (pc_collect) and, when model/'s parsers
 *     read it (st_model_open: safetensors or GGUF), its byte ranges in the
 *     order its engine reads them (st_model_read_order: shards, then each
 *     shard's header and tensors by offset), followed by every byte they
 *     leave out (the other files, whole, in name order; a shard's
 *     padding). A path the parsers refuse is read file by file in name
 *     order (order "files").
 *  2. residency, per range: what is in the page cache already is not read
 *     and costs no budget. Bytes whose residency the kernel will not show
 *     (pagecache.h's "unknown") are counted as to be read.
 *  3. the budget -- what the page cache can hold beside the server without
 *     the read-ahead evicting its own first pages before the engine gets to
 *     them:  MemAvailable - reserve - the model's bytes already resident.
 *     MemAvailable is the kernel's estimate of the memory new work can take
 *     without swapping, reclaimable page cache included (the model's own
 *     resident pages among it: those are not free to take, hence the last
 *     term). reserve = max(MemTotal / 10, PF_RESERVE_MIN) is kept for the
 *     server's own memory -- its libraries, the CUDA context, the host
 *     buffers it allocates while it loads. It is a rule of thumb, not a
 *     measurement: an engine that copies the whole model into its own
 *     memory (a CPU model, llama.cpp --no-mmap) needs the model's size
 *     besides, and then no prefetch fits. cap > 0 lowers the budget
 *     further. A meminfo that cannot be read leaves only cap (or no limit).
 *  4. the cut: the order stops where the bytes to read reach the budget, so
 *     a model larger than it warms only its first part in the engine's
 *     order (cut set, stop_at naming the file where it stops). The
 *     kernel's own readahead may bring in a few MiB past the cut (a 4 MiB
 *     read here brought 8 MiB); the budget counts what the readers ask for.
 *
 * meminfo NULL is /proc/meminfo (another path: tests). Ownership: the plan
 * owns its set (hand it to pc_prefetch_start, which takes it) and stop_at;
 * pf_plan_release frees what is left. Nothing prints; not thread-safe per
 * plan. Errors: the model's files not found (pc_collect's), -1 with err.
 */
#include <stdint.h>

#include "core/base/strbuf.h"
#include "core/base/util.h"
#include "pagecache.h"

#define PF_RESERVE_MIN (1ull << 30)
#define PF_NO_LIMIT UINT64_MAX

struct pf_mem {
	int known;                /* 0: meminfo could not be read */
	uint64_t total, available, reserve;
};

struct pf_plan {
	struct pc_set set;        /* the files; set.order what is read, in order */
	const char *order;        /* "safetensors", "gguf" or "files" */
	uint64_t total;           /* the model's bytes */
	uint64_t resident;        /* already in the page cache (where it could be seen) */
	uint64_t unknown;         /* bytes whose residency could not be seen */
	uint64_t need;            /* not resident: what a whole prefetch reads */
	uint64_t cap;             /* the cap asked (0: none) */
	int capped;               /* the cap, not memory, set the budget */
	struct pf_mem mem;
	uint64_t budget;          /* PF_NO_LIMIT: none */
	uint64_t warm;            /* what the plan reads: need, or the budget's part of it */
	int cut;                  /* need > budget */
	char *stop_at;            /* cut: the file (relative name) where it stops */
};

/* MemTotal and MemAvailable, and the reserve of step 3. 0, or -1 (err). */
int pf_mem_read(const char *meminfo, struct pf_mem *m, struct cs_err *err);
int pf_plan_make(const char *model, uint64_t cap, const char *meminfo, struct pf_plan *p, struct cs_err *err);
/* The plan in one line, for a phase log: "warming 1.2 GiB of ... (why)". */
void pf_plan_describe(const struct pf_plan *p, struct strbuf *b);
void pf_plan_release(struct pf_plan *p);
/* What a prefetch's caller does before it starts one: pf_plan_make, its
 * line (pf_plan_describe) in *line, and the files to warm moved into *set:
 * 1, or 0 when there is nothing to warm (*set empty). *p keeps the plan's
 * numbers; its set and stop_at are released either way. -1: pf_plan_make's
 * error. */
int pf_prepare(const char *model, uint64_t cap, struct pc_set *set, struct strbuf *line, struct pf_plan *p,
	       struct cs_err *err);

#endif
