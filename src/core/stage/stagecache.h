#ifndef CS_STAGECACHE_H
#define CS_STAGECACHE_H
/*
 * stagecache: models staged from a (network) source onto local storage.
 *
 * Layout of a staging root:
 *   ROOT/NAME/                       a published model, complete and verified;
 *   ROOT/NAME/.coldstart-manifest.json   source, size, mtime (and XXH3) of
 *                                    every file; its mtime is the last use
 *   ROOT/.partial/NAME/              a copy in progress (or abandoned)
 *   ROOT/.partial/NAME.journal       chunks of that copy already on disk
 *   ROOT/.locks/NAME.stage           flock: held exclusively by the stager
 *   ROOT/.locks/NAME.use             flock: shared by servers using NAME,
 *                                    exclusive to replace or evict it
 *   ROOT/.locks/cache                flock: space planning (eviction, allocation)
 *   ROOT/.trash/                     removed models, deleted right away
 *
 * A model appears under ROOT/NAME by one rename (or an atomic exchange when
 * an older copy is replaced), after every file and directory was fsynced, so
 * ROOT/NAME is never incomplete. Locks live on the local side only.
 *
 * Hashes (--verify xxh3): each file is hashed in chunks of `chunk` bytes
 * (XXH3-64 each, in parallel); the file's digest is XXH3-64 over the chunk
 * hashes (cp_file_digest). Source bytes are hashed as they are read, the
 * destination's after fsync with its cache dropped.
 *
 * Nothing prints; `notice` receives one-line messages (waiting, resuming,
 * evicting). Not thread-safe, except sc_list, sc_published_ok and the
 * sc_serve_* functions (cache serve calls them from a thread per
 * connection): one call at a time per process; any number of processes
 * may work on one root at once.
 */
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/io/copy.h"
#include "core/base/util.h"

#define SC_MANIFEST ".coldstart-manifest.json"

enum sc_verify { SC_VERIFY_SIZE, SC_VERIFY_XXH3 };

typedef cs_msg_fn sc_notice_fn;

/*
 * Permission bits of a staged copy. Without --chmod, a file gets its
 * source's bits masked by the umask (as cp without -p, or rsync -a under
 * --no-perms, gives a new file: a private 0600 source stays private) -- a
 * URL source's 0644 masked -- and a directory its source directory's
 * (0755 for a URL), masked, plus its owner's rwx (the cache must be able
 * to replace and evict it). With --chmod (rsync's octal subset:
 * "D755,F644", "F640", "750" for both) those bits exactly, not masked;
 * directories still keep their owner's rwx. The manifest gets the copy's
 * directory bits less x.
 */
#define SC_CHMOD_FILES 1
#define SC_CHMOD_DIRS 2
struct sc_chmod {
	int set;                       /* SC_CHMOD_FILES | SC_CHMOD_DIRS: which are given */
	mode_t file, dir;
};
/* "D755,F644", "F600", "0750" (files and directories): 0, or -1 when it is
 * not a comma-separated list of [D|F]OCTAL with OCTAL at most 0777. */
int sc_chmod_parse(const char *spec, struct sc_chmod *c);
/* The process's umask, read without changing it (thread-safe). */
mode_t sc_umask(void);

/* Times a URL source's object may change under one stage (If-Match
 * refused) and be fetched again before the stage fails. */
#define SC_CHANGED_RETRIES 2

struct sc_opts {
	const char *root;
	const char *src;
	const char *name;
	int jobs;                      /* default 8; WP_JOBS_AUTO: found as the copy goes */
	uint64_t chunk;                /* default 16 MiB */
	enum sc_verify verify;
	char **include, **exclude;     /* globs on relative paths (or base names) */
	size_t ninclude, nexclude;
	uint64_t max_cache;            /* bytes, 0 = no cap */
	int direct;                    /* O_DIRECT writes (a URL source's default) */
	int buffered;                  /* a URL source's copy through the page cache instead */
	uint64_t bwlimit;              /* bytes/s, 0 = none */
	int follow_symlinks;           /* symlinks leaving SRC are refused otherwise */
	int replace;                   /* NAME may hold another source's copy: replace it */
	int keep_src_cache;            /* leave the source's pages cached */
	struct sc_chmod chmod;         /* --chmod; set 0: the source's bits, masked by the umask */
	int kind_dir;                  /* any directory (a compile cache), not a model: the model
					* checks (config or weights present, headers valid) are not made */
	uint64_t wait_timeout_ns;      /* for another stager; default 1 hour */
	/* A URL source (http:// or https://): */
	char **files;                  /* the model's files, relative (default: found; see httpsrc.h) */
	size_t nfiles;
	int insecure;                  /* no TLS verification */
	const char *cacert;            /* the CA bundle to verify TLS against (--cacert), over the
					* environment's ($AWS_CA_BUNDLE, $CURL_CA_BUNDLE, ...), or NULL */
	long stall_s;                  /* no byte for this long: retry the request (default 30) */
	int no_sign;                   /* s3://: requests unsigned, no credentials (--no-sign-request) */
	const char *bearer;            /* Authorization: Bearer TOKEN, never stored or shown */
	char **headers;                /* http(s): the user's "Name: value" request headers; with the
					* bearer, only to the source's own origin, never to a
					* redirect's host; never stored or shown */
	size_t nheaders;
	volatile sig_atomic_t *cancel;
	cp_progress_fn progress;
	void *progress_arg;
	sc_notice_fn notice;
	void *notice_arg;
};

