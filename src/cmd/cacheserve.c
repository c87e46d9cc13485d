/* coldstart cache serve: a read-only HTTP view of a root's published models, for peers to stage from. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "../cli.h"
#include "../core/fsutil.h"
#include "../core/httpsrc.h"
#include "../core/stagecache.h"
#include "../core/util.h"
#include "cmds.h"
#include "cacheserve.h"
#include "../core/banned.h"

#define MANIFEST_NAME ".coldstart-manifest.json"

struct server {
	const char *root;
	int quiet;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned code, const char *type, char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result not_found(struct MHD_Connection *c, const char *what)
{
	return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", xasprintf("not served here: %s\n", what));
}

/* GET /: the published models. */
static enum MHD_Result list_models(struct MHD_Connection *c, const struct server *s)
{
	struct sc_entry *e;
	size_t n;
	struct cs_err err;
	if (sc_list(s->root, &e, &n, &err))
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", xasprintf("%s\n", err.msg));
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		if (!e[i].partial && !e[i].problem)
			json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I}", "name", e[i].name, "type", "directory",
							   "files", (json_int_t)e[i].files, "size", (json_int_t)e[i].bytes));
	sc_entries_free(e, n);
	char *body = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return answer(c, MHD_HTTP_OK, "application/json", body);
}

/* GET /NAME/: every file of the model, as nginx's JSON autoindex lists a
 * directory (names relative to it), which `coldstart stage` reads. */
static json_t *walk_list;
static size_t walk_prefix;

static int walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)ftw;
	const char *rel = path + walk_prefix;
	if (type == FTW_F && S_ISREG(sb->st_mode) && strcmp(rel, MANIFEST_NAME))
		json_array_append_new(walk_list, json_pack("{s:s, s:s, s:I}", "name", rel, "type", "file", "size",
							    (json_int_t)sb->st_size));
	return 0;
}

static enum MHD_Result list_files(struct MHD_Connection *c, const struct server *s, const char *name)
{
	char *dir = path_join(s->root, name);
	walk_list = json_array();
	walk_prefix = strlen(dir) + 1;
	nftw(dir, walk_one, 16, FTW_PHYS);
	free(dir);
	char *body = json_dumps(walk_list, JSON_COMPACT);
	json_decref(walk_list);
	walk_list = NULL;
	return answer(c, MHD_HTTP_OK, "application/json", body);
}

/* "bytes=A-B", "bytes=A-", "bytes=-N" against size: 1 with [*off, *off+*len),
 * 0 when absent, -1 when unsatisfiable or not understood. */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	if (!h)
		return 0;
	unsigned long long a = 0, b = 0;
	char tail;
	if (sscanf(h, "bytes=%llu-%llu%c", &a, &b, &tail) == 2) {
		if (a > b || a >= size)
			return -1;
		if (b >= size)
			b = size - 1;
	} else if (sscanf(h, "bytes=%llu-%c", &a, &tail) == 1 && h[strlen(h) - 1] == '-') {
		if (a >= size)
			return -1;
		b = size - 1;
	} else if (sscanf(h, "bytes=-%llu%c", &b, &tail) == 1) {
		if (!b || !size)
			return -1;
		a = b >= size ? 0 : size - b;
		b = size - 1;
	} else {
		return -1;
	}
	*off = a;
	*len = b - a + 1;
	return 1;
}

