#ifndef CS_CACHESERVE_H
#define CS_CACHESERVE_H
#include <stdint.h>

/* cache serve's settings (cache --help says what each is for). */
struct serve_opts {
	const char *root;
	const char *listen_on;         /* ADDRESS:PORT or PORT; NULL: 127.0.0.1, any free port */
	int quiet;
	long max_connections;          /* at once, in all */
	long max_per_client;           /* at once, from one address */
	uint64_t request_timeout_ns;   /* a request's headers complete within this, trickled or not */
	uint64_t idle_timeout_ns;      /* a connection silent this long is closed */
};

#define SERVE_MAX_CONNECTIONS 256
#define SERVE_MAX_PER_CLIENT 64          /* a peer's stage: up to 64 requests in flight */
#define SERVE_REQUEST_TIMEOUT_NS (10ull * 1000000000)
#define SERVE_IDLE_TIMEOUT_NS (60ull * 1000000000)

/* cache serve: the published models of o->root over read-only HTTP until
 * SIGINT or SIGTERM (exit 0: asked to stop). GET / lists the models, GET
 * /NAME/ a model's files (as nginx's JSON autoindex does), GET /NAME/FILE
 * a file with byte ranges, ETag and If-Match; partial, corrupt and unknown
 * models are 404; a file that no longer matches the manifest is 409 and
 * marks the model corrupt (stagecache.h, sc_serve_*). Connections are
 * capped in all and per client; one whose request headers are not in
 * within the request timeout is closed. Prints the server's URL on stdout.
 * Returns the exit status. */
int cache_serve(const struct serve_opts *o);

#endif
