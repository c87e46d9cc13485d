/* httpsrc: HEAD and GET of text, and a model's files found from them
 * (hs_list), each with its identity -- a HEAD's, or for the index the GET
 * that gave its names (so it is not asked again) -- and hs_stat, the HEAD
 * after the copy. */
#define _GNU_SOURCE
#include "http_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/model/gguf.h"
#include "core/base/strbuf.h"
#include "core/base/banned.h"

static int drop(void *arg, uint64_t pos, const void *data, size_t n, struct cs_err *err)
{
	(void)arg, (void)pos, (void)data, (void)n, (void)err;
	return 0;
}

/* A HEAD has no body to say why it failed: the same URL asked once with a
 * one-byte GET, and the reason it gives (the same status) kept in r. */
static void ask_reason(CURL *c, const struct hs_opts *o, const struct req *q, struct resp *r)
{
	struct req g = *q;
	g.nobody = 0;
	g.range = "0-0";
	struct resp r2;
	hsi_resp_init(&r2, &g);
	r2.sink = drop;
	r2.cap = 1;
	char eb[CURL_ERROR_SIZE];
	CURLcode cc;
	struct cs_err e;
	if (hsi_perform(c, o, &g, &r2, eb, &cc, &e) == 0 && cc == CURLE_OK && r2.status == r->status && r2.errlen) {
		memcpy(r->errbody, r2.errbody, sizeof(r->errbody));
		r->errlen = r2.errlen;
		snprintf(r->ctype, sizeof(r->ctype), "%s", r2.ctype);
	}
}

static int head(CURL *c, const struct hs_opts *o, const char *url, struct resp *r, struct cs_err *err)
{
	char eb[CURL_ERROR_SIZE];
	char *shown = hs_redact(url);
	struct req q = { url, NULL, 1, NULL, 0, 0, NULL };
	int rc = -1;
	for (int attempt = 0;; attempt++) {
		hsi_resp_init(r, &q);
		CURLcode cc;
		q.nobody = 1;
		q.range = NULL;
		if (hsi_perform(c, o, &q, r, eb, &cc, err))
			break;
		if (cc == CURLE_OK && (r->status == 405 || r->status == 501)) {
			/* No HEAD here: one byte of it, and the size from Content-Range. */
			hsi_resp_init(r, &q);
			r->sink = drop;
			r->cap = 1;
			q.nobody = 0;
			q.range = "0-0";
			if (hsi_perform(c, o, &q, r, eb, &cc, err))
				break;
			if (cc == CURLE_OK && r->status == 206)
				r->clen = r->range_total;
			r->sink = NULL;
		}
		if (cc == CURLE_OK && (r->status == 200 || r->status == 206)) {
			rc = r->clen == UINT64_MAX ? cs_fail(err, EPROTO, "'%s': the server gives no size (no Content-Length)",
							    shown) : 0;
			break;
		}
		if (cc == CURLE_OK && (r->status == 404 || r->status == 410)) {
			rc = cs_fail(err, ENOENT, "'%s': not found (HTTP %ld)", shown, r->status);
			break;
		}
		if (attempt >= hsi_max_retries(o) || !hsi_retryable(cc, r)) {
			struct strbuf sb = STRBUF_INIT;
			if (cc == CURLE_OK && r->status >= 400 && !r->errlen && !r->reason[0] && !q.range)
				ask_reason(c, o, &q, r);
			if (o->s3 && hsi_is_redirect(r->status))
				hsi_s3_redirect(&sb, r);
			else
				hsi_describe(&sb, o, cc, r, eb);
			int code = r->status == 401 || r->status == 403 ? EACCES : EIO;
			rc = cs_fail(err, code, "'%s': %s%s", shown, sb.buf,
				     hsi_refused_hint(o, cc == CURLE_OK ? r->status : 0, r->at_origin, r->reresolved));
			strbuf_release(&sb);
			break;
		}
		hsi_backoff(o, attempt);
	}
	free(shown);
	return rc;
}

static int get_text(CURL *c, const struct hs_opts *o, const char *url, struct strbuf *out, long *status,
		    struct cs_err *err)
{
	struct hs_answer a;
	int rc = hsi_get_text(c, o, url, out, &a, err);
	*status = a.status;
	return rc;
}

int hs_get_text(const struct hs_opts *o, const char *url, struct strbuf *out, struct hs_answer *a,
		struct cs_err *err)
{
	hsi_curl_init();
	CURL *c = curl_easy_init();
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start libcurl");
	int rc = hsi_get_text(c, o, url, out, a, err);
	curl_easy_cleanup(c);
	return rc;
}

