/*
 * Compile and kernel cache sets (core/bench/caches.c): the states and variables
 * parsed and refused, the server's environment (ours replace, the rest
 * kept), and the sets themselves: a cold one empty and locked, removed
 * with its contents; a warm one kept with its marker; a private copy with
 * modes kept; abandoned sets removed, held ones not.
 */
#define _GNU_SOURCE
#include "core/bench/caches.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/fsutil.h"
#include "tap.h"

static int env_has(char **envp, const char *kv)
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strcmp(envp[i], kv))
			return 1;
	return 0;
}

static int env_count(char **envp, const char *key)
{
	int n = 0;
	size_t l = strlen(key);
	for (size_t i = 0; envp && envp[i]; i++)
		n += !strncmp(envp[i], key, l) && envp[i][l] == '=';
	return n;
}

static void touch(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0) {
		}
		close(fd);
	}
}

/* cc_private_dir while another process sweeps the same directory with
 * cc_remove_unlocked without pause (as a second exec or bench starting on
 * the node does): every directory it returns must exist, be locked by it,
 * and be the one locked. A gap between creating and locking lets the
 * sweeper take (and remove) a new directory. Returns the failures. */
static int private_dirs_under_sweep(const char *parent, int rounds)
{
	fflush(stdout);
	pid_t sweeper = fork();
	if (sweeper == 0) {
		for (;;)
			cc_remove_unlocked(parent, "race", NULL, NULL);
	}
	int bad = 0;
	for (int i = 0; i < rounds; i++) {
		int fd;
		struct cs_err err;
		char *p = cc_private_dir(parent, "race", &fd, &err);
		struct stat a, b;
		if (!p || fstat(fd, &a) || stat(p, &b) || a.st_ino != b.st_ino)
			bad++;
		if (p)
			rmdir(p);
		if (fd >= 0)
			close(fd);
		free(p);
	}
	kill(sweeper, SIGKILL);
	waitpid(sweeper, NULL, 0);
	return bad;
}

