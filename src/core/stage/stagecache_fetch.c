/* stagecache: the steps of a copy -- files taken over unchanged from the
 * copy being replaced, the missing chunks fetched through the source's row,
 * files recreated, the source checked unchanged. */
#define _GNU_SOURCE
#include "stagecache_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "core/base/workpool.h"
#include "core/base/banned.h"

/*
 * Re-staging a changed source: files whose size and mtime did not change
 * are hard-linked from the published copy (verified when it was staged)
 * instead of copied again. Their chunks count as done.
 */
size_t sci_link_unchanged(struct splan *p, const char *pub, const char *part, enum sc_verify v)
{
	struct manifest m;
	size_t linked = 0;
	if (sci_manifest_load(pub, &m) < 0)
		return 0;
	if (strcmp(m.source, p->src) || m.chunk != p->chunk) {
		sci_manifest_release(&m);
		return 0;
	}
	size_t i;
	json_t *f;
	json_array_foreach(m.files, i, f) {
		const char *rel = json_string_value(json_object_get(f, "path"));
		uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
		int64_t mt = json_integer_value(json_object_get(f, "mtime_ns"));
		const char *hx = json_string_value(json_object_get(f, "xxh3"));
		for (size_t k = 0; rel && k < p->n; k++) {
			struct sfile *sf = &p->f[k];
			if (strcmp(sf->rel, rel) || sf->size != size || sf->mtime_ns != mt ||
			    !sci_etag_matches(json_object_get(f, "etag"), sf))
				continue;
			if (!sci_identified(p, sf))
				break;   /* only its size: the published one may be another version */
			uint64_t digest = 0;
			int has_digest = hx && parse_hex64(hx, &digest) == 0;
			if (v == SC_VERIFY_XXH3 && !has_digest)
				break;   /* none, or not one sci_hex64 wrote: the file is copied again */
			char *from = path_join(pub, rel), *to = path_join(part, rel);
			char *dir = fs_parent_dir(to);
			/* Never a file that is damaged, or changed since: it is copied again. */
			if (sci_pub_file_check(pub, &m, f, NULL, NULL) == PF_INTACT && fs_mkdir_p(dir, 0755) == 0 &&
			    link(from, to) == 0) {
				sf->linked = 1;
				linked++;
				memset(sf->done, 1, sf->nchunks ? sf->nchunks : 1);
				if (has_digest) {
					sf->old_digest = digest;
					sf->has_old_digest = 1;
				}
			}
			free(dir);
			free(from);
			free(to);
			break;
		}
	}
	sci_manifest_release(&m);
	if (linked)   /* their link counts (and so change times) moved: ours */
		sci_pub_reidentify(pub, NULL);
	return linked;
}

/* Empty, preallocated destinations for files to copy (again). */
int sci_recreate(const struct splan *p, const char *part, const size_t *idx, size_t n, struct cs_err *err)
{
	for (size_t k = 0; k < n; k++) {
		const struct sfile *f = &p->f[idx[k]];
		char *dst = path_join(part, f->rel);
		unlink(dst);
		int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		int rc = fd < 0 || fs_preallocate(fd, f->size) || ftruncate(fd, (off_t)f->size) < 0
				 ? cs_fail_errno(err, errno, "cannot recreate '%s'", dst)
				 : 0;
		if (fd >= 0)
			close(fd);
		free(dst);
		if (rc)
			return rc;
	}
	return 0;
}

