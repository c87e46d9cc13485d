#ifndef CS_AWSCRED_INTERNAL_H
#define CS_AWSCRED_INTERNAL_H
/*
 * What awscred's files share (private to source/, and its tests):
 *
 *   awscred.c          the chain, the locked object, refreshing, the "none found" error
 *   awscred_files.c    the shared files: profiles, nested keys, [services]
 *   awscred_remote.c   the endpoints: STS, the container's, IMDSv2 (libcurl, short timeouts)
 *   awscred_process.c  credential_process: split, run without a shell, its JSON
 */
#include <stddef.h>
#include <stdint.h>

#include "awscred.h"

struct strbuf;

/* One set of credentials; expires 0: never. The strings are malloc'd
 * (ac_creds_release zeroes the secrets). */
struct ac_creds {
	char *key_id, *secret, *token;
	int64_t expires;            /* unix seconds, 0: none */
};
void ac_creds_release(struct ac_creds *c);

/* One HTTP exchange with a credential endpoint. */
struct ac_http {
	const char *method;         /* "GET", "PUT", "POST" */
	const char *url;
	const char *const *headers; /* "Name: value", n_headers of them */
	size_t nheaders;
	const char *body;           /* POST: the form, or NULL */
	const char *sigv4;          /* "aws:amz:REGION:sts": signed with userpwd, token; else unsigned */
	const char *userpwd, *token;
	long connect_ms, total_ms;
	int attempts;               /* 1 or more: a connection failure or 5xx is tried again */
	const struct awscred_opts *o;
};
/* 0 with *status and out (at most 1 MiB), or -1 with why (no answer:
 * libcurl's reason, never a header's value). */
int ac_http_do(const struct ac_http *q, long *status, struct strbuf *out, char *why, size_t whylen);

/* STS: AssumeRoleWithWebIdentity (src NULL: unsigned) or AssumeRole
 * (signed with src). role, session, token_file as configured; external_id
 * may be NULL; what names the source in messages. */
int ac_sts_web_identity(const struct aws_files *f, const struct awscred_opts *o, const char *role,
			const char *session, const char *token_file, const char *what, struct ac_creds *out,
			struct cs_err *err);
int ac_sts_assume_role(const struct aws_files *f, const struct awscred_opts *o, const struct ac_creds *src,
		       const char *role, const char *session, const char *external_id, const char *what,
		       struct ac_creds *out, struct cs_err *err);
/* The container endpoint (the variables read again) and IMDSv2 at
 * endpoint. 1 when the container variables are not set (*why says so). */
int ac_container(const struct awscred_opts *o, struct ac_creds *out, struct cs_err *err);
int ac_imds(const struct awscred_opts *o, const char *endpoint, struct ac_creds *out, struct cs_err *err);
/* The IMDS endpoint the environment names; NULL when disabled. */
char *ac_imds_endpoint(void);

/* credential_process of profile: the creds its JSON gives, or -1 with err
 * naming the profile (it failed, timed out after timeout_ms, or wrote no
 * valid Version 1 JSON); its output is never in err. */
int ac_process(const char *profile, const char *cmd, int timeout_ms, struct ac_creds *out, struct cs_err *err);
/* A Version 1 JSON credentials document (credential_process, the
 * container endpoint, IMDS): 0, or -1 with err (what: its source). Keys
 * AccessKeyId, SecretAccessKey, SessionToken or Token, Expiration. */
int ac_parse_json(const char *text, size_t len, int want_version, const char *what, struct ac_creds *out,
		  struct cs_err *err);

/* The shared files: a profile's setting in another profile (source_profile). */
const char *ac_files_get_in(const struct aws_files *f, const char *profile, const char *key);
int ac_files_has_profile(const struct aws_files *f, const char *profile);
const char *ac_files_profile(const struct aws_files *f);   /* the profile in use */
const char *ac_files_paths(const struct aws_files *f, int config);   /* "?" when none */

#endif
