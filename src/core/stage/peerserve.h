#ifndef CS_PEERSERVE_H
#define CS_PEERSERVE_H
/*
 * peerserve: a staging root's published models over read-only HTTP, for
 * peers to stage from (`coldstart cache serve`; `coldstart stage
 * http://NODE:PORT/NAME/` reads it as it reads nginx).
 *
 *   GET /             the published models, JSON: [{name, type:"directory",
 *                     files, size}], partial and corrupt ones left out
 *   GET /NAME/        NAME's files as its manifest lists them, each checked
 *                     (sc_serve_list), as nginx's JSON autoindex lists a
 *                     directory: [{name, type:"file", size}]
 *   GET /NAME/FILE    the file (sc_serve_open: checked against the
 *                     manifest at every request), with one byte range
 *                     ("bytes=A-B", "A-", "-N": digits either side of one
 *                     '-'; anything else, or past the end, is 416),
 *                     ETag ("SIZE-MTIME_NS" in hex), Last-Modified and
 *                     If-Match (412 when it names another ETag)
 *   HEAD              as GET, the headers alone
 * A partial, corrupt or unknown model, a path outside the model and the
 * manifest are 404; a file that no longer matches the manifest is 409 and
 * marks the model corrupt (stagecache.h, sc_serve_*), not a 5xx a peer
 * would retry; an error answer's reason is also in HS_REASON_HEADER, which
 * a HEAD carries too. Any other method is 405.
 *
 * Connections are capped in all (max_connections) and per client address
 * (max_per_client); one whose request headers are not all in within
 * request_timeout of it waiting for a request -- however slowly they
 * trickle -- is shut down; one silent for idle_timeout is closed.
 *
 * Threads: microhttpd's, one per connection, and a watchdog for the
 * request deadline. log is called on them (a line per request, "GET /m/";
 * microhttpd's own messages, at most one a second), and may be NULL.
 * o->root is borrowed until ps_stop.
 */
#include <stdint.h>

#include "core/base/util.h"

#define PS_MAX_CONNECTIONS 256
#define PS_MAX_PER_CLIENT 64     /* a peer's stage: up to 64 requests in flight */
#define PS_REQUEST_TIMEOUT_NS (10ull * 1000000000)
#define PS_IDLE_TIMEOUT_NS (60ull * 1000000000)

struct ps_opts {
	const char *root;             /* the staging root */
	const char *host;             /* an IPv4 address to listen on */
	int port;                     /* 0: any free port */
	long max_connections;         /* at once, in all */
	long max_per_client;          /* at once, from one address */
	uint64_t request_timeout_ns;
	uint64_t idle_timeout_ns;
	cs_msg_fn log;
	void *log_arg;
};

struct ps_server;

/* Listen and serve until ps_stop. NULL with err when the address cannot
 * be listened on (EINVAL: not an IPv4 address; else bind's errno), the
 * root is no directory (ENOENT) or the server does not start. */
struct ps_server *ps_start(const struct ps_opts *o, struct cs_err *err);
/* The port listened on (the one chosen when o->port was 0). */
int ps_port(const struct ps_server *s);
/* Stop serving (open connections closed, threads joined) and free s.
 * Returns how many connections the request deadline ended. */
uint64_t ps_stop(struct ps_server *s);

/* A Range header against a file of size bytes: 1 with [*off, *off + *len),
 * 0 when h is NULL (the whole file), -1 when it is not satisfiable or not
 * understood (a 416). */
int ps_parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len);

#endif
