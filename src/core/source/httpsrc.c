#define _GNU_SOURCE
#include "httpsrc.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/io/checksum.h"
#include "core/model/gguf.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

#define HS_INDEX_MAX (64u << 20)    /* an index or listing larger than this is refused */

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int hs_is_url(const char *s)
{
	return s && (!strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8));
}

char *hs_redact(const char *url)
{
	const char *p = strstr(url, "://");
	if (!p)
		return xstrdup(url);
	p += 3;
	size_t host_end = strcspn(p, "/?#");
	const char *at = memrchr(p, '@', host_end);   /* the last: a password may hold '@' */
	struct strbuf sb = STRBUF_INIT;
	strbuf_add(&sb, url, (size_t)(p - url));
	const char *h = at ? at + 1 : p;
	strbuf_add(&sb, h, (size_t)(p + host_end - h));
	const char *rest = p + host_end;
	strbuf_add(&sb, rest, strcspn(rest, "?#"));
	return strbuf_detach(&sb);
}

char *hs_default_name(const char *url)
{
	char *r = hs_redact(url);
	size_t n = strlen(r);
	while (n && r[n - 1] == '/')
		r[--n] = 0;
	char *slash = strrchr(r, '/');
	char *base = xstrdup(slash ? slash + 1 : r);
	free(r);
	size_t b = strlen(base);
	if (b > 5 && !strcmp(base + b - 5, ".gguf"))
		base[b - 5] = 0;
	return base;
}

int hs_safe_rel(const char *s)
{
	if (!*s || *s == '/' || strchr(s, '\\'))
		return 0;
	for (const char *c = s; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		c += n;
		if (*c == '/')
			c++;
	}
	return 1;
}

/* ---- one request ---- */

#define HS_MAX_REDIRECTS 10

/* What one exchange asks: its first URL (whose origin owns the
 * credentials), a range, HEAD, and for a read the file it must be. */
struct req {
	const char *url;
	const char *range;          /* "A-B", or NULL */
	int nobody;                 /* HEAD */
	const struct hs_file *file; /* a read: its conditions and hs_check */
	uint64_t off, len;
	uint64_t *requests;         /* counted per request sent, or NULL */
};

struct resp {
	const struct req *rq;
	/* the response, as its headers arrive (reset per response) */
	long status;
	long hstatus;               /* the status line's code */
	char reqid[128];
	char etag[256];
	char cksum[128];            /* checksum.h's spec of an x-amz-checksum-* header */
	char region[64];            /* x-amz-bucket-region */
	char ctype[128];            /* Content-Type, for an error's body */
	char reason[256];           /* X-Coldstart-Error: cache serve's reason, which a HEAD carries too */
	char location[4096];        /* a CDN's signed URL is long; a longer one is refused */
	int64_t mtime_ns;
	uint64_t clen;              /* Content-Length, or UINT64_MAX */
	int has_range;              /* Content-Range: bytes START-END/TOTAL */
	uint64_t range_start, range_end;
	uint64_t range_total;       /* UINT64_MAX: none or '*' */
	int conditional;            /* If-Range went with it */
	int verdict;                /* hs_check's, for a read's 2xx */
	char why[256];
	/* body */
	cs_sink_fn sink;            /* ranged reads: a success's bytes go on to sink ... */
	void *sink_arg;
	struct cs_err *sink_err;
	int whole;                  /* the range is the whole file: a 200 is fine */
	size_t cap, got;
	int overflow, sink_failed, ignored_range;
	char errbody[2048];         /* ... an error's body stays here (its S3 code) */
	size_t errlen;
	struct strbuf *sb;          /* ... or growing (listings), bounded */
};

static void resp_init(struct resp *r, const struct req *q)
{
	memset(r, 0, sizeof(*r));
	r->rq = q;
	r->clen = r->range_total = UINT64_MAX;
}

/* Forget one response's headers (a new status line: 1xx, or the next hop). */
static void resp_clear(struct resp *r)
{
	r->etag[0] = r->reqid[0] = r->cksum[0] = r->region[0] = r->location[0] = r->ctype[0] = r->reason[0] = 0;
	r->clen = r->range_total = UINT64_MAX;
	r->has_range = 0;
	r->range_start = r->range_end = 0;
	r->mtime_ns = 0;
	r->verdict = 0;
	r->why[0] = 0;
	r->errlen = 0;
	r->errbody[0] = 0;
}

/* Digits only, no sign or space: the value, and *p past them; -1 for none. */
static int digits_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	*p = s;
	return 0;
}

/* Content-Range: "bytes A-B/T", a total of "*", or a range of "*" (416). */
static void parse_content_range(struct resp *r, const char *v)
{
	uint64_t a, b, t;
	if (strncasecmp(v, "bytes ", 6))
		return;
	v += 6;
	if (*v == '*') {
		v++;
	} else {
		if (digits_u64(&v, &a) || *v++ != '-' || digits_u64(&v, &b) || a > b)
			return;
		r->has_range = 1;
		r->range_start = a;
		r->range_end = b;
	}
	if (*v++ == '/' && !digits_u64(&v, &t) && !*v)
		r->range_total = t;
}

