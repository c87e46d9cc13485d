#ifndef CS_HTTPSRC_H
#define CS_HTTPSRC_H
/*
 * httpsrc: a model served over HTTP(S) as a stage source, on libcurl.
 *
 * Listing (hs_list): the files of the model at a base URL: a URL ending in
 * ".gguf" is one file; otherwise the names given (--files), else the
 * model's own index (model.safetensors.index.json: its shards) or
 * model.safetensors, with the usual config and tokenizer files that exist,
 * else the server's directory listing (HTML links, or nginx's JSON
 * autoindex). Each file's size, ETag and Last-Modified -- its identity --
 * come from a HEAD (a one-byte ranged GET where HEAD is refused). A name
 * with "..", an absolute path, a NUL or a backslash is refused.
 *
 * Reading (hs_read): one ranged GET per chunk over a connection kept per
 * thread. Many servers and CDNs never evaluate preconditions, so each
 * response is checked against the identity the listing recorded before a
 * byte of it is used (hs_check): its ETag, its Last-Modified (where no ETag
 * decides), Content-Range's start, end and total, Content-Length. Any of
 * them other than listed, a 412 or a 200 to a ranged request with If-Range
 * is ESTALE: the object changed. The request asks as well: If-Match and
 * If-Range on a strong ETag; with a weak or no ETag, If-Unmodified-Since
 * and If-Range on Last-Modified (weak ETags never match). A file with
 * neither ETag nor Last-Modified has only its size to tell versions apart:
 * read it in one request (source_file_identified). Timeouts, resets, stalls (no
 * byte of body for 30 s: headers that trickle in count as none), 5xx, 408
 * and 429 are retried up to 6 times with exponential backoff and jitter;
 * the last error names the URL, the status, the request id and the
 * server's reason (hs_reason: S3's Code and Message, or one sanitised line
 * of a text body, or cache serve's HS_REASON_HEADER; a HEAD that failed
 * without one is asked once more, with a one-byte GET, for the body it
 * cannot carry).
 *
 * Redirects (Hugging Face's resolve URLs redirect to a CDN) are followed
 * here, not by libcurl, at most 10: the bearer token, the user's headers,
 * the URL's user info and the session token go only to requests at the
 * first URL's origin (scheme, host and port), never to another host's;
 * https never leads to http. For S3 (hs_opts.s3) nothing is followed: a
 * 3xx is the answer (the bucket's region: s3src re-signs).
 *
 * One redirect per file (hs_hops): with hs_opts.hops, the URL a file's
 * redirects led to, once it answered 2xx, is kept, and every later request
 * for the file (its chunks, from any thread; the HEAD after the copy) goes
 * there directly, its credentials still decided by the first URL's origin
 * (so none go to the CDN) and every answer still checked against the
 * listed identity (hs_check). When the kept URL answers 403 or 410, or 400
 * or 401 with a body that says "expired" (a signed URL that expired), the
 * first URL is resolved again, once per request and by one thread for all
 * (the others wait for its answer); refused again, the request fails as
 * any 403 does, naming the first URL (redacted).
 *
 * A Hugging Face Hub URL of a directory, SCHEME://HOST/[datasets/]REPO_ID/
 * resolve/REV/[DIR/] with no --files: its files are the Hub's own list
 * (GET /api/{models,datasets}/REPO_ID/tree/REV[/DIR]?recursive=true, each
 * next page of its Link header, at the URL's own origin, with the token)
 * instead of names guessed and probed; the index, model.safetensors and
 * the config files are taken as above where the tree has them, else every
 * file at the top of DIR. A HEAD per file still gives its identity, and a
 * size other than the tree's fails the listing. A server that answers 404
 * to the API is probed as any other. An index the tree lists that does
 * not come (a 403 where its redirect led, after one resolve anew) fails
 * the listing, naming it and the answer.
 *
 * The requests of a Hub stage, and why each is needed: the tree (each page
 * once: the names and sizes); the index's GET (its names, and its identity
 * from the same answer: no HEAD of it); per other file a HEAD (its identity
 * where it is served -- for an LFS file the CDN object's ETag and
 * Last-Modified, which the Hub's X-Linked-Etag is not -- and, at its
 * resolve URL's 302, the one resolve of the file); the chunks' GETs, each
 * checked against that identity; and after the copy one HEAD per file (a
 * server that replaces an object mid-transfer keeps the old headers on
 * the new bytes: only asking again tells). A 401 or 403 hints at a token
 * only when the first URL's origin refused (hsi_refused_hint).
 *
 * Security: URLs are shown without their user info and query (hs_redact);
 * TLS is verified unless insecure, against the CA bundle hs_ca_pick names
 * (a private CA: --cacert, $AWS_CA_BUNDLE for S3, $CURL_CA_BUNDLE,
 * $SSL_CERT_FILE) or else the system's store, and the CA directory
 * hs_capath_pick names ($SSL_CERT_DIR, as curl takes it); a certificate
 * that does not verify fails naming the bundle it was checked against. Proxies are
 * libcurl's (the usual *_proxy variables). Nothing here prints. hs_read is
 * thread-safe.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/util.h"
#include "source.h"

struct awscred;

struct hs_opts {
	int insecure;               /* no TLS verification */
	const char *cainfo;         /* the CA bundle TLS is verified against (CURLOPT_CAINFO), or NULL:
				     * the system's store */
	const char *cainfo_from;    /* what named it, for messages: "--cacert", "$CURL_CA_BUNDLE", ... */
	const char *capath;         /* a directory of hashed CA certificates too (CURLOPT_CAPATH:
				     * $SSL_CERT_DIR), or NULL */
	const char *bearer;         /* Authorization: Bearer TOKEN (e.g. $HF_TOKEN), or NULL */
	/* S3 (s3src.h): requests signed with libcurl's SigV4 when sigv4 is set. */
	const char *sigv4;          /* "aws:amz:REGION:s3" */
	const char *userpwd;        /* "ACCESS_KEY_ID:SECRET" */
	const char *session_token;  /* x-amz-security-token, or NULL */
	struct awscred *cred;       /* or NULL: with it each request signs with its current credentials
				     * (awscred_get), not userpwd and session_token */
	int retries;                /* attempts after the first; default 6 */
	long connect_timeout_s;     /* default 15 */
	long stall_s;               /* no byte for this long: retry; default 30 */
	int checksum_mode;          /* S3: x-amz-checksum-mode: ENABLED (HEADs answer the checksums) */
	volatile sig_atomic_t *cancel; /* nonzero: a transfer in progress and a retry's backoff end at
					* once, ECANCELED ("interrupted"); NULL: never */
	int s3;                     /* follow no redirect: a 3xx is the answer (hs_answer.region) */
	const char *const *headers; /* the user's own "Name: value" headers, first origin only */
	size_t nheaders;
	struct hs_hops *hops;       /* where redirects led, kept per first URL (shared, thread-safe), or
				     * NULL: every request follows them again */
};

