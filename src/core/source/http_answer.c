/* httpsrc: what an answer says -- about the file it should be (the
 * validator checks of hs_check), and, failed, why. */
#define _GNU_SOURCE
#include "http_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/strbuf.h"
#include "core/base/banned.h"

/* An S3 error body's code and message, for messages (nothing when none):
 * " CODE: MESSAGE". */
static void s3_error(struct strbuf *sb, const char *body)
{
	struct hs_s3_error e;
	hs_s3_error_parse(body, &e);
	if (e.code_line)
		strbuf_addf(sb, " %s%s%s", e.code_line, e.message_line ? ": " : "", e.message_line ? e.message_line : "");
	hs_s3_error_release(&e);
}

/* A TLS certificate that did not verify: the bundle it was checked
 * against, and how to name the CA that signed it. */
static void ca_hint(struct strbuf *sb, const struct hs_opts *o)
{
	const char *var = o->s3 ? "$AWS_CA_BUNDLE" : "$CURL_CA_BUNDLE";
	const char *dir = o->capath ? " and the CA directory '" : "", *d = o->capath ? o->capath : "";
	const char *dir_end = o->capath ? "' ($SSL_CERT_DIR)" : "";
	if (o->cainfo)
		strbuf_addf(sb, " (checked against the CA bundle '%s', from %s%s%s%s; the CA that signed the server's "
			    "certificate: --cacert FILE)", o->cainfo, o->cainfo_from, dir, d, dir_end);
	else
		strbuf_addf(sb, " (checked against the system's CA store%s%s%s; a private CA: --cacert FILE, or %s)",
			    dir, d, dir_end, var);
}

static int cert_failed(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_ISSUER_ERROR;
}

/* "HTTP 409 (request id X): the server's reason" -- for a failed response
 * with a text body: S3's Code and Message, else hs_reason's line; for a
 * certificate that did not verify, libcurl's message and ca_hint. */
void hsi_describe(struct strbuf *sb, const struct hs_opts *o, CURLcode cc, const struct resp *r,
		  const char *errbuf)
{
	if (cc != CURLE_OK) {
		strbuf_addf(sb, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
		if (cert_failed(cc))
			ca_hint(sb, o);
	} else {
		strbuf_addf(sb, "HTTP %ld", r->status);
	}
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

void hsi_describe_text(struct strbuf *sb, const struct hs_opts *o, const struct hs_answer *a,
		       const struct strbuf *body)
{
	strbuf_addf(sb, "HTTP %ld", a->status);
	if (a->reqid[0])
		strbuf_addf(sb, " (request id %s)", a->reqid);
	if (body->len && strstr(body->buf, "<Error>") && strstr(body->buf, "<Code>")) {
		s3_error(sb, body->buf);
	} else {
		char *why = body->len ? hs_reason(body->buf, body->len, a->ctype[0] ? a->ctype : "text/plain") : NULL;
		if (why)
			strbuf_addf(sb, ": %s", why);
		free(why);
	}
	strbuf_adds(sb, hsi_refused_hint(o, a->status, a->at_origin, a->reresolved));
}

/* An S3 redirect (nothing is followed there): its status, code and region. */
void hsi_s3_redirect(struct strbuf *sb, const struct resp *r)
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

const char *hsi_refused_hint(const struct hs_opts *o, long status, int at_origin, int reresolved)
{
	if (reresolved)
		return HSI_REFUSED_AGAIN;
	if ((status != 401 && status != 403) || !at_origin)
		return "";
	return o->bearer && *o->bearer ? ": access denied (the token was refused)" :
	       ": access denied (a token? $HF_TOKEN)";
}

/* An HTTP date (IMF-fixdate) of ns, not the locale's. */
void hsi_http_date(int64_t ns, char *buf, size_t n)
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

/* ---- what a response says about a file ---- */

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
int hsi_identity_differs(const struct source_file *f, const char *etag, int64_t mtime_ns, char *why, size_t n)
{
	char a[64], b[64];
	if (tags_differ(f->etag, etag))
		return verdict(why, n, ESTALE, "its ETag is now %s, not %s", etag, f->etag);
	if (!dates_differ(f->etag, etag, f->mtime_ns, mtime_ns))
		return 0;
	hsi_http_date(mtime_ns, a, sizeof(a));
	hsi_http_date(f->mtime_ns, b, sizeof(b));
	return verdict(why, n, ESTALE, "its Last-Modified is now %s, not %s", a, b);
}

int hs_check(const struct source_file *f, uint64_t off, uint64_t len, int conditional, const struct hs_seen *s,
	     char *why, size_t n)
{
	unsigned long long size = f->size, total = s->range_total, clen = s->clen;
	int rc = hsi_identity_differs(f, s->etag, s->mtime_ns, why, n);
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
