#define _GNU_SOURCE
#include "core/source/httpsrc.h"
#include "core/source/http_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"

/* hs_check of one response to bytes [off, off+len) of f: its code. */
static int checks(const struct source_file *f, uint64_t off, uint64_t len, int cond, struct hs_seen s, const char *want_why,
		  const char *what)
{
	char why[256] = "";
	int rc = hs_check(f, off, len, cond, &s, why, sizeof(why));
	if (want_why)
		ok(strstr(why, want_why) != NULL, "%s: says '%s' (%s)", what, want_why, why);
	return rc;
}

static void check_responses(void)
{
	const uint64_t M = 1u << 20;
	char etag[] = "\"abc-100\"", name[] = "m.safetensors", url[] = "http://h/m.safetensors";
	int64_t lm = 1700000000LL * 1000000000LL;
	struct source_file f = { name, url, 10 * M, etag, lm, NULL };
	struct hs_seen ok206 = { 206, "\"abc-100\"", lm, M, 1, M, 2 * M - 1, 10 * M };
	is_int(checks(&f, M, M, 1, ok206, NULL, "206"), 0, "the listed object's bytes: ok");
	struct hs_seen s = ok206;
	s.etag = "\"def-100\"";
	is_int(checks(&f, M, M, 1, s, "its ETag is now \"def-100\", not \"abc-100\"", "new ETag"), ESTALE,
	       "another ETag: changed");
	s = ok206;
	s.etag = "W/\"abc-100\"";
	is_int(checks(&f, M, M, 1, s, NULL, "weakened"), 0, "the same tag made weak (a proxy): the same object");
	s = ok206;
	s.etag = NULL;
	s.mtime_ns = lm + 5000000000LL;
	is_int(checks(&f, M, M, 1, s, "its Last-Modified is now", "no ETag, new date"), ESTALE,
	       "no ETag in the response, a later Last-Modified: changed");
	s = ok206;
	s.mtime_ns = lm + 5000000000LL;
	is_int(checks(&f, M, M, 1, s, NULL, "ETag decides"), 0, "the ETags agree: Last-Modified is not asked");
	s = ok206;
	s.mtime_ns = lm + 123000000LL;
	struct source_file nf = f;
	nf.etag = NULL;
	is_int(checks(&nf, M, M, 1, s, NULL, "ms"), 0, "Last-Modified to the second (an S3 listing's milliseconds)");
	s = ok206;
	s.range_total = 10 * M + 1;
	is_int(checks(&f, M, M, 1, s, "its size is now 10485761 bytes, not 10485760", "total"), ESTALE,
	       "Content-Range's total differs: changed");
	s = ok206;
	s.range_total = UINT64_MAX;
	is_int(checks(&f, M, M, 1, s, NULL, "star"), 0, "a total of '*': not a change");
	s = ok206;
	s.range_start = 0;
	is_int(checks(&f, M, M, 1, s, "the server sent bytes 0-", "start"), EPROTO, "other bytes than asked: refused");
	s = ok206;
	s.has_range = 0;
	is_int(checks(&f, M, M, 1, s, "without Content-Range", "none"), EPROTO, "a 206 without Content-Range: refused");
	s = ok206;
	s.clen = M - 1;
	is_int(checks(&f, M, M, 1, s, "Content-Length", "clen"), EPROTO, "Content-Length other than the range: refused");
	struct hs_seen full = { 200, "\"abc-100\"", lm, 10 * M, 0, 0, 0, UINT64_MAX };
	is_int(checks(&f, 0, 10 * M, 1, full, NULL, "whole"), 0, "a 200 for the whole file: ok");
	is_int(checks(&f, M, M, 1, full, "ignored the range", "ignored"), EPROTO,
	       "a 200 with the listed ETag to a range: the range ignored");
	s = full;
	s.etag = NULL;
	s.mtime_ns = 0;
	is_int(checks(&f, M, M, 1, s, "If-Range", "if-range"), ESTALE,
	       "a 200 without the validators to a range with If-Range: changed");
	is_int(checks(&f, M, M, 0, s, NULL, "no if-range"), EPROTO, "... without If-Range: the range ignored");
	s = full;
	s.clen = 10 * M + 7;
	is_int(checks(&f, 0, 10 * M, 1, s, "its size is now", "whole size"), ESTALE, "a 200 of another size: changed");
	struct hs_seen other = ok206;
	other.status = 204;
	is_int(checks(&f, M, M, 1, other, "HTTP 204", "204"), EPROTO, "another 2xx: refused");
	struct source_file bare = { name, url, 10 * M, NULL, 0, NULL };
	ok(source_file_identified(&f) && source_file_identified(&nf) && !source_file_identified(&bare),
	   "identified by an ETag or a Last-Modified, not by a size alone");
	struct hs_seen b = { 206, NULL, 0, M, 1, M, 2 * M - 1, 10 * M };
	is_int(checks(&bare, M, M, 0, b, NULL, "bare"), 0, "no validators: the range's total is all there is to check");
	b.range_total = 11 * M;
	is_int(checks(&bare, M, M, 0, b, "its size is now", "bare total"), ESTALE, "... and it is checked");
}