/* Where each URL's redirects led, for the requests of one source (its
 * listing, reader and stats): see "One redirect per file" above. Every
 * operation is thread-safe; free it after the readers that use it. */
struct hs_hops;
struct hs_hops *hs_hops_new(void);
void hs_hops_free(struct hs_hops *h);   /* NULL: nothing */
/* Resolves whose final URL was kept (the first and each again), for tests. */
uint64_t hs_hops_resolves(struct hs_hops *h);

/* HEAD f->url (o->checksum_mode for S3): f->checksum from the store's
 * x-amz-checksum-* when it sends one it can be checked against. A size,
 * ETag or Last-Modified other than the listing's is ESTALE (the object
 * changed). */
int hs_stat(const struct hs_opts *o, struct source_file *f, struct cs_err *err);

/* A relative name that stays under its base: no "..", "." or empty
 * component, no leading '/', no backslash. */
int hs_safe_rel(const char *s);
/* What answered a request besides its body. */
struct hs_answer {
	long status;
	char reqid[128];            /* x-amz-request-id and the like, or "" */
	char region[64];            /* x-amz-bucket-region, or "" */
	char next[2048];            /* Link: <URL>; rel="next" (a listing's next page), or "" */
	char etag[256];             /* the answer's identity, as a HEAD gives it: ETag, or "" ... */
	int64_t mtime_ns;           /* ... Last-Modified, or 0 ... */
	char cksum[128];            /* ... an x-amz-checksum-* (checksum.h's spec), or "" */
	char ctype[128];            /* Content-Type, for an error's body */
	int at_origin;              /* it came from the first URL's origin (not where a redirect led) */
	int reresolved;             /* refused where its redirect led, and again after resolving anew */
	char location[4096];        /* a redirect's Location (not followed: o->s3), or "" */
};
/* GET url into out (at most 64 MiB; the body of an error too), a. -1 only
 * when no answer came (after retries) or a redirect was refused. */
struct strbuf;
int hs_get_text(const struct hs_opts *o, const char *url, struct strbuf *out, struct hs_answer *a,
		struct cs_err *err);
/* The text of <TAG>...</TAG> in an XML body (entities decoded), from *pos
 * on; advances *pos past it. NULL when there is none. malloc'd. */
char *hs_xml_next(const char *xml, const char *tag, size_t *pos);
/* S3's error XML (<Error><Code>..</Code><Message>..</Message>), the one
 * parser of it (httpsrc's messages and s3src's listing): code as sent, and
 * code and message each as one printable line (hs_reason), NULL where
 * absent or blank. body NULL: all NULL. Free with hs_s3_error_release. */
