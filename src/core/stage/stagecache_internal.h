#ifndef CS_STAGECACHE_INTERNAL_H
#define CS_STAGECACHE_INTERNAL_H
/*
 * What the parts of stagecache share (as git's refs-internal.h): the plan of
 * a copy, the manifest and journal records, the cache's contents, and the
 * helpers one part calls in another. Not for use outside stagecache_*.c.
 *
 *   stagecache_lock.c      locks, the root's layout, notices
 *   stagecache_scan.c      the source: files, identity, names, globs
 *   stagecache_manifest.c  manifest and journal formats
 *   stagecache_evict.c     the cache's contents, LRU eviction, room
 *   stagecache_stage.c     sc_stage in its phases, publishing
 *   stagecache_fetch.c     the steps of one copy: link, fetch, recreate, check the source
 *   stagecache_verify.c    the partial copy checked: chunk hashes, the store's checksums
 *   stagecache_ops.c       ls, verify, repair, rm, gc, use
 *   stagecache_serve.c     what cache serve may hand out: checked files, the memo
 *   stagecache_perm.c      the permission bits of a staged copy
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/source/source.h"
#include "stagecache.h"

#define RESERVE_BYTES (64ull << 20)  /* left free on the root after staging */
#define JOURNAL_MAGIC "coldstart-journal 1"

struct sfile {
	char *rel;       /* path relative to SRC */
	char *abs;       /* where to read it (symlinks resolved); a URL source: the URL, redacted */
	char *etag;      /* a URL source: the server's ETag, or NULL */
	size_t ri;       /* a URL source: its entry in splan.remote */
	uint64_t size;
	int64_t mtime_ns;
	uint64_t *hash;  /* per chunk, xxh3 mode */
	unsigned char *done;
	uint64_t nchunks;
	uint64_t digest;
	int has_digest;
	int linked;      /* taken from the copy it replaces (unchanged file) */
	uint64_t old_digest;
	int has_old_digest;
};

struct splan {
	char *src;       /* realpath of SRC; a URL source: its URL, redacted (source.canon) */
	struct source *source;   /* SRC opened through its row of the source table */
	struct source_file *remote;  /* a URL source (SOURCE_REMOTE): the files as listed (sfile.ri), else NULL */
	size_t nremote;
	char *filters;   /* canonical include/exclude list */
	struct sfile *f;
	size_t n, alloc;
	uint64_t total;
	uint64_t chunk;
	int kind_dir;    /* a directory, not a model: no model checks (sc_opts.kind_dir) */
	char **dropped;  /* the source's files --include/--exclude left out, sorted */
	size_t ndropped, adropped;
};

struct manifest {
	json_t *j;
	const char *source, *filters;
	enum sc_verify verify;
	uint64_t bytes, chunk;
	int64_t staged_at, last_used, last_used_ns;
	json_t *files;
	const char *corrupt;           /* a failed verification's problem, or NULL */
	json_t *corrupt_files;         /* the relative paths it found damaged */
};

enum pub_state {
	PUB_MATCH,     /* from this very source state, intact: nothing to do */
	PUB_CHANGED,   /* the source (or the verification asked for) changed */
	PUB_DAMAGED,   /* the source did not change, but the copy did */
};

struct jwriter {
	int fd;
	int failed;
};

/* A published model, as the cache's scan sees it. */
struct pubent {
	char *name;
	uint64_t bytes;
	int64_t last_used;
	struct manifest m;
};

/* What a partial copy's journal says: its header (NULL without one; the
 * caller drops it), the bytes the copy will hold, and the bytes its
 * well-formed chunk records put on disk. */
struct jsum {
	json_t *hdr;
	uint64_t total, done;
};

/* stagecache_lock.c */
char *sci_sub(const char *root, const char *a, const char *b);          /* ROOT/a b */
#define sci_notify(o, ...) cs_say((o)->notice, (o)->notice_arg, __VA_ARGS__)
/* flock with a bound: 0 taken, 1 it had to wait, -1 error (ETIMEDOUT, ECANCELED). */
int sci_lock_wait(int fd, int op, uint64_t timeout_ns, volatile sig_atomic_t *cancel, void (*first)(void *),
		  void *arg);
long sci_lock_holder(int fd);            /* the pid a stage lock file names, 0 */
void sci_lock_claim(int fd);             /* write our pid into it */
/* ROOT/.locks/NAME.KIND, checked to still name the inode locked; timeout 0:
 * one try (EWOULDBLOCK). The fd, or -1 with errno. */
int sci_lock_take(const char *root, const char *name, const char *kind, int op, uint64_t timeout_ns,
		  volatile sig_atomic_t *cancel, void (*first)(void *), void *arg, int *waited);
