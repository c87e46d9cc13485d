#define _GNU_SOURCE
#include "core/load/refserve.h"
#include "core/model/ckptwrite.h"
#include "core/base/fsutil.h"
#include "core/base/strbuf.h"
#include "core/load/loader.h"
#include "core/model/safetensors.h"
#include "core/load/tp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

/* One request to 127.0.0.1:port; the status (-1: nothing listens), the
 * body in *body (caller frees) when asked. */
static int http(long port, const char *method, const char *path, char **body)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	char req[256];
	int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", method, path);
	if (write(s, req, (size_t)n) != n) {
		close(s);
		return -1;
	}
	struct strbuf r = STRBUF_INIT;
	char buf[4096];
	ssize_t got;
	while ((got = read(s, buf, sizeof(buf))) > 0)
		strbuf_add(&r, buf, (size_t)got);
	close(s);
	int code = -1;
	if (r.len > 12 && !strncmp(r.buf, "HTTP/1.1 ", 9))
		code = atoi(r.buf + 9);
	const char *b = r.buf ? strstr(r.buf, "\r\n\r\n") : NULL;
	if (body)
		*body = xstrdup(b ? b + 4 : "");
	strbuf_release(&r);
	return code;
}

/* What the server said, from its thread. */
struct seen {
	pthread_mutex_t mu;
	struct strbuf log;
	long port;
	int started, stopped;
};

static void on_log(const char *msg, void *arg)
{
	struct seen *s = arg;
	pthread_mutex_lock(&s->mu);
	strbuf_addf(&s->log, "%s\n", msg);
	const char *p = strstr(msg, "Starting API server on http://127.0.0.1:");
	if (p)
		s->port = atol(p + strlen("Starting API server on http://127.0.0.1:"));
	pthread_mutex_unlock(&s->mu);
}

static void on_event(const char *msg, void *arg)
{
	struct seen *s = arg;
	pthread_mutex_lock(&s->mu);
	if (!strcmp(msg, "Application startup complete."))
		s->started++;
	if (!strcmp(msg, "Shutting down"))
		s->stopped++;
	pthread_mutex_unlock(&s->mu);
}

struct job {
	const struct st_model *m;
	const struct tp_plan *plan;
	struct rs_opts o;
	volatile sig_atomic_t stop;
	struct seen seen;
	int rc;
	struct cs_err err;
};

static void job_init(struct job *j, const struct st_model *m, const char *dir)
{
	memset(j, 0, sizeof(*j));
	pthread_mutex_init(&j->seen.mu, NULL);
	j->seen.log = (struct strbuf)STRBUF_INIT;
	j->m = m;
	j->o = (struct rs_opts){ .dir = dir, .host = "127.0.0.1", .port = 0, .device = LD_HOST, .jobs = 2,
				 .chunk = 1u << 20, .t0 = now_ns(), .log = on_log, .event = on_event,
				 .cb_arg = &j->seen, .cancel = &j->stop };
}

static void job_free(struct job *j)
{
	strbuf_release(&j->seen.log);
	pthread_mutex_destroy(&j->seen.mu);
}

static void *job_run(void *p)
{
	struct job *j = p;
	j->rc = j->plan ? rs_serve_tp(j->m, j->plan, &j->o, &j->err) : rs_serve(j->m, &j->o, &j->err);
	return NULL;
}

/* Wait (up to a minute: no timing is asserted) until the server says it
 * is up; its port, or -1 when it ended first. */
