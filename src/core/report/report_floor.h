#ifndef CS_REPORT_FLOOR_H
#define CS_REPORT_FLOOR_H
/*
 * report_floor: the overlap floor -- the fastest a cold start of a mode
 * could be, from what the bench measured, and how far each mode is above
 * it. A start has to run the server's own start-up (the runtime: the
 * `runtime` mode's median), pull the model's bytes from storage, and copy
 * them to the GPU. The storage pull and the runtime can overlap (prefetch
 * reads while the engine imports and initialises), the copy to the GPU
 * cannot start before the bytes are in, so
 *
 *   floor   = max(runtime, bytes / path rate) + bytes / host->GPU rate
 *   staged  = bytes / network rate (the copy, before anything starts)
 *             + max(runtime, bytes / NVMe rate) + bytes / host->GPU rate
 *   no overlap: runtime + storage + host->GPU (their sum)
 *
 * The path rate is the fastest the bench measured the path to deliver:
 * its timed cold read before the runs (the sidecar's "read_rates", what
 * bench records), its prefetch runs (prefetch_bytes / prefetch_s), for the
 * network path also its staged copies (staged_bytes / copy_s); failing
 * all of these, netsim's delivered rate while serving. The host->GPU rate
 * is the sidecar's "h2d_bytes_per_s" when one was recorded, else that
 * term is 0 and the report says so. The bytes are the model's (the
 * sidecar's model_identity, else read_rates, else the notes).
 *
 * Pure arithmetic on a loaded report: nothing prints, nothing is kept;
 * rpf_of's result owns only its modes array (rpf_release).
 */
#include <jansson.h>

#include "report.h"
#include "report_ci.h"
#include "core/base/strbuf.h"

/* Sidecar keys (bench_rate.c writes them). */
#define RPF_META_READ_RATES "read_rates"   /* [{path: nvme|net, bytes, seconds, bytes_per_s, jobs, cold}] */
#define RPF_META_H2D "h2d_bytes_per_s"

enum rpf_term { RPF_UNKNOWN, RPF_STORAGE, RPF_RUNTIME };

/* One mode's floor from its terms (rates in bytes per second). */
struct rpf_inputs {
	double runtime_s;    /* < 0: no runtime mode (the floor counts storage only) */
	double bytes;        /* < 0: unknown */
	double rate;         /* the path the start reads; <= 0: not measured */
	int staged;          /* the copy comes first */
	double copy_rate;    /* staged: the network path's rate; <= 0: not measured */
	double h2d_rate;     /* <= 0: unknown, the term counts 0 */
};

struct rpf_floor {
	int ok;              /* 0: no floor; why says which term is missing */
	const char *why;     /* static, NULL when ok */
	double copy_s;       /* staged: bytes / copy_rate; else 0 */
	double read_s;       /* bytes / rate */
	double storage_s;    /* copy_s + read_s */
	double runtime_s;    /* 0 when none */
	double h2d_s;        /* 0 when unknown */
	double floor_s;
	double sum_s;        /* runtime + storage + host->GPU, nothing overlapped */
	enum rpf_term dominant; /* the larger of storage and runtime (the read, for staged, with its copy) */
};

/* The arithmetic alone: a floor from known terms. Zero bytes give the
 * runtime (storage and host->GPU 0); an unknown byte count or a rate not
 * measured (with bytes > 0) give no floor. */
void rpf_compute(const struct rpf_inputs *in, struct rpf_floor *f);

struct rpf_mode {
	const struct rp_mode *m;     /* borrowed from the report */
	struct rpf_inputs in;
	struct rpf_floor f;
	const char *rate_src;        /* static: where in.rate came from */
	double median_s;             /* time to ready (staged: copy + start) */
	double ratio;                /* median / floor */
	struct rci_interval ratio_ci;/* the median's 95 % bootstrap interval / floor */
	double left_s;               /* median - floor: what is left on the table */
};

/* A measured rate of one path, and where it came from. */
struct rpf_rate {
	double bps;                  /* <= 0: none */
	const char *src;             /* static */
};

struct rpf_report {
	double bytes;                /* < 0: unknown */
	const char *bytes_src;
	struct rpf_rate nvme, net;
	double runtime_s;            /* < 0: no runtime mode */
	double h2d_rate;             /* <= 0: none recorded */
	int gpu;                     /* some run used GPU memory */
	const char *netsim_profile;  /* borrowed from the sidecar, or NULL */
	double netsim_bw, netsim_delivered; /* bytes/s; <= 0: unknown */
	size_t n;
	struct rpf_mode *modes;      /* every mode with runs but runtime, in report order */
};

/* The floors of every mode of r. */
void rpf_of(const struct rp_report *r, struct rpf_report *f);
void rpf_release(struct rpf_report *f);

/* The floor per mode as bench's summary prints it (lines ending in '\n',
 * the first one blank), NULL when no mode has one. malloc'd. */
char *rpf_text(const struct rp_report *r);

/* For report_*.c: the Interpretation's bullet on the seeds' question, the
 * floor's table, and the JSON ("floor"). */
void rpf_md_interp(struct strbuf *b, const struct rp_report *r);
void rpf_md_table(struct strbuf *b, const struct rp_report *r);
json_t *rpf_json(const struct rp_report *r);

#endif
