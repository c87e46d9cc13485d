/* source: the s3 row -- a prefix in S3-compatible object storage (s3src.h),
 * its objects read by httpsrc, signed for the bucket's region. */
#define _GNU_SOURCE
#include "s3src.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/banned.h"

static const char *s3_kind(const char *src)
{
	(void)src;
	return "s3";
}

/* The settings (s3_config) live as long as the source: the region its
 * listing found signs its reads, its credentials (refreshed) every
 * request. A CA bundle that cannot be read fails here, before any
 * transfer; a notice says whose credentials sign (the access key id and
 * where it came from, never a secret). */
static int s3_open(struct source *s, struct cs_err *err)
{
	s->canon = hs_redact(s->given);
	struct s3_cfg *c = xcalloc(1, sizeof(*c));
	s->priv = c;
	struct awscred_opts ao = { .cainfo = hs_ca_pick(s->o.cacert, 1, NULL), .insecure = s->o.insecure };
	if (hs_ca_check(&s->o, 1, err) || s3_config(c, s->o.no_sign, &ao, err))
		return -1;
	if (c->cred)
		cs_say(s->o.notice, s->o.notice_arg, "s3 credentials: access key id %s, from %s", awscred_key_id(c->cred),
		       awscred_source(c->cred));
	else
		cs_say(s->o.notice, s->o.notice_arg, "s3 requests unsigned (--no-sign-request)");
	return 0;
}

static void s3_close(struct source *s)
{
	s3_cfg_release(s->priv);
	free(s->priv);
	s->priv = NULL;
}

/* The request options for the region the settings name now. */
static void s3_opts(const struct source *s, struct hs_opts *so)
{
	struct hs_opts ho;
	hs_opts_from(&s->o, 1, &ho);
	s3_hs_opts(s->priv, &ho, so);
}

static int s3_stat(struct source *s, struct source_file *f, struct cs_err *err)
{
	struct hs_opts so;
	s3_opts(s, &so);
	so.checksum_mode = s->o.checksums;
	return hs_stat(&so, f, err);
}

/* The objects as the listing gives them (signed for the bucket's region,
 * which it may find), each HEADed for the store's own checksum with
 * o.checksums (the listing has only the ETag). */
static int s3_list_files(struct source *s, struct source_file **out, size_t *n, struct cs_err *err)
{
	struct s3_cfg *c = s->priv;
	*out = NULL;
	*n = 0;
	if (s->o.nnames)
		return cs_fail(err, EINVAL, "--files is for HTTP sources: an S3 prefix lists its objects");
	char *asked = xstrdup(c->region);
	struct hs_opts so;
	s3_opts(s, &so);
	int rc = s3_list(c, &so, s->given, out, n, err);
	if (!rc && strcmp(asked, c->region))
		cs_say(s->o.notice, s->o.notice_arg, "the bucket of '%s' is in region '%s', not '%s': signed for it",
		       s->canon, c->region, asked);
	free(asked);
	if (!rc)
		source_keep_wanted(s, *out, n);
	for (size_t i = 0; !rc && s->o.checksums && i < *n; i++)
		rc = s3_stat(s, &(*out)[i], err);
	if (rc) {
		source_files_free(*out, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

static void *s3_reader_new(struct source *s, const struct source_file *files, size_t n)
{
	struct hs_opts so;
	s3_opts(s, &so);
	return hs_reader_new(&so, files, n);
}

const struct source_ops source_s3 = {
	.name = "s3",
	.flags = SOURCE_REMOTE,
	.recognise = s3_is_url,
	.kind = s3_kind,
	.shown = hs_redact,
	.default_name = s3_default_name,
	.identity = hs_redact,
	.open = s3_open,
	.close = s3_close,
	.list = s3_list_files,
	.stat = s3_stat,
	.reader_new = s3_reader_new,
	.read = hs_read_op,
	.reader_free = hs_reader_free_op,
};
