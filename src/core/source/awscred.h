#ifndef CS_AWSCRED_H
#define CS_AWSCRED_H
/*
 * awscred: S3 credentials found as the AWS SDKs find them, and kept fresh.
 *
 * The chain, in order; the first source that is set up answers, and one
 * that is set up but fails is an error (it never falls through to the
 * next):
 *
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *      AWS_SESSION_TOKEN (a key id without its secret is an error);
 *   2. web identity: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (and
 *      AWS_ROLE_SESSION_NAME) -> STS AssumeRoleWithWebIdentity, unsigned
 *      (EKS IRSA);
 *   3. the shared files: profile AWS_PROFILE (else "default") of
 *      AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and AWS_CONFIG_FILE
 *      (~/.aws/config, "[profile NAME]"; the credentials file wins a key
 *      both have): static keys; role_arn with source_profile (STS
 *      AssumeRole signed with that profile's credentials, chained, a loop
 *      refused) or credential_source (Environment, Ec2InstanceMetadata,
 *      EcsContainer); role_arn with web_identity_token_file;
 *      credential_process (run without a shell: split as a POSIX shell
 *      splits words, no expansion; JSON Version 1 on stdout; stdin
 *      /dev/null, stderr passed through; 60 s at most; its output is
 *      never shown);
 *   4. the container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      (http://169.254.170.2 + it) or _FULL_URI (https, or http to a
 *      loopback address or the ECS/EKS hosts 169.254.170.2,
 *      169.254.170.23, fd00:ec2::23), Authorization from
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, else _TOKEN (ECS, EKS Pod
 *      Identity);
 *   5. IMDSv2 (EC2): a token (PUT /latest/api/token), then the role's
 *      credentials, 1 s to connect; AWS_EC2_METADATA_DISABLED=true skips
 *      it; AWS_EC2_METADATA_SERVICE_ENDPOINT (or _MODE=IPv6) moves it.
 *
 * STS is AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the profile's
 * "[services]" sts endpoint_url or endpoint_url, else
 * https://sts.REGION.amazonaws.com (REGION: AWS_REGION,
 * AWS_DEFAULT_REGION, the profile's, else us-east-1).
 *
 * None of them giving credentials is an error that names each source and
 * why it gave none. Credentials that expire are fetched again from the
 * same source before they do (5 minutes before, or half their lifetime
 * when that is shorter), by the first request that finds them due.
 *
 * Secrets (secret keys, session tokens, web identity and container
 * tokens, a process's output) are never in a message; the access key id
 * and the source's description are fit for one. Nothing prints.
 */
#include "core/base/util.h"

/* The shared files of one profile, read once (awscred_files_load). */
struct aws_files;

/* AWS_PROFILE's (else "default") profile of the two files. -1 with err
 * when a file that exists cannot be read, or AWS_PROFILE names a profile
 * neither has. */
int aws_files_load(struct aws_files **out, struct cs_err *err);
void aws_files_free(struct aws_files *f);
/* A setting of the profile: KEY, or "SECTION.KEY" for a nested one
 * ("s3.addressing_style"); NULL when unset. Points into f. */
const char *aws_files_get(const struct aws_files *f, const char *key);
/* SERVICE's (s3, sts) setting KEY in the "[services NAME]" section the
 * profile's services names; NULL when none. Points into f. */
const char *aws_files_service(const struct aws_files *f, const char *service, const char *key);
/* The region (AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1)
 * and SERVICE's endpoint (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL,
 * the services section's, the profile's endpoint_url; none with
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), malloc'd (the endpoint NULL
 * when none). */
char *aws_region(const struct aws_files *f);
char *aws_endpoint(const struct aws_files *f, const char *service);

/* The credentials in use: one object for every thread of a stage. */
struct awscred;
struct awscred_opts {
	const char *cainfo;         /* the CA bundle for STS and the container endpoint over https, or NULL */
	int insecure;
};
/* The chain above, run now: *out, or -1 with err (no source gave any,
 * or one that is set up failed). */
int awscred_resolve(const struct aws_files *f, const struct awscred_opts *o, struct awscred **out,
		    struct cs_err *err);
void awscred_free(struct awscred *c);
/*
 * The credentials to sign one request with, fetched again first when they
 * are due: *userpwd "KEYID:SECRET" and *token the session token (NULL
 * when none), malloc'd copies (awscred_wipe them). -1 with err when they
 * are due and cannot be fetched again and have expired. Thread-safe.
 */
int awscred_get(struct awscred *c, char **userpwd, char **token, struct cs_err *err);
/* Zero and free what awscred_get gave. */
void awscred_wipe(char *userpwd, char *token);
/* What gave them ("the environment", "credential_process of profile
 * 'x'", ...) and the access key id first resolved; they live as long as
 * c. Not secret. */
const char *awscred_source(const struct awscred *c);
const char *awscred_key_id(const struct awscred *c);
/* How many times they were fetched (1 after resolve), for tests. */
unsigned awscred_fetches(struct awscred *c);

/* credential_process's command line split into words (a POSIX shell's
 * quoting: '...', "..." with \ before \ " $ ` or newline, \ outside
 * quotes; no expansion), NULL-terminated, malloc'd (free_strv); NULL
 * for an unclosed quote or no word. Exposed for tests. */
char **aws_split_command(const char *cmd, size_t *n);
/* An ISO 8601 time (2024-01-02T03:04:05Z, fractions, +HH:MM) as unix
 * seconds; -1 when it is none. Exposed for tests. */
int64_t aws_parse_time(const char *s);

#endif
