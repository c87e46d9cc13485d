/* httpsrc: one exchange -- the easy handle, its headers, redirects followed
 * by hand with the credentials kept to the first origin (started where
 * hs_hops says they led), retries; a text GET. */
#define _GNU_SOURCE
#include "http_internal.h"
#include "awscred.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/io/checksum.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

#define HS_MAX_REDIRECTS 10

void hsi_resp_init(struct resp *r, const struct req *q)
{
	memset(r, 0, sizeof(*r));
	r->rq = q;
	r->clen = r->range_total = UINT64_MAX;
}

/* Forget one response's headers (a new status line: 1xx, or the next hop). */
static void resp_clear(struct resp *r)
{
	r->etag[0] = r->reqid[0] = r->cksum[0] = r->region[0] = r->location[0] = r->ctype[0] = r->reason[0] = 0;
	r->next[0] = 0;
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

/* Link: <URL>; rel="next", ... (RFC 8288): the next page's URL into r->next. */
static void parse_link(struct resp *r, const char *v)
{
	for (const char *p = v; (p = strchr(p, '<'));) {
		const char *end = strchr(p, '>');
		if (!end)
			return;
		size_t n = strcspn(end, ",");
		char *params = xstrndup(end + 1, n - 1);
		int next = strcasestr(params, "rel=\"next\"") || strcasestr(params, "rel=next");
		free(params);
		if (next && (size_t)(end - p - 1) < sizeof(r->next)) {
			snprintf(r->next, sizeof(r->next), "%.*s", (int)(end - p - 1), p + 1);
			return;
		}
		p = end + n;
	}
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
		/* Where the redirects led answers: kept now, so that the other
		 * threads waiting for it start before this body is in. */
		if (r->hop && r->hop->want && r->hop->redirected && r->hstatus >= 200 && r->hstatus < 300)
			hsi_hops_end(r->hop, r->hop->now, 0, NULL);
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
	else if (!strcasecmp(line, "link"))
		parse_link(r, v);
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
	if (!o->insecure && o->cainfo)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->cainfo);
	if (!o->insecure && o->capath)
		curl_easy_setopt(c, CURLOPT_CAPATH, o->capath);
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

/* A read's preconditions: on a strong ETag If-Match and If-Range; on
 * Last-Modified (a weak ETag never matches) If-Unmodified-Since and
 * If-Range. S3 takes If-Match; If-Range is not in its API. */
static int conditions(struct curl_slist **h, const struct hs_opts *o, const struct source_file *f)
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
	hsi_http_date(f->mtime_ns, d, sizeof(d));
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

int hsi_origin(const char *url, char *out, size_t n)
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

int hsi_is_redirect(long status)
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
	else if (!next || hsi_origin(next, o, sizeof(o)))
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

/* One request of an exchange at url (its hop-th), r and *cc its answer. */
static void one_request(CURL *c, const struct hs_opts *o, const struct req *q, struct resp *r, const char *url,
			int hop, int creds, char **user, char **pw, char *eb, CURLcode *cc)
{
	curl_easy_reset(c);
	resp_clear(r);
	if (r->sb)
		strbuf_reset(r->sb);    /* a redirect's body is not the text asked for */
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
		if (!*user && !*pw)
			userinfo(q->url, user, pw);
		if (*user)
			curl_easy_setopt(c, CURLOPT_USERNAME, *user);
		if (*pw)
			curl_easy_setopt(c, CURLOPT_PASSWORD, *pw);
	}
	if (q->requests)
		__atomic_fetch_add(q->requests, 1, __ATOMIC_RELAXED);
	*cc = curl_easy_perform(c);
	curl_slist_free_all(h);
	r->status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
}

/* The URL a redirect led to no longer serves: 403, 410, or a 400 or 401
 * whose body says it expired (a signed URL's signature). */
static int refused_there(const struct resp *r)
{
	const char *body = r->errlen ? r->errbody : r->sb && r->sb->buf ? r->sb->buf : "";
	return r->status == 403 || r->status == 410 ||
	       ((r->status == 400 || r->status == 401) && strcasestr(body, "expire"));
}

/*
 * One exchange, redirects followed by hand (see the header): credentials
 * only to requests at the first URL's origin. With o->hops it starts where
 * q->url's redirects led before, and resolves q->url again once when that
 * URL refuses (refused_there). *cc and r are the last hop's; 0, or -1 with
 * err when a redirect is refused.
 */