/* Copy the chunks not done yet; each one on disk goes into the journal. */
int sci_copy_missing(const struct sc_opts *o, struct splan *p, const char *part, const char *jpath,
		     struct sc_result *r, struct cs_err *err)
{
	struct jwriter jw = { open(jpath, O_WRONLY | O_APPEND | O_CLOEXEC), 0 };
	if (jw.fd < 0)
		return cs_fail_errno(err, errno, "cannot open journal '%s'", jpath);
	struct cp_file *cf = xcalloc(p->n, sizeof(*cf));
	char **dsts = xcalloc(p->n, sizeof(char *));
	for (size_t i = 0; i < p->n; i++) {
		dsts[i] = path_join(part, p->f[i].rel);
		/* A URL file known by its size alone: one request, one version. */
		cf[i] = (struct cp_file){ p->f[i].abs, dsts[i], 0, p->f[i].done, p->f[i].hash, !sci_identified(p, &p->f[i]) };
	}
	struct cp_opts co = {
		.jobs = o->jobs, .chunk = p->chunk, .direct = o->direct, .bwlimit = o->bwlimit,
		.evict_src = !o->keep_src_cache, .hash = o->verify == SC_VERIFY_XXH3, .cancel = o->cancel,
		.progress = o->progress, .progress_arg = o->progress_arg, .durable = sci_journal_record,
		.durable_arg = &jw,
	};
	/* A URL source: ranged reads through its row (S3's signed for the
	 * bucket's region, as the listing found it), the files in the plan's
	 * order. */
	const struct source_ops *row = p->source->ops;
	struct source_file *order = p->remote ? xcalloc(p->n, sizeof(*order)) : NULL;
	void *hr = NULL;
	if (order) {
		for (size_t i = 0; i < p->n; i++) {
			order[i] = p->remote[p->f[i].ri];
			cf[i].size = p->f[i].size;
		}
		if (co.jobs == WP_JOBS_AUTO)
			co.jobs = WP_JOBS_AUTO_REMOTE;
		hr = row->reader_new(p->source, order, p->n);
		/* O_DIRECT unless asked otherwise: the bytes arrive once into a small
		 * buffer and go to the device from there; a copy into the page cache
		 * (and its writeback) is what limits a fast store on a small node. */
		co.direct = !o->buffered;
		co.read = row->read;
		co.read_arg = hr;
	}
	if (co.jobs == WP_JOBS_AUTO && !order && fs_is_network(p->src))
		co.jobs = WP_JOBS_AUTO_NET;   /* an NFS, SMB, FUSE ... mount: several in flight from the start */
	struct cp_stats cs;
	uint64_t tc = now_ns();
	int rc = cp_copy(cf, p->n, &co, &cs, err);
	if (order)
		row->reader_free(hr);
	free(order);
	r->copy_s += (double)(now_ns() - tc) / 1e9;
	r->copied += cs.bytes;
	if (cs.jobs)
		r->jobs = cs.jobs;
	r->kernel_copy |= cs.kernel_copy;
	for (size_t i = 0; i < p->n && !rc; i++)
		if (cf[i].size != p->f[i].size)
			rc = cs_fail(err, EAGAIN, "'%s' changed size while it was being staged (%llu bytes, then %llu): "
				     "stage again", p->f[i].abs, (unsigned long long)p->f[i].size,
				     (unsigned long long)cf[i].size);
	free_strv(dsts, p->n);
	free(cf);
	close(jw.fd);
	return rc;
}

/* The source must not have changed under the copy. */
int sci_source_unchanged(const struct splan *p, struct cs_err *err)
{
	if (p->remote) {
		/* Every response was checked against the listing (httpsrc.h),
		 * but a server that changes an object while it sends it keeps
		 * the old version's headers on the new bytes: only asking again
		 * afterwards tells. ESTALE: the stage fetches that file again. */
		int checksums = p->source->o.checksums;
		p->source->o.checksums = 0;   /* the listing has them: not asked for again (no reader runs now) */
		for (size_t i = 0; i < p->nremote; i++) {
			struct source_file f = p->remote[i];
			f.checksum = NULL;
			int rc = p->source->ops->stat(p->source, &f, err);
			free(f.checksum);
			if (rc) {
				p->source->o.checksums = checksums;
				if (err->code == ESTALE) {
					char *m = xstrdup(err->msg);
					cs_fail(err, ESTALE, "%s after it was fetched", m);
					free(m);
				}
				return -1;
			}
		}
		p->source->o.checksums = checksums;
		return 0;
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct sfile *f = &p->f[i];
		struct source_file sf = { f->rel, f->abs, f->size, NULL, f->mtime_ns, NULL };
		struct cs_err e;
		if (p->source->ops->stat(p->source, &sf, &e))
			return cs_fail(err, EAGAIN, "'%s' changed while it was being staged; stage again", f->abs);
	}
	return 0;
}