struct sc_result {
	char *path;                    /* ROOT/NAME */
	int noop;                      /* already staged from this unchanged source */
	int waited;                    /* another process was staging it */
	int replaced;                  /* an older copy was swapped out */
	int repaired;                  /* ... because it was damaged (the source had not changed) */
	char *replaced_source;         /* ... because --replace gave NAME another source (that one) */
	size_t files;
	int jobs;                      /* copy concurrency used (--jobs auto: found), 0 when nothing was copied */
	uint64_t bytes;                /* model size */
	uint64_t copied;               /* bytes copied by this call */
	uint64_t resumed;              /* bytes found done from an earlier attempt */
	size_t linked;                 /* unchanged files taken from the replaced copy */
	double seconds, copy_s, verify_s;
	int kernel_copy;
	enum sc_verify verify;
	size_t store_checked;          /* files also checked against the store's own checksum */
	char store_alg[48];            /* ... their algorithms, "+" between two kinds ("MD5+SHA-256") */
	size_t nevicted;
	char **evicted;                /* names evicted to make room */
};

int sc_stage(const struct sc_opts *o, struct sc_result *r, struct cs_err *err);
void sc_result_release(struct sc_result *r);
/* The result, every field, as `stage --json` prints it (name: the staged
 * name); a new reference, the caller's. */
json_t *sc_result_json(const char *name, const struct sc_result *r);
/* What was done, as one or two lines to say (no prefix, no newline): the
 * copy or the no-op, then what was replaced or repaired, if anything. */
void sc_result_describe(const char *name, const struct sc_result *r, cs_msg_fn say, void *arg);

/* What a source is fetched from: "s3", "https" or "http" for a URL, NULL
 * for a path. */
const char *sc_remote_kind(const char *src);
/* The options of o that go with some sources only, against o->src's row:
 * --insecure and --cacert (a URL; not both), --files and --header (a row
 * that takes them), --buffered (a URL; not with --direct),
 * --no-sign-request (s3://). 0, or -1 with
 * EINVAL and err saying which (a usage error). */
int sc_check_source_opts(const struct sc_opts *o, struct cs_err *err);
/* The source as stage would see it -- listed (a URL: one LIST, or its
 * index and a HEAD per file), filtered, checked to be a model -- without
 * copying anything: its size and file count. The same errors as sc_stage's. */
/* A source as it may be shown: a URL without its user info and query
 * (where tokens go), a path as given. malloc'd. */
char *sc_source_shown(const char *src);
int sc_source_probe(const struct sc_opts *o, uint64_t *bytes, size_t *files, struct cs_err *err);

/* A NAME usable under a root: non-empty, no '/', not starting with '.'. */
int sc_valid_name(const char *name);
/* The name a model directory goes by: its real directory's name ("stage ."
 * names the directory, not "."), and for a Hugging Face cache snapshot
 * (.../models--ORG--NAME/snapshots/REV) the repository's, ORG--NAME.
 * A GGUF file: its name without ".gguf" or the split suffix. malloc'd.
 * Used for staged names and for the CSV's model column alike. */
char *sc_default_name(const char *src);
/* A glob fnmatch will read as written: every '[' closed, no trailing '\'. */
int sc_valid_glob(const char *glob);

struct sc_entry {
	char *name;
	char *source;
	int partial;                   /* a copy in progress or abandoned */
	int in_use;                    /* a server holds it (published only) */
	int staging;                   /* a stager holds it */
	char *problem;                 /* published: a failed verification's finding (corrupt), or what
					* damaged shows, or NULL */
	int damaged;                   /* published, not marked corrupt: a file is missing, or its size,
					* mtime or (--verify size) inode differ from the manifest */
	size_t changed;                /* published, xxh3: files whose inode changed since (size and
					* mtime as staged): only a verify of their bytes can tell */
	enum sc_verify verify;
	size_t files;
	uint64_t bytes;                /* published: model size; partial: total */
	uint64_t done;                 /* partial: bytes the journal says are done */
	int64_t staged_at, last_used;  /* unix seconds */
};