int hsi_perform(CURL *c, const struct hs_opts *o, const struct req *q, struct resp *r, char *eb, CURLcode *cc,
		   struct cs_err *err)
{
	struct hs_opts fresh;
	char *up = NULL, *tok = NULL;
	if (o->cred) {   /* S3: the credentials of the moment, refreshed when due */
		if (awscred_get(o->cred, &up, &tok, err))
			return -1;
		fresh = *o;
		fresh.userpwd = up;
		fresh.session_token = tok;
		o = &fresh;
	}
	char first[512] = "", here[512];
	hsi_origin(q->url, first, sizeof(first));
	struct hop_use u;
	char *kept = hsi_hops_begin(o->s3 ? NULL : o->hops, q->url, &u);
	if (u.refused) {
		*cc = CURLE_OK;
		r->status = 0;
		char *shown = hs_redact(q->url);
		if (u.why)
			cs_fail(err, EACCES, "'%s': %s%s", shown, u.why, HSI_REFUSED_AGAIN);
		else
			cs_fail(err, EACCES, "'%s': HTTP %ld%s", shown, u.refused, HSI_REFUSED_AGAIN);
		free(shown);
		free(u.why);
		return -1;
	}
	char *url = kept ? kept : xstrdup(q->url), *user = NULL, *pw = NULL;
	int rc = 0, at_kept = kept != NULL, again = 0;
	r->hop = u.h ? &u : NULL;
	for (int hop = at_kept;; hop++) {
		int creds = hop == 0 || (!hsi_origin(url, here, sizeof(here)) && !strcmp(here, first));
		u.now = url;
		u.redirected = hop > 0 && !at_kept;
		one_request(c, o, q, r, url, hop, creds, &user, &pw, eb, cc);
		r->at_origin = creds;
		if (*cc == CURLE_ABORTED_BY_CALLBACK && cs_cancelled(o->cancel)) {
			rc = cs_fail(err, ECANCELED, "interrupted");
			break;
		}
		if ((at_kept || hop > 0) && !again && *cc == CURLE_OK && refused_there(r)) {
			/* Expired, most likely (kept a while, or issued expired: a
			 * clock behind): where q->url leads now, once. */
			again = r->reresolved = 1;
			free(url);
			kept = u.h ? hsi_hops_stale(&u) : NULL;
			if (u.refused) {
				url = NULL;
				break;      /* another's resolve again was refused: so is this */
			}
			url = kept ? kept : xstrdup(q->url);
			at_kept = kept != NULL;
			hop = at_kept - 1;
			continue;
		}
		if (*cc != CURLE_OK || !hsi_is_redirect(r->status) || !r->location[0] || o->s3)
			break;
		char *next = next_hop(q, url, r->location, hop, err);
		if (!next) {
			rc = -1;
			break;
		}
		free(url);
		url = next;
		at_kept = 0;
	}
	/* A resolve that kept nothing: the waiting go on (and give up on a 4xx
	 * that is no 408 or 429: those are worth another attempt). */
	int refused = u.owner && rc == 0 && *cc == CURLE_OK && r->status >= 400 && r->status < 500 &&
		      !hsi_retryable(*cc, r);
	struct strbuf why = STRBUF_INIT;
	if (refused)
		hsi_describe(&why, o, *cc, r, eb);
	hsi_hops_end(&u, NULL, refused ? r->status : 0, why.buf);
	strbuf_release(&why);
	r->hop = NULL;
	free(url);
	if (pw)
		memset(pw, 0, strlen(pw));
	free(user);
	free(pw);
	awscred_wipe(up, tok);
	return rc;
}

/* A text GET with retries: see http_internal.h. */
int hsi_get_text(CURL *c, const struct hs_opts *o, const char *url, struct strbuf *out, struct hs_answer *a,
		 struct cs_err *err)
{
	char eb[CURL_ERROR_SIZE];
	char *shown = hs_redact(url);
	struct req q = { url, NULL, 0, NULL, 0, 0, NULL };
	int rc = -1;
	memset(a, 0, sizeof(*a));
	for (int attempt = 0;; attempt++) {
		struct resp r;
		hsi_resp_init(&r, &q);
		strbuf_release(out);
		r.sb = out;
		CURLcode cc;
		if (hsi_perform(c, o, &q, &r, eb, &cc, err))
			break;
		a->status = r.status;
		snprintf(a->reqid, sizeof(a->reqid), "%s", r.reqid);
		snprintf(a->region, sizeof(a->region), "%s", r.region);
		snprintf(a->location, sizeof(a->location), "%s", r.location);
		snprintf(a->next, sizeof(a->next), "%s", r.next);
		snprintf(a->etag, sizeof(a->etag), "%s", r.etag);
		snprintf(a->cksum, sizeof(a->cksum), "%s", r.cksum);
		snprintf(a->ctype, sizeof(a->ctype), "%s", r.ctype);
		a->mtime_ns = r.mtime_ns;
		a->at_origin = r.at_origin;
		a->reresolved = r.reresolved;
		if (r.overflow) {
			rc = cs_fail(err, EFBIG, "'%s': larger than %u MiB", shown, HS_INDEX_MAX >> 20);
			break;
		}
		if (cc == CURLE_OK && (r.status < 500 && r.status != 429 && r.status != 408)) {
			rc = 0;
			break;
		}
		if (attempt >= hsi_max_retries(o) || !hsi_retryable(cc, &r)) {
			struct strbuf sb = STRBUF_INIT;
			hsi_describe(&sb, o, cc, &r, eb);
			rc = cs_fail(err, EIO, "'%s': %s", shown, sb.buf);
			strbuf_release(&sb);
			break;
		}
		hsi_backoff(o, attempt);
	}
	free(shown);
	return rc;
}

int hsi_retryable(CURLcode cc, const struct resp *r)
{
	if (cc != CURLE_OK)
		return cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR ||
		       cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE ||
		       cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_HTTP2 || cc == CURLE_HTTP2_STREAM;
	return r->status >= 500 || r->status == 429 || r->status == 408;
}

/* Attempts after the first. */
int hsi_max_retries(const struct hs_opts *o)
{
	return o->retries > 0 ? o->retries : 6;
}

void hsi_backoff(const struct hs_opts *o, int attempt)
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