static void redacts(const char *url, const char *want)
{
	char *r = hs_redact(url);
	is_str(r, want, "redact %s", want);
	free(r);
}

static void names(const char *url, const char *want)
{
	char *n = hs_default_name(url);
	is_str(n, want, "default name of %s", url);
	free(n);
}

/* hs_reason of body (as text/plain unless ctype): want, or NULL. */
static void reason(const char *body, const char *ctype, const char *want, const char *what)
{
	char *r = hs_reason(body, strlen(body), ctype);
	if (want)
		is_str(r ? r : "(null)", want, "reason: %s", what);
	else
		ok(!r, "no reason: %s (%s)", what, r ? r : "null");
	free(r);
}

static void reasons(void)
{
	reason("'m/x' is damaged\n", "text/plain", "'m/x' is damaged", "one line, its newline dropped");
	reason("\n\n  first\r\nsecond\n", "text/plain", "first", "the first non-blank line only");
	reason("a\x1b[31mred\x07\tb", "text/plain", "a [31mred b", "control characters are spaces, never sent on");
	reason("caf\xc3\xa9 \xc2\x9b" "2J", "text/plain", "caf? ?2J", "non-ASCII, a C1 control included, is '?'");
	reason("{\"error\": \"no such model\"}", "application/json", "{\"error\": \"no such model\"}", "JSON is text");
	reason("<html><head><title>403 Forbidden</title></head><body>...</body></html>", "text/html", "403 Forbidden",
	       "an HTML page: its title");
	reason("<html><body><h1>x</h1></body></html>", "text/html", NULL, "an HTML page without a title");
	reason("\x01\x02binary", "application/octet-stream", NULL, "a body that is not text");
	reason("see https://u:pw-SECRET@h/x?sig=SECRET now", "text/plain", "see https://REDACTED@h/x?REDACTED now",
	       "a URL's credentials hidden");
	reason("   \n\t\n", "text/plain", NULL, "only blanks");
	char big[600];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	char *r = hs_reason(big, strlen(big), "");
	ok(r && strlen(r) == HS_REASON_MAX + 3 && !strcmp(r + HS_REASON_MAX, "..."), "at most %d bytes, then '...'",
	   HS_REASON_MAX);
	free(r);
	ok(!hs_reason("a\0b", 3, ""), "no Content-Type and a NUL byte: not text");
}

/* The CA bundle: --cacert, then (S3) $AWS_CA_BUNDLE, $CURL_CA_BUNDLE,
 * $SSL_CERT_FILE, else none (the system's store); what libcurl is given. */
