/* stagecache: a partial copy checked before it is published -- against the
 * source's chunk hashes, and for a URL source against the store's own
 * checksums. */
#define _GNU_SOURCE
#include "stagecache_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/io/checksum.h"
#include "core/base/fsutil.h"
#include "core/base/banned.h"

/*
 * Check the partial copy: sizes, or (xxh3) every chunk read back from the
 * device against the source's hash. A file linked from the copy being
 * replaced that no longer matches the hash it was staged with is not an
 * error: its index goes into stale[] and the caller copies it again.
 */
int sci_verify_copy(const struct sc_opts *o, struct splan *p, const char *part, size_t *stale, size_t *nstale,
		    struct cs_err *err)
{
	*nstale = 0;
	if (o->verify == SC_VERIFY_SIZE) {
		for (size_t i = 0; i < p->n; i++) {
			char *dst = path_join(part, p->f[i].rel);
			struct stat sb;
			int bad = stat(dst, &sb) < 0 || (uint64_t)sb.st_size != p->f[i].size;
			int rc = bad ? cs_fail(err, EIO, "verification failed: '%s' is not %llu bytes", dst,
					       (unsigned long long)p->f[i].size)
				     : 0;
			free(dst);
			if (rc)
				return rc;
		}
		return 0;
	}
	const char **paths = xcalloc(p->n, sizeof(char *));
	uint64_t *expect = xcalloc(p->n, sizeof(uint64_t));
	uint64_t **hashes = xcalloc(p->n, sizeof(uint64_t *));
	for (size_t i = 0; i < p->n; i++) {
		paths[i] = path_join(part, p->f[i].rel);
		expect[i] = p->f[i].size;
		hashes[i] = xcalloc(p->f[i].nchunks ? p->f[i].nchunks : 1, sizeof(uint64_t));
	}
	int rc = cp_hash_files(paths, p->n, expect, NULL, hashes, p->chunk, o->jobs, 1, o->cancel, NULL, NULL, err);
	for (size_t i = 0; i < p->n && !rc; i++) {
		if (p->f[i].linked) {
			/* Hashed from the source when the copy it came from was staged. */
			memcpy(p->f[i].hash, hashes[i], p->f[i].nchunks * sizeof(uint64_t));
			if (!p->f[i].has_old_digest) {
				rc = cs_fail(err, EAGAIN, "internal: unhashed file kept for xxh3 verification");
			} else if (cp_file_digest(hashes[i], p->f[i].nchunks) != p->f[i].old_digest) {
				stale[(*nstale)++] = i;
				continue;
			}
		}
		for (uint64_t c = 0; c < p->f[i].nchunks && !rc; c++)
			if (hashes[i][c] != p->f[i].hash[c])
				rc = cs_fail(err, EIO,
					     "verification failed: '%s' differs from the source at bytes %llu-%llu",
					     paths[i], (unsigned long long)(c * p->chunk),
					     (unsigned long long)((c + 1) * p->chunk - 1));
		p->f[i].digest = cp_file_digest(p->f[i].hash, p->f[i].nchunks);
		p->f[i].has_digest = 1;
	}
	for (size_t i = 0; i < p->n; i++) {
		free((char *)paths[i]);
		free(hashes[i]);
	}
	free(paths);
	free(expect);
	free(hashes);
	return rc;
}

/* name into list ("MD5+SHA-256") unless it is there. */
static void add_alg(char *list, size_t size, const char *name)
{
	size_t n = strlen(name), len = strlen(list);
	for (const char *p = list; *p;) {
		const char *e = strchr(p, '+');
		size_t k = e ? (size_t)(e - p) : strlen(p);
		if (k == n && !strncmp(p, name, n))
			return;
		p += k + (e != NULL);
	}
	snprintf(list + len, size - len, "%s%s", len ? "+" : "", name);
}

/* A URL source checked by xxh3: each copy against the store's own
 * checksum of the object too, where it has one (the MD5 ETag of a one-part
 * S3 object, x-amz-checksum-*), so bytes that went wrong before they reached
 * this machine are caught. *checked: the files it could check. */
int sci_verify_store(const struct sc_opts *o, const struct splan *p, const char *part, struct sc_result *r,
		     struct cs_err *err)
{
	r->store_checked = 0;
	r->store_alg[0] = 0;
	if (!p->remote || o->verify != SC_VERIFY_XXH3)
		return 0;
	int rc = 0;
	for (size_t i = 0; i < p->n && !rc; i++) {
		const char *spec = p->remote[p->f[i].ri].checksum;
		if (!spec)
			continue;
		char *dst = path_join(part, p->f[i].rel);
		struct cs_err e;
		if (cks_check_file(dst, spec, o->cancel, &e))
			rc = e.code == EIO ? cs_fail(err, EIO, "verification failed: %s: the bytes received are not the "
						     "object's", e.msg)
					   : cs_fail(err, e.code, "%s", e.msg);
		else {
			r->store_checked++;
			add_alg(r->store_alg, sizeof(r->store_alg), cks_alg_name(spec));
		}
		free(dst);
	}
	return rc;
}

