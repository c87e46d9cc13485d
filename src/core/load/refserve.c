#define _GNU_SOURCE
#include "refserve.h"

#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cuda.h"
#include "core/base/fsutil.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

struct rs_http {
	struct MHD_Daemon *d;
	const char *models_json;
	long port;
};

static void logf_(const struct rs_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const struct rs_opts *o, const char *fmt, ...)
{
	if (!o->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *line = xvasprintf(fmt, ap);
	va_end(ap);
	o->log(line, o->cb_arg);
	free(line);
}

static void event(const struct rs_opts *o, const char *what)
{
	if (o->event)
		o->event(what, o->cb_arg);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	const struct rs_http *h = cls;
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	unsigned code = 404;
	const char *body = "{\"error\":\"not found\"}";
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		code = 405;
		body = "{\"error\":\"method not allowed\"}";
	} else if (!strcmp(url, "/health")) {
		code = 200;
		body = "";
	} else if (!strcmp(url, "/v1/models")) {
		code = 200;
		body = h->models_json;
	}
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (*body)
		MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* A listening socket on host:port; *bound the port it got. */
static int listen_on(const char *host, long port, long *bound, struct cs_err *err)
{
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	char ps[16];
	snprintf(ps, sizeof(ps), "%ld", port);
	int g = getaddrinfo(host, ps, &hints, &ai);
	if (g)
		return cs_fail(err, EINVAL, "cannot resolve '%s': %s", host, gai_strerror(g));
	int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (s >= 0)
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, ai->ai_addr, ai->ai_addrlen) < 0 || listen(s, 128) < 0) {
		int e = errno;
		if (s >= 0)
			close(s);
		freeaddrinfo(ai);
		return cs_fail_errno(err, e, "cannot listen on %s:%ld", host, port);
	}
	freeaddrinfo(ai);
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	*bound = port;
	if (!port && getsockname(s, (struct sockaddr *)&sa, &len) == 0)
		*bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
							: ((struct sockaddr_in *)&sa)->sin_port);
	return s;
}

int rs_http_start(const char *host, long port, const char *models_json, struct rs_http **out, struct cs_err *err)
{
	struct rs_http *h = xcalloc(1, sizeof(*h));
	h->models_json = models_json;
	int s = listen_on(host, port, &h->port, err);
	if (s < 0) {
		free(h);
		return -1;
	}
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handler, h,
				MHD_OPTION_LISTEN_SOCKET, s, MHD_OPTION_END);
	if (!h->d) {
		close(s);
		free(h);
		return cs_fail(err, EIO, "cannot start the HTTP server on %s:%ld", host, port);
	}
	*out = h;
	return 0;
}

long rs_http_port(const struct rs_http *h)
{
	return h->port;
}

void rs_http_stop(struct rs_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}

/* Answer until o->cancel is set. */
static int serve(const struct rs_opts *o, const char *models_json, struct cs_err *err)
{
	struct rs_http *h;
	if (cs_cancelled(o->cancel))
		return 0;
	if (rs_http_start(o->host, o->port, models_json, &h, err))
		return -1;
	logf_(o, "Starting API server on http://%s:%ld", o->host, rs_http_port(h));
	event(o, "Application startup complete.");
	while (!cs_cancelled(o->cancel)) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	event(o, "Shutting down");
	rs_http_stop(h);
	return 0;
}

/* /v1/models: the model's id (and, tensor-parallel, how it was split). */
static char *models_json(const char *dir, const char *name, json_t *split)
{
	char *id = name ? xstrdup(name) : fs_basename(dir);
	json_t *list = json_object(), *data = json_array(), *mo = json_object();
	json_object_set_new(mo, "id", json_string(id));
	json_object_set_new(mo, "object", json_string("model"));
	json_object_set_new(mo, "created", json_integer((json_int_t)time(NULL)));
	json_object_set_new(mo, "owned_by", json_string("coldstart"));
	if (split)
		json_object_set_new(mo, "coldstart", split);
	json_array_append_new(data, mo);
	json_object_set_new(list, "object", json_string("list"));
	json_object_set_new(list, "data", data);
	char *s = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	free(id);
	return s;
}

/* "Model loading took ...", then serve with /v1/models from split. */
static int loaded(const struct rs_opts *o, uint64_t bytes, json_t *split, struct cs_err *err)
{
	logf_(o, "Model loading took %.4f GiB memory and %.6f seconds", (double)bytes / (double)(1ULL << 30),
	      (double)(now_ns() - o->t0) / 1e9);
	char *json = models_json(o->dir, o->name, split);
	int rc = serve(o, json, err);
	free(json);
	return rc;
}

int rs_serve(const struct st_model *m, const struct rs_opts *o, struct cs_err *err)
{
	int cuda = o->device == LD_CUDA;
	logf_(o, "Loading %s%s of %zu shard(s) into %s%s%s with %d threads", o->dummy ? "nothing (dummy) instead " : "",
	      "the tensors", m->nshards, cuda ? "GPU " : "host memory", cuda ? cuda_device_name() : "", "", o->jobs);
	struct ld_opts lo = { o->device, o->jobs, o->chunk, o->dummy, 0, o->cancel };
	struct loader L;
	if (ld_load(m, &lo, &L, err))
		return -1;
	logf_(o, "Loading weights took %.2f seconds", L.seconds);
	if (L.seconds > 0 && !o->dummy) {
		char r[32];
		logf_(o, "Read %llu bytes at %s/s", (unsigned long long)L.bytes,
		      fmt_bytes(r, sizeof(r), (uint64_t)((double)L.bytes / L.seconds)));
	}
	int rc = 0;
	if (o->verify) {
		struct cs_err v;
		if (ld_verify(m, &L, &v))
			rc = cs_fail(err, v.code, "verification failed: %s", v.msg);
		else
			logf_(o, "Verified %llu bytes: every tensor identical to the files", (unsigned long long)L.bytes);
	}
	if (!rc)
		rc = loaded(o, L.bytes, NULL, err);
	ld_release(&L);
	return rc;
}

