#define _GNU_SOURCE
#include "opts.h"

#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "complete.h"
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

static void doc_usage(FILE *f, const struct opt *table, const struct opts_help *help);

void opts_usage(FILE *f, const struct opt *table, const struct opts_help *help)
{
	struct flat fl = { 0 };
	if (opts_format_completion(opts_get_format())) {
		flatten(table, &fl);
		complete_options(f, fl.o, fl.n);
		free(fl.o);
		return;
	}
	if (opts_get_format() != OPTS_FORMAT_TEXT) {
		doc_usage(f, table, help);
		return;
	}
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

/* A command given --json fails in JSON too (cli_json_errors): known before
 * any option is read, so that a usage error is one as well. */
static void json_mode(const struct flat *fl, int argc, char **argv)
{
	int has = 0;
	for (size_t i = 0; i < fl->n && !has; i++)
		has = fl->o[i]->type == OPT_FLAG && !strcmp(fl->o[i]->long_name, "json");
	for (int i = 1; has && i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json")) {
			cli_json_errors();
			return;
		}
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
	json_mode(&fl, argc, argv);
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
	if (rc == OPTS_HELP && opts_format_completion(opts_get_format()))
		complete_actions(stdout, actions);
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

/*
 * The help as documentation (coldstart help --all): the same tables and
 * texts, rendered as a man page's troff or as Markdown. The free texts
 * (usage, after) are read as blocks between blank lines; in a block, runs
 * of lines that start with a space are preformatted (tables, examples),
 * the others prose, and a short "Title:" line over an indented run is a
 * heading ("Examples:").
 */
static enum opts_format doc_format = OPTS_FORMAT_TEXT;

void opts_set_format(enum opts_format format)
{
	doc_format = format;
}

enum opts_format opts_get_format(void)
{
	return doc_format;
}

/* Text as troff: no request at a line's start, '\' and '-' escaped. */
static void man_put(FILE *f, const char *s, size_t n, int line_start)
{
	if (line_start && n && (*s == '.' || *s == '\''))
		fputs("\\&", f);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			fputs("\\e", f);
		else if (s[i] == '-')
			fputs("\\-", f);
		else
			fputc(s[i], f);
	}
}

/* s[i] between two letters or digits (where '_' is no emphasis). */
static int intraword(const char *s, size_t n, size_t i)
{
	return i > 0 && i + 1 < n && isalnum((unsigned char)s[i - 1]) && isalnum((unsigned char)s[i + 1]);
}

/* Text as Markdown prose: what would be markup escaped, except inside
 * `code spans` (*in_code carries one across calls). */
static void md_put(FILE *f, const char *s, size_t n, int line_start, int *in_code)
{
	if (line_start && n && strchr("#+->=", *s) && !*in_code)
		fputc('\\', f);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '`')
			*in_code = !*in_code;
		else if (!*in_code && c == '<')
			fputs("&lt;", f);
		else if (!*in_code && (strchr("\\*[]~|", c) || (c == '_' && !intraword(s, n, i))))
			fputc('\\', f);
		if (c != '<' || *in_code)
			fputc(c, f);
	}
}

static void doc_put(FILE *f, const char *s, size_t n, int line_start, int *in_code)
{
	if (doc_format == OPTS_FORMAT_MAN)
		man_put(f, s, n, line_start);
	else
		md_put(f, s, n, line_start, in_code);
}

void opts_doc_put(FILE *f, const char *s)
{
	int in_code = 0;
	doc_put(f, s, strlen(s), 1, &in_code);
}

void opts_doc_heading(FILE *f, int level, const char *title)
{
	if (doc_format == OPTS_FORMAT_MAN) {
		fputs(level <= 1 ? ".SH \"" : level == 2 ? ".SS \"" : ".PP\n.B \"", f);
		man_put(f, title, strlen(title), 0);
		fputs("\"\n", f);
		return;
	}
	fputs(level >= 3 ? "### " : "## ", f);
	opts_doc_put(f, title);
	fputs("\n\n", f);
}

struct doc_line {
	const char *p;
	size_t n;
};

static int indented(const struct doc_line *l)
{
	return l->n && (l->p[0] == ' ' || l->p[0] == '\t');
}

