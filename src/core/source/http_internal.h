#ifndef CS_HTTP_INTERNAL_H
#define CS_HTTP_INTERNAL_H
/*
 * What the parts of httpsrc share (as stagecache_internal.h): one request
 * and its response as libcurl fills them in, and the helpers one part
 * calls in another. Not for use outside httpsrc's files (http_*.c).
 *
 *   httpsrc.c       URLs (recognise, redact, names), an error body's reason, XML text, S3's error XML
 *   http_request.c  one exchange: the easy handle, headers, redirects followed by hand with the
 *                   credentials kept to the first origin (or started where hs_hops says they
 *                   lead), retries and backoff, a text GET (hsi_get_text)
 *   http_hops.c     where each URL's redirects led (hs_hops): one resolve per file, again once
 *                   when that URL stops serving
 *   http_answer.c   what an answer says: the validator checks (hs_check), an error's description
 *   http_list.c     HEAD and GET of text, the model's files (hs_list), hs_stat
 *   http_hub.c      a Hugging Face Hub resolve URL's files, from the Hub's API (its tree)
 *   http_read.c     the ranged reader (hs_read), one connection per thread
 */
#include <curl/curl.h>

#include "httpsrc.h"

#define HS_INDEX_MAX (64u << 20)    /* an index or listing larger than this is refused */

struct strbuf;

/* One exchange's use of the hs_hops of its options (http_hops.c). */
struct hop_use {
	struct hs_hops *h;          /* NULL: none kept */
	const char *first;          /* the exchange's first URL: the key */
	unsigned gen;               /* the entry's generation its URL came from */
	int want;                   /* it resolves first: the URL its redirects lead to is kept ... */
	int owner;                  /* ... and the others wait for it (resolving again) */
	const char *now;            /* the URL asked now */
	int redirected;             /* now was reached from first by redirects in this exchange */
	long refused;               /* the status a resolve again of first was refused with: give up */
	char *why;                  /* hsi_hops_begin's refused: what it said (malloc'd), or NULL */
};

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
	char next[2048];            /* Link's rel="next" target (a listing's next page), or "" */
	struct hop_use *hop;        /* a 2xx at a URL redirects led to is kept there (hsi_hops_end) */
	int reresolved;             /* the cached URL was refused, the first URL resolved again */
	int at_origin;              /* the last request went to the first URL's origin (credentials) */
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

/* What a request refused where its redirect led, and refused again once
 * resolved anew (an expired signature, renewed and refused), adds to its
 * message. */
#define HSI_REFUSED_AGAIN " (refused at the URL its redirect led to, and again after resolving it anew)"

/* http_hops.c: hs_hops (httpsrc.h) as hsi_perform uses it. Thread-safe. */
/* Where an exchange of first starts: the URL its redirects led to
 * (malloc'd), or NULL: at first, u->want set; or NULL with u->refused (and
 * u->why, the caller's to free): a resolve again of first was refused, the
 * exchange fails at once. Waits
 * while another caller resolves first again. h NULL: NULL. */
char *hsi_hops_begin(struct hs_hops *h, const char *first, struct hop_use *u);
/* The URL u started at (hsi_hops_begin's) was refused (403, 410, an
 * expired signature): where to start again -- the URL another caller has
 * resolved meanwhile (malloc'd) -- or NULL: at first, this caller
 * resolving it (u->owner) while the others wait; or NULL with u->refused:
 * another caller's resolve again was refused, the answer stands. */
char *hsi_hops_stale(struct hop_use *u);
/* u's resolve is over: final, the URL the redirects led to which answered
 * (kept for first), or NULL: nothing kept (no redirect, or it failed;
 * refused, for a resolve again: the 4xx it ended with and why, its
 * description, which the callers waiting on it and every later one take
 * as theirs); the waiting callers go on. Only the first call after
 * want/owner counts. */
void hsi_hops_end(struct hop_use *u, const char *final, long refused, const char *why);

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
/* GET url's text into out (hs_get_text) on c, retried: a->next from Link. */
int hsi_get_text(CURL *c, const struct hs_opts *o, const char *url, struct strbuf *out, struct hs_answer *a,
		 struct cs_err *err);
/* A failure worth another attempt: a timeout, a reset, 5xx, 408, 429. */
int hsi_retryable(CURLcode cc, const struct resp *r);
int hsi_max_retries(const struct hs_opts *o);    /* attempts after the first */
void hsi_backoff(const struct hs_opts *o, int attempt);   /* sleeps; a cancel ends it */
int hsi_is_redirect(long status);
/* "scheme://host:port" of url, lowercased (the default port named); -1
 * when it is not an http(s) URL. */
int hsi_origin(const char *url, char *out, size_t n);

/* http_hub.c */
/* One file of a Hub repository, as its tree lists it. */
struct hub_file {
	char *path;                 /* relative to the URL's directory in the repository */
	uint64_t size;              /* its LFS object's size where it has one */
};
/* 1 when base is a Hub resolve URL of a directory:
 * SCHEME://HOST/[datasets/]REPO_ID/resolve/REV/[DIR/]. */
int hsi_hub_url(const char *base);
/* The files under base's directory in its repository at its revision,
 * from GET /api/{models,datasets}/REPO_ID/tree/REV[/DIR]?recursive=true
 * and every next page (Link), at base's origin only: *out (free with
 * hsi_hub_files_free), 0; 1: the server has no such API (404: probe the
 * names instead); -1 with err (401/403: access denied). */
int hsi_hub_tree(CURL *c, const struct hs_opts *o, const char *base, struct hub_file **out, size_t *n,
		 struct cs_err *err);
void hsi_hub_files_free(struct hub_file *f, size_t n);

/* http_answer.c */
/* "HTTP 409 (request id X): the server's reason" of a failed exchange; a
 * certificate that did not verify says against which CA bundle (o's). */
void hsi_describe(struct strbuf *sb, const struct hs_opts *o, CURLcode cc, const struct resp *r,
		  const char *errbuf);
/* "HTTP 403 (request id X): the server's reason" and hsi_refused_hint's
 * words, of a text GET's failed answer a, its body in body. */
void hsi_describe_text(struct strbuf *sb, const struct hs_opts *o, const struct hs_answer *a,
		       const struct strbuf *body);
/* An S3 redirect (nothing is followed there): its status, code and region. */
void hsi_s3_redirect(struct strbuf *sb, const struct resp *r);
/* What a refused request's message adds: HSI_REFUSED_AGAIN when it was
 * resolved anew and refused again; for a 401 or 403 of the first URL's
 * origin (where the credentials go), that access was denied and, without
 * a token, that one may help -- with one, that it was refused; else "".
 * A CDN's 403 says nothing of the token, which never goes there. */
const char *hsi_refused_hint(const struct hs_opts *o, long status, int at_origin, int reresolved);
/* An HTTP date (IMF-fixdate) of ns, not the locale's. */
void hsi_http_date(int64_t ns, char *buf, size_t n);
/* The identity a response (or HEAD) gives: 0 when it is f's, else
 * ESTALE with why (n bytes). */
int hsi_identity_differs(const struct source_file *f, const char *etag, int64_t mtime_ns, char *why, size_t n);

#endif
