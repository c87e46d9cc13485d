#ifndef CS_CHECKSUM_H
#define CS_CHECKSUM_H
/*
 * checksum: the whole-object checksums object stores publish, computed over
 * a file to check a staged copy against the store (stage --verify xxh3 of a
 * URL source), beside coldstart's own per-chunk xxh3.
 *
 *   "md5:HEX"        the ETag of an S3 object uploaded in one part
 *   "sha256:BASE64"  x-amz-checksum-sha256 (and sha1, crc32, crc32c) of a
 *                    FULL_OBJECT checksum; a composite one ("...-N", a
 *                    checksum of the parts' checksums) cannot be checked
 *                    against the file and is not taken
 *
 * MD5, SHA-1 and SHA-256 are OpenSSL's; the CRCs are computed here.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/util.h"

/* "md5:HEX" for an S3 ETag of one part (32 hex digits, quoted or not),
 * else NULL. malloc'd. */
char *cks_from_etag(const char *etag);
/* "ALG:VALUE" for a response header x-amz-checksum-ALG: VALUE that can be
 * checked (a known ALG, a full-object value), else NULL. malloc'd. */
char *cks_from_header(const char *name, const char *value);
/* The algorithm's name for messages ("MD5", "SHA-256", ...), "?" if unknown. */
const char *cks_alg_name(const char *spec);

/* The checksum of buf in spec's algorithm and encoding, into out (at least
 * 96 bytes). -1 for an unknown algorithm. */
struct cks_ctx;
struct cks_ctx *cks_new(const char *spec);
void cks_update(struct cks_ctx *c, const void *buf, size_t len);
/* Finishes and frees c; out: the value as spec writes it. */
void cks_final(struct cks_ctx *c, char *out, size_t outlen);

/* Whether the file at path has the checksum spec names: 0 when it does,
 * -1 with err (EIO: it differs, saying both values; else the read error). */
int cks_check_file(const char *path, const char *spec, volatile sig_atomic_t *cancel, struct cs_err *err);

#endif
