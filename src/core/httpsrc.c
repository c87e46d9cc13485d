#define _GNU_SOURCE
#include "httpsrc.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "checksum.h"
#include "gguf.h"
#include "strbuf.h"
#include "banned.h"

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
	const char *at = memchr(p, '@', host_end);
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

struct resp {
	long status;
	char reqid[128];
	char etag[256];
	char cksum[128];            /* checksum.h's spec of an x-amz-checksum-* header */
	int64_t mtime_ns;
	uint64_t clen;              /* Content-Length, or UINT64_MAX */
	uint64_t range_total;       /* from Content-Range, or UINT64_MAX */
	long hstatus;               /* the status line's code, as headers arrive */
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

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = sz * n;
	char line[512];
	size_t k = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	memcpy(line, p, k);
	line[k] = 0;
	line[strcspn(line, "\r\n")] = 0;
	if (!strncmp(line, "HTTP/", 5)) {   /* a new response (after a redirect): forget the last */
		r->etag[0] = r->reqid[0] = r->cksum[0] = 0;
		r->clen = r->range_total = UINT64_MAX;
		r->mtime_ns = 0;
		const char *sp = strchr(line, ' ');
		r->hstatus = sp ? strtol(sp + 1, NULL, 10) : 0;
	}
	char *colon = strchr(line, ':');
	if (!colon)
		return len;
	*colon = 0;
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	char *ck = r->cksum[0] ? NULL : cks_from_header(line, v);
	if (ck)
		snprintf(r->cksum, sizeof(r->cksum), "%s", ck);
	free(ck);
	if (!strcasecmp(line, "etag"))
		snprintf(r->etag, sizeof(r->etag), "%s", v);
	else if (!strcasecmp(line, "x-amz-request-id") || !strcasecmp(line, "x-request-id") ||
		 !strcasecmp(line, "x-amz-cf-id"))
		snprintf(r->reqid, sizeof(r->reqid), "%s", v);
	else if (!strcasecmp(line, "content-length"))
		r->clen = strtoull(v, NULL, 10);
	else if (!strcasecmp(line, "content-range")) {
		char *slash = strchr(v, '/');
		if (slash && slash[1] != '*')
			r->range_total = strtoull(slash + 1, NULL, 10);
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
	if (r->hstatus != 206 && !r->whole) { /* the whole file for a part of it: not one byte of it written */
		r->ignored_range = 1;
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
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s > 0 ? o->connect_timeout_s : 15L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->stall_s > 0 ? o->stall_s : 30L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "coldstart/" "stage");
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (o->cancel) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)o->cancel);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	/* The bearer token goes to the first host only, never to a redirect's
	 * (a CDN), as curl does with credentials by default. */
	curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
	if (o->sigv4) {
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, o->sigv4);
		curl_easy_setopt(c, CURLOPT_USERPWD, o->userpwd);
	}
}

/* SHA-256 of an empty body: what a signed GET or HEAD declares. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static struct curl_slist *headers(const struct hs_opts *o, const char *if_match)
{
	struct curl_slist *h = NULL;
	if (o->bearer && *o->bearer) {
		char *a = xasprintf("Authorization: Bearer %s", o->bearer);
		h = curl_slist_append(h, a);
		free(a);
	}
	if (if_match && *if_match) {
		char *m = xasprintf("If-Match: %s", if_match);
		h = curl_slist_append(h, m);
		free(m);
	}
	if (o->checksum_mode)
		h = curl_slist_append(h, "x-amz-checksum-mode: ENABLED");
	if (o->sigv4) {
		h = curl_slist_append(h, "x-amz-content-sha256: " EMPTY_SHA256);
		if (o->session_token && *o->session_token) {
			char *t = xasprintf("x-amz-security-token: %s", o->session_token);
			h = curl_slist_append(h, t);
			free(t);
		}
	}
	return h;
}

static int retryable(CURLcode cc, long status)
{
	if (cc != CURLE_OK)
		return cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR ||
		       cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE ||
		       cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_HTTP2 || cc == CURLE_HTTP2_STREAM;
	return status >= 500 || status == 429 || status == 408;
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

static void describe(struct strbuf *sb, CURLcode cc, const struct resp *r, const char *errbuf)
{
	if (cc != CURLE_OK)
		strbuf_addf(sb, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else
		strbuf_addf(sb, "HTTP %ld", r->status);
	if (r->reqid[0])
		strbuf_addf(sb, " (request id %s)", r->reqid);
}

/* ---- listing ---- */

