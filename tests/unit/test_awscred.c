#define _GNU_SOURCE
#include "core/source/awscred_internal.h"
#include "core/base/fsutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void split_is(const char *cmd, const char *want)
{
	size_t n;
	char **v = aws_split_command(cmd, &n);
	char got[512] = "";
	for (size_t i = 0; v && i < n; i++) {
		strncat(got, i ? "|" : "", sizeof(got) - strlen(got) - 1);
		strncat(got, v[i], sizeof(got) - strlen(got) - 1);
	}
	is_str(v ? got : "(refused)", want, "split %s", cmd);
	if (v)
		free_strv(v, n);
}

static void clear_env(void)
{
	static const char *const vars[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
		unsetenv(vars[i]);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

struct getter {
	struct awscred *c;
	int rc;
	char key[64];
};

static void *get_one(void *arg)
{
	struct getter *g = arg;
	char *up, *tok;
	struct cs_err e;
	g->rc = awscred_get(g->c, &up, &tok, &e);
	if (!g->rc) {
		snprintf(g->key, sizeof(g->key), "%.*s", (int)strcspn(up, ":"), up);
		awscred_wipe(up, tok);
	}
	return NULL;
}

int main(void)
{
	/* credential_process's words, as a POSIX shell splits them (no expansion). */
	split_is("/bin/helper --profile prod", "/bin/helper|--profile|prod");
	split_is("'/opt/my tool' \"a b\" c\\ d", "/opt/my tool|a b|c d");
	split_is("x \"q\\\"uote\" '$HOME' \"$HOME\"", "x|q\"uote|$HOME|$HOME");
	split_is("x ''", "x|");
	split_is("x; rm -rf / `id` $(id)", "x;|rm|-rf|/|`id`|$(id)");
	split_is("x 'unclosed", "(refused)");
	split_is("x \"unclosed", "(refused)");
	split_is("x \\", "(refused)");
	split_is("   ", "(refused)");

	ok(aws_parse_time("2024-01-02T03:04:05Z") == 1704164645, "ISO 8601, Z");
	ok(aws_parse_time("2024-01-02T03:04:05.123Z") == 1704164645, "with a fraction");
	ok(aws_parse_time("2024-01-02T05:04:05+02:00") == 1704164645, "with an offset");
	ok(aws_parse_time("2024-01-02 03:04:05") == -1 && aws_parse_time("soon") == -1 && aws_parse_time(NULL) == -1,
	   "not a time: refused");

	/* The JSON documents. */
	struct ac_creds cr;
	struct cs_err e;
	const char *good = "{\"Version\": 1, \"AccessKeyId\": \"AK\", \"SecretAccessKey\": \"SECRETX\", "
			   "\"SessionToken\": \"TOKX\", \"Expiration\": \"2099-01-01T00:00:00Z\"}";
	ok(ac_parse_json(good, strlen(good), 1, "p", &cr, &e) == 0 && !strcmp(cr.key_id, "AK") &&
	   !strcmp(cr.token, "TOKX") && cr.expires == 4070908800, "Version 1 with a token and an expiration");
	ac_creds_release(&cr);
	const char *bad[] = { "{\"Version\": 2, \"AccessKeyId\": \"AK\", \"SecretAccessKey\": \"SECRETX\"}",
			      "{\"Version\": 1, \"AccessKeyId\": \"AK\"}", "SECRETX not json",
			      "{\"Version\": 1, \"AccessKeyId\": \"AK\", \"SecretAccessKey\": \"SECRETX\", "
			      "\"Expiration\": \"2001-01-01T00:00:00Z\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ok(ac_parse_json(bad[i], strlen(bad[i]), 1, "p", &cr, &e) == -1 && !strstr(e.msg, "SECRETX"),
		   "refused without echoing it: %s", e.msg);

	/* The shared files: profiles, nested keys, [services]. */
	char dir[] = "/tmp/cs-test-awscred-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char *cred = path_join(dir, "credentials"), *conf = path_join(dir, "config");
	char *proc = path_join(dir, "proc.sh"), *count = path_join(dir, "count");
	put_file(cred, "[src]\naws_access_key_id = AKSRC\naws_secret_access_key = SKSRC\n[p]\nregion = from-cred\n");
	put_file(conf, "[default]\nregion = eu-west-3\n[profile p]\nregion = from-conf\nservices = svc\n"
		       "s3 =\n  addressing_style = path\n  endpoint_url = http://nested\nendpoint_url = http://top\n"
		       "[services svc]\ns3 =\n  endpoint_url = http://svc-s3:9000\nsts =\n  endpoint_url = http://svc-sts\n"
		       "[p2]\nregion = not-a-profile-in-config\n"
		       "[profile proc]\ncredential_process = sh '" );
	FILE *fc = fopen(conf, "a");
	fprintf(fc, "%s' %s\n[profile fail]\ncredential_process = sh -c 'echo SECRETOUT; exit 3'\n"
		    "[profile slow]\ncredential_process = sleep 5\n[profile noexec]\ncredential_process = /nonexistent/x\n"
		    "[profile self]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = self\naws_access_key_id = AKSELF\n"
		    "aws_secret_access_key = SKSELF\n[profile a]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = b\n"
		    "[profile b]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = a\n[profile norole]\nregion = x\n"
		    "[profile sso]\nsso_session = corp\n", proc, count);
	fclose(fc);
	/* A process whose credentials last 3 s: each run counts, and names its key by the count. */
	put_file(proc, "n=$(($(cat \"$1\" 2>/dev/null || echo 0) + 1)); echo $n > \"$1\"\n"
		       "exp=$(date -u -d @$(($(date +%s) + 3)) +%Y-%m-%dT%H:%M:%SZ)\n"
		       "printf '{\"Version\": 1, \"AccessKeyId\": \"AKP%s\", \"SecretAccessKey\": \"S\", "
		       "\"Expiration\": \"%s\"}' $n $exp\n");
	clear_env();
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	setenv("AWS_CONFIG_FILE", conf, 1);
	setenv("AWS_PROFILE", "p", 1);
	struct aws_files *f;
	ok(aws_files_load(&f, &e) == 0, "the files load");
	is_str(aws_files_get(f, "region"), "from-cred", "the credentials file wins a key both have");
	is_str(aws_files_get(f, "s3.addressing_style"), "path", "a nested key");
	is_str(aws_files_service(f, "s3", "endpoint_url"), "http://svc-s3:9000", "the services section's s3 endpoint");
	char *ep = aws_endpoint(f, "s3"), *sts = aws_endpoint(f, "sts"), *rg = aws_region(f);
	ok(!strcmp(ep, "http://svc-s3:9000") && !strcmp(sts, "http://svc-sts") && !strcmp(rg, "from-cred"),
	   "endpoints from [services], region from the profile");
	free(ep);
	free(sts);
	free(rg);
	setenv("AWS_ENDPOINT_URL_S3", "http://env-s3", 1);
	ep = aws_endpoint(f, "s3");
	is_str(ep, "http://env-s3", "AWS_ENDPOINT_URL_S3 wins over the files");
	free(ep);
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	ok(aws_endpoint(f, "s3") == NULL, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: none");
	clear_env();
	aws_files_free(f);
	setenv("AWS_PROFILE", "p2", 1);
	ok(aws_files_load(&f, &e) == -1 && strstr(e.msg, "AWS_PROFILE 'p2'"),
	   "[p2] in the config file is not a profile (\"[profile p2]\" is)");

	/* The chain's answers for the profiles. */
	struct { const char *profile, *want; } cases[] = {
		{ "fail", "exited with status 3" }, { "noexec", "could not be run" },
		{ "a", "leads back to itself" }, { "norole", "profile 'norole' has no credentials" },
		{ "sso", "IAM Identity Center" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		setenv("AWS_PROFILE", cases[i].profile, 1);
		struct awscred *c = NULL;
		int rc = aws_files_load(&f, &e) || awscred_resolve(f, NULL, &c, &e);
		ok(rc && strstr(e.msg, cases[i].want) && !strstr(e.msg, "SECRETOUT"), "profile %s: %s", cases[i].profile,
		   e.msg);
		aws_files_free(f);
	}
	ok(ac_process("slow", "sleep 5", 300, &cr, &e) == -1 && e.code == ETIMEDOUT && strstr(e.msg, "profile 'slow'"),
	   "a process past its time is killed: %s", e.msg);
	setenv("AWS_PROFILE", "self", 1);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);   /* nothing listens: never AWS's own */
	struct awscred *c = NULL;
	ok(!aws_files_load(&f, &e) && awscred_resolve(f, NULL, &c, &e) == -1 && strstr(e.msg, "STS AssumeRole") &&
	   strstr(e.msg, "127.0.0.1:1"),
	   "source_profile = itself signs with its own keys (then STS, here unreachable: %s)", e.msg);
	aws_files_free(f);
	unsetenv("AWS_PROFILE");
	setenv("AWS_ACCESS_KEY_ID", "AKONLY", 1);
	ok(!aws_files_load(&f, &e) && awscred_resolve(f, NULL, &c, &e) == -1 && strstr(e.msg, "no secret access key"),
	   "a key id without its secret: an error");
	aws_files_free(f);
	clear_env();
	setenv("AWS_CONFIG_FILE", conf, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.1/creds", 1);
	ok(!aws_files_load(&f, &e) && awscred_resolve(f, NULL, &c, &e) == -1 && e.code == EPERM,
	   "a _FULL_URI over http to another host: refused (%s)", e.msg);
	aws_files_free(f);
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");

	/* Refreshing: credentials due are fetched again, once, for any number of threads. */
	setenv("AWS_PROFILE", "proc", 1);
	ok(!aws_files_load(&f, &e) && awscred_resolve(f, NULL, &c, &e) == 0, "credential_process resolves");
	is_str(c ? awscred_key_id(c) : "", "AKP1", "its key id");
	is_str(c ? awscred_source(c) : "", "credential_process of profile 'proc'", "its source");
	struct getter g[8];
	for (size_t i = 0; i < 8; i++)
		g[i] = (struct getter){ c, -1, "" };
	get_one(&g[0]);
	ok(c && !g[0].rc && !strcmp(g[0].key, "AKP1") && awscred_fetches(c) == 1, "not yet due: the same ones");
	sleep(2);   /* past half their 3 s lifetime: due */
	pthread_t t[8];
	for (size_t i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, get_one, &g[i]);
	int all = 1;
	for (size_t i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		all &= !g[i].rc && !strcmp(g[i].key, "AKP2");
	}
	ok(all && awscred_fetches(c) == 2, "due: fetched again once, 8 threads get the new ones (%u fetches)",
	   c ? awscred_fetches(c) : 0);
	awscred_free(c);
	aws_files_free(f);

	unlink(cred);
	unlink(conf);
	unlink(proc);
	unlink(count);
	rmdir(dir);
	free(cred);
	free(conf);
	free(proc);
	free(count);
	return done_testing();
}