static void ca_bundles(void)
{
	const char *from = "x";
	unsetenv("AWS_CA_BUNDLE");
	unsetenv("CURL_CA_BUNDLE");
	unsetenv("SSL_CERT_FILE");
	ok(!hs_ca_pick(NULL, 1, &from) && !from, "none set: the system's store");
	setenv("SSL_CERT_FILE", "/s.pem", 1);
	is_str(hs_ca_pick(NULL, 0, &from), "/s.pem", "$SSL_CERT_FILE");
	is_str(from, "$SSL_CERT_FILE", "... says so");
	setenv("CURL_CA_BUNDLE", "/c.pem", 1);
	is_str(hs_ca_pick(NULL, 0, &from), "/c.pem", "$CURL_CA_BUNDLE before $SSL_CERT_FILE");
	setenv("AWS_CA_BUNDLE", "/a.pem", 1);
	is_str(hs_ca_pick(NULL, 0, &from), "/c.pem", "$AWS_CA_BUNDLE is for S3 only");
	is_str(hs_ca_pick(NULL, 1, &from), "/a.pem", "S3: $AWS_CA_BUNDLE first");
	is_str(from, "$AWS_CA_BUNDLE", "... says so");
	is_str(hs_ca_pick("/x.pem", 1, &from), "/x.pem", "--cacert before every variable");
	is_str(from, "--cacert", "... says so");
	setenv("AWS_CA_BUNDLE", "", 1);
	is_str(hs_ca_pick("", 1, NULL), "/c.pem", "an empty value counts as unset");

	struct source_opts so = { .cacert = "/x.pem" };
	struct hs_opts ho;
	hs_opts_from(&so, 1, &ho);
	ok(ho.cainfo && !strcmp(ho.cainfo, "/x.pem") && !strcmp(ho.cainfo_from, "--cacert"), "hs_opts_from: the bundle");
	so.insecure = 1;
	hs_opts_from(&so, 1, &ho);
	ok(ho.insecure && !ho.cainfo, "--insecure: no bundle");
	struct cs_err err;
	is_int(hs_ca_check(&so, 1, &err), 0, "--insecure: nothing checked");
	so.insecure = 0;
	ok(hs_ca_check(&so, 1, &err) && err.code == ENOENT && strstr(err.msg, "'/x.pem' (--cacert)"),
	   "a missing bundle: refused, naming it (%s)", err.msg);
	so.cacert = "/";
	ok(hs_ca_check(&so, 0, &err) && strstr(err.msg, "not a file"), "a directory: refused (%s)", err.msg);
	unsetenv("AWS_CA_BUNDLE");
	unsetenv("CURL_CA_BUNDLE");
	unsetenv("SSL_CERT_FILE");
}

static void hub_urls(void)
{
	ok(hsi_hub_url("https://huggingface.co/Qwen/Qwen2.5-0.5B/resolve/main/"), "a Hub model's resolve URL");
	ok(hsi_hub_url("https://huggingface.co/gpt2/resolve/main"), "... one without a namespace, no '/'");
	ok(hsi_hub_url("http://127.0.0.1:8/datasets/a/b/resolve/v1.0/sub/dir/"), "... a dataset's directory");
	ok(!hsi_hub_url("http://h/models/qwen-7b/"), "a plain directory is none");
	ok(!hsi_hub_url("https://h/a/b/resolve/"), "... nor one without a revision");
	ok(!hsi_hub_url("https://h/api/models/a/resolve/main/"), "... nor the API's own paths");
}

/* Threads whose kept URL was refused at once: one resolves again. */
struct staler {
	struct hs_hops *h;
	unsigned gen;
	int owner, refused;
	char *got;
	const char *renewed;        /* what the owner finds */
};

static void *stale_one(void *arg)
{
	struct staler *t = arg;
	struct hop_use u = { .h = t->h, .first = "http://hub/f", .gen = t->gen };
	t->got = hsi_hops_stale(&u);
	t->owner = u.owner;
	t->refused = u.refused;
	if (u.owner) {
		struct timespec ts = { 0, 50000000 };     /* the others wait meanwhile */
		nanosleep(&ts, NULL);
		hsi_hops_end(&u, t->renewed, t->renewed ? 0 : 403, "HTTP 403 AccessDenied");
	}
	return NULL;
}

