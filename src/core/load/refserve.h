#ifndef CS_REFSERVE_H
#define CS_REFSERVE_H
/*
 * refserve: the reference server's engine. It loads a validated
 * safetensors model with the loader (whole, or tensor-parallel over a
 * tp_plan), optionally verifies it, and then answers HTTP as an OpenAI
 * style server does until told to stop:
 *
 *   GET|HEAD /health      200, empty body
 *   GET|HEAD /v1/models   200, {"object":"list","data":[{"id":..,
 *                         "object":"model","created":..,"owned_by":
 *                         "coldstart"[,"coldstart":{how it was split}]}]}
 *   GET|HEAD other paths  404 {"error":"not found"}
 *   other methods         405 {"error":"method not allowed"}
 *
 * It listens only once the weights are loaded (and verified): a server
 * that answers /health is ready, one that is not yet listening is not.
 *
 * Messages go through callbacks, never to the terminal: o->log gets the
 * lines vLLM would log ("Loading weights took 1.23 seconds", "Model
 * loading took ..."), o->event the uvicorn-style ones ("Application
 * startup complete.", "Shutting down"). libmicrohttpd reports its own
 * internal errors on stderr (MHD_USE_ERROR_LOG), as it did in the command.
 *
 * Errors: -1 with err filled; ECANCELED when o->cancel was set during the
 * load. A cancel that comes before the server would listen ends the call
 * with 0 and no server; one while it serves stops it (0). Threads: the
 * loader's and libmicrohttpd's polling thread, all joined before return.
 * One rs_serve* at a time per process (the CUDA entries are shared).
 */
#include <signal.h>
#include <stdint.h>

#include "loader.h"
#include "tp.h"
#include "core/model/safetensors.h"
#include "core/base/util.h"

struct rs_opts {
	const char *dir;              /* the model's path: its id by default */
	const char *name;             /* the id in /v1/models; NULL: dir's base name */
	const char *host;             /* address to bind (getaddrinfo) */
	long port;                    /* 0: a free one (the log line says which) */
	enum ld_device device;        /* LD_CUDA: the devices are open (entry r: rank r) */
	int jobs;
	uint64_t chunk;
	int dummy;                    /* allocate, read nothing */
	int verify;                   /* compare every loaded byte with the files first */
	const int *gpus;              /* tensor-parallel: the device number of each rank */
	const char *dump;             /* tensor-parallel, host memory: each rank's arena as DUMP/rank-R.bin */
	uint64_t t0;                  /* now_ns() when the start began ("Model loading took") */
	cs_msg_fn log, event;         /* may be NULL */
	void *cb_arg;
	volatile sig_atomic_t *cancel;/* set: stop; must not be NULL */
};

/* The whole model into one arena per shard on the device (or host
 * memory), then serve. */
int rs_serve(const struct st_model *m, const struct rs_opts *o, struct cs_err *err);
/* Every rank's slices of plan p (ld_load_tp), each file byte read once,
 * then serve; /v1/models says how the model was split. */
int rs_serve_tp(const struct st_model *m, const struct tp_plan *p, const struct rs_opts *o, struct cs_err *err);

/* The HTTP server alone, answering as above with models_json (borrowed:
 * it must outlive the server) for /v1/models. port 0: a free one. */
struct rs_http;
int rs_http_start(const char *host, long port, const char *models_json, struct rs_http **out, struct cs_err *err);
long rs_http_port(const struct rs_http *h);
void rs_http_stop(struct rs_http *h);

#endif