/* base + "/" + name, keeping base's query (a SAS or signed token) after it. */
static char *join_url(const char *base, const char *name)
{
	size_t n = strcspn(base, "?#");
	const char *q = base[n] == '?' ? base + n : "";
	size_t ql = strcspn(q, "#");
	return xasprintf("%.*s%s%s%.*s", (int)n, base, n && base[n - 1] == '/' ? "" : "/", name, (int)ql, q);
}

struct names {
	char **v;
	size_t n, alloc;
};

static void add_name(struct names *ns, const char *s, size_t len)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strlen(ns->v[i]) == len && !memcmp(ns->v[i], s, len))
			return;
	ns->v = xgrow(ns->v, &ns->alloc, ns->n + 1, sizeof(char *));
	ns->v[ns->n++] = xstrndup(s, len);
}

static void names_free(struct names *ns)
{
	free_strv(ns->v, ns->n);
}

#define INDEX_NAME "model.safetensors.index.json"

/*
 * The files of the model's own index, or no names when it has none; its
 * identity in *idx (its url set) from the GET that gave the names, so no
 * HEAD asks for it again. listed: the Hub's tree has it, so any answer
 * but a 200 fails (naming it, the status and the reason); else (names
 * probed) one that is no 200 means no index.
 */
static int from_index(CURL *c, const struct hs_opts *o, const char *base, struct names *ns, int listed,
		      struct source_file *idx, struct cs_err *err)
{
	char *url = join_url(base, INDEX_NAME);
	struct strbuf sb = STRBUF_INIT;
	struct hs_answer a;
	int rc = hsi_get_text(c, o, url, &sb, &a, err);
	char *shown = hs_redact(url);
	if (!rc && a.status != 200 && listed) {
		struct strbuf m = STRBUF_INIT;
		hsi_describe_text(&m, o, &a, &sb);
		rc = cs_fail(err, a.status == 401 || a.status == 403 ? EACCES : a.status == 404 ? ENOENT : EIO,
			     "'%s': %s", shown, m.buf);
		strbuf_release(&m);
	}
	if (!rc && a.status == 200) {
		json_error_t je;
		json_t *j = json_loadb(sb.buf, sb.len, 0, &je);
		json_t *wm = j ? json_object_get(j, "weight_map") : NULL;
		if (!json_is_object(wm) || !json_object_size(wm)) {
			rc = cs_fail(err, EINVAL, "'%s': not a model index (no \"weight_map\" object)", shown);
		} else {
			add_name(ns, INDEX_NAME, strlen(INDEX_NAME));
			*idx = (struct source_file){ xstrdup(INDEX_NAME), url, sb.len, a.etag[0] ? xstrdup(a.etag) : NULL,
						     a.mtime_ns, a.cksum[0] ? xstrdup(a.cksum) : NULL };
			url = NULL;
			const char *k;
			json_t *v;
			json_object_foreach(wm, k, v) {
				const char *f = json_string_value(v);
				if (!f || !hs_safe_rel(f)) {
					rc = cs_fail(err, EINVAL, "'%s': weight_map entry '%s' names '%s', not a file under the model",
						     shown, k, f ? f : "?");
					break;
				}
				add_name(ns, f, strlen(f));
			}
		}
		json_decref(j);
	}
	free(shown);
	free(url);
	strbuf_release(&sb);
	return rc;
}

/* Names in a directory listing: nginx's JSON autoindex, or HTML links. */
static void from_listing(const char *body, struct names *ns)
{
	json_t *j = json_loads(body, 0, NULL);
	if (json_is_array(j)) {
		size_t i;
		json_t *e;
		json_array_foreach(j, i, e) {
			const char *t = json_string_value(json_object_get(e, "type"));
			const char *name = json_string_value(json_object_get(e, "name"));
			if (name && t && !strcmp(t, "file") && hs_safe_rel(name))
				add_name(ns, name, strlen(name));
		}
		json_decref(j);
		return;
	}
	json_decref(j);
	for (const char *p = body; (p = strcasestr(p, "href=\""));) {
		p += 6;
		size_t n = strcspn(p, "\"");
		char *h = xstrndup(p, n);
		p += n;
		/* Plain relative file names only: no query, fragment, scheme,
		 * parent or sub-directory link. */
		if (*h && !strpbrk(h, "?#:%") && h[strlen(h) - 1] != '/' && hs_safe_rel(h) && !strchr(h, '/'))
			add_name(ns, h, strlen(h));
		free(h);
	}
}

static const char *const config_files[] = {
	"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
	"tokenizer.model", "vocab.json", "merges.txt", "preprocessor_config.json", "chat_template.jinja",
};

