#define _GNU_SOURCE
#include "opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tap.h"

/* Parse a command line given as one string (split on spaces). */
static int parse(const struct opt *t, const char *line, int *argc_out, char ***argv_out, int *first)
{
	static char buf[512];
	static char *argv[32];
	snprintf(buf, sizeof(buf), "%s", line);
	int argc = 0;
	for (char *tok = strtok(buf, " "); tok && argc < 31; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	*argc_out = argc;
	*argv_out = argv;
	static const struct opts_help h = { .usage = "usage: t\n" };
	FILE *saved = stderr;
	stderr = fopen("/dev/null", "w"); /* usage errors are expected */
	int rc = opts_parse(t, &h, argc, argv, first);
	fclose(stderr);
	stderr = saved;
	return rc;
}

/* A command line of its own for one of the operand helpers. */
struct line {
	int argc;
	char *argv[32];
	char buf[512];
};

static struct line *split(const char *text)
{
	static struct line l;
	snprintf(l.buf, sizeof(l.buf), "%s", text);
	l.argc = 0;
	for (char *tok = strtok(l.buf, " "); tok && l.argc < 31; tok = strtok(NULL, " "))
		l.argv[l.argc++] = tok;
	l.argv[l.argc] = NULL;
	return &l;
}

/* fn on the line with stdout (the help) and stderr (usage errors) silenced. */
static int quiet_call(int (*fn)(const struct opt *, struct line *, const char **), const struct opt *t,
		      const char *text, const char **out)
{
	struct line *l = split(text);
	fflush(stdout);
	FILE *saved_err = stderr, *saved_out = stdout;
	stderr = fopen("/dev/null", "w");
	stdout = fopen("/dev/null", "w");
	int rc = fn(t, l, out);
	fclose(stderr);
	fclose(stdout);
	stderr = saved_err;
	stdout = saved_out;
	return rc;
}

static const struct opts_help plain = { .usage = "usage: t\n" };

static int one(const struct opt *t, struct line *l, const char **out)
{
	return opts_parse_one(t, &plain, l->argc, l->argv, "DIR", out);
}

static int none(const struct opt *t, struct line *l, const char **out)
{
	(void)out;
	return opts_parse_none(t, &plain, l->argc, l->argv);
}

static char **last_argv;
static int cmd_first;

static int cmd(const struct opt *t, struct line *l, const char **out)
{
	int rc = opts_parse_cmd(t, &plain, l->argc, l->argv, "the command", &cmd_first);
	*out = rc < 0 ? l->argv[cmd_first] : NULL;
	last_argv = l->argv;
	return rc;
}

static int action(const struct opt *t, struct line *l, const char **out)
{
	static const char *const actions[] = { "ls", "rm", "gc", NULL };
	last_argv = l->argv;
	return opts_parse_action(t, &plain, l->argc, l->argv, actions, out);
}

static size_t two(void)
{
	return 2;
}

static const char *item_name(size_t i)
{
	return i ? "beta" : "alpha";
}

static const char *item_text(size_t i)
{
	return i ? "the second" : "the first";
}

static int last_cb;
static int cb(const struct opt *o, const char *arg)
{
	(void)o;
	last_cb = atoi(arg);
	return 0;
}

/* Field by field: the macro's entry is the hand-written one. */
static int same_opt(const struct opt *a, const struct opt *b)
{
	return a->type == b->type && a->short_name == b->short_name && a->long_name == b->long_name &&
	       a->argname == b->argname && a->help == b->help && a->value == b->value && a->min == b->min &&
	       a->max == b->max && a->hint == b->hint && a->choices == b->choices && a->cb == b->cb &&
	       a->flags == b->flags && a->group == b->group && a->count == b->count && a->seen == b->seen;
}

static const char *const mch[] = { "x", "y", NULL };
static const char hname[] = "help", hhint[] = "hint", harg[] = "N";

/* The one-line macros expand to the entries they stand for. */
static void test_macros(void)
{
	int flag, seen;
	long n;
	uint64_t u;
	const char *s;
	char **list;
	size_t cnt;
	const struct opt end[] = { OPT_END_() };
	const struct opt m[] = {
		OPT_FLAG_('q', "quiet", &flag, hname),
		OPT_STRING_(0, "name", &s, harg, hname, .flags = OPTF_NONEMPTY, .seen = &seen),
		OPT_LIST_(0, "files", &list, &cnt, harg, hname),
		OPT_INT_('n', "repeat", &n, harg, 1, 10, hhint, hname),
		OPT_JOBS_('j', "jobs", &n, harg, hname),
		OPT_JOBS_AUTO_('j', "jobs", &n, harg, 1024, hname),
		OPT_SIZE_(0, "chunk", &u, harg, 4096, 1LL << 30, hhint, hname, .seen = &seen),
		OPT_RATE_(0, "bw", &u, harg, 0, 0, hhint, hname, .flags = OPTF_NONZERO),
		OPT_DURATION_(0, "timeout", &u, harg, hhint, hname),
		OPT_LATENCY_(0, "latency", &u, harg, hhint, hname),
		OPT_ENUM_(0, "order", &flag, harg, mch, hhint, hname),
		OPT_ENUM_STR_(0, "device", &s, harg, mch, hhint, hname),
		OPT_U64_(0, "seed", &u, harg, hhint, hname),
		OPT_CALLBACK_(0, "ready", &s, harg, opt_prefetch_cb, hname, .flags = OPTF_OPTIONAL, .count = &cnt),
		OPT_GROUP_(end),
	};
	const struct opt want[] = {
		{ .type = OPT_FLAG, .short_name = 'q', .long_name = "quiet", .value = &flag, .help = hname },
		{ .type = OPT_STRING, .long_name = "name", .argname = harg, .value = &s, .help = hname,
		  .flags = OPTF_NONEMPTY, .seen = &seen },
		{ .type = OPT_LIST, .long_name = "files", .argname = harg, .value = &list, .count = &cnt, .help = hname },
		{ .type = OPT_INT, .short_name = 'n', .long_name = "repeat", .argname = harg, .value = &n, .min = 1,
		  .max = 10, .hint = hhint, .help = hname },
		{ .type = OPT_INT, .short_name = 'j', .long_name = "jobs", .argname = harg, .value = &n, OPT_JOBS_RANGE,
		  .help = hname },
		{ OPT_JOBS_AUTO, .max = 1024, .short_name = 'j', .long_name = "jobs", .argname = harg, .value = &n,
		  .help = hname },
		{ .type = OPT_SIZE, .long_name = "chunk", .argname = harg, .value = &u, .min = 4096, .max = 1LL << 30,
		  .hint = hhint, .help = hname, .seen = &seen },
		{ .type = OPT_RATE, .long_name = "bw", .argname = harg, .value = &u, .hint = hhint, .help = hname,
		  .flags = OPTF_NONZERO },
		{ .type = OPT_DURATION, .long_name = "timeout", .argname = harg, .value = &u, .hint = hhint, .help = hname },
		{ .type = OPT_LATENCY, .long_name = "latency", .argname = harg, .value = &u, .hint = hhint, .help = hname },
		{ .type = OPT_ENUM, .long_name = "order", .argname = harg, .value = &flag, .choices = mch, .hint = hhint,
		  .help = hname },
		{ .type = OPT_ENUM_STR, .long_name = "device", .argname = harg, .value = &s, .choices = mch,
		  .hint = hhint, .help = hname },
		{ .type = OPT_U64, .long_name = "seed", .argname = harg, .value = &u, .hint = hhint, .help = hname },
		{ .type = OPT_CALLBACK, .long_name = "ready", .argname = harg, .value = &s, .cb = opt_prefetch_cb,
		  .help = hname, .flags = OPTF_OPTIONAL, .count = &cnt },
		{ .type = OPT_GROUP, .group = end },
	};
	static const char *const names[] = { "FLAG", "STRING", "LIST", "INT", "JOBS", "JOBS_AUTO", "SIZE", "RATE",
					     "DURATION", "LATENCY", "ENUM", "ENUM_STR", "U64", "CALLBACK", "GROUP" };
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		ok(same_opt(&m[i], &want[i]), "OPT_%s_ is its struct opt entry", names[i]);
}

int main(void)
{
	cs_cmdname = "t";
	int flag = 0, e = 0, first, argc, seen = 0;
	long n = 5;
	uint64_t sz = 0, dur = 0, lat = 0, seed = 0;
	const char *s = NULL, *es = NULL;
	char **list = NULL, **argv;
	size_t nlist = 0;
	static const char *const ch[] = { "a", "b", "c", NULL };
	const struct opt group[] = {
		{ .type = OPT_INT, .short_name = 'j', .long_name = "jobs", .argname = "N", .value = &n, .min = 1, .max = 8,
		  .hint = "1 to 8", .help = "jobs" },
		OPT_END_(),
	};
	const struct opt t[] = {
		{ .type = OPT_FLAG, .short_name = 'f', .long_name = "flag", .value = &flag, .help = "a flag" },
		{ .type = OPT_STRING, .long_name = "str", .argname = "S", .value = &s, .flags = OPTF_NONEMPTY, .seen = &seen },
		{ .type = OPT_LIST, .long_name = "item", .argname = "X", .value = &list, .count = &nlist },
		{ .type = OPT_SIZE, .long_name = "size", .argname = "SIZE", .value = &sz, .min = 1024, .max = 1 << 20 },
		{ .type = OPT_DURATION, .long_name = "dur", .argname = "D", .value = &dur, .flags = OPTF_NONZERO },
		{ .type = OPT_LATENCY, .long_name = "lat", .argname = "D", .value = &lat },
		{ .type = OPT_ENUM, .long_name = "enum", .argname = "E", .value = &e, .choices = ch },
		{ .type = OPT_ENUM_STR, .long_name = "estr", .argname = "E", .value = &es, .choices = ch },
		{ .type = OPT_U64, .long_name = "seed", .argname = "N", .value = &seed },
		{ .type = OPT_CALLBACK, .long_name = "cb", .argname = "N", .value = NULL, .cb = cb,
		  .flags = OPTF_OPTIONAL },
		{ .type = OPT_GROUP, .group = group },
		OPT_END_(),
	};
	is_int(parse(t, "t op1 -f --str x --item a op2 --item b -j 3 --size 4K --dur 2m --lat 5ms", &argc, &argv, &first), 0,
	       "a mixed command line parses");
	ok(flag && s && !strcmp(s, "x") && seen, "flag, string (and seen)");
	ok(nlist == 2 && !strcmp(list[0], "a") && !strcmp(list[1], "b"), "a repeatable list");
	ok(n == 3, "an int from an included group, by its short name");
	ok(sz == 4096 && dur == 120000000000ULL && lat == 5000000, "size, duration, latency");
	ok(first == argc - 2 && !strcmp(argv[first], "op1") && !strcmp(argv[first + 1], "op2"),
	   "operands moved behind the options, in order");
	is_int(parse(t, "t --enum c --estr b --seed 42 --cb=7", &argc, &argv, &first), 0, "enum, enum string, u64, callback");
	ok(e == 2 && es && !strcmp(es, "b") && seed == 42 && last_cb == 7, "their values");
	is_int(parse(t, "t -- --flag", &argc, &argv, &first), 0, "-- ends the options");
	ok(argc - first == 1 && !strcmp(argv[first], "--flag"), "what follows is an operand");
	is_int(parse(t, "t -f -- /bin/echo a b c", &argc, &argv, &first), 0, "a command after --");
	ok(argc - first == 4 && !strcmp(argv[first], "/bin/echo") && !strcmp(argv[first + 1], "a") &&
		   !strcmp(argv[first + 2], "b") && !strcmp(argv[first + 3], "c") && !argv[argc],
	   "every operand after -- once, in order, nothing after them");
	is_int(parse(t, "t op1 -f -- x --str y", &argc, &argv, &first), 0, "operands before and after --");
	ok(argc - first == 4 && !strcmp(argv[first], "op1") && !strcmp(argv[first + 1], "x") &&
		   !strcmp(argv[first + 2], "--str") && !strcmp(argv[first + 3], "y"),
	   "operands keep their order around --");
	is_int(parse(t, "t --str -- op", &argc, &argv, &first), 0, "-- as an option's value");
	ok(argc - first == 1 && !strcmp(argv[first], "op"), "an option's value -- is not lost or doubled");
	flag = 0;
	is_int(parse(t, "t --str -- op -f x", &argc, &argv, &first), 0, "-- as an option's value, options after it");
	ok(flag && argc - first == 2 && !strcmp(argv[first], "op") && !strcmp(argv[first + 1], "x"),
	   "an option's value -- does not end the options");
	is_int(parse(t, "t -f --", &argc, &argv, &first), 0, "-- last");
	ok(argc == first, "-- last: no operand");
	is_int(parse(t, "t -j 9", &argc, &argv, &first), EXIT_USAGE, "out of range: usage error");
	is_int(parse(t, "t --size 1", &argc, &argv, &first), EXIT_USAGE, "a size below the bound");
	is_int(parse(t, "t --dur 0", &argc, &argv, &first), EXIT_USAGE, "a zero duration where it must not be");
	is_int(parse(t, "t --lat 5", &argc, &argv, &first), EXIT_USAGE, "a latency without a unit");
	is_int(parse(t, "t --enum d", &argc, &argv, &first), EXIT_USAGE, "an unknown choice");
	is_int(parse(t, "t --str=", &argc, &argv, &first), EXIT_USAGE, "an empty string where it must not be");
	is_int(parse(t, "t --nope", &argc, &argv, &first), EXIT_USAGE, "an unknown option");
	is_int(parse(t, "t --str", &argc, &argv, &first), EXIT_USAGE, "a missing value");
	/* The help comes from the same table. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	static const struct opts_help h = { .usage = "usage: t\n", .after = "after\n" };
	opts_usage(f, t, &h);
	fclose(f);
	ok(strstr(text, "  -f, --flag") && strstr(text, "a flag") && strstr(text, "  -j, --jobs N") &&
		   strstr(text, "--cb[=N]") && strstr(text, "  -h, --help") && strstr(text, "\nafter\n"),
	   "help lists every option, groups included, with the text around it");
	free(text);
	/* A list from an engine table, between the options and the rest. */
	static const struct opts_list items = { "Items", two, item_name, item_text, 6 };
	static const struct opts_help hl = { .usage = "usage: t\n", .after = "after\n", .list = &items };
	f = open_memstream(&text, &len);
	opts_usage(f, t, &hl);
	fclose(f);
	ok(strstr(text, "\nItems:\n  alpha  the first\n  beta   the second\n\nafter\n") != NULL,
	   "the list is printed as a table before the text after the options");
	free(text);

	/* The same help as documentation (help --all): a man page, Markdown. */
	static const struct opts_help hd = {
		.usage = "usage: t [-f]\n       t --cb\n\n'quoted' text, a \\ and a-dash\n.dot at the start\n",
		.after = "Examples:\n  t -f *x*\n\nload_s of `a_b *c*` in _x_ ~1\n",
		.list = &items,
	};
	opts_set_format(OPTS_FORMAT_MAN);
	f = open_memstream(&text, &len);
	opts_usage(f, t, &hd);
	fclose(f);
	ok(strstr(text, ".nf\nt [\\-f]\nt \\-\\-cb\n.fi\n") != NULL, "man: the usage lines are the synopsis");
	ok(strstr(text, "\n\\&'quoted' text, a \\e and a\\-dash\n\\&.dot at the start\n") != NULL,
	   "man: a line never starts a request, '\\' and '-' escaped");
	ok(strstr(text, ".TP\n\\fB\\-f\\fR, \\fB\\-\\-flag\\fR\na flag\n") && strstr(text, "\\fB\\-\\-cb\\fR[=\\fIN\\fR]") &&
		   strstr(text, "\\fB\\-j\\fR, \\fB\\-\\-jobs\\fR \\fIN\\fR\njobs\n"),
	   "man: an entry per option, groups included, its name bold and its value italic");
	ok(strstr(text, ".B \"Examples\"\n.PP\n.nf\n  t \\-f *x*\n.fi\n") && strstr(text, ".TP\n.B alpha\nthe first\n"),
	   "man: a short title over indented lines is a heading over preformatted text; the list an entry each");
	free(text);
	opts_set_format(OPTS_FORMAT_MARKDOWN);
	f = open_memstream(&text, &len);
	opts_usage(f, t, &hd);
	fclose(f);
	ok(strstr(text, "- `-f, --flag`: a flag\n") && strstr(text, "- `--cb[=N]`\n") && strstr(text, "- `-j, --jobs N`: jobs\n"),
	   "markdown: an item per option");
	ok(strstr(text, "### Examples\n\n```text\n  t -f *x*\n```\n") != NULL, "markdown: examples in a code block");
	ok(strstr(text, "load_s of `a_b *c*` in \\_x\\_ \\~1\n") != NULL,
	   "markdown: markup escaped outside code spans, not in a word's '_'");
	ok(strstr(text, "- `alpha`: the first\n") != NULL, "markdown: the list an item each");
	free(text);
	opts_set_format(OPTS_FORMAT_TEXT);

	/* Operands: exactly one, none, or one of a set of actions. */
	const struct opt flags[] = { { .type = OPT_FLAG, .short_name = 'f', .long_name = "flag", .value = &flag },
				     OPT_END_() };
	const char *got = NULL;
	ok(quiet_call(one, flags, "t -f m", &got) == -1 && got && !strcmp(got, "m"), "one operand: go on, with it");
	is_int(quiet_call(one, flags, "t -f", &got), EXIT_USAGE, "one operand missing: a usage error");
	is_int(quiet_call(one, flags, "t a b", &got), EXIT_USAGE, "two operands where one is wanted");
	is_int(quiet_call(one, flags, "t --help", &got), 0, "--help: the command returns 0");
	is_int(quiet_call(none, flags, "t -f", &got), -1, "no operands: go on");
	is_int(quiet_call(none, flags, "t -f x", &got), EXIT_USAGE, "an operand where none is wanted");
	ok(quiet_call(cmd, flags, "t -f -- srv a -f", &got) == -1 && got && !strcmp(got, "srv") &&
		   !strcmp(last_argv[cmd_first + 2], "-f") && !last_argv[cmd_first + 3],
	   "a command after --: go on, the command's own options kept");
	is_int(quiet_call(cmd, flags, "t -f srv", &got), EXIT_USAGE, "a command without --: a usage error");
	is_int(quiet_call(cmd, flags, "t -f --", &got), EXIT_USAGE, "nothing after --: a usage error");
	is_int(quiet_call(cmd, flags, "t stray -- srv", &got), EXIT_USAGE,
	       "a word before --: a usage error (it would become the command)");
	is_int(quiet_call(cmd, flags, "t --help", &got), 0, "a command line: --help returns 0");
	got = NULL;
	ok(quiet_call(action, flags, "t rm -f x", &got) == -1 && got && !strcmp(got, "rm") &&
		   !strcmp(last_argv[optind], "x"),
	   "an action: go on, optind past it (the operand after it next)");
	is_int(quiet_call(action, flags, "t", &got), EXIT_USAGE, "no action: a usage error");
	is_int(quiet_call(action, flags, "t mv", &got), EXIT_USAGE, "an unknown action: a usage error");
	free(list);
	test_macros();
	return done_testing();
}