void sci_lock_files_remove(const char *root, const char *name); /* held exclusively by the caller */
int sci_is_busy(const char *root, const char *name, const char *kind);
int sci_root_prepare(const char *root, struct cs_err *err);

/* stagecache_scan.c */
void sci_plan_release(struct splan *p);
int sci_has_suffix(const char *s, const char *suf);
int sci_scan_source(const struct sc_opts *o, struct splan *p, struct cs_err *err);
/* The plan's files in dir (SRC, or a URL source's copy) validate as a
 * model: each GGUF model, the safetensors index and headers (of the plan's
 * files only); messages name the source as shown. */
int sci_check_model(const char *dir, const struct splan *p, const char *shown, struct cs_err *err);
/* What --include/--exclude kept (p->f) of the source (p->f + p->dropped)
 * is still a model: weights, config.json where the source has one and
 * safetensors or .bin weights are kept, every file an index kept maps
 * tensors to (the index read from index_dir; NULL: not read, as for a URL
 * before its copy), no index left out whose files are kept, every part of
 * a PREFIX-0000K-of-0000N set. The message names the file left out and the
 * pattern that left it out. 0 without filters. */
int sci_check_filtered(const struct sc_opts *o, const struct splan *p, const char *index_dir, const char *shown,
		       struct cs_err *err);
int sci_same_source(const char *a, const char *b);
int sci_check_paths(const struct sc_opts *o, const char *src, struct cs_err *err);

/* A file whose versions can be told apart: a local one, or a URL one
 * with an ETag or a Last-Modified (source_file_identified). Chunks of one
 * without are never taken from a journal, nor the file from the copy it
 * replaces, nor is a published copy of it ever "unchanged". */
int sci_identified(const struct splan *p, const struct sfile *f);

/* stagecache_manifest.c */
/* A manifest or journal file entry carries this file's ETag (both absent,
 * or equal). */
int sci_etag_matches(json_t *entry_etag, const struct sfile *f);
char *sci_hex64(uint64_t v);
int sci_write_manifest(const char *dir, const char *name, const struct splan *p, enum sc_verify v,
		       struct cs_err *err);
int sci_manifest_load(const char *dir, struct manifest *m);   /* 0, or -1: none or unreadable */
void sci_manifest_release(struct manifest *m);
/* A published file against its manifest entry f (sb: its stat, or NULL to
 * stat it): PF_DAMAGED -- missing, not a regular file, another size or
 * mtime, marked by a verify, or (a copy staged with --verify size) its
 * inode or change time moved; PF_CHANGED -- size and mtime as staged but
 * its inode or change time moved, and the manifest has its xxh3: only its
 * bytes can tell; else PF_INTACT. A change time that moved with the link
 * count is a link or unlink (a stage taking the file over, a partial copy
 * that shared it dropped): intact. *why (malloc'd, NULL when intact) says
 * what, when why is given. */
enum pub_file { PF_INTACT, PF_CHANGED, PF_DAMAGED };
enum pub_file sci_pub_file_check(const char *pub, const struct manifest *m, json_t *f, const struct stat *sb,
				 char **why);
/* Every file: the worst state, *why the first file in it, *nchanged the
 * files PF_CHANGED. */
enum pub_file sci_pub_check(const char *pub, const struct manifest *m, char **why, size_t *nchanged);
/* Record pub's files' identity anew where only their link count explains
 * the change -- or, with rel, that one file's, whose bytes the caller just
 * found to match its hash; SCI_EVERY: every file of the size, mtime and
 * inode recorded (the caller just changed their modes, having found them
 * intact). The manifest keeps its mtime. Under the stage lock. 0, or -1. */
#define SCI_EVERY ((const char *)1)
int sci_pub_reidentify(const char *pub, const char *rel);
/* m->j written back as dir's manifest, its mtime (the last use) and mode
 * kept. */
int sci_manifest_rewrite(const char *dir, const struct manifest *m, struct cs_err *err);
enum pub_state sci_pub_state(const char *pub, const struct manifest *m, const struct splan *p, enum sc_verify v);
void sci_touch(const char *dir);         /* mark used: the manifest's mtime */
char *sci_journal_header(const struct splan *p, enum sc_verify v);
/* Mark the chunks the journal records: 0 when it belongs to this source
 * and settings (-1: another, or unreadable). Chunks of a file whose state
 * (size, mtime, ETag) the journal recorded differently are not taken; such
 * files and files it lacks are counted in *changed, and then the journal
 * must be rewritten (sci_journal_rewrite) before chunks are added. */
