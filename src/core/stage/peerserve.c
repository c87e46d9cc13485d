/* peerserve: a staging root's published models over read-only HTTP (cache serve), for peers to stage from. */
#define _GNU_SOURCE
#include "peerserve.h"

#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/source/httpsrc.h"
#include "stagecache.h"
#include "core/base/banned.h"

/*
 * One connection, from accept to close, for the request deadline: from
 * the moment it waits for a request (accepted, or the last one answered)
 * the headers must be complete within request_timeout, however slowly they
 * trickle in (microhttpd's own timeout counts idle time only, which a byte
 * a second resets). Past it, the watchdog shuts the socket down and
 * microhttpd closes the connection. Guarded by ps_server.mu; microhttpd tells
 * us of the close before it closes the descriptor, so a descriptor listed
 * here is still this connection's.
 */
struct conn {
	int fd;
	struct sockaddr_in peer;
	uint64_t since_ns;             /* waiting for a request since */
	int in_request;                /* its headers are in: the handler has it */
	struct conn *prev, *next;
};

struct ps_server {
	const char *root;
	cs_msg_fn log;
	void *log_arg;
	uint64_t request_timeout_ns;
	struct sc_memo *memo;
	struct MHD_Daemon *d;
	pthread_t wd;                  /* the request deadline's thread */
	int have_watchdog;
	int port;
	pthread_mutex_t mu;            /* conns, stop, cut */
	pthread_cond_t wake;
	struct conn *conns;
	int stop;
	uint64_t cut;                  /* connections the deadline ended */
	uint64_t log_last_ns, log_dropped;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned code, const char *type, char *body)
{
	char *why = code >= 400 ? hs_reason(body, strlen(body), type) : NULL;   /* one line, printable */
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (type)
		MHD_add_response_header(r, "Content-Type", type);
	if (why)   /* a HEAD carries no body: its reason goes in a header too */
		MHD_add_response_header(r, HS_REASON_HEADER, why);
	free(why);
	enum MHD_Result ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result not_found(struct MHD_Connection *c, const char *what)
{
	return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", xasprintf("not served here: %s\n", what));
}

/* A core error as an answer: ENOENT 404, EBADMSG (a damaged copy, now
 * marked) 409 -- not 5xx, which a peer would retry -- else 500. */
static enum MHD_Result failed(struct MHD_Connection *c, const char *what, const struct cs_err *e)
{
	if (e->code == ENOENT)
		return not_found(c, what);
	return answer(c, e->code == EBADMSG ? MHD_HTTP_CONFLICT : MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
		      xasprintf("%s\n", e->msg));
}

/* GET /: the published models. */
static enum MHD_Result list_models(struct MHD_Connection *c, const struct ps_server *s)
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

/* GET /NAME/: the files of the model's manifest (each checked), as nginx's
 * JSON autoindex lists a directory (names relative to it), which
 * `coldstart stage` reads. */
static enum MHD_Result list_files(struct MHD_Connection *c, const struct ps_server *s, const char *name)
{
	struct sc_served_file *f;
	size_t n;
	struct cs_err err;
	if (sc_serve_list(s->root, name, &f, &n, &err))
		return failed(c, name, &err);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:I}", "name", f[i].rel, "type", "file", "size",
						   (json_int_t)f[i].size));
	sc_served_files_free(f, n);
	char *body = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return answer(c, MHD_HTTP_OK, "application/json", body);
}

/* "bytes=A-B", "bytes=A-", "bytes=-N" against size. */
int ps_parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	if (!h)
		return 0;
	if (strncmp(h, "bytes=", 6))
		return -1;
	/* Digits only on each side of the one '-' (no sign, no blank, no
	 * second range): "%llu" would read "1--5" as 1 to 2^64 - 5. */
	const char *p = h + 6, *dash = strchr(p, '-');
	if (!dash || strchr(dash + 1, '-') || strspn(p, "0123456789") != (size_t)(dash - p) ||
	    strspn(dash + 1, "0123456789") != strlen(dash + 1) || (dash == p && !dash[1]))
		return -1;
	char first[24], last[24];
	size_t nf = (size_t)(dash - p), nl = strlen(dash + 1);
	if (nf >= sizeof(first) || nl >= sizeof(last))
		return -1;
	memcpy(first, p, nf);
	first[nf] = '\0';
	memcpy(last, dash + 1, nl + 1);
	uint64_t a = 0, b = 0;
	if ((nf && parse_u64(first, &a)) || (nl && parse_u64(last, &b)))
		return -1;
	if (!nf) { /* bytes=-N: the last N bytes */
		if (!b || !size)
			return -1;
		a = b >= size ? 0 : size - b;
		b = size - 1;
	} else {
		if (a >= size || (nl && a > b))
			return -1;
		if (!nl || b >= size)
			b = size - 1;
	}
	*off = a;
	*len = b - a + 1;
	return 1;
}

