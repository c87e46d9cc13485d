#ifndef CS_HTTP_INTERNAL_H
#define CS_HTTP_INTERNAL_H
/*
 * What the parts of httpsrc share (as stagecache_internal.h): one request
 * and its response as libcurl fills them in, and the helpers one part
 * calls in another. Not for use outside httpsrc's files (http_*.c).
 *
 *   httpsrc.c       URLs (recognise, redact, names), an error body's reason, XML text, S3's error XML
 *   http_request.c  one exchange: the easy handle, headers, redirects followed by hand with the
 *                   credentials kept to the first origin, retries and backoff
 *   http_answer.c   what an answer says: the validator checks (hs_check), an error's description
 *   http_list.c     HEAD and GET of text, the model's files (hs_list), hs_stat
 *   http_read.c     the ranged reader (hs_read), one connection per thread
 */
#include <curl/curl.h>

#include "httpsrc.h"

#define HS_INDEX_MAX (64u << 20)    /* an index or listing larger than this is refused */

struct strbuf;

/* What one exchange asks: its first URL (whose origin owns the
 * credentials), a range, HEAD, and for a read the file it must be. */
struct req {
	const char *url;
	const char *range;          /* "A-B", or NULL */
	int nobody;                 /* HEAD */
	const struct source_file *file; /* a read: its conditions and hs_check */
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

/* httpsrc.c */
/* libcurl's global state, once per process; every part calls it before
 * its first easy handle. Thread-safe. */
void hsi_curl_init(void);

/* http_request.c */
/* r made ready for one exchange of q (no headers seen, sizes unknown). */
void hsi_resp_init(struct resp *r, const struct req *q);
/*
 * One exchange on c, redirects followed by hand (httpsrc.h): credentials
 * only to requests at the first URL's origin. eb: CURL_ERROR_SIZE bytes
 * for libcurl's message. *cc and r are the last hop's; 0, or -1 with err
 * when a redirect is refused or the transfer was cancelled.
 */
int hsi_perform(CURL *c, const struct hs_opts *o, const struct req *q, struct resp *r, char *eb, CURLcode *cc,
		struct cs_err *err);
/* A failure worth another attempt: a timeout, a reset, 5xx, 408, 429. */
int hsi_retryable(CURLcode cc, const struct resp *r);
int hsi_max_retries(const struct hs_opts *o);    /* attempts after the first */
void hsi_backoff(const struct hs_opts *o, int attempt);   /* sleeps; a cancel ends it */
int hsi_is_redirect(long status);

/* http_answer.c */
/* "HTTP 409 (request id X): the server's reason" of a failed exchange; a
 * certificate that did not verify says against which CA bundle (o's). */
void hsi_describe(struct strbuf *sb, const struct hs_opts *o, CURLcode cc, const struct resp *r,
		  const char *errbuf);
/* An S3 redirect (nothing is followed there): its status, code and region. */
void hsi_s3_redirect(struct strbuf *sb, const struct resp *r);
/* An HTTP date (IMF-fixdate) of ns, not the locale's. */
void hsi_http_date(int64_t ns, char *buf, size_t n);
/* The identity a response (or HEAD) gives: 0 when it is f's, else
 * ESTALE with why (n bytes). */
int hsi_identity_differs(const struct source_file *f, const char *etag, int64_t mtime_ns, char *why, size_t n);

#endif
