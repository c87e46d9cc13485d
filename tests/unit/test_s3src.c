#define _GNU_SOURCE
#include "core/base/fsutil.h"
#include "core/source/s3src.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tap.h"

#define ENTRY(k, sz) "<Contents><Key>" k "</Key><LastModified>2026-12-01T10:00:00.000Z</LastModified>" \
	"<ETag>&quot;abc&quot;</ETag><Size>" sz "</Size></Contents>"

static int page(const char *xml, struct source_file **f, size_t *nf, char **next, struct cs_err *e)
{
	size_t alloc = 0;
	*f = NULL;
	*nf = 0;
	return s3_parse_page(xml, "http://h/b", "b", "m/", f, nf, &alloc, next, e);
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

int main(void)
{
	struct source_file *f;
	size_t nf;
	char *next;
	struct cs_err e;
	ok(page("<ListBucketResult>" ENTRY("m/config.json", "12") ENTRY("m/sub/a%20b.bin", "3") ENTRY("m/dir/", "0")
		"<IsTruncated>true</IsTruncated><NextContinuationToken>tok/+=</NextContinuationToken></ListBucketResult>",
		&f, &nf, &next, &e) == 0, "a page parses");
	is_int(nf, 2, "two files (the directory marker skipped)");
	is_str(nf ? f[0].name : "", "config.json", "names relative to the prefix");
	is_str(nf ? f[0].etag : "", "\"abc\"", "the ETag, entities decoded, quotes kept for If-Match");
	ok(nf && f[0].size == 12 && f[0].mtime_ns == 1796119200LL * 1000000000, "size and LastModified");
	is_str(nf > 1 ? f[1].url : "", "http://h/b/m/sub/a%2520b.bin", "object URLs percent-encoded");
	is_str(next ? next : "", "tok/+=", "the continuation token of a truncated page");
	source_files_free(f, nf);
	free(next);
	ok(page("<IsTruncated>false</IsTruncated>", &f, &nf, &next, &e) == 0 && !next && !nf, "the last page");
	const char *bad[] = { "m/../x", "m/a/../../x", "m//x", "m/./x", "m/a\\b", "other/x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char xml[512];
		snprintf(xml, sizeof(xml), "<Contents><Key>%s</Key><Size>1</Size></Contents>", bad[i]);
		int rc = page(xml, &f, &nf, &next, &e);
		ok(rc == -1 && strstr(e.msg, "does not name a file under the prefix"), "key '%s' refused", bad[i]);
		source_files_free(f, nf);
	}
	ok(page("<Contents><Key>m/x</Key></Contents>", &f, &nf, &next, &e) == -1 && strstr(e.msg, "without Key or Size"),
	   "an entry without a size");
	const char *badsize[] = { "-1", "18446744073709551616", "0x10", "1.5", " 12", "+3", "" };
	for (size_t i = 0; i < sizeof(badsize) / sizeof(badsize[0]); i++) {
		char xml[512];
		snprintf(xml, sizeof(xml), "<Contents><Key>m/x</Key><Size>%s</Size></Contents>", badsize[i]);
		int rc = page(xml, &f, &nf, &next, &e);
		ok(rc == -1 && strstr(e.msg, "not a byte count"), "a Size of '%s' refused, never wrapped", badsize[i]);
		source_files_free(f, nf);
	}
	ok(page("<IsTruncated>true</IsTruncated>", &f, &nf, &next, &e) == -1 && strstr(e.msg, "continuation token"),
	   "truncated without a token");

	/* Settings: the environment, then the shared files. */
	char dir[] = "/tmp/cs-test-s3-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char *cred = path_join(dir, "credentials"), *conf = path_join(dir, "config");
	put_file(cred, "[default]\naws_access_key_id = AKD\naws_secret_access_key = SKD\n"
		       "[p1]\naws_access_key_id=AK1\naws_secret_access_key=SK1\naws_session_token = T1\n");
	put_file(conf, "[default]\nregion = us-west-2\n[profile p1]\nregion=eu-west-1\nendpoint_url = http://e:9000\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	setenv("AWS_CONFIG_FILE", conf, 1);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_ROLE_ARN");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	struct s3_cfg c;
	ok(s3_config(&c, 0, NULL, &e) == 0 && !strcmp(awscred_key_id(c.cred), "AKD") && !strcmp(c.region, "us-west-2") && !c.endpoint,
	   "the default profile");
	is_str(c.sigv4 ? c.sigv4 : "", "aws:amz:us-west-2:s3", "SigV4 for the region");
	s3_cfg_release(&c);
	setenv("AWS_PROFILE", "p1", 1);
	char *up = NULL, *tk = NULL;
	ok(s3_config(&c, 0, NULL, &e) == 0 && !awscred_get(c.cred, &up, &tk, &e) && !strcmp(up, "AK1:SK1") && tk &&
	   !strcmp(tk, "T1") && !strcmp(c.region, "eu-west-1") && !strcmp(c.endpoint, "http://e:9000"),
	   "AWS_PROFILE p1: keys, token, region, endpoint");
	awscred_wipe(up, tk);
	s3_cfg_release(&c);
	setenv("AWS_ACCESS_KEY_ID", "AKE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKE", 1);
	setenv("AWS_REGION", "ap-south-1", 1);
	ok(s3_config(&c, 0, NULL, &e) == 0 && !awscred_get(c.cred, &up, &tk, &e) && !strcmp(up, "AKE:SKE") && !tk &&
	   !strcmp(c.region, "ap-south-1"), "the environment wins, keys come as a pair");
	awscred_wipe(up, tk);
	s3_cfg_release(&c);
	setenv("AWS_PROFILE", "nope", 1);
	ok(s3_config(&c, 0, NULL, &e) == -1 && strstr(e.msg, "AWS_PROFILE 'nope'"), "an unknown profile: '%s'", e.msg);
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unlink(cred);
	ok(s3_config(&c, 0, NULL, &e) == -1 && e.code == ENOKEY && strstr(e.msg, "no S3 credentials found") &&
	   strstr(e.msg, "AWS_EC2_METADATA_DISABLED") && strstr(e.msg, "--no-sign-request"),
	   "no keys anywhere: an error naming what was tried (%s)", e.msg);
	ok(s3_config(&c, 1, NULL, &e) == 0 && !c.cred && !c.sigv4, "no_sign: unsigned, no credentials looked for");
	s3_cfg_release(&c);
	/* Another region: the signature, and an AWS endpoint, follow it. */
	setenv("AWS_ACCESS_KEY_ID", "AKE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKE", 1);
	setenv("AWS_ENDPOINT_URL", "https://s3.us-east-1.amazonaws.com", 1);
	ok(s3_config(&c, 0, NULL, &e) == 0, "config with an AWS endpoint");
	s3_set_region(&c, "eu-central-1");
	is_str(c.sigv4, "aws:amz:eu-central-1:s3", "re-signed for the bucket's region");
	is_str(c.endpoint, "https://s3.eu-central-1.amazonaws.com", "an AWS endpoint moves to that region's");
	s3_cfg_release(&c);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000", 1);
	ok(s3_config(&c, 0, NULL, &e) == 0, "config with a custom endpoint");
	s3_set_region(&c, "eu-central-1");
	ok(!strcmp(c.sigv4, "aws:amz:eu-central-1:s3") && !strcmp(c.endpoint, "http://127.0.0.1:9000"),
	   "a custom endpoint stays: only the signature's region changes");
	struct hs_opts ho = { 0 }, so;
	s3_hs_opts(&c, &ho, &so);
	ok(so.s3 && !so.bearer && !so.nheaders, "S3 requests follow no redirect, carry no bearer or user header");
	/* Credentials or a query in the URL: refused, and not shown. */
	const char *urls[] = { "s3://AKID:SECRET1@bucket/m", "s3://bucket/m?X-Amz-Signature=SECRET1" };
	for (size_t i = 0; i < 2; i++) {
		struct source_file *lf = NULL;
		size_t ln = 0;
		ok(s3_list(&c, &so, urls[i], &lf, &ln, &e) == -1 && e.code == EINVAL && !strstr(e.msg, "SECRET1"),
		   "refused without the secret: %s", e.msg);
	}
	s3_cfg_release(&c);
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	char *n = s3_default_name("s3://b/models/qwen-7b/");
	is_str(n, "qwen-7b", "default name");
	free(n);
	fs_remove_tree(dir);
	free(cred);
	free(conf);
	return done_testing();
}
