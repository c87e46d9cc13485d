#ifndef CS_CACHESERVE_H
#define CS_CACHESERVE_H
/* cache serve: the published models of root over read-only HTTP on
 * listen_on (ADDRESS:PORT or PORT; NULL: 127.0.0.1, any free port), until
 * SIGINT or SIGTERM. GET / lists the models, GET /NAME/ a model's files (as
 * nginx's JSON autoindex does), GET /NAME/FILE a file with byte ranges,
 * ETag and If-Match; partial, corrupt and unknown models are 404. Prints
 * the server's URL on stdout. Returns the exit status. */
int cache_serve(const char *root, const char *listen_on, int quiet);

#endif