int main(void)
{
	struct cs_err err;
	enum cc_state st[CC_MAX_STATES];
	size_t n;
	ok(cc_parse_states("cold,warm,staged", st, &n, &err) == 0 && n == 3 && st[0] == CC_COLD && st[2] == CC_STAGED,
	   "three states in order");
	ok(cc_parse_states("warm", st, &n, &err) == 0 && n == 1 && st[0] == CC_WARM, "one state");
	ok(cc_parse_states("cold,cold", st, &n, &err) < 0 && strstr(err.msg, "twice"), "a state twice: %s", err.msg);
	ok(cc_parse_states("tepid", st, &n, &err) < 0 && strstr(err.msg, "'tepid'"), "an unknown state named");
	ok(cc_parse_states(",", st, &n, &err) < 0, "no state");
	ok(cc_check_env(NULL, &err) == 0, "the default variables");
	ok(cc_check_env("A_1,_B", &err) == 0, "names with digits and underscores");
	ok(cc_check_env("1A", &err) < 0 && strstr(err.msg, "'1A'"), "a name starting with a digit");
	ok(cc_check_env("A,B=C", &err) < 0 && strstr(err.msg, "'B=C'"), "a name with '='");
	ok(cc_check_env("A,A", &err) < 0, "a variable twice");

	setenv("TRITON_CACHE_DIR", "/home/user/.triton", 1);
	setenv("CS_TEST_KEEP", "kept", 1);
	char **envp = cc_envp(NULL, "/x/set");
	ok(env_has(envp, "TRITON_CACHE_DIR=/x/set/TRITON_CACHE_DIR") && env_count(envp, "TRITON_CACHE_DIR") == 1,
	   "a variable of ours replaces the caller's, once");
	ok(env_has(envp, "VLLM_CACHE_ROOT=/x/set/VLLM_CACHE_ROOT") && env_has(envp, "CUDA_CACHE_PATH=/x/set/CUDA_CACHE_PATH"),
	   "every default variable set");
	ok(env_has(envp, "CS_TEST_KEEP=kept"), "the rest of the environment kept");
	cc_envp_free(envp);

	char tmpl[] = "/tmp/cs-caches-XXXXXX";
	ok(mkdtemp(tmpl) != NULL, "scratch directory");
	struct cc_opts o = { .env = "A,B", .dir = tmpl };
	struct cc_set s;
	ok(cc_set_open(&o, CC_COLD, "m", &s, &err) == 0, "a cold set");
	char *a = path_join(s.root, "A");
	struct stat sb;
	ok(stat(a, &sb) == 0 && S_ISDIR(sb.st_mode) && s.files == 0, "... one empty directory per variable");
	ok(s.lock_fd >= 0 && !strncmp(s.root, tmpl, strlen(tmpl)), "... locked, under the cache directory");
	char *k = path_join(a, "kernel.bin");
	touch(k, "compiled", 0644);
	/* Another run's cleanup leaves a held set alone. */
	cc_remove_stale(&o);
	ok(access(k, F_OK) == 0, "a held cold set is not stale");
	char *root = strdup(s.root);
	cc_set_close(&s, &o);
	ok(access(root, F_OK) != 0, "closed: the cold set is removed with what the server wrote");
	free(root);
	free(k);
	free(a);

	ok(cc_set_open(&o, CC_WARM, "m-nvme", &s, &err) == 0, "a warm set");
	char *wroot = strdup(s.root);
	ok(strstr(wroot, "/warm-m-nvme") != NULL, "... named after the model and mode: %s", wroot);
	ok(!cc_primed(&s, "server=x\n"), "... not primed yet");
	ok(cc_mark_primed(&s, "server=x\n", &err) == 0 && cc_primed(&s, "server=x\n") && !cc_primed(&s, "server=y\n"),
	   "... primed for one key only");
	char *wa = path_join(wroot, "A/lib.so");
	touch(wa, "elf", 0755);
	cc_set_close(&s, &o);
	ok(access(wa, F_OK) == 0, "closed: the warm set is kept");
	ok(cc_set_open(&o, CC_WARM, "m-nvme", &s, &err) == 0 && s.files == 1 && s.bytes == 3,
	   "reopened: its file counted, the marker not");
	cc_set_close(&s, &o);

	char *copy = path_join(tmpl, "copy");
	uint64_t bytes;
	size_t files;
	ok(cc_copy_tree(wroot, copy, &bytes, &files, &err) == 0 && files == 2 && bytes > 3, "a private copy");
	char *ca = path_join(copy, "A/lib.so");
	ok(stat(ca, &sb) == 0 && (sb.st_mode & 0777) == 0755, "... modes kept (Triton's .so files stay executable)");

	/* Abandoned: nobody holds the lock. */
	char *dead = path_join(tmpl, "cold-dead00");
	mkdir(dead, 0700);
	cc_remove_stale(&o);
	ok(access(dead, F_OK) != 0, "an abandoned cold set is removed");
	int lfd;
	char *held = cc_private_dir(tmpl, "cold", &lfd, &err);
	cc_remove_stale(&o);
	ok(held && access(held, F_OK) == 0, "a held one is not");
	ok(held && stat(held, &sb) == 0 && (sb.st_mode & 0777) == 0700, "... and it is private (0700)");
	close(lfd);
	cc_remove_stale(&o);
	ok(held && access(held, F_OK) != 0, "... until its holder lets go");
	char *race = path_join(tmpl, "race");
	mkdir(race, 0755);
	is_int(private_dirs_under_sweep(race, 3000), 0, "a new private directory is never taken by a concurrent sweep");
	free(race);
	free(held);
	free(dead);
	free(ca);
	free(copy);
	free(wa);
	free(wroot);
	fs_remove_tree(tmpl);
	return done_testing();
}
