/* source: the http row -- a model served over HTTP(S) (httpsrc.h), a peer's
 * cache serve among them. */
#define _GNU_SOURCE
#include "httpsrc.h"

#include <strings.h>

#include "core/base/banned.h"

static const char *http_kind(const char *src)
{
	return strncasecmp(src, "https:", 6) ? "http" : "https";
}

/* A CA bundle that cannot be read fails here, before any transfer.
 * s->priv: where each file's redirects led (hs_hops), for its listing,
 * reader and stats: one resolve per file. */
static int http_open(struct source *s, struct cs_err *err)
{
	s->canon = hs_redact(s->given);
	s->priv = hs_hops_new();
	return hs_ca_check(&s->o, 0, err);
}

static void http_close(struct source *s)
{
	hs_hops_free(s->priv);
	s->priv = NULL;
}

static void http_opts(const struct source *s, struct hs_opts *ho)
{
	hs_opts_from(&s->o, 0, ho);
	ho->hops = s->priv;
}

static int http_list(struct source *s, struct source_file **out, size_t *n, struct cs_err *err)
{
	struct hs_opts ho;
	http_opts(s, &ho);
	if (hs_list(&ho, s->given, s->o.names, s->o.nnames, out, n, err))
		return -1;
	source_keep_wanted(s, *out, n);
	return 0;
}

/* The checksums a HEAD answers come with the listing already. */
static int http_stat(struct source *s, struct source_file *f, struct cs_err *err)
{
	struct hs_opts ho;
	http_opts(s, &ho);
	return hs_stat(&ho, f, err);
}

static void *http_reader_new(struct source *s, const struct source_file *files, size_t n)
{
	struct hs_opts ho;
	http_opts(s, &ho);
	return hs_reader_new(&ho, files, n);
}

const struct source_ops source_http = {
	.name = "http",
	.flags = SOURCE_REMOTE | SOURCE_HEADERS | SOURCE_NAMES,
	.recognise = hs_is_url,
	.kind = http_kind,
	.shown = hs_redact,
	.default_name = hs_default_name,
	.identity = hs_redact,
	.open = http_open,
	.close = http_close,
	.list = http_list,
	.stat = http_stat,
	.reader_new = http_reader_new,
	.read = hs_read_op,
	.reader_free = hs_reader_free_op,
};