static void check_response(struct resp *r)
{
	const struct req *q = r->rq;
	struct hs_seen s = { r->hstatus, r->etag[0] ? r->etag : NULL, r->mtime_ns, r->clen, r->has_range,
			     r->range_start, r->range_end, r->range_total };
	r->verdict = hs_check(q->file, q->off, q->len, r->conditional, &s, r->why, sizeof(r->why));
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = sz * n;
	char line[4200];
	size_t k = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	memcpy(line, p, k);
	line[k] = 0;
	line[strcspn(line, "\r\n")] = 0;
	if (!strncmp(line, "HTTP/", 5)) {   /* a new response (after a 1xx): forget the last */
		resp_clear(r);
		const char *sp = strchr(line, ' ');
		r->hstatus = sp ? strtol(sp + 1, NULL, 10) : 0;
		return len;
	}
	if (!line[0]) {                      /* the end of a response's headers */
		if (r->rq && r->rq->file && r->hstatus >= 200 && r->hstatus < 300)
			check_response(r);
		return len;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return len;
	*colon = 0;
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t vl = strlen(v);
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		v[--vl] = 0;
	char *ck = r->cksum[0] ? NULL : cks_from_header(line, v);
	if (ck)
		snprintf(r->cksum, sizeof(r->cksum), "%s", ck);
	free(ck);
	if (!strcasecmp(line, "etag"))
		snprintf(r->etag, sizeof(r->etag), "%s", v);
	else if (!strcasecmp(line, "x-amz-request-id") || !strcasecmp(line, "x-request-id") ||
		 !strcasecmp(line, "x-amz-cf-id"))
		snprintf(r->reqid, sizeof(r->reqid), "%s", v);
	else if (!strcasecmp(line, "content-type"))
		snprintf(r->ctype, sizeof(r->ctype), "%s", v);
	else if (!strcasecmp(line, HS_REASON_HEADER))
		snprintf(r->reason, sizeof(r->reason), "%s", v);
	else if (!strcasecmp(line, "x-amz-bucket-region"))
		snprintf(r->region, sizeof(r->region), "%s", v);
	else if (!strcasecmp(line, "location"))
		snprintf(r->location, sizeof(r->location), "%s", strlen(v) < sizeof(r->location) - 1 ? v : "\x01");
	else if (!strcasecmp(line, "content-length")) {
		const char *c = v;
		uint64_t cl;
		if (!digits_u64(&c, &cl) && !*c)
			r->clen = cl;
	} else if (!strcasecmp(line, "content-range")) {
		parse_content_range(r, v);
	} else if (!strcasecmp(line, "last-modified")) {
		time_t t = curl_getdate(v, NULL);
		if (t > 0)
			r->mtime_ns = (int64_t)t * 1000000000;
	}
	return len;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = sz * n;
	if (r->sb) {
		if (r->sb->len + len > HS_INDEX_MAX) {
			r->overflow = 1;
			return 0;
		}
		strbuf_add(r->sb, p, len);
		return len;
	}
	if (r->hstatus < 200 || r->hstatus > 299) {  /* an error's body: kept for its message */
		size_t k = sizeof(r->errbody) - 1 - r->errlen;
		k = len < k ? len : k;
		memcpy(r->errbody + r->errlen, p, k);
		r->errlen += k;
		r->errbody[r->errlen] = 0;
		return len;
	}
	if (r->verdict)     /* not the file as listed: not one byte of it written */
		return 0;
	if (!(r->rq && r->rq->file) && r->hstatus != 206 && !r->whole) {
		r->ignored_range = 1;   /* the whole file for a byte of it */
		return 0;
	}
	if (!r->sink)
		return len;
	if (r->got + len > r->cap) {     /* more than the range asked for */
		r->overflow = 1;
		return 0;
	}
	if (r->sink(r->sink_arg, r->got, p, len, r->sink_err)) {
		r->sink_failed = 1;
		return 0;
	}
	r->got += len;
	return len;
}

static long stall_s(const struct hs_opts *o)
{
	return o->stall_s > 0 ? o->stall_s : 30L;
}

/* libcurl asks this often during a transfer (and while connecting): a
 * cancel ends it at once, CURLE_ABORTED_BY_CALLBACK. */
static int on_xfer(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	return cs_cancelled(arg) ? 1 : 0;
}

static void setup(CURL *c, const struct hs_opts *o, struct resp *r, struct curl_slist *hdrs)
{
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);   /* perform follows, credentials in hand */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s > 0 ? o->connect_timeout_s : 15L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_s(o));
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "coldstart/" "stage");
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
	if (o->cancel) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)o->cancel);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	if (o->sigv4) {
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, o->sigv4);
		curl_easy_setopt(c, CURLOPT_USERPWD, o->userpwd);
	}
}

/* SHA-256 of an empty body: what a signed GET or HEAD declares. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void add_header(struct curl_slist **h, const char *name, const char *value)
{
	char *line = xasprintf("%s: %s", name, value);
	*h = curl_slist_append(*h, line);
	free(line);
}

/* An HTTP date (IMF-fixdate) of ns, not the locale's. */
static void http_date(int64_t ns, char *buf, size_t n)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* A read's preconditions: on a strong ETag If-Match and If-Range; on
 * Last-Modified (a weak ETag never matches) If-Unmodified-Since and
 * If-Range. S3 takes If-Match; If-Range is not in its API. */
static int conditions(struct curl_slist **h, const struct hs_opts *o, const struct hs_file *f)
{
	if (f->etag && strncmp(f->etag, "W/", 2)) {
		add_header(h, "If-Match", f->etag);
		if (!o->s3)
			add_header(h, "If-Range", f->etag);
		return !o->s3;
	}
	if (!f->mtime_ns)
		return 0;
	char d[64];
	http_date(f->mtime_ns, d, sizeof(d));
	add_header(h, "If-Unmodified-Since", d);
	if (!o->s3)
		add_header(h, "If-Range", d);
	return !o->s3;
}

/* The headers of one request; creds: it goes to the first URL's origin,
 * so the bearer token, the user's headers and the session token go too.
 * *conditional: If-Range is among them. */
static struct curl_slist *headers(const struct hs_opts *o, const struct req *q, int creds, int *conditional)
{
	struct curl_slist *h = NULL;
	*conditional = 0;
	if (creds && o->bearer && *o->bearer) {
		char *a = xasprintf("Bearer %s", o->bearer);
		add_header(&h, "Authorization", a);
		free(a);
	}
	for (size_t i = 0; creds && i < o->nheaders; i++)
		h = curl_slist_append(h, o->headers[i]);
	if (q->file)
		*conditional = conditions(&h, o, q->file);
	if (o->checksum_mode)
		h = curl_slist_append(h, "x-amz-checksum-mode: ENABLED");
	if (o->sigv4) {
		h = curl_slist_append(h, "x-amz-content-sha256: " EMPTY_SHA256);
		if (creds && o->session_token && *o->session_token)
			add_header(&h, "x-amz-security-token", o->session_token);
	}
	return h;
}

/* "scheme://host:port" of url, lowercased (the default port named); -1
 * when it is not an http(s) URL. */
