#ifndef CS_CACHESERVE_H
#define CS_CACHESERVE_H
#include "core/stage/peerserve.h"

/* cache serve's settings: the engine's, and what the command adds. */
struct serve_cfg {
	const char *listen_on;         /* ADDRESS:PORT or PORT; NULL: 127.0.0.1, any free port */
	int quiet;                     /* no line per request */
	int seen;                      /* a serve option was given (quiet aside) */
	struct ps_opts ps;
	char host[64];
};

#define SERVE_CFG_INIT { .ps = { .max_connections = PS_MAX_CONNECTIONS, .max_per_client = PS_MAX_PER_CLIENT, \
				 .request_timeout_ns = PS_REQUEST_TIMEOUT_NS, .idle_timeout_ns = PS_IDLE_TIMEOUT_NS } }

/* serve's options, a group for cache's table (--listen, --max-connections,
 * --max-per-client, --request-timeout, -q). The table is static: one
 * serve_cfg per process. */
const struct opt *serve_options(struct serve_cfg *c);

/* cache serve: the published models of root over read-only HTTP
 * (peerserve.h) until SIGINT or SIGTERM (exit 0: asked to stop). Prints
 * the server's URL on stdout. Returns the exit status. */
int cache_serve(struct serve_cfg *c, const char *root);

#endif
