#ifndef CS_CACHES_H
#define CS_CACHES_H
/*
 * caches: the compile and kernel caches a server keeps -- vLLM's
 * torch.compile artifacts, PyTorch inductor's, Triton's kernels, CUDA's
 * JIT cache -- as a dimension of a measured start.
 *
 * A cache set is a directory ROOT with one subdirectory per variable the
 * server reads its cache location from (ROOT/VLLM_CACHE_ROOT,
 * ROOT/TORCHINDUCTOR_CACHE_DIR, ...). The server is started with
 * VAR=ROOT/VAR for each declared variable (the rest of the environment as
 * it is), and {cache} in its template is ROOT. Nothing else is touched:
 * the user's own ~/.cache is neither read nor written by coldstart, and a
 * server that honours the variables does not reach it either.
 *
 * Under the cache directory DIR (default coldstart-caches/ next to the CSV):
 *   cold    DIR/cold-XXXXXX, created empty for one run, removed after it;
 *   warm    DIR/warm-NAME, kept between runs; before its first measured run
 *           one unmeasured priming start fills it, unless its marker
 *           (DIR/warm-NAME/.coldstart-primed) names this server and model;
 *   staged  staged from SRC -- a cache set on network storage, or a URL --
 *           with stage's guarantees (stagecache, --kind dir) into the stage
 *           root DIR/staged under a fresh name, timed, removed after the run.
 * A set in use is locked (cold: flock on its directory; staged: stage's
 * use lock), so sets left by a killed coldstart are told from live ones
 * -- by other processes and in other PID namespaces (containers sharing
 * the directory) alike -- and removed at the next start.
 * Before a measured run the set's files are evicted with the model's (they
 * come from storage too); a cold set is verified empty at launch.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/strbuf.h"
#include "core/base/util.h"

enum cc_state { CC_NONE, CC_COLD, CC_WARM, CC_STAGED };

#define CC_MAX_STATES 3
#define CC_ENV_DEFAULT "VLLM_CACHE_ROOT,TORCHINDUCTOR_CACHE_DIR,TRITON_CACHE_DIR,CUDA_CACHE_PATH"
#define CC_PRIMED_MARKER ".coldstart-primed"

struct cc_opts {
	const char *env;              /* comma list of variables; NULL: CC_ENV_DEFAULT */
	const char *dir;              /* the cache directory; NULL: set by the caller first */
	const char *src;              /* staged: the cache set's source (path or URL) */
	const char *bearer;           /* staged from HTTP(S): a token, never shown */
	int insecure;
	int no_sign;                  /* an s3:// src: unsigned requests */
	const char *cacert;           /* a URL: the CA bundle (--cacert), or NULL: the environment's */
	int stage_jobs;
	volatile sig_atomic_t *cancel;
	cs_msg_fn notice;
	void *cb_arg;
};

const char *cc_state_name(enum cc_state s);
/* "cold,warm,staged" -> states, each once, in the order given. EINVAL. */
int cc_parse_states(const char *list, enum cc_state *out, size_t *n, struct cs_err *err);
/* The variables: each a valid name (letters, digits, '_', not a digit
 * first), none twice, at least one. EINVAL naming the bad one. */
int cc_check_env(const char *list, struct cs_err *err);
/* What the states need, before anything runs: staged needs a source that
 * exists (a path: a directory holding at least one of the variables'
 * subdirectories). EINVAL / ENOENT. */
int cc_check(const struct cc_opts *o, const enum cc_state *states, size_t n, struct cs_err *err);
/* The cache directory when none is given: coldstart-caches/ next to the
 * CSV (csv NULL: the current directory). Malloc'd. */
char *cc_default_dir(const char *csv);

/* A local directory laid out as a cache set: a subdirectory named after
 * one of the variables of env (NULL: the defaults). Never true of a model. */
int cc_is_cache_set(const char *path, const char *env);

struct cc_set {
	enum cc_state state;
	char *root;                   /* ROOT */
	char **envp;                  /* the server's environment */
	size_t files;                 /* at launch */
	uint64_t bytes;
	double copy_s;                /* staged: the copy; -1 otherwise */
	char *stage_root, *stage_name;/* staged: where the copy is, removed by cc_set_close */
	int remove_root;              /* cold: removed by cc_set_close */
	char *hold;                   /* staged: DIR/hold-X, locked while used (the copy is caches-X) */
	int lock_fd;                  /* held while the set is used (cold: its root; staged: hold); -1 */
};