static int origin(const char *url, char *out, size_t n)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -1;
	if (u && !curl_url_set(u, CURLUPART_URL, url, 0) && !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
	    !curl_url_get(u, CURLUPART_HOST, &host, 0) && !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) &&
	    (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https"))) {
		snprintf(out, n, "%s://%s:%s", scheme, host, port);
		for (char *c = out; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		rc = 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

/* Where Location leads from url (relative ones resolved), malloc'd; NULL
 * when it does not parse. */
static char *resolve(const char *url, const char *loc)
{
	CURLU *u = curl_url();
	char *got = NULL, *out = NULL;
	if (u && !curl_url_set(u, CURLUPART_URL, url, 0) && !curl_url_set(u, CURLUPART_URL, loc, 0) &&
	    !curl_url_get(u, CURLUPART_URL, &got, 0))
		out = xstrdup(got);
	curl_free(got);
	curl_url_cleanup(u);
	return out;
}

static int is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* The next hop of a redirect from url, or NULL with err: another scheme
 * than http(s), https to http, too many. */
static char *next_hop(const struct req *q, const char *url, const char *loc, int hop, struct cs_err *err)
{
	char *next = resolve(url, loc), o[512];
	const char *why = NULL;
	int code = EPROTO;
	if (hop >= HS_MAX_REDIRECTS) {
		why = "one redirect too many";
		code = ELOOP;
	} else if (loc[0] == '\x01')
		why = "a Location longer than 4 KiB";
	else if (!next || origin(next, o, sizeof(o)))
		why = "not an http(s) URL";
	else if (!strncasecmp(q->url, "https:", 6) && strncasecmp(next, "https:", 6))
		why = "from https to plain http";
	if (!why)
		return next;
	char *shown = hs_redact(q->url), *to = next ? hs_redact(next) : xstrdup("?");
	cs_fail(err, code, "'%s' redirects to '%s' (%s): not followed", shown, to, why);
	free(shown);
	free(to);
	free(next);
	return NULL;
}

/* The URL's user name and password, for Basic auth on a same-origin hop. */
static void userinfo(const char *url, char **user, char **pw)
{
	CURLU *u = curl_url();
	char *a = NULL, *b = NULL;
	*user = *pw = NULL;
	if (u && !curl_url_set(u, CURLUPART_URL, url, 0)) {
		if (!curl_url_get(u, CURLUPART_USER, &a, CURLU_URLDECODE))
			*user = xstrdup(a);
		if (!curl_url_get(u, CURLUPART_PASSWORD, &b, CURLU_URLDECODE))
			*pw = xstrdup(b);
	}
	curl_free(a);
	curl_free(b);
	curl_url_cleanup(u);
}

/*
 * One exchange, redirects followed by hand (see the header): credentials
 * only to requests at the first URL's origin. *cc and r are the last
 * hop's; 0, or -1 with err when a redirect is refused.
 */
static int perform(CURL *c, const struct hs_opts *o, const struct req *q, struct resp *r, char *eb, CURLcode *cc,
		   struct cs_err *err)
{
	char first[512] = "", here[512];
	origin(q->url, first, sizeof(first));
	char *url = xstrdup(q->url), *user = NULL, *pw = NULL;
	int rc = 0;
	for (int hop = 0;; hop++) {
		int creds = hop == 0 || (!origin(url, here, sizeof(here)) && !strcmp(here, first));
		curl_easy_reset(c);
		resp_clear(r);
		r->hstatus = 0;
		r->got = 0;
		int conditional;
		struct curl_slist *h = headers(o, q, creds, &conditional);
		r->conditional = conditional;
		setup(c, o, r, h);
		eb[0] = 0;
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, eb);
		curl_easy_setopt(c, CURLOPT_URL, url);
		if (q->range)
			curl_easy_setopt(c, CURLOPT_RANGE, q->range);
		if (q->nobody)
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		if (hop && creds && !o->sigv4) {
			if (!user && !pw)
				userinfo(q->url, &user, &pw);
			if (user)
				curl_easy_setopt(c, CURLOPT_USERNAME, user);
			if (pw)
				curl_easy_setopt(c, CURLOPT_PASSWORD, pw);
		}
		if (q->requests)
			__atomic_fetch_add(q->requests, 1, __ATOMIC_RELAXED);
		*cc = curl_easy_perform(c);
		curl_slist_free_all(h);
		r->status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		if (*cc == CURLE_ABORTED_BY_CALLBACK && cs_cancelled(o->cancel)) {
			rc = cs_fail(err, ECANCELED, "interrupted");
			break;
		}
		if (*cc != CURLE_OK || !is_redirect(r->status) || !r->location[0] || o->s3)
			break;
		char *next = next_hop(q, url, r->location, hop, err);
		if (!next) {
			rc = -1;
			break;
		}
		free(url);
		url = next;
	}
	free(url);
	if (pw)
		memset(pw, 0, strlen(pw));
	free(user);
	free(pw);
	return rc;
}

static int retryable(CURLcode cc, const struct resp *r)
{
	if (cc != CURLE_OK)
		return cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR ||
		       cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE ||
		       cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_HTTP2 || cc == CURLE_HTTP2_STREAM;
	return r->status >= 500 || r->status == 429 || r->status == 408;
}

/* Attempts after the first. */
static int max_retries(const struct hs_opts *o)
{
	return o->retries > 0 ? o->retries : 6;
}

static void backoff(const struct hs_opts *o, int attempt)
{
	/* 0.2 s, 0.4 s, ... up to 6.4 s, with up to 50% jitter; a cancel ends it
	 * (the next transfer then aborts at once). */
	double s = 0.2 * (double)(1u << (attempt < 5 ? attempt : 5));
	s *= 0.75 + 0.5 * ((double)(rand() % 1000) / 1000.0);
	uint64_t end = now_ns() + (uint64_t)(s * 1e9), t;
	while (!cs_cancelled(o->cancel) && (t = now_ns()) < end) {
		uint64_t d = end - t < 50000000u ? end - t : 50000000u;
		struct timespec ts = { 0, (long)d };
		nanosleep(&ts, NULL);
	}
}

static void s3_error(struct strbuf *sb, const char *body);

/* An error body's type is text: text/..., JSON or XML (problem+json too);
 * with no Content-Type, bytes without a NUL. */
static int text_body(const char *ctype, const char *body, size_t len)
{
	if (!*ctype)
		return memchr(body, 0, len) == NULL;
	static const char *const types[] = { "text/", "application/json", "application/problem+json",
					     "application/xml", "application/problem+xml" };
	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++)
		if (!strncasecmp(ctype, types[i], strlen(types[i])))
			return 1;
	return 0;
}

