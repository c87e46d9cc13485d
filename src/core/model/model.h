#ifndef CS_MODEL_H
#define CS_MODEL_H
/*
 * model: a model as files and tensors, whichever format holds it -- a
 * safetensors directory (safetensors.h fills it) or a GGUF file or split
 * set (gguf_model.c fills it). Everything above the model folder reads a
 * model through struct st_model; only the shards carry the format's own
 * header (h for safetensors, g for GGUF, as format says).
 *
 * st_model_open chooses the format and calls the one filler; the fillers
 * never call each other, nor this file's opening functions: they share
 * only the tensor-name table below (model_names.c).
 *
 * Ownership: st_model_open / st_model_open_files / gg_model_open fill *m,
 * which then owns every string and array in it; st_model_release releases it
 * (harmless on an empty or failed model, and twice). On failure the model
 * is left empty. Nothing here prints. Not thread-safe per model; distinct
 * models are independent.
 */
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "safetensors.h"
#include "core/base/util.h"

struct st_shard {
	char *name;              /* file name inside the model directory */
	char *path;
	uint64_t file_size;
	struct st_header h;      /* safetensors */
	struct gg_file g;        /* GGUF */
};

enum st_format { ST_FORMAT_SAFETENSORS, ST_FORMAT_GGUF };

struct st_model {
	enum st_format format;
	char *dir;                /* the path opened (GGUF: may be the file) */
	char *entry;              /* GGUF: the file llama.cpp opens (part 1); else NULL */
	int has_index;
	uint64_t index_total_size;
	size_t nshards;
	struct st_shard *shards;  /* in name order */
	uint64_t ntensors, nparams, tensor_bytes, file_bytes;
	uint64_t params_by_dtype[ST_NDTYPES], bytes_by_dtype[ST_NDTYPES];
	uint64_t params_by_ggtype[GG_NTYPES], bytes_by_ggtype[GG_NTYPES];   /* GGUF */
	/* From config.json when present (NULL / -1 otherwise). */
	char *architecture, *model_type, *torch_dtype;
	int64_t num_layers, hidden_size, vocab_size;
	/* Every regular file of the directory tree (relative names), sorted. */
	size_t nfiles;
	char **files;
};

/*
 * Open and validate a model: a safetensors directory (the index, if any,
 * against the shards, every shard's header, config.json if present), or a
 * GGUF model (gg_model_open): a .gguf file, the first part of a split set,
 * or a directory holding one GGUF model and no safetensors. On failure m
 * is left empty (st_model_release is harmless).
 */
int st_model_open(const char *dir, struct st_model *m, struct cs_err *err);

/*
 * st_model_open for a safetensors model made of some of dir's files only:
 * files (n relative names) are all of the model's -- what stage would
 * publish after --include/--exclude. The index and config.json count only
 * when listed; a shard the index names that is not listed is refused
 * (ENOENT), naming it.
 */
int st_model_open_files(const char *dir, char *const *files, size_t n, struct st_model *m, struct cs_err *err);

/*
 * The GGUF half of st_model_open. A file is one model, or part 1 of a
 * split set whose other parts are opened beside it (each part's split.no
 * and split.count checked, the tensors counted against
 * split.tensors.count, no tensor name in two parts). A directory must hold exactly one such model at
 * its top level. shards are the parts in order; files their names
 * relative to the directory the model lies in (a directory model: every
 * file of its tree). architecture and model_type are general.architecture.
 * Returns 1 (m empty) when path is a directory with no GGUF file.
 */
int gg_model_open(const char *path, struct st_model *m, struct cs_err *err);
void st_model_release(struct st_model *m);

/*
 * The GGUF filler behind gg_model_open (gguf_model.c): same contract and
 * returns, but on failure m keeps what was read (gg_model_open frees it).
 * The safetensors filler is st_model_fill (safetensors.h).
 */
int gg_model_fill(const char *path, struct st_model *m, struct cs_err *err);

/*
 * The byte ranges of the model's shards in the order its engine reads
 * them, for a prefetch that should stay just ahead of the engine:
 *  - safetensors: the shards in natural name order (digit runs compared as
 *    numbers), whatever order the index lists them in: vLLM sorts the
 *    files it finds with a natural sort key, transformers sorts the
 *    index's distinct file names, and the two agree on Hugging Face's
 *    zero-padded names; in each shard its header, then its tensors in
 *    data-offset order. (The engines take a shard's tensors in name order,
 *    safe_open's keys(); safetensors' own writer lays the data out by dtype,
 *    then name, so within one dtype that is the offset order too.)
 *  - GGUF: the parts in split order; in each, its header (up to the data
 *    section), then its tensors by offset, as llama.cpp's loader walks
 *    them in the order the converter wrote them.
 * One range per header and per tensor (no empty ones), shard an index
 * into m->shards, off and len in bytes of that file. Returns a malloc'd
 * array of *n (NULL when none); the caller frees it.
 */
struct st_range {
	size_t shard;
	uint64_t off, len;
};
struct st_range *st_model_read_order(const struct st_model *m, size_t *n);
/* strcmp, but a run of digits against a run of digits by value
 * ("model-2" before "model-10"): vLLM's natural sort key. */
int st_natural_cmp(const char *a, const char *b);

/*
 * The tensor-name table both fillers check a model against: every tensor
 * of every shard (from h or g, as m->format says) with the shard it is in,
 * sorted by name and then shard. A name in two shards is refused by both
 * formats: loaders keep one of the two, and which one differs.
 */
struct st_name_ref {
	const char *name;        /* borrowed from the shard's header */
	size_t shard;
	int seen;                /* free for the caller's bookkeeping (0) */
};

/* The table (*n entries; malloc'd, never NULL: the caller frees it). */
struct st_name_ref *st_model_names(const struct st_model *m, size_t *n);
/* The first i with names[i - 1] and names[i] the same name, or 0. */
size_t st_names_dup(const struct st_name_ref *names, size_t n);
/* bsearch's order for the table: by name. */
int st_name_ref_cmp(const void *a, const void *b);

#endif
