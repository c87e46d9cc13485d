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
 * autoindex). Each file's size, ETag and Last-Modified come from a HEAD
 * (a one-byte ranged GET where HEAD is refused); redirects are followed
 * (Hugging Face's resolve URLs redirect to a CDN). A name with "..", an
 * absolute path, a NUL or a backslash is refused.
 *
 * Reading (hs_read): one ranged GET per chunk over a connection kept per
 * thread, with If-Match on the file's ETag, so an object that changes mid-
 * transfer fails (ESTALE) instead of mixing versions. Timeouts, resets,
 * stalls (no byte for 30 s), 5xx, 408 and 429 are retried up to 6 times with
 * exponential backoff and jitter; the last error names the URL, the status
 * and the request id. A response longer or shorter than the range, or
 * without 206 for a partial range, is an error.
 *
 * Security: URLs are shown without their user info and query (hs_redact);
 * TLS is verified unless insecure; proxies are libcurl's (the usual
 * *_proxy variables). Nothing here prints. hs_read is thread-safe.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct hs_opts {
	int insecure;               /* no TLS verification */
	const char *bearer;         /* Authorization: Bearer TOKEN (e.g. $HF_TOKEN), or NULL */
	/* S3 (s3src.h): requests signed with libcurl's SigV4 when sigv4 is set. */
	const char *sigv4;          /* "aws:amz:REGION:s3" */
	const char *userpwd;        /* "ACCESS_KEY_ID:SECRET" */
	const char *session_token;  /* x-amz-security-token, or NULL */
	int retries;                /* attempts after the first; default 6 */
	long connect_timeout_s;     /* default 15 */
	long stall_s;               /* no byte for this long: retry; default 30 */
	int checksum_mode;          /* S3: x-amz-checksum-mode: ENABLED (HEADs answer the checksums) */
	volatile sig_atomic_t *cancel; /* nonzero: a transfer in progress and a retry's backoff end at
					* once, ECANCELED ("interrupted"); NULL: never */
};

struct hs_file {
	char *name;                 /* relative path under the base URL */
	char *url;                  /* full URL (may hold credentials: never shown) */
	uint64_t size;
	char *etag;                 /* NULL when the server sends none */
	int64_t mtime_ns;           /* Last-Modified, 0 when absent */
	char *checksum;             /* the store's whole-object checksum (checksum.h), or NULL */
};

/* HEAD f->url (o->checksum_mode for S3): f->checksum from the store's
 * x-amz-checksum-* when it sends one it can be checked against. A size
 * or ETag other than the listing's is ESTALE (the object changed). */
int hs_stat(const struct hs_opts *o, struct hs_file *f, struct cs_err *err);

/* A relative name that stays under its base: no "..", "." or empty
 * component, no leading '/', no backslash. */
int hs_safe_rel(const char *s);
/* GET url into out (at most 64 MiB; the body of an error too); *status is
 * the HTTP status. -1 only when no answer came (after retries). */
struct strbuf;
int hs_get_text(const struct hs_opts *o, const char *url, struct strbuf *out, long *status, char *reqid,
		size_t reqid_len, struct cs_err *err);
/* The text of <TAG>...</TAG> in an XML body (entities decoded), from *pos
 * on; advances *pos past it. NULL when there is none. malloc'd. */
char *hs_xml_next(const char *xml, const char *tag, size_t *pos);

/* 1 for "http://" and "https://" URLs. */
int hs_is_url(const char *s);
/* The URL without user info, query or fragment (malloc'd): for messages,
 * manifests, notes. */
char *hs_redact(const char *url);
/* The last path component without ".gguf" (a staged name), malloc'd. */
char *hs_default_name(const char *url);

int hs_list(const struct hs_opts *o, const char *base, char *const *names, size_t nnames, struct hs_file **out,
	    size_t *n, struct cs_err *err);
void hs_files_free(struct hs_file *f, size_t n);

struct hs_reader;
struct hs_reader *hs_reader_new(const struct hs_opts *o, const struct hs_file *files, size_t n);
void hs_reader_free(struct hs_reader *r);
/* len bytes of file at off, handed to sink as they arrive (a retry starts
 * again at pos 0; an error's body never reaches it). ESTALE: the object
 * changed. */
int hs_read(struct hs_reader *r, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
	    struct cs_err *err);
/* Requests sent (every attempt), for tests and stats. */
uint64_t hs_requests(const struct hs_reader *r);

#endif
