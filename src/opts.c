#define _GNU_SOURCE
#include "opts.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "core/base/strbuf.h"
#include "core/base/util.h"
#include "core/base/banned.h"

int opt_jobs_cb(const struct opt *o, const char *arg)
{
	long v;
	if (!strcmp(arg, "auto")) {
		*(long *)o->value = WP_JOBS_AUTO;
		return 0;
	}
	if (parse_int_range(arg, (long)o->min, (long)o->max, &v))
		return usage_error("invalid --%s '%s' (auto, or %lld to %lld)", o->long_name, arg, (long long)o->min,
				   (long long)o->max);
	*(long *)o->value = v;
	return 0;
}

int opt_prefetch_cb(const struct opt *o, const char *arg)
{
	long j = WP_JOBS_DEFAULT;
	if (arg && parse_int_range(arg, 1, WP_JOBS_MAX, &j))
		return usage_error("invalid --%s '%s' (1 to " WP_JOBS_MAX_S " reader threads)", o->long_name, arg);
	*(int *)o->value = (int)j;
	return 0;
}

/* The table flattened: groups expanded, in order. */
struct flat {
	const struct opt **o;
	size_t n, alloc;
};

static void flatten(const struct opt *t, struct flat *f)
{
	for (; t->type != OPT_END; t++) {
		if (t->type == OPT_GROUP) {
			flatten(t->group, f);
			continue;
		}
		f->o = xgrow(f->o, &f->alloc, f->n + 1, sizeof(*f->o));
		f->o[f->n++] = t;
	}
}

static int takes_value(const struct opt *o)
{
	return o->type != OPT_FLAG;
}

static int bad(const struct opt *o, const char *arg)
{
	if (o->hint)
		return usage_error("invalid --%s '%s' (%s)", o->long_name, arg, o->hint);
	return usage_error("invalid --%s '%s'", o->long_name, arg);
}

static int in_range(const struct opt *o, long long v)
{
	if (o->flags & OPTF_NONZERO && !v)
		return 0;
	return (o->min <= 0 || v >= o->min) && (o->max <= 0 || v <= o->max);
}

static int set(const struct opt *o, const char *arg)
{
	if (o->seen)
		*o->seen = 1;
	switch (o->type) {
	case OPT_FLAG:
		*(int *)o->value = 1;
		return 0;
	case OPT_STRING:
		if (o->flags & OPTF_NONEMPTY && arg && !*arg)
			return usage_error("empty --%s", o->long_name);
		*(const char **)o->value = arg;
		return 0;
	case OPT_LIST: {
		char ***v = o->value;
		*v = xrealloc(*v, (*o->count + 1) * sizeof(char *));
		(*v)[(*o->count)++] = (char *)arg;
		return 0;
	}
	case OPT_INT: {
		long v;
		if (parse_int_range(arg, (long)o->min, o->max > 0 ? (long)o->max : LONG_MAX, &v) || !in_range(o, v))
			return bad(o, arg);
		*(long *)o->value = v;
		return 0;
	}
	case OPT_SIZE:
	case OPT_RATE: {
		uint64_t v;
		if ((o->type == OPT_SIZE ? parse_size(arg, &v) : parse_rate(arg, &v)) || !in_range(o, (long long)v))
			return bad(o, arg);
		*(uint64_t *)o->value = v;
		return 0;
	}
	case OPT_DURATION:
	case OPT_LATENCY: {
		uint64_t v;
		if ((o->type == OPT_DURATION ? parse_duration(arg, &v) : parse_duration_unit(arg, &v)) ||
		    (o->flags & OPTF_NONZERO && !v))
			return bad(o, arg);
		*(uint64_t *)o->value = v;
		return 0;
	}
	case OPT_ENUM:
	case OPT_ENUM_STR:
		for (int i = 0; o->choices[i]; i++) {
			if (strcmp(arg, o->choices[i]))
				continue;
			if (o->type == OPT_ENUM)
				*(int *)o->value = i;
			else
				*(const char **)o->value = o->choices[i];
			return 0;
		}
		return bad(o, arg);
	case OPT_U64:
		if (parse_u64(arg, o->value))
			return bad(o, arg);
		return 0;
	case OPT_CALLBACK:
		return o->cb(o, arg);
	default:
		return 0;
	}
}