static long wait_started(struct job *j)
{
	for (int i = 0; i < 6000; i++) {
		pthread_mutex_lock(&j->seen.mu);
		long port = j->seen.started ? j->seen.port : 0;
		pthread_mutex_unlock(&j->seen.mu);
		if (port)
			return port;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return -1;
}

static int logged(struct job *j, const char *what)
{
	pthread_mutex_lock(&j->seen.mu);
	int r = j->seen.log.buf && strstr(j->seen.log.buf, what) != NULL;
	pthread_mutex_unlock(&j->seen.mu);
	return r;
}

static void test_http(void)
{
	struct rs_http *h = NULL;
	struct cs_err e = { 0, "" };
	const char *json = "{\"object\":\"list\",\"data\":[]}";
	ok(rs_http_start("127.0.0.1", 0, json, &h, &e) == 0, "the HTTP server starts on a free port (%s)", e.msg);
	long port = rs_http_port(h);
	ok(port > 0 && port < 65536, "... its port (%ld)", port);
	char *b = NULL;
	is_int(http(port, "GET", "/health", &b), 200, "GET /health: 200");
	is_str(b, "", "... an empty body");
	free(b);
	is_int(http(port, "HEAD", "/health", NULL), 200, "HEAD /health: 200");
	is_int(http(port, "GET", "/v1/models", &b), 200, "GET /v1/models: 200");
	is_str(b, json, "... the models JSON it was given");
	free(b);
	is_int(http(port, "GET", "/nope", &b), 404, "an unknown path: 404");
	is_str(b, "{\"error\":\"not found\"}", "... saying so");
	free(b);
	is_int(http(port, "GET", "/health/x", NULL), 404, "/health/x is not /health: 404");
	is_int(http(port, "POST", "/health", &b), 405, "POST: 405");
	is_str(b, "{\"error\":\"method not allowed\"}", "... saying so");
	free(b);
	rs_http_stop(h);
	is_int(http(port, "GET", "/health", NULL), -1, "stopped: nothing listens");

	ok(rs_http_start("nonexistent.invalid", 0, json, &h, &e) < 0 && strstr(e.msg, "cannot resolve 'nonexistent.invalid'"),
	   "an unknown host: an error (%s)", e.msg);
	/* A port another socket holds. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	ok(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s, 1) == 0 &&
	   getsockname(s, (struct sockaddr *)&a, &len) == 0, "a socket holds a port");
	char want[64];
	snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%d: ", ntohs(a.sin_port));
	ok(rs_http_start("127.0.0.1", ntohs(a.sin_port), json, &h, &e) < 0 && strstr(e.msg, want) &&
	   e.code == EADDRINUSE, "a port in use: an error (%s)", e.msg);
	close(s);
}

/* The whole model, host memory, verified, then served until cancelled. */
static void test_serve(const struct st_model *m, const char *dir)
{
	struct job j;
	job_init(&j, m, dir);
	j.o.verify = 1;
	j.o.name = "tiny-llama";
	pthread_t th;
	ok(pthread_create(&th, NULL, job_run, &j) == 0, "serve in a thread");
	long port = wait_started(&j);
	ok(port > 0, "loaded, verified, listening (port %ld)", port);
	ok(logged(&j, "Loading the tensors of ") && logged(&j, "into host memory with 2 threads"),
	   "the load line says what goes where");
	ok(logged(&j, "Loading weights took ") && logged(&j, "Model loading took "), "vLLM's load lines");
	ok(logged(&j, "every tensor identical to the files"), "--verify: the check passed");
	is_int(http(port, "GET", "/health", NULL), 200, "after the load /health is 200");
	char *b = NULL;
	is_int(http(port, "GET", "/v1/models", &b), 200, "/v1/models: 200");
	json_t *root = json_loads(b, 0, NULL);
	json_t *d0 = json_array_get(json_object_get(root, "data"), 0);
	ok(root && !strcmp(json_string_value(json_object_get(root, "object")), "list") && d0 &&
	   !strcmp(json_string_value(json_object_get(d0, "id")), "tiny-llama") &&
	   !strcmp(json_string_value(json_object_get(d0, "owned_by")), "coldstart") &&
	   !json_object_get(d0, "coldstart"), "... names the model (--served-model-name), no split (%s)", b);
	json_decref(root);
	free(b);
	is_int(http(port, "GET", "/nope", NULL), 404, "other paths are 404");
	__atomic_store_n(&j.stop, 1, __ATOMIC_RELAXED); /* as a signal handler would */
	pthread_join(th, NULL);
	is_int(j.rc, 0, "cancelled while serving: it stops, 0");
	ok(j.seen.stopped == 1, "... saying it shuts down");
	is_int(http(port, "GET", "/health", NULL), -1, "... and nothing listens after");
	job_free(&j);

	/* --dummy: memory, no reads; the id defaults to the directory's name. */
	job_init(&j, m, dir);
	j.o.dummy = 1;
	ok(pthread_create(&th, NULL, job_run, &j) == 0, "dummy: serve in a thread");
	port = wait_started(&j);
	ok(port > 0 && logged(&j, "Loading nothing (dummy) instead the tensors") && !logged(&j, "Read "),
	   "dummy: listening, nothing read");
	is_int(http(port, "GET", "/v1/models", &b), 200, "dummy: /v1/models");
	ok(b && strstr(b, "\"id\":\"m\""), "... the directory's name as the id (%s)", b);
	free(b);
	__atomic_store_n(&j.stop, 1, __ATOMIC_RELAXED); /* as a signal handler would */
	pthread_join(th, NULL);
	is_int(j.rc, 0, "dummy: stopped, 0");
	job_free(&j);

	/* Cancelled before the load: no server ever. */
	job_init(&j, m, dir);
	__atomic_store_n(&j.stop, 1, __ATOMIC_RELAXED); /* as a signal handler would */
	job_run(&j);
	ok(j.rc < 0 && j.err.code == ECANCELED && !j.seen.started, "cancelled first: ECANCELED, never listening (%s)",
	   j.err.msg);
	job_free(&j);

	/* A host it cannot bind: loaded, then the error; never up. */
	job_init(&j, m, dir);
	j.o.host = "nonexistent.invalid";
	job_run(&j);
	ok(j.rc < 0 && strstr(j.err.msg, "cannot resolve") && !j.seen.started && logged(&j, "Model loading took"),
	   "an unknown host: the error after the load (%s)", j.err.msg);
	job_free(&j);
}

/* TP=2 in host memory: the split in /v1/models and the log, the slices dumped. */
static void test_serve_tp(const struct st_model *m, const char *dir, const char *root)
{
	struct tp_plan p;
	struct cs_err e;
	ok(tp_plan_make(m, 2, 0, &p, &e) == 0, "TP=2 plan");
	struct job j;
	job_init(&j, m, dir);
	int gpus[2] = { 0, 1 };
	char *dump = path_join(root, "slices");
	j.plan = &p;
	j.o.gpus = gpus;
	j.o.verify = 1;
	j.o.dump = dump;
	pthread_t th;
	ok(pthread_create(&th, NULL, job_run, &j) == 0, "TP=2: serve in a thread");
	long port = wait_started(&j);
	ok(port > 0, "TP=2: loaded, verified, listening");
	ok(logged(&j, "Tensor parallel: TP=2, ranks on host memory;") && logged(&j, "Rank 1: "),
	   "TP=2: the log says how it was split");
	ok(logged(&j, "Verified every rank's slices"), "TP=2: --verify passed");
	char *b = NULL;
	is_int(http(port, "GET", "/v1/models", &b), 200, "TP=2: /v1/models");
	json_t *r = json_loads(b, 0, NULL);
	json_t *cs = json_object_get(json_array_get(json_object_get(r, "data"), 0), "coldstart");
	json_t *ranks = json_object_get(cs, "ranks");
	ok(cs && json_integer_value(json_object_get(cs, "tp")) == 2 &&
	   !strcmp(json_string_value(json_object_get(cs, "device")), "host") && json_array_size(ranks) == 2,
	   "... tp 2 in host memory, two ranks (%s)", b);
	ok(json_integer_value(json_object_get(json_array_get(ranks, 1), "bytes")) == (json_int_t)p.rank_bytes[1] &&
	   !json_object_get(json_array_get(ranks, 1), "gpu"), "... rank 1's bytes, no GPU named in host mode");
	ok(json_integer_value(json_object_get(cs, "kv_heads")) == p.kv_heads &&
	   json_integer_value(json_object_get(json_object_get(cs, "tensors"), "kv")) == (json_int_t)p.counts[TP_KV],
	   "... kv heads and the kv tensors");
	is_int(json_integer_value(json_object_get(cs, "read_bytes")), m->tensor_bytes, "... each file byte read once");
	json_decref(r);
	free(b);
	__atomic_store_n(&j.stop, 1, __ATOMIC_RELAXED); /* as a signal handler would */
	pthread_join(th, NULL);
	is_int(j.rc, 0, "TP=2: stopped, 0");
	struct stat st;
	char *r1 = path_join(dump, "rank-1.bin");
	ok(stat(r1, &st) == 0 && (uint64_t)st.st_size == p.rank_bytes[1], "TP=2: rank 1's arena dumped");
	free(r1);
	job_free(&j);

	/* A dump directory that cannot be made: the error, no server. */
	job_init(&j, m, dir);
	char *bad = path_join(root, "no/such/parent");
	j.plan = &p;
	j.o.gpus = gpus;
	j.o.dump = bad;
	job_run(&j);
	ok(j.rc < 0 && strstr(j.err.msg, "cannot create") && strstr(j.err.msg, "no/such/parent") && !j.seen.started,
	   "TP=2: an impossible dump directory is an error (%s)", j.err.msg);
	job_free(&j);
	free(bad);
	free(dump);
	tp_plan_release(&p);
}

int main(void)
{
	char tmpl[] = "/tmp/cs-test-refserve-XXXXXX";
	char *root = mkdtemp(tmpl);
	char *dir = path_join(root, "m");
	struct ck_plan p;
	struct cs_err e = { 0, "" };
	ok(ck_plan_build("tiny", 2, ST_BF16, 4000000, 1, &p, &e) == 0, "plan a tiny model");
	struct ck_write_opts wo = { .dir = dir };
	ok(ck_write(&p, &wo, &e) == 0, "write it");
	ck_plan_release(&p);
	struct st_model m;
	ok(st_model_open(dir, &m, &e) == 0, "open it");

	test_http();
	test_serve(&m, dir);
	test_serve_tp(&m, dir, root);

	st_model_release(&m);
	fs_remove_tree(root);
	free(dir);
	return done_testing();
}
