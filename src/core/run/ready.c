#define _GNU_SOURCE
#include "ready.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/strbuf.h"
#include "core/base/banned.h"

void ready_global_init(void)
{
	static int done;
	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

static char *subst_port(const char *s, int port)
{
	struct strbuf out = STRBUF_INIT;
	const char *hit;
	while ((hit = strstr(s, "{port}"))) {
		strbuf_addf(&out, "%.*s%d", (int)(hit - s), s, port);
		s = hit + 6;
	}
	strbuf_adds(&out, s);
	return strbuf_detach(&out);
}

int ready_parse(const char *spec, int port, struct ready_spec *r, struct cs_err *err)
{
	memset(r, 0, sizeof(*r));
	r->text = subst_port(spec, port);
	const char *t = r->text;
	if (!strncmp(t, "http://", 7) || !strncmp(t, "https://", 8)) {
		r->kind = READY_HTTP;
		r->url = xstrdup(t);
		return 0;
	}
	if (!strncmp(t, "tcp:", 4)) {
		r->kind = READY_TCP;
		const char *rest = t + 4;
		const char *colon = strrchr(rest, ':');
		long pn;
		if (colon) {
			r->host = xstrndup(rest, (size_t)(colon - rest));
			rest = colon + 1;
		} else {
			r->host = xstrdup("127.0.0.1");
		}
		if (parse_int_range(rest, 1, 65535, &pn)) {
			int rc = cs_fail(err, EINVAL, "invalid port in readiness spec '%s'", spec);
			ready_release(r);
			return rc;
		}
		r->port = (int)pn;
		return 0;
	}
	if (!strncmp(t, "log:", 4)) {
		r->kind = READY_LOG;
		int e = regcomp(&r->re, t + 4, REG_EXTENDED | REG_NOSUB);
		if (e) {
			char msg[256];
			regerror(e, &r->re, msg, sizeof(msg));
			int rc = cs_fail(err, EINVAL, "invalid regex in readiness spec '%s': %s", spec, msg);
			ready_release(r);
			return rc;
		}
		r->have_re = 1;
		return 0;
	}
	int rc = cs_fail(err, EINVAL, "unknown readiness spec '%s' (http://HOST:{port}/PATH, tcp:{port} or log:REGEX)", spec);
	ready_release(r);
	return rc;
}

void ready_release(struct ready_spec *r)
{
	if (r->curl)
		curl_easy_cleanup(r->curl);
	if (r->have_re)
		regfree(&r->re);
	free(r->text);
	free(r->url);
	free(r->host);
	memset(r, 0, sizeof(*r));
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

static int check_http(struct ready_spec *r, uint64_t timeout_ns)
{
	if (!r->curl) {
		ready_global_init();
		CURL *c = curl_easy_init();
		if (!c)
			return 0;
		curl_easy_setopt(c, CURLOPT_URL, r->url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");   /* never poll through http_proxy */
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
		r->curl = c;
	}
	long ms = (long)(timeout_ns / 1000000);
	if (ms < 1)
		ms = 1;
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, ms);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, ms);
	CURLcode rc = curl_easy_perform(r->curl);
	long code = 0;
	r->have_peer = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code) {
		r->last_http = code;
		r->last_error[0] = 0;
	} else {
		snprintf(r->last_error, sizeof(r->last_error), "%s", curl_easy_strerror(rc));
	}
	if (rc != CURLE_OK || code != 200)
		return 0;
	/* Who answered: the address curl connected to. */
	char *ip = NULL;
	long port = 0;
	memset(&r->peer, 0, sizeof(r->peer));
	if (curl_easy_getinfo(r->curl, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip &&
	    curl_easy_getinfo(r->curl, CURLINFO_PRIMARY_PORT, &port) == CURLE_OK) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&r->peer;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&r->peer;
		if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			a4->sin_port = htons((uint16_t)port);
			r->have_peer = 1;
		} else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons((uint16_t)port);
			r->have_peer = 1;
		}
	}
	return 1;
}

static int check_tcp(struct ready_spec *r, uint64_t timeout_ns)
{
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	char port[16];
	snprintf(port, sizeof(port), "%d", r->port);
	if (getaddrinfo(r->host, port, &hints, &ai) || !ai)
		return 0;
	int ok = 0;
	r->have_peer = 0;
	int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s >= 0) {
		int c = connect(s, ai->ai_addr, ai->ai_addrlen);
		if (c == 0) {
			ok = 1;
		} else if (errno == EINPROGRESS) {
			struct pollfd pfd = { s, POLLOUT, 0 };
			int ms = (int)(timeout_ns / 1000000);
			if (poll(&pfd, 1, ms < 1 ? 1 : ms) == 1) {
				int e = 0;
				socklen_t l = sizeof(e);
				getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l);
				ok = e == 0;
				if (e)
					snprintf(r->last_error, sizeof(r->last_error), "%s", strerror(e));
			} else {
				snprintf(r->last_error, sizeof(r->last_error), "no answer in time");
			}
		} else {
			snprintf(r->last_error, sizeof(r->last_error), "%s", strerror(errno));
		}
		if (ok) {
			socklen_t pl = sizeof(r->peer);
			r->have_peer = getpeername(s, (struct sockaddr *)&r->peer, &pl) == 0;
			r->last_error[0] = 0;
		}
		close(s);
	}
	freeaddrinfo(ai);
	return ok;
}

int ready_check(struct ready_spec *r, uint64_t timeout_ns)
{
	switch (r->kind) {
	case READY_HTTP:
		return check_http(r, timeout_ns);
	case READY_TCP:
		return check_tcp(r, timeout_ns);
	default:
		return 0; /* log readiness is seen by srvlog */
	}
}

static int loopback_host(const char *h)
{
	return !strcmp(h, "127.0.0.1") || !strcmp(h, "localhost") || !strcmp(h, "::1") || !strcmp(h, "[::1]");
}

int ready_local_port(const struct ready_spec *r)
{
	if (r->kind == READY_TCP)
		return loopback_host(r->host) ? r->port : 0;
	if (r->kind != READY_HTTP)
		return 0;
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	int p = 0;
	if (u && curl_url_set(u, CURLUPART_URL, r->url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK && loopback_host(host))
		p = atoi(port);
	curl_free(host);
	curl_free(port);
	if (u)
		curl_url_cleanup(u);
	return p;
}

void ready_last(const struct ready_spec *r, char *buf, size_t len)
{
	if (r->kind == READY_HTTP && r->last_http)
		snprintf(buf, len, "HTTP %ld%s%s", r->last_http, r->last_error[0] ? ", then " : "", r->last_error);
	else if (r->kind == READY_HTTP)
		snprintf(buf, len, "no HTTP answer (%s)", r->last_error[0] ? r->last_error : "none yet");
	else if (r->kind == READY_TCP)
		snprintf(buf, len, "no connection (%s)", r->last_error[0] ? r->last_error : "none yet");
	else
		snprintf(buf, len, "no matching log line");
}