int sci_journal_load(const char *path, const struct splan *p, enum sc_verify v, uint64_t *resumed, size_t *changed);
/* The journal anew: this plan's header and the chunks marked done. */
int sci_journal_rewrite(const char *path, const struct splan *p, enum sc_verify v, struct cs_err *err);
void sci_journal_record(size_t file, uint64_t chunk, uint64_t hash, void *arg); /* a cp_durable_fn */
json_t *sci_journal_header_load(const char *root, const char *name, FILE **fp);
void sci_journal_summary(const char *root, const char *name, struct jsum *js);
uint64_t sci_partial_total(const char *root, const char *name);

/* stagecache_ops.c */
/* Record a verdict in NAME's manifest -- problem and the damaged files
 * (bad), or none -- keeping its mtime, and record anew the identity of the
 * files in refresh (their bytes were found to hash as staged). Only if
 * ROOT/NAME is still the copy checked (verified_ino), under the stage lock
 * (waited for up to lock_timeout_ns; 0: one try). 0, or -1. */
int sci_mark_verdict(const char *root, const char *name, ino_t verified_ino, const char *problem, json_t *bad,
		     json_t *refresh, uint64_t lock_timeout_ns);

/* stagecache_fetch.c */
/* Re-staging a changed source: files whose size and mtime (and ETag) did
 * not change are hard-linked from the published copy pub (verified when
 * it was staged) into part instead of copied again; their chunks count as
 * done. How many. */
size_t sci_link_unchanged(struct splan *p, const char *pub, const char *part, enum sc_verify v);
/* Copy the chunks not done yet into part (through the source's reader
 * for a URL source); each one on disk goes into the journal at jpath.
 * Times and counts added to r. */
int sci_copy_missing(const struct sc_opts *o, struct splan *p, const char *part, const char *jpath,
		     struct sc_result *r, struct cs_err *err);
/* Empty, preallocated destinations in part for files idx[0..n) to copy
 * (again). */
int sci_recreate(const struct splan *p, const char *part, const size_t *idx, size_t n, struct cs_err *err);
/* A local source's files are as listed (size, mtime): else EAGAIN. A URL
 * source's every response was checked already: 0. */
int sci_source_unchanged(const struct splan *p, struct cs_err *err);

/* stagecache_verify.c */
/* The partial copy: sizes, or (xxh3) every chunk read back from the device
 * against the source's hash; files linked from a copy being replaced that
 * no longer match go into stale[] (copy them again), not an error. */
int sci_verify_copy(const struct sc_opts *o, struct splan *p, const char *part, size_t *stale, size_t *nstale,
		    struct cs_err *err);
/* A URL source under xxh3: each file against the store's own checksum
 * where it has one (r->store_checked, r->store_alg). EIO when one differs. */
int sci_verify_store(const struct sc_opts *o, const struct splan *p, const char *part, struct sc_result *r,
		     struct cs_err *err);

/* stagecache_perm.c */
/* The bits file i, or the directory rel ("": the copy itself), gets. */
mode_t sci_file_mode(const struct sc_opts *o, const struct splan *p, size_t i, mode_t um);
mode_t sci_dir_mode(const struct sc_opts *o, const struct splan *p, const char *rel, mode_t um);
/* dir, a copy of the plan: how many of its files, directories and manifest
 * have other bits than they should; with fix, they get them (deepest
 * first). -1 with err on failure. */
int sci_apply_modes(const struct sc_opts *o, const struct splan *p, const char *dir, int fix, struct cs_err *err);

/* stagecache_evict.c */
void sci_published(const char *root, struct pubent **out, size_t *n); /* least recently used first */
void sci_pubents_free(struct pubent *p, size_t n);
/* 1 removed, 0 busy (in use or being staged), -1 error. */
int sci_evict_one(const char *root, const char *name, int with_partial, struct cs_err *err);
/* The eviction dry run, as arithmetic: models least recently used first
 * (bytes[i], busy[i] -- in use, being staged, or the one staged now), the
 * cache's use, free bytes, what the plan needs (reserve included) and the
 * cap (0: none). 1 when evicting the non-busy ones in order, as far as
 * needed, makes the plan fit; *busy_bytes: what busy ones hold on the way. */
int sci_evict_enough(const uint64_t *bytes, const int *busy, size_t n, uint64_t used, uint64_t free_b,
		     uint64_t need, uint64_t cap, uint64_t *busy_bytes);
/* Under the cache lock: room for the plan, then every file preallocated. */
int sci_make_room(const struct sc_opts *o, const struct splan *p, const char *part, struct sc_result *r,
		  struct cs_err *err);

#endif