/* Published models (least recently used first), then partial copies. */
int sc_list(const char *root, struct sc_entry **out, size_t *n, struct cs_err *err);
void sc_entries_free(struct sc_entry *e, size_t n);
/* ls's word for an entry: partial, damaged, corrupt, changed or staged. */
const char *sc_entry_state(const struct sc_entry *e);

struct sc_verify_report {
	int ok;
	enum sc_verify how;
	size_t files;
	uint64_t bytes;
	char *problem;                 /* first problem found, NULL when ok */
	size_t damaged;                /* files found damaged */
	int marked;                    /* the verdict was recorded in the manifest */
};

/* Re-check a published model against its manifest (hashes when it has
 * them), every file. A failure marks the model corrupt in its manifest,
 * with the damaged files: `stage` then re-copies them (never answering
 * "already staged"), sc_use refuses it, sc_list shows it; a pass clears the
 * mark. */
int sc_verify_model(const char *root, const char *name, int jobs, volatile sig_atomic_t *cancel,
		    cp_progress_fn progress, void *arg, struct sc_verify_report *rep, struct cs_err *err);

/* Re-stage NAME from the source, filters, verification and chunk size its
 * manifest records, with base's other settings (root, jobs, ...): what is
 * damaged is copied again, the rest linked. */
int sc_repair(const struct sc_opts *base, const char *name, struct sc_result *r, struct cs_err *err);

/* Remove a published model (and its partial copy); fails with EBUSY when in
 * use or being staged, ENOENT when there is nothing of that name. */
int sc_remove(const char *root, const char *name, struct cs_err *err);

/* Remove abandoned partial copies and trash; with max_cache, evict least
 * recently used models not in use until the cache fits. */
int sc_gc(const char *root, uint64_t max_cache, sc_notice_fn notice, void *arg, uint64_t *freed,
	  struct cs_err *err);

/*
 * For a server about to run on model_path: when it is (or lies inside) a
 * published model of a staging root -- by any name: a file in it, a symlink
 * to it, a relative path, "." and ".." forms -- take the model's shared use
 * lock (so it is never evicted or replaced under the server) and mark it
 * used. Returns the lock's fd (keep it open for the server's life, then
 * sc_release), -1 when the path is no staged model, -2 with err set on
 * failure (EBADMSG: the model failed verification, or a file of it no
 * longer matches its manifest -- missing, another size or mtime -- and
 * must not be served).
 */
int sc_use(const char *model_path, struct cs_err *err);
/* sc_use for a server about to start on model_path: 0 with *fd the lock
 * (-1: no staged model, or the lock could not be taken -- said through
 * notice, and the server starts without it), or -1 with err when the
 * model must not be served (EBADMSG). */
int sc_use_checked(const char *model_path, sc_notice_fn notice, void *arg, int *fd, struct cs_err *err);
/* 1 when ROOT/NAME is a published model whose manifest does not mark it
 * corrupt (a partial copy is never ROOT/NAME), else 0. Reads that one
 * manifest; takes no lock, marks no use. */
int sc_published_ok(const char *root, const char *name);
void sc_release(int fd);

/*
 * For cache serve: a published model handed out exactly as its manifest
 * records it, checked at every request (the functions are thread-safe).
 * A file is served only while it is a regular file of the size and mtime
 * recorded and the inode and change time publishing left (a link count
 * that moved explains a change time that did); one that changed only in
 * its inode or change time is hashed against the manifest's xxh3 -- once
 * per state seen (the memo), the match recorded in the manifest -- and a
 * copy staged with --verify size has nothing to vouch for it. A file found
 * damaged marks the model corrupt (unless a stager holds it): nothing more
 * of it is served, `cache ls` shows it and `stage` repairs it. Errors:
 * ENOENT nothing to serve there (no such model, marked corrupt, not a file
 * of its manifest), EBADMSG damaged (err says what), others.
 */
struct sc_memo;
struct sc_memo *sc_memo_new(void);
void sc_memo_free(struct sc_memo *m);

struct sc_served_file {
	char *rel;
	uint64_t size;
};
/* NAME's files as its manifest lists them, each checked by stat. */
int sc_serve_list(const char *root, const char *name, struct sc_served_file **files, size_t *n, struct cs_err *err);
void sc_served_files_free(struct sc_served_file *files, size_t n);

struct sc_served {
	int fd;                        /* open on the file checked; the caller closes it */
	uint64_t size;
	int64_t mtime_ns;
};
/* NAME's file REL (a path of its manifest), open and checked. */
int sc_serve_open(struct sc_memo *memo, const char *root, const char *name, const char *rel, struct sc_served *out,
		  struct cs_err *err);

#endif