/* "  -j, --jobs N" */
static void lhs(const struct opt *o, char *buf, size_t n)
{
	char sn[8] = "    ";
	if (o->short_name)
		snprintf(sn, sizeof(sn), "-%c, ", o->short_name);
	const char *a = o->argname ? o->argname : "";
	if (!takes_value(o))
		snprintf(buf, n, "  %s--%s", sn, o->long_name);
	else if (o->flags & OPTF_OPTIONAL)
		snprintf(buf, n, "  %s--%s[=%s]", sn, o->long_name, a);
	else
		snprintf(buf, n, "  %s--%s %s", sn, o->long_name, a);
}

void opts_usage(FILE *f, const struct opt *table, const struct opts_help *help)
{
	struct flat fl = { 0 };
	flatten(table, &fl);
	fputs(help->usage, f);
	fputs("\nOptions:\n", f);
	enum { COL = 25 };
	for (size_t i = 0; i < fl.n; i++) {
		const struct opt *o = fl.o[i];
		if (o->flags & OPTF_HIDDEN)
			continue;
		char l[128];
		lhs(o, l, sizeof(l));
		const char *h = o->help ? o->help : "";
		size_t len = strlen(l);
		if (len + 1 >= COL)
			fprintf(f, "%s\n%*s", l, COL, "");
		else
			fprintf(f, "%-*s", COL, l);
		for (const char *p = h; *p;) {
			const char *nl = strchr(p, '\n');
			size_t k = nl ? (size_t)(nl - p) : strlen(p);
			fprintf(f, "%.*s\n", (int)k, p);
			p += k;
			if (*p == '\n' && *++p)
				fprintf(f, "%*s", COL, "");
		}
		if (!*h)
			fputc('\n', f);
	}
	fprintf(f, "%-*s%s\n", COL, "  -h, --help", "this help");
	const struct opts_list *l = help->list;
	if (l) {
		fprintf(f, "\n%s:\n", l->title);
		for (size_t i = 0; i < l->count(); i++)
			fprintf(f, "  %-*s %s\n", l->width, l->name(i), l->text(i));
	}
	if (help->after) {
		fputc('\n', f);
		fputs(help->after, f);
	}
	free(fl.o);
}

/* opts_parse; *before_dd: how many operands came before the "--" that
 * ended the options, -1 when none did. */
static int parse_(const struct opt *table, const struct opts_help *help, int argc, char **argv, int *first_operand,
		  int *before_dd)
{
	struct flat fl = { 0 };
	flatten(table, &fl);
	struct option *lo = xcalloc(fl.n + 2, sizeof(*lo));
	char *shorts = xcalloc(2 * fl.n + 4, 3);
	size_t ns = 0;
	shorts[ns++] = '+'; /* stop at the first operand: we permute ourselves */
	shorts[ns++] = ':';
	for (size_t i = 0; i < fl.n; i++) {
		const struct opt *o = fl.o[i];
		int has = !takes_value(o) ? no_argument : o->flags & OPTF_OPTIONAL ? optional_argument : required_argument;
		lo[i] = (struct option){ o->long_name, has, NULL, 1000 + (int)i };
		if (o->short_name) {
			shorts[ns++] = (char)o->short_name;
			if (has == required_argument)
				shorts[ns++] = ':';
			else if (has == optional_argument) {
				shorts[ns++] = ':';
				shorts[ns++] = ':';
			}
		}
	}
	lo[fl.n] = (struct option){ "help", no_argument, NULL, 'h' };
	shorts[ns++] = 'h';
	/* Options and operands in any order: collect operands as we go. */
	char **operands = xcalloc((size_t)argc + 1, sizeof(char *));
	int nop = 0, rc = 0;
	opterr = 0;
	optind = 0; /* 0, not 1: glibc then also forgets a half-read cluster of short options */
	*before_dd = -1;
	while (!rc && optind < argc) {
		int at = optind ? optind : 1;
		int c = getopt_long(argc, argv, shorts, lo, NULL);
		if (c == -1) {
			/* getopt steps over the "--" that ends the options, and
			 * over nothing else: an option's value "--" (--notes --)
			 * is not one. */
			if (optind > at) {
				*before_dd = nop;
				while (optind < argc)
					operands[nop++] = argv[optind++];
				break;
			}
			if (optind < argc)
				operands[nop++] = argv[optind++];
			continue;
		}
		const struct opt *hit = c >= 1000 && c < 1000 + (int)fl.n ? fl.o[c - 1000] : NULL;
		for (size_t i = 0; i < fl.n && !hit && c > 0 && c < 256 && c != ':' && c != '?'; i++)
			if (fl.o[i]->short_name == c)
				hit = fl.o[i];
		if (hit) {
			rc = set(hit, optarg);
		} else if (c == 'h') {
			opts_usage(stdout, table, help);
			rc = OPTS_HELP;
		} else {
			const struct opt *o = NULL;
			for (size_t i = 0; i < fl.n && !o; i++)
				if (fl.o[i]->short_name && fl.o[i]->short_name == optopt)
					o = fl.o[i];
			if (c == ':' && o)
				rc = usage_error("option '-%c' (--%s) needs a value", optopt, o->long_name);
			else
				rc = bad_option(c, argv);
		}
	}
	if (!rc) {
		/* argv becomes: name, options as given..., [--,] operands. The
		 * "--" that ended the options stays among them: argv keeps all
		 * argc entries, so argv[first .. argc) are exactly the operands
		 * (dropping it left argv[argc - 1] holding a stale copy of the
		 * last operand: a server's last argument given twice). */
		int k = 1;
		for (int i = 1; i < argc; i++) {
			int is_op = 0;
			for (int j = 0; j < nop && !is_op; j++)
				is_op = argv[i] == operands[j];
			if (!is_op)
				argv[k++] = argv[i];
		}
		*first_operand = optind = k;
		for (int j = 0; j < nop; j++)
			argv[k++] = operands[j];
	}
	free(operands);
	free(lo);
	free(shorts);
	free(fl.o);
	return rc;
}

