/* httpsrc: a Hugging Face Hub resolve URL's files, as the Hub's API lists
 * them (GET /api/{models,datasets,spaces}/REPO_ID/tree/REV), instead of
 * names guessed and probed one request each. */
#define _GNU_SOURCE
#include "http_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/strbuf.h"
#include "core/base/banned.h"

#define HUB_PAGES_MAX 10000

/* The path's components (the URL's own encoding), malloc'd, as a vector. */
static char **components(const char *path, size_t *n)
{
	char **v = NULL;
	size_t alloc = 0;
	*n = 0;
	for (const char *p = path; *p;) {
		size_t k = strcspn(p, "/");
		if (k) {
			v = xgrow(v, &alloc, *n + 1, sizeof(*v));
			v[(*n)++] = xstrndup(p, k);
		}
		p += k + (p[k] == '/');
	}
	return v;
}

/* base's API URL and the directory's prefix in the repository ("" or
 * "DIR/"), malloc'd; -1 when base is no Hub resolve URL. */
static int parse(const char *base, char **api, char **prefix)
{
	CURLU *u = curl_url();
	char *path = NULL, *got = NULL;
	char **c = NULL;
	size_t n = 0;
	int rc = -1;
	*api = *prefix = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, base, 0) || curl_url_get(u, CURLUPART_PATH, &path, 0))
		goto out;
	c = components(path, &n);
	const char *type = "models";
	size_t at = 0;                      /* the repository's first component */
	if (n && (!strcmp(c[0], "datasets") || !strcmp(c[0], "spaces"))) {
		type = c[0];
		at = 1;
	}
	size_t res = n > at + 2 && !strcmp(c[at + 2], "resolve") ? at + 2 :
		     n > at + 1 && !strcmp(c[at + 1], "resolve") ? at + 1 : 0;
	if (!res || res + 1 >= n || !strcmp(c[0], "api"))
		goto out;
	struct strbuf p = STRBUF_INIT, dir = STRBUF_INIT;
	strbuf_addf(&p, "/api/%s", type);
	for (size_t i = at; i < res; i++)
		strbuf_addf(&p, "/%s", c[i]);
	strbuf_addf(&p, "/tree/%s", c[res + 1]);
	for (size_t i = res + 2; i < n; i++) {
		strbuf_addf(&p, "/%s", c[i]);
		strbuf_addf(&dir, "%s/", c[i]);
	}
	if (!curl_url_set(u, CURLUPART_PATH, p.buf, 0) && !curl_url_set(u, CURLUPART_QUERY, "recursive=true", 0) &&
	    !curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) && !curl_url_get(u, CURLUPART_URL, &got, 0)) {
		*api = xstrdup(got);
		*prefix = xstrdup(dir.buf);
		rc = 0;
	}
	strbuf_release(&p);
	strbuf_release(&dir);
out:
	free_strv(c, n);
	curl_free(path);
	curl_free(got);
	curl_url_cleanup(u);
	return rc;
}

int hsi_hub_url(const char *base)
{
	char *api, *prefix;
	if (parse(base, &api, &prefix))
		return 0;
	free(api);
	free(prefix);
	return 1;
}

void hsi_hub_files_free(struct hub_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].path);
	free(f);
}

/* One page's entries: its files under prefix appended to *out. */
static int page(const char *shown, const struct strbuf *sb, const char *prefix, struct hub_file **out, size_t *n,
		size_t *alloc, struct cs_err *err)
{
	json_t *j = json_loadb(sb->buf, sb->len, 0, NULL);
	int rc = 0;
	if (!json_is_array(j))
		rc = cs_fail(err, EPROTO, "'%s': not the Hub's tree listing (no JSON array)", shown);
	size_t i, pl = strlen(prefix);
	json_t *e;
	json_array_foreach(j, i, e) {
		if (rc)
			break;
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *path = json_string_value(json_object_get(e, "path"));
		json_t *size = json_object_get(e, "size"), *lfs = json_object_get(e, "lfs");
		if (type && strcmp(type, "file"))
			continue;                   /* "directory": its files are listed too */
		if (lfs && json_is_object(lfs))
			size = json_object_get(lfs, "size");
		if (!type || !path || !json_is_integer(size) || json_integer_value(size) < 0) {
			rc = cs_fail(err, EPROTO, "'%s': an entry of the Hub's tree without a type, path or size", shown);
			break;
		}
		if (strncmp(path, prefix, pl) || !hs_safe_rel(path + pl)) {
			rc = cs_fail(err, EPROTO, "'%s': the Hub's tree lists '%s', not a file under '%s'", shown, path,
				     pl ? prefix : "the repository");
			break;
		}
		*out = xgrow(*out, alloc, *n + 1, sizeof(**out));
		(*out)[(*n)++] = (struct hub_file){ xstrdup(path + pl), (uint64_t)json_integer_value(size) };
	}
	json_decref(j);
	return rc;
}

/* A failed answer of the API: -1 with err (401, 403: access denied). */
static int refused(const struct hs_opts *o, const char *shown, const struct hs_answer *a, const struct strbuf *sb,
		   struct cs_err *err)
{
	struct strbuf m = STRBUF_INIT;
	hsi_describe_text(&m, o, a, sb);
	int rc = cs_fail(err, a->status == 401 || a->status == 403 ? EACCES : EIO, "'%s': %s", shown, m.buf);
	strbuf_release(&m);
	return rc;
}

int hsi_hub_tree(CURL *c, const struct hs_opts *o, const char *base, struct hub_file **out, size_t *n,
		 struct cs_err *err)
{
	char *api, *prefix, first[512], here[512];
	*out = NULL;
	*n = 0;
	if (parse(base, &api, &prefix))
		return 1;
	hsi_origin(api, first, sizeof(first));
	char *shown = hs_redact(api), *url = xstrdup(api);
	struct strbuf sb = STRBUF_INIT;
	size_t alloc = 0;
	int rc = 0;
	for (int pg = 0; url && !rc; pg++) {
		struct hs_answer a;
		if (pg >= HUB_PAGES_MAX) {
			rc = cs_fail(err, EFBIG, "'%s': more than %d pages", shown, HUB_PAGES_MAX);
			break;
		}
		if (hsi_get_text(c, o, url, &sb, &a, err)) {
			rc = -1;
			break;
		}
		free(url);
		url = NULL;
		if (a.status == 404 && !pg) {
			rc = 1;                     /* no such API here (or no such repository): probe */
			break;
		}
		if (a.status != 200) {
			rc = refused(o, shown, &a, &sb, err);
			break;
		}
		rc = page(shown, &sb, prefix, out, n, &alloc, err);
		if (rc || !a.next[0])
			break;
		/* The next page, at the API's origin only: the token goes along. */
		CURLU *u = curl_url();
		char *next = NULL;
		if (u && !curl_url_set(u, CURLUPART_URL, api, 0) && !curl_url_set(u, CURLUPART_URL, a.next, 0) &&
		    !curl_url_get(u, CURLUPART_URL, &next, 0) && !hsi_origin(next, here, sizeof(here)) &&
		    !strcmp(here, first))
			url = xstrdup(next);
		else
			rc = cs_fail(err, EPROTO, "'%s': the Hub's next page is not at its host: not followed", shown);
		curl_free(next);
		curl_url_cleanup(u);
	}
	if (rc) {
		hsi_hub_files_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	free(url);
	strbuf_release(&sb);
	free(shown);
	free(api);
	free(prefix);
	return rc;
}
