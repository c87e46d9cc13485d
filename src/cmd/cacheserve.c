/* coldstart cache serve: a read-only HTTP view of a root's published models, for peers to stage from. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../cli.h"
#include "../opts.h"
#include "core/base/util.h"
#include "cacheserve.h"
#include "core/base/banned.h"

const struct opt *serve_options(struct serve_cfg *c)
{
	static struct opt t[6];
	const struct opt table[] = {
		{ .type = OPT_STRING, .long_name = "listen", .argname = "ADDR:PORT", .value = &c->listen_on,
		  .seen = &c->seen, .help = "serve: where (default 127.0.0.1, a free port)" },
		{ .type = OPT_INT, .long_name = "max-connections", .argname = "N", .value = &c->ps.max_connections,
		  .min = 1, .max = 4096, .hint = "1 to 4096", .seen = &c->seen,
		  .help = "serve: connections at once, in all (default 256);\nmore are closed at once" },
		{ .type = OPT_INT, .long_name = "max-per-client", .argname = "N", .value = &c->ps.max_per_client,
		  .min = 1, .max = 4096, .hint = "1 to 4096", .seen = &c->seen,
		  .help = "serve: connections at once from one address\n(default 64, what one stage opens at most)" },
		{ .type = OPT_DURATION, .long_name = "request-timeout", .argname = "DUR", .value = &c->ps.request_timeout_ns,
		  .flags = OPTF_NONZERO, .hint = "e.g. 10s", .seen = &c->seen,
		  .help = "serve: a request's headers must be in within DUR of\nthe connection waiting for one, however "
			  "they\ntrickle (default 10s); then it is closed" },
		{ .type = OPT_FLAG, .short_name = 'q', .long_name = "quiet", .value = &c->quiet,
		  .help = "serve: no line per request" },
		OPT_END_(),
	};
	memcpy(t, table, sizeof(table));
	return t;
}

static void on_log(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "coldstart: cache serve: %s\n", msg);
}

/* --listen: ADDRESS:PORT, or PORT on 127.0.0.1; 0 or the usage error's status. */
static int parse_listen(struct serve_cfg *c)
{
	const char *l = c->listen_on, *colon = l ? strrchr(l, ':') : NULL;
	long port = 0;
	snprintf(c->host, sizeof(c->host), "127.0.0.1");
	if (l && colon) {
		snprintf(c->host, sizeof(c->host), "%.*s", (int)(colon - l), l);
		if (parse_int_range(colon + 1, 0, 65535, &port))
			return usage_error("invalid --listen '%s' (ADDRESS:PORT, e.g. 127.0.0.1:8090)", l);
	} else if (l && parse_int_range(l, 0, 65535, &port)) {
		return usage_error("invalid --listen '%s' (ADDRESS:PORT, or PORT on 127.0.0.1)", l);
	}
	struct in_addr a;
	if (inet_pton(AF_INET, c->host, &a) != 1)
		return usage_error("invalid --listen address '%s' (an IPv4 address)", c->host);
	c->ps.host = c->host;
	c->ps.port = (int)port;
	return 0;
}

int cache_serve(struct serve_cfg *c, const char *root)
{
	int rc = parse_listen(c);
	if (rc)
		return rc;
	c->ps.root = root;
	c->ps.log = c->quiet ? NULL : on_log;
	struct cs_err err;
	struct ps_server *s = ps_start(&c->ps, &err);
	if (!s)
		return error("%s", err.msg);
	int port = ps_port(s);
	/* The address, on stdout, for scripts: stage http://ADDRESS/NAME/ */
	printf("http://%s:%d/\n", c->host, port);
	fflush(stdout);
	if (!c->quiet)
		fprintf(stderr, "coldstart: cache serve: the published models of '%s' on http://%s:%d/ (read-only; "
			"at most %ld connections, %ld per client; Ctrl-C stops)\n", root, c->host, port,
			c->ps.max_connections, c->ps.max_per_client);
	cli_catch_signals();
	while (!cli_signal)
		pause();
	uint64_t cut = ps_stop(s);
	if (!c->quiet)
		fprintf(stderr, "coldstart: cache serve: stopped (%s; %llu connection%s ended at the request deadline)\n",
			strsignal((int)cli_signal), (unsigned long long)cut, cut == 1 ? "" : "s");
	return 0;   /* asked to stop: a clean exit */
}
