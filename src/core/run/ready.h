#ifndef CS_READY_H
#define CS_READY_H
/*
 * ready: is the server ready? One check at a time, each bounded.
 *
 * Specs: "http://HOST:PORT/PATH" (ready on HTTP 200; libcurl, proxies off,
 * keep-alive), "tcp:PORT" or "tcp:HOST:PORT" (a connect succeeds),
 * "log:REGEX" (POSIX extended regex on the server's output; the match is
 * seen by srvlog, this module only compiles it). "{port}" in a spec is
 * replaced by the port first.
 *
 * Ownership: ready_spec owns its strings, regex and curl handle
 * (ready_release). Not thread-safe per spec.
 */
#include <regex.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/base/util.h"

enum ready_kind { READY_HTTP, READY_TCP, READY_LOG };

struct ready_spec {
	enum ready_kind kind;
	char *text;       /* the spec after substitution */
	char *url;        /* http */
	char *host;       /* tcp */
	int port;         /* tcp */
	regex_t re;       /* log */
	int have_re;
	void *curl;       /* CURL*, created on first check */
	long last_http;   /* last HTTP status any check got (0: never an answer) */
	char last_error[256]; /* why the last check failed ("" when it answered) */
	/* After a successful http/tcp check: the address that answered. */
	struct sockaddr_storage peer;
	int have_peer;
};

int ready_parse(const char *spec, int port, struct ready_spec *r, struct cs_err *err);
void ready_release(struct ready_spec *r);

/* One check with a per-request timeout: 1 ready, 0 not (yet). */
int ready_check(struct ready_spec *r, uint64_t timeout_ns);

/* The port an http/tcp spec checks when its host is this machine's
 * loopback (127.0.0.1, localhost, ::1); 0 otherwise. */
int ready_local_port(const struct ready_spec *r);

/* "HTTP 503", "no HTTP answer (Connection refused)", "not ready": what the
 * last check saw, for messages. */
void ready_last(const struct ready_spec *r, char *buf, size_t len);

/* Global libcurl setup; call once before threads start. */
void ready_global_init(void);

#endif
