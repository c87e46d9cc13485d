#define _GNU_SOURCE
#include "s3src.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "awscred.h"
#include "core/io/checksum.h"
#include "core/model/gguf.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

int s3_is_url(const char *s)
{
	return s && !strncasecmp(s, "s3://", 5);
}

/* ---- settings ---- */

int s3_config(struct s3_cfg *c, int no_sign, const struct awscred_opts *o, struct cs_err *err)
{
	memset(c, 0, sizeof(*c));
	if (aws_files_load(&c->files, err))
		return -1;
	c->region = aws_region(c->files);
	c->endpoint = aws_endpoint(c->files, "s3");
	const char *style = aws_files_get(c->files, "s3.addressing_style");
	c->addressing = !style || !strcasecmp(style, "auto") ? S3_ADDR_AUTO
			: !strcasecmp(style, "path") ? S3_ADDR_PATH : !strcasecmp(style, "virtual") ? S3_ADDR_VIRTUAL : -1;
	int rc = 0;
	if (c->addressing < 0)
		rc = cs_fail(err, EINVAL, "the AWS config's s3 addressing_style '%s': auto, path or virtual", style);
	else if (!no_sign)
		rc = awscred_resolve(c->files, o, &c->cred, err);
	if (rc) {
		s3_cfg_release(c);
		return -1;
	}
	if (c->cred)
		c->sigv4 = xasprintf("aws:amz:%s:s3", c->region);
	return 0;
}

void s3_cfg_release(struct s3_cfg *c)
{
	if (!c)
		return;
	free(c->region);
	free(c->endpoint);
	awscred_free(c->cred);
	aws_files_free(c->files);
	free(c->sigv4);
	memset(c, 0, sizeof(*c));
}

void s3_hs_opts(const struct s3_cfg *c, const struct hs_opts *base, struct hs_opts *out)
{
	*out = *base;
	out->bearer = NULL;
	out->sigv4 = c->sigv4;
	out->cred = c->cred;
	out->userpwd = NULL;
	out->session_token = NULL;
	out->s3 = 1;
	out->headers = NULL;
	out->nheaders = 0;
}

/* An endpoint on AWS itself (its host under amazonaws.com). */
static int on_aws(const char *ep)
{
	const char *h = strstr(ep, "://");
	h = h ? h + 3 : ep;
	size_t n = strcspn(h, "/:?#");
	static const char dom[] = ".amazonaws.com";
	return n > sizeof(dom) - 1 && !strncasecmp(h + n - (sizeof(dom) - 1), dom, sizeof(dom) - 1);
}

void s3_set_region(struct s3_cfg *c, const char *region)
{
	free(c->region);
	c->region = xstrdup(region);
	if (c->cred) {
		free(c->sigv4);
		c->sigv4 = xasprintf("aws:amz:%s:s3", region);
	}
	if (c->endpoint && on_aws(c->endpoint)) {
		char *e = xasprintf("%s://s3.%s.amazonaws.com", strncasecmp(c->endpoint, "http:", 5) ? "https" : "http",
				    region);
		free(c->endpoint);
		c->endpoint = e;
	}
}

/* ---- addresses ---- */

/* Percent-encode all but unreserved characters (and '/' when keep_slash). */
static void enc(struct strbuf *sb, const char *s, int keep_slash)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/'))
			strbuf_addch(sb, (char)*p);
		else
			strbuf_addf(sb, "%%%02X", *p);
	}
}

/* The bucket's URL (no trailing '/'): path-style at a custom endpoint,
 * virtual-hosted on AWS, unless the profile's s3 addressing_style says. */
static char *bucket_url(const struct s3_cfg *c, const char *bucket)
{
	struct strbuf sb = STRBUF_INIT;
	int path = c->addressing == S3_ADDR_PATH || (c->endpoint && c->addressing != S3_ADDR_VIRTUAL);
	const char *ep = c->endpoint;
	char *aws = ep ? NULL : xasprintf("https://s3.%s.amazonaws.com", c->region);
	if (!ep)
		ep = aws;
	size_t n = strlen(ep);
	while (n && ep[n - 1] == '/')
		n--;
	const char *host = strstr(ep, "://");
	host = host && (size_t)(host - ep) < n ? host + 3 : ep;
	if (path) {
		strbuf_add(&sb, ep, n);
		strbuf_addch(&sb, '/');
		enc(&sb, bucket, 0);
	} else {
		strbuf_add(&sb, ep, (size_t)(host - ep));
		enc(&sb, bucket, 0);
		strbuf_addch(&sb, '.');
		strbuf_add(&sb, host, n - (size_t)(host - ep));
	}
	free(aws);
	return strbuf_detach(&sb);
}

static char *object_url(const char *burl, const char *key)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_adds(&sb, burl);
	strbuf_addch(&sb, '/');
	enc(&sb, key, 1);
	return strbuf_detach(&sb);
}

