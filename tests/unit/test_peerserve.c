/* The peer server behind `coldstart cache serve`: listings, files, ranges, ETags, damage. */
#define _GNU_SOURCE
#include "core/stage/peerserve.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
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

#include "core/base/fsutil.h"
#include "core/base/strbuf.h"
#include "core/source/httpsrc.h"
#include "core/stage/stagecache.h"
#include "tap.h"

static const char config[] = "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64}\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

/* The request lines the server logged (its connection threads). */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct strbuf logged = STRBUF_INIT;

static void on_log(const char *msg, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&log_mu);
	strbuf_addf(&logged, "%s\n", msg);
	pthread_mutex_unlock(&log_mu);
}

struct reply {
	long code;
	struct strbuf body, headers;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct strbuf *b = arg;
	for (size_t i = 0; i < sz * n; i++)
		strbuf_addch(b, p[i]);
	return sz * n;
}

/* One request; header (may be NULL) added as written. */
static void request(int port, const char *method, const char *path, const char *header, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	CURL *c = curl_easy_init();
	char *url = xasprintf("http://127.0.0.1:%d%s", port, path);
	struct curl_slist *h = header ? curl_slist_append(NULL, header) : NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(url);
}

static const char *body(const struct reply *r)
{
	return r->body.buf ? r->body.buf : "";
}

/* A response header's value (case-insensitive name), malloc'd, or NULL. */
static char *header_of(const struct reply *r, const char *name)
{
	const char *h = r->headers.buf ? r->headers.buf : "";
	size_t n = strlen(name);
	for (const char *l = h; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
		if (!strncasecmp(l, name, n) && l[n] == ':') {
			const char *v = l + n + 1;
			v += strspn(v, " ");
			return xstrndup(v, strcspn(v, "\r\n"));
		}
	}
	return NULL;
}

static void reply_free(struct reply *r)
{
	strbuf_release(&r->body);
	strbuf_release(&r->headers);
}

static int header_is(const struct reply *r, const char *name, const char *want)
{
	char *v = header_of(r, name);
	int same = v && !strcmp(v, want);
	if (!same)
		printf("#   %s: '%s', expected '%s'\n", name, v ? v : "(none)", want);
	free(v);
	return same;
}

/* A connection that sends its request a byte at a time, slower than the
 * deadline allows: closed by the server (bounded wait), 1; else 0. */