/* The text of an HTML page's <title>, or NULL. */
static const char *html_title(const char *body, size_t *n)
{
	const char *t = strcasestr(body, "<title>");
	const char *e = t ? strcasestr(t + 7, "</title>") : NULL;
	if (!e)
		return NULL;
	*n = (size_t)(e - (t + 7));
	return t + 7;
}

char *hs_reason(const char *body, size_t len, const char *ctype)
{
	if (!body || !len || !text_body(ctype ? ctype : "", body, len))
		return NULL;
	char *copy = xstrndup(body, len);   /* NUL-terminated for the searches */
	size_t n = strlen(copy);
	const char *s = copy;
	if ((ctype && !strncasecmp(ctype, "text/html", 9)) || strcasestr(copy, "<html")) {
		s = html_title(copy, &n);
		if (!s) {
			free(copy);
			return NULL;   /* a page, and no title: nothing worth a line */
		}
	}
	while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++, n--;
	struct strbuf b = STRBUF_INIT;
	int cut = 0;
	for (size_t i = 0; i < n && s[i] != '\r' && s[i] != '\n'; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (b.len >= HS_REASON_MAX) {
			cut = 1;
			break;
		}
		if (ch >= 0x80) {   /* one '?' per UTF-8 sequence: never a C1 control */
			while (i + 1 < n && ((unsigned char)s[i + 1] & 0xc0) == 0x80)
				i++;
			ch = '?';
		} else if (ch < 0x20 || ch == 0x7f) {
			ch = ' ';
		}
		if (ch != ' ' || (b.len && b.buf[b.len - 1] != ' '))
			strbuf_addch(&b, (char)ch);
	}
	free(copy);
	while (b.len && b.buf[b.len - 1] == ' ')
		b.buf[--b.len] = 0;
	if (!b.len) {
		strbuf_release(&b);
		return NULL;
	}
	if (cut)
		strbuf_adds(&b, "...");
	char *out = redact_urls(b.buf);
	strbuf_release(&b);
	return out;
}

/* "HTTP 409 (request id X): the server's reason" -- for a failed response
 * with a text body: S3's Code and Message, else hs_reason's line. */