/* lines[0 .. n): preformatted, verbatim (skip: columns dropped from each). */
static void doc_pre(FILE *f, const struct doc_line *l, size_t n, size_t skip, const char *md_indent)
{
	if (doc_format == OPTS_FORMAT_MAN)
		fputs(".nf\n", f);
	else
		fprintf(f, "%s```text\n", md_indent);
	for (size_t i = 0; i < n; i++) {
		size_t k = skip < l[i].n ? skip : l[i].n;
		if (doc_format == OPTS_FORMAT_MAN) {
			man_put(f, l[i].p + k, l[i].n - k, 1);
		} else {
			fputs(md_indent, f);
			fwrite(l[i].p + k, 1, l[i].n - k, f);
		}
		fputc('\n', f);
	}
	if (doc_format == OPTS_FORMAT_MAN)
		fputs(".fi\n", f);
	else
		fprintf(f, "%s```\n\n", md_indent);
}

/* Prose lines: troff fills them; Markdown gets one line. */
static void doc_prose(FILE *f, const struct doc_line *l, size_t n)
{
	int in_code = 0;
	if (doc_format == OPTS_FORMAT_MAN)
		fputs(".PP\n", f);
	for (size_t i = 0; i < n; i++) {
		if (doc_format == OPTS_FORMAT_MAN) {
			man_put(f, l[i].p, l[i].n, 1);
			fputc('\n', f);
		} else {
			if (i)
				fputc(' ', f);
			md_put(f, l[i].p, l[i].n, i == 0, &in_code);
		}
	}
	if (doc_format == OPTS_FORMAT_MARKDOWN)
		fputs("\n\n", f);
}

/* Lines of text (without their newlines) appended to *l. */
static void doc_lines(const char *text, struct doc_line **l, size_t *n, size_t *alloc)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t k = nl ? (size_t)(nl - p) : strlen(p);
		*l = xgrow(*l, alloc, *n + 1, sizeof(**l));
		(*l)[(*n)++] = (struct doc_line){ p, k };
		p += k + (nl != NULL);
	}
}

/* "Examples:" over an indented run: a heading (one to three words). */
static int is_heading(const struct doc_line *l)
{
	int words = 1;
	if (!l->n || l->p[l->n - 1] != ':' || l->p[0] < 'A' || l->p[0] > 'Z')
		return 0;
	for (size_t i = 0; i < l->n; i++)
		words += l->p[i] == ' ';
	return words <= 3;
}

/* A block of lines (no blank one among them). */
static void doc_block(FILE *f, const struct doc_line *l, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		int pre = indented(&l[i]);
		while (j < n && indented(&l[j]) == pre)
			j++;
		if (pre) {
			if (doc_format == OPTS_FORMAT_MAN)
				fputs(".PP\n", f);
			doc_pre(f, l + i, j - i, 0, "");
		} else if (j - i == 1 && j < n && is_heading(&l[i])) {
			char *t = xstrndup(l[i].p, l[i].n - 1);
			opts_doc_heading(f, 3, t);
			free(t);
		} else {
			doc_prose(f, l + i, j - i);
		}
		i = j;
	}
}

static void doc_blocks(FILE *f, const struct doc_line *l, size_t n)
{
	for (size_t i = 0; i < n;) {
		while (i < n && !l[i].n)
			i++;
		size_t j = i;
		while (j < n && l[j].n)
			j++;
		doc_block(f, l + i, j - i);
		i = j;
	}
}

void opts_doc_text(FILE *f, const char *text)
{
	struct doc_line *l = NULL;
	size_t n = 0, alloc = 0;
	doc_lines(text, &l, &n, &alloc);
	doc_blocks(f, l, n);
	free(l);
}

void opts_doc_pre(FILE *f, const char *text)
{
	struct doc_line *l = NULL;
	size_t n = 0, alloc = 0;
	doc_lines(text, &l, &n, &alloc);
	doc_pre(f, l, n, 0, "");
	free(l);
}

void opts_doc_item(FILE *f, const char *name, const char *text)
{
	int in_code = 0;
	if (doc_format == OPTS_FORMAT_MAN) {
		fputs(".TP\n.B ", f);
		man_put(f, name, strlen(name), 0);
		fputc('\n', f);
		man_put(f, text, strlen(text), 1);
		fputc('\n', f);
		return;
	}
	fputs("- `", f);
	fputs(name, f);
	fputs("`: ", f);
	md_put(f, text, strlen(text), 0, &in_code);
	fputc('\n', f);
}