static const struct hub_file *in_tree(const struct hub_file *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].path, name))
			return &t[i];
	return NULL;
}

/*
 * A Hub resolve URL's names from its tree (hsi_hub_tree), none guessed:
 * the index and its shards, or model.safetensors, and the config files
 * the tree has; else every file at the top of its directory. 1 when base
 * is no Hub URL or its server has no such API (the names are probed).
 */
static int hub_names(CURL *c, const struct hs_opts *o, const char *base, struct names *ns, struct hub_file **t,
		     size_t *nt, struct source_file *idx, struct cs_err *err)
{
	if (!hsi_hub_url(base))
		return 1;
	int rc = hsi_hub_tree(c, o, base, t, nt, err);
	if (rc)
		return rc;
	if (in_tree(*t, *nt, INDEX_NAME))
		rc = from_index(c, o, base, ns, 1, idx, err);
	else if (in_tree(*t, *nt, "model.safetensors"))
		add_name(ns, "model.safetensors", strlen("model.safetensors"));
	for (size_t i = 0; !rc && ns->n && i < sizeof(config_files) / sizeof(*config_files); i++)
		if (in_tree(*t, *nt, config_files[i]))
			add_name(ns, config_files[i], strlen(config_files[i]));
	int none = !ns->n;
	for (size_t i = 0; !rc && none && i < *nt; i++)
		if (!strchr((*t)[i].path, '/'))
			add_name(ns, (*t)[i].path, strlen((*t)[i].path));
	if (!rc && !ns->n) {
		char *shown = hs_redact(base);
		rc = cs_fail(err, ENOENT, "no model at '%s': the Hub lists no file there", shown);
		free(shown);
	}
	return rc;
}

/* A HEAD's size against the Hub's tree, where it lists the file. */
static int tree_size(const struct hub_file *t, size_t nt, const char *name, const char *url, uint64_t size,
		     struct cs_err *err)
{
	const struct hub_file *h = in_tree(t, nt, name);
	if (!h || h->size == size)
		return 0;
	char *shown = hs_redact(url);
	int rc = cs_fail(err, EPROTO, "'%s': the Hub lists %llu bytes, its server answers %llu", shown,
			 (unsigned long long)h->size, (unsigned long long)size);
	free(shown);
	return rc;
}

