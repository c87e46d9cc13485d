/* httpsrc: URLs (recognised, redacted, named), an error body's reason, XML
 * text and S3's error XML; libcurl's global state. */
#define _GNU_SOURCE
#include "http_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/strbuf.h"
#include "core/base/banned.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void hsi_curl_init(void)
{
	pthread_once(&once, global_init);
}

const char *hs_ca_pick(const char *cacert, int s3, const char **from)
{
	/* In order of precedence; AWS_CA_BUNDLE for S3 only. */
	static const char *const vars[] = { "AWS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE" };
	static const char *const shown[] = { "$AWS_CA_BUNDLE", "$CURL_CA_BUNDLE", "$SSL_CERT_FILE" };
	const char *file = cacert && *cacert ? cacert : NULL, *by = file ? "--cacert" : NULL;
	for (size_t i = s3 ? 0 : 1; !file && i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v) {
			file = v;
			by = shown[i];
		}
	}
	if (from)
		*from = by;
	return file;
}

const char *hs_capath_pick(const char *cacert, int s3)
{
	const char *from, *file = hs_ca_pick(cacert, s3, &from);
	if (file && strcmp(from, "$SSL_CERT_FILE"))
		return NULL;   /* one bundle named: only it (curl's order) */
	const char *dir = getenv("SSL_CERT_DIR");
	return dir && *dir ? dir : NULL;
}

/* Each directory of $SSL_CERT_DIR is one. */
static int capath_check(const char *dirs, struct cs_err *err)
{
	for (const char *p = dirs; *p;) {
		size_t n = strcspn(p, ":");
		char *d = xstrndup(p, n);
		struct stat st;
		int rc = 0;
		if (*d && stat(d, &st))
			rc = cs_fail_errno(err, errno, "cannot read the CA directory '%s' ($SSL_CERT_DIR)", d);
		else if (*d && !S_ISDIR(st.st_mode))
			rc = cs_fail(err, ENOTDIR, "the CA directory '%s' ($SSL_CERT_DIR) is not a directory: "
				     "give a directory of hashed CA certificates (openssl rehash)", d);
		free(d);
		if (rc)
			return rc;
		p += n + (p[n] == ':');
	}
	return 0;
}

int hs_ca_check(const struct source_opts *so, int s3, struct cs_err *err)
{
	const char *dirs = so->insecure ? NULL : hs_capath_pick(so->cacert, s3);
	if (dirs && capath_check(dirs, err))
		return -1;
	const char *from, *file = so->insecure ? NULL : hs_ca_pick(so->cacert, s3, &from);
	if (!file)
		return 0;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return cs_fail_errno(err, e, "cannot read the CA bundle '%s' (%s)", file, from);
	}
	close(fd);
	if (!S_ISREG(st.st_mode))
		return cs_fail(err, EINVAL, "the CA bundle '%s' (%s) is not a file: give one PEM file of CA certificates",
			       file, from);
	return 0;
}

void hs_opts_from(const struct source_opts *so, int s3, struct hs_opts *out)
{
	*out = (struct hs_opts){ .insecure = so->insecure, .bearer = so->bearer, .stall_s = so->stall_s,
				 .cancel = so->cancel, .headers = so->headers, .nheaders = so->nheaders };
	if (!so->insecure) {
		out->cainfo = hs_ca_pick(so->cacert, s3, &out->cainfo_from);
		out->capath = hs_capath_pick(so->cacert, s3);
	}
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

/* ---- text: an error's reason, XML ---- */

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

void hs_s3_error_parse(const char *body, struct hs_s3_error *e)
{
	memset(e, 0, sizeof(*e));
	if (!body)
		return;
	size_t p = 0, q = 0;
	char *msg = hs_xml_next(body, "Message", &q);
	e->code = hs_xml_next(body, "Code", &p);
	e->code_line = e->code ? hs_reason(e->code, strlen(e->code), "text/plain") : NULL;
	e->message_line = msg ? hs_reason(msg, strlen(msg), "text/plain") : NULL;   /* "" (radosgw's): none */
	free(msg);
}

void hs_s3_error_release(struct hs_s3_error *e)
{
	free(e->code);
	free(e->code_line);
	free(e->message_line);
	memset(e, 0, sizeof(*e));
}
