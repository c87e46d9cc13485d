/* awscred: the credential chain, the locked object the threads of a
 * stage share, refreshing (awscred.h). */
#define _GNU_SOURCE
#include "awscred_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/base/strbuf.h"
#include "core/base/banned.h"

#define PROCESS_TIMEOUT_MS 60000
#define REFRESH_BEFORE_S 300

enum kind { K_STATIC, K_WEB, K_ROLE, K_PROCESS, K_CONTAINER, K_IMDS };

/* Where one set of credentials comes from, and the last it gave. */
struct prov {
	enum kind kind;
	char *what;                 /* for messages: "credential_process of profile 'x'" */
	char *profile, *arg;        /* K_PROCESS: the command; K_WEB: the token file; K_IMDS: the endpoint */
	char *role, *session, *external_id;
	struct prov *src;           /* K_ROLE: whose credentials sign the AssumeRole */
	struct ac_creds cur;
	int64_t fetched;
};

struct awscred {
	pthread_mutex_t mu;
	const struct aws_files *f;
	struct awscred_opts o;
	struct prov *p;
	char *key_id;               /* the first resolved */
	unsigned fetches;
};

static const char *env_set(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static struct prov *prov_new(enum kind k, char *what)
{
	struct prov *p = xcalloc(1, sizeof(*p));
	p->kind = k;
	p->what = what;
	return p;
}

static void prov_free(struct prov *p)
{
	if (!p)
		return;
	prov_free(p->src);
	ac_creds_release(&p->cur);
	free(p->what);
	free(p->profile);
	free(p->arg);
	free(p->role);
	free(p->session);
	free(p->external_id);
	free(p);
}

static struct prov *prov_static(char *what, const char *ak, const char *sk, const char *tok)
{
	struct prov *p = prov_new(K_STATIC, what);
	p->cur.key_id = xstrdup(ak);
	p->cur.secret = xstrdup(sk);
	p->cur.token = tok && *tok ? xstrdup(tok) : NULL;
	return p;
}

static char *session_name(const char *given)
{
	return given && *given ? xstrdup(given) : xasprintf("coldstart-%lld", (long long)time(NULL));
}

/* p's credentials fetched (again). */
static int prov_fetch(struct awscred *c, struct prov *p, struct cs_err *err);

/* p's credentials, fetched again when due (5 minutes before they expire,
 * or half their lifetime when shorter); old ones that still hold are kept
 * when that fails. */
static int prov_fresh(struct awscred *c, struct prov *p, struct cs_err *err)
{
	int64_t now = (int64_t)time(NULL);
	if (p->cur.key_id) {
		int64_t life = p->cur.expires - p->fetched, before = life / 2 < REFRESH_BEFORE_S ? life / 2 : REFRESH_BEFORE_S;
		if (!p->cur.expires || now < p->cur.expires - before)
			return 0;
	}
	struct ac_creds old = p->cur;
	memset(&p->cur, 0, sizeof(p->cur));
	if (prov_fetch(c, p, err)) {
		if (old.key_id && now < old.expires) {
			p->cur = old;
			return 0;
		}
		ac_creds_release(&old);
		return -1;
	}
	ac_creds_release(&old);
	p->fetched = now;
	c->fetches++;
	return 0;
}

static int prov_fetch(struct awscred *c, struct prov *p, struct cs_err *err)
{
	switch (p->kind) {
	case K_WEB:
		return ac_sts_web_identity(c->f, &c->o, p->role, p->session, p->arg, p->what, &p->cur, err);
	case K_ROLE:
		if (prov_fresh(c, p->src, err))
			return -1;
		return ac_sts_assume_role(c->f, &c->o, &p->src->cur, p->role, p->session, p->external_id, p->what,
					  &p->cur, err);
	case K_PROCESS:
		return ac_process(p->profile, p->arg, PROCESS_TIMEOUT_MS, &p->cur, err);
	case K_CONTAINER: {
		int rc = ac_container(&c->o, &p->cur, err);
		return rc > 0 ? cs_fail(err, ENOENT, "the container endpoint's variables are no longer set") : rc;
	}
	case K_IMDS:
		return ac_imds(&c->o, p->arg, &p->cur, err);
	case K_STATIC:
		break;
	}
	return cs_fail(err, EINVAL, "%s: static credentials cannot be fetched again", p->what);
}

/* ---- the shared files ---- */

struct walk {
	const struct aws_files *f;
	const char *visited[16];
	size_t nvisited;
};

static int from_profile(struct walk *w, const char *name, struct prov **out, struct cs_err *err);

/* role_arn's source: source_profile or credential_source. */
static int role_source(struct walk *w, const char *name, const char *srcp, const char *csrc, struct prov **out,
		       struct cs_err *err)
{
	const struct aws_files *f = w->f;
	*out = NULL;
	if (srcp && csrc)
		return cs_fail(err, EINVAL, "profile '%s': role_arn with both source_profile and credential_source", name);
	if (csrc) {
		const char *ak = env_set("AWS_ACCESS_KEY_ID"), *sk = env_set("AWS_SECRET_ACCESS_KEY");
		char *ep;
		if (!strcasecmp(csrc, "Environment") && ak && sk)
			*out = prov_static(xstrdup("the environment"), ak, sk, env_set("AWS_SESSION_TOKEN"));
		else if (!strcasecmp(csrc, "EcsContainer"))
			*out = prov_new(K_CONTAINER, xstrdup("the container endpoint"));
		else if (!strcasecmp(csrc, "Ec2InstanceMetadata") && (ep = ac_imds_endpoint())) {
			*out = prov_new(K_IMDS, xstrdup("IMDS"));
			(*out)->arg = ep;
		}
		return *out ? 0 : cs_fail(err, EINVAL, "profile '%s': credential_source '%s' gives no credentials "
					  "(Environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY unset; "
					  "Ec2InstanceMetadata: IMDS disabled; or not one of those and EcsContainer)", name, csrc);
	}
	const char *self_ak = ac_files_get_in(f, name, "aws_access_key_id");
	if (!strcmp(srcp, name) && self_ak) {
		const char *sk = ac_files_get_in(f, name, "aws_secret_access_key");
		if (!sk)
			return cs_fail(err, EINVAL, "profile '%s': aws_access_key_id without aws_secret_access_key", name);
		*out = prov_static(xasprintf("profile '%s'", name), self_ak, sk,
				   ac_files_get_in(f, name, "aws_session_token"));
		return 0;
	}
	for (size_t i = 0; i < w->nvisited; i++)
		if (!strcmp(w->visited[i], srcp))
			return cs_fail(err, ELOOP, "profile '%s': source_profile '%s' leads back to itself (a loop)", name,
				       srcp);
	if (w->nvisited == sizeof(w->visited) / sizeof(w->visited[0]))
		return cs_fail(err, ELOOP, "profile '%s': source_profile chains more than 16 deep", name);
	if (!ac_files_has_profile(f, srcp))
		return cs_fail(err, ENOENT, "profile '%s': source_profile '%s' is in neither '%s' nor '%s'", name, srcp,
			       ac_files_paths(f, 0), ac_files_paths(f, 1));
	int rc = from_profile(w, srcp, out, err);
	if (rc > 0)
		rc = cs_fail(err, ENOENT, "profile '%s': source_profile '%s' has no credentials", name, srcp);
	return rc;
}

static int from_role(struct walk *w, const char *name, const char *role, struct prov **out, struct cs_err *err)
{
	const struct aws_files *f = w->f;
	const char *srcp = ac_files_get_in(f, name, "source_profile");
	const char *csrc = ac_files_get_in(f, name, "credential_source");
	const char *wif = ac_files_get_in(f, name, "web_identity_token_file");
	const char *sess = ac_files_get_in(f, name, "role_session_name");
	struct prov *p;
	if (wif && !srcp && !csrc) {
		p = prov_new(K_WEB, xasprintf("web identity of profile '%s' (role '%s')", name, role));
		p->arg = xstrdup(wif);
	} else if (!srcp && !csrc) {
		return cs_fail(err, EINVAL, "profile '%s': role_arn without source_profile, credential_source or "
			       "web_identity_token_file", name);
	} else if (ac_files_get_in(f, name, "mfa_serial")) {
		return cs_fail(err, ENOTSUP, "profile '%s': role_arn with mfa_serial needs an MFA code, which a stage "
			       "cannot ask for: use credential_process or export the role's credentials", name);
	} else {
		struct prov *src;
		w->visited[w->nvisited++] = name;
		int rc = role_source(w, name, srcp, csrc, &src, err);
		w->nvisited--;
		if (rc)
			return rc;
		p = prov_new(K_ROLE, xasprintf("profile '%s' (role '%s', AssumeRole signed with %s)", name, role, src->what));
		p->src = src;
		const char *xid = ac_files_get_in(f, name, "external_id");
		p->external_id = xid ? xstrdup(xid) : NULL;
	}
	p->profile = xstrdup(name);
	p->role = xstrdup(role);
	p->session = session_name(sess);
	*out = p;
	return 0;
}

/* A profile's credentials: 0 with *out, 1 when it has none (err says
 * why), -1 when they are set up and wrong. A source profile's static keys
 * win over its own role_arn (as the SDKs). */
static int from_profile(struct walk *w, const char *name, struct prov **out, struct cs_err *err)
{
	const struct aws_files *f = w->f;
	*out = NULL;
	const char *ak = ac_files_get_in(f, name, "aws_access_key_id");
	const char *sk = ac_files_get_in(f, name, "aws_secret_access_key");
	const char *role = ac_files_get_in(f, name, "role_arn");
	const char *proc = ac_files_get_in(f, name, "credential_process");
	if (ak && !sk)
		return cs_fail(err, EINVAL, "profile '%s': aws_access_key_id without aws_secret_access_key", name);
	if (role && !(w->nvisited && ak))
		return from_role(w, name, role, out, err);
	if (ak) {
		*out = prov_static(xasprintf("profile '%s'", name), ak, sk, ac_files_get_in(f, name, "aws_session_token"));
		return 0;
	}
	if (proc) {
		*out = prov_new(K_PROCESS, xasprintf("credential_process of profile '%s'", name));
		(*out)->profile = xstrdup(name);
		(*out)->arg = xstrdup(proc);
		return 0;
	}
	if (ac_files_get_in(f, name, "sso_session") || ac_files_get_in(f, name, "sso_start_url"))
		return cs_fail(err, ENOTSUP, "profile '%s' uses IAM Identity Center (sso_*), which coldstart does not read: "
			       "set credential_process = aws configure export-credentials --profile %s --format process",
			       name, name);
	if (!ac_files_has_profile(f, name))
		cs_fail(err, ENOENT, "no profile '%s' in '%s' or '%s'", name, ac_files_paths(f, 0), ac_files_paths(f, 1));
	else
		cs_fail(err, ENOENT, "profile '%s' has no credentials (no aws_access_key_id, role_arn or "
			"credential_process)", name);
	return 1;
}

/* ---- the chain ---- */

/* The first source that is set up: 0 with *out, 1 with none (why lists
 * each), -1 with err. */
static int chain(const struct aws_files *f, struct prov **out, struct strbuf *why, struct cs_err *err)
{
	*out = NULL;
	const char *ak = env_set("AWS_ACCESS_KEY_ID"), *sk = env_set("AWS_SECRET_ACCESS_KEY");
	if (ak && !sk)
		return cs_fail(err, EINVAL, "an AWS access key id is set but no secret access key (AWS_ACCESS_KEY_ID "
			       "without AWS_SECRET_ACCESS_KEY)");
	if (ak) {
		*out = prov_static(xstrdup("the environment (AWS_ACCESS_KEY_ID)"), ak, sk, env_set("AWS_SESSION_TOKEN"));
		return 0;
	}
	strbuf_adds(why, "1. the environment: AWS_ACCESS_KEY_ID is not set");
	const char *role = env_set("AWS_ROLE_ARN"), *tf = env_set("AWS_WEB_IDENTITY_TOKEN_FILE");
	if (role && tf) {
		struct prov *p = prov_new(K_WEB, xasprintf("web identity (AWS_WEB_IDENTITY_TOKEN_FILE, role '%s')", role));
		p->arg = xstrdup(tf);
		p->role = xstrdup(role);
		p->session = session_name(env_set("AWS_ROLE_SESSION_NAME"));
		*out = p;
		return 0;
	}
	strbuf_addf(why, "; 2. web identity: %s", role ? "AWS_WEB_IDENTITY_TOKEN_FILE is not set"
				: tf ? "AWS_ROLE_ARN is not set" : "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE are not set");
	struct walk w = { .f = f };
	struct cs_err e;
	int rc = from_profile(&w, ac_files_profile(f), out, &e);
	if (rc <= 0) {
		if (rc)
			*err = e;
		return rc;
	}
	strbuf_addf(why, "; 3. the shared files: %s", e.msg);
	if (env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
		*out = prov_new(K_CONTAINER, xstrdup(env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI") ?
						     "the container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI)" :
						     "the container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)"));
		return 0;
	}
	strbuf_adds(why, "; 4. the container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are "
		    "not set");
	char *ep = ac_imds_endpoint();
	if (!ep) {
		strbuf_adds(why, "; 5. IMDS: AWS_EC2_METADATA_DISABLED=true");
		return 1;
	}
	struct prov *p = prov_new(K_IMDS, xasprintf("IMDS at '%s'", ep));
	p->arg = ep;
	struct awscred probe = { .f = f };
	if (prov_fresh(&probe, p, &e)) {
		strbuf_addf(why, "; 5. %s", e.msg);
		prov_free(p);
		return 1;
	}
	*out = p;
	return 0;
}

int awscred_resolve(const struct aws_files *f, const struct awscred_opts *o, struct awscred **out,
		    struct cs_err *err)
{
	*out = NULL;
	struct strbuf why = STRBUF_INIT;
	struct prov *p;
	int rc = chain(f, &p, &why, err);
	if (rc > 0)
		rc = cs_fail(err, ENOKEY, "no S3 credentials found; tried, in order: %s (for a public bucket, "
			     "--no-sign-request sends requests unsigned)", why.buf);
	strbuf_release(&why);
	if (rc)
		return -1;
	struct awscred *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->f = f;
	if (o)
		c->o = *o;
	c->p = p;
	rc = prov_fresh(c, p, err);
	if (!c->fetches)
		c->fetches = 1;   /* static keys, or IMDS's, fetched while the chain was asked */
	if (rc) {
		awscred_free(c);
		return -1;
	}
	c->key_id = xstrdup(p->cur.key_id);
	*out = c;
	return 0;
}

void awscred_free(struct awscred *c)
{
	if (!c)
		return;
	prov_free(c->p);
	pthread_mutex_destroy(&c->mu);
	free(c->key_id);
	free(c);
}

int awscred_get(struct awscred *c, char **userpwd, char **token, struct cs_err *err)
{
	*userpwd = *token = NULL;
	pthread_mutex_lock(&c->mu);
	int rc = prov_fresh(c, c->p, err);
	if (!rc) {
		*userpwd = xasprintf("%s:%s", c->p->cur.key_id, c->p->cur.secret);
		*token = c->p->cur.token ? xstrdup(c->p->cur.token) : NULL;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void awscred_wipe(char *userpwd, char *token)
{
	if (userpwd)
		memset(userpwd, 0, strlen(userpwd));
	if (token)
		memset(token, 0, strlen(token));
	free(userpwd);
	free(token);
}

const char *awscred_source(const struct awscred *c)
{
	return c->p->what;
}

const char *awscred_key_id(const struct awscred *c)
{
	return c->key_id;
}

unsigned awscred_fetches(struct awscred *c)
{
	pthread_mutex_lock(&c->mu);
	unsigned n = c->fetches;
	pthread_mutex_unlock(&c->mu);
	return n;
}