static void describe(struct strbuf *sb, CURLcode cc, const struct resp *r, const char *errbuf)
{
	if (cc != CURLE_OK)
		strbuf_addf(sb, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else
		strbuf_addf(sb, "HTTP %ld", r->status);
	if (r->reqid[0])
		strbuf_addf(sb, " (request id %s)", r->reqid);
	if (cc != CURLE_OK || r->status < 400)
		return;
	if (r->errlen && strstr(r->errbody, "<Error>") && strstr(r->errbody, "<Code>")) {
		s3_error(sb, r->errbody);
		return;
	}
	char *why = r->errlen ? hs_reason(r->errbody, r->errlen, r->ctype) : NULL;
	if (!why && r->reason[0])
		why = hs_reason(r->reason, strlen(r->reason), "text/plain");
	if (why)
		strbuf_addf(sb, ": %s", why);
	free(why);
}

/* ---- what a response says about a file ---- */

int hs_file_identified(const struct hs_file *f)
{
	return (f->etag && *f->etag) || f->mtime_ns;
}

/* Two entity tags name other representations (W/ aside: the opaque tag
 * decides); 0 when either is missing. */
static int tags_differ(const char *a, const char *b)
{
	if (!a || !b || !*a || !*b)
		return 0;
	if (!strncmp(a, "W/", 2))
		a += 2;
	if (!strncmp(b, "W/", 2))
		b += 2;
	return strcmp(a, b) != 0;
}

/* Where the ETags cannot decide, Last-Modified does (to the second, as
 * HTTP dates are; an S3 listing's have milliseconds). */
static int dates_differ(const char *etag_a, const char *etag_b, int64_t a, int64_t b)
{
	if ((etag_a && *etag_a && etag_b && *etag_b) || !a || !b)
		return 0;
	return a / 1000000000 != b / 1000000000;
}

/* code, with why written: a verdict of hs_check's. */
__attribute__((format(printf, 4, 5))) static int verdict(char *why, size_t n, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return code;
}

/* The identity a response (or HEAD) gives: 0 when it is the file's, else
 * ESTALE with why. */
static int identity_differs(const struct hs_file *f, const char *etag, int64_t mtime_ns, char *why, size_t n)
{
	char a[64], b[64];
	if (tags_differ(f->etag, etag))
		return verdict(why, n, ESTALE, "its ETag is now %s, not %s", etag, f->etag);
	if (!dates_differ(f->etag, etag, f->mtime_ns, mtime_ns))
		return 0;
	http_date(mtime_ns, a, sizeof(a));
	http_date(f->mtime_ns, b, sizeof(b));
	return verdict(why, n, ESTALE, "its Last-Modified is now %s, not %s", a, b);
}

int hs_check(const struct hs_file *f, uint64_t off, uint64_t len, int conditional, const struct hs_seen *s,
	     char *why, size_t n)
{
	unsigned long long size = f->size, total = s->range_total, clen = s->clen;
	int rc = identity_differs(f, s->etag, s->mtime_ns, why, n);
	if (rc)
		return rc;
	if (s->status == 206) {
		if (s->range_total != UINT64_MAX && s->range_total != f->size)
			return verdict(why, n, ESTALE, "its size is now %llu bytes, not %llu", total, size);
		if (!s->has_range)
			return verdict(why, n, EPROTO, "a 206 without Content-Range");
		if (len == 0 || s->range_start != off || s->range_end != off + len - 1)
			return verdict(why, n, EPROTO, "the server sent bytes %llu-%llu",
				       (unsigned long long)s->range_start, (unsigned long long)s->range_end);
		if (s->clen != UINT64_MAX && s->clen != len)
			return verdict(why, n, EPROTO, "Content-Length %llu for a range of %llu bytes", clen,
				       (unsigned long long)len);
		return 0;
	}
	if (s->status != 200)
		return verdict(why, n, EPROTO, "HTTP %ld is no answer to a ranged GET", s->status);
	if (s->clen != UINT64_MAX && s->clen != f->size)
		return verdict(why, n, ESTALE, "its size is now %llu bytes, not %llu", clen, size);
	if (off == 0 && len == f->size)
		return 0;
	/* To If-Range, the whole object means it changed -- unless it comes
	 * with the validators listed: then the range was ignored. */
	if (conditional && !((f->etag && s->etag) || (f->mtime_ns && s->mtime_ns)))
		return verdict(why, n, ESTALE, "the whole object came back to a range with If-Range");
	return verdict(why, n, EPROTO, "the server ignored the range (HTTP 200): it cannot be staged in parallel");
}

/* ---- listing ---- */

static int drop(void *arg, uint64_t pos, const void *data, size_t n, struct cs_err *err)
{
	(void)arg, (void)pos, (void)data, (void)n, (void)err;
	return 0;
}

/* An S3 error body's code and message, for messages ("" when none). */
static void s3_error(struct strbuf *sb, const char *body)
{
	if (!body)
		return;
	size_t p = 0, q = 0;
	char *code = hs_xml_next(body, "Code", &p), *msg = hs_xml_next(body, "Message", &q);
	char *c = code ? hs_reason(code, strlen(code), "text/plain") : NULL;
	char *m = msg ? hs_reason(msg, strlen(msg), "text/plain") : NULL;   /* one line, printable */
	if (c)
		strbuf_addf(sb, " %s%s%s", c, m ? ": " : "", m ? m : "");
	free(c);
	free(m);
	free(code);
	free(msg);
}

/* An S3 redirect (nothing is followed there): its status, code and region. */
static void s3_redirect(struct strbuf *sb, const struct resp *r)
{
	strbuf_addf(sb, "HTTP %ld", r->status);
	s3_error(sb, r->errlen ? r->errbody : NULL);
	if (r->region[0])
		strbuf_addf(sb, ": the bucket is in region '%s'", r->region);
	else if (r->location[0]) {
		char *to = hs_redact(r->location);
		strbuf_addf(sb, ": to '%s'", to);
		free(to);
	}
	strbuf_adds(sb, "; not followed (S3 requests are signed for one host and region)");
}

/* A HEAD has no body to say why it failed: the same URL asked once with a
 * one-byte GET, and the reason it gives (the same status) kept in r. */
static void ask_reason(CURL *c, const struct hs_opts *o, const struct req *q, struct resp *r)
{
	struct req g = *q;
	g.nobody = 0;
	g.range = "0-0";
	struct resp r2;
	resp_init(&r2, &g);
	r2.sink = drop;
	r2.cap = 1;
	char eb[CURL_ERROR_SIZE];
	CURLcode cc;
	struct cs_err e;
	if (perform(c, o, &g, &r2, eb, &cc, &e) == 0 && cc == CURLE_OK && r2.status == r->status && r2.errlen) {
		memcpy(r->errbody, r2.errbody, sizeof(r->errbody));
		r->errlen = r2.errlen;
		snprintf(r->ctype, sizeof(r->ctype), "%s", r2.ctype);
	}
}

static int head(CURL *c, const struct hs_opts *o, const char *url, struct resp *r, struct cs_err *err)
{
	char eb[CURL_ERROR_SIZE];
	char *shown = hs_redact(url);
	struct req q = { url, NULL, 1, NULL, 0, 0, NULL };
	int rc = -1;
	for (int attempt = 0;; attempt++) {
		resp_init(r, &q);
		CURLcode cc;
		q.nobody = 1;
		q.range = NULL;
		if (perform(c, o, &q, r, eb, &cc, err))
			break;
		if (cc == CURLE_OK && (r->status == 405 || r->status == 501)) {
			/* No HEAD here: one byte of it, and the size from Content-Range. */
			resp_init(r, &q);
			r->sink = drop;
			r->cap = 1;
			q.nobody = 0;
			q.range = "0-0";
			if (perform(c, o, &q, r, eb, &cc, err))
				break;
			if (cc == CURLE_OK && r->status == 206)
				r->clen = r->range_total;
			r->sink = NULL;
		}
		if (cc == CURLE_OK && (r->status == 200 || r->status == 206)) {
			rc = r->clen == UINT64_MAX ? cs_fail(err, EPROTO, "'%s': the server gives no size (no Content-Length)",
							    shown) : 0;
			break;
		}
		if (cc == CURLE_OK && (r->status == 404 || r->status == 410)) {
			rc = cs_fail(err, ENOENT, "'%s': not found (HTTP %ld)", shown, r->status);
			break;
		}
		if (attempt >= max_retries(o) || !retryable(cc, r)) {
			struct strbuf sb = STRBUF_INIT;
			if (cc == CURLE_OK && r->status >= 400 && !r->errlen && !r->reason[0] && !q.range)
				ask_reason(c, o, &q, r);
			if (o->s3 && is_redirect(r->status))
				s3_redirect(&sb, r);
			else
				describe(&sb, cc, r, eb);
			int code = r->status == 401 || r->status == 403 ? EACCES : EIO;
			rc = cs_fail(err, code, "'%s': %s%s", shown, sb.buf,
				     r->status == 401 || r->status == 403 ? ": access denied (a token? $HF_TOKEN)" : "");
			strbuf_release(&sb);
			break;
		}
		backoff(o, attempt);
	}
	free(shown);
	return rc;
}

static int get_text_id(CURL *c, const struct hs_opts *o, const char *url, struct strbuf *out,
		       struct hs_answer *a, struct cs_err *err);

static int get_text(CURL *c, const struct hs_opts *o, const char *url, struct strbuf *out, long *status,
		    struct cs_err *err)
{
	struct hs_answer a;
	int rc = get_text_id(c, o, url, out, &a, err);
	*status = a.status;
	return rc;
}

int hs_get_text(const struct hs_opts *o, const char *url, struct strbuf *out, struct hs_answer *a,
		struct cs_err *err)
{
	pthread_once(&once, global_init);
	CURL *c = curl_easy_init();
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start libcurl");
	int rc = get_text_id(c, o, url, out, a, err);
	curl_easy_cleanup(c);
	return rc;
}

static void xml_unescape(struct strbuf *sb, const char *s, size_t n)
{
	static const struct { const char *e; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' },
	};
	for (size_t i = 0; i < n;) {
		int done = 0;
		if (s[i] == '&') {
			for (size_t k = 0; k < sizeof(ents) / sizeof(ents[0]) && !done; k++) {
				size_t el = strlen(ents[k].e);
				if (i + el <= n && !memcmp(s + i, ents[k].e, el)) {
					strbuf_addch(sb, ents[k].c);
					i += el;
					done = 1;
				}
			}
			unsigned long cp;
			int used = 0;
			if (!done && i + 3 < n && s[i + 1] == '#' &&
			    (sscanf(s + i, s[i + 2] == 'x' ? "&#x%lx;%n" : "&#%lu;%n", &cp, &used) == 1) && used > 0 &&
			    i + (size_t)used <= n && cp > 0 && cp < 0x110000) {
				/* UTF-8 of the code point */
				if (cp < 0x80) {
					strbuf_addch(sb, (char)cp);
				} else if (cp < 0x800) {
					strbuf_addch(sb, (char)(0xc0 | (cp >> 6)));
					strbuf_addch(sb, (char)(0x80 | (cp & 0x3f)));
				} else if (cp < 0x10000) {
					strbuf_addch(sb, (char)(0xe0 | (cp >> 12)));
					strbuf_addch(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
					strbuf_addch(sb, (char)(0x80 | (cp & 0x3f)));
				} else {
					strbuf_addch(sb, (char)(0xf0 | (cp >> 18)));
					strbuf_addch(sb, (char)(0x80 | ((cp >> 12) & 0x3f)));
					strbuf_addch(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
					strbuf_addch(sb, (char)(0x80 | (cp & 0x3f)));
				}
				i += (size_t)used;
				done = 1;
			}
		}
		if (!done)
			strbuf_addch(sb, s[i++]);
	}
}

char *hs_xml_next(const char *xml, const char *tag, size_t *pos)
{
	char open[80], close[80];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *a = strstr(xml + *pos, open);
	if (!a)
		return NULL;
	a += strlen(open);
	const char *b = strstr(a, close);
	if (!b)
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	xml_unescape(&sb, a, (size_t)(b - a));
	*pos = (size_t)(b - xml) + strlen(close);
	return strbuf_detach(&sb);
}

static int get_text_id(CURL *c, const struct hs_opts *o, const char *url, struct strbuf *out,
		       struct hs_answer *a, struct cs_err *err)
{
	char eb[CURL_ERROR_SIZE];
	char *shown = hs_redact(url);
	struct req q = { url, NULL, 0, NULL, 0, 0, NULL };
	int rc = -1;
	memset(a, 0, sizeof(*a));
	for (int attempt = 0;; attempt++) {
		struct resp r;
		resp_init(&r, &q);
		strbuf_release(out);
		r.sb = out;
		CURLcode cc;
		if (perform(c, o, &q, &r, eb, &cc, err))
			break;
		a->status = r.status;
		snprintf(a->reqid, sizeof(a->reqid), "%s", r.reqid);
		snprintf(a->region, sizeof(a->region), "%s", r.region);
		snprintf(a->location, sizeof(a->location), "%s", r.location);
		if (r.overflow) {
			rc = cs_fail(err, EFBIG, "'%s': larger than %u MiB", shown, HS_INDEX_MAX >> 20);
			break;
		}
		if (cc == CURLE_OK && (r.status < 500 && r.status != 429 && r.status != 408)) {
			rc = 0;
			break;
		}
		if (attempt >= max_retries(o) || !retryable(cc, &r)) {
			struct strbuf sb = STRBUF_INIT;
			describe(&sb, cc, &r, eb);
			rc = cs_fail(err, EIO, "'%s': %s", shown, sb.buf);
			strbuf_release(&sb);
			break;
		}
		backoff(o, attempt);
	}
	free(shown);
	return rc;
}

/* base + "/" + name, keeping base's query (a SAS or signed token) after it. */
static char *join_url(const char *base, const char *name)
{
	size_t n = strcspn(base, "?#");
	const char *q = base[n] == '?' ? base + n : "";
	size_t ql = strcspn(q, "#");
	return xasprintf("%.*s%s%s%.*s", (int)n, base, n && base[n - 1] == '/' ? "" : "/", name, (int)ql, q);
}

struct names {
	char **v;
	size_t n, alloc;
};

static void add_name(struct names *ns, const char *s, size_t len)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strlen(ns->v[i]) == len && !memcmp(ns->v[i], s, len))
			return;
	ns->v = xgrow(ns->v, &ns->alloc, ns->n + 1, sizeof(char *));
	ns->v[ns->n++] = xstrndup(s, len);
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

/* The files of the model's own index, or NULL names when it has none. */
static int from_index(CURL *c, const struct hs_opts *o, const char *base, struct names *ns, struct cs_err *err)
{
	char *url = join_url(base, "model.safetensors.index.json");
	struct strbuf sb = STRBUF_INIT;
	long status = 0;
	int rc = get_text(c, o, url, &sb, &status, err);
	char *shown = hs_redact(url);
	if (!rc && status == 200) {
		json_error_t je;
		json_t *j = json_loadb(sb.buf, sb.len, 0, &je);
		json_t *wm = j ? json_object_get(j, "weight_map") : NULL;
		if (!json_is_object(wm) || !json_object_size(wm)) {
			rc = cs_fail(err, EINVAL, "'%s': not a model index (no \"weight_map\" object)", shown);
		} else {
			add_name(ns, "model.safetensors.index.json", strlen("model.safetensors.index.json"));
			const char *k;
			json_t *v;
			json_object_foreach(wm, k, v) {
				const char *f = json_string_value(v);
				if (!f || !hs_safe_rel(f)) {
					rc = cs_fail(err, EINVAL, "'%s': weight_map entry '%s' names '%s', not a file under the model",
						     shown, k, f ? f : "?");
					break;
				}
				add_name(ns, f, strlen(f));
			}
		}
		json_decref(j);
	}
	free(shown);
	free(url);
	strbuf_release(&sb);
	return rc;
}

/* Names in a directory listing: nginx's JSON autoindex, or HTML links. */
static void from_listing(const char *body, struct names *ns)
{
	json_t *j = json_loads(body, 0, NULL);
	if (json_is_array(j)) {
		size_t i;
		json_t *e;
		json_array_foreach(j, i, e) {
			const char *t = json_string_value(json_object_get(e, "type"));
			const char *name = json_string_value(json_object_get(e, "name"));
			if (name && t && !strcmp(t, "file") && hs_safe_rel(name))
				add_name(ns, name, strlen(name));
		}
		json_decref(j);
		return;
	}
	json_decref(j);
	for (const char *p = body; (p = strcasestr(p, "href=\""));) {
		p += 6;
		size_t n = strcspn(p, "\"");
		char *h = xstrndup(p, n);
		p += n;
		/* Plain relative file names only: no query, fragment, scheme,
		 * parent or sub-directory link. */
		if (*h && !strpbrk(h, "?#:%") && h[strlen(h) - 1] != '/' && hs_safe_rel(h) && !strchr(h, '/'))
			add_name(ns, h, strlen(h));
		free(h);
	}
}

static const char *const config_files[] = {
	"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
	"tokenizer.model", "vocab.json", "merges.txt", "preprocessor_config.json", "chat_template.jinja",
};

int hs_list(const struct hs_opts *o, const char *base, char *const *names, size_t nnames, struct hs_file **out,
	    size_t *n, struct cs_err *err)
{
	pthread_once(&once, global_init);
	*out = NULL;
	*n = 0;
	CURL *c = curl_easy_init();
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start libcurl");
	struct names ns = { 0 };
	int rc = 0, optional_from = -1;
	char *shown = hs_redact(base);
	char *dir = xstrdup(base);
	size_t bl = strcspn(base, "?#");
	if (bl > 5 && !strncasecmp(base + bl - 5, ".gguf", 5)) {
		/* One GGUF file, or every part of a split set from its part 1;
		 * dir keeps base's query. */
		char *path = xstrndup(base, bl);
		char *slash = strrchr(path, '/');
		char *name = xstrdup(slash ? slash + 1 : path);
		free(dir);
		dir = xasprintf("%.*s%s", (int)(slash ? slash + 1 - path : 0), path, base + bl);
		free(path);
		char *prefix;
		int no, count;
		if (gg_split_parse(name, &prefix, &no, &count) && no == 1) {
			for (int k = 1; k <= count; k++) {
				char *part = gg_split_path(prefix, k, count);
				add_name(&ns, part, strlen(part));
				free(part);
			}
			free(prefix);
		} else {
			add_name(&ns, name, strlen(name));
		}
		free(name);
	} else if (nnames) {
		for (size_t i = 0; i < nnames && !rc; i++)
			if (!hs_safe_rel(names[i]))
				rc = cs_fail(err, EINVAL, "--files '%s': not a file under the model", names[i]);
			else
				add_name(&ns, names[i], strlen(names[i]));
	} else {
		rc = from_index(c, o, base, &ns, err);
		if (!rc && !ns.n)
			add_name(&ns, "model.safetensors", strlen("model.safetensors"));
		optional_from = 0;   /* every name is a guess: keep what exists */
	}
	struct hs_file *f = NULL;
	size_t nf = 0;
	for (size_t i = 0; !rc && i < ns.n + (optional_from >= 0 ? sizeof(config_files) / sizeof(*config_files) : 0); i++) {
		const char *name = i < ns.n ? ns.v[i] : config_files[i - ns.n];
		int dup = 0;
		for (size_t k = 0; k < nf; k++)
			dup |= !strcmp(f[k].name, name);
		if (dup)
			continue;
		char *url = join_url(dir, name);
		struct resp r;
		struct cs_err e;
		int hr = head(c, o, url, &r, &e);
		/* Guessed names (the single-file layout, config files) may be absent;
		 * named ones and the index's shards may not. */
		int guessed = optional_from >= 0 && (i >= ns.n || (ns.n == 1 && !strcmp(name, "model.safetensors")));
		if (hr && e.code == ENOENT && guessed) {
			free(url);
			continue;
		}
		if (hr) {
			free(url);
			rc = cs_fail(err, e.code, "%s", e.msg);
			break;
		}
		f = xrealloc(f, (nf + 1) * sizeof(*f));
		f[nf++] = (struct hs_file){ xstrdup(name), url, r.clen, r.etag[0] ? xstrdup(r.etag) : NULL, r.mtime_ns,
					     r.cksum[0] ? xstrdup(r.cksum) : NULL };
	}
	int weights = 0;
	for (size_t k = 0; k < nf; k++)
		weights |= !strstr(f[k].name, ".json") && !strstr(f[k].name, ".txt") && !strstr(f[k].name, ".jinja");
	if (!rc && !weights && optional_from >= 0) {
		/* No index and no model.safetensors: the server's listing. */
		struct strbuf sb = STRBUF_INIT;
		long status = 0;
		char *lurl = join_url(base, "");
		rc = get_text(c, o, lurl, &sb, &status, err);
		free(lurl);
		struct names ls = { 0 };
		if (!rc && status == 200 && sb.buf)
			from_listing(sb.buf, &ls);
		strbuf_release(&sb);
		hs_files_free(f, nf);
		f = NULL;
		nf = 0;
		for (size_t i = 0; !rc && i < ls.n; i++) {
			char *url = join_url(base, ls.v[i]);
			struct resp r;
			if (head(c, o, url, &r, err)) {
				free(url);
				rc = -1;
				break;
			}
			f = xrealloc(f, (nf + 1) * sizeof(*f));
			f[nf++] = (struct hs_file){ xstrdup(ls.v[i]), url, r.clen, r.etag[0] ? xstrdup(r.etag) : NULL, r.mtime_ns,
					     r.cksum[0] ? xstrdup(r.cksum) : NULL };
		}
		names_free(&ls);
		if (!rc && !nf)
			rc = cs_fail(err, ENOENT, "no model at '%s': no model.safetensors.index.json, no model.safetensors and "
				     "no directory listing (name the files with --files)", shown);
	}
	if (rc) {
		hs_files_free(f, nf);
	} else {
		*out = f;
		*n = nf;
	}
	names_free(&ns);
	free(dir);
	free(shown);
	curl_easy_cleanup(c);
	return rc;
}

void hs_files_free(struct hs_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].url);
		free(f[i].etag);
		free(f[i].checksum);
	}
	free(f);
}