/* s3://BUCKET/PREFIX -> bucket and prefix (without a leading '/'). A
 * bucket name is letters, digits, '.', '-' and '_': credentials in the URL
 * (s3://KEY:SECRET@BUCKET) or a query are refused, and never shown. */
static int split_url(const char *url, char **bucket, char **prefix, struct cs_err *err)
{
	const char *b = url + 5;
	size_t bl = strcspn(b, "/");
	char *shown = hs_redact(url);
	int rc = 0;
	if (!bl || bl > 255)
		rc = cs_fail(err, EINVAL, "'%s' names no bucket (s3://BUCKET/PREFIX)", shown);
	else if (strspn(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") < bl)
		rc = cs_fail(err, EINVAL, "'%s': not a bucket name before the first '/' (credentials go in "
			     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not in the URL)", shown);
	else if (strpbrk(b, "?#"))
		rc = cs_fail(err, EINVAL, "'%s': an s3:// URL takes no query or fragment", shown);
	free(shown);
	if (rc)
		return rc;
	*bucket = xstrndup(b, bl);
	const char *p = b + bl;
	while (*p == '/')
		p++;
	*prefix = xstrdup(p);
	return 0;
}

char *s3_default_name(const char *s3url)
{
	return hs_default_name(s3url);   /* the same rule: the last component, without ".gguf" */
}

static int64_t iso8601_ns(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	int y, mo, d, h, mi;
	double sec;
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%lfZ", &y, &mo, &d, &h, &mi, &sec) < 6)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = (int)sec;
	time_t t = timegm(&tm);
	return t > 0 ? (int64_t)t * 1000000000 + (int64_t)((sec - (double)(int)sec) * 1e9) : 0;
}

/* ---- listing ---- */

struct want {
	char **keys;     /* exact keys (a .gguf URL), or NULL: everything under the prefix */
	size_t n;
};

/* The region in an AWS endpoint's host ([BUCKET.]s3.REGION.amazonaws.com
 * or the older s3-REGION form), malloc'd; NULL when it names none. */
static char *endpoint_region(const char *ep)
{
	for (const char *p = ep; (p = strstr(p, "s3")); p += 2) {
		if ((p != ep && p[-1] != '.') || (p[2] != '.' && p[2] != '-'))
			continue;
		const char *r = p + 3;
		size_t n = strcspn(r, ".");
		if (n && !strncasecmp(r + n, ".amazonaws.com", 14))
			return xstrndup(r, n);
	}
	return NULL;
}

/* The region an answer that sends the request elsewhere (301
 * PermanentRedirect, 307 TemporaryRedirect, 400 AuthorizationHeaderMalformed)
 * names: x-amz-bucket-region, the XML's Region, or the one in its Endpoint
 * (BUCKET.s3.REGION.amazonaws.com). "" when none, or not a region's name. */
static void answer_region(const struct hs_answer *a, const char *body, char *out, size_t n)
{
	size_t p = 0;
	char *x = a->region[0] ? xstrdup(a->region) : body ? hs_xml_next(body, "Region", &p) : NULL;
	if (!x && body) {
		p = 0;
		char *ep = hs_xml_next(body, "Endpoint", &p);
		x = ep ? endpoint_region(ep) : NULL;
		free(ep);
	}
	out[0] = 0;
	size_t len = x ? strlen(x) : 0;
	if (len && len < n && strspn(x, "abcdefghijklmnopqrstuvwxyz0123456789-") == len)
		memcpy(out, x, len + 1);
	free(x);
}

/* An answer that sends the request to another region or host: S3 follows
 * none (see s3_list). */
static int elsewhere(long status, const char *code)
{
	return status == 301 || status == 302 || status == 307 || status == 308 ||
	       (status == 400 && code && !strcmp(code, "AuthorizationHeaderMalformed"));
}

/* An answer that sent a request elsewhere. */
struct moved {
	long status;
	char code[64];              /* PermanentRedirect, TemporaryRedirect, ... */
	char region[64];            /* the bucket's, "" when it names none */
	char location[4096];        /* a Location, "" when none */
};

/* One page: 0, -1 with err, or 1 when the answer sends the request to
 * another region or host (*mv). */
static int list_page(const struct hs_opts *ho, const char *burl, const char *bucket, const char *prefix,
		     const char *token, struct strbuf *body, struct moved *mv, struct cs_err *err)
{
	struct hs_answer ans, *a = &ans;
	struct strbuf q = STRBUF_INIT;
	strbuf_adds(&q, burl);
	strbuf_addch(&q, '?');
	if (token) {
		strbuf_adds(&q, "continuation-token=");
		enc(&q, token, 0);
		strbuf_addch(&q, '&');
	}
	strbuf_adds(&q, "list-type=2&prefix=");
	enc(&q, prefix, 0);
	int rc = hs_get_text(ho, q.buf, body, a, err);
	strbuf_release(&q);
	if (rc)
		return rc;
	if (a->status == 200)
		return 0;
	struct hs_s3_error se;   /* radosgw sends <Message></Message>: none */
	hs_s3_error_parse(body->buf, &se);
	if (elsewhere(a->status, se.code)) {
		mv->status = a->status;
		snprintf(mv->code, sizeof(mv->code), "%s", se.code ? se.code : "");
		snprintf(mv->location, sizeof(mv->location), "%s", a->location);
		answer_region(a, body->buf, mv->region, sizeof(mv->region));
		hs_s3_error_release(&se);
		return 1;
	}
	int e = a->status == 404 ? ENOENT : a->status == 403 || a->status == 401 ? EACCES : EIO;
	/* What the server says goes into a message as one printable line. */
	const char *c = se.code_line, *t = se.message_line;
	char *id = a->reqid[0] ? hs_reason(a->reqid, strlen(a->reqid), "text/plain") : NULL;
	rc = cs_fail(err, e, "s3://%s/%s: listing failed: HTTP %ld%s%s%s%s%s%s%s", bucket, prefix, a->status,
		     c ? " " : "", c ? c : "", t ? " (" : "", t ? t : "", t ? ")" : "", id ? ", request id " : "",
		     id ? id : "");
	free(id);
	hs_s3_error_release(&se);
	return rc;
}

static int add_object(struct source_file **f, size_t *nf, size_t *alloc, const char *burl, const char *bucket,
		      const char *prefix, const char *entry, struct cs_err *err)
{
	size_t p = 0;
	char *key = hs_xml_next(entry, "Key", &p);
	p = 0;
	char *size = hs_xml_next(entry, "Size", &p);
	p = 0;
	char *etag = hs_xml_next(entry, "ETag", &p);
	p = 0;
	char *lm = hs_xml_next(entry, "LastModified", &p);
	int rc = 0;
	uint64_t bytes = 0;
	if (!key || !size) {
		rc = cs_fail(err, EPROTO, "s3://%s/%s: a listing entry without Key or Size", bucket, prefix);
	} else if (parse_u64(size, &bytes)) {   /* never a sign, a fraction or a wrapped count */
		rc = cs_fail(err, EPROTO, "s3://%s/%s: the listing gives '%s' a Size of '%s', not a byte count", bucket,
			     prefix, key, size);
	} else if (key[strlen(key) - 1] != '/' || bytes) {
		const char *rel = key + strlen(prefix);
		if (strlen(key) < strlen(prefix) || strncmp(key, prefix, strlen(prefix)) || !hs_safe_rel(rel) ||
		    memchr(key, 0, strlen(key))) {
			rc = cs_fail(err, EINVAL, "s3://%s/%s: key '%s' does not name a file under the prefix (\"..\", an "
				     "absolute path or an empty component): refused", bucket, prefix, key);
		} else {
			*f = xgrow(*f, alloc, *nf + 1, sizeof(**f));
			(*f)[(*nf)++] = (struct source_file){ xstrdup(rel), object_url(burl, key), bytes,
							 etag && *etag ? xstrdup(etag) : NULL, iso8601_ns(lm),
							 cks_from_etag(etag) };
		}
	}
	free(key);
	free(size);
	free(etag);
	free(lm);
	return rc;
}

int s3_parse_page(const char *xml, const char *burl, const char *bucket, const char *prefix, struct source_file **f,
		  size_t *nf, size_t *alloc, char **next, struct cs_err *err)
{
	int rc = 0;
	*next = NULL;
	for (const char *e = strstr(xml, "<Contents>"); e && !rc; e = strstr(e + 1, "<Contents>")) {
		const char *end = strstr(e, "</Contents>");
		if (!end)
			break;
		char *entry = xstrndup(e, (size_t)(end - e));
		rc = add_object(f, nf, alloc, burl, bucket, prefix, entry, err);
		free(entry);
	}
	size_t p = 0;
	char *trunc = hs_xml_next(xml, "IsTruncated", &p);
	if (!rc && trunc && !strcmp(trunc, "true")) {
		p = 0;
		*next = hs_xml_next(xml, "NextContinuationToken", &p);
		if (!*next)
			rc = cs_fail(err, EPROTO, "s3://%s/%s: a truncated listing without a continuation token", bucket,
				     prefix);
	}
	free(trunc);
	return rc;
}

/* Why a listing sent elsewhere is not followed. */
static int moved_error(const struct moved *mv, const struct s3_cfg *c, const char *bucket, const char *prefix,
		       int resigned, struct cs_err *err)
{
	char *to = mv->location[0] ? hs_redact(mv->location) : NULL;
	char *ep = c->endpoint ? hs_redact(c->endpoint) : NULL;
	const char *sp = mv->code[0] ? " " : "";
	int rc;
	if (mv->region[0] && resigned && ep)
		rc = cs_fail(err, EREMOTE, "s3://%s/%s: the bucket is in region '%s', and '%s' still answers HTTP %ld%s%s "
			     "when signed for it: set AWS_ENDPOINT_URL to an endpoint of that region", bucket, prefix,
			     mv->region, ep, mv->status, sp, mv->code);
	else if (mv->region[0])
		rc = cs_fail(err, EREMOTE, "s3://%s/%s: the bucket is in region '%s' (HTTP %ld%s%s%s): not followed; set "
			     "AWS_REGION=%s", bucket, prefix, mv->region, mv->status, sp, mv->code,
			     resigned ? ", still, when signed for it" : "", mv->region);
	else
		rc = cs_fail(err, EREMOTE, "s3://%s/%s: listing failed: HTTP %ld%s%s%s%s%s naming no region: not followed "
			     "(S3 requests are signed for one host); set AWS_REGION or AWS_ENDPOINT_URL for the bucket",
			     bucket, prefix, mv->status, sp, mv->code, to ? " to '" : "", to ? to : "", to ? "'," : ",");
	free(to);
	free(ep);
	return rc;
}

int s3_list(struct s3_cfg *c, const struct hs_opts *ho, const char *s3url, struct source_file **out, size_t *n,
	    struct cs_err *err)
{
	*out = NULL;
	*n = 0;
	char *bucket = NULL, *prefix = NULL;
	if (split_url(s3url, &bucket, &prefix, err))
		return -1;
	/* One GGUF object: its directory is the prefix, its parts the keys. */
	char *only = NULL;
	size_t pl = strlen(prefix);
	if (pl > 5 && !strcmp(prefix + pl - 5, ".gguf")) {
		char *slash = strrchr(prefix, '/');
		only = xstrdup(slash ? slash + 1 : prefix);
		if (slash)
			slash[1] = 0;
		else
			prefix[0] = 0;
	} else if (pl && prefix[pl - 1] != '/') {
		char *t = xasprintf("%s/", prefix);
		free(prefix);
		prefix = t;
	}
	char *burl = bucket_url(c, bucket);
	struct hs_opts so = *ho;
	struct source_file *f = NULL;
	size_t nf = 0, alloc = 0;
	char *token = NULL;
	int rc = 0, pages = 0, resigned = 0;
	for (;;) {
		struct strbuf body = STRBUF_INIT;
		struct moved mv;
		memset(&mv, 0, sizeof(mv));
		rc = list_page(&so, burl, bucket, prefix, token, &body, &mv, err);
		if (rc == 1 && !pages && !resigned && mv.region[0]) {
			/* The bucket lives in another region: sign for it (on AWS, at
			 * its regional endpoint), once. */
			s3_set_region(c, mv.region);
			so.sigv4 = c->sigv4;
			free(burl);
			burl = bucket_url(c, bucket);
			resigned = 1;
			strbuf_release(&body);
			continue;
		}
		if (rc == 1)
			rc = moved_error(&mv, c, bucket, prefix, resigned, err);
		free(token);
		token = NULL;
		if (!rc)
			rc = s3_parse_page(body.buf, burl, bucket, prefix, &f, &nf, &alloc, &token, err);
		strbuf_release(&body);
		pages++;
		if (rc || !token || pages >= 100000)
			break;
	}
	free(token);
	if (!rc && only) {
		/* Keep the one file, or every part of its split set. */
		char *sp;
		int no, count;
		int split = gg_split_parse(only, &sp, &no, &count) && no == 1;
		size_t k = 0;
		for (size_t i = 0; i < nf; i++) {
			int keep = !strcmp(f[i].name, only);
			char *pp;
			int pn, pc;
			if (split && gg_split_parse(f[i].name, &pp, &pn, &pc)) {
				keep = !strcmp(pp, sp) && pc == count;
				free(pp);
			}
			if (keep && !strchr(f[i].name, '/')) {
				f[k++] = f[i];
			} else {
				free(f[i].name);
				free(f[i].url);
				free(f[i].etag);
			}
		}
		nf = k;
		if (split)
			free(sp);
		if (!nf)
			rc = cs_fail(err, ENOENT, "s3://%s/%s%s: no such object (NoSuchKey)", bucket, prefix, only);
	}
	if (!rc && !nf)
		rc = cs_fail(err, ENOENT, "s3://%s/%s: no objects under this prefix", bucket, prefix);
	if (rc) {
		source_files_free(f, nf);
	} else {
		*out = f;
		*n = nf;
	}
	free(burl);
	free(bucket);
	free(prefix);
	free(only);
	return rc;
}
