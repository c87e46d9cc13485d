/* awscred: the shared credentials and config files (awscred.h). */
#define _GNU_SOURCE
#include "awscred_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/banned.h"

struct kv {
	char *key, *val;
};

/* A section: a profile (of either file) or a "[services NAME]" one. */
struct sect {
	char *name;
	int config;                 /* from the config file */
	int services;
	struct kv *kv;
	size_t n, alloc;
};

struct aws_files {
	char *paths[2];             /* credentials, config; NULL when unknown */
	char *profile;
	struct sect *s;
	size_t n, alloc;
};

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

/* A section header's name as the SDKs read it: in the credentials file
 * [NAME]; in the config file [default], [profile NAME] and [services
 * NAME] (others, sso-session ..., are not profiles). NULL: skipped. */
static char *sect_name(char *hdr, int config, int *services)
{
	*services = 0;
	char *name = trim(hdr);
	if (!config)
		return name;
	if (!strcmp(name, "default"))
		return name;
	if (!strncmp(name, "profile", 7) && isspace((unsigned char)name[7]))
		return trim(name + 8);
	if (!strncmp(name, "services", 8) && isspace((unsigned char)name[8])) {
		*services = 1;
		return trim(name + 9);
	}
	return NULL;
}

static void sect_add(struct sect *s, const char *key, const char *val)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->kv[i].key, key))
			return;   /* the first one stands */
	s->kv = xgrow(s->kv, &s->alloc, s->n + 1, sizeof(*s->kv));
	s->kv[s->n++] = (struct kv){ xstrdup(key), xstrdup(val) };
}

/* One file's sections appended; 0 (also when it does not exist), -1 when
 * it cannot be read. Nested keys ("s3 =" then indented "key = value"
 * lines) become "s3.key". */
static int read_file(struct aws_files *f, const char *path, int config)
{
	FILE *fp = fopen(path, "re");
	if (!fp)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	char line[8192], parent[128] = "";
	struct sect *cur = NULL;
	while (fgets(line, sizeof(line), fp)) {
		int indented = line[0] == ' ' || line[0] == '\t';
		char *l = trim(line);
		if (*l == '#' || *l == ';' || !*l)
			continue;
		if (*l == '[') {
			char *e = strchr(l, ']');
			if (e)
				*e = 0;
			int services;
			char *name = sect_name(l + 1, config, &services);
			cur = NULL;
			parent[0] = 0;
			if (!name)
				continue;
			f->s = xgrow(f->s, &f->alloc, f->n + 1, sizeof(*f->s));
			cur = &f->s[f->n++];
			*cur = (struct sect){ .name = xstrdup(name), .config = config, .services = services };
			continue;
		}
		char *eq = strchr(l, '=');
		if (!cur || !eq)
			continue;
		*eq = 0;
		char *k = trim(l), *v = trim(eq + 1);
		if (indented && parent[0]) {
			char *nk = xasprintf("%s.%s", parent, k);
			sect_add(cur, nk, v);
			free(nk);
			continue;
		}
		if (!*v && strlen(k) < sizeof(parent))
			memcpy(parent, k, strlen(k) + 1);
		else
			parent[0] = 0;
		sect_add(cur, k, v);
	}
	fclose(fp);
	return 0;
}

static char *path_of(const char *var, const char *rel)
{
	const char *v = getenv(var), *home = getenv("HOME");
	if (v && *v)
		return xstrdup(v);
	return home && *home ? xasprintf("%s/%s", home, rel) : NULL;
}

int ac_files_has_profile(const struct aws_files *f, const char *profile)
{
	for (size_t i = 0; i < f->n; i++)
		if (!f->s[i].services && !strcmp(f->s[i].name, profile))
			return 1;
	return 0;
}

int aws_files_load(struct aws_files **out, struct cs_err *err)
{
	struct aws_files *f = xcalloc(1, sizeof(*f));
	f->paths[0] = path_of("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	f->paths[1] = path_of("AWS_CONFIG_FILE", ".aws/config");
	const char *p = getenv("AWS_PROFILE");
	f->profile = xstrdup(p && *p ? p : "default");
	int rc = 0;
	for (int i = 0; i < 2 && !rc; i++)
		if (f->paths[i] && read_file(f, f->paths[i], i))
			rc = cs_fail_errno(err, errno, "cannot read '%s'", f->paths[i]);
	if (!rc && p && *p && !ac_files_has_profile(f, f->profile))
		rc = cs_fail(err, ENOENT, "AWS_PROFILE '%s' is in neither '%s' nor '%s'", f->profile,
			     ac_files_paths(f, 0), ac_files_paths(f, 1));
	if (rc) {
		aws_files_free(f);
		f = NULL;
	}
	*out = f;
	return rc;
}

void aws_files_free(struct aws_files *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		for (size_t j = 0; j < f->s[i].n; j++) {
			free(f->s[i].kv[j].key);
			free(f->s[i].kv[j].val);   /* secrets too: the files hold them anyway */
		}
		free(f->s[i].kv);
		free(f->s[i].name);
	}
	free(f->s);
	free(f->paths[0]);
	free(f->paths[1]);
	free(f->profile);
	free(f);
}

static const char *sect_get(const struct sect *s, const char *key)
{
	for (size_t j = 0; j < s->n; j++)
		if (!strcmp(s->kv[j].key, key))
			return s->kv[j].val;
	return NULL;
}

/* The credentials file's sections first: it wins a key both have. */
const char *ac_files_get_in(const struct aws_files *f, const char *profile, const char *key)
{
	for (int config = 0; config < 2; config++)
		for (size_t i = 0; i < f->n; i++) {
			const struct sect *s = &f->s[i];
			const char *v;
			if (s->config == config && !s->services && !strcmp(s->name, profile) && (v = sect_get(s, key)))
				return v;
		}
	return NULL;
}

const char *aws_files_get(const struct aws_files *f, const char *key)
{
	return ac_files_get_in(f, f->profile, key);
}

const char *aws_files_service(const struct aws_files *f, const char *service, const char *key)
{
	const char *name = aws_files_get(f, "services");
	if (!name)
		return NULL;
	char *k = xasprintf("%s.%s", service, key);
	const char *v = NULL;
	for (size_t i = 0; i < f->n && !v; i++)
		if (f->s[i].services && !strcmp(f->s[i].name, name))
			v = sect_get(&f->s[i], k);
	free(k);
	return v;
}

const char *ac_files_profile(const struct aws_files *f)
{
	return f->profile;
}

const char *ac_files_paths(const struct aws_files *f, int config)
{
	return f->paths[config] ? f->paths[config] : "?";
}

static char *env_dup(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? xstrdup(v) : NULL;
}

char *aws_region(const struct aws_files *f)
{
	char *r = env_dup("AWS_REGION");
	if (!r)
		r = env_dup("AWS_DEFAULT_REGION");
	const char *p = r ? NULL : aws_files_get(f, "region");
	return r ? r : xstrdup(p && *p ? p : "us-east-1");
}

char *aws_endpoint(const struct aws_files *f, const char *service)
{
	const char *ign = getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	if (ign && !strcasecmp(ign, "true"))
		return NULL;
	char var[64];
	snprintf(var, sizeof(var), "AWS_ENDPOINT_URL_%s", service);
	for (char *c = var; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	char *e = env_dup(var);
	if (!e)
		e = env_dup("AWS_ENDPOINT_URL");
	if (e)
		return e;
	const char *v = aws_files_service(f, service, "endpoint_url");
	if (!v || !*v)
		v = aws_files_get(f, "endpoint_url");
	return v && *v ? xstrdup(v) : NULL;
}