static int drop(void *arg, uint64_t pos, const void *data, size_t n, struct cs_err *err)
{
	(void)arg, (void)pos, (void)data, (void)n, (void)err;
	return 0;
}

static int head(CURL *c, const struct hs_opts *o, const char *url, struct resp *r, struct cs_err *err)
{
	char eb[CURL_ERROR_SIZE];
	char *shown = hs_redact(url);
	int rc = -1;
	for (int attempt = 0;; attempt++) {
		curl_easy_reset(c);
		memset(r, 0, sizeof(*r));
		r->clen = r->range_total = UINT64_MAX;
		struct curl_slist *h = headers(o, NULL);
		setup(c, o, r, h);
		eb[0] = 0;
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, eb);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		CURLcode cc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		if (cc == CURLE_OK && (r->status == 405 || r->status == 501)) {
			/* No HEAD here: one byte of it, and the size from Content-Range. */
			memset(r, 0, sizeof(*r));
			r->clen = r->range_total = UINT64_MAX;
			r->sink = drop;
			r->cap = 1;
			curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
			curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
			curl_easy_setopt(c, CURLOPT_RANGE, "0-0");
			cc = curl_easy_perform(c);
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
			if (cc == CURLE_OK && r->status == 206)
				r->clen = r->range_total;
			r->sink = NULL;
		}
		curl_slist_free_all(h);
		if (cc == CURLE_ABORTED_BY_CALLBACK) {
			rc = cs_fail(err, ECANCELED, "interrupted");
			break;
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
		if (attempt >= max_retries(o) || !retryable(cc, r->status)) {
			struct strbuf sb = STRBUF_INIT;
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

static int get_text_id(CURL *c, const struct hs_opts *o, const char *url, struct strbuf *out, long *status,
		       char *reqid, size_t reqid_len, struct cs_err *err);

static int get_text(CURL *c, const struct hs_opts *o, const char *url, struct strbuf *out, long *status,
		    struct cs_err *err)
{
	return get_text_id(c, o, url, out, status, NULL, 0, err);
}

int hs_get_text(const struct hs_opts *o, const char *url, struct strbuf *out, long *status, char *reqid,
		size_t reqid_len, struct cs_err *err)
{
	pthread_once(&once, global_init);
	CURL *c = curl_easy_init();
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start libcurl");
	int rc = get_text_id(c, o, url, out, status, reqid, reqid_len, err);
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

/* An S3 error body's code and message, for messages ("" when none). */
static void s3_error(struct strbuf *sb, const char *body)
{
	if (!body)
		return;
	size_t p = 0, q = 0;
	char *code = hs_xml_next(body, "Code", &p), *msg = hs_xml_next(body, "Message", &q);
	if (code)
		strbuf_addf(sb, " %s%s%s", code, msg && *msg ? ": " : "", msg ? msg : "");
	free(code);
	free(msg);
}

static int get_text_id(CURL *c, const struct hs_opts *o, const char *url, struct strbuf *out, long *status,
		       char *reqid, size_t reqid_len, struct cs_err *err)
{
	char eb[CURL_ERROR_SIZE];
	char *shown = hs_redact(url);
	int rc = -1;
	for (int attempt = 0;; attempt++) {
		struct resp r;
		memset(&r, 0, sizeof(r));
		r.clen = r.range_total = UINT64_MAX;
		strbuf_release(out);
		r.sb = out;
		curl_easy_reset(c);
		struct curl_slist *h = headers(o, NULL);
		setup(c, o, &r, h);
		eb[0] = 0;
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, eb);
		curl_easy_setopt(c, CURLOPT_URL, url);
		CURLcode cc = curl_easy_perform(c);
		curl_slist_free_all(h);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		*status = r.status;
		if (reqid && reqid_len)
			snprintf(reqid, reqid_len, "%s", r.reqid);
		if (cc == CURLE_ABORTED_BY_CALLBACK) {
			rc = cs_fail(err, ECANCELED, "interrupted");
			break;
		}
		if (r.overflow) {
			rc = cs_fail(err, EFBIG, "'%s': larger than %u MiB", shown, HS_INDEX_MAX >> 20);
			break;
		}
		if (cc == CURLE_OK && (r.status < 500 && r.status != 429 && r.status != 408)) {
			rc = 0;
			break;
		}
		if (attempt >= max_retries(o) || !retryable(cc, r.status)) {
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
		json_t *j = json_loadb(sb.buf ? sb.buf : "", sb.len, 0, &je);
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
	global_init();
	CURL *c = curl_easy_init();
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start a transfer (curl_easy_init)");
	struct resp r;
	int rc = head(c, o, f->url, &r, err);
	curl_easy_cleanup(c);
	if (rc)
		return rc;
	if (r.clen != f->size || (f->etag && r.etag[0] && strcmp(r.etag, f->etag))) {
		char *shown = hs_redact(f->url);
		rc = cs_fail(err, ESTALE, "'%s' changed on the server while it was being listed", shown);
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

int hs_read(struct hs_reader *r, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
	    struct cs_err *err)
{
	const struct hs_file *f = &r->files[file];
	CURL *c = handle(r);
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start libcurl");
	char range[64], eb[CURL_ERROR_SIZE];
	snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, off, off + len - 1);
	int rc = -1, retries = max_retries(&r->o);
	for (int attempt = 0;; attempt++) {
		struct resp rs;
		memset(&rs, 0, sizeof(rs));
		rs.clen = rs.range_total = UINT64_MAX;
		rs.sink = sink;
		rs.sink_arg = sink_arg;
		rs.sink_err = err;
		rs.whole = off == 0 && len == f->size;
		rs.cap = len;
		curl_easy_reset(c);
		struct curl_slist *h = headers(&r->o, f->etag);
		setup(c, &r->o, &rs, h);
		eb[0] = 0;
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, eb);
		curl_easy_setopt(c, CURLOPT_URL, f->url);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
		__atomic_fetch_add(&r->requests, 1, __ATOMIC_RELAXED);
		CURLcode cc = curl_easy_perform(c);
		curl_slist_free_all(h);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs.status);
		if (rs.sink_failed)
			break;    /* the destination's error, in err already */
		if (cc == CURLE_ABORTED_BY_CALLBACK) {
			rc = cs_fail(err, ECANCELED, "interrupted");
			break;
		}
		int partial = cc == CURLE_OK && (rs.status == 206 || (rs.status == 200 && rs.whole));
		if (!rs.overflow && partial && rs.got == len && (rs.clen == UINT64_MAX || rs.clen == len)) {
			rc = 0;   /* the common case: no message to build */
			break;
		}
		char *shown = hs_redact(f->url);
		if (rs.overflow) {
			rc = cs_fail(err, EPROTO, "'%s': the server sent more than the %zu bytes asked for (bytes %s)", shown,
				     len, range);
		} else if (cc == CURLE_OK && rs.status == 412) {
			rc = cs_fail(err, ESTALE, "'%s' changed on the server while it was being staged (its ETag is no "
				     "longer %s)", shown, f->etag ? f->etag : "?");
		} else if (partial) {
			if (attempt >= retries)
				rc = cs_fail(err, EPROTO, "'%s': bytes %s: got %zu bytes of %zu (Content-Length %s)", shown,
					     range, rs.got, len, rs.clen == UINT64_MAX ? "absent" : "disagrees");
			else {
				free(shown);
				backoff(&r->o, attempt);
				continue;
			}
		} else if (rs.ignored_range || (cc == CURLE_OK && rs.status == 200)) {
			rc = cs_fail(err, EPROTO, "'%s': the server ignored the range %s (HTTP 200): it cannot be staged in "
				     "parallel", shown, range);
		} else if (attempt < retries && retryable(cc, rs.status)) {
			free(shown);
			backoff(&r->o, attempt);
			continue;
		} else {
			struct strbuf sb = STRBUF_INIT;
			describe(&sb, cc, &rs, eb);
			if (rs.errlen && rs.status >= 400)
				s3_error(&sb, rs.errbody);
			rc = cs_fail(err, rs.status == 401 || rs.status == 403 ? EACCES : EIO, "'%s': bytes %s: %s%s", shown,
				     range, sb.buf, attempt ? " (after retries)" : "");
			strbuf_release(&sb);
		}
		free(shown);
		break;
	}
	return rc;
}