struct hs_s3_error {
	char *code;                 /* <Code> as sent (AuthorizationHeaderMalformed, ...), or NULL */
	char *code_line, *message_line;
};
void hs_s3_error_parse(const char *body, struct hs_s3_error *e);
void hs_s3_error_release(struct hs_s3_error *e);

/* 1 for "http://" and "https://" URLs. */
int hs_is_url(const char *s);
/* The URL without user info, query or fragment (malloc'd): for messages,
 * manifests, notes. */
char *hs_redact(const char *url);
/* An error body's reason, fit for one line of a message: NULL unless the
 * body is text (Content-Type text/..., JSON or XML; none: no NUL byte); an
 * HTML page's <title>, else the first non-blank line; printable ASCII only
 * (a control character is a space, a non-ASCII character '?'), blanks
 * collapsed, at most HS_REASON_MAX bytes then "...", URLs' credentials
 * hidden. malloc'd. */
#define HS_REASON_MAX 200
/* The header in which a server of coldstart's (cache serve) gives an
 * error's reason, so that a HEAD, which has no body, carries it too. */
#define HS_REASON_HEADER "X-Coldstart-Error"
char *hs_reason(const char *body, size_t len, const char *ctype);
/* The last path component without ".gguf" (a staged name), malloc'd. */
char *hs_default_name(const char *url);

int hs_list(const struct hs_opts *o, const char *base, char *const *names, size_t nnames, struct source_file **out,
	    size_t *n, struct cs_err *err);

/* What one 2xx response to bytes [off, off+len) of f said (hs_check). */
struct hs_seen {
	long status;
	const char *etag;           /* NULL: none */
	int64_t mtime_ns;           /* Last-Modified, 0: none */
	uint64_t clen;              /* Content-Length, UINT64_MAX: none */
	int has_range;              /* Content-Range: bytes START-END/TOTAL */
	uint64_t range_start, range_end;
	uint64_t range_total;       /* UINT64_MAX: none, or '*' */
};
/* Whether the response is bytes [off, off+len) of f as listed: 0; ESTALE
 * when the object changed (another ETag; another Last-Modified where ETags
 * do not decide; another size in Content-Range's total or a 200's
 * Content-Length; a 200 to a ranged request that went with If-Range,
 * `conditional`, without the listed validators); EPROTO when it is not
 * what was asked for (other bytes, a 200 that ignored the range). why: a
 * phrase for the message. Exposed for tests. */
int hs_check(const struct source_file *f, uint64_t off, uint64_t len, int conditional, const struct hs_seen *s,
	     char *why, size_t whylen);

struct hs_reader;
struct hs_reader *hs_reader_new(const struct hs_opts *o, const struct source_file *files, size_t n);
void hs_reader_free(struct hs_reader *r);
/* len bytes of file at off, handed to sink as they arrive (a retry starts
 * again at pos 0; an error's body never reaches it). ESTALE: the object
 * changed. */
int hs_read(struct hs_reader *r, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
	    struct cs_err *err);
/* Requests sent (every attempt), for tests and stats. */
uint64_t hs_requests(const struct hs_reader *r);

/*
 * The CA bundle that verifies a TLS server, for the http row (s3 0) or the
 * s3 row (s3 1): cacert (--cacert) when given, else for S3
 * $AWS_CA_BUNDLE, then $CURL_CA_BUNDLE, then $SSL_CERT_FILE (an empty
 * variable is unset); NULL when none is: the system's store. *from (may
 * be NULL) says what named it ("--cacert", "$AWS_CA_BUNDLE", ...), NULL
 * with none. The answer points into cacert or the environment.
 */
const char *hs_ca_pick(const char *cacert, int s3, const char **from);
/*
 * The CA directory, as curl's own tool takes it: $SSL_CERT_DIR (OpenSSL's
 * hashed directory; ':' separates several), unless --cacert, $AWS_CA_BUNDLE
 * (S3) or $CURL_CA_BUNDLE named the one bundle to trust; beside
 * $SSL_CERT_FILE when both are set, and beside the system's bundle when it
 * is not. NULL when none; the answer points into the environment.
 */
const char *hs_capath_pick(const char *cacert, int s3);
/* The bundle hs_ca_pick picks for so (none when so->insecure) is a file
 * that can be read, and each directory hs_capath_pick names a directory:
 * 0, or -1 with err naming it and what named it. The rows call it when
 * they open, before any transfer. */
int hs_ca_check(const struct source_opts *so, int s3, struct cs_err *err);

/* For the rows on HTTP (source.h: http, s3 -- s3 set). The request
 * options of a source's (insecure, its CA bundle, bearer, headers, stall,
 * cancel; pointers shared). */
void hs_opts_from(const struct source_opts *so, int s3, struct hs_opts *out);
/* hs_read and hs_reader_free as a row's reader operations. */
int hs_read_op(void *reader, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
	       struct cs_err *err);
void hs_reader_free_op(void *reader);

#endif