static int trickle_cut(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return 0;
	}
	struct timeval tv = { 0, 100000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	const char *req = "GET /m/config.json HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	int cut = 0;
	for (size_t i = 0; i < strlen(req) && !cut; i++) {
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) {
			cut = 1;
			break;
		}
		char c;
		ssize_t n = recv(fd, &c, 1, 0);
		cut = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
	}
	close(fd);
	return cut;
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
	uint64_t off = 0, len = 0;
	/* The Range header, alone. */
	ok(ps_parse_range(NULL, 100, &off, &len) == 0, "no Range: the whole file");
	ok(ps_parse_range("bytes=10-19", 100, &off, &len) == 1 && off == 10 && len == 10, "bytes=10-19");
	ok(ps_parse_range("bytes=90-", 100, &off, &len) == 1 && off == 90 && len == 10, "bytes=90- (to the end)");
	ok(ps_parse_range("bytes=-5", 100, &off, &len) == 1 && off == 95 && len == 5, "bytes=-5 (the last five)");
	ok(ps_parse_range("bytes=-500", 100, &off, &len) == 1 && off == 0 && len == 100, "bytes=-500: all of it");
	ok(ps_parse_range("bytes=50-500", 100, &off, &len) == 1 && off == 50 && len == 50, "an end past the end: cut");
	const char *bad[] = { "bytes=1--5", "bytes=+1-5", "bytes=1-+5", "bytes= 1-5", "bytes=100-", "bytes=5-4",
			      "bytes=-0", "bytes=-", "bytes=1-5,7-9", "bytes=0x1-5", "bytes=18446744073709551616-",
			      "items=1-5", "bytes=1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(ps_parse_range(bad[i], 100, &off, &len) == -1, "refused: %s", bad[i]);
	ok(ps_parse_range("bytes=0-", 0, &off, &len) == -1, "nothing of an empty file can be ranged");

	/* A root with one published model. */
	char dir[] = "/tmp/test_peerserve.XXXXXX";
	ok(mkdtemp(dir) != NULL, "scratch directory");
	char *src = path_join(dir, "src"), *root = path_join(dir, "root");
	mkdir(src, 0755);
	char *cfg = path_join(src, "config.json");
	write_file(cfg, config);
	char *bin = path_join(src, "weights.bin");
	write_file(bin, "0123456789abcdefghijklmnopqrstuvwxyz");
	struct cs_err e;
	struct sc_result sr;
	const char *names[] = { "m", "d" };
	for (size_t i = 0; i < 2; i++) {
		struct sc_opts so = { .root = root, .src = src, .name = names[i], .jobs = 1, .verify = SC_VERIFY_XXH3 };
		if (!ok(sc_stage(&so, &sr, &e) == 0, "published '%s'", names[i]))
			printf("# %s\n", e.msg);
		sc_result_release(&sr);
	}

	struct ps_opts o = {
		.root = root, .host = "127.0.0.1", .max_connections = PS_MAX_CONNECTIONS,
		.max_per_client = PS_MAX_PER_CLIENT, .request_timeout_ns = 300000000ull,
		.idle_timeout_ns = PS_IDLE_TIMEOUT_NS, .log = on_log,
	};
	struct ps_server *s = ps_start(&o, &e);
	if (!ok(s != NULL, "the server starts on 127.0.0.1, a free port"))
		printf("# %s\n", e.msg);
	if (!s)
		return done_testing();
	int port = ps_port(s);
	ok(port > 0, "... the port it got: %d", port);
	struct reply r;

	request(port, "GET", "/", NULL, &r);
	json_t *j = json_loads(body(&r), 0, NULL);
	ok(r.code == 200 && json_array_size(j) == 2, "GET /: 200, the two models");
	ok(j && !strcmp(json_string_value(json_object_get(json_array_get(j, 0), "type")), "directory"),
	   "... each a directory");
	json_decref(j);
	reply_free(&r);

	request(port, "GET", "/m/", NULL, &r);
	j = json_loads(body(&r), 0, NULL);
	ok(r.code == 200 && json_array_size(j) == 2, "GET /m/: 200, its two files (no manifest)");
	ok(j && !strcmp(json_string_value(json_object_get(json_array_get(j, 0), "name")), "config.json") &&
		   json_integer_value(json_object_get(json_array_get(j, 0), "size")) == (json_int_t)strlen(config),
	   "... each named relative to the model, with its size");
	json_decref(j);
	reply_free(&r);

	request(port, "GET", "/m/config.json", NULL, &r);
	is_int(r.code, 200, "GET a file: 200");
	is_str(body(&r), config, "... its bytes");
	ok(header_is(&r, "Accept-Ranges", "bytes"), "... Accept-Ranges: bytes");
	char *etag = header_of(&r, "ETag");
	ok(etag && etag[0] == '"', "... an ETag: %s", etag ? etag : "(none)");
	reply_free(&r);

	request(port, "GET", "/m/weights.bin", "Range: bytes=10-19", &r);
	is_int(r.code, 206, "a Range: 206");
	is_str(body(&r), "abcdefghij", "... those bytes");
	ok(header_is(&r, "Content-Range", "bytes 10-19/36"), "... and Content-Range says which");
	reply_free(&r);
	request(port, "GET", "/m/weights.bin", "Range: bytes=-6", &r);
	ok(r.code == 206 && !strcmp(body(&r), "uvwxyz"), "bytes=-6: the last six");
	reply_free(&r);

	const char *bad_ranges[] = { "1--5", "+1-5", "1-+5", " 1-5", "36-", "40-50" };
	for (size_t i = 0; i < sizeof(bad_ranges) / sizeof(*bad_ranges); i++) {
		char *h = xasprintf("Range: bytes=%s", bad_ranges[i]);
		request(port, "GET", "/m/weights.bin", h, &r);
		ok(r.code == 416 && header_is(&r, "Content-Range", "bytes */36"), "bytes=%s: 416, the size in Content-Range",
		   bad_ranges[i]);
		reply_free(&r);
		free(h);
	}

	request(port, "HEAD", "/m/weights.bin", NULL, &r);
	ok(r.code == 200 && header_is(&r, "Content-Length", "36") && !r.body.len, "HEAD: the length, no body");
	reply_free(&r);
	request(port, "HEAD", "/m/config.json", NULL, &r);
	ok(etag && header_is(&r, "ETag", etag), "... the ETag GET gave");
	reply_free(&r);

	char *im = xasprintf("If-Match: %s", etag ? etag : "");
	request(port, "GET", "/m/config.json", im, &r);
	is_int(r.code, 200, "If-Match on its ETag: served");
	reply_free(&r);
	request(port, "GET", "/m/config.json", "If-Match: \"other\"", &r);
	is_int(r.code, 412, "If-Match on another: 412");
	reply_free(&r);
	free(im);

	const char *missing[] = { "/m/nothere.bin", "/nope/config.json", "/m/.coldstart-manifest.json",
				  "/m/../d/config.json", "/nope/" };
	for (size_t i = 0; i < sizeof(missing) / sizeof(*missing); i++) {
		request(port, "GET", missing[i], NULL, &r);
		is_int(r.code, 404, "GET %s: 404", missing[i]);
		reply_free(&r);
	}
	request(port, "POST", "/m/config.json", NULL, &r);
	is_int(r.code, 405, "POST: 405, read-only");
	reply_free(&r);

	/* A published file changed afterwards: never handed out. */
	char *dbin = path_join(root, "d/weights.bin");
	FILE *f = fopen(dbin, "a");
	fputs("more", f);
	fclose(f);
	request(port, "GET", "/d/weights.bin", NULL, &r);
	is_int(r.code, 409, "a file grown after publishing: 409, not its bytes");
	ok(strstr(body(&r), "weights.bin") != NULL, "... the reason says which file: %s", body(&r));
	reply_free(&r);
	request(port, "HEAD", "/d/weights.bin", NULL, &r);
	char *why = header_of(&r, HS_REASON_HEADER);
	ok(r.code == 404 && why, "a HEAD afterwards: 404, its reason in " HS_REASON_HEADER ": %s", why ? why : "(none)");
	free(why);
	reply_free(&r);
	ok(!sc_published_ok(root, "d"), "... and the model is marked corrupt");
	request(port, "GET", "/d/config.json", NULL, &r);
	is_int(r.code, 404, "... so nothing of it is served any more (404)");
	reply_free(&r);
	request(port, "GET", "/", NULL, &r);
	ok(r.code == 200 && strstr(body(&r), "\"d\"") == NULL && strstr(body(&r), "\"m\""), "... nor listed");
	reply_free(&r);

	pthread_mutex_lock(&log_mu);
	ok(logged.buf && strstr(logged.buf, "GET /m/config.json\n") && strstr(logged.buf, "HEAD /m/weights.bin\n"),
	   "a line per request through log");
	pthread_mutex_unlock(&log_mu);

	/* The request deadline: trickling does not keep a connection open. */
	ok(trickle_cut(port), "headers trickled slower than the request timeout: the server closes the connection");
	uint64_t cut = ps_stop(s);
	ok(cut >= 1, "ps_stop: it counts the connections ended at the deadline (%llu)", (unsigned long long)cut);

	/* What cannot start. */
	o.root = cfg;
	ok(ps_start(&o, &e) == NULL && e.code == ENOENT && strstr(e.msg, "is not a staging root"),
	   "a root that is not a directory: refused");
	o.root = root;
	o.host = "localhost";
	ok(ps_start(&o, &e) == NULL && e.code == EINVAL, "a host that is not an IPv4 address: EINVAL");

	free(etag);
	free(dbin);
	free(bin);
	free(cfg);
	free(src);
	fs_remove_tree(dir);
	free(root);
	strbuf_release(&logged);
	curl_global_cleanup();
	return done_testing();
}
