/* awscred: the endpoints that hand out credentials -- STS, the container
 * endpoint, IMDSv2 (awscred.h) -- on libcurl, with short timeouts. */
#define _GNU_SOURCE
#include "awscred_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_internal.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

#define ANSWER_MAX (1u << 20)

struct sink {
	struct strbuf *sb;
	int over;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct sink *s = arg;
	if (s->sb->len + sz * n > ANSWER_MAX) {
		s->over = 1;
		return 0;
	}
	strbuf_add(s->sb, p, sz * n);
	return sz * n;
}

static CURLcode perform(CURL *c, const struct ac_http *q, struct sink *s, long *status)
{
	struct curl_slist *h = NULL;
	for (size_t i = 0; i < q->nheaders; i++)
		h = curl_slist_append(h, q->headers[i]);
	char *tok = NULL;
	if (q->sigv4 && q->token) {
		tok = xasprintf("x-amz-security-token: %s", q->token);
		h = curl_slist_append(h, tok);
	}
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, q->connect_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->total_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "coldstart/stage");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, q->o->insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, q->o->insecure ? 0L : 2L);
	if (q->o->cainfo && !q->o->insecure)
		curl_easy_setopt(c, CURLOPT_CAINFO, q->o->cainfo);
	if (!q->sigv4 && !q->body)   /* the container endpoint and IMDS: link-local, never a proxy */
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	if (q->body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
	if (strcmp(q->method, q->body ? "POST" : "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	if (q->sigv4) {
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, q->sigv4);
		curl_easy_setopt(c, CURLOPT_USERPWD, q->userpwd);
	}
	CURLcode cc = curl_easy_perform(c);
	*status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	if (tok) {
		memset(tok, 0, strlen(tok));
		free(tok);
	}
	return cc;
}

int ac_http_do(const struct ac_http *q, long *status, struct strbuf *out, char *why, size_t whylen)
{
	hsi_curl_init();
	CURL *c = curl_easy_init();
	if (!c)
		cs_oom("a libcurl handle");
	CURLcode cc = CURLE_OK;
	struct sink s = { out, 0 };
	for (int a = 0; a < (q->attempts > 0 ? q->attempts : 1); a++) {
		strbuf_reset(out);
		s.over = 0;
		cc = perform(c, q, &s, status);
		if (cc == CURLE_OK && *status < 500)
			break;
	}
	curl_easy_cleanup(c);
	if (s.over)
		snprintf(why, whylen, "an answer larger than %u KiB", ANSWER_MAX >> 10);
	else if (cc != CURLE_OK)
		snprintf(why, whylen, "%s", curl_easy_strerror(cc));
	return s.over || cc != CURLE_OK ? -1 : 0;
}

/* ---- STS ---- */

static void form_add(struct strbuf *sb, const char *k, const char *v)
{
	if (sb->len)
		strbuf_addch(sb, '&');
	strbuf_adds(sb, k);
	strbuf_addch(sb, '=');
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (isalnum(*p) || strchr("-_.~", *p))
			strbuf_addch(sb, (char)*p);
		else
			strbuf_addf(sb, "%%%02X", *p);
}

static char *sts_url(const struct aws_files *f, char **region)
{
	*region = aws_region(f);
	char *e = aws_endpoint(f, "sts");
	return e ? e : xasprintf("https://sts.%s.amazonaws.com", *region);
}

