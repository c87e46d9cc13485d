/* httpsrc: the ranged reader -- one GET per chunk on a connection kept per
 * thread, each answer checked against the listing before a byte is used. */
#define _GNU_SOURCE
#include "http_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/strbuf.h"
#include "core/base/banned.h"

/* ---- reading ---- */

struct hs_reader {
	struct hs_opts o;
	const struct source_file *files;
	size_t n;
	pthread_key_t key;
	pthread_mutex_t mu;
	CURL **handles;              /* every handle made, freed with the reader */
	size_t nhandles, ahandles;
	uint64_t requests;
};

struct hs_reader *hs_reader_new(const struct hs_opts *o, const struct source_file *files, size_t n)
{
	hsi_curl_init();
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

/* A read that did not succeed: 1 to try again, else -1 with err. */
static int read_failed(const struct hs_opts *o, const struct source_file *f, const char *range, CURLcode cc,
		       const struct resp *rs, int attempt, const char *eb, struct cs_err *err)
{
	int last = attempt >= hsi_max_retries(o), ok = cc == CURLE_OK;
	int partial = ok && rs->status >= 200 && rs->status < 300 && !rs->verdict && !rs->overflow;
	if ((partial && !last) || (!partial && !rs->verdict && !rs->overflow && !last && hsi_retryable(cc, rs)))
		return 1;
	char *shown = hs_redact(f->url);
	char d[64] = "";
	if (f->mtime_ns)
		hsi_http_date(f->mtime_ns, d, sizeof(d));
	if (rs->verdict == ESTALE)
		cs_fail(err, ESTALE, "'%s' changed on the server while it was being staged (%s)", shown, rs->why);
	else if (rs->verdict)
		cs_fail(err, EPROTO, "'%s': bytes %s: %s", shown, range, rs->why);
	else if (rs->overflow)
		cs_fail(err, EPROTO, "'%s': the server sent more than the bytes asked for (bytes %s)", shown, range);
	else if (ok && rs->status == 412)
		cs_fail(err, ESTALE, "'%s' changed on the server while it was being staged (its ETag is no longer %s)",
			shown, f->etag && strncmp(f->etag, "W/", 2) ? f->etag : "?");
	else if (ok && rs->status == 416 && rs->range_total != UINT64_MAX)   /* a range within the listed size */
		cs_fail(err, ESTALE, "'%s' changed on the server while it was being staged (its size is now %llu bytes, "
			"not %llu)", shown, (unsigned long long)rs->range_total, (unsigned long long)f->size);
	else if (ok && rs->status == 416)
		cs_fail(err, ESTALE, "'%s' changed on the server while it was being staged (bytes %s of its %llu are not "
			"there now: HTTP 416)", shown, range, (unsigned long long)f->size);
	else if (partial)
		cs_fail(err, EPROTO, "'%s': bytes %s: got %zu bytes of %llu", shown, range, rs->got,
			(unsigned long long)(rs->cap));
	else {
		struct strbuf sb = STRBUF_INIT;
		if (ok && o->s3 && hsi_is_redirect(rs->status))
			hsi_s3_redirect(&sb, rs);
		else
			hsi_describe(&sb, o, cc, rs, eb);
		cs_fail(err, rs->status == 401 || rs->status == 403 ? EACCES : EIO, "'%s': bytes %s: %s%s%s", shown, range,
			sb.buf, rs->reresolved ? HSI_REFUSED_AGAIN : "", attempt ? " (after retries)" : "");
		strbuf_release(&sb);
	}
	free(shown);
	return -1;
}

int hs_read(struct hs_reader *r, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
	    struct cs_err *err)
{
	const struct source_file *f = &r->files[file];
	CURL *c = handle(r);
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start libcurl");
	char range[64], eb[CURL_ERROR_SIZE];
	snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, off, off + len - 1);
	struct req q = { f->url, range, 0, f, off, len, &r->requests };
	for (int attempt = 0;; attempt++) {
		struct resp rs;
		hsi_resp_init(&rs, &q);
		rs.sink = sink;
		rs.sink_arg = sink_arg;
		rs.sink_err = err;
		rs.whole = off == 0 && len == f->size;
		rs.cap = len;
		CURLcode cc;
		if (hsi_perform(c, &r->o, &q, &rs, eb, &cc, err))
			return -1;
		if (rs.sink_failed)
			return -1;    /* the destination's error, in err already */
		if (cc == CURLE_OK && rs.status >= 200 && rs.status < 300 && !rs.verdict && !rs.overflow && rs.got == len)
			return 0;     /* the common case: no message to build */
		int again = read_failed(&r->o, f, range, cc, &rs, attempt, eb, err);
		if (again < 0)
			return -1;
		hsi_backoff(&r->o, attempt);
	}
}

int hs_read_op(void *reader, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
	       struct cs_err *err)
{
	return hs_read(reader, file, off, len, sink, sink_arg, err);
}

void hs_reader_free_op(void *reader)
{
	hs_reader_free(reader);
}