/* n threads stale at once; how many became the owner, and how many got want. */
static int stale_all(struct hs_hops *h, unsigned gen, const char *renewed, const char *want, int *refused)
{
	struct staler t[8];
	pthread_t th[8];
	int owners = 0, good = 0;
	*refused = 0;
	for (int i = 0; i < 8; i++) {
		t[i] = (struct staler){ h, gen, 0, 0, NULL, renewed };
		pthread_create(&th[i], NULL, stale_one, &t[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		owners += t[i].owner;
		*refused += t[i].refused != 0;
		good += t[i].owner || (want && t[i].got && !strcmp(t[i].got, want));
		free(t[i].got);
	}
	ok(good + *refused == 8, "every thread resolved, or took its answer (%d, %d refused)", good, *refused);
	return owners;
}

static void hops(void)
{
	struct hs_hops *h = hs_hops_new();
	struct hop_use u;
	ok(!hsi_hops_begin(h, "http://hub/f", &u) && u.want, "nothing kept: from the first URL, resolving it");
	hsi_hops_end(&u, "http://cdn/f?sig=1", 0, NULL);
	char *s = hsi_hops_begin(h, "http://hub/f", &u);
	is_str(s, "http://cdn/f?sig=1", "then where its redirect led");
	ok(!u.want && !u.owner, "... nothing to resolve");
	free(s);
	ok(!hsi_hops_begin(h, "http://hub/other", &u) && u.want, "another URL: its own");
	hsi_hops_end(&u, NULL, 0, NULL);
	int refused;
	s = hsi_hops_begin(h, "http://hub/f", &u);
	free(s);
	is_int(stale_all(h, u.gen, "http://cdn/f?sig=2", "http://cdn/f?sig=2", &refused), 1,
	       "8 threads refused there at once: one resolves again, the others take its URL");
	is_int(refused, 0, "... none gives up");
	is_int((int)hs_hops_resolves(h), 2, "two resolves kept in all");
	s = hsi_hops_begin(h, "http://hub/f", &u);
	is_str(s, "http://cdn/f?sig=2", "the renewed URL is kept");
	free(s);
	is_int(stale_all(h, u.gen, NULL, NULL, &refused), 1, "refused again: still one resolves again");
	is_int(refused, 7, "... and the others give up with it");
	ok(!hsi_hops_begin(h, "http://hub/f", &u) && u.refused == 403 && !u.want,
	   "... and so does every later request: the Hub not asked again");
	is_str(u.why, "HTTP 403 AccessDenied", "... saying what the last said");
	free(u.why);
	hs_hops_free(h);
}

int main(void)
{
	ok(hs_is_url("http://h/x") && hs_is_url("HTTPS://h/") && !hs_is_url("s3://b/k") && !hs_is_url("/mnt/x") &&
	   !hs_is_url(NULL), "http and https only");
	redacts("https://user:pw@host:8443/a/b/?sig=1&x=2#frag", "https://host:8443/a/b/");
	redacts("http://host/a?token=abc", "http://host/a");
	redacts("http://u@host/", "http://host/");
	redacts("http://host/p@th/x", "http://host/p@th/x");     /* an '@' in the path is no user info */
	redacts("https://h/m/model.gguf", "https://h/m/model.gguf");
	redacts("https://user:p@ss@host/x", "https://host/x");    /* the last '@' ends the user info */
	redacts("s3://KEY:SECRET@bucket/p?x=1", "s3://bucket/p");
	names("https://huggingface.co/Qwen/Qwen2.5-0.5B/resolve/main/", "main");
	names("http://h/models/qwen-7b/", "qwen-7b");
	names("http://u:p@h/models/qwen-q8_0.gguf?sig=1", "qwen-q8_0");
	check_responses();
	reasons();
	ca_bundles();
	hub_urls();
	hops();
	return done_testing();
}