/* The STS call whose form is body; its <Credentials>. */
static int sts_call(const struct aws_files *f, const struct awscred_opts *o, const struct ac_creds *src,
		    const char *action, const char *body, const char *role, const char *what, struct ac_creds *out,
		    struct cs_err *err)
{
	memset(out, 0, sizeof(*out));
	char *region, *url = sts_url(f, &region), *sig = NULL, *up = NULL, whyb[256];
	static const char *const hdr[] = { "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
					   "Accept: application/xml" };
	if (src) {
		sig = xasprintf("aws:amz:%s:sts", region);
		up = xasprintf("%s:%s", src->key_id, src->secret);
	}
	struct ac_http q = { .method = "POST", .url = url, .headers = hdr, .nheaders = 2, .body = body,
			     .sigv4 = sig, .userpwd = up, .token = src ? src->token : NULL, .connect_ms = 5000,
			     .total_ms = 30000, .attempts = 3, .o = o };
	struct strbuf sb = STRBUF_INIT;
	long status;
	char *shown = hs_redact(url);
	int rc = ac_http_do(&q, &status, &sb, whyb, sizeof(whyb));
	if (rc) {
		rc = cs_fail(err, EHOSTUNREACH, "%s: STS %s for role '%s' at '%s': %s", what, action, role, shown, whyb);
	} else if (status != 200) {
		struct hs_s3_error se;
		hs_s3_error_parse(sb.buf, &se);
		rc = cs_fail(err, status == 403 ? EACCES : EIO, "%s: STS %s for role '%s' at '%s': HTTP %ld%s%s%s%s%s", what,
			     action, role, shown, status, se.code_line ? " " : "", se.code_line ? se.code_line : "",
			     se.message_line ? " (" : "", se.message_line ? se.message_line : "",
			     se.message_line ? ")" : "");
		hs_s3_error_release(&se);
	} else {
		size_t p = 0;
		const char *cr = strstr(sb.buf, "<Credentials>");
		char *exp = NULL;
		if (cr) {
			out->key_id = hs_xml_next(cr, "AccessKeyId", &p);
			p = 0;
			out->secret = hs_xml_next(cr, "SecretAccessKey", &p);
			p = 0;
			out->token = hs_xml_next(cr, "SessionToken", &p);
			p = 0;
			exp = hs_xml_next(cr, "Expiration", &p);
			out->expires = exp ? aws_parse_time(exp) : 0;
		}
		if (!out->key_id || !out->secret || !out->token || out->expires <= 0) {
			ac_creds_release(out);
			rc = cs_fail(err, EPROTO, "%s: STS %s for role '%s' at '%s': an answer without Credentials "
				     "(AccessKeyId, SecretAccessKey, SessionToken, Expiration)", what, action, role, shown);
		}
		free(exp);
	}
	if (sb.alloc)
		memset(sb.buf, 0, sb.len);
	strbuf_release(&sb);
	if (up)
		memset(up, 0, strlen(up));
	free(up);
	free(sig);
	free(shown);
	free(url);
	free(region);
	return rc;
}

/* A token file's contents, trailing blanks removed; NULL with err. */
static char *read_token(const char *path, const char *what, struct cs_err *err)
{
	FILE *fp = fopen(path, "re");
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t n;
	if (!fp) {
		cs_fail_errno(err, errno, "%s: cannot read the token file '%s'", what, path);
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0 && sb.len < (1u << 20))
		strbuf_add(&sb, buf, n);
	fclose(fp);
	while (sb.len && isspace((unsigned char)sb.buf[sb.len - 1]))
		sb.buf[--sb.len] = 0;
	if (!sb.len || memchr(sb.buf, '\n', sb.len) || memchr(sb.buf, '\r', sb.len)) {
		strbuf_release(&sb);
		cs_fail(err, EINVAL, "%s: the token file '%s' is empty or holds more than one line", what, path);
		return NULL;
	}
	return strbuf_detach(&sb);
}

int ac_sts_web_identity(const struct aws_files *f, const struct awscred_opts *o, const char *role,
			const char *session, const char *token_file, const char *what, struct ac_creds *out,
			struct cs_err *err)
{
	char *tok = read_token(token_file, what, err);
	if (!tok)
		return -1;
	struct strbuf body = STRBUF_INIT;
	form_add(&body, "Action", "AssumeRoleWithWebIdentity");
	form_add(&body, "Version", "2011-06-15");
	form_add(&body, "RoleArn", role);
	form_add(&body, "RoleSessionName", session);
	form_add(&body, "WebIdentityToken", tok);
	int rc = sts_call(f, o, NULL, "AssumeRoleWithWebIdentity", body.buf, role, what, out, err);
	memset(body.buf, 0, body.len);
	strbuf_release(&body);
	memset(tok, 0, strlen(tok));
	free(tok);
	return rc;
}

