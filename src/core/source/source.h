#ifndef CS_SOURCE_H
#define CS_SOURCE_H
/*
 * source: the one table of where a model's bytes come from (as git's
 * refs-internal.h table of ref backends, or curl's vtls table). Each row,
 * a struct source_ops, says what a source string is and how to get its
 * files; the stage and the bench ask the table, never the string itself.
 *
 *   row     file            recognises                  flags
 *   s3      source_s3.c     "s3://" (any case)          remote
 *   http    source_http.c   "http://", "https://"       remote, headers, names
 *   local   source_local.c  anything else: a path       (none)
 *
 * The rows are asked in that order; the first whose recognise says yes
 * answers (source_for), and local, last, takes every string (NULL and ""
 * too), so source_for never answers NULL.
 *
 * A peer -- another node's `coldstart cache serve` -- is an HTTP source:
 * its URL (http://HOST:PORT/NAME/) names the model, its files come from
 * the model's index or the JSON autoindex it answers (the names in the
 * model's manifest), with the ETags and ranges the HTTP row checks. No
 * string tells it from any other HTTP server, so it is the http row's.
 *
 * Adding a source: one file defining `const struct source_ops source_NAME`
 * and one row, ROW(NAME), in SOURCE_ROWS (source.c).
 *
 * Strings: a source string may hold credentials (user:password@, a
 * signed query); only `shown`, `identity` and struct source's canon are
 * fit for messages, manifests and notes. Nothing here prints or exits.
 * A struct source is used by one thread; its reader (read) by any number.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/util.h"

/* One file of a source, as its listing found it, and what the manifest
 * records of it: its identity (size, mtime / ETag / Last-Modified). */
struct source_file {
	char *name;                 /* relative path under the source */
	char *url;                  /* where it is read: a URL (may hold credentials: never shown), or,
				     * for a local source, its path (symlinks resolved) */
	uint64_t size;
	char *etag;                 /* NULL when the server sends none (always, for a local file) */
	int64_t mtime_ns;           /* the mtime, or Last-Modified; 0 when absent */
	char *checksum;             /* the store's whole-object checksum (checksum.h), or NULL */
};
void source_files_free(struct source_file *f, size_t n);
/* The file has an identity beyond its size (an ETag or a Last-Modified):
 * versions of it can be told apart, so its ranges can be read apart and
 * a journal's chunks of it trusted. */
int source_file_identified(const struct source_file *f);

/* What a row can do, besides its operations. */
enum {
	/* Its files are read over the network, through the row's reader:
	 * ranged, each answer checked against the listing (a change is
	 * ESTALE), many in flight. Unset: they are paths copy reads itself
	 * (copy_file_range, O_DIRECT, the source's pages evicted). */
	SOURCE_REMOTE = 1 << 0,
	/* It sends the user's own headers (--header) and $HF_TOKEN. */
	SOURCE_HEADERS = 1 << 1,
	/* It takes the names of its files (--files) instead of finding them. */
	SOURCE_NAMES = 1 << 2,
};

/* How one source is reached and listed. Pointers are borrowed: they must
 * outlive the struct source opened with them. */
struct source_opts {
	int insecure;               /* no TLS verification */
	const char *cacert;         /* remote: the CA bundle (--cacert) over the environment's
				     * (httpsrc.h: hs_ca_pick), or NULL */
	const char *bearer;         /* SOURCE_HEADERS: Authorization: Bearer, or NULL */
	const char *const *headers; /* SOURCE_HEADERS: "Name: value" lines */
	size_t nheaders;
	long stall_s;               /* a request receiving nothing this long is retried; 0: 30 */
	volatile sig_atomic_t *cancel;
	char *const *names;         /* SOURCE_NAMES: the files (--files), else found */
	size_t nnames;
	int follow_symlinks;        /* local: symlinks may point outside the directory */
	const char *skip;           /* local: a name at the top the listing leaves out (the manifest) */
	int checksums;              /* each file's checksum from the store where it keeps one (S3: a HEAD each) */
	int no_sign;                /* S3: requests unsigned, no credentials looked for (--no-sign-request) */
	/* Asked once per file the source has, in listing order: 0 leaves it
	 * out of the listing (a filter, which records what it left out). NULL:
	 * every file. */
	int (*want)(void *arg, const char *name);
	void *want_arg;
	cs_msg_fn notice;           /* a notice (S3: signed for another region), or NULL */
	void *notice_arg;
};

/* One source in use, from source_open to source_close. */
struct source {
	const struct source_ops *ops;
	char *given;                /* the string as given (may hold credentials) */
	char *canon;                /* as the manifest records it: a local directory's real path, a URL
				     * without user info, query or fragment */
	struct source_opts o;
	void *priv;                 /* the row's state (S3: its settings and the bucket's region) */
};

struct source_ops {
	const char *name;           /* "local", "http", "s3" */
	unsigned flags;             /* SOURCE_* */
	/* 1 when the string names a source of this row. */
	int (*recognise)(const char *src);
	/* What notes and messages call it: NULL for a path, else "http",
	 * "https", "s3". */
	const char *(*kind)(const char *src);
	/* A printable name: credentials and a query removed. malloc'd. */
	char *(*shown)(const char *src);
	/* The staged name it gets by default (a URL's last component, a
	 * directory's name, a Hugging Face cache's repository), malloc'd. */
	char *(*default_name)(const char *src);
	/* What the manifest compares to tell a source from another: a URL
	 * redacted; a Hugging Face cache snapshot's repository, so that a new
	 * revision is the same source. malloc'd. */
	char *(*identity)(const char *src);
	/* s->given and s->o set: s->canon (and s->priv) filled. -1 with err
	 * (a path that is no directory, S3 settings that cannot be read). */
	int (*open)(struct source *s, struct cs_err *err);
	void (*close)(struct source *s);   /* s->priv released */
	/* The files under it, each with its identity (and its checksum, with
	 * o.checksums, where the store has one), those o.want refuses left
	 * out. *out (malloc'd, source_files_free) and *n, or -1 with err. */
	int (*list)(struct source *s, struct source_file **out, size_t *n, struct cs_err *err);
	/* f as it is now: ESTALE when its identity is no longer the listed
	 * one; with o.checksums, f->checksum from the store. -1 with err. */
	int (*stat)(struct source *s, struct source_file *f, struct cs_err *err);
	/* A reader of files[0..n) (borrowed: they outlive it, and s), for any
	 * number of threads at once. Never NULL. */
	void *(*reader_new)(struct source *s, const struct source_file *files, size_t n);
	/* Bytes [off, off+len) of files[file], handed to sink as they arrive
	 * (a retry starts again at pos 0). A cp_read_fn (copy.h). ESTALE: the
	 * file changed. */
	int (*read)(void *reader, size_t file, uint64_t off, size_t len, cs_sink_fn sink, void *sink_arg,
		    struct cs_err *err);
	void (*reader_free)(void *reader);
};

/* For rows: the files of a listing o.want refuses removed (freed), the
 * rest kept in order. */
void source_keep_wanted(const struct source *s, struct source_file *f, size_t *n);

/* The row for a source string (never NULL: a path is local's). */
const struct source_ops *source_for(const char *src);
/* src opened through its row, with o copied: *out, or -1 with err (and
 * *out NULL). */
int source_open(const char *src, const struct source_opts *o, struct source **out, struct cs_err *err);
void source_close(struct source *s);   /* NULL: nothing */

#endif