static enum MHD_Result send_file(struct MHD_Connection *c, const struct ps_server *s, const char *name, const char *rel)
{
	if (!hs_safe_rel(rel))
		return not_found(c, rel);
	struct sc_served sv;
	struct cs_err err;
	if (sc_serve_open(s->memo, s->root, name, rel, &sv, &err))
		return failed(c, rel, &err);
	char etag[64], lm[64];
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)sv.size, (unsigned long long)sv.mtime_ns);
	time_t secs = (time_t)(sv.mtime_ns / 1000000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	const char *im = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Match");
	if (im && strcmp(im, "*") && strcmp(im, etag)) {
		close(sv.fd);
		return answer(c, MHD_HTTP_PRECONDITION_FAILED, "text/plain", xasprintf("%s has changed\n", rel));
	}
	uint64_t off = 0, len = sv.size;
	int ranged = ps_parse_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"), sv.size, &off, &len);
	if (ranged < 0) {
		close(sv.fd);
		struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		char cr[64];
		snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)sv.size);
		MHD_add_response_header(r, "Content-Range", cr);
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, r);
		MHD_destroy_response(r);
		return ret;
	}
	/* The file checked, open: an eviction meanwhile cannot take the bytes
	 * away. (For HEAD, microhttpd sends the headers and the length alone.) */
	struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, sv.fd, (int64_t)off);
	if (!r) {
		close(sv.fd);
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", xstrdup("cannot respond\n"));
	}
	MHD_add_response_header(r, "ETag", etag);
	MHD_add_response_header(r, "Last-Modified", lm);
	MHD_add_response_header(r, "Accept-Ranges", "bytes");
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	if (ranged) {
		char cr[96];
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)off, (unsigned long long)(off + len - 1),
			 (unsigned long long)sv.size);
		MHD_add_response_header(r, "Content-Range", cr);
	}
	enum MHD_Result ret = MHD_queue_response(c, ranged ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *data, size_t *size, void **state)
{
	(void)version;
	(void)data;
	(void)size;
	struct ps_server *s = cls;
	if (!*state) {   /* the headers are in: the deadline is met */
		static int seen;
		*state = &seen;
		struct conn *k = conn_of(c);
		pthread_mutex_lock(&s->mu);
		if (k)
			k->in_request = 1;
		pthread_mutex_unlock(&s->mu);
	}
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
	cs_say(s->log, s->log_arg, "%s %s", method, url);
	free(name);
	return ret;
}

/* A request answered: the connection waits for the next one from now. */
static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode toe)
{
	(void)state;
	(void)toe;
	struct ps_server *s = cls;
	struct conn *k = conn_of(c);
	pthread_mutex_lock(&s->mu);
	if (k) {
		k->in_request = 0;
		k->since_ns = now_ns();
	}
	pthread_mutex_unlock(&s->mu);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct ps_server *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		struct conn *k = xcalloc(1, sizeof(*k));
		k->fd = fi ? fi->connect_fd : -1;
		if (ai && ai->client_addr && ai->client_addr->sa_family == AF_INET)
			memcpy(&k->peer, ai->client_addr, sizeof(k->peer));
		k->since_ns = now_ns();
		pthread_mutex_lock(&s->mu);
		k->next = s->conns;
		if (s->conns)
			s->conns->prev = k;
		s->conns = k;
		pthread_mutex_unlock(&s->mu);
		*socket_context = k;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		struct conn *k = *socket_context;
		pthread_mutex_lock(&s->mu);
		if (k->prev)
			k->prev->next = k->next;
		else
			s->conns = k->next;
		if (k->next)
			k->next->prev = k->prev;
		pthread_mutex_unlock(&s->mu);
		free(k);
		*socket_context = NULL;
	}
}

/* Still the connection recorded: the same peer address and port. */
static int same_peer(const struct conn *k)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	return k->fd >= 0 && getpeername(k->fd, (struct sockaddr *)&a, &l) == 0 && a.sin_family == AF_INET &&
	       a.sin_port == k->peer.sin_port && a.sin_addr.s_addr == k->peer.sin_addr.s_addr;
}