int ac_sts_assume_role(const struct aws_files *f, const struct awscred_opts *o, const struct ac_creds *src,
		       const char *role, const char *session, const char *external_id, const char *what,
		       struct ac_creds *out, struct cs_err *err)
{
	struct strbuf body = STRBUF_INIT;
	form_add(&body, "Action", "AssumeRole");
	form_add(&body, "Version", "2011-06-15");
	form_add(&body, "RoleArn", role);
	form_add(&body, "RoleSessionName", session);
	if (external_id)
		form_add(&body, "ExternalId", external_id);
	int rc = sts_call(f, o, src, "AssumeRole", body.buf, role, what, out, err);
	strbuf_release(&body);
	return rc;
}

/* ---- the container endpoint ---- */

/* A _FULL_URI's host that plain http may go to (the SDKs' rule): a
 * loopback address, or the ECS and EKS Pod Identity agents. */
static int container_host_ok(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ok = 0;
	if (u && !curl_url_set(u, CURLUPART_URL, url, 0) && !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
	    !curl_url_get(u, CURLUPART_HOST, &host, 0)) {
		struct in_addr a4;
		struct in6_addr a6, lo6 = IN6ADDR_LOOPBACK_INIT;
		char h[256];
		snprintf(h, sizeof(h), "%s", host);
		size_t n = strlen(h);
		if (n > 2 && h[0] == '[' && h[n - 1] == ']') {
			memmove(h, h + 1, n - 2);
			h[n - 2] = 0;
		}
		if (!strcasecmp(scheme, "https"))
			ok = 1;
		else if (strcasecmp(scheme, "http"))
			ok = 0;
		else if (!strcasecmp(h, "localhost") || !strcmp(h, "169.254.170.2") || !strcmp(h, "169.254.170.23"))
			ok = 1;
		else if (inet_pton(AF_INET, h, &a4) == 1)
			ok = (ntohl(a4.s_addr) >> 24) == 127;
		else if (inet_pton(AF_INET6, h, &a6) == 1) {
			struct in6_addr eks;
			inet_pton(AF_INET6, "fd00:ec2::23", &eks);
			ok = !memcmp(&a6, &lo6, sizeof(a6)) || !memcmp(&a6, &eks, sizeof(a6));
		}
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

static const char *env_set(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* The Authorization the container endpoint wants: the token file's, else
 * the variable's; NULL (none, or with err set and *bad). */
static char *container_auth(int *bad, struct cs_err *err)
{
	const char *file = env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *tok = env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	*bad = 0;
	char *t = file ? read_token(file, "the container endpoint", err) : tok ? xstrdup(tok) : NULL;
	if ((file && !t) || (t && strpbrk(t, "\r\n"))) {
		if (t)
			cs_fail(err, EINVAL, "the container endpoint: AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break");
		free(t);
		*bad = 1;
		return NULL;
	}
	return t;
}

int ac_container(const struct awscred_opts *o, struct ac_creds *out, struct cs_err *err)
{
	memset(out, 0, sizeof(*out));
	const char *rel = env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	if (!rel && !full)
		return 1;
	char *url = rel ? xasprintf("http://169.254.170.2%s%s", rel[0] == '/' ? "" : "/", rel) : xstrdup(full);
	char *shown = hs_redact(url);
	int rc = 0, bad;
	if (!rel && !container_host_ok(url)) {
		free(url);
		rc = cs_fail(err, EPERM, "the container endpoint: AWS_CONTAINER_CREDENTIALS_FULL_URI '%s' is neither "
			     "https nor a loopback or ECS/EKS agent address over http: refused", shown);
		free(shown);
		return rc;
	}
	char *auth = container_auth(&bad, err), *hdr = auth ? xasprintf("Authorization: %s", auth) : NULL;
	const char *hdrs[] = { hdr, "Accept: application/json" };
	struct ac_http q = { .method = "GET", .url = url, .headers = hdr ? hdrs : hdrs + 1, .nheaders = hdr ? 2 : 1,
			     .connect_ms = 2000, .total_ms = 5000, .attempts = 3, .o = o };
	struct strbuf sb = STRBUF_INIT;
	long status = 0;
	char why[256], *what = xasprintf("the container endpoint '%s'", shown);
	if (bad)
		rc = -1;
	else if (ac_http_do(&q, &status, &sb, why, sizeof(why)))
		rc = cs_fail(err, EHOSTUNREACH, "%s: %s", what, why);
	else if (status != 200)
		rc = cs_fail(err, status == 401 || status == 403 ? EACCES : EIO, "%s: HTTP %ld%s", what, status,
			     status == 401 || status == 403 ? " (the authorization token was refused)" : "");
	else
		rc = ac_parse_json(sb.buf, sb.len, 0, what, out, err);
	if (sb.alloc)
		memset(sb.buf, 0, sb.len);
	strbuf_release(&sb);
	if (auth) {
		memset(auth, 0, strlen(auth));
		memset(hdr, 0, strlen(hdr));
	}
	free(auth);
	free(hdr);
	free(what);
	free(shown);
	free(url);
	return rc;
}

/* ---- IMDSv2 ---- */

char *ac_imds_endpoint(void)
{
	const char *d = getenv("AWS_EC2_METADATA_DISABLED");
	if (d && !strcasecmp(d, "true"))
		return NULL;
	const char *e = env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	if (e)
		return xstrdup(e);
	return xstrdup(mode && !strcasecmp(mode, "IPv6") ? "http://[fd00:ec2::254]" : "http://169.254.169.254");
}

/* One IMDS request (1 s to connect, as the SDKs); its body, or -1 with
 * err. */
static int imds_req(const struct awscred_opts *o, const char *base, const char *method, const char *path,
		    const char *hdr, struct strbuf *sb, struct cs_err *err)
{
	size_t n = strlen(base);
	while (n && base[n - 1] == '/')
		n--;
	char *url = xasprintf("%.*s%s", (int)n, base, path), why[256];
	struct ac_http q = { .method = method, .url = url, .headers = &hdr, .nheaders = 1, .connect_ms = 1000,
			     .total_ms = 2000, .attempts = 1, .o = o };
	long status = 0;
	int rc = 0;
	if (ac_http_do(&q, &status, sb, why, sizeof(why)))
		rc = cs_fail(err, EHOSTUNREACH, "IMDS at '%.*s': %s", (int)n, base, why);
	else if (status != 200)
		rc = cs_fail(err, status == 404 ? ENOENT : EACCES, "IMDS at '%.*s': %s %s: HTTP %ld%s", (int)n, base,
			     method, path, status, status == 404 && strstr(path, "security-credentials") ?
			     " (no IAM role attached to the instance)" : "");
	free(url);
	return rc;
}

int ac_imds(const struct awscred_opts *o, const char *endpoint, struct ac_creds *out, struct cs_err *err)
{
	memset(out, 0, sizeof(*out));
	struct strbuf tok = STRBUF_INIT, sb = STRBUF_INIT;
	char *hdr = NULL, *role = NULL;
	int rc = imds_req(o, endpoint, "PUT", "/latest/api/token", "X-aws-ec2-metadata-token-ttl-seconds: 21600", &tok,
			  err);
	if (!rc) {
		hdr = xasprintf("X-aws-ec2-metadata-token: %s", tok.buf);
		rc = imds_req(o, endpoint, "GET", "/latest/meta-data/iam/security-credentials/", hdr, &sb, err);
	}
	if (!rc) {
		size_t n = strcspn(sb.buf, "\r\n");
		role = xstrndup(sb.buf, n);
		if (!n || strpbrk(role, "/?#% "))
			rc = cs_fail(err, EPROTO, "IMDS at '%s': no IAM role attached to the instance", endpoint);
	}
	if (!rc) {
		char *path = xasprintf("/latest/meta-data/iam/security-credentials/%s", role);
		strbuf_reset(&sb);
		rc = imds_req(o, endpoint, "GET", path, hdr, &sb, err);
		free(path);
	}
	if (!rc) {
		char *what = xasprintf("IMDS at '%s', role '%s'", endpoint, role);
		rc = ac_parse_json(sb.buf, sb.len, 0, what, out, err);
		free(what);
	}
	if (tok.alloc)
		memset(tok.buf, 0, tok.len);
	if (sb.alloc)
		memset(sb.buf, 0, sb.len);
	if (hdr)
		memset(hdr, 0, strlen(hdr));
	strbuf_release(&tok);
	strbuf_release(&sb);
	free(hdr);
	free(role);
	return rc;
}