int opts_parse(const struct opt *table, const struct opts_help *help, int argc, char **argv, int *first_operand)
{
	int before_dd;
	return parse_(table, help, argc, argv, first_operand, &before_dd);
}

int opts_parse_cmd(const struct opt *table, const struct opts_help *help, int argc, char **argv, const char *what,
		   int *first)
{
	int before_dd, rc = parse_(table, help, argc, argv, first, &before_dd);
	if (rc)
		return opts_exit(rc);
	if (before_dd > 0)
		return usage_error("unexpected argument '%s' before --: %s goes after --", argv[*first], what);
	if (before_dd < 0 || *first >= argc)
		return usage_error("%s goes after --", what);
	return -1;
}

int opts_parse_one(const struct opt *table, const struct opts_help *help, int argc, char **argv, const char *what,
		   const char **operand)
{
	int first, rc = opts_parse(table, help, argc, argv, &first);
	if (rc)
		return opts_exit(rc);
	rc = one_operand(argc, argv, what, operand);
	return rc ? rc : -1;
}

int opts_parse_none(const struct opt *table, const struct opts_help *help, int argc, char **argv)
{
	int first, rc = opts_parse(table, help, argc, argv, &first);
	if (rc)
		return opts_exit(rc);
	if (first < argc)
		return usage_error("unexpected argument '%s'", argv[first]);
	return -1;
}

/* "a, b or c" */
static char *word_list(const char *const *w)
{
	struct strbuf b = STRBUF_INIT;
	for (size_t i = 0; w[i]; i++)
		strbuf_addf(&b, "%s%s", i == 0 ? "" : w[i + 1] ? ", " : " or ", w[i]);
	return strbuf_detach(&b);
}

int opts_parse_action(const struct opt *table, const struct opts_help *help, int argc, char **argv,
		      const char *const *actions, const char **action)
{
	int first, rc = opts_parse(table, help, argc, argv, &first);
	if (rc)
		return opts_exit(rc);
	char *list = word_list(actions);
	if (first >= argc)
		rc = usage_error("missing action: %s", list);
	for (size_t i = 0; !rc && actions[i]; i++)
		if (!strcmp(argv[first], actions[i]))
			rc = -1;
	if (!rc)
		rc = usage_error("unknown action '%s' (%s)", argv[first], list);
	free(list);
	if (rc < 0) {
		*action = argv[first];
		optind = first + 1;
	}
	return rc;
}