int hs_list(const struct hs_opts *o, const char *base, char *const *names, size_t nnames, struct source_file **out,
	    size_t *n, struct cs_err *err)
{
	hsi_curl_init();
	*out = NULL;
	*n = 0;
	CURL *c = curl_easy_init();
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start libcurl");
	struct names ns = { 0 };
	struct hub_file *tree = NULL;   /* a Hub URL's: the names and sizes its API lists */
	size_t ntree = 0;
	struct source_file idx = { 0 };  /* the index, where its GET gave the names (and its identity) */
	int rc = 0, optional_from = -1;
	char *shown = hs_redact(base);
	char *dir = xstrdup(base);
	size_t bl = strcspn(base, "?#");
	if (bl > 5 && !strncasecmp(base + bl - 5, ".gguf", 5)) {
		/* One GGUF file, or every part of a split set from its part 1;
		 * dir keeps base's query. */
		char *path = xstrndup(base, bl);
		char *slash = strrchr(path, '/');
		char *name = xstrdup(slash ? slash + 1 : path);
		free(dir);
		dir = xasprintf("%.*s%s", (int)(slash ? slash + 1 - path : 0), path, base + bl);
		free(path);
		char *prefix;
		int no, count;
		if (gg_split_parse(name, &prefix, &no, &count) && no == 1) {
			for (int k = 1; k <= count; k++) {
				char *part = gg_split_path(prefix, k, count);
				add_name(&ns, part, strlen(part));
				free(part);
			}
			free(prefix);
		} else {
			add_name(&ns, name, strlen(name));
		}
		free(name);
	} else if (nnames) {
		for (size_t i = 0; i < nnames && !rc; i++)
			if (!hs_safe_rel(names[i]))
				rc = cs_fail(err, EINVAL, "--files '%s': not a file under the model", names[i]);
			else
				add_name(&ns, names[i], strlen(names[i]));
	} else if ((rc = hub_names(c, o, base, &ns, &tree, &ntree, &idx, err)) == 1) {
		rc = from_index(c, o, base, &ns, 0, &idx, err);
		if (!rc && !ns.n)
			add_name(&ns, "model.safetensors", strlen("model.safetensors"));
		optional_from = 0;   /* every name is a guess: keep what exists */
	}
	struct source_file *f = NULL;
	size_t nf = 0;
	for (size_t i = 0; !rc && i < ns.n + (optional_from >= 0 ? sizeof(config_files) / sizeof(*config_files) : 0); i++) {
		const char *name = i < ns.n ? ns.v[i] : config_files[i - ns.n];
		int dup = 0;
		for (size_t k = 0; k < nf; k++)
			dup |= !strcmp(f[k].name, name);
		if (dup)
			continue;
		if (idx.url && !strcmp(name, idx.name)) {
			if ((rc = tree_size(tree, ntree, name, idx.url, idx.size, err)))
				break;
			f = xrealloc(f, (nf + 1) * sizeof(*f));
			f[nf++] = idx;
			idx = (struct source_file){ 0 };
			continue;
		}
		char *url = join_url(dir, name);
		struct resp r;
		struct cs_err e;
		int hr = head(c, o, url, &r, &e);
		/* Guessed names (the single-file layout, config files) may be absent;
		 * named ones and the index's shards may not. */
		int guessed = optional_from >= 0 && (i >= ns.n || (ns.n == 1 && !strcmp(name, "model.safetensors")));
		if (hr && e.code == ENOENT && guessed) {
			free(url);
			continue;
		}
		if (hr || (rc = tree_size(tree, ntree, name, url, r.clen, &e))) {
			free(url);
			rc = cs_fail(err, e.code, "%s", e.msg);
			break;
		}
		f = xrealloc(f, (nf + 1) * sizeof(*f));
		f[nf++] = (struct source_file){ xstrdup(name), url, r.clen, r.etag[0] ? xstrdup(r.etag) : NULL, r.mtime_ns,
					     r.cksum[0] ? xstrdup(r.cksum) : NULL };
	}
	int weights = 0;
	for (size_t k = 0; k < nf; k++)
		weights |= !strstr(f[k].name, ".json") && !strstr(f[k].name, ".txt") && !strstr(f[k].name, ".jinja");
	if (!rc && !weights && optional_from >= 0) {
		/* No index and no model.safetensors: the server's listing. */
		struct strbuf sb = STRBUF_INIT;
		long status = 0;
		char *lurl = join_url(base, "");
		rc = get_text(c, o, lurl, &sb, &status, err);
		free(lurl);
		struct names ls = { 0 };
		if (!rc && status == 200)
			from_listing(sb.buf, &ls);
		strbuf_release(&sb);
		source_files_free(f, nf);
		f = NULL;
		nf = 0;
		for (size_t i = 0; !rc && i < ls.n; i++) {
			char *url = join_url(base, ls.v[i]);
			struct resp r;
			if (head(c, o, url, &r, err)) {
				free(url);
				rc = -1;
				break;
			}
			f = xrealloc(f, (nf + 1) * sizeof(*f));
			f[nf++] = (struct source_file){ xstrdup(ls.v[i]), url, r.clen, r.etag[0] ? xstrdup(r.etag) : NULL, r.mtime_ns,
					     r.cksum[0] ? xstrdup(r.cksum) : NULL };
		}
		names_free(&ls);
		if (!rc && !nf)
			rc = cs_fail(err, ENOENT, "no model at '%s': no model.safetensors.index.json, no model.safetensors and "
				     "no directory listing (name the files with --files)", shown);
	}
	if (rc) {
		source_files_free(f, nf);
	} else {
		*out = f;
		*n = nf;
	}
	names_free(&ns);
	free(idx.name);
	free(idx.url);
	free(idx.etag);
	free(idx.checksum);
	hsi_hub_files_free(tree, ntree);
	free(dir);
	free(shown);
	curl_easy_cleanup(c);
	return rc;
}

int hs_stat(const struct hs_opts *o, struct source_file *f, struct cs_err *err)
{
	hsi_curl_init();
	CURL *c = curl_easy_init();
	if (!c)
		return cs_fail(err, ENOMEM, "cannot start a transfer (curl_easy_init)");
	struct resp r;
	int rc = head(c, o, f->url, &r, err);
	curl_easy_cleanup(c);
	if (rc)
		return rc;
	char why[256] = "";
	if (r.clen != f->size)
		snprintf(why, sizeof(why), "its size is now %llu bytes, not %llu", (unsigned long long)r.clen,
			 (unsigned long long)f->size);
	if (why[0] || hsi_identity_differs(f, r.etag, r.mtime_ns, why, sizeof(why))) {
		char *shown = hs_redact(f->url);
		rc = cs_fail(err, ESTALE, "'%s' changed on the server (%s)", shown, why);
		free(shown);
		return rc;
	}
	if (r.cksum[0]) {
		free(f->checksum);
		f->checksum = xstrdup(r.cksum);
	}
	return 0;
}