/* The "coldstart" object of /v1/models: how the model was split. */
static json_t *split_json(const struct tp_plan *p, const struct ld_tp *T, const int *gpus, enum ld_device dev)
{
	json_t *o = json_object(), *ranks = json_array(), *kinds = json_object();
	json_object_set_new(o, "tp", json_integer(p->n));
	json_object_set_new(o, "device", json_string(dev == LD_CUDA ? "cuda" : "host"));
	for (int r = 0; r < p->n; r++) {
		json_t *rk = json_pack("{s:i, s:I}", "rank", r, "bytes", (json_int_t)T->bytes[r]);
		if (dev == LD_CUDA)
			json_object_set_new(rk, "gpu", json_integer(gpus[r]));
		json_array_append_new(ranks, rk);
	}
	for (int k = 0; k < TP_NKINDS; k++)
		json_object_set_new(kinds, tp_kind_name((enum tp_kind)k), json_integer((json_int_t)p->counts[k]));
	json_object_set_new(o, "ranks", ranks);
	json_object_set_new(o, "tensors", kinds);
	json_object_set_new(o, "kv_heads", p->kv_heads > 0 ? json_integer(p->kv_heads) : json_null());
	json_object_set_new(o, "read_bytes", json_integer((json_int_t)T->read_bytes));
	return o;
}

/* Each rank's arena as DIR/rank-R.bin. */
static int dump_slices(const char *dir, const struct ld_tp *T, struct cs_err *err)
{
	if (fs_mkdir_last(dir, 0755) < 0)
		return cs_fail_errno(err, errno, "cannot create '%s'", dir);
	for (int r = 0; r < T->n; r++) {
		char *p = xasprintf("%s/rank-%d.bin", dir, r);
		int rc = fs_write_file_sync(p, T->host[r], (size_t)T->bytes[r], err);
		free(p);
		if (rc)
			return -1;
	}
	return 0;
}

/* The plan and where each rank goes, in the log. */
static void log_plan(const struct tp_plan *p, const struct rs_opts *o)
{
	int cuda = o->device == LD_CUDA;
	struct strbuf on = STRBUF_INIT;
	for (int r = 0; r < p->n; r++)
		strbuf_addf(&on, "%s%d", r ? "," : "", o->gpus[r]);
	logf_(o, "Tensor parallel: TP=%d, ranks on %s%s; %zu column, %zu kv, %zu row, %zu vocab, %zu replicated tensors; "
	      "kv heads %d", p->n, cuda ? "GPUs " : "host memory", cuda ? on.buf : "", p->counts[TP_COLUMN],
	      p->counts[TP_KV], p->counts[TP_ROW], p->counts[TP_VOCAB], p->counts[TP_REPLICATED], p->kv_heads);
	strbuf_release(&on);
	for (int r = 0; r < p->n; r++) {
		char b[32];
		logf_(o, "Rank %d: %s%s%s", r, fmt_bytes(b, sizeof(b), p->rank_bytes[r]), cuda ? " on " : "",
		      cuda ? cuda_device_name_of(r) : "");
	}
}

int rs_serve_tp(const struct st_model *m, const struct tp_plan *p, const struct rs_opts *o, struct cs_err *err)
{
	log_plan(p, o);
	struct ld_opts lo = { o->device, o->jobs, o->chunk, o->dummy, 0, o->cancel };
	struct ld_tp T;
	if (ld_load_tp(m, p, &lo, &T, err))
		return -1;
	uint64_t total = 0;
	for (int r = 0; r < p->n; r++)
		total += T.bytes[r];
	logf_(o, "Loading weights took %.2f seconds", T.seconds);
	if (T.seconds > 0 && !o->dummy) {
		char rb[32], wb[32];
		logf_(o, "Read %llu bytes at %s/s, wrote %llu bytes to %d ranks at %s/s", (unsigned long long)T.read_bytes,
		      fmt_bytes(rb, sizeof(rb), (uint64_t)((double)T.read_bytes / T.seconds)), (unsigned long long)total,
		      p->n, fmt_bytes(wb, sizeof(wb), (uint64_t)((double)total / T.seconds)));
	}
	int rc = 0;
	if (o->verify) {
		struct cs_err v;
		if (ld_verify_tp(m, p, &T, &v))
			rc = cs_fail(err, v.code, "verification failed: %s", v.msg);
		else
			logf_(o, "Verified every rank's slices: identical to the files");
	}
	if (!rc && o->dump)
		rc = dump_slices(o->dump, &T, err);
	if (!rc)
		rc = loaded(o, total, split_json(p, &T, o->gpus, o->device), err);
	ld_tp_release(&T);
	return rc;
}