static enum MHD_Result send_file(struct MHD_Connection *c, const struct server *s, const char *name, const char *rel)
{
	if (!hs_safe_rel(rel) || !strcmp(rel, MANIFEST_NAME))
		return not_found(c, rel);
	char *path = xasprintf("%s/%s/%s", s->root, name, rel);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			close(fd);
		return not_found(c, rel);
	}
	char etag[64], lm[64];
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)sb.st_size,
		 (unsigned long long)sb.st_mtim.tv_sec * 1000000000ull + (unsigned long long)sb.st_mtim.tv_nsec);
	struct tm tm;
	gmtime_r(&sb.st_mtim.tv_sec, &tm);
	strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	const char *im = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Match");
	if (im && strcmp(im, "*") && strcmp(im, etag)) {
		close(fd);
		return answer(c, MHD_HTTP_PRECONDITION_FAILED, "text/plain", xasprintf("%s has changed\n", rel));
	}
	uint64_t size = (uint64_t)sb.st_size, off = 0, len = size;
	int ranged = parse_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"), size, &off, &len);
	if (ranged < 0) {
		close(fd);
		struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		char cr[64];
		snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
		MHD_add_response_header(r, "Content-Range", cr);
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
		MHD_destroy_response(r);
		return ret;
	}
	/* The open file: an eviction meanwhile cannot take the bytes away.
	 * (For HEAD, microhttpd sends the headers and the length alone.) */
	struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, (int64_t)off);
	if (!r) {
		close(fd);
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", xstrdup("cannot respond\n"));
	}
	MHD_add_response_header(r, "ETag", etag);
	MHD_add_response_header(r, "Last-Modified", lm);
	MHD_add_response_header(r, "Accept-Ranges", "bytes");
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	if (ranged) {
		char cr[96];
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)off, (unsigned long long)(off + len - 1),
			 (unsigned long long)size);
		MHD_add_response_header(r, "Content-Range", cr);
	}
	enum MHD_Result ret = MHD_queue_response(c, ranged ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *data, size_t *size, void **state)
{
	(void)version;
	(void)data;
	(void)size;
	(void)state;
	const struct server *s = cls;
	int head = !strcmp(method, "HEAD");
	if (!head && strcmp(method, "GET"))
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", xstrdup("read-only: GET and HEAD\n"));
	if (!strcmp(url, "/"))
		return list_models(c, s);
	const char *p = url + 1;
	const char *slash = strchr(p, '/');
	char *name = slash ? xstrndup(p, (size_t)(slash - p)) : xstrdup(p);
	enum MHD_Result ret;
	if (!sc_published_ok(s->root, name))
		ret = not_found(c, name);   /* unknown, partial, corrupt: nothing partial is ever served */
	else if (!slash || !slash[1])
		ret = list_files(c, s, name);
	else
		ret = send_file(c, s, name, slash + 1);
	if (!s->quiet)
		fprintf(stderr, "coldstart: cache serve: %s %s\n", method, url);
	free(name);
	return ret;
}

int cache_serve(const char *root, const char *listen_on, int quiet)
{
	char host[64] = "127.0.0.1";
	long port = 0;
	const char *colon = listen_on ? strrchr(listen_on, ':') : NULL;
	if (listen_on && colon) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - listen_on), listen_on);
		if (parse_int_range(colon + 1, 0, 65535, &port))
			return usage_error("invalid --listen '%s' (ADDRESS:PORT, e.g. 127.0.0.1:8090)", listen_on);
	} else if (listen_on && parse_int_range(listen_on, 0, 65535, &port)) {
		return usage_error("invalid --listen '%s' (ADDRESS:PORT, or PORT on 127.0.0.1)", listen_on);
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return usage_error("invalid --listen address '%s' (an IPv4 address)", host);
	struct stat sb;
	if (stat(root, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return error("'%s' is not a staging root (no such directory)", root);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return error("cannot listen on %s:%ld: %s", host, port, strerror(e));
	}
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	struct server s = { root, quiet };
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
							MHD_USE_ERROR_LOG, 0, NULL, NULL, handler, &s,
						MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
						MHD_OPTION_END);
	if (!d) {
		close(fd);
		return error("cannot start the HTTP server on %s:%ld", host, port);
	}
	/* The address, on stdout, for scripts: stage http://ADDRESS/NAME/ */
	printf("http://%s:%d/\n", host, (int)ntohs(sa.sin_port));
	fflush(stdout);
	if (!quiet)
		fprintf(stderr, "coldstart: cache serve: the published models of '%s' on http://%s:%d/ (read-only; Ctrl-C "
			"stops)\n", root, host, (int)ntohs(sa.sin_port));
	cli_catch_signals();
	while (!cli_signal)
		pause();
	MHD_stop_daemon(d);
	if (!quiet)
		fprintf(stderr, "coldstart: cache serve: stopped (%s)\n", strsignal((int)cli_signal));
	return 0;   /* asked to stop: a clean exit */
}
