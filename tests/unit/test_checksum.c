/*
 * Object stores' whole-object checksums (core/io/checksum.c): known values of
 * each algorithm in the encoding S3 sends, which ETags and headers can be
 * checked, and a file checked and found different.
 */
#define _GNU_SOURCE
#include "core/io/checksum.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "tap.h"

static void of(const char *spec, const char *text, char *out)
{
	struct cks_ctx *c = cks_new(spec);
	if (!c) {
		strcpy(out, "(none)");
		return;
	}
	/* in two pieces: the state carries over */
	size_t n = strlen(text);
	cks_update(c, text, n / 2);
	cks_update(c, text + n / 2, n - n / 2);
	cks_final(c, out, 96);
}

int main(void)
{
	char got[96];
	/* Reference values: RFC 1321 (MD5 "abc"), FIPS 180 (SHA "abc"), the
	 * CRC catalogue's check value of "123456789". */
	of("md5:", "abc", got);
	is_str(got, "900150983cd24fb0d6963f7d28e17f72", "MD5, hex as in an ETag");
	of("sha1:", "abc", got);
	is_str(got, "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", "SHA-1, base64 as in x-amz-checksum-sha1");
	of("sha256:", "abc", got);
	is_str(got, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "SHA-256, base64");
	of("crc32:", "123456789", got);
	is_str(got, "y/Q5Jg==", "CRC32 0xCBF43926, big-endian base64");
	of("crc32c:", "123456789", got);
	is_str(got, "4waSgw==", "CRC32C 0xE3069283, big-endian base64");
	ok(cks_new("crc64nvme:x") == NULL, "an algorithm not known here: none");

	char *s = cks_from_etag("\"900150983CD24FB0D6963F7D28E17F72\"");
	is_str(s, "md5:900150983cd24fb0d6963f7d28e17f72", "a one-part ETag (quoted, any case) is an MD5");
	free(s);
	ok(cks_from_etag("\"900150983cd24fb0d6963f7d28e17f72-3\"") == NULL, "a multipart ETag is not");
	ok(cks_from_etag("\"5f3a-1234\"") == NULL && cks_from_etag(NULL) == NULL, "nor nginx's, nor none");
	s = cks_from_header("X-Amz-Checksum-SHA256", "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
	is_str(s, "sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "x-amz-checksum-sha256 (any case)");
	free(s);
	ok(cks_from_header("x-amz-checksum-crc32", "y/Q5Jg==-4") == NULL, "a composite checksum (of parts) is not taken");
	ok(cks_from_header("x-amz-checksum-type", "FULL_OBJECT") == NULL, "nor another header");
	is_str(cks_alg_name("crc32c:x"), "CRC32C", "names for messages");

	char tmpl[] = "/tmp/cs-test-cks-XXXXXX";
	int fd = mkstemp(tmpl);
	ok(fd >= 0 && write(fd, "abc", 3) == 3, "a file");
	close(fd);
	struct cs_err err;
	ok(cks_check_file(tmpl, "sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", NULL, &err) == 0, "it matches");
	ok(cks_check_file(tmpl, "md5:00000000000000000000000000000000", NULL, &err) == -1 && err.code == EIO &&
		   strstr(err.msg, "MD5") && strstr(err.msg, "900150983cd24fb0d6963f7d28e17f72"),
	   "a different one: EIO, both values: %s", err.msg);
	unlink(tmpl);
	ok(cks_check_file(tmpl, "md5:x", NULL, &err) == -1 && err.code == ENOENT, "a missing file: its error");
	return done_testing();
}
