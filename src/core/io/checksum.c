/* checksum: object stores' whole-object checksums over a file (see checksum.h). */
#define _GNU_SOURCE
#include "checksum.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/base/banned.h"

enum alg { A_MD5, A_SHA1, A_SHA256, A_CRC32, A_CRC32C };

static const struct {
	const char *key, *name;
	enum alg a;
} algs[] = {
	{ "md5", "MD5", A_MD5 },	  { "sha1", "SHA-1", A_SHA1 },	   { "sha256", "SHA-256", A_SHA256 },
	{ "crc32", "CRC32", A_CRC32 }, { "crc32c", "CRC32C", A_CRC32C },
};

static int find_alg(const char *spec, size_t len)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(*algs); i++)
		if (strlen(algs[i].key) == len && !strncasecmp(spec, algs[i].key, len))
			return (int)i;
	return -1;
}

char *cks_from_etag(const char *etag)
{
	if (!etag)
		return NULL;
	size_t n = strlen(etag);
	if (n == 34 && etag[0] == '"' && etag[33] == '"') {
		etag++;
		n = 32;
	}
	if (n != 32)
		return NULL;
	char hex[33];
	for (size_t i = 0; i < 32; i++) {
		if (!isxdigit((unsigned char)etag[i]))
			return NULL;
		hex[i] = (char)tolower((unsigned char)etag[i]);
	}
	hex[32] = 0;
	return xasprintf("md5:%s", hex);
}

char *cks_from_header(const char *name, const char *value)
{
	static const char pre[] = "x-amz-checksum-";
	if (strncasecmp(name, pre, sizeof(pre) - 1) || !value)
		return NULL;
	const char *a = name + sizeof(pre) - 1;
	int k = find_alg(a, strlen(a));
	if (k < 0 || algs[k].a == A_MD5)
		return NULL;
	/* base64 only: a composite checksum ends in -PARTS */
	size_t n = strlen(value);
	if (!n || n > 64)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)value[i]) && value[i] != '+' && value[i] != '/' && value[i] != '=')
			return NULL;
	return xasprintf("%s:%s", algs[k].key, value);
}

const char *cks_alg_name(const char *spec)
{
	const char *colon = spec ? strchr(spec, ':') : NULL;
	int k = colon ? find_alg(spec, (size_t)(colon - spec)) : -1;
	return k < 0 ? "?" : algs[k].name;
}

struct cks_ctx {
	enum alg a;
	EVP_MD_CTX *md;
	uint32_t crc;
};

static uint32_t crc_table[2][256];

static void crc_tables(void)
{
	static int done;
	if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
		return;
	const uint32_t poly[2] = { 0xEDB88320u, 0x82F63B78u };   /* CRC-32 (zlib), CRC-32C (Castagnoli), reflected */
	for (int t = 0; t < 2; t++)
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? poly[t] ^ (c >> 1) : c >> 1;
			crc_table[t][i] = c;
		}
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

struct cks_ctx *cks_new(const char *spec)
{
	const char *colon = spec ? strchr(spec, ':') : NULL;
	int k = colon ? find_alg(spec, (size_t)(colon - spec)) : -1;
	if (k < 0)
		return NULL;
	struct cks_ctx *c = xcalloc(1, sizeof(*c));
	c->a = algs[k].a;
	if (c->a == A_CRC32 || c->a == A_CRC32C) {
		crc_tables();
		c->crc = 0xFFFFFFFFu;
		return c;
	}
	c->md = EVP_MD_CTX_new();
	const EVP_MD *md = c->a == A_MD5 ? EVP_md5() : c->a == A_SHA1 ? EVP_sha1() : EVP_sha256();
	if (!c->md || EVP_DigestInit_ex(c->md, md, NULL) != 1) {
		EVP_MD_CTX_free(c->md);
		free(c);
		return NULL;
	}
	return c;
}

void cks_update(struct cks_ctx *c, const void *buf, size_t len)
{
	if (c->md) {
		EVP_DigestUpdate(c->md, buf, len);
		return;
	}
	const uint32_t *t = crc_table[c->a == A_CRC32C];
	const unsigned char *p = buf;
	uint32_t crc = c->crc;
	for (size_t i = 0; i < len; i++)
		crc = t[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
	c->crc = crc;
}

static void base64(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < outlen; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = 0;
}

void cks_final(struct cks_ctx *c, char *out, size_t outlen)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (c->md) {
		EVP_DigestFinal_ex(c->md, d, &n);
		EVP_MD_CTX_free(c->md);
	} else {
		uint32_t v = c->crc ^ 0xFFFFFFFFu;   /* big-endian, as S3 sends it */
		d[0] = (unsigned char)(v >> 24);
		d[1] = (unsigned char)(v >> 16);
		d[2] = (unsigned char)(v >> 8);
		d[3] = (unsigned char)v;
		n = 4;
	}
	if (c->a == A_MD5) {
		size_t o = 0;
		for (unsigned int i = 0; i < n && o + 3 <= outlen; i++)
			o += (size_t)snprintf(out + o, outlen - o, "%02x", d[i]);
	} else {
		base64(d, n, out, outlen);
	}
	free(c);
}

int cks_check_file(const char *path, const char *spec, volatile sig_atomic_t *cancel, struct cs_err *err)
{
	struct cks_ctx *c = cks_new(spec);
	if (!c)
		return cs_fail(err, EINVAL, "'%s': unknown checksum '%s'", path, spec);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		char skip[96];
		cks_final(c, skip, sizeof(skip));
		return cs_fail_errno(err, errno, "cannot open '%s'", path);
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	size_t cap = 4u << 20;
	unsigned char *buf = xmalloc(cap);
	int rc = 0;
	for (;;) {
		if (cancel && *cancel) {
			rc = cs_fail(err, ECANCELED, "interrupted");
			break;
		}
		ssize_t r = read(fd, buf, cap);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = cs_fail_errno(err, errno, "cannot read '%s'", path);
			break;
		}
		if (r == 0)
			break;
		cks_update(c, buf, (size_t)r);
	}
	free(buf);
	close(fd);
	char got[96];
	cks_final(c, got, sizeof(got));
	const char *want = strchr(spec, ':') + 1;
	if (!rc && strcmp(got, want))
		rc = cs_fail(err, EIO, "'%s' does not match the store's %s of the object (%s there, %s here)", path,
			     cks_alg_name(spec), want, got);
	return rc;
}