/* Every 100 ms: the connections past their request deadline are shut
 * down (microhttpd then sees the end of the stream and closes them). */
static void *watchdog(void *arg)
{
	struct ps_server *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		uint64_t t = now_ns();
		for (struct conn *k = s->conns; k; k = k->next)
			if (!k->in_request && t - k->since_ns > s->request_timeout_ns && same_peer(k)) {
				shutdown(k->fd, SHUT_RDWR);
				k->in_request = 1;   /* once */
				s->cut++;
			}
		struct timespec ts = timespec_in(CLOCK_REALTIME, 100000000);
		pthread_cond_timedwait(&s->wake, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* microhttpd's messages (a connection refused at a cap, ...), at most one
 * a second: a flood of refusals must not flood the log. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
	struct ps_server *s = cls;
	pthread_mutex_lock(&s->mu);
	uint64_t t = now_ns();
	int say = t - s->log_last_ns >= 1000000000ull;
	uint64_t dropped = s->log_dropped;
	if (say) {
		s->log_last_ns = t;
		s->log_dropped = 0;
	} else {
		s->log_dropped++;
	}
	pthread_mutex_unlock(&s->mu);
	if (!say || !s->log)
		return;
	char msg[512], more[64] = "";
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t l = strlen(msg);
	while (l && (msg[l - 1] == '\n' || msg[l - 1] == '.'))
		msg[--l] = 0;
	if (l && msg[0] >= 'A' && msg[0] <= 'Z')
		msg[0] = (char)(msg[0] - 'A' + 'a');
	if (dropped)
		snprintf(more, sizeof(more), " (and %llu more messages)", (unsigned long long)dropped);
	cs_say(s->log, s->log_arg, "%s%s", msg, more);
}

/* A socket listening on host:port (0: any free port). */
static int listen_on(const char *host, int port, struct sockaddr_in *sa, int *fd_out, struct cs_err *err)
{
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return cs_fail(err, EINVAL, "cannot listen on '%s': not an IPv4 address", host);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return cs_fail(err, e, "cannot listen on %s:%d: %s", host, port, strerror(e));
	}
	socklen_t sl = sizeof(*sa);
	getsockname(fd, (struct sockaddr *)sa, &sl);
	*fd_out = fd;
	return 0;
}

static void watchdog_stop(struct ps_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->mu);
	if (s->have_watchdog)
		pthread_join(s->wd, NULL);
	s->have_watchdog = 0;
}

static void server_free(struct ps_server *s)
{
	watchdog_stop(s);
	while (s->conns) {
		struct conn *k = s->conns;
		s->conns = k->next;
		free(k);
	}
	sc_memo_free(s->memo);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

struct ps_server *ps_start(const struct ps_opts *o, struct cs_err *err)
{
	struct stat sb;
	struct sockaddr_in sa;
	int fd = -1;
	if (listen_on(o->host, o->port, &sa, &fd, err))
		return NULL;
	if (stat(o->root, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		close(fd);
		cs_fail(err, ENOENT, "'%s' is not a staging root (no such directory)", o->root);
		return NULL;
	}
	struct ps_server *s = xcalloc(1, sizeof(*s));
	s->root = o->root;
	s->log = o->log;
	s->log_arg = o->log_arg;
	s->request_timeout_ns = o->request_timeout_ns;
	s->memo = sc_memo_new();
	s->port = (int)ntohs(sa.sin_port);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->wake, NULL);
	s->have_watchdog = pthread_create(&s->wd, NULL, watchdog, s) == 0;
	/* A thread per connection, each polling its one socket (poll, not
	 * select: no descriptor number is too high). */
	s->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0,
		NULL, NULL, handler, s, MHD_OPTION_EXTERNAL_LOGGER, on_log, s,   /* first: libmicrohttpd says so */
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)o->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_per_client,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((o->idle_timeout_ns + 999999999) / 1000000000),
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_END);
	if (!s->d) {
		close(fd);
		cs_fail(err, EIO, "cannot start the HTTP server on %s:%d", o->host, s->port);
		server_free(s);
		return NULL;
	}
	return s;
}

int ps_port(const struct ps_server *s)
{
	return s->port;
}

uint64_t ps_stop(struct ps_server *s)
{
	MHD_stop_daemon(s->d);
	watchdog_stop(s);
	uint64_t cut = s->cut;
	server_free(s);
	return cut;
}
