#ifndef CS_S3SRC_H
#define CS_S3SRC_H
/*
 * s3src: a model in S3-compatible object storage (s3://BUCKET/PREFIX) as a
 * stage source. Objects are read by httpsrc (ranged GETs with If-Match),
 * signed by libcurl's own SigV4 (CURLOPT_AWS_SIGV4).
 *
 * Settings, as the AWS tools read them (awscred.h): the region
 * (AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1)
 * and the endpoint (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the s3
 * endpoint_url of the profile's "services" section, the profile's
 * endpoint_url) of profile AWS_PROFILE (default "default") in
 * AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and AWS_CONFIG_FILE
 * (~/.aws/config). The credentials come from awscred's chain
 * (environment, web identity, the shared files -- static keys, role_arn,
 * credential_process --, the container endpoint, IMDSv2), refreshed
 * before they expire; none found is an error naming what was tried.
 * Requests go unsigned only when asked (no_sign: --no-sign-request, for a
 * public bucket). TLS trusts $AWS_CA_BUNDLE where no --cacert is given,
 * before the HTTP row's variables (httpsrc.h: hs_ca_pick). A custom
 * endpoint is addressed path-style (ENDPOINT/BUCKET/KEY), AWS itself
 * virtual-hosted (https://BUCKET.s3.REGION.amazonaws.com/KEY), unless the
 * profile's nested "s3 =" setting addressing_style says path or virtual.
 *
 * Listing: ListObjectsV2 under PREFIX/ (every page); keys become the
 * model's files relative to the prefix; a key with "..", a NUL, a leading
 * '/' or a backslash is refused; "directory" markers are skipped. A URL
 * ending in ".gguf" is that one object (every part of a split set).
 * Size, ETag and LastModified come from the listing: no HEAD per object;
 * each GET's ETag is checked against the listing's (httpsrc.h). Credentials
 * or a query in the s3:// URL are refused.
 *
 * Secrets live only in the credentials object (awscred.h), which every
 * request asks for the current ones; they are never in a message.
 * Nothing prints.
 */
#include <stddef.h>

#include "awscred.h"
#include "httpsrc.h"
#include "core/base/util.h"

enum { S3_ADDR_AUTO, S3_ADDR_PATH, S3_ADDR_VIRTUAL };

struct s3_cfg {
	char *region, *endpoint;    /* endpoint NULL: AWS's own */
	int addressing;             /* S3_ADDR_* */
	struct aws_files *files;
	struct awscred *cred;       /* NULL: requests unsigned (no_sign) */
	char *sigv4;                /* "aws:amz:REGION:s3" with cred, for hs_opts */
};

/* 1 for "s3://" URLs. */
int s3_is_url(const char *s);
/* The settings from the environment and the AWS files, and the
 * credentials (none with no_sign); -1 when a file that exists cannot be
 * read, AWS_PROFILE names no profile, or no credentials are found (o: for
 * the credential endpoints' TLS, may be NULL). */
int s3_config(struct s3_cfg *c, int no_sign, const struct awscred_opts *o, struct cs_err *err);
void s3_cfg_release(struct s3_cfg *c);
/* The request options for c (signing, or none for anonymous access),
 * over base's (insecure, retries); no redirect is followed (hs_opts.s3),
 * no bearer token or user header sent. They point into c. */
void s3_hs_opts(const struct s3_cfg *c, const struct hs_opts *base, struct hs_opts *out);
/* Sign for region from now on (the sigv4 string; an endpoint on AWS, under
 * amazonaws.com, becomes that region's s3.REGION.amazonaws.com). */
void s3_set_region(struct s3_cfg *c, const char *region);
/* The objects under s3://BUCKET/PREFIX, as files with the URL to read each.
 * A bucket in another region (301 PermanentRedirect, 307
 * TemporaryRedirect or 400 AuthorizationHeaderMalformed, naming it in
 * x-amz-bucket-region or the XML) is listed again signed for that region,
 * once (s3_set_region: c says the region used after); a redirect that
 * names no region, or one still there after re-signing, fails naming it.
 * Nothing is ever sent to the host a redirect names. */
int s3_list(struct s3_cfg *c, const struct hs_opts *ho, const char *s3url, struct source_file **out, size_t *n,
	    struct cs_err *err);
/* One ListObjectsV2 page: its objects appended to *f (URLs under burl),
 * *next the continuation token when the listing is truncated (else NULL).
 * Refuses a key that leaves the prefix. Exposed for tests. */
int s3_parse_page(const char *xml, const char *burl, const char *bucket, const char *prefix, struct source_file **f,
		  size_t *nf, size_t *alloc, char **next, struct cs_err *err);
/* The last component of the prefix, without ".gguf" (a staged name). */
char *s3_default_name(const char *s3url);

#endif