/* An option's tag: "-j, --jobs N" with the names bold, the value italic. */
static void doc_tag(FILE *f, const struct opt *o)
{
	const char *a = o->argname ? o->argname : "";
	if (doc_format == OPTS_FORMAT_MARKDOWN) {
		char l[128];
		lhs(o, l, sizeof(l));
		fprintf(f, "- `%s`", l + strspn(l, " "));
		return;
	}
	fputs(".TP\n", f);
	if (o->short_name)
		fprintf(f, "\\fB\\-%c\\fR, ", o->short_name);
	fputs("\\fB\\-\\-", f);
	man_put(f, o->long_name, strlen(o->long_name), 0);
	fputs("\\fR", f);
	if (takes_value(o)) {
		fputs(o->flags & OPTF_OPTIONAL ? "[=\\fI" : " \\fI", f);
		man_put(f, a, strlen(a), 0);
		fputs(o->flags & OPTF_OPTIONAL ? "\\fR]" : "\\fR", f);
	}
	fputc('\n', f);
}

/* An option's help: its prose after the tag, its indented lines (a table
 * of values) preformatted under it. */
static void doc_opt_help(FILE *f, const char *help)
{
	struct doc_line *l = NULL;
	size_t n = 0, alloc = 0;
	int in_code = 0, md = doc_format == OPTS_FORMAT_MARKDOWN, prose = 0;
	doc_lines(help, &l, &n, &alloc);
	if (md && n)
		fputc(':', f);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		int pre = indented(&l[i]);
		while (j < n && indented(&l[j]) == pre)
			j++;
		if (pre && md) {
			fputs("\n\n", f);
			doc_pre(f, l + i, j - i, 0, "  ");
		} else if (pre) {
			doc_pre(f, l + i, j - i, 0, "");
		}
		for (size_t k = i; !pre && k < j; k++) {
			if (!md) {
				man_put(f, l[k].p, l[k].n, 1);
				fputc('\n', f);
				continue;
			}
			/* after a block: a paragraph of the item */
			fputs(k > i ? " " : i ? "  " : " ", f);
			md_put(f, l[k].p, l[k].n, 0, &in_code);
		}
		prose = !pre;
		i = j;
	}
	if (md && (prose || !n))
		fputc('\n', f);
	free(l);
}

/* opts_usage in the documentation formats: the synopsis (the usage lines
 * without "usage: "), the description, the options, the list, the rest. */
static void doc_usage(FILE *f, const struct opt *table, const struct opts_help *help)
{
	struct doc_line *l = NULL;
	size_t n = 0, alloc = 0, syn = 0;
	static const char usage[] = "usage: ";
	doc_lines(help->usage, &l, &n, &alloc);
	if (n && !strncmp(l[0].p, usage, strlen(usage))) {
		while (syn < n && l[syn].n)
			syn++;
		opts_doc_heading(f, 3, "Synopsis");
		if (doc_format == OPTS_FORMAT_MAN)
			fputs(".PP\n", f);
		doc_pre(f, l, syn, strlen(usage), "");
	}
	if (syn < n) {
		opts_doc_heading(f, 3, "Description");
		doc_blocks(f, l + syn, n - syn);
	}
	free(l);

	struct flat fl = { 0 };
	flatten(table, &fl);
	opts_doc_heading(f, 3, "Options");
	for (size_t i = 0; i < fl.n; i++) {
		if (fl.o[i]->flags & OPTF_HIDDEN)
			continue;
		doc_tag(f, fl.o[i]);
		doc_opt_help(f, fl.o[i]->help ? fl.o[i]->help : "");
	}
	free(fl.o);
	if (doc_format == OPTS_FORMAT_MAN)
		fputs(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nthis help\n", f);
	else
		fputs("- `-h, --help`: this help\n\n", f);

	const struct opts_list *li = help->list;
	if (li) {
		opts_doc_heading(f, 3, li->title);
		for (size_t i = 0; i < li->count(); i++)
			opts_doc_item(f, li->name(i), li->text(i));
		if (doc_format == OPTS_FORMAT_MARKDOWN)
			fputc('\n', f);
	}
	if (help->after)
		opts_doc_text(f, help->after);
}
