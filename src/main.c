#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd/cmds.h"
#include "core/base/util.h"
#include "core/base/banned.h"

#ifndef CS_VERSION
#define CS_VERSION "0.0.0"
#endif

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "bench", cmd_bench, "the experiment: cold starts per storage mode, repeated, summarized" },
	{ "refserve", cmd_refserve, "reference server: load safetensors into GPU/host memory at full speed, serve /health" },
	{ "run", cmd_run, "one measured cold start: launch, poll readiness, record, stop the tree" },
	{ "mkmodel", cmd_mkmodel, "write a synthetic Hugging Face checkpoint (real names and shapes)" },
	{ "inspect", cmd_inspect, "validate and summarize a safetensors model directory" },
	{ "netsim", cmd_netsim, "FUSE network-path stand-in: bandwidth, latency, in-flight limits" },
	{ "probe", cmd_probe, "hardware floor: storage->host, host->GPU and overlapped load rates" },
	{ "stage", cmd_stage, "copy a model network -> local NVMe: parallel, verified, atomic, resumable" },
	{ "cache", cmd_cache, "staged models: ls, verify, rm, gc (LRU, size cap)" },
	{ "exec", cmd_exec, "production entrypoint: stage if missing, run the server in the foreground, ready file" },
	{ "report", cmd_report, "CSV -> Markdown report + SVG chart: ratios, break-even, verdicts" },
	{ "pages", cmd_pages, "page cache: residency status, evict, parallel warm" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void main_usage(FILE *f)
{
	fprintf(f,
		"usage: coldstart [--version] [--help] COMMAND [ARGS]\n"
		"\n"
		"Measure and cut the cold-start time of LLM inference servers across\n"
		"storage tiers (local NVMe, network paths, staged copies).\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\n"
		"'coldstart help COMMAND' or 'coldstart COMMAND --help' explains one command.\n"
		"Sizes accept B, K/M/G/T (powers of 1024, also KiB/MiB/GiB/TiB) and\n"
		"KB/MB/GB/TB (powers of 1000); durations accept ns, us, ms, s, m, h.\n"
		"Exit status: 0 success, 1 failure, 2 usage error, 128+N after signal N.\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int unknown_command(const char *name)
{
	size_t best = (size_t)-1;
	const char *match = NULL;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		size_t d = edit_distance(name, commands[i].name);
		/* A prefix counts as close ("mk" -> "mkmodel"). */
		if (!strncmp(commands[i].name, name, strlen(name)) && strlen(name) >= 2)
			d = 1;
		if (d < best) {
			best = d;
			match = commands[i].name;
		}
	}
	fprintf(stderr, "coldstart: '%s' is not a coldstart command. See 'coldstart --help'.\n", name);
	if (match && best <= 3)
		fprintf(stderr, "\nThe most similar command is\n\t%s\n", match);
	return EXIT_USAGE;
}

/* Make sure fds 0-2 are open, so that files we open never become stdout. */
static void sanitize_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
			int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
			if (n < 0)
				exit(EXIT_FAIL);
		}
	}
}

/* A full disk under "> out.csv" is a failure, not silence (git's run_builtin). */
static int finish_stdout(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		error_errno("write failure on standard output");
		return rc ? rc : EXIT_FAIL;
	}
	if (fclose(stdout) != 0 && errno != EBADF) {
		error_errno("close failed on standard output");
		return rc ? rc : EXIT_FAIL;
	}
	return rc;
}

/*
 * The command works on a copy of its arguments; the originals, which
 * /proc/PID/cmdline shows every user of the node (for this process and the
 * children it forks, such as the process guard), get the user info, query
 * and fragment of any URL overwritten with '*' (as curl blanks -u's
 * password). The copy lives as long as the process.
 */
static char **private_args(int argc, char **argv)
{
	char **copy = xcalloc((size_t)argc + 1, sizeof(char *));
	for (int i = 0; i < argc; i++)
		copy[i] = xstrdup(argv[i]);
	for (int i = 0; i < argc; i++)
		redact_urls_inplace(argv[i]);
	return copy;
}

static int run_command(const struct command *c, int argc, char **argv)
{
	cs_cmdname = c->name;
	optind = 0; /* full reset of getopt for the command's own parse */
	int rc = c->fn(argc, private_args(argc, argv));
	if (rc < 0)
		rc = EXIT_FAIL;
	return finish_stdout(rc);
}

int main(int argc, char **argv)
{
	sanitize_fds();
	signal(SIGPIPE, SIG_IGN);
	cli_init();

	if (argc < 2) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	const char *a = argv[1];
	if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
		main_usage(stdout);
		return finish_stdout(EXIT_OK);
	}
	if (!strcmp(a, "--version") || !strcmp(a, "-V") || !strcmp(a, "version")) {
		printf("coldstart %s\n", CS_VERSION);
		return finish_stdout(EXIT_OK);
	}
	if (!strcmp(a, "help")) {
		if (argc < 3) {
			main_usage(stdout);
			return finish_stdout(EXIT_OK);
		}
		const struct command *c = find_command(argv[2]);
		if (!c)
			return unknown_command(argv[2]);
		char *hargv[] = { argv[2], (char *)"--help", NULL };
		return run_command(c, 2, hargv);
	}
	if (a[0] == '-') {
		fprintf(stderr, "coldstart: unknown option '%s'\n", a);
		main_usage(stderr);
		return EXIT_USAGE;
	}
	const struct command *c = find_command(a);
	if (!c)
		return unknown_command(a);
	return run_command(c, argc - 1, argv + 1);
}