int hs_stat(const struct hs_opts *o, struct hs_file *f, struct cs_err *err)
{
	pthread_once(&once, global_init);
	CURL *c = curl_easy_init();
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start a transfer (curl_easy_init)");
	struct resp r;
	int rc = head(c, o, f->url, &r, err);
	curl_easy_cleanup(c);
	if (rc)
		return rc;
	char why[256] = "";
	if (r.clen != f->size)
		snprintf(why, sizeof(why), "its size is now %llu bytes, not %llu", (unsigned long long)r.clen,
			 (unsigned long long)f->size);
	if (why[0] || identity_differs(f, r.etag, r.mtime_ns, why, sizeof(why))) {
		char *shown = hs_redact(f->url);
		rc = cs_fail(err, ESTALE, "'%s' changed on the server while it was being listed (%s)", shown, why);
		free(shown);
		return rc;
	}
	if (r.cksum[0]) {
		free(f->checksum);
		f->checksum = xstrdup(r.cksum);
	}
	return 0;
}

/* ---- reading ---- */

struct hs_reader {
	struct hs_opts o;
	const struct hs_file *files;
	size_t n;
	pthread_key_t key;
	pthread_mutex_t mu;
	CURL **handles;              /* every handle made, freed with the reader */
	size_t nhandles, ahandles;
	uint64_t requests;
};

