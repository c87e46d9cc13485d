#ifndef CS_SCHEMA_H
#define CS_SCHEMA_H
/*
 * schema: the words a run's record is written in and read back by --
 * the storage modes of the CSV's storage_mode column and the keys of its
 * notes column. The run record (runrec.c) and the bench (bench.c) write
 * them; the report (report_load.c and the rest) parses them. One place,
 * so a key renamed on one side cannot silently stop being read.
 */
#include <stddef.h>

/* ---- storage modes ---- */

#define MODE_NVME "nvme"
#define MODE_NVME_PREFETCH "nvme+prefetch"
#define MODE_NET "net"
#define MODE_STAGED "staged"
#define MODE_NET_PREFETCH "net+prefetch"
#define MODE_RUNTIME "runtime"

/* What a mode does in a bench. */
enum {
	MODE_READS_NET = 1 << 0,    /* reads the network copy (else the NVMe one) */
	MODE_STAGES = 1 << 1,       /* copies the network copy to the stage root first, starts from the copy */
	MODE_PREFETCH = 1 << 2,     /* warms the model's files at launch (--prefetch, 8 readers unless given) */
	MODE_NO_WEIGHTS = 1 << 3,   /* the server without weight loading (the runtime floor) */
};

struct storage_mode {
	const char *name;
	unsigned flags;
	const char *what;           /* one line for messages */
};

/* The modes in their report order (nvme first: every ratio is to it). */
extern const struct storage_mode storage_modes[];
extern const size_t nstorage_modes;

/* The mode called name, or NULL (a label of `run --mode` the bench does
 * not know). */
const struct storage_mode *storage_mode_find(const char *name);
/* Its place in the report: the table's order; unknown modes after every
 * known one. */
int storage_mode_rank(const char *name);
/* "nvme, nvme+prefetch, net, staged, net+prefetch or runtime" (static). */
const char *storage_mode_list(void);

/* ---- notes keys ("k=v; k=v", see csvlog.h) ---- */

#define NOTE_COLD "cold"                     /* yes / no / unverified */
#define NOTE_RESIDENT_PCT "resident_pct"     /* of the model in the page cache before launch, or unknown */
#define NOTE_COLD_MODE "cold_mode"           /* files / global / none / remote */
#define NOTE_COLD_MODE_REMOTE "remote"       /* the server read the model from a URL */
#define NOTE_GPU_MEM_METHOD "gpu_mem_method"
#define NOTE_STOP_S "stop_s"
#define NOTE_SIGKILLED "sigkilled"
#define NOTE_GPU_RELEASED "gpu_released"
#define NOTE_SERVER "server"
#define NOTE_READY_OWNER "ready_owner"
#define NOTE_DETACHED "detached"
#define NOTE_STATUS "status"                 /* failed:REASON; absent when the run was ready */
#define NOTE_COPY_S "copy_s"                 /* staged: the copy's seconds */
#define NOTE_LOAD_S "load_s"                 /* staged: the start after staging */
#define NOTE_TOTAL_S "total_s"               /* staged: copy + start */
#define NOTE_PREFETCH "prefetch"
#define NOTE_PREFETCH_BYTES "prefetch_bytes"
#define NOTE_PREFETCH_S "prefetch_s"
#define NOTE_TIMELINE "timeline"             /* the run's timeline SVG */
#define NOTE_NOTE "note"                     /* --notes TEXT */
#define NOTE_NODE "node"                     /* the node a row was measured on (fleet reports) */
#define NOTE_NET "net"                       /* netsim:PROFILE when the net path was simulated */
#define NOTE_WEIGHTS "weights"               /* dummy: the runtime mode */
#define NOTE_STAGED_BYTES "staged_bytes"
#define NOTE_STAGED_CACHE "staged_cache"
#define NOTE_STAGE_JOBS "stage_jobs"
#define NOTE_STAGE_DIRECT "stage_direct"
/* Compile and kernel caches (caches.h): the state the server started in,
 * the set's files and bytes at launch and after the run, and for staged
 * caches the copy's seconds (not part of copy_s/total_s, the weights'). */
#define NOTE_CACHES "caches"                 /* cold / warm / staged */
#define NOTE_CACHE_FILES "cache_files"
#define NOTE_CACHE_BYTES "cache_bytes"
#define NOTE_CACHE_BYTES_AFTER "cache_bytes_after"
#define NOTE_CACHE_COPY_S "cache_copy_s"
/* Phases seen in the server's log: offsets t_* from launch, durations *_s. */
/* The context length the server's log says it used (phases.h ctx_len),
 * and, when it is not the row's max_model_len, the flag that says so. */
#define NOTE_SERVER_MAX_MODEL_LEN "server_max_model_len"
#define NOTE_MAX_MODEL_LEN_MISMATCH "max_model_len_mismatch"   /* yes */
#define NOTE_T_LOAD_START "t_load_start"
#define NOTE_T_WEIGHTS_END "t_weights_end"

#endif