/* The set for one run of state st; name names a warm set (warm-NAME: the
 * model and the mode, as the caller chooses). Creates DIR if need be (one
 * level). */
int cc_set_open(const struct cc_opts *o, enum cc_state st, const char *name, struct cc_set *s, struct cs_err *err);
/* files and bytes re-counted (coldstart's own files not counted): after a
 * priming start changed the set. cc_set_open counts them once. */
void cc_set_measure(struct cc_set *s);
/* Does the warm set's marker name this key (server template and model)? */
int cc_primed(const struct cc_set *s, const char *key);
int cc_mark_primed(const struct cc_set *s, const char *key, struct cs_err *err);
/* caches=STATE; cache_files; cache_bytes; cache_bytes_after (measured now);
 * cache_copy_s for staged. */
void cc_set_notes(const struct cc_set *s, struct strbuf *notes);
/* Removes what the set owns (a cold set, a staged copy); the warm set stays. */
void cc_set_close(struct cc_set *s, const struct cc_opts *o);
/* Cold sets and staged copies that no process holds (left by a coldstart
 * that was killed), under DIR. */
void cc_remove_stale(const struct cc_opts *o);
/* A new private (0700) directory PARENT/PREFIX-PID-XXXXXXXX, created and
 * locked as one step (fs_temp_create: *lock_fd holds flock on it, kept
 * open while it is used; a concurrent cc_remove_unlocked never takes it);
 * malloc'd path, or NULL with err. */
char *cc_private_dir(const char *parent, const char *prefix, int *lock_fd, struct cs_err *err);
/* PARENT/PREFIX-* that nobody holds locked: removed. */
void cc_remove_unlocked(const char *parent, const char *prefix, cs_msg_fn notice, void *arg);
/* ROOT/VAR for each variable of env, created (0700). */
int cc_make_dirs(const char *env, const char *root, struct cs_err *err);
/* A private, writable copy of a cache set, so that what a server adds
 * never changes the staged set others use: every regular file under src
 * into dst (created if need be, empty; directories 0700), each file with
 * its bits masked by the umask (as stage gives them), through
 * copy_file_range (a reflink where the file system shares blocks). */
int cc_copy_tree(const char *src, const char *dst, uint64_t *bytes, size_t *files, struct cs_err *err);
/* The environment with VAR=ROOT/VAR for each variable (malloc'd, NULL-ended). */
char **cc_envp(const char *env, const char *root);
void cc_envp_free(char **envp);

/*
 * exec --stage-cache: a cache set staged into a node's cache like a model
 * (sc_stage with kind_dir, once per node), held there by its use lock, and
 * a private copy of it for one server under ROOT/.work (flock held while
 * used, removed by cc_private_close; copies nobody holds -- left by an
 * exec that was killed -- are removed first), so that what the server adds
 * never changes the set other servers share.
 */
struct cc_private {
	char *staged;                 /* ROOT/NAME, the staged set */
	char *work;                   /* ROOT/.work/NAME-PID-XXXXXXXX, the server's copy (absolute) */
	char **envp;                  /* the server's environment: VAR=WORK/VAR for each variable */
	int use_fd, lock_fd;          /* the staged set's use lock; the copy's flock; -1 */
	double stage_s, copy_s;
	int copied;                   /* staged by this call (0: it was already) */
	size_t files;                 /* in the copy */
	uint64_t bytes;
};

struct sc_opts;

#define CC_PRIVATE_INIT { .use_fd = -1, .lock_fd = -1 }

/* Stage so->src into so->root as so->name (NULL: SRC's name, with
 * "-caches" unless it ends so; kind_dir is set here) and make the
 * server's copy with env's variables (NULL: the defaults). 0, or -1 with
 * err (ECANCELED: so->cancel was set while staging; EBADMSG: the staged
 * set must not be used). warn gets what goes wrong without failing (the
 * use lock not taken). x starts as CC_PRIVATE_INIT; after a failure too,
 * cc_private_close releases what was taken. */
/* What cc_private_open needs, before anything runs: as cc_check for a
 * staged set from src (EINVAL: env or src refused; ENOENT). */
int cc_private_check(const char *src, const char *env, struct cs_err *err);
int cc_private_open(const struct sc_opts *so, const char *env, struct cc_private *x, cs_msg_fn warn, void *arg,
		    struct cs_err *err);
/* The copy removed (warn: when it cannot be), the locks released. */
void cc_private_close(struct cc_private *x, cs_msg_fn warn, void *arg);

#endif