struct hs_reader *hs_reader_new(const struct hs_opts *o, const struct hs_file *files, size_t n)
{
	pthread_once(&once, global_init);
	struct hs_reader *r = xcalloc(1, sizeof(*r));
	r->o = *o;
	r->files = files;
	r->n = n;
	pthread_key_create(&r->key, NULL);
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void hs_reader_free(struct hs_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nhandles; i++)
		curl_easy_cleanup(r->handles[i]);
	free(r->handles);
	pthread_key_delete(r->key);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

uint64_t hs_requests(const struct hs_reader *r)
{
	return __atomic_load_n(&r->requests, __ATOMIC_RELAXED);
}

/* This thread's handle: its connection stays open between chunks. */
static CURL *handle(struct hs_reader *r)
{
	CURL *c = pthread_getspecific(r->key);
	if (c)
		return c;
	c = curl_easy_init();
	if (!c)
		return NULL;
	pthread_mutex_lock(&r->mu);
	r->handles = xgrow(r->handles, &r->ahandles, r->nhandles + 1, sizeof(CURL *));
	r->handles[r->nhandles++] = c;
	pthread_mutex_unlock(&r->mu);
	pthread_setspecific(r->key, c);
	return c;
}

/* A read that did not succeed: 1 to try again, else -1 with err. */
static int read_failed(const struct hs_opts *o, const struct hs_file *f, const char *range, CURLcode cc,
		       const struct resp *rs, int attempt, const char *eb, struct cs_err *err)
{
	int last = attempt >= max_retries(o), ok = cc == CURLE_OK;
	int partial = ok && rs->status >= 200 && rs->status < 300 && !rs->verdict && !rs->overflow;
	if ((partial && !last) || (!partial && !rs->verdict && !rs->overflow && !last && retryable(cc, rs)))
		return 1;
	char *shown = hs_redact(f->url);
	char d[64] = "";
	if (f->mtime_ns)
		http_date(f->mtime_ns, d, sizeof(d));
	if (rs->verdict == ESTALE)
		cs_fail(err, ESTALE, "'%s' changed on the server while it was being staged (%s)", shown, rs->why);
	else if (rs->verdict)
		cs_fail(err, EPROTO, "'%s': bytes %s: %s", shown, range, rs->why);
	else if (rs->overflow)
		cs_fail(err, EPROTO, "'%s': the server sent more than the bytes asked for (bytes %s)", shown, range);
	else if (ok && rs->status == 412)
		cs_fail(err, ESTALE, "'%s' changed on the server while it was being staged (its ETag is no longer %s)",
			shown, f->etag && strncmp(f->etag, "W/", 2) ? f->etag : "?");
	else if (ok && rs->status == 416 && rs->range_total != UINT64_MAX)   /* a range within the listed size */
		cs_fail(err, ESTALE, "'%s' changed on the server while it was being staged (its size is now %llu bytes, "
			"not %llu)", shown, (unsigned long long)rs->range_total, (unsigned long long)f->size);
	else if (ok && rs->status == 416)
		cs_fail(err, ESTALE, "'%s' changed on the server while it was being staged (bytes %s of its %llu are not "
			"there now: HTTP 416)", shown, range, (unsigned long long)f->size);
	else if (partial)
		cs_fail(err, EPROTO, "'%s': bytes %s: got %zu bytes of %llu", shown, range, rs->got,
			(unsigned long long)(rs->cap));
	else {
		struct strbuf sb = STRBUF_INIT;
		if (ok && o->s3 && is_redirect(rs->status))
			s3_redirect(&sb, rs);
		else
			describe(&sb, cc, rs, eb);
		cs_fail(err, rs->status == 401 || rs->status == 403 ? EACCES : EIO, "'%s': bytes %s: %s%s", shown, range,
			sb.buf, attempt ? " (after retries)" : "");
		strbuf_release(&sb);
	}
	free(shown);
	return -1;
}

int hs_read(struct hs_reader *r, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
	    struct cs_err *err)
{
	const struct hs_file *f = &r->files[file];
	CURL *c = handle(r);
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start libcurl");
	char range[64], eb[CURL_ERROR_SIZE];
	snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, off, off + len - 1);
	struct req q = { f->url, range, 0, f, off, len, &r->requests };
	for (int attempt = 0;; attempt++) {
		struct resp rs;
		resp_init(&rs, &q);
		rs.sink = sink;
		rs.sink_arg = sink_arg;
		rs.sink_err = err;
		rs.whole = off == 0 && len == f->size;
		rs.cap = len;
		CURLcode cc;
		if (perform(c, &r->o, &q, &rs, eb, &cc, err))
			return -1;
		if (rs.sink_failed)
			return -1;    /* the destination's error, in err already */
		if (cc == CURLE_OK && rs.status >= 200 && rs.status < 300 && !rs.verdict && !rs.overflow && rs.got == len)
			return 0;     /* the common case: no message to build */
		int again = read_failed(&r->o, f, range, cc, &rs, attempt, eb, err);
		if (again < 0)
			return -1;
		backoff(&r->o, attempt);
	}
}
